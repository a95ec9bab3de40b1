/*
 * profile_argv: what the command line may do with profile commands. msmtp's long options
 * (--host=HOST) reach an account through profile_apply only, and the argv of a sendmail is
 * a caller's, who may be an attacker (PHP mail()'s fifth parameter, CVE-2016-10033). One
 * table says, per command, what the command line may not do (SEC-43) and which commands say
 * where the mail goes or whom it trusts (SEC-41: the run then holds no secret; SEC-42: it
 * neither queues nor flushes).
 */
#include "profile_int.h"

#include <stdint.h>
#include <string.h>

/*
 * What the command line may do with a profile command. Commands not listed here may be set
 * freely (from, domain, user, auth, timeout, maildomain, dsn_*, ...).
 */
enum argv_rule {
	/* Where the mail goes or whom it trusts: taken, but the run then holds no secret
	 * (SEC-41, profile_check_route) and neither queues nor flushes (SEC-42). */
	ARGV_ROUTE = 1u << 0,
	/* A file to read or write, a command to run, or a secret: refused, unless the value is
	 * the rule's one harmless exception (SEC-43). */
	ARGV_NEVER = 1u << 1,
	/* Hides something from the recipients or keeps a record: the command line may switch
	 * it on, never off (SEC-43). */
	ARGV_NOT_OFF = 1u << 2,
	/* Keeps the sender the profile set: the command line may only make it stricter, to the
	 * rule's one value (SEC-43). */
	ARGV_ONLY = 1u << 3,
};

static const struct argv_rule_entry {
	const char *name;
	unsigned rule;
	const char *except; /* ARGV_NEVER, ARGV_ONLY: the one value that is taken, or NULL */
	const char *harm;   /* ARGV_NEVER, ARGV_NOT_OFF, ARGV_ONLY: what an injected one could do */
} argv_rules[] = {
    {"host", ARGV_ROUTE, NULL, NULL},
    {"port", ARGV_ROUTE, NULL, NULL},
    {"proxy_host", ARGV_ROUTE, NULL, NULL},
    {"proxy_port", ARGV_ROUTE, NULL, NULL},
    {"socket", ARGV_ROUTE, NULL, NULL},
    {"source_ip", ARGV_ROUTE, NULL, NULL},
    /* ip_family (-4, -6) is not here, on purpose: it picks among the addresses of the same
     * host name, which all are that server's; the host, the port, the TLS settings and the
     * name the certificate is checked against stay the profile's. At worst it makes the
     * connection fail (a family the host lacks), which a caller can do anyway. */
    {"protocol", ARGV_ROUTE, NULL, NULL},
    {"tls", ARGV_ROUTE, NULL, NULL},
    {"tls_starttls", ARGV_ROUTE, NULL, NULL},
    {"tls_fingerprint", ARGV_ROUTE, NULL, NULL},
    {"tls_certcheck", ARGV_ROUTE, NULL, NULL},
    {"tls_nocertcheck", ARGV_ROUTE, NULL, NULL},
    {"tls_host_override", ARGV_ROUTE, NULL, NULL},
    {"tls_priorities", ARGV_ROUTE, NULL, NULL},
    {"tls_min_version", ARGV_ROUTE, NULL, NULL},
    {"tls_trust_file", ARGV_ROUTE | ARGV_NEVER, "system", "read any file"},
    {"tls_crl_file", ARGV_NEVER, NULL, "read any file"},
    {"tls_cert_file", ARGV_NEVER, NULL, "read any file"},
    {"tls_key_file", ARGV_NEVER, NULL, "read any file"},
    {"dkim_key", ARGV_NEVER, NULL, "read any file"},
    {"dkim_selector", ARGV_NEVER, NULL, "sign the account's mail under another name"},
    {"dkim_domain", ARGV_NEVER, NULL, "sign the account's mail under another name"},
    {"dkim_headers", ARGV_NEVER, NULL, "leave the account's headers unsigned"},
    {"password", ARGV_NEVER, NULL, "hand a password to whoever it chose"},
    {"passwordeval", ARGV_NEVER, NULL, "run any command"},
    {"password_file", ARGV_NEVER, NULL, "read any file"},
    {"oauth2_token_command", ARGV_NEVER, NULL, "run any command"},
    {"eval", ARGV_NEVER, NULL, "run any command"},
    {"logfile", ARGV_NEVER, "-", "write any file"},
    {"aliases", ARGV_NEVER, NULL, "read any file"},
    {"queue_dir", ARGV_NEVER, NULL, "write any file"},
    {"queue_lifetime", ARGV_NEVER, NULL, "expire the queued mail"},
    {"queue_notify", ARGV_NEVER, NULL, "send the notices about failed mail elsewhere"},
    /* msmtp's older command, the inverse of remove_bcc_headers: only "off" is taken. */
    {"keepbcc", ARGV_NEVER, "off", "reveal the Bcc recipients to everyone"},
    {"remove_bcc_headers", ARGV_NOT_OFF, NULL, "reveal the Bcc recipients to everyone"},
    {"undisclosed_recipients", ARGV_NOT_OFF, NULL, "reveal recipients the profile hides"},
    {"syslog", ARGV_NOT_OFF, NULL, "silence the log"},
    {"allow_from_override", ARGV_ONLY, "off", "put another sender on the account's mail"},
    {"set_from_header", ARGV_ONLY, "on", "put another sender on the account's mail"},
};

static const struct argv_rule_entry *
argv_rule(const char *name)
{
	for (size_t i = 0; i < sizeof(argv_rules) / sizeof(argv_rules[0]); i++)
		if (strcmp(argv_rules[i].name, name) == 0)
			return &argv_rules[i];
	return NULL;
}

void
profile_flag_name(const char *name, char *flag, size_t size)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; name[i] && i + 1 < size; i++)
		flag[i] = name[i] == '_' ? '-' : name[i];
	flag[i] = '\0';
}

int
profile_argv_check(const char *name, const char *arg, struct err *e)
{
	const struct argv_rule_entry *r = argv_rule(name);
	char flag[PROFILE_FLAG_MAX];
	bool on;

	if (!r)
		return 0;
	profile_flag_name(name, flag, sizeof(flag));
	if ((r->rule & ARGV_NEVER) && !(r->except && strcmp(arg, r->except) == 0))
		return err_set(
		    e, ERR_USAGE,
		    "parse flags: --%s: not taken from the command line, "
		    "where an injected flag could %s (as -X did in CVE-2016-10033); set %s in "
		    "the profile instead%s%s",
		    flag, r->harm, name, r->except ? "; the command line takes only " : "",
		    r->except ? r->except : "");
	if ((r->rule & ARGV_NOT_OFF) &&
	    (strcmp(arg, "off") == 0 ||
	     (strcmp(name, "syslog") != 0 && profile_read_on_off(arg, &on) && !on)))
		return err_set(
		    e, ERR_USAGE,
		    "parse flags: --%s=off: the command line may switch "
		    "%s on, never off (a caller must not %s); set it in the profile instead",
		    flag, name, r->harm);
	/* "on" and "" are the same for an on/off command (set_from_header is not one). */
	if ((r->rule & ARGV_ONLY) && strcmp(arg, r->except) != 0 &&
	    !(strcmp(r->except, "on") == 0 && arg[0] == '\0' &&
	      strcmp(name, "set_from_header") != 0))
		return err_set(e, ERR_USAGE,
		               "parse flags: --%s=%s: the command line may set %s "
		               "only to %s (a caller must not %s); set it in the profile instead",
		               flag, arg, name, r->except, r->harm);
	return 0;
}

int
profile_apply(struct account *a, const char *name, const char *arg, struct err *e)
{
	const struct command *c = profile_cmd_find(name, strlen(name));
	const struct argv_rule_entry *r = argv_rule(name);
	char flag[PROFILE_FLAG_MAX];

	profile_flag_name(name, flag, sizeof(flag));
	if (!c || strcmp(c->name, "eval") == 0)
		return err_set(e, ERR_USAGE, "parse flags: --%s: no such profile command", flag);
	/* SEC-43: checked here as well as by cli, so no caller can skip it. */
	if (profile_argv_check(name, arg, e) < 0)
		return -1;
	/* SEC-24: no line ends in a value, from a file or from the command line. */
	if (strpbrk(arg, "\r\n"))
		return err_set(e, ERR_USAGE, "parse flags: --%s: the value holds a line break",
		               flag);
	struct parse ps = {
	    .file = "command line",
	    .private = true,
	    .cur = a,
	    .cur_idx = SIZE_MAX,
	    .alias = SIZE_MAX,
	};
	struct err inner;
	err_clear(&inner);
	/* A route setting that leaves the account as its profile has it changes nothing. */
	struct account before = {0};
	profile_account_copy(&before, a, c->bit);
	int rc = profile_cmd_apply(&ps, 0, c, arg, &inner);
	bool changed = rc == 0 && !profile_account_same(&before, a, c->bit);
	profile_account_fini(&before);
	if (rc == 0) {
		a->argv_set |= c->bit;
		if (r && (r->rule & ARGV_ROUTE) && changed && !a->argv_route)
			a->argv_route = r->name;
		return 0;
	}
	/* "command line:0: reason" becomes "parse flags: --name: reason". */
	const char *why = strstr(inner.text, ": ");
	why = why ? why + 2 : inner.text;
	return err_set(e, ERR_USAGE, "parse flags: --%s: %s", flag, why);
}

int
profile_check_route(const struct account *a, struct err *e)
{
	const char *why = a->auth ? "authenticates" : "presents a client certificate";
	char flag[PROFILE_FLAG_MAX];

	if (!a->argv_route && a->origin != PROFILE_ORIGIN_ARGV)
		return 0;
	if (!a->auth && !a->tls_cert_file && !a->tls_key_file)
		return 0;
	profile_flag_name(a->argv_route ? a->argv_route : "host", flag, sizeof(flag));
	if (a->origin == PROFILE_ORIGIN_ARGV)
		return err_set(
		    e, ERR_USAGE,
		    "parse flags: --host: an account made on the command "
		    "line %s, but the command line cannot send a secret to a server it chose "
		    "(SEC-41); define an account for %s in the profile and choose it with -a",
		    why, a->host ? a->host : "that server");
	return err_set(
	    e, ERR_USAGE,
	    "parse flags: --%s: changes where account %s sends its "
	    "mail or whom it trusts, and account %s %s: the command line cannot send its "
	    "secret elsewhere (SEC-41); define an account for that server in %s and choose it "
	    "with -a",
	    flag, a->name, a->name, why, a->file);
}

bool
profile_is_route(const char *name)
{
	const struct argv_rule_entry *r = argv_rule(name);

	return r && (r->rule & ARGV_ROUTE);
}

bool
profile_route_is_own(const struct account *a)
{
	return !a->argv_route && a->origin != PROFILE_ORIGIN_ARGV;
}
