/*
 * tls_int: what the parts of the tls module share, and nothing outside them includes. The
 * module is cut along its jobs:
 *   tls.c        the session: configuration, handshake, record I/O, channel binding, errors;
 *   tls_verify.c  the verdict on the server: the name and pins it is held to, the callback
 *                that checks pins, chain (CRLs, stapled OCSP) and name during the handshake;
 *   tls_cred.c    credentials: the trust store, CRLs, the client certificate and its key;
 *   tls_cache.c   the session cache: the settings a cached session was made under, load, save;
 *   tls_info.c    tls_print_info (--serverinfo).
 * Functions shared between the parts are named after their file (tls_verify_peer).
 */
#ifndef POSTIE_TLS_INT_H
#define POSTIE_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "err.h"
#include "tls.h"

#define TLS_SHA256_LEN 32
/* RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text. */
#define TLS_NAME_MAX 253

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
	bool trust_some;   /* only the CAs one chain needed (tls_anchor.c) */
	bool resumed;      /* the handshake resumed a cached session */
	unsigned char params[TLS_SHA256_LEN]; /* what a cached session must have been made with */
	char desc[96];
};

/* ---- tls_verify.c ---- */

/*
 * Set t->name from HOST (an A-label, SEC-8; brackets and a trailing dot dropped) and note
 * whether it is an IP literal. ERR_CONFIG for a name that cannot be one.
 */
int tls_verify_set_name(struct tls *t, const char *host, struct err *e);

/* Set t's pins from cfg->fingerprint and cfg->pin_spki (SEC-9). ERR_CONFIG for a bad one. */
int tls_verify_set_pins(struct tls *t, const struct tls_config *cfg, struct err *e);

/*
 * The GnuTLS verify callback: 0 accepts the server's certificate; anything else ends the
 * handshake with an alert, t->verr and t->verify_failed saying why. Sets t->verdict.
 */
int tls_verify_peer(gnutls_session_t session);

/* SHA-256 of CRT's DER SubjectPublicKeyInfo into OUT (TLS_SHA256_LEN bytes). 0 or -1. */
int tls_verify_spki_digest(gnutls_x509_crt_t crt, unsigned char *out);

/* "AA:BB:..." of a SHA-256 digest into OUT (at least 96 bytes). */
void tls_verify_format_fingerprint(char *out, size_t outlen, const unsigned char *d);

/* "sha256//BASE64" of a digest into OUT (at least 53 bytes), as tls_fingerprint takes it. */
void tls_verify_format_spki_pin(char *out, size_t outlen, const unsigned char *d);

/*
 * SEC-7: whether a subjectAltName of CRT matches t->name. Sets *HAS_SAN when CRT has a SAN
 * of the host's kind, and lists the names it carries into NAMES (NAMESLEN bytes).
 */
bool tls_verify_san_matches(const struct tls *t, gnutls_x509_crt_t crt, bool *has_san, char *names,
                            size_t nameslen);

/*
 * The server's stapled OCSP response for its own certificate, decoded: 0 and its status and
 * times, or -1 when there is none or it cannot be read. For messages only.
 */
int tls_verify_stapled_status(struct tls *t, unsigned *status, time_t *this_upd, time_t *next_upd,
                              time_t *revoked);

/* The issuer's CN of CRT (or its whole DN when it has no CN) into OUT, "unknown" when there
 * is none, for messages. */
void tls_verify_issuer_name(gnutls_x509_crt_t crt, char *out, size_t outlen);

/* WHEN in UTC into OUT: "2024-01-31T12:00:00Z" (ISO 8601) WITH_TIME, else "2024-01-31";
 * "unknown" / "an unknown date" when it cannot be told. */
void tls_verify_format_utc(char *out, size_t outlen, time_t when, bool with_time);

/* ---- tls_cred.c ---- */

/* Load FILE's CA certificates (PEM) into CRED, or the system store when FILE is NULL. */
int tls_cred_load_trust(gnutls_certificate_credentials_t cred, const char *file, struct err *e);

/* Load FILE's CRLs (PEM) into CRED: a listed certificate is then revoked (RFC 5280 §6.3). */
int tls_cred_load_crl(gnutls_certificate_credentials_t cred, const char *file, struct err *e);

/*
 * Load the client certificate and key of CFG into t->cred (a key file must be private,
 * SEC-14); sets t->client_cert and t->cert_file. ERR_CONFIG naming the setting and file.
 */
int tls_cred_load_client(struct tls *t, const struct tls_config *cfg, struct err *e);

/* ---- tls_anchor.c ---- */

/*
 * Add to TL the CAs of the PEM bundle FILE (NULL: the system's, POSTIE_SYSTEM_TRUST_FILE)
 * that can anchor the chain CERTS (NCERTS, DER, as the server sent it): those whose subject
 * is the issuer or the subject of one of CERTS. The number added, or -1 when the caller must
 * load the whole store to verify as strictly as ever: nothing matched, the file is no plain
 * PEM bundle, a certificate (the server's or the bundle's) does not walk. A -1 may leave
 * some CAs added.
 */
int tls_anchor_add(gnutls_x509_trust_list_t tl, const char *file, const gnutls_datum_t *certs,
                   unsigned ncerts);

/* ---- tls_cache.c ---- */

/* Set t->params: the digest of every setting a cached session must have been made under. */
void tls_cache_set_params(struct tls *t, const struct tls_config *cfg);

/* Offer the session cached in PATH when it was made under t->params; else nothing. */
void tls_cache_load(struct tls *t, const char *path);

#endif
