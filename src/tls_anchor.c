/*
 * tls_anchor: the trust store read for one chain. Parsing every CA of a bundle costs a first
 * run more than the rest of its TLS (the system's 140-odd certificates: about 6 ms of CPU),
 * yet GnuTLS's verification only ever looks at the trusted certificates whose subject is,
 * byte for byte, the issuer or the subject of a certificate in the chain the server sent
 * (it finds an issuer by its raw name, and a trusted certificate inside the chain by its
 * subject). So the bundle is scanned, not parsed: each PEM block is decoded and walked to its
 * subject (der.h), and only the CAs whose subject is one of those names are handed to
 * GnuTLS, which verifies as it always did. Whenever the scan cannot be sure — the store is
 * not one PEM file of plain CERTIFICATE blocks, a block does not walk, too many names or
 * matches, nothing matches — the caller loads the whole store instead, so a verdict is
 * never looser nor stricter than with the whole store, and its errors stay the same.
 *
 * Chosen over OpenSSL's hashed directory (/etc/ssl/certs/HASH.0): that hash is of a
 * canonicalised name (case-folded, spaces squeezed), which is not the equality GnuTLS uses
 * (raw bytes), needs SHA-1 over a re-encoded name, and the directory may lag the bundle.
 */
#include "tls_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "der.h"
#include "io.h"

/* More certificates than GnuTLS would follow (its default depth is 16). */
#define ANCHOR_PEERS_MAX 16
/* Real bundles hold a CA's name once or twice (a renewed root); more: load it all. */
#define ANCHOR_MATCHES_MAX 16
#define ANCHOR_FILE_MAX (16 * 1024 * 1024)
#define ANCHOR_CERT_MAX (64 * 1024)
/* How much of each certificate is decoded to find its subject: the names of real CAs end
 * within the first 500 bytes (Debian 12's bundle: at most 489); a longer one is decoded whole. */
#define ANCHOR_PREFIX 512

/* The names an anchor of the server's chain can have. */
struct wanted {
	struct der_span name[2 * ANCHOR_PEERS_MAX];
	size_t n;
};

static int
want_names(struct wanted *w, const gnutls_datum_t *certs, unsigned ncerts)
{
	w->n = 0;
	if (ncerts == 0 || ncerts > ANCHOR_PEERS_MAX)
		return -1;
	for (unsigned i = 0; i < ncerts; i++) {
		struct der_span issuer, subject;
		if (der_cert_names(certs[i].data, certs[i].size, &issuer, &subject) < 0)
			return -1;
		w->name[w->n++] = issuer;
		w->name[w->n++] = subject;
	}
	return 0;
}

static bool
is_wanted(const struct wanted *w, const struct der_span *s)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->name[i].len == s->len && memcmp(w->name[i].p, s->p, s->len) == 0)
			return true;
	return false;
}

/* FILE whole into OUT: a regular file of sane size, else -1 (the full load says why). */
static int
read_bundle(const char *file, struct buf *out)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -1;
	int rc = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= ANCHOR_FILE_MAX &&
	    io_read_all(fd, out) == 0)
		rc = 0;
	close(fd);
	return rc;
}

/* The matches of the scan: copies of their DER. */
struct matches {
	gnutls_datum_t der[ANCHOR_MATCHES_MAX];
	size_t n;
};

static void
matches_free(struct matches *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->der[i].data);
	m->n = 0;
}

/* Whether the block at *POS of TEXT is one W wants: decoded in part (DER), which is
 * enough for nearly every certificate to tell that it is not, else whole. 1 and *POS past
 * it, its whole DER in DER, when it is; 0 when it is not; 2 at the end; -1 when the scan
 * cannot tell. */
static int
next_wanted(const struct buf *text, size_t *pos, const struct wanted *w, struct buf *der)
{
	struct der_span issuer, subject;
	size_t at = *pos;
	int r = der_pem_next(text->data, text->len, pos, ANCHOR_PREFIX, der);

	if (r <= 0)
		return r == 0 ? 2 : -1;
	if (der_cert_names_prefix((const unsigned char *)der->data, der->len, &issuer, &subject) ==
	        0 &&
	    !is_wanted(w, &subject))
		return 0;
	*pos = at;
	if (der_pem_next(text->data, text->len, pos, 0, der) != 1 ||
	    der_cert_names((const unsigned char *)der->data, der->len, &issuer, &subject) < 0)
		return -1;
	return is_wanted(w, &subject) ? 1 : 0;
}

/* Scan TEXT's blocks for the CAs W wants into M: 0, or -1 when the scan cannot be sure. */
static int
scan(const struct buf *text, const struct wanted *w, struct matches *m)
{
	struct buf der;
	size_t pos = 0;
	int r;

	buf_init(&der, ANCHOR_CERT_MAX);
	for (;;) {
		r = next_wanted(text, &pos, w, &der);
		if (r == 0)
			continue;
		if (r != 1)
			break;
		if (m->n == ANCHOR_MATCHES_MAX) {
			r = -1;
			break;
		}
		m->der[m->n].data = xmalloc(der.len);
		memcpy(m->der[m->n].data, der.data, der.len);
		m->der[m->n++].size = (unsigned)der.len;
	}
	buf_fini(&der);
	return r == 2 ? 0 : -1;
}

int
tls_anchor_add(gnutls_x509_trust_list_t tl, const char *file, const gnutls_datum_t *certs,
               unsigned ncerts)
{
	struct wanted w;
	struct matches m = {.n = 0};
	struct buf text;
	int rc = -1;

	if (!file)
		file = POSTIE_SYSTEM_TRUST_FILE;
	if (!file[0] || want_names(&w, certs, ncerts) < 0)
		return -1;
	buf_init(&text, ANCHOR_FILE_MAX);
	if (read_bundle(file, &text) == 0 && scan(&text, &w, &m) == 0 && m.n > 0) {
		rc = (int)m.n;
		for (size_t i = 0; i < m.n && rc > 0; i++)
			if (gnutls_x509_trust_list_add_trust_mem(tl, &m.der[i], NULL,
			                                         GNUTLS_X509_FMT_DER,
			                                         GNUTLS_TL_USE_IN_TLS, 0) != 1)
				rc = -1;
	}
	matches_free(&m);
	buf_fini(&text);
	return rc;
}
