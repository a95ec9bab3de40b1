/*
 * dsn: the delivery status notification of a failed queue entry (RFC 3464 in an RFC 3462
 * multipart/report), built from the envelope and the message's header section. Nothing is
 * read or sent here. The replies it quotes came from a server: each byte is checked, so no
 * line end or other control character reaches the notice's header or its report fields.
 */
#include "dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A header or report line is folded before this column where it has a space. */
#define FOLD_AT 78
/* A part of a line that has no space to fold at is cut here (RFC 5322 §2.1.1: 998). */
#define LINE_MAX_OCTETS 900

/* RFC 5322 §3.3 date of T in UTC ("Fri, 14 Jun 2024 10:15:30 +0000"). postie never sets a
 * locale, so strftime's names are the C locale's, which are RFC 5322's. */
static void
rfc5322_date(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, n, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		snprintf(out, n, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* put_safe's ways. */
#define SAFE_ASCII 1 /* octets above 127 as '?' too (the delivery-status part is US-ASCII) */
#define SAFE_TAB 2   /* a tab stays (the original header's folded lines) */

/* Append N octets of S with every control character as '?': a reply or address can never
 * add a line. */
static int
put_safe(struct buf *b, const char *s, size_t n, int how, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool keep = (c >= 0x20 && c != 0x7f && !((how & SAFE_ASCII) && c > 0x7e)) ||
		            (c == '\t' && (how & SAFE_TAB));
		char x = keep ? (char)c : '?';
		if (buf_append(b, &x, 1, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * Append "NAME: VALUE" and its CRLF, VALUE made safe (ASCII: US-ASCII only), folded at
 * spaces before FOLD_AT columns (the continuation lines begin with a space), and a word too
 * long for a line cut into pieces of LINE_MAX_OCTETS.
 */
static int
put_field(struct buf *b, const char *name, const char *value, int how, struct err *e)
{
	size_t col = strlen(name) + 1;

	if (buf_printf(b, e, "%s:", name) < 0)
		return -1;
	for (const char *p = value + strspn(value, " "); *p; p += strspn(p, " ")) {
		size_t w = strcspn(p, " ");
		if (w > LINE_MAX_OCTETS)
			w = LINE_MAX_OCTETS;
		if (col + 1 + w > FOLD_AT && col > strlen(name) + 1) {
			if (buf_puts(b, "\r\n", e) < 0)
				return -1;
			col = 0;
		}
		if (buf_puts(b, " ", e) < 0 || put_safe(b, p, w, how, e) < 0)
			return -1;
		col += 1 + w;
		p += w;
	}
	return buf_puts(b, "\r\n", e);
}

/* Whether recipient R wants to hear of a failure: RFC 3461 §4.1, NOTIFY= without FAILURE
 * (NEVER, or SUCCESS and DELAY only) says no; no NOTIFY leaves it to the MTA: yes. */
static bool
wants_failure(const struct queue_rcpt *r)
{
	const char *p = r->params;

	while (p && *p) {
		size_t n = strcspn(p, " ");
		if (n > 7 && strncmp(p, "NOTIFY=", 7) == 0) {
			for (const char *w = p + 7; w < p + n; w++)
				if ((size_t)(p + n - w) >= 7 && strncmp(w, "FAILURE", 7) == 0)
					return true;
			return false;
		}
		p += n;
		p += strspn(p, " ");
	}
	return true;
}

/* Where an SMTP reply starts in TEXT ("451 ..." or "550-..."), or NULL: a stored reply may
 * be "send RCPT TO:<x>: 550 5.1.1 ...". */
static const char *
smtp_reply_in(const char *text)
{
	for (const char *p = text; p && *p; p++) {
		if ((p == text || p[-1] == ' ') && p[0] >= '2' && p[0] <= '5' && p[1] >= '0' &&
		    p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
		    (p[3] == ' ' || p[3] == '-' || !p[3]))
			return p;
	}
	return NULL;
}

/* RFC 3463: the status code of REPLY (an SMTP reply): its enhanced code when it has one of
 * its own class, else the class with .0.0. */
static void
status_of(const char *reply, char *out, size_t n)
{
	const char *p = reply + 4;
	size_t a = strspn(p, "0123456789.");

	snprintf(out, n, "%c.0.0", reply[0]);
	if ((reply[3] != ' ' && reply[3] != '-') || p[0] != reply[0] || p[1] != '.' || a < 5 ||
	    a > 9)
		return;
	/* class "." 1*3digit "." 1*3digit */
	const char *dot = memchr(p + 2, '.', a - 2);
	size_t s = dot ? (size_t)(dot - p - 2) : 0, d = dot ? a - (size_t)(dot - p) - 1 : 0;
	if (s >= 1 && s <= 3 && d >= 1 && d <= 3 && p[a] != '.')
		snprintf(out, n, "%.*s", (int)a, p);
}

/* The report fields of one recipient R (RFC 3464 §2.3) for the entry M. */
static int
put_recipient(struct buf *b, const struct dsn_input *in, const struct queue_rcpt *r, struct err *e)
{
	const struct queue_meta *m = in->m;
	const char *why = r->reply ? r->reply : m->last_reply;
	const char *smtp = why ? smtp_reply_in(why) : NULL;
	bool expired = r->state != QUEUE_RCPT_FAILED && m->fail_reason &&
	               strncmp(m->fail_reason, QUEUE_EXPIRED, strlen(QUEUE_EXPIRED)) == 0;
	char status[16], when[64], diag[QUEUE_REPLY_MAX + 16], addr[QUEUE_REPLY_MAX + 16];

	if (expired)
		snprintf(status, sizeof(status), "4.4.7");
	else if (smtp && (smtp[0] == '4' || smtp[0] == '5'))
		status_of(smtp, status, sizeof(status));
	else
		snprintf(status, sizeof(status), "5.0.0");
	if (smtp)
		snprintf(diag, sizeof(diag), "smtp; %s", smtp);
	else
		snprintf(diag, sizeof(diag), "X-Postie; %s",
		         why ? why : (m->fail_reason ? m->fail_reason : "given up"));
	snprintf(addr, sizeof(addr), "rfc822;%s", r->addr);
	if (buf_puts(b, "\r\n", e) < 0 ||
	    put_field(b, "Final-Recipient", addr, SAFE_ASCII, e) < 0 ||
	    put_field(b, "Action", "failed", SAFE_ASCII, e) < 0 ||
	    put_field(b, "Status", status, SAFE_ASCII, e) < 0 ||
	    put_field(b, "Diagnostic-Code", diag, SAFE_ASCII, e) < 0)
		return -1;
	if (!m->last_attempt)
		return 0;
	rfc5322_date(m->last_attempt, when, sizeof(when));
	return put_field(b, "Last-Attempt-Date", when, SAFE_ASCII, e);
}

/* The header section H (N octets) as text/rfc822-headers: up to its empty line, at most
 * DSN_HEADER_MAX octets cut at a line end, every line end made CRLF, controls but tabs as
 * '?'. */
static int
put_original(struct buf *b, const char *h, size_t n, struct err *e)
{
	if (n > DSN_HEADER_MAX)
		n = DSN_HEADER_MAX;
	for (size_t i = 0; i < n;) {
		const char *lf = memchr(h + i, '\n', n - i);
		if (!lf)
			break; /* a line cut by the limit is left out */
		size_t w = (size_t)(lf - (h + i));
		size_t text = w > 0 && h[i + w - 1] == '\r' ? w - 1 : w;
		if (text == 0)
			break; /* the empty line: the header section ends */
		if (put_safe(b, h + i, text, SAFE_TAB, e) < 0 || buf_puts(b, "\r\n", e) < 0)
			return -1;
		i += w + 1;
	}
	return 0;
}

/* Whether N octets at P hold one above 127 (the part is then 8bit, RFC 6152). */
static bool
has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] > 0x7f)
			return true;
	return false;
}

/* The part for people: what happened, and each reported recipient with its reason. */
static int
put_human(struct buf *b, const struct dsn_input *in, const bool *report, struct err *e)
{
	const struct queue_meta *m = in->m;
	char when[64];

	rfc5322_date(m->queued, when, sizeof(when));
	if (buf_puts(b, "This is postie, the mail submission program, at ", e) < 0 ||
	    put_safe(b, in->mta, strlen(in->mta), SAFE_ASCII, e) < 0 ||
	    buf_printf(b, e,
	               ".\r\n\r\nYour message of %s could not be delivered to\r\n"
	               "the recipients below, and postie has given up on it. It is kept in\r\n"
	               "the sender's queue (failed/) as %s;\r\n"
	               "postie --queue-retry %s sends it again.\r\n",
	               when, in->id, in->id) < 0)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		const char *why = r->state == QUEUE_RCPT_FAILED && r->reply ? r->reply
		                  : m->fail_reason                          ? m->fail_reason
		                  : r->reply                                ? r->reply
		                  : m->last_reply                           ? m->last_reply
		                                                            : "given up";
		if (!report[i])
			continue;
		if (buf_puts(b, "\r\n", e) < 0 || put_field(b, "Recipient", r->addr, 0, e) < 0 ||
		    put_field(b, "Reason", why, 0, e) < 0)
			return -1;
		if (m->fail_reason && why == m->fail_reason && m->last_reply &&
		    put_field(b, "Last reply", m->last_reply, 0, e) < 0)
			return -1;
	}
	return 0;
}

/* The notice's own header section, and the start of the first part. */
static int
put_head(struct buf *b, const struct dsn_input *in, const char *boundary, bool eight, struct err *e)
{
	char date[64], to[QUEUE_REPLY_MAX + 8], from[QUEUE_REPLY_MAX + 32];

	rfc5322_date(in->now, date, sizeof(date));
	snprintf(to, sizeof(to), "<%s>", in->to);
	snprintf(from, sizeof(from), "Mail Delivery System <%s>", in->m->sender);
	if (put_field(b, "From", from, 0, e) < 0 || put_field(b, "To", to, 0, e) < 0 ||
	    put_field(b, "Subject", "Undelivered mail returned to sender", 0, e) < 0 ||
	    put_field(b, "Date", date, 0, e) < 0 ||
	    buf_puts(b, "Message-ID: <postie-dsn.", e) < 0 ||
	    put_safe(b, in->id, strlen(in->id), SAFE_ASCII, e) < 0 || buf_puts(b, "@", e) < 0 ||
	    put_safe(b, in->mta, strlen(in->mta), SAFE_ASCII, e) < 0)
		return -1;
	return buf_printf(b, e,
	                  ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	                  "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	                  " boundary=\"%s\"\r\n\r\n"
	                  "This is a delivery status notification (RFC 3464) in MIME format.\r\n"
	                  "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                  "Content-Transfer-Encoding: %s\r\n\r\n",
	                  boundary, boundary, eight ? "8bit" : "7bit");
}

/* The delivery-status part and the returned header section, after the first part. */
static int
put_report(struct buf *b, const struct dsn_input *in, const char *boundary, const bool *report,
           struct err *e)
{
	char when[64];
	bool eight = in->header && has_8bit(in->header, in->header_len);

	rfc5322_date(in->m->queued, when, sizeof(when));
	if (buf_printf(b, e, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n",
	               boundary) < 0 ||
	    buf_puts(b, "Reporting-MTA: dns;", e) < 0 ||
	    put_safe(b, in->mta, strlen(in->mta), SAFE_ASCII, e) < 0 ||
	    buf_puts(b, "\r\nX-Postie-Queue-ID: ", e) < 0 ||
	    put_safe(b, in->id, strlen(in->id), SAFE_ASCII, e) < 0 || buf_puts(b, "\r\n", e) < 0 ||
	    put_field(b, "Arrival-Date", when, SAFE_ASCII, e) < 0)
		return -1;
	for (size_t i = 0; i < in->m->nrcpts; i++)
		if (report[i] && put_recipient(b, in, &in->m->rcpts[i], e) < 0)
			return -1;
	if (buf_printf(b, e,
	               "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n"
	               "Content-Transfer-Encoding: %s\r\n\r\n",
	               boundary, eight ? "8bit" : "7bit") < 0 ||
	    (in->header && put_original(b, in->header, in->header_len, e) < 0))
		return -1;
	return buf_printf(b, e, "\r\n--%s--\r\n", boundary);
}

/* The notice with BOUNDARY into B. */
static int
build(struct buf *b, const struct dsn_input *in, const char *boundary, const bool *report,
      struct err *e)
{
	struct buf human;
	int rc;

	buf_init(&human, b->max);
	rc = put_human(&human, in, report, e);
	if (rc == 0 && (put_head(b, in, boundary, has_8bit(human.data, human.len), e) < 0 ||
	                buf_append(b, human.data, human.len, e) < 0 ||
	                put_report(b, in, boundary, report, e) < 0))
		rc = -1;
	buf_fini(&human);
	return rc;
}

int
dsn_build(const struct dsn_input *in, struct buf *out, struct err *e)
{
	const struct queue_meta *m = in->m;
	size_t n = 0;

	if (!m->sender || !m->sender[0])
		return err_set(e, ERR_SOFTWARE,
		               "make delivery status notification: the null sender never gets one");
	bool *report = xcalloc(m->nrcpts + 1, sizeof(bool));
	for (size_t i = 0; i < m->nrcpts; i++)
		n += report[i] = wants_failure(&m->rcpts[i]);
	if (n == 0) {
		free(report);
		return 0;
	}
	/* The boundary names the entry; should some text hold it, another is taken. */
	char boundary[QUEUE_ID_MAX + 32];
	struct buf b;
	int rc = -1;
	buf_init(&b, out->max);
	for (unsigned k = 0; rc < 0 && k < 8; k++) {
		snprintf(boundary, sizeof(boundary), "=_postie-dsn-%u-%s", k, in->id);
		buf_reset(&b);
		rc = build(&b, in, boundary, report, e);
		if (rc < 0)
			break; /* too large: another boundary does not help */
		/* Five uses: in Content-Type, before each of three parts, at the end. Any more
		 * is in some text, where it would end a part early. */
		size_t uses = 0;
		for (const char *p = strstr(b.data, boundary); p; p = strstr(p + 1, boundary))
			uses++;
		if (uses != 5)
			rc = err_set(e, ERR_DATA,
			             "make delivery status notification: no boundary found that "
			             "its text does not hold");
	}
	free(report);
	if (rc == 0) {
		buf_reset(out);
		rc = buf_append(out, b.data, b.len, e);
	}
	buf_fini(&b);
	return rc < 0 ? -1 : (int)n;
}
