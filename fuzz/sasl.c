/*
 * fuzz/sasl: what a server sends inside AUTH (src/sasl.h): the mechanism list of EHLO for
 * sasl_pick, and the 334 challenges for sasl_step (SCRAM's server-first and server-final,
 * CRAM-MD5's challenge, LOGIN's prompts, OAUTHBEARER's and XOAUTH2's JSON errors), then
 * sasl_finish and sasl_failure; and base64 itself.
 *
 * The first byte picks the mechanism; the first line is the server's AUTH list, every
 * other line one challenge. The SCRAM client nonce is fixed (creds.nonce: RFC 5802's and
 * RFC 7677's, as the unit tests use them) so that the fuzzer can answer it. An iteration
 * count above 10000 would only measure PBKDF2: such inputs are skipped.
 * Contract checked: sasl_pick names a mechanism the list offers (or fails with ERR_PERM or
 * ERR_CONFIG); every response is base64; a refused challenge is ERR_PROTO or ERR_AUTH and
 * ends the exchange; sasl_failure is printable and bounded; base64 decodes and encodes
 * back to the same bytes.
 */
#include "fuzz.h"

#include <strings.h>

#include "buf.h"
#include "codec.h"
#include "sasl.h"

static const char *const mechs[] = {
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256-PLUS",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
};

static bool
is_base64(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '/' || p[i] == '='))
			return false;
	return true;
}

/* Whether the words of LIST (separated by blanks, as sasl.c reads it; any case) hold NAME. */
static bool
offers(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t k = strcspn(p, " \t");
		if (k == n && strncasecmp(p, name, n) == 0)
			return true;
		p += k;
	}
	return false;
}

static void
check_base64(const char *p, size_t n)
{
	struct buf a, b, c;
	struct err e;

	buf_init(&a, 64 * 1024);
	buf_init(&b, 64 * 1024);
	buf_init(&c, 64 * 1024);
	if (codec_base64_decode(&a, p, n, &e) == 0) {
		fuzz_check(codec_base64_encode(&b, a.data, a.len, &e) == 0, "encode: %s", e.text);
		fuzz_check(is_base64(b.data ? b.data : "", b.len), "encoded to non-base64");
		fuzz_check(codec_base64_decode(&c, b.data ? b.data : "", b.len, &e) == 0,
		           "own base64 refused: %s", e.text);
		fuzz_check(a.len == c.len && (a.len == 0 || memcmp(a.data, c.data, a.len) == 0),
		           "base64 does not go round");
	} else {
		fuzz_check(e.kind == ERR_PROTO, "base64 refused with kind %d", e.kind);
	}
	buf_fini(&a);
	buf_fini(&b);
	buf_fini(&c);
}

/* Whether a challenge asks SCRAM for more than 10000 iterations. */
static bool
costly(const char *p, size_t n)
{
	struct buf d;
	struct err e;
	bool r = false;

	buf_init(&d, 64 * 1024);
	if (codec_base64_decode(&d, p, n, &e) == 0 && d.len) {
		char *s = fuzz_strndup(d.data, d.len);
		for (const char *i = strstr(s, "i="); i; i = strstr(i + 1, "i="))
			if (strspn(i + 2, "0123456789") > 4)
				r = true;
		free(s);
	}
	buf_fini(&d);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char cb[32] = "channel binding data, 32 bytes!";
	if (size < 1)
		return 0;
	const char *mech = mechs[data[0] % (sizeof(mechs) / sizeof(mechs[0]))];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	const char *lf = memchr(p, '\n', n);
	size_t first = lf ? (size_t)(lf - p) : n;
	char *offered = fuzz_strndup(p, first);
	struct err e;

	if (memchr(p, '\0', first)) {
		free(offered);
		return 0;
	}
	for (size_t off = lf ? first + 1 : n; off < n;) {
		const char *q = memchr(p + off, '\n', n - off);
		size_t len = q ? (size_t)(q - (p + off)) : n - off;
		if (costly(p + off, len)) {
			free(offered);
			return 0;
		}
		off += len + 1;
	}
	check_base64(p, first);

	struct sasl_creds c = {
	    .user = "user",
	    .pass = "pencil",
	    .token = "ya29.token-value",
	    .host = "mail.example.com",
	    .port = 587,
	    .have_cert = data[0] & 0x80,
	    .cb = data[0] & 0x40 ? cb : NULL,
	    .cb_len = sizeof(cb),
	    .cb_type = "tls-exporter",
	    /* The client nonces of RFC 5802 §5 and RFC 7677 §3: their vectors go through. */
	    .offered = offered,
	    .nonce = strstr(mech, "SHA-256") ? "rOprNGfwEbeRWgbNEkqO" : "fyko+d2lbbFgONRv9qkxdawL",
	    .authzid = data[0] & 0x20 ? "admin" : NULL,
	};
	const char *picked = sasl_pick(offered, data[0] & 0x10 ? mech : NULL, &c, &e);
	if (picked)
		fuzz_check(offers(offered, picked), "picked %s, not offered in \"%s\"", picked,
		           offered);
	else
		fuzz_check(e.kind == ERR_PERM || e.kind == ERR_CONFIG, "pick: kind %d", e.kind);

	struct sasl *s = NULL;
	struct buf initial, resp;
	bool has_initial = false;
	buf_init(&initial, 64 * 1024);
	buf_init(&resp, 64 * 1024);
	if (sasl_start(&s, mech, &c, data[0] & 0x08 ? 20 : SIZE_MAX, &initial, &has_initial, &e) ==
	    0) {
		fuzz_check(is_base64(initial.data ? initial.data : "", initial.len),
		           "initial response not base64");
		int failed = 0;
		for (size_t off = lf ? first + 1 : n; off < n && !failed;) {
			const char *q = memchr(p + off, '\n', n - off);
			size_t len = q ? (size_t)(q - (p + off)) : n - off;
			char *ch = fuzz_exact(p + off, len);
			buf_reset(&resp);
			if (sasl_step(s, ch, len, &resp, &e) == 0) {
				fuzz_check(is_base64(resp.data ? resp.data : "", resp.len),
				           "%s response not base64", mech);
			} else {
				fuzz_check(e.kind == ERR_PROTO || e.kind == ERR_AUTH,
				           "%s step: kind %d: %s", mech, e.kind, e.text);
				failed = 1;
			}
			free(ch);
			off += len + 1;
		}
		if (sasl_finish(s, &e) < 0)
			fuzz_check(e.kind == ERR_AUTH, "finish: kind %d", e.kind);
		const char *why = sasl_failure(s);
		if (why)
			fuzz_check(strlen(why) < 1024 && !fuzz_has_ctl(why, strlen(why), ""),
			           "sasl_failure not printable");
		sasl_free(s);
	} else {
		fuzz_check(s == NULL, "a failed start left a state");
	}
	buf_fini(&initial);
	buf_fini(&resp);
	free(offered);
	return 0;
}
