/*
 * tls: a GnuTLS client session over a connected, non-blocking socket.
 *
 * RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2), RFC 8996 and RFC 8997 (no TLS 1.0/1.1, SEC-10),
 * RFC 6066 §3 (server_name), RFC 5280 (certificate paths), RFC 9525 (service identity:
 * subjectAltName only, wildcard as the whole left-most label, SEC-6, SEC-7), RFC 8314
 * (implicit TLS for submission).
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
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "conn.h"

/* SEC-10: TLS 1.3 preferred, TLS 1.2 accepted, nothing older (GnuTLS's NORMAL alone still
 * enables TLS 1.0 and 1.1). */
#define TLS_DEFAULT_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

#define TLS_SHA256_LEN 32
/* RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text. */
#define TLS_NAME_MAX 253
/* How much of the certificate's names and issuer go into a message. */
#define TLS_NAMES_SHOWN 160
#define TLS_ISSUER_SHOWN 96

struct tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	int fd;
	char name[TLS_NAME_MAX + 1]; /* host without brackets or a trailing dot */
	bool is_ip;
	unsigned char ip[16]; /* the address when is_ip */
	size_t ip_len;        /* 4 or 16 */
	bool certcheck;
	bool pinned;
	unsigned char pin[TLS_SHA256_LEN];
	struct err verr; /* why the verify callback refused the server */
	bool verify_failed;
	char *trust_file;     /* NULL: the system store */
	bool trust_loaded;    /* loaded on first need, in the verify callback */
	bool resumed;         /* the handshake resumed a cached session */
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
	free(t->trust_file);
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

/* Copy the configured host into t->name, and note whether it is an IP literal. */
static int
set_name(struct tls *t, const char *host, struct err *e)
{
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
	if (len == 0 || len > TLS_NAME_MAX)
		return err_set(e, ERR_CONFIG, "start TLS: bad server name \"%.*s\"",
		               (int)(len > 64 ? 64 : len), host);
	memcpy(t->name, host, len);
	t->name[len] = '\0';
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

/* The status bits from gnutls_certificate_verify_peers3, each with its reason (SEC-6). */
static void
chain_reasons(unsigned status, gnutls_x509_crt_t crt, char *out, size_t outlen)
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
	if (status & GNUTLS_CERT_REVOKED)
		add_reason(out, outlen, "certificate revoked");
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		add_reason(out, outlen, "signed with an insecure algorithm");
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		add_reason(out, outlen, "bad signature");
	if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
		add_reason(out, outlen, "issuer's constraints violated");
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		add_reason(out, outlen, "certificate is not for a TLS server");
	if (status & (GNUTLS_CERT_MISSING_OCSP_STATUS | GNUTLS_CERT_INVALID_OCSP_STATUS))
		add_reason(out, outlen, "OCSP status missing or invalid");
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
	if (!t->pinned && !t->certcheck)
		return 0; /* the profile said tls_certcheck off; the caller warns */
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

	if (t->pinned) {
		if (dlen == TLS_SHA256_LEN && memcmp(digest, t->pin, TLS_SHA256_LEN) == 0)
			rc = 0;
		else
			refuse(t, "fingerprint mismatch (the certificate is not the one pinned)",
			       fp, issuer,
			       "update tls_fingerprint only if the server's certificate really "
			       "changed");
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
	chain_reasons(chain, crt, reasons, sizeof(reasons));

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
		if (name_bad && !chain)
			fix = has_san ? "connect with a name the certificate is for, or pin it "
			                "with tls_fingerprint"
			              : "the server needs a certificate with a subjectAltName, or "
			                "pin it with tls_fingerprint";
		refuse(t, reasons, fp, issuer, fix);
		goto out;
	}
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

/* Turn a fatal GnuTLS error into an err of the right kind. */
static int
fatal_error(struct tls *t, const char *what, int r, struct err *e)
{
	if (connection_lost(r))
		return err_set(e, ERR_TEMP, "%s %s: connection lost", what, t->name);
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);
		const char *name = gnutls_alert_get_name(a);
		if (a == GNUTLS_A_PROTOCOL_VERSION)
			return err_set(e, ERR_TLS,
			               "%s %s: the server refused TLS 1.3 and 1.2 (alert \"%s\"); "
			               "older versions are not used (RFC 8996)",
			               what, t->name, name ? name : "protocol version");
		return err_set(e, ERR_TLS, "%s %s: the server sent the TLS alert \"%s\"", what,
		               t->name, name ? name : "unknown");
	}
	if (r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		return err_set(
		    e, ERR_TLS,
		    "%s %s: the server offers only a TLS version older than 1.2 (RFC 8996)", what,
		    t->name);
	return err_set(e, ERR_TLS, "%s %s: %s", what, t->name, gnutls_strerror(r));
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
	/* GnuTLS says only "error while reading file"; ask the system why first. */
	if (access(file, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", file, strerror(errno));
	r = gnutls_certificate_set_x509_trust_file(cred, file, GNUTLS_X509_FMT_PEM);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", file,
		               gnutls_strerror(r));
	if (r == 0)
		return err_set(e, ERR_CONFIG, "load tls_trust_file %s: no PEM certificates in it",
		               file);
	return 0;
}

#define SESSION_MAGIC "postie-tls-session 1 "
#define SESSION_MAX (64 * 1024)

/* Everything a cached session was verified under: a session saved under other settings
 * (another host, trust file, pin or priorities) is never offered. */
static void
set_params(struct tls *t, const struct tls_config *cfg)
{
	char text[4096];
	int n = snprintf(text, sizeof(text), "%s%c%s%c%s%c%d%c%s", t->name, 0,
	                 cfg->trust_file ? cfg->trust_file : "system", 0,
	                 cfg->fingerprint ? cfg->fingerprint : "", 0, cfg->certcheck, 0,
	                 cfg->priorities ? cfg->priorities : "");
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

static int
setup(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	int r;
	const char *errpos = NULL;

	if (gnutls_certificate_allocate_credentials(&t->cred) < 0)
		return err_set(e, ERR_OS, "start TLS: out of memory");
	/* Trust is loaded only when it decides anything (in verify_peer): a pin replaces it,
	 * certcheck off ignores it, a resumed session needs none. A trust file that cannot be
	 * read is still reported here, before any byte goes out. */
	if (cfg->trust_file) {
		if (!t->pinned && t->certcheck && access(cfg->trust_file, R_OK) != 0)
			return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", cfg->trust_file,
			               strerror(errno));
		t->trust_file = xstrdup(cfg->trust_file);
	}
	gnutls_certificate_set_verify_function(t->cred, verify_peer);

	r = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->session = NULL;
		return err_set(e, ERR_OS, "start TLS: %s", gnutls_strerror(r));
	}
	gnutls_session_set_ptr(t->session, t);
	/* SEC-10: a profile's own priority string can tune ciphers, never open TLS < 1.2. */
	char prio[1024];
	if (cfg->priorities) {
		int n = snprintf(prio, sizeof(prio), "%s:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1",
		                 cfg->priorities);
		if (n < 0 || (size_t)n >= sizeof(prio))
			return err_set(e, ERR_CONFIG, "set tls_priorities: longer than %zu bytes",
			               sizeof(prio) - 40);
	} else {
		snprintf(prio, sizeof(prio), "%s", TLS_DEFAULT_PRIORITIES);
	}
	r = gnutls_priority_set_direct(t->session, prio, &errpos);
	if (r < 0) {
		if (r == GNUTLS_E_INVALID_REQUEST && errpos)
			return err_set(e, ERR_CONFIG, "set tls_priorities: error at \"%.40s\"",
			               errpos);
		return err_set(e, ERR_CONFIG, "set tls_priorities \"%.80s\": %s", prio,
		               gnutls_strerror(r));
	}
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
tls_start(struct tls **out, int fd, const struct tls_config *cfg, int64_t deadline, struct err *e)
{
	struct tls *t;
	int fl;

	*out = NULL;
	if (!cfg->host)
		return err_set(e, ERR_SOFTWARE, "start TLS: no server name");
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->certcheck = cfg->certcheck;
	err_clear(&t->verr);
	if (set_name(t, cfg->host, e) < 0)
		goto fail;
	if (cfg->fingerprint) {
		if (parse_pin(t->pin, cfg->fingerprint, e) < 0)
			goto fail;
		t->pinned = true;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err_set(e, ERR_OS, "start TLS: make the socket non-blocking: %s", strerror(errno));
		goto fail;
	}
	if (setup(t, cfg, e) < 0 || handshake(t, deadline, e) < 0)
		goto fail;

	gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
	/* SEC-10, in depth: whatever the priority string, nothing older than TLS 1.2. */
	if (v != GNUTLS_TLS1_2 && v != GNUTLS_TLS1_3) {
		err_set(e, ERR_TLS,
		        "TLS handshake with %s: the server chose %s; TLS 1.2 or newer "
		        "is required (RFC 8996)",
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

ssize_t
tls_read(struct tls *t, void *p, size_t n, int64_t deadline, struct err *e)
{
	for (;;) {
		ssize_t r = gnutls_record_recv(t->session, p, n);
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
			continue;
		}
		return fatal_error(t, "read from", (int)r, e);
	}
}

int
tls_write(struct tls *t, const void *p, size_t n, int64_t deadline, struct err *e)
{
	const char *s = p;

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
			continue;
		}
		return fatal_error(t, "send to", (int)r, e);
	}
	return 0;
}

bool
tls_pending(const struct tls *t)
{
	return gnutls_record_check_pending(t->session) > 0;
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

int
tls_save_session(struct tls *t, const char *path, struct err *e)
{
	gnutls_datum_t d = {NULL, 0};
	char tmp[4096];
	char head[sizeof(SESSION_MAGIC) + 2 * TLS_SHA256_LEN + 1];
	int rc = -1;

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
	 * server's. If the socket is full or gone, the close of FD ends the session anyway. */
	gnutls_bye(t->session, GNUTLS_SHUT_WR);
	free_session(t);
}
