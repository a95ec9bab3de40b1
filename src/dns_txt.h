/*
 * dns_txt: the TXT records at one name, asked of the system's resolver (/etc/resolv.conf,
 * glibc's res_nquery), for postie --check's DKIM step. The answer is untrusted bytes: it is
 * read by a bounded parser of its own (dns_txt_parse, fuzz/dns_txt.c), never past its end,
 * and a compression pointer may only point backwards, so every name ends.
 */
#ifndef POSTIE_DNS_TXT_H
#define POSTIE_DNS_TXT_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

#define DNS_TXT_MAX 8        /* TXT records kept from one answer; the rest are counted */
#define DNS_TXT_TIMEOUT 2    /* seconds for one name server; one attempt at each */
#define DNS_TXT_MAX_NAME 253 /* the longest name asked (RFC 1035 §2.3.4, in text) */
#define DNS_TXT_ANSWER 65536 /* the largest answer read (a DNS message over TCP) */

/* The TXT records of an answer. */
struct dns_txt {
	bool nxdomain;           /* the name does not exist (RCODE 3) */
	size_t n;                /* records kept in text[] */
	size_t total;            /* TXT records in the answer, kept or not */
	char *text[DNS_TXT_MAX]; /* one record's character-strings joined (RFC 6376 §3.6.2.2) */
	size_t len[DNS_TXT_MAX]; /* its length; text[i][len[i]] is a NUL (the text may hold NULs) */
};

/* An empty result (nothing to free yet). */
void dns_txt_init(struct dns_txt *t);

/* Free the records of T; T is empty after. */
void dns_txt_fini(struct dns_txt *t);

/*
 * Parse the DNS response MSG (LEN bytes, untrusted) into T (initialised, empty): every answer
 * record of type TXT and class IN, whatever its owner (a CNAME's target's records come with
 * it), its character-strings concatenated with nothing between them. RCODE 3 sets
 * T->nxdomain with no record. Never reads outside MSG. ERR_PROTO when the message is not a
 * well-formed response (too short, not a response, a name past the end, a label or name
 * too long, a compression pointer that does not point backwards, a record or a
 * character-string longer than what is left); ERR_TEMP when the RCODE is another failure.
 * T holds nothing after a failure.
 */
int dns_txt_parse(const unsigned char *msg, size_t len, struct dns_txt *t, struct err *e);

/*
 * Ask the resolvers of /etc/resolv.conf for the TXT records of NAME (absolute, no search
 * list), DNS_TXT_TIMEOUT seconds for each server and one attempt (at most 3 servers, so
 * about 6 s at worst), and parse the answer into T (initialised, empty). 0: T->n records,
 * or none with T->nxdomain (no such name) or without (the name has no TXT record).
 * ERR_TEMP when no answer came (no resolver, a timeout, a server failure) or the resolver
 * refused; ERR_PROTO when the answer is malformed; ERR_USAGE when NAME is not a name that
 * can be asked (empty, over DNS_TXT_MAX_NAME, a byte outside printable ASCII).
 */
int dns_txt_lookup(const char *name, struct dns_txt *t, struct err *e);

#endif
