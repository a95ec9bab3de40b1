/*
 * fuzz/der: the DER walk to a certificate's issuer and subject, and the PEM block reader
 * (src/der.h). The certificates come from the server (the chain it sent), so every byte is
 * hostile; the PEM text is a trust bundle.
 *
 * The input, in an allocation of exactly its size, goes
 *  1. to der_read and der_cert_names as DER;
 *  2. to der_pem_next as text, block after block until it ends or refuses, whole and
 *     with a LIMIT of 512 bytes.
 * Contract checked: a TLV, an issuer and a subject lie inside the input (for
 * der_cert_names_prefix too, which finds the same names wherever der_cert_names does), the names
 * are SEQUENCEs whose stated size is their span, the issuer comes before the subject; the PEM
 * position only moves forward and stays within the text, a block's DER is not empty and
 * never passes the buffer's ceiling.
 */
#include "fuzz.h"

#include "der.h"

static bool
inside(const unsigned char *base, size_t len, const struct der_span *s)
{
	return s->p >= base && s->len <= len && (size_t)(s->p - base) <= len - s->len;
}

static void
check_der(const unsigned char *d, size_t len)
{
	unsigned tag;
	struct der_span c, is, sub;
	size_t total;

	if (der_read(d, len, &tag, &c, &total) == 0)
		fuzz_check(total <= len && inside(d, len, &c) && c.p + c.len == d + total,
		           "TLV of %zu bytes in %zu", total, len);
	struct der_span pis, psub;
	bool prefix = der_cert_names_prefix(d, len, &pis, &psub) == 0;
	if (prefix)
		fuzz_check(inside(d, len, &pis) && inside(d, len, &psub) &&
		               pis.p + pis.len <= psub.p,
		           "a prefix's name outside the input");
	if (der_cert_names(d, len, &is, &sub) < 0)
		return;
	fuzz_check(prefix && pis.p == is.p && pis.len == is.len && psub.p == sub.p &&
	               psub.len == sub.len,
	           "the whole and its prefix walk differ");
	fuzz_check(inside(d, len, &is) && inside(d, len, &sub), "a name outside the input");
	fuzz_check(is.p + is.len <= sub.p, "the issuer does not come before the subject");
	fuzz_check(der_read(is.p, is.len, &tag, &c, &total) == 0 && tag == 0x30 && total == is.len,
	           "the issuer is not one SEQUENCE");
	fuzz_check(der_read(sub.p, sub.len, &tag, &c, &total) == 0 && tag == 0x30 &&
	               total == sub.len,
	           "the subject is not one SEQUENCE");
}

static void
check_pem(const char *text, size_t len)
{
	struct buf out;
	size_t pos = 0, last = 0;
	int r;

	buf_init(&out, 8192);
	while ((r = der_pem_next(text, len, &pos, 0, &out)) == 1) {
		fuzz_check(pos > last && pos <= len, "position %zu after %zu of %zu", pos, last,
		           len);
		fuzz_check(out.len > 0 && out.len <= out.max, "a block of %zu bytes", out.len);
		last = pos;
	}
	fuzz_check(r == 0 || r == -1, "der_pem_next returned %d", r);
	pos = last = 0;
	while ((r = der_pem_next(text, len, &pos, 512, &out)) == 1) {
		fuzz_check(pos > last && pos <= len, "position %zu after %zu of %zu", pos, last,
		           len);
		fuzz_check(out.len > 0 && out.len < 512 + 192, "a prefix of %zu bytes", out.len);
		last = pos;
	}
	buf_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = fuzz_exact(data, size);

	check_der((const unsigned char *)p, size);
	check_pem(p, size);
	free(p);
	return 0;
}
