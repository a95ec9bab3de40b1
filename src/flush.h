/*
 * flush: queue entries sent over an open session, and `postie -q`, which sends every due
 * entry, one session per account. Also the one maillog line of each attempt.
 */
#ifndef POSTIE_FLUSH_H
#define POSTIE_FLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include "cli.h"
#include "err.h"
#include "profile.h"
#include "queue.h"
#include "session.h"

/* One line in the account's logfile and syslog (maillog) for one attempt. */
struct flush_attempt {
	const struct account *acct;
	bool tls, auth;
	int port;
	const char *sender;
	char *const *rcpts;
	size_t n;
	long long size; /* < 0: not delivered */
	const char *msgid;
	const char *queued; /* the queue id when the message is (still) queued */
	int final_code;     /* the server's reply to the end of data, 0: none */
	const char *final_text;
};

/* One line in T's account's logfile and syslog (maillog) for one attempt that ended with RC
 * and E (E's kind ERR_NONE: delivered). */
void flush_log_attempt(const struct flush_attempt *t, int rc, const struct err *e);

/*
 * Whether the error leaves the message worth keeping for a later attempt: a temporary
 * failure (SEC-37: 75), or a verdict on the data that was not a 250 in step (SEC-36): the
 * message is not delivered, and losing it is worse than a possible second copy.
 */
bool flush_is_temporary(const struct err *e);

/* Whether A's queue is the system spool (POSTIE_SYSTEM_SPOOL, queue_open_system): a setgid
 * postie, an account of the system profile, no queue_dir (SEC-45). */
bool flush_system_queue(const struct account *a);

/* Open A's queue (the system spool, else its queue_dir, else queue_default_dir, and its
 * queue_lifetime) into Q; a queue that cannot be used is a warning (false), not a failure. */
bool flush_open_queue(struct queue *q, const struct account *a, bool create);

/*
 * What Q holds, for the one line a run that leaves something in the queue says on stderr:
 * "3 waiting in the queue, 1 failed (see mailq)" (the caller's own entries on the system
 * spool) into OUT (N bytes), which is returned.
 */
const char *flush_waiting(struct queue *q, char *out, size_t n);

/*
 * SEC-42: whether queue entry M may be sent through account A (found by M's account name):
 * A must be defined in the very file M was queued from (an entry of postie 0.1 names no
 * file: then the user's own or the system profile), and nothing of where A sends its mail
 * may have come from the command line.
 */
bool flush_entry_bound(const struct queue_meta *m, const struct account *a);

/*
 * Whether SS (open) may carry queue entry M (NULL: a notice): SS is connected over the family
 * M kept (its ip-family, from the queuing run's -4 or -6), or, when M kept none, over the
 * family PROFILE_FAMILY says (the account's ip_family as its profile gives it: 0 any, 4, 6;
 * -1 when not known, as in a run whose own -4 or -6 changed it: no entry without a family of
 * its own fits); an entry that kept "any" fits any; a local socket has no family.
 */
bool flush_family_fits(const struct session *ss, const struct queue_meta *m, int profile_family);

/*
 * The replies of one attempt noted in M: CODES holds one per recipient still pending, in
 * order, as session_send gave them. A reply of 500 or more refuses its recipient for good
 * (REPLY kept with it); with PER_RCPT (LMTP's replies after the data, RFC 2033 §4.2) a 250
 * delivers it (SEC-36: no other reply does). Returns how many stay pending.
 */
size_t flush_note_replies(struct queue_meta *m, const int *codes, bool per_rcpt, const char *reply);

/*
 * Send queue entry EN over SS (open) to its recipients still pending, with the DSN
 * parameters it kept, with LAST as session_send's; record the outcome (delivered: removed;
 * refused for good: failed/; else the next attempt after a backoff) and one maillog line.
 * EN is released in every case. 0 when delivered.
 */
int flush_entry(struct session *ss, struct queue_entry *en, bool last);

/*
 * postie -q: deliver every queued entry (O's -qR/-qI selectors and -a narrow it), one
 * session per account, many messages per session, each with the DSN and BODY parameters
 * it was queued with (one maillog line each). Entries that cannot go now stay queued
 * with their reply and a later next attempt. An entry goes only through the account of its
 * name defined in the profile file it was queued from (SEC-42); others are left alone.
 * Prints a summary on stderr. -1 when the profile or the queue cannot be read, and
 * ERR_USAGE for an option of O that would move the mail (the overrides are not applied).
 */
int flush_run(const struct opts *o, struct err *e);

/*
 * The family -4, -6 or --ip-family chose for this run (the last one given): 4, 6 or
 * QUEUE_IP_ANY; 0: none given. A message queued by a send keeps it (the profile's ip_family
 * holds at each try when none was given); a flush (-q) uses it for every entry it sends.
 */
int flush_argv_family(const struct opts *o);

/*
 * Over SS (open), send the notices due in Q (failed entries whose senders have not heard
 * of it yet, RFC 3464) of SS's account, those F's profiles (SEC-42) select: to the
 * account's queue_notify, else to each entry's sender, with the null reverse-path. A notice
 * refused for good is dropped with a warning, never queued; one that cannot go now stays
 * due for the next flush, until the queue's lifetime after the failure.
 */
void flush_send_notices(struct session *ss, struct queue *q, const struct queue_filter *f);

/*
 * postie --queue-delete ID... and --queue-retry ID... (O's mode; the ids are O's operands,
 * each a whole id or the start of one): each entry of the default account's queue (or
 * -a's) deleted, or made due now (queue_admin), saying so on stderr, one line each. Every
 * id is tried; an id that fails is said (err_print) and the others go on. -1 when the
 * profile or the queue cannot be read, or when some id failed: then E counts them, with
 * the kind of the first failure (ERR_USAGE: no such entry; ERR_TEMP: being sent now).
 */
int flush_admin(const struct opts *o, struct err *e);

#endif
