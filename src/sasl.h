/*
 * sasl: choosing a mechanism and computing its client messages. RFC 4954 (SMTP AUTH),
 * RFC 4422 (SASL; Appendix A: EXTERNAL), RFC 4616 (PLAIN), draft-murchison-sasl-login
 * (LOGIN), RFC 2195 (CRAM-MD5), RFC 5802 and RFC 7677 (SCRAM-SHA-1, SCRAM-SHA-256 and their
 * -PLUS variants), RFC 5929 and RFC 9266 (channel bindings), RFC 7628 (OAUTHBEARER), Google's
 * XOAUTH2, RFC 4648 (base64).
 *
 * How smtp.c drives a mechanism (RFC 4954 §4):
 *
 *   sasl_pick()      which mechanism (the profile's, or the automatic order)
 *   sasl_start()     "AUTH MECH" or "AUTH MECH <initial>"; INITIAL is already "=" when the
 *                    initial response is empty (EXTERNAL without authzid)
 *   while 334:       sasl_step(text after "334 ") -> send RESPONSE as one line; an empty
 *                    RESPONSE is sent as an empty line (CRLF alone). Every 334 line and every
 *                    response is redacted in transcripts (SEC-13).
 *   235:             sasl_finish() must return 0 too, or the session fails (ERR_AUTH): for
 *                    SCRAM it says whether the server proved that it knows the password.
 *   535 / other:     smtp_auth's error from the reply (ERR_AUTH, or ERR_TEMP for 4xx);
 * sasl_failure() adds the reason a server gave inside the mechanism (OAUTHBEARER/XOAUTH2 JSON
 * status, SCRAM e=). sasl_free()      always, on every path.
 *
 * The number of 334 rounds per mechanism: PLAIN, EXTERNAL 0 (1 when the initial response
 * did not fit on the AUTH line: the server's empty 334 is answered with it by sasl_step);
 * LOGIN 2; CRAM-MD5 1; SCRAM 2: server-first (answered with client-final), then
 * server-final "v=..." (answered with an empty line, RFC 4954 §4: SMTP has no "additional
 * data with success", so Postfix with Dovecot or Cyrus SASL sends it as a 334); XOAUTH2 and
 * OAUTHBEARER 0 on success, 1 on failure (a JSON error, answered with an empty line or
 * "AQ==" = "\x01", after which the server sends 535).
 */
#ifndef POSTIE_SASL_H
#define POSTIE_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

/* The PLAIN initial response, base64 of "\0USER\0PASS", appended to OUT (a secret buffer). */
int sasl_plain(struct buf *out, const char *user, const char *pass, struct err *e);

/* What the mechanisms may use. Only pointers: nothing is copied but what a mechanism keeps. */
struct sasl_creds {
	const char *user;        /* authentication identity; NULL: none (EXTERNAL needs none) */
	const char *pass;        /* password; NULL: none */
	const char *token;       /* OAuth 2.0 access token (RFC 6750 b64token); NULL: none */
	const char *authzid;     /* act as this identity (PLAIN, SCRAM, OAUTHBEARER, EXTERNAL);
	                            NULL: as USER */
	const char *host;        /* the server's name, for OAUTHBEARER host=; NULL: left out */
	int port;                /* the server's port, for OAUTHBEARER port=; 0: left out */
	bool have_cert;          /* a TLS client certificate was presented (EXTERNAL) */
	const unsigned char *cb; /* channel binding data (tls_channel_binding); NULL: none */
	size_t cb_len;
	const char *cb_type; /* its name: "tls-exporter" or "tls-unique" */
	const char *offered; /* the server's AUTH list, if known: a SCRAM mechanism without -PLUS
	                        says "y" (RFC 5802 §6: "I could bind, you offered no -PLUS")
	                        only when the list has no SCRAM -PLUS; NULL counts as none */
	const char *nonce;   /* tests only (RFC vectors): the SCRAM client nonce; NULL: 24
	                        random bytes from gnutls_rnd, in base64 */
};

/*
 * Choose the mechanism to use with the credentials C. WANTED (any case; NULL or "" for
 * automatic) is used when the server offers it and C has what it needs. Automatic: the first
 * that OFFERED holds of SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (both only with channel binding
 * data), SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN, CRAM-MD5 when C has a password; when it
 * has none, OAUTHBEARER, XOAUTH2 with a token, then EXTERNAL with a client certificate.
 * A WANTED OAUTHBEARER or XOAUTH2 takes C's password for the token when it has none
 * (msmtp's way: there the password is the access token); the automatic choice never does.
 * Mechanisms that cannot carry an authzid are skipped when one is set. Returns a static
 * upper-case name, or NULL with e set: ERR_CONFIG for a mechanism postie does not implement
 * or credentials that do not fit it (no password, no token...), ERR_PERM when the server
 * offers nothing usable (the message lists what it offers).
 */
const char *sasl_pick(const char *offered, const char *wanted, const struct sasl_creds *c,
                      struct err *e);

/*
 * Whether NAME (any case) is a mechanism msmtp offers that postie refuses as obsolete
 * (DIGEST-MD5, RFC 6331). sasl_pick refuses it with ERR_CONFIG, naming what the server
 * offers instead; before a connection there is nothing to name, so the account's checks
 * leave it to that refusal.
 */
bool sasl_obsolete(const char *name);

struct sasl;

/*
 * Start mechanism MECH (a name sasl_pick returned) with the credentials C. Sets *OUT to a
 * new state (NULL on failure). When the mechanism sends first and its initial response fits
 * in ROOM bytes of base64 (the caller's line limit minus "AUTH MECH " and CRLF; SIZE_MAX: no
 * limit), sets *HAS_INITIAL and appends it to INITIAL ("=" for an empty one, RFC 4954 §4);
 * otherwise *HAS_INITIAL is false, and a client-first mechanism answers the server's first,
 * empty 334 with it from sasl_step. INITIAL is marked secret. The creds' strings are copied
 * as needed: C may go away after the call. ERR_CONFIG for missing or unusable credentials
 * (a token that is not an RFC 6750 b64token, an authzid the mechanism cannot carry...),
 * ERR_OS when no random nonce can be had, ERR_SOFTWARE for an unknown MECH.
 */
int sasl_start(struct sasl **out, const char *mech, const struct sasl_creds *c, size_t room,
               struct buf *initial, bool *has_initial, struct err *e);

/*
 * Answer one 334 challenge: CHALLENGE is the LEN bytes after "334 " (base64, may be empty).
 * Appends the base64 response to RESPONSE (marked secret; empty: send an empty line).
 * ERR_PROTO for a challenge that is not base64 or not what the mechanism allows at this
 * point (a 334 after the last message); ERR_AUTH when the server fails a SCRAM check: its
 * nonce does not extend ours, the iteration count is 0 or above 10,000,000, it requires an
 * extension (m=), its signature is wrong, or it says e=. Send nothing after an error: the
 * caller ends the exchange (QUIT or "*", RFC 4954 §4).
 */
int sasl_step(struct sasl *s, const char *challenge, size_t len, struct buf *response,
              struct err *e);

/*
 * After 235: 0 when the exchange is complete, and for SCRAM only when the server's signature
 * was received and verified (RFC 5802 §5: a client MUST NOT take the success otherwise).
 * ERR_AUTH when it was not: the server did not prove that it knows the password, or the
 * mechanism ended early.
 */
int sasl_finish(struct sasl *s, struct err *e);

/*
 * What the server said inside the mechanism about a failure, for the message of a following
 * 535 (OAUTHBEARER/XOAUTH2 JSON "status", SCRAM "e="), printable and bounded; NULL: nothing.
 * Owned by S.
 */
const char *sasl_failure(const struct sasl *s);

/* Free S, wiping every secret it holds (SEC-16). NULL is a no-op. */
void sasl_free(struct sasl *s);

#endif
