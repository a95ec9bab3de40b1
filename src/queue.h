/*
 * queue: the durable, daemonless spool. A copy of the message is written while it streams to
 * the server; on a temporary failure the copy is synced and moved into the queue; `postie -q`
 * and ordinary runs deliver from it later. Many postie processes may write, list and flush at
 * once: an flock(2) on each entry's message file decides who owns it.
 *
 * ON-DISK FORMAT, version 1 (stable; postie.conf(5) carries the same text)
 *
 * The queue directory (queue_dir, default $XDG_STATE_HOME/postie/queue, that is
 * ~/.local/state/postie/queue) belongs to the user and is mode 0700; postie refuses one owned
 * by someone else or writable by group or others. It holds four directories:
 *
 *   tmp/      copies being written by a running postie
 *   queue/    messages waiting for the next attempt
 *   failed/   messages given up on (a permanent refusal, or older than queue_lifetime);
 *             postie never deletes them (but root's flush of the system spool, after
 *             the build's keep-days): read them, then remove them yourself
 *   corrupt/  copies that must not be sent: input never read to its end (postie was stopped
 *             while reading), or an envelope that cannot be read
 *
 * THE SYSTEM SPOOL (SEC-45). A setgid postie (the build's system-group) queues a message of
 * an account of the system profile that sets no queue_dir in the system spool instead
 * (POSTIE_SYSTEM_SPOOL, the build option system-spool, default /var/spool/postie): callers
 * without a home (www-data) can queue too. The spool and its four directories are
 * root:GROUP mode 1770: only the group may enter them, and the sticky bit lets only an
 * entry's owner (or root) rename or remove it. The install (cmd/install-setgid.sh, meson
 * install as root) makes them; postie never does, and refuses to queue there, naming the
 * command to run, when they are missing or not so. Each entry is made by the caller, with
 * the caller's rights: its directory mode 0700 and its files 0600, owned by the caller (the
 * group's rights on them are none), so another user, even holding the group, can neither
 * read, change nor remove it; root can. The group is held only while postie's own paths in
 * the spool are looked up (the directories give others nothing). A caller other than root
 * lists (mailq) and flushes (postie -q) only its own entries; root (the system timer's
 * postie -q) all of them, and an envelope root rewrites stays its entry's owner's. A caller
 * other than root has a share of the spool and never takes the last part of its file system
 * (SEC-46, queue_share.c); root's flush removes failed/ and corrupt/ entries past the
 * build's keep-days.
 *
 * Each entry is a directory named by its id, e.g. 20240614101530.123456-4242-00a1b2c3: the
 * UTC time it was created (YYYYMMDDhhmmss.microseconds), the process id and 32 random bits,
 * so ids sort by age and never collide. An entry directory holds two files:
 *
 *   message   the message exactly as postie gives it to the SMTP data encoder: the header
 *             section as rewritten (Bcc removed; From, Date, Message-ID added; CRLF line
 *             ends; the empty line), then the body as read from standard input. The encoder
 *             (CRLF line ends, dot-stuffing) runs again at each attempt. Never rewritten.
 *   envelope  text, UTF-8, one "key value" line each (LF line ends, one space after the key,
 *             the value is the rest of the line and never holds a control character). Always
 *             replaced whole: written to envelope.new, synced, renamed over envelope.
 *
 * The envelope's first line is "postie-queue 1" (the format version) and its last "end" (a
 * shorter file is incomplete). In between, in this order:
 *
 *   account NAME          the profile account to send through
 *   profile PATH          optional: the real path of the profile file that defined the
 *                         account; a flush sends the entry only through an account of
 *                         that name defined in that file (SEC-42). Without it (entries of
 *                         postie 0.1): only through the user's own or the system profile
 *   sender ADDR           MAIL FROM address, without angle brackets; empty for <>
 *   mail-params TEXT      optional: MAIL parameters to repeat (RFC 3461 RET=, ENVID=)
 *   ignore-dots yes|no    -i/-oi: whether a line of "." is data (no: it ends the message
 *                         and the encoder ignores what follows, as on the first attempt)
 *   ip-family 4|6|any     optional: -4, -6 or --ip-family of the run that queued it; every
 *                         attempt connects with that family only (any: both, whatever the
 *                         profile's ip_family). Absent: the profile's ip_family, read anew
 *                         at each attempt (so in entries of postie before issue #14)
 *   size N                bytes in the message file
 *   queued T              when the message arrived (seconds since 1970-01-01 UTC)
 *   attempts N            delivery attempts so far
 *   unsure N              optional: how many of them got a verdict out of step with the
 *                         commands (SEC-36: not delivered, but the server may have it)
 *   last-attempt T        optional: when the last one was made
 *   next-attempt T        not before this time, unless forced (postie -q)
 *   last-reply TEXT       optional: the server's last reply or the reason it failed
 *   failed T              optional: when the entry was given up (it is in failed/)
 *   failed-reason TEXT    optional: why, e.g. expiry ("expired: ...")
 *   notice STATE          optional, failed/ only: the delivery status notification to the
 *                         sender (RFC 3464): "due" (to be sent by the next flush), "sent",
 *                         "dropped" (refused, or not sendable within queue_lifetime of the
 *                         failure); absent: none is made (the null sender)
 *   retried T             optional: when a user last asked for a retry (postie
 *                         --queue-retry); queue_lifetime counts from it, not from queued
 *   rcpt ADDR             one per recipient still to be delivered, in order; each may be
 *   rcpt-params TEXT        followed by its RCPT parameters to repeat (RFC 3461 NOTIFY=,
 *   rcpt-state failed       ORCPT=), by "failed" when it was refused permanently (it is
 *   rcpt-reply TEXT         never tried again), and by its last reply.
 *
 * Recipients that the server accepted are removed from the envelope, so no one gets the
 * message twice. Readers ignore keys they do not know; a change that a version 1 reader
 * would misread gets a new version number, and postie leaves entries of a version it does
 * not know alone. No password or other secret is ever stored.
 *
 * Backoff: the next attempt comes 1 minute after the first, then 2, 4, 8, ... minutes after
 * each one, at most 1 hour (queue_backoff). An entry older than queue_lifetime (default 5
 * days; counted from the last --queue-retry when there was one) moves to failed/ at the next
 * flush and is reported. An entry that moves to failed/ with a sender gets "notice due": the
 * flush sends the sender a delivery status notification (flush.c, dsn.c).
 *
 * Locking: the owner of an entry holds flock(LOCK_EX) on its message file, from its
 * creation until the entry is removed, moved or released (every descriptor is
 * close-on-exec, so a program postie runs never inherits a lock). Renames keep the lock (it is
 * on the file, not the name). A copy in tmp/ whose lock is free belongs to a postie that
 * was stopped: when its envelope is there (its input was read to the end) the next flush
 * takes it into the queue; otherwise it is moved to corrupt/ and reported, never sent.
 */
#ifndef POSTIE_QUEUE_H
#define POSTIE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include "buf.h"
#include "err.h"

#define QUEUE_VERSION 1
#define QUEUE_ID_MAX 64                        /* an id with its NUL */
#define QUEUE_LIFETIME_DEFAULT (5 * 24 * 3600) /* seconds */
#define QUEUE_BACKOFF_MIN 60                   /* seconds after the first attempt */
#define QUEUE_BACKOFF_MAX 3600                 /* the doubling stops here */
#define QUEUE_ENVELOPE_MAX (1024 * 1024)       /* ceiling on an envelope file */
#define QUEUE_REPLY_MAX 1000                   /* a stored reply is cut to this */
#define QUEUE_EXPIRED "expired:"               /* how the failed-reason of an expiry begins */
#define QUEUE_IP_ANY 1                         /* ip-family any (queue_meta.ip_family) */

struct queue_item; /* private to queue.c */

/* Per-message extras of MAIL and RCPT (session_send), kept in the queue (mail-params,
 * rcpt-params): RFC 3461 DSN and RFC 6152 8BITMIME. Sent only where
 * the server offers the extension; a DSN request it cannot take is a warning, not a failure. */
struct txn_params {
	const char *dsn_notify; /* NULL, "NEVER" or a list of SUCCESS,FAILURE,DELAY */
	const char *dsn_ret;    /* NULL, "FULL" or "HDRS" */
	const char *envid;      /* NULL or the ENVID (xtext-encoded when sent) */
	int body;               /* 0: BODY=8BITMIME when offered unless the message is known to be
	                           7-bit; 7: never; 8: always when offered */
};

/* The open spool. */
struct queue {
	char *path; /* the queue directory, as given */
	int root;   /* directory fds; -1 when absent (opened without create) */
	int tmp, wait, failed, corrupt;
	time_t lifetime; /* queue_lifetime: QUEUE_LIFETIME_DEFAULT after queue_open */
	time_t now;      /* 0: the system clock; tests set a fixed time */
	bool system;     /* the system spool (queue_open_system): the group held around lookups */
	bool mine_only;  /* only the entries the real user owns are seen (the system spool) */
	int held;        /* private: how deep the group is held (nested queue calls) */
};

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0, /* still to be delivered */
	QUEUE_RCPT_SENT,        /* accepted by the server: dropped from the entry when written */
	QUEUE_RCPT_FAILED,      /* refused permanently: kept, reported, never tried again */
};

/* The notice (delivery status notification) of a failed entry: the envelope's "notice". */
enum queue_notice {
	QUEUE_NOTICE_NONE = 0, /* none to send (not failed, or the null sender) */
	QUEUE_NOTICE_DUE,      /* to be sent by the next flush */
	QUEUE_NOTICE_SENT,     /* the server took it */
	QUEUE_NOTICE_DROPPED,  /* refused, or past its time: never sent, never queued */
};

struct queue_rcpt {
	char *addr;   /* RCPT TO address without angle brackets, owned */
	char *params; /* RCPT parameters to send (RFC 3461 NOTIFY=, ORCPT=), or NULL; owned */
	enum queue_rcpt_state state;
	char *reply; /* the last reply for this recipient, or NULL; owned */
};

/* What an entry's envelope file holds (see the format above). Every string is owned. */
struct queue_meta {
	char *account;
	char *profile;     /* or NULL */
	char *sender;      /* "" for the null sender */
	char *mail_params; /* or NULL */
	bool ignore_dots;
	int ip_family; /* the queuing run's -4, -6, --ip-family: 4, 6 or QUEUE_IP_ANY; 0: none */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	uint64_t size;
	time_t queued;
	unsigned attempts;
	unsigned unsure;     /* attempts whose verdict was out of step (SEC-36) */
	time_t last_attempt; /* 0: none */
	time_t next_attempt;
	char *last_reply;  /* or NULL */
	time_t failed;     /* 0: not failed */
	char *fail_reason; /* or NULL */
	enum queue_notice notice;
	time_t retried; /* 0: never; else the last --queue-retry (the lifetime counts from it) */
};

/*
 * A copy being written while the message streams. The caller reads id, and may note
 * per-recipient results in meta.rcpts after queue_copy_complete; the rest is private.
 */
struct queue_copy {
	struct queue *q;
	char id[QUEUE_ID_MAX];
	int dir; /* tmp/ID */
	int fd;  /* tmp/ID/message, locked */
	uint64_t size;
	uint64_t limit; /* the most it may hold: UINT64_MAX, or the user's share (SEC-46) */
	bool complete;
	struct queue_meta meta;
	struct err failed; /* the first write error, kept (kind ERR_NONE: none) */
};

/* Which entries a flush takes. A zeroed filter takes every due entry. */
struct queue_filter {
	const char *account; /* only this account, or NULL */
	const char *rcpt;    /* -qR: a recipient address contains this (any case), or NULL */
	const char *sender;  /* -qS: the sender contains this (any case), or NULL */
	const char *id;      /* -qI: the id contains this (any case), or NULL */
	bool notices;        /* instead: the failed/ entries whose notice is due (F's account,
	                        id and profiles apply; the rest of F does not) */
	bool force;          /* also entries whose next attempt is still to come (postie -q) */
	size_t max;          /* at most this many entries; 0: no limit */
	/* SEC-42: only entries queued from one of these profile files (real paths, NULL-ended)
	 * and, with LEGACY, those that name no file (postie 0.1); NULL: any. An entry not
	 * selected is not touched at all: not sent, retried or expired. */
	const char *const *profiles;
	bool legacy;
};

/* A flush in progress (fields private but the counters). */
struct queue_iter {
	struct queue *q;
	struct queue_filter f;
	struct queue_item *items; /* the snapshot, in delivery order */
	size_t n, next;
	size_t given;     /* entries returned so far */
	size_t expired;   /* entries moved to failed/ for their age (each reported) */
	size_t recovered; /* complete copies taken from tmp/ into the queue */
	size_t set_aside; /* copies or entries moved to corrupt/ (each reported) */
};

/* One entry owned by the caller, locked. */
struct queue_entry {
	struct queue *q;
	char id[QUEUE_ID_MAX];
	int fd; /* the message, to read from offset 0 (lseek to read it again).
	           The lock lives on it: never close it yourself. */
	struct queue_meta meta;
	int dir; /* private: the entry's directory */
};

/*
 * The default queue directory: $XDG_STATE_HOME/postie/queue when that is an absolute path,
 * else ~/.local/state/postie/queue (io_xdg_path: the home is $HOME, else the passwd entry's).
 * NULL without a home. Nothing is created. The caller frees it.
 */
char *queue_default_dir(void);

/*
 * Open the spool at PATH. With CREATE, missing directories (PATH and its parents, then tmp/,
 * queue/, failed/, corrupt/) are made with mode 0700; without it a missing PATH is an empty
 * queue (nothing is created: mailq). ERR_CONFIG when PATH or a subdirectory is not a
 * directory, is owned by another user, or is writable by group or others; ERR_OS when it
 * cannot be made or opened. On failure Q holds nothing to close.
 */
int queue_open(struct queue *q, const char *path, bool create, struct err *e);

/*
 * Open the system spool at PATH (SEC-45, see above) with the group held for those opens
 * only; later calls on Q hold it around their lookups in the spool. PATH and its four
 * directories must exist, be root:GROUP (priv_gid) and mode 1770: else ERR_CONFIG naming
 * the command root runs to make them (nothing is ever created here). Without CREATE a
 * missing PATH is an empty queue (mailq, postie -q). Unless the real user is root, only the
 * real user's own entries are seen (listed, flushed, recovered). On failure Q holds nothing
 * to close.
 */
int queue_open_system(struct queue *q, const char *path, bool create, struct err *e);

/* Close what queue_open opened. Safe on a zeroed or failed struct. */
void queue_close(struct queue *q);

/* Seconds to wait after ATTEMPTS attempts: 60 doubled per attempt, at most 3600. */
time_t queue_backoff(unsigned attempts);

/*
 * Start a copy in tmp/: a new id, tmp/ID/message created and locked. C is the caller's and
 * is finished by exactly one of queue_copy_commit or queue_copy_discard (also after an
 * error). ERR_SOFTWARE when the queue was opened without create; ERR_OS otherwise, with
 * "queue full" in the message when the disk or quota is full.
 */
int queue_copy_begin(struct queue *q, struct queue_copy *c, struct err *e);

/*
 * Append N bytes as given to the data encoder: the rewritten header section, then the body
 * as read. No fsync. ERR_OS ("queue full" when out of space). The first error is kept: later
 * writes, queue_copy_complete and queue_copy_commit fail with it, so a caller that is busy
 * streaming to the server may ignore this result until it needs the copy.
 */
int queue_copy_write(struct queue_copy *c, const void *p, size_t n, struct err *e);

/*
 * Move up to MAX bytes of FD (a pipe or a regular file) onto the end of the copy inside the
 * kernel (splice, copy_file_range), for the caller to read back with queue_copy_read: the
 * copy then costs no write per read. Returns the count (0: FD's end), or -2 when it cannot
 * be done (another kind of FD, the call unsupported, the copy already failed or just failed
 * for want of space, which the commit reports): the caller reads FD itself then.
 */
ssize_t queue_copy_pull(struct queue_copy *c, int fd, size_t max);

/* Read N bytes of the copy's message at offset OFF (pread). The count, or -1 (errno). */
ssize_t queue_copy_read(struct queue_copy *c, uint64_t off, void *p, size_t n);

/*
 * The input has been read to its end: write the envelope (still in tmp/, no fsync) from M's
 * account, profile, sender, mail_params, ignore_dots and recipients (addr, params); the
 * queue sets the size and times. M stays the caller's. Once complete, the copy is sent by the next
 * flush even if this process dies. ERR_SOFTWARE when a value holds a control character or there is
 * no recipient; ERR_OS as queue_copy_write.
 */
int queue_copy_complete(struct queue_copy *c, const struct queue_meta *m, struct err *e);

/*
 * The delivery failed temporarily: count it as attempt 1 with LAST_REPLY (may be NULL; cut
 * and cleaned of control characters), schedule the next attempt, sync the message and the
 * envelope, move the entry into queue/ and sync the directories. c->meta.rcpts[i].state and
 * .reply may be set before (queue_rcpt_note); sent recipients are left out. Afterwards c->id
 * names the entry and nothing else of C is valid. On failure the copy is removed and
 * released. ERR_SOFTWARE when the copy is not complete (read the input to its end first);
 * ERR_OS ("queue full" when out of space).
 */
int queue_copy_commit(struct queue_copy *c, const char *last_reply, struct err *e);

/* Delivered, permanently refused, or given up: remove the copy and release it. Never fails. */
void queue_copy_discard(struct queue_copy *c);

/* Set R's state and reply (cut and cleaned of control characters; NULL keeps the old one). */
void queue_rcpt_note(struct queue_rcpt *r, enum queue_rcpt_state state, const char *reply);

/*
 * Start a flush: first recover tmp/ (complete copies whose lock is free go into the queue,
 * incomplete ones to corrupt/, both reported with warn()), then take a snapshot of queue/
 * as F selects. Entries come grouped by account (accounts in name order), oldest first, so
 * one connection per account serves them all. F is copied (its strings must outlive IT).
 * ERR_OS when a directory cannot be read. queue_iter_fini ends it, also after an error.
 */
int queue_iter_start(struct queue *q, struct queue_iter *it, const struct queue_filter *f,
                     struct err *e);

/*
 * The next entry, locked, into EN: 1 with an entry, 0 at the end, -1 with ERR_OS. Entries
 * locked by another process are skipped (that process delivers them); so are entries that
 * are no longer due or no longer there when the lock is taken. Entries past the lifetime are
 * moved to failed/ and reported instead of returned; entries whose envelope cannot be read
 * are moved to corrupt/ and reported. EN is the caller's until one of queue_entry_done,
 * _retry, _fail or _release.
 */
int queue_iter_next(struct queue_iter *it, struct queue_entry *en, struct err *e);

/* Free the snapshot. Entries already returned stay the caller's. */
void queue_iter_fini(struct queue_iter *it);

/* Delivered to every recipient left: remove the entry (synced) and release it. */
int queue_entry_done(struct queue_entry *en, struct err *e);

/*
 * The attempt failed temporarily. Recipients marked QUEUE_RCPT_SENT are dropped, FAILED ones
 * kept as failed. When none is left pending the entry is done (all sent) or moves to failed/
 * (some refused); else the attempt is counted with LAST_REPLY (may be NULL) and the next one
 * scheduled by queue_backoff. Releases EN in every case. ERR_OS when the envelope cannot be
 * written (the entry then stays as it was).
 */
int queue_entry_retry(struct queue_entry *en, const char *last_reply, struct err *e);

/* Give up (a permanent refusal): REASON (may be NULL) recorded, the entry moved to failed/. */
int queue_entry_fail(struct queue_entry *en, const char *reason, struct err *e);

/* Let go of EN without changing it (it stays due). Never fails. */
void queue_entry_release(struct queue_entry *en);

/*
 * A notice about failed entry EN (queue_iter with f.notices) was sent (QUEUE_NOTICE_SENT),
 * refused for good or past its time (QUEUE_NOTICE_DROPPED), or was not asked for
 * (QUEUE_NOTICE_NONE): record it (synced), so no flush sends it again; releases EN in
 * every case. ERR_OS when the envelope cannot be written (then the notice stays due).
 */
int queue_entry_noticed(struct queue_entry *en, enum queue_notice state, struct err *e);

/*
 * mailq, in Postfix's layout: a title line; then one block per entry in queue/ and failed/,
 * oldest first, each followed by an empty line: the id ('!' after it for a failed entry),
 * the size, the arrival time and the sender ("<>" for the null one) on the first line; then
 * each recipient on a line of its own, indented, preceded by its reason in parentheses
 * (the last reply, or why it failed) where that differs from the previous recipient's,
 * folded to 80 columns. With log_is_verbose() (postie -bp -v) each block also gives the
 * account, the profile file, the attempts, the last and next attempt, the MAIL and RCPT
 * parameters and the notice's state. Then a summary line "-- N Kbytes in M Requests." (and
 * the failed entries' count), and a line counting the copies in corrupt/ when there are
 * any; "Mail queue is empty" when there is no entry. Takes no lock. ERR_OS when a directory
 * cannot be read.
 */
int queue_list(struct queue *q, FILE *out, struct err *e);

/* How many entries wait in queue/ (*WAITING) and were given up in failed/ (*FAILED): the
 * caller's own on the system spool. ERR_OS when a directory cannot be read. */
int queue_count(struct queue *q, size_t *waiting, size_t *failed, struct err *e);

/* What postie --queue-delete and --queue-retry do to one entry. */
enum queue_admin_op {
	QUEUE_ADMIN_DELETE, /* remove it from queue/, failed/ or corrupt/ */
	QUEUE_ADMIN_RETRY,  /* make it due now; from failed/, back into queue/ with every
	                       recipient pending again; the lifetime counts anew from now */
};

/*
 * Do OP to the entry named NAME: its whole id, or the start of exactly one id (in queue/,
 * failed/ and, for a deletion, corrupt/; on the system spool only the caller's own entries,
 * but root's, are looked at). The entry's lock is taken first: an entry another postie is
 * sending right now is not touched (ERR_TEMP, "being sent right now"). The whole id goes
 * to ID (QUEUE_ID_MAX bytes) and, in *WHERE, "queue", "failed" or "corrupt". ERR_USAGE when
 * NAME is no entry's id nor the start of one, or the start of several (how many said);
 * ERR_USAGE when OP is a retry of a copy in corrupt/ (it can never be sent); ERR_OS when
 * the entry cannot be changed.
 */
int queue_admin(struct queue *q, enum queue_admin_op op, const char *name, char *id,
                const char **where, struct err *e);

/* The envelope's "ip-family" value for queue_meta.ip_family F ("4", "6", "any"); NULL for
 * 0 (none kept) or anything else. */
const char *queue_family_name(int f);

/*
 * Write M as an envelope file to OUT (format above). ERR_SOFTWARE when a value holds a
 * control character or the recipients are empty; ERR_DATA past QUEUE_ENVELOPE_MAX.
 */
int queue_meta_format(const struct queue_meta *m, struct buf *out, struct err *e);

/*
 * Parse an envelope file of N bytes at P into M (zeroed first; queue_meta_fini frees it).
 * ERR_DATA when it is not a complete version 1 envelope: another first line, no "end", a
 * control character, a bad number, a missing key, rcpt-* before any rcpt. A version other
 * than 1 gives ERR_CONFIG (made by another postie: leave it alone).
 */
int queue_meta_parse(struct queue_meta *m, const char *p, size_t n, struct err *e);

/* Free what M owns and zero it. */
void queue_meta_fini(struct queue_meta *m);

/*
 * P as an entry keeps them (see the format): *MAIL the MAIL parameters ("RET=FULL
 * ENVID=xtext BODY=8BITMIME"), *RCPT the RCPT ones ("NOTIFY=..."), each malloc'd or NULL
 * when empty. ERR_USAGE when the ENVID is too long.
 */
int queue_params_encode(const struct txn_params *p, char **mail, char **rcpt, struct err *e);

/*
 * The parameters entry M kept back into P. What is not understood is left out: the entry is
 * still sent, as without those parameters. *ENVID and *NOTIFY own the strings P points at.
 */
void queue_params_decode(const struct queue_meta *m, struct txn_params *p, char **envid,
                         char **notify);

#endif
