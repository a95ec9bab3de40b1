/*
 * sasl: choosing a mechanism and computing its client messages. RFC 4954 (SMTP AUTH),
 * RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN), RFC 4648 (base64).
 */
#ifndef POSTIE_SASL_H
#define POSTIE_SASL_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

/*
 * Choose the mechanism: WANTED (upper case) when set, else the first of PLAIN, LOGIN that
 * OFFERED (the server's space-separated AUTH list, any case) holds. Returns the mechanism
 * name (a static string) or NULL with e set: ERR_CONFIG when WANTED is one postie does not
 * implement, ERR_PERM when the server offers nothing usable (the message lists what it
 * offers).
 */
const char *sasl_choose(const char *offered, const char *wanted, struct err *e);

/* Append base64 of N bytes at P to OUT. */
int sasl_base64_encode(struct buf *out, const void *p, size_t n, struct err *e);

/*
 * Decode base64 TEXT (LEN bytes; no whitespace inside) and append the bytes to OUT.
 * ERR_PROTO on invalid input.
 */
int sasl_base64_decode(struct buf *out, const char *text, size_t len, struct err *e);

/* The PLAIN initial response, base64 of "\0USER\0PASS", appended to OUT (a secret buffer). */
int sasl_plain(struct buf *out, const char *user, const char *pass, struct err *e);

#endif
