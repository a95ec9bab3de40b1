/*
 * tls_info: tls_print_info, what --serverinfo shows of a session: the version, suite, key
 * exchange and signature, resumption, the client certificate, the stapled OCSP response
 * (RFC 6960), the verdict, and each certificate of the server's chain with its names,
 * dates, SHA-256 fingerprint and SPKI pin (RFC 7469 §2.4). Text from certificates is shown
 * with control and non-ASCII bytes as \xNN. tls_summarize: the same of the server's own
 * certificate in brief, for postie --check.
 */
#include "codec.h"
#include "tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/ocsp.h>

static void
print_dn(FILE *out, const char *label, gnutls_x509_crt_t crt, bool issuer)
{
	gnutls_datum_t d = {NULL, 0};
	int r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
	               : gnutls_x509_crt_get_dn3(crt, &d, 0);

	fprintf(out, "  %s: ", label);
	if (r == 0 && d.size > 0)
		codec_put_printable(out, d.data, d.size, "");
	else
		fputs("(none)", out);
	putc('\n', out);
	gnutls_free(d.data);
}

/* One certificate of the server's chain. */
static void
print_cert(struct tls *t, FILE *out, const gnutls_datum_t *der, unsigned i, unsigned n)
{
	gnutls_x509_crt_t crt;
	unsigned char d[TLS_SHA256_LEN];
	size_t dlen = sizeof(d);
	char text[1024];
	bool has_san;

	fprintf(out, "Certificate %u of %u%s:\n", i + 1, n, i == 0 ? " (the server's)" : "");
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0) {
		fputs("  (cannot be parsed)\n", out);
		gnutls_x509_crt_deinit(crt);
		return;
	}
	print_dn(out, "Subject", crt, false);
	tls_verify_san_matches(t, crt, &has_san, text, sizeof(text));
	fputs("  Names: ", out);
	if (text[0])
		codec_put_printable(out, text, strlen(text), "");
	else
		fputs("(no subjectAltName)", out);
	putc('\n', out);
	print_dn(out, "Issuer", crt, true);
	tls_verify_format_utc(text, sizeof(text), gnutls_x509_crt_get_activation_time(crt), true);
	fprintf(out, "  Not before: %s\n", text);
	tls_verify_format_utc(text, sizeof(text), gnutls_x509_crt_get_expiration_time(crt), true);
	fprintf(out, "  Not after: %s\n", text);
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, d, &dlen) == 0 && dlen == sizeof(d)) {
		tls_verify_format_fingerprint(text, sizeof(text), d);
		fprintf(out, "  SHA-256 fingerprint: %s\n", text);
	}
	if (tls_verify_spki_digest(crt, d) == 0) {
		tls_verify_format_spki_pin(text, sizeof(text), d);
		fprintf(out, "  SPKI pin: %s\n", text);
	}
	gnutls_x509_crt_deinit(crt);
}

/* Whether we sent a client certificate, and which. */
static void
print_client_cert(struct tls *t, FILE *out)
{
	const gnutls_datum_t *ours = gnutls_certificate_get_ours(t->session);
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};

	fputs("Client certificate: ", out);
	if (t->resumed && t->client_cert) {
		fputs("as in the resumed session\n", out);
		return;
	}
	if (!ours) {
		if (!gnutls_certificate_client_get_request_status(t->session))
			fputs("not asked for\n", out);
		else if (!t->client_cert)
			fputs("asked for, none configured (tls_cert_file)\n", out);
		else
			fputs("asked for, none sent (not issued by a CA the server accepts)\n",
			      out);
		return;
	}
	fputs("sent", out);
	if (gnutls_x509_crt_init(&crt) == 0) {
		if (gnutls_x509_crt_import(crt, ours, GNUTLS_X509_FMT_DER) == 0 &&
		    gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
			fputs(": ", out);
			codec_put_printable(out, dn.data, dn.size, "");
		}
		gnutls_free(dn.data);
		gnutls_x509_crt_deinit(crt);
	}
	putc('\n', out);
}

static void
print_ocsp(struct tls *t, FILE *out)
{
	unsigned status = 0;
	time_t tu = -1, nu = -1, rev = -1;
	char a[32], b[32];

	fputs("OCSP: ", out);
	if (tls_verify_stapled_status(t, &status, &tu, &nu, &rev) < 0) {
		fputs("no response stapled\n", out);
		return;
	}
	tls_verify_format_utc(a, sizeof(a), tu, true);
	tls_verify_format_utc(b, sizeof(b), nu, true);
	if (status == GNUTLS_OCSP_CERT_GOOD)
		fputs("stapled response: good", out);
	else if (status == GNUTLS_OCSP_CERT_REVOKED)
		fputs("stapled response: revoked", out);
	else
		fputs("stapled response: status unknown", out);
	if (status == GNUTLS_OCSP_CERT_REVOKED) {
		tls_verify_format_utc(a, sizeof(a), rev, true);
		fprintf(out, " on %s", a);
	} else {
		fprintf(out, " (this update %s, next update %s)", a, nu == (time_t)-1 ? "none" : b);
	}
	fprintf(out, ", %s\n",
	        gnutls_ocsp_status_request_is_checked(t->session, 0) ? "verified" : "not verified");
}

int
tls_print_info(struct tls *t, FILE *out, struct err *e)
{
	gnutls_session_t s = t->session;
	gnutls_protocol_t ver = gnutls_protocol_get_version(s);
	const char *v = gnutls_protocol_get_name(ver);
	const char *suite = gnutls_ciphersuite_get(s);
	const char *kx = gnutls_kx_get_name(gnutls_kx_get(s));
	const char *group = gnutls_group_get_name(gnutls_group_get(s));
	/* RFC 8446 §4.2.7: in TLS 1.3 the key exchange is the group alone; GnuTLS's kx name
	 * (e.g. "ECDHE-RSA") would name a signature the server may not have used. */
	if (ver == GNUTLS_TLS1_3)
		kx = !group ? "PSK" : strncmp(group, "FFDHE", 5) == 0 ? "DHE" : "ECDHE";
	const char *sig = gnutls_sign_get_name(gnutls_sign_algorithm_get(s));
	const gnutls_datum_t *certs;
	unsigned n = 0;

	fprintf(out, "TLS version: %s\n", v ? v : "unknown");
	fprintf(out, "Cipher suite: %s\n", suite ? suite : "unknown");
	fprintf(out, "Key exchange: %s%s%s\n", kx ? kx : "", kx && group ? " " : "",
	        group ? group : (kx ? "" : "unknown"));
	fprintf(out, "Server signature: %s\n", sig ? sig : "unknown");
	fprintf(out, "Session resumed: %s\n", t->resumed ? "yes" : "no");
	print_client_cert(t, out);
	print_ocsp(t, out);
	fprintf(out, "Verification: %s\n", t->verdict);
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0)
		fputs("Certificates: none received\n", out);
	for (unsigned i = 0; certs && i < n; i++)
		print_cert(t, out, &certs[i], i, n);
	if (fflush(out) != 0 || ferror(out))
		return err_set(e, ERR_OS, "write the TLS information: %s", strerror(errno));
	return 0;
}

int
tls_summarize(struct tls *t, struct tls_summary *out)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;
	gnutls_x509_crt_t crt;
	bool has_san;

	*out = (struct tls_summary){.not_after = -1};
	certs = gnutls_certificate_get_peers(t->session, &n);
	if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return -1;
	int rc = -1;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
		tls_verify_san_matches(t, crt, &has_san, out->names, sizeof(out->names));
		tls_verify_issuer_name(crt, out->issuer, sizeof(out->issuer));
		time_t end = gnutls_x509_crt_get_expiration_time(crt);
		out->not_after = end == (time_t)-1 ? -1 : (int64_t)end;
		rc = 0;
	}
	gnutls_x509_crt_deinit(crt);
	return rc;
}
