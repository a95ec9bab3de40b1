/*
 * fuzz/dkim_canon: DKIM's relaxed canonicalisations (src/dkim.h, RFC 6376 §3.4.2 and
 * §3.4.4) over any bytes: the body the caller pipes in, and a header field of it.
 *
 * The first byte chooses how the body is cut into pieces; the rest is the body, and its first
 * line is also a header field ("name:value"). Contract checked:
 *  - the incremental body hash is the same for any cut, and equals the hash of a plain
 *    reference canonicalisation written here from the RFC's words (lines split at LF, CR
 *    dropped, WSP runs one SP, none at a line's end, empty lines at the end dropped, a last
 *    line without its line end given one);
 *  - the canonical header field is one line "name:value" CRLF: the name lower case, no CR
 *    or LF inside, no WSP at either end of the value, no two WSP together, no tab.
 */
#include "fuzz.h"

#include <gnutls/crypto.h>

#include "dkim.h"

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The reference: the canonical body of IN (N bytes) into a malloc'd buffer, *LEN bytes. */
static char *
reference(const char *in, size_t n, size_t *len)
{
	char *out = malloc(2 * n + 3);
	size_t k = 0, keep = 0; /* keep: the length up to the last line with text */

	if (!out)
		abort();
	for (size_t i = 0; i < n;) {
		size_t end = i;
		while (end < n && in[end] != '\n')
			end++;
		bool run = false;
		size_t start = k;
		for (size_t j = i; j < end; j++) {
			if (in[j] == '\r')
				continue;
			if (wsp(in[j])) {
				run = true;
				continue;
			}
			if (run)
				out[k++] = ' ';
			run = false;
			out[k++] = in[j];
		}
		out[k++] = '\r';
		out[k++] = '\n';
		if (k - start > 2)
			keep = k;
		i = end < n ? end + 1 : end;
	}
	*len = keep;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = data[0] % 17 + 1;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	char *exact = fuzz_exact(in, n);
	struct dkim_body a, b;
	struct err e;
	unsigned char ha[DKIM_HASH_LEN], hb[DKIM_HASH_LEN], hr[DKIM_HASH_LEN];

	if (dkim_body_init(&a, &e) < 0 || dkim_body_init(&b, &e) < 0)
		abort();
	dkim_body_feed(&a, exact, n);
	for (size_t i = 0; i < n; i += step)
		dkim_body_feed(&b, exact + i, n - i < step ? n - i : step);
	dkim_body_end(&a, ha);
	dkim_body_end(&b, hb);
	size_t rlen;
	char *ref = reference(exact, n, &rlen);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, ref, rlen, hr);
	free(ref);
	fuzz_check(memcmp(ha, hb, sizeof(ha)) == 0, "the body hash depends on the cut (%zu)", step);
	fuzz_check(memcmp(ha, hr, sizeof(ha)) == 0, "the body hash is not the reference's");

	/* The first line as a header field. */
	const char *colon = memchr(exact, ':', n);
	const char *nl = memchr(exact, '\n', n);
	size_t line = nl ? (size_t)(nl - exact) : n;
	if (colon && (size_t)(colon - exact) < line) {
		struct buf out;
		buf_init(&out, 4 * n + 16);
		size_t nlen = (size_t)(colon - exact);
		if (dkim_canon_header(&out, exact, nlen, colon + 1, line - nlen - 1, &e) == 0) {
			const char *o = out.data;
			size_t m = out.len;
			fuzz_check(m >= nlen + 3 && o[nlen] == ':' && o[m - 2] == '\r' &&
			               o[m - 1] == '\n',
			           "not one line name:value CRLF");
			for (size_t i = 0; i < nlen; i++)
				fuzz_check(!(o[i] >= 'A' && o[i] <= 'Z'), "an upper-case name");
			const char *v = o + nlen + 1;
			size_t vl = m - nlen - 3;
			fuzz_check(memchr(v, '\r', vl) == NULL && memchr(v, '\n', vl) == NULL &&
			               memchr(v, '\t', vl) == NULL,
			           "a line end or a tab in the value");
			fuzz_check(vl == 0 || (v[0] != ' ' && v[vl - 1] != ' '), "WSP at an end");
			for (size_t i = 1; i < vl; i++)
				fuzz_check(!(v[i] == ' ' && v[i - 1] == ' '), "two SP together");
		}
		buf_fini(&out);
	}
	free(exact);
	return 0;
}
