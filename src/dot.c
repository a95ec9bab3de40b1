/*
 * dot: the streaming DATA (and BDAT) encoder.
 *
 * RFC 5321 §2.3.8: bare CR and bare LF MUST NOT be sent, so every input line end (LF, CRLF,
 * or a bare CR) leaves as CRLF (SEC-26, SEC-27; CR CR LF is two line ends, never collapsed
 * into one as Postfix once did). RFC 5321 §4.5.2: a line that begins with "." gets a second
 * "."; the data ends with CRLF "." CRLF, so no end-of-data sequence can be smuggled through
 * (SEC-30). RFC 5322 §2.3 / §3.5: NUL is not text, so a message holding one is refused
 * (SEC-28), never cut short. Long lines pass unchanged; their length is measured for the
 * caller's policy (SEC-29).
 *
 * RFC 3030 §2: BDAT sends counted octets, so there is no end marker and nothing to stuff.
 * The body is still RFC 5322 text (postie never sends BINARYMIME), so its lines still end in
 * CRLF and hold no NUL: SEC-26..28 hold unchanged. BDAT mode therefore changes only two
 * places: a dot at the start of a line goes out alone, and dot_finish adds no ".\r\n". The
 * "." line of stop_at_dot still ends the input (it is never sent).
 *
 * Speed: the encoder works on spans. After a long line, the next line end is found with
 * memchr and the bytes that need no change go to the sink as one run, without a copy; only
 * the places that change (a LF that needs its CR, a bare CR that needs its LF, a stuffed dot)
 * split a run. After a short line, a copier moves bytes (eight at a time where it can) into a
 * 4 KiB stage with the CRs added, so a message of tiny lines costs neither a memchr call nor
 * a sink call per line. The next NUL and CR are remembered, so no byte is searched twice.
 */
#include "dot.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

enum {
	S_BOL,    /* at the start of a line */
	S_MID,    /* inside a line */
	S_CR,     /* a CR was sent; a LF next completes it, anything else needs a LF first */
	S_DOT,    /* stop_at_dot: a '.' opened the line and is held back */
	S_ENDED,  /* stop_at_dot: the "." line was seen; input is ignored */
	S_FAILED, /* a NUL or a sink error: nothing more is encoded */
	S_DONE,   /* dot_finish ran */
};

void
dot_init(struct dot *d, bool stop_at_dot)
{
	memset(d, 0, sizeof(*d));
	d->state = S_BOL;
	d->stop_at_dot = stop_at_dot;
}

static int
emit(struct dot *d, const char *p, size_t n, dot_sink sink, void *ctx, struct err *e)
{
	if (n == 0)
		return 0;
	if (sink(ctx, p, n, e) < 0) {
		d->state = S_FAILED;
		return -1;
	}
	d->out_bytes += n;
	return 0;
}

/*
 * Output of one dot_encode call. Short pieces (a two-byte line and the CR it needs) are
 * gathered here so that a message of short LF lines does not cost two sink calls per line;
 * long runs go to the sink directly, without a copy.
 */
#define STAGE_SIZE 4096
#define STAGE_DIRECT 256 /* runs at least this long skip the stage */
#define SHORT_LINE 32    /* lines shorter than this are copied byte by byte */

struct stage {
	struct dot *d;
	dot_sink sink;
	void *ctx;
	struct err *e;
	size_t len;
	char buf[STAGE_SIZE];
};

static int
flush(struct stage *st)
{
	size_t n = st->len;

	st->len = 0;
	return emit(st->d, st->buf, n, st->sink, st->ctx, st->e);
}

static int
put_slow(struct stage *st, const char *p, size_t n)
{
	if (n > STAGE_SIZE - st->len && flush(st) < 0)
		return -1;
	if (n >= STAGE_DIRECT) {
		if (flush(st) < 0)
			return -1;
		return emit(st->d, p, n, st->sink, st->ctx, st->e);
	}
	memcpy(st->buf + st->len, p, n);
	st->len += n;
	return 0;
}

static inline int
put(struct stage *st, const char *p, size_t n)
{
	if (n < STAGE_DIRECT && n <= STAGE_SIZE - st->len) {
		memcpy(st->buf + st->len, p, n);
		st->len += n;
		return 0;
	}
	return put_slow(st, p, n);
}

/*
 * A line of LEN octets ended: count it, and remember the first one over DOT_LINE_MAX. A
 * stuffed dot is transport, not text (RFC 5321 §4.5.3.1.6), so it does not count there.
 */
static void
note_line(struct dot *d, size_t len)
{
	len -= d->stuffed && len > 0;
	d->stuffed = false;
	d->lines++;
	if (len > DOT_LINE_MAX && d->long_lines++ == 0) {
		d->long_first = d->lines;
		d->long_first_len = len;
	}
}

static void
end_line(struct dot *d)
{
	if (d->line_len > d->max_line)
		d->max_line = d->line_len;
	note_line(d, d->line_len);
	d->line_len = 0;
}

/* Whether any of the N bytes at P has the high bit set; eight bytes at a time. */
static bool
has_high(const char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			return true;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return true;
	return false;
}

/*
 * How many of the eight bytes in W (in memory order) come before the first CR or LF. A byte
 * of zero in (W ^ c) marks c; (v - 0x01..) & ~v & 0x80.. flags every zero byte exactly up to
 * the first one, above it borrows may flag more, so only the lowest flag counts: that is the
 * first byte on a little-endian machine. Elsewhere, report any hit at byte 0 (still correct,
 * just slower).
 */
static inline size_t
plain_prefix(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	uint64_t lf = w ^ (ones * '\n'), cr = w ^ (ones * '\r');
	uint64_t m = ((lf - ones) & ~lf & highs) | ((cr - ones) & ~cr & highs);

	if (m == 0)
		return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) / 8;
#else
	return 0;
#endif
}

/* The short-line copier's view of one stretch of input without NUL. */
struct copier {
	const char *p, *pe; /* input left */
	char *o;            /* output, in the stage */
	const char *oe;     /* where the output must stop: three bytes before the stage ends */
	size_t len, max;    /* line lengths, as in struct dot */
	int next;           /* S_MID, or the state the stretch ended in */
	uint64_t lines;     /* lines ended here (all shorter than SHORT_LINE + 8) */
	bool stuffed;       /* the open line got a stuffed dot */
};

/*
 * Copy lines into the stage with every line end written as CRLF and leading dots stuffed
 * (when STUFF), until the input or the room runs out, a line reaches SHORT_LINE bytes (spans
 * are better then), or a '.' opens a line under stop_at_dot (S_BOL decides). A CR as the last
 * byte leaves S_CR: whether a LF follows is for the next call to see.
 */
static void
copy_short(struct copier *z, bool stop_at_dot, bool stuff)
{
	const char *p = z->p, *pe = z->pe, *oe = z->oe;
	char *o = z->o;
	size_t len = z->len, max = z->max;
	uint64_t lines = 0;
	bool stuffed = z->stuffed;
	bool wide = true; /* the last line had 8 bytes or more: try eight at a time */

	while (p < pe && o < oe) {
		if (wide) {
			while (pe - p >= 8 && oe - o >= 8 && len < SHORT_LINE) {
				uint64_t w;
				memcpy(&w, p, 8);
				size_t k = plain_prefix(w);
				memcpy(o, &w, 8); /* bytes past K are overwritten later */
				o += k;
				p += k;
				len += k;
				if (k < 8)
					break;
			}
		}
		if (len >= SHORT_LINE)
			break;
		size_t room = (size_t)(pe - p);
		if ((size_t)(oe - o) < room)
			room = (size_t)(oe - o);
		if (SHORT_LINE - len < room)
			room = SHORT_LINE - len;
		const char *stop = p + room, *from = p;
		while (p < stop && *p != '\n' && *p != '\r')
			*o++ = *p++;
		len += (size_t)(p - from);
		if (p == stop)
			break;
		char ch = *p++;
		max = len > max ? len : max;
		lines++;
		stuffed = false;
		wide = len >= 8;
		len = 0;
		if (ch == '\r') {
			if (p == pe) {
				/* LF or not, S_CR decides later. */
				*o++ = '\r';
				z->next = S_CR;
				break;
			}
			if (*p == '\n')
				p++;
		}
		*o++ = '\r';
		*o++ = '\n';
		if (p == pe) {
			z->next = S_BOL;
			break;
		}
		if (*p == '.') {
			/* RFC 5321 §4.5.2; with stop_at_dot, S_BOL looks at what follows. */
			if (stop_at_dot) {
				z->next = S_BOL;
				break;
			}
			if (stuff) {
				*o++ = '.';
				len++;
				stuffed = true;
			}
		}
	}
	z->p = p;
	z->o = o;
	z->len = len;
	z->max = max;
	z->lines = lines;
	z->stuffed = stuffed;
}

/* Record 8-bit text among the N bytes at P (once per call: cheaper than per span). */
static void
note_high(struct dot *d, const char *p, size_t n)
{
	if (!d->eight_bit && has_high(p, n))
		d->eight_bit = true;
}

/*
 * Offset of the next CH at or after I in IN[0..N) (N when none). *CACHE remembers the last
 * answer (SIZE_MAX: none yet), so each byte is searched at most once for CH.
 */
static size_t
next_of(const char *in, size_t n, size_t i, char ch, size_t *cache)
{
	if (*cache == SIZE_MAX || *cache < i) {
		const char *q = memchr(in + i, ch, n - i);
		*cache = q ? (size_t)(q - in) : n;
	}
	return *cache;
}

/*
 * One dot_encode call: its input, how far it has got, and its output stage. The run of input
 * bytes that go out unchanged is in[s..i). The positions of the next CR and NUL are
 * remembered (SIZE_MAX: not searched yet), so no byte is searched twice.
 */
struct pass {
	struct stage st;
	const char *in;
	size_t n;
	size_t i; /* next input byte to look at */
	size_t s; /* start of the unchanged run */
	size_t c_cr, c_nul;
	bool short_prev; /* the last line was short: copy bytes rather than find spans */
};

/* Give the unchanged run in[s..i) to the stage, then the N bytes at P. */
static int
put_run(struct pass *r, const char *p, size_t n)
{
	if (put(&r->st, r->in + r->s, r->i - r->s) < 0)
		return -1;
	return n ? put(&r->st, p, n) : 0;
}

/* S_BOL: the byte at in[i] opens a line. */
static int
at_bol(struct pass *r, struct dot *d)
{
	/* BDAT: a leading dot is text (RFC 3030 §2) unless it may end the input. */
	if (r->in[r->i] != '.' || (d->bdat && !d->stop_at_dot)) {
		d->state = S_MID;
		return 0;
	}
	if (d->stop_at_dot) {
		/* Hold it: "." alone ends the input (sendmail without -i). */
		if (put_run(r, NULL, 0) < 0)
			return -1;
		r->i++;
		r->s = r->i;
		d->state = S_DOT;
		return 0;
	}
	/* RFC 5321 §4.5.2: the extra dot goes out, the input dot joins the run. */
	if (put_run(r, ".", 1) < 0)
		return -1;
	r->s = r->i;
	r->i++;
	d->line_len += 2;
	d->stuffed = true;
	d->state = S_MID;
	return 0;
}

/*
 * Inside a line after a short one: the copier moves bytes up to NUL into the stage with the
 * line ends written as CRLF (what text like yes(1) output or empty CRLF lines needs). Returns
 * the state it stopped in (S_MID: the line grew long, or the room or the input ran out).
 */
static int
copy_lines(struct pass *r, struct dot *d, size_t nul, size_t *len, size_t *max)
{
	if (put_run(r, NULL, 0) < 0)
		return -1;
	if (STAGE_SIZE - r->st.len < 2 * SHORT_LINE && flush(&r->st) < 0)
		return -1;
	struct copier z = {.p = r->in + r->i,
	                   .pe = r->in + nul,
	                   .o = r->st.buf + r->st.len,
	                   .oe = r->st.buf + STAGE_SIZE - 2,
	                   .len = *len,
	                   .max = *max,
	                   .next = S_MID,
	                   .stuffed = d->stuffed};
	copy_short(&z, d->stop_at_dot, !d->bdat);
	d->lines += z.lines;
	d->stuffed = z.stuffed;
	r->st.len = (size_t)(z.o - r->st.buf);
	r->i = r->s = (size_t)(z.p - r->in);
	*len = z.len;
	*max = z.max;
	r->short_prev = z.len < SHORT_LINE;
	return z.next;
}

/*
 * Inside a line after a long one: the next line end is found with memchr and the text stays
 * in the run. Returns the state to go on in (S_MID: the input or its NUL-free part ended).
 */
static int
span_line(struct pass *r, size_t nul, size_t *len, size_t *max)
{
	size_t i = r->i;
	size_t lim = next_of(r->in, r->n, i, '\r', &r->c_cr);
	lim = lim < nul ? lim : nul;
	const char *p = memchr(r->in + i, '\n', lim - i);
	size_t q = p ? (size_t)(p - r->in) : lim;

	*len += q - i;
	r->i = q;
	if (q == nul)
		return S_MID;
	r->short_prev = *len < SHORT_LINE;
	*max = *len > *max ? *len : *max;
	note_line(r->st.d, *len);
	*len = 0;
	if (r->in[q] == '\r') {
		/* CRLF or bare CR, a CR goes out: keep it in the run. */
		r->i++;
		return S_CR;
	}
	/* Bare LF: the run, a CR, and the LF opens the next run. */
	if (put_run(r, "\r", 1) < 0)
		return -1;
	r->s = q;
	r->i++;
	return (r->i == r->n || r->in[r->i] == '.') ? S_BOL : S_MID;
}

/*
 * S_MID: up to the next NUL (rare; its position is remembered), line ends are CR and LF.
 * A NUL refuses the data: what came before it may go, nothing after it (SEC-28).
 */
static int
mid_line(struct pass *r, struct dot *d, struct err *e)
{
	size_t nul = next_of(r->in, r->n, r->i, '\0', &r->c_nul);
	size_t len = d->line_len, max = d->max_line; /* in registers, not in d */
	int next = S_MID;

	while (r->i < nul && next == S_MID) {
		if (len < SHORT_LINE && r->short_prev)
			next = copy_lines(r, d, nul, &len, &max);
		else
			next = span_line(r, nul, &len, &max);
		if (next < 0)
			return -1;
	}
	d->line_len = len;
	d->max_line = max;
	if (next != S_MID) {
		d->state = next;
		return 0;
	}
	if (r->i == r->n)
		return 0;
	uint64_t off = d->in_bytes + r->i;
	if (put_run(r, NULL, 0) < 0 || flush(&r->st) < 0)
		return -1;
	note_high(d, r->in, r->i);
	d->in_bytes += r->i;
	d->state = S_FAILED;
	return err_set(e, ERR_DATA,
	               "read message: NUL byte at offset %" PRIu64
	               "; postie does not send NUL (RFC 5322 §2.3)",
	               off);
}

/* S_CR: a CR went out; a LF completes it, anything else is a bare CR (SEC-27). */
static int
after_cr(struct pass *r, struct dot *d)
{
	if (r->in[r->i] == '\n') {
		r->i++;
	} else {
		/* Complete it; in[i] starts the next line. */
		if (put_run(r, "\n", 1) < 0)
			return -1;
		r->s = r->i;
	}
	d->state = S_BOL;
	return 0;
}

/* S_DOT: a held '.' opened the line. Returns 1 when it was the "." line that ends the input. */
static int
held_dot(struct pass *r, struct dot *d)
{
	char c = r->in[r->i];

	if (c == '\n' || c == '\r') {
		/* "." LF, "." CRLF, "." CR: the input ends; ignore the rest. */
		if (flush(&r->st) < 0)
			return -1;
		note_high(d, r->in, r->i);
		d->in_bytes += r->i + 1;
		d->ended = true;
		d->state = S_ENDED;
		return 1;
	}
	/* A line that starts with '.' but is more than ".": stuffed, in DATA. */
	d->line_len = d->bdat ? 1 : 2;
	d->stuffed = !d->bdat;
	if (put(&r->st, "..", d->line_len) < 0)
		return -1;
	d->state = S_MID;
	r->s = r->i;
	return 0;
}

int
dot_encode(struct dot *d, const char *in, size_t n, dot_sink sink, void *ctx, struct err *e)
{
	struct pass r;
	int rc = 0;

	if (d->state == S_ENDED)
		return 0;
	if (d->state == S_FAILED)
		return err_set(e, ERR_SOFTWARE, "encode data: the data was already refused");
	if (d->state == S_DONE)
		return err_set(e, ERR_SOFTWARE, "encode data: the data was already finished");
	r.st.d = d;
	r.st.sink = sink;
	r.st.ctx = ctx;
	r.st.e = e;
	r.st.len = 0;
	r.in = in;
	r.n = n;
	r.i = r.s = 0;
	r.c_cr = r.c_nul = SIZE_MAX;
	r.short_prev = true;

	while (r.i < n && rc == 0) {
		switch (d->state) {
		case S_BOL:
			rc = at_bol(&r, d);
			break;
		case S_MID:
			rc = mid_line(&r, d, e);
			break;
		case S_CR:
			rc = after_cr(&r, d);
			break;
		case S_DOT:
			rc = held_dot(&r, d);
			break;
		default:
			fatal("encode data: impossible state %d", d->state);
		}
	}
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (put_run(&r, NULL, 0) < 0 || flush(&r.st) < 0)
		return -1;
	note_high(d, in, n);
	d->in_bytes += n;
	return 0;
}

int
dot_finish(struct dot *d, dot_sink sink, void *ctx, struct err *e)
{
	/* Each tail below ends with the end marker, which BDAT leaves off (RFC 3030 §2). */
	size_t mark = d->bdat ? 3 : 0;
	int rc;

	switch (d->state) {
	case S_BOL:
	case S_ENDED:
		rc = emit(d, ".\r\n", 3 - mark, sink, ctx, e);
		break;
	case S_MID:
		/*
		 * RFC 5321 §4.1.1.4: the data must end with CRLF before the "." line (SEC-26 c);
		 * a BDAT body is RFC 5322 text too, so its last line ends in CRLF as well.
		 */
		end_line(d);
		rc = emit(d, "\r\n.\r\n", 5 - mark, sink, ctx, e);
		break;
	case S_CR:
		rc = emit(d, "\n.\r\n", 4 - mark, sink, ctx, e);
		break;
	case S_DOT:
		/* A last line "." without a line end is not the end marker: stuffed, in DATA. */
		d->line_len = d->bdat ? 1 : 2;
		d->stuffed = !d->bdat;
		end_line(d);
		if (d->bdat)
			rc = emit(d, ".\r\n", 3, sink, ctx, e);
		else
			rc = emit(d, "..\r\n.\r\n", 7, sink, ctx, e);
		break;
	case S_FAILED:
		return err_set(e, ERR_SOFTWARE, "finish data: the data was already refused");
	default:
		return err_set(e, ERR_SOFTWARE, "finish data: the data was already finished");
	}
	if (rc < 0)
		return -1;
	d->state = S_DONE;
	return 0;
}
