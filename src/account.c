/*
 * account: choosing and loading the account a run uses. The profile (or, with --host, the
 * command line alone), the account -a names or -f's address chooses, the command line's
 * settings over it, what those imply (the patterns of `domain`, the aliases file), the checks
 * of TLS and AUTH that need no server, and the password.
 */
#include "account.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "addr.h"
#include "log.h"
#include "sasl.h"
#include "oauth2.h"
#include "priv.h"
#include "secret.h"

static bool
has_override(const struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->noverrides; i++)
		if (strcmp(o->overrides[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The accounts of P by name, for a message: "a, b, c", or "" when it has none. SEC-45: a
 * setgid postie shows a caller who is not root no name of the system profile's.
 */
static void
account_names(const struct profile *p, struct buf *out)
{
	bool hide = priv_setgid() && getuid() != 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct account *a = p->accounts[i];
		if (hide && a->origin == PROFILE_ORIGIN_SYSTEM)
			continue;
		buf_printf(out, NULL, "%s%s", out->len ? ", " : "", a->name);
	}
}

/*
 * ERR_CONFIG: no account called NAME (-a's, or "default"). Says which files were read or
 * looked for, which accounts they hold, and what to write where.
 */
static int
no_account(const struct profile *p, const char *name, struct err *e)
{
	struct buf names;
	const char *looked = p->looked && *p->looked ? p->looked : "none";
	const char *where = p->user_file ? p->user_file : "~/.config/postie/config";
	int r;

	buf_init(&names, 4096);
	account_names(p, &names);
	if (p->n == 0)
		r = err_set(e, ERR_CONFIG,
		            "choose account: no profile defines an account (files looked for: %s); "
		            "write one to ~/.config/postie/config (see postie.conf(5))",
		            looked);
	else if (strcmp(name, "default") != 0)
		r = err_set(e, ERR_CONFIG,
		            "choose account %s: no such account (the accounts: %s; files: %s); "
		            "check -a",
		            name, names.len ? names.data : "none you may see", looked);
	else
		r = err_set(e, ERR_CONFIG,
		            "choose account: none given and no default (the accounts: %s; files: "
		            "%s); pass -a NAME or add `account default : NAME` to %s",
		            names.len ? names.data : "none you may see", looked, where);
	buf_fini(&names);
	return r;
}

static int
choose_account(struct account_choice *c, struct err *e)
{
	const struct opts *o = c->o;

	if (o->account) {
		c->acct = profile_find(&c->prof, o->account);
		return c->acct ? 0 : no_account(&c->prof, o->account, e);
	}
	if (c->claimed) {
		char *norm = NULL;
		if (addr_envelope(c->claimed, true, c->claimed_kind, &norm, e) < 0)
			return -1;
		c->acct = profile_find_by_from(&c->prof, norm);
		free(norm);
		if (c->acct)
			return 0;
	}
	c->acct = profile_find(&c->prof, "default");
	return c->acct ? 0 : no_account(&c->prof, "default", e);
}

/* msmtp(1), `domain`: %H, %C and %M work there as in `from`. */
int
account_expand_domain(struct account *a, struct err *e)
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
int
account_load(struct account_choice *c, const struct opts *o, const char *claimed,
             enum err_kind claimed_kind, struct err *e)
{
	struct account *a;

	c->o = o;
	c->claimed = claimed;
	c->claimed_kind = claimed_kind;
	if (has_override(o, "host")) {
		static const char text[] = "account " ACCOUNT_CMDLINE "\n";
		if (o->account)
			return err_set(e, ERR_USAGE,
			               "parse flags: -a %s and --host: choose one; "
			               "--host takes every setting from the command line",
			               o->account);
		if (profile_parse(&c->prof, "command line", text, sizeof(text) - 1, true, e) < 0)
			return -1;
		c->acct = profile_find(&c->prof, ACCOUNT_CMDLINE);
		if (!c->acct)
			fatal("account: the command-line account was not made");
		c->acct->origin = PROFILE_ORIGIN_ARGV;
	} else if (profile_load(&c->prof, POSTIE_SYSCONFIG, o->profile, e) < 0 ||
	           choose_account(c, e) < 0) {
		return -1;
	}
	a = c->acct;
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
	if (account_expand_domain(a, e) < 0)
		return -1;
	if (a->aliases && *a->aliases && aliases_load(&c->aliases, a->aliases, e) < 0)
		return -1;
	return 0;
}

/* NAME qualified with the account's maildomain when it has no '@' (into *ADDR). */
int
account_qualify(const struct account *a, char **addr, struct err *e)
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

/* What the account asks of TLS and AUTH, checked before connecting (SEC-1, SEC-12). */
int
account_check_policy(const struct account *a, struct err *e)
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
	/* An obsolete mechanism (DIGEST-MD5) is refused once the server's list is known, so
	 * that the refusal can say what to use instead. */
	if (a->auth && a->auth_mech && !sasl_obsolete(a->auth_mech) &&
	    !sasl_pick(a->auth_mech, a->auth_mech, &c, e))
		return -1;
	return 0;
}

/* The account's password, from the profile or its passwordeval (SEC-15). */
int
account_get_password(const struct account *a, struct buf *out, struct err *e)
{
	if (!a->auth)
		return 0;
	if (a->oauth2_token_command) {
		/* The OAuth token takes the password's place; session_open knows it by the
		 * account. Before connecting, so a failing command costs no connection. */
		buf_fini(out);
		return oauth2_token(a, false, out, e) < 0 ? -1 : 0;
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
	if (out->len == 0 && !a->tls_cert_file && a->auth_mech &&
	    (strcasecmp(a->auth_mech, "XOAUTH2") == 0 ||
	     strcasecmp(a->auth_mech, "OAUTHBEARER") == 0))
		return err_set(e, ERR_CONFIG,
		               "authenticate: account %s (%s) logs in with %s and has no access "
		               "token; add `oauth2_token_command` (or, msmtp's way, `passwordeval` "
		               "printing the token)",
		               a->name, a->file, a->auth_mech);
	if (out->len == 0 && !a->tls_cert_file)
		return err_set(
		    e, ERR_CONFIG,
		    "authenticate: account %s has no password; add `password`, `passwordeval` "
		    "or `password_file` to %s, or an entry for %s to ~/.netrc (see password_file "
		    "in postie.conf(5))",
		    a->name, a->file, a->host);
	return 0;
}

void
account_choice_fini(struct account_choice *c)
{
	aliases_fini(&c->aliases);
	profile_fini(&c->prof);
	c->acct = NULL;
}
