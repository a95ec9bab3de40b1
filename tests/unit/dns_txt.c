/*
 * Unit tests of dns_txt_parse: answers built byte by byte. One TXT record, one split into
 * character-strings (RFC 6376 §3.6.2.2: joined with nothing between them), several records
 * and a CNAME, compressed owner names, NXDOMAIN and other RCODEs; and the hostile ones: every
 * prefix of a good answer (each parsed from an exact allocation, so a read past it is an ASan
 * report), compression loops and forward pointers, a huge RDLENGTH or character-string
 * length, an unknown label type, a name over 255 bytes, more records than are kept.
 * tests/dkim's dns case asks a fake DNS server through the real resolver.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"
#include "dns_txt.h"

/* A DNS message being built. */
struct msg {
	unsigned char b[8192];
	size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
put8(struct msg *m, unsigned v)
{
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

/* The header: a response with RCODE, QD questions and AN answers. */
static void
header(struct msg *m, unsigned rcode, unsigned qd, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | rcode);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

/* NAME ("a.b.c") as labels and the root. */
static void
name(struct msg *m, const char *dotted)
{
	while (*dotted) {
		size_t l = strcspn(dotted, ".");
		put8(m, (unsigned)l);
		put(m, dotted, l);
		dotted += l;
		if (*dotted == '.')
			dotted++;
	}
	put8(m, 0);
}

/* The question for NAME's TXT records, at offset 12. */
static void
question(struct msg *m, const char *dotted)
{
	name(m, dotted);
	put16(m, 16);
	put16(m, 1);
}

/* A record after its owner name: TYPE, CLASS, a TTL and RDATA (N bytes). */
static void
record(struct msg *m, unsigned type, unsigned class, const void *rdata, size_t n)
{
	put16(m, type);
	put16(m, class);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)n);
	put(m, rdata, n);
}

/* A TXT record owned by the question's name (a pointer to offset 12) with the
 * character-strings STRS (NULL-terminated). */
static void
txt(struct msg *m, const char *const *strs)
{
	unsigned char rd[4096];
	size_t n = 0;
	for (; *strs; strs++) {
		size_t l = strlen(*strs);
		rd[n++] = (unsigned char)l;
		memcpy(rd + n, *strs, l);
		n += l;
	}
	put16(m, 0xc00c);
	record(m, 16, 1, rd, n);
}

/* Parse M from an exact copy of its first LEN bytes. */
static int
parse(const struct msg *m, size_t len, struct dns_txt *t, struct err *e)
{
	unsigned char *copy = malloc(len ? len : 1);
	memcpy(copy, m->b, len);
	dns_txt_init(t);
	err_clear(e);
	int rc = dns_txt_parse(copy, len, t, e);
	free(copy);
	return rc;
}

static const char *const one[] = {"v=DKIM1; k=ed25519; p=abc=", NULL};

static void
test_good(void)
{
	struct msg m;
	struct dns_txt t;
	struct err e;

	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	txt(&m, one);
	ok(parse(&m, m.n, &t, &e) == 0 && t.n == 1 && t.total == 1 && !t.nxdomain,
	   "one TXT record: parsed");
	ok(t.n == 1 && t.len[0] == strlen(one[0]) && strcmp(t.text[0], one[0]) == 0,
	   "its text is the character-string");
	dns_txt_fini(&t);

	/* RSA's record is over 255 bytes: split, then joined with nothing between. */
	char a[256], b[256], c[51], whole[600];
	memset(a, 'A', 255);
	a[255] = '\0';
	memset(b, 'B', 255);
	b[255] = '\0';
	memset(c, 'C', 50);
	c[50] = '\0';
	const char *const split[] = {a, b, c, "", NULL};
	snprintf(whole, sizeof(whole), "%s%s%s", a, b, c);
	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	txt(&m, split);
	ok(parse(&m, m.n, &t, &e) == 0 && t.n == 1 && t.len[0] == 560 &&
	       strcmp(t.text[0], whole) == 0,
	   "a record of 255 + 255 + 50 + 0 bytes in four character-strings: one text of 560");
	dns_txt_fini(&t);

	/* A CNAME first (its own owner name in full, the TXT's owner compressed to its target),
	 * two TXT records, one of class CH (ignored), one holding a NUL. */
	header(&m, 0, 1, 4);
	question(&m, "sel._domainkey.example.test");
	size_t cname_at = m.n;
	put16(&m, 0xc00c);
	size_t target_at = m.n + 10;
	unsigned char target[] = "\x03key\x08provider\x04test";
	record(&m, 5, 1, target, sizeof(target));
	put16(&m, 0xc000 | (unsigned)target_at);
	record(&m, 16, 1, "\x05one=1", 6);
	put16(&m, 0xc000 | (unsigned)target_at);
	record(&m, 16, 3, "\x05chaos", 6);
	put16(&m, 0xc000 | (unsigned)target_at);
	record(&m, 16, 1,
	       "\x03"
	       "a\0b",
	       4);
	ok(cname_at == 45 && parse(&m, m.n, &t, &e) == 0 && t.n == 2 && t.total == 2 &&
	       strcmp(t.text[0], "one=1") == 0 && t.len[1] == 3 &&
	       memcmp(t.text[1], "a\0b", 4) == 0,
	   "a CNAME and a class CH record skipped, two TXT records kept, a NUL kept in its length");
	dns_txt_fini(&t);

	header(&m, 3, 1, 0);
	question(&m, "sel._domainkey.example.test");
	ok(parse(&m, m.n, &t, &e) == 0 && t.nxdomain && t.n == 0, "NXDOMAIN: no record, nxdomain");
	header(&m, 0, 1, 0);
	question(&m, "sel._domainkey.example.test");
	ok(parse(&m, m.n, &t, &e) == 0 && !t.nxdomain && t.n == 0, "no answer: no record");
	header(&m, 2, 1, 0);
	question(&m, "sel._domainkey.example.test");
	ok(parse(&m, m.n, &t, &e) < 0 && e.kind == ERR_TEMP && strstr(e.text, "RCODE 2"),
	   "SERVFAIL: ERR_TEMP naming the RCODE (%s)", e.text);

	header(&m, 0, 1, 12);
	question(&m, "sel._domainkey.example.test");
	for (int i = 0; i < 12; i++)
		txt(&m, one);
	ok(parse(&m, m.n, &t, &e) == 0 && t.n == DNS_TXT_MAX && t.total == 12,
	   "12 records: %d kept, 12 counted", DNS_TXT_MAX);
	dns_txt_fini(&t);
}

/* Whether M fails to parse as ERR_PROTO, leaving nothing in T. */
static bool
refused(const struct msg *m, size_t len)
{
	struct dns_txt t;
	struct err e;
	int rc = parse(m, len, &t, &e);
	bool r = rc < 0 && e.kind == ERR_PROTO && t.n == 0;
	dns_txt_fini(&t);
	return r;
}

static void
test_hostile(void)
{
	struct msg m;

	header(&m, 0, 1, 2);
	question(&m, "sel._domainkey.example.test");
	txt(&m, one);
	txt(&m, one);
	bool all = true;
	for (size_t len = 0; len < m.n; len++)
		all = all && refused(&m, len);
	ok(all, "every prefix of a good answer (%zu bytes) is refused, none read past", m.n);

	m.b[2] &= 0x7f;
	ok(refused(&m, m.n), "a query, not a response: refused");

	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	size_t at = m.n;
	put16(&m, 0xc000 | (unsigned)at);
	record(&m, 16, 1, "\x01x", 2);
	ok(refused(&m, m.n), "an owner name that points to itself: refused");

	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	at = m.n;
	put8(&m, 1);
	put8(&m, 'a');
	put16(&m, 0xc000 | (unsigned)at);
	record(&m, 16, 1, "\x01x", 2);
	ok(refused(&m, m.n), "a label then a pointer back to it (a loop): refused");

	/* The question's name ends in a pointer to the owner's, and the owner's to the
	 * question's: a loop through a forward pointer. */
	header(&m, 0, 1, 1);
	put8(&m, 1);
	put8(&m, 'q');
	put16(&m, 0xc000 | 20);
	put16(&m, 16);
	put16(&m, 1);
	put8(&m, 1);
	put8(&m, 'o');
	put16(&m, 0xc00c);
	record(&m, 16, 1, "\x01x", 2);
	ok(m.n == 36 && refused(&m, m.n), "two names pointing at each other: refused");

	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	put16(&m, 0xc00c);
	put16(&m, 16);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 300);
	put16(&m, 0xffff);
	put(&m, "\x01x", 2);
	ok(refused(&m, m.n), "RDLENGTH 65535 with 2 bytes left: refused");

	header(&m, 0, 1, 1);
	question(&m, "sel._domainkey.example.test");
	put16(&m, 0xc00c);
	record(&m, 16, 1,
	       "\x02x\xff"
	       "abc",
	       6);
	ok(refused(&m, m.n), "a character-string of 255 bytes in a 6-byte record: refused");

	header(&m, 0, 0xffff, 0xffff);
	ok(refused(&m, m.n), "65535 questions and answers in a bare header: refused");

	header(&m, 0, 1, 0);
	put8(&m, 0x41);
	put8(&m, 0);
	put16(&m, 16);
	put16(&m, 1);
	ok(refused(&m, m.n), "a label type 01 (RFC 6891 §5's extended labels): refused");

	header(&m, 0, 1, 0);
	for (int i = 0; i < 5; i++) {
		put8(&m, 63);
		memset(m.b + m.n, 'a', 63);
		m.n += 63;
	}
	put8(&m, 0);
	put16(&m, 16);
	put16(&m, 1);
	ok(refused(&m, m.n), "a name of 321 bytes: refused");
}

int
main(void)
{
	test_good();
	test_hostile();
	return tap_done();
}
