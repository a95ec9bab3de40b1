/*
 * dns_txt: the TXT records at one name (dns_txt.h). The resolver sends the query and waits
 * (res_nquery, with a private state: the process's own resolver settings are not touched);
 * the answer is parsed here, every length checked against what is left before it is used
 * (SEC-49: a DNS answer is untrusted bytes).
 */
#include "dns_txt.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DNS_HEADER 12 /* RFC 1035 §4.1.1 */
#define DNS_TYPE_TXT 16
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

void
dns_txt_init(struct dns_txt *t)
{
	memset(t, 0, sizeof(*t));
}

void
dns_txt_fini(struct dns_txt *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->text[i]);
	dns_txt_init(t);
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * The name at *POS of MSG (LEN bytes), checked whole: its labels and the pointers it
 * follows (RFC 1035 §4.1.4) stay inside MSG, a pointer points before the part of the name
 * that led to it (so every walk ends), the name is at most 255 bytes. *POS moves past the
 * name as it sits in the record. false when it is malformed.
 */
static bool
name_skip(const unsigned char *msg, size_t len, size_t *pos)
{
	size_t p = *pos, lowest = *pos, end = 0, total = 1;
	bool jumped = false;

	for (;;) {
		if (p >= len)
			return false;
		unsigned l = msg[p];
		if (l == 0)
			break;
		if ((l & 0xc0) == 0xc0) {
			if (len - p < 2)
				return false;
			size_t to = (size_t)(l & 0x3f) << 8 | msg[p + 1];
			if (!jumped)
				end = p + 2;
			jumped = true;
			if (to >= lowest)
				return false;
			lowest = to;
			p = to;
			continue;
		}
		if (l & 0xc0) /* 01 and 10: no such label types in use */
			return false;
		total += 1 + l;
		if (total > 255)
			return false;
		p += 1 + l;
	}
	*pos = jumped ? end : p + 1;
	return true;
}

/* One TXT record's RDATA P (N bytes): its character-strings joined into T. NULL, or what is
 * wrong with it. */
static const char *
txt_record(const unsigned char *p, size_t n, struct dns_txt *t)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i += 1 + (size_t)p[i]) {
		if (p[i] > n - i - 1)
			return "a character-string longer than its record";
		total += p[i];
	}
	t->total++;
	if (t->n == DNS_TXT_MAX)
		return NULL;
	char *s = xmalloc(total + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i += 1 + (size_t)p[i]) {
		memcpy(s + k, p + i + 1, p[i]);
		k += p[i];
	}
	s[k] = '\0';
	t->text[t->n] = s;
	t->len[t->n++] = k;
	return NULL;
}

/* The sections of MSG after the header: the questions skipped, the answers' TXT records
 * into T. NULL, or what is wrong. */
static const char *
sections(const unsigned char *msg, size_t len, struct dns_txt *t)
{
	unsigned qd = get16(msg + 4), an = get16(msg + 6);
	size_t pos = DNS_HEADER;

	for (unsigned i = 0; i < qd; i++) {
		if (!name_skip(msg, len, &pos))
			return "a malformed name in the question";
		if (len - pos < 4)
			return "the question runs past the end";
		pos += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		if (!name_skip(msg, len, &pos))
			return "a malformed name in an answer";
		if (len - pos < 10)
			return "an answer record runs past the end";
		unsigned type = get16(msg + pos), class = get16(msg + pos + 2);
		size_t rdlen = get16(msg + pos + 8);
		pos += 10;
		if (len - pos < rdlen)
			return "an answer's data runs past the end";
		if (type == DNS_TYPE_TXT && class == DNS_CLASS_IN) {
			const char *why = txt_record(msg + pos, rdlen, t);
			if (why)
				return why;
		}
		pos += rdlen;
	}
	return NULL;
}

int
dns_txt_parse(const unsigned char *msg, size_t len, struct dns_txt *t, struct err *e)
{
	if (len < DNS_HEADER)
		return err_set(
		    e, ERR_PROTO,
		    "read the DNS answer: %zu bytes, shorter than a header; the resolver "
		    "sent a malformed message",
		    len);
	unsigned flags = get16(msg + 2);
	if (!(flags & 0x8000))
		return err_set(e, ERR_PROTO,
		               "read the DNS answer: it is a query, not a response; the resolver "
		               "sent a malformed message");
	if ((flags & 0xf) == DNS_RCODE_NXDOMAIN) {
		t->nxdomain = true;
		return 0;
	}
	if (flags & 0xf)
		return err_set(
		    e, ERR_TEMP,
		    "read the DNS answer: the resolver answered RCODE %u; try again later",
		    flags & 0xf);
	const char *why = sections(msg, len, t);
	if (!why)
		return 0;
	dns_txt_fini(t);
	return err_set(e, ERR_PROTO,
	               "read the DNS answer: %s; the resolver sent a malformed message", why);
}

/* Why NAME cannot be asked, or NULL. */
static const char *
name_bad(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DNS_TXT_MAX_NAME)
		return n ? "longer than 253 bytes" : "empty";
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return "a byte outside printable ASCII (give the domain in A-labels, xn--)";
	return NULL;
}

int
dns_txt_lookup(const char *name, struct dns_txt *t, struct err *e)
{
	const char *bad = name_bad(name);
	if (bad)
		return err_set(e, ERR_USAGE, "look up the TXT record of %s: the name is %s", name,
		               bad);
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0)
		return err_set(e, ERR_TEMP,
		               "look up the TXT record of %s: no resolver; check /etc/resolv.conf",
		               name);
	if (rs.retrans <= 0 || rs.retrans > DNS_TXT_TIMEOUT)
		rs.retrans = DNS_TXT_TIMEOUT;
	rs.retry = 1;
	unsigned char *ans = xmalloc(DNS_TXT_ANSWER);
	errno = 0;
	int n = res_nquery(&rs, name, C_IN, T_TXT, ans, DNS_TXT_ANSWER);
	int herr = rs.res_h_errno, saved = errno;
	res_nclose(&rs);
	int rc = 0;
	if (n >= 0)
		rc = dns_txt_parse(ans, n < DNS_TXT_ANSWER ? (size_t)n : DNS_TXT_ANSWER, t, e);
	else if (herr == HOST_NOT_FOUND)
		t->nxdomain = true;
	else if (herr == TRY_AGAIN)
		rc = err_set(e, ERR_TEMP,
		             "look up the TXT record of %s: no answer from the resolver (a timeout "
		             "or a server failure); check /etc/resolv.conf and the network",
		             name);
	else if (herr == NO_RECOVERY)
		rc = err_set(e, ERR_TEMP, "look up the TXT record of %s: the resolver refused it",
		             name);
	else if (herr != NO_DATA)
		rc = err_set(e, ERR_TEMP, "look up the TXT record of %s: %s", name,
		             saved ? strerror(saved) : "the resolver failed");
	free(ans);
	return rc;
}
