/*
 * Unit tests of dkim: the relaxed canonicalisations against RFC 6376 §3.4.5's example and the
 * edges around it (any split of the input, LF or CRLF, trailing WSP, empty lines at the end,
 * no final line end, an empty body); the h= list (every instance, From oversigned, the
 * refusals) and the folding of the signature field. tests/dkim verifies real signatures.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tap.h"
#include "codec.h"
#include "dkim.h"

/* The body hash of IN fed in pieces of STEP bytes (0: whole). */
static void
body_hash(const char *in, size_t n, size_t step, unsigned char out[DKIM_HASH_LEN])
{
	struct dkim_body b;
	struct err e;

	if (dkim_body_init(&b, &e) < 0) {
		memset(out, 0, DKIM_HASH_LEN);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t k = step && n - i > step ? step : n - i;
		dkim_body_feed(&b, in + i, k);
		i += k;
	}
	dkim_body_end(&b, out);
}

/* Whether IN's canonical body is WANT: the hash of WANT, and the same for every split. */
static bool
body_is(const char *in, const char *want)
{
	unsigned char got[DKIM_HASH_LEN], exp[DKIM_HASH_LEN];

	gnutls_hash_fast(GNUTLS_DIG_SHA256, want, strlen(want), exp);
	for (size_t step = 0; step <= strlen(in); step++) {
		body_hash(in, strlen(in), step, got);
		if (memcmp(got, exp, sizeof(got)) != 0)
			return false;
	}
	return true;
}

static void
test_body(void)
{
	/* RFC 6376 §3.4.5: " C \r\nD \t E\r\n\r\n\r\n" is " C\r\nD E\r\n". */
	ok(body_is(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"),
	   "RFC 6376 §3.4.5's body, fed whole and in every split");
	ok(body_is(" C \nD \t E\n\n\n", " C\r\nD E\r\n"), "the same with LF line ends");
	ok(body_is("", ""), "an empty body hashes as nothing (§3.4.4)");
	ok(body_is("\r\n\r\n \t\r\n", ""), "a body of empty and WSP lines is empty");
	ok(body_is("abc", "abc\r\n"), "no final line end: one is added");
	ok(body_is("abc  \t", "abc\r\n"), "no final line end, trailing WSP dropped");
	ok(body_is("a\r\n \t\r\nb\r\n", "a\r\n\r\nb\r\n"),
	   "a WSP-only line inside the body is an empty line, kept");
	ok(body_is("\r\n\r\nx\r\n", "\r\n\r\nx\r\n"), "empty lines at the start are kept");
	ok(body_is(".dot\r\n..two\r\n", ".dot\r\n..two\r\n"), "leading dots are text");
	ok(body_is("\xc3\xbc \xa0\r\n", "\xc3\xbc \xa0\r\n"), "8-bit bytes are text, not WSP");
	unsigned char h[DKIM_HASH_LEN];
	struct buf b64;
	struct err e;
	buf_init(&b64, 64);
	body_hash("", 0, 0, h);
	codec_base64_encode(&b64, h, sizeof(h), &e);
	ok(b64.len && strcmp(b64.data, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") == 0,
	   "the empty body's bh= (%s)", b64.data ? b64.data : "");
	buf_fini(&b64);
}

static bool
canon_is(const char *name, const char *value, const char *want)
{
	struct buf out;
	struct err e;

	buf_init(&out, 4096);
	int rc = dkim_canon_header(&out, name, strlen(name), value, strlen(value), &e);
	bool good = rc == 0 && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
	if (!good)
		printf("# got \"%s\"\n", out.data ? out.data : "");
	buf_fini(&out);
	return good;
}

static void
test_header(void)
{
	/* RFC 6376 §3.4.5: "A: X" and "B : Y\t\r\n\tZ  " (the name without its WSP). */
	ok(canon_is("A", " X", "a:X\r\n"), "RFC 6376 §3.4.5: A: X");
	ok(canon_is("B", " Y\t\r\n\tZ  ", "b:Y Z\r\n"), "RFC 6376 §3.4.5: B : Y<TAB><CRLF><TAB>Z");
	ok(canon_is("Subject", "", "subject:\r\n"), "an empty value");
	ok(canon_is("Subject", " \t ", "subject:\r\n"), "a WSP-only value is empty");
	ok(canon_is("To", " a@x,\n    b@y ", "to:a@x, b@y\r\n"), "LF folding, WSP runs one SP");
	ok(canon_is("X-8", " \xc3\xbc  \xa0", "x-8:\xc3\xbc \xa0\r\n"), "8-bit bytes kept");
}

/* Sign a header with DOMAIN, SELECTOR, HEADERS and a key that is never used (the refusals
 * come first). */
static int
sign_named(const char *domain, const char *selector, const char *headers, struct err *e)
{
	struct dkim_key k = {0};
	struct dkim_sign s = {
	    .key = &k, .domain = domain, .selector = selector, .headers = headers};
	struct buf out;
	unsigned char bh[DKIM_HASH_LEN] = {0};
	const char *head = "From: a@example.test\r\n\r\n";

	buf_init(&out, 65536);
	int rc = dkim_sign_header(&s, head, strlen(head), bh, &out, e);
	buf_fini(&out);
	return rc;
}

static int
sign_err(const char *headers, struct err *e)
{
	return sign_named("example.test", "s", headers, e);
}

static void
test_refusals(void)
{
	struct err e;

	ok(sign_err("to:subject", &e) < 0 && e.kind == ERR_CONFIG && strstr(e.text, "From"),
	   "dkim_headers without From: ERR_CONFIG (%s)", e.text);
	ok(sign_err("from:bad name", &e) < 0 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "bad field name"),
	   "a field name with a space: ERR_CONFIG");
	ok(sign_err("from::to", &e) < 0 && e.kind == ERR_CONFIG, "an empty field name: ERR_CONFIG");
	ok(sign_named("example.test; x=y", "s", NULL, &e) < 0 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "no domain name"),
	   "a domain that would add a tag: ERR_CONFIG (%s)", e.text);
	ok(sign_named("example.test", "s 1", NULL, &e) < 0 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "no selector"),
	   "a selector with a space: ERR_CONFIG");
}

/* A real Ed25519 key in a private file, signed with: the h= list and the folding. */
static void
test_sign(void)
{
	char path[] = "/tmp/postie-dkim-unit-XXXXXX";
	gnutls_x509_privkey_t x;
	gnutls_datum_t pem = {0};
	struct dkim_key k;
	struct err e;

	int fd = mkstemp(path);
	if (fd < 0 || gnutls_x509_privkey_init(&x) < 0 ||
	    gnutls_x509_privkey_generate(x, GNUTLS_PK_EDDSA_ED25519, 256, 0) < 0 ||
	    gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
	                                      &pem) < 0 ||
	    write(fd, pem.data, pem.size) != (ssize_t)pem.size) {
		ok(0, "make an Ed25519 key");
		return;
	}
	close(fd);
	gnutls_free(pem.data);
	gnutls_x509_privkey_deinit(x);
	ok(dkim_key_load(&k, path, false, &e) == 0 && k.ed25519, "load an Ed25519 key (%s)",
	   e.text);
	chmod(path, 0644);
	struct dkim_key k2;
	ok(dkim_key_load(&k2, path, false, &e) < 0 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "chmod"),
	   "a key others may read is refused (SEC-14): %s", e.text);
	unlink(path);

	const char *head = "Subject: s\r\nFrom: a@example.test\r\nTo: x@y\r\nTo: z@w\r\n"
	                   "Received: not signed\r\n\r\n";
	struct dkim_sign s = {.key = &k, .domain = "example.test", .selector = "sel", .now = 1};
	unsigned char bh[DKIM_HASH_LEN] = {0};
	struct buf out;
	buf_init(&out, 65536);
	ok(dkim_sign_header(&s, head, strlen(head), bh, &out, &e) == 0, "sign (%s)", e.text);
	const char *h = out.data ? strstr(out.data, "h=") : NULL;
	ok(h && strncmp(h, "h=from:from:subject:to:to;", 26) == 0,
	   "h=: From oversigned, both To, no Received");
	bool short_lines = out.len > 2 && strcmp(out.data + out.len - 2, "\r\n") == 0;
	for (const char *p = out.data; short_lines && p && *p;) {
		const char *q = strstr(p, "\r\n");
		size_t cols = (size_t)(q - p) + (*p == '\t' ? 7 : 0);
		short_lines = cols <= 78 && (p == out.data || *p == '\t');
		p = q + 2;
	}
	if (!short_lines)
		printf("# %s\n", out.data ? out.data : "");
	ok(short_lines, "folded at 78 columns, continuation lines begin with a tab");
	buf_fini(&out);
	dkim_key_fini(&k);
}

/* dkim_record_compare against OURS, an Ed25519 key's record (RFC 8463 §A.2's key). */
#define OURS "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define OTHER "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static bool
verdict(const char *pub, size_t len, enum dkim_record_verdict want, const char *words)
{
	char why[256];
	enum dkim_record_verdict v = dkim_record_compare(OURS, pub, len, why, sizeof(why));
	if (v != want || (words ? !strstr(why, words) : why[0] != '\0')) {
		printf("#   %s: verdict %d, want %d: \"%s\"\n", pub, (int)v, (int)want, why);
		return false;
	}
	return true;
}

#define VERDICT(pub, want, words) verdict(pub, sizeof(pub) - 1, want, words)

static void
test_record(void)
{
	ok(VERDICT(OURS, DKIM_RECORD_MATCH, NULL), "the record itself matches");
	ok(VERDICT("  v = DKIM1 ;\tk=ed25519;\r\n p=11qYAYKxCrfVS/7Ty "
	           "WQHOg7hcvPa\r\n\tpiMlrwIaaPcHURo= ; ",
	           DKIM_RECORD_MATCH, NULL),
	   "whitespace and line ends around tags and inside p=, a final ';': matches (§3.2)");
	ok(VERDICT("k=ED25519; t=y; n=notes here; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	           DKIM_RECORD_MATCH, NULL),
	   "no v=, k= in capitals, unknown tags: matches");
	ok(VERDICT("v=DKIM1; k=ed25519; h=sha1:sha256; s=email; p=11qYAYKxCrfVS/"
	           "7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	           DKIM_RECORD_MATCH, NULL),
	   "h= naming sha256, s=email: matches");
	ok(VERDICT("v=DKIM1; k=ed25519; p=", DKIM_RECORD_REVOKED, "revoked"), "p= empty: revoked");
	ok(VERDICT("v=DKIM1; p= ;", DKIM_RECORD_REVOKED, "revoked"),
	   "p= empty, whatever k= is: revoked");
	ok(VERDICT("v=DKIM1; k=rsa; p=" OTHER, DKIM_RECORD_OTHER_TYPE,
	           "k=rsa, but the key is k=ed25519"),
	   "k=rsa for an Ed25519 key: another type, named");
	ok(VERDICT("v=DKIM1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	           DKIM_RECORD_OTHER_TYPE, "k=rsa (no k=)"),
	   "no k= is k=rsa (§3.6.1): another type");
	ok(VERDICT("v=DKIM1; k=ed25519; p=" OTHER, DKIM_RECORD_OTHER_KEY, "another ed25519 key"),
	   "p= another key: named");
	ok(VERDICT("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",
	           DKIM_RECORD_INVALID, "not base64"),
	   "p= with bits under the padding: not base64");
	ok(VERDICT("v=DKIM2; k=ed25519; p=" OTHER, DKIM_RECORD_INVALID, "v=DKIM2, not DKIM1"),
	   "v=DKIM2: not a key record");
	ok(VERDICT("k=ed25519; v=DKIM1; p=" OTHER, DKIM_RECORD_INVALID, "v= is not the first"),
	   "v= not first: not a key record");
	ok(VERDICT("v=DKIM1; p=" OTHER "; p=" OTHER, DKIM_RECORD_INVALID, "twice"),
	   "p= twice: not a key record");
	ok(VERDICT("v=DKIM1; k=ed25519", DKIM_RECORD_INVALID, "no p= tag"),
	   "no p=: not a key record");
	ok(VERDICT("v=spf1 -all", DKIM_RECORD_INVALID, "v=spf1"),
	   "an SPF record: not a key record");
	ok(VERDICT("", DKIM_RECORD_INVALID, "empty"), "an empty record: not a key record");
	ok(VERDICT("v=DKIM1;; p=" OTHER, DKIM_RECORD_INVALID, "empty tag"),
	   "';;': not a key record");
	ok(VERDICT("v=DKIM1; k=ed25519; n=a\0b; p=" OTHER, DKIM_RECORD_INVALID, "printable"),
	   "a NUL in a value: not a key record");
	ok(VERDICT("v=DKIM1; 9x=1; p=" OTHER, DKIM_RECORD_INVALID, "tag name"),
	   "a tag name starting with a digit: not a key record");
	ok(VERDICT("v=DKIM1; k=ed25519; h=sha1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	           DKIM_RECORD_INVALID, "h=sha1 does not allow sha256"),
	   "h=sha1: unusable");
	ok(VERDICT("v=DKIM1; k=ed25519; s=other; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	           DKIM_RECORD_INVALID, "does not allow email"),
	   "s=other: unusable");
}

int
main(void)
{
	test_body();
	test_header();
	test_refusals();
	test_sign();
	test_record();
	return tap_done();
}
