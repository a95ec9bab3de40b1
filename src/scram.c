/*
 * scram: the SCRAM client (RFC 5802, RFC 7677) and its channel binding (RFC 5802 §6, §7;
 * RFC 5929, RFC 9266).
 *
 * Seam: sasl.c knows every mechanism, which one to use and how a 334 round goes; this file
 * knows one of them in depth: the gs2 header and the channel binding it commits to, the
 * nonce, the key derivation and the proof, and the server's signature. Nothing here knows
 * SMTP, base64 framing of the 334 lines, or the other mechanisms.
 *
 * SASLprep (RFC 4013, required by RFC 5802 §2.2 for the password): postie passes the UTF-8
 * bytes of the user name and the password unchanged. For ASCII that is what SASLprep gives
 * (save control characters, which no SASLprep'd password holds); non-ASCII passwords work
 * when the server stored the same bytes (Dovecot, which does not apply SASLprep either) or
 * when the text is already in NFKC without mapped characters (most typed text).
 */
#include "scram.h"
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What one client message may grow to (as sasl.c's SASL_MESSAGE_MAX). */
#define SCRAM_MESSAGE_MAX (48 * 1024)
/* RFC 5802 §5.1: "i" is a positive number. A huge one would make PBKDF2 spin for minutes. */
#define SCRAM_ITER_MAX 10000000UL
/* Our part of the SCRAM nonce: 24 random bytes, 32 characters of base64. */
#define SCRAM_NONCE_BYTES 24
#define SCRAM_NONCE_MAX 256
#define SCRAM_SALT_MAX 1024

void
scram_fini(struct scram *sc)
{
	buf_fini(&sc->bare);
	buf_fini(&sc->cbind);
	xfree_secret(sc->nonce);
	xfree_secret(sc->pass);
	explicit_bzero(sc, sizeof(*sc));
}

int
scram_put_saslname(struct buf *b, const char *v, struct err *e)
{
	int rc = 0;

	for (const char *p = v; *p && rc == 0; p++) {
		if (*p == ',')
			rc = buf_puts(b, "=2C", e);
		else if (*p == '=')
			rc = buf_puts(b, "=3D", e);
		else
			rc = buf_append(b, p, 1, e);
	}
	return rc;
}

/* Whether the AUTH list holds a SCRAM mechanism with channel binding (any hash). */
static bool
offers_scram_plus(const char *list)
{
	const char *p = list ? list : "";

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len > 11 && strncasecmp(p, "SCRAM-", 6) == 0 &&
		    strncasecmp(p + len - 5, "-PLUS", 5) == 0)
			return true;
		p += len;
	}
	return false;
}

/* RFC 5802 §5.1: a nonce is printable ASCII other than ','. */
static bool
nonce_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	return true;
}

static int
make_nonce(struct scram *sc, const char *given, struct err *e)
{
	unsigned char raw[SCRAM_NONCE_BYTES];
	struct buf b;

	if (given) {
		size_t n = strlen(given);
		if (n > SCRAM_NONCE_MAX || !nonce_ok(given, n))
			return err_set(e, ERR_SOFTWARE, "authenticate with %s: bad test nonce",
			               sc->name);
		sc->nonce = xstrdup(given);
		return 0;
	}
	/* RFC 5802 §5.1: the client nonce must be unpredictable, so a replayed or
	 * precomputed server-first-message cannot match it. */
	int r = gnutls_rnd(GNUTLS_RND_RANDOM, raw, sizeof(raw));
	if (r < 0)
		return err_set(e, ERR_OS, "authenticate with %s: make a nonce: %s", sc->name,
		               gnutls_strerror(r));
	buf_init(&b, 2 * SCRAM_NONCE_BYTES);
	r = codec_base64_encode(&b, raw, sizeof(raw), e);
	explicit_bzero(raw, sizeof(raw));
	if (r == 0)
		sc->nonce = xstrdup(b.data);
	buf_fini(&b);
	return r;
}

/*
 * RFC 5802 §5.1 and §6: the gs2 header into sc->cbind. It says whether we bind to the
 * channel ("p=TYPE"), could but think the server cannot ("y": a server that can bind then
 * fails us, which catches a man in the middle who removed -PLUS from the list), or cannot
 * ("n"); then the authzid.
 */
static int
gs2_header(struct scram *sc, bool plus, const struct scram_creds *c, struct err *e)
{
	struct buf *gs2 = &sc->cbind;
	bool can_bind = c->cb && c->cb_len > 0 && c->cb_type && *c->cb_type;
	int rc;

	buf_init(gs2, SCRAM_MESSAGE_MAX);
	gs2->secret = true;
	if (plus) {
		/* RFC 5056 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-") */
		for (const char *p = c->cb_type; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
				return err_set(e, ERR_SOFTWARE,
				               "authenticate with %s: bad channel binding name",
				               sc->name);
		rc = buf_printf(gs2, e, "p=%s,", c->cb_type);
	} else if (can_bind && !offers_scram_plus(c->offered)) {
		rc = buf_puts(gs2, "y,", e);
	} else {
		rc = buf_puts(gs2, "n,", e);
	}
	if (rc == 0 && c->authzid && *c->authzid) {
		rc = buf_puts(gs2, "a=", e);
		if (rc == 0)
			rc = scram_put_saslname(gs2, c->authzid, e);
	}
	if (rc == 0)
		rc = buf_puts(gs2, ",", e);
	return rc;
}

int
scram_build_first(struct scram *sc, const char *name, bool sha1, bool plus,
                  const struct scram_creds *c, struct buf *msg, struct err *e)
{
	int rc;

	sc->name = name;
	sc->mac = sha1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	sc->hlen = gnutls_hmac_get_len(sc->mac);
	if (sc->hlen == 0 || sc->hlen > SCRAM_HASH_MAX)
		return err_set(e, ERR_SOFTWARE, "authenticate with %s: no such hash in GnuTLS",
		               name);
	if (make_nonce(sc, c->nonce, e) < 0)
		return -1;
	sc->pass = xstrdup(c->pass);

	rc = gs2_header(sc, plus, c, e);
	buf_init(&sc->bare, SCRAM_MESSAGE_MAX);
	if (rc == 0)
		rc = buf_puts(&sc->bare, "n=", e);
	if (rc == 0)
		rc = scram_put_saslname(&sc->bare, c->user, e);
	if (rc == 0)
		rc = buf_printf(&sc->bare, e, ",r=%s", sc->nonce);
	if (rc == 0)
		rc = buf_append(msg, sc->cbind.data, sc->cbind.len, e);
	if (rc == 0)
		rc = buf_append(msg, sc->bare.data, sc->bare.len, e);
	/* c= carries the gs2 header and, with -PLUS, the binding itself (RFC 5802 §7). */
	if (rc == 0 && plus)
		rc = buf_append(&sc->cbind, c->cb, c->cb_len, e);
	return rc;
}

/* Constant time, so a forged signature learns nothing from how long the check took. */
static bool
same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * One attribute "X=value" of a SCRAM message at P[*POS..N): its value runs to the next ','
 * or the end. On success *POS is past the ',' (or at N).
 */
static bool
scram_attr(const char *p, size_t n, size_t *pos, char name, const char **val, size_t *vlen)
{
	size_t i = *pos;

	if (n - i < 2 || p[i] != name || p[i + 1] != '=')
		return false;
	i += 2;
	const char *end = memchr(p + i, ',', n - i);
	size_t len = end ? (size_t)(end - (p + i)) : n - i;
	*val = p + i;
	*vlen = len;
	*pos = i + len + (end ? 1 : 0);
	return true;
}

static int
hmac(const struct scram *sc, const void *key, size_t keylen, const void *text, size_t len,
     unsigned char *out, struct err *e)
{
	int r = gnutls_hmac_fast(sc->mac, key, keylen, text, len, out);
	if (r < 0)
		return err_set(e, ERR_SOFTWARE, "authenticate with %s: HMAC: %s", sc->name,
		               gnutls_strerror(r));
	return 0;
}

/* The server-first message's attributes, pointing into it. */
struct server_first {
	const char *nonce, *salt64, *iter;
	size_t nlen, slen, ilen;
	unsigned long count;
};

/* RFC 5802 §5.1: i = posit-number = %x31-39 *DIGIT (no sign, no leading zero), 1 to
 * SCRAM_ITER_MAX. */
static int
iter_count(const struct scram *sc, struct server_first *f, struct err *e)
{
	const char *iter = f->iter;
	size_t ilen = f->ilen;
	unsigned long count = 0;

	for (size_t i = 0; i < ilen; i++) {
		if (iter[i] < '0' || iter[i] > '9')
			return err_set(e, ERR_PROTO,
			               "authenticate with %s: the iteration count is not a number",
			               sc->name);
		if (count <= SCRAM_ITER_MAX)
			count = count * 10 + (unsigned long)(iter[i] - '0');
	}
	if (ilen == 0)
		return err_set(e, ERR_PROTO, "authenticate with %s: the iteration count is empty",
		               sc->name);
	if (count == 0 || count > SCRAM_ITER_MAX)
		return err_set(
		    e, ERR_AUTH,
		    "authenticate with %s: the server asks for %s%.*s iterations; postie "
		    "accepts 1 to %lu",
		    sc->name, ilen > 12 ? "..." : "", (int)(ilen > 12 ? 12 : ilen),
		    ilen > 12 ? iter + ilen - 12 : iter, SCRAM_ITER_MAX);
	if (iter[0] == '0')
		return err_set(e, ERR_PROTO,
		               "authenticate with %s: the iteration count has a leading zero",
		               sc->name);
	f->count = count;
	return 0;
}

/* RFC 5802 §5.1: server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
 * ["," extensions], checked into F. */
static int
parse_server_first(const struct scram *sc, const char *p, size_t n, struct server_first *f,
                   struct err *e)
{
	const char *name = sc->name;
	size_t pos = 0;

	if (memchr(p, '\0', n))
		return err_set(e, ERR_PROTO, "authenticate with %s: NUL in the server's message",
		               name);
	/* §5.1: "m" is reserved; a client that meets it MUST fail the authentication. */
	if (n >= 2 && p[0] == 'm' && p[1] == '=')
		return err_set(
		    e, ERR_AUTH,
		    "authenticate with %s: the server requires an extension (m=) postie does "
		    "not know; refusing it",
		    name);
	if (!scram_attr(p, n, &pos, 'r', &f->nonce, &f->nlen) ||
	    !scram_attr(p, n, &pos, 's', &f->salt64, &f->slen) ||
	    !scram_attr(p, n, &pos, 'i', &f->iter, &f->ilen))
		return err_set(
		    e, ERR_PROTO,
		    "authenticate with %s: the server's first message is not r=...,s=...,i=...",
		    name);
	/* §5.1: the server's nonce is ours with its own part appended. Anything else is a
	 * replay or someone else's exchange. */
	size_t ours = strlen(sc->nonce);
	if (f->nlen <= ours || memcmp(f->nonce, sc->nonce, ours) != 0)
		return err_set(
		    e, ERR_AUTH,
		    "authenticate with %s: the server's nonce does not extend ours (RFC 5802 "
		    "§5.1); refusing it",
		    name);
	if (!nonce_ok(f->nonce, f->nlen))
		return err_set(
		    e, ERR_PROTO,
		    "authenticate with %s: the server's nonce has characters outside printable "
		    "ASCII",
		    name);
	return iter_count(sc, f, e);
}

/* SaltedPassword := Hi(Normalize(password), salt, i) into SP; the password is then wiped. */
static int
salted_password(struct scram *sc, const struct server_first *f, unsigned char *sp, struct err *e)
{
	struct buf salt;
	int rc = -1;

	buf_init(&salt, SCRAM_SALT_MAX);
	if (codec_base64_decode(&salt, f->salt64, f->slen, e) < 0) {
		err_set(e, ERR_PROTO, "authenticate with %s: the salt is not base64", sc->name);
	} else if (salt.len == 0) {
		err_set(e, ERR_PROTO, "authenticate with %s: the salt is empty", sc->name);
	} else {
		gnutls_datum_t key = {(unsigned char *)sc->pass, (unsigned)strlen(sc->pass)};
		gnutls_datum_t sd = {(unsigned char *)salt.data, (unsigned)salt.len};
		int r = gnutls_pbkdf2(sc->mac, &key, &sd, (unsigned)f->count, sp, sc->hlen);
		if (r < 0)
			err_set(e, ERR_SOFTWARE, "authenticate with %s: PBKDF2: %s", sc->name,
			        gnutls_strerror(r));
		else
			rc = 0;
	}
	buf_fini(&salt);
	if (rc == 0) {
		/* The password is not needed again. */
		xfree_secret(sc->pass);
		sc->pass = NULL;
	}
	return rc;
}

/*
 * RFC 5802 §3: from server-first-message to client-final-message.
 *   SaltedPassword  := Hi(Normalize(password), salt, i)        (PBKDF2 with HMAC)
 *   ClientKey       := HMAC(SaltedPassword, "Client Key")
 *   StoredKey       := H(ClientKey)
 *   AuthMessage     := client-first-message-bare + "," + server-first-message + "," +
 *                      client-final-message-without-proof
 *   ClientProof     := ClientKey XOR HMAC(StoredKey, AuthMessage)
 *   ServerSignature := HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage)
 */
static int
prove(struct scram *sc, const char *p, size_t n, const struct server_first *f,
      const unsigned char *sp, struct buf *final, struct err *e)
{
	unsigned char ck[SCRAM_HASH_MAX], sk[SCRAM_HASH_MAX];
	unsigned char cs[SCRAM_HASH_MAX], svk[SCRAM_HASH_MAX];
	struct buf am;
	int rc = -1;

	buf_init(&am, SCRAM_MESSAGE_MAX);
	/* client-final-message-without-proof = "c=" base64(cbind-input) ",r=" nonce */
	if (buf_puts(final, "c=", e) < 0 ||
	    codec_base64_encode(final, sc->cbind.data, sc->cbind.len, e) < 0 ||
	    buf_puts(final, ",r=", e) < 0 || buf_append(final, f->nonce, f->nlen, e) < 0)
		goto out;
	if (buf_append(&am, sc->bare.data, sc->bare.len, e) < 0 || buf_puts(&am, ",", e) < 0 ||
	    buf_append(&am, p, n, e) < 0 || buf_puts(&am, ",", e) < 0 ||
	    buf_append(&am, final->data, final->len, e) < 0)
		goto out;
	if (hmac(sc, sp, sc->hlen, "Client Key", 10, ck, e) < 0)
		goto out;
	int r = gnutls_hash_fast((gnutls_digest_algorithm_t)sc->mac, ck, sc->hlen, sk);
	if (r < 0) {
		err_set(e, ERR_SOFTWARE, "authenticate with %s: hash: %s", sc->name,
		        gnutls_strerror(r));
		goto out;
	}
	if (hmac(sc, sk, sc->hlen, am.data, am.len, cs, e) < 0 ||
	    hmac(sc, sp, sc->hlen, "Server Key", 10, svk, e) < 0 ||
	    hmac(sc, svk, sc->hlen, am.data, am.len, sc->server_sig, e) < 0)
		goto out;
	for (size_t i = 0; i < sc->hlen; i++)
		cs[i] ^= ck[i];
	if (buf_puts(final, ",p=", e) < 0 || codec_base64_encode(final, cs, sc->hlen, e) < 0)
		goto out;
	rc = 0;
out:
	explicit_bzero(ck, sizeof(ck));
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(cs, sizeof(cs));
	explicit_bzero(svk, sizeof(svk));
	buf_fini(&am);
	return rc;
}

int
scram_answer_first(struct scram *sc, const char *p, size_t n, struct buf *response, struct err *e)
{
	struct server_first f;
	unsigned char sp[SCRAM_HASH_MAX];
	struct buf final;
	int rc = -1;

	if (parse_server_first(sc, p, n, &f, e) < 0)
		return -1;
	buf_init(&final, SCRAM_MESSAGE_MAX);
	final.secret = true;
	if (salted_password(sc, &f, sp, e) == 0 && prove(sc, p, n, &f, sp, &final, e) == 0)
		rc = codec_base64_encode(response, final.data, final.len, e);
	explicit_bzero(sp, sizeof(sp));
	buf_fini(&final);
	return rc;
}

/*
 * RFC 5802 §7: server-final-message = (server-error / verifier) ["," extensions]. The
 * signature proves that the server knows the password (or its SCRAM keys): without it a
 * 235 could come from anyone who stands between us and the server.
 */
int
scram_check_final(struct scram *sc, const char *p, size_t n, const char **said, size_t *said_len,
                  struct err *e)
{
	const char *v;
	size_t vlen, pos = 0;
	struct buf sig;

	if (scram_attr(p, n, &pos, 'e', said, said_len))
		return 1;
	if (!scram_attr(p, n, &pos, 'v', &v, &vlen))
		return err_set(
		    e, ERR_PROTO,
		    "authenticate with %s: the server's last message is neither v= nor e=",
		    sc->name);
	buf_init(&sig, SCRAM_HASH_MAX);
	bool good = codec_base64_decode(&sig, v, vlen, NULL) == 0 && sig.len == sc->hlen &&
	            same_bytes((const unsigned char *)sig.data, sc->server_sig, sc->hlen);
	buf_fini(&sig);
	if (!good)
		return err_set(
		    e, ERR_AUTH,
		    "authenticate with %s: the server's signature is wrong, so it does not "
		    "know the password or something between us changed the exchange; "
		    "refusing it",
		    sc->name);
	sc->verified = true;
	return 0;
}
