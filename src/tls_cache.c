/*
 * tls_cache: the session cache, so the next run can resume instead of a full handshake
 * (RFC 8446 §2.2, RFC 5077). The file is the magic line with the hex digest of every
 * setting the session was verified under, then GnuTLS's session data; it is private
 * (SEC-14's rule, io_not_private), replaced atomically, and never synced (a cache). A
 * resumed session is not verified again, so a session made under other settings is never
 * offered, and any problem with the file means a full handshake, never a failure.
 */
#include "tls_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "buf.h"
#include "codec.h"
#include "io.h"

#define SESSION_MAGIC "postie-tls-session 1 "
#define SESSION_MAX (64 * 1024)
/* The magic, 64 hex digits and a newline. */
#define SESSION_HEAD_LEN (sizeof(SESSION_MAGIC) - 1 + 2 * TLS_SHA256_LEN + 1)

/* Everything a cached session was verified under: a session saved under other settings
 * (another host, trust file, pin or priorities) is never offered. */
void
tls_cache_set_params(struct tls *t, const struct tls_config *cfg)
{
	char text[8192];
	struct stat st;

	/* A CRL that changed since may revoke the certificate of the cached session, and a
	 * resumed session is not verified again (RFC 8446 §2.2): a new CRL, a new handshake. */
	long long crl_mtime = 0, crl_size = 0;
	if (cfg->crl_file && stat(cfg->crl_file, &st) == 0) {
		crl_mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		crl_size = (long long)st.st_size;
	}
	int n = snprintf(
	    text, sizeof(text), "%s%c%s%c%s%c%d%c%s%c%s%c%s%c%s%c%s%c%lld/%lld%c%d", t->name, 0,
	    cfg->trust_file ? cfg->trust_file : "system", 0,
	    cfg->fingerprint ? cfg->fingerprint : "", 0, cfg->certcheck, 0,
	    cfg->priorities ? cfg->priorities : "", 0, cfg->pin_spki ? cfg->pin_spki : "", 0,
	    cfg->cert_file ? cfg->cert_file : "", 0, cfg->key_file ? cfg->key_file : "", 0,
	    cfg->crl_file ? cfg->crl_file : "", 0, crl_mtime, crl_size, 0, t->tls13_only);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	gnutls_hash_fast(GNUTLS_DIG_SHA256, text, (size_t)n, t->params);
}

/* The first line of a session file made under t->params into HEAD (SESSION_HEAD_LEN + 1). */
static void
make_head(const struct tls *t, char *head)
{
	memcpy(head, SESSION_MAGIC, sizeof(SESSION_MAGIC) - 1);
	codec_hex_encode(head + sizeof(SESSION_MAGIC) - 1, t->params, TLS_SHA256_LEN);
	head[SESSION_HEAD_LEN - 1] = '\n';
	head[SESSION_HEAD_LEN] = '\0';
}

void
tls_cache_load(struct tls *t, const char *path)
{
	char head[SESSION_HEAD_LEN + 1];
	char why[512];
	struct buf b;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; io_not_private refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return;
	buf_init(&b, SESSION_MAX);
	b.secret = true;
	if (io_not_private(fd, path, why, sizeof(why)) == NULL && io_read_all(fd, &b) == 0 &&
	    b.len > SESSION_HEAD_LEN) {
		make_head(t, head);
		if (memcmp(b.data, head, SESSION_HEAD_LEN) == 0)
			gnutls_session_set_data(t->session, b.data + SESSION_HEAD_LEN,
			                        b.len - SESSION_HEAD_LEN);
	}
	buf_fini(&b);
	close(fd);
}

int
tls_save_session(struct tls *t, const char *path, struct err *e)
{
	gnutls_datum_t d = {NULL, 0};
	char head[SESSION_HEAD_LEN + 1];
	int rc = 0;

	if (t->failed)
		return 0; /* never cache what was not verified */
	/* RFC 8446 §4.6.1: a TLS 1.3 session can be resumed only with a ticket. */
	if (gnutls_protocol_get_version(t->session) == GNUTLS_TLS1_3 &&
	    !(gnutls_session_get_flags(t->session) & GNUTLS_SFLAGS_SESSION_TICKET))
		return 0;
	if (gnutls_session_get_data2(t->session, &d) == 0 && d.size > 0 &&
	    d.size <= SESSION_MAX - SESSION_HEAD_LEN) {
		make_head(t, head);
		struct iovec iov[2] = {{head, SESSION_HEAD_LEN}, {d.data, d.size}};
		int r = io_replace(path, iov, 2, 0600, false);
		if (r != 0)
			rc = err_set(e, ERR_OS, "save TLS session %s: %s", path, strerror(r));
	}
	if (d.data) {
		explicit_bzero(d.data, d.size);
		gnutls_free(d.data);
	}
	return rc;
}
