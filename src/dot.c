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

static void
end_line(struct dot *d)
{
	if (d->line_len > d->max_line)
		d->max_line = d->line_len;
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
			}
		}
	}
	z->p = p;
	z->o = o;
	z->len = len;
	z->max = max;
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

int
dot_encode(struct dot *d, const char *in, size_t n, dot_sink sink, void *ctx, struct err *e)
{
	size_t i = 0; /* next input byte to look at */
	size_t s = 0; /* start of the run of input bytes that go out unchanged: in[s..i) */
	size_t c_cr = SIZE_MAX, c_nul = SIZE_MAX;
	bool short_prev = true; /* the last line was short: copy bytes rather than find spans */
	struct stage st;

	if (d->state == S_ENDED)
		return 0;
	if (d->state == S_FAILED)
		return err_set(e, ERR_SOFTWARE, "encode data: the data was already refused");
	if (d->state == S_DONE)
		return err_set(e, ERR_SOFTWARE, "encode data: the data was already finished");
	st.d = d;
	st.sink = sink;
	st.ctx = ctx;
	st.e = e;
	st.len = 0;

	while (i < n) {
		char c = in[i];

		switch (d->state) {
		case S_BOL:
			/* BDAT: a leading dot is text (RFC 3030 §2) unless it may end the input. */
			if (c != '.' || (d->bdat && !d->stop_at_dot)) {
				d->state = S_MID;
				break;
			}
			if (d->stop_at_dot) {
				/* Hold it: "." alone ends the input (sendmail without -i). */
				if (put(&st, in + s, i - s) < 0)
					return -1;
				i++;
				s = i;
				d->state = S_DOT;
				break;
			}
			/* RFC 5321 §4.5.2: the extra dot goes out, the input dot joins the run. */
			if (put(&st, in + s, i - s) < 0 || put(&st, ".", 1) < 0)
				return -1;
			s = i;
			i++;
			d->line_len += 2;
			d->state = S_MID;
			break;

		case S_MID: {
			/*
			 * Up to the next NUL (rare; its position is remembered), line ends are CR
			 * and LF. After a long line, the next line end is found with memchr and the
			 * text goes out as a span. After a short line, the copier moves bytes into
			 * the stage with the line ends written as CRLF: what text like yes(1)
			 * output or empty CRLF lines needs.
			 */
			size_t nul = next_of(in, n, i, '\0', &c_nul);
			size_t len = d->line_len, max = d->max_line; /* in registers, not in d */
			int next = S_MID;
			while (i < nul && next == S_MID) {
				if (len < SHORT_LINE && short_prev) {
					if (put(&st, in + s, i - s) < 0)
						return -1;
					if (STAGE_SIZE - st.len < 2 * SHORT_LINE && flush(&st) < 0)
						return -1;
					struct copier z = {in + i,
					                   in + nul,
					                   st.buf + st.len,
					                   st.buf + STAGE_SIZE - 2,
					                   len,
					                   max,
					                   S_MID};
					copy_short(&z, d->stop_at_dot, !d->bdat);
					st.len = (size_t)(z.o - st.buf);
					i = s = (size_t)(z.p - in);
					len = z.len;
					max = z.max;
					next = z.next;
					short_prev = len < SHORT_LINE;
					continue;
				}
				size_t lim = next_of(in, n, i, '\r', &c_cr);
				lim = lim < nul ? lim : nul;
				const char *p = memchr(in + i, '\n', lim - i);
				size_t q = p ? (size_t)(p - in) : lim;
				len += q - i;
				i = q;
				if (i == nul)
					break;
				short_prev = len < SHORT_LINE;
				max = len > max ? len : max;
				len = 0;
				if (in[i] == '\r') {
					/* CRLF or bare CR, a CR goes out: keep it in the run. */
					i++;
					next = S_CR;
					break;
				}
				/* Bare LF: the run, a CR, and the LF opens the next run. */
				if (put(&st, in + s, i - s) < 0 || put(&st, "\r", 1) < 0)
					return -1;
				s = i;
				i++;
				if (i == n || in[i] == '.')
					next = S_BOL;
			}
			d->line_len = len;
			d->max_line = max;
			if (next != S_MID) {
				d->state = next;
				break;
			}
			if (i == n)
				break;
			/* NUL: what came before it may go, nothing after it (SEC-28). */
			uint64_t off = d->in_bytes + i;
			if (put(&st, in + s, i - s) < 0 || flush(&st) < 0)
				return -1;
			note_high(d, in, i);
			d->in_bytes += i;
			d->state = S_FAILED;
			return err_set(e, ERR_DATA,
			               "read message: NUL byte at offset %" PRIu64
			               "; postie does not send NUL (RFC 5322 §2.3)",
			               off);
		}

		case S_CR:
			if (c == '\n') {
				i++;
			} else {
				/* Bare CR (SEC-27): complete it; C starts the next line. */
				if (put(&st, in + s, i - s) < 0 || put(&st, "\n", 1) < 0)
					return -1;
				s = i;
			}
			d->state = S_BOL;
			break;

		case S_DOT:
			if (c == '\n' || c == '\r') {
				/* "." LF, "." CRLF, "." CR: the input ends; ignore the rest. */
				if (flush(&st) < 0)
					return -1;
				note_high(d, in, i);
				d->in_bytes += i + 1;
				d->ended = true;
				d->state = S_ENDED;
				return 0;
			}
			/* A line that starts with '.' but is more than ".": stuffed, in DATA. */
			d->line_len = d->bdat ? 1 : 2;
			if (put(&st, "..", d->line_len) < 0)
				return -1;
			d->state = S_MID;
			s = i;
			break;

		default:
			fatal("encode data: impossible state %d", d->state);
		}
	}
	if (put(&st, in + s, i - s) < 0 || flush(&st) < 0)
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
