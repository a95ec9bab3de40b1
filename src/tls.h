/*
 * tls: the only module that includes GnuTLS (its parts: tls_int.h). A client TLS session over a
 * connected socket: TLS 1.3 and 1.2 only, or 1.3 only (SEC-10), chain and host name verification
 * with a subjectAltName required (SEC-6, SEC-7), CRLs and stapled OCSP responses, SHA-256
 * certificate and public key pinning (SEC-9), client certificates, failure messages with
 * the reason and the certificate's SHA-256 fingerprint (SEC-11). RFC 8446, RFC 5246,
 * RFC 9525, RFC 8314, RFC 5280 (CRLs), RFC 6960 and RFC 6066 §8 (OCSP stapling), RFC 7469
 * §2.4 (SPKI pins).
 */
#ifndef POSTIE_TLS_H
#define POSTIE_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "buf.h"
#include "err.h"

struct tls_config {
	const char *host;         /* name to verify and send as SNI (an IP literal, or a host name:
	                             a U-label is converted to its A-label, SEC-8) */
	const char *trust_file;   /* PEM CA certificates; NULL: the system trust store */
	const char *fingerprint;  /* NULL, or 64 lower-case hex digits: SHA-256 of the server's
	                             certificate (DER); when set it replaces CA trust and name */
	bool certcheck;           /* false: accept any certificate (the profile said so) */
	const char *priorities;   /* GnuTLS priority string; NULL: TLS 1.3 and 1.2 only */
	const char *session_file; /* a cached session to offer (0600, ours), or NULL */
	const char *cert_file;    /* client certificate chain: a PEM file or a URI GnuTLS opens
	                             ("pkcs11:..."); sent when the server asks; NULL: none */
	const char *key_file;     /* its private key (PEM file, private to its owner, or a URI);
	                             NULL: in cert_file */
	const char *crl_file;     /* PEM CRLs checked with the trust store; NULL: none */
	const char *pin_spki;     /* NULL, or base64 of the SHA-256 of the server certificate's
	                             SubjectPublicKeyInfo ("sha256//" prefix allowed); like
	                             fingerprint it replaces CA trust, name and dates, but it
	                             survives a renewal with the same key */
	int min_version;          /* 0 or 12: TLS 1.2 and 1.3; 13: TLS 1.3 only */
	bool keep_failed;         /* when verification refuses the server, still hand the
	                             session out for tls_print_info (--serverinfo) */
};

struct tls;

/*
 * Run a client handshake over FD (a connected socket; this sets it non-blocking) and verify
 * the server, finishing before DEADLINE (io_clock_ms() time). On success *OUT is a new
 * session. Errors: ERR_TLS for a failed handshake or verification (the text says why:
 * "certificate expired", "name mismatch: certificate is for X", "no subjectAltName",
 * "issuer unknown", "certificate revoked", "fingerprint mismatch", "public key pin
 * mismatch", and shows "SHA-256 fingerprint AA:BB:..."), ERR_TEMP for a timeout or a lost
 * connection, ERR_CONFIG for an unreadable trust, CRL, certificate or key file (or a key
 * file others may read), a bad pin, tls_min_version or priority string. When verification
 * failed and cfg->keep_failed is set, *OUT is the failed session anyway: good only for
 * tls_print_info and tls_free.
 */
int tls_start(struct tls **out, int fd, const struct tls_config *cfg, int64_t deadline,
              struct err *e);

/*
 * Check CFG as tls_start would before its first byte, without a connection: the server
 * name, pins, tls_min_version, priority string, and that the trust file is readable and the
 * CRL file, client certificate and key load (a key file others may read is refused). For a
 * caller that wants configuration errors before it connects. 0, or -1 with the same
 * ERR_CONFIG text tls_start would give.
 */
int tls_check_config(const struct tls_config *cfg, struct err *e);

/*
 * Read up to N bytes, waiting until DEADLINE. Returns the count (> 0), 0 when the server
 * closed the session, or -1 with e set (ERR_TEMP: timeout, connection lost; ERR_TLS).
 */
ssize_t tls_read(struct tls *t, void *p, size_t n, int64_t deadline, struct err *e);

/* Write all N bytes before DEADLINE. 0 or -1 (ERR_TEMP, ERR_TLS). */
int tls_write(struct tls *t, const void *p, size_t n, int64_t deadline, struct err *e);

/* True when bytes already decrypted wait inside GnuTLS. */
bool tls_pending(const struct tls *t);

/* True when the handshake resumed the session from tls_config.session_file. */
bool tls_resumed(const struct tls *t);

/*
 * Save the session to PATH (mode 0600, replaced atomically) so the next run can resume it
 * (RFC 8446 §2.2, RFC 5077). Call it after a reply was read under TLS, so a TLS 1.3
 * ticket has arrived. Nothing is saved when the server gave no ticket. ERR_OS on failure.
 */
int tls_save_session(struct tls *t, const char *path, struct err *e);

/* "TLS1.3 AES-256-GCM" and the like, for -v; " (resumed)" when resumed. */
const char *tls_describe(const struct tls *t);

/*
 * Print what the handshake established to OUT (for --serverinfo), one "Name: value" line
 * each: TLS version, cipher suite, key exchange, server signature, whether the session was
 * resumed, the client certificate, the stapled OCSP response, the verification result; then
 * for each certificate of the server's chain its subject, names, issuer, validity (ISO 8601
 * UTC), SHA-256 fingerprint ("AA:BB:...") and SPKI pin ("sha256//BASE64", the form
 * tls_fingerprint takes). Text from the certificates is printed with control and non-ASCII
 * bytes as \xNN. Works on a session kept after a failed verification. ERR_OS when OUT
 * cannot be written.
 */
int tls_print_info(struct tls *t, FILE *out, struct err *e);

/* The server's certificate in brief, for postie --check. The text is the certificate's:
 * show it through codec_put_printable. */
struct tls_summary {
	char names[256];   /* its subjectAltNames of the kind the host name is, or "" */
	char issuer[256];  /* its issuer's CN (else the DN), "unknown" when there is none */
	int64_t not_after; /* its expiry, seconds since the epoch; -1: unknown */
};

/* The summary of the server's certificate (the first of the chain it sent) into OUT. -1
 * when the session has none (a resumed session, no certificate sent). */
int tls_summarize(struct tls *t, struct tls_summary *out);

/*
 * True when this session authenticates us with a client certificate (SASL EXTERNAL,
 * RFC 4422 App. A): GnuTLS sent one in this handshake, or the session resumed one made
 * while a client certificate was configured.
 */
bool tls_client_cert_sent(const struct tls *t);

/*
 * The channel binding for SCRAM-*-PLUS (RFC 5802 §6): with TLS 1.3 "tls-exporter" (RFC 9266:
 * 32 bytes exported with the label "EXPORTER-Channel-Binding" and an empty context), with
 * TLS 1.2 "tls-unique" (RFC 5929 §3.1: the first Finished message), the latter only when the
 * extended master secret was negotiated (RFC 7627: without it a man in the middle can make
 * two sessions share it). Sets *TYPE to the name (a static string) and appends the bytes to
 * OUT (better a secret buffer). ERR_TLS when the session has none to give.
 */
int tls_channel_binding(struct tls *t, const char **type, struct buf *out, struct err *e);

/* Free the session without waiting for the server (NULL is a no-op). Does not close FD. */
void tls_free(struct tls *t);

#endif
