/* Unit tests of der: the TLV reader, a certificate's issuer and subject, PEM blocks. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"
#include "der.h"

/* A certificate's skeleton: the shape der_cert_names walks, with made-up contents. */
static const unsigned char cert_v3[] = {
    0x30, 0x25,                              /* Certificate */
    0x30, 0x1e,                              /* TBSCertificate */
    0xa0, 0x03, 0x02, 0x01, 0x02,            /* [0] version v3 */
    0x02, 0x01, 0x07,                        /* serial */
    0x30, 0x00,                              /* signature */
    0x30, 0x05, 0x31, 0x03, 0x0c, 0x01, 'I', /* issuer */
    0x30, 0x02, 0x05, 0x00,                  /* validity (a NULL: not looked into) */
    0x30, 0x05, 0x31, 0x03, 0x0c, 0x01, 'S', /* subject */
    0x30, 0x00,                              /* subjectPublicKeyInfo */
    0x30, 0x00,                              /* signatureAlgorithm */
    0x03, 0x01, 0x00,                        /* signature */
};

static void
test_read(void)
{
	unsigned tag;
	struct der_span c;
	size_t total;
	unsigned char lng[300] = {0x04, 0x82, 0x01, 0x00};

	ok(der_read((const unsigned char *)"\x02\x01\x05", 3, &tag, &c, &total) == 0 && tag == 2 &&
	       c.len == 1 && c.p[0] == 5 && total == 3,
	   "short form: tag, content, size");
	ok(der_read(lng, 4 + 256, &tag, &c, &total) == 0 && c.len == 256 && total == 260,
	   "long form, two length bytes");
	ok(der_read(lng, 4 + 255, &tag, &c, &total) == -1, "a length past the end is refused");
	ok(der_read((const unsigned char *)"\x30\x80\x00\x00", 4, &tag, &c, &total) == -1,
	   "indefinite length (BER) is refused");
	ok(der_read((const unsigned char *)"\x30\x85\x00\x00\x00\x00\x01\x00", 8, &tag, &c,
	            &total) == -1,
	   "more than 4 length bytes are refused");
	ok(der_read((const unsigned char *)"\x1f\x01\x00", 3, &tag, &c, &total) == -1,
	   "a multi-byte tag is refused");
	ok(der_read((const unsigned char *)"\x30", 1, &tag, &c, &total) == -1,
	   "one byte is no TLV");
	ok(der_read((const unsigned char *)"\x30\x84\x00", 3, &tag, &c, &total) == -1,
	   "length bytes cut short are refused");
}

static void
test_names(void)
{
	struct der_span is, sub;
	unsigned char c[sizeof(cert_v3)];

	ok(der_cert_names(cert_v3, sizeof(cert_v3), &is, &sub) == 0 && is.len == 7 &&
	       is.p == cert_v3 + 14 && sub.len == 7 && sub.p == cert_v3 + 25 && sub.p[6] == 'S' &&
	       is.p[6] == 'I',
	   "issuer and subject, each its whole TLV");
	/* Version 1: no [0]. */
	unsigned char v1[sizeof(cert_v3) - 5];
	memcpy(v1, cert_v3, 4);
	memcpy(v1 + 4, cert_v3 + 9, sizeof(cert_v3) - 9);
	v1[1] -= 5;
	v1[3] -= 5;
	ok(der_cert_names(v1, sizeof(v1), &is, &sub) == 0 && sub.p[6] == 'S',
	   "a version 1 certificate (no version field)");
	ok(der_cert_names(cert_v3, sizeof(cert_v3) - 1, &is, &sub) == -1,
	   "one byte short: refused");
	memcpy(c, cert_v3, sizeof(c));
	c[9] = 0x04;
	ok(der_cert_names(c, sizeof(c), &is, &sub) == -1, "no serial INTEGER: refused");
	memcpy(c, cert_v3, sizeof(c));
	c[21] = 0x31;
	ok(der_cert_names(c, sizeof(c), &is, &sub) == -1, "validity not a SEQUENCE: refused");
	unsigned char more[sizeof(cert_v3) + 1];
	memcpy(more, cert_v3, sizeof(cert_v3));
	more[sizeof(cert_v3)] = 0;
	ok(der_cert_names(more, sizeof(more), &is, &sub) == -1, "bytes after it: refused");
	for (size_t n = 0; n < sizeof(cert_v3); n++) {
		unsigned char *cut = malloc(n ? n : 1);
		memcpy(cut, cert_v3, n);
		int r = der_cert_names(cut, n, &is, &sub);
		free(cut);
		if (r != -1) {
			ok(0, "a cut at %zu bytes is refused", n);
			return;
		}
	}
	ok(1, "every cut short of the whole is refused (and read in bounds under ASan)");
	/* A prefix: enough when it holds the subject (which ends at byte 32). */
	for (size_t n = 0; n <= sizeof(cert_v3); n++) {
		unsigned char *cut = malloc(n ? n : 1);
		memcpy(cut, cert_v3, n);
		int r = der_cert_names_prefix(cut, n, &is, &sub);
		bool good = n >= 32
		                ? r == 0 && sub.p == cut + 25 && sub.len == 7 && is.p == cut + 14
		                : r == -1;
		free(cut);
		if (!good) {
			ok(0, "prefix of %zu bytes: %s", n, n >= 32 ? "names found" : "refused");
			return;
		}
	}
	ok(1, "a prefix up to the subject's end is refused, from there on the names are found");
	memcpy(c, cert_v3, sizeof(c));
	c[1] = 0x7f; /* the certificate says it is longer than what there is: fine for a prefix */
	ok(der_cert_names_prefix(c, sizeof(c), &is, &sub) == 0 &&
	       der_cert_names(c, sizeof(c), &is, &sub) == -1,
	   "a prefix may be shorter than the certificate says; the whole may not");
	c[14] = 0x31;
	ok(der_cert_names_prefix(c, sizeof(c), &is, &sub) == -1,
	   "a prefix whose issuer is not a SEQUENCE is refused");
}

static void
test_pem(void)
{
	struct buf out;
	size_t pos = 0;
	const char *two = "junk\n-----BEGIN CERTIFICATE-----\nMCoA\r\nAQ==\n-----END "
	                  "CERTIFICATE-----\n# comment\n-----BEGIN CERTIFICATE-----\nAAEC\n"
	                  "-----END CERTIFICATE-----\n";

	buf_init(&out, 65536);
	ok(der_pem_next(two, strlen(two), &pos, 0, &out) == 1 && out.len == 4 &&
	       memcmp(out.data, "\x30\x2a\x00\x01", 4) == 0,
	   "first block, line breaks and CR skipped");
	ok(der_pem_next(two, strlen(two), &pos, 0, &out) == 1 && out.len == 3 &&
	       memcmp(out.data, "\x00\x01\x02", 3) == 0,
	   "second block");
	ok(der_pem_next(two, strlen(two), &pos, 0, &out) == 0, "then no more");
	const char *bad[] = {
	    "-----BEGIN X509 CERTIFICATE-----\nAAEC\n-----END X509 CERTIFICATE-----\n",
	    "-----BEGIN TRUSTED CERTIFICATE-----\nAAEC\n-----END TRUSTED CERTIFICATE-----\n",
	    "-----BEGIN CERTIFICATE-----\nAAEC\n",
	    "-----BEGIN CERTIFICATE-----\nAA=C\n-----END CERTIFICATE-----\n",
	    "-----BEGIN CERTIFICATE-----\nProc-Type: 4\n-----END CERTIFICATE-----\n",
	    "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
	    "-----BEGIN CERT",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pos = 0;
		ok(der_pem_next(bad[i], strlen(bad[i]), &pos, 0, &out) == -1, "refused: bad[%zu]",
		   i);
	}
	pos = 0;
	ok(der_pem_next("", 0, &pos, 0, &out) == 0, "empty text: no block");
	/* A block longer than one piece of the decoder: padding inside it is refused. */
	size_t n = 4096 + 8;
	char *big = malloc(n + 64);
	memcpy(big, "-----BEGIN CERTIFICATE-----\n", 28);
	memset(big + 28, 'A', n);
	memcpy(big + 28 + 4096 - 1, "=", 1);
	memcpy(big + 28 + n, "\n-----END CERTIFICATE-----\n", 28);
	pos = 0;
	ok(der_pem_next(big, 28 + n + 27, &pos, 0, &out) == -1, "padding in mid-block is refused");
	big[28 + 4096 - 1] = 'A';
	pos = 0;
	ok(der_pem_next(big, 28 + n + 27, &pos, 0, &out) == 1 && out.len == n / 4 * 3,
	   "a block over several pieces decodes whole (%zu bytes)", out.len);
	buf_reset(&out);
	out.max = 100;
	pos = 0;
	ok(der_pem_next(big, 28 + n + 27, &pos, 0, &out) == -1, "more than OUT's ceiling: refused");
	buf_reset(&out);
	out.max = 65536;
	pos = 0;
	ok(der_pem_next(big, 28 + n + 27, &pos, 512, &out) == 1 && out.len >= 512 &&
	       out.len < 512 + 192 && pos == 28 + n + 26,
	   "LIMIT 512: only the first %zu bytes, and past the END line", out.len);
	pos = 0;
	ok(der_pem_next(two, strlen(two), &pos, 2, &out) == 1 && out.len == 3 &&
	       memcmp(out.data, "\x30\x2a\x00", 3) == 0,
	   "LIMIT: whole groups of 4 digits");
	const char *pad = "-----BEGIN CERTIFICATE-----\nAAEC\nAA==\n-----END CERTIFICATE-----\n";
	pos = 0;
	ok(der_pem_next(pad, strlen(pad), &pos, 512, &out) == 1 && out.len == 3,
	   "LIMIT: decoding stops at the padding");
	const char *odd = "-----BEGIN CERTIFICATE-----\nAA!C\n-----END CERTIFICATE-----\n";
	pos = 0;
	ok(der_pem_next(odd, strlen(odd), &pos, 512, &out) == -1,
	   "LIMIT: a character base64 has not is refused");
	free(big);
	buf_fini(&out);
}

int
main(void)
{
	test_read();
	test_names();
	test_pem();
	return tap_done();
}
