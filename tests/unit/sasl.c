/*
 * Unit tests for src/sasl.c: the RFC 4648 §10 base64 vectors both ways, strict decoding
 * (RFC 4648 §3.3, §3.5), the RFC 4616 PLAIN example, choosing a mechanism (sasl_pick: the
 * automatic order, CRAM-MD5 last, SEC-12), and the step API
 * against the RFCs' examples: SCRAM-SHA-1 (RFC 5802 §5), SCRAM-SHA-256 (RFC 7677 §3),
 * CRAM-MD5 (RFC 2195 §2), PLAIN (RFC 4616 §4), OAUTHBEARER (RFC 7628 §4.1), XOAUTH2,
 * EXTERNAL (RFC 4422 App. A), with servers that fail SCRAM's checks (forged signature, foreign
 * nonce, bad iteration counts) refused, and SCRAM-PLUS channel binding (RFC 5802 §6, RFC 9266).
 * Secrets are in buffers marked secret (SEC-16).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/buf.h"
#include "src/codec.h"
#include "src/sasl.h"
#include "src/scram.h"
#include "tests/lib/tap.h"

/* RFC 4648 §10. */
static const struct {
	const char *plain;
	const char *b64;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void
test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct buf b;
		struct err e;
		const char *p = vectors[i].plain, *x = vectors[i].b64;

		buf_init(&b, 1000);
		ok(codec_base64_encode(&b, p, strlen(p), &e) == 0, "encode \"%s\": ok", p);
		ok_mem(b.data, b.len, x, strlen(x), "encode \"%s\"", p);
		buf_fini(&b);

		buf_init(&b, 1000);
		ok(codec_base64_decode(&b, x, strlen(x), &e) == 0, "decode \"%s\": ok", x);
		ok_mem(b.data, b.len, p, strlen(p), "decode \"%s\"", x);
		buf_fini(&b);
	}
}

/* Every byte value, every length up to 40, through both directions. */
static void
test_roundtrip(void)
{
	unsigned char in[300];
	size_t bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(in); n += (n < 40 ? 1 : 37)) {
		struct buf b, c;
		struct err e;
		buf_init(&b, 1000);
		buf_init(&c, 1000);
		if (codec_base64_encode(&b, in, n, &e) < 0 || b.len != (n + 2) / 3 * 4 ||
		    codec_base64_decode(&c, b.data ? b.data : "", b.len, &e) < 0 || c.len != n ||
		    (n && memcmp(c.data, in, n) != 0))
			bad++;
		buf_fini(&b);
		buf_fini(&c);
	}
	ok(bad == 0, "round trip of 0..40 and longer byte strings (%zu bad)", bad);

	/* Appending keeps what the buffer held. */
	struct buf b;
	struct err e;
	buf_init(&b, 100);
	buf_puts(&b, "AUTH PLAIN ", &e);
	ok(codec_base64_encode(&b, "foo", 3, &e) == 0, "encode appends");
	ok_mem(b.data, b.len, "AUTH PLAIN Zm9v", 15, "encode keeps the start");
	buf_fini(&b);

	buf_init(&b, 6);
	ok(codec_base64_encode(&b, "foobar", 6, &e) == -1 && b.len == 0,
	   "encode past the ceiling fails and appends nothing");
	buf_fini(&b);
	buf_init(&b, 5);
	ok(codec_base64_decode(&b, "Zm9vYmFy", 8, &e) == -1 && b.len == 0,
	   "decode past the ceiling fails and appends nothing");
	buf_fini(&b);
}

static void
test_decode_errors(void)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"Zg=", "length not a multiple of 4"},
	    {"Z", "one character"},
	    {"Zm9", "three characters"},
	    {"Zm9v\r\n", "line break"},
	    {"Zm 9", "space"},
	    {"Zm9v Zg==", "space between quanta"},
	    {"Zg-_", "URL alphabet (RFC 4648 §5)"},
	    {"Zm9\x80", "8-bit byte"},
	    {"====", "only padding"},
	    {"Z===", "three pads"},
	    {"Zg=a", "pad in the middle of a quantum"},
	    {"Zg==Zg==", "padding before the end"},
	    {"=Zg=", "leading pad"},
	    {"Zh==", "non-zero bits under two pads"},
	    {"Zm9=", "non-zero bits under one pad"},
	    {"Zm9vYmE", "missing pad"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b;
		struct err e;
		buf_init(&b, 1000);
		err_clear(&e);
		int rc = codec_base64_decode(&b, bad[i].text, strlen(bad[i].text), &e);
		ok(rc == -1 && e.kind == ERR_PROTO && b.len == 0 &&
		       strncmp(e.text, "decode base64: ", 15) == 0,
		   "decode refuses %s (%s)", bad[i].why, e.text);
		buf_fini(&b);
	}

	/* The length given is the length used: no reading up to a NUL. */
	struct buf b;
	struct err e;
	buf_init(&b, 1000);
	ok(codec_base64_decode(&b, "Zm9vYmFyXXXX", 8, &e) == 0 && b.len == 6,
	   "decode stops at LEN");
	buf_fini(&b);
	buf_init(&b, 1000);
	ok(codec_base64_decode(&b, "Zm\0v", 4, &e) == -1 && e.kind == ERR_PROTO,
	   "decode refuses a NUL inside");
	buf_fini(&b);
	buf_init(&b, 1000);
	ok(codec_base64_decode(&b, "VXNlcm5hbWU6", 12, &e) == 0 && b.len == 9 &&
	       memcmp(b.data, "Username:", 9) == 0,
	   "decode a LOGIN challenge");
	buf_fini(&b);
}

static void
test_plain(void)
{
	struct buf b;
	struct err e;

	/* RFC 4616 §4: the message "\0tim\0tanstaaftanstaaf". */
	buf_init(&b, 1000);
	ok(sasl_plain(&b, "tim", "tanstaaftanstaaf", &e) == 0, "PLAIN: RFC 4616 example");
	ok_mem(b.data, b.len, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", 28, "PLAIN: RFC 4616 example");
	ok(b.secret, "PLAIN: the output buffer is marked secret (SEC-16)");
	buf_fini(&b);

	buf_init(&b, 1000);
	ok(sasl_plain(&b, "user@example.org", "p\xc3\xa4ss word", &e) == 0, "PLAIN: UTF-8");
	struct buf d;
	buf_init(&d, 1000);
	ok(codec_base64_decode(&d, b.data, b.len, &e) == 0 && d.len == 1 + 16 + 1 + 10 &&
	       memcmp(d.data, "\0user@example.org\0p\xc3\xa4ss word", d.len) == 0,
	   "PLAIN: empty authzid, NUL user NUL pass");
	buf_fini(&d);
	buf_fini(&b);

	buf_init(&b, 1000);
	ok(sasl_plain(&b, "", "x", &e) == -1 && e.kind == ERR_CONFIG && b.len == 0,
	   "PLAIN: empty user refused (%s)", e.text);
	ok(sasl_plain(&b, "u", "", &e) == -1 && e.kind == ERR_CONFIG && b.len == 0,
	   "PLAIN: empty password refused (%s)", e.text);
	buf_fini(&b);

	buf_init(&b, 10);
	ok(sasl_plain(&b, "tim", "tanstaaftanstaaf", &e) == -1, "PLAIN: ceiling respected");
	buf_fini(&b);
}

/* ---- the step API ---- */

/* Base64 of N bytes at P, in a static buffer (test convenience). */
static const char *
enc(const void *p, size_t n)
{
	static char out[4096];
	struct buf b;
	struct err e;

	buf_init(&b, sizeof(out) - 1);
	if (codec_base64_encode(&b, p, n, &e) < 0 || !b.data)
		out[0] = '\0';
	else
		memcpy(out, b.data, b.len + 1);
	buf_fini(&b);
	return out;
}

/* Decode the base64 in B into OUT (OUTLEN bytes), returning the length, or (size_t)-1. */
static size_t
dec(const struct buf *b, char *out, size_t outlen)
{
	struct buf d;
	struct err e;
	size_t n = (size_t)-1;

	buf_init(&d, outlen);
	if (codec_base64_decode(&d, b->data ? b->data : "", b->len, &e) == 0) {
		n = d.len;
		if (n)
			memcpy(out, d.data, n);
	}
	buf_fini(&d);
	return n;
}

/* One exchange under test. */
struct ex {
	struct sasl *s;
	struct buf init;
	bool has_init;
	struct buf resp;
	struct err e;
	int rc;
};

static int
ex_start(struct ex *x, const char *mech, const struct sasl_creds *c, size_t room)
{
	x->s = NULL;
	buf_init(&x->init, 20000);
	buf_init(&x->resp, 20000);
	err_clear(&x->e);
	x->has_init = false;
	x->rc = sasl_start(&x->s, mech, c, room, &x->init, &x->has_init, &x->e);
	return x->rc;
}

/* Answer the challenge whose decoded text is MSG (NULL: CHALLENGE is sent as is). */
static int
ex_step(struct ex *x, const char *msg, const char *raw)
{
	const char *ch = msg ? enc(msg, strlen(msg)) : raw;
	buf_reset(&x->resp);
	err_clear(&x->e);
	x->rc = sasl_step(x->s, ch, strlen(ch), &x->resp, &x->e);
	return x->rc;
}

static void
ex_end(struct ex *x)
{
	sasl_free(x->s);
	x->s = NULL;
	buf_fini(&x->init);
	buf_fini(&x->resp);
}

static bool
has_text(const struct err *e, const char *s)
{
	return strstr(e->text, s) != NULL;
}

#define RFC5802_NONCE "fyko+d2lbbFgONRv9qkxdawL"

/* The RFC 5802 §5 and RFC 7677 §3 examples, message by message. */
static const struct scram_vector {
	const char *mech, *nonce, *client_first, *server_first, *client_final, *server_final;
} scram_vectors[] = {
    {"SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
     "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
     "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
     "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
    {"SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
     "i=4096",
     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
     "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
};

static void
test_scram_vectors(void)
{
	for (size_t i = 0; i < sizeof(scram_vectors) / sizeof(scram_vectors[0]); i++) {
		const struct scram_vector *v = &scram_vectors[i];
		struct sasl_creds c = {.user = "user", .pass = "pencil", .nonce = v->nonce};
		struct ex x;
		char got[512];

		ok(ex_start(&x, v->mech, &c, SIZE_MAX) == 0 && x.has_init, "%s: start (%s)",
		   v->mech, x.e.text);
		size_t n = dec(&x.init, got, sizeof(got));
		ok_mem(got, n, v->client_first, strlen(v->client_first), "%s: client-first",
		       v->mech);
		ok(x.init.secret, "%s: the initial response buffer is secret", v->mech);
		ok(ex_step(&x, v->server_first, NULL) == 0, "%s: server-first accepted (%s)",
		   v->mech, x.e.text);
		n = dec(&x.resp, got, sizeof(got));
		ok_mem(got, n, v->client_final, strlen(v->client_final),
		       "%s: client-final with the RFC's proof", v->mech);
		ok(x.resp.secret, "%s: the response buffer is secret", v->mech);
		struct err e;
		ok(sasl_finish(x.s, &e) == -1 && e.kind == ERR_AUTH &&
		       has_text(&e, "without proving"),
		   "%s: a 235 before the server's signature is refused (%s)", v->mech, e.text);
		ok(ex_step(&x, v->server_final, NULL) == 0 && x.resp.len == 0,
		   "%s: the RFC's server signature verifies; empty answer (%s)", v->mech, x.e.text);
		ok(sasl_finish(x.s, &e) == 0, "%s: finish after the verified signature", v->mech);
		ok(ex_step(&x, "v=abc", NULL) == -1 && x.e.kind == ERR_PROTO,
		   "%s: a challenge after the last message is a protocol error (%s)", v->mech,
		   x.e.text);
		ok(sasl_failure(x.s) == NULL, "%s: no failure text", v->mech);
		ex_end(&x);
	}
}

/* Run SCRAM-SHA-1 with the RFC nonce up to the server-first message SF; return sasl_step's
 * result, leaving the exchange in X. */
static int
scram1_to(struct ex *x, const char *sf)
{
	struct sasl_creds c = {.user = "user", .pass = "pencil", .nonce = RFC5802_NONCE};
	if (ex_start(x, "SCRAM-SHA-1", &c, SIZE_MAX) < 0)
		return -2;
	return ex_step(x, sf, NULL);
}

static void
test_scram_refusals(void)
{
	static const char *const good_sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	                                   "s=QSXCR+Q6sek8bf92,i=4096";
	static const struct {
		const char *sf;
		enum err_kind kind;
		const char *text;
		const char *why;
	} bad_first[] = {
	    {"r=AAAAd2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", ERR_AUTH,
	     "does not extend ours", "a nonce that does not extend ours"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", ERR_AUTH,
	     "does not extend ours", "the nonce with nothing added"},
	    {"r=fyko+d2lbbFgONRv9qkxda,s=QSXCR+Q6sek8bf92,i=4096", ERR_AUTH, "does not extend ours",
	     "a shortened nonce"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfc\x7fNHYJY,s=QSXCR+Q6sek8bf92,i=4096", ERR_PROTO,
	     "printable", "a DEL in the server's nonce"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=0", ERR_AUTH,
	     "accepts 1 to 10000000", "i=0"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=10000001", ERR_AUTH,
	     "accepts 1 to", "i over ten million (DoS)"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
	     "i=999999999999999999999999999",
	     ERR_AUTH, "accepts 1 to", "an i that overflows"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=-1", ERR_PROTO,
	     "not a number", "a negative i"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=04096", ERR_PROTO,
	     "leading zero", "an i with a leading zero"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=", ERR_PROTO,
	     "empty", "an empty i"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92", ERR_PROTO,
	     "r=...,s=...,i=...", "no i"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,i=4096,s=QSXCR+Q6sek8bf92", ERR_PROTO,
	     "r=...,s=...,i=...", "attributes out of order"},
	    {"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,i=4096", ERR_PROTO,
	     "r=...,s=...,i=...", "salt first"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=,i=4096", ERR_PROTO, "salt is empty",
	     "an empty salt"},
	    {"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSX*R+Q6sek8bf92,i=4096", ERR_PROTO,
	     "salt is not base64", "a salt that is not base64"},
	    {"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	     ERR_AUTH, "extension (m=)", "a mandatory extension (RFC 5802 §5.1)"},
	    {"", ERR_PROTO, "r=...,s=...,i=...", "an empty server-first"},
	};

	for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
		struct ex x;
		int rc = scram1_to(&x, bad_first[i].sf);
		ok(rc == -1 && x.e.kind == bad_first[i].kind && has_text(&x.e, bad_first[i].text) &&
		       x.resp.len == 0,
		   "SCRAM refuses %s: %s", bad_first[i].why, x.e.text);
		ex_end(&x);
	}

	struct ex x;
	ok(scram1_to(&x, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=1") ==
	       0,
	   "SCRAM accepts i=1 (%s)", x.e.text);
	ex_end(&x);
	ok(scram1_to(&x, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
	                 "x=an extension") == 0,
	   "SCRAM ignores extensions after i= (%s)", x.e.text);
	ex_end(&x);

	/* The server-final message. */
	static const struct {
		const char *sf;
		enum err_kind kind;
		const char *text;
		const char *why;
	} bad_final[] = {
	    {"v=rmF9pqV8S7suAoZWja4dJRkFsKR=", ERR_AUTH, "signature is wrong",
	     "a wrong server signature (last bits)"},
	    {"v=AmF9pqV8S7suAoZWja4dJRkFsKQ=", ERR_AUTH, "signature is wrong",
	     "a wrong server signature (first bits)"},
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", ERR_AUTH, "signature is wrong",
	     "another exchange's signature"},
	    {"v=rmF9pqV8S7suAoZWja4dJRkF", ERR_AUTH, "signature is wrong", "a truncated signature"},
	    {"v=", ERR_AUTH, "signature is wrong", "an empty signature"},
	    {"v=rmF9pqV8S7suAoZW ja4dJRkFsKQ=", ERR_AUTH, "signature is wrong",
	     "a signature that is not base64"},
	    {"e=invalid-proof", ERR_AUTH, "the server refused: invalid-proof", "e="},
	    {"x=rmF9pqV8S7suAoZWja4dJRkFsKQ=", ERR_PROTO, "neither v= nor e=", "no v="},
	};
	for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
		struct err e;
		int rc = scram1_to(&x, good_sf);
		rc = rc == 0 ? ex_step(&x, bad_final[i].sf, NULL) : -2;
		ok(rc == -1 && x.e.kind == bad_final[i].kind && has_text(&x.e, bad_final[i].text),
		   "SCRAM refuses %s: %s", bad_final[i].why, x.e.text);
		ok(sasl_finish(x.s, &e) == -1 && e.kind == ERR_AUTH,
		   "  ... and a 235 after it too (%s)", e.text);
		ex_end(&x);
	}
	ok(scram1_to(&x, good_sf) == 0 && ex_step(&x, "e=invalid-proof", NULL) == -1 &&
	       sasl_failure(x.s) && strcmp(sasl_failure(x.s), "invalid-proof") == 0,
	   "SCRAM e= is kept for the 535 message");
	ex_end(&x);

	/* A server-first that is not base64, and one with a NUL inside. */
	struct sasl_creds c = {.user = "user", .pass = "pencil", .nonce = RFC5802_NONCE};
	ex_start(&x, "SCRAM-SHA-1", &c, SIZE_MAX);
	ok(ex_step(&x, NULL, "cj1meWtv*") == -1 && x.e.kind == ERR_PROTO,
	   "SCRAM: a challenge that is not base64 (%s)", x.e.text);
	ex_end(&x);
	ex_start(&x, "SCRAM-SHA-1", &c, SIZE_MAX);
	static const char with_nul[] = "r=fyko+d2lbbFgONRv9qkxdawL3rfc\0NHY,s=QSXCR+Q6sek8bf92,i=1";
	ok(ex_step(&x, NULL, enc(with_nul, sizeof(with_nul) - 1)) == -1 && x.e.kind == ERR_PROTO &&
	       has_text(&x.e, "NUL"),
	   "SCRAM: a NUL in the server's message (%s)", x.e.text);
	ex_end(&x);
}

static void
test_scram_binding(void)
{
	unsigned char cb[32];
	char got[512];
	struct err e;
	struct ex x;

	for (size_t i = 0; i < sizeof(cb); i++)
		cb[i] = (unsigned char)i;

	/* -PLUS: "p=tls-exporter,," and c= carrying the header and the binding. */
	struct sasl_creds c = {.user = "user",
	                       .pass = "pencil",
	                       .nonce = "rOprNGfwEbeRWgbNEkqO",
	                       .cb = cb,
	                       .cb_len = sizeof(cb),
	                       .cb_type = "tls-exporter",
	                       .offered = "SCRAM-SHA-256 SCRAM-SHA-256-PLUS"};
	ok(ex_start(&x, "SCRAM-SHA-256-PLUS", &c, SIZE_MAX) == 0, "PLUS: start (%s)", x.e.text);
	size_t n = dec(&x.init, got, sizeof(got));
	ok_mem(got, n, "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO", 45,
	       "PLUS: gs2 header p=tls-exporter");
	ok(ex_step(&x, scram_vectors[1].server_first, NULL) == 0, "PLUS: server-first (%s)",
	   x.e.text);
	static const char want[] =
	    "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f,"
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=";
	n = dec(&x.resp, got, sizeof(got));
	ok_mem(got, n, want, sizeof(want) - 1,
	       "PLUS: c= is base64 of the header and the 32 binding bytes; proof over them");
	ok(ex_step(&x, "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs=", NULL) == 0 &&
	       sasl_finish(x.s, &e) == 0,
	   "PLUS: the server's signature over the bound exchange verifies (%s)", x.e.text);
	ex_end(&x);

	/* The unbound signature does not verify a bound exchange. */
	ex_start(&x, "SCRAM-SHA-256-PLUS", &c, SIZE_MAX);
	ex_step(&x, scram_vectors[1].server_first, NULL);
	ok(ex_step(&x, scram_vectors[1].server_final, NULL) == -1 && x.e.kind == ERR_AUTH,
	   "PLUS: a signature made without our binding is refused (%s)", x.e.text);
	ex_end(&x);

	/* Binding data but no -PLUS offered: "y" (RFC 5802 §6), part of the proof (c=eSws). */
	struct sasl_creds y = {.user = "user",
	                       .pass = "pencil",
	                       .nonce = RFC5802_NONCE,
	                       .cb = cb,
	                       .cb_len = sizeof(cb),
	                       .cb_type = "tls-exporter",
	                       .offered = "PLAIN SCRAM-SHA-1"};
	ex_start(&x, "SCRAM-SHA-1", &y, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok_mem(got, n, "y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", 36,
	       "y flag when we could bind and the server offers no -PLUS");
	ex_step(&x, scram_vectors[0].server_first, NULL);
	static const char want_y[] = "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	                             "p=BjZF5dV+EkD3YCb3pH3IP8riMGw=";
	n = dec(&x.resp, got, sizeof(got));
	ok_mem(got, n, want_y, sizeof(want_y) - 1, "y flag: c=eSws and the proof over it");
	ok(ex_step(&x, "v=dsprQ5R2AGYt1kn4bQRwTAE0PTU=", NULL) == 0 && sasl_finish(x.s, &e) == 0,
	   "y flag: verified (%s)", x.e.text);
	ex_end(&x);

	/* The server offers -PLUS but the profile named plain SCRAM: "n", never "y". */
	y.offered = "SCRAM-SHA-1 SCRAM-SHA-1-PLUS";
	ex_start(&x, "SCRAM-SHA-1", &y, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok(n > 3 && memcmp(got, "n,,", 3) == 0, "n flag when the server offers -PLUS");
	ex_end(&x);
	y.offered = "scram-sha-256-plus";
	ex_start(&x, "SCRAM-SHA-1", &y, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok(n > 3 && memcmp(got, "n,,", 3) == 0,
	   "n flag when any SCRAM -PLUS is offered (any case)");
	ex_end(&x);
	y.cb = NULL;
	y.offered = NULL;
	ex_start(&x, "SCRAM-SHA-1", &y, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok(n > 3 && memcmp(got, "n,,", 3) == 0, "n flag without binding data");
	ex_end(&x);

	/* -PLUS without binding data cannot start. */
	ok(ex_start(&x, "SCRAM-SHA-256-PLUS", &y, SIZE_MAX) == -1 && x.e.kind == ERR_CONFIG &&
	       has_text(&x.e, "channel binding") && !x.s,
	   "PLUS without binding data: refused (%s)", x.e.text);
	ex_end(&x);

	/* tls-unique (TLS 1.2) names itself. */
	c.cb_type = "tls-unique";
	c.cb_len = 12;
	ex_start(&x, "SCRAM-SHA-1-PLUS", &c, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok(n > 14 && memcmp(got, "p=tls-unique,,", 14) == 0, "PLUS: p=tls-unique for TLS 1.2");
	ex_end(&x);
}

static void
test_scram_misc(void)
{
	char got[512];
	struct ex x;

	/* saslname escaping and the authzid in the gs2 header (RFC 5802 §5.1). */
	struct sasl_creds c = {
	    .user = "us=er,x", .pass = "p", .authzid = "ad,min=", .nonce = "abc"};
	ex_start(&x, "SCRAM-SHA-256", &c, SIZE_MAX);
	size_t n = dec(&x.init, got, sizeof(got));
	static const char want[] = "n,a=ad=2Cmin=3D,n=us=3Der=2Cx,r=abc";
	ok_mem(got, n, want, sizeof(want) - 1, "SCRAM: ',' and '=' escaped; authzid as a=");
	ex_end(&x);

	/* Random nonces: 32 base64 characters, new each time. */
	struct sasl_creds r = {.user = "u", .pass = "p"};
	char a[128] = "", b[128] = "";
	ex_start(&x, "SCRAM-SHA-1", &r, SIZE_MAX);
	n = dec(&x.init, a, sizeof(a) - 1);
	a[n == (size_t)-1 ? 0 : n] = '\0';
	ex_end(&x);
	ex_start(&x, "SCRAM-SHA-1", &r, SIZE_MAX);
	n = dec(&x.init, b, sizeof(b) - 1);
	b[n == (size_t)-1 ? 0 : n] = '\0';
	ex_end(&x);
	ok(strlen(a) == 9 + 32 && strncmp(a, "n,,n=u,r=", 9) == 0 && strcmp(a, b) != 0,
	   "SCRAM: random 32-character nonces differ (%s / %s)", a, b);

	/* An initial response longer than ROOM waits for the server's empty 334. */
	struct sasl_creds v = {.user = "user", .pass = "pencil", .nonce = RFC5802_NONCE};
	ok(ex_start(&x, "SCRAM-SHA-1", &v, 10) == 0 && !x.has_init && x.init.len == 0,
	   "a first message longer than ROOM is held back");
	ok(ex_step(&x, NULL, "") == 0, "the empty 334 is answered (%s)", x.e.text);
	n = dec(&x.resp, got, sizeof(got));
	ok_mem(got, n, scram_vectors[0].client_first, strlen(scram_vectors[0].client_first),
	       "  ... with the client-first message");
	ok(ex_step(&x, scram_vectors[0].server_first, NULL) == 0 &&
	       ex_step(&x, scram_vectors[0].server_final, NULL) == 0,
	   "  ... and the exchange goes on as usual (%s)", x.e.text);
	ex_end(&x);
	ex_start(&x, "SCRAM-SHA-1", &v, 10);
	ok(ex_step(&x, scram_vectors[0].server_first, NULL) == -1 && x.e.kind == ERR_PROTO,
	   "a challenge where the empty 334 belongs is refused (%s)", x.e.text);
	ex_end(&x);
}

static void
test_other_mechs(void)
{
	char got[1024];
	struct err e;
	struct ex x;
	size_t n;

	/* RFC 2195 §2. */
	struct sasl_creds tim = {.user = "tim", .pass = "tanstaaftanstaaf"};
	ok(ex_start(&x, "CRAM-MD5", &tim, SIZE_MAX) == 0 && !x.has_init,
	   "CRAM-MD5: no initial response");
	ok(sasl_finish(x.s, &e) == -1 && e.kind == ERR_AUTH,
	   "CRAM-MD5: a 235 before the challenge is refused (%s)", e.text);
	ok(ex_step(&x, NULL, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+") == 0,
	   "CRAM-MD5: RFC 2195 challenge");
	ok_mem(x.resp.data, x.resp.len, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", 48,
	       "CRAM-MD5: RFC 2195 response");
	ok(sasl_finish(x.s, &e) == 0, "CRAM-MD5: complete");
	ok(ex_step(&x, "<1.2@x>", NULL) == -1 && x.e.kind == ERR_PROTO,
	   "CRAM-MD5: a second challenge is refused");
	ex_end(&x);
	ex_start(&x, "CRAM-MD5", &tim, SIZE_MAX);
	ok(ex_step(&x, NULL, "") == -1 && x.e.kind == ERR_PROTO, "CRAM-MD5: empty challenge (%s)",
	   x.e.text);
	ex_end(&x);

	/* RFC 4616 §4 through the step API, with and without an authzid. */
	ok(ex_start(&x, "PLAIN", &tim, SIZE_MAX) == 0 && x.has_init, "PLAIN: initial response");
	ok_mem(x.init.data, x.init.len, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", 28,
	       "PLAIN: RFC 4616 example");
	ok(sasl_finish(x.s, &e) == 0, "PLAIN: complete after the initial response");
	ok(ex_step(&x, NULL, "") == -1 && x.e.kind == ERR_PROTO,
	   "PLAIN: a 334 after the initial response is refused");
	ex_end(&x);
	struct sasl_creds kurt = {.user = "Kurt", .pass = "xipj3plmq", .authzid = "Ursel"};
	ex_start(&x, "PLAIN", &kurt, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok_mem(got, n, "Ursel\0Kurt\0xipj3plmq", 20, "PLAIN: RFC 4616 example with authzid");
	ex_end(&x);
	ok(ex_start(&x, "PLAIN", &tim, 27) == 0 && !x.has_init && ex_step(&x, NULL, "") == 0 &&
	       strcmp(x.resp.data, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm") == 0 &&
	       sasl_finish(x.s, &e) == 0,
	   "PLAIN: too long for the line: sent after the empty 334");
	ex_end(&x);

	/* LOGIN: the user name, then the password, whatever the prompts say. */
	ok(ex_start(&x, "LOGIN", &tim, SIZE_MAX) == 0 && !x.has_init, "LOGIN: no initial");
	ok(ex_step(&x, NULL, "VXNlcm5hbWU6") == 0 && strcmp(x.resp.data, "dGlt") == 0,
	   "LOGIN: user name first");
	ok(sasl_finish(x.s, &e) == -1 && e.kind == ERR_AUTH, "LOGIN: 235 after the user only");
	ok(ex_step(&x, NULL, "UGFzc3dvcmQ6") == 0 &&
	       strcmp(x.resp.data, "dGFuc3RhYWZ0YW5zdGFhZg==") == 0 && x.resp.secret,
	   "LOGIN: then the password (secret buffer)");
	ok(sasl_finish(x.s, &e) == 0, "LOGIN: complete");
	ok(ex_step(&x, NULL, "") == -1 && x.e.kind == ERR_PROTO, "LOGIN: a third 334");
	ex_end(&x);

	/* XOAUTH2 (Google's format) and its failure. */
	struct sasl_creds g = {.user = "someuser@example.com",
	                       .token = "ya29.vF9dft4qmTc2Nvb3RlckBhdGxhc3RhLmNvbQ"};
	ok(ex_start(&x, "XOAUTH2", &g, SIZE_MAX) == 0 && x.has_init, "XOAUTH2: initial");
	static const char xo[] = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRm"
	                         "dDRxbVRjMk52YjNSbGNrQmhkR3hoYzNSaExtTnZiUQEB";
	ok_mem(x.init.data, x.init.len, xo, sizeof(xo) - 1,
	       "XOAUTH2: user=... ^A auth=Bearer ... ^A ^A");
	ok(sasl_finish(x.s, &e) == 0, "XOAUTH2: complete without a challenge");
	ok(ex_step(&x,
	           "{\"status\":\"401\",\"schemes\":\"bearer\","
	           "\"scope\":\"https://mail.google.com/\"}",
	           NULL) == 0 &&
	       x.resp.len == 0,
	   "XOAUTH2: the JSON error is answered with an empty line");
	ok(sasl_failure(x.s) && strcmp(sasl_failure(x.s), "status 401") == 0,
	   "XOAUTH2: the status is kept (%s)", sasl_failure(x.s));
	ok(sasl_finish(x.s, &e) == -1 && e.kind == ERR_AUTH, "XOAUTH2: no 235 after a failure");
	ex_end(&x);

	/* RFC 7628 §4.1. */
	struct sasl_creds o = {.user = "user@example.com",
	                       .host = "server.example.com",
	                       .port = 143,
	                       .token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="};
	ok(ex_start(&x, "OAUTHBEARER", &o, SIZE_MAX) == 0 && x.has_init, "OAUTHBEARER: initial");
	static const char ob[] =
	    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9"
	    "QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
	ok_mem(x.init.data, x.init.len, ob, sizeof(ob) - 1, "OAUTHBEARER: RFC 7628 §4.1 example");
	ok(ex_step(&x,
	           "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
	           "\"openid-configuration\":"
	           "\"https://example.com/.well-known/openid-configuration\"}",
	           NULL) == 0 &&
	       strcmp(x.resp.data, "AQ==") == 0,
	   "OAUTHBEARER: a failure is answered with ^A (RFC 7628 §3.2.3)");
	ok(sasl_failure(x.s) && strcmp(sasl_failure(x.s), "status invalid_token") == 0,
	   "OAUTHBEARER: the status is kept (%s)", sasl_failure(x.s));
	ok(ex_step(&x, NULL, "") == -1 && x.e.kind == ERR_PROTO,
	   "OAUTHBEARER: nothing after the failure");
	ex_end(&x);
	struct sasl_creds o2 = {.token = "abc-._~+/xyz=="};
	ex_start(&x, "OAUTHBEARER", &o2, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	ok_mem(got, n, "n,,\001auth=Bearer abc-._~+/xyz==\001\001", 32,
	       "OAUTHBEARER: no user, host or port");
	ex_end(&x);

	/* Tokens and names that would break the format are refused. */
	static const char *const bad_tokens[] = {"tok en", "abc\001", "a=b", "", "=abc", "abc\n"};
	for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++) {
		struct sasl_creds bt = {.user = "u", .token = bad_tokens[i]};
		ok(ex_start(&x, i % 2 ? "XOAUTH2" : "OAUTHBEARER", &bt, SIZE_MAX) == -1 &&
		       x.e.kind == ERR_CONFIG && !x.s,
		   "bad token %zu refused (%s)", i, x.e.text);
		ex_end(&x);
	}
	struct sasl_creds bu = {.user = "u\001ser", .token = "abc"};
	ok(ex_start(&x, "XOAUTH2", &bu, SIZE_MAX) == -1 && x.e.kind == ERR_CONFIG &&
	       has_text(&x.e, "control character"),
	   "a user name with a control character is refused (%s)", x.e.text);
	ex_end(&x);

	/* RFC 4422 App. A. */
	struct sasl_creds ext = {.have_cert = true};
	ok(ex_start(&x, "EXTERNAL", &ext, SIZE_MAX) == 0 && x.has_init &&
	       strcmp(x.init.data, "=") == 0,
	   "EXTERNAL: an empty initial response is \"=\"");
	ok(sasl_finish(x.s, &e) == 0, "EXTERNAL: complete");
	ex_end(&x);
	ext.authzid = "bob";
	ex_start(&x, "EXTERNAL", &ext, SIZE_MAX);
	ok(strcmp(x.init.data, "Ym9i") == 0, "EXTERNAL: the authzid");
	ex_end(&x);
	ext.authzid = NULL;
	ok(ex_start(&x, "EXTERNAL", &ext, 0) == 0 && !x.has_init && ex_step(&x, NULL, "") == 0 &&
	       x.resp.len == 0 && sasl_finish(x.s, &e) == 0,
	   "EXTERNAL: held back, then an empty line for the empty 334");
	ex_end(&x);

	/* What each mechanism needs. */
	static const struct {
		const char *mech;
		struct sasl_creds c;
		enum err_kind kind;
		const char *text;
	} misfits[] = {
	    {"LOGIN", {.user = "u"}, ERR_CONFIG, "needs a password"},
	    {"PLAIN", {.pass = "p"}, ERR_CONFIG, "needs a user name"},
	    {"XOAUTH2", {.user = "u", .token = "t", .authzid = "a"}, ERR_CONFIG, "authzid"},
	    {"CRAM-MD5", {.user = "u", .pass = "p", .authzid = "a"}, ERR_CONFIG, "authzid"},
	    {"OAUTHBEARER", {.user = "u"}, ERR_CONFIG, "OAuth 2.0 access token"},
	    {"XOAUTH2", {.user = "u"}, ERR_CONFIG, "or (msmtp's way) password or passwordeval"},
	    {"EXTERNAL", {.user = "u"}, ERR_CONFIG, "client certificate"},
	    {"GSSAPI", {.user = "u", .pass = "p"}, ERR_SOFTWARE, "unknown mechanism"},
	};
	for (size_t i = 0; i < sizeof(misfits) / sizeof(misfits[0]); i++) {
		ok(ex_start(&x, misfits[i].mech, &misfits[i].c, SIZE_MAX) == -1 &&
		       x.e.kind == misfits[i].kind && has_text(&x.e, misfits[i].text) && !x.s,
		   "%s: %s", misfits[i].mech, x.e.text);
		ex_end(&x);
	}
	sasl_free(NULL);
	ok(1, "sasl_free(NULL) is a no-op");
}

/*
 * msmtp's way (issue 12): with `auth xoauth2` or `auth oauthbearer`, the password is the
 * access token. Tokens here as in every msmtp guide: the password sent as the bearer token.
 */
static void
test_msmtp_oauth(void)
{
	char got[1024];
	struct ex x;
	size_t n;
	struct sasl_creds pw = {.user = "me@example.com", .pass = "ya29.tok-EN_1"};

	ok(ex_start(&x, "XOAUTH2", &pw, SIZE_MAX) == 0 && x.has_init,
	   "msmtp's way: XOAUTH2 with a password starts (%s)", x.e.text);
	n = dec(&x.init, got, sizeof(got));
	static const char xo[] = "user=me@example.com\001auth=Bearer ya29.tok-EN_1\001\001";
	ok_mem(got, n, xo, sizeof(xo) - 1,
	       "msmtp's way: XOAUTH2 sends the password as the bearer token");
	ok(x.init.secret, "the initial response is a secret buffer");
	ex_end(&x);
	pw.host = "smtp.example.com";
	pw.port = 587;
	ok(ex_start(&x, "OAUTHBEARER", &pw, SIZE_MAX) == 0 && x.has_init,
	   "msmtp's way: OAUTHBEARER with a password starts (%s)", x.e.text);
	n = dec(&x.init, got, sizeof(got));
	static const char ob[] = "n,a=me@example.com,\001host=smtp.example.com\001port=587\001"
	                         "auth=Bearer ya29.tok-EN_1\001\001";
	ok_mem(got, n, ob, sizeof(ob) - 1, "msmtp's way: OAUTHBEARER sends it as the token");
	ex_end(&x);
	/* A token wins over the password when both are there. */
	struct sasl_creds both = {.user = "u", .pass = "pw", .token = "tok"};
	ex_start(&x, "XOAUTH2", &both, SIZE_MAX);
	n = dec(&x.init, got, sizeof(got));
	static const char tok[] = "user=u\001auth=Bearer tok\001\001";
	ok_mem(got, n, tok, sizeof(tok) - 1, "a token goes before a password");
	ex_end(&x);
	/* A password that is no bearer token: refused, not shown, the message says why. */
	struct sasl_creds bad = {.user = "u", .pass = "correct horse"};
	ok(ex_start(&x, "XOAUTH2", &bad, SIZE_MAX) == -1 && x.e.kind == ERR_CONFIG &&
	       has_text(&x.e, "the password (the access token for it) is not a bearer token") &&
	       !has_text(&x.e, "horse"),
	   "a password that is no token is refused without showing it (%s)", x.e.text);
	ex_end(&x);
}

static void
test_pick(void)
{
	static const unsigned char cb[32] = {1};
	const struct sasl_creds P = {.user = "u", .pass = "p"};
	const struct sasl_creds PB = {
	    .user = "u", .pass = "p", .cb = cb, .cb_len = 32, .cb_type = "tls-exporter"};
	const struct sasl_creds T = {.user = "u", .token = "t"};
	const struct sasl_creds C = {.have_cert = true};
	const struct sasl_creds TC = {.user = "u", .token = "t", .have_cert = true};
	const struct sasl_creds PC = {.user = "u", .pass = "p", .have_cert = true};
	const struct sasl_creds PT = {.user = "u", .pass = "p", .token = "t"};
	const struct sasl_creds PA = {.user = "u", .pass = "p", .authzid = "boss"};
	const struct sasl_creds NONE = {.user = "u"};
	const struct sasl_creds NOUSER = {.pass = "p"};
	static const char *const all =
	    "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-1-PLUS "
	    "SCRAM-SHA-256 SCRAM-SHA-256-PLUS XOAUTH2 OAUTHBEARER EXTERNAL";
	const struct {
		const struct sasl_creds *c;
		const char *offered;
		const char *wanted;
		const char *want; /* NULL: error */
		enum err_kind kind;
		const char *text;
	} cases[] = {
	    {&PB, all, NULL, "SCRAM-SHA-256-PLUS", ERR_NONE, NULL},
	    {&PB, "scram-sha-1-plus scram-sha-256 plain", NULL, "SCRAM-SHA-1-PLUS", ERR_NONE, NULL},
	    {&P, all, NULL, "SCRAM-SHA-256", ERR_NONE, NULL},
	    {&P, "SCRAM-SHA-1 PLAIN SCRAM-SHA-1-PLUS", NULL, "SCRAM-SHA-1", ERR_NONE, NULL},
	    {&PB, "SCRAM-SHA-1 SCRAM-SHA-256 PLAIN", NULL, "SCRAM-SHA-256", ERR_NONE, NULL},
	    {&P, "LOGIN CRAM-MD5 PLAIN", NULL, "PLAIN", ERR_NONE, NULL},
	    {&P, "CRAM-MD5 LOGIN", NULL, "LOGIN", ERR_NONE, NULL},
	    {&P, "CRAM-MD5 DIGEST-MD5", NULL, "CRAM-MD5", ERR_NONE, NULL},
	    {&P, "SCRAM-SHA-256-PLUS XOAUTH2 OAUTHBEARER EXTERNAL", NULL, NULL, ERR_PERM,
	     "with these credentials postie can use SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, "
	     "LOGIN, CRAM-MD5"},
	    {&PT, "OAUTHBEARER XOAUTH2 LOGIN", NULL, "LOGIN", ERR_NONE, NULL},
	    {&T, all, NULL, "OAUTHBEARER", ERR_NONE, NULL},
	    {&T, "XOAUTH2 PLAIN", NULL, "XOAUTH2", ERR_NONE, NULL},
	    {&T, "PLAIN LOGIN", NULL, NULL, ERR_PERM, "postie can use OAUTHBEARER, XOAUTH2"},
	    {&C, all, NULL, "EXTERNAL", ERR_NONE, NULL},
	    {&PC, all, NULL, "SCRAM-SHA-256", ERR_NONE, NULL},
	    {&PC, "EXTERNAL", NULL, NULL, ERR_PERM, "server offers only EXTERNAL"},
	    {&TC, "EXTERNAL XOAUTH2", NULL, "XOAUTH2", ERR_NONE, NULL},
	    {&TC, "EXTERNAL PLAIN", NULL, "EXTERNAL", ERR_NONE, NULL},
	    {&PA, "LOGIN CRAM-MD5 PLAIN", NULL, "PLAIN", ERR_NONE, NULL},
	    {&PA, "LOGIN CRAM-MD5", NULL, NULL, ERR_PERM, "offers only LOGIN CRAM-MD5"},
	    {&NONE, all, NULL, NULL, ERR_CONFIG, "no password, OAuth token or client"},
	    {&NOUSER, all, NULL, NULL, ERR_CONFIG, "no user name; set user"},
	    {&P, "", NULL, NULL, ERR_PERM, "offers no AUTH mechanism"},
	    {&P, NULL, NULL, NULL, ERR_PERM, "offers no AUTH mechanism"},
	    {&P, all, "", "SCRAM-SHA-256", ERR_NONE, NULL},
	    /* Named in the profile: that one or nothing. */
	    {&PB, all, "login", "LOGIN", ERR_NONE, NULL},
	    {&PB, all, "CRAM-MD5", "CRAM-MD5", ERR_NONE, NULL},
	    {&PB, "SCRAM-SHA-1 SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "SCRAM-SHA-1", ERR_NONE, NULL},
	    {&P, "PLAIN", "LOGIN", NULL, ERR_PERM,
	     "server offers only PLAIN; the profile asks for LOGIN"},
	    {&P, all, "SCRAM-SHA-256-PLUS", NULL, ERR_CONFIG, "channel binding"},
	    /* msmtp's way: a named OAuth mechanism takes the password for the token. */
	    {&P, all, "XOAUTH2", "XOAUTH2", ERR_NONE, NULL},
	    {&P, all, "oauthbearer", "OAUTHBEARER", ERR_NONE, NULL},
	    {&P, "PLAIN", "XOAUTH2", NULL, ERR_PERM, "server offers only PLAIN"},
	    {&NONE, all, "XOAUTH2", NULL, ERR_CONFIG, "XOAUTH2 needs an OAuth 2.0 access token"},
	    {&T, all, "PLAIN", NULL, ERR_CONFIG, "PLAIN needs a password"},
	    {&PT, all, "OAUTHBEARER", "OAUTHBEARER", ERR_NONE, NULL},
	    {&P, all, "EXTERNAL", NULL, ERR_CONFIG, "EXTERNAL needs a TLS client certificate"},
	    {&C, "EXTERNAL", "external", "EXTERNAL", ERR_NONE, NULL},
	    {&P, all, "GSSAPI", NULL, ERR_CONFIG, "mechanism GSSAPI is not supported"},
	    /* DIGEST-MD5 (msmtp offers it): obsolete, and what the server offers instead. */
	    {&P, "DIGEST-MD5 CRAM-MD5 PLAIN", "digest-md5", NULL, ERR_CONFIG,
	     "DIGEST-MD5 is obsolete (RFC 6331"},
	    {&P, "DIGEST-MD5 CRAM-MD5 PLAIN", "DIGEST-MD5", NULL, ERR_CONFIG,
	     "the server offers DIGEST-MD5 CRAM-MD5 PLAIN: write `auth on` instead of `auth "
	     "DIGEST-MD5` and postie uses PLAIN"},
	    {&P, "DIGEST-MD5 GSSAPI", "DIGEST-MD5", NULL, ERR_CONFIG,
	     "the server offers DIGEST-MD5 GSSAPI, none of which fits"},
	    {&P, "", "DIGEST-MD5", NULL, ERR_CONFIG,
	     "offers no AUTH mechanism: write `auth off` instead of `auth DIGEST-MD5`"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		err_clear(&e);
		const char *got = sasl_pick(cases[i].offered, cases[i].wanted, cases[i].c, &e);
		if (cases[i].want)
			ok(got && strcmp(got, cases[i].want) == 0, "pick %zu [%.40s] %s: %s", i,
			   cases[i].offered ? cases[i].offered : "(null)",
			   cases[i].wanted ? cases[i].wanted : "auto", got ? got : e.text);
		else
			ok(!got && e.kind == cases[i].kind && strstr(e.text, cases[i].text),
			   "pick %zu [%.40s] %s: refused: %s", i,
			   cases[i].offered ? cases[i].offered : "(null)",
			   cases[i].wanted ? cases[i].wanted : "auto", e.text);
	}
}

/* The mechanisms postie refuses as obsolete: DIGEST-MD5 only, in any case. */
static void
test_obsolete(void)
{
	ok(sasl_obsolete("DIGEST-MD5") && sasl_obsolete("digest-md5"), "DIGEST-MD5 is obsolete");
	ok(!sasl_obsolete("CRAM-MD5") && !sasl_obsolete("GSSAPI") && !sasl_obsolete("") &&
	       !sasl_obsolete(NULL),
	   "nothing else is");
}

/* scram.h on its own: saslname, and a server-final e= handed back to the caller. */
static void
test_scram_module(void)
{
	struct scram sc = {0};
	struct buf b, msg;
	struct err e;
	const char *said = NULL;
	size_t said_len = 0;
	const struct scram_creds c = {.user = "u", .pass = "p", .nonce = "abc"};

	buf_init(&b, 64);
	ok(scram_put_saslname(&b, "a,b=c", &e) == 0 && strcmp(b.data, "a=2Cb=3Dc") == 0,
	   "saslname: \"%s\"", b.data);
	buf_fini(&b);
	buf_init(&msg, 1024);
	ok(scram_build_first(&sc, "SCRAM-SHA-256", false, false, &c, &msg, &e) == 0 &&
	       strcmp(msg.data, "n,,n=u,r=abc") == 0,
	   "client-first without binding: \"%s\"", msg.data ? msg.data : "");
	ok(scram_check_final(&sc, "e=other-error", 13, &said, &said_len, &e) == 1 &&
	       said_len == 11 && memcmp(said, "other-error", 11) == 0 && !sc.verified,
	   "e= is handed back, not verified");
	ok(scram_check_final(&sc, "x=1", 3, &said, &said_len, &e) == -1 && e.kind == ERR_PROTO,
	   "neither v= nor e=");
	buf_fini(&msg);
	scram_fini(&sc);
}

int
main(void)
{
	test_vectors();
	test_roundtrip();
	test_decode_errors();
	test_plain();
	test_scram_vectors();
	test_scram_refusals();
	test_scram_binding();
	test_scram_misc();
	test_other_mechs();
	test_pick();
	test_msmtp_oauth();
	test_obsolete();
	test_scram_module();
	return tap_done();
}
