/*
 * der: a certificate's issuer and subject found by walking tags and lengths (X.690 §8.1.2,
 * §8.1.3, §10.1), and the PEM blocks of a bundle (RFC 7468). Used to pick, from a trust
 * bundle, the few CAs that can anchor the chain a server sent, without parsing all of them.
 * Nothing here decides trust: GnuTLS verifies the chain against the CAs picked.
 */
#include "der.h"

#include <string.h>

#include "codec.h"

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_VERSION 0xa0 /* [0] EXPLICIT Version, RFC 5280 §4.1 */

int
der_read(const unsigned char *p, size_t len, unsigned *tag, struct der_span *content, size_t *total)
{
	if (len < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	size_t hdr = 2, n = p[1];
	if (n & 0x80) {
		size_t bytes = n & 0x7f;
		if (bytes == 0 || bytes > 4 || len < 2 + bytes)
			return -1; /* 0x80 is BER's indefinite length: never in DER */
		n = 0;
		for (size_t i = 0; i < bytes; i++)
			n = (n << 8) | p[2 + i];
		hdr += bytes;
	}
	if (n > len - hdr)
		return -1;
	*tag = p[0];
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

int
der_cert_names(const unsigned char *der, size_t len, struct der_span *issuer,
               struct der_span *subject)
{
	unsigned tag;
	struct der_span cert, tbs;
	size_t total;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
	if (der_read(der, len, &tag, &cert, &total) < 0 || tag != DER_SEQUENCE || total != len)
		return -1;
	if (der_read(cert.p, cert.len, &tag, &tbs, &total) < 0 || tag != DER_SEQUENCE)
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

int
der_pem_next(const char *text, size_t len, size_t *pos, struct buf *out)
{
	char b64[4096];
	size_t bl = 0;
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
	*pos = end + strlen(PEM_CERT_END);
	return out->len > 0 ? 1 : -1;
}
