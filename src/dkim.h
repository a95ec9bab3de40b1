/*
 * dkim: DKIM signatures (RFC 6376) with relaxed/relaxed canonicalisation, RSA-SHA256 (keys of
 * 2048 bits and more) and Ed25519-SHA256 (RFC 8463). The body hash is fed incrementally with
 * the message's bytes as they will be sent; the header fields are chosen, canonicalised and
 * signed in memory. Pure but for dkim_key_load (reads the key file) and the clock the caller
 * gives.
 */
#ifndef POSTIE_DKIM_H
#define POSTIE_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "buf.h"
#include "err.h"

#define DKIM_HASH_LEN 32 /* SHA-256 */

/* The relaxed body canonicalisation (RFC 6376 §3.4.4) and its SHA-256, fed in pieces. */
struct dkim_body {
	void *hash;      /* gnutls_hash_hd_t */
	bool wsp;        /* WSP seen in the open line and not written yet */
	bool open;       /* the line has a non-WSP byte */
	uint64_t empty;  /* empty lines held back: written only if text follows */
	uint64_t length; /* canonical bytes hashed so far */
	size_t staged;   /* bytes in stage */
	unsigned char stage[4096];
};

/* Start a body hash. ERR_SOFTWARE when GnuTLS has no SHA-256. */
int dkim_body_init(struct dkim_body *b, struct err *e);

/*
 * Feed N bytes of the body. Line ends are LF or CRLF (a CR is dropped: the caller gives the
 * body as it is sent, every line end CRLF, as the dot encoder makes it). Any split of the
 * input gives the same hash.
 */
void dkim_body_feed(struct dkim_body *b, const char *p, size_t n);

/* The hash of the canonical body into OUT; B is finished (nothing to free after). */
void dkim_body_end(struct dkim_body *b, unsigned char out[DKIM_HASH_LEN]);

/* Drop a body hash that will not be ended. */
void dkim_body_fini(struct dkim_body *b);

/*
 * Append the relaxed canonical form (RFC 6376 §3.4.2) of the header field NAME (NLEN bytes)
 * with VALUE (VLEN bytes, what follows the colon, folded or not, its line ends CR and LF
 * dropped) to OUT: "name:value\r\n", the name lower-cased, WSP runs one SP, no WSP at the
 * ends of the value.
 */
int dkim_canon_header(struct buf *out, const char *name, size_t nlen, const char *value,
                      size_t vlen, struct err *e);

/* The header fields signed when the profile names none (RFC 6376 §5.4.1), colon-separated. */
#define DKIM_HEADERS_DEFAULT                                                                       \
	"from:reply-to:subject:date:to:cc:message-id:in-reply-to:references:mime-version:"         \
	"content-type:content-transfer-encoding:resent-date:resent-from:resent-to:resent-cc:"      \
	"list-id:list-help:list-unsubscribe:list-subscribe:list-post:list-owner:list-archive"

/* A private key loaded for signing. */
struct dkim_key {
	void *priv; /* gnutls_privkey_t */
	bool ed25519;
};

/*
 * Load the PEM private key in FILE, which must pass SEC-14's private-file rule
 * (priv_not_private). SYSTEM: FILE is named by the system profile, so a setgid postie opens it
 * with its group and may accept it root:GROUP 0640 (SEC-45, as a password_file); otherwise it
 * is opened with the caller's own rights. Ed25519, or RSA of at least 2048 bits (RFC 8301
 * §3.2); anything else is ERR_CONFIG naming the file and saying what to make instead.
 */
int dkim_key_load(struct dkim_key *k, const char *file, bool system, struct err *e);
void dkim_key_fini(struct dkim_key *k);

/*
 * Append to OUT the DNS TXT record that publishes K's public key: "v=DKIM1; k=ed25519; p=..."
 * (RFC 8463 §4: the bare 32-byte key) or "v=DKIM1; k=rsa; p=..." (the SubjectPublicKeyInfo,
 * RFC 6376 §3.6.1), as the documented certtool line makes it. ERR_CONFIG when GnuTLS cannot
 * export the key.
 */
int dkim_key_record(const struct dkim_key *k, struct buf *out, struct err *e);

/* What a key record published in the DNS says of the key (dkim_record_compare). */
enum dkim_record_verdict {
	DKIM_RECORD_MATCH,      /* it publishes the key: a verifier can check the signature */
	DKIM_RECORD_REVOKED,    /* p= is empty: the selector's key is revoked (§3.6.1) */
	DKIM_RECORD_OTHER_TYPE, /* k= names another key type than the key's */
	DKIM_RECORD_OTHER_KEY,  /* p= is another key of the same type */
	DKIM_RECORD_INVALID,    /* no key record (§3.6.1), or one a signer with SHA-256 for email
	                           cannot use (h=, s=) */
};

/*
 * Compare the key record PUB (LEN bytes: a TXT record's text, untrusted, any bytes) with OURS,
 * what dkim_key_record made for the key. PUB is a tag list (RFC 6376 §3.2: "tag=value"
 * separated by ';', whitespace and line ends around tags and values allowed, a name at most
 * once, unknown tags ignored); as a key record (§3.6.1) v= if present comes first and is
 * DKIM1, k= defaults to rsa (compared ignoring case), p= is present, base64 with whitespace
 * allowed inside, and compared as the bytes it encodes; h= when present names sha256, s=
 * when present names email or *. WHY (N bytes, N > 0) gets what differs or is wrong, in
 * words ("" for a match); it may quote PUB's bytes (the caller escapes them for a terminal).
 */
enum dkim_record_verdict dkim_record_compare(const char *ours, const char *pub, size_t len,
                                             char *why, size_t n);

/* What one signature says. */
struct dkim_sign {
	const struct dkim_key *key;
	const char *domain;   /* d= */
	const char *selector; /* s= */
	const char *headers;  /* colon-separated field names to sign; NULL: the default */
	time_t now;           /* t= */
};

/*
 * Sign the header section HEAD (LEN bytes: fields with CRLF or LF line ends, optionally the
 * empty line after them) whose body hash is BH: append the DKIM-Signature field, folded
 * at 78 columns with CRLF line ends, to OUT. Every instance of each named field present is
 * signed, bottom up (§5.4.2), and From once more than present (oversigned: a From added on
 * the way breaks the signature). ERR_CONFIG when the list does not name From or names a
 * bad field name; ERR_SOFTWARE when GnuTLS fails to sign.
 */
int dkim_sign_header(const struct dkim_sign *s, const char *head, size_t len,
                     const unsigned char bh[DKIM_HASH_LEN], struct buf *out, struct err *e);

#endif
