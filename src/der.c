/*
 * der: a certificate's issuer and subject found by walking tags and lengths (X.690 §8.1.2,
 * §8.1.3, §10.1), and the PEM blocks of a bundle (RFC 7468). Used to pick, from a trust
 * bundle, the few CAs that can anchor the chain a server sent, without parsing all of them.
 * Nothing here decides trust: GnuTLS verifies the chain against the CAs picked.
 */
#include "der.h"

#include <stdbool.h>
#include <string.h>

#include "codec.h"

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_VERSION 0xa0 /* [0] EXPLICIT Version, RFC 5280 §4.1 */

/* The tag and length at the start of P (LEN bytes): *HDR their size, *N the length stated,
 * which may be more than what is left. */
static int
header(const unsigned char *p, size_t len, unsigned *tag, size_t *hdr, size_t *n)
{
	if (len < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	*hdr = 2;
	*n = p[1];
	if (*n & 0x80) {
		size_t bytes = *n & 0x7f;
		if (bytes == 0 || bytes > 4 || len < 2 + bytes)
			return -1; /* 0x80 is BER's indefinite length: never in DER */
		*n = 0;
		for (size_t i = 0; i < bytes; i++)
			*n = (*n << 8) | p[2 + i];
		*hdr += bytes;
	}
	*tag = p[0];
	return 0;
}

int
der_read(const unsigned char *p, size_t len, unsigned *tag, struct der_span *content, size_t *total)
{
	size_t hdr, n;

	if (header(p, len, tag, &hdr, &n) < 0 || n > len - hdr)
		return -1;
	content->p = p + hdr;
	content->len = n;
	*total = hdr + n;
	return 0;
}

/* Read the TLV at the start of *S, which must have tag WANT, and step *S past it. */
static int
take(struct der_span *s, unsigned want, struct der_span *tlv)
{
	unsigned tag;
	struct der_span c;
	size_t total;

	if (der_read(s->p, s->len, &tag, &c, &total) < 0 || tag != want)
		return -1;
	if (tlv) {
		tlv->p = s->p;
		tlv->len = total;
	}
	s->p += total;
	s->len -= total;
	return 0;
}

/* The content of the SEQUENCE at the start of *S into *C. WHOLE: it must fit; else only
 * what of it is there (a prefix of the certificate). */
static int
enter(const struct der_span *s, bool whole, struct der_span *c)
{
	unsigned tag;
	size_t hdr, n;

	if (header(s->p, s->len, &tag, &hdr, &n) < 0 || tag != DER_SEQUENCE)
		return -1;
	if (whole && n > s->len - hdr)
		return -1;
	c->p = s->p + hdr;
	c->len = n < s->len - hdr ? n : s->len - hdr;
	return 0;
}

/* der_cert_names over the whole certificate (WHOLE) or a prefix of it. */
static int
walk(const unsigned char *der, size_t len, bool whole, struct der_span *issuer,
     struct der_span *subject)
{
	struct der_span all = {der, len}, cert, tbs;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
	if (enter(&all, whole, &cert) < 0 || (whole && cert.p + cert.len != der + len))
		return -1;
	if (enter(&cert, whole, &tbs) < 0)
		return -1;
	/* TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
	 * validity, subject, ... } */
	if (tbs.len > 0 && tbs.p[0] == DER_VERSION && take(&tbs, DER_VERSION, NULL) < 0)
		return -1;
	if (take(&tbs, DER_INTEGER, NULL) < 0 || take(&tbs, DER_SEQUENCE, NULL) < 0 ||
	    take(&tbs, DER_SEQUENCE, issuer) < 0 || take(&tbs, DER_SEQUENCE, NULL) < 0 ||
	    take(&tbs, DER_SEQUENCE, subject) < 0)
		return -1;
	return 0;
}

int
der_cert_names(const unsigned char *der, size_t len, struct der_span *issuer,
               struct der_span *subject)
{
	return walk(der, len, true, issuer, subject);
}

int
der_cert_names_prefix(const unsigned char *der, size_t len, struct der_span *issuer,
                      struct der_span *subject)
{
	return walk(der, len, false, issuer, subject);
}

/* Where NEEDLE (NUL-terminated) first occurs in TEXT[from, len), or len. */
static size_t
find(const char *text, size_t len, size_t from, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = from; i + n <= len; i++) {
		const char *hit = memchr(text + i, needle[0], len - i);
		if (!hit)
			return len;
		i = (size_t)(hit - text);
		if (i + n <= len && memcmp(hit, needle, n) == 0)
			return i;
	}
	return len;
}

#define PEM_BEGIN "-----BEGIN "
#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_CERT_END "-----END CERTIFICATE-----"

/* Each byte's meaning in base64 text: a digit's value, B64_SPACE, B64_PAD or B64_BAD. A
 * table, as the scan decodes some 70 KB of the system bundle on every first run. */
#define B64_SPACE 64
#define B64_PAD 65
#define B64_BAD 255
/* clang-format off */
static const unsigned char b64_value[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255,  64,  64, 255, 255,  64, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	 64, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  65, 255, 255,
	255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
	255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
/* clang-format on */

/* The first LIMIT bytes or so that TEXT[start, end) encodes, into OUT: only what comes
 * before any padding, whole groups of 4 digits. -1 for a character base64 has not. */
static int
decode_prefix(const char *text, size_t start, size_t end, size_t limit, struct buf *out)
{
	unsigned char bytes[3 * 64];
	size_t nb = 0;
	unsigned v = 0, k = 0;

	for (size_t i = start; i < end && out->len + nb < limit; i++) {
		unsigned d = b64_value[(unsigned char)text[i]];
		if (d == B64_SPACE)
			continue;
		if (d == B64_PAD)
			break;
		if (d == B64_BAD)
			return -1;
		v = v << 6 | d;
		if (++k < 4)
			continue;
		bytes[nb++] = (unsigned char)(v >> 16);
		bytes[nb++] = (unsigned char)(v >> 8);
		bytes[nb++] = (unsigned char)v;
		v = k = 0;
		if (nb == sizeof(bytes)) {
			if (buf_append(out, bytes, nb, NULL) < 0)
				return -1;
			nb = 0;
		}
	}
	return nb > 0 ? buf_append(out, bytes, nb, NULL) : 0;
}

/* TEXT[start, end) decoded whole into OUT, strictly (codec_base64_decode). */
static int
decode_whole(const char *text, size_t start, size_t end, struct buf *out)
{
	char b64[4096];
	size_t bl = 0;

	/* The base64 without its line breaks, piece by piece into OUT: a multiple of 4
	 * characters at a time, so each piece decodes on its own. */
	for (size_t i = start; i < end; i++) {
		char c = text[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		b64[bl++] = c;
		if (bl < sizeof(b64))
			continue;
		/* Padding ends the text: none in a piece that is not the last. */
		if (b64[bl - 1] == '=' || codec_base64_decode(out, b64, bl, NULL) < 0)
			return -1;
		bl = 0;
	}
	if (bl > 0 && codec_base64_decode(out, b64, bl, NULL) < 0)
		return -1;
	return 0;
}

int
der_pem_next(const char *text, size_t len, size_t *pos, size_t limit, struct buf *out)
{
	size_t at = find(text, len, *pos, PEM_BEGIN);

	buf_reset(out);
	if (at == len)
		return 0;
	size_t start = at + strlen(PEM_CERT_BEGIN);
	if (len - at < strlen(PEM_CERT_BEGIN) ||
	    memcmp(text + at, PEM_CERT_BEGIN, strlen(PEM_CERT_BEGIN)) != 0)
		return -1;
	size_t end = find(text, len, start, PEM_CERT_END);
	if (end == len)
		return -1;
	int rc = limit ? decode_prefix(text, start, end, limit, out)
	               : decode_whole(text, start, end, out);
	if (rc < 0 || out->len == 0)
		return -1;
	*pos = end + strlen(PEM_CERT_END);
	return 1;
}
