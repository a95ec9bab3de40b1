/*
 * cli: the command line through popt. The flags are Postfix sendmail(1)'s (its getopt list
 * "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx" plus -bX and -oX), because that is what
 * cron, mail(1), PHP's mail(), git send-email and sudo call, and msmtp's long options
 * (msmtp(1), OPTIONS), so a ~/.msmtprc user's scripts keep working.
 *
 * POPT_CONTEXT_POSIXMEHARDER stops option parsing at the first operand, and "--" ends it, so
 * a recipient can never be taken for a flag (SEC-21).
 */
#include "cli.h"
#include "profile.h"
#include "smtp.h"

#include <popt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	OPT_T = 1,
	OPT_SENDER,
	OPT_FULLNAME,
	OPT_I,
	OPT_O,
	OPT_ACCOUNT,
	OPT_FILE,
	OPT_VERBOSE,
	OPT_VERSION,
	OPT_HELP,
	OPT_QUEUE,
	OPT_FLUSH,
	OPT_MODE,
	OPT_NEWALIASES,
	OPT_BODY,
	OPT_NOTIFY,
	OPT_RETURN,
	OPT_ENVID,
	OPT_LOG_X,
	OPT_SERVERINFO,
	OPT_PRETEND,
	OPT_ENVELOPE_FROM,
	OPT_CHECK,
	OPT_QUEUE_DELETE,
	OPT_QUEUE_RETRY,
	OPT_IPV4,
	OPT_IPV6,
	OPT_LONG = 0x100,     /* + the index in longopts[] */
	OPT_IGNORED = 0x1000, /* + the flag's letter */
};

#define IGNORED(c) (OPT_IGNORED + (c))

/* The most octets of an RFC 3461 ENVID (§4.4: "MUST NOT exceed 100 characters"). */
#define ENVID_MAX 100

static const struct poptOption sendmail_flags[] = {
    /* Honoured. */
    {"read-recipients", 't', POPT_ARG_NONE, NULL, OPT_T, NULL, NULL},
    /* msmtp's --from is its -f. "<>" and "" are the null reverse-path. */
    {"from", 'f', POPT_ARG_STRING, NULL, OPT_SENDER, NULL, NULL},
    {NULL, 'r', POPT_ARG_STRING, NULL, OPT_SENDER, NULL, NULL},
    {NULL, 'F', POPT_ARG_STRING, NULL, OPT_FULLNAME, NULL, NULL},
    {NULL, 'i', POPT_ARG_NONE, NULL, OPT_I, NULL, NULL},
    /* -oX[VALUE]: only -oi means something to postie; see the OPT_O case for the rest. */
    {NULL, 'o', POPT_ARG_STRING, NULL, OPT_O, NULL, NULL},
    /* -q[R|I|S][substring] or -q<interval>: deliver the queue now (postie has no daemon, so
     * an interval means the same). A lone -q becomes --flush before popt sees it (prescan). */
    {NULL, 'q', POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL, NULL, OPT_QUEUE, NULL, NULL},
    /* -bm send (the default), -bp list the queue, -bs SMTP on stdin/stdout, -bv verify
     * recipients, -bi newaliases; -bd, -bl, -bh, -bH are refused with the reason. */
    {NULL, 'b', POPT_ARG_STRING, NULL, OPT_MODE, NULL, NULL},
    {NULL, 'I', POPT_ARG_NONE, NULL, OPT_NEWALIASES, NULL, NULL},
    {NULL, 'B', POPT_ARG_STRING, NULL, OPT_BODY, NULL, NULL},
    {"dsn-notify", 'N', POPT_ARG_STRING, NULL, OPT_NOTIFY, NULL, NULL},
    {"dsn-return", 'R', POPT_ARG_STRING, NULL, OPT_RETURN, NULL, NULL},
    {NULL, 'V', POPT_ARG_STRING, NULL, OPT_ENVID, NULL, NULL},
    {"account", 'a', POPT_ARG_STRING, NULL, OPT_ACCOUNT, NULL, NULL},
    /* Postfix's -C names its main.cf; postie's, like msmtp's, names the profile. */
    {"file", 'C', POPT_ARG_STRING, NULL, OPT_FILE, NULL, NULL},
    /* -v, -vv (popt splits the cluster), msmtp's -d and --debug. */
    {"verbose", 'v', POPT_ARG_NONE, NULL, OPT_VERBOSE, NULL, NULL},
    {"debug", 'd', POPT_ARG_NONE, NULL, OPT_VERBOSE, NULL, NULL},
    {"serverinfo", 'S', POPT_ARG_NONE, NULL, OPT_SERVERINFO, NULL, NULL},
    {"pretend", 'P', POPT_ARG_NONE, NULL, OPT_PRETEND, NULL, NULL},
    /* postie's own: check the account's path to its server, send nothing (doctor.c). */
    {"check", '\0', POPT_ARG_NONE, NULL, OPT_CHECK, NULL, NULL},
    {"read-envelope-from", '\0', POPT_ARG_NONE, NULL, OPT_ENVELOPE_FROM, NULL, NULL},
    {"flush", '\0', POPT_ARG_NONE, NULL, OPT_FLUSH, NULL, NULL},
    /* postie's own: the operands are queue ids (or the start of one), not recipients. */
    {"queue-delete", '\0', POPT_ARG_NONE, NULL, OPT_QUEUE_DELETE, NULL, NULL},
    {"queue-retry", '\0', POPT_ARG_NONE, NULL, OPT_QUEUE_RETRY, NULL, NULL},
    /* postie's own (sendmail has neither): ip_family 4 or 6 for this run. */
    {NULL, '4', POPT_ARG_NONE, NULL, OPT_IPV4, NULL, NULL},
    {NULL, '6', POPT_ARG_NONE, NULL, OPT_IPV6, NULL, NULL},
    /* Long only: -V is sendmail's envelope id and -h its hop count. */
    {"version", '\0', POPT_ARG_NONE, NULL, OPT_VERSION, NULL, NULL},
    {"help", '\0', POPT_ARG_NONE, NULL, OPT_HELP, NULL, NULL},

    /*
     * -X FILE: sendmail's and msmtp's traffic log. Accepted so that callers passing it keep
     * working, but never opened or created: PHPMailer's injected -X wrote a web shell
     * (CVE-2016-10033). One warning says so.
     */
    {NULL, 'X', POPT_ARG_STRING, NULL, OPT_LOG_X, NULL, NULL},

    /* Ignored, each for its reason. Under -v one line lists what was ignored. */
    /* -G: relayed rather than initial submission; postie rewrites no addresses either way. */
    {NULL, 'G', POPT_ARG_NONE, NULL, IGNORED('G'), NULL, NULL},
    /* -U: initial user submission, which is what postie always does. */
    {NULL, 'U', POPT_ARG_NONE, NULL, IGNORED('U'), NULL, NULL},
    /* -m: "me too" in alias expansion; the sender is never removed by postie. */
    {NULL, 'm', POPT_ARG_NONE, NULL, IGNORED('m'), NULL, NULL},
    /* -n: no alias expansion; msmtp ignores it too (a profile's aliases file still applies). */
    {NULL, 'n', POPT_ARG_NONE, NULL, IGNORED('n'), NULL, NULL},
    /* -c: sendmail's old "hold expensive connections"; Postfix accepts and ignores it. */
    {NULL, 'c', POPT_ARG_NONE, NULL, IGNORED('c'), NULL, NULL},
    /* -x: in Postfix's getopt list and ignored there; the same here. */
    {NULL, 'x', POPT_ARG_NONE, NULL, IGNORED('x'), NULL, NULL},
    /* -h N: hop count; loops are the servers' business (they count Received fields). */
    {NULL, 'h', POPT_ARG_STRING, NULL, IGNORED('h'), NULL, NULL},
    /* -L TAG: the syslog label; postie's log settings are the profile's. */
    {NULL, 'L', POPT_ARG_STRING, NULL, IGNORED('L'), NULL, NULL},
    /* -O OPTION=VALUE: a sendmail.cf option; postie's settings live in the profile. */
    {NULL, 'O', POPT_ARG_STRING, NULL, IGNORED('O'), NULL, NULL},
    /* -Am / -Ac: sendmail's choice of submit.cf or sendmail.cf; postie has one profile. */
    {NULL, 'A', POPT_ARG_STRING, NULL, IGNORED('A'), NULL, NULL},
    /* -e X: sendmail's old spelling of -oeX (error mode); errors always go to the exit
     * status and standard error. */
    {NULL, 'e', POPT_ARG_STRING, NULL, IGNORED('e'), NULL, NULL},
    /* -p PROTOCOL[:HOST]: the protocol for a Received field; postie adds none. */
    {NULL, 'p', POPT_ARG_STRING, NULL, IGNORED('p'), NULL, NULL},
};

#define NSENDMAIL (sizeof(sendmail_flags) / sizeof(sendmail_flags[0]))

/*
 * msmtp's long options that set a profile command (msmtp(1) 1.8, OPTIONS; --keepbcc,
 * --allow-from-override and --from-full-name from its other versions). The command is the
 * flag with '-' as '_'. OPTIONAL: "--flag[=VALUE]", alone it means "on" (msmtp: an empty
 * argument to such a command means on, too); else "--flag=VALUE" or "--flag VALUE", where
 * VALUE may be empty to unset. The values are checked by profile_apply, as profile lines.
 */
static const struct longopt {
	const char *flag;
	bool optional;
} longopts[] = {
    {"host", false},
    {"port", false},
    {"timeout", false},
    {"protocol", false},
    {"domain", false},
    {"auth", true},
    {"user", false},
    {"passwordeval", false},
    {"tls", true},
    {"tls-starttls", true},
    {"tls-trust-file", false},
    {"tls-crl-file", false},
    {"tls-fingerprint", false},
    {"tls-key-file", false},
    {"tls-cert-file", false},
    {"tls-certcheck", true},
    {"tls-priorities", false},
    {"tls-host-override", false},
    {"tls-min-dh-prime-bits", false},
    {"maildomain", false},
    {"auto-from", true},
    {"keepbcc", true},
    {"set-from-header", true},
    {"set-date-header", true},
    {"set-msgid-header", true},
    {"remove-bcc-headers", true},
    {"undisclosed-recipients", true},
    {"source-ip", false},
    {"proxy-host", false},
    {"proxy-port", false},
    {"socket", false},
    {"logfile", false},
    {"logfile-time-format", false},
    {"syslog", true},
    {"aliases", false},
    {"allow-from-override", true},
    {"from-full-name", false},
    {"ip-family", false}, /* postie's own: ip_family any|4|6 */
};

#define NLONG (sizeof(longopts) / sizeof(longopts[0]))

/* The popt table: the sendmail flags, then one entry per msmtp long option. */
static struct poptOption *
table_new(void)
{
	struct poptOption *t = xcalloc(NSENDMAIL + NLONG + 1, sizeof(*t));

	memcpy(t, sendmail_flags, sizeof(sendmail_flags));
	for (size_t i = 0; i < NLONG; i++) {
		t[NSENDMAIL + i].longName = longopts[i].flag;
		t[NSENDMAIL + i].argInfo =
		    POPT_ARG_STRING | (longopts[i].optional ? POPT_ARGFLAG_OPTIONAL : 0);
		t[NSENDMAIL + i].val = OPT_LONG + (int)i;
	}
	/* The last entry stays zero: POPT_TABLEEND. */
	return t;
}

static const struct poptOption *
find_long(const struct poptOption *t, const char *name, size_t n)
{
	for (; t->longName || t->shortName || t->val; t++)
		if (t->longName && strlen(t->longName) == n && memcmp(t->longName, name, n) == 0)
			return t;
	return NULL;
}

static const struct poptOption *
find_short(const struct poptOption *t, char c)
{
	for (; t->longName || t->shortName || t->val; t++)
		if (t->shortName == c)
			return t;
	return NULL;
}

static bool
takes_arg(const struct poptOption *opt)
{
	return (opt->argInfo & POPT_ARG_MASK) != POPT_ARG_NONE;
}

/*
 * popt gives an option with an optional value the next argument when that does not begin
 * with '-', so "--tls rcpt@example.org" would lose the recipient into the value. msmtp's
 * getopt_long only takes "--tls=VALUE". So before popt runs, a lone "--tls" (any optional
 * long option) becomes "--tls=on", and a lone "-q" becomes "--flush" (Postfix does not
 * give -q the next argument either). The scan follows popt's rules up to the first operand
 * or "--", so it never rewrites an option's value or a recipient. MADE collects the strings
 * it allocated, for the caller to free.
 */
static const char **
prescan(const struct poptOption *t, int argc, const char *const *argv, char **made, size_t *nmade)
{
	const char **out = xcalloc((size_t)argc + 1, sizeof(char *));

	for (int i = 0; i < argc; i++)
		out[i] = argv[i];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0' || strcmp(a, "--") == 0)
			break;
		if (a[1] == '-') {
			const char *name = a + 2;
			size_t n = strcspn(name, "=");
			const struct poptOption *opt = find_long(t, name, n);
			if (!opt)
				break; /* popt reports it */
			if (name[n] == '=' || !takes_arg(opt))
				continue;
			if (opt->argInfo & POPT_ARGFLAG_OPTIONAL) {
				size_t len = strlen(a);
				char *s = xmalloc(len + sizeof("=on"));
				memcpy(s, a, len);
				memcpy(s + len, "=on", sizeof("=on"));
				made[(*nmade)++] = s;
				out[i] = s;
			} else {
				i++; /* its value, whatever it looks like */
			}
			continue;
		}
		if (strcmp(a, "-q") == 0) {
			out[i] = "--flush";
			continue;
		}
		/* A cluster of short flags: the first one with a value ends it. */
		for (size_t j = 1; a[j]; j++) {
			const struct poptOption *opt = find_short(t, a[j]);
			if (!opt)
				return out; /* popt reports it */
			if (!takes_arg(opt))
				continue;
			if (a[j + 1] == '\0' && (!(opt->argInfo & POPT_ARGFLAG_OPTIONAL) ||
			                         (i + 1 < argc && argv[i + 1][0] != '-')))
				i++;
			break;
		}
	}
	return out;
}

static void
replace(char **slot, const char *arg)
{
	free(*slot);
	*slot = xstrdup(arg ? arg : "");
}

static void
add_override(struct opts *o, const char *name, const char *value)
{
	o->overrides = xrealloc(o->overrides, (o->noverrides + 1) * sizeof(*o->overrides));
	o->overrides[o->noverrides].name = xstrdup(name);
	o->overrides[o->noverrides].value = xstrdup(value);
	o->noverrides++;
}

/* Add FLAG and ARG (may be NULL) to the list of ignored flags, controls shown as '?'. */
static void
note_ignored(struct opts *o, const char *flag, const char *arg)
{
	size_t old = o->ignored ? strlen(o->ignored) : 0;
	size_t fl = strlen(flag), al = arg ? strlen(arg) : 0;
	char *s = xrealloc(o->ignored, old + 1 + fl + al + 1);
	size_t k = old;

	if (old)
		s[k++] = ' ';
	memcpy(s + k, flag, fl);
	k += fl;
	for (size_t i = 0; i < al; i++) {
		unsigned char c = (unsigned char)arg[i];
		s[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	s[k] = '\0';
	o->ignored = s;
}

/*
 * -N: "never", or a list of success, delay, failure (RFC 3461 §4.1 NOTIFY), any case,
 * separated by commas or blanks as Postfix allows ("delay, failure"). Out: upper case,
 * each once, in RFC 3461's order.
 */
static int
parse_notify(const char *arg, char **out, struct err *e)
{
	static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
	bool seen[3] = {false, false, false};
	bool never = false;
	size_t n = 0;

	for (const char *p = arg; *p;) {
		size_t len = strcspn(p, ", \t");
		if (len == 0) {
			p++;
			continue;
		}
		size_t w = 0;
		if (len == 5 && strncasecmp(p, "never", 5) == 0) {
			never = true;
		} else {
			while (w < 3 &&
			       !(strlen(words[w]) == len && strncasecmp(p, words[w], len) == 0))
				w++;
			if (w == 3)
				return err_set(e, ERR_USAGE,
				               "parse flags: -N %s: expected never, "
				               "or success, delay and failure separated by commas",
				               arg);
			seen[w] = true;
		}
		n++;
		p += len;
	}
	if (n == 0)
		return err_set(e, ERR_USAGE,
		               "parse flags: -N needs never, or success, delay and "
		               "failure separated by commas");
	if (never && n > 1)
		return err_set(e, ERR_USAGE,
		               "parse flags: -N %s: never cannot be combined with "
		               "other conditions (RFC 3461 §4.1)",
		               arg);
	if (never) {
		*out = xstrdup("NEVER");
		return 0;
	}
	char buf[sizeof("SUCCESS,FAILURE,DELAY")];
	size_t k = 0;
	for (size_t w = 0; w < 3; w++) {
		if (!seen[w])
			continue;
		size_t len = strlen(words[w]);
		if (k)
			buf[k++] = ',';
		memcpy(buf + k, words[w], len);
		k += len;
	}
	buf[k] = '\0';
	*out = xstrdup(buf);
	return 0;
}

/* -V: an RFC 3461 §4.4 ENVID: 1 to 100 printable US-ASCII characters, no space. */
static int
check_envid(const char *arg, struct err *e)
{
	size_t len = strlen(arg);

	if (len == 0 || len > ENVID_MAX)
		return err_set(e, ERR_USAGE,
		               "parse flags: -V: the envelope id must be 1 to %d "
		               "characters long, not %zu",
		               ENVID_MAX, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c <= 0x20 || c >= 0x7f)
			return err_set(e, ERR_USAGE,
			               "parse flags: -V %s: the envelope id must be "
			               "printable ASCII without spaces",
			               arg);
	}
	/* RFC 3461 §4.4 limits the ENVID as sent, in xtext, where "+" and "=" take three
	 * characters: check that here, not at send time after the message was queued. */
	char x[SMTP_ENVID_MAX + 1];
	if (smtp_xtext(arg, len, x, sizeof(x)) < 0)
		return err_set(e, ERR_USAGE,
		               "parse flags: -V: the envelope id is longer than %d "
		               "characters once encoded ('+' and '=' count three each)",
		               SMTP_ENVID_MAX);
	return 0;
}

/* -b MODE. */
static int
parse_mode(struct opts *o, const char *arg, struct err *e)
{
	if (strcmp(arg, "m") == 0)
		o->mode = CLI_SEND;
	else if (strcmp(arg, "p") == 0)
		o->mode = CLI_LIST;
	else if (strcmp(arg, "s") == 0)
		o->mode = CLI_SERVE;
	else if (strcmp(arg, "v") == 0)
		o->mode = CLI_VERIFY;
	else if (strcmp(arg, "i") == 0)
		o->mode = CLI_NEWALIASES;
	else if (strcmp(arg, "d") == 0 || strcmp(arg, "l") == 0)
		return err_set(
		    e, ERR_USAGE,
		    "parse flags: -b%s: postie has no daemon mode; it "
		    "hands each message to the account's server when it is run (a listening "
		    "daemon is an MTA's job)",
		    arg);
	else if (strcmp(arg, "h") == 0 || strcmp(arg, "H") == 0)
		return err_set(e, ERR_USAGE,
		               "parse flags: -b%s: postie keeps no host status "
		               "database",
		               arg);
	else
		return err_set(e, ERR_USAGE,
		               "parse flags: -b%s: unknown mode; expected -bm, -bp, "
		               "-bs, -bv or -bi",
		               arg);
	return 0;
}

/* -q[R|I]SUBSTRING or -qINTERVAL. */
static int
parse_queue(struct opts *o, const char *arg, struct err *e)
{
	o->mode = CLI_FLUSH;
	if (arg && (arg[0] == 'R' || arg[0] == 'I') && arg[1])
		replace(arg[0] == 'R' ? &o->queue_rcpt : &o->queue_id, arg + 1);
	else if (arg && arg[0] && !(arg[0] >= '0' && arg[0] <= '9'))
		return err_set(e, ERR_USAGE,
		               "parse flags: -q%s: expected -q, -qRSUBSTR, "
		               "-qISUBSTR or -qINTERVAL",
		               arg);
	return 0;
}

/* One msmtp long option, to the overrides. */
static int
parse_long(struct opts *o, const struct longopt *l, const char *arg, struct err *e)
{
	char name[32];
	const char *value = arg ? arg : "on";
	size_t len = strlen(l->flag);

	if (len >= sizeof(name))
		fatal("cli: long option %s too long", l->flag);
	for (size_t i = 0; i <= len; i++)
		name[i] = l->flag[i] == '-' ? '_' : l->flag[i];
	/* msmtp's older command, the inverse of remove_bcc_headers: a switch. */
	bool keepbcc = strcmp(name, "keepbcc") == 0;
	if (keepbcc && value[0] && strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
		return err_set(e, ERR_USAGE, "parse flags: --keepbcc=%s: expected on or off",
		               value);
	/*
	 * The argv of a sendmail is attacker-influenced (PHPMailer, CVE-2016-10033: an injected
	 * -X wrote a web shell). msmtp takes --logfile, --passwordeval, --aliases and the TLS
	 * files from argv; postie does not, nor --keepbcc (profile_argv_check's table says
	 * which, SEC-43). Refused here, before the message is read; profile_apply checks again.
	 */
	if (profile_argv_check(name, value, e) < 0)
		return -1;
	/* What is left of --keepbcc is "off", which keeps the removal. */
	if (keepbcc)
		add_override(o, "remove_bcc_headers", "on");
	else
		add_override(o, name, value);
	return 0;
}

/* A flag without a value that sets a switch or the mode; false when RC is not one. */
static bool
parse_switch(struct opts *o, int rc)
{
	switch (rc) {
	case OPT_T:
		o->read_rcpts = true;
		return true;
	case OPT_I:
		o->ignore_dots = true;
		return true;
	case OPT_VERBOSE:
		o->verbose = true;
		return true;
	case OPT_VERSION:
		o->version = true;
		return true;
	case OPT_HELP:
		o->help = true;
		return true;
	case OPT_ENVELOPE_FROM:
		o->read_envelope_from = true;
		return true;
	case OPT_FLUSH:
		o->mode = CLI_FLUSH;
		return true;
	case OPT_NEWALIASES:
		o->mode = CLI_NEWALIASES;
		return true;
	case OPT_SERVERINFO:
		o->mode = CLI_SERVERINFO;
		return true;
	case OPT_PRETEND:
		o->mode = CLI_PRETEND;
		return true;
	case OPT_CHECK:
		o->mode = CLI_CHECK;
		return true;
	case OPT_QUEUE_DELETE:
		o->mode = CLI_QUEUE_DELETE;
		return true;
	case OPT_QUEUE_RETRY:
		o->mode = CLI_QUEUE_RETRY;
		return true;
	case OPT_IPV4:
	case OPT_IPV6:
		add_override(o, "ip_family", rc == OPT_IPV4 ? "4" : "6");
		return true;
	default:
		return false;
	}
}

/* -oX[VALUE]. */
static int
parse_o(struct opts *o, const char *arg, struct err *e)
{
	if (!arg || !arg[0])
		return err_set(e, ERR_USAGE, "parse flags: -o needs an option letter, e.g. -oi");
	/*
	 * -oi (Postfix looks at the letter only) is -i. The rest change nothing postie does:
	 * -oeX error mode (errors always go to the exit status and stderr), -odX delivery mode
	 * (postie delivers in the foreground, or queues), -om, -o7, -o8, -oA (alias file:
	 * newaliases has nothing to build), -oQ (the queue is the profile's queue_dir), and any
	 * other sendmail.cf option.
	 */
	if (arg[0] == 'i')
		o->ignore_dots = true;
	else
		note_ignored(o, "-o", arg);
	return 0;
}

/* -B 7BIT|8BITMIME: RFC 6152 BODY=; Postfix takes exactly these two names. */
static int
parse_body(struct opts *o, const char *arg, struct err *e)
{
	if (arg && strcasecmp(arg, "7BIT") == 0)
		o->body = 7;
	else if (arg && strcasecmp(arg, "8BITMIME") == 0)
		o->body = 8;
	else
		return err_set(e, ERR_USAGE, "parse flags: -B %s: expected 7BIT or 8BITMIME",
		               arg ? arg : "");
	return 0;
}

/* -N: msmtp's "off" (no NOTIFY, whatever the profile says), or parse_notify's list. */
static int
parse_dsn_notify(struct opts *o, const char *arg, struct err *e)
{
	free(o->dsn_notify);
	o->dsn_notify = NULL;
	if (arg && strcasecmp(arg, "off") == 0) {
		add_override(o, "dsn_notify", "off");
		return 0;
	}
	return parse_notify(arg ? arg : "", &o->dsn_notify, e);
}

/* -R: RFC 3461 §4.3 RET=FULL|HDRS; msmtp spells HDRS "headers" and has "off". */
static int
parse_dsn_return(struct opts *o, const char *arg, struct err *e)
{
	free(o->dsn_ret);
	o->dsn_ret = NULL;
	if (arg && strcasecmp(arg, "off") == 0)
		add_override(o, "dsn_return", "off");
	else if (arg && strcasecmp(arg, "full") == 0)
		o->dsn_ret = xstrdup("FULL");
	else if (arg && (strcasecmp(arg, "hdrs") == 0 || strcasecmp(arg, "headers") == 0))
		o->dsn_ret = xstrdup("HDRS");
	else
		return err_set(e, ERR_USAGE, "parse flags: -R %s: expected full or hdrs",
		               arg ? arg : "");
	return 0;
}

/* A flag accepted and ignored (IGNORED(letter)), or an msmtp long option. */
static int
parse_other(struct opts *o, int rc, const char *arg, struct err *e)
{
	if (rc >= OPT_IGNORED) {
		char flag[4] = {'-', (char)(rc - OPT_IGNORED), '\0', '\0'};
		/* Letters whose value is written attached (-Am, -oem); the rest apart. */
		if (arg && rc != IGNORED('A'))
			flag[2] = ' ';
		note_ignored(o, flag, arg);
		return 0;
	}
	if (rc >= OPT_LONG && (size_t)(rc - OPT_LONG) < NLONG)
		return parse_long(o, &longopts[rc - OPT_LONG], arg, e);
	fatal("cli: popt returned %d", rc);
}

/* One option popt found (RC, with its value ARG or NULL). */
static int
parse_one(struct opts *o, int rc, const char *arg, bool *warned_x, struct err *e)
{
	if (parse_switch(o, rc))
		return 0;
	switch (rc) {
	case OPT_SENDER:
		/* "<>" and "" are the null reverse-path (RFC 5321 §4.5.5); submit sends
		 * MAIL FROM:<> for "". */
		replace(&o->sender, arg && strcmp(arg, "<>") != 0 ? arg : "");
		return 0;
	case OPT_FULLNAME:
		replace(&o->fullname, arg);
		return 0;
	case OPT_ACCOUNT:
		replace(&o->account, arg);
		return 0;
	case OPT_FILE:
		replace(&o->profile, arg);
		return 0;
	case OPT_O:
		return parse_o(o, arg, e);
	case OPT_QUEUE:
		return parse_queue(o, arg, e);
	case OPT_MODE:
		return parse_mode(o, arg ? arg : "", e);
	case OPT_BODY:
		return parse_body(o, arg, e);
	case OPT_NOTIFY:
		return parse_dsn_notify(o, arg, e);
	case OPT_RETURN:
		return parse_dsn_return(o, arg, e);
	case OPT_ENVID:
		if (check_envid(arg ? arg : "", e) < 0)
			return -1;
		replace(&o->envid, arg);
		return 0;
	case OPT_LOG_X:
		if (!*warned_x)
			warn("-X is ignored: postie never opens a file named by its flags "
			     "(CVE-2016-10033); set logfile in the profile instead");
		*warned_x = true;
		return 0;
	default:
		return parse_other(o, rc, arg, e);
	}
}

/* The flag that chose a mode which takes no recipients, or NULL. */
static const char *
mode_without_rcpts(enum cli_mode m)
{
	switch (m) {
	case CLI_FLUSH:
		return "-q";
	case CLI_LIST:
		return "-bp (mailq)";
	case CLI_SERVE:
		return "-bs";
	case CLI_NEWALIASES:
		return "-bi (newaliases)";
	case CLI_SERVERINFO:
		return "--serverinfo";
	case CLI_CHECK:
		return "--check";
	default:
		return NULL;
	}
}

int
cli_parse(struct opts *o, int argc, const char *const *argv, struct err *e)
{
	static const char *const noargs[] = {"postie", NULL};

	memset(o, 0, sizeof(*o));
	/* execve() may pass an empty argv; parse it as a bare "postie". */
	if (argc < 1 || !argv || !argv[0]) {
		argc = 1;
		argv = noargs;
	}
	cli_name(o, argv[0]);

	struct poptOption *table = table_new();
	char **made = xcalloc((size_t)argc + 1, sizeof(char *));
	size_t nmade = 0;
	const char **args = prescan(table, argc, argv, made, &nmade);
	poptContext pc = poptGetContext("postie", argc, args, table, POPT_CONTEXT_POSIXMEHARDER);
	bool warned_x = false;
	int rc, failed = 0;

	rc = poptGetNextOpt(pc);
	while (rc > 0) {
		char *arg = poptGetOptArg(pc);
		failed = parse_one(o, rc, arg, &warned_x, e) < 0;
		free(arg);
		if (failed)
			break;
		rc = poptGetNextOpt(pc);
	}
	if (!failed && rc < -1)
		failed = err_set(e, ERR_USAGE, "parse flags: %s: %s; see postie --help",
		                 poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc)) < 0;
	if (!failed) {
		const char **rest = poptGetArgs(pc);
		size_t n = 0;
		while (rest && rest[n])
			n++;
		o->rcpts = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			o->rcpts[i] = xstrdup(rest[i]);
		o->nrcpts = n;
		const char *flag = mode_without_rcpts(o->mode);
		if (n > 0 && flag)
			failed = err_set(e, ERR_USAGE,
			                 "parse flags: %s takes no recipients; "
			                 "remove %s",
			                 flag, o->rcpts[0]) < 0;
		if (n == 0 && (o->mode == CLI_QUEUE_DELETE || o->mode == CLI_QUEUE_RETRY))
			failed =
			    err_set(e, ERR_USAGE,
			            "parse flags: --queue-%s needs one or more queue ids (mailq "
			            "lists them)",
			            o->mode == CLI_QUEUE_DELETE ? "delete" : "retry") < 0;
	}
	poptFreeContext(pc);
	for (size_t i = 0; i < nmade; i++)
		free(made[i]);
	free(made);
	free(args);
	free(table);
	if (failed) {
		cli_fini(o);
		return -1;
	}
	return 0;
}

void
cli_name(struct opts *o, const char *argv0)
{
	if (!argv0)
		return;
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		o->mode = CLI_LIST;
	else if (strcmp(base, "newaliases") == 0)
		o->mode = CLI_NEWALIASES;
}

void
cli_fini(struct opts *o)
{
	free(o->queue_rcpt);
	free(o->queue_id);
	free(o->sender);
	free(o->fullname);
	free(o->account);
	free(o->profile);
	free(o->dsn_notify);
	free(o->dsn_ret);
	free(o->envid);
	for (size_t i = 0; i < o->noverrides; i++) {
		free(o->overrides[i].name);
		free(o->overrides[i].value);
	}
	free(o->overrides);
	free(o->ignored);
	for (size_t i = 0; i < o->nrcpts; i++)
		free(o->rcpts[i]);
	free(o->rcpts);
	memset(o, 0, sizeof(*o));
}

void
cli_usage(FILE *f)
{
	fputs("Usage: postie [flags] [--] recipient...\n"
	      "       postie -t [flags] [--] [recipient...]\n"
	      "Reads a message on standard input and submits it to the account's server.\n"
	      "Called as sendmail, send-mail, mailq or newaliases it acts as those.\n"
	      "\n"
	      "Sending:\n"
	      "  -t, --read-recipients  recipients from To, Cc and Bcc too (Bcc is removed)\n"
	      "  -f ADDR, -r ADDR, --from=ADDR\n"
	      "                         envelope sender (default: the account's from; '<>' or ''\n"
	      "                         is the null sender)\n"
	      "  --read-envelope-from   envelope sender from the From field\n"
	      "  -F NAME                full name for an added From field\n"
	      "  -i, -oi                a line holding only '.' does not end the message\n"
	      "  -N never|success,delay,failure, --dsn-notify=...\n"
	      "                         delivery status notifications (RFC 3461)\n"
	      "  -R full|hdrs, --dsn-return=...  what a bounce returns\n"
	      "  -V ENVID               envelope id for notifications\n"
	      "  -B 7BIT|8BITMIME       body type\n"
	      "\n"
	      "Profile:\n"
	      "  -a, --account=NAME     use this account of the profile\n"
	      "  -C, --file=FILE        read this profile instead of ~/.config/postie/config\n"
	      "  --host=, --port=, --tls[=on|off], --auth[=on|off|MECH], --user=, ...\n"
	      "                         msmtp's long options: set that profile command\n"
	      "                         for this run (see postie(1))\n"
	      "  -4, -6, --ip-family=any|4|6\n"
	      "                         connect over IPv4 only, IPv6 only, or both (raced)\n"
	      "\n"
	      "Modes:\n"
	      "  -bm                    deliver the message (the default)\n"
	      "  -q, --flush            deliver the queue now (-qRsubstr, -qIsubstr select)\n"
	      "  -bp                    list the queue (also as mailq; -v: every detail)\n"
	      "  --queue-delete ID...   remove these queue entries (an id or its unique start)\n"
	      "  --queue-retry ID...    make these entries due now; failed ones wait again\n"
	      "  -bs                    speak SMTP on standard input and output\n"
	      "  -bv                    print the recipients a delivery would use, send nothing\n"
	      "  -bi, -I                newaliases: nothing to do, exits 0\n"
	      "  -S, --serverinfo       show what the server offers\n"
	      "  -P, --pretend          show the settings that would be used, send nothing\n"
	      "      --check            check the account's path step by step, send nothing\n"
	      "\n"
	      "  -v, -d, --debug        show the SMTP session on stderr (secrets redacted)\n"
	      "      --version          print the version\n"
	      "      --help             print this help\n"
	      "\n"
	      "Accepted and ignored: -G -U -m -n -c -x -h N -L TAG -O OPT=VAL -A m|c -e X -p P\n"
	      "-oX (except -oi); -X FILE is ignored with a warning. Refused: -bd -bl -bh -bH.\n"
	      "Exit status: 0 delivered or queued; 75 try again later; see postie(1).\n",
	      f);
}
