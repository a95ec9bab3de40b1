/*
 * profile: msmtp's configuration syntax (msmtp(1), "CONFIGURATION FILES"), so that an existing
 * ~/.msmtprc loads unchanged, with postie's secure defaults (TLS on, STARTTLS, verified
 * certificates). Requirements met here: SEC-9 (SHA-256 pins only), SEC-14 (a file holding a
 * secret must be private), SEC-24 (no CR, LF or NUL in any value).
 */
#include "profile.h"

#include "buf.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A profile is a few hundred bytes; anything near this is not a profile. */
#define PROFILE_MAX_FILE (1024 * 1024)
/* How much of an unknown command word an error message quotes. */
#define PROFILE_SHOW 64
/* RFC 4422 §3.1: a SASL mechanism name is 1 to 20 characters. */
#define SASL_MECH_MAX 20
/* A SHA-256 fingerprint in hex. */
#define FPR_DIGITS 64

/*
 * Every setting of struct account, with the bit that says a profile line gave it. The table
 * drives inheritance (copy what the parent set), comparison and freeing, so that adding a
 * setting is one line here and one in the command table below.
 */
enum ftype { F_STR, F_BOOL, F_INT, F_PORTS };

struct field {
	uint64_t bit;
	enum ftype type;
	size_t off;
};

#define FIELD(bit, type, member)                                                                   \
	{                                                                                          \
		bit, type, offsetof(struct account, member)                                        \
	}

static const struct field fields[] = {
    FIELD(PROFILE_SET_HOST, F_STR, host),
    FIELD(PROFILE_SET_PORT, F_INT, port),
    FIELD(PROFILE_SET_PORT, F_PORTS, ports),
    FIELD(PROFILE_SET_PORT, F_INT, nports),
    FIELD(PROFILE_SET_FROM, F_STR, from),
    FIELD(PROFILE_SET_DOMAIN, F_STR, domain),
    FIELD(PROFILE_SET_USER, F_STR, user),
    FIELD(PROFILE_SET_PASSWORD, F_STR, password),
    FIELD(PROFILE_SET_PASSWORDEVAL, F_STR, passwordeval),
    FIELD(PROFILE_SET_AUTH, F_BOOL, auth),
    FIELD(PROFILE_SET_AUTH, F_STR, auth_mech),
    FIELD(PROFILE_SET_TLS, F_BOOL, tls),
    FIELD(PROFILE_SET_TLS_STARTTLS, F_BOOL, tls_starttls),
    FIELD(PROFILE_SET_TLS_TRUST_FILE, F_STR, tls_trust_file),
    FIELD(PROFILE_SET_TLS_FINGERPRINT, F_STR, tls_fingerprint),
    FIELD(PROFILE_SET_TLS_CERTCHECK, F_BOOL, tls_certcheck),
    FIELD(PROFILE_SET_TLS_HOST_OVERRIDE, F_STR, tls_host_override),
    FIELD(PROFILE_SET_TLS_PRIORITIES, F_STR, tls_priorities),
    FIELD(PROFILE_SET_TIMEOUT, F_INT, timeout),
    FIELD(PROFILE_SET_QUEUE, F_BOOL, queue),
    FIELD(PROFILE_SET_QUEUE_DIR, F_STR, queue_dir),
    FIELD(PROFILE_SET_QUEUE_LIFETIME, F_INT, queue_lifetime),
    FIELD(PROFILE_SET_LOGFILE, F_STR, logfile),
    FIELD(PROFILE_SET_LOGFILE_TIME_FORMAT, F_STR, logfile_time_format),
    FIELD(PROFILE_SET_SYSLOG, F_STR, syslog),
    FIELD(PROFILE_SET_ALIASES, F_STR, aliases),
    FIELD(PROFILE_SET_AUTO_FROM, F_BOOL, auto_from),
    FIELD(PROFILE_SET_MAILDOMAIN, F_STR, maildomain),
    FIELD(PROFILE_SET_ALLOW_FROM_OVERRIDE, F_BOOL, allow_from_override),
    FIELD(PROFILE_SET_SET_FROM_HEADER, F_INT, set_from_header),
    FIELD(PROFILE_SET_SET_DATE_HEADER, F_INT, set_date_header),
    FIELD(PROFILE_SET_SET_MSGID_HEADER, F_INT, set_msgid_header),
    FIELD(PROFILE_SET_REMOVE_BCC_HEADERS, F_BOOL, remove_bcc_headers),
    FIELD(PROFILE_SET_UNDISCLOSED_RECIPIENTS, F_BOOL, undisclosed_recipients),
    FIELD(PROFILE_SET_DSN_NOTIFY, F_STR, dsn_notify),
    FIELD(PROFILE_SET_DSN_RETURN, F_STR, dsn_return),
    FIELD(PROFILE_SET_SOURCE_IP, F_STR, source_ip),
    FIELD(PROFILE_SET_PROXY_HOST, F_STR, proxy_host),
    FIELD(PROFILE_SET_PROXY_PORT, F_INT, proxy_port),
    FIELD(PROFILE_SET_SOCKET, F_STR, socket),
    FIELD(PROFILE_SET_PROTOCOL, F_BOOL, lmtp),
    FIELD(PROFILE_SET_FROM_FULL_NAME, F_STR, from_full_name),
    FIELD(PROFILE_SET_TLS_CERT_FILE, F_STR, tls_cert_file),
    FIELD(PROFILE_SET_TLS_KEY_FILE, F_STR, tls_key_file),
    FIELD(PROFILE_SET_TLS_CRL_FILE, F_STR, tls_crl_file),
    FIELD(PROFILE_SET_TLS_MIN_VERSION, F_INT, tls_min_version),
    FIELD(PROFILE_SET_TLS_FINGERPRINT, F_STR, tls_pin_spki),
    FIELD(PROFILE_SET_OAUTH2_TOKEN_COMMAND, F_STR, oauth2_token_command),
    FIELD(PROFILE_SET_PASSWORD_FILE, F_STR, password_file),
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* How a command's argument is read. */
enum kind {
	K_REQUIRED, /* a string that must not be empty (host) */
	K_TEXT,     /* a string; empty unsets it, as in msmtp */
	K_DOMAIN,   /* a string; empty goes back to "localhost" (an empty EHLO is invalid) */
	K_SECRET,   /* password, passwordeval: empty unsets; only in a private file (SEC-14) */
	K_PORT,     /* 1..65535 */
	K_PORTS,    /* one to PROFILE_MAX_PORTS ports, tried in order */
	K_TIMEOUT,  /* off or seconds */
	K_BOOL,     /* on, off; empty means on (msmtp) */
	K_AUTH,     /* on, off, empty (on) or a SASL mechanism name */
	K_TRUST,    /* system, empty (msmtp: none; here the system store) or a file name */
	K_FPR,      /* SHA-256 fingerprint; empty unsets */
	K_PATH,     /* a file or directory name, ~ expanded; empty unsets */
	K_DURATION, /* seconds, or a number with s, m, h or d */
	K_NOT_BOOL, /* on, off, empty (on), stored inverted (keepbcc, tls_nocertcheck) */
	K_SYSLOG,   /* on, off, empty (on) or a facility name */
	K_HDR3,     /* auto, on, off (set_from_header) */
	K_HDR2,     /* auto, off (set_date_header, set_msgid_header) */
	K_ADD_HDR,  /* msmtp's old add_missing_*_header on|off: auto|off of the new command */
	K_NOTIFY,   /* off, never, or a list of success, failure, delay */
	K_RETURN,   /* off, headers, full */
	K_PROTOCOL, /* smtp, lmtp */
	K_TLS_MIN,  /* 1.2, 1.3 */
	K_EVAL,     /* run a command; its first output line is read as this line */
	K_OBSOLETE, /* accepted and ignored, with a warning saying why */
	K_REFUSED,  /* on is refused with the reason; off is accepted */
};

struct command {
	const char *name;
	enum kind kind;
	uint64_t bit;
	size_t off;
	const char *why; /* K_OBSOLETE, K_REFUSED: the reason */
};

#define CMD(name, kind, bit, member)                                                               \
	{                                                                                          \
		name, kind, bit, offsetof(struct account, member), NULL                            \
	}
#define NOTE(name, kind, why)                                                                      \
	{                                                                                          \
		name, kind, 0, 0, why                                                              \
	}

static const struct command commands[] = {
    CMD("host", K_REQUIRED, PROFILE_SET_HOST, host),
    CMD("port", K_PORTS, PROFILE_SET_PORT, port),
    CMD("from", K_TEXT, PROFILE_SET_FROM, from),
    CMD("domain", K_DOMAIN, PROFILE_SET_DOMAIN, domain),
    CMD("user", K_TEXT, PROFILE_SET_USER, user),
    CMD("password", K_SECRET, PROFILE_SET_PASSWORD, password),
    CMD("passwordeval", K_SECRET, PROFILE_SET_PASSWORDEVAL, passwordeval),
    CMD("auth", K_AUTH, PROFILE_SET_AUTH, auth),
    CMD("tls", K_BOOL, PROFILE_SET_TLS, tls),
    CMD("tls_starttls", K_BOOL, PROFILE_SET_TLS_STARTTLS, tls_starttls),
    CMD("tls_trust_file", K_TRUST, PROFILE_SET_TLS_TRUST_FILE, tls_trust_file),
    CMD("tls_fingerprint", K_FPR, PROFILE_SET_TLS_FINGERPRINT, tls_fingerprint),
    CMD("tls_certcheck", K_BOOL, PROFILE_SET_TLS_CERTCHECK, tls_certcheck),
    CMD("tls_host_override", K_TEXT, PROFILE_SET_TLS_HOST_OVERRIDE, tls_host_override),
    CMD("tls_priorities", K_TEXT, PROFILE_SET_TLS_PRIORITIES, tls_priorities),
    CMD("timeout", K_TIMEOUT, PROFILE_SET_TIMEOUT, timeout),
    /* msmtp up to 1.4.1 called it so and still accepts the name. */
    CMD("connect_timeout", K_TIMEOUT, PROFILE_SET_TIMEOUT, timeout),
    /* postie's own: the durable queue. */
    CMD("queue", K_BOOL, PROFILE_SET_QUEUE, queue),
    CMD("queue_dir", K_PATH, PROFILE_SET_QUEUE_DIR, queue_dir),
    CMD("queue_lifetime", K_DURATION, PROFILE_SET_QUEUE_LIFETIME, queue_lifetime),

    /* The rest of msmtp 1.8's commands. */
    CMD("logfile", K_PATH, PROFILE_SET_LOGFILE, logfile),
    CMD("logfile_time_format", K_TEXT, PROFILE_SET_LOGFILE_TIME_FORMAT, logfile_time_format),
    CMD("syslog", K_SYSLOG, PROFILE_SET_SYSLOG, syslog),
    CMD("aliases", K_PATH, PROFILE_SET_ALIASES, aliases),
    CMD("auto_from", K_BOOL, PROFILE_SET_AUTO_FROM, auto_from),
    CMD("maildomain", K_TEXT, PROFILE_SET_MAILDOMAIN, maildomain),
    CMD("allow_from_override", K_BOOL, PROFILE_SET_ALLOW_FROM_OVERRIDE, allow_from_override),
    CMD("set_from_header", K_HDR3, PROFILE_SET_SET_FROM_HEADER, set_from_header),
    CMD("set_date_header", K_HDR2, PROFILE_SET_SET_DATE_HEADER, set_date_header),
    CMD("set_msgid_header", K_HDR2, PROFILE_SET_SET_MSGID_HEADER, set_msgid_header),
    CMD("remove_bcc_headers", K_BOOL, PROFILE_SET_REMOVE_BCC_HEADERS, remove_bcc_headers),
    CMD("undisclosed_recipients", K_BOOL, PROFILE_SET_UNDISCLOSED_RECIPIENTS,
        undisclosed_recipients),
    CMD("dsn_notify", K_NOTIFY, PROFILE_SET_DSN_NOTIFY, dsn_notify),
    CMD("dsn_return", K_RETURN, PROFILE_SET_DSN_RETURN, dsn_return),
    CMD("source_ip", K_TEXT, PROFILE_SET_SOURCE_IP, source_ip),
    CMD("proxy_host", K_TEXT, PROFILE_SET_PROXY_HOST, proxy_host),
    CMD("proxy_port", K_PORT, PROFILE_SET_PROXY_PORT, proxy_port),
    CMD("socket", K_PATH, PROFILE_SET_SOCKET, socket),
    CMD("protocol", K_PROTOCOL, PROFILE_SET_PROTOCOL, lmtp),
    CMD("from_full_name", K_TEXT, PROFILE_SET_FROM_FULL_NAME, from_full_name),
    CMD("tls_cert_file", K_PATH, PROFILE_SET_TLS_CERT_FILE, tls_cert_file),
    CMD("tls_key_file", K_PATH, PROFILE_SET_TLS_KEY_FILE, tls_key_file),
    CMD("tls_crl_file", K_PATH, PROFILE_SET_TLS_CRL_FILE, tls_crl_file),
    CMD("eval", K_EVAL, 0, host),
    /* msmtp's older spellings. */
    CMD("add_missing_from_header", K_ADD_HDR, PROFILE_SET_SET_FROM_HEADER, set_from_header),
    CMD("add_missing_date_header", K_ADD_HDR, PROFILE_SET_SET_DATE_HEADER, set_date_header),
    CMD("keepbcc", K_NOT_BOOL, PROFILE_SET_REMOVE_BCC_HEADERS, remove_bcc_headers),
    CMD("tls_nocertcheck", K_NOT_BOOL, PROFILE_SET_TLS_CERTCHECK, tls_certcheck),
    NOTE("tls_min_dh_prime_bits", K_OBSOLETE,
         "TLS 1.2 and 1.3 with GnuTLS's defaults refuse weak Diffie-Hellman groups already"),
    NOTE("ntlmdomain", K_OBSOLETE,
         "postie does not offer NTLM, which is insecure; msmtp dropped it too"),
    NOTE("tls_force_sslv3", K_REFUSED,
         "SSL 3.0 is broken (RFC 7568) and postie never speaks below TLS 1.2"),

    /* postie's own. */
    CMD("tls_min_version", K_TLS_MIN, PROFILE_SET_TLS_MIN_VERSION, tls_min_version),
    CMD("oauth2_token_command", K_SECRET, PROFILE_SET_OAUTH2_TOKEN_COMMAND, oauth2_token_command),
    CMD("password_file", K_PATH, PROFILE_SET_PASSWORD_FILE, password_file),
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/*
 * What the command line may do with a profile command (msmtp's long options reach the
 * account through profile_apply only). The argv of a sendmail is a caller's, and the caller
 * may be an attacker (PHP mail()'s fifth parameter, CVE-2016-10033). Commands not listed
 * here may be set freely (from, domain, user, auth, timeout, maildomain, dsn_*, ...).
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
    {"password", ARGV_NEVER, NULL, "hand a password to whoever it chose"},
    {"passwordeval", ARGV_NEVER, NULL, "run any command"},
    {"password_file", ARGV_NEVER, NULL, "read any file"},
    {"oauth2_token_command", ARGV_NEVER, NULL, "run any command"},
    {"eval", ARGV_NEVER, NULL, "run any command"},
    {"logfile", ARGV_NEVER, "-", "write any file"},
    {"aliases", ARGV_NEVER, NULL, "read any file"},
    {"queue_dir", ARGV_NEVER, NULL, "write any file"},
    {"queue_lifetime", ARGV_NEVER, NULL, "expire the queued mail"},
    {"keepbcc", ARGV_ONLY, "off", "reveal the Bcc recipients to everyone"},
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

static char **
str_at(struct account *a, size_t off)
{
	return (char **)(void *)((char *)a + off);
}

static char *const *
cstr_at(const struct account *a, size_t off)
{
	return (char *const *)(const void *)((const char *)a + off);
}

static bool
cbool(const struct account *a, size_t off)
{
	return *(const bool *)(const void *)((const char *)a + off);
}

static int
cint(const struct account *a, size_t off)
{
	return *(const int *)(const void *)((const char *)a + off);
}

static bool *
bool_at(struct account *a, size_t off)
{
	return (bool *)(void *)((char *)a + off);
}

static int *
int_at(struct account *a, size_t off)
{
	return (int *)(void *)((char *)a + off);
}

static const int *
cports(const struct account *a, size_t off)
{
	return (const int *)(const void *)((const char *)a + off);
}

/* Free a string that may hold a secret: every value is wiped, which costs nothing here. */
static void
wipe_free(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void
set_str(struct account *a, size_t off, char *owned)
{
	char **slot = str_at(a, off);

	wipe_free(slot);
	*slot = owned;
}

/* Copy into DST every setting whose bit is in MASK. */
static void
copy_fields(struct account *dst, const struct account *src, uint64_t mask)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!(f->bit & mask))
			continue;
		switch (f->type) {
		case F_STR: {
			char *v = *cstr_at(src, f->off);
			set_str(dst, f->off, v ? xstrdup(v) : NULL);
			break;
		}
		case F_BOOL:
			*bool_at(dst, f->off) = cbool(src, f->off);
			break;
		case F_INT:
			*int_at(dst, f->off) = cint(src, f->off);
			break;
		case F_PORTS:
			memcpy(int_at(dst, f->off), cports(src, f->off),
			       PROFILE_MAX_PORTS * sizeof(int));
			break;
		}
	}
}

static bool
same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Whether every setting whose bit is in MASK is the same in A and B. */
static bool
same_fields(const struct account *a, const struct account *b, uint64_t mask)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!(f->bit & mask))
			continue;
		switch (f->type) {
		case F_STR:
			if (!same_str(*cstr_at(a, f->off), *cstr_at(b, f->off)))
				return false;
			break;
		case F_BOOL:
			if (cbool(a, f->off) != cbool(b, f->off))
				return false;
			break;
		case F_INT:
			if (cint(a, f->off) != cint(b, f->off))
				return false;
			break;
		case F_PORTS:
			if (memcmp(cports(a, f->off), cports(b, f->off),
			           PROFILE_MAX_PORTS * sizeof(int)) != 0)
				return false;
			break;
		}
	}
	return true;
}

/* Whether two accounts would behave the same (their names aside). */
static bool
same_settings(const struct account *a, const struct account *b)
{
	return a->set == b->set && same_fields(a, b, ~UINT64_C(0));
}

/* The settings every profile starts from: postie's secure defaults (not msmtp's). */
static void
account_defaults(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->domain = xstrdup("localhost");
	a->tls = true;
	a->queue = true;
	a->tls_starttls = true;
	a->tls_certcheck = true;
	a->allow_from_override = true;
	a->remove_bcc_headers = true;
}

static void
account_fini(struct account *a)
{
	wipe_free(&a->name);
	wipe_free(&a->file);
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].type == F_STR)
			wipe_free(str_at(a, fields[i].off));
}

static void
account_free(struct account *a)
{
	if (!a)
		return;
	account_fini(a);
	free(a);
}

/* The home directory for "~": $HOME, else the password database. NULL when neither. */
static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_dir && *pw->pw_dir)
		return pw->pw_dir;
	return NULL;
}

static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xmalloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* ---- one file ---- */

struct parse {
	const char *file;
	enum profile_origin origin;
	bool private;        /* the file passed the SEC-14 checks */
	const char *why;     /* why it did not, for the error; NULL: the generic reason */
	struct profile out;  /* the accounts of this file */
	uint64_t *own;       /* per account of out: bits its own lines and its parents gave */
	unsigned eval_depth; /* inside an eval line: no eval again */
	struct account defaults;
	struct account *cur; /* where settings go: &defaults, an account of out, or NULL */
	size_t cur_idx;      /* index of cur in out, SIZE_MAX for the defaults */
	size_t alias;        /* index of "account default : NAME" in out, else SIZE_MAX */
	bool alias_touched;  /* that account had lines of its own */
	char *alias_target;
};

static void
parse_fini(struct parse *ps)
{
	for (size_t i = 0; i < ps->out.n; i++)
		account_free(ps->out.accounts[i]);
	free(ps->out.accounts);
	free(ps->out.default_name);
	free(ps->own);
	account_fini(&ps->defaults);
	free(ps->alias_target);
}

static struct account *
find_in(const struct profile *p, const char *name, size_t *idx)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->accounts[i]->name, name) == 0) {
			if (idx)
				*idx = i;
			return p->accounts[i];
		}
	}
	return NULL;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks on both sides of [*s, *s + *n). */
static void
trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

/*
 * The argument as a string. When it begins and ends with '"', the quotes go and, inside,
 * \" and \\ stand for " and \; any other backslash stays as written, like msmtp, which keeps
 * unquoted arguments (a '#' included) literally too.
 */
static char *
unquote(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i < n - 1; i++) {
			if (s[i] == '\\' && i + 2 < n && (s[i + 1] == '"' || s[i + 1] == '\\'))
				i++;
			out[o++] = s[i];
		}
	} else {
		memcpy(out, s, n);
		o = n;
	}
	out[o] = '\0';
	return out;
}

/* Decimal digits only, no sign, at most MAX. */
static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Read a fingerprint written as hex digits, either all together or as colon-separated pairs
 * ("AB:CD:..", as msmtp and openssl print them), in any case, into OUT as lower-case hex.
 * Returns the number of digits, or -1 when the syntax is wrong.
 */
static int
read_fingerprint(const char *s, char out[FPR_DIGITS + 1])
{
	size_t n = strlen(s);
	bool colons = memchr(s, ':', n) != NULL;
	int d = 0;

	if (colons && n % 3 != 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (colons && i % 3 == 2) {
			if (s[i] != ':')
				return -1;
			continue;
		}
		if (hex_value(s[i]) < 0)
			return -1;
		if (d < FPR_DIGITS)
			out[d] = "0123456789abcdef"[hex_value(s[i])];
		if (d < INT_MAX)
			d++;
	}
	out[d < FPR_DIGITS ? d : FPR_DIGITS] = '\0';
	return d;
}

/* RFC 4422 §3.1: upper-case letters, digits, '-' and '_'; we accept lower case and fold it. */
static bool
upcase_mech(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SASL_MECH_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			s[i] = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_'))
			return false;
	}
	return true;
}

/* "~" and "~/x" become $HOME and $HOME/x (msmtp does the same for file names). */
static int
expand_tilde(struct parse *ps, unsigned line, const char *cmd, const char *arg, char **out,
             struct err *e)
{
	if (arg[0] != '~' || (arg[1] != '\0' && arg[1] != '/')) {
		*out = xstrdup(arg);
		return 0;
	}
	const char *home = home_dir();
	if (!home)
		return err_set(e, ERR_CONFIG,
		               "%s:%u: cannot expand '~' for command '%s': HOME is not set",
		               ps->file, line, cmd);
	*out = join(home, arg + 1);
	return 0;
}

static int
invalid(struct parse *ps, unsigned line, const char *cmd, const char *arg, const char *expected,
        struct err *e)
{
	return err_set(e, ERR_CONFIG, "%s:%u: invalid argument '%s' for command '%s': expected %s",
	               ps->file, line, arg, cmd, expected);
}

static int
needs_arg(struct parse *ps, unsigned line, const char *cmd, struct err *e)
{
	return err_set(e, ERR_CONFIG, "%s:%u: command '%s' needs an argument", ps->file, line, cmd);
}

/* on, off, or empty (msmtp: on) into *ON; false for anything else. */
static bool
read_on_off(const char *arg, bool *on)
{
	if (arg[0] == '\0' || strcmp(arg, "on") == 0)
		*on = true;
	else if (strcmp(arg, "off") == 0)
		*on = false;
	else
		return false;
	return true;
}

/*
 * "465 587 2525": blank-separated ports into OUT. Returns how many, or -1 when a word is
 * not a port or there are more than PROFILE_MAX_PORTS.
 */
static int
read_ports(const char *arg, int out[PROFILE_MAX_PORTS])
{
	int n = 0;
	const char *p = arg;

	while (*p) {
		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		size_t len = 0;
		while (p[len] && !is_blank(p[len]))
			len++;
		char word[8];
		unsigned long v;
		if (len >= sizeof(word) || n == PROFILE_MAX_PORTS)
			return -1;
		memcpy(word, p, len);
		word[len] = '\0';
		if (!parse_uint(word, 65535, &v) || v == 0)
			return -1;
		out[n++] = (int)v;
		p += len;
	}
	return n;
}

/* msmtp's facilities (msmtp(1), "syslog"). */
static const char *const facilities[] = {
    "LOG_USER",   "LOG_MAIL",   "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2",
    "LOG_LOCAL3", "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7",
};

/*
 * dsn_notify: "never", or a comma-separated list of success, failure and delay (RFC 3461
 * §4.1), into upper case for the NOTIFY parameter. NULL when the list is wrong.
 */
static char *
read_notify(const char *arg)
{
	static const char *const words[] = {"success", "failure", "delay"};
	char *out;
	size_t n = strlen(arg), o = 0;
	unsigned seen = 0;

	if (strcasecmp(arg, "never") == 0)
		return xstrdup("NEVER");
	out = xmalloc(n + 1);
	for (const char *p = arg;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		size_t w;
		for (w = 0; w < 3; w++)
			if (strlen(words[w]) == len && strncasecmp(p, words[w], len) == 0)
				break;
		if (w == 3 || (seen & (1u << w))) {
			free(out);
			return NULL;
		}
		seen |= 1u << w;
		if (o)
			out[o++] = ',';
		for (size_t i = 0; i < len; i++)
			out[o++] = (char)(words[w][i] - 'a' + 'A');
		if (!comma)
			break;
		p = comma + 1;
	}
	out[o] = '\0';
	return out;
}

/*
 * "sha256//BASE64" (curl's --pinnedpubkey form): the base64 of a SHA-256 digest, 44
 * characters ending in one '='. True when ARG is such a pin; *B64 points at the base64.
 */
static bool
is_spki_pin(const char *arg, const char **b64)
{
	static const char prefix[] = "sha256//";
	size_t n;

	if (strncasecmp(arg, prefix, sizeof(prefix) - 1) != 0)
		return false;
	*b64 = arg + sizeof(prefix) - 1;
	n = strlen(*b64);
	if (n != 44 || (*b64)[43] != '=')
		return false;
	for (size_t i = 0; i < 43; i++) {
		char c = (*b64)[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	/* 32 bytes leave 4 bits of the last character unused: they must be zero. */
	return strchr("AEIMQUYcgkosw048", (*b64)[42]) != NULL;
}

static int parse_line(struct parse *ps, unsigned line, const char *s, size_t n, struct err *e);

/* eval COMMAND: its first output line takes the place of this line (msmtp(1), "eval"). */
static int
eval_line(struct parse *ps, unsigned line, const char *cmd, struct err *e)
{
	struct buf out;
	int r;

	if (ps->eval_depth)
		return err_set(e, ERR_CONFIG,
		               "%s:%u: eval: a command's output must not be "
		               "another eval",
		               ps->file, line);
	buf_init(&out, BUF_MAX_SECRET);
	out.secret = true;
	/* SEC-44: errors name the line, never the command. */
	char what[600];
	snprintf(what, sizeof(what), "eval at %s:%u", ps->file, line);
	if ((r = secret_run(what, cmd, &out, e)) == 0) {
		const char *text = out.data ? out.data : "";
		const char *nl = memchr(text, '\n', out.len);
		size_t n = nl ? (size_t)(nl - text) : out.len;
		ps->eval_depth++;
		r = parse_line(ps, line, text, n, e);
		ps->eval_depth--;
	}
	buf_fini(&out);
	return r;
}

/*
 * What a profile -C names elsewhere may say although the command line may not: a password
 * written in it (it goes to that profile's own server), and the TLS trust and CRL files
 * (public data, never quoted; tls.c reads only regular files of sane size).
 */
static bool
named_may(const char *name)
{
	return strcmp(name, "password") == 0 || strcmp(name, "tls_trust_file") == 0 ||
	       strcmp(name, "tls_crl_file") == 0;
}

/* Apply one setting line to ps->cur. ARG stays the caller's. */
static int
apply(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	struct account *a = ps->cur;
	bool empty = arg[0] == '\0';

	/*
	 * SEC-43: a profile that -C names outside the user's config folder is the caller's
	 * choice, as the command line is: what the command line may not set, it may not set
	 * either (no file to read or write, no command to run, no weaker Bcc or sender rule),
	 * but for what named_may allows. ps->file is
	 * "command line" for profile_apply, which checks on its own. A secret in a file that
	 * is not private gets SEC-14's error instead.
	 */
	bool secret_kind = c->kind == K_SECRET || c->kind == K_EVAL;
	struct err why;
	if (ps->origin == PROFILE_ORIGIN_NAMED && (ps->private || !secret_kind) &&
	    !named_may(c->name) && profile_argv_check(c->name, arg, &why) < 0)
		/* The name only: the value may be a command holding a secret (SEC-44). */
		return err_set(
		    e, ERR_CONFIG,
		    "%s:%u: '%s' is not taken from a profile that -C "
		    "names outside your config folder: a caller could have written it (SEC-43); "
		    "move the file into ~/.config/postie/ or write the setting in your own profile",
		    ps->file, line, c->name);

	switch (c->kind) {
	case K_OBSOLETE:
		warn("%s:%u: '%s' is ignored: %s", ps->file, line, c->name, c->why);
		return 0;
	case K_REFUSED:
		if (!empty && strcmp(arg, "off") == 0)
			return 0;
		return err_set(e, ERR_CONFIG, "%s:%u: '%s' is refused: %s; remove the line",
		               ps->file, line, c->name, c->why);
	case K_EVAL:
		if (empty)
			return needs_arg(ps, line, c->name, e);
		/* It runs a command, like passwordeval: only from a private file (SEC-14). */
		if (!ps->private)
			return err_set(e, ERR_CONFIG, "%s:%u: 'eval' in a profile that %s",
			               ps->file, line,
			               ps->why ? ps->why : "is not private; run 'chmod 600' on it");
		return eval_line(ps, line, arg, e);
	case K_PORTS: {
		int ports[PROFILE_MAX_PORTS] = {0};
		int n;
		if (empty)
			return needs_arg(ps, line, c->name, e);
		n = read_ports(arg, ports);
		if (n <= 0)
			return invalid(
			    ps, line, c->name, arg,
			    "a number from 1 to 65535, or up to 8 of them separated by blanks "
			    "(tried in order)",
			    e);
		memcpy(a->ports, ports, sizeof(ports));
		a->nports = n;
		a->port = ports[0];
		break;
	}
	case K_SYSLOG: {
		const char *fac = NULL;
		if (empty || strcmp(arg, "on") == 0) {
			/* msmtp's default facility. */
			fac = "LOG_USER";
		} else if (strcmp(arg, "off") != 0) {
			for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
				if (strcmp(arg, facilities[i]) == 0)
					fac = facilities[i];
			if (!fac)
				return invalid(
				    ps, line, c->name, arg,
				    "on, off, LOG_USER, LOG_MAIL or LOG_LOCAL0 to LOG_LOCAL7", e);
		}
		set_str(a, c->off, fac ? xstrdup(fac) : NULL);
		break;
	}
	case K_HDR3:
	case K_HDR2:
		if (strcmp(arg, "auto") == 0)
			*int_at(a, c->off) = PROFILE_HDR_AUTO;
		else if (strcmp(arg, "off") == 0)
			*int_at(a, c->off) = PROFILE_HDR_OFF;
		else if (c->kind == K_HDR3 && (empty || strcmp(arg, "on") == 0))
			*int_at(a, c->off) = PROFILE_HDR_ON;
		else
			return invalid(ps, line, c->name, arg,
			               c->kind == K_HDR3 ? "auto, on or off" : "auto or off", e);
		break;
	case K_ADD_HDR: {
		bool on;
		if (!read_on_off(arg, &on))
			return invalid(ps, line, c->name, arg, "on or off", e);
		*int_at(a, c->off) = on ? PROFILE_HDR_AUTO : PROFILE_HDR_OFF;
		break;
	}
	case K_NOTIFY: {
		char *v = NULL;
		if (empty)
			return needs_arg(ps, line, c->name, e);
		if (strcmp(arg, "off") != 0 && !(v = read_notify(arg)))
			return invalid(
			    ps, line, c->name, arg,
			    "off, never, or a comma-separated list of success, failure and delay",
			    e);
		set_str(a, c->off, v);
		break;
	}
	case K_RETURN: {
		const char *v = NULL;
		if (empty)
			return needs_arg(ps, line, c->name, e);
		if (strcmp(arg, "headers") == 0)
			v = "HDRS";
		else if (strcmp(arg, "full") == 0)
			v = "FULL";
		else if (strcmp(arg, "off") != 0)
			return invalid(ps, line, c->name, arg, "off, headers or full", e);
		set_str(a, c->off, v ? xstrdup(v) : NULL);
		break;
	}
	case K_PROTOCOL:
		if (strcmp(arg, "smtp") == 0)
			a->lmtp = false;
		else if (strcmp(arg, "lmtp") == 0)
			a->lmtp = true;
		else
			return invalid(ps, line, c->name, arg, "smtp or lmtp", e);
		break;
	case K_TLS_MIN:
		if (strcmp(arg, "1.2") == 0 || strcmp(arg, "TLSv1.2") == 0)
			a->tls_min_version = 0;
		else if (strcmp(arg, "1.3") == 0 || strcmp(arg, "TLSv1.3") == 0)
			a->tls_min_version = 13;
		else
			return invalid(ps, line, c->name, arg,
			               "1.2 or 1.3 (postie never goes below TLS 1.2)", e);
		break;
	case K_REQUIRED:
		if (empty)
			return needs_arg(ps, line, c->name, e);
		set_str(a, c->off, xstrdup(arg));
		break;
	case K_TEXT:
		set_str(a, c->off, empty ? NULL : xstrdup(arg));
		break;
	case K_DOMAIN:
		set_str(a, c->off, xstrdup(empty ? "localhost" : arg));
		break;
	case K_SECRET:
		/* SEC-14. The value itself never goes into a message. */
		if (!empty && !ps->private) {
			if (ps->why)
				return err_set(e, ERR_CONFIG, "%s:%u: '%s' in a profile that %s",
				               ps->file, line, c->name, ps->why);
			return err_set(
			    e, ERR_CONFIG,
			    "%s:%u: '%s' in a profile that is not private: it must be yours "
			    "and have no group or other permissions; run 'chmod 600 %s'",
			    ps->file, line, c->name, ps->file);
		}
		set_str(a, c->off, empty ? NULL : xstrdup(arg));
		break;
	case K_PORT: {
		unsigned long v;
		if (empty)
			return needs_arg(ps, line, c->name, e);
		if (!parse_uint(arg, 65535, &v) || v == 0)
			return invalid(ps, line, c->name, arg, "a number from 1 to 65535", e);
		*int_at(a, c->off) = (int)v;
		break;
	}
	case K_TIMEOUT: {
		unsigned long v;
		if (empty)
			return needs_arg(ps, line, c->name, e);
		if (strcmp(arg, "off") == 0)
			v = 0;
		else if (!parse_uint(arg, INT_MAX, &v) || v == 0)
			return invalid(ps, line, c->name, arg, "off or a number of seconds", e);
		*int_at(a, c->off) = (int)v;
		break;
	}
	case K_BOOL:
	case K_NOT_BOOL: {
		bool on;
		if (!read_on_off(arg, &on))
			return invalid(ps, line, c->name, arg, "on or off", e);
		*bool_at(a, c->off) = c->kind == K_BOOL ? on : !on;
		break;
	}
	case K_AUTH:
		if (empty || strcmp(arg, "on") == 0) {
			a->auth = true;
			set_str(a, offsetof(struct account, auth_mech), NULL);
		} else if (strcmp(arg, "off") == 0) {
			a->auth = false;
			set_str(a, offsetof(struct account, auth_mech), NULL);
		} else {
			char *mech = xstrdup(arg);
			if (!upcase_mech(mech)) {
				free(mech);
				return invalid(ps, line, c->name, arg,
				               "on, off or a SASL mechanism name such as plain", e);
			}
			a->auth = true;
			set_str(a, offsetof(struct account, auth_mech), mech);
		}
		break;
	case K_TRUST: {
		char *path = NULL;
		/* msmtp reads an empty argument as "no trust file"; we fall back on the system
		 * store rather than on no verification. */
		if (!empty && strcmp(arg, "system") != 0 &&
		    expand_tilde(ps, line, c->name, arg, &path, e) < 0)
			return -1;
		set_str(a, c->off, path);
		break;
	}
	case K_PATH: {
		char *path = NULL;
		if (!empty && expand_tilde(ps, line, c->name, arg, &path, e) < 0)
			return -1;
		set_str(a, c->off, path);
		break;
	}
	case K_DURATION: {
		unsigned long v, unit = 1;
		char num[32];
		size_t n = strlen(arg);
		if (empty)
			return needs_arg(ps, line, c->name, e);
		const char *units = "smhd";
		const unsigned long mult[] = {1, 60, 3600, 86400};
		const char *u = n > 1 ? strchr(units, arg[n - 1]) : NULL;
		if (u) {
			unit = mult[u - units];
			n--;
		}
		if (n >= sizeof(num))
			return invalid(ps, line, c->name, arg,
			               "seconds, or a number with s, m, h or d", e);
		memcpy(num, arg, n);
		num[n] = '\0';
		if (!parse_uint(num, (unsigned long)INT_MAX / unit, &v) || v == 0)
			return invalid(ps, line, c->name, arg,
			               "seconds, or a number with s, m, h or d", e);
		*int_at(a, c->off) = (int)(v * unit);
		break;
	}
	case K_FPR: {
		char hex[FPR_DIGITS + 1];
		int d;
		const char *b64;
		if (empty) {
			set_str(a, c->off, NULL);
			set_str(a, offsetof(struct account, tls_pin_spki), NULL);
			break;
		}
		if (strncasecmp(arg, "sha256//", 8) == 0) {
			if (!is_spki_pin(arg, &b64))
				return invalid(
				    ps, line, c->name, arg,
				    "sha256// and the base64 SHA-256 of the server's public key "
				    "(44 characters ending in '=')",
				    e);
			set_str(a, c->off, NULL);
			set_str(a, offsetof(struct account, tls_pin_spki), xstrdup(b64));
			break;
		}
		d = read_fingerprint(arg, hex);
		/* SEC-9: SHA-1 and MD5 pins are refused, whatever msmtp still accepts. */
		if (d == 40 || d == 32)
			return err_set(
			    e, ERR_CONFIG,
			    "%s:%u: tls_fingerprint: this is %s fingerprint, which postie "
			    "does not accept; use the SHA-256 fingerprint of the certificate "
			    "(64 hex digits, e.g. from 'openssl x509 -noout -fingerprint "
			    "-sha256')",
			    ps->file, line, d == 40 ? "a SHA-1" : "an MD5");
		if (d != FPR_DIGITS)
			return invalid(ps, line, c->name, arg,
			               "a SHA-256 fingerprint (64 hex digits, colons optional), or "
			               "sha256//BASE64 (a public key pin)",
			               e);
		set_str(a, c->off, xstrdup(hex));
		set_str(a, offsetof(struct account, tls_pin_spki), NULL);
		break;
	}
	}

	a->set |= c->bit;
	if (ps->cur_idx != SIZE_MAX) {
		ps->own[ps->cur_idx] |= c->bit;
		if (ps->cur_idx == ps->alias)
			ps->alias_touched = true;
	}
	return 0;
}

/* "account NAME [: PARENT[,PARENT...]]": start from the defaults, then copy the parents. */
static int
start_account(struct parse *ps, unsigned line, const char *arg, struct err *e)
{
	const char *colon = strchr(arg, ':');
	const char *s = arg;
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	struct account *a, *old;
	size_t nparents = 0;

	trim(&s, &n);
	if (n == 0)
		return needs_arg(ps, line, "account", e);
	if (memchr(s, ',', n))
		return err_set(e, ERR_CONFIG, "%s:%u: account name '%.*s' must not contain ','",
		               ps->file, line, (int)n, s);
	char *name = xstrndup(s, n);
	if ((old = find_in(&ps->out, name, NULL))) {
		err_set(e, ERR_CONFIG, "%s:%u: account '%s' is already defined at line %u",
		        ps->file, line, name, old->line);
		free(name);
		return -1;
	}

	a = xcalloc(1, sizeof(*a));
	account_defaults(a);
	copy_fields(a, &ps->defaults, UINT64_MAX);
	a->set = ps->defaults.set;
	a->name = name;
	a->file = xstrdup(ps->file);
	a->line = line;

	uint64_t own = 0;
	const char *first = NULL;
	size_t first_len = 0;
	for (const char *p = colon ? colon + 1 : NULL; p;) {
		const char *comma = strchr(p, ',');
		const char *q = p;
		size_t m = comma ? (size_t)(comma - p) : strlen(p);
		size_t idx;
		trim(&q, &m);
		if (m == 0) {
			err_set(e, ERR_CONFIG,
			        "%s:%u: account '%s': missing account name in the "
			        "list after ':'",
			        ps->file, line, a->name);
			account_free(a);
			return -1;
		}
		char *pname = xstrndup(q, m);
		struct account *parent = find_in(&ps->out, pname, &idx);
		if (!parent) {
			err_set(e, ERR_CONFIG,
			        "%s:%u: account '%s' inherits from '%s', which is "
			        "not defined above it in this file",
			        ps->file, line, a->name, pname);
			free(pname);
			account_free(a);
			return -1;
		}
		free(pname);
		/* msmtp copies what the parent's own lines (and its parents) set, not what it
		 * took from the defaults. */
		copy_fields(a, parent, ps->own[idx]);
		a->set |= ps->own[idx];
		own |= ps->own[idx];
		if (nparents++ == 0) {
			first = q;
			first_len = m;
		}
		p = comma ? comma + 1 : NULL;
	}

	ps->out.accounts = xrealloc(ps->out.accounts, (ps->out.n + 1) * sizeof(*ps->out.accounts));
	ps->own = xrealloc(ps->own, (ps->out.n + 1) * sizeof(*ps->own));
	ps->out.accounts[ps->out.n] = a;
	ps->own[ps->out.n] = own;
	ps->cur = a;
	ps->cur_idx = ps->out.n++;

	if (strcmp(a->name, "default") == 0 && nparents == 1) {
		ps->alias = ps->cur_idx;
		ps->alias_touched = false;
		free(ps->alias_target);
		ps->alias_target = xstrndup(first, first_len);
	}
	return 0;
}

static const struct command *
lookup(const char *w, size_t n)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strlen(commands[i].name) == n && memcmp(commands[i].name, w, n) == 0)
			return &commands[i];
	return NULL;
}

static int
parse_line(struct parse *ps, unsigned line, const char *s, size_t n, struct err *e)
{
	/* SEC-24: a file edited on Windows ends its lines with CR LF; any other CR is refused
	 * so that no value can carry one. */
	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\r', n))
		return err_set(e, ERR_CONFIG, "%s:%u: carriage return inside a line", ps->file,
		               line);

	trim(&s, &n);
	if (n == 0 || s[0] == '#')
		return 0;

	size_t wl = 0;
	while (wl < n && !is_blank(s[wl]))
		wl++;
	const char *rest = s + wl;
	size_t rn = n - wl;
	trim(&rest, &rn);

	bool is_account = wl == 7 && memcmp(s, "account", 7) == 0;
	bool is_defaults = wl == 8 && memcmp(s, "defaults", 8) == 0;
	const struct command *c = NULL;
	if (!is_account && !is_defaults) {
		c = lookup(s, wl);
		if (!c) {
			size_t show = wl > PROFILE_SHOW ? PROFILE_SHOW : wl;
			return err_set(e, ERR_CONFIG, "%s:%u: unknown command '%.*s%s'", ps->file,
			               line, (int)show, s, wl > show ? "..." : "");
		}
		/* msmtp 1.8 refuses settings before the first section; so do we. */
		if (!ps->cur)
			return err_set(e, ERR_CONFIG,
			               "%s:%u: first command must be 'account' or "
			               "'defaults', not '%s'",
			               ps->file, line, c->name);
	}

	char *arg = unquote(rest, rn);
	int r = 0;
	if (is_defaults) {
		if (*arg)
			r = err_set(e, ERR_CONFIG, "%s:%u: command 'defaults' takes no argument",
			            ps->file, line);
		ps->cur = &ps->defaults;
		ps->cur_idx = SIZE_MAX;
	} else if (is_account) {
		r = start_account(ps, line, arg, e);
	} else {
		r = apply(ps, line, c, arg, e);
	}
	explicit_bzero(arg, strlen(arg));
	free(arg);
	return r;
}

void
profile_finish_account(struct account *a)
{
	/* Authenticate when there is a user to authenticate as, unless told otherwise. */
	if (!(a->set & PROFILE_SET_AUTH))
		a->auth = a->user != NULL;
}

/* After the last line: settings derived from others, and "account default : NAME". */
static void
parse_finish(struct parse *ps)
{
	for (size_t i = 0; i < ps->out.n; i++)
		profile_finish_account(ps->out.accounts[i]);

	/*
	 * msmtp makes "account default : NAME" a copy of NAME. When the copy has nothing of its
	 * own and behaves exactly like NAME, keep the name instead (default_name), so messages
	 * name the real account; otherwise it stays an account called "default".
	 */
	if (ps->alias != SIZE_MAX && !ps->alias_touched) {
		struct account *d = ps->out.accounts[ps->alias];
		struct account *t = find_in(&ps->out, ps->alias_target, NULL);
		if (t && t != d && same_settings(d, t)) {
			account_free(d);
			memmove(ps->out.accounts + ps->alias, ps->out.accounts + ps->alias + 1,
			        (ps->out.n - ps->alias - 1) * sizeof(*ps->out.accounts));
			ps->out.n--;
			ps->out.default_name = ps->alias_target;
			ps->alias_target = NULL;
		}
	}
}

static void
remove_at(struct profile *p, size_t i)
{
	account_free(p->accounts[i]);
	memmove(p->accounts + i, p->accounts + i + 1, (p->n - i - 1) * sizeof(*p->accounts));
	p->n--;
}

/* Move the accounts of ADD into P: a later file's account replaces one of the same name. */
static void
merge(struct profile *p, struct profile *add)
{
	bool has_default = false;
	size_t idx;

	for (size_t i = 0; i < add->n; i++) {
		struct account *a = add->accounts[i];
		if (strcmp(a->name, "default") == 0)
			has_default = true;
		if (find_in(p, a->name, &idx)) {
			account_free(p->accounts[idx]);
			p->accounts[idx] = a;
		} else {
			p->accounts = xrealloc(p->accounts, (p->n + 1) * sizeof(*p->accounts));
			p->accounts[p->n++] = a;
		}
	}
	if (add->default_name) {
		if (find_in(p, "default", &idx))
			remove_at(p, idx);
		free(p->default_name);
		p->default_name = add->default_name;
		add->default_name = NULL;
	} else if (has_default) {
		free(p->default_name);
		p->default_name = NULL;
	}
	free(add->accounts);
	add->accounts = NULL;
	add->n = 0;
}

static int
parse_file(struct profile *p, const char *name, const char *text, size_t len, bool private,
           const char *why, enum profile_origin origin, struct err *e)
{
	struct parse ps = {
	    .file = name,
	    .origin = origin,
	    .private = private,
	    .why = why,
	    .cur_idx = SIZE_MAX,
	    .alias = SIZE_MAX,
	};
	const char *nul = memchr(text, '\0', len);
	unsigned line = 1;
	int r = 0;

	account_defaults(&ps.defaults);
	if (nul) {
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		r = err_set(e, ERR_CONFIG, "%s:%u: NUL byte in the profile", name, line);
		goto out;
	}
	for (size_t off = 0; off < len; line++) {
		const char *s = text + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		if (line == UINT_MAX) {
			r = err_set(e, ERR_CONFIG, "%s: too many lines", name);
			goto out;
		}
		if ((r = parse_line(&ps, line, s, n, e)) < 0)
			goto out;
		off += n + (nl != NULL);
	}
	parse_finish(&ps);
	for (size_t i = 0; i < ps.out.n; i++)
		ps.out.accounts[i]->origin = origin;
	merge(p, &ps.out);
out:
	parse_fini(&ps);
	return r;
}

int
profile_parse(struct profile *p, const char *name, const char *text, size_t len, bool private,
              struct err *e)
{
	return parse_file(p, name, text, len, private, NULL, PROFILE_ORIGIN_USER, e);
}

/* ---- files ---- */

enum missing { MISSING_ERROR, MISSING_SKIP, MISSING_OR_DENIED_SKIP };

/*
 * Read PATH whole (with a ceiling) and parse it. The SEC-14 checks look at the opened
 * descriptor, so the file checked is the file read.
 */
static int
load_file(struct profile *p, const char *path, enum missing missing, enum profile_origin origin,
          struct err *e)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r = -1;

	if (fd < 0) {
		if (errno == ENOENT && missing != MISSING_ERROR)
			return 0;
		/* msmtp reads the system file only "if it exists and is readable". */
		if (errno == EACCES && missing == MISSING_OR_DENIED_SKIP)
			return 0;
		return err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
		goto out;
	}
	/*
	 * SEC-14: only a regular file is a profile. A pipe (-C /dev/stdin) or a device has no
	 * owner and mode of its own that say who wrote it, so the private-file check below
	 * would vouch for text from anyone (and eval would run it).
	 */
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_CONFIG,
		        "read profile %s: not a regular file; name a profile file "
		        "with -C",
		        path);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap > PROFILE_MAX_FILE) {
				err_set(e, ERR_CONFIG, "read profile %s: larger than %d MiB", path,
				        PROFILE_MAX_FILE / (1024 * 1024));
				goto out;
			}
			/* Grow by hand so no copy of a password is left behind by realloc. */
			size_t ncap = cap ? cap * 2 : 4096;
			char *t = xmalloc(ncap);
			if (text) {
				memcpy(t, text, len);
				explicit_bzero(text, cap);
				free(text);
			}
			text = t;
			cap = ncap;
		}
		ssize_t got = read(fd, text + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > PROFILE_MAX_FILE) {
		err_set(e, ERR_CONFIG, "read profile %s: larger than %d MiB", path,
		        PROFILE_MAX_FILE / (1024 * 1024));
		goto out;
	}

	/* SEC-14: ours, and no permission bits for group or others - also for root. */
	char why[320];
	bool private = false;
	if (st.st_uid != geteuid()) {
		/* Root too: a secret in someone else's file is not ours to use. */
		unsigned long me = (unsigned long)geteuid();
		snprintf(why, sizeof(why),
		         "belongs to uid %lu, not to you (uid %lu); use a "
		         "profile of your own, or run 'chown %lu %s' and 'chmod 600 %s'",
		         (unsigned long)st.st_uid, me, me, path, path);
	} else if (st.st_mode & 077) {
		snprintf(why, sizeof(why),
		         "group or others may access (mode %04o); run 'chmod 600 %s'",
		         (unsigned)(st.st_mode & 07777), path);
	} else {
		private = true;
		why[0] = '\0';
	}
	r = parse_file(p, path, text ? text : "", len, private, private ? NULL : why, origin, e);
out:
	if (text) {
		explicit_bzero(text, cap);
		free(text);
	}
	close(fd);
	return r;
}

/* $XDG_CONFIG_HOME/postie/config, else ~/.config/postie/config; NULL without a home. */
static char *
default_user_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");

	/* The XDG base directory spec: a relative value is invalid and is ignored. */
	if (xdg && xdg[0] == '/')
		return join(xdg, "/postie/config");
	const char *home = home_dir();
	if (!home)
		return NULL;
	return join(home, "/.config/postie/config");
}

/*
 * Whether the real path PATH is one of the user's own profiles: a file below the user's
 * config folder for postie, $XDG_CONFIG_HOME/postie (else ~/.config/postie), taken by its
 * own real path (not the folder of whatever the default profile links to), and only when
 * that folder is the user's and nobody else may write to it. Whoever can write there can
 * rewrite the user's profile anyway. msmtp's ~/.msmtprc is not one: where the user has no
 * msmtp, a caller could create it.
 */
static bool
users_own(const char *path)
{
	char *own = default_user_file();
	char *slash = own ? strrchr(own, '/') : NULL;
	struct stat st;
	bool yes = false;

	if (slash) {
		*slash = '\0';
		char *dir = realpath(own, NULL);
		size_t n = dir ? strlen(dir) : 0;
		yes = dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
		      !(st.st_mode & 022) && strncmp(path, dir, n) == 0 && path[n] == '/';
		free(dir);
	}
	free(own);
	return yes;
}

/* PATH's real path (symbolic links and dots resolved); for a file that does not exist, its
 * folder's real path and its name; else a copy of PATH. */
static char *
real_path(const char *path)
{
	char *r = realpath(path, NULL);
	const char *slash = strrchr(path, '/');

	if (r)
		return r;
	if (slash && slash != path) {
		char *dir = xstrndup(path, (size_t)(slash - path));
		char *rdir = realpath(dir, NULL);
		free(dir);
		if (rdir) {
			char *full = join(rdir, slash);
			free(rdir);
			return full;
		}
	}
	return xstrdup(path);
}

int
profile_load(struct profile *p, const char *sysfile, const char *userfile, struct err *e)
{
	struct profile tmp = {0};
	int r = 0;

	if (sysfile)
		r = load_file(&tmp, sysfile, MISSING_OR_DENIED_SKIP, PROFILE_ORIGIN_SYSTEM, e);
	char *own = default_user_file();
	char *own_real = own ? real_path(own) : NULL;
	if (r == 0 && userfile) {
		/*
		 * Accounts remember the real path of their file: the queue binds entries to it
		 * (SEC-42). The user's profile (whatever it links to) and the files of the
		 * user's config folder are the user's own whatever -C calls them (SEC-41); any
		 * other is the caller's choice (SEC-43).
		 */
		char *path = real_path(userfile);
		enum profile_origin o = (own_real && strcmp(path, own_real) == 0) || users_own(path)
		                            ? PROFILE_ORIGIN_USER
		                            : PROFILE_ORIGIN_NAMED;
		r = load_file(&tmp, path, MISSING_ERROR, o, e);
		free(path);
	} else if (r == 0 && own_real) {
		r = load_file(&tmp, own_real, MISSING_SKIP, PROFILE_ORIGIN_USER, e);
	}
	free(own);
	free(own_real);
	if (r == 0)
		merge(p, &tmp);
	profile_fini(&tmp);
	return r;
}

struct account *
profile_find(const struct profile *p, const char *name)
{
	if (strcmp(name, "default") == 0 && p->default_name)
		name = p->default_name;
	return find_in(p, name, NULL);
}

struct account *
profile_find_by_from(const struct profile *p, const char *addr)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->accounts[i]->from && strcasecmp(p->accounts[i]->from, addr) == 0)
			return p->accounts[i];
	return NULL;
}

int
profile_port(const struct account *a)
{
	if (a->port)
		return a->port;
	/* RFC 2033 §5: LMTP must not use port 25; msmtp's examples and LMTP servers (Dovecot,
	 * Cyrus) use 2003. */
	if (a->lmtp)
		return 2003;
	if (!a->tls)
		return 25;
	/* RFC 8314 §3.3: 465 for implicit TLS; RFC 6409 §3.1: 587 for submission. */
	return a->tls_starttls ? 587 : 465;
}

int
profile_ports(const struct account *a, int out[PROFILE_MAX_PORTS])
{
	if (a->nports > 0) {
		memcpy(out, a->ports, (size_t)a->nports * sizeof(int));
		return a->nports;
	}
	out[0] = profile_port(a);
	return 1;
}

bool
profile_implicit_tls(const struct account *a, int port)
{
	if (!a->tls)
		return false;
	if (a->set & PROFILE_SET_TLS_STARTTLS)
		return !a->tls_starttls;
	/* RFC 8314 §3.3: 465 is the port for implicit TLS; the others upgrade with STARTTLS. */
	return port == 465;
}

bool
profile_known(const char *name)
{
	return lookup(name, strlen(name)) != NULL;
}

/* NAME as the command-line flag spells it ('_' as '-') into FLAG. */
static void
flag_name(const char *name, char flag[64])
{
	size_t i;

	for (i = 0; name[i] && i + 1 < 64; i++)
		flag[i] = name[i] == '_' ? '-' : name[i];
	flag[i] = '\0';
}

int
profile_argv_check(const char *name, const char *arg, struct err *e)
{
	const struct argv_rule_entry *r = argv_rule(name);
	char flag[64];
	bool on;

	if (!r)
		return 0;
	flag_name(name, flag);
	if ((r->rule & ARGV_NEVER) && !(r->except && strcmp(arg, r->except) == 0))
		return err_set(
		    e, ERR_USAGE,
		    "parse flags: --%s: not taken from the command line, "
		    "where an injected flag could %s (as -X did in CVE-2016-10033); set %s in "
		    "the profile instead%s%s",
		    flag, r->harm, name, r->except ? "; the command line takes only " : "",
		    r->except ? r->except : "");
	if ((r->rule & ARGV_NOT_OFF) && (strcmp(arg, "off") == 0 || (strcmp(name, "syslog") != 0 &&
	                                                             read_on_off(arg, &on) && !on)))
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
	const struct command *c = lookup(name, strlen(name));
	const struct argv_rule_entry *r = argv_rule(name);
	char flag[64];

	flag_name(name, flag);
	if (!c || c->kind == K_EVAL)
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
	copy_fields(&before, a, c->bit);
	int rc = apply(&ps, 0, c, arg, &inner);
	bool changed = rc == 0 && !same_fields(&before, a, c->bit);
	account_fini(&before);
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
	char flag[64];

	if (!a->argv_route && a->origin != PROFILE_ORIGIN_ARGV)
		return 0;
	if (!a->auth && !a->tls_cert_file && !a->tls_key_file)
		return 0;
	flag_name(a->argv_route ? a->argv_route : "host", flag);
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

void
profile_fini(struct profile *p)
{
	for (size_t i = 0; i < p->n; i++)
		account_free(p->accounts[i]);
	free(p->accounts);
	free(p->default_name);
	p->accounts = NULL;
	p->n = 0;
	p->default_name = NULL;
}
