/*
 * scram: the client side of SCRAM (RFC 5802; SHA-256 from RFC 7677) and its channel binding
 * (RFC 5802 §6 and §7 with RFC 5929 tls-unique or RFC 9266 tls-exporter) for the -PLUS
 * variants. sasl.c chooses the mechanism and drives the exchange; this module builds the
 * client-first message, answers server-first with the proof, and checks the server's
 * signature in server-final. The arithmetic (HMAC, hash, PBKDF2) and the nonce come from
 * GnuTLS's crypto API. Every buffer that holds the password, a key or the channel binding
 * is wiped (SEC-16).
 */
#ifndef POSTIE_SCRAM_H
#define POSTIE_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <gnutls/crypto.h>
#include "buf.h"
#include "err.h"

#define SCRAM_HASH_MAX 32 /* SHA-256 */

/* What the client-first message is made from. Pointers only: scram_build_first copies what
 * it keeps. */
struct scram_creds {
	const char *user;        /* the authentication identity */
	const char *pass;        /* the password (kept until the keys are made) */
	const char *authzid;     /* act as this identity; NULL or "": as USER */
	const unsigned char *cb; /* channel binding data; NULL: none */
	size_t cb_len;
	const char *cb_type; /* its name: "tls-exporter" or "tls-unique" */
	const char *offered; /* the server's AUTH list, for the "y" flag; NULL counts as none */
	const char *nonce;   /* tests only: the client nonce; NULL: 24 random bytes, in base64 */
};

/* One exchange. Zeroed, then scram_build_first; scram_fini always. */
struct scram {
	const char *name; /* the mechanism's name, for messages */
	gnutls_mac_algorithm_t mac;
	size_t hlen;
	char *nonce;      /* ours */
	char *pass;       /* until the keys are made (wiped) */
	struct buf bare;  /* client-first-message-bare, part of AuthMessage */
	struct buf cbind; /* gs2 header [+ channel binding data]: what c= carries */
	unsigned char server_sig[SCRAM_HASH_MAX];
	bool verified; /* scram_check_final found the server's signature right */
};

/*
 * Start an exchange of mechanism NAME (SHA-1 when SHA1, else SHA-256; bound to the channel
 * when PLUS, which needs C's channel binding data) and append the client-first message
 * (unencoded) to MSG. The gs2 header says "p=TYPE" with PLUS, else "y" when C has channel
 * binding data but C->offered holds no SCRAM -PLUS (RFC 5802 §6), else "n". ERR_OS when no
 * random nonce can be had, ERR_SOFTWARE for a bad test nonce or channel binding name.
 */
int scram_build_first(struct scram *sc, const char *name, bool sha1, bool plus,
                      const struct scram_creds *c, struct buf *msg, struct err *e);

/*
 * Answer the server-first message P (N bytes, decoded): append the client-final message,
 * in base64, to RESPONSE, and keep the signature the server must send. ERR_AUTH when the
 * server's nonce does not extend ours, the iteration count is 0 or above 10,000,000, or it
 * requires an extension (m=); ERR_PROTO for a message that is not r=...,s=...,i=...
 */
int scram_answer_first(struct scram *sc, const char *p, size_t n, struct buf *response,
                       struct err *e);

/*
 * Check the server-final message P (N bytes, decoded): 0 when it carries the signature
 * scram_answer_first expects (sc->verified is then set); 1 when the server reports a failure
 * instead (e=: its value at *SAID, *SAID_LEN bytes inside P, for the caller to report);
 * -1 with ERR_AUTH for a wrong signature, ERR_PROTO for neither v= nor e=.
 */
int scram_check_final(struct scram *sc, const char *p, size_t n, const char **said,
                      size_t *said_len, struct err *e);

/* Wipe and free what SC holds; it is left zeroed. */
void scram_fini(struct scram *sc);

/* RFC 5802 §5.1 saslname (also RFC 5801's gs2 header): V with ',' and '=' written "=2C" and
 * "=3D", appended to B. */
int scram_put_saslname(struct buf *b, const char *v, struct err *e);

#endif
