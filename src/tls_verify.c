/*
 * tls_verify: the verdict on the server's certificate, given inside the handshake (a GnuTLS
 * verify callback), so a refused certificate ends the handshake with an alert before the
 * client's Finished and before any application byte (SEC-11). Three checks, each giving a
 * reason and a fix: the pins (SEC-9, RFC 7469 §2.4), which replace the other two; the chain
 * (RFC 5280, §6.3 CRLs, stapled OCSP responses: RFC 6066 §8, RFC 8446 §4.4.2.1, RFC 6960)
 * and the name (RFC 9525: subjectAltName only, the wildcard as the whole left-most label,
 * SEC-6, SEC-7). A refusal names the reason, the certificate's SHA-256 fingerprint, its
 * issuer and the fix.
 */
#include "tls_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <idn2.h>

#include "buf.h"
#include "codec.h"

/* How much of the certificate's names and issuer go into a message. */
#define TLS_NAMES_SHOWN 160
#define TLS_ISSUER_SHOWN 96

/*
 * SEC-9: the pin is a SHA-256 digest, 64 hex digits, all together or as "AB:CD:.." pairs.
 * Anything else, in particular a 40-digit SHA-1 or 32-digit MD5 pin, is refused.
 */
static int
parse_pin(unsigned char *out, const char *s, struct err *e)
{
	if (codec_hex_fingerprint(s, out, TLS_SHA256_LEN) != TLS_SHA256_LEN)
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
	struct buf d;

	if (strncasecmp(s, "sha256//", 8) == 0)
		s += 8;
	size_t len = strlen(s);
	buf_init(&d, TLS_SHA256_LEN);
	bool good =
	    len == 44 && codec_base64_decode(&d, s, len, NULL) == 0 && d.len == TLS_SHA256_LEN;
	if (good)
		memcpy(out, d.data, TLS_SHA256_LEN);
	buf_fini(&d);
	if (!good)
		return err_set(e, ERR_CONFIG,
		               "check tls_fingerprint sha256//%.60s: not the base64 of a SHA-256 "
		               "digest (44 characters ending in \"=\")",
		               s);
	return 0;
}

int
tls_verify_set_pins(struct tls *t, const struct tls_config *cfg, struct err *e)
{
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
int
tls_verify_spki_digest(gnutls_x509_crt_t crt, unsigned char *out)
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
void
tls_verify_format_spki_pin(char *out, size_t outlen, const unsigned char *d)
{
	struct buf b;

	buf_init(&b, 64);
	if (buf_puts(&b, "sha256//", NULL) == 0 &&
	    codec_base64_encode(&b, d, TLS_SHA256_LEN, NULL) == 0 && b.len < outlen)
		memcpy(out, b.data, b.len + 1);
	else
		snprintf(out, outlen, "unknown");
	buf_fini(&b);
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
int
tls_verify_set_name(struct tls *t, const char *host, struct err *e)
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
void
tls_verify_format_fingerprint(char *out, size_t outlen, const unsigned char *d)
{
	size_t o = 0;

	for (size_t i = 0; i < TLS_SHA256_LEN && o + 3 < outlen; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = codec_hex_digit(d[i] >> 4, true);
		out[o++] = codec_hex_digit(d[i], true);
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

void
tls_verify_issuer_name(gnutls_x509_crt_t crt, char *out, size_t outlen)
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
bool
tls_verify_san_matches(const struct tls *t, gnutls_x509_crt_t crt, bool *has_san, char *names,
                       size_t nameslen)
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

void
tls_verify_format_utc(char *out, size_t outlen, time_t when, bool with_time)
{
	struct tm tm;

	if (when == (time_t)-1 || !gmtime_r(&when, &tm) ||
	    strftime(out, outlen, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm) == 0)
		snprintf(out, outlen, with_time ? "unknown" : "an unknown date");
}

/*
 * The server's stapled OCSP response for its own certificate (RFC 6066 §8; in TLS 1.3 in
 * the Certificate message, RFC 8446 §4.4.2.1), decoded: 0 and its status and times, or -1
 * when there is none or it cannot be read. Only the message text uses this: whether the
 * response is genuine is decided by GnuTLS's verification.
 */
int
tls_verify_stapled_status(struct tls *t, unsigned *status, time_t *this_upd, time_t *next_upd,
                          time_t *revoked)
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

	if (tls_verify_stapled_status(t, &status, &tu, &nu, &when) == 0 &&
	    status == GNUTLS_OCSP_CERT_REVOKED) {
		tls_verify_format_utc(date, sizeof(date), when, false);
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

/* The status bits whose reason is a fixed text, in the order they are reported. */
static const struct {
	unsigned bit;
	const char *reason;
} plain[] = {
    {GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED, "revocation data (CRL or OCSP response) out of date"},
    {GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE,
     "revocation data (CRL or OCSP response) dated in the future"},
    {GNUTLS_CERT_INSECURE_ALGORITHM, "signed with an insecure algorithm"},
    {GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature"},
    {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "issuer's constraints violated"},
    {GNUTLS_CERT_PURPOSE_MISMATCH, "certificate is not for a TLS server"},
    {GNUTLS_CERT_MISSING_OCSP_STATUS,
     "the certificate requires a stapled OCSP response (must-staple) and the server sent none"},
    {GNUTLS_CERT_INVALID_OCSP_STATUS, "the OCSP response the server stapled is not valid"},
    {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "unknown critical extension"},
    {GNUTLS_CERT_MISMATCH, "certificate differs from the expected one"},
};

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
		tls_verify_format_utc(date, sizeof(date), gnutls_x509_crt_get_expiration_time(crt),
		                      false);
		snprintf(r, sizeof(r), "certificate expired on %s", date);
		add_reason(out, outlen, r);
	}
	if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		tls_verify_format_utc(date, sizeof(date), gnutls_x509_crt_get_activation_time(crt),
		                      false);
		snprintf(r, sizeof(r), "certificate not yet valid (from %s)", date);
		add_reason(out, outlen, r);
	}
	if (status & GNUTLS_CERT_REVOKED) {
		char rr[160];
		revocation_reason(t, rr, sizeof(rr));
		add_reason(out, outlen, rr);
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (status & plain[i].bit)
			add_reason(out, outlen, plain[i].reason);
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

/* The server's certificate, as the checks and the messages need it. */
struct peer {
	gnutls_x509_crt_t crt;
	unsigned char digest[TLS_SHA256_LEN];
	bool has_digest;
	char fp[3 * TLS_SHA256_LEN + 1]; /* "AA:BB:..." or "unknown" */
	char issuer[256];
};

/* A check's verdict: why it refuses the server (empty: it does not) and what would fix it. */
struct refusal {
	char reason[384];
	const char *fix; /* NULL: the caller's default */
};

#define FIX_TRUST "pin it with tls_fingerprint or fix the trust file"

/* Fill R and return -1: the way a check refuses. */
static int
refused(struct refusal *r, const char *reason, const char *fix)
{
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->fix = fix;
	return -1;
}

/* The server's first certificate into P: 0, or -1 when it is refused already. */
static int
read_peer(struct tls *t, gnutls_session_t session, struct peer *p)
{
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	size_t dlen = sizeof(p->digest);

	memset(p, 0, sizeof(*p));
	snprintf(p->fp, sizeof(p->fp), "unknown");
	snprintf(p->issuer, sizeof(p->issuer), "unknown");
	certs = gnutls_certificate_get_peers(session, &ncerts);
	if (!certs || ncerts == 0) {
		refuse(t, "the server sent no certificate", p->fp, p->issuer, "check the server");
		return -1;
	}
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], p->digest, &dlen) == 0 &&
	    dlen == TLS_SHA256_LEN) {
		p->has_digest = true;
		tls_verify_format_fingerprint(p->fp, sizeof(p->fp), p->digest);
	}
	if (gnutls_x509_crt_init(&p->crt) < 0) {
		p->crt = NULL;
		refuse(t, "out of memory", p->fp, p->issuer, "try again");
		return -1;
	}
	if (gnutls_x509_crt_import(p->crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		refuse(t, "cannot parse the certificate", p->fp, p->issuer, "check the server");
		gnutls_x509_crt_deinit(p->crt);
		p->crt = NULL;
		return -1;
	}
	tls_verify_issuer_name(p->crt, p->issuer, sizeof(p->issuer));
	return 0;
}

/* SEC-9: a pin replaces CA trust, names and dates. With both pins, both must hold. */
static int
check_pins(const struct tls *t, const struct peer *p, struct refusal *r)
{
	unsigned char key[TLS_SHA256_LEN];
	char have[64];

	if (t->pinned && !(p->has_digest && same_digest(p->digest, t->pin)))
		return refused(r, "fingerprint mismatch (the certificate is not the one pinned)",
		               "update tls_fingerprint only if the server's certificate really "
		               "changed");
	if (!t->spki_pinned)
		return 0;
	if (tls_verify_spki_digest(p->crt, key) < 0)
		return refused(r, "cannot read the certificate's public key", "check the server");
	if (same_digest(key, t->spki_pin))
		return 0;
	tls_verify_format_spki_pin(have, sizeof(have), key);
	snprintf(r->reason, sizeof(r->reason),
	         "public key pin mismatch (the server's key is %s, not the one pinned)", have);
	r->fix = "update tls_fingerprint only if the server's key really changed";
	return -1;
}

/*
 * The trust store is read only when a certificate must be checked against it: a pinned or
 * resumed session never pays for it (the system store is about 140 certificates). And then
 * only the CAs that can anchor the chain the server sent, when the store can be scanned for
 * them (tls_anchor.c); otherwise, or when a second chain comes, the whole store. -1 with
 * t->verr set when it cannot be read.
 */
static int
load_trust_once(struct tls *t, gnutls_session_t session)
{
	struct err le;
	gnutls_x509_trust_list_t tl;
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;

	if (t->trust_loaded && !t->trust_some)
		return 0;
	if (!t->trust_loaded) {
		certs = gnutls_certificate_get_peers(session, &ncerts);
		gnutls_certificate_get_trust_list(t->cred, &tl);
		if (certs && tls_anchor_add(tl, t->trust_file, certs, ncerts) > 0) {
			t->trust_loaded = t->trust_some = true;
			return 0;
		}
	}
	err_clear(&le);
	if (tls_cred_load_trust(t->cred, t->trust_file, &le) < 0) {
		t->verr = le;
		t->verify_failed = true;
		return -1;
	}
	t->trust_loaded = true;
	t->trust_some = false;
	return 0;
}

/*
 * Chain, validity, revocation and GnuTLS's name check (SEC-6): the status bits into
 * *STATUS, the chain's reasons (not the name's) into R, with R->fix set when there are any.
 * -1 only when verification could not run.
 */
static int
check_chain(struct tls *t, gnutls_session_t session, const struct peer *p, unsigned *status,
            struct refusal *r)
{
	char why[160];

	*status = 0;
	int rc = gnutls_certificate_verify_peers3(session, t->name, status);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot verify: %s", gnutls_strerror(rc));
		return refused(r, why, FIX_TRUST);
	}
	/* A name mismatch alone also sets GNUTLS_CERT_INVALID; the name is judged apart. */
	unsigned chain = *status & ~(unsigned)GNUTLS_CERT_UNEXPECTED_OWNER;
	if (chain == GNUTLS_CERT_INVALID)
		chain = 0;
	chain_reasons(t, chain, p->crt, r->reason, sizeof(r->reason));
	if (chain & GNUTLS_CERT_REVOKED)
		r->fix = "the server's operator must replace the revoked certificate";
	else if (chain)
		r->fix = FIX_TRUST;
	return 0;
}

/*
 * SEC-7: GnuTLS 3.7 still matches the subject CN of a certificate without SANs, so require a
 * SAN of the host's kind and match it ourselves as well as GnuTLS (STATUS from check_chain).
 * The reason joins R's; the fix is the name's only when the chain had none.
 */
static void
check_name(const struct tls *t, const struct peer *p, unsigned status, struct refusal *r)
{
	bool has_san = false;
	char names[TLS_NAMES_SHOWN];
	char why[TLS_NAMES_SHOWN + 64];
	bool own = tls_verify_san_matches(t, p->crt, &has_san, names, sizeof(names));
	unsigned flags = t->is_ip ? 0 : GNUTLS_VERIFY_DO_NOT_ALLOW_IP_MATCHES;
	bool theirs = gnutls_x509_crt_check_hostname2(p->crt, t->name, flags) != 0;

	if (!has_san) {
		add_reason(r->reason, sizeof(r->reason),
		           t->is_ip
		               ? "certificate has no subjectAltName for an IP address (a subject "
		                 "CN alone is not accepted)"
		               : "certificate has no subjectAltName for a DNS name (a subject CN "
		                 "alone is not accepted)");
		if (!r->fix)
			r->fix = "the server needs a certificate with a subjectAltName, or pin it "
			         "with tls_fingerprint";
	} else if (!own || !theirs || (status & GNUTLS_CERT_UNEXPECTED_OWNER)) {
		snprintf(why, sizeof(why), "name mismatch: certificate is for %s",
		         names[0] ? names : "other names");
		add_reason(r->reason, sizeof(r->reason), why);
		if (!r->fix)
			r->fix = "connect with a name the certificate is for, or pin it with "
			         "tls_fingerprint";
	}
}

/* The verdict of an accepted server, for tls_print_info. */
static void
accepted(struct tls *t, gnutls_session_t session)
{
	if (t->pinned || t->spki_pinned) {
		snprintf(t->verdict, sizeof(t->verdict), "ok: %s",
		         t->spki_pinned ? (t->pinned ? "certificate and public key pinned"
		                                     : "public key (SPKI) pinned")
		                        : "certificate pinned (SHA-256 fingerprint)");
		return;
	}
	snprintf(t->verdict, sizeof(t->verdict), "ok: chain to %s%s%s%s, name %s",
	         t->trust_file ? "tls_trust_file " : "the system trust store",
	         t->trust_file ? t->trust_file : "", t->crl_file ? ", CRLs checked" : "",
	         gnutls_ocsp_status_request_is_checked(session, 0)
	             ? ", stapled OCSP response checked"
	             : "",
	         t->name);
}

int
tls_verify_peer(gnutls_session_t session)
{
	struct tls *t = gnutls_session_get_ptr(session);
	struct refusal r = {"", NULL};
	struct peer p;
	unsigned status = 0;
	int rc = -1;

	if (!t)
		return -1;
	if (!t->pinned && !t->spki_pinned && !t->certcheck) {
		snprintf(t->verdict, sizeof(t->verdict), "not checked (tls_certcheck off)");
		return 0; /* the profile said tls_certcheck off; the caller warns */
	}
	if (read_peer(t, session, &p) < 0)
		return -1;
	if (t->pinned || t->spki_pinned) {
		rc = check_pins(t, &p, &r);
	} else if (load_trust_once(t, session) == 0 &&
	           check_chain(t, session, &p, &status, &r) == 0) {
		check_name(t, &p, status, &r);
		rc = r.reason[0] ? -1 : 0;
	}
	if (rc == 0)
		accepted(t, session);
	else if (r.reason[0])
		refuse(t, r.reason, p.fp, p.issuer, r.fix ? r.fix : FIX_TRUST);
	gnutls_x509_crt_deinit(p.crt);
	return rc;
}
