/* Unit tests of dsn: the RFC 3464 notice of a failed entry, its parts and fields, and that
 * no text from a server can add a line or a field to it. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"
#include "dsn.h"

/* Append recipient ADDR to M (the test's own: queue_add_rcpt is the queue's). */
static struct queue_rcpt *
add_rcpt(struct queue_meta *m, const char *addr)
{
	m->rcpts = xrealloc(m->rcpts, (m->nrcpts + 1) * sizeof(*m->rcpts));
	struct queue_rcpt *r = &m->rcpts[m->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	return r;
}

/* A failed entry of SENDER to the recipients (each "addr|state|reply|params"; state f:
 * refused for good, p: pending; empty parts: none). */
static void
meta_make(struct queue_meta *m, const char *sender, const char *const *rcpts)
{
	memset(m, 0, sizeof(*m));
	m->account = xstrdup("work");
	m->sender = xstrdup(sender);
	m->queued = 1700000000;
	m->last_attempt = 1700000600;
	m->failed = 1700000600;
	for (size_t i = 0; rcpts[i]; i++) {
		char *s = xstrdup(rcpts[i]);
		char *addr = s, *state = strchr(addr, '|');
		*state++ = '\0';
		char *reply = strchr(state, '|');
		*reply++ = '\0';
		char *params = strchr(reply, '|');
		*params++ = '\0';
		struct queue_rcpt *r = add_rcpt(m, addr);
		r->state = state[0] == 'f' ? QUEUE_RCPT_FAILED : QUEUE_RCPT_PENDING;
		r->reply = reply[0] ? xstrdup(reply) : NULL;
		r->params = params[0] ? xstrdup(params) : NULL;
		free(s);
	}
}

static int
build(const struct queue_meta *m, const char *header, struct buf *out, struct err *e)
{
	struct dsn_input in = {.m = m,
	                       .id = "20240614101530.123456-4242-00a1b2c3",
	                       .mta = "host.example.org",
	                       .to = m->sender,
	                       .header = header,
	                       .header_len = header ? strlen(header) : 0,
	                       .now = 1700000700};
	buf_reset(out);
	return dsn_build(&in, out, e);
}

/* Every line ends in CRLF, no CR or LF elsewhere, none over 998 octets. */
static bool
lines_ok(const struct buf *b)
{
	size_t start = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\r' && (i + 1 >= b->len || b->data[i + 1] != '\n'))
			return false;
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			return false;
		if (b->data[i] == '\n') {
			if (i - start > 999)
				return false;
			start = i + 1;
		}
	}
	return b->len > 0 && b->data[b->len - 1] == '\n';
}

/* The delivery-status part: from its Content-Type to the next boundary. */
static const char *
report_part(const struct buf *b, size_t *n)
{
	const char *p = strstr(b->data, "Content-Type: message/delivery-status\r\n\r\n");
	const char *end = p ? strstr(p, "\r\n--=_postie") : NULL;
	*n = p && end ? (size_t)(end - p) : 0;
	return p;
}

static void
test_refused(struct buf *b)
{
	static const char *const rcpts[] = {
	    "bob@example.com|f|send to <bob@example.com>: 550 5.1.1 <bob@example.com>: no such "
	    "user|",
	    "carol@example.net|f|552-5.2.2 mailbox full|NOTIFY=FAILURE,DELAY",
	    "dave@example.net|f|550 5.1.1 gone|NOTIFY=NEVER", NULL};
	static const char header[] =
	    "From: Alice <alice@example.org>\r\nSubject: hello\r\n"
	    "Message-ID: <m1@example.org>\r\n\r\nthe body, not returned\r\n";
	struct queue_meta m;
	struct err e;

	meta_make(&m, "alice@example.org", rcpts);
	ok(build(&m, header, b, &e) == 2, "two recipients reported (dave asked NOTIFY=NEVER)");
	ok(lines_ok(b), "CRLF lines of at most 998 octets");
	ok(strstr(b->data, "From: Mail Delivery System <alice@example.org>\r\n") == b->data,
	   "From: the entry's sender");
	ok(strstr(b->data, "\r\nTo: <alice@example.org>\r\n") &&
	       strstr(b->data, "\r\nAuto-Submitted: auto-replied\r\n") &&
	       strstr(b->data, "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
	                       "report-type=delivery-status;\r\n boundary=\"") &&
	       strstr(b->data, "\r\nDate: Tue, 14 Nov 2023 22:25:00 +0000\r\n"),
	   "To, Date, Auto-Submitted, multipart/report");
	size_t n;
	const char *r = report_part(b, &n);
	ok(r && strstr(r, "Reporting-MTA: dns;host.example.org\r\n") &&
	       strstr(r, "\r\nArrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"),
	   "per message: Reporting-MTA, Arrival-Date");
	ok(r && strstr(r, "\r\n\r\nFinal-Recipient: rfc822;bob@example.com\r\nAction: "
	                  "failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 "
	                  "<bob@example.com>: no such user\r\nLast-Attempt-Date: Tue, 14 Nov 2023 "
	                  "22:23:20 +0000\r\n"),
	   "bob: failed, 5.1.1, the reply from its code on");
	ok(r && strstr(r, "Final-Recipient: rfc822;carol@example.net\r\nAction: failed\r\nStatus: "
	                  "5.2.2\r\nDiagnostic-Code: smtp; 552-5.2.2 mailbox full\r\n"),
	   "carol: the enhanced code of a multi-line reply's first line");
	ok(!strstr(b->data, "dave@"), "dave is not named");
	ok(strstr(b->data, "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: "
	                   "7bit\r\n\r\nFrom: Alice <alice@example.org>\r\nSubject: hello\r\n"
	                   "Message-ID: <m1@example.org>\r\n\r\n--=_postie") != NULL &&
	       !strstr(b->data, "the body"),
	   "the original header section, not the body");
	ok(strstr(b->data, "Content-Type: text/plain; charset=utf-8\r\n") &&
	       strstr(b->data, "postie --queue-retry 20240614101530.123456-4242-00a1b2c3") &&
	       strstr(b->data, "\r\nRecipient: bob@example.com\r\n"),
	   "the part for people names the entry and each recipient");
	queue_meta_fini(&m);
}

static void
test_expired(struct buf *b)
{
	static const char *const rcpts[] = {"bob@example.com|p||",
	                                    "carol@example.net|f|550 5.7.1 no|", NULL};
	struct queue_meta m;
	struct err e;
	size_t n;

	meta_make(&m, "alice@example.org", rcpts);
	m.fail_reason = xstrdup(QUEUE_EXPIRED " in the queue longer than 5d (queue_lifetime)");
	m.last_reply = xstrdup("451 4.7.1 greylisted");
	ok(build(&m, NULL, b, &e) == 2, "expired: both reported");
	const char *r = report_part(b, &n);
	ok(r && strstr(r, "rfc822;bob@example.com\r\nAction: failed\r\nStatus: 4.4.7\r\n"
	                  "Diagnostic-Code: smtp; 451 4.7.1 greylisted\r\n"),
	   "expired: 4.4.7 with the last reply");
	ok(r && strstr(r, "rfc822;carol@example.net\r\nAction: failed\r\nStatus: 5.7.1\r\n"),
	   "a recipient refused before keeps its own status");
	free(m.last_reply);
	m.last_reply = NULL;
	ok(build(&m, NULL, b, &e) == 2, "expired without a reply");
	r = report_part(b, &n);
	ok(r && strstr(r, "Status: 4.4.7\r\nDiagnostic-Code: X-Postie; expired: in the queue "),
	   "no SMTP reply: X-Postie diagnostic");
	queue_meta_fini(&m);
}

static void
test_hostile(struct buf *b)
{
	char *long_reply = xmalloc(2100);
	memcpy(long_reply, "550 5.1.1 ", 10);
	memset(long_reply + 10, 'x', 2080);
	long_reply[2090] = '\0';
	const char *rcpts[] = {"bob@example.com|f|550 5.1.1 a\r\nBcc: evil@example.org\r\n\r\n"
	                       "--=_postie-dsn-0-x\nSubject: injected \xc3\xa9|",
	                       NULL, NULL};
	struct queue_meta m;
	struct err e;
	size_t n;

	meta_make(&m, "alice@example.org", rcpts);
	struct queue_rcpt *r = add_rcpt(&m, "carol@example.net");
	r->state = QUEUE_RCPT_FAILED;
	r->reply = long_reply;
	/* The boundary's first choice in the header: another is taken. */
	const char *header = "X-Trap: --=_postie-dsn-0-20240614101530.123456-4242-00a1b2c3\r\n"
	                     "Subject: bare LF\nX-Ctl: a\x01"
	                     "b\r\n\r\n";
	ok(build(&m, header, b, &e) == 2, "hostile replies: built");
	ok(lines_ok(b), "hostile replies: still CRLF lines of at most 998 octets");
	ok(!strstr(b->data, "\r\nBcc:") && !strstr(b->data, "\r\nSubject: injected") &&
	       strstr(b->data, "a?\?Bcc: evil@example.org?\?\?\?--=_postie-dsn-0-x?Subject"),
	   "no line end of a reply reaches the notice: no field or boundary injected");
	const char *rp = report_part(b, &n);
	bool ascii = rp != NULL;
	for (size_t i = 0; rp && i < n; i++)
		ascii &= (unsigned char)rp[i] < 0x80;
	ok(ascii, "the delivery-status part is US-ASCII");
	ok(strstr(b->data, "injected \xc3\xa9") &&
	       strstr(b->data, "charset=utf-8\r\nContent-Transfer-Encoding: 8bit"),
	   "the part for people keeps UTF-8, as 8bit");
	ok(strstr(b->data, "boundary=\"=_postie-dsn-1-") != NULL,
	   "a boundary found in the header is not used");
	ok(strstr(b->data, "Subject: bare LF\r\nX-Ctl: a?b\r\n\r\n--=_postie-dsn-1-"),
	   "the original header: line ends made CRLF, controls as ?");
	queue_meta_fini(&m);
}

int
main(void)
{
	struct buf b;
	struct err e;
	struct queue_meta m;
	static const char *const never[] = {"bob@example.com|f|550 no|NOTIFY=NEVER",
	                                    "carol@example.net|f|550 no|NOTIFY=SUCCESS,DELAY",
	                                    NULL};
	static const char *const one[] = {"bob@example.com|f|550 no|", NULL};

	buf_init(&b, DSN_HEADER_MAX + QUEUE_ENVELOPE_MAX);
	test_refused(&b);
	test_expired(&b);
	test_hostile(&b);

	meta_make(&m, "alice@example.org", never);
	ok(build(&m, NULL, &b, &e) == 0 && b.len == 0,
	   "no recipient asked for a failure notice: none made");
	queue_meta_fini(&m);
	meta_make(&m, "", one);
	ok(build(&m, NULL, &b, &e) == -1 && e.kind == ERR_SOFTWARE,
	   "the null sender never gets a notice (no loop)");
	queue_meta_fini(&m);
	meta_make(&m, "alice@example.org", one);
	ok(build(&m, NULL, &b, &e) == 1, "one recipient");
	ok(strstr(b.data, "Status: 5.0.0\r\nDiagnostic-Code: smtp; 550 no\r\n") != NULL,
	   "a reply without an enhanced code: its class with .0.0");
	queue_meta_fini(&m);
	buf_fini(&b);
	return tap_done();
}
