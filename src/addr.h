/*
 * addr: RFC 5322 address lists (To/Cc/Bcc values, argv operands) and RFC 5321 envelope
 * mailboxes, with IDN domains converted to A-labels (libidn2, IDNA2008).
 * RFC 5322 §3.4, §4.4 (obsolete syntax); RFC 5321 §4.1.2; RFC 5890/5891.
 */
#ifndef POSTIE_ADDR_H
#define POSTIE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "addrlist.h"
#include "err.h"

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

/* The length of the well-formed UTF-8 sequence at S (N bytes left), 0 when there is none. */
size_t addr_utf8_len(const char *s, size_t n);

/* RFC 5322 §3.2.3 atext (RFC 5321 uses the same set for Atom). */
bool addr_is_atext(unsigned char c);

/* RFC 5234 CTL: %x00-1F / %x7F. */
bool addr_is_ctl(unsigned char c);

/* The domain part of an addr-spec (after the last '@'), or NULL when there is none. */
const char *addr_domain(const char *addr);

#endif
