/*
 * submit: one delivery, and queue flushes. From options, profile and the message on
 * standard input to the server's final reply, or to a durable queue entry. Every check that
 * needs no server runs before the connection is made, so a bad address, a bad profile or a
 * failing password command never costs a connection and never sends a byte.
 */
#include "submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "addr.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "queue.h"
#include "sasl.h"
#include "secret.h"
#include "session.h"

/* How many due queue entries of its account an ordinary run sends after its own message:
 * enough to drain a short outage, few enough never to hold a cron job up for long. */
#define PIGGYBACK_MAX 8

struct delivery {
	const struct opts *o;
	struct profile prof;
	const struct account *acct;
	char *sender;           /* normalised envelope sender; "" is the null sender */
	struct addr_list rcpts; /* normalised, without duplicates */
	struct msg msg;
	struct buf password;    /* secret */
	struct queue q;         /* open when the account queues */
	bool queue_open;
	struct queue_copy copy;
	bool copying;           /* copy holds this message (begun, not yet committed/discarded) */
	struct queue_meta meta; /* the copy's envelope */
};

static int
choose_account(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;

	if (o->account) {
		d->acct = profile_find(&d->prof, o->account);
		if (!d->acct)
			return err_set(e, ERR_CONFIG,
				"choose account %s: no such account in the profile; check -a", o->account);
		return 0;
	}
	if (o->sender) {
		char *norm = NULL;
		if (addr_envelope(o->sender, true, ERR_USAGE, &norm, e) < 0)
			return -1;
		d->acct = profile_find_by_from(&d->prof, norm);
		free(norm);
		if (d->acct)
			return 0;
	}
	d->acct = profile_find(&d->prof, "default");
	if (!d->acct)
		return err_set(e, ERR_CONFIG,
			"choose account: none given and no default; pass -a NAME or add "
			"`account default : NAME` to ~/.config/postie/config");
	return 0;
}

static int
choose_sender(struct delivery *d, struct err *e)
{
	if (d->o->sender)
		return addr_envelope(d->o->sender, true, ERR_USAGE, &d->sender, e);
	if (d->acct->from)
		return addr_envelope(d->acct->from, true, ERR_CONFIG, &d->sender, e);
	return err_set(e, ERR_CONFIG,
		"choose envelope sender: account %s has no `from`; add `from ADDRESS` to it in %s "
		"or pass -f ADDRESS", d->acct->name, d->acct->file);
}

static void
add_unique(struct addr_list *to, const struct addr_list *from)
{
	for (size_t i = 0; i < from->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < to->n && !seen; j++)
			seen = strcmp(to->v[j], from->v[i]) == 0;
		if (!seen)
			addr_list_add(to, from->v[i]);
	}
}

static int
collect_recipients(struct delivery *d, struct err *e)
{
	struct addr_list l = {0};
	int rc = 0;

	/* SEC-22: every operand must be valid; one bad element refuses the whole run. */
	for (size_t i = 0; i < d->o->nrcpts && rc == 0; i++) {
		const char *r = d->o->rcpts[i];
		if (r[0] == '-')
			rc = err_set(e, ERR_USAGE,
				"check recipient \"%s\": begins with '-'; flags go before recipients", r);
		else
			rc = addr_list_parse(&l, r, strlen(r), ERR_USAGE, e);
	}
	if (rc == 0 && d->o->read_rcpts)
		rc = msg_recipients(&d->msg, &l, e);
	if (rc == 0) {
		add_unique(&d->rcpts, &l);
		if (d->rcpts.n == 0)
			rc = err_set(e, d->o->read_rcpts ? ERR_DATA : ERR_USAGE,
				"collect recipients: none; name them after the flags%s",
				d->o->read_rcpts ? " or in To, Cc or Bcc" : " or pass -t");
	}
	addr_list_fini(&l);
	return rc;
}

/* What the account asks of TLS and AUTH, checked before connecting (SEC-1, SEC-12). */
static int
check_policy(const struct account *a, struct err *e)
{
	if (!a->host)
		return err_set(e, ERR_CONFIG, "connect: account %s (%s:%u) has no `host`; add one",
			a->name, a->file, a->line);
	if (a->auth && !a->user)
		return err_set(e, ERR_CONFIG,
			"authenticate: account %s (%s:%u) says `auth` but has no `user`; add one",
			a->name, a->file, a->line);
	if (a->auth && !a->tls)
		return err_set(e, ERR_TLS,
			"authenticate to %s: account %s has `tls off`; postie does not send a password "
			"in clear. Turn TLS on (remove `tls off`)", a->host, a->name);
	if (a->auth && !a->tls_certcheck && !a->tls_fingerprint)
		return err_set(e, ERR_TLS,
			"authenticate to %s: account %s has `tls_certcheck off`; postie does not send "
			"a password to an unverified server. Pin it with `tls_fingerprint` instead",
			a->host, a->name);
	if (a->tls && !a->tls_certcheck && !a->tls_fingerprint)
		warn("account %s: tls_certcheck off: the server's certificate is not verified",
			a->name);
	/* A mechanism the profile names must be one postie has, usable with a password. */
	struct sasl_creds c = {.user = a->user, .pass = "x"};
	if (a->auth && a->auth_mech && !sasl_pick(a->auth_mech, a->auth_mech, &c, e))
		return -1;
	return 0;
}

/* The account's password, from the profile or its passwordeval (SEC-15). */
static int
get_password(const struct account *a, struct buf *out, struct err *e)
{
	if (!a->auth)
		return 0;
	if (secret_get(a, out, e) < 0)
		return -1;
	if (out->len == 0)
		return err_set(e, ERR_CONFIG,
			"authenticate: account %s has no password; add `password` or "
			"`passwordeval` to %s", a->name, a->file);
	return 0;
}

/* Open the account's queue; a queue that cannot be used is a warning, not a failure. */
static bool
open_queue(struct queue *q, const struct account *a, bool create)
{
	char *dir = a->queue_dir ? xstrdup(a->queue_dir) : queue_default_dir();
	struct err e;
	bool ok = false;

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

static int
prepare(struct delivery *d, struct source *src, int fd, struct err *e)
{
	const struct opts *o = d->o;

	if (profile_load(&d->prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	if (choose_account(d, e) < 0 || choose_sender(d, e) < 0)
		return -1;
	log_info("account %s from %s:%u", d->acct->name, d->acct->file, d->acct->line);
	if (check_policy(d->acct, e) < 0)
		return -1;
	if (msg_read_header(&d->msg, fd, e) < 0)
		return -1;
	if (collect_recipients(d, e) < 0)
		return -1;
	const char *dom = addr_domain(d->sender);
	struct msg_opts mo = {
		.sender = d->sender,
		.fullname = o->fullname,
		.msgid_domain = dom && *dom ? dom : d->acct->domain,
		.remove_bcc = true,
	};
	if (msg_rewrite(&d->msg, &mo, e) < 0)
		return -1;

	/* The copy starts with what the encoder is given: the rewritten header, then the
	 * body as read (the header scanner's read-ahead first). */
	if (d->acct->queue && (d->queue_open = open_queue(&d->q, d->acct, true))) {
		if (queue_copy_begin(&d->q, &d->copy, e) < 0)
			return -1;
		d->copying = true;
		queue_copy_write(&d->copy, d->msg.out.data, d->msg.out.len, NULL);
		if (d->msg.rest.len)
			queue_copy_write(&d->copy, d->msg.rest.data, d->msg.rest.len, NULL);
		d->meta.account = d->acct->name;
		d->meta.sender = d->sender;
		d->meta.ignore_dots = o->ignore_dots;
		d->meta.nrcpts = d->rcpts.n;
		d->meta.rcpts = xcalloc(d->rcpts.n, sizeof(*d->meta.rcpts));
		for (size_t i = 0; i < d->rcpts.n; i++)
			d->meta.rcpts[i].addr = d->rcpts.v[i];
	}
	source_init(src, d->msg.out.data, d->msg.out.len, fd, o->ignore_dots,
		d->copying ? &d->copy : NULL);
	src->meta = d->copying ? &d->meta : NULL;
	/* The header scanner read past the header: those bytes come first. */
	if (d->msg.rest.len && buf_append(&src->ahead, d->msg.rest.data, d->msg.rest.len, e) < 0)
		return -1;
	src->at_end = !d->msg.has_body_sep;
	if (source_read_ahead(src, e) < 0)
		return -1;
	return get_password(d->acct, &d->password, e);
}

/* Whether the error leaves the message worth keeping for a later attempt (SEC-37: 75). */
static bool
temporary(const struct err *e)
{
	return e->kind == ERR_TEMP;
}

/*
 * The session could not deliver for now: read the rest of the input into the copy, sync
 * it into the queue, and say so. Success means exit 0: the message is durably kept.
 */
static int
queue_message(struct delivery *d, struct source *src, struct err *e)
{
	struct err why = *e;
	char reply[QUEUE_REPLY_MAX];

	snprintf(reply, sizeof(reply), "%s", why.text);
	/* Draining completes the copy (source_complete); a copy error shows at the commit. */
	if (source_drain(src, e) < 0 || queue_copy_commit(&d->copy, reply, e) < 0) {
		d->copying = false;
		struct err qe = *e;
		/* Never 0 when the message is not safely kept. */
		err_set(e, qe.kind == ERR_NONE ? ERR_OS : qe.kind, "%s; and %s", why.text, qe.text);
		return -1;
	}
	d->copying = false;
	fprintf(stderr, "postie: queued as %s: %s; `postie -q` or the next run sends it\n",
		d->copy.id, why.text);
	return 0;
}

/*
 * Send one queue entry over SS to its recipients still pending, and record the outcome:
 * delivered (removed), refused for good (failed/), or to be tried again (backoff).
 */
static int
submit_entry(struct session *ss, struct queue_entry *en, bool last)
{
	struct queue_meta *m = &en->meta;
	struct source src;
	struct err e;
	char **rcpts = xcalloc(m->nrcpts + 1, sizeof(char *));
	int *codes = xcalloc(m->nrcpts + 1, sizeof(int));
	size_t n = 0;
	int rc = -1;

	err_clear(&e);
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			rcpts[n++] = m->rcpts[i].addr;
	struct err qe;
	err_clear(&qe);
	int qrc = 0;
	source_init(&src, NULL, 0, en->fd, m->ignore_dots, NULL);
	if (n == 0) {
		qrc = queue_entry_retry(en, NULL, &qe);
		rc = 0;
	} else if (lseek(en->fd, 0, SEEK_SET) < 0 || source_read_ahead(&src, &e) < 0) {
		if (e.kind == ERR_NONE)
			err_set(&e, ERR_OS, "read queued message %s: %s", en->id, strerror(errno));
		qrc = queue_entry_retry(en, e.text, &qe);
	} else if (session_send(ss, m->sender, rcpts, n, codes, &src, last, &e) == 0) {
		log_info("queued message %s delivered", en->id);
		/* Recipients refused at an earlier attempt keep the entry on record in
		 * failed/; with none, it is removed. */
		for (size_t i = 0; i < m->nrcpts; i++)
			if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
				queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_SENT, NULL);
		qrc = queue_entry_retry(en, NULL, &qe);
		rc = 0;
	} else {
		/* Recipients refused for good are never tried again; the others wait. */
		for (size_t i = 0, j = 0; i < m->nrcpts; i++) {
			if (m->rcpts[i].state != QUEUE_RCPT_PENDING)
				continue;
			if (codes[j] >= 500)
				queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_FAILED, e.text);
			j++;
		}
		warn("queued message %s: %s", en->id, e.text);
		if (e.kind == ERR_PERM || e.kind == ERR_DATA || e.kind == ERR_PROTO)
			qrc = queue_entry_fail(en, e.text, &qe);
		else
			qrc = queue_entry_retry(en, e.text, &qe);
	}
	/* The entry itself stays as it was (still due): only this attempt goes unrecorded. */
	if (qrc < 0)
		warn("queued message %s: this attempt could not be recorded: %s", en->id, qe.text);
	source_fini(&src);
	free(rcpts);
	free(codes);
	return rc;
}

/* Send up to PIGGYBACK_MAX due entries of the account over the open session. */
static void
piggyback(struct session *ss, struct queue_iter *it)
{
	struct queue_entry en;
	struct err e;

	for (size_t k = 0; k < PIGGYBACK_MAX && ss->open; k++) {
		if (queue_iter_next(it, &en, &e) <= 0)
			break;
		submit_entry(ss, &en, false);
	}
}

int
submit_run(const struct opts *o, int fd, struct err *e)
{
	struct delivery d = {.o = o};
	struct source src;
	struct session ss = {0};
	struct queue_iter it = {0};
	bool iterating = false;

	msg_init(&d.msg);
	buf_init(&d.password, BUF_MAX_SECRET);
	d.password.secret = true;
	source_init(&src, NULL, 0, fd, false, NULL);
	ss.s.conn.fd = -1;
	int rc = prepare(&d, &src, fd, e);
	if (rc == 0) {
		/* Due entries of this account go over the same session after this message; with
		 * none, QUIT is pipelined behind it. */
		struct queue_filter f = {.account = d.acct->name, .max = PIGGYBACK_MAX};
		iterating = d.queue_open && queue_iter_start(&d.q, &it, &f, NULL) == 0;
		bool more = iterating && it.n > 0;
		rc = session_open(&ss, d.acct, d.password.data, e);
		buf_fini(&d.password);
		if (rc == 0)
			rc = session_send(&ss, d.sender, d.rcpts.v, d.rcpts.n, NULL, &src, !more, e);
		/* session_send dropped the copy the moment the server took the message. */
		if (d.copying && !src.copy)
			d.copying = false;
		if (rc == 0 && more)
			piggyback(&ss, &it);
		session_close(&ss, rc < 0 ? e : NULL);
		if (rc < 0 && d.copying && temporary(e))
			rc = queue_message(&d, &src, e);
	}
	if (iterating)
		queue_iter_fini(&it);
	if (d.copying)
		queue_copy_discard(&d.copy);
	free(d.meta.rcpts);
	if (d.queue_open)
		queue_close(&d.q);
	source_fini(&src);
	buf_fini(&d.password);
	free(d.sender);
	addr_list_fini(&d.rcpts);
	msg_fini(&d.msg);
	profile_fini(&d.prof);
	return rc;
}

/* The first account of the profile called NAME, with its password; NULL with e set. */
static const struct account *
flush_account(struct profile *prof, const char *name, struct buf *password, struct err *e)
{
	const struct account *a = profile_find(prof, name);
	if (!a) {
		err_set(e, ERR_CONFIG, "flush queue: account %s is no longer in the profile", name);
		return NULL;
	}
	buf_reset(password);
	if (check_policy(a, e) < 0 || get_password(a, password, e) < 0)
		return NULL;
	return a;
}

int
submit_flush(const struct opts *o, struct err *e)
{
	struct profile prof = {0};
	struct queue q;
	struct queue_iter it;
	struct queue_entry en;
	struct session ss = {0};
	struct buf password;
	const struct account *a = NULL;
	char *current = NULL; /* the account of the open session, or of the last failure */
	struct err why;
	size_t delivered = 0, deferred = 0;

	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	const struct account *qa = o->account ? profile_find(&prof, o->account)
		: profile_find(&prof, "default");
	if (!qa && o->account) {
		profile_fini(&prof);
		return err_set(e, ERR_CONFIG, "flush queue: no account %s in the profile",
			o->account);
	}
	/* The queue directory is the default account's (or -a's); every entry names its own
	 * account for the session. */
	struct account none = {.queue = true};
	if (!open_queue(&q, qa ? qa : &none, false)) {
		profile_fini(&prof);
		return err_set(e, ERR_OS, "flush queue: the queue cannot be opened");
	}
	buf_init(&password, BUF_MAX_SECRET);
	password.secret = true;
	ss.s.conn.fd = -1;
	err_clear(&why);
	struct queue_filter f = {
		.account = o->account,
		.rcpt = o->queue_rcpt,
		.id = o->queue_id,
		.force = true,
	};
	int rc = queue_iter_start(&q, &it, &f, e);
	int got;
	while (rc == 0 && (got = queue_iter_next(&it, &en, e)) > 0) {
		if (!current || strcmp(current, en.meta.account) != 0) {
			/* One session per account (entries come grouped by account). */
			session_close(&ss, why.kind ? &why : NULL);
			free(current);
			current = xstrdup(en.meta.account);
			err_clear(&why);
			a = flush_account(&prof, current, &password, &why);
			if (a && session_open(&ss, a, password.data, &why) < 0)
				warn("flush queue: account %s: %s", current, why.text);
			else if (!a)
				warn("%s", why.text);
		} else if (a && !ss.open && why.kind == ERR_NONE) {
			/* The last entry abandoned its connection: a new one for the next. */
			session_close(&ss, NULL);
			if (session_open(&ss, a, password.data, &why) < 0)
				warn("flush queue: account %s: %s", current, why.text);
		}
		if (!ss.open) {
			/* The account cannot be reached now: every entry of it waits. */
			queue_entry_retry(&en, why.text, NULL);
			deferred++;
			continue;
		}
		if (submit_entry(&ss, &en, false) == 0)
			delivered++;
		else
			deferred++;
	}
	if (rc == 0 && got < 0)
		rc = -1;
	session_close(&ss, why.kind ? &why : NULL);
	queue_iter_fini(&it);
	/* Quiet when all went (cron mails whatever a job prints). */
	if (deferred || it.expired)
		fprintf(stderr, "postie: flush queue: %zu delivered, %zu not yet (see mailq)%s\n",
			delivered, deferred, it.expired ? "; some expired into failed/" : "");
	else
		log_info("flush queue: %zu delivered", delivered);
	free(current);
	buf_fini(&password);
	queue_close(&q);
	profile_fini(&prof);
	return rc;
}

int
submit_list(const struct opts *o, struct err *e)
{
	struct profile prof = {0};
	struct queue q;

	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	const struct account *a = profile_find(&prof, o->account ? o->account : "default");
	struct account none = {.queue = true};
	int rc = 0;
	if (!open_queue(&q, a ? a : &none, false))
		rc = err_set(e, ERR_OS, "list queue: the queue cannot be opened");
	else {
		rc = queue_list(&q, stdout, e);
		queue_close(&q);
	}
	profile_fini(&prof);
	return rc;
}
