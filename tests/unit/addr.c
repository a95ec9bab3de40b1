/*
 * Unit tests for src/addr.c: an envelope torture table (SEC-18, SEC-21, SEC-22, SEC-25), an
 * address-list table (RFC 5322 §3.4 and the obsolete forms of §4.4), the exact shape of the
 * error messages, and addr_domain.
 */
#include <stdlib.h>
#include <string.h>

#include "src/addr.h"
#include "tests/lib/tap.h"

#define S(x) x, sizeof(x) - 1

/* IN (LEN bytes) with controls escaped, for test names: TAP lines must stay one line. */
static const char *
show(const char *in, size_t len)
{
	static char out[2][600];
	static int which;
	char *o = out[which ^= 1];
	size_t k = 0;

	for (size_t i = 0; i < len && k < sizeof(out[0]) - 5; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(o + k, sizeof(out[0]) - k, "\\x%02x", c);
		else
			o[k++] = (char)c;
	}
	o[k] = '\0';
	return o;
}

struct env_case {
	const char *in;
	bool allow_null;
	const char *want;   /* the normalised address, or NULL when refused */
	const char *reason; /* a part of the error text when refused */
};

#define LONG63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG64 LONG63 "a"
/* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 octets */
#define LONG61 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ADDR254 LONG64 "@" LONG63 "." LONG63 "." LONG61
#define ADDR255 LONG64 "@" LONG63 "." LONG63 "." LONG61 "a"

static const struct env_case env_cases[] = {
    /* accepted */
    {"user@example.com", false, "user@example.com", NULL},
    {"<user@example.com>", false, "user@example.com", NULL},
    {"User@Example.COM", false, "User@Example.COM", NULL},
    {"first.last@example.com", false, "first.last@example.com", NULL},
    {"a+tag@sub.example.org", false, "a+tag@sub.example.org", NULL},
    {"!#$%&'*+-/=?^_`{|}~@example.com", false, "!#$%&'*+-/=?^_`{|}~@example.com", NULL},
    {"a@b-c.d1", false, "a@b-c.d1", NULL},
    {"\"a b\"@example.com", false, "\"a b\"@example.com", NULL},
    {"<\"a b\"@example.com>", false, "\"a b\"@example.com", NULL},
    {"\"a\\\"b\"@example.com", false, "\"a\\\"b\"@example.com", NULL},
    {"\"a@b\"@example.com", false, "\"a@b\"@example.com", NULL},
    {"\"a>b\"@example.com", false, "\"a>b\"@example.com", NULL},
    {"<\"a>b\"@example.com>", false, "\"a>b\"@example.com", NULL},
    {"\"-x\"@example.com", false, "\"-x\"@example.com", NULL},
    {"\"\"@example.com", false, "\"\"@example.com", NULL},
    {"user@[192.0.2.1]", false, "user@[192.0.2.1]", NULL},
    {"<user@[192.0.2.1]>", false, "user@[192.0.2.1]", NULL},
    {"user@[IPv6:2001:db8::1]", false, "user@[IPv6:2001:db8::1]", NULL},
    {"user@[ipv6:::1]", false, "user@[ipv6:::1]", NULL},
    {"user@[IPv6:::ffff:192.0.2.1]", false, "user@[IPv6:::ffff:192.0.2.1]", NULL},
    {"user@bücher.example", false, "user@xn--bcher-kva.example", NULL},
    {"user@BÜCHER.example", false, "user@xn--bcher-kva.example", NULL},
    {"<x@münchen.de>", false, "x@xn--mnchen-3ya.de", NULL},
    {"user@例え.テスト", false, "user@xn--r8jz45g.xn--zckzah", NULL},
    {"user@xn--bcher-kva.example", false, "user@xn--bcher-kva.example", NULL},
    {"root", false, "root", NULL},
    {"<root>", false, "root", NULL},
    {"first.last", false, "first.last", NULL},
    {"", true, "", NULL},
    {"<>", true, "", NULL},
    {ADDR254, false, ADDR254, NULL},
    {LONG64 "@" LONG63 ".example", false, LONG64 "@" LONG63 ".example", NULL},

    /* SEC-18: controls, CR, LF, NUL (a NUL ends a C string: see the list tests) */
    {"a\r\nRCPT TO:<x@y>@example.com", false, NULL, "control character"},
    {"a@example.com\r\nRSET", false, NULL, "control character"},
    {"a@x\n", false, NULL, "control character"},
    {"a@x\r", false, NULL, "control character"},
    {"<a@x>\r\n", false, NULL, "control character"},
    {"a\tb@x", false, NULL, "control character"},
    {"a\x7f@x", false, NULL, "control character"},
    {"a\x01@x", false, NULL, "control character"},
    {"\x1b[31ma@x", false, NULL, "control character"},
    {"\"a\rb\"@x", false, NULL, "control character"},
    {"a@[1.2.3.4\n]", false, NULL, "control character"},
    /* SEC-18: unquoted space, brackets out of place, text after '>' */
    {"a b@x", false, NULL, "unquoted space"},
    {" a@x", false, NULL, "unquoted space"},
    {"a@x ", false, NULL, "unquoted space"},
    {"<a@x y>", false, NULL, "unquoted space"},
    {"a@[1.2.3.4 ]", false, NULL, "unquoted space"},
    {"a<b@x", false, NULL, "'<' or '>' outside the brackets"},
    {"a@x>", false, NULL, "'<' or '>' outside the brackets"},
    {"a>@x", false, NULL, "'<' or '>' outside the brackets"},
    {"<<a@x>>", false, NULL, "'<' or '>' outside the brackets"},
    {"<a@x>>", false, NULL, "text after '>'"},
    {"<a@x> ", false, NULL, "text after '>'"},
    {"<a@x>y@z", false, NULL, "text after '>'"},
    {"<a@x> SIZE=1", false, NULL, "text after '>'"},
    {"<a@x", false, NULL, "missing '>'"},
    {"<", false, NULL, "empty local part"},
    /* empty parts */
    {"", false, NULL, "empty address"},
    {"<>", false, NULL, "empty address"},
    {"@x", false, NULL, "empty local part"},
    {"<@x>", false, NULL, "empty local part"},
    {"a@", false, NULL, "empty domain"},
    {"<a@>", false, NULL, "empty domain"},
    /* SEC-25: UTF-8 local parts are kept (RFC 6531); the session asks for SMTPUTF8 */
    {"jösé@example.com", false, "jösé@example.com", NULL},
    {"\"jösé\"@example.com", false, "\"jösé\"@example.com", NULL},
    {"<用户@例え.テスト>", false, "用户@xn--r8jz45g.xn--zckzah", NULL},
    {"j\xc3@example.com", false, NULL, "not valid UTF-8"},
    {"j\xc0\xaf@example.com", false, NULL, "not valid UTF-8"},
    {"j\xed\xa0\x80@example.com", false, NULL, "not valid UTF-8"},
    {"j\xf4\x90\x80\x80@example.com", false, NULL, "not valid UTF-8"},
    {"\"j\xff\"@example.com", false, NULL, "not valid UTF-8"},
    /* SEC-21: a leading '-' */
    {"-oQ/tmp/x@example.com", false, NULL, "begins with '-'"},
    {"-X/var/www/shell.php", false, NULL, "begins with '-'"},
    {"<-x@example.com>", false, NULL, "begins with '-'"},
    {"-", false, NULL, "begins with '-'"},
    /* RFC 5321 §4.5.3.1.3 */
    {ADDR255, false, NULL, "longer than 254 octets"},
    /* dot-strings and domains */
    {"a..b@x", false, NULL, "misplaced '.'"},
    {".a@x", false, NULL, "misplaced '.'"},
    {"a.@x", false, NULL, "misplaced '.'"},
    {"root.", false, NULL, "misplaced '.'"},
    {"a@x..y", false, NULL, "empty label"},
    {"a@.x", false, NULL, "empty label"},
    {"a@x.", false, NULL, "empty label"},
    {"a@-x.com", false, NULL, "begins or ends with '-'"},
    {"a@x-.com", false, NULL, "begins or ends with '-'"},
    {"a@x_y.com", false, NULL, "invalid character '_' in the domain"},
    {"a@x,b@y", false, NULL, "invalid character ',' in the domain"},
    {"a@b@c", false, NULL, "more than one '@'"},
    {"a(b)@x", false, NULL, "invalid character '(' in the local part"},
    {"a,b@x", false, NULL, "invalid character ',' in the local part"},
    {"a@" LONG64 ".example", false, NULL, "longer than 63 octets"},
    /* quoted local parts */
    {"\"a\"b@x", false, NULL, "invalid character 'b' in the local part"},
    {"a\"b\"@x", false, NULL, "mixes quoted and unquoted"},
    {"\"ab@x", false, NULL, "unclosed quoted string"},
    {"\"ab\\", false, NULL, "unclosed quoted string"},
    {"\"root\"", false, NULL, "without a domain must be unquoted"},
    /* address literals */
    {"a@[300.1.1.1]", false, NULL, "invalid IPv4 address literal"},
    {"a@[1.2.3]", false, NULL, "invalid IPv4 address literal"},
    {"a@[IPv6:zz::1]", false, NULL, "invalid IPv6 address literal"},
    {"a@[IPv6:]", false, NULL, "invalid address literal"},
    {"a@[tag:x]", false, NULL, "invalid IPv4 address literal"},
    {"a@[]", false, NULL, "invalid address literal"},
    {"a@[1.2.3.4", false, NULL, "unclosed '['"},
    {"a@[1.2.3.4]x", false, NULL, "invalid"},
    /* IDNA2008 refusals carry libidn2's reason */
    {"a@\xff.example", false, NULL, "the domain is not a valid IDN: "},
    {"a@b\xc3.example", false, NULL, "the domain is not a valid IDN: "},
    {"a@☃.example", false, NULL, "the domain is not a valid IDN: "},
    {"a@ab--ü.example", false, NULL, "the domain is not a valid IDN: "},
};

static void
test_envelope(void)
{
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		const struct env_case *c = &env_cases[i];
		struct err e = {0};
		char *out = (char *)"(untouched)";
		int rc = addr_envelope(c->in, c->allow_null, ERR_DATA, &out, &e);
		if (c->want) {
			if (ok(rc == 0, "envelope accepts \"%s\"", show(c->in, strlen(c->in))))
				ok(strcmp(out, c->want) == 0, "  as \"%s\" (got \"%s\")", c->want,
				   out);
			else
				printf("#   error: %s\n", e.text);
			if (rc == 0)
				free(out);
		} else {
			ok(rc == -1 && out == NULL, "envelope refuses \"%s\"",
			   show(c->in, strlen(c->in)));
			ok(e.kind == ERR_DATA && strstr(e.text, c->reason) != NULL &&
			       strncmp(e.text, "check address \"", 15) == 0,
			   "  because \"%s\" (got \"%s\")", c->reason, e.text);
			if (rc == 0)
				free(out);
		}
	}
}

static void
test_envelope_messages(void)
{
	struct err e = {0};
	char *out;

	addr_envelope("foo\nbar@x", false, ERR_USAGE, &out, &e);
	ok(strcmp(e.text, "check address \"foo?bar@x\": control character") == 0 &&
	       e.kind == ERR_USAGE,
	   "message shape with a control shown as '?' (%s)", e.text);
	addr_envelope("j\xc3@example.com", false, ERR_USAGE, &out, &e);
	ok(strcmp(e.text, "check address \"j\xc3@example.com\": the local part is not valid "
	                  "UTF-8") == 0,
	   "bad UTF-8 message (%s)", e.text);
	/* A very long address is quoted in part only. */
	char big[1200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[600] = ' ';
	addr_envelope(big, false, ERR_USAGE, &out, &e);
	ok(strlen(e.text) < 300 && strstr(e.text, "...\": unquoted space"),
	   "long addresses are cut in messages (%zu)", strlen(e.text));
	addr_envelope("a@\xff", false, ERR_USAGE, &out, &e);
	ok(strlen(e.text) > strlen("check address \"a@?\": the domain is not a valid IDN: "),
	   "libidn2 reason is given (%s)", e.text);
}

struct list_case {
	const char *in;
	size_t len;       /* 0: strlen */
	const char *want; /* the addresses joined by " ", or NULL when refused */
	const char *reason;
};

static const struct list_case list_cases[] = {
    {"a@x", 0, "a@x", NULL},
    {"a@x, b@y", 0, "a@x b@y", NULL},
    {"a@x,b@y,c@z", 0, "a@x b@y c@z", NULL},
    {"a@x,, b@y", 0, "a@x b@y", NULL},
    {", a@x ,,", 0, "a@x", NULL},
    {"", 0, "", NULL},
    {"   ", 0, "", NULL},
    {",", 0, "", NULL},
    {"root", 0, "root", NULL},
    {"root, admin@example.com", 0, "root admin@example.com", NULL},
    {"John Smith <js@example.com>", 0, "js@example.com", NULL},
    {"\"Smith, John\" <js@example.com>, other@x", 0, "js@example.com other@x", NULL},
    {"John Q. Public <jqp@example.com>", 0, "jqp@example.com", NULL},
    {"Mr. Smith <ms@x>", 0, "ms@x", NULL},
    {"\"\" <a@x>", 0, "a@x", NULL},
    {"<a@x>", 0, "a@x", NULL},
    {"Name <a@x>, <b@y>", 0, "a@x b@y", NULL},
    {"=?UTF-8?B?SsO2cmc=?= <j@example.com>", 0, "j@example.com", NULL},
    {"=?ISO-8859-1?Q?J=F6rg_M=FCller?= <j@example.com>", 0, "j@example.com", NULL},
    {"Jörg Müller <j@example.com>", 0, "j@example.com", NULL},
    {"\"quoted \\\" pair\" <q@x>", 0, "q@x", NULL},
    {"\"a b\"@example.com", 0, "\"a b\"@example.com", NULL},
    {"Name <\"a b\"@example.com>", 0, "\"a b\"@example.com", NULL},
    {"Undisclosed recipients:;", 0, "", NULL},
    {"undisclosed-recipients: ;", 0, "", NULL},
    {"undisclosed-recipients:", 0, "", NULL},
    {"team: a@x, b@y;, c@z", 0, "a@x b@y c@z", NULL},
    {"team: a@x, b@y; , c@z", 0, "a@x b@y c@z", NULL},
    {"team: Ann <a@x>, (comment) b@y;", 0, "a@x b@y", NULL},
    {"team: a@x,, ,b@y;", 0, "a@x b@y", NULL},
    {"team: a@x, b@y", 0, "a@x b@y", NULL},
    {"a@x, team:;, b@y", 0, "a@x b@y", NULL},
    {"\"The Team\": a@x;", 0, "a@x", NULL},
    {"a@x (Comment (nested) \\) paren)", 0, "a@x", NULL},
    {"(c1) a (c2) @ (c3) x (c4)", 0, "a@x", NULL},
    {"a(c)@(c)x", 0, "a@x", NULL},
    {"Name (c) <a@x> (trailing)", 0, "a@x", NULL},
    {"a . b @ example . com", 0, "a.b@example.com", NULL},
    {"<@route1,@route2:user@example.com>", 0, "user@example.com", NULL},
    {"Name <@a.example:user@example.com>", 0, "user@example.com", NULL},
    {"<,@a.example,,@b.example:user@example.com>", 0, "user@example.com", NULL},
    {"a@x,\r\n b@y", 0, "a@x b@y", NULL},
    {"a@x,\n\tb@y", 0, "a@x b@y", NULL},
    {"a@x,\r b@y", 0, "a@x b@y", NULL},
    {"Name\r\n <a@x>", 0, "a@x", NULL},
    {"\"folded\r\n name\" <a@x>", 0, "a@x", NULL},
    {"(folded\r\n comment) a@x", 0, "a@x", NULL},
    {"a@x\r\n", 0, "a@x", NULL},
    {"user@bücher.example, Name <u2@münchen.de>", 0,
     "user@xn--bcher-kva.example u2@xn--mnchen-3ya.de", NULL},
    {"a@[192.0.2.1], b@[IPv6:2001:db8::1]", 0, "a@[192.0.2.1] b@[IPv6:2001:db8::1]", NULL},
    {"a@[ 192.0.2.1 ]", 0, "a@[192.0.2.1]", NULL},
    {"Jörg <jörg@bücher.example>", 0, "jörg@xn--bcher-kva.example", NULL},

    /* refused */
    {"a@x; b@y", 0, NULL, "unexpected ';'"},
    {"a@x b@y", 0, NULL, "unquoted space"},
    {"John Smith", 0, NULL, "unquoted space"},
    {"John Smith@x", 0, NULL, "unquoted space"},
    {"Name <a@x> junk", 0, NULL, "text after '>'"},
    {"Name <a@x> <b@y>", 0, NULL, "text after '>'"},
    {"Name <a@x", 0, NULL, "missing '>'"},
    {"Name a@x>", 0, NULL, "'<' or '>' outside the brackets"},
    {"a@x <b@y>", 0, NULL, "'<' or '>' outside the brackets"},
    {"<a@x", 0, NULL, "missing '>'"},
    {"a@x, (unclosed", 0, NULL, "unclosed comment"},
    {"\"unclosed", 0, NULL, "unclosed quoted string"},
    {"a@[1.2.3.4", 0, NULL, "unclosed '['"},
    {"a@x)", 0, NULL, "unexpected ')'"},
    {"a@x]", 0, NULL, "unexpected ']'"},
    {"a\\b@x", 0, NULL, "unexpected '\\'"},
    {"a@x\r\nBcc: evil@y", 0, NULL, "control character"},
    {"a@x\nRCPT TO:<evil@y>", 0, NULL, "control character"},
    {"a@x\rb@y", 0, NULL, "control character"},
    {"a@x\x01", 0, NULL, "control character"},
    {"\"a\x01\"@x", 0, NULL, "control character"},
    {"(a\x7f) a@x", 0, NULL, "control character"},
    {"a@x\0b@y", 7, NULL, "control character"},
    {"a\tb@x", 0, NULL, "unquoted space"},
    {"\"a\tb\"@x", 0, NULL, "control character"},
    {"g1: g2: a@x;;", 0, NULL, "a group inside a group"},
    {"team: a@x; junk", 0, NULL, "text after the group"},
    {":;", 0, NULL, "unexpected ':'"},
    {"a@x: b@y;", 0, NULL, "unexpected ':'"},
    {"<>", 0, NULL, "empty address"},
    {"Name <>", 0, NULL, "empty address"},
    {"a@x, bad@@y", 0, NULL, "more than one '@'"},
    {"a@x, bad@", 0, NULL, "empty domain"},
    {"j\xc3@example.com", 0, NULL, "not valid UTF-8"},
    {"Name <j\xc3@example.com>", 0, NULL, "not valid UTF-8"},
    {"-f@x", 0, NULL, "begins with '-'"},
    {"a@x, -oQ/tmp", 0, NULL, "begins with '-'"},
    {"\"a\".\"b\"@x", 0, NULL, "invalid character '.' in the local part"},
    {"[1.2.3.4]", 0, NULL, "invalid character '[' in the local part"},
    {"a@x_y", 0, NULL, "invalid character '_' in the domain"},
    {"a@\xff.example", 0, NULL, "not a valid IDN"},
    {"a@x, <@route:>", 0, NULL, "empty address"},
};

static void
test_lists(void)
{
	for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
		const struct list_case *c = &list_cases[i];
		struct addr_list l = {0};
		struct err e = {0};
		size_t len = c->len ? c->len : strlen(c->in);
		int rc = addr_list_parse(&l, c->in, len, ERR_USAGE, &e);
		char got[1024] = "";
		size_t k = 0;
		for (size_t j = 0; j < l.n; j++)
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s", j ? " " : "",
			                      l.v[j]);
		if (c->want) {
			ok(rc == 0 && strcmp(got, c->want) == 0, "list \"%s\" gives \"%s\"",
			   show(c->in, len), c->want);
			if (rc != 0)
				printf("#   error: %s\n", e.text);
			else if (strcmp(got, c->want) != 0)
				printf("#   got: \"%s\"\n", got);
		} else {
			ok(rc == -1 && e.kind == ERR_USAGE && strstr(e.text, c->reason) &&
			       strncmp(e.text, "check address \"", 15) == 0,
			   "list \"%s\" refused: %s (got \"%s\")", show(c->in, len), c->reason,
			   e.text);
		}
		addr_list_fini(&l);
	}
}

static void
test_list_partial(void)
{
	struct addr_list l = {0};
	struct err e = {0};

	addr_list_add(&l, "first@x");
	int rc = addr_list_parse(&l, S("a@x, b@y, bad address, c@z"), ERR_DATA, &e);
	ok(rc == -1 && l.n == 3 && strcmp(l.v[2], "b@y") == 0,
	   "SEC-22: an invalid element fails the list; what came before stays (%zu)", l.n);
	ok(strcmp(e.text, "check address \"bad address\": unquoted space") == 0,
	   "the message names the element (%s)", e.text);
	addr_list_fini(&l);
	ok(l.n == 0 && l.v == NULL, "addr_list_fini empties the list");
	addr_list_fini(&l);

	/* The list grows past its first allocation. */
	char many[4096];
	size_t k = 0;
	for (int i = 0; i < 100; i++)
		k += (size_t)snprintf(many + k, sizeof(many) - k, "u%d@example.com, ", i);
	rc = addr_list_parse(&l, many, k, ERR_DATA, &e);
	ok(rc == 0 && l.n == 100 && strcmp(l.v[99], "u99@example.com") == 0,
	   "100 addresses in one list");
	addr_list_fini(&l);

	/* Parsers take pointer and length: nothing past LEN is read. */
	rc = addr_list_parse(&l, "a@x, b@y", 3, ERR_DATA, &e);
	ok(rc == 0 && l.n == 1 && strcmp(l.v[0], "a@x") == 0, "only LEN bytes are parsed");
	addr_list_fini(&l);
	char *heap = malloc(5);
	memcpy(heap, "a@xyz", 5); /* no terminating NUL */
	rc = addr_list_parse(&l, heap, 5, ERR_DATA, &e);
	ok(rc == 0 && l.n == 1 && strcmp(l.v[0], "a@xyz") == 0, "unterminated input");
	addr_list_fini(&l);
	memcpy(heap, "\"a@x(", 5);
	rc = addr_list_parse(&l, heap, 5, ERR_DATA, &e);
	ok(rc == -1, "unterminated input, unclosed quote");
	free(heap);
}

/* At least 1.4405 log2(N + 2), the most an AVL tree of N nodes is high (Knuth, 6.2.3). */
static size_t
avl_bound(size_t n)
{
	size_t bits = 0; /* of N + 2: more than its log2 */

	for (size_t v = n + 2; v; v >>= 1)
		bits++;
	return (bits * 14405 + 9999) / 10000;
}

static void
test_add_unique(void)
{
	struct addr_list l = {0};
	char a[64];

	/* Duplicates are equal bytes: case and every other difference keeps both (strcmp). */
	ok(addr_list_add_unique(&l, "a@x") && !addr_list_add_unique(&l, "a@x") &&
	       addr_list_add_unique(&l, "A@x") && addr_list_add_unique(&l, "a@X") &&
	       addr_list_add_unique(&l, "") && !addr_list_add_unique(&l, "") && l.n == 4 &&
	       strcmp(l.v[1], "A@x") == 0 && strcmp(l.v[2], "a@X") == 0 && !*l.v[3],
	   "add_unique drops an equal string and keeps case variants (%zu)", l.n);
	/* What addr_list_add appended is found too, also its own duplicates. */
	addr_list_add(&l, "b@x");
	addr_list_add(&l, "b@x");
	ok(!addr_list_add_unique(&l, "b@x") && l.n == 6, "addr_list_add's strings are indexed");
	ok(addr_list_add_unique(&l, "c@x") && l.n == 7 && strcmp(l.v[6], "c@x") == 0,
	   "and a new one still goes to the end");
	addr_list_fini(&l);
	ok(l.index == NULL && addr_list_compares(&l) == 0, "addr_list_fini frees the index");

	/*
	 * Issue 10, bug 9: 100,000 sorted addresses (the worst order for an unbalanced tree and
	 * for a scan), then all again in reverse. Each call may compare at most the height of
	 * the tree: O(n log n) in all, where a scan makes n^2 / 2 = 5 * 10^9.
	 */
	enum { N = 100000 };
	size_t calls = 0;
	for (int i = 0; i < N; i++) {
		snprintf(a, sizeof(a), "u%06d@example.com", i);
		addr_list_add_unique(&l, a);
		calls++;
	}
	for (int i = N - 1; i >= 0; i--) {
		snprintf(a, sizeof(a), "u%06d@example.com", i);
		addr_list_add_unique(&l, a);
		calls++;
	}
	bool order = l.n == N;
	for (int i = 0; order && i < N; i++) {
		snprintf(a, sizeof(a), "u%06d@example.com", i);
		order = strcmp(l.v[i], a) == 0;
	}
	ok(order, "100,000 addresses twice: each kept once, in the order of its first call");
	size_t bound = calls * avl_bound(N);
	ok(addr_list_compares(&l) <= bound,
	   "%zu calls made %zu comparisons, at most %zu (O(n log n))", calls,
	   addr_list_compares(&l), bound);
	addr_list_fini(&l);
}

static void
test_domain(void)
{
	ok(strcmp(addr_domain("a@example.com"), "example.com") == 0, "addr_domain");
	ok(strcmp(addr_domain("\"a@b\"@c.example"), "c.example") == 0,
	   "addr_domain takes the last '@'");
	ok(addr_domain("root") == NULL, "addr_domain of a bare local part is NULL");
	ok(strcmp(addr_domain("a@[192.0.2.1]"), "[192.0.2.1]") == 0, "addr_domain literal");
}

static void
test_classes(void)
{
	ok(addr_is_atext('a') && addr_is_atext('Z') && addr_is_atext('7') && addr_is_atext('~') &&
	       addr_is_atext('/'),
	   "atext: letters, digits, the RFC 5322 symbols");
	ok(!addr_is_atext('@') && !addr_is_atext('.') && !addr_is_atext(' ') &&
	       !addr_is_atext('\0') && !addr_is_atext(0xc3),
	   "not atext: specials, space, NUL, 8-bit");
	ok(addr_is_ctl('\0') && addr_is_ctl('\t') && addr_is_ctl(0x1f) && addr_is_ctl(0x7f),
	   "CTL: 0x00-0x1f and DEL");
	ok(!addr_is_ctl(' ') && !addr_is_ctl('~') && !addr_is_ctl(0x80), "not CTL");
}

int
main(void)
{
	test_envelope();
	test_envelope_messages();
	test_lists();
	test_list_partial();
	test_add_unique();
	test_domain();
	test_classes();
	return tap_done();
}
