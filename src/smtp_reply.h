/*
 * smtp_reply: what an SMTP server says, as text. Strict reply lines (RFC 5321 §4.2; SEC-31,
 * SEC-32), the EHLO capabilities (SEC-35; RFC 5321 §4.1.1.1, RFC 4954 AUTH, RFC 1870 SIZE),
 * and a reply described for messages. Pure functions over memory: reading replies from the
 * connection, and what each command makes of them, are smtp's.
 */
#ifndef POSTIE_SMTP_REPLY_H
#define POSTIE_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

#define SMTP_REPLY_LINE_MAX 2048 /* RFC 5321 §4.5.3.1.5 says 512; margin for real servers */
#define SMTP_REPLY_LINES_MAX 100 /* SEC-31 */

struct smtp_reply {
	int code; /* from the final line */
	size_t nlines;
	struct buf text; /* each line's text after "NNN-" or "NNN ", lines joined by '\n' */
};

enum {
	SMTP_CAP_PIPELINING = 1u << 0,
	SMTP_CAP_STARTTLS = 1u << 1,
	SMTP_CAP_AUTH = 1u << 2,
	SMTP_CAP_SIZE = 1u << 3,
	SMTP_CAP_8BITMIME = 1u << 4,
	SMTP_CAP_SMTPUTF8 = 1u << 5,
	SMTP_CAP_CHUNKING = 1u << 6,
	SMTP_CAP_DSN = 1u << 7,
	SMTP_CAP_ENHANCEDSTATUSCODES = 1u << 8,
};

struct smtp_caps {
	unsigned bits;
	char auth[512];     /* the AUTH mechanisms, space-separated, upper case */
	unsigned long size; /* SIZE limit; 0: none given; ULONG_MAX: too large to matter */
};

/* Start an empty reply. */
void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_fini(struct smtp_reply *r);

/*
 * Feed one reply line (LINE, LEN bytes, without LF; a final CR is allowed) into R.
 * Returns 1 when the reply is complete, 0 when more lines follow, -1 with ERR_PROTO on a
 * malformed line: bad code, code not the same as the first line's, NUL or other control
 * character, too many lines.
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len, struct err *e);

/* Describe reply R for a message: "550 5.1.1 no such user" (first line, cut to fit). */
const char *smtp_reply_brief(const struct smtp_reply *r, char *out, size_t n);

/*
 * A copy of R in TO (emptied first; its first 8192 bytes of text, for serverinfo): the text
 * as it is, or with CODE the lines as sent ("220-first" ... "220 last").
 */
void smtp_reply_copy(struct buf *to, const struct smtp_reply *r, bool code);

/* Fill C from an EHLO reply, from scratch (SEC-4). Unknown keywords are ignored. */
void smtp_caps_parse(struct smtp_caps *c, const struct smtp_reply *r);

/* The SMTP_CAP_ bit of EHLO keyword NAME (LEN bytes, any case); 0 for one postie does not
 * use. */
unsigned smtp_caps_bit(const char *name, size_t len);

/*
 * The Ith of the capabilities that are plain flags (all but SIZE and AUTH, which carry
 * values), in the order serverinfo shows them, with its bit in *BIT; NULL past the last.
 */
const char *smtp_caps_flag(size_t i, unsigned *bit);

#endif
