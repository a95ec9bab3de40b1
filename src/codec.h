/* codec: hex and base64 (RFC 4648), the one copy of each. Pure functions over memory. */
#ifndef POSTIE_CODEC_H
#define POSTIE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "buf.h"
#include "err.h"

/* C is a blank or a line end of the C locale (" \t\n\r\f\v"), whatever the locale. */
bool codec_is_space(int c);

/* The value of hex digit C (either case), or -1. */
int codec_hex_value(int c);

/* The hex digit of V (0..15), upper or lower case. */
char codec_hex_digit(unsigned v, bool upper);

/* N bytes at P as 2N lower-case hex digits and a NUL into OUT (2N + 1 bytes). */
void codec_hex_encode(char *out, const void *p, size_t n);

/*
 * A fingerprint written as hex digits, all together or as colon-separated pairs ("AB:CD:..",
 * as msmtp and openssl print them), in either case. The bytes go to OUT (up to MAX; more are
 * counted, not stored). Returns the number of bytes it spells (digits / 2), or -1 when the
 * syntax is wrong (a stray character, an odd digit count, misplaced colons).
 */
int codec_hex_fingerprint(const char *s, unsigned char *out, size_t max);

/*
 * Append the base64 (RFC 4648 §4, with padding) of N bytes at P to OUT. The bytes may be a
 * secret: the stack copy is wiped. ERR_SOFTWARE when OUT's ceiling would be passed.
 */
int codec_base64_encode(struct buf *out, const void *p, size_t n, struct err *e);

/*
 * Append the bytes that the base64 TEXT (LEN bytes) encodes to OUT. Strict (RFC 4648 §3.3,
 * §3.5): only the alphabet, a length that is a multiple of 4, padding only at the end, zero
 * bits under it; anything else is ERR_PROTO (base64 comes from servers). ERR_PROTO also when
 * OUT's ceiling would be passed.
 */
int codec_base64_decode(struct buf *out, const char *text, size_t len, struct err *e);

/* RFC 6750 §2.1: P (N bytes) is a b64token, 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+"
 * / "/" ) *"=" — the shape of an OAuth bearer token. */
bool codec_is_b64token(const char *p, size_t n);

/*
 * Write N bytes at P to OUT with every byte outside printable ASCII, and every byte in ALSO,
 * as \xNN: text from a server shown on a terminal can then not act as control sequences.
 */
void codec_put_printable(FILE *out, const void *p, size_t n, const char *also);

#endif
