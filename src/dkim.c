/*
 * dkim: DKIM signatures (RFC 6376), relaxed/relaxed, RSA-SHA256 and Ed25519-SHA256 (RFC 8463).
 * The body's canonical form is hashed as it streams past; the header fields are picked,
 * canonicalised, and signed with the DKIM-Signature field itself (b= empty) last (§3.7).
 */
#include "dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec.h"
#include "header.h"
#include "io.h"
#include "priv.h"

/* A folded line of the signature field is at most this long (RFC 5322 §2.1.1's SHOULD). */
#define FOLD_AT 78
/* A key file is small; a bigger one is no key. */
#define KEY_MAX (64 * 1024)

int
dkim_body_init(struct dkim_body *b, struct err *e)
{
	gnutls_hash_hd_t h;

	memset(b, 0, sizeof(*b));
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return err_set(e, ERR_SOFTWARE, "start DKIM body hash: GnuTLS has no SHA-256");
	b->hash = h;
	return 0;
}

static void
stage_flush(struct dkim_body *b)
{
	if (b->staged)
		gnutls_hash((gnutls_hash_hd_t)b->hash, b->stage, b->staged);
	b->length += b->staged;
	b->staged = 0;
}

static void
stage_put(struct dkim_body *b, const char *p, size_t n)
{
	if (b->staged + n > sizeof(b->stage))
		stage_flush(b);
	memcpy(b->stage + b->staged, p, n);
	b->staged += n;
}

/*
 * RFC 6376 §3.4.4: WSP at the end of a line is dropped, a WSP run inside one is one SP, and
 * empty lines at the end of the body are dropped. So WSP and empty lines are held back
 * until a byte of text shows they are inside; a line holding only WSP is empty.
 */
void
dkim_body_feed(struct dkim_body *b, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char c = p[i];
		if (c == ' ' || c == '\t') {
			b->wsp = true;
			i++;
		} else if (c == '\r') {
			i++;
		} else if (c == '\n') {
			if (b->open)
				stage_put(b, "\r\n", 2);
			else
				b->empty++;
			b->open = b->wsp = false;
			i++;
		} else {
			for (; !b->open && b->empty > 0; b->empty--)
				stage_put(b, "\r\n", 2);
			if (b->wsp)
				stage_put(b, " ", 1);
			b->open = true;
			b->wsp = false;
			/* The run of text up to the next WSP or line end goes at once. */
			size_t j = i + 1;
			while (j < n && p[j] != ' ' && p[j] != '\t' && p[j] != '\r' && p[j] != '\n')
				j++;
			while (i < j) {
				size_t k = j - i < sizeof(b->stage) ? j - i : sizeof(b->stage);
				stage_put(b, p + i, k);
				i += k;
			}
		}
	}
}

void
dkim_body_end(struct dkim_body *b, unsigned char out[DKIM_HASH_LEN])
{
	/* A body without its last line end gets one (§3.4.4: "if the body is non-empty but
	 * does not end with a CRLF"); an empty body hashes as nothing. */
	if (b->open)
		stage_put(b, "\r\n", 2);
	stage_flush(b);
	gnutls_hash_deinit((gnutls_hash_hd_t)b->hash, out);
	b->hash = NULL;
}

void
dkim_body_fini(struct dkim_body *b)
{
	if (b->hash)
		gnutls_hash_deinit((gnutls_hash_hd_t)b->hash, NULL);
	b->hash = NULL;
}

int
dkim_canon_header(struct buf *out, const char *name, size_t nlen, const char *value, size_t vlen,
                  struct err *e)
{
	for (size_t i = 0; i < nlen; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_append(out, &c, 1, e) < 0)
			return -1;
	}
	if (buf_append(out, ":", 1, e) < 0)
		return -1;
	bool wsp = false, text = false;
	size_t s = 0;
	for (size_t i = 0; i < vlen; i++) {
		char c = value[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == ' ' || c == '\t') {
			wsp = true;
			continue;
		}
		/* Spans of text go whole; a held WSP run becomes one SP inside the value. */
		s = i;
		while (i + 1 < vlen && value[i + 1] != ' ' && value[i + 1] != '\t' &&
		       value[i + 1] != '\r' && value[i + 1] != '\n')
			i++;
		if ((wsp && text && buf_append(out, " ", 1, e) < 0) ||
		    buf_append(out, value + s, i + 1 - s, e) < 0)
			return -1;
		wsp = false;
		text = true;
	}
	return buf_append(out, "\r\n", 2, e);
}

/* SEC-14: the key is a secret; its file must be ours alone (SEC-45: or root's and the
 * group's, for the system profile of a setgid postie, opened with the group). */
static int
read_key_file(const char *file, bool system, struct buf *pem, struct err *e)
{
	char why[512];

	int fd = priv_open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, system);
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "load dkim_key %s: %s", file, strerror(errno));
	const char *bad = priv_not_private(fd, file, system, why, sizeof(why));
	int rc = bad ? EPERM : io_read_all(fd, pem);
	close(fd);
	if (bad)
		return err_set(e, ERR_CONFIG, "load dkim_key %s: %s", file, bad);
	if (rc)
		return err_set(e, ERR_CONFIG, "load dkim_key %s: %s", file,
		               rc == EFBIG ? "too big for a key" : strerror(rc));
	return 0;
}

int
dkim_key_load(struct dkim_key *k, const char *file, bool system, struct err *e)
{
	struct buf pem;
	gnutls_privkey_t key = NULL;
	unsigned bits = 0;

	memset(k, 0, sizeof(*k));
	buf_init(&pem, KEY_MAX);
	pem.secret = true;
	if (read_key_file(file, system, &pem, e) < 0) {
		buf_fini(&pem);
		return -1;
	}
	gnutls_datum_t d = {(unsigned char *)pem.data, (unsigned)pem.len};
	int r = gnutls_privkey_init(&key);
	if (r >= 0)
		r = gnutls_privkey_import_x509_raw(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	buf_fini(&pem);
	if (r < 0) {
		gnutls_privkey_deinit(key);
		return err_set(e, ERR_CONFIG,
		               "load dkim_key %s: %s; give a PEM private key (`certtool "
		               "--generate-privkey --key-type=ed25519` makes one)",
		               file, gnutls_strerror(r));
	}
	int alg = gnutls_privkey_get_pk_algorithm(key, &bits);
	if (alg == GNUTLS_PK_EDDSA_ED25519) {
		k->ed25519 = true;
	} else if (alg != GNUTLS_PK_RSA || bits < 2048) {
		gnutls_privkey_deinit(key);
		if (alg == GNUTLS_PK_RSA)
			return err_set(e, ERR_CONFIG,
			               "load dkim_key %s: an RSA key of %u bits; RFC 8301 §3.2 "
			               "wants at least 2048: make a new key (`certtool "
			               "--generate-privkey --key-type=rsa --bits=2048`)",
			               file, bits);
		return err_set(e, ERR_CONFIG,
		               "load dkim_key %s: a %s key; DKIM signs with Ed25519 or RSA: make "
		               "one with `certtool --generate-privkey --key-type=ed25519`",
		               file, gnutls_pk_get_name((gnutls_pk_algorithm_t)alg));
	}
	k->priv = key;
	return 0;
}

void
dkim_key_fini(struct dkim_key *k)
{
	if (k->priv)
		gnutls_privkey_deinit((gnutls_privkey_t)k->priv);
	k->priv = NULL;
}

int
dkim_key_record(const struct dkim_key *k, struct buf *out, struct err *e)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = {NULL, 0};

	int r = gnutls_pubkey_init(&pub);
	if (r >= 0)
		r = gnutls_pubkey_import_privkey(pub, (gnutls_privkey_t)k->priv, 0, 0);
	if (r >= 0)
		r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	gnutls_pubkey_deinit(pub);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "make the DKIM record: %s", gnutls_strerror(r));
	/* Ed25519's SubjectPublicKeyInfo ends with the 32 bytes of the key (RFC 8410 §4). */
	size_t off = k->ed25519 && der.size >= 32 ? der.size - 32 : 0;
	int rc = buf_printf(out, e, "v=DKIM1; k=%s; p=", k->ed25519 ? "ed25519" : "rsa");
	if (rc == 0)
		rc = codec_base64_encode(out, der.data + off, der.size - off, e);
	gnutls_free(der.data);
	return rc;
}

/* ---- the key record in the DNS ---- */

#define RECORD_MAX_TAGS 32

/* One tag's value in a key record, without the whitespace around it. */
struct tag_value {
	const char *p;
	size_t n;
	bool set;
};

/* What dkim_record_compare reads of a key record. */
struct key_record {
	struct tag_value v, k, p, h, s;
	const char *names[RECORD_MAX_TAGS]; /* every tag name seen, to refuse a second one */
	size_t nlen[RECORD_MAX_TAGS];
	size_t ntags;
};

/* Whitespace in a TXT record: WSP, and the CR LF of FWS. */
static bool
record_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
record_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* S (*N bytes) without whitespace at either end. */
static const char *
record_trim(const char *s, size_t *n)
{
	while (*n && record_wsp(s[0])) {
		s++;
		(*n)--;
	}
	while (*n && record_wsp(s[*n - 1]))
		(*n)--;
	return s;
}

/* Whether NAME (N bytes) is a tag-name (ALPHA *(ALPHA / DIGIT / "_"), §3.2). */
static bool
record_name_ok(const char *name, size_t n)
{
	if (n == 0 || !record_alpha(name[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!record_alpha(name[i]) && !(name[i] >= '0' && name[i] <= '9') && name[i] != '_')
			return false;
	return true;
}

/* The tag-spec SPEC (N bytes), the FIRST of the list or not, into R: NULL or what is wrong. */
static const char *
record_tag(const char *spec, size_t n, bool first, struct key_record *r)
{
	const char *eq = memchr(spec, '=', n);
	if (!eq)
		return "a tag without '='";
	size_t nl = (size_t)(eq - spec), vl = n - nl - 1;
	const char *name = record_trim(spec, &nl);
	const char *value = record_trim(eq + 1, &vl);
	if (!record_name_ok(name, nl))
		return "a tag name that is not letters, digits and '_'";
	for (size_t i = 0; i < vl; i++)
		if (!record_wsp(value[i]) && (value[i] < '!' || value[i] > '~' || value[i] == ';'))
			return "a byte outside printable ASCII in a value";
	for (size_t i = 0; i < r->ntags; i++)
		if (r->nlen[i] == nl && memcmp(r->names[i], name, nl) == 0)
			return "a tag given twice";
	if (r->ntags == RECORD_MAX_TAGS)
		return "too many tags";
	r->names[r->ntags] = name;
	r->nlen[r->ntags++] = nl;
	struct tag_value *t = NULL;
	if (nl == 1)
		t = name[0] == 'v'   ? &r->v
		    : name[0] == 'k' ? &r->k
		    : name[0] == 'p' ? &r->p
		    : name[0] == 'h' ? &r->h
		    : name[0] == 's' ? &r->s
		                     : NULL;
	if (t == &r->v && !first)
		return "v= is not the first tag";
	if (t)
		*t = (struct tag_value){value, vl, true};
	return NULL;
}

/* The tag list TEXT (LEN bytes) into R: NULL or what is wrong. A ';' may end the list. */
static const char *
record_parse(const char *text, size_t len, struct key_record *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0, k = 0;; k++) {
		const char *semi = memchr(text + i, ';', len - i);
		size_t end = semi ? (size_t)(semi - text) : len;
		size_t n = end - i;
		const char *spec = record_trim(text + i, &n);
		if (n == 0 && (semi || k == 0))
			return semi ? "an empty tag" : "an empty record";
		if (n > 0) {
			const char *why = record_tag(spec, n, k == 0, r);
			if (why)
				return why;
		}
		if (!semi)
			return NULL;
		i = end + 1;
	}
}

/* Whether the colon-separated list T names WORD (ignoring case and whitespace). */
static bool
record_list_has(const struct tag_value *t, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i <= t->n;) {
		const char *colon = memchr(t->p + i, ':', t->n - i);
		size_t end = colon ? (size_t)(colon - t->p) : t->n;
		size_t n = end - i;
		const char *item = record_trim(t->p + i, &n);
		if (n == wl && strncasecmp(item, word, wl) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* The bytes p= encodes (whitespace inside dropped) into OUT: 0, or -1 when not base64. */
static int
record_key(const struct tag_value *p, struct buf *out)
{
	struct buf b64;
	struct err e;
	int rc = 0;

	buf_init(&b64, p->n + 1);
	for (size_t i = 0; i < p->n && rc == 0; i++)
		if (!record_wsp(p->p[i]))
			rc = buf_append(&b64, p->p + i, 1, &e);
	if (rc == 0)
		rc = codec_base64_decode(out, b64.data ? b64.data : "", b64.len, &e);
	buf_fini(&b64);
	return rc;
}

/* Quote at most 40 bytes of T. */
#define TAG_QUOTE(t) (int)((t).n < 40 ? (t).n : 40), (t).p

enum dkim_record_verdict
dkim_record_compare(const char *ours, const char *pub, size_t len, char *why, size_t n)
{
	struct key_record mine, r;
	const char *bad = record_parse(pub, len, &r);

	why[0] = '\0';
	if (!bad && r.v.set && !(r.v.n == 5 && memcmp(r.v.p, "DKIM1", 5) == 0)) {
		snprintf(why, n, "v=%.*s, not DKIM1: not a DKIM key record", TAG_QUOTE(r.v));
		return DKIM_RECORD_INVALID;
	}
	if (!bad && !r.p.set)
		bad = "no p= tag";
	if (bad) {
		snprintf(why, n, "not a DKIM key record: %s", bad);
		return DKIM_RECORD_INVALID;
	}
	record_parse(ours, strlen(ours), &mine);
	if (r.p.n == 0) {
		snprintf(why, n, "p= is empty: the key of this selector is revoked");
		return DKIM_RECORD_REVOKED;
	}
	struct tag_value k = r.k.set ? r.k : (struct tag_value){"rsa", 3, true};
	if (k.n != mine.k.n || strncasecmp(k.p, mine.k.p, k.n) != 0) {
		snprintf(why, n, "k=%.*s%s, but the key is k=%.*s", TAG_QUOTE(k),
		         r.k.set ? "" : " (no k=)", TAG_QUOTE(mine.k));
		return DKIM_RECORD_OTHER_TYPE;
	}
	if (r.h.set && !record_list_has(&r.h, "sha256")) {
		snprintf(why, n, "h=%.*s does not allow sha256, the hash postie signs with",
		         TAG_QUOTE(r.h));
		return DKIM_RECORD_INVALID;
	}
	if (r.s.set && !record_list_has(&r.s, "email") && !record_list_has(&r.s, "*")) {
		snprintf(why, n, "s=%.*s does not allow email", TAG_QUOTE(r.s));
		return DKIM_RECORD_INVALID;
	}
	struct buf a, b;
	buf_init(&a, len + 1);
	buf_init(&b, strlen(ours) + 1);
	enum dkim_record_verdict v = DKIM_RECORD_MATCH;
	if (record_key(&r.p, &a) < 0) {
		snprintf(why, n, "p= is not base64: not a DKIM key record");
		v = DKIM_RECORD_INVALID;
	} else if (record_key(&mine.p, &b) < 0 || a.len != b.len || memcmp(a.data, b.data, a.len)) {
		snprintf(why, n, "p= is another %.*s key", TAG_QUOTE(mine.k));
		v = DKIM_RECORD_OTHER_KEY;
	}
	buf_fini(&a);
	buf_fini(&b);
	return v;
}

/* A field name of the h= list: printable ASCII but ':' (RFC 5322 §3.6.8), lower-cased. */
static bool
name_ok(const char *n, size_t len)
{
	if (len == 0 || len > HEADER_MAX_LINE)
		return false;
	for (size_t i = 0; i < len; i++)
		if (n[i] <= ' ' || n[i] > '~' || n[i] == ':' || n[i] == ';')
			return false;
	return true;
}

/* The header section's fields, up to the empty line (if any). */
struct fields {
	struct header_field *v;
	size_t n;
};

static void
fields_read(const char *head, size_t len, struct fields *fs)
{
	struct buf hb = {.data = (char *)head, .len = len};
	struct header_field f;
	size_t pos = 0, cap = 0;

	fs->v = NULL;
	fs->n = 0;
	while (pos < len && head[pos] != '\r' && head[pos] != '\n' &&
	       header_field_next(&hb, &pos, &f)) {
		if (fs->n == cap) {
			cap = cap ? cap * 2 : 32;
			fs->v = xrealloc(fs->v, cap * sizeof(*fs->v));
		}
		fs->v[fs->n++] = f;
	}
}

/* How many fields of FS are called NAME (NLEN bytes). */
static size_t
fields_count(const struct fields *fs, const char *name, size_t nlen)
{
	size_t k = 0;
	for (size_t i = 0; i < fs->n; i++)
		k += fs->v[i].name_len == nlen && strncasecmp(fs->v[i].name, name, nlen) == 0;
	return k;
}

/* The INST-th field called NAME from the bottom (0: the last), or NULL. */
static const struct header_field *
fields_pick(const struct fields *fs, const char *name, size_t nlen, size_t inst)
{
	for (size_t i = fs->n; i-- > 0;)
		if (fs->v[i].name_len == nlen && strncasecmp(fs->v[i].name, name, nlen) == 0 &&
		    inst-- == 0)
			return &fs->v[i];
	return NULL;
}

/* A folded field being written: COL is the column of the next byte. */
struct fold {
	struct buf *out;
	size_t col;
};

/* Append WORD; first a line break when it would pass FOLD_AT, else SEP (" " or ""). */
static int
fold_word(struct fold *f, const char *word, size_t n, const char *sep, struct err *e)
{
	size_t s = strlen(sep);
	if (f->col + s + n > FOLD_AT && f->col > 1) {
		if (buf_append(f->out, "\r\n\t", 3, e) < 0)
			return -1;
		f->col = 8;
	} else if (buf_append(f->out, sep, s, e) < 0) {
		return -1;
	} else {
		f->col += s;
	}
	f->col += n;
	return buf_append(f->out, word, n, e);
}

/*
 * The h= list of S over FS into F as words ("h=from:", "from:", ...), and the canonical
 * fields it names, in its order, into CANON.
 */
static int
pick_headers(const struct dkim_sign *s, const struct fields *fs, struct fold *f, struct buf *canon,
             struct err *e)
{
	const char *list = s->headers && *s->headers ? s->headers : DKIM_HEADERS_DEFAULT;
	bool from = false, first = true;

	for (const char *p = list; *p;) {
		const char *q = strchr(p, ':');
		size_t nlen = q ? (size_t)(q - p) : strlen(p);
		while (nlen && (*p == ' ' || *p == '\t'))
			p++, nlen--;
		while (nlen && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
			nlen--;
		if (!name_ok(p, nlen))
			return err_set(e, ERR_CONFIG,
			               "sign with DKIM: dkim_headers \"%s\" has a bad field name; "
			               "give names separated by ':'",
			               list);
		bool is_from = nlen == 4 && strncasecmp(p, "from", 4) == 0;
		from |= is_from;
		/* Every instance present, and From once more: its absence is signed too. */
		size_t k = fields_count(fs, p, nlen) + (is_from ? 1 : 0);
		for (size_t i = 0; i < k; i++) {
			char word[HEADER_MAX_LINE + 4];
			size_t w = 0;
			if (first)
				memcpy(word, "h=", 2), w = 2;
			memcpy(word + w, p, nlen);
			w += nlen;
			word[w++] = ':';
			if (fold_word(f, word, w, first ? " " : "", e) < 0)
				return -1;
			first = false;
			const struct header_field *hf = fields_pick(fs, p, nlen, i);
			if (hf && dkim_canon_header(canon, hf->name, hf->name_len,
			                            hf->name + (hf->value - hf->start),
			                            hf->value_end - hf->value, e) < 0)
				return -1;
		}
		p = q ? q + 1 : p + nlen;
	}
	if (!from)
		return err_set(e, ERR_CONFIG,
		               "sign with DKIM: dkim_headers \"%s\" does not name From, which RFC "
		               "6376 §5.4 requires; add from to it",
		               list);
	/* The last word's ':' becomes ';' (the list is "a:b:c"). */
	f->out->data[f->out->len - 1] = ';';
	return 0;
}

/* Sign DATA (the canonical fields and the signature field with b= empty) into SIG (base64). */
static int
sign_data(const struct dkim_key *k, const struct buf *data, struct buf *sig, struct err *e)
{
	gnutls_datum_t in = {(unsigned char *)data->data, (unsigned)data->len}, out = {0};
	unsigned char digest[DKIM_HASH_LEN];
	int r;

	if (k->ed25519) {
		/* RFC 8463 §3: Ed25519 (PureEdDSA) over the SHA-256 hash of the data. */
		r = gnutls_hash_fast(GNUTLS_DIG_SHA256, data->data, data->len, digest);
		gnutls_datum_t h = {digest, sizeof(digest)};
		if (r >= 0)
			r = gnutls_privkey_sign_data2((gnutls_privkey_t)k->priv,
			                              GNUTLS_SIGN_EDDSA_ED25519, 0, &h, &out);
	} else {
		r = gnutls_privkey_sign_data2((gnutls_privkey_t)k->priv, GNUTLS_SIGN_RSA_SHA256, 0,
		                              &in, &out);
	}
	if (r < 0)
		return err_set(e, ERR_SOFTWARE, "sign with DKIM: %s", gnutls_strerror(r));
	r = codec_base64_encode(sig, out.data, out.size, e);
	gnutls_free(out.data);
	return r;
}

/* Append B64 as the value of b=, folded into lines of at most FOLD_AT. */
static int
fold_b64(struct fold *f, const struct buf *b64, struct err *e)
{
	if (fold_word(f, "b=", 2, " ", e) < 0)
		return -1;
	for (size_t i = 0; i < b64->len;) {
		size_t room = f->col < FOLD_AT ? FOLD_AT - f->col : 0;
		if (room == 0) {
			if (buf_append(f->out, "\r\n\t", 3, e) < 0)
				return -1;
			f->col = 8;
			continue;
		}
		size_t k = b64->len - i < room ? b64->len - i : room;
		if (buf_append(f->out, b64->data + i, k, e) < 0)
			return -1;
		f->col += k;
		i += k;
	}
	return buf_append(f->out, "\r\n", 2, e);
}

/* A domain name or selector as RFC 6376 §3.1 and §3.5 have them: letters, digits, '-', '.'
 * (and '_', which DNS takes); nothing that could end the tag or the field. */
static bool
dns_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* The tags before h=, and bh= after it, into F. */
static int
put_tags(const struct dkim_sign *s, struct fold *f, const unsigned char bh[DKIM_HASH_LEN],
         bool before, struct err *e)
{
	char w[512];
	int n;

	if (!before) {
		struct buf b;
		buf_init(&b, 128);
		int rc = buf_puts(&b, "bh=", e) < 0 ||
		                 codec_base64_encode(&b, bh, DKIM_HASH_LEN, e) < 0 ||
		                 buf_puts(&b, ";", e) < 0 || fold_word(f, b.data, b.len, " ", e) < 0
		             ? -1
		             : 0;
		buf_fini(&b);
		return rc;
	}
	if (!dns_name_ok(s->domain) || !dns_name_ok(s->selector))
		return err_set(e, ERR_CONFIG,
		               "sign with DKIM: \"%s\" is no %s; give letters, digits, '-' and '.' "
		               "in dkim_%s",
		               dns_name_ok(s->domain) ? s->selector : s->domain,
		               dns_name_ok(s->domain) ? "selector" : "domain name",
		               dns_name_ok(s->domain) ? "selector" : "domain");
	const char *tags[] = {"v=1;", s->key->ed25519 ? "a=ed25519-sha256;" : "a=rsa-sha256;",
	                      "c=relaxed/relaxed;"};
	for (size_t i = 0; i < sizeof(tags) / sizeof(*tags); i++)
		if (fold_word(f, tags[i], strlen(tags[i]), " ", e) < 0)
			return -1;
	n = snprintf(w, sizeof(w), "d=%s;", s->domain);
	if (fold_word(f, w, (size_t)n, " ", e) < 0)
		return -1;
	n = snprintf(w, sizeof(w), "s=%s;", s->selector);
	if (fold_word(f, w, (size_t)n, " ", e) < 0)
		return -1;
	n = snprintf(w, sizeof(w), "t=%lld;", (long long)s->now);
	return fold_word(f, w, (size_t)n, " ", e);
}

int
dkim_sign_header(const struct dkim_sign *s, const char *head, size_t len,
                 const unsigned char bh[DKIM_HASH_LEN], struct buf *out, struct err *e)
{
	struct fields fs;
	struct buf canon, sig;
	size_t start = out->len;
	struct fold f = {.out = out, .col = 15};

	buf_init(&canon, 2 * BUF_MAX_HEADER);
	buf_init(&sig, 4096);
	fields_read(head, len, &fs);
	int rc = buf_puts(out, "DKIM-Signature:", e) < 0 || put_tags(s, &f, bh, true, e) < 0 ||
	                 pick_headers(s, &fs, &f, &canon, e) < 0 ||
	                 put_tags(s, &f, bh, false, e) < 0
	             ? -1
	             : 0;
	size_t mark = out->len, mcol = f.col;
	/* §3.7: the signature field itself last, b= empty, canonical, without its CRLF. */
	if (rc == 0)
		rc = fold_word(&f, "b=", 2, " ", e);
	if (rc == 0) {
		size_t name = strlen("DKIM-Signature");
		rc =
		    dkim_canon_header(&canon, out->data + start, name, out->data + start + name + 1,
		                      out->len - start - name - 1, e);
	}
	if (rc == 0) {
		canon.len -= 2;
		rc = sign_data(s->key, &canon, &sig, e);
	}
	if (rc == 0) {
		/* The field again from b=, now with its value (relaxed, the fold is one SP). */
		out->len = mark;
		out->data[mark] = '\0';
		f.col = mcol;
		rc = fold_b64(&f, &sig, e);
	}
	if (rc < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	free(fs.v);
	buf_fini(&canon);
	buf_fini(&sig);
	return rc;
}
