/*
 * fuzz/dot: the body encoder (src/dot.h), over any message body.
 *
 * The first byte chooses the mode (bit 0: BDAT, bit 1: stop_at_dot, i.e. sendmail without
 * -i) and, with the second, how the input is cut into dot_encode calls; the rest is the
 * body. The encoding is made twice, in one call and in pieces, and must come out the same
 * (dot.h: any split of the input gives the same output). Then the output is taken apart as
 * the server would take it:
 *  - every line ends in CRLF: no bare CR, no bare LF (RFC 5321 §2.3.8, SEC-26, SEC-27);
 *  - DATA: it ends with the line ".", and before that no line is "." alone (SEC-30: no end
 *    of data can be smuggled); un-stuffing (RFC 5321 §4.5.2: a leading dot removed) gives
 *    back the input with its line ends made CRLF (LF, CRLF and bare CR alike; SEC-27) and a
 *    CRLF added to an open last line; BDAT: the output is that text itself, not stuffed;
 *  - stop_at_dot: the input counts up to the first line that is "." alone;
 *  - a NUL in what counts is refused with ERR_DATA (SEC-28), and only then;
 *  - out_bytes, in_bytes, max_line and eight_bit say what happened.
 * A third encoding whose sink fails after a few calls must fail and stay failed.
 */
#include "fuzz.h"

#include "buf.h"
#include "dot.h"

struct out {
	char *p;
	size_t len, cap;
	int calls;
	int fail_at; /* the sink call that fails; -1: none */
};

static int
sink(void *ctx, const char *p, size_t n, struct err *e)
{
	struct out *o = ctx;

	fuzz_check(n > 0, "an empty sink call");
	if (o->calls++ == o->fail_at)
		return err_set(e, ERR_OS, "write: sink failed on purpose");
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n)
			cap *= 2;
		o->p = realloc(o->p, cap);
		if (!o->p)
			abort();
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

/* What the encoder should make of IN, by the contract: normalised and (DATA) stuffed. */
struct model {
	char *text; /* the input that counts, line ends made CRLF, last line closed */
	size_t len;
	size_t consumed; /* input bytes that count (up to and with the "." line) */
	bool nul;        /* a NUL among them */
	bool ended;      /* stop_at_dot met its "." line */
	bool eight_bit;
	size_t max_line; /* longest line as sent (stuffed in DATA), without CRLF */
};

static void
model_put(struct model *m, const char *p, size_t n)
{
	memcpy(m->text + m->len, p, n);
	m->len += n;
}

static void
model_build(struct model *m, const char *in, size_t n, bool bdat, bool stop_at_dot)
{
	size_t i = 0;

	memset(m, 0, sizeof(*m));
	m->text = malloc(2 * n + 3);
	if (!m->text)
		abort();
	while (i < n) {
		/* One line: its text up to CR or LF, then its line end (CRLF, CR, LF, or none). */
		size_t s = i;
		while (i < n && in[i] != '\r' && in[i] != '\n')
			i++;
		size_t t = i;
		size_t end = i;
		if (i < n)
			end = in[i] == '\r' && i + 1 < n && in[i + 1] == '\n' ? i + 2 : i + 1;
		if (stop_at_dot && t - s == 1 && in[s] == '.' && end > t) {
			/* "." and a line end (a CR alone counts): the input ends, the rest is
			 * ignored; of "." CR LF only "." CR is read. */
			m->consumed = t + 1;
			m->ended = true;
			return;
		}
		if (memchr(in + s, '\0', t - s)) {
			m->nul = true;
			m->consumed = n;
			return;
		}
		for (size_t k = s; k < t; k++)
			if ((unsigned char)in[k] & 0x80)
				m->eight_bit = true;
		size_t sent = t - s + (!bdat && t > s && in[s] == '.');
		if (sent > m->max_line)
			m->max_line = sent;
		model_put(m, in + s, t - s);
		model_put(m, "\r\n", 2);
		i = end;
	}
	m->consumed = n;
}

/* Take OUT apart as a DATA server does; UNSTUFFED gets the message. */
static void
check_data(const struct out *o, char **unstuffed, size_t *ulen, size_t *max_line)
{
	const char *p = o->p;
	size_t n = o->len, i = 0;
	char *u = malloc(n + 1);

	if (!u)
		abort();
	*ulen = 0;
	*max_line = 0;
	fuzz_check(n >= 3 && memcmp(p + n - 3, ".\r\n", 3) == 0, "DATA does not end with .CRLF");
	fuzz_check(n == 3 || (n >= 5 && memcmp(p + n - 5, "\r\n", 2) == 0),
	           "the end marker does not follow a line end");
	while (i < n) {
		const char *cr = memchr(p + i, '\r', n - i);
		const char *lf = memchr(p + i, '\n', n - i);
		fuzz_check(cr && lf == cr + 1, "a line of the output does not end in CRLF");
		size_t len = (size_t)(cr - (p + i));
		if (i + len + 2 == n) {
			fuzz_check(len == 1 && p[i] == '.', "the last line is not \".\"");
			break;
		}
		fuzz_check(!(len == 1 && p[i] == '.'), "a lone \".\" line before the end");
		if (len > *max_line)
			*max_line = len;
		size_t k = len > 0 && p[i] == '.' ? 1 : 0;
		memcpy(u + *ulen, p + i + k, len - k);
		*ulen += len - k;
		memcpy(u + *ulen, "\r\n", 2);
		*ulen += 2;
		i += len + 2;
	}
	*unstuffed = u;
}

/* BDAT: only CRLF line ends, nothing added but the CRLF of an open last line. */
static void
check_bdat(const struct out *o, size_t *max_line)
{
	size_t len = 0;

	*max_line = 0;
	fuzz_check(o->len == 0 || (o->len >= 2 && memcmp(o->p + o->len - 2, "\r\n", 2) == 0),
	           "BDAT data does not end with CRLF");
	for (size_t i = 0; i < o->len; i++) {
		char c = o->p[i];
		if (c == '\r') {
			fuzz_check(i + 1 < o->len && o->p[i + 1] == '\n', "bare CR in BDAT data");
			if (len > *max_line)
				*max_line = len;
			len = 0;
			i++;
		} else {
			fuzz_check(c != '\n', "bare LF in BDAT data");
			len++;
		}
	}
}

/* One encoding of IN, cut at the points STATE draws (none when STATE is NULL). */
static int
encode(struct dot *d, const char *in, size_t n, bool bdat, bool stop_at_dot, uint32_t *state,
       struct out *o, struct err *e)
{
	size_t off = 0;

	dot_init(d, stop_at_dot);
	d->bdat = bdat;
	do {
		size_t k = n - off;
		if (state && k > 0) {
			uint32_t r = fuzz_next(state);
			/* Mostly tiny pieces, some large ones: every state meets every boundary. */
			k = r % 4 == 0 ? 1 + r % 64 : 1 + (r >> 4) % 8;
			if (k > n - off)
				k = n - off;
		}
		if (dot_encode(d, in + off, k, sink, o, e) < 0)
			return -1;
		off += k;
	} while (off < n);
	return dot_finish(d, sink, o, e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	bool bdat = data[0] & 1, stop_at_dot = data[0] & 2;
	uint32_t seed = (uint32_t)data[0] << 8 | data[1];
	const char *in = (const char *)data + 2;
	size_t n = size - 2;
	struct model m;
	struct dot whole, cut, failing;
	struct out ow = {.fail_at = -1}, oc = {.fail_at = -1}, of = {.fail_at = data[1] % 8};
	struct err e;

	model_build(&m, in, n, bdat, stop_at_dot);
	int rw = encode(&whole, in, n, bdat, stop_at_dot, NULL, &ow, &e);
	if (rw < 0)
		fuzz_check(e.kind == ERR_DATA, "refused with kind %d: %s", e.kind, e.text);
	int rc = encode(&cut, in, n, bdat, stop_at_dot, &seed, &oc, &e);
	fuzz_check(rw == rc, "one call %d, in pieces %d", rw, rc);
	fuzz_check(ow.len == oc.len && (ow.len == 0 || memcmp(ow.p, oc.p, ow.len) == 0),
	           "the output depends on how the input is cut");
	fuzz_check(whole.out_bytes == ow.len && cut.out_bytes == oc.len,
	           "out_bytes %llu for %zu bytes", (unsigned long long)whole.out_bytes, ow.len);

	/* SEC-28: a NUL that counts, and only that, is refused. */
	fuzz_check((rw < 0) == m.nul, "NUL in the input: %d, refused: %d", m.nul, rw < 0);
	if (rw == 0) {
		size_t max_line;
		fuzz_check(whole.ended == m.ended && cut.ended == m.ended, "ended %d, expected %d",
		           whole.ended, m.ended);
		fuzz_check(whole.in_bytes == m.consumed, "in_bytes %llu, expected %zu",
		           (unsigned long long)whole.in_bytes, m.consumed);
		fuzz_check(whole.eight_bit == m.eight_bit, "eight_bit %d, expected %d",
		           whole.eight_bit, m.eight_bit);
		if (bdat) {
			check_bdat(&ow, &max_line);
			fuzz_check(ow.len == m.len &&
			               (m.len == 0 || memcmp(ow.p, m.text, m.len) == 0),
			           "BDAT data is not the input with CRLF line ends");
		} else {
			char *u;
			size_t ulen;
			check_data(&ow, &u, &ulen, &max_line);
			fuzz_check(ulen == m.len && (m.len == 0 || memcmp(u, m.text, m.len) == 0),
			           "un-stuffed DATA is not the input with CRLF line ends");
			free(u);
		}
		fuzz_check(max_line == m.max_line, "longest line %zu, model %zu", max_line,
		           m.max_line);
		fuzz_check(whole.max_line == m.max_line, "max_line %zu, expected %zu",
		           whole.max_line, m.max_line);
		/* Finished is finished. */
		fuzz_check(dot_encode(&whole, "x", 1, sink, &ow, &e) < 0,
		           "dot_encode after dot_finish");
		fuzz_check(dot_finish(&whole, sink, &ow, &e) < 0, "dot_finish twice");
	}

	/* A sink that fails: the encoder fails, counts only what the sink took, stays failed. */
	int rf = encode(&failing, in, n, bdat, stop_at_dot, NULL, &of, &e);
	if (of.calls > of.fail_at) {
		fuzz_check(rf < 0, "a failed sink call went unnoticed");
		fuzz_check(failing.out_bytes == of.len, "out_bytes %llu after a failure, took %zu",
		           (unsigned long long)failing.out_bytes, of.len);
		fuzz_check(dot_finish(&failing, sink, &of, &e) < 0, "dot_finish after a failure");
	}

	free(m.text);
	free(ow.p);
	free(oc.p);
	free(of.p);
	return 0;
}
