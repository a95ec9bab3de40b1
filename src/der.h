/*
 * der: just enough DER (ITU-T X.690 §8.1, §10.1) to find a certificate's issuer and subject
 * names (RFC 5280 §4.1) without parsing the rest, and the PEM blocks (RFC 7468 §5.1) of a
 * trust bundle. The bytes may come from a server: every length is checked against what is
 * left, nothing is allocated but OUT's buffer, nothing is read past LEN.
 */
#ifndef POSTIE_DER_H
#define POSTIE_DER_H

#include <stddef.h>

#include "buf.h"

/* A piece of the input: P points into it, LEN bytes. */
struct der_span {
	const unsigned char *p;
	size_t len;
};

/*
 * Read the one TLV at the start of P (LEN bytes): a one-byte tag (a multi-byte tag is
 * refused) into *TAG, its content into *CONTENT, the whole TLV's size into *TOTAL. Definite
 * lengths only, of at most 4 length bytes, and no longer than what is left. 0 or -1.
 */
int der_read(const unsigned char *p, size_t len, unsigned *tag, struct der_span *content,
             size_t *total);

/*
 * The issuer and subject Names of the DER certificate DER (LEN bytes, exactly one
 * Certificate SEQUENCE and nothing after it), each as its whole TLV, the bytes GnuTLS
 * compares ("raw DN"). -1 when it is not shaped like a certificate up to the subject.
 */
int der_cert_names(const unsigned char *der, size_t len, struct der_span *issuer,
                   struct der_span *subject);

/*
 * The same for the first LEN bytes of a certificate (a prefix of its DER): 0 when its issuer
 * and subject lie whole within them, as the certificate's own lengths say; -1 otherwise
 * (not enough of it, or not shaped like a certificate). Nothing past the subject is looked
 * at: der_cert_names on the whole is the check that it is one.
 */
int der_cert_names_prefix(const unsigned char *der, size_t len, struct der_span *issuer,
                          struct der_span *subject);

/*
 * The next PEM block of TEXT (LEN bytes) from *POS on: 1 when it is a "CERTIFICATE" block,
 * its DER then in OUT (emptied first) and *POS after its END line; 0 when there is no block
 * left; -1 for anything else (another label, a missing END line, headers, bad base64, more
 * than OUT->max bytes), so the caller can leave the file to a full parser. LIMIT 0 decodes
 * the whole block, strictly; else only its first LIMIT bytes or so (what a scan for names
 * needs), checking only the characters it decodes.
 */
int der_pem_next(const char *text, size_t len, size_t *pos, size_t limit, struct buf *out);

#endif
