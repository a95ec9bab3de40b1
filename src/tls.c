/*
 * tls: a GnuTLS client session over a connected, non-blocking socket.
 *
 * RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2), RFC 8996 and RFC 8997 (no TLS 1.0/1.1, SEC-10),
 * RFC 6066 §3 (server_name), RFC 5280 (certificate paths, §6.3 CRLs), RFC 9525 (service
 * identity: subjectAltName only, wildcard as the whole left-most label, SEC-6, SEC-7),
 * RFC 8314 (implicit TLS for submission), RFC 6066 §8 and RFC 8446 §4.4.2.1 (stapled OCSP
 * responses, RFC 6960), RFC 7469 §2.4 (the SPKI pin: SHA-256 of the DER
 * SubjectPublicKeyInfo), RFC 8446 §4.3.2 and RFC 5246 §7.4.4 (client certificates).
 *
 * The server is checked inside the handshake (a GnuTLS verify callback), so a refused
 * certificate ends the handshake with an alert before the client's Finished and before any
 * application byte (SEC-11). The callback keeps its own error text, which tls_start then
 * returns instead of GnuTLS's generic "certificate error".
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <idn2.h>

#include "conn.h"

/* Records in a row without data (warning alerts, hello requests) or sends without progress
 * before a read or write gives up: a hostile server cannot keep postie busy with them. */
#define TLS_IDLE_RECORDS_MAX 64
/* SEC-10: TLS 1.3 preferred, TLS 1.2 accepted, nothing older (GnuTLS's NORMAL alone still
 * enables TLS 1.0 and 1.1). */
#define TLS_DEFAULT_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* tls_min_version 1.3. */
#define TLS_13_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"

#define TLS_SHA256_LEN 32
/* RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text. */
#define TLS_NAME_MAX 253
/* How much of the certificate's names and issuer go into a message. */
#define TLS_NAMES_SHOWN 160
#define TLS_ISSUER_SHOWN 96

struct tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	int fd;
	char name[TLS_NAME_MAX + 1]; /* host without brackets or a trailing dot */
	bool is_ip;
	unsigned char ip[16]; /* the address when is_ip */
	size_t ip_len;        /* 4 or 16 */
	bool certcheck;
	bool pinned; /* tls_fingerprint: the certificate */
	unsigned char pin[TLS_SHA256_LEN];
	bool spki_pinned; /* sha256//: its public key */
	unsigned char spki_pin[TLS_SHA256_LEN];
	bool tls13_only;  /* tls_min_version 1.3 */
	bool client_cert; /* a client certificate is configured */
	struct err verr;  /* why the verify callback refused the server */
	bool verify_failed;
	bool failed;       /* kept after a failed verification: describe it, nothing else */
	bool got_data;     /* an application byte has arrived */
	char verdict[400]; /* the verification result, for tls_print_info */
	char *trust_file;  /* NULL: the system store */
	char *crl_file;    /* for messages; NULL: none */
	char *cert_file;   /* for messages; NULL: none */
	bool trust_loaded; /* loaded on first need, in the verify callback */
	bool resumed;      /* the handshake resumed a cached session */
	unsigned char params[TLS_SHA256_LEN]; /* what a cached session must have been made with */
	char desc[96];
};

static void
free_session(struct tls *t)
{
	if (!t)
		return;
	if (t->session)
		gnutls_deinit(t->session);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	free(t->trust_file);
	free(t->crl_file);
	free(t->cert_file);
	free(t);
}

static int load_trust(gnutls_certificate_credentials_t cred, const char *file, struct err *e);

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * SEC-9: the pin is a SHA-256 digest, 64 hex digits (colons between byte pairs tolerated).
 * Anything else, in particular a 40-digit SHA-1 or 32-digit MD5 pin, is refused.
 */
static int
parse_pin(unsigned char *out, const char *s, struct err *e)
{
	size_t n = 0;
	const char *p = s;

	while (*p) {
		if (*p == ':') {
			p++;
			continue;
		}
		int hi = hexval(p[0]);
		int lo = hi < 0 ? -1 : hexval(p[1]);
		if (hi < 0 || lo < 0 || n == TLS_SHA256_LEN) {
			n = TLS_SHA256_LEN + 1;
			break;
		}
		out[n++] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	if (n != TLS_SHA256_LEN)
		return err_set(
		    e, ERR_CONFIG,
		    "check tls_fingerprint: not a SHA-256 fingerprint (64 hex digits; MD5 and "
		    "SHA-1 pins are not accepted)");
	return 0;
}

/*
 * The SPKI pin (RFC 7469 §2.4's pin-sha256, the "sha256//" form of curl and others): base64
 * of a SHA-256 digest, so 44 characters with one "=" of padding, decoding to 32 bytes. The
 * profile checks this too; this is the last word, as it is for hex pins.
 */
static int
parse_spki_pin(unsigned char *out, const char *s, struct err *e)
{
	gnutls_datum_t in, d = {NULL, 0};

	if (strncasecmp(s, "sha256//", 8) == 0)
		s += 8;
	size_t len = strlen(s);
	in.data = (unsigned char *)(uintptr_t)s;
	in.size = (unsigned)len;
	int r = len == 44 ? gnutls_base64_decode2(&in, &d) : GNUTLS_E_BASE64_DECODING_ERROR;
	bool good = r == 0 && d.size == TLS_SHA256_LEN;
	if (good)
		memcpy(out, d.data, TLS_SHA256_LEN);
	gnutls_free(d.data);
	if (!good)
		return err_set(e, ERR_CONFIG,
		               "check tls_fingerprint sha256//%.60s: not the base64 of a SHA-256 "
		               "digest (44 characters ending in \"=\")",
		               s);
	return 0;
}

/* Compare without an early exit, so the time taken says nothing about where a guessed pin
 * first differs. */
static bool
same_digest(const unsigned char *a, const unsigned char *b)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < TLS_SHA256_LEN; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). */
static int
spki_digest(gnutls_x509_crt_t crt, unsigned char *out)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = {NULL, 0};
	int r = gnutls_pubkey_init(&pub);

	if (r == 0)
		r = gnutls_pubkey_import_x509(pub, crt, 0);
	if (r == 0)
		r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	if (r == 0)
		r = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, out);
	gnutls_free(der.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return r < 0 ? -1 : 0;
}

/* "sha256//BASE64" of a digest into OUT (at least 53 bytes), as tls_fingerprint takes it. */
static void
format_spki_pin(char *out, size_t outlen, const unsigned char *d)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)d, TLS_SHA256_LEN}, b = {NULL, 0};

	snprintf(out, outlen, "unknown");
	if (gnutls_base64_encode2(&in, &b) == 0 && 8 + (size_t)b.size < outlen) {
		memcpy(out, "sha256//", 8);
		memcpy(out + 8, b.data, b.size);
		out[8 + b.size] = '\0';
	}
	gnutls_free(b.data);
}

/*
 * SEC-8: a name with non-ASCII bytes (a U-label such as "bücher.example", which only
 * tls_host_override can bring: session.c converts the host itself) becomes its A-label
 * ("xn--bcher-kva.example") before SNI and verification, the same way: libidn2, IDNA2008,
 * nontransitional. *OUT is NULL for a name that is ASCII already, else owned by the caller.
 */
static int
name_ascii(const char *host, char **out, struct err *e)
{
	*out = NULL;
	for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
		if (*p < 0x80)
			continue;
		char *a = NULL;
		int rc = idn2_to_ascii_8z(host, &a, IDN2_NONTRANSITIONAL);
		/* Bytes that are no UTF-8 are not quoted: they would reach the terminal raw. */
		if (rc == IDN2_ENCODING_ERROR)
			return err_set(e, ERR_CONFIG,
			               "convert TLS server name to an A-label: %s (not UTF-8); fix "
			               "`tls_host_override` in the profile",
			               idn2_strerror(rc));
		if (rc != IDN2_OK)
			return err_set(e, ERR_CONFIG,
			               "convert TLS server name \"%.80s\" to an A-label: %s; fix "
			               "`tls_host_override` in the profile (an IDNA2008 name, or "
			               "its xn-- form)",
			               host, idn2_strerror(rc));
		*out = xstrdup(a);
		idn2_free(a);
		return 0;
	}
	return 0;
}

/* Copy the configured host into t->name (an A-label, SEC-8), and note whether it is an IP
 * literal. */
static int
set_name(struct tls *t, const char *host, struct err *e)
{
	char *ascii;

	if (name_ascii(host, &ascii, e) < 0)
		return -1;
	if (ascii)
		host = ascii;
	size_t len = strlen(host);

	/* "[::1]" is how an IPv6 literal may be written in a profile. */
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	/* A fully qualified "example.org." names the same host; SNI carries no trailing dot
	 * (RFC 6066 §3) and certificates do not either. */
	if (len > 1 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_NAME_MAX) {
		err_set(e, ERR_CONFIG, "start TLS: bad server name \"%.*s\"",
		        (int)(len > 64 ? 64 : len), host);
		free(ascii);
		return -1;
	}
	memcpy(t->name, host, len);
	t->name[len] = '\0';
	free(ascii);
	if (inet_pton(AF_INET, t->name, t->ip) == 1) {
		t->is_ip = true;
		t->ip_len = 4;
	} else if (inet_pton(AF_INET6, t->name, t->ip) == 1) {
		t->is_ip = true;
		t->ip_len = 16;
	}
	return 0;
}

/* "AA:BB:..." of a SHA-256 digest into OUT (at least 96 bytes). */
static void
format_fingerprint(char *out, size_t outlen, const unsigned char *d)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < TLS_SHA256_LEN && o + 3 < outlen; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[d[i] >> 4];
		out[o++] = hex[d[i] & 15];
	}
	out[o] = '\0';
}

/* Append S (LEN bytes) to OUT, keeping it terminated. When it does not fit, OUT ends in
 * "..." and stays full, so nothing later is appended after the cut. */
static void
append(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = strlen(out);

	if (o + len + 1 > outlen) {
		if (outlen >= 4) {
			memset(out + o, '.', outlen - 1 - o);
			memcpy(out + outlen - 4, "...", 4);
		}
		return;
	}
	memcpy(out + o, s, len);
	out[o + len] = '\0';
}

/* The issuer's CN (or its whole DN when it has no CN), for messages. */
static void
issuer_name(gnutls_x509_crt_t crt, char *out, size_t outlen)
{
	size_t len = outlen;

	out[0] = '\0';
	if (gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out,
	                                         &len) == 0 &&
	    out[0])
		return;
	len = outlen;
	if (gnutls_x509_crt_get_issuer_dn(crt, out, &len) != 0 || !out[0])
		snprintf(out, outlen, "unknown");
}

/*
 * RFC 9525 §6.3: a DNS-ID matches when equal ignoring ASCII case, or when it is "*." plus
 * at least two labels and the host's first label is replaced by the whole "*". Partial
 * ("f*.example.org") and nested ("*.*.example.org") wildcards match nothing, and "*" never
 * spans a dot, so "*.example.test" does not match "x.mail.example.test".
 */
static bool
dns_id_matches(const char *id, size_t idlen, const char *host)
{
	size_t hlen = strlen(host);

	if (idlen > 0 && id[idlen - 1] == '.')
		idlen--;
	if (idlen >= 2 && id[0] == '*' && id[1] == '.') {
		const char *rest = id + 2;
		size_t rlen = idlen - 2;
		if (rlen == 0 || memchr(rest, '*', rlen) || !memchr(rest, '.', rlen))
			return false;
		const char *dot = strchr(host, '.');
		if (!dot || dot == host)
			return false;
		size_t tail = hlen - (size_t)(dot + 1 - host);
		return tail == rlen && strncasecmp(dot + 1, rest, rlen) == 0;
	}
	if (memchr(id, '*', idlen))
		return false;
	return idlen == hlen && strncasecmp(id, host, hlen) == 0;
}

/*
 * SEC-7: our own name check over the subjectAltNames, independent of GnuTLS's (which falls
 * back to the subject CN). Sets *HAS_SAN when the certificate has a SAN of the host's kind,
 * and lists the names it does carry into NAMES for a mismatch message.
 */
static bool
san_matches(const struct tls *t, gnutls_x509_crt_t crt, bool *has_san, char *names, size_t nameslen)
{
	bool match = false;
	char buf[512];

	*has_san = false;
	names[0] = '\0';
	for (unsigned i = 0;; i++) {
		size_t len = sizeof(buf) - 1;
		unsigned critical = 0;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue; /* a name longer than any host name cannot match */
		if (type < 0)
			break;
		char shown[INET6_ADDRSTRLEN + 1];
		const char *show = NULL;
		size_t showlen = 0;
		if (type == GNUTLS_SAN_DNSNAME) {
			buf[len] = '\0';
			show = buf;
			showlen = len;
			/* A NUL inside a name is an attack on C string matching (CVE-2009-2408). */
			if (strlen(buf) != len)
				continue;
			if (!t->is_ip) {
				*has_san = true;
				if (dns_id_matches(buf, len, t->name))
					match = true;
			}
		} else if (type == GNUTLS_SAN_IPADDRESS) {
			if ((len == 4 || len == 16) &&
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, buf, shown, sizeof(shown))) {
				show = shown;
				showlen = strlen(shown);
			}
			if (t->is_ip) {
				*has_san = true;
				if (len == t->ip_len && memcmp(buf, t->ip, len) == 0)
					match = true;
			}
		}
		if (show) {
			if (names[0])
				append(names, nameslen, ", ", 2);
			append(names, nameslen, show, showlen);
		}
	}
	return match;
}

/* Append one reason to the list in OUT. */
static void
add_reason(char *out, size_t outlen, const char *r)
{
	if (out[0])
		append(out, outlen, "; ", 2);
	append(out, outlen, r, strlen(r));
}

static void
format_date(char *out, size_t outlen, time_t when)
{
	struct tm tm;

	if (when == (time_t)-1 || !gmtime_r(&when, &tm) ||
	    strftime(out, outlen, "%Y-%m-%d", &tm) == 0)
		snprintf(out, outlen, "an unknown date");
}

/* "2024-01-31T12:00:00Z" (ISO 8601, UTC). */
static void
format_time(char *out, size_t outlen, time_t when)
{
	struct tm tm;

	if (when == (time_t)-1 || !gmtime_r(&when, &tm) ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "unknown");
}

/*
 * The server's stapled OCSP response for its own certificate (RFC 6066 §8; in TLS 1.3 in
 * the Certificate message, RFC 8446 §4.4.2.1), decoded: 0 and its status and times, or -1
 * when there is none or it cannot be read. Only the message text uses this: whether the
 * response is genuine is decided by GnuTLS's verification.
 */
static int
stapled_status(struct tls *t, unsigned *status, time_t *this_upd, time_t *next_upd, time_t *revoked)
{
	gnutls_datum_t d = {NULL, 0}, in = {NULL, 0}, ik = {NULL, 0};
	gnutls_datum_t sn = {NULL, 0};
	gnutls_ocsp_resp_t resp = NULL;
	gnutls_digest_algorithm_t alg;
	unsigned reason = 0;
	int rc = -1;

	if (gnutls_ocsp_status_request_get2(t->session, 0, &d) < 0 || d.size == 0)
		return -1;
	if (gnutls_ocsp_resp_init(&resp) < 0)
		return -1;
	if (gnutls_ocsp_resp_import(resp, &d) == 0 &&
	    gnutls_ocsp_resp_get_single(resp, 0, &alg, &in, &ik, &sn, status, this_upd, next_upd,
	                                revoked, &reason) == 0)
		rc = 0;
	gnutls_free(in.data);
	gnutls_free(ik.data);
	gnutls_free(sn.data);
	gnutls_ocsp_resp_deinit(resp);
	return rc;
}

/* Who says the certificate is revoked: the server's own OCSP response, or our CRLs. */
static void
revocation_reason(struct tls *t, char *out, size_t outlen)
{
	unsigned status = 0;
	time_t tu = -1, nu = -1, when = -1;
	char date[32];

	if (stapled_status(t, &status, &tu, &nu, &when) == 0 &&
	    status == GNUTLS_OCSP_CERT_REVOKED) {
		format_date(date, sizeof(date), when);
		snprintf(out, outlen,
		         "certificate revoked on %s (says the OCSP response the server stapled)",
		         date);
	} else if (t->crl_file) {
		snprintf(out, outlen, "certificate revoked (listed in tls_crl_file %.100s)",
		         t->crl_file);
	} else {
		snprintf(out, outlen, "certificate revoked");
	}
}

/* The status bits from gnutls_certificate_verify_peers3, each with its reason (SEC-6). */
static void
chain_reasons(struct tls *t, unsigned status, gnutls_x509_crt_t crt, char *out, size_t outlen)
{
	char date[32], r[96];

	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		add_reason(out, outlen, "issuer unknown (not signed by a trusted CA)");
	if (status & GNUTLS_CERT_SIGNER_NOT_CA)
		add_reason(out, outlen, "issuer is not a certificate authority");
	if (status & GNUTLS_CERT_EXPIRED) {
		format_date(date, sizeof(date), gnutls_x509_crt_get_expiration_time(crt));
		snprintf(r, sizeof(r), "certificate expired on %s", date);
		add_reason(out, outlen, r);
	}
	if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		format_date(date, sizeof(date), gnutls_x509_crt_get_activation_time(crt));
		snprintf(r, sizeof(r), "certificate not yet valid (from %s)", date);
		add_reason(out, outlen, r);
	}
	if (status & GNUTLS_CERT_REVOKED) {
		char rr[160];
		revocation_reason(t, rr, sizeof(rr));
		add_reason(out, outlen, rr);
	}
	if (status & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED)
		add_reason(out, outlen, "revocation data (CRL or OCSP response) out of date");
	if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
		add_reason(out, outlen,
		           "revocation data (CRL or OCSP response) dated in the future");
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		add_reason(out, outlen, "signed with an insecure algorithm");
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		add_reason(out, outlen, "bad signature");
	if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
		add_reason(out, outlen, "issuer's constraints violated");
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		add_reason(out, outlen, "certificate is not for a TLS server");
	if (status & GNUTLS_CERT_MISSING_OCSP_STATUS)
		add_reason(out, outlen,
		           "the certificate requires a stapled OCSP response (must-staple) and the "
		           "server sent none");
	if (status & GNUTLS_CERT_INVALID_OCSP_STATUS)
		add_reason(out, outlen, "the OCSP response the server stapled is not valid");
	if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS)
		add_reason(out, outlen, "unknown critical extension");
	if (status & GNUTLS_CERT_MISMATCH)
		add_reason(out, outlen, "certificate differs from the expected one");
	if ((status & GNUTLS_CERT_INVALID) && !out[0]) {
		snprintf(r, sizeof(r), "certificate not trusted (GnuTLS status 0x%x)", status);
		add_reason(out, outlen, r);
	}
}

/* Record a verification failure (SEC-11): the reason, the fingerprint, the issuer, a fix. */
static void
refuse(struct tls *t, const char *reason, const char *fp, const char *issuer, const char *fix)
{
	err_set(&t->verr, ERR_TLS,
	        "verify server certificate for %s: %s (SHA-256 fingerprint %s; issuer \"%.*s\"; "
	        "%s)",
	        t->name, reason, fp, TLS_ISSUER_SHOWN, issuer, fix);
	t->verify_failed = true;
	snprintf(t->verdict, sizeof(t->verdict), "failed: %s", reason);
}

/*
 * Decide on the server's certificate during the handshake: 0 accepts, anything else makes
 * GnuTLS abort with an alert. A pin replaces CA trust and names (SEC-9); otherwise the
 * chain, the validity, and the host name are checked (SEC-6) with a SAN required (SEC-7).
 */
static int
verify_peer(gnutls_session_t session)
{
	struct tls *t = gnutls_session_get_ptr(session);
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	gnutls_x509_crt_t crt = NULL;
	unsigned char digest[TLS_SHA256_LEN];
	size_t dlen = sizeof(digest);
	char fp[3 * TLS_SHA256_LEN + 1] = "unknown";
	char issuer[256] = "unknown";
	char reasons[384] = "";
	int rc = -1;

	if (!t)
		return -1;
	if (!t->pinned && !t->spki_pinned && !t->certcheck) {
		snprintf(t->verdict, sizeof(t->verdict), "not checked (tls_certcheck off)");
		return 0; /* the profile said tls_certcheck off; the caller warns */
	}
	certs = gnutls_certificate_get_peers(session, &ncerts);
	if (!certs || ncerts == 0) {
		refuse(t, "the server sent no certificate", fp, issuer, "check the server");
		return -1;
	}
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], digest, &dlen) == 0 &&
	    dlen == TLS_SHA256_LEN)
		format_fingerprint(fp, sizeof(fp), digest);
	else
		dlen = 0;
	if (gnutls_x509_crt_init(&crt) < 0) {
		refuse(t, "out of memory", fp, issuer, "try again");
		return -1;
	}
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		refuse(t, "cannot parse the certificate", fp, issuer, "check the server");
		goto out;
	}
	issuer_name(crt, issuer, sizeof(issuer));

	/* SEC-9: a pin replaces CA trust, names and dates. With both pins, both must hold. */
	if (t->pinned || t->spki_pinned) {
		if (t->pinned && !(dlen == TLS_SHA256_LEN && same_digest(digest, t->pin))) {
			refuse(t, "fingerprint mismatch (the certificate is not the one pinned)",
			       fp, issuer,
			       "update tls_fingerprint only if the server's certificate really "
			       "changed");
			goto out;
		}
		if (t->spki_pinned) {
			unsigned char key[TLS_SHA256_LEN];
			char have[64], why[160];
			if (spki_digest(crt, key) < 0) {
				refuse(t, "cannot read the certificate's public key", fp, issuer,
				       "check the server");
				goto out;
			}
			if (!same_digest(key, t->spki_pin)) {
				format_spki_pin(have, sizeof(have), key);
				snprintf(
				    why, sizeof(why),
				    "public key pin mismatch (the server's key is %s, not the one "
				    "pinned)",
				    have);
				refuse(t, why, fp, issuer,
				       "update tls_fingerprint only if the server's key really "
				       "changed");
				goto out;
			}
		}
		snprintf(t->verdict, sizeof(t->verdict), "ok: %s",
		         t->spki_pinned ? (t->pinned ? "certificate and public key pinned"
		                                     : "public key (SPKI) pinned")
		                        : "certificate pinned (SHA-256 fingerprint)");
		rc = 0;
		goto out;
	}

	/* The trust store is read only now that a certificate must be checked: a pinned or
	 * resumed session never pays for it (the system store is about 140 certificates). */
	if (!t->trust_loaded) {
		struct err le;
		if (load_trust(t->cred, t->trust_file, &le) < 0) {
			t->verr = le;
			t->verify_failed = true;
			goto out;
		}
		t->trust_loaded = true;
	}

	/* Chain, validity and GnuTLS's name check; the status bits say what failed, the
	 * return value only whether verification could run (SEC-6). */
	unsigned status = 0;
	int r = gnutls_certificate_verify_peers3(session, t->name, &status);
	if (r < 0) {
		char why[160];
		snprintf(why, sizeof(why), "cannot verify: %s", gnutls_strerror(r));
		refuse(t, why, fp, issuer, "pin it with tls_fingerprint or fix the trust file");
		goto out;
	}
	/* A name mismatch alone also sets GNUTLS_CERT_INVALID; the name is judged below. */
	unsigned chain = status & ~(unsigned)GNUTLS_CERT_UNEXPECTED_OWNER;
	if (chain == GNUTLS_CERT_INVALID)
		chain = 0;
	chain_reasons(t, chain, crt, reasons, sizeof(reasons));

	/* SEC-7: GnuTLS 3.7 still matches the subject CN of a certificate without SANs, so
	 * require a SAN of the host's kind and match it ourselves as well. */
	bool has_san = false;
	char names[TLS_NAMES_SHOWN];
	bool own = san_matches(t, crt, &has_san, names, sizeof(names));
	unsigned flags = t->is_ip ? 0 : GNUTLS_VERIFY_DO_NOT_ALLOW_IP_MATCHES;
	bool theirs = gnutls_x509_crt_check_hostname2(crt, t->name, flags) != 0;
	bool name_bad = false;
	if (!has_san) {
		add_reason(reasons, sizeof(reasons),
		           t->is_ip
		               ? "certificate has no subjectAltName for an IP address (a subject "
		                 "CN alone is not accepted)"
		               : "certificate has no subjectAltName for a DNS name (a subject CN "
		                 "alone is not accepted)");
		name_bad = true;
	} else if (!own || !theirs || (status & GNUTLS_CERT_UNEXPECTED_OWNER)) {
		char r2[TLS_NAMES_SHOWN + 64];
		snprintf(r2, sizeof(r2), "name mismatch: certificate is for %s",
		         names[0] ? names : "other names");
		add_reason(reasons, sizeof(reasons), r2);
		name_bad = true;
	}
	if (reasons[0]) {
		const char *fix = "pin it with tls_fingerprint or fix the trust file";
		if (chain & GNUTLS_CERT_REVOKED)
			fix = "the server's operator must replace the revoked certificate";
		else if (name_bad && !chain)
			fix = has_san ? "connect with a name the certificate is for, or pin it "
			                "with tls_fingerprint"
			              : "the server needs a certificate with a subjectAltName, or "
			                "pin it with tls_fingerprint";
		refuse(t, reasons, fp, issuer, fix);
		goto out;
	}
	snprintf(t->verdict, sizeof(t->verdict), "ok: chain to %s%s%s%s, name %s",
	         t->trust_file ? "tls_trust_file " : "the system trust store",
	         t->trust_file ? t->trust_file : "", t->crl_file ? ", CRLs checked" : "",
	         gnutls_ocsp_status_request_is_checked(session, 0)
	             ? ", stapled OCSP response checked"
	             : "",
	         t->name);
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* Wait for the socket in the direction GnuTLS is blocked on. */
static int
wait_io(struct tls *t, const char *what, int64_t deadline, struct err *e)
{
	struct err w;
	short ev = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;

	err_clear(&w);
	if (conn_wait(t->fd, ev, deadline, &w) == 0)
		return 0;
	/* conn_wait says "wait for server: REASON"; keep the reason under our own verb. */
	const char *why = strstr(w.text, ": ");
	return err_set(e, w.kind ? w.kind : ERR_TEMP, "%s %s: %s", what, t->name,
	               why ? why + 2 : "timed out");
}

static bool
connection_lost(int r)
{
	/* GNUTLS_E_INVALID_SESSION: an earlier error already ended the session. */
	return r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
	       r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
	       r == GNUTLS_E_INVALID_SESSION;
}

/*
 * What an alert about client certificates means for the profile: the server asked for one
 * (RFC 8446 §4.3.2, RFC 5246 §7.4.4) and we had none, or it did not accept ours. TLS 1.3
 * servers judge the client's certificate after the client's Finished, so this alert may
 * come with the first read rather than in the handshake.
 */
static void
client_cert_hint(const struct tls *t, gnutls_alert_description_t a, char *out, size_t outlen)
{
	bool cert_alert = a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE ||
	                  a == GNUTLS_A_UNSUPPORTED_CERTIFICATE ||
	                  a == GNUTLS_A_CERTIFICATE_REVOKED || a == GNUTLS_A_CERTIFICATE_EXPIRED ||
	                  a == GNUTLS_A_CERTIFICATE_UNKNOWN || a == GNUTLS_A_UNKNOWN_CA ||
	                  a == GNUTLS_A_ACCESS_DENIED || a == GNUTLS_A_HANDSHAKE_FAILURE;

	out[0] = '\0';
	if (!gnutls_certificate_client_get_request_status(t->session))
		return;
	/* Servers differ in the alert they send for a missing certificate (OpenSSL:
	 * certificate_required or handshake_failure, GnuTLS: decode_error). */
	if (!t->client_cert)
		snprintf(out, outlen,
		         "; the server asked for a client certificate: set tls_cert_file and "
		         "tls_key_file");
	else if (!cert_alert)
		return;
	else if (!gnutls_certificate_get_ours(t->session))
		snprintf(out, outlen,
		         "; the server asked for a client certificate and tls_cert_file %.100s "
		         "is not from a CA it accepts",
		         t->cert_file);
	else
		snprintf(out, outlen,
		         "; the server did not accept the client certificate in tls_cert_file "
		         "%.100s",
		         t->cert_file);
}

/* Turn a fatal GnuTLS error into an err of the right kind. */
static int
fatal_error(struct tls *t, const char *what, int r, struct err *e)
{
	if (connection_lost(r)) {
		/* Some servers (Exim over GnuTLS, measured) hang up without an alert when a
		 * client certificate they require is missing. Asked for one, had none, and cut
		 * off before the server said a word: a refusal, not a network fault, so no
		 * retry (SEC-37: TLS that cannot be had is 69). */
		if (!t->got_data && !t->client_cert && !t->resumed &&
		    gnutls_certificate_client_get_request_status(t->session))
			return err_set(
			    e, ERR_TLS,
			    "%s %s: the server hung up right after asking for a client "
			    "certificate, and none is configured: if it requires one, set "
			    "tls_cert_file and tls_key_file",
			    what, t->name);
		return err_set(e, ERR_TEMP, "%s %s: connection lost", what, t->name);
	}
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);
		const char *name = gnutls_alert_get_name(a);
		if (a == GNUTLS_A_PROTOCOL_VERSION && t->tls13_only)
			return err_set(e, ERR_TLS,
			               "%s %s: the server refused TLS 1.3 (alert \"%s\"); "
			               "tls_min_version 1.3 allows nothing older",
			               what, t->name, name ? name : "protocol version");
		if (a == GNUTLS_A_PROTOCOL_VERSION)
			return err_set(e, ERR_TLS,
			               "%s %s: the server refused TLS 1.3 and 1.2 (alert \"%s\"); "
			               "older versions are not used (RFC 8996)",
			               what, t->name, name ? name : "protocol version");
		/* A server without TLS 1.3 may answer a ClientHello that offers nothing else
		 * with a plain handshake_failure (GnuTLS does). */
		char hint[200];
		client_cert_hint(t, a, hint, sizeof(hint));
		if (!hint[0] && t->tls13_only && a == GNUTLS_A_HANDSHAKE_FAILURE &&
		    gnutls_protocol_get_version(t->session) != GNUTLS_TLS1_3)
			snprintf(hint, sizeof(hint),
			         "; the server may not speak TLS 1.3, and tls_min_version 1.3 "
			         "allows nothing older");
		return err_set(e, ERR_TLS, "%s %s: the server sent the TLS alert \"%s\"%s", what,
		               t->name, name ? name : "unknown", hint);
	}
	if (r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET && t->tls13_only)
		return err_set(e, ERR_TLS,
		               "%s %s: the server offers only TLS 1.2 or older; tls_min_version "
		               "1.3 allows nothing older",
		               what, t->name);
	if (r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		return err_set(
		    e, ERR_TLS,
		    "%s %s: the server offers only a TLS version older than 1.2 (RFC 8996)", what,
		    t->name);
	return err_set(e, ERR_TLS, "%s %s: %s", what, t->name, gnutls_strerror(r));
}

/* A trust or CRL file is read whole by GnuTLS: never a FIFO or a device, which could make it
 * wait for ever or read without end (SEC-34), nor a file beyond any real bundle's size. */
#define TLS_PEM_FILE_MAX (16 * 1024 * 1024)

/* Whether FILE is a readable regular file of sane size; else ERR_CONFIG naming WHAT. GnuTLS
 * says only "error while reading file": ask the system why first. */
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

static int
load_trust(gnutls_certificate_credentials_t cred, const char *file, struct err *e)
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
static int
load_crl(gnutls_certificate_credentials_t cred, const char *file, struct err *e)
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
 * ours any more.
 */
static int
check_key_file(const char *what, const char *file, struct err *e)
{
	struct stat st;

	if (stat(file, &st) != 0 || access(file, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "load %s %s: %s", what, file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFIG, "load %s %s: not a regular file", what, file);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return err_set(e, ERR_CONFIG,
		               "load %s %s: the private key is open to others (mode %04o); run "
		               "chmod 600 %s",
		               what, file, (unsigned)(st.st_mode & 07777), file);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return err_set(e, ERR_CONFIG,
		               "load %s %s: the private key belongs to another user (uid %u); "
		               "use a copy of your own with mode 600",
		               what, file, (unsigned)st.st_uid);
	return 0;
}

/*
 * The client certificate chain and its key, sent when the server asks for one (RFC 8446
 * §4.4.2, RFC 5246 §7.4.6). Files are PEM; a "pkcs11:" URI (RFC 7512) or another URI GnuTLS
 * supports goes to GnuTLS's own loader as it is (a PIN can ride in the URI as pin-value or
 * pin-source). Errors name the setting, the file and GnuTLS's reason.
 */
static int
load_client_cert(struct tls *t, const struct tls_config *cfg, struct err *e)
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

#define SESSION_MAGIC "postie-tls-session 1 "
#define SESSION_MAX (64 * 1024)

/* Everything a cached session was verified under: a session saved under other settings
 * (another host, trust file, pin or priorities) is never offered. */
static void
set_params(struct tls *t, const struct tls_config *cfg)
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

static void
hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Offer the cached session in PATH when it was made under the same settings. Any problem
 * means a full handshake, never a failure. */
static void
load_session(struct tls *t, const char *path)
{
	char head[sizeof(SESSION_MAGIC) + 2 * TLS_SHA256_LEN + 1];
	char want[sizeof(head)];
	unsigned char *data = NULL;
	struct stat st;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) || st.st_size <= (off_t)sizeof(head) || st.st_size > SESSION_MAX)
		goto out;
	size_t n = (size_t)st.st_size;
	data = xmalloc(n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, data + got, n - got);
		if (r <= 0)
			goto out;
		got += (size_t)r;
	}
	memcpy(head, SESSION_MAGIC, sizeof(SESSION_MAGIC) - 1);
	hex(head + sizeof(SESSION_MAGIC) - 1, t->params, TLS_SHA256_LEN);
	head[sizeof(head) - 2] = '\n';
	memcpy(want, head, sizeof(head) - 1);
	if (memcmp(data, want, sizeof(head) - 1) != 0)
		goto out;
	gnutls_datum_t d = {data + sizeof(head) - 1, (unsigned)(n - (sizeof(head) - 1))};
	gnutls_session_set_data(t->session, d.data, d.size);
out:
	if (data) {
		explicit_bzero(data, (size_t)st.st_size);
		free(data);
	}
	close(fd);
}

/*
 * Everything the configuration says that can be checked without a server: the name, the
 * pins, the version floor, the priority string, the files (trust file readable, CRLs and the
 * client certificate and key loaded into t->cred). Shared by tls_start and
 * tls_check_config, so both refuse the same things with the same words.
 */
static int
configure(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	const char *errpos = NULL;

	if (!cfg->host)
		return err_set(e, ERR_SOFTWARE, "start TLS: no server name");
	t->certcheck = cfg->certcheck;
	if (set_name(t, cfg->host, e) < 0)
		return -1;
	if (cfg->fingerprint) {
		if (parse_pin(t->pin, cfg->fingerprint, e) < 0)
			return -1;
		t->pinned = true;
	}
	if (cfg->pin_spki) {
		if (parse_spki_pin(t->spki_pin, cfg->pin_spki, e) < 0)
			return -1;
		t->spki_pinned = true;
	}
	/* SEC-10: 1.2 is the floor (RFC 8996); 1.3 may be required. */
	if (cfg->min_version == 13)
		t->tls13_only = true;
	else if (cfg->min_version != 0 && cfg->min_version != 12)
		return err_set(e, ERR_CONFIG,
		               "check tls_min_version: %d.%d is not possible; say 1.2 or 1.3 "
		               "(nothing older than TLS 1.2 is used, RFC 8996)",
		               cfg->min_version / 10, cfg->min_version % 10);

	/* SEC-10: a profile's own priority string can tune ciphers, never open TLS < 1.2;
	 * tls_min_version 1.3 takes 1.2 away as well. */
	char prio[1024];
	if (cfg->priorities) {
		int n = snprintf(prio, sizeof(prio), "%s:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1%s",
		                 cfg->priorities, t->tls13_only ? ":-VERS-TLS1.2" : "");
		if (n < 0 || (size_t)n >= sizeof(prio))
			return err_set(e, ERR_CONFIG, "set tls_priorities: longer than %zu bytes",
			               sizeof(prio) - 60);
	} else {
		snprintf(prio, sizeof(prio), "%s",
		         t->tls13_only ? TLS_13_PRIORITIES : TLS_DEFAULT_PRIORITIES);
	}
	int r = gnutls_priority_init(&t->prio, prio, &errpos);
	if (r < 0) {
		t->prio = NULL;
		if (r == GNUTLS_E_INVALID_REQUEST && errpos)
			return err_set(e, ERR_CONFIG, "set tls_priorities: error at \"%.40s\"",
			               errpos);
		return err_set(e, ERR_CONFIG, "set tls_priorities \"%.80s\": %s", prio,
		               gnutls_strerror(r));
	}

	if (gnutls_certificate_allocate_credentials(&t->cred) < 0) {
		t->cred = NULL;
		return err_set(e, ERR_OS, "start TLS: out of memory");
	}
	/* Trust is loaded only when it decides anything (in verify_peer): a pin replaces it,
	 * certcheck off ignores it, a resumed session needs none. A trust file that cannot be
	 * read is still reported here, before any byte goes out. */
	bool pinned = t->pinned || t->spki_pinned;
	if (cfg->trust_file) {
		if (!pinned && t->certcheck && access(cfg->trust_file, R_OK) != 0)
			return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", cfg->trust_file,
			               strerror(errno));
		t->trust_file = xstrdup(cfg->trust_file);
	}
	/* CRLs only mean something next to CA trust, which a pin replaces. They are loaded
	 * now, not lazily with the trust store: they are small, and a broken file is better
	 * reported before any byte goes out. */
	if (cfg->crl_file && !pinned && t->certcheck) {
		if (load_crl(t->cred, cfg->crl_file, e) < 0)
			return -1;
		t->crl_file = xstrdup(cfg->crl_file);
	}
	if ((cfg->cert_file || cfg->key_file) && load_client_cert(t, cfg, e) < 0)
		return -1;
	return 0;
}

/* The GnuTLS session over t->fd, ready for the handshake. */
static int
setup(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	int r;

	gnutls_certificate_set_verify_function(t->cred, verify_peer);
	r = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->session = NULL;
		return err_set(e, ERR_OS, "start TLS: %s", gnutls_strerror(r));
	}
	gnutls_session_set_ptr(t->session, t);
	r = gnutls_priority_set(t->session, t->prio);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "set tls_priorities: %s", gnutls_strerror(r));
	/* RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName". */
	if (!t->is_ip) {
		r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, t->name, strlen(t->name));
		if (r < 0)
			return err_set(e, ERR_CONFIG, "set TLS server name %s: %s", t->name,
			               gnutls_strerror(r));
	}
	r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (r < 0)
		return err_set(e, ERR_OS, "start TLS: %s", gnutls_strerror(r));
	gnutls_transport_set_int(t->session, t->fd);
	set_params(t, cfg);
	if (cfg->session_file)
		load_session(t, cfg->session_file);
	/* Our deadline governs, not GnuTLS's own handshake timer. */
	gnutls_handshake_set_timeout(t->session, GNUTLS_INDEFINITE_TIMEOUT);
	return 0;
}

static int
handshake(struct tls *t, int64_t deadline, struct err *e)
{
	for (;;) {
		int r = gnutls_handshake(t->session);
		if (r == 0)
			return 0;
		if (t->verify_failed) {
			*e = t->verr;
			return -1;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "TLS handshake with", deadline, e) < 0)
				return -1;
			continue;
		}
		/* Warning alerts (and other non-fatal results) let the handshake go on; the
		 * deadline still bounds a server that sends nothing else. */
		if (!gnutls_error_is_fatal(r)) {
			if (conn_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "TLS handshake with %s: timed out",
				               t->name);
			continue;
		}
		return fatal_error(t, "TLS handshake with", r, e);
	}
}

int
tls_check_config(const struct tls_config *cfg, struct err *e)
{
	struct tls *t = xcalloc(1, sizeof(*t));
	int rc = configure(t, cfg, e);

	free_session(t);
	return rc;
}

int
tls_start(struct tls **out, int fd, const struct tls_config *cfg, int64_t deadline, struct err *e)
{
	struct tls *t;
	int fl;

	*out = NULL;
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	err_clear(&t->verr);
	/* A resumed session is not verified again: what was verified is in the cache key. */
	snprintf(t->verdict, sizeof(t->verdict),
	         "not checked in this handshake (a resumed session, verified when it was made)");
	if (configure(t, cfg, e) < 0)
		goto fail;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err_set(e, ERR_OS, "start TLS: make the socket non-blocking: %s", strerror(errno));
		goto fail;
	}
	if (setup(t, cfg, e) < 0)
		goto fail;
	if (handshake(t, deadline, e) < 0) {
		/* --serverinfo describes a server it could not verify, then fails. */
		if (t->verify_failed && cfg->keep_failed) {
			t->failed = true;
			*out = t;
			return -1;
		}
		goto fail;
	}

	gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
	/* SEC-10, in depth: whatever the priority string, nothing older than TLS 1.2. */
	if (v != GNUTLS_TLS1_2 && v != GNUTLS_TLS1_3) {
		err_set(e, ERR_TLS,
		        "TLS handshake with %s: the server chose %s; TLS 1.2 or newer "
		        "is required (RFC 8996)",
		        t->name, gnutls_protocol_get_name(v));
		goto fail;
	}
	if (t->tls13_only && v != GNUTLS_TLS1_3) {
		err_set(e, ERR_TLS,
		        "TLS handshake with %s: the server chose %s; tls_min_version 1.3 "
		        "requires TLS 1.3",
		        t->name, gnutls_protocol_get_name(v));
		goto fail;
	}
	const char *pname = gnutls_protocol_get_name(v);
	const char *cname = gnutls_cipher_get_name(gnutls_cipher_get(t->session));
	t->resumed = gnutls_session_is_resumed(t->session) != 0;
	snprintf(t->desc, sizeof(t->desc), "%s %s%s", pname ? pname : "TLS",
	         cname ? cname : "unknown-cipher", t->resumed ? " (resumed)" : "");
	*out = t;
	return 0;
fail:
	free_session(t);
	return -1;
}

/* A session kept after a failed verification carries nothing. */
static int
refuse_failed(const struct tls *t, const char *what, struct err *e)
{
	return err_set(e, ERR_SOFTWARE, "%s %s: the TLS session failed verification", what,
	               t->name);
}

ssize_t
tls_read(struct tls *t, void *p, size_t n, int64_t deadline, struct err *e)
{
	unsigned idle = 0; /* records in a row that brought no data */

	if (t->failed)
		return refuse_failed(t, "read from", e);
	for (;;) {
		ssize_t r = gnutls_record_recv(t->session, p, n);
		if (r > 0)
			t->got_data = true;
		if (r >= 0)
			return r; /* 0: close_notify, a clean end (RFC 8446 §6.1) */
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "read from", deadline, e) < 0)
				return -1;
			continue;
		}
		/* RFC 5246 §7.4.1.1: a client may ignore a HelloRequest; we do not renegotiate
		 * (it could swap the verified certificate for another). TLS 1.3 key updates
		 * and tickets are handled inside GnuTLS. Warning alerts are not fatal. */
		if (r == GNUTLS_E_REHANDSHAKE || !gnutls_error_is_fatal((int)r)) {
			if (conn_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "read from %s: timed out", t->name);
			/* SEC-34: a server that only sends warnings or hello requests must not
			 * keep this loop busy until the deadline. */
			if (++idle > TLS_IDLE_RECORDS_MAX)
				return err_set(e, ERR_PROTO,
				               "read from %s: %u TLS records in a row "
				               "without data (%s)",
				               t->name, idle, gnutls_strerror((int)r));
			continue;
		}
		return fatal_error(t, "read from", (int)r, e);
	}
}

int
tls_write(struct tls *t, const void *p, size_t n, int64_t deadline, struct err *e)
{
	const char *s = p;
	unsigned idle = 0; /* tries in a row that sent nothing */

	if (t->failed)
		return refuse_failed(t, "send to", e);
	while (n > 0) {
		/* After GNUTLS_E_AGAIN the same buffer is offered again, as GnuTLS requires. */
		ssize_t r = gnutls_record_send(t->session, s, n);
		if (r > 0) {
			s += r;
			n -= (size_t)r;
			continue;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "send to", deadline, e) < 0)
				return -1;
			continue;
		}
		if (r == 0 || !gnutls_error_is_fatal((int)r)) {
			if (conn_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "send to %s: timed out", t->name);
			/* SEC-34: no busy loop on a send that makes no progress. */
			if (++idle > TLS_IDLE_RECORDS_MAX)
				return err_set(e, ERR_PROTO,
				               "send to %s: no progress after %u tries "
				               "(%s)",
				               t->name, idle,
				               r ? gnutls_strerror((int)r) : "0 bytes");
			continue;
		}
		/* The server may have said why before it closed: a TLS 1.3 server judges our
		 * certificate after our Finished (RFC 8446 §4.4.2.4), so its alert can be
		 * waiting unread when our first write finds the connection gone. */
		if (connection_lost((int)r)) {
			char c;
			ssize_t rr = gnutls_record_recv(t->session, &c, 1);
			if (rr == GNUTLS_E_FATAL_ALERT_RECEIVED)
				return fatal_error(t, "send to", (int)rr, e);
		}
		return fatal_error(t, "send to", (int)r, e);
	}
	return 0;
}

bool
tls_pending(const struct tls *t)
{
	return !t->failed && gnutls_record_check_pending(t->session) > 0;
}

const char *
tls_describe(const struct tls *t)
{
	return t->desc;
}

bool
tls_resumed(const struct tls *t)
{
	return t->resumed;
}

bool
tls_client_cert_sent(const struct tls *t)
{
	if (t->failed)
		return false;
	/* A resumed session carries the authentication of the one it resumes (RFC 8446
	 * §2.2, RFC 5246 §7.3): no certificate goes over the wire again. */
	if (t->resumed)
		return t->client_cert;
	return gnutls_certificate_get_ours(t->session) != NULL;
}

/* Print LEN bytes of S with everything outside printable ASCII as \xNN: certificate text
 * comes from the server, and a terminal must not take it for control sequences. (GnuTLS
 * writes a backslash of a name as "\\", RFC 4514 §2.4, so a "\x1B" shown is never text.) */
static void
put_safe(FILE *out, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			putc(s[i], out);
		else
			fprintf(out, "\\x%02X", s[i]);
	}
}

static void
print_dn(FILE *out, const char *label, gnutls_x509_crt_t crt, bool issuer)
{
	gnutls_datum_t d = {NULL, 0};
	int r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
	               : gnutls_x509_crt_get_dn3(crt, &d, 0);

	fprintf(out, "  %s: ", label);
	if (r == 0 && d.size > 0)
		put_safe(out, d.data, d.size);
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
	san_matches(t, crt, &has_san, text, sizeof(text));
	fputs("  Names: ", out);
	if (text[0])
		put_safe(out, text, strlen(text));
	else
		fputs("(no subjectAltName)", out);
	putc('\n', out);
	print_dn(out, "Issuer", crt, true);
	format_time(text, sizeof(text), gnutls_x509_crt_get_activation_time(crt));
	fprintf(out, "  Not before: %s\n", text);
	format_time(text, sizeof(text), gnutls_x509_crt_get_expiration_time(crt));
	fprintf(out, "  Not after: %s\n", text);
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, d, &dlen) == 0 && dlen == sizeof(d)) {
		format_fingerprint(text, sizeof(text), d);
		fprintf(out, "  SHA-256 fingerprint: %s\n", text);
	}
	if (spki_digest(crt, d) == 0) {
		format_spki_pin(text, sizeof(text), d);
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
			put_safe(out, dn.data, dn.size);
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
	if (stapled_status(t, &status, &tu, &nu, &rev) < 0) {
		fputs("no response stapled\n", out);
		return;
	}
	format_time(a, sizeof(a), tu);
	format_time(b, sizeof(b), nu);
	if (status == GNUTLS_OCSP_CERT_GOOD)
		fputs("stapled response: good", out);
	else if (status == GNUTLS_OCSP_CERT_REVOKED)
		fputs("stapled response: revoked", out);
	else
		fputs("stapled response: status unknown", out);
	if (status == GNUTLS_OCSP_CERT_REVOKED) {
		format_time(a, sizeof(a), rev);
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
tls_save_session(struct tls *t, const char *path, struct err *e)
{
	gnutls_datum_t d = {NULL, 0};
	char tmp[4096];
	char head[sizeof(SESSION_MAGIC) + 2 * TLS_SHA256_LEN + 1];
	int rc = -1;

	if (t->failed)
		return 0; /* never cache what was not verified */
	/* RFC 8446 §4.6.1: a TLS 1.3 session can be resumed only with a ticket. */
	if (gnutls_protocol_get_version(t->session) == GNUTLS_TLS1_3 &&
	    !(gnutls_session_get_flags(t->session) & GNUTLS_SFLAGS_SESSION_TICKET))
		return 0;
	if (gnutls_session_get_data2(t->session, &d) < 0 || d.size == 0 ||
	    d.size > SESSION_MAX - sizeof(head))
		goto out_ok;
	memcpy(head, SESSION_MAGIC, sizeof(SESSION_MAGIC) - 1);
	hex(head + sizeof(SESSION_MAGIC) - 1, t->params, TLS_SHA256_LEN);
	head[sizeof(head) - 2] = '\n';
	int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		err_set(e, ERR_OS, "save TLS session: path too long");
		goto out;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, ERR_OS, "save TLS session %s: %s", tmp, strerror(errno));
		goto out;
	}
	bool good = write(fd, head, sizeof(head) - 1) == (ssize_t)(sizeof(head) - 1) &&
	            write(fd, d.data, d.size) == (ssize_t)d.size;
	if (close(fd) < 0)
		good = false;
	if (!good || rename(tmp, path) < 0) {
		err_set(e, ERR_OS, "save TLS session %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
out_ok:
	rc = 0;
out:
	if (d.data) {
		explicit_bzero(d.data, d.size);
		gnutls_free(d.data);
	}
	return rc;
}

int
tls_channel_binding(struct tls *t, const char **type, struct buf *out, struct err *e)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
	gnutls_channel_binding_t kind;
	gnutls_datum_t cb = {NULL, 0};
	const char *name;

	*type = NULL;
	if (t->failed)
		return refuse_failed(t, "get TLS channel binding for", e);
	if (v == GNUTLS_TLS1_3) {
		/* RFC 9266 §2: tls-unique is not defined for TLS 1.3; tls-exporter is. */
		kind = GNUTLS_CB_TLS_EXPORTER;
		name = "tls-exporter";
	} else if (v == GNUTLS_TLS1_2) {
		/* RFC 7627 §1 (the triple handshake): without the extended master secret a
		 * resumed session can carry the Finished of another connection. */
		if (!gnutls_session_ext_master_secret_status(t->session))
			return err_set(e, ERR_TLS,
			               "get TLS channel binding for %s: TLS 1.2 without the "
			               "extended master secret (RFC 7627) has no safe one",
			               t->name);
		kind = GNUTLS_CB_TLS_UNIQUE;
		name = "tls-unique";
	} else {
		return err_set(e, ERR_TLS, "get TLS channel binding for %s: not TLS 1.2 or 1.3",
		               t->name);
	}
	int r = gnutls_session_channel_binding(t->session, kind, &cb);
	if (r < 0)
		return err_set(e, ERR_TLS, "get TLS channel binding %s for %s: %s", name, t->name,
		               gnutls_strerror(r));
	int rc = cb.size ? buf_append(out, cb.data, cb.size, e)
	                 : err_set(e, ERR_TLS, "get TLS channel binding %s for %s: empty", name,
	                           t->name);
	if (cb.data) {
		explicit_bzero(cb.data, cb.size);
		gnutls_free(cb.data);
	}
	if (rc == 0)
		*type = name;
	return rc;
}

void
tls_free(struct tls *t)
{
	if (!t)
		return;
	/* One non-blocking close_notify attempt (RFC 8446 §6.1); never wait for the
	 * server's. If the socket is full or gone, the close of FD ends the session anyway.
	 * A handshake that failed has already sent its alert. */
	if (!t->failed)
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
	free_session(t);
}
