/*
 * sasl: mechanism choice and client messages.
 *
 * RFC 4954 (SMTP AUTH: the mechanism list in the EHLO reply, 334 challenges in base64),
 * RFC 4616 (PLAIN: [authzid] NUL authcid NUL passwd), draft-murchison-sasl-login (LOGIN:
 * user name and password, each in base64, after a 334), RFC 2195 (CRAM-MD5), RFC 5802 and
 * RFC 7677 (SCRAM-SHA-1, SCRAM-SHA-256, -PLUS with channel binding), RFC 5929 and RFC 9266
 * (the channel binding types), RFC 7628 (OAUTHBEARER), Google's XOAUTH2, RFC 4422 App. A
 * (EXTERNAL), RFC 4648 §4 (base64 with padding), RFC 6750 §2.1 (b64token).
 *
 * PLAIN and LOGIN reveal the password and CRAM-MD5 is no protection worth the name, so the
 * caller only authenticates over verified TLS (SEC-12); buffers that hold a password, a token
 * or a key derived from them are secret and wiped (SEC-16).
 *
 * SCRAM itself (the gs2 header and channel binding, the proof, the server's signature) is in
 * scram.c; this file chooses a mechanism and runs the rounds of every one. The HMAC of
 * CRAM-MD5 and the SCRAM arithmetic come from GnuTLS's crypto API (gnutls/crypto.h): these
 * are stateless helpers, not TLS sessions, which stay in tls.c.
 */
#include "sasl.h"
#include "codec.h"
#include "scram.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

/* Whether the space-separated list LIST holds NAME, compared without regard to case. */
static bool
list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == n && strncasecmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* The words of LIST separated by single spaces, for a message ("(none)" when empty). */
static void
list_words(const char *list, char *out, size_t size)
{
	size_t k = 0;
	const char *p = list;

	out[0] = '\0';
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == 0)
			break;
		if (k + (k > 0) + len + 1 > size)
			break; /* the message is cut, never overrun */
		if (k > 0)
			out[k++] = ' ';
		memcpy(out + k, p, len);
		k += len;
		out[k] = '\0';
		p += len;
	}
}

/* RFC 4616 §2: [authzid] NUL authcid NUL passwd, appended to MSG. */
static int
put_plain(struct buf *msg, const char *authzid, const char *user, const char *pass, struct err *e)
{
	int rc = 0;

	if (authzid && *authzid)
		rc = buf_puts(msg, authzid, e);
	if (rc == 0)
		rc = buf_append(msg, "", 1, e);
	if (rc == 0)
		rc = buf_puts(msg, user, e);
	if (rc == 0)
		rc = buf_append(msg, "", 1, e);
	if (rc == 0)
		rc = buf_puts(msg, pass, e);
	return rc;
}

int
sasl_plain(struct buf *out, const char *user, const char *pass, struct err *e)
{
	struct buf msg;

	/* RFC 4616 §2: authcid and passwd are 1*SAFE (no NUL; C strings cannot hold one). */
	if (!user || !*user)
		return err_set(e, ERR_CONFIG, "build AUTH PLAIN: the user name is empty; set user");
	if (!pass || !*pass)
		return err_set(
		    e, ERR_CONFIG,
		    "build AUTH PLAIN: the password is empty; set password or passwordeval");
	out->secret = true;
	buf_init(&msg, 2 + strlen(user) + strlen(pass));
	msg.secret = true;
	/* An empty authzid: act as the user we log in as. */
	int rc = put_plain(&msg, NULL, user, pass, e);
	if (rc == 0)
		rc = codec_base64_encode(out, msg.data, msg.len, e);
	buf_fini(&msg);
	return rc;
}

/* ---- the mechanisms, one step at a time ---- */

/* RFC 4954 §4: a SASL line is at most 12288 octets, so no challenge decodes to more. */
#define SASL_CHALLENGE_MAX 12288
/* What one client message may grow to before base64 (a token is the longest part). */
#define SASL_MESSAGE_MAX (48 * 1024)
#define SASL_FAILURE_MAX 200

enum mech_id {
	MECH_PLAIN,
	MECH_LOGIN,
	MECH_CRAM_MD5,
	MECH_SCRAM_SHA_1,
	MECH_SCRAM_SHA_1_PLUS,
	MECH_SCRAM_SHA_256,
	MECH_SCRAM_SHA_256_PLUS,
	MECH_XOAUTH2,
	MECH_OAUTHBEARER,
	MECH_EXTERNAL,
};

/* What a mechanism needs from the credentials, and how it talks. */
#define NEEDS_USER 0x01u
#define NEEDS_PASS 0x02u
#define NEEDS_TOKEN 0x04u
#define NEEDS_CERT 0x08u
#define NEEDS_CB 0x10u
#define NO_AUTHZID 0x20u /* the mechanism has no place for an authorization identity */
#define SCRAM 0x40u

struct mech_info {
	const char *name;
	enum mech_id id;
	unsigned flags;
};

/*
 * The automatic order: mechanisms that keep the password from the server and prove the
 * server's identity first (SCRAM with channel binding, then SCRAM), then those that send it
 * (PLAIN, LOGIN), CRAM-MD5 last (weak, SEC-12); then the ones for other credentials.
 */
static const struct mech_info mech_table[] = {
    {"SCRAM-SHA-256-PLUS", MECH_SCRAM_SHA_256_PLUS, NEEDS_USER | NEEDS_PASS | NEEDS_CB | SCRAM},
    {"SCRAM-SHA-1-PLUS", MECH_SCRAM_SHA_1_PLUS, NEEDS_USER | NEEDS_PASS | NEEDS_CB | SCRAM},
    {"SCRAM-SHA-256", MECH_SCRAM_SHA_256, NEEDS_USER | NEEDS_PASS | SCRAM},
    {"SCRAM-SHA-1", MECH_SCRAM_SHA_1, NEEDS_USER | NEEDS_PASS | SCRAM},
    {"PLAIN", MECH_PLAIN, NEEDS_USER | NEEDS_PASS},
    {"LOGIN", MECH_LOGIN, NEEDS_USER | NEEDS_PASS | NO_AUTHZID},
    {"CRAM-MD5", MECH_CRAM_MD5, NEEDS_USER | NEEDS_PASS | NO_AUTHZID},
    {"OAUTHBEARER", MECH_OAUTHBEARER, NEEDS_TOKEN},
    {"XOAUTH2", MECH_XOAUTH2, NEEDS_USER | NEEDS_TOKEN | NO_AUTHZID},
    {"EXTERNAL", MECH_EXTERNAL, NEEDS_CERT},
};
#define NMECHS (sizeof(mech_table) / sizeof(mech_table[0]))

#define SASL_ALL_NAMES                                                                             \
	"SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN, "         \
	"CRAM-MD5, OAUTHBEARER, XOAUTH2, EXTERNAL"

static bool
has(const char *s)
{
	return s && *s;
}

static bool
has_cb(const struct sasl_creds *c)
{
	return c->cb && c->cb_len > 0 && has(c->cb_type);
}

static const struct mech_info *
mech_find(const char *name)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (strcasecmp(name, mech_table[i].name) == 0)
			return &mech_table[i];
	return NULL;
}

/*
 * The bearer token M sends: C's token, else, msmtp's way, its password. msmtp has no token
 * command: with `auth xoauth2` or `auth oauthbearer` its `password` or `passwordeval` is
 * the access token, and every guide for msmtp with Gmail or Microsoft 365 (oama,
 * mutt_oauth2.py, oauth2ms) relies on it. The automatic choice never takes a password for
 * a token (eligible): only a profile that names the mechanism does.
 */
static const char *
token_of(const struct sasl_creds *c)
{
	return has(c->token) ? c->token : c->pass;
}

/* Why C cannot be used with M (a phrase to follow the mechanism's name), or NULL. */
static const char *
misfit(const struct mech_info *m, const struct sasl_creds *c)
{
	if ((m->flags & NEEDS_USER) && !has(c->user))
		return "needs a user name; set user";
	if ((m->flags & NEEDS_PASS) && !has(c->pass))
		return "needs a password; set password or passwordeval";
	if ((m->flags & NEEDS_TOKEN) && !has(token_of(c)))
		return "needs an OAuth 2.0 access token; set oauth2_token_command, or (msmtp's "
		       "way) password or passwordeval to the token";
	if ((m->flags & NEEDS_CERT) && !c->have_cert)
		return "needs a TLS client certificate";
	if ((m->flags & NEEDS_CB) && !has_cb(c))
		return "needs TLS channel binding, which this connection does not provide (it "
		       "takes TLS 1.3, or TLS 1.2 with the extended master secret)";
	if ((m->flags & NO_AUTHZID) && has(c->authzid))
		return "cannot log in as one user and act as another (authzid)";
	return NULL;
}

/*
 * The automatic choice considers a mechanism only for the credentials the account is meant
 * to use: with a password, the password mechanisms; without one, OAuth with a token and
 * EXTERNAL with a client certificate.
 */
static bool
eligible(const struct mech_info *m, const struct sasl_creds *c)
{
	if (misfit(m, c))
		return false;
	if (m->flags & NEEDS_PASS)
		return true;
	return !has(c->pass);
}

/* ERR_PERM: the server offers nothing postie can use. WORDS is its list (list_words);
 * BEFORE, WHAT and AFTER say what postie would have used. */
static void
not_offered(const char *words, const char *before, const char *what, const char *after,
            struct err *e)
{
	if (!words[0])
		err_set(e, ERR_PERM,
		        "choose AUTH mechanism: the server offers no AUTH mechanism; "
		        "set auth off if it needs no login");
	else
		err_set(e, ERR_PERM, "choose AUTH mechanism: server offers only %s; %s%s%s", words,
		        before, what, after);
}

/* Mechanisms msmtp may name that postie refuses on purpose, and why. */
struct obsolete_mech {
	const char *name;
	const char *why;
};

static const struct obsolete_mech obsolete[] = {
    {"DIGEST-MD5", "obsolete (RFC 6331 moved it to Historic: its integrity and privacy "
                   "layers are weak and it has no channel binding)"},
};

static const struct obsolete_mech *
obsolete_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(obsolete) / sizeof(obsolete[0]); i++)
		if (strcasecmp(name, obsolete[i].name) == 0)
			return &obsolete[i];
	return NULL;
}

bool
sasl_obsolete(const char *name)
{
	return obsolete_find(name) != NULL;
}

/* ERR_CONFIG for the obsolete mechanism O the profile asks for, with what the server offers
 * (WORDS) and what postie would use of it. */
static void
refuse_obsolete(const char *offered, const char *words, const struct obsolete_mech *o,
                const struct sasl_creds *c, struct err *e)
{
	const char *name = o->name, *why = o->why;
	struct err ignore;
	const char *instead = words[0] ? sasl_pick(offered, NULL, c, &ignore) : NULL;

	if (!words[0])
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: %s is %s, and postie does not offer it; the server "
		        "offers no AUTH mechanism: write `auth off` instead of `auth %s` if it "
		        "needs no login",
		        name, why, name);
	else if (instead)
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: %s is %s, and postie does not offer it; the server "
		        "offers %s: write `auth on` instead of `auth %s` and postie uses %s",
		        name, why, words, name, instead);
	else
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: %s is %s, and postie does not offer it; the server "
		        "offers %s, none of which fits this account's credentials: ask its "
		        "administrator for SCRAM-SHA-256 or PLAIN over TLS",
		        name, why, words);
}

/* The mechanism the profile names, when C fits it and the server offers it. */
static const char *
pick_wanted(const char *offered, const char *words, const char *wanted, const struct sasl_creds *c,
            struct err *e)
{
	const struct mech_info *m = mech_find(wanted);
	const struct obsolete_mech *o = obsolete_find(wanted);

	if (o) {
		refuse_obsolete(offered, words, o, c, e);
		return NULL;
	}
	if (!m) {
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: mechanism %.64s is not supported (postie "
		        "supports " SASL_ALL_NAMES ")",
		        wanted);
		return NULL;
	}
	const char *why = misfit(m, c);
	if (why) {
		err_set(e, ERR_CONFIG, "choose AUTH mechanism: %s %s", m->name, why);
		return NULL;
	}
	if (list_has(offered, m->name))
		return m->name;
	not_offered(words, "the profile asks for ", m->name, " (set auth on to let postie choose)",
	            e);
	return NULL;
}

/* ERR_CONFIG: no mechanism at all fits the credentials C. */
static void
nothing_fits(const struct sasl_creds *c, struct err *e)
{
	if (has(c->pass) && !has(c->user))
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: there is a password but no user name; set "
		        "user");
	else if (has(c->pass) && has(c->authzid))
		err_set(e, ERR_CONFIG, "choose AUTH mechanism: %s",
		        "no password mechanism can act as another user (authzid)");
	else
		err_set(e, ERR_CONFIG,
		        "choose AUTH mechanism: no password, OAuth token or client "
		        "certificate to log in with; set password or passwordeval, or "
		        "auth off");
}

const char *
sasl_pick(const char *offered, const char *wanted, const struct sasl_creds *c, struct err *e)
{
	char words[300], names[200];

	if (!offered)
		offered = "";
	list_words(offered, words, sizeof(words));
	if (wanted && *wanted)
		return pick_wanted(offered, words, wanted, c, e);

	names[0] = '\0';
	for (size_t i = 0; i < NMECHS; i++) {
		const struct mech_info *m = &mech_table[i];
		if (!eligible(m, c))
			continue;
		if (list_has(offered, m->name))
			return m->name;
		/* The table's names all fit in NAMES (about 130 bytes). */
		size_t k = strlen(names), len = strlen(m->name);
		if (k + 2 + len < sizeof(names)) {
			if (k) {
				memcpy(names + k, ", ", 2);
				k += 2;
			}
			memcpy(names + k, m->name, len + 1);
		}
	}
	if (!names[0])
		nothing_fits(c, e);
	else
		not_offered(words, "with these credentials postie can use ", names, "", e);
	return NULL;
}

struct sasl {
	const struct mech_info *m;
	unsigned rounds;  /* challenges answered, not counting the deferred initial response */
	bool pending;     /* the initial response waits for the server's empty 334 */
	bool done;        /* the mechanism sent its last message: no 334 may follow */
	bool failed;      /* the server reported a failure inside the mechanism */
	struct buf first; /* the initial response in base64, while pending (secret) */
	struct buf user;  /* LOGIN, CRAM-MD5 (secret, like PASS) */
	struct buf pass;  /* LOGIN, CRAM-MD5 */
	struct scram scram;
	char failure[SASL_FAILURE_MAX];
};

/* A copy of V in B, marked secret so that buf_fini wipes it (SEC-16). */
static void
keep_secret(struct buf *b, const char *v)
{
	size_t n = strlen(v);

	buf_init(b, n);
	b->secret = true;
	buf_append(b, v, n, NULL); /* fits: the ceiling is its length */
}

void
sasl_free(struct sasl *s)
{
	if (!s)
		return;
	buf_fini(&s->first);
	scram_fini(&s->scram);
	buf_fini(&s->user);
	buf_fini(&s->pass);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const char *
sasl_failure(const struct sasl *s)
{
	return s && s->failure[0] ? s->failure : NULL;
}

/* A user name or authzid goes into messages with separators: no control characters. */
static int
check_name(const struct sasl *s, const char *what, const char *v, struct err *e)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, ERR_CONFIG,
			               "authenticate with %s: the %s contains a control character",
			               s->m->name, what);
	return 0;
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
 * C's token, else its password taken for one (token_of). */
static int
check_token(const struct sasl *s, const struct sasl_creds *c, struct err *e)
{
	const char *t = token_of(c);

	if (!codec_is_b64token(t, strlen(t)))
		return err_set(e, ERR_CONFIG,
		               "authenticate with %s: the %s is not a bearer token (RFC 6750 "
		               "b64token: letters, digits and -._~+/ then '=' padding); %s",
		               s->m->name,
		               has(c->token) ? "OAuth token" : "password (the access token for it)",
		               has(c->token)
		                   ? "check the command that prints it"
		                   : "give the OAuth 2.0 access token as the password, or use "
		                     "oauth2_token_command");
	return 0;
}

/* SCRAM's client-first message (scram.c) into MSG. */
static int
scram_first(struct sasl *s, const struct sasl_creds *c, struct buf *msg, struct err *e)
{
	const struct scram_creds sc = {
	    .user = c->user,
	    .pass = c->pass,
	    .authzid = c->authzid,
	    .cb = c->cb,
	    .cb_len = c->cb_len,
	    .cb_type = c->cb_type,
	    .offered = c->offered,
	    .nonce = c->nonce,
	};
	bool sha1 = s->m->id == MECH_SCRAM_SHA_1 || s->m->id == MECH_SCRAM_SHA_1_PLUS;

	return scram_build_first(&s->scram, s->m->name, sha1, (s->m->flags & NEEDS_CB) != 0, &sc,
	                         msg, e);
}

/* The first message of each client-first mechanism (unencoded) into MSG. */
static int
first_message(struct sasl *s, const struct sasl_creds *c, struct buf *msg, struct err *e)
{
	int rc;

	switch (s->m->id) {
	case MECH_PLAIN:
		return put_plain(msg, c->authzid, c->user, c->pass, e);
	case MECH_EXTERNAL:
		/* RFC 4422 App. A: the authzid, or nothing to be whoever the certificate
		 * says. */
		return has(c->authzid) ? buf_puts(msg, c->authzid, e) : 0;
	case MECH_XOAUTH2:
		/* Google's format: "user=" user ^A "auth=Bearer " token ^A ^A */
		return buf_printf(msg, e, "user=%s\001auth=Bearer %s\001\001", c->user, c->token);
	case MECH_OAUTHBEARER:
		/* RFC 7628 §3.1: gs2-header kvsep *kvpair kvsep, where the gs2 header of RFC
		 * 5801 carries the user as a= and no channel binding. */
		rc = buf_puts(msg, "n,", e);
		if (rc == 0 && (has(c->authzid) || has(c->user))) {
			rc = buf_puts(msg, "a=", e);
			if (rc == 0)
				rc = scram_put_saslname(msg, has(c->authzid) ? c->authzid : c->user,
				                        e);
		}
		if (rc == 0)
			rc = buf_puts(msg, ",\001", e);
		if (rc == 0 && has(c->host))
			rc = buf_printf(msg, e, "host=%s\001", c->host);
		if (rc == 0 && c->port > 0)
			rc = buf_printf(msg, e, "port=%d\001", c->port);
		if (rc == 0)
			rc = buf_printf(msg, e, "auth=Bearer %s\001\001", c->token);
		return rc;
	default:
		return scram_first(s, c, msg, e);
	}
}

int
sasl_start(struct sasl **out, const char *mech, const struct sasl_creds *c, size_t room,
           struct buf *initial, bool *has_initial, struct err *e)
{
	const struct mech_info *m = mech ? mech_find(mech) : NULL;
	struct buf msg, b64;

	*out = NULL;
	*has_initial = false;
	initial->secret = true;
	if (!m)
		return err_set(e, ERR_SOFTWARE, "authenticate: unknown mechanism %.64s",
		               mech ? mech : "(none)");
	struct sasl *s = xcalloc(1, sizeof(*s));
	s->m = m;
	buf_init(&s->first, 0);
	const char *why = misfit(m, c);
	if (why) {
		err_set(e, ERR_CONFIG, "authenticate with %s: the mechanism %s", m->name, why);
		goto fail;
	}
	if ((has(c->user) && check_name(s, "user name", c->user, e) < 0) ||
	    (has(c->authzid) && check_name(s, "authzid", c->authzid, e) < 0) ||
	    (has(c->host) && (m->id == MECH_OAUTHBEARER) &&
	     check_name(s, "host name", c->host, e) < 0) ||
	    ((m->flags & NEEDS_TOKEN) && check_token(s, c, e) < 0))
		goto fail;

	if (m->id == MECH_LOGIN || m->id == MECH_CRAM_MD5) {
		/* Server-first: nothing to send with AUTH. */
		keep_secret(&s->user, c->user);
		keep_secret(&s->pass, c->pass);
		*out = s;
		return 0;
	}

	buf_init(&msg, SASL_MESSAGE_MAX);
	msg.secret = true;
	buf_init(&b64, SASL_MESSAGE_MAX / 3 * 4 + 4);
	b64.secret = true;
	/* The OAuth mechanisms send the token, or the password taken for one (token_of). */
	struct sasl_creds tc = *c;
	if (m->flags & NEEDS_TOKEN)
		tc.token = token_of(c);
	int rc = first_message(s, &tc, &msg, e);
	if (rc == 0)
		rc = codec_base64_encode(&b64, msg.data, msg.len, e);
	buf_fini(&msg);
	if (rc < 0) {
		buf_fini(&b64);
		goto fail;
	}
	/* RFC 4954 §4: an empty initial response is sent as "="; one that would make the AUTH
	 * line too long is not sent with AUTH but after the server's empty 334. */
	size_t want = b64.len ? b64.len : 1;
	if (want <= room) {
		rc = b64.len ? buf_append(initial, b64.data, b64.len, e)
		             : buf_append(initial, "=", 1, e);
		buf_fini(&b64);
		if (rc < 0)
			goto fail;
		*has_initial = true;
	} else {
		s->first = b64; /* keeps the ceiling and the secret mark */
		s->pending = true;
	}
	/* PLAIN and EXTERNAL have said all they have to say. */
	s->done = m->id == MECH_PLAIN || m->id == MECH_EXTERNAL;
	*out = s;
	return 0;
fail:
	sasl_free(s);
	return -1;
}

/* Printable text of at most SASL_FAILURE_MAX - 1 bytes from the server, for a message. */
static void
set_failure(struct sasl *s, const char *prefix, const char *p, size_t n)
{
	size_t k = (size_t)snprintf(s->failure, sizeof(s->failure), "%s", prefix);

	for (size_t i = 0; i < n && k + 1 < sizeof(s->failure); i++) {
		unsigned char ch = (unsigned char)p[i];
		s->failure[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	s->failure[k] = '\0';
}

/* RFC 7628 §3.2.2: {"status":"invalid_token",...}; keep the status for the 535 message. */
static void
oauth_failure(struct sasl *s, const char *p, size_t n)
{
	static const char key[] = "\"status\"";
	size_t at = n;

	s->failed = true;
	for (size_t i = 0; i + sizeof(key) - 1 <= n; i++)
		if (memcmp(p + i, key, sizeof(key) - 1) == 0) {
			at = i;
			break;
		}
	if (at < n) {
		size_t i = at + sizeof(key) - 1;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < n && p[i] == ':') {
			i++;
			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i < n && p[i] == '"') {
				size_t j = ++i;
				while (j < n && p[j] != '"' && p[j] != '\\' && j - i < 64)
					j++;
				set_failure(s, "status ", p + i, j - i);
				return;
			}
		}
	}
	set_failure(s, "", p, n);
}

/* RFC 2195 §2: user SP hex(HMAC-MD5(password, challenge)), lower-case hex. */
static int
cram_md5(struct sasl *s, const char *p, size_t n, struct buf *response, struct err *e)
{
	unsigned char d[16];
	char hex[33];
	struct buf msg;

	if (n == 0)
		return err_set(e, ERR_PROTO, "authenticate with CRAM-MD5: the challenge is empty");
	int r = gnutls_hmac_fast(GNUTLS_MAC_MD5, s->pass.data, s->pass.len, p, n, d);
	if (r < 0)
		return err_set(
		    e, ERR_CONFIG,
		    "authenticate with CRAM-MD5: HMAC-MD5: %s (is GnuTLS in FIPS mode?); "
		    "choose another mechanism",
		    gnutls_strerror(r));
	codec_hex_encode(hex, d, sizeof(d));
	buf_init(&msg, SASL_MESSAGE_MAX);
	msg.secret = true;
	int rc = buf_printf(&msg, e, "%s %s", s->user.data, hex);
	if (rc == 0)
		rc = codec_base64_encode(response, msg.data, msg.len, e);
	buf_fini(&msg);
	explicit_bzero(d, sizeof(d));
	explicit_bzero(hex, sizeof(hex));
	return rc;
}

/*
 * The challenge (base64) decoded into MSG. An OAuth challenge only ever reports a failure, so
 * one that is not base64 is kept as it is (its first 200 bytes): it is answered anyway, so
 * the server can say 535.
 */
static int
decode_challenge(const struct sasl *s, const char *challenge, size_t len, struct buf *msg,
                 struct err *e)
{
	buf_init(msg, SASL_CHALLENGE_MAX);
	msg->secret = true;
	if (codec_base64_decode(msg, challenge, len, e) == 0)
		return 0;
	buf_fini(msg);
	if (s->m->id != MECH_XOAUTH2 && s->m->id != MECH_OAUTHBEARER)
		return err_set(e, ERR_PROTO, "authenticate with %s: the challenge is not base64",
		               s->m->name);
	buf_init(msg, SASL_CHALLENGE_MAX);
	buf_append(msg, challenge, len > 200 ? 200 : len, NULL);
	return 0;
}

/* SCRAM's rounds: server-first gets the proof, server-final is answered with an empty line. */
static int
scram_step(struct sasl *s, const char *p, size_t n, struct buf *response, struct err *e)
{
	const char *said;
	size_t said_len;

	if (s->rounds == 1)
		return scram_answer_first(&s->scram, p, n, response, e);
	s->done = true;
	int rc = scram_check_final(&s->scram, p, n, &said, &said_len, e);
	if (rc <= 0)
		return rc;
	set_failure(s, "", said, said_len);
	s->failed = true;
	return err_set(e, ERR_AUTH, "authenticate with %s: the server refused: %s", s->m->name,
	               s->failure);
}

/* A server-first mechanism's answer to the decoded challenge P (N bytes). */
static int
answer(struct sasl *s, const char *p, size_t n, struct buf *response, struct err *e)
{
	switch (s->m->id) {
	case MECH_CRAM_MD5:
		s->done = true;
		return cram_md5(s, p, n, response, e);
	case MECH_XOAUTH2:
		/* Google: the error is JSON; the client answers with an empty line and the
		 * server then says 535. */
		oauth_failure(s, p, n);
		s->done = true;
		return 0;
	case MECH_OAUTHBEARER:
		/* RFC 7628 §3.2.3: the client answers a failure with a lone %x01. */
		oauth_failure(s, p, n);
		s->done = true;
		return buf_puts(response, "AQ==", e);
	default:
		return scram_step(s, p, n, response, e);
	}
}

int
sasl_step(struct sasl *s, const char *challenge, size_t len, struct buf *response, struct err *e)
{
	const char *name = s->m->name;
	struct buf msg;
	int rc;

	response->secret = true;
	if (s->pending) {
		/* RFC 4954 §4: after AUTH without its initial response the server asks for it
		 * with an empty challenge. */
		if (len != 0)
			return err_set(
			    e, ERR_PROTO,
			    "authenticate with %s: the server sent a challenge where it should "
			    "ask for our first message",
			    name);
		s->pending = false;
		rc = buf_append(response, s->first.data ? s->first.data : "", s->first.len, e);
		buf_fini(&s->first);
		return rc;
	}
	if (s->done)
		return err_set(
		    e, ERR_PROTO,
		    "authenticate with %s: the server sent a challenge after our last message",
		    name);
	if (s->m->id == MECH_LOGIN) {
		/* The challenges say "Username:" and "Password:" (in base64) or anything else;
		 * only their order counts. */
		const struct buf *v = s->rounds == 0 ? &s->user : &s->pass;
		s->rounds++;
		s->done = s->rounds == 2;
		return codec_base64_encode(response, v->data, v->len, e);
	}
	if (decode_challenge(s, challenge, len, &msg, e) < 0)
		return -1;
	s->rounds++;
	rc = answer(s, msg.data ? msg.data : "", msg.len, response, e);
	buf_fini(&msg);
	return rc;
}

int
sasl_finish(struct sasl *s, struct err *e)
{
	const char *name = s->m->name;

	if (s->failed)
		return err_set(
		    e, ERR_AUTH,
		    "authenticate with %s: the server accepted after it reported a failure "
		    "(%s)",
		    name, s->failure);
	if (s->m->flags & SCRAM) {
		if (!s->scram.verified)
			return err_set(
			    e, ERR_AUTH,
			    "authenticate with %s: the server accepted without proving that it "
			    "knows the password (no SCRAM server signature, RFC 5802 §5); "
			    "refusing it",
			    name);
		return 0;
	}
	bool complete = !s->pending;
	if (s->m->id == MECH_LOGIN)
		complete = s->rounds == 2;
	else if (s->m->id == MECH_CRAM_MD5)
		complete = s->rounds == 1;
	if (!complete)
		return err_set(e, ERR_AUTH,
		               "authenticate with %s: the server accepted before the exchange was "
		               "complete",
		               name);
	return 0;
}
