/*
 * smtp_dsn: RFC 3461 parameters for MAIL FROM and RCPT TO.
 *
 * Seam: these are values checked and encoded before any command is sent (a bad -N or -R is a
 * usage error, found before connecting); smtp.c only appends the result to its commands.
 */
#include "smtp_dsn.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

int
smtp_xtext(const char *in, size_t len, char *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		/* xchar = %d33-42 / %d44-60 / %d62-126 (RFC 3461 §4): not "+", not "=". */
		bool plain = c >= 33 && c <= 126 && c != '+' && c != '=';
		if (k + (plain ? 1 : 3) >= n)
			return -1;
		if (plain) {
			out[k++] = (char)c;
		} else {
			out[k++] = '+';
			out[k++] = codec_hex_digit(c >> 4, true);
			out[k++] = codec_hex_digit(c, true);
		}
	}
	if (k >= n)
		return -1;
	out[k] = '\0';
	return (int)k;
}

/* Append FMT to the string in OUT (N bytes); ERR_SOFTWARE when it does not fit. */
static int append(char *out, size_t n, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
append(char *out, size_t n, struct err *e, const char *fmt, ...)
{
	size_t at = strnlen(out, n);
	va_list ap;

	va_start(ap, fmt);
	int w = at < n ? vsnprintf(out + at, n - at, fmt, ap) : -1;
	va_end(ap);
	if (w < 0 || (size_t)w >= n - at) {
		if (at < n)
			out[at] = '\0';
		return err_set(e, ERR_SOFTWARE, "build command parameters: too long");
	}
	return 0;
}

int
smtp_dsn_mail(const char *ret, const char *envid, char *out, size_t n, struct err *e)
{
	if (ret) {
		/* RFC 3461 §4.3: ret-value = "FULL" / "HDRS". */
		if (strcasecmp(ret, "FULL") != 0 && strcasecmp(ret, "HDRS") != 0)
			return err_set(
			    e, ERR_USAGE,
			    "request delivery notifications: return "
			    "\"%.40s\" is neither FULL nor HDRS; check `dsn_return` or -R",
			    ret);
		if (append(out, n, e, " RET=%s",
		           toupper((unsigned char)ret[0]) == 'F' ? "FULL" : "HDRS") < 0)
			return -1;
	}
	if (envid) {
		char x[SMTP_ENVID_MAX + 1];
		/* RFC 3461 §4.4: at most 100 characters, as encoded. */
		if (smtp_xtext(envid, strlen(envid), x, sizeof(x)) < 0)
			return err_set(
			    e, ERR_USAGE,
			    "request delivery notifications: the "
			    "envelope id is longer than %d characters once encoded (RFC 3461); "
			    "pass a shorter -V",
			    SMTP_ENVID_MAX);
		if (append(out, n, e, " ENVID=%s", x) < 0)
			return -1;
	}
	return 0;
}

/* RFC 3461 §4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ), each at most once. */
static int
notify_value(const char *notify, char *out, size_t n, struct err *e)
{
	static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
	unsigned seen = 0;
	const char *p = notify;

	out[0] = '\0';
	if (strcasecmp(notify, "NEVER") == 0)
		return append(out, n, e, "NEVER");
	for (;;) {
		size_t k = strcspn(p, ",");
		size_t w = 0;
		while (w < 3 && !(strlen(words[w]) == k && strncasecmp(p, words[w], k) == 0))
			w++;
		if (w == 3 || (seen & (1u << w)))
			return err_set(e, ERR_USAGE,
			               "request delivery notifications: \"%.60s\" "
			               "is not NEVER or a list of SUCCESS, FAILURE, DELAY; check "
			               "`dsn_notify` or -N",
			               notify);
		seen |= 1u << w;
		if (append(out, n, e, "%s%s", out[0] ? "," : "", words[w]) < 0)
			return -1;
		if (p[k] == '\0')
			return 0;
		p += k + 1;
	}
}

int
smtp_dsn_rcpt(const char *notify, const char *addr, char *out, size_t n, struct err *e)
{
	size_t start = strnlen(out, n);

	if (notify) {
		char v[32];
		if (notify_value(notify, v, sizeof(v), e) < 0 ||
		    append(out, n, e, " NOTIFY=%s", v) < 0)
			return -1;
	}
	if (!addr)
		return 0;
	/* RFC 3461 §4.2: the original address must be printable US-ASCII for rfc822. */
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	char x[SMTP_RCPT_EXTRA];
	size_t used = strnlen(out, n) - start;
	int k = smtp_xtext(addr, strlen(addr), x, sizeof(x));
	/* Past the allowance of §5 the address goes without ORCPT rather than not at all. */
	if (k < 0 || used + strlen(" ORCPT=rfc822;") + (size_t)k > SMTP_RCPT_EXTRA)
		return 0;
	return append(out, n, e, " ORCPT=rfc822;%s", x);
}
