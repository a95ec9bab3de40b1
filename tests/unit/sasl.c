/*
 * Unit tests for src/sasl.c: the RFC 4648 §10 base64 vectors both ways, strict decoding
 * (RFC 4648 §3.3, §3.5), the RFC 4616 PLAIN example, and choosing a mechanism (SEC-12: only
 * PLAIN and LOGIN, never a weak "secure" one).
 */
#include <stdlib.h>
#include <string.h>

#include "src/buf.h"
#include "src/sasl.h"
#include "tests/tap.h"

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
		ok(sasl_base64_encode(&b, p, strlen(p), &e) == 0, "encode \"%s\": ok", p);
		ok_mem(b.data, b.len, x, strlen(x), "encode \"%s\"", p);
		buf_fini(&b);

		buf_init(&b, 1000);
		ok(sasl_base64_decode(&b, x, strlen(x), &e) == 0, "decode \"%s\": ok", x);
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
		if (sasl_base64_encode(&b, in, n, &e) < 0 || b.len != (n + 2) / 3 * 4 ||
		    sasl_base64_decode(&c, b.data ? b.data : "", b.len, &e) < 0 || c.len != n ||
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
	ok(sasl_base64_encode(&b, "foo", 3, &e) == 0, "encode appends");
	ok_mem(b.data, b.len, "AUTH PLAIN Zm9v", 15, "encode keeps the start");
	buf_fini(&b);

	buf_init(&b, 6);
	ok(sasl_base64_encode(&b, "foobar", 6, &e) == -1 && b.len == 0,
		"encode past the ceiling fails and appends nothing");
	buf_fini(&b);
	buf_init(&b, 5);
	ok(sasl_base64_decode(&b, "Zm9vYmFy", 8, &e) == -1 && b.len == 0,
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
		int rc = sasl_base64_decode(&b, bad[i].text, strlen(bad[i].text), &e);
		ok(rc == -1 && e.kind == ERR_PROTO && b.len == 0 &&
			   strncmp(e.text, "decode base64: ", 15) == 0,
			"decode refuses %s (%s)", bad[i].why, e.text);
		buf_fini(&b);
	}

	/* The length given is the length used: no reading up to a NUL. */
	struct buf b;
	struct err e;
	buf_init(&b, 1000);
	ok(sasl_base64_decode(&b, "Zm9vYmFyXXXX", 8, &e) == 0 && b.len == 6,
		"decode stops at LEN");
	buf_fini(&b);
	buf_init(&b, 1000);
	ok(sasl_base64_decode(&b, "Zm\0v", 4, &e) == -1 && e.kind == ERR_PROTO,
		"decode refuses a NUL inside");
	buf_fini(&b);
	buf_init(&b, 1000);
	ok(sasl_base64_decode(&b, "VXNlcm5hbWU6", 12, &e) == 0 &&
		   b.len == 9 && memcmp(b.data, "Username:", 9) == 0,
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
	ok(sasl_base64_decode(&d, b.data, b.len, &e) == 0 &&
		   d.len == 1 + 16 + 1 + 10 &&
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

static void
test_choose(void)
{
	static const struct {
		const char *offered;
		const char *wanted;
		const char *want;       /* NULL: error */
		enum err_kind kind;
		const char *text;       /* part of the message */
	} cases[] = {
		{"PLAIN LOGIN", NULL, "PLAIN", ERR_NONE, NULL},
		{"LOGIN PLAIN", NULL, "PLAIN", ERR_NONE, NULL},
		{"login", NULL, "LOGIN", ERR_NONE, NULL},
		{"CRAM-MD5 LOGIN", NULL, "LOGIN", ERR_NONE, NULL},
		{"  plain\tcram-md5 ", NULL, "PLAIN", ERR_NONE, NULL},
		{"PLAINX LOGINY", NULL, NULL, ERR_PERM, "server offers only PLAINX LOGINY"},
		{"XPLAIN", NULL, NULL, ERR_PERM, "postie supports PLAIN, LOGIN"},
		{"CRAM-MD5 DIGEST-MD5", NULL, NULL, ERR_PERM,
			"choose AUTH mechanism: server offers only CRAM-MD5 DIGEST-MD5; "},
		{"SCRAM-SHA-256   XOAUTH2", NULL, NULL, ERR_PERM,
			"server offers only SCRAM-SHA-256 XOAUTH2;"},
		{"", NULL, NULL, ERR_PERM, "offers no AUTH mechanism"},
		{NULL, NULL, NULL, ERR_PERM, "offers no AUTH mechanism"},
		{"", "", NULL, ERR_PERM, "offers no AUTH mechanism"},
		{"PLAIN LOGIN", "LOGIN", "LOGIN", ERR_NONE, NULL},
		{"plain login", "PLAIN", "PLAIN", ERR_NONE, NULL},
		{"PLAIN LOGIN", "login", "LOGIN", ERR_NONE, NULL},
		{"PLAIN", "LOGIN", NULL, ERR_PERM,
			"server offers only PLAIN; the profile asks for LOGIN"},
		{"PLAIN LOGIN CRAM-MD5", "CRAM-MD5", NULL, ERR_CONFIG,
			"mechanism CRAM-MD5 is not supported yet (postie supports PLAIN, LOGIN)"},
		{"XOAUTH2", "XOAUTH2", NULL, ERR_CONFIG, "mechanism XOAUTH2 is not supported yet"},
		{"", "GSSAPI", NULL, ERR_CONFIG, "mechanism GSSAPI is not supported yet"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		err_clear(&e);
		const char *got = sasl_choose(cases[i].offered, cases[i].wanted, &e);
		if (cases[i].want) {
			ok(got && strcmp(got, cases[i].want) == 0, "choose [%s] wanted %s: %s",
				cases[i].offered ? cases[i].offered : "(null)",
				cases[i].wanted ? cases[i].wanted : "-", got ? got : e.text);
		} else {
			ok(!got && e.kind == cases[i].kind && strstr(e.text, cases[i].text),
				"choose [%s] wanted %s: refused: %s",
				cases[i].offered ? cases[i].offered : "(null)",
				cases[i].wanted ? cases[i].wanted : "-", e.text);
		}
	}

	/* A long, hostile list: the message is cut, never overrun, and has no control bytes. */
	char big[4000];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 50; i < sizeof(big) - 1; i += 60)
		big[i] = ' ';
	big[10] = '\x1b';
	struct err e;
	ok(!sasl_choose(big, NULL, &e) && e.kind == ERR_PERM && strlen(e.text) < sizeof(e.text) &&
		   !strchr(e.text, '\x1b'),
		"a long list with an escape byte: refused, message bounded and clean");
}

int
main(void)
{
	test_vectors();
	test_roundtrip();
	test_decode_errors();
	test_plain();
	test_choose();
	return tap_done();
}
