/*
 * fuzz/oauth: what an oauth2_token_command prints (oauth2_parse in src/oauth2.h):
 * "TOKEN [LIFETIME]" or a token endpoint's JSON answer (RFC 6749 §5.1, §5.2).
 *
 * Contract checked: a token taken is 1..OAUTH2_TOKEN_MAX bytes of RFC 6750 b64token
 * (letters, digits, "-._~+/", then '=' padding), so nothing else can ride into the SASL
 * XOAUTH2 or OAUTHBEARER message (their fields are split by ^A and ','); the lifetime is -1
 * or at most ten digits; what was in TOKEN before stays; a refusal is ERR_CONFIG and leaves
 * TOKEN as it was.
 */
#include "fuzz.h"

#include "buf.h"
#include "oauth2.h"

static bool
b64token(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n &&
	       (strchr("-._~+/", p[i]) || (p[i] >= 'a' && p[i] <= 'z') ||
	        (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')) &&
	       p[i])
		i++;
	if (i == 0)
		return false;
	while (i < n && p[i] == '=')
		i++;
	return i == n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf tok;
	struct err e;
	long life = 12345;
	char *text = fuzz_exact(data, size);

	buf_init(&tok, BUF_MAX_SECRET);
	tok.secret = true;
	/* Something there already, as when a caller appends. */
	buf_puts(&tok, "x", NULL);
	if (oauth2_parse(text, size, &tok, &life, &e) == 0) {
		fuzz_check(tok.len >= 2 && tok.len - 1 <= OAUTH2_TOKEN_MAX, "token of %zu bytes",
		           tok.len - 1);
		fuzz_check(tok.data[0] == 'x', "what was in the buffer changed");
		fuzz_check(b64token(tok.data + 1, tok.len - 1), "the token is not a b64token");
		fuzz_check(life == -1 || (life >= 0 && life <= 9999999999L), "lifetime %ld", life);
	} else {
		fuzz_check(e.kind == ERR_CONFIG, "refused with kind %d: %s", e.kind, e.text);
		fuzz_check(tok.len == 1, "a refused token was kept");
		fuzz_check(!fuzz_has_ctl(e.text, strlen(e.text), ""), "control character in error");
	}
	buf_fini(&tok);
	free(text);
	return 0;
}
