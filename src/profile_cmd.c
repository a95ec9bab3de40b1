/*
 * profile_cmd: the profile's commands (msmtp(1), "ACCOUNT COMMANDS", and postie's own) and
 * one reader per kind of value. Requirements met here: SEC-9 (SHA-256 pins only), SEC-14 (a
 * secret or a command only from a private file), SEC-43 (a profile -C names elsewhere may
 * not set what the command line may not).
 */
#include "profile_int.h"

#include "buf.h"
#include "codec.h"
#include "priv.h"
#include "spawn.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 4422 §3.1: a SASL mechanism name is 1 to 20 characters. */
#define SASL_MECH_MAX 20
/* A SHA-256 fingerprint: 32 bytes, 64 hex digits. */
#define FPR_BYTES 32

static int
invalid(struct parse *ps, unsigned line, const struct command *c, const char *arg,
        const char *expected, struct err *e)
{
	return err_set(e, ERR_CONFIG, "%s:%u: invalid argument '%s' for command '%s': expected %s",
	               ps->file, line, arg, c->name, expected);
}

static int
needs_arg(struct parse *ps, unsigned line, const struct command *c, struct err *e)
{
	return err_set(e, ERR_CONFIG, "%s:%u: command '%s' needs an argument", ps->file, line,
	               c->name);
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

bool
profile_read_on_off(const char *arg, bool *on)
{
	if (arg[0] == '\0' || strcmp(arg, "on") == 0)
		*on = true;
	else if (strcmp(arg, "off") == 0)
		*on = false;
	else
		return false;
	return true;
}

/* ---- text ---- */

/* A string that must not be empty (host). */
static int
read_required(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	profile_account_set_str(ps->cur, c->off, xstrdup(arg));
	return 0;
}

/* A string; empty unsets it, as in msmtp. */
static int
read_text(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	(void)line;
	(void)e;
	profile_account_set_str(ps->cur, c->off, arg[0] ? xstrdup(arg) : NULL);
	return 0;
}

/* A string; empty goes back to "localhost" (an empty EHLO is invalid). */
static int
read_domain(struct parse *ps, unsigned line, const struct command *c, const char *arg,
            struct err *e)
{
	(void)line;
	(void)e;
	profile_account_set_str(ps->cur, c->off, xstrdup(arg[0] ? arg : "localhost"));
	return 0;
}

/* The reason a file that is not private may not hold a secret or run a command (SEC-14). */
static int
not_private(struct parse *ps, unsigned line, const struct command *c, struct err *e)
{
	if (ps->why)
		return err_set(e, ERR_CONFIG, "%s:%u: '%s' in a profile that is not private: %s",
		               ps->file, line, c->name, ps->why);
	return err_set(e, ERR_CONFIG,
	               "%s:%u: '%s' in a profile that is not private: it must be yours and have "
	               "no group or other permissions; run `chmod 600 %s`",
	               ps->file, line, c->name, ps->file);
}

/*
 * SEC-45: a setgid postie's system profile runs no command (passwordeval, eval,
 * oauth2_token_command), for root neither, so what works for root works for everyone: the
 * command would run as the caller, who could steer it (PATH, ptrace; its output is a line
 * of the system profile with eval) and read it in /proc/PID/cmdline.
 */
static int
system_command(struct parse *ps, unsigned line, const struct command *c, struct err *e)
{
	if (ps->origin != PROFILE_ORIGIN_SYSTEM || !priv_setgid())
		return 0;
	return err_set(e, ERR_CONFIG,
	               "%s:%u: '%s': the system profile of a setgid postie runs no command (it "
	               "would run as whoever calls postie); use `password` or `password_file` "
	               "(root:%s 0640)",
	               ps->file, line, c->name, priv_group_name());
}

/* password, passwordeval, oauth2_token_command: empty unsets; only in a private file
 * (SEC-14); a command not in a setgid postie's system profile (SEC-45). The value itself
 * never goes into a message. */
static int
read_secret(struct parse *ps, unsigned line, const struct command *c, const char *arg,
            struct err *e)
{
	if (arg[0] && !ps->private)
		return not_private(ps, line, c, e);
	if (arg[0] && strcmp(c->name, "password") != 0 && system_command(ps, line, c, e) < 0)
		return -1;
	profile_account_set_str(ps->cur, c->off, arg[0] ? xstrdup(arg) : NULL);
	return 0;
}

/* A file or directory name, ~ expanded; empty unsets. */
static int
read_path(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	char *path = NULL;

	if (arg[0] && profile_expand_tilde(ps, line, c->name, arg, &path, e) < 0)
		return -1;
	profile_account_set_str(ps->cur, c->off, path);
	return 0;
}

/* system, empty or a file name. msmtp reads an empty argument as "no trust file"; we fall
 * back on the system store rather than on no verification. */
static int
read_trust(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	if (strcmp(arg, "system") == 0)
		arg = "";
	return read_path(ps, line, c, arg, e);
}

/* ---- numbers ---- */

/* 1..65535. */
static int
read_port(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	unsigned long v;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	if (!parse_uint(arg, 65535, &v) || v == 0)
		return invalid(ps, line, c, arg, "a number from 1 to 65535", e);
	*PROFILE_AT(ps->cur, int, c->off) = (int)v;
	return 0;
}

/*
 * "465 587 2525": blank-separated ports into OUT. Returns how many, or -1 when a word is
 * not a port or there are more than PROFILE_MAX_PORTS.
 */
static int
split_ports(const char *arg, int out[PROFILE_MAX_PORTS])
{
	int n = 0;
	const char *p = arg;

	while (*p) {
		p += strspn(p, " \t");
		if (!*p)
			break;
		size_t len = strcspn(p, " \t");
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

/* One to PROFILE_MAX_PORTS ports, tried in order. */
static int
read_ports(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	int ports[PROFILE_MAX_PORTS] = {0};
	int n;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	n = split_ports(arg, ports);
	if (n <= 0)
		return invalid(ps, line, c, arg,
		               "a number from 1 to 65535, or up to 8 of them separated by blanks "
		               "(tried in order)",
		               e);
	memcpy(ps->cur->ports, ports, sizeof(ports));
	ps->cur->nports = n;
	ps->cur->port = ports[0];
	return 0;
}

/* off or seconds. */
static int
read_timeout(struct parse *ps, unsigned line, const struct command *c, const char *arg,
             struct err *e)
{
	unsigned long v = 0;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	if (strcmp(arg, "off") != 0 && (!parse_uint(arg, INT_MAX, &v) || v == 0))
		return invalid(ps, line, c, arg, "off or a number of seconds", e);
	*PROFILE_AT(ps->cur, int, c->off) = (int)v;
	return 0;
}

/* Seconds, or a number with s, m, h or d. */
static int
read_duration(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	static const char units[] = "smhd";
	static const unsigned long mult[] = {1, 60, 3600, 86400};
	unsigned long v, unit = 1;
	char num[32];
	size_t n = strlen(arg);

	if (n == 0)
		return needs_arg(ps, line, c, e);
	const char *u = n > 1 ? strchr(units, arg[n - 1]) : NULL;
	if (u) {
		unit = mult[u - units];
		n--;
	}
	if (n >= sizeof(num))
		return invalid(ps, line, c, arg, "seconds, or a number with s, m, h or d", e);
	memcpy(num, arg, n);
	num[n] = '\0';
	if (!parse_uint(num, (unsigned long)INT_MAX / unit, &v) || v == 0)
		return invalid(ps, line, c, arg, "seconds, or a number with s, m, h or d", e);
	*PROFILE_AT(ps->cur, int, c->off) = (int)(v * unit);
	return 0;
}

/* ---- switches and words ---- */

/* on, off; empty means on (msmtp). */
static int
read_bool(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	bool on;

	if (!profile_read_on_off(arg, &on))
		return invalid(ps, line, c, arg, "on or off", e);
	*PROFILE_AT(ps->cur, bool, c->off) = on;
	return 0;
}

/* on, off, empty (on), stored inverted (keepbcc, tls_nocertcheck). */
static int
read_not_bool(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	bool on;

	if (!profile_read_on_off(arg, &on))
		return invalid(ps, line, c, arg, "on or off", e);
	*PROFILE_AT(ps->cur, bool, c->off) = !on;
	return 0;
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

/* on, off, empty (on) or a SASL mechanism name. */
static int
read_auth(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	char *mech = NULL;
	bool on;

	if (!profile_read_on_off(arg, &on)) {
		mech = xstrdup(arg);
		if (!upcase_mech(mech)) {
			free(mech);
			return invalid(ps, line, c, arg,
			               "on, off or a SASL mechanism name such as plain", e);
		}
		on = true;
	}
	ps->cur->auth = on;
	profile_account_set_str(ps->cur, offsetof(struct account, auth_mech), mech);
	return 0;
}

/* msmtp's facilities (msmtp(1), "syslog"). */
static const char *const facilities[] = {
    "LOG_USER",   "LOG_MAIL",   "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2",
    "LOG_LOCAL3", "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7",
};

/* on, off, empty (on) or a facility name. */
static int
read_syslog(struct parse *ps, unsigned line, const struct command *c, const char *arg,
            struct err *e)
{
	const char *fac = NULL;

	if (arg[0] == '\0' || strcmp(arg, "on") == 0) {
		/* msmtp's default facility. */
		fac = "LOG_USER";
	} else if (strcmp(arg, "off") != 0) {
		for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
			if (strcmp(arg, facilities[i]) == 0)
				fac = facilities[i];
		if (!fac)
			return invalid(ps, line, c, arg,
			               "on, off, LOG_USER, LOG_MAIL or LOG_LOCAL0 to LOG_LOCAL7",
			               e);
	}
	profile_account_set_str(ps->cur, c->off, fac ? xstrdup(fac) : NULL);
	return 0;
}

/* auto, on, off (set_from_header). */
static int
read_header3(struct parse *ps, unsigned line, const struct command *c, const char *arg,
             struct err *e)
{
	int *v = PROFILE_AT(ps->cur, int, c->off);

	if (strcmp(arg, "auto") == 0)
		*v = PROFILE_HDR_AUTO;
	else if (strcmp(arg, "off") == 0)
		*v = PROFILE_HDR_OFF;
	else if (arg[0] == '\0' || strcmp(arg, "on") == 0)
		*v = PROFILE_HDR_ON;
	else
		return invalid(ps, line, c, arg, "auto, on or off", e);
	return 0;
}

/* auto, off (set_date_header, set_msgid_header). */
static int
read_header2(struct parse *ps, unsigned line, const struct command *c, const char *arg,
             struct err *e)
{
	int *v = PROFILE_AT(ps->cur, int, c->off);

	if (strcmp(arg, "auto") == 0)
		*v = PROFILE_HDR_AUTO;
	else if (strcmp(arg, "off") == 0)
		*v = PROFILE_HDR_OFF;
	else
		return invalid(ps, line, c, arg, "auto or off", e);
	return 0;
}

/* msmtp's old add_missing_*_header on|off: auto|off of the new command. */
static int
read_add_header(struct parse *ps, unsigned line, const struct command *c, const char *arg,
                struct err *e)
{
	bool on;

	if (!profile_read_on_off(arg, &on))
		return invalid(ps, line, c, arg, "on or off", e);
	*PROFILE_AT(ps->cur, int, c->off) = on ? PROFILE_HDR_AUTO : PROFILE_HDR_OFF;
	return 0;
}

/*
 * dsn_notify: "never", or a comma-separated list of success, failure and delay (RFC 3461
 * §4.1), into upper case for the NOTIFY parameter. NULL when the list is wrong.
 */
static char *
notify_list(const char *arg)
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

/* off, never, or a list of success, failure, delay. */
static int
read_notify(struct parse *ps, unsigned line, const struct command *c, const char *arg,
            struct err *e)
{
	char *v = NULL;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	if (strcmp(arg, "off") != 0) {
		v = notify_list(arg);
		if (!v)
			return invalid(
			    ps, line, c, arg,
			    "off, never, or a comma-separated list of success, failure and delay",
			    e);
	}
	profile_account_set_str(ps->cur, c->off, v);
	return 0;
}

/* off, headers, full. */
static int
read_return(struct parse *ps, unsigned line, const struct command *c, const char *arg,
            struct err *e)
{
	const char *v = NULL;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	if (strcmp(arg, "headers") == 0)
		v = "HDRS";
	else if (strcmp(arg, "full") == 0)
		v = "FULL";
	else if (strcmp(arg, "off") != 0)
		return invalid(ps, line, c, arg, "off, headers or full", e);
	profile_account_set_str(ps->cur, c->off, v ? xstrdup(v) : NULL);
	return 0;
}

/* smtp, lmtp. */
static int
read_protocol(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	if (strcmp(arg, "smtp") == 0)
		ps->cur->lmtp = false;
	else if (strcmp(arg, "lmtp") == 0)
		ps->cur->lmtp = true;
	else
		return invalid(ps, line, c, arg, "smtp or lmtp", e);
	return 0;
}

/* any, 4, 6 (postie's own; -4 and -6 on the command line). */
static int
read_ip_family(struct parse *ps, unsigned line, const struct command *c, const char *arg,
               struct err *e)
{
	if (strcmp(arg, "any") && strcmp(arg, "4") && strcmp(arg, "6"))
		return invalid(ps, line, c, arg, "any, 4 or 6", e);
	ps->cur->ip_family = arg[0] == 'a' ? 0 : arg[0] - '0';
	return 0;
}

/* 1.2, 1.3. */
static int
read_tls_min(struct parse *ps, unsigned line, const struct command *c, const char *arg,
             struct err *e)
{
	if (strcmp(arg, "1.2") == 0 || strcmp(arg, "TLSv1.2") == 0)
		ps->cur->tls_min_version = 0;
	else if (strcmp(arg, "1.3") == 0 || strcmp(arg, "TLSv1.3") == 0)
		ps->cur->tls_min_version = 13;
	else
		return invalid(ps, line, c, arg, "1.2 or 1.3 (postie never goes below TLS 1.2)", e);
	return 0;
}

/* ---- pins ---- */

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

/* sha256//BASE64: a public key pin in place of a certificate fingerprint. */
static int
read_spki_pin(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	const char *b64;

	if (!is_spki_pin(arg, &b64))
		return invalid(ps, line, c, arg,
		               "sha256// and the base64 SHA-256 of the server's public key "
		               "(44 characters ending in '=')",
		               e);
	profile_account_set_str(ps->cur, c->off, NULL);
	profile_account_set_str(ps->cur, offsetof(struct account, tls_pin_spki), xstrdup(b64));
	return 0;
}

/* A SHA-256 fingerprint (hex, colons optional) or sha256//BASE64; empty unsets both. */
static int
read_fingerprint(struct parse *ps, unsigned line, const struct command *c, const char *arg,
                 struct err *e)
{
	unsigned char fpr[FPR_BYTES];
	char hex[2 * FPR_BYTES + 1];
	int n;

	if (arg[0] == '\0') {
		profile_account_set_str(ps->cur, c->off, NULL);
		profile_account_set_str(ps->cur, offsetof(struct account, tls_pin_spki), NULL);
		return 0;
	}
	if (strncasecmp(arg, "sha256//", 8) == 0)
		return read_spki_pin(ps, line, c, arg, e);
	n = codec_hex_fingerprint(arg, fpr, sizeof(fpr));
	/* SEC-9: SHA-1 (20 bytes, 40 digits) and MD5 (16 bytes, 32 digits) pins are refused,
	 * whatever msmtp still accepts. */
	if (n == 20 || n == 16)
		return err_set(e, ERR_CONFIG,
		               "%s:%u: tls_fingerprint: this is %s fingerprint, which postie "
		               "does not accept; use the SHA-256 fingerprint of the certificate "
		               "(64 hex digits, e.g. from 'openssl x509 -noout -fingerprint "
		               "-sha256')",
		               ps->file, line, n == 20 ? "a SHA-1" : "an MD5");
	if (n != FPR_BYTES)
		return invalid(ps, line, c, arg,
		               "a SHA-256 fingerprint (64 hex digits, colons optional), or "
		               "sha256//BASE64 (a public key pin)",
		               e);
	codec_hex_encode(hex, fpr, sizeof(fpr));
	profile_account_set_str(ps->cur, c->off, xstrdup(hex));
	profile_account_set_str(ps->cur, offsetof(struct account, tls_pin_spki), NULL);
	return 0;
}

/* ---- lines that set nothing of their own ---- */

/* eval COMMAND: its first output line takes the place of this line (msmtp(1), "eval"). It
 * runs a command, like passwordeval: only from a private file (SEC-14). */
static int
read_eval(struct parse *ps, unsigned line, const struct command *c, const char *arg, struct err *e)
{
	struct buf out;
	char what[600];
	int r;

	if (arg[0] == '\0')
		return needs_arg(ps, line, c, e);
	if (!ps->private)
		return not_private(ps, line, c, e);
	if (system_command(ps, line, c, e) < 0)
		return -1;
	if (ps->eval_depth)
		return err_set(e, ERR_CONFIG,
		               "%s:%u: eval: a command's output must not be another eval", ps->file,
		               line);
	buf_init(&out, BUF_MAX_SECRET);
	out.secret = true;
	/* SEC-44: errors name the line, never the command. */
	snprintf(what, sizeof(what), "eval at %s:%u", ps->file, line);
	r = spawn_run(what, arg, &out, e);
	if (r == 0) {
		const char *text = out.data ? out.data : "";
		const char *nl = memchr(text, '\n', out.len);
		size_t n = nl ? (size_t)(nl - text) : out.len;
		ps->eval_depth++;
		r = profile_parse_line(ps, line, text, n, e);
		ps->eval_depth--;
	}
	buf_fini(&out);
	return r < 0 ? r : PROFILE_UNSET;
}

/* Accepted and ignored, with a warning saying why. */
static int
read_obsolete(struct parse *ps, unsigned line, const struct command *c, const char *arg,
              struct err *e)
{
	(void)arg;
	(void)e;
	warn("%s:%u: '%s' is ignored: %s", ps->file, line, c->name, c->why);
	return PROFILE_UNSET;
}

/* on is refused with the reason; off is accepted. */
static int
read_refused(struct parse *ps, unsigned line, const struct command *c, const char *arg,
             struct err *e)
{
	if (strcmp(arg, "off") == 0)
		return PROFILE_UNSET;
	return err_set(e, ERR_CONFIG, "%s:%u: '%s' is refused: %s; remove the line", ps->file, line,
	               c->name, c->why);
}

/* ---- the table ---- */

#define CMD(name, read, bit, member)                                                               \
	{                                                                                          \
		name, read, bit, offsetof(struct account, member), NULL                            \
	}
#define NOTE(name, read, why)                                                                      \
	{                                                                                          \
		name, read, 0, 0, why                                                              \
	}

static const struct command commands[] = {
    CMD("host", read_required, PROFILE_SET_HOST, host),
    CMD("port", read_ports, PROFILE_SET_PORT, port),
    CMD("from", read_text, PROFILE_SET_FROM, from),
    CMD("domain", read_domain, PROFILE_SET_DOMAIN, domain),
    CMD("user", read_text, PROFILE_SET_USER, user),
    CMD("password", read_secret, PROFILE_SET_PASSWORD, password),
    CMD("passwordeval", read_secret, PROFILE_SET_PASSWORDEVAL, passwordeval),
    CMD("auth", read_auth, PROFILE_SET_AUTH, auth),
    CMD("tls", read_bool, PROFILE_SET_TLS, tls),
    CMD("tls_starttls", read_bool, PROFILE_SET_TLS_STARTTLS, tls_starttls),
    CMD("tls_trust_file", read_trust, PROFILE_SET_TLS_TRUST_FILE, tls_trust_file),
    CMD("tls_fingerprint", read_fingerprint, PROFILE_SET_TLS_FINGERPRINT, tls_fingerprint),
    CMD("tls_certcheck", read_bool, PROFILE_SET_TLS_CERTCHECK, tls_certcheck),
    CMD("tls_host_override", read_text, PROFILE_SET_TLS_HOST_OVERRIDE, tls_host_override),
    CMD("tls_priorities", read_text, PROFILE_SET_TLS_PRIORITIES, tls_priorities),
    CMD("timeout", read_timeout, PROFILE_SET_TIMEOUT, timeout),
    /* msmtp up to 1.4.1 called it so and still accepts the name. */
    CMD("connect_timeout", read_timeout, PROFILE_SET_TIMEOUT, timeout),
    /* postie's own: the durable queue. */
    CMD("queue", read_bool, PROFILE_SET_QUEUE, queue),
    CMD("queue_dir", read_path, PROFILE_SET_QUEUE_DIR, queue_dir),
    CMD("queue_lifetime", read_duration, PROFILE_SET_QUEUE_LIFETIME, queue_lifetime),
    CMD("queue_notify", read_text, PROFILE_SET_QUEUE_NOTIFY, queue_notify),

    /* The rest of msmtp 1.8's commands. */
    CMD("logfile", read_path, PROFILE_SET_LOGFILE, logfile),
    CMD("logfile_time_format", read_text, PROFILE_SET_LOGFILE_TIME_FORMAT, logfile_time_format),
    CMD("syslog", read_syslog, PROFILE_SET_SYSLOG, syslog),
    CMD("aliases", read_path, PROFILE_SET_ALIASES, aliases),
    CMD("auto_from", read_bool, PROFILE_SET_AUTO_FROM, auto_from),
    CMD("maildomain", read_text, PROFILE_SET_MAILDOMAIN, maildomain),
    CMD("allow_from_override", read_bool, PROFILE_SET_ALLOW_FROM_OVERRIDE, allow_from_override),
    CMD("set_from_header", read_header3, PROFILE_SET_SET_FROM_HEADER, set_from_header),
    CMD("set_date_header", read_header2, PROFILE_SET_SET_DATE_HEADER, set_date_header),
    CMD("set_msgid_header", read_header2, PROFILE_SET_SET_MSGID_HEADER, set_msgid_header),
    CMD("remove_bcc_headers", read_bool, PROFILE_SET_REMOVE_BCC_HEADERS, remove_bcc_headers),
    CMD("undisclosed_recipients", read_bool, PROFILE_SET_UNDISCLOSED_RECIPIENTS,
        undisclosed_recipients),
    CMD("dsn_notify", read_notify, PROFILE_SET_DSN_NOTIFY, dsn_notify),
    CMD("dsn_return", read_return, PROFILE_SET_DSN_RETURN, dsn_return),
    CMD("source_ip", read_text, PROFILE_SET_SOURCE_IP, source_ip),
    CMD("proxy_host", read_text, PROFILE_SET_PROXY_HOST, proxy_host),
    CMD("proxy_port", read_port, PROFILE_SET_PROXY_PORT, proxy_port),
    CMD("socket", read_path, PROFILE_SET_SOCKET, socket),
    CMD("protocol", read_protocol, PROFILE_SET_PROTOCOL, lmtp),
    CMD("from_full_name", read_text, PROFILE_SET_FROM_FULL_NAME, from_full_name),
    CMD("tls_cert_file", read_path, PROFILE_SET_TLS_CERT_FILE, tls_cert_file),
    CMD("tls_key_file", read_path, PROFILE_SET_TLS_KEY_FILE, tls_key_file),
    CMD("tls_crl_file", read_path, PROFILE_SET_TLS_CRL_FILE, tls_crl_file),
    CMD("dkim_key", read_path, PROFILE_SET_DKIM_KEY, dkim_key),
    CMD("dkim_selector", read_text, PROFILE_SET_DKIM_SELECTOR, dkim_selector),
    CMD("dkim_domain", read_text, PROFILE_SET_DKIM_DOMAIN, dkim_domain),
    CMD("dkim_headers", read_text, PROFILE_SET_DKIM_HEADERS, dkim_headers),
    CMD("eval", read_eval, 0, host),
    /* msmtp's older spellings. */
    CMD("add_missing_from_header", read_add_header, PROFILE_SET_SET_FROM_HEADER, set_from_header),
    CMD("add_missing_date_header", read_add_header, PROFILE_SET_SET_DATE_HEADER, set_date_header),
    CMD("keepbcc", read_not_bool, PROFILE_SET_REMOVE_BCC_HEADERS, remove_bcc_headers),
    CMD("tls_nocertcheck", read_not_bool, PROFILE_SET_TLS_CERTCHECK, tls_certcheck),
    NOTE("tls_min_dh_prime_bits", read_obsolete,
         "TLS 1.2 and 1.3 with GnuTLS's defaults refuse weak Diffie-Hellman groups already"),
    NOTE("ntlmdomain", read_obsolete,
         "postie does not offer NTLM, which is insecure; msmtp dropped it too"),
    NOTE("tls_force_sslv3", read_refused,
         "SSL 3.0 is broken (RFC 7568) and postie never speaks below TLS 1.2"),

    /* postie's own. */
    CMD("tls_min_version", read_tls_min, PROFILE_SET_TLS_MIN_VERSION, tls_min_version),
    CMD("oauth2_token_command", read_secret, PROFILE_SET_OAUTH2_TOKEN_COMMAND,
        oauth2_token_command),
    CMD("password_file", read_path, PROFILE_SET_PASSWORD_FILE, password_file),
    CMD("ip_family", read_ip_family, PROFILE_SET_IP_FAMILY, ip_family),
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *
profile_cmd_find(const char *w, size_t n)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strlen(commands[i].name) == n && memcmp(commands[i].name, w, n) == 0)
			return &commands[i];
	return NULL;
}

/* Letters alike but for case (commands are lower case; a word in capitals is near). */
static bool
alike(char a, char b)
{
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

/* The optimal string alignment distance of A (LA bytes) and B, stopping at LIMIT + 1: the
 * edits (a letter added, removed, changed, or two swapped; case aside) that make one the
 * other. */
static size_t
edits(const char *a, size_t la, const char *b, size_t limit)
{
	size_t lb = strlen(b);
	size_t d[3][PROFILE_NEAR_MAX + 1];

	if (la > PROFILE_NEAR_MAX || lb > PROFILE_NEAR_MAX)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = d[i % 3], *up = d[(i - 1) % 3], *up2 = d[(i + 1) % 3];
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = !alike(a[i - 1], b[j - 1]);
			size_t v = up[j - 1] + cost;
			if (up[j] + 1 < v)
				v = up[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && alike(a[i - 1], b[j - 2]) &&
			    alike(a[i - 2], b[j - 1]) && up2[j - 2] + 1 < v)
				v = up2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

const char *
profile_cmd_nearest(const char *w, size_t n)
{
	static const char *const sections[] = {"account", "defaults"};
	/* A third of the word, at least one edit and at most three: "pasword", "tls_startls". */
	size_t limit = n / 3 < 1 ? 1 : n / 3 > 3 ? 3 : n / 3;
	const char *best = NULL;
	size_t best_d = limit + 1;

	for (size_t i = 0; i < NCOMMANDS + 2; i++) {
		const char *name = i < NCOMMANDS ? commands[i].name : sections[i - NCOMMANDS];
		size_t d = edits(w, n, name, limit);
		if (d < best_d) {
			best_d = d;
			best = name;
		}
	}
	return best;
}

bool
profile_known(const char *name)
{
	return profile_cmd_find(name, strlen(name)) != NULL;
}

/*
 * What a profile -C names elsewhere may say although the command line may not: a password
 * written in it (it goes to that profile's own server), and the TLS trust and CRL files
 * (public data, never quoted; tls_cred.c reads only regular files of sane size).
 */
static bool
named_may(const char *name)
{
	return strcmp(name, "password") == 0 || strcmp(name, "tls_trust_file") == 0 ||
	       strcmp(name, "tls_crl_file") == 0;
}

/*
 * SEC-43: a profile that -C names outside the user's config folder is the caller's choice,
 * as the command line is: what the command line may not set, it may not set either (no file
 * to read or write, no command to run, no weaker Bcc or sender rule), but for what named_may
 * allows. A secret in a file that is not private gets SEC-14's error instead. (profile_apply
 * checks the command line on its own.)
 */
static bool
named_refuses(const struct parse *ps, const struct command *c, const char *arg)
{
	bool secret_kind = c->read == read_secret || c->read == read_eval;
	struct err why;

	return ps->origin == PROFILE_ORIGIN_NAMED && (ps->private || !secret_kind) &&
	       !named_may(c->name) && profile_argv_check(c->name, arg, &why) < 0;
}

int
profile_cmd_apply(struct parse *ps, unsigned line, const struct command *c, const char *arg,
                  struct err *e)
{
	if (named_refuses(ps, c, arg))
		/* The name only: the value may be a command holding a secret (SEC-44). */
		return err_set(
		    e, ERR_CONFIG,
		    "%s:%u: '%s' is not taken from a profile that -C "
		    "names outside your config folder: a caller could have written it (SEC-43); "
		    "move the file into ~/.config/postie/ or write the setting in your own profile",
		    ps->file, line, c->name);
	int r = c->read(ps, line, c, arg, e);
	if (r != 0)
		return r < 0 ? r : 0;
	ps->cur->set |= c->bit;
	if (ps->cur_idx != SIZE_MAX) {
		ps->own[ps->cur_idx] |= c->bit;
		if (ps->cur_idx == ps->alias)
			ps->alias_touched = true;
	}
	return 0;
}
