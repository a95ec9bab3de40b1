/*
 * Unit tests for src/dot.c, the DATA encoder (SEC-26..30): a table of edge cases with their
 * exact output, each fed whole and split at every one and two points; a large input fed in
 * chunks of many sizes against a line-based reference encoder written here; every short
 * input over a small alphabet; NUL handling; properties of the output (no bare CR or LF, no
 * early end marker); and the byte counts of the span scanner on large inputs. All of it runs in
 * BDAT mode too (RFC 3030: no stuffing, no end marker), against the table's DATA output with the
 * stuffing and the end marker taken off, a few BDAT-only cases, and the references in BDAT mode.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/buf.h"
#include "src/dot.h"
#include "tests/lib/tap.h"

#define S(x) x, sizeof(x) - 1

/* Equal byte strings; either may be NULL when empty (an unused struct buf). */
static bool
same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* ---- sinks ---- */

static size_t empty_sink_calls; /* the encoder must never call the sink with nothing */

static int
sink_buf(void *ctx, const char *p, size_t n, struct err *e)
{
	if (n == 0)
		empty_sink_calls++;
	return buf_append(ctx, p, n, e);
}

struct counter {
	uint64_t bytes;
	uint64_t calls;
	uint32_t sum; /* a cheap checksum, so the sink has to look at the bytes */
};

static int
sink_count(void *ctx, const char *p, size_t n, struct err *e)
{
	struct counter *c = ctx;

	(void)e;
	c->bytes += n;
	c->calls++;
	c->sum = c->sum * 31 + (unsigned char)p[0] + (unsigned char)p[n - 1];
	return 0;
}

static int
sink_fail(void *ctx, const char *p, size_t n, struct err *e)
{
	(void)ctx;
	(void)p;
	(void)n;
	return err_set(e, ERR_TEMP, "send data: connection lost");
}

/* ---- the reference: split into logical lines first, then encode each line ---- */

struct ref {
	struct buf out;
	bool ended;
	bool failed;
	size_t nul_at;
};

static void
ref_line(struct ref *r, const char *p, size_t n, bool bdat)
{
	struct err e;

	if (n > 0 && p[0] == '.' && !bdat)
		buf_append(&r->out, ".", 1, &e);
	buf_append(&r->out, p, n, &e);
	buf_append(&r->out, "\r\n", 2, &e);
}

/*
 * Encode IN the slow, obvious way. The output holds everything up to a NUL or the end. BDAT
 * leaves out the stuffing and the end marker.
 */
static void
ref_encode(struct ref *r, const char *in, size_t n, bool stop, bool bdat)
{
	struct err e;
	size_t start = 0, i = 0;

	buf_init(&r->out, SIZE_MAX / 2);
	r->ended = r->failed = false;
	r->nul_at = 0;
	while (i < n) {
		if (in[i] == '\0') {
			r->failed = true;
			r->nul_at = i;
			return;
		}
		if (in[i] != '\r' && in[i] != '\n') {
			i++;
			continue;
		}
		size_t len = i - start;
		size_t next = i + 1;
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			next = i + 2;
		if (stop && len == 1 && in[start] == '.') {
			r->ended = true;
			if (!bdat)
				buf_append(&r->out, ".\r\n", 3, &e);
			return;
		}
		ref_line(r, in + start, len, bdat);
		start = i = next;
	}
	if (start < n)
		ref_line(r, in + start, n - start, bdat);
	if (!bdat)
		buf_append(&r->out, ".\r\n", 3, &e);
}

/*
 * A second reference, one byte at a time with three flags, for inputs without NUL. Its
 * output is the whole finished data.
 */
static void
ref_bytes(struct ref *r, const char *in, size_t n, bool stop, bool bdat)
{
	struct err e;
	bool bol = true, cr = false, dot = false;

	buf_init(&r->out, SIZE_MAX / 2);
	r->ended = r->failed = false;
	r->nul_at = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (cr) {
			cr = false;
			bol = true;
			buf_append(&r->out, "\r\n", 2, &e);
			if (c == '\n')
				continue;
		}
		if (dot) {
			dot = false;
			if (c == '\r' || c == '\n') {
				r->ended = true;
				buf_append(&r->out, ".\r\n", bdat ? 0 : 3, &e);
				return;
			}
			buf_append(&r->out, "..", bdat ? 1 : 2, &e);
		}
		if (c == '\r') {
			cr = true;
			continue;
		}
		if (c == '\n') {
			buf_append(&r->out, "\r\n", 2, &e);
			bol = true;
			continue;
		}
		if (bol && c == '.') {
			bol = false;
			if (stop) {
				dot = true;
				continue;
			}
			if (!bdat)
				buf_append(&r->out, ".", 1, &e);
		}
		buf_append(&r->out, &c, 1, &e);
		bol = false;
	}
	if (cr)
		buf_append(&r->out, "\r\n", 2, &e);
	else if (dot)
		buf_append(&r->out, bdat ? ".\r\n" : "..\r\n", bdat ? 3 : 4, &e);
	else if (!bol)
		buf_append(&r->out, "\r\n", 2, &e);
	if (!bdat)
		buf_append(&r->out, ".\r\n", 3, &e);
}

/*
 * DATA output as BDAT would send it: the end marker (when WITH_MARK) taken off and one dot
 * taken from every line that starts with one. Appends to OUT.
 */
static void
unstuff(struct buf *out, const char *p, size_t n, bool with_mark)
{
	struct err e;
	bool bol = true;

	if (with_mark && n >= 3)
		n -= 3; /* ".\r\n": check_props on the DATA run checks it */
	for (size_t i = 0; i < n; i++) {
		if (bol && p[i] == '.') {
			bol = false;
			continue;
		}
		bol = p[i] == '\n';
		buf_append(out, p + i, 1, &e);
	}
}

/* ---- running the encoder ---- */

struct run {
	struct buf out;
	struct dot d;
	struct err e;
	int rc;
	bool bytes_off; /* out_bytes differed from what the sink got, after some call */
};

static void
run_start(struct run *r, bool stop, bool bdat)
{
	buf_init(&r->out, SIZE_MAX / 2);
	dot_init(&r->d, stop);
	r->d.bdat = bdat;
	err_clear(&r->e);
	r->rc = 0;
	r->bytes_off = false;
}

/* One dot_encode call; out_bytes must match the sink after each (BDAT chunk sizes). */
static int
run_encode(struct run *r, const char *in, size_t n)
{
	int rc = dot_encode(&r->d, in, n, sink_buf, &r->out, &r->e);

	if (r->d.out_bytes != r->out.len)
		r->bytes_off = true;
	if (rc < 0)
		r->rc = -1;
	return rc;
}

static void
run_finish(struct run *r)
{
	r->rc = dot_finish(&r->d, sink_buf, &r->out, &r->e);
	if (r->d.out_bytes != r->out.len)
		r->bytes_off = true;
}

/* Feed IN in the pieces that CUTS (sorted offsets, NCUTS of them) mark, then finish. */
static void
run_cuts(struct run *r, const char *in, size_t n, bool stop, bool bdat, const size_t *cuts,
         size_t ncuts)
{
	size_t at = 0;

	run_start(r, stop, bdat);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : n;
		if (run_encode(r, in + at, to - at) < 0)
			return;
		at = to;
	}
	run_finish(r);
}

static void
run_chunks(struct run *r, const char *in, size_t n, bool stop, bool bdat, size_t chunk)
{
	run_start(r, stop, bdat);
	for (size_t at = 0; at < n; at += chunk) {
		size_t len = n - at < chunk ? n - at : chunk;
		if (run_encode(r, in + at, len) < 0)
			return;
	}
	run_finish(r);
}

static bool
same_run(const struct run *a, const struct run *b)
{
	return a->rc == b->rc && a->out.len == b->out.len &&
	       (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0) &&
	       a->d.ended == b->d.ended && a->d.eight_bit == b->d.eight_bit &&
	       a->d.max_line == b->d.max_line && a->d.out_bytes == b->d.out_bytes &&
	       a->d.in_bytes == b->d.in_bytes && !a->bytes_off && !b->bytes_off &&
	       strcmp(a->e.text, b->e.text) == 0;
}

/*
 * What must hold for any finished output (SEC-27, SEC-30): every CR is followed by LF and
 * every LF preceded by CR; the only "." line is the last one; every other line that starts
 * with '.' starts with "..". In BDAT mode: no end marker, the output is empty or ends with
 * CRLF (what check_text adds covers the dots). Returns NULL or what is wrong.
 */
static const char *
check_props(const char *p, size_t n, bool bdat)
{
	if (bdat && n > 0 && (n < 2 || memcmp(p + n - 2, "\r\n", 2) != 0))
		return "BDAT data does not end with CRLF";
	if (!bdat && (n < 3 || memcmp(p + n - 3, ".\r\n", 3) != 0))
		return "does not end with the end marker";
	if (!bdat && n > 3 && (n < 5 || memcmp(p + n - 5, "\r\n", 2) != 0))
		return "the end marker does not follow a line end";
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return "bare CR";
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return "bare LF";
		if (p[i] == '\0')
			return "NUL";
	}
	if (bdat)
		return NULL;
	size_t start = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\r')
			continue;
		bool last = i + 2 == n;
		size_t len = i - start;
		if (!last && len == 1 && p[start] == '.')
			return "early end marker";
		if (!last && len >= 1 && p[start] == '.' && (len < 2 || p[start + 1] != '.'))
			return "unstuffed dot";
		start = i + 2;
	}
	return NULL;
}

/*
 * BDAT mode changes nothing but line ends (RFC 3030): with every CR and LF taken out, the
 * output equals the input the encoder consumed (USED bytes), less the "." of a stop line
 * when ENDED. So no dot is added or lost, and lines that start with '.' go out unchanged.
 */
static const char *
check_text(const char *in, size_t used, bool ended, const char *out, size_t outlen)
{
	size_t i = 0, j = 0, in_end = used;

	/* The "." line: the encoder consumes its first line end byte and stops; drop the dot. */
	if (ended) {
		if (used < 2)
			return "ended, but not on a '.' line";
		char dot = in[used - 2], end = in[used - 1];
		if (dot != '.' || (end != '\r' && end != '\n'))
			return "ended, but not on a '.' line";
		in_end = used - 2;
	}
	for (;;) {
		while (i < in_end && (in[i] == '\r' || in[i] == '\n'))
			i++;
		while (j < outlen && (out[j] == '\r' || out[j] == '\n'))
			j++;
		if (i == in_end || j == outlen)
			break;
		if (in[i++] != out[j++])
			return "text changed";
	}
	return i == in_end && j == outlen ? NULL : "text added or lost";
}

/* ---- the table ---- */

struct tcase {
	const char *name;
	const char *in;
	size_t len;
	int stop;         /* 0 off, 1 on, 2 both (same expectation) */
	const char *want; /* the whole output, or the output before the NUL */
	size_t wantlen;
	bool ended;
	long nul_at; /* -1: no error */
};

static const struct tcase cases[] = {
    {"empty", S(""), 2, S(".\r\n"), false, -1},
    {"only LF", S("\n"), 2, S("\r\n.\r\n"), false, -1},
    {"only CRLF", S("\r\n"), 2, S("\r\n.\r\n"), false, -1},
    {"only CR", S("\r"), 2, S("\r\n.\r\n"), false, -1},
    {"LF", S("a\nb\n"), 2, S("a\r\nb\r\n.\r\n"), false, -1},
    {"CRLF", S("a\r\nb\r\n"), 2, S("a\r\nb\r\n.\r\n"), false, -1},
    {"bare CR", S("a\rb"), 2, S("a\r\nb\r\n.\r\n"), false, -1},
    {"CR CR LF", S("a\r\r\nb"), 2, S("a\r\n\r\nb\r\n.\r\n"), false, -1},
    {"CR CR", S("\r\r"), 2, S("\r\n\r\n.\r\n"), false, -1},
    {"LF CR", S("a\n\rb"), 2, S("a\r\n\r\nb\r\n.\r\n"), false, -1},
    {"LF LF", S("\n\n"), 2, S("\r\n\r\n.\r\n"), false, -1},
    {"no final newline", S("a\nlast"), 2, S("a\r\nlast\r\n.\r\n"), false, -1},
    {"ends in CR", S("a\r"), 2, S("a\r\n.\r\n"), false, -1},
    {"dot dot", S(".."), 2, S("...\r\n.\r\n"), false, -1},
    {"dot dot LF", S("..\n"), 2, S("...\r\n.\r\n"), false, -1},
    {"dot x", S(".x"), 2, S("..x\r\n.\r\n"), false, -1},
    {"dot space", S(". \n"), 2, S(".. \r\n.\r\n"), false, -1},
    {"inner dot", S("x.\n.y\n"), 2, S("x.\r\n..y\r\n.\r\n"), false, -1},
    {"dot after CR", S("a\r.b"), 2, S("a\r\n..b\r\n.\r\n"), false, -1},
    {"8-bit", S("caf\xc3\xa9\n"), 2, S("caf\xc3\xa9\r\n.\r\n"), false, -1},
    /* SMTP smuggling forms (SEC-30): never an end of data in the middle. */
    {"LF dot LF, -i", S("\n.\n"), 0, S("\r\n..\r\n.\r\n"), false, -1},
    {"LF dot LF, stop", S("\n.\n"), 1, S("\r\n.\r\n"), true, -1},
    {"LF dot CRLF, -i", S("\n.\r\n"), 0, S("\r\n..\r\n.\r\n"), false, -1},
    {"LF dot CRLF, stop", S("\n.\r\n"), 1, S("\r\n.\r\n"), true, -1},
    {"CR dot CR, -i", S("\r.\r"), 0, S("\r\n..\r\n.\r\n"), false, -1},
    {"CR dot CR, stop", S("\r.\r"), 1, S("\r\n.\r\n"), true, -1},
    {"CRLF dot LF, -i", S("\r\n.\n"), 0, S("\r\n..\r\n.\r\n"), false, -1},
    {"CRLF dot LF, stop", S("\r\n.\n"), 1, S("\r\n.\r\n"), true, -1},
    {"smuggled commands, -i", S("hi\n.\nMAIL FROM:<x@y>\r\n"), 0,
     S("hi\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"), false, -1},
    {"smuggled commands, stop", S("hi\n.\nMAIL FROM:<x@y>\r\n"), 1, S("hi\r\n.\r\n"), true, -1},
    {"dot CRLF, -i", S(".\r\n"), 0, S("..\r\n.\r\n"), false, -1},
    {"dot CRLF, stop", S(".\r\n"), 1, S(".\r\n"), true, -1},
    {"dot CR, stop", S(".\rmore"), 1, S(".\r\n"), true, -1},
    {"dot CR, -i", S(".\rmore"), 0, S("..\r\nmore\r\n.\r\n"), false, -1},
    {"stop ignores the rest", S("a\r\n.\r\nb\0c"), 1, S("a\r\n.\r\n"), true, -1},
    {"last line dot, stop", S("a\n."), 1, S("a\r\n..\r\n.\r\n"), false, -1},
    {"last line dot, -i", S("a\n."), 0, S("a\r\n..\r\n.\r\n"), false, -1},
    {"CRLF dot CRLF CRLF dot CRLF, -i", S("\r\n.\r\n\r\n.\r\n"), 0, S("\r\n..\r\n\r\n..\r\n.\r\n"),
     false, -1},
    /* NUL (SEC-28): what came before may go out, nothing after. */
    {"NUL first", S("\0abc"), 2, S(""), false, 0},
    {"NUL inside", S("ab\0cd"), 2, S("ab"), false, 2},
    {"NUL after LF", S("a\n\0z"), 2, S("a\r\n"), false, 2},
    {"NUL after CR", S("a\r\0z"), 2, S("a\r\n"), false, 2},
    {"NUL after dot, stop", S(".\0z"), 1, S(".."), false, 1},
    {"NUL after dot, -i", S(".\0z"), 0, S(".."), false, 1},
    {"NUL last", S("abc\r\n\0"), 2, S("abc\r\n"), false, 5},
};

/*
 * BDAT-only rows: WANT is the BDAT output (RFC 3030: no stuffing, no end marker). The rows
 * above run in BDAT mode too, with their DATA output unstuffed; these pin it down directly.
 */
static const struct tcase bdat_cases[] = {
    {"empty", S(""), 2, S(""), false, -1},
    {"only LF", S("\n"), 2, S("\r\n"), false, -1},
    {"only CR", S("\r"), 2, S("\r\n"), false, -1},
    {"ends in CR", S("a\r"), 2, S("a\r\n"), false, -1},
    {"no final newline", S("a\nlast"), 2, S("a\r\nlast\r\n"), false, -1},
    {"CR CR LF", S("a\r\r\nb"), 2, S("a\r\n\r\nb\r\n"), false, -1},
    {"dot x", S(".x"), 2, S(".x\r\n"), false, -1},
    {"dot dot x", S("..x\n"), 2, S("..x\r\n"), false, -1},
    {"dot lines, -i", S(".\n..\r.\r\n"), 0, S(".\r\n..\r\n.\r\n"), false, -1},
    {"dot line, stop", S("a\n.\nb\n"), 1, S("a\r\n"), true, -1},
    {"dot CR, stop", S(".\rmore"), 1, S(""), true, -1},
    {"dot CRLF first, stop", S(".\r\nmore"), 1, S(""), true, -1},
    {"last line dot, stop", S("a\n."), 1, S("a\r\n.\r\n"), false, -1},
    {"last line dot, -i", S("a\n."), 0, S("a\r\n.\r\n"), false, -1},
    {"dot after CR, stop", S("a\r.b\r\n"), 1, S("a\r\n.b\r\n"), false, -1},
    {"dot dot, stop", S("..\n"), 1, S("..\r\n"), false, -1},
    {"CR CR LF dot dot", S("\r\r\n.."), 2, S("\r\n\r\n..\r\n"), false, -1},
    {"end marker text, -i", S("hi\r\n.\r\nMAIL FROM:<x@y>\r\n"), 0,
     S("hi\r\n.\r\nMAIL FROM:<x@y>\r\n"), false, -1},
    {"end marker text, stop", S("hi\r\n.\r\nMAIL FROM:<x@y>\r\n"), 1, S("hi\r\n"), true, -1},
    {"NUL after dot", S(".\0z"), 2, S("."), false, 1},
    {"NUL after LF dot, -i", S("a\n.\0"), 0, S("a\r\n."), false, 3},
    {"NUL after LF dot, stop", S("a\n.\0"), 1, S("a\r\n."), false, 3},
    {"NUL after the dot line, stop", S("a\n.\n\0"), 1, S("a\r\n"), true, -1},
};

static bool
run_matches(const struct run *r, const struct tcase *t, const char *want, size_t wantlen, char *why,
            size_t whysz)
{
	if (t->nul_at >= 0) {
		char text[128];
		snprintf(text, sizeof(text), "at offset %ld;", t->nul_at);
		if (r->rc != -1 || r->e.kind != ERR_DATA || !strstr(r->e.text, text)) {
			snprintf(why, whysz, "rc %d kind %d text '%s'", r->rc, (int)r->e.kind,
			         r->e.text);
			return false;
		}
	} else if (r->rc != 0) {
		snprintf(why, whysz, "failed: %s", r->e.text);
		return false;
	}
	if (!same_bytes(r->out.data, r->out.len, want, wantlen)) {
		snprintf(why, whysz, "output differs");
		return false;
	}
	if (r->d.ended != t->ended) {
		snprintf(why, whysz, "ended %d", r->d.ended);
		return false;
	}
	if (r->d.out_bytes != r->out.len || r->bytes_off) {
		snprintf(why, whysz, "out_bytes %" PRIu64, r->d.out_bytes);
		return false;
	}
	return true;
}

static const char *
mode_name(bool stop, bool bdat)
{
	if (bdat)
		return stop ? "BDAT, stop_at_dot" : "BDAT, -i";
	return stop ? "stop_at_dot" : "-i";
}

/* One row in one mode, WANT being its output: whole, every split, both references. */
static void
table_row(const struct tcase *t, bool stop, bool bdat, const char *want, size_t wantlen)
{
	char why[600] = "";
	struct run r;
	const char *mode = mode_name(stop, bdat);

	run_cuts(&r, t->in, t->len, stop, bdat, NULL, 0);
	ok_mem(r.out.data, r.out.len, want, wantlen, "%s (%s): output", t->name, mode);
	ok(run_matches(&r, t, want, wantlen, why, sizeof(why)), "%s (%s): whole %s", t->name, mode,
	   why);
	if (t->nul_at < 0) {
		const char *bad = check_props(r.out.data, r.out.len, bdat);
		if (!bad && bdat)
			bad = check_text(t->in, (size_t)r.d.in_bytes, r.d.ended, r.out.data,
			                 r.out.len);
		ok(!bad, "%s (%s): output properties (%s)", t->name, mode, bad ? bad : "ok");
	}
	buf_fini(&r.out);

	/* Every single split point, and every pair of split points. */
	bool good = true;
	size_t bad1 = 0, bad2 = 0;
	for (size_t a = 0; a <= t->len && good; a++) {
		for (size_t b = a; b <= t->len && good; b++) {
			size_t cuts[2] = {a, b};
			run_cuts(&r, t->in, t->len, stop, bdat, cuts, a == b ? 1 : 2);
			if (!run_matches(&r, t, want, wantlen, why, sizeof(why))) {
				good = false;
				bad1 = a;
				bad2 = b;
			}
			buf_fini(&r.out);
		}
	}
	ok(good, "%s (%s): every split (first bad %zu,%zu: %s)", t->name, mode, bad1, bad2,
	   good ? "-" : why);

	/* The references agree with the table (so they can be trusted below). */
	struct ref ref;
	ref_encode(&ref, t->in, t->len, stop, bdat);
	bool same = same_bytes(ref.out.data, ref.out.len, want, wantlen);
	bool refok = ref.failed == (t->nul_at >= 0) && ref.ended == t->ended &&
	             (t->nul_at < 0 || (long)ref.nul_at == t->nul_at) && (t->nul_at >= 0 || same);
	ok(refok, "%s (%s): line reference agrees", t->name, mode);
	buf_fini(&ref.out);
	if (t->nul_at < 0) {
		ref_bytes(&ref, t->in, t->len, stop, bdat);
		ok(ref.ended == t->ended && same_bytes(ref.out.data, ref.out.len, want, wantlen),
		   "%s (%s): byte reference agrees", t->name, mode);
		buf_fini(&ref.out);
	}
}

static void
test_table(void)
{
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct tcase *t = &cases[k];
		for (int stop = 0; stop <= 1; stop++) {
			if (t->stop != 2 && t->stop != stop)
				continue;
			table_row(t, stop, false, t->want, t->wantlen);

			/* BDAT: the same data, unstuffed and without the end marker. */
			struct buf want;
			buf_init(&want, SIZE_MAX / 2);
			unstuff(&want, t->want, t->wantlen, t->nul_at < 0);
			table_row(t, stop, true, want.data ? want.data : "", want.len);
			buf_fini(&want);
		}
	}
	for (size_t k = 0; k < sizeof(bdat_cases) / sizeof(bdat_cases[0]); k++) {
		const struct tcase *t = &bdat_cases[k];
		for (int stop = 0; stop <= 1; stop++) {
			if (t->stop != 2 && t->stop != stop)
				continue;
			table_row(t, stop, true, t->want, t->wantlen);

			/* The DATA encoding of the row, unstuffed, is the BDAT output too. */
			struct run r;
			struct buf want;
			run_cuts(&r, t->in, t->len, stop, false, NULL, 0);
			buf_init(&want, SIZE_MAX / 2);
			unstuff(&want, r.out.data ? r.out.data : "", r.out.len, t->nul_at < 0);
			ok_mem(want.data ? want.data : "", want.len, t->want, t->wantlen,
			       "%s (BDAT, %s): equals the DATA output unstuffed", t->name,
			       mode_name(stop, false));
			buf_fini(&want);
			buf_fini(&r.out);
		}
	}
}

/* Counters: eight_bit, in_bytes, out_bytes, line lengths (for the SEC-29 policy). */
static void
test_counters(void)
{
	struct run r;
	char *big = xmalloc(1502);

	memset(big, 'a', 1500);
	big[1500] = '\n';
	big[1501] = 'z';
	run_cuts(&r, big, 1502, false, false, NULL, 0);
	ok(r.rc == 0 && r.d.max_line == 1500, "1500-byte line: max_line %zu", r.d.max_line);
	ok(r.out.len == 1500 + 2 + 1 + 2 + 3 && r.d.out_bytes == r.out.len,
	   "1500-byte line: passes unchanged (%zu bytes out)", r.out.len);
	ok(r.out.len > 1500 && memchr(r.out.data, '\r', 1500) == NULL,
	   "1500-byte line: not split (SEC-29)");
	ok(r.d.in_bytes == 1502, "in_bytes %" PRIu64, r.d.in_bytes);
	ok(!r.d.eight_bit, "ASCII: eight_bit off");
	buf_fini(&r.out);

	/* Every split of the long line (one split point) gives the same output and max_line. */
	struct run whole;
	for (int bdat = 0; bdat <= 1; bdat++) {
		run_cuts(&whole, big, 1502, false, bdat, NULL, 0);
		bool good = whole.rc == 0 && whole.d.max_line == 1500 &&
		            whole.out.len == 1500 + 2 + 1 + 2 + (bdat ? 0 : 3);
		for (size_t a = 0; a <= 1502 && good; a++) {
			run_cuts(&r, big, 1502, false, bdat, &a, 1);
			good = same_run(&r, &whole);
			buf_fini(&r.out);
		}
		ok(good, "1500-byte line%s: every split point", bdat ? " (BDAT)" : "");
		buf_fini(&whole.out);
	}
	/* A long line that starts with a dot, split everywhere (the span path after a '.'). */
	big[0] = '.';
	for (int mode = 0; mode < 4; mode++) {
		bool stop = mode & 1, bdat = mode & 2;
		struct ref ref;
		ref_encode(&ref, big, 1502, stop, bdat);
		bool good = true;
		for (size_t a = 0; a <= 1502 && good; a++) {
			run_cuts(&r, big, 1502, stop, bdat, &a, 1);
			good = r.rc == 0 && !r.bytes_off && r.out.len == ref.out.len &&
			       !memcmp(r.out.data, ref.out.data, r.out.len) &&
			       r.d.max_line == (bdat ? 1500u : 1501u);
			buf_fini(&r.out);
		}
		ok(good, "1500-byte dotted line (%s): every split point", mode_name(stop, bdat));
		buf_fini(&ref.out);
	}
	free(big);

	size_t cut = 4;
	run_cuts(&r, S("ab\n\xc3\xa9\n"), false, false, &cut, 1);
	ok(r.d.eight_bit, "8-bit byte split across calls: eight_bit on");
	buf_fini(&r.out);
	run_cuts(&r, S("ab\n\xc3\xa9\n"), false, true, &cut, 1);
	ok(r.d.eight_bit, "8-bit byte split across calls (BDAT): eight_bit on");
	buf_fini(&r.out);
	run_cuts(&r, S("\n..x\n"), false, false, NULL, 0);
	ok(r.d.max_line == 4, "stuffed dot counts in the line length (%zu)", r.d.max_line);
	buf_fini(&r.out);
	run_cuts(&r, S("\n..x\n"), true, false, NULL, 0);
	ok(r.d.max_line == 4, "stuffed dot counts in the line length, stop_at_dot (%zu)",
	   r.d.max_line);
	buf_fini(&r.out);
	for (int stop = 0; stop <= 1; stop++) {
		run_cuts(&r, S("\n..x\n.y"), stop, true, NULL, 0);
		ok(r.d.max_line == 3 && r.d.line_len == 0,
		   "%s: no stuffed dot in the line length (%zu)", mode_name(stop, true),
		   r.d.max_line);
		buf_fini(&r.out);
	}
	run_cuts(&r, S("a\n."), true, true, NULL, 0);
	ok(r.d.max_line == 1, "BDAT, stop_at_dot: a last \".\" line is one byte long (%zu)",
	   r.d.max_line);
	buf_fini(&r.out);
	run_cuts(&r, S("abc\r\nabcdef\rab"), false, false, NULL, 0);
	ok(r.d.max_line == 6, "line length without the line end (%zu)", r.d.max_line);
	buf_fini(&r.out);

	struct dot d;
	struct buf out;
	struct err e;
	buf_init(&out, 1000);
	dot_init(&d, false);
	ok(dot_encode(&d, S("abc"), sink_buf, &out, &e) == 0 && d.line_len == 3,
	   "open line: line_len %zu", d.line_len);
	ok(dot_encode(&d, S("de"), sink_buf, &out, &e) == 0 && d.line_len == 5,
	   "open line across calls: line_len %zu", d.line_len);
	ok(dot_finish(&d, sink_buf, &out, &e) == 0 && d.max_line == 5, "finish closes the line");
	ok(dot_finish(&d, sink_buf, &out, &e) == -1 && e.kind == ERR_SOFTWARE,
	   "a second finish is refused");
	ok(dot_encode(&d, S("x"), sink_buf, &out, &e) == -1 && e.kind == ERR_SOFTWARE,
	   "encoding after finish is refused");
	ok_mem(out.data, out.len, "abcde\r\n.\r\n", 10, "nothing added by refused calls");
	buf_fini(&out);

	/* BDAT: the caller sizes its chunks from out_bytes, so it must be exact at every step. */
	buf_init(&out, 1000);
	dot_init(&d, true);
	ok(!d.bdat, "dot_init leaves BDAT mode off");
	d.bdat = true;
	bool exact = true;
	static const char *const pieces[] = {".x\n", ".", "y\r", ".", ".\r", "\n..", "\n", "z"};
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		size_t len = strlen(pieces[k]);
		exact = exact && dot_encode(&d, pieces[k], len, sink_buf, &out, &e) == 0 &&
		        d.out_bytes == out.len;
	}
	ok(exact, "BDAT: out_bytes equals the bytes given to the sink after every call");
	ok(dot_finish(&d, sink_buf, &out, &e) == 0 && d.out_bytes == out.len && d.in_bytes == 14,
	   "BDAT: out_bytes after dot_finish (%" PRIu64 "), in_bytes %" PRIu64, d.out_bytes,
	   d.in_bytes);
	ok_mem(out.data, out.len, ".x\r\n.y\r\n..\r\n..\r\nz\r\n", 19,
	       "BDAT: dots held across calls");
	ok(dot_finish(&d, sink_buf, &out, &e) == -1 && e.kind == ERR_SOFTWARE,
	   "BDAT: a second finish is refused");
	buf_fini(&out);
}

static void
test_sink_error(void)
{
	struct dot d;
	struct err e;

	dot_init(&d, false);
	ok(dot_encode(&d, S("a\nb"), sink_fail, NULL, &e) == -1 && e.kind == ERR_TEMP,
	   "a sink error is passed up unchanged");
	ok(dot_encode(&d, S("c"), sink_fail, NULL, &e) == -1, "no encoding after a sink error");
	dot_init(&d, false);
	ok(dot_encode(&d, S(""), sink_fail, NULL, &e) == 0,
	   "nothing to send: the sink is not called");
	ok(dot_finish(&d, sink_fail, NULL, &e) == -1 && e.kind == ERR_TEMP,
	   "a sink error in dot_finish is passed up");

	/* BDAT: empty data sends nothing at all, so the sink is never called. */
	dot_init(&d, false);
	d.bdat = true;
	ok(dot_encode(&d, S(""), sink_fail, NULL, &e) == 0 &&
	       dot_finish(&d, sink_fail, NULL, &e) == 0 && d.out_bytes == 0,
	   "BDAT, empty data: the sink is not called");
	dot_init(&d, true);
	d.bdat = true;
	ok(dot_encode(&d, S(".\r\nignored"), sink_fail, NULL, &e) == 0 &&
	       dot_finish(&d, sink_fail, NULL, &e) == 0 && d.out_bytes == 0 && d.ended,
	   "BDAT, stop_at_dot, a first \".\" line: the sink is not called");
	struct buf out;
	buf_init(&out, 100);
	dot_init(&d, false);
	d.bdat = true;
	ok(dot_encode(&d, S("x"), sink_buf, &out, &e) == 0 &&
	       dot_finish(&d, sink_fail, NULL, &e) == -1 && e.kind == ERR_TEMP &&
	       d.out_bytes == 1 && out.len == 1,
	   "BDAT: a sink error in dot_finish is passed up, out_bytes does not count it");
	buf_fini(&out);
	ok(dot_finish(&d, sink_fail, NULL, &e) == -1 && e.kind == ERR_SOFTWARE,
	   "BDAT: no finish after a sink error");
}

/* ---- generated inputs ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/*
 * About N bytes of mail-like text: lines of assorted shapes (empty, ".", "..", ".x", words,
 * 8-bit, a few long ones) ended by LF, CRLF, CR or CR CR LF. NODOT leaves out lines that are
 * exactly "." (for stop_at_dot runs that should go to the end).
 */
static char *
gen_text(size_t n, bool nodot, size_t *outlen)
{
	static const char *pieces[] = {"",
	                               ".",
	                               "..",
	                               ".x",
	                               "hello world",
	                               "From: a@b.example",
	                               "caf\xc3\xa9",
	                               "\t indented",
	                               "x.",
	                               " . ",
	                               "QUIT",
	                               "-- ",
	                               "...."};
	static const char *ends[] = {"\n", "\r\n", "\r", "\r\r\n", "\n", "\r\n", "\n\r"};
	char *p = xmalloc(n + 4096);
	size_t k = 0;

	while (k < n) {
		uint32_t x = rng();
		if (x % 97 == 0) {
			size_t len = 900 + rng() % 1200;
			memset(p + k, 'L', len);
			k += len;
		} else {
			const char *w = pieces[x % (sizeof(pieces) / sizeof(pieces[0]))];
			if (nodot && strcmp(w, ".") == 0)
				w = "..";
			size_t len = strlen(w);
			memcpy(p + k, w, len);
			k += len;
		}
		const char *end = ends[(x >> 8) % (sizeof(ends) / sizeof(ends[0]))];
		if (nodot && end[0] == '\n' && end[1] == '\r')
			end = "\n"; /* "\n\r" then "." would make a "." line */
		size_t len = strlen(end);
		memcpy(p + k, end, len);
		k += len;
	}
	*outlen = k;
	return p;
}

static void
test_large(void)
{
	static const size_t chunks[] = {1, 2, 3, 7, 1024, 4096, 65536};
	size_t n;

	for (int stop = 0; stop <= 1; stop++) {
		char *in = gen_text(1 << 20, stop, &n);
		if (stop) {
			/* A "." line near the end: everything after it is dropped. */
			memcpy(in + n - 200, "\n.\r\nafter\n", 10);
		}
		struct buf data_out; /* the DATA output, to compare BDAT with */
		buf_init(&data_out, SIZE_MAX / 2);
		for (int bdat = 0; bdat <= 1; bdat++) {
			const char *mode = mode_name(stop, bdat);
			struct run whole;
			struct ref ref;
			run_cuts(&whole, in, n, stop, bdat, NULL, 0);
			ref_encode(&ref, in, n, stop, bdat);
			ok(whole.rc == 0, "large input (%s): encodes", mode);
			ok_mem(whole.out.data, whole.out.len, ref.out.data, ref.out.len,
			       "large input (%s): one call equals the line reference", mode);
			struct ref rb;
			ref_bytes(&rb, in, n, stop, bdat);
			ok_mem(whole.out.data, whole.out.len, rb.out.data, rb.out.len,
			       "large input (%s): one call equals the byte reference", mode);
			ok(rb.ended == whole.d.ended, "large input (%s): both agree on the end",
			   mode);
			buf_fini(&rb.out);
			ok(whole.d.ended == (bool)stop, "large input (%s): ended %d", mode,
			   whole.d.ended);
			ok(whole.d.eight_bit && whole.d.max_line >= 900 && !whole.bytes_off &&
			       whole.d.out_bytes == whole.out.len,
			   "large input (%s): counters", mode);
			const char *bad = check_props(whole.out.data, whole.out.len, bdat);
			if (!bad && bdat)
				bad = check_text(in, (size_t)whole.d.in_bytes, whole.d.ended,
				                 whole.out.data, whole.out.len);
			ok(!bad, "large input (%s): output properties (%s)", mode,
			   bad ? bad : "ok");
			if (!bdat) {
				struct err e;
				buf_append(&data_out, whole.out.data, whole.out.len, &e);
			} else {
				struct buf want;
				buf_init(&want, SIZE_MAX / 2);
				unstuff(&want, data_out.data, data_out.len, true);
				ok_mem(whole.out.data, whole.out.len, want.data, want.len,
				       "large input (%s): equals the DATA output unstuffed", mode);
				buf_fini(&want);
			}
			for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
				struct run r;
				run_chunks(&r, in, n, stop, bdat, chunks[c]);
				ok(same_run(&r, &whole),
				   "large input (%s), chunks of %zu: same output", mode, chunks[c]);
				buf_fini(&r.out);
			}
			/* Random chunk sizes, as a pipe would deliver them. */
			struct run r;
			size_t cuts[4096], nc = 0, at = 0;
			while (nc < 4096 && (at += 1 + rng() % 700) < n)
				cuts[nc++] = at;
			run_cuts(&r, in, n, stop, bdat, cuts, nc);
			ok(same_run(&r, &whole), "large input (%s), random chunks: same output",
			   mode);
			buf_fini(&r.out);
			buf_fini(&ref.out);
			buf_fini(&whole.out);
		}
		buf_fini(&data_out);
		free(in);
	}
}

/*
 * Every input up to 7 bytes over { '.', CR, LF, 'a' }, in all four modes: both references,
 * byte-by-byte, properties; in BDAT mode also the DATA output unstuffed.
 */
static void
test_exhaustive(void)
{
	static const char alpha[] = {'.', '\r', '\n', 'a'};
	size_t count[2] = {0, 0}, bad_ref[2] = {0, 0}, bad_bytes[2] = {0, 0};
	size_t bad_split[2] = {0, 0}, bad_prop[2] = {0, 0}, bad_unstuff = 0;
	char first[2][64] = {"", ""};

	for (size_t len = 0; len <= 7; len++) {
		size_t total = 1;
		for (size_t k = 0; k < len; k++)
			total *= 4;
		for (size_t m = 0; m < total; m++) {
			char in[8];
			size_t x = m;
			for (size_t k = 0; k < len; k++, x /= 4)
				in[k] = alpha[x % 4];
			for (int mode = 0; mode < 4; mode++) {
				bool stop = mode & 1, bdat = mode & 2;
				struct run r, r1, rdata;
				struct ref ref;
				size_t cuts[8];
				for (size_t k = 0; k < len; k++)
					cuts[k] = k;
				count[bdat]++;
				run_cuts(&r, in, len, stop, bdat, NULL, 0);
				run_cuts(&r1, in, len, stop, bdat, cuts, len);
				ref_encode(&ref, in, len, stop, bdat);
				if (r.rc || r.d.ended != ref.ended ||
				    !same_bytes(r.out.data, r.out.len, ref.out.data, ref.out.len)) {
					if (!bad_ref[bdat]++)
						snprintf(first[bdat], sizeof(first[bdat]),
						         "len %zu #%zu stop %d", len, m, stop);
				}
				struct ref rb;
				ref_bytes(&rb, in, len, stop, bdat);
				if (r.d.ended != rb.ended ||
				    !same_bytes(r.out.data, r.out.len, rb.out.data, rb.out.len))
					bad_bytes[bdat]++;
				buf_fini(&rb.out);
				if (!same_run(&r, &r1))
					bad_split[bdat]++;
				const char *bad = check_props(r.out.data, r.out.len, bdat);
				if (!bad && bdat)
					bad = check_text(in, (size_t)r.d.in_bytes, r.d.ended,
					                 r.out.data, r.out.len);
				if (bad)
					bad_prop[bdat]++;
				if (bdat) {
					struct buf want;
					run_cuts(&rdata, in, len, stop, false, NULL, 0);
					buf_init(&want, SIZE_MAX / 2);
					unstuff(&want, rdata.out.data, rdata.out.len, true);
					if (!same_bytes(r.out.data, r.out.len, want.data, want.len))
						bad_unstuff++;
					buf_fini(&want);
					buf_fini(&rdata.out);
				}
				buf_fini(&r.out);
				buf_fini(&r1.out);
				buf_fini(&ref.out);
			}
		}
	}
	for (int bdat = 0; bdat <= 1; bdat++) {
		const char *mode = bdat ? "BDAT" : "DATA";
		ok(bad_ref[bdat] == 0,
		   "all %zu short inputs (%s): equal to the reference (%zu bad; %s)", count[bdat],
		   mode, bad_ref[bdat], first[bdat][0] ? first[bdat] : "-");
		ok(bad_bytes[bdat] == 0,
		   "all short inputs (%s): equal to the byte reference "
		   "(%zu bad)",
		   mode, bad_bytes[bdat]);
		ok(bad_split[bdat] == 0,
		   "all short inputs (%s): byte-by-byte equals one call "
		   "(%zu bad)",
		   mode, bad_split[bdat]);
		ok(bad_prop[bdat] == 0, "all short inputs (%s): %s (%zu bad)", mode,
		   bdat ? "no bare CR/LF, only line ends changed"
		        : "no bare CR/LF, no early end marker",
		   bad_prop[bdat]);
	}
	ok(bad_unstuff == 0,
	   "all short inputs (BDAT): equal to the DATA output unstuffed "
	   "(%zu bad)",
	   bad_unstuff);
}

/* NUL at many offsets of a large input, in several chunk sizes (SEC-28). */
static void
test_nul(void)
{
	static const size_t chunks[] = {1, 7, 4096, 65536};
	static const size_t offsets[] = {0, 1, 2, 4095, 4096, 4097, 65535, 65536, 100000, 199999};
	size_t n;
	char *in = gen_text(200000, true, &n);

	for (size_t k = 0; k < n; k++)
		if (in[k] == 'Z' || in[k] == '#')
			in[k] = 'z';
	for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		size_t at = offsets[o];
		char saved = in[at];
		in[at] = '\0';
		/* Mark the bytes after the NUL: none of them may reach the sink. */
		size_t zlen = n - at - 1 < 64 ? n - at - 1 : 64;
		char keep[64];
		memcpy(keep, in + at + 1, zlen);
		memset(in + at + 1, 'Z', zlen);

		/*
		 * What was sent must be the start of the encoding of the same input with '#' in
		 * place of the NUL, hold neither '#' nor 'Z', and reach at least to the last line
		 * end before the NUL.
		 */
		for (int bdat = 0; bdat <= 1; bdat++) {
			struct ref ref, full, pre;
			ref_encode(&ref, in, n, false, bdat);
			ref_encode(&pre, in, at, false, bdat);
			in[at] = '#';
			ref_encode(&full, in, n, false, bdat);
			in[at] = '\0';
			for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
				struct run r;
				char want[64];
				run_chunks(&r, in, n, false, bdat, chunks[c]);
				snprintf(want, sizeof(want), "NUL byte at offset %zu;", at);
				bool good = r.rc == -1 && r.e.kind == ERR_DATA &&
				            strstr(r.e.text, want) &&
				            strstr(r.e.text, "RFC 5322") && !r.bytes_off &&
				            r.d.in_bytes == at;
				/* Up to the CRLF of an open line, and the end marker in DATA. */
				size_t missing = bdat ? 2 : 5;
				const char *got = r.out.data ? r.out.data : "";
				bool prefix = r.out.len <= full.out.len &&
				              r.out.len + missing >= pre.out.len &&
				              !memchr(got, 'Z', r.out.len) &&
				              !memchr(got, '#', r.out.len) &&
				              memcmp(got, full.out.data, r.out.len) == 0;
				ok(good && prefix && ref.failed && ref.nul_at == at,
				   "NUL at %zu, chunks of %zu%s: refused, nothing after it "
				   "sent (%s)",
				   at, chunks[c], bdat ? " (BDAT)" : "", r.e.text);
				buf_fini(&r.out);
			}
			buf_fini(&pre.out);
			buf_fini(&full.out);
			buf_fini(&ref.out);
		}
		memcpy(in + at + 1, keep, zlen);
		in[at] = saved;
	}
	free(in);

	/* In stop_at_dot mode a NUL after the "." line is never looked at. */
	for (int bdat = 0; bdat <= 1; bdat++) {
		struct run r;
		run_cuts(&r, S("a\n.\n\0"), true, bdat, NULL, 0);
		ok(r.rc == 0 && r.d.ended, "NUL after the end line is ignored%s",
		   bdat ? " (BDAT)" : "");
		buf_fini(&r.out);
	}
}

static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Each line-end style through 64 KiB chunks: the byte counts must agree. The CPU time is
 * printed as a TAP comment only: speed is measured by bench/, never by a test that can
 * fail a build on a busy machine.
 */
static void
test_speed(void)
{
	static const struct {
		const char *name;
		const char *text;
		int mib;
		bool bdat;
	} kinds[] = {
#define FOX "The quick brown fox jumps over the lazy dog, again and again."
#define MAIL                                                                                       \
	"Subject: a test\nX-Spam: no\n\n> quoted\n.\n-- \nsig\r\n"                                 \
	"some text here, a little longer than the rest\r\n"
	    {"LF text", FOX " 0123\n", 16, false},
	    {"CRLF text", FOX " 0\r\n", 16, false},
	    {"CR text", FOX " 0123\r", 16, false},
	    {"dotted LF text", "." FOX "\n", 16, false},
	    {"mixed mail", MAIL, 16, false},
	    {"one-byte lines (yes)", "y\n", 8, false},
	    {"empty lines", "\n", 8, false},
	    {"empty CRLF lines", "\r\n", 8, false},
	    {"bare CRs", "\r", 8, false},
	    /* BDAT takes the same paths, less the stuffing. */
	    {"BDAT, dotted LF text", "." FOX "\n", 16, true},
	    {"BDAT, mixed mail", MAIL, 16, true},
	    {"BDAT, \".\" lines", ".\n", 8, true},
#undef MAIL
#undef FOX
	};
	const size_t block = 1 << 20;
	char *in = xmalloc(block);

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t len = strlen(kinds[k].text);
		for (size_t i = 0; i < block; i++)
			in[i] = kinds[k].text[i % len];
		struct dot d;
		struct err e;
		struct counter c = {0, 0, 0};
		int rc = 0;
		double t0 = cpu_seconds();
		dot_init(&d, false);
		d.bdat = kinds[k].bdat;
		for (int rep = 0; rep < kinds[k].mib && rc == 0; rep++)
			for (size_t at = 0; at < block && rc == 0; at += 65536)
				rc = dot_encode(&d, in + at, 65536, sink_count, &c, &e);
		rc = rc ? rc : dot_finish(&d, sink_count, &c, &e);
		double t = cpu_seconds() - t0;
		ok(rc == 0 && c.bytes == d.out_bytes, "%s: %d MiB encoded, %" PRIu64 " sink calls",
		   kinds[k].name, kinds[k].mib, c.calls);
		printf("# %s: %.3f s CPU for %d MiB\n", kinds[k].name, t, kinds[k].mib);
	}
	free(in);
}

/*
 * The line counts (RFC 5322 §2.1.1's 998 octets): against the output itself, split at its
 * CRLFs, for inputs of short and long lines with every kind of line end, fed whole and in
 * chunks of several sizes, in DATA and BDAT mode.
 */
static void
test_long_lines(void)
{
	static const size_t lens[] = {0, 5, 998, 999, 31, 40, 3000, 997, 1200, 1, 998, 70000, 2};
	static const char *const ends[] = {"\n", "\r\n", "\r"};
	static const size_t chunks[] = {1, 7, 64, 999, 4096, 1 << 20};
	struct buf in;

	buf_init(&in, 1 << 20);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t k = 0; k < lens[i]; k++)
			buf_append(&in, k == 0 && i % 3 == 1 ? "." : "x", 1, NULL);
		const char *end = ends[i % 3];
		buf_append(&in, end, strlen(end), NULL);
	}
	buf_append(&in, "no line end", 11, NULL);
	for (int bdat = 0; bdat < 2; bdat++) {
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			struct dot d;
			struct buf out;
			struct err e;
			int rc = 0;
			buf_init(&out, 1 << 21);
			dot_init(&d, false);
			d.bdat = bdat;
			for (size_t at = 0; at < in.len && rc == 0; at += chunks[c]) {
				size_t n = in.len - at < chunks[c] ? in.len - at : chunks[c];
				rc = dot_encode(&d, in.data + at, n, sink_buf, &out, &e);
			}
			rc = rc ? rc : dot_finish(&d, sink_buf, &out, &e);
			/* The reference: the output's lines, less DATA's end marker. */
			uint64_t lines = 0, longs = 0, first = 0;
			size_t first_len = 0, start = 0;
			for (size_t i = 0; i + 1 < out.len; i++) {
				if (out.data[i] != '\r' || out.data[i + 1] != '\n')
					continue;
				size_t len = i - start;
				start = i + 2;
				if (!bdat && len == 1 && start == out.len)
					break; /* the "." that ends the data */
				lines++;
				/* A stuffed dot is not text (RFC 5321 §4.5.3.1.6). */
				if (!bdat && len >= 2 && out.data[i - len] == '.')
					len--;
				if (len > DOT_LINE_MAX && longs++ == 0) {
					first = lines;
					first_len = len;
				}
			}
			ok(rc == 0 && d.lines == lines && d.long_lines == longs &&
			       d.long_first == first && d.long_first_len == first_len,
			   "%s, chunks of %zu: %" PRIu64 " lines (%" PRIu64 "), %" PRIu64
			   " long (%" PRIu64 "), first %" PRIu64 " (%" PRIu64 ") of %zu (%zu)",
			   bdat ? "BDAT" : "DATA", chunks[c], d.lines, lines, d.long_lines, longs,
			   d.long_first, first, d.long_first_len, first_len);
			buf_fini(&out);
		}
	}
	buf_fini(&in);
}

int
main(void)
{
	test_long_lines();
	test_table();
	test_counters();
	test_sink_error();
	test_exhaustive();
	test_large();
	test_nul();
	test_speed();
	ok(empty_sink_calls == 0, "the sink is never called with nothing (%zu times)",
	   empty_sink_calls);
	return tap_done();
}
