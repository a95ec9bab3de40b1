/*
 * flush: queue entries sent over a session, and `postie -q`. One attempt at one entry, with
 * the DSN and BODY parameters it was queued with, and its outcome recorded in the queue
 * (delivered, refused for good, or to be tried again); one session per account for a flush
 * of the whole queue; the maillog line of every attempt (of queued and fresh messages alike).
 */
#include "flush.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "account.h"
#include "addr.h"
#include "dsn.h"
#include "log.h"
#include "maillog.h"
#include "priv.h"

/* After this many attempts whose verdict was out of step (SEC-36), a queued message moves
 * to failed/ instead of going to that server again. */
#define UNSURE_TRIES 3

/*
 * Whether the error leaves the message worth keeping for a later attempt: a temporary
 * failure (SEC-37: 75), or a verdict on the data that was not a 250 in step (SEC-36): the
 * message is not delivered, and losing it is worse than a possible second copy.
 */
bool
flush_is_temporary(const struct err *e)
{
	return e->kind == ERR_TEMP || e->kind == ERR_UNSURE;
}

/*
 * SEC-42: whether queue entry M may be sent through account A (found by M's account name):
 * A must be defined in the very file M was queued from (an entry of postie 0.1 names no
 * file: then the user's own or the system profile), and nothing of where A sends its mail
 * may have come from the command line.
 */
bool
flush_entry_bound(const struct queue_meta *m, const struct account *a)
{
	if (!profile_route_is_own(a))
		return false;
	if (m->profile)
		return strcmp(m->profile, a->file) == 0;
	return a->origin == PROFILE_ORIGIN_USER || a->origin == PROFILE_ORIGIN_SYSTEM;
}

/* The family entry M goes over (0 any, 4, 6): the one it kept, else PROFILE_FAMILY. */
static int
entry_family(const struct queue_meta *m, int profile_family)
{
	return !m || !m->ip_family            ? profile_family
	       : m->ip_family == QUEUE_IP_ANY ? 0
	                                      : m->ip_family;
}

bool
flush_family_fits(const struct session *ss, const struct queue_meta *m, int profile_family)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int want = entry_family(m, profile_family);

	if (want == 0)
		return true;
	if (getpeername(ss->s.conn.fd, (struct sockaddr *)&sa, &len) != 0)
		return false;
	if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)
		return true; /* a local socket: no family to keep */
	return want > 0 && sa.ss_family == (want == 4 ? AF_INET : AF_INET6);
}

/*
 * SEC-42: the profile files of PROF's accounts (NULL-ended; the caller frees the array, not
 * the strings) for a queue filter, and in *LEGACY whether entries that name no file
 * (postie 0.1, queued through the user's own or the system profile) are this run's: only
 * when the run reads the user's own profile.
 */
static const char **
profile_files(const struct profile *prof, const char *named, bool *legacy)
{
	const char **v = xcalloc(prof->n + 1, sizeof(*v));
	size_t n = 0;

	*legacy = !named;
	for (size_t i = 0; i < prof->n; i++) {
		const struct account *a = prof->accounts[i];
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(v[k], a->file) == 0;
		if (!seen)
			v[n++] = a->file;
		*legacy |= a->origin == PROFILE_ORIGIN_USER;
	}
	return v;
}

void
flush_log_attempt(const struct flush_attempt *t, int rc, const struct err *e)
{
	bool failed = e->kind != ERR_NONE;
	struct maillog_entry m = {
	    .when = time(NULL),
	    .host = t->acct->host,
	    .port = t->port,
	    .tls = t->tls,
	    .auth = t->auth,
	    .user = t->acct->user,
	    .from = t->sender,
	    .rcpts = t->rcpts,
	    .nrcpts = t->n,
	    .mailsize = rc == 0 && !t->queued ? t->size : -1,
	    .smtpstatus = failed && e->code >= 200 ? e->code
	                  : !failed                ? t->final_code
	                                           : 0,
	    .smtpmsg = !failed && t->final_code ? t->final_text : NULL,
	    .errormsg = failed ? e->text : NULL,
	    .exitcode = rc == 0 ? 0 : err_exit_status(e->kind),
	    .msgid = t->msgid,
	    .queued = t->queued,
	};
	maillog_record(t->acct, &m);
}

/* SEC-45: a setgid postie queues a system account's mail in the system spool, never in the
 * caller's home (a caller such as www-data may have none); unless the account names its
 * queue_dir. */
bool
flush_system_queue(const struct account *a)
{
	return priv_setgid() && a->origin == PROFILE_ORIGIN_SYSTEM && !a->queue_dir;
}

/* Open the account's queue; a queue that cannot be used is a warning, not a failure. */
bool
flush_open_queue(struct queue *q, const struct account *a, bool create)
{
	struct err e;
	bool ok = false;

	if (flush_system_queue(a)) {
		ok = queue_open_system(q, POSTIE_SYSTEM_SPOOL, create, &e) == 0;
		if (!ok)
			warn("%s", e.text);
		if (ok && a->queue_lifetime > 0)
			q->lifetime = a->queue_lifetime;
		return ok;
	}
	char *dir = a->queue_dir ? xstrdup(a->queue_dir) : queue_default_dir();
	if (!dir)
		warn("open queue: no HOME or XDG_STATE_HOME; set `queue_dir`");
	else if (queue_open(q, dir, create, &e) < 0)
		warn("%s", e.text);
	else
		ok = true;
	if (ok && a->queue_lifetime > 0)
		q->lifetime = a->queue_lifetime;
	free(dir);
	return ok;
}

const char *
flush_waiting(struct queue *q, char *out, size_t n)
{
	size_t waiting, failed;
	struct err e;

	if (queue_count(q, &waiting, &failed, &e) < 0)
		snprintf(out, n, "the queue cannot be counted: %s", e.text);
	else if (failed)
		snprintf(out, n, "%zu waiting in the queue, %zu failed (see mailq)", waiting,
		         failed);
	else
		snprintf(out, n, "%zu waiting in the queue (see mailq)", waiting);
	return out;
}

/* The recipients still pending in M, copied (queue_entry_retry frees the entry's before
 * the log line is written), their count in *N. */
static char **
pending_rcpts(const struct queue_meta *m, size_t *n)
{
	char **v = xcalloc(m->nrcpts + 1, sizeof(char *));

	*n = 0;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			v[(*n)++] = xstrdup(m->rcpts[i].addr);
	return v;
}

size_t
flush_note_replies(struct queue_meta *m, const int *codes, bool per_rcpt, const char *reply)
{
	size_t pending = 0;

	for (size_t i = 0, j = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != QUEUE_RCPT_PENDING)
			continue;
		/* Recipients refused for good are never tried again; the others wait. */
		if (codes[j] >= 500)
			queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_FAILED, reply);
		/* LMTP (RFC 2033 §4.2): a 250 after the data means this one has it (SEC-36: no
		 * other reply does). */
		else if (per_rcpt && codes[j] == 250)
			queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_SENT, NULL);
		else
			pending++;
		j++;
	}
	return pending;
}

/*
 * Record in the queue what an attempt made of EN (RC and E as session_send returned them;
 * CODES one reply per recipient that was pending; PER_RCPT: LMTP's replies after the data):
 * delivered (removed, or into failed/ for recipients refused before), refused for good
 * (failed/), or to be tried again (backoff; then *KEPT). The queue's own error in QE.
 */
static int
record(struct queue_entry *en, int rc, const int *codes, bool per_rcpt, const struct err *e,
       bool *kept, struct err *qe)
{
	struct queue_meta *m = &en->meta;

	if (rc == 0) {
		log_info("queued message %s delivered", en->id);
		/* Recipients refused at an earlier attempt keep the entry on record in failed/;
		 * with none, it is removed. */
		for (size_t i = 0; i < m->nrcpts; i++)
			if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
				queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_SENT, NULL);
		return queue_entry_retry(en, NULL, qe);
	}
	size_t pending = flush_note_replies(m, codes, per_rcpt, e->text);
	warn("queued message %s: %s", en->id, e->text);
	/* LMTP: every recipient has an outcome: the entry is done with. */
	if (per_rcpt && pending == 0)
		return queue_entry_retry(en, NULL, qe);
	if (!per_rcpt && !flush_is_temporary(e) &&
	    (e->kind == ERR_PERM || e->kind == ERR_DATA || e->kind == ERR_PROTO))
		return queue_entry_fail(en, e->text, qe);
	if (!per_rcpt && e->kind == ERR_UNSURE && ++m->unsure >= UNSURE_TRIES) {
		/* A server that never gives a verdict in step may deliver every copy: stop
		 * sending it, and keep it in failed/ for the user to judge. */
		char why[QUEUE_REPLY_MAX];
		snprintf(why, sizeof(why),
		         "%s; no verdict in step after %d attempts: "
		         "the server may have it; check before sending it again",
		         e->text, UNSURE_TRIES);
		return queue_entry_fail(en, why, qe);
	}
	*kept = true;
	return queue_entry_retry(en, e->text, qe);
}

/* The start of EN's message, read ahead into SRC. */
static int
rewind_entry(struct queue_entry *en, struct source *src, struct err *e)
{
	if (lseek(en->fd, 0, SEEK_SET) < 0)
		return err_set(e, ERR_OS, "read queued message %s: %s", en->id, strerror(errno));
	return source_read_ahead(src, e);
}

int
flush_entry(struct session *ss, struct queue_entry *en, bool last)
{
	struct queue_meta *m = &en->meta;
	size_t n;
	char **rcpts = pending_rcpts(m, &n);
	int *codes = xcalloc(m->nrcpts + 1, sizeof(int));
	char *sender = xstrdup(m->sender);
	const struct txn_params *saved = ss->params;
	struct txn_params params;
	char *envid, *notify;
	struct source src;
	struct err e, qe;
	int rc = -1, qrc;
	bool tried = false, kept = false;

	err_clear(&e);
	err_clear(&qe);
	queue_params_decode(m, &params, &envid, &notify);
	source_init(&src, NULL, 0, en->fd, m->ignore_dots, NULL);
	ss->params = &params;
	if (n == 0) {
		qrc = queue_entry_retry(en, NULL, &qe);
		rc = 0;
	} else if (rewind_entry(en, &src, &e) < 0) {
		qrc = queue_entry_retry(en, e.text, &qe);
	} else {
		tried = true;
		rc = session_send(ss, sender, rcpts, n, codes, &src, last, &e);
		qrc = record(en, rc, codes, ss->per_rcpt, &e, &kept, &qe);
	}
	ss->params = saved;
	if (tried) {
		const char *text;
		int code = session_final(ss, &text);
		struct flush_attempt t = {.acct = ss->acct,
		                          .tls = session_tls(ss),
		                          .auth = ss->acct->auth,
		                          .port = ss->port,
		                          .sender = sender,
		                          .rcpts = rcpts,
		                          .n = n,
		                          .size = (long long)src.size,
		                          .queued = kept ? en->id : NULL,
		                          .final_code = code,
		                          .final_text = text};
		flush_log_attempt(&t, rc, &e);
	}
	/* The entry itself stays as it was (still due): only this attempt goes unrecorded. */
	if (qrc < 0)
		warn("queued message %s: this attempt could not be recorded: %s", en->id, qe.text);
	source_fini(&src);
	for (size_t i = 0; i < n; i++)
		free(rcpts[i]);
	free(rcpts);
	free(sender);
	free(codes);
	free(envid);
	free(notify);
	return rc;
}

/* The account of PROF called NAME; NULL with e set. */
static struct account *
flush_account(struct profile *prof, const char *name, struct err *e)
{
	struct account *a = profile_find(prof, name);

	if (!a)
		err_set(e, ERR_CONFIG, "flush queue: account %s is no longer in the profile", name);
	return a;
}

/* What A needs before its first session: its settings checked and its password. */
static int
flush_ready(struct account *a, struct buf *password, struct err *e)
{
	buf_reset(password);
	if (account_expand_domain(a, e) < 0 || account_check_policy(a, e) < 0 ||
	    account_get_password(a, password, e) < 0)
		return -1;
	return 0;
}

/* A flush in progress: the profile, the session of the current account, the counts. */
struct flush {
	struct profile prof;
	struct session ss;
	struct buf password;
	struct account *a; /* the account of the current entries, or NULL */
	int family;        /* a's ip_family as the profile gives it (entries may change a's) */
	int forced;        /* the flush's own -4, -6, --ip-family (flush_argv_family), 0: none */
	bool ready;        /* a is checked and has its password */
	char *current;     /* the account of the open session, or of the last failure */
	struct err why;    /* why the current account cannot be reached, or none */
	size_t delivered, deferred, others, notices;
	struct queue *q;                  /* the queue being flushed */
	const struct queue_filter *which; /* what the flush takes (its notices too) */
};

/*
 * SEC-42: a flush sends each entry where its account's profile sends it; the command line's
 * settings are not applied, and one that would move the mail is refused rather than silently
 * ignored.
 */
static int
refuse_routes(const struct opts *o, struct err *e)
{
	for (size_t i = 0; i < o->noverrides; i++) {
		/* The one setting a flush takes (flush_argv_family): its value checked by the
		 * profile's own rule, as a send checks it, on an account of no one's. */
		struct account scratch = {0};
		if (strcmp(o->overrides[i].name, "ip_family") == 0 &&
		    profile_apply(&scratch, "ip_family", o->overrides[i].value, e) < 0)
			return -1;
		if (!profile_is_route(o->overrides[i].name))
			continue;
		char flag[64];
		size_t k;
		for (k = 0; o->overrides[i].name[k] && k + 1 < sizeof(flag); k++)
			flag[k] = o->overrides[i].name[k] == '_' ? '-' : o->overrides[i].name[k];
		flag[k] = '\0';
		return err_set(e, ERR_USAGE,
		               "parse flags: -q and --%s: a flush sends each "
		               "queued message only where its account's profile sends it (SEC-42); "
		               "drop --%s",
		               flag, flag);
	}
	return 0;
}

int
flush_argv_family(const struct opts *o)
{
	int f = 0;
	for (size_t i = 0; i < o->noverrides; i++)
		if (strcmp(o->overrides[i].name, "ip_family") == 0)
			f = o->overrides[i].value[0] == 'a' ? QUEUE_IP_ANY
			                                    : o->overrides[i].value[0] - '0';
	return f;
}

/* The entries of account NAME begin (they come grouped by account): one session each. */
static void
switch_account(struct flush *f, const char *name)
{
	session_close(&f->ss, f->why.kind ? &f->why : NULL);
	if (f->a)
		f->a->ip_family = f->family;
	free(f->current);
	f->current = xstrdup(name);
	err_clear(&f->why);
	f->ready = false;
	f->a = flush_account(&f->prof, f->current, &f->why);
	if (!f->a)
		warn("%s", f->why.text);
	f->family = f->a ? f->a->ip_family : 0;
	/* postie -q -4: this flush's family for every entry, whatever each kept or the profile
	 * says (not a route: only which of the host's own addresses, SEC-41). */
	if (f->a && f->forced)
		f->a->ip_family = f->forced == QUEUE_IP_ANY ? 0 : f->forced;
}

/* The session for entry M (NULL: a notice): an entry queued with -4 or -6 goes only over a
 * connection of that family, so a session of the other is closed and the account's
 * ip_family set for the next (the profile's again for an entry that kept none). */
static void
use_family(struct flush *f, const struct queue_meta *m)
{
	if (!f->a || f->forced || (f->ss.open && flush_family_fits(&f->ss, m, f->family)))
		return;
	int want = entry_family(m, f->family);
	if (want == f->a->ip_family)
		return;
	session_close(&f->ss, NULL);
	f->a->ip_family = want;
	if (f->ready)
		err_clear(&f->why); /* the account failed with the other family: try this one */
}

/* The session of the current account, opened when it is not (f->ss.open says). */
static void
open_session(struct flush *f)
{
	if (!f->a || f->ss.open || f->why.kind != ERR_NONE)
		return;
	/* The first entry of the account, or the last one abandoned its connection: a new
	 * one for this one. */
	session_close(&f->ss, NULL);
	if (!f->ready && flush_ready(f->a, &f->password, &f->why) < 0) {
		warn("%s", f->why.text);
	} else {
		f->ready = true;
		if (session_open(&f->ss, f->a, f->password.data, &f->why) < 0)
			warn("flush queue: account %s: %s", f->current, f->why.text);
	}
}

/* A notice that cannot be sent is tried by later flushes for this long after the failure
 * (the queue's lifetime), then dropped. */
static bool
notice_past(const struct queue_entry *en)
{
	time_t life = en->q->lifetime > 0 ? en->q->lifetime : QUEUE_LIFETIME_DEFAULT;
	return time(NULL) - en->meta.failed >= life;
}

/* The notice about EN into MSG (0: none is to be made, -1: it cannot be). TO is whom. */
static int
notice_make(const struct queue_entry *en, const char *to, struct buf *msg, struct err *e)
{
	char host[256];
	struct buf head;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	buf_init(&head, DSN_HEADER_MAX);
	char *p = xmalloc(DSN_HEADER_MAX);
	ssize_t n = pread(en->fd, p, DSN_HEADER_MAX, 0);
	if (n > 0)
		buf_append(&head, p, (size_t)n, NULL);
	free(p);
	struct dsn_input in = {.m = &en->meta,
	                       .id = en->id,
	                       .mta = host,
	                       .to = to,
	                       .header = head.data,
	                       .header_len = head.len,
	                       .now = time(NULL)};
	int rc = dsn_build(&in, msg, e);
	buf_fini(&head);
	return rc;
}

/* Send MSG to TO over SS with the null reverse-path (RFC 3464 §2: nothing answers a notice),
 * and log it as any message (maillog). 0 when the server took it. */
static int
notice_send(struct session *ss, char *to, const struct buf *msg, struct err *e)
{
	struct source src;
	const struct txn_params *saved = ss->params;
	struct txn_params plain = {0};
	int code = 0, rc;

	source_init(&src, msg->data, msg->len, -1, true, NULL);
	src.at_end = true;
	ss->params = &plain;
	rc = source_read_ahead(&src, e);
	if (rc == 0)
		rc = session_send(ss, "", &to, 1, &code, &src, false, e);
	ss->params = saved;
	const char *text;
	struct flush_attempt t = {.acct = ss->acct,
	                          .tls = session_tls(ss),
	                          .auth = ss->acct->auth,
	                          .port = ss->port,
	                          .sender = "",
	                          .rcpts = &to,
	                          .n = 1,
	                          .size = (long long)src.size,
	                          .final_code = session_final(ss, &text)};
	t.final_text = text;
	flush_log_attempt(&t, rc, e);
	source_fini(&src);
	return rc;
}

/*
 * Send the notice about failed entry EN (RFC 3464) over SS, the session of EN's account: to
 * its queue_notify, else to the entry's sender, with the null reverse-path (so nothing ever
 * answers it: no loop). Recorded in the entry: sent, or dropped when refused for good (a
 * notice is never queued), or still due for the next flush when the failure is temporary.
 * EN is released.
 */
static bool
notice_one(struct session *ss, struct queue_entry *en)
{
	const struct account *a = ss->acct;
	char *to = NULL;
	struct buf msg;
	struct err e;
	int made = -1, sent = -1;

	err_clear(&e);
	buf_init(&msg, DSN_HEADER_MAX + QUEUE_ENVELOPE_MAX);
	if (addr_envelope(a->queue_notify ? a->queue_notify : en->meta.sender, false, ERR_CONFIG,
	                  &to, &e) == 0)
		made = notice_make(en, to, &msg, &e);
	if (made > 0)
		sent = notice_send(ss, to, &msg, &e);
	if (made == 0) {
		log_info("queued message %s: no notice of its failure was asked for", en->id);
		queue_entry_noticed(en, QUEUE_NOTICE_NONE, NULL);
	} else if (sent == 0) {
		log_info("queued message %s: notice of its failure sent to <%s>", en->id, to);
		queue_entry_noticed(en, QUEUE_NOTICE_SENT, NULL);
	} else if ((flush_is_temporary(&e) || e.kind == ERR_CONFIG) && !notice_past(en)) {
		warn("queued message %s: the notice of its failure could not be sent now: %s; the "
		     "next flush tries again",
		     en->id, e.text);
		queue_entry_release(en);
	} else {
		warn("queued message %s: the notice of its failure to <%s> was not taken: %s; "
		     "dropped (a notice is never queued)",
		     en->id, to ? to : "?", e.text);
		queue_entry_noticed(en, QUEUE_NOTICE_DROPPED, NULL);
	}
	buf_fini(&msg);
	free(to);
	return sent == 0;
}

/* The notices due in the queue (of ACCOUNT, or of every account), each over its account's
 * session: the one open, else a new one. */
static void
flush_notices(struct flush *f, const char *account)
{
	struct queue_filter nf = {.account = account ? account : f->which->account,
	                          .id = f->which->id,
	                          .profiles = f->which->profiles,
	                          .legacy = f->which->legacy,
	                          .notices = true};
	struct queue_iter it;
	struct queue_entry en;
	struct err e;

	if (queue_iter_start(f->q, &it, &nf, &e) < 0) {
		warn("flush queue: the notices of failed entries: %s", e.text);
		queue_iter_fini(&it);
		return;
	}
	while (queue_iter_next(&it, &en, NULL) > 0) {
		if (!f->current || strcmp(f->current, en.meta.account) != 0)
			switch_account(f, en.meta.account);
		if (f->a && !flush_entry_bound(&en.meta, f->a)) {
			queue_entry_release(&en); /* SEC-42: not this profile's account */
			continue;
		}
		use_family(f, NULL);
		open_session(f);
		if (!f->ss.open)
			queue_entry_release(&en); /* still due: the next flush tries again */
		else if (notice_one(&f->ss, &en))
			f->notices++;
	}
	queue_iter_fini(&it);
}

void
flush_send_notices(struct session *ss, struct queue *q, const struct queue_filter *f)
{
	struct queue_filter nf = {.account = ss->acct->name,
	                          .profiles = f->profiles,
	                          .legacy = f->legacy,
	                          .notices = true};
	struct queue_iter it;
	struct queue_entry en;

	if (queue_iter_start(q, &it, &nf, NULL) == 0)
		while (ss->open && queue_iter_next(&it, &en, NULL) > 0) {
			if (flush_entry_bound(&en.meta, ss->acct))
				notice_one(ss, &en);
			else
				queue_entry_release(&en); /* SEC-42 */
		}
	queue_iter_fini(&it);
}

/* The entries of EN's account come now (switching sessions when it is another's): false
 * (EN released) when EN was queued through another file's account of that name (SEC-42). */
static bool
take_account(struct flush *f, struct queue_entry *en)
{
	if (!f->current || strcmp(f->current, en->meta.account) != 0) {
		/* The notices of the account done with go over its session first. */
		if (f->current && f->ss.open)
			flush_notices(f, f->current);
		switch_account(f, en->meta.account);
	}
	if (!f->a || flush_entry_bound(&en->meta, f->a))
		return true;
	/* An account of that name, but from another file than the entry's. */
	warn("flush queue: queued message %s was queued through account %s of %s, not of "
	     "%s: left in the queue",
	     en->id, f->current, en->meta.profile ? en->meta.profile : "the user's own profile",
	     f->a->file);
	queue_entry_release(en);
	f->others++;
	return false;
}

/* Send EN, or leave it for later with the reason the account cannot be reached. */
static void
flush_one(struct flush *f, struct queue_entry *en)
{
	if (!take_account(f, en))
		return;
	use_family(f, &en->meta);
	open_session(f);
	if (!f->ss.open) {
		/* The account cannot be reached now: every entry of it waits. */
		queue_entry_retry(en, f->why.text, NULL);
		f->deferred++;
	} else if (flush_entry(&f->ss, en, false) == 0) {
		f->delivered++;
	} else {
		f->deferred++;
	}
}

/* Every selected entry of Q, as O narrows them. */
static int
flush_queue(struct flush *f, struct queue *q, const struct opts *o, struct err *e)
{
	struct queue_iter it;
	struct queue_entry en;
	bool legacy;
	char waiting[128];
	const char **files = profile_files(&f->prof, o->profile, &legacy);
	struct queue_filter filter = {
	    .account = o->account,
	    .rcpt = o->queue_rcpt,
	    .id = o->queue_id,
	    .force = true,
	    .profiles = files, /* SEC-42: another profile's entries are not touched */
	    .legacy = legacy,
	};
	int rc = queue_iter_start(q, &it, &filter, e);
	int got = 0;

	f->q = q;
	f->which = &filter;
	while (rc == 0) {
		got = queue_iter_next(&it, &en, e);
		if (got <= 0)
			break;
		flush_one(f, &en);
	}
	if (rc == 0 && got < 0)
		rc = -1;
	/* The senders of entries that failed hear of it: over the session still open, and
	 * for other accounts (expired entries, notices earlier flushes could not send) new
	 * ones. */
	if (rc == 0)
		flush_notices(f, NULL);
	session_close(&f->ss, f->why.kind ? &f->why : NULL);
	queue_iter_fini(&it);
	/* Quiet when all went (cron mails whatever a job prints). */
	if (f->deferred || it.expired)
		fprintf(stderr, "postie: flush queue: %zu delivered, %zu not yet%s; %s\n",
		        f->delivered, f->deferred, it.expired ? ", some expired into failed/" : "",
		        flush_waiting(q, waiting, sizeof(waiting)));
	else
		log_info("flush queue: %zu delivered%s", f->delivered,
		         f->others ? "; entries of other accounts of that name left alone" : "");
	free(files);
	return rc;
}

int
flush_run(const struct opts *o, struct err *e)
{
	struct flush f = {0};
	struct queue q;

	if (refuse_routes(o, e) < 0 || profile_load(&f.prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	const struct account *qa =
	    o->account ? profile_find(&f.prof, o->account) : profile_find(&f.prof, "default");
	if (!qa && o->account) {
		profile_fini(&f.prof);
		return err_set(e, ERR_CONFIG, "flush queue: no account %s in the profile",
		               o->account);
	}
	/* The queue directory is the default account's (or -a's); every entry names its own
	 * account for the session. */
	struct account none = {.queue = true};
	if (!flush_open_queue(&q, qa ? qa : &none, false)) {
		profile_fini(&f.prof);
		return err_set(e, ERR_OS, "flush queue: the queue cannot be opened");
	}
	buf_init(&f.password, BUF_MAX_SECRET);
	f.password.secret = true;
	session_init(&f.ss);
	err_clear(&f.why);
	f.forced = flush_argv_family(o);
	int rc = flush_queue(&f, &q, o, e);
	free(f.current);
	buf_fini(&f.password);
	queue_close(&q);
	profile_fini(&f.prof);
	return rc;
}

int
flush_admin(const struct opts *o, struct err *e)
{
	struct profile prof = {0};
	struct queue q;
	enum queue_admin_op op =
	    o->mode == CLI_QUEUE_DELETE ? QUEUE_ADMIN_DELETE : QUEUE_ADMIN_RETRY;
	const char *verb = op == QUEUE_ADMIN_DELETE ? "--queue-delete" : "--queue-retry";
	size_t failed = 0;
	struct err first;

	err_clear(&first);
	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	/* The queue of the default account (or -a's), as mailq and postie -q. */
	const struct account *a = profile_find(&prof, o->account ? o->account : "default");
	struct account none = {.queue = true};
	if (!flush_open_queue(&q, a ? a : &none, false)) {
		profile_fini(&prof);
		return err_set(e, ERR_OS, "%s: the queue cannot be opened", verb);
	}
	for (size_t i = 0; i < o->nrcpts; i++) {
		char id[QUEUE_ID_MAX];
		const char *where;
		struct err ae;
		if (queue_admin(&q, op, o->rcpts[i], id, &where, &ae) < 0) {
			if (o->nrcpts > 1)
				err_print(&ae); /* one id: its error is the run's */
			if (failed++ == 0)
				first = ae;
		} else if (op == QUEUE_ADMIN_DELETE) {
			fprintf(stderr, "postie: queue entry %s deleted (it was in %s/)\n", id,
			        where);
		} else {
			fprintf(stderr,
			        "postie: queue entry %s is due now%s; `postie -q` or the next run "
			        "sends it\n",
			        id,
			        strcmp(where, "failed") == 0 ? ", its recipients pending again"
			                                     : "");
		}
	}
	queue_close(&q);
	profile_fini(&prof);
	if (failed == 0)
		return 0;
	if (o->nrcpts == 1) {
		*e = first;
		return -1;
	}
	return err_set(e, first.kind, "%s: %zu of %zu id%s %s not done (see above)", verb, failed,
	               o->nrcpts, o->nrcpts == 1 ? "" : "s", failed == 1 ? "was" : "were");
}
