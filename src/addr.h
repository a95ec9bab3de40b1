/*
 * addr: RFC 5322 address lists (To/Cc/Bcc values, argv operands) and RFC 5321 envelope
 * mailboxes, with IDN domains converted to A-labels (libidn2, IDNA2008).
 * RFC 5322 §3.4, §4.4 (obsolete syntax); RFC 5321 §4.1.2; RFC 5890/5891.
 */
#ifndef POSTIE_ADDR_H
#define POSTIE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

struct addr_index;

struct addr_list {
	char **v; /* addr-specs, each owned */
	size_t n;
	size_t cap;
	struct addr_index *index; /* addr_list_add_unique's search tree over v; NULL until used */
};

/*
 * Check one envelope address (SEC-18) and return it normalised in *OUT (owned by the
 * caller): the addr-spec without angle brackets, its domain as an A-label. IN may be a bare
 * addr-spec or "<addr-spec>". A bare local part without "@" is accepted as it is (the server
 * qualifies it). "" and "<>" are the null sender, accepted only when ALLOW_NULL (*OUT = "").
 * Refused: CR, LF, NUL and every other control character, unquoted space, '<' or '>' outside
 * the brackets, anything after the closing bracket, an empty local part or domain, a local
 * part that is not well-formed UTF-8, a domain that fails IDNA2008, a leading '-'. A UTF-8
 * local part is kept (RFC 6531): the session needs the server's SMTPUTF8 to send it. KIND is the
 * error kind to use (ERR_USAGE for argv, ERR_DATA for headers); the message names the address with
 * controls shown as '?'.
 */
int addr_envelope(const char *in, bool allow_null, enum err_kind kind, char **out, struct err *e);

/*
 * Parse an RFC 5322 address-list (a header field value, folded or not: CRLF/LF followed by
 * WSP is folding) of LEN bytes and append every addr-spec it names to L, normalised with
 * addr_envelope (KIND on error). Handles display names, angle addresses, groups ("name:
 * a, b;"), comments, quoted strings and quoted local parts, and empty elements (obsolete
 * ", ,"). Any invalid element fails the whole list (SEC-22); L then holds what came before.
 */
int addr_list_parse(struct addr_list *l, const char *value, size_t len, enum err_kind kind,
                    struct err *e);

/* Append a copy of S to L. */
void addr_list_add(struct addr_list *l, const char *s);

/*
 * Append a copy of S to L unless L already holds a string equal to it byte for byte
 * (strcmp: the addresses are normalised, and their local parts are case-sensitive, RFC 5321
 * §2.4); true when it was appended. The order of L is kept. An index (a balanced search tree
 * over L, kept in L and freed by addr_list_fini) makes each call O(log n) comparisons, so
 * 100,000 recipients cost no more than their parsing; strings that addr_list_add appended
 * are taken into the index on the next call.
 */
bool addr_list_add_unique(struct addr_list *l, const char *s);

/* The string comparisons addr_list_add_unique has made on L so far (for tests). */
size_t addr_list_compares(const struct addr_list *l);

/* Free every element; L is left empty. */
void addr_list_fini(struct addr_list *l);

/* The length of the well-formed UTF-8 sequence at S (N bytes left), 0 when there is none. */
size_t addr_utf8_len(const char *s, size_t n);

/* The domain part of an addr-spec (after the last '@'), or NULL when there is none. */
const char *addr_domain(const char *addr);

#endif
