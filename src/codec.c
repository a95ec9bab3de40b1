/*
 * codec: hex and base64. RFC 4648 §4 (base64 with padding), §3.3 and §3.5 (what a strict
 * decoder refuses), §8 (hex).
 */
#include "codec.h"

#include <stdint.h>
#include <stdbool.h>
#include <string.h>

bool
codec_is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int
codec_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char
codec_hex_digit(unsigned v, bool upper)
{
	return (upper ? "0123456789ABCDEF" : "0123456789abcdef")[v & 15];
}

void
codec_hex_encode(char *out, const void *p, size_t n)
{
	const unsigned char *in = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = codec_hex_digit(in[i] >> 4, false);
		out[2 * i + 1] = codec_hex_digit(in[i], false);
	}
	out[2 * n] = '\0';
}

int
codec_hex_fingerprint(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s);
	bool colons = memchr(s, ':', n) != NULL;
	size_t digits = 0;
	int hi = 0;

	if (colons && n % 3 != 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (colons && i % 3 == 2) {
			if (s[i] != ':')
				return -1;
			continue;
		}
		int v = codec_hex_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		if (digits % 2 == 0)
			hi = v;
		else if (digits / 2 < max)
			out[digits / 2] = (unsigned char)(hi << 4 | v);
		if (digits < (size_t)INT32_MAX)
			digits++;
	}
	if (digits % 2)
		return -1;
	return (int)(digits / 2);
}

/* Append the *K bytes of CHUNK to OUT and start the chunk again. */
static int
put_chunk(struct buf *out, const void *chunk, size_t *k, struct err *e)
{
	int rc = buf_append(out, chunk, *k, e);
	*k = 0;
	return rc;
}

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
codec_base64_encode(struct buf *out, const void *p, size_t n, struct err *e)
{
	const unsigned char *in = p;
	char chunk[256]; /* on the stack, so wiped below: it may hold a password */
	size_t k = 0;
	int rc = 0;

	if (n / 3 >= SIZE_MAX / 4 - 1)
		return err_set(e, ERR_SOFTWARE, "encode base64: %zu bytes is too much", n);
	size_t need = (n + 2) / 3 * 4;
	if (need > out->max || out->len > out->max - need)
		return err_set(e, ERR_SOFTWARE, "encode base64: the result passes %zu bytes",
		               out->max);
	for (size_t i = 0; i < n && rc == 0; i += 3) {
		/* RFC 4648 §4: 24 bits become four 6-bit groups; '=' pads a short quantum. */
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		chunk[k++] = alphabet[v >> 18 & 63];
		chunk[k++] = alphabet[v >> 12 & 63];
		chunk[k++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		chunk[k++] = i + 2 < n ? alphabet[v & 63] : '=';
		if (k == sizeof(chunk))
			rc = put_chunk(out, chunk, &k, e);
	}
	if (rc == 0 && k)
		rc = put_chunk(out, chunk, &k, e);
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

/* The value of base64 character C, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * RFC 4648 §3.3 and §3.5: this decoder is strict. Anything outside the alphabet (also line
 * breaks and spaces), a length that is not a multiple of 4, '=' anywhere but at the end of
 * the last quantum, and non-zero bits under the padding are refused: a server's challenge
 * is untrusted text, and there is exactly one correct encoding of any bytes.
 */
int
codec_base64_decode(struct buf *out, const char *text, size_t len, struct err *e)
{
	unsigned char chunk[192];
	size_t k = 0;

	if (len % 4 != 0)
		return err_set(e, ERR_PROTO, "decode base64: length %zu is not a multiple of 4",
		               len);
	size_t pad = 0;
	if (len > 0 && text[len - 1] == '=')
		pad = len > 1 && text[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		if (text[i] == '=')
			return err_set(e, ERR_PROTO,
			               "decode base64: misplaced padding at offset %zu", i);
		if (b64_value((unsigned char)text[i]) < 0)
			return err_set(e, ERR_PROTO,
			               "decode base64: invalid character at offset %zu", i);
	}
	if (pad) {
		/* The bits that the padding leaves over must be zero (canonical form). */
		int last = b64_value((unsigned char)text[len - pad - 1]);
		if ((pad == 2 && (last & 15)) || (pad == 1 && (last & 3)))
			return err_set(e, ERR_PROTO,
			               "decode base64: non-zero bits before the padding");
	}
	size_t need = len / 4 * 3 - pad;
	if (need > out->max || out->len > out->max - need)
		return err_set(e, ERR_PROTO, "decode base64: the result passes %zu bytes",
		               out->max);

	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i += 4) {
		uint32_t v = 0;
		size_t have = 3;
		for (size_t j = 0; j < 4; j++) {
			int x = text[i + j] == '=' ? 0 : b64_value((unsigned char)text[i + j]);
			v = v << 6 | (uint32_t)x;
		}
		if (i + 4 == len)
			have = 3 - pad;
		chunk[k++] = (unsigned char)(v >> 16);
		if (have > 1)
			chunk[k++] = (unsigned char)(v >> 8);
		if (have > 2)
			chunk[k++] = (unsigned char)v;
		if (k + 3 > sizeof(chunk))
			rc = put_chunk(out, chunk, &k, e);
	}
	if (rc == 0 && k)
		rc = put_chunk(out, chunk, &k, e);
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

bool
codec_is_b64token(const char *p, size_t n)
{
	size_t k = 0;

	while (k < n && p[k] &&
	       (((p[k] | 0x20) >= 'a' && (p[k] | 0x20) <= 'z') || (p[k] >= '0' && p[k] <= '9') ||
	        strchr("-._~+/", p[k])))
		k++;
	if (k == 0)
		return false;
	while (k < n && p[k] == '=')
		k++;
	return k == n;
}

void
codec_put_printable(FILE *out, const void *p, size_t n, const char *also)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && !strchr(also, s[i]))
			putc(s[i], out);
		else
			fprintf(out, "\\x%02X", s[i]);
	}
}
