/*
 * submit: one delivery, and queue flushes. From options, profile and the message on
 * standard input to the server's final reply, or to a durable queue entry. Every check that
 * needs no server runs before the connection is made, so a bad address, a bad profile or a
 * failing password command never costs a connection and never sends a byte.
 *
 * Also the modes that stop short of sending: -bv (the recipients as they would go),
 * --pretend (the account's settings) and --serverinfo (what the server offers).
 */
#include "submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "addr.h"
#include "aliases.h"
#include "log.h"
#include "maillog.h"
#include "msg.h"
#include "profile.h"
#include "queue.h"
#include "sasl.h"
#include "secret.h"
#include "session.h"
#include "smtp.h"

/* How many due queue entries of its account an ordinary run sends after its own message:
 * enough to drain a short outage, few enough never to hold a cron job up for long. */
#define PIGGYBACK_MAX 8
/* After this many attempts whose verdict was out of step (SEC-36), a queued message moves
 * to failed/ instead of going to that server again. */
#define UNSURE_TRIES 3
/* The account msmtp's --host makes from the command line alone. */
#define CMDLINE_ACCOUNT "command-line"
/* The queue's mail-params and rcpt-params: RET=, ENVID= (xtext, RFC 3461 §4.4: at most 100
 * characters before encoding), BODY=, NOTIFY=. */
#define PARAMS_MAX 512

struct delivery {
	const struct opts *o;
	struct profile prof;
	struct account *acct;
	struct aliases aliases; /* the account's aliases file, or empty */
	char *claimed;          /* the sender -f or (--read-envelope-from) the From field names */
	enum err_kind claimed_kind; /* ERR_USAGE for -f, ERR_DATA for the From field */
	char *sender;               /* normalised envelope sender; "" is the null sender */
	struct addr_list rcpts;     /* normalised, aliases resolved, without duplicates */
	struct msg msg;
	bool msg_read;
	struct buf password; /* secret */
	struct queue q;      /* open when the account queues */
	bool queue_open;
	struct queue_copy copy;
	bool copying;             /* copy holds this message (begun, not yet committed/discarded) */
	struct queue_meta meta;   /* the copy's envelope */
	struct txn_params params; /* DSN and BODY for MAIL and RCPT */
	char *mail_params;        /* the same as the queue keeps them, or NULL */
	char *rcpt_params;
};

static void
delivery_init(struct delivery *d, const struct opts *o)
{
	*d = (struct delivery){.o = o};
	msg_init(&d->msg);
	buf_init(&d->password, BUF_MAX_SECRET);
	d->password.secret = true;
}

static void
delivery_fini(struct delivery *d)
{
	if (d->copying)
		queue_copy_discard(&d->copy);
	free(d->meta.rcpts);
	if (d->queue_open)
		queue_close(&d->q);
	buf_fini(&d->password);
	free(d->claimed);
	free(d->sender);
	free(d->mail_params);
	free(d->rcpt_params);
	addr_list_fini(&d->rcpts);
	msg_fini(&d->msg);
	aliases_fini(&d->aliases);
	profile_fini(&d->prof);
}

static bool
has_override(const struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->noverrides; i++)
		if (strcmp(o->overrides[i].name, name) == 0)
			return true;
	return false;
}

static int
choose_account(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;

	if (o->account) {
		d->acct = profile_find(&d->prof, o->account);
		if (!d->acct)
			return err_set(
			    e, ERR_CONFIG,
			    "choose account %s: no such account in the profile; check -a",
			    o->account);
		return 0;
	}
	if (d->claimed) {
		char *norm = NULL;
		if (addr_envelope(d->claimed, true, d->claimed_kind, &norm, e) < 0)
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

/* msmtp(1), `domain`: %H, %C and %M work there as in `from`. */
static int
expand_domain(struct account *a, struct err *e)
{
	char *dom;

	if (!a->domain || !strchr(a->domain, '%'))
		return 0;
	if (aliases_substitute(a->domain, ALIASES_MAILNAME, &dom, e) < 0)
		return -1;
	free(a->domain);
	a->domain = dom;
	return 0;
}

/*
 * The profile and the account, with the command line's settings over it; then what the
 * account's settings imply: the patterns of `domain`, the aliases file. msmtp(1), USAGE:
 * --host means the settings of the command line alone, no profile. Whatever the command
 * line changed of where the mail goes, it cannot take a secret or the queue along (SEC-41,
 * SEC-42; argv can be a caller's, CVE-2016-10033).
 */
static int
load_account(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;
	struct account *a;

	if (has_override(o, "host")) {
		static const char text[] = "account " CMDLINE_ACCOUNT "\n";
		if (o->account)
			return err_set(e, ERR_USAGE,
			               "parse flags: -a %s and --host: choose one; "
			               "--host takes every setting from the command line",
			               o->account);
		if (profile_parse(&d->prof, "command line", text, sizeof(text) - 1, true, e) < 0)
			return -1;
		d->acct = profile_find(&d->prof, CMDLINE_ACCOUNT);
		if (!d->acct)
			fatal("submit: the command-line account was not made");
		d->acct->origin = PROFILE_ORIGIN_ARGV;
	} else if (profile_load(&d->prof, POSTIE_SYSCONFIG, o->profile, e) < 0 ||
	           choose_account(d, e) < 0) {
		return -1;
	}
	a = d->acct;
	for (size_t i = 0; i < o->noverrides; i++)
		if (profile_apply(a, o->overrides[i].name, o->overrides[i].value, e) < 0)
			return -1;
	profile_finish_account(a);
	/* SEC-41: a secret goes only where the profile sends it. -bv and --pretend connect
	 * to nothing and read no secret. */
	if (o->mode != CLI_VERIFY && o->mode != CLI_PRETEND && profile_check_route(a, e) < 0)
		return -1;
	/* SEC-42: the queue belongs to the profile's destinations. A message whose route came
	 * from the command line is never kept for a flush to send where the profile says, and
	 * this run sends no other run's message (a temporary failure is 75). */
	if (!profile_route_is_own(a)) {
		if (a->queue && a->origin != PROFILE_ORIGIN_ARGV)
			log_info("account %s: --%s came from the command line: nothing is queued "
			         "or flushed by this run",
			         a->name, a->argv_route);
		a->queue = false;
	}
	if (expand_domain(a, e) < 0)
		return -1;
	if (a->aliases && *a->aliases && aliases_load(&d->aliases, a->aliases, e) < 0)
		return -1;
	return 0;
}

/* NAME qualified with the account's maildomain when it has no '@' (into *ADDR). */
static int
qualify(const struct account *a, char **addr, struct err *e)
{
	struct addr_list l = {0};

	if (!**addr || strchr(*addr, '@') || !a->maildomain || !*a->maildomain)
		return 0;
	if (aliases_resolve(NULL, a->maildomain, *addr, &l, e) < 0)
		return -1;
	free(*addr);
	*addr = xstrdup(l.v[0]);
	addr_list_fini(&l);
	return 0;
}

/*
 * The envelope sender: the account's `from` (msmtp's %U, %H, %C, %M expanded; auto_from
 * makes it USER@maildomain, or USER@ the host's canonical name), unless -f or the From field
 * (--read-envelope-from) claims another and allow_from_override lets it. A bare name gets
 * the maildomain.
 */
static int
choose_sender(struct delivery *d, struct err *e)
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
	if (!use && strcmp(a->name, CMDLINE_ACCOUNT) == 0)
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
		rc = qualify(a, &d->sender, e);
	return rc;
}

/*
 * Every recipient: the operands, and with -t the To, Cc and Bcc fields; each resolved
 * through the aliases file and maildomain (aliases_resolve), duplicates dropped.
 */
static int
collect_recipients(struct delivery *d, struct err *e)
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
		rc = aliases_resolve(d->aliases.n ? &d->aliases : NULL, a->maildomain, l.v[i],
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
	    .aliases = d->aliases.n ? &d->aliases : NULL,
	    .maildomain = a->maildomain,
	};
	return msg_rewrite(&d->msg, &mo, e);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3461 §4: xtext back into the text it encodes (ENVID from the queue). NULL when it is
 * not well-formed or holds more than -V takes (printable ASCII without space). */
static char *
xtext_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int v = (unsigned char)s[i];
		if (s[i] == '+') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			v = hi * 16 + lo;
			i += 2;
		}
		if (v < 0x21 || v > 0x7e) {
			free(out);
			return NULL;
		}
		out[k++] = (char)v;
	}
	out[k] = '\0';
	return out;
}

/* What the account asks of TLS and AUTH, checked before connecting (SEC-1, SEC-12). */
static int
check_policy(const struct account *a, struct err *e)
{
	if (!a->host)
		return err_set(e, ERR_CONFIG, "connect: account %s (%s:%u) has no `host`; add one",
		               a->name, a->file, a->line);
	/* EXTERNAL (RFC 4422 App. A) logs in with the client certificate, no user name; the
	 * mechanism check below says what it lacks. */
	if (a->auth && !a->user && !a->tls_cert_file &&
	    !(a->auth_mech && strcasecmp(a->auth_mech, "EXTERNAL") == 0))
		return err_set(
		    e, ERR_CONFIG,
		    "authenticate: account %s (%s:%u) says `auth` but has no `user`; add one",
		    a->name, a->file, a->line);
	if (a->auth && !a->tls)
		return err_set(
		    e, ERR_TLS,
		    "authenticate to %s: account %s has `tls off`; postie does not send a password "
		    "in clear. Turn TLS on (remove `tls off`)",
		    a->host, a->name);
	if (a->auth && !a->tls_certcheck && !a->tls_fingerprint && !a->tls_pin_spki)
		return err_set(
		    e, ERR_TLS,
		    "authenticate to %s: account %s has `tls_certcheck off`; postie does not send "
		    "a password to an unverified server. Pin it with `tls_fingerprint` instead",
		    a->host, a->name);
	if (a->tls && !a->tls_certcheck && !a->tls_fingerprint && !a->tls_pin_spki)
		warn("account %s: tls_certcheck off: the server's certificate is not verified",
		     a->name);
	/* A mechanism the profile names must be one postie has, usable with a password. */
	/* The channel binding is known only after TLS: assume one here (session.c checks). */
	struct sasl_creds c = {.user = a->user,
	                       .cb = (const unsigned char *)"x",
	                       .cb_len = 1,
	                       .cb_type = "tls-exporter",
	                       .have_cert = a->tls_cert_file != NULL};
	/* An account with oauth2_token_command logs in with a token, never a password. */
	if (a->oauth2_token_command)
		c.token = "x";
	else
		c.pass = "x";
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
	if (a->oauth2_token_command) {
		/* The OAuth token takes the password's place; session_open knows it by the
		 * account. Before connecting, so a failing command costs no connection. */
		buf_fini(out);
		return secret_oauth2_token(a, false, out, e) < 0 ? -1 : 0;
	}
	if (secret_get(a, out, e) < 0)
		return -1;
	/* A client certificate can log in alone (EXTERNAL, RFC 4422 App. A). */
	if (out->len == 0 && !a->tls_cert_file && !secret_implicit_ok(a))
		return err_set(
		    e, ERR_CONFIG,
		    "authenticate: account %s has no password; it comes from %s, which -C named, "
		    "and only the user's own profile gets passwords from ~/.netrc, the keyring "
		    "or systemd credentials (SEC-41): add `password`, `passwordeval` or "
		    "`password_file` to it",
		    a->name, a->file);
	if (out->len == 0 && !a->tls_cert_file)
		return err_set(
		    e, ERR_CONFIG,
		    "authenticate: account %s has no password; add `password`, `passwordeval` "
		    "or `password_file` to %s, or an entry for %s to ~/.netrc (see password_file "
		    "in postie.conf(5))",
		    a->name, a->file, a->host);
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

/* DSN and BODY for this message: the command line's -N, -R, -V, -B over the account's
 * dsn_notify and dsn_return; and the same as MAIL and RCPT parameters for the queue. */
static int
build_params(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;
	const struct account *a = d->acct;
	struct buf mp, rp;
	int rc = 0;

	d->params = (struct txn_params){
	    .dsn_notify = o->dsn_notify ? o->dsn_notify : a->dsn_notify,
	    .dsn_ret = o->dsn_ret ? o->dsn_ret : a->dsn_return,
	    .envid = o->envid,
	    .body = o->body,
	};
	buf_init(&mp, PARAMS_MAX);
	buf_init(&rp, PARAMS_MAX);
	if (d->params.dsn_ret)
		rc = buf_printf(&mp, e, " RET=%s", d->params.dsn_ret);
	if (rc == 0 && d->params.envid) {
		/* RFC 3461 §4.4: ENVID is xtext on the wire, and so in the queue. */
		char x[PARAMS_MAX];
		if (smtp_xtext(d->params.envid, strlen(d->params.envid), x, sizeof(x)) < 0)
			rc = err_set(e, ERR_USAGE, "parse flags: -V: the envelope id is too long");
		else
			rc = buf_printf(&mp, e, " ENVID=%s", x);
	}
	if (rc == 0 && d->params.body)
		rc = buf_puts(&mp, d->params.body == 8 ? " BODY=8BITMIME" : " BODY=7BIT", e);
	if (rc == 0 && d->params.dsn_notify)
		rc = buf_printf(&rp, e, "NOTIFY=%s", d->params.dsn_notify);
	if (rc == 0 && mp.len)
		d->mail_params = xstrdup(mp.data + 1);
	if (rc == 0 && rp.len)
		d->rcpt_params = xstrdup(rp.data);
	buf_fini(&mp);
	buf_fini(&rp);
	return rc;
}

/* Whether S is a NOTIFY value as the profile and -N write it: NEVER or SUCCESS,FAILURE,DELAY
 * words (smtp checks the words themselves before sending). */
static bool
notify_ok(const char *s)
{
	return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ,") == strlen(s);
}

/*
 * The DSN and BODY parameters a queue entry kept (see build_params) back into P. What is
 * not understood is left out: the entry is still sent, as without those parameters.
 * *ENVID and *NOTIFY own the strings P points at.
 */
static void
entry_params(const struct queue_meta *m, struct txn_params *p, char **envid, char **notify)
{
	*p = (struct txn_params){0};
	*envid = NULL;
	*notify = NULL;
	for (const char *s = m->mail_params; s && *s;) {
		size_t n = strcspn(s, " ");
		if (n == 8 && strncmp(s, "RET=FULL", 8) == 0)
			p->dsn_ret = "FULL";
		else if (n == 8 && strncmp(s, "RET=HDRS", 8) == 0)
			p->dsn_ret = "HDRS";
		else if (n == 13 && strncmp(s, "BODY=8BITMIME", 13) == 0)
			p->body = 8;
		else if (n == 9 && strncmp(s, "BODY=7BIT", 9) == 0)
			p->body = 7;
		else if (n > 6 && strncmp(s, "ENVID=", 6) == 0 && !*envid)
			p->envid = *envid = xtext_decode(s + 6, n - 6);
		s += n;
		s += strspn(s, " ");
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *r = m->rcpts[i].params;
		if (m->rcpts[i].state != QUEUE_RCPT_PENDING || !r)
			continue;
		if (strncmp(r, "NOTIFY=", 7) == 0 && notify_ok(r + 7))
			p->dsn_notify = *notify = xstrdup(r + 7);
		break;
	}
}

/* One line in the account's logfile and syslog (maillog) for one attempt. */
struct attempt {
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

static void
log_attempt(const struct attempt *t, int rc, const struct err *e)
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
	if (load_account(d, e) < 0 || choose_sender(d, e) < 0)
		return -1;
	log_info("account %s from %s:%u", d->acct->name, d->acct->file, d->acct->line);
	if (check_policy(d->acct, e) < 0)
		return -1;
	if (!d->msg_read && msg_read_header(&d->msg, fd, e) < 0)
		return -1;
	d->msg_read = true;
	if (collect_recipients(d, e) < 0 || rewrite_header(d, e) < 0 || build_params(d, e) < 0)
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
		d->meta.profile = d->acct->file; /* SEC-42: only this file's account sends it */
		d->meta.sender = d->sender;
		d->meta.mail_params = d->mail_params;
		d->meta.ignore_dots = o->ignore_dots;
		d->meta.nrcpts = d->rcpts.n;
		d->meta.rcpts = xcalloc(d->rcpts.n, sizeof(*d->meta.rcpts));
		for (size_t i = 0; i < d->rcpts.n; i++) {
			d->meta.rcpts[i].addr = d->rcpts.v[i];
			d->meta.rcpts[i].params = d->rcpt_params;
		}
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

/*
 * Whether the error leaves the message worth keeping for a later attempt: a temporary
 * failure (SEC-37: 75), or a verdict on the data that was not a 250 in step (SEC-36): the
 * message is not delivered, and losing it is worse than a possible second copy.
 */
static bool
temporary(const struct err *e)
{
	return e->kind == ERR_TEMP || e->kind == ERR_UNSURE;
}

/*
 * SEC-42: whether queue entry M may be sent through account A (found by M's account name):
 * A must be defined in the very file M was queued from (an entry of postie 0.1 names no
 * file: then the user's own or the system profile), and nothing of where A sends its mail
 * may have come from the command line.
 */
static bool
entry_bound(const struct queue_meta *m, const struct account *a)
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
	for (size_t i = 0; rc == 0 && lmtp_codes && i < d->copy.meta.nrcpts; i++) {
		if (lmtp_codes[i] == 250) /* SEC-36: only 250 is delivery */
			queue_rcpt_note(&d->copy.meta.rcpts[i], QUEUE_RCPT_SENT, NULL);
		else if (lmtp_codes[i] >= 500)
			queue_rcpt_note(&d->copy.meta.rcpts[i], QUEUE_RCPT_FAILED, why.text);
	}
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
	return 0;
}

/*
 * Send one queue entry over SS to its recipients still pending, with the DSN parameters it
 * kept, and record the outcome: delivered (removed), refused for good (failed/), or to be
 * tried again (backoff).
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
	struct txn_params params;
	const struct txn_params *saved = ss->params;
	char *envid, *notify;
	bool tried = false;

	err_clear(&e);
	entry_params(m, &params, &envid, &notify);
	/* Copies: queue_entry_retry frees the entry's recipients before the log line is
	 * written (log_attempt). */
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			rcpts[n++] = xstrdup(m->rcpts[i].addr);
	char *sender = xstrdup(m->sender);
	struct err qe;
	err_clear(&qe);
	int qrc = 0;
	bool kept = false;
	source_init(&src, NULL, 0, en->fd, m->ignore_dots, NULL);
	ss->params = &params;
	if (n == 0) {
		qrc = queue_entry_retry(en, NULL, &qe);
		rc = 0;
	} else if (lseek(en->fd, 0, SEEK_SET) < 0 || source_read_ahead(&src, &e) < 0) {
		if (e.kind == ERR_NONE)
			err_set(&e, ERR_OS, "read queued message %s: %s", en->id, strerror(errno));
		qrc = queue_entry_retry(en, e.text, &qe);
	} else if ((tried = true) &&
	           session_send(ss, sender, rcpts, n, codes, &src, last, &e) == 0) {
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
			/* LMTP (RFC 2033 §4.2): a 250 after the data means this one has it
			 * (SEC-36: no other reply does). */
			else if (ss->per_rcpt && codes[j] == 250)
				queue_rcpt_note(&m->rcpts[i], QUEUE_RCPT_SENT, NULL);
			j++;
		}
		size_t pending = 0;
		for (size_t i = 0; i < m->nrcpts; i++)
			pending += m->rcpts[i].state == QUEUE_RCPT_PENDING;
		warn("queued message %s: %s", en->id, e.text);
		if (ss->per_rcpt && pending == 0) {
			/* Every recipient has an outcome: the entry is done with. */
			qrc = queue_entry_retry(en, NULL, &qe);
		} else if (ss->per_rcpt) {
			qrc = queue_entry_retry(en, e.text, &qe);
			kept = true;
		} else if (!temporary(&e) &&
		           (e.kind == ERR_PERM || e.kind == ERR_DATA || e.kind == ERR_PROTO)) {
			qrc = queue_entry_fail(en, e.text, &qe);
		} else if (e.kind == ERR_UNSURE && ++m->unsure >= UNSURE_TRIES) {
			/* A server that never gives a verdict in step may deliver every copy:
			 * stop sending it, and keep it in failed/ for the user to judge. */
			char why[QUEUE_REPLY_MAX];
			snprintf(why, sizeof(why),
			         "%s; no verdict in step after %d attempts: "
			         "the server may have it; check before sending it again",
			         e.text, UNSURE_TRIES);
			qrc = queue_entry_fail(en, why, &qe);
		} else {
			qrc = queue_entry_retry(en, e.text, &qe);
			kept = true;
		}
	}
	ss->params = saved;
	if (tried) {
		struct attempt t = {.acct = ss->acct,
		                    .tls = ss->s.tls,
		                    .auth = ss->acct->auth,
		                    .port = ss->port,
		                    .sender = sender,
		                    .rcpts = rcpts,
		                    .n = n,
		                    .size = (long long)src.size,
		                    .queued = kept ? en->id : NULL,
		                    .final_code = ss->s.final_code,
		                    .final_text = ss->s.final_text};
		log_attempt(&t, rc, &e);
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

/* Send up to PIGGYBACK_MAX due entries of the account over the open session: only those
 * queued through this very account (SEC-42); the others are left as they are. */
static void
piggyback(struct session *ss, struct queue_iter *it)
{
	struct queue_entry en;
	struct err e;

	for (size_t k = 0; k < PIGGYBACK_MAX && ss->open; k++) {
		if (queue_iter_next(it, &en, &e) <= 0)
			break;
		if (!entry_bound(&en.meta, ss->acct)) {
			queue_entry_release(&en);
			continue;
		}
		submit_entry(ss, &en, false);
	}
}

int
submit_run(const struct opts *o, int fd, struct err *e)
{
	struct delivery d;
	struct source src;
	struct session ss = {0};
	struct queue_iter it = {0};
	bool iterating = false;
	struct attempt t = {.size = -1};
	char final_text[sizeof(((struct smtp *)0)->final_text)] = "";
	char *msgid = NULL;
	int *codes = NULL; /* each recipient's RCPT reply, or with LMTP its reply after the data */

	delivery_init(&d, o);
	source_init(&src, NULL, 0, fd, false, NULL);
	ss.s.conn.fd = -1;
	int rc = prepare(&d, &src, fd, e);
	if (rc == 0) {
		/* Due entries of this account go over the same session after this message; with
		 * none, QUIT is pipelined behind it. */
		const char *files[] = {d.acct->file, NULL};
		struct queue_filter f = {.account = d.acct->name,
		                         .max = PIGGYBACK_MAX,
		                         .profiles = files,
		                         .legacy = d.acct->origin == PROFILE_ORIGIN_USER ||
		                                   d.acct->origin == PROFILE_ORIGIN_SYSTEM};
		iterating = d.queue_open && queue_iter_start(&d.q, &it, &f, NULL) == 0;
		bool more = iterating && it.n > 0;
		msgid = msg_msgid(&d.msg);
		codes = xcalloc(d.rcpts.n + 1, sizeof(int));
		ss.params = &d.params;
		rc = session_open(&ss, d.acct, d.password.data, e);
		buf_fini(&d.password);
		t.tls = ss.s.tls;
		t.auth = rc == 0 && d.acct->auth;
		t.port = ss.port;
		if (rc == 0)
			rc = session_send(&ss, d.sender, d.rcpts.v, d.rcpts.n, codes, &src, !more,
			                  e);
		bool per_rcpt = rc < 0 && ss.per_rcpt;
		/* session_send dropped the copy the moment the server took the message. */
		if (d.copying && !src.copy)
			d.copying = false;
		t.size = rc == 0 ? (long long)src.size : -1;
		/* Before piggybacked entries make replies of their own. */
		t.final_code = ss.s.final_code;
		snprintf(final_text, sizeof(final_text), "%s", ss.s.final_text);
		t.final_text = final_text;
		if (rc == 0 && more)
			piggyback(&ss, &it);
		session_close(&ss, rc < 0 ? e : NULL);
		/* LMTP: when some recipients got a 4xx (or no reply) after the data, they wait in
		 * the queue whatever the others' 5xx made the error's kind. */
		bool lmtp_retry = false;
		for (size_t i = 0; per_rcpt && i < d.rcpts.n; i++)
			lmtp_retry |= codes[i] < 500 && codes[i] != 250;
		if (rc < 0 && d.copying && (temporary(e) || lmtp_retry)) {
			struct err why = *e;
			rc = queue_message(&d, &src, per_rcpt ? codes : NULL, e);
			if (rc == 0) {
				t.queued = d.copy.id;
				*e = why; /* the log says why it was queued */
			}
			/*
			 * SEC-36: a verdict that was not a 250 in step is not delivery, and not a
			 * mere delay either: the server is out of step with us. The message is
			 * kept (nothing lost) and the run still fails with 76, so the fault is
			 * seen; the caller that retries may cause a second copy, never none. A
			 * -bs caller is told 250 instead (the queue has it): it would retry.
			 */
			if (rc == 0 && why.kind == ERR_UNSURE && !o->serving) {
				err_set_code(e, ERR_UNSURE, why.code,
				             "%s; kept in the queue as %s, "
				             "which `postie -q` or the next run sends",
				             why.text, d.copy.id);
				rc = -1;
			}
		}
	}
	/* msmtp's logfile and syslog: every attempt of an account that has them. */
	if (d.acct) {
		t.acct = d.acct;
		t.sender = d.sender;
		t.rcpts = d.rcpts.v;
		t.n = d.rcpts.n;
		t.msgid = msgid;
		log_attempt(&t, rc, e);
		if (rc == 0)
			err_clear(e);
	}
	if (iterating)
		queue_iter_fini(&it);
	source_fini(&src);
	free(msgid);
	free(codes);
	delivery_fini(&d);
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
	if (expand_domain(a, e) < 0 || check_policy(a, e) < 0 || get_password(a, password, e) < 0)
		return -1;
	return 0;
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
	struct account *a = NULL;
	bool ready = false;   /* a is checked and has its password */
	char *current = NULL; /* the account of the open session, or of the last failure */
	struct err why;
	size_t delivered = 0, deferred = 0, others = 0;

	/*
	 * SEC-42: a flush sends each entry where its account's profile sends it; the command
	 * line's settings are not applied, and one that would move the mail is refused rather
	 * than silently ignored.
	 */
	for (size_t i = 0; i < o->noverrides; i++) {
		if (profile_is_route(o->overrides[i].name)) {
			char flag[64];
			size_t k;
			for (k = 0; o->overrides[i].name[k] && k + 1 < sizeof(flag); k++)
				flag[k] =
				    o->overrides[i].name[k] == '_' ? '-' : o->overrides[i].name[k];
			flag[k] = '\0';
			return err_set(
			    e, ERR_USAGE,
			    "parse flags: -q and --%s: a flush sends each "
			    "queued message only where its account's profile sends it (SEC-42); "
			    "drop --%s",
			    flag, flag);
		}
	}
	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	const struct account *qa =
	    o->account ? profile_find(&prof, o->account) : profile_find(&prof, "default");
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
	bool legacy;
	const char **files = profile_files(&prof, o->profile, &legacy);
	struct queue_filter f = {
	    .account = o->account,
	    .rcpt = o->queue_rcpt,
	    .id = o->queue_id,
	    .force = true,
	    .profiles = files, /* SEC-42: another profile's entries are not touched */
	    .legacy = legacy,
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
			ready = false;
			if (!(a = flush_account(&prof, current, &why)))
				warn("%s", why.text);
		}
		if (a && !entry_bound(&en.meta, a)) {
			/* An account of that name, but from another file than the entry's. */
			warn("flush queue: queued message %s was queued through account %s of %s, "
			     "not of %s: left in the queue",
			     en.id, current,
			     en.meta.profile ? en.meta.profile : "the user's own profile", a->file);
			queue_entry_release(&en);
			others++;
			continue;
		}
		if (a && !ss.open && why.kind == ERR_NONE) {
			/* The first entry of the account, or the last one abandoned its
			 * connection: a new one for this one. */
			session_close(&ss, NULL);
			if (!ready && flush_ready(a, &password, &why) < 0) {
				warn("%s", why.text);
			} else {
				ready = true;
				if (session_open(&ss, a, password.data, &why) < 0)
					warn("flush queue: account %s: %s", current, why.text);
			}
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
		log_info("flush queue: %zu delivered%s", delivered,
		         others ? "; entries of other accounts of that name left alone" : "");
	free(current);
	free(files);
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

/* The account O names (or -f's, or the default), with the command line's settings. */
static int
setup_only(struct delivery *d, struct err *e)
{
	if (d->o->sender) {
		d->claimed = xstrdup(d->o->sender);
		d->claimed_kind = ERR_USAGE;
	}
	return load_account(d, e);
}

int
submit_verify(const struct opts *o, struct err *e)
{
	struct delivery d;

	delivery_init(&d, o);
	int rc = setup_only(&d, e);
	/* -t: the recipients of the header on standard input (nothing else is read). */
	if (rc == 0 && o->read_rcpts)
		rc = msg_read_header(&d.msg, STDIN_FILENO, e);
	if (rc == 0)
		rc = collect_recipients(&d, e);
	for (size_t i = 0; rc == 0 && i < d.rcpts.n; i++)
		printf("%s\n", d.rcpts.v[i]);
	if (rc == 0 && fflush(stdout) != 0)
		rc = err_set(e, ERR_OS, "write recipients: %s", strerror(errno));
	delivery_fini(&d);
	return rc;
}

static void
put(const char *key, const char *value)
{
	printf("%s = %s\n", key, value && *value ? value : "(not set)");
}

static const char *
on_off(bool b)
{
	return b ? "on" : "off";
}

static const char *
hdr_mode(int v)
{
	return v == PROFILE_HDR_ON ? "on" : v == PROFILE_HDR_OFF ? "off" : "auto";
}

/* What the profile holds for this secret: never the secret or the command (a command can
 * carry one: `passwordeval echo hunter2`). */
static const char *
hidden(const char *s)
{
	return s ? "*" : NULL;
}

int
submit_pretend(const struct opts *o, struct err *e)
{
	struct delivery d;
	char num[32];

	delivery_init(&d, o);
	int rc = setup_only(&d, e);
	const struct account *a = d.acct;
	/* The envelope sender as a run would choose it; none is not an error here. */
	if (rc == 0 && (a->from || a->auto_from || d.claimed))
		rc = choose_sender(&d, e);
	if (rc < 0) {
		delivery_fini(&d);
		return -1;
	}
	int ports[PROFILE_MAX_PORTS];
	int np = profile_ports(a, ports);
	struct buf b;
	buf_init(&b, 4096);
	for (int i = 0; i < np; i++)
		buf_printf(&b, NULL, "%s%d", i ? " " : "", ports[i]);
	char *qdir = a->queue_dir ? NULL : queue_default_dir();

	put("account", a->name);
	printf("file = %s:%u\n", a->file, a->line);
	put("host", a->host);
	put("port", b.data);
	put("socket", a->socket);
	put("source_ip", a->source_ip);
	put("proxy_host", a->proxy_host);
	snprintf(num, sizeof(num), "%d", a->proxy_port ? a->proxy_port : 1080);
	put("proxy_port", a->proxy_host ? num : NULL);
	snprintf(num, sizeof(num), "%d", a->timeout);
	put("timeout", a->timeout ? num : "off");
	put("protocol", a->lmtp ? "lmtp" : "smtp");
	put("domain", a->domain);
	put("auth", !a->auth ? "off" : a->auth_mech ? a->auth_mech : "on");
	put("user", a->user);
	put("password",
	    a->password || a->passwordeval || a->password_file || a->oauth2_token_command ? "*"
	                                                                                  : NULL);
	put("passwordeval", hidden(a->passwordeval));
	put("password_file", a->password_file);
	put("oauth2_token_command", hidden(a->oauth2_token_command));
	put("tls", on_off(a->tls));
	put("tls_starttls", on_off(a->tls_starttls));
	put("tls_trust_file", a->tls_trust_file ? a->tls_trust_file : "system");
	put("tls_crl_file", a->tls_crl_file);
	if (a->tls_pin_spki) {
		buf_reset(&b);
		buf_printf(&b, NULL, "sha256//%s", a->tls_pin_spki);
		put("tls_fingerprint", b.data);
	} else {
		put("tls_fingerprint", a->tls_fingerprint);
	}
	put("tls_key_file", a->tls_key_file);
	put("tls_cert_file", a->tls_cert_file);
	put("tls_certcheck", on_off(a->tls_certcheck));
	put("tls_priorities", a->tls_priorities);
	put("tls_host_override", a->tls_host_override);
	put("tls_min_version", a->tls_min_version == 13 ? "1.3" : "1.2");
	put("from", d.sender ? (*d.sender ? d.sender : "<>") : NULL);
	put("auto_from", on_off(a->auto_from));
	put("maildomain", a->maildomain);
	put("allow_from_override", on_off(a->allow_from_override));
	put("from_full_name", a->from_full_name);
	put("set_from_header", hdr_mode(a->set_from_header));
	put("set_date_header", hdr_mode(a->set_date_header));
	put("set_msgid_header", hdr_mode(a->set_msgid_header));
	put("remove_bcc_headers", on_off(a->remove_bcc_headers));
	put("undisclosed_recipients", on_off(a->undisclosed_recipients));
	put("dsn_notify", o->dsn_notify ? o->dsn_notify : a->dsn_notify);
	put("dsn_return", o->dsn_ret ? o->dsn_ret : a->dsn_return);
	put("logfile", a->logfile);
	put("logfile_time_format", a->logfile_time_format);
	put("syslog", a->syslog);
	put("aliases", a->aliases);
	put("queue", on_off(a->queue));
	put("queue_dir", a->queue_dir ? a->queue_dir : qdir);
	snprintf(num, sizeof(num), "%d",
	         a->queue_lifetime ? a->queue_lifetime : QUEUE_LIFETIME_DEFAULT);
	put("queue_lifetime", num);
	buf_fini(&b);
	free(qdir);
	if (fflush(stdout) != 0)
		rc = err_set(e, ERR_OS, "write settings: %s", strerror(errno));
	delivery_fini(&d);
	return rc;
}

int
submit_serverinfo(const struct opts *o, struct err *e)
{
	struct delivery d;

	delivery_init(&d, o);
	int rc = setup_only(&d, e);
	if (rc == 0 && !d.acct->host)
		rc = err_set(e, ERR_CONFIG, "connect: account %s (%s:%u) has no `host`; add one",
		             d.acct->name, d.acct->file, d.acct->line);
	if (rc == 0)
		rc = session_serverinfo(d.acct, stdout, e);
	delivery_fini(&d);
	return rc;
}
