/*
 * smtp_dsn: the Delivery Status Notification parameters postie adds to MAIL FROM and RCPT TO
 * (RFC 3461 §4): RET and ENVID, NOTIFY and ORCPT, with their xtext encoding. Pure string
 * building; smtp sends the commands they go into.
 */
#ifndef POSTIE_SMTP_DSN_H
#define POSTIE_SMTP_DSN_H

#include <stddef.h>
#include "err.h"

/* RFC 3461 §5: DSN parameters may make MAIL FROM 100 and RCPT TO 500 octets longer. SIZE
 * (RFC 1870 §3: 26), BODY=8BITMIME and SMTPUTF8 fit in the MAIL allowance beside them. */
#define SMTP_MAIL_EXTRA 160
#define SMTP_RCPT_EXTRA 500
#define SMTP_ENVID_MAX 100 /* RFC 3461 §4.4: ENVID, as encoded */

/*
 * RFC 3461 §4: xtext. Octets "!" to "~" except "+" and "=" stand for themselves; every
 * other one is "+" and two upper-case hex digits. Writes IN (LEN bytes) encoded into OUT
 * (N bytes, NUL-terminated). Returns the encoded length, or -1 when OUT is too small.
 */
int smtp_xtext(const char *in, size_t len, char *out, size_t n);

/*
 * The MAIL FROM parameters of RFC 3461 §4.3 and §4.4: " RET=FULL" or " RET=HDRS" for RET
 * (any case), " ENVID=xtext" for ENVID; either may be NULL. Appended to the string in OUT
 * (N bytes). ERR_USAGE for another RET or an ENVID longer than SMTP_ENVID_MAX encoded;
 * ERR_SOFTWARE when OUT is too small.
 */
int smtp_dsn_mail(const char *ret, const char *envid, char *out, size_t n, struct err *e);

/*
 * The RCPT TO parameters of RFC 3461 §4.1 and §4.2, appended to the string in OUT (N
 * bytes): " NOTIFY=..." when NOTIFY is not NULL ("NEVER", or one or more of SUCCESS,
 * FAILURE, DELAY joined by commas, each once, any case; sent upper case), and
 * " ORCPT=rfc822;xtext(ADDR)" when ADDR is not NULL and is printable ASCII (§4.2 allows no
 * other; a UTF-8 address goes without ORCPT) and the line stays within SMTP_RCPT_EXTRA.
 * ERR_USAGE for a bad NOTIFY; ERR_SOFTWARE when OUT is too small.
 */
int smtp_dsn_rcpt(const char *notify, const char *addr, char *out, size_t n, struct err *e);

#endif
