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
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "account.h"
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
	bool ready;        /* a is checked and has its password */
	char *current;     /* the account of the open session, or of the last failure */
	struct err why;    /* why the current account cannot be reached, or none */
	size_t delivered, deferred, others;
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

/* The entries of account NAME begin (they come grouped by account): one session each. */
static void
switch_account(struct flush *f, const char *name)
{
	session_close(&f->ss, f->why.kind ? &f->why : NULL);
	free(f->current);
	f->current = xstrdup(name);
	err_clear(&f->why);
	f->ready = false;
	f->a = flush_account(&f->prof, f->current, &f->why);
	if (!f->a)
		warn("%s", f->why.text);
}

/* Send EN, or leave it for later with the reason the account cannot be reached. */
static void
flush_one(struct flush *f, struct queue_entry *en)
{
	if (!f->current || strcmp(f->current, en->meta.account) != 0)
		switch_account(f, en->meta.account);
	if (f->a && !flush_entry_bound(&en->meta, f->a)) {
		/* An account of that name, but from another file than the entry's. */
		warn("flush queue: queued message %s was queued through account %s of %s, not of "
		     "%s: left in the queue",
		     en->id, f->current,
		     en->meta.profile ? en->meta.profile : "the user's own profile", f->a->file);
		queue_entry_release(en);
		f->others++;
		return;
	}
	if (f->a && !f->ss.open && f->why.kind == ERR_NONE) {
		/* The first entry of the account, or the last one abandoned its connection: a
		 * new one for this one. */
		session_close(&f->ss, NULL);
		if (!f->ready && flush_ready(f->a, &f->password, &f->why) < 0) {
			warn("%s", f->why.text);
		} else {
			f->ready = true;
			if (session_open(&f->ss, f->a, f->password.data, &f->why) < 0)
				warn("flush queue: account %s: %s", f->current, f->why.text);
		}
	}
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

	while (rc == 0) {
		got = queue_iter_next(&it, &en, e);
		if (got <= 0)
			break;
		flush_one(f, &en);
	}
	if (rc == 0 && got < 0)
		rc = -1;
	session_close(&f->ss, f->why.kind ? &f->why : NULL);
	queue_iter_fini(&it);
	/* Quiet when all went (cron mails whatever a job prints). */
	if (f->deferred || it.expired)
		fprintf(stderr, "postie: flush queue: %zu delivered, %zu not yet (see mailq)%s\n",
		        f->delivered, f->deferred, it.expired ? "; some expired into failed/" : "");
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
	int rc = flush_queue(&f, &q, o, e);
	free(f.current);
	buf_fini(&f.password);
	queue_close(&q);
	profile_fini(&f.prof);
	return rc;
}
