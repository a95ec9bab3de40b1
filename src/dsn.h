/*
 * dsn: the delivery status notification (RFC 3464) that tells a sender postie gave up on a
 * queued message. Pure: the message's bytes are built from the failed entry's envelope and
 * the header section of its message; the caller (flush) sends it with the null reverse-path.
 */
#ifndef POSTIE_DSN_H
#define POSTIE_DSN_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "err.h"
#include "queue.h"

/* The most of the original header section a notice returns (text/rfc822-headers). */
#define DSN_HEADER_MAX (64 * 1024)

/* What a notice is made of. */
struct dsn_input {
	const struct queue_meta *m; /* the failed entry's envelope (m->failed set) */
	const char *id;             /* its queue id */
	const char *mta;            /* this host's name, for Reporting-MTA */
	const char *to;             /* who hears of it: the entry's sender, or queue_notify */
	const char *header;         /* the message's header section as queued, or NULL */
	size_t header_len;
	time_t now; /* the notice's Date */
};

/*
 * Build into OUT the notice about IN's entry: a message (CRLF line ends, lines of at most
 * 998 octets) with From (the entry's sender, named "Mail Delivery System"), To, Subject,
 * Date, Message-ID and "Auto-Submitted: auto-replied", of type multipart/report;
 * report-type=delivery-status (RFC 3462): a text/plain part for people, a
 * message/delivery-status part (Reporting-MTA: dns;MTA, Arrival-Date, and per recipient
 * Final-Recipient: rfc822;ADDR, Action: failed, Status (the enhanced code of its reply, the
 * reply's class with .0.0, 5.0.0 without a reply, 4.4.7 when the entry expired: RFC 3463),
 * Diagnostic-Code (smtp;REPLY, or X-Postie;REASON when it is no SMTP reply),
 * Last-Attempt-Date), and the original header section as text/rfc822-headers (at most
 * DSN_HEADER_MAX octets, cut at a line end). Every recipient left in the entry is reported
 * but those whose RCPT parameters asked for no failure notice (RFC 3461 NOTIFY= without
 * FAILURE). Text from the envelope (replies, addresses, from a server) is made safe first:
 * no control character reaches the notice, and the delivery-status part is US-ASCII.
 * Returns how many recipients are reported; 0 (OUT untouched) when none is to be; -1 with
 * ERR_SOFTWARE when the entry has the null sender (a notice is never sent about one:
 * no loop), or ERR_DATA past OUT's ceiling.
 */
int dsn_build(const struct dsn_input *in, struct buf *out, struct err *e);

#endif
