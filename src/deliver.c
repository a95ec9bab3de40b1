/*
 * deliver: one run. From options, profile and the message on standard input to the server's
 * final reply, or to a durable queue entry: the account and the sender chosen, the envelope
 * checked, the header rewritten, the copy for the queue begun, the password got, and only
 * then the session; every check that needs no server runs before the connection is made, so
 * a bad address, a bad profile or a failing password command never costs a connection and
 * never sends a byte. A few due queue entries of the account follow over the same session.
 */
#include "deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "dkim.h"
#include "flush.h"
#include "log.h"
#include "priv.h"
#include "session.h"
#include "smtp.h"
#include "source.h"

/* How many due queue entries of its account an ordinary run sends after its own message:
 * enough to drain a short outage, few enough never to hold a cron job up for long. */
#define PIGGYBACK_MAX 8

void
deliver_init(struct delivery *d, const struct opts *o)
{
	*d = (struct delivery){.o = o};
	msg_init(&d->msg);
	buf_init(&d->password, BUF_MAX_SECRET);
	d->password.secret = true;
	buf_init(&d->signed_head, 2 * BUF_MAX_HEADER);
	d->spool = -1;
}

void
deliver_fini(struct delivery *d)
{
	if (d->copying)
		queue_copy_discard(&d->copy);
	free(d->meta.rcpts);
	if (d->queue_open)
		queue_close(&d->q);
	buf_fini(&d->password);
	buf_fini(&d->signed_head);
	if (d->spool >= 0)
		close(d->spool);
	free(d->claimed);
	free(d->sender);
	free(d->mail_params);
	free(d->rcpt_params);
	addr_list_fini(&d->rcpts);
	msg_fini(&d->msg);
	account_choice_fini(&d->ac);
}

int
deliver_load_account(struct delivery *d, struct err *e)
{
	if (account_load(&d->ac, d->o, d->claimed, d->claimed_kind, e) < 0)
		return -1;
	d->acct = d->ac.acct;
	return 0;
}

/*
 * The envelope sender: the account's `from` (msmtp's %U, %H, %C, %M expanded; auto_from
 * makes it USER@maildomain, or USER@ the host's canonical name), unless -f or the From field
 * (--read-envelope-from) claims another and allow_from_override lets it. A bare name gets
 * the maildomain.
 */
int
deliver_choose_sender(struct delivery *d, struct err *e)
{
	const struct account *a = d->acct;
	const struct opts *o = d->o;
	char *own = NULL, *pattern = NULL;
	int rc;

	if (a->auto_from) {
		struct buf b;
		buf_init(&b, 4096);
		rc = buf_printf(&b, e, "%%U@%s",
		                a->maildomain && *a->maildomain ? a->maildomain : "%C");
		if (rc == 0)
			pattern = xstrdup(b.data);
		buf_fini(&b);
		if (rc < 0)
			return -1;
	} else if (a->from) {
		pattern = xstrdup(a->from);
	}
	if (pattern) {
		rc = aliases_substitute(pattern, ALIASES_MAILNAME, &own, e);
		free(pattern);
		if (rc < 0)
			return -1;
	}
	const char *use = own;
	enum err_kind kind = ERR_CONFIG;
	char *claimed = NULL;
	/* SEC-18: a claimed sender is checked even when it is not used. */
	if (d->claimed && addr_envelope(d->claimed, true, d->claimed_kind, &claimed, e) < 0) {
		free(own);
		return -1;
	}
	if (claimed) {
		const char *flag = o->read_envelope_from ? "--read-envelope-from" : "-f";
		if (!own || a->allow_from_override) {
			use = claimed;
			kind = d->claimed_kind;
		} else {
			log_info("%s %s ignored: account %s has allow_from_override off; the "
			         "envelope sender stays %s",
			         flag, claimed, a->name, own);
		}
	}
	if (!use && strcmp(a->name, ACCOUNT_CMDLINE) == 0)
		rc = err_set(e, ERR_USAGE,
		             "choose envelope sender: --host takes every setting "
		             "from the command line; pass -f ADDRESS too");
	else if (!use)
		rc = err_set(
		    e, ERR_CONFIG,
		    "choose envelope sender: account %s has no `from`; add `from ADDRESS` to "
		    "it in %s or pass -f ADDRESS",
		    a->name, a->file);
	else
		rc = addr_envelope(use, true, kind, &d->sender, e);
	free(own);
	free(claimed);
	if (rc == 0)
		rc = account_qualify(a, &d->sender, e);
	return rc;
}

/*
 * Every recipient: the operands, and with -t the To, Cc and Bcc fields; each resolved
 * through the aliases file and maildomain (aliases_resolve), duplicates dropped.
 */
int
deliver_collect_recipients(struct delivery *d, struct err *e)
{
	const struct account *a = d->acct;
	struct addr_list l = {0};
	int rc = 0;

	/* SEC-22: every operand must be valid; one bad element refuses the whole run. */
	for (size_t i = 0; i < d->o->nrcpts && rc == 0; i++) {
		const char *r = d->o->rcpts[i];
		if (r[0] == '-')
			rc = err_set(
			    e, ERR_USAGE,
			    "check recipient \"%s\": begins with '-'; flags go before recipients",
			    r);
		else
			rc = addr_list_parse(&l, r, strlen(r), ERR_USAGE, e);
	}
	if (rc == 0 && d->o->read_rcpts)
		rc = msg_recipients(&d->msg, &l, e);
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		size_t before = d->rcpts.n;
		rc = aliases_resolve(d->ac.aliases.n ? &d->ac.aliases : NULL, a->maildomain, l.v[i],
		                     &d->rcpts, e);
		if (rc == 0 && log_is_verbose() &&
		    (d->rcpts.n != before + 1 || strcmp(d->rcpts.v[before], l.v[i]) != 0)) {
			for (size_t j = before; j < d->rcpts.n; j++)
				log_info("recipient %s becomes %s", l.v[i], d->rcpts.v[j]);
		}
	}
	if (rc == 0 && d->rcpts.n == 0)
		rc = err_set(e, d->o->read_rcpts ? ERR_DATA : ERR_USAGE,
		             "collect recipients: none; name them after the flags%s",
		             d->o->read_rcpts ? " or in To, Cc or Bcc" : " or pass -t");
	addr_list_fini(&l);
	return rc;
}

/* The header rewriting the account asks for (msmtp's set_*_header, remove_bcc_headers,
 * undisclosed_recipients, from_full_name; postie's aliases in To and Cc). */
static int
rewrite_header(struct delivery *d, struct err *e)
{
	const struct account *a = d->acct;
	const char *dom = addr_domain(d->sender);
	struct msg_opts mo = {
	    .sender = d->sender,
	    .fullname = d->o->fullname ? d->o->fullname : a->from_full_name,
	    .fullname_what = d->o->fullname ? "-F" : "from_full_name",
	    .msgid_domain = dom && *dom ? dom : a->domain,
	    .remove_bcc = a->remove_bcc_headers,
	    .set_from = a->set_from_header == PROFILE_HDR_ON    ? MSG_FROM_ON
	                : a->set_from_header == PROFILE_HDR_OFF ? MSG_FROM_OFF
	                                                        : MSG_FROM_AUTO,
	    .no_date = a->set_date_header == PROFILE_HDR_OFF,
	    .no_msgid = a->set_msgid_header == PROFILE_HDR_OFF,
	    .undisclosed = a->undisclosed_recipients,
	    .aliases = d->ac.aliases.n ? &d->ac.aliases : NULL,
	    .maildomain = a->maildomain,
	};
	return msg_rewrite(&d->msg, &mo, e);
}

/* DSN and BODY for this message: the command line's -N, -R, -V, -B over the account's
 * dsn_notify and dsn_return; and the same as MAIL and RCPT parameters for the queue. */
static int
build_params(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;
	const struct account *a = d->acct;

	d->params = (struct txn_params){
	    .dsn_notify = o->dsn_notify ? o->dsn_notify : a->dsn_notify,
	    .dsn_ret = o->dsn_ret ? o->dsn_ret : a->dsn_return,
	    .envid = o->envid,
	    .body = o->body,
	};
	return queue_params_encode(&d->params, &d->mail_params, &d->rcpt_params, e);
}

static int
body_tap(void *ctx, const char *p, size_t n, struct err *e)
{
	(void)e;
	dkim_body_feed(ctx, p, n);
	return 0;
}

/* The d= of the signature: dkim_domain, else the domain of the From field postie sends. */
static int
dkim_domain(struct delivery *d, char **out, struct err *e)
{
	char *from = NULL;

	if (d->acct->dkim_domain) {
		*out = xstrdup(d->acct->dkim_domain);
		return 0;
	}
	struct msg view = d->msg;
	view.head = d->msg.out;
	if (view.head.len >= 2)
		view.head.len -= 2; /* the empty line */
	if (msg_sender(&view, &from, e) < 0)
		return -1;
	const char *dom = addr_domain(from);
	*out = dom && *dom ? xstrdup(dom) : NULL;
	free(from);
	if (!*out)
		return err_set(e, ERR_DATA,
		               "sign with DKIM: the From field has no domain; set dkim_domain in "
		               "account %s",
		               d->acct->name);
	return 0;
}

int
deliver_dkim_key(const struct account *a, struct dkim_key *k, struct err *e)
{
	if (!a->dkim_selector || !*a->dkim_selector)
		return err_set(e, ERR_CONFIG,
		               "sign with DKIM: account %s has dkim_key but no dkim_selector; add "
		               "`dkim_selector NAME` to it in %s",
		               a->name, a->file);
	return dkim_key_load(k, a->dkim_key, a->origin == PROFILE_ORIGIN_SYSTEM, e);
}

/*
 * DKIM (dkim_key): the signature goes before the header, so the body is read whole first,
 * into d->spool as it will be sent, hashing it on the way; then the rewritten header is
 * signed and d->signed_head is the signature field and that header. What is queued is this
 * signed message: a retry sends the same signature (t= is when it was signed).
 */
static int
sign_message(struct delivery *d, int fd, struct err *e)
{
	const struct account *a = d->acct;
	struct dkim_key key;
	struct dkim_body body;
	unsigned char bh[DKIM_HASH_LEN];
	char *domain = NULL;

	if (deliver_dkim_key(a, &key, e) < 0)
		return -1;
	if (dkim_domain(d, &domain, e) < 0 || dkim_body_init(&body, e) < 0) {
		dkim_key_fini(&key);
		free(domain);
		return -1;
	}
	d->spool = source_spool(d->queue_open ? d->q.tmp : -1, d->msg.rest.data, d->msg.rest.len,
	                        fd, d->msg.has_body_sep, !d->o->ignore_dots, body_tap, &body, e);
	int rc = d->spool < 0 ? -1 : 0;
	if (rc == 0) {
		dkim_body_end(&body, bh);
		struct dkim_sign s = {.key = &key,
		                      .domain = domain,
		                      .selector = a->dkim_selector,
		                      .headers = a->dkim_headers,
		                      .now = time(NULL)};
		rc = dkim_sign_header(&s, d->msg.out.data, d->msg.out.len, bh, &d->signed_head, e);
	}
	if (rc == 0)
		rc = buf_append(&d->signed_head, d->msg.out.data, d->msg.out.len, e);
	dkim_body_fini(&body);
	dkim_key_fini(&key);
	free(domain);
	if (rc == 0)
		log_info("signed with DKIM: d=%s s=%s", a->dkim_domain ? a->dkim_domain : "(From)",
		         a->dkim_selector);
	return rc;
}

static int
prepare(struct delivery *d, struct source *src, int fd, struct err *e)
{
	const struct opts *o = d->o;

	/* --read-envelope-from: the From field names the sender, and like -f it may choose
	   the account; so the header comes first. */
	if (o->read_envelope_from) {
		if (msg_read_header(&d->msg, fd, e) < 0)
			return -1;
		d->msg_read = true;
		if (msg_sender(&d->msg, &d->claimed, e) < 0)
			return -1;
		d->claimed_kind = ERR_DATA;
	} else if (o->sender) {
		d->claimed = xstrdup(o->sender);
		d->claimed_kind = ERR_USAGE;
	}
	if (deliver_load_account(d, e) < 0 || deliver_choose_sender(d, e) < 0)
		return -1;
	log_info("account %s from %s:%u", d->acct->name, d->acct->file, d->acct->line);
	if (account_check_policy(d->acct, e) < 0)
		return -1;
	if (!d->msg_read && msg_read_header(&d->msg, fd, e) < 0)
		return -1;
	d->msg_read = true;
	if (deliver_collect_recipients(d, e) < 0 || rewrite_header(d, e) < 0 ||
	    build_params(d, e) < 0)
		return -1;

	/* The copy starts with what the encoder is given: the rewritten header, then the
	 * body as read (the header scanner's read-ahead first). */
	if (d->acct->queue)
		d->queue_open = flush_open_queue(&d->q, d->acct, true);
	bool signing = d->acct->dkim_key != NULL;
	if (signing && sign_message(d, fd, e) < 0)
		return -1;
	const struct buf *head = signing ? &d->signed_head : &d->msg.out;
	if (d->queue_open) {
		if (queue_copy_begin(&d->q, &d->copy, e) < 0)
			return -1;
		d->copying = true;
		queue_copy_write(&d->copy, head->data, head->len, NULL);
		if (d->msg.rest.len && !signing)
			queue_copy_write(&d->copy, d->msg.rest.data, d->msg.rest.len, NULL);
		d->meta.account = d->acct->name;
		d->meta.profile = d->acct->file; /* SEC-42: only this file's account sends it */
		d->meta.sender = d->sender;
		d->meta.mail_params = d->mail_params;
		d->meta.ignore_dots = o->ignore_dots;
		d->meta.ip_family = flush_argv_family(o);
		d->meta.nrcpts = d->rcpts.n;
		d->meta.rcpts = xcalloc(d->rcpts.n, sizeof(*d->meta.rcpts));
		for (size_t i = 0; i < d->rcpts.n; i++) {
			d->meta.rcpts[i].addr = d->rcpts.v[i];
			d->meta.rcpts[i].params = d->rcpt_params;
		}
	}
	/* Signed, the body is the spool's: no "." line is left in it (-i or not). */
	source_init(src, head->data, head->len, signing ? d->spool : fd, signing || o->ignore_dots,
	            d->copying ? &d->copy : NULL);
	src->meta = d->copying ? &d->meta : NULL;
	/* The header scanner read past the header: those bytes come first. */
	if (!signing && d->msg.rest.len &&
	    buf_append(&src->ahead, d->msg.rest.data, d->msg.rest.len, e) < 0)
		return -1;
	src->at_end = !signing && !d->msg.has_body_sep;
	if (source_read_ahead(src, e) < 0)
		return -1;
	if (account_get_password(d->acct, &d->password, e) < 0)
		return -1;
	/* SEC-45: the secrets are read; from here on a setgid postie needs its group only for
	 * the system queue. Without it, the group is given up for good (not in -bs, where the
	 * next message may be a system account's). */
	if (!d->o->serving && !(d->acct->queue && flush_system_queue(d->acct)))
		priv_give_up();
	return 0;
}

/*
 * The session could not deliver for now: read the rest of the input into the copy, sync
 * it into the queue, and say so. Success means exit 0: the message is durably kept. With
 * LMTP_CODES (LMTP, RFC 2033 §4.2: one reply per recipient after the data), recipients the
 * server took have the message and those it refused for good never get it: only the others
 * wait in the queue.
 */
static int
queue_message(struct delivery *d, struct source *src, const int *lmtp_codes, struct err *e)
{
	struct err why = *e;
	char reply[QUEUE_REPLY_MAX];

	snprintf(reply, sizeof(reply), "%s", why.text);
	/* Draining completes the copy (source_complete); a copy error shows at the commit. */
	int rc = source_drain(src, e);
	if (rc == 0 && why.kind == ERR_UNSURE)
		d->copy.meta.unsure = 1; /* SEC-36: counted towards UNSURE_TRIES */
	/* Every recipient of a new copy is pending: the codes are theirs, in order. */
	if (rc == 0 && lmtp_codes)
		flush_note_replies(&d->copy.meta, lmtp_codes, true, why.text);
	if (rc < 0 || queue_copy_commit(&d->copy, reply, e) < 0) {
		d->copying = false;
		struct err qe = *e;
		/* Never 0 when the message is not safely kept. */
		err_set(e, qe.kind == ERR_NONE ? ERR_OS : qe.kind, "%s; and %s", why.text, qe.text);
		return -1;
	}
	d->copying = false;
	/* ERR_UNSURE: the caller says so itself, exit 76 (SEC-36); -bs answers 250. */
	if (why.kind != ERR_UNSURE || d->o->serving)
		fprintf(stderr,
		        "postie: queued as %s: %s; `postie -q` or the next run sends "
		        "it\n",
		        d->copy.id, why.text);
	char waiting[128];
	fprintf(stderr, "postie: %s\n", flush_waiting(&d->q, waiting, sizeof(waiting)));
	return 0;
}

/* Send up to PIGGYBACK_MAX due entries of the account over the open session: only those
 * queued through this very account (SEC-42); the others are left as they are. */
static void
piggyback(struct session *ss, struct queue_iter *it, const struct opts *o)
{
	struct queue_entry en;
	struct err e;
	/* The profile's family, unless this run's own -4/-6 replaced it in the account. */
	int family = flush_argv_family(o) ? -1 : ss->acct->ip_family;

	for (size_t k = 0; k < PIGGYBACK_MAX && ss->open; k++) {
		if (queue_iter_next(it, &en, &e) <= 0)
			break;
		if (!flush_entry_bound(&en.meta, ss->acct) ||
		    !flush_family_fits(ss, &en.meta, family)) {
			queue_entry_release(&en); /* left for a flush (-4, -6: its own family) */
			continue;
		}
		flush_entry(ss, &en, false);
	}
	/* Senders of entries that failed meanwhile hear of it over this session. */
	if (ss->open)
		flush_send_notices(ss, it->q, &it->f);
}

/*
 * The message was not delivered (E): keep it in the queue when the failure is temporary or,
 * with LMTP_CODES (LMTP's replies after the data), some recipient may still get it. 0 once
 * it is durably kept (T then names the entry), but for a verdict out of step (SEC-36).
 */
static int
keep(struct delivery *d, struct source *src, const int *lmtp_codes, struct flush_attempt *t,
     struct err *e)
{
	/* LMTP: when some recipients got a 4xx (or no reply) after the data, they wait in the
	 * queue whatever the others' 5xx made the error's kind. */
	bool lmtp_retry = false;
	for (size_t i = 0; lmtp_codes && i < d->rcpts.n; i++)
		lmtp_retry |= lmtp_codes[i] < 500 && lmtp_codes[i] != 250;
	if (!d->copying || !(flush_is_temporary(e) || lmtp_retry))
		return -1;
	struct err why = *e;
	int rc = queue_message(d, src, lmtp_codes, e);
	if (rc == 0) {
		t->queued = d->copy.id;
		*e = why; /* the log says why it was queued */
	}
	/*
	 * SEC-36: a verdict that was not a 250 in step is not delivery, and not a mere delay
	 * either: the server is out of step with us. The message is kept (nothing lost) and
	 * the run still fails with 76, so the fault is seen; the caller that retries may cause
	 * a second copy, never none. A -bs caller is told 250 instead (the queue has it): it
	 * would retry.
	 */
	if (rc == 0 && why.kind == ERR_UNSURE && !d->o->serving) {
		err_set_code(e, ERR_UNSURE, why.code,
		             "%s; kept in the queue as %s, which `postie -q` or the next run sends",
		             why.text, d->copy.id);
		rc = -1;
	}
	return rc;
}

/* Start the snapshot of this account's due entries that go over the session after this
 * message (at most PIGGYBACK_MAX). False when there is no queue to read. FILES (two) must
 * outlive IT: the filter points at it. */
static bool
start_piggyback(struct delivery *d, struct queue_iter *it, const char *files[2])
{
	files[0] = d->acct->file;
	files[1] = NULL;
	struct queue_filter f = {.account = d->acct->name,
	                         .max = PIGGYBACK_MAX,
	                         .profiles = files,
	                         .legacy = d->acct->origin == PROFILE_ORIGIN_USER ||
	                                   d->acct->origin == PROFILE_ORIGIN_SYSTEM};
	return d->queue_open && queue_iter_start(&d->q, it, &f, NULL) == 0;
}

/*
 * The session: open, send this message, then the due entries of the account; keep the
 * message in the queue when it could not go now. T gets what the log line needs (the final
 * reply's text copied into FINAL_TEXT, N bytes).
 */
static int
transmit(struct delivery *d, struct source *src, struct flush_attempt *t, char *final_text,
         size_t n, struct err *e)
{
	struct session ss;
	struct queue_iter it = {0};
	/* each recipient's RCPT reply, or with LMTP its reply after the data */
	int *codes = xcalloc(d->rcpts.n + 1, sizeof(int));
	const char *text;

	session_init(&ss);
	/* Due entries of this account go over the same session after this message; with
	 * none, QUIT is pipelined behind it. */
	const char *files[2];
	bool iterating = start_piggyback(d, &it, files);
	bool more = iterating && it.n > 0;
	ss.params = &d->params;
	int rc = session_open(&ss, d->acct, d->password.data, e);
	buf_fini(&d->password);
	t->tls = session_tls(&ss);
	t->auth = rc == 0 && d->acct->auth;
	t->port = ss.port;
	if (rc == 0)
		rc = session_send(&ss, d->sender, d->rcpts.v, d->rcpts.n, codes, src, !more, e);
	bool per_rcpt = rc < 0 && ss.per_rcpt;
	/* session_send dropped the copy the moment the server took the message. */
	if (d->copying && !src->copy)
		d->copying = false;
	t->size = rc == 0 ? (long long)src->size : -1;
	/* Before piggybacked entries make replies of their own. */
	t->final_code = session_final(&ss, &text);
	snprintf(final_text, n, "%s", text);
	t->final_text = final_text;
	if (rc == 0 && more)
		piggyback(&ss, &it, d->o);
	session_close(&ss, rc < 0 ? e : NULL);
	if (rc < 0)
		rc = keep(d, src, per_rcpt ? codes : NULL, t, e);
	if (iterating)
		queue_iter_fini(&it);
	free(codes);
	return rc;
}

int
deliver_run(const struct opts *o, int fd, struct err *e)
{
	struct delivery d;
	struct source src;
	struct flush_attempt t = {.size = -1};
	char final_text[sizeof(((struct smtp *)0)->final_text)] = "";
	char *msgid = NULL;

	deliver_init(&d, o);
	source_init(&src, NULL, 0, fd, false, NULL);
	int rc = prepare(&d, &src, fd, e);
	if (rc == 0) {
		msgid = msg_msgid(&d.msg);
		rc = transmit(&d, &src, &t, final_text, sizeof(final_text), e);
	}
	/* msmtp's logfile and syslog: every attempt of an account that has them. */
	if (d.acct) {
		t.acct = d.acct;
		t.sender = d.sender;
		t.rcpts = d.rcpts.v;
		t.n = d.rcpts.n;
		t.msgid = msgid;
		flush_log_attempt(&t, rc, e);
		if (rc == 0)
			err_clear(e);
	}
	source_fini(&src);
	free(msgid);
	deliver_fini(&d);
	return rc;
}
