/*
 * tls_cred: the credentials of a TLS session. The trust store (a PEM file or the system's),
 * CRLs (RFC 5280 §6.3), and the client certificate with its key (RFC 8446 §4.4.2, RFC 5246
 * §7.4.6), from PEM files or a URI GnuTLS opens itself ("pkcs11:...", RFC 7512). Public files
 * (trust, CRLs, certificates) must be regular files of sane size; a key file must be private
 * (SEC-14). Errors name the setting, the file and the reason, and say what fixes it.
 */
#include "tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* A trust or CRL file is read whole by GnuTLS: never a FIFO or a device, which could make it
 * wait for ever or read without end (SEC-34), nor a file beyond any real bundle's size. */
#define TLS_PEM_FILE_MAX (16 * 1024 * 1024)

/* Whether FILE is a readable regular file of sane size; else ERR_CONFIG naming WHAT. GnuTLS
 * says only "error while reading file": ask the system why first. access() is a diagnosis,
 * not a guard: GnuTLS opens the file later with the effective group, which in a setgid postie
 * is already the caller's own (SEC-45: the group is raised only around the system profile's
 * opens), so the two can never disagree in the caller's favour. */
static int
check_pem_file(const char *what, const char *file, struct err *e)
{
	struct stat st;

	if (stat(file, &st) != 0 || access(file, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "load %s %s: %s", what, file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFIG, "load %s %s: not a regular file", what, file);
	if (st.st_size > TLS_PEM_FILE_MAX)
		return err_set(e, ERR_CONFIG, "load %s %s: larger than %d MiB", what, file,
		               TLS_PEM_FILE_MAX / (1024 * 1024));
	return 0;
}

int
tls_cred_load_trust(gnutls_certificate_credentials_t cred, const char *file, struct err *e)
{
	int r;

	if (!file) {
		r = gnutls_certificate_set_x509_system_trust(cred);
		if (r < 0)
			return err_set(e, ERR_CONFIG,
			               "load the system trust store: %s; set tls_trust_file",
			               gnutls_strerror(r));
		if (r == 0)
			return err_set(
			    e, ERR_CONFIG,
			    "load the system trust store: no certificates found; install "
			    "ca-certificates or set tls_trust_file");
		return 0;
	}
	if (check_pem_file("tls_trust_file", file, e) < 0)
		return -1;
	r = gnutls_certificate_set_x509_trust_file(cred, file, GNUTLS_X509_FMT_PEM);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", file,
		               gnutls_strerror(r));
	if (r == 0)
		return err_set(e, ERR_CONFIG, "load tls_trust_file %s: no PEM certificates in it",
		               file);
	return 0;
}

/* Whether NAME is a URI for GnuTLS's own loaders ("pkcs11:...", RFC 7512) rather than a file. */
static bool
is_uri(const char *name)
{
	return strncasecmp(name, "pkcs11:", 7) == 0 || gnutls_url_is_supported(name);
}

/* The CRLs in FILE (PEM) join the trust list: GnuTLS then marks a listed certificate
 * revoked during verification (RFC 5280 §6.3). */
int
tls_cred_load_crl(gnutls_certificate_credentials_t cred, const char *file, struct err *e)
{
	if (check_pem_file("tls_crl_file", file, e) < 0)
		return -1;
	int r = gnutls_certificate_set_x509_crl_file(cred, file, GNUTLS_X509_FMT_PEM);
	if (r == GNUTLS_E_BASE64_DECODING_ERROR || r == GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR)
		return err_set(e, ERR_CONFIG, "load tls_crl_file %s: no PEM CRLs in it (%s)", file,
		               gnutls_strerror(r));
	if (r < 0)
		return err_set(e, ERR_CONFIG, "load tls_crl_file %s: %s", file, gnutls_strerror(r));
	if (r == 0)
		return err_set(e, ERR_CONFIG, "load tls_crl_file %s: no PEM CRLs in it", file);
	return 0;
}

/* Whether FILE holds at least one PEM certificate: to tell which of two files GnuTLS,
 * which loads both at once, had trouble with. */
static bool
has_certificate(const char *file)
{
	gnutls_datum_t d = {NULL, 0};
	gnutls_x509_crt_t *list = NULL;
	unsigned n = 0;

	if (gnutls_load_file(file, &d) < 0)
		return false;
	int r = gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(d.data);
	if (r < 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	return n > 0;
}

/*
 * A private key file must be ours alone, as a profile with a password must (SEC-14): one
 * that others can read may have been copied already, one that others can write may not be
 * ours any more. The rule and its words are io_not_private's.
 */
static int
check_key_file(const char *what, const char *file, struct err *e)
{
	char why[512];

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "load %s %s: %s", what, file, strerror(errno));
	const char *bad = io_not_private(fd, file, why, sizeof(why));
	close(fd);
	if (bad)
		return err_set(e, ERR_CONFIG, "load %s %s: %s", what, file, bad);
	return 0;
}

/*
 * The client certificate chain and its key, sent when the server asks for one (RFC 8446
 * §4.4.2, RFC 5246 §7.4.6). Files are PEM; a "pkcs11:" URI (RFC 7512) or another URI GnuTLS
 * supports goes to GnuTLS's own loader as it is (a PIN can ride in the URI as pin-value or
 * pin-source). Errors name the setting, the file and GnuTLS's reason.
 */
int
tls_cred_load_client(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	const char *cert = cfg->cert_file;
	const char *key = cfg->key_file ? cfg->key_file : cfg->cert_file;
	const char *keywhat = cfg->key_file ? "tls_key_file" : "tls_cert_file";

	if (!cert)
		return err_set(e, ERR_CONFIG,
		               "load tls_key_file %s: set tls_cert_file to the certificate that "
		               "goes with it",
		               cfg->key_file);
	bool cert_uri = is_uri(cert), key_uri = is_uri(key);
	if ((cert_uri && !gnutls_url_is_supported(cert)) ||
	    (key_uri && !gnutls_url_is_supported(key)))
		return err_set(e, ERR_CONFIG,
		               "load %s %.200s: this GnuTLS cannot open such URIs (built without "
		               "PKCS #11 support?)",
		               cert_uri && !gnutls_url_is_supported(cert) ? "tls_cert_file"
		                                                          : keywhat,
		               cert_uri && !gnutls_url_is_supported(cert) ? cert : key);
	if (!cert_uri && access(cert, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "load tls_cert_file %s: %s", cert, strerror(errno));
	if (!key_uri && check_key_file(keywhat, key, e) < 0)
		return -1;
	int r =
	    gnutls_certificate_set_x509_key_file2(t->cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r >= 0) {
		t->client_cert = true;
		t->cert_file = xstrdup(cert);
		return 0;
	}
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return err_set(e, ERR_CONFIG,
		               "load tls_cert_file %s with %s %s: the certificate is not for this "
		               "key (%s)",
		               cert, keywhat, key, gnutls_strerror(r));
	if (!cert_uri && !has_certificate(cert))
		return err_set(e, ERR_CONFIG,
		               "load tls_cert_file %s: no PEM certificate in it (%s)", cert,
		               gnutls_strerror(r));
	if (r == GNUTLS_E_DECRYPTION_FAILED)
		return err_set(e, ERR_CONFIG,
		               "load %s %s: %s (an encrypted key needs a passphrase postie cannot "
		               "ask for; keep the key unencrypted with mode 600, or on a token "
		               "named by a pkcs11: URI)",
		               keywhat, key, gnutls_strerror(r));
	return err_set(e, ERR_CONFIG, "load %s %s: %s", keywhat, key, gnutls_strerror(r));
}
