/*
 * sasl: mechanism choice and client messages.
 *
 * RFC 4954 (SMTP AUTH: the mechanism list in the EHLO reply, 334 challenges in base64),
 * RFC 4616 (PLAIN: [authzid] NUL authcid NUL passwd), draft-murchison-sasl-login (LOGIN:
 * user name and password, each in base64, after a 334), RFC 4648 §4 (base64 with padding).
 * Both mechanisms reveal the password, so the caller only uses them over verified TLS
 * (SEC-12); buffers that hold a password are secret and wiped (SEC-16).
 */
#include "sasl.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* What postie implements, in order of preference. */
static const char *const supported[] = {"PLAIN", "LOGIN"};
#define NSUPPORTED (sizeof(supported) / sizeof(supported[0]))

/* Whether the space-separated list LIST holds NAME, compared without regard to case. */
static bool
list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == n && strncasecmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* The words of LIST separated by single spaces, for a message ("(none)" when empty). */
static void
list_words(const char *list, char *out, size_t size)
{
	size_t k = 0;
	const char *p = list;

	out[0] = '\0';
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == 0)
			break;
		if (k + (k > 0) + len + 1 > size)
			break; /* the message is cut, never overrun */
		if (k > 0)
			out[k++] = ' ';
		memcpy(out + k, p, len);
		k += len;
		out[k] = '\0';
		p += len;
	}
}

const char *
sasl_choose(const char *offered, const char *wanted, struct err *e)
{
	char words[300];

	if (!offered)
		offered = "";
	if (wanted && *wanted) {
		const char *mech = NULL;
		for (size_t i = 0; i < NSUPPORTED; i++)
			if (strcasecmp(wanted, supported[i]) == 0)
				mech = supported[i];
		if (!mech) {
			err_set(e, ERR_CONFIG,
				"choose AUTH mechanism: mechanism %s is not supported yet "
				"(postie supports PLAIN, LOGIN)",
				wanted);
			return NULL;
		}
		if (list_has(offered, mech))
			return mech;
		list_words(offered, words, sizeof(words));
		if (!words[0])
			err_set(e, ERR_PERM,
				"choose AUTH mechanism: the server offers no AUTH mechanism; "
				"set auth off if it needs no login");
		else
			err_set(e, ERR_PERM,
				"choose AUTH mechanism: server offers only %s; the profile asks "
				"for %s (set auth on to let postie choose)",
				words, mech);
		return NULL;
	}
	for (size_t i = 0; i < NSUPPORTED; i++)
		if (list_has(offered, supported[i]))
			return supported[i];
	list_words(offered, words, sizeof(words));
	if (!words[0])
		err_set(e, ERR_PERM,
			"choose AUTH mechanism: the server offers no AUTH mechanism; "
			"set auth off if it needs no login");
	else
		err_set(e, ERR_PERM,
			"choose AUTH mechanism: server offers only %s; "
			"postie supports PLAIN, LOGIN",
			words);
	return NULL;
}

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
sasl_base64_encode(struct buf *out, const void *p, size_t n, struct err *e)
{
	const unsigned char *in = p;
	char chunk[256]; /* on the stack, so wiped below: it may hold a password */
	size_t k = 0;
	int rc = 0;

	if (n / 3 >= SIZE_MAX / 4 - 1)
		return err_set(e, ERR_SOFTWARE, "encode base64: %zu bytes is too much", n);
	size_t need = (n + 2) / 3 * 4;
	if (need > out->max || out->len > out->max - need)
		return err_set(e, ERR_SOFTWARE, "encode base64: the result passes %zu bytes",
			out->max);
	for (size_t i = 0; i < n && rc == 0; i += 3) {
		/* RFC 4648 §4: 24 bits become four 6-bit groups; '=' pads a short quantum. */
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		chunk[k++] = alphabet[v >> 18 & 63];
		chunk[k++] = alphabet[v >> 12 & 63];
		chunk[k++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		chunk[k++] = i + 2 < n ? alphabet[v & 63] : '=';
		if (k == sizeof(chunk)) {
			rc = buf_append(out, chunk, k, e);
			k = 0;
		}
	}
	if (rc == 0 && k)
		rc = buf_append(out, chunk, k, e);
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

/* The value of base64 character C, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * RFC 4648 §3.3 and §3.5: this decoder is strict. Anything outside the alphabet (also line
 * breaks and spaces), a length that is not a multiple of 4, '=' anywhere but at the end of
 * the last quantum, and non-zero bits under the padding are refused: a server's challenge
 * is untrusted text, and there is exactly one correct encoding of any bytes.
 */
int
sasl_base64_decode(struct buf *out, const char *text, size_t len, struct err *e)
{
	unsigned char chunk[192];
	size_t k = 0;

	if (len % 4 != 0)
		return err_set(e, ERR_PROTO, "decode base64: length %zu is not a multiple of 4",
			len);
	size_t pad = 0;
	if (len > 0 && text[len - 1] == '=')
		pad = len > 1 && text[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		if (text[i] == '=')
			return err_set(e, ERR_PROTO,
				"decode base64: misplaced padding at offset %zu", i);
		if (b64_value((unsigned char)text[i]) < 0)
			return err_set(e, ERR_PROTO,
				"decode base64: invalid character at offset %zu", i);
	}
	if (pad) {
		/* The bits that the padding leaves over must be zero (canonical form). */
		int last = b64_value((unsigned char)text[len - pad - 1]);
		if ((pad == 2 && (last & 15)) || (pad == 1 && (last & 3)))
			return err_set(e, ERR_PROTO,
				"decode base64: non-zero bits before the padding");
	}
	size_t need = len / 4 * 3 - pad;
	if (need > out->max || out->len > out->max - need)
		return err_set(e, ERR_PROTO, "decode base64: the result passes %zu bytes",
			out->max);

	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i += 4) {
		uint32_t v = 0;
		size_t have = 3;
		for (size_t j = 0; j < 4; j++) {
			int x = text[i + j] == '=' ? 0 : b64_value((unsigned char)text[i + j]);
			v = v << 6 | (uint32_t)x;
		}
		if (i + 4 == len)
			have = 3 - pad;
		chunk[k++] = (unsigned char)(v >> 16);
		if (have > 1)
			chunk[k++] = (unsigned char)(v >> 8);
		if (have > 2)
			chunk[k++] = (unsigned char)v;
		if (k + 3 > sizeof(chunk)) {
			rc = buf_append(out, chunk, k, e);
			k = 0;
		}
	}
	if (rc == 0 && k)
		rc = buf_append(out, chunk, k, e);
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

int
sasl_plain(struct buf *out, const char *user, const char *pass, struct err *e)
{
	struct buf msg;

	/* RFC 4616 §2: authcid and passwd are 1*SAFE (no NUL; C strings cannot hold one). */
	if (!user || !*user)
		return err_set(e, ERR_CONFIG, "build AUTH PLAIN: the user name is empty; set user");
	if (!pass || !*pass)
		return err_set(e, ERR_CONFIG,
			"build AUTH PLAIN: the password is empty; set password or passwordeval");
	out->secret = true;
	buf_init(&msg, 2 + strlen(user) + strlen(pass));
	msg.secret = true;
	/* An empty authzid: act as the user we log in as. */
	int rc = buf_append(&msg, "", 1, e);
	if (rc == 0)
		rc = buf_puts(&msg, user, e);
	if (rc == 0)
		rc = buf_append(&msg, "", 1, e);
	if (rc == 0)
		rc = buf_puts(&msg, pass, e);
	if (rc == 0)
		rc = sasl_base64_encode(out, msg.data, msg.len, e);
	buf_fini(&msg);
	return rc;
}
