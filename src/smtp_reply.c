/*
 * smtp_reply: SMTP reply lines and EHLO capabilities, parsed strictly.
 *
 * Seam: this file reads text the server sent and says what it means; smtp.c sends commands,
 * reads replies from the connection (deadlines, transcript, redaction) and decides what each
 * reply means for its command. Nothing here does I/O, so the parsers are fuzzed on their own
 * (fuzz/smtp_reply.c).
 */
#include "smtp_reply.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void
smtp_reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->nlines = 0;
	buf_init(&r->text, BUF_MAX_REPLY);
}

void
smtp_reply_fini(struct smtp_reply *r)
{
	buf_fini(&r->text);
	r->code = 0;
	r->nlines = 0;
}

/* Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
 * (RFC 5321 §4.2); every line of one reply carries the same code (§4.2.1). SEC-32: anything
 * else is a protocol error. */
int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len, struct err *e)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (r->nlines >= SMTP_REPLY_LINES_MAX)
		return err_set(e, ERR_PROTO, "read reply: more than %d lines",
		               SMTP_REPLY_LINES_MAX);
	/* LINE is not NUL-terminated (it points into the read buffer, and may end at its very
	 * end): it is quoted with its length, never with a bare %.Ns (issue 10, bug 5). */
	int shown = (int)(len < 60 ? len : 60);
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    !isdigit((unsigned char)line[2]))
		return err_set(e, ERR_PROTO, "read reply: malformed line \"%.*s\"", shown,
		               len ? line : "");
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return err_set(e, ERR_PROTO, "read reply: malformed line \"%.*s\"", shown, line);
	for (size_t i = 3; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return err_set(e, ERR_PROTO,
			               "read reply: control character 0x%02x in a reply", ch);
	}
	if (r->nlines > 0 && code != r->code)
		return err_set(e, ERR_PROTO, "read reply: code %d in a reply that began with %d",
		               code, r->code);
	r->code = code;
	if (r->nlines > 0 && buf_append(&r->text, "\n", 1, e) < 0)
		return err_set(e, ERR_PROTO, "read reply: longer than %d bytes", BUF_MAX_REPLY);
	if (len > 4 && buf_append(&r->text, line + 4, len - 4, e) < 0)
		return err_set(e, ERR_PROTO, "read reply: longer than %d bytes", BUF_MAX_REPLY);
	r->nlines++;
	return (len > 3 && line[3] == '-') ? 0 : 1;
}

const char *
smtp_reply_brief(const struct smtp_reply *r, char *out, size_t n)
{
	const char *t = r->text.data ? r->text.data : "";
	const char *nl = memchr(t, '\n', r->text.len);
	int tl = (int)(nl ? (size_t)(nl - t) : r->text.len);
	if (tl > 200)
		tl = 200;
	snprintf(out, n, "%d %.*s", r->code, tl, t);
	return out;
}

void
smtp_reply_copy(struct buf *to, const struct smtp_reply *r, bool code)
{
	const char *p = r->text.data ? r->text.data : "";
	size_t n = r->text.len < 8192 ? r->text.len : 8192;

	buf_reset(to);
	if (!code) {
		buf_append(to, p, n, NULL);
		return;
	}
	for (size_t i = 0; i < r->nlines; i++) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		buf_printf(to, NULL, "%s%d%c%.*s", i ? "\n" : "", r->code,
		           i + 1 < r->nlines ? '-' : ' ', (int)k, p);
		if (!nl)
			break;
		n -= k + 1;
		p = nl + 1;
	}
}

/* The capabilities that are plain flags, in the order serverinfo shows them. */
static const struct {
	const char *name;
	unsigned bit;
} cap_flags[] = {
    {"PIPELINING", SMTP_CAP_PIPELINING},
    {"CHUNKING", SMTP_CAP_CHUNKING},
    {"8BITMIME", SMTP_CAP_8BITMIME},
    {"SMTPUTF8", SMTP_CAP_SMTPUTF8},
    {"DSN", SMTP_CAP_DSN},
    {"ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCEDSTATUSCODES},
    {"STARTTLS", SMTP_CAP_STARTTLS},
};
#define NFLAGS (sizeof(cap_flags) / sizeof(cap_flags[0]))

const char *
smtp_caps_flag(size_t i, unsigned *bit)
{
	if (i >= NFLAGS)
		return NULL;
	*bit = cap_flags[i].bit;
	return cap_flags[i].name;
}

unsigned
smtp_caps_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < NFLAGS; i++)
		if (strlen(cap_flags[i].name) == len &&
		    strncasecmp(name, cap_flags[i].name, len) == 0)
			return cap_flags[i].bit;
	if (len == 4 && strncasecmp(name, "AUTH", 4) == 0)
		return SMTP_CAP_AUTH;
	if (len == 4 && strncasecmp(name, "SIZE", 4) == 0)
		return SMTP_CAP_SIZE;
	return 0;
}

/* AUTH's mechanisms: the words of P (N bytes, starting at the ' ' or '=' after the keyword),
 * upper case, added to c->auth while they fit. */
static void
caps_auth(struct smtp_caps *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t at = strlen(c->auth);
		size_t j = i + 1;
		while (j < n && p[j] != ' ')
			j++;
		size_t w = j - (i + 1);
		if (w > 0 && at + w + 2 < sizeof(c->auth)) {
			if (at)
				c->auth[at++] = ' ';
			for (size_t q = 0; q < w; q++)
				c->auth[at + q] = (char)toupper((unsigned char)p[i + 1 + q]);
			c->auth[at + w] = '\0';
		}
		i = j - 1;
	}
}

/* SIZE's limit from P (N bytes, starting at the ' ' after the keyword). */
static void
caps_size(struct smtp_caps *c, const char *p, size_t n)
{
	c->size = 0;
	/* SEC-35: a value too large to hold means no practical limit. */
	for (size_t i = 1; i < n && isdigit((unsigned char)p[i]); i++) {
		unsigned long d = (unsigned long)(p[i] - '0');
		if (c->size > (ULONG_MAX - d) / 10) {
			c->size = ULONG_MAX;
			break;
		}
		c->size = c->size * 10 + d;
	}
}

/* One EHLO keyword line: "KEYWORD [params]" (RFC 5321 §4.1.1.1). "AUTH=LOGIN PLAIN" is an old
 * form some servers still send beside "AUTH". */
static void
caps_line(struct smtp_caps *c, const char *p, size_t n)
{
	size_t k = 0;

	while (k < n && p[k] != ' ' && p[k] != '=')
		k++;
	unsigned bit = smtp_caps_bit(p, k);
	c->bits |= bit;
	if (bit == SMTP_CAP_AUTH)
		caps_auth(c, p + k, n - k);
	else if (bit == SMTP_CAP_SIZE)
		caps_size(c, p + k, n - k);
}

void
smtp_caps_parse(struct smtp_caps *c, const struct smtp_reply *r)
{
	memset(c, 0, sizeof(*c));
	const char *p = r->text.data ? r->text.data : "";
	size_t n = r->text.len;
	/* The first line is the greeting part of the EHLO reply, not a keyword. */
	const char *nl = memchr(p, '\n', n);
	while (nl) {
		p = nl + 1;
		n = r->text.len - (size_t)(p - r->text.data);
		nl = memchr(p, '\n', n);
		caps_line(c, p, nl ? (size_t)(nl - p) : n);
	}
}
