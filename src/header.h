/*
 * header: an RFC 5322 header section as text. A scanner that finds where the header section
 * ends, in input pieces of any size (§2.1, §2.2; SEC-27, SEC-28), and a walk over its fields
 * with their folded values (§2.2.3). Pure functions over memory; msg reads the input and
 * rewrites the fields.
 */
#ifndef POSTIE_HEADER_H
#define POSTIE_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

/* RFC 5322 §2.1.1: no line is over 998 octets, so neither is a field name. */
#define HEADER_MAX_LINE 998

/* The scanner's state; fields are private but BODY_SEP. */
struct header_scan {
	int st;
	bool seen_field;   /* a WSP line is a continuation only after a field */
	size_t line_start; /* offset in head of the line being judged */
	size_t lineno;
	struct buf *head, *rest;
	bool body_sep; /* the input had the empty line (or any body) after the header */
};

/*
 * Start scanning into HEAD (the header section as read, line endings as in the input,
 * without the empty line that ends it) and REST (what follows); both are emptied. HEAD's
 * ceiling must leave room past BUF_MAX_HEADER for the line not judged yet (up to
 * HEADER_MAX_LINE octets); REST's for what one piece of input holds, plus that line.
 */
void header_scan_start(struct header_scan *s, struct buf *head, struct buf *rest);

/*
 * Scan the next N bytes of input. A line that is neither a header field ("name:" with
 * printable name, WSP allowed before the colon) nor a continuation ends the header section
 * and goes to REST with all after it. ERR_DATA for a NUL, a bare CR ("read header: line N:
 * a bare CR ...") or a header section over BUF_MAX_HEADER; the buffers' ceilings apply.
 */
int header_scan_feed(struct header_scan *s, const char *p, size_t n, struct err *e);

/* The end of the input: a last line without a colon is body; a CR at the end is bare. */
int header_scan_end(struct header_scan *s, struct err *e);

/* Whether the header section has ended (header_scan_feed needs no more input). */
bool header_scan_done(const struct header_scan *s);

/* One field of a header section: offsets into it. */
struct header_field {
	const char *name;
	size_t name_len;   /* without the WSP before the colon */
	size_t value;      /* offset of the byte after the colon */
	size_t value_end;  /* offset of the last line end (exclusive of it) */
	size_t start, end; /* the whole field, line ends included */
};

/*
 * The field at *POS of HEAD (a header section the scanner accepted: every line a field
 * line or a continuation) into F, and *POS past it; false at the end.
 */
bool header_field_next(const struct buf *head, size_t *pos, struct header_field *f);

/* Whether F is called NAME (case-insensitive). */
bool header_field_is(const struct header_field *f, const char *name);

/* The value of F in HEAD unfolded (CR and LF dropped), NUL-terminated, owned by the
 * caller; *LEN is its length. */
char *header_unfold(const struct buf *head, const struct header_field *f, size_t *len);

/* The line at POS of H (LEN bytes): *EOL is where its text ends; returns where the next
 * line begins (after LF, CRLF or a lone CR). */
size_t header_next_line(const char *h, size_t len, size_t pos, size_t *eol);

#endif
