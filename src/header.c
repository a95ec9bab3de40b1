/*
 * header: the header section of a message as text. RFC 5322 §2.1 (header section, empty
 * line, body), §2.2 (fields, folding), §2.1.1 (998 octets). SECURITY.md: SEC-27, SEC-28.
 *
 * Seam: this file says where the header section ends and where each field and its value
 * lie; msg.c reads the input, takes recipients and the sender from the fields, and writes
 * the header section to send (Bcc removed, names resolved, fields added).
 */
#include "header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The scanner takes the input in pieces of any size and gives the same result for every
 * split. Lines end with LF or CRLF. A bare CR (not followed by LF) in the header section is
 * an error (SEC-27, amended by issue 10): dot turns a bare CR into CRLF, so the server would
 * see a line end that we did not, and `To: a@x\rRCPT...` or `\r\r\n` would end the header
 * section early or split a field in two. In the body the conversion stays.
 */
enum scan_state {
	SCAN_LINE,     /* at the start of a line */
	SCAN_LINE_CR,  /* a line began with CR: the empty line if LF follows; CR held back */
	SCAN_NAME,     /* in what may be a field name */
	SCAN_NAME_WSP, /* WSP after the name, before the colon (obsolete, RFC 5322 §4.5) */
	SCAN_VALUE,    /* in a field line or a continuation line */
	SCAN_VALUE_CR, /* after a CR in a field line: LF must follow */
	SCAN_DONE,
};

/* What one byte did to the header section. */
enum judged {
	J_ON,         /* it goes on */
	J_EMPTY_LF,   /* it ended the empty line LF: the header section is over */
	J_EMPTY_CRLF, /* it ended the empty line CRLF (the CR is held back) */
	J_BODY,       /* the line being judged is not a field: it starts the body */
};

void
header_scan_start(struct header_scan *s, struct buf *head, struct buf *rest)
{
	buf_reset(head);
	buf_reset(rest);
	s->head = head;
	s->rest = rest;
	s->body_sep = false;
	s->st = SCAN_LINE;
	s->seen_field = false;
	s->line_start = 0;
	s->lineno = 1;
}

bool
header_scan_done(const struct header_scan *s)
{
	return s->st == SCAN_DONE;
}

/* SEC-27 (amended): the CR on line LINENO of the header section has no LF after it. */
static int
bare_cr(size_t lineno, struct err *e)
{
	return err_set(
	    e, ERR_DATA,
	    "read header: line %zu: a bare CR (carriage return without line feed); end each "
	    "header line with LF or CRLF and remove the CR from inside the field",
	    lineno);
}

static int
too_big(struct err *e)
{
	return err_set(
	    e, ERR_DATA,
	    "read message: header section over 1 MiB (end the header with an empty line, or "
	    "move the data into the body)");
}

/* The line being judged is not a header field: it and all after it are the body. */
static int
move_line(struct header_scan *s, struct err *e)
{
	struct buf *h = s->head;

	if (buf_append(s->rest, h->data + s->line_start, h->len - s->line_start, e) < 0)
		return -1;
	h->len = s->line_start;
	h->data[h->len] = '\0';
	return 0;
}

/* In a would-be field name (SCAN_NAME, SCAN_NAME_WSP): C at offset AT. */
static enum judged
judge_name(struct header_scan *s, unsigned char c, size_t at)
{
	if (s->st == SCAN_NAME_WSP) {
		if (c == ':') {
			s->st = SCAN_VALUE;
			s->seen_field = true;
		} else if (c != ' ' && c != '\t') {
			return J_BODY;
		} else if (at - s->line_start >= HEADER_MAX_LINE) {
			return J_BODY;
		}
		return J_ON;
	}
	if (c == ':' && at > s->line_start) {
		s->st = SCAN_VALUE;
		s->seen_field = true;
	} else if (c > ' ' && c < 0x7f && c != ':' && at - s->line_start < HEADER_MAX_LINE) {
		/* ftext (RFC 5322 §3.6.8) */
	} else if ((c == ' ' || c == '\t') && at > s->line_start) {
		s->st = SCAN_NAME_WSP;
	} else {
		return J_BODY;
	}
	return J_ON;
}

/* One state machine step: byte C (not NUL, and LF where a CR wants one) at offset AT. */
static enum judged
judge(struct header_scan *s, unsigned char c, size_t at)
{
	switch (s->st) {
	case SCAN_VALUE_CR:
		/* CRLF ends the line. */
		s->st = SCAN_LINE;
		s->lineno++;
		return J_ON;
	case SCAN_LINE:
		if (c == '\n')
			return J_EMPTY_LF; /* the empty line ends the header section (§2.1) */
		if (c == '\r') {
			s->st = SCAN_LINE_CR;
			return J_ON;
		}
		if ((c == ' ' || c == '\t') && s->seen_field) {
			s->st = SCAN_VALUE;
			return J_ON;
		}
		s->line_start = at;
		s->st = SCAN_NAME;
		/* Judge C as the first byte of a field name. */
		return judge_name(s, c, at);
	case SCAN_NAME:
	case SCAN_NAME_WSP:
		return judge_name(s, c, at);
	case SCAN_VALUE:
		if (c == '\n') {
			s->st = SCAN_LINE;
			s->lineno++;
		} else if (c == '\r') {
			s->st = SCAN_VALUE_CR;
		}
		return J_ON;
	case SCAN_LINE_CR:
		return J_EMPTY_CRLF;
	default:
		return J_ON;
	}
}

int
header_scan_feed(struct header_scan *s, const char *p, size_t n, struct err *e)
{
	size_t base = s->head->len; /* where p[0] would be in head */
	size_t head_n = n;          /* p[0 .. head_n) go to head */
	size_t rest_from = n;       /* p[rest_from .. n) go to rest */
	size_t cr = 0;              /* the held line-start CR, when it is in P */
	enum judged j = J_ON;

	for (size_t i = 0; i < n && s->st != SCAN_DONE; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t at = base + i;
		if ((s->st == SCAN_VALUE_CR || s->st == SCAN_LINE_CR) && c != '\n')
			return bare_cr(s->lineno, e);
		/* SEC-28: never truncate at a NUL; refuse the message. */
		if (c == '\0')
			return err_set(e, ERR_DATA,
			               "read message: NUL byte in the header section (line %zu)",
			               s->lineno);
		j = judge(s, c, at);
		if (j != J_ON) {
			/* The empty line's LF (and CR) go to neither; a body line goes to rest. */
			head_n = j == J_EMPTY_CRLF ? cr : i;
			rest_from = j == J_BODY ? i : i + 1;
			s->body_sep = true;
			s->st = SCAN_DONE;
			break;
		}
		if (s->st == SCAN_LINE_CR)
			cr = i; /* C is the CR that opened the line */
		/* Every byte judged to be header counts against the ceiling. */
		if ((s->st == SCAN_LINE || s->st == SCAN_VALUE || s->st == SCAN_VALUE_CR) &&
		    at + 1 > BUF_MAX_HEADER)
			return too_big(e);
	}
	if (s->st == SCAN_LINE_CR)
		head_n = cr; /* hold the CR back until we know what follows it */
	if (buf_append(s->head, p, head_n, e) < 0)
		return -1;
	if (j == J_BODY && move_line(s, e) < 0)
		return -1;
	return buf_append(s->rest, p + rest_from, n - rest_from, e);
}

int
header_scan_end(struct header_scan *s, struct err *e)
{
	switch (s->st) {
	case SCAN_LINE_CR:
	case SCAN_VALUE_CR:
		/* The input ends in the CR: no LF after it. */
		return bare_cr(s->lineno, e);
	case SCAN_NAME:
	case SCAN_NAME_WSP:
		/* A last line without a colon is body. */
		s->body_sep = true;
		if (move_line(s, e) < 0)
			return -1;
		break;
	default:
		break;
	}
	s->st = SCAN_DONE;
	return 0;
}

size_t
header_next_line(const char *h, size_t len, size_t pos, size_t *eol)
{
	size_t i = pos;

	while (i < len && h[i] != '\r' && h[i] != '\n')
		i++;
	*eol = i;
	if (i < len && h[i] == '\r') {
		i++;
		if (i < len && h[i] == '\n')
			i++;
	} else if (i < len) {
		i++;
	}
	return i;
}

bool
header_field_next(const struct buf *head, size_t *pos, struct header_field *f)
{
	const char *h = head->data;
	size_t len = head->len, eol;

	if (*pos >= len)
		return false;
	f->start = *pos;
	size_t next = header_next_line(h, len, *pos, &eol);
	const char *colon = memchr(h + *pos, ':', eol - *pos);
	size_t name_end = colon ? (size_t)(colon - h) : *pos;
	while (name_end > *pos && (h[name_end - 1] == ' ' || h[name_end - 1] == '\t'))
		name_end--;
	f->name = h + *pos;
	f->name_len = name_end - *pos;
	f->value = colon ? (size_t)(colon - h) + 1 : eol;
	while (next < len && (h[next] == ' ' || h[next] == '\t'))
		next = header_next_line(h, len, next, &eol);
	f->value_end = eol;
	f->end = next;
	*pos = next;
	return true;
}

bool
header_field_is(const struct header_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* RFC 5322 §2.2.3: every line end inside a field is followed by WSP, so dropping CR and LF
 * is enough. */
char *
header_unfold(const struct buf *head, const struct header_field *f, size_t *len)
{
	size_t k = 0;
	char *v = xmalloc(f->value_end - f->value + 1);

	for (size_t i = f->value; i < f->value_end; i++)
		if (head->data[i] != '\r' && head->data[i] != '\n')
			v[k++] = head->data[i];
	v[k] = '\0';
	*len = k;
	return v;
}
