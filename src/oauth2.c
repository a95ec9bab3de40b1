/*
 * oauth2: the OAuth 2.0 access token (oauth2.h): the command's output, and the cache.
 *
 * RFC 6749 §5.1 and §5.2 (a token endpoint's answer and its error), RFC 6750 §2.1 (the
 * bearer token's shape), RFC 8259 (JSON: a reader of just what §5.1 needs, strict about
 * syntax, skipping other members to a bounded depth). The cache follows the XDG Base
 * Directory Specification 0.8 ($XDG_CACHE_HOME) and the private-file rule (SEC-14).
 */
#include "oauth2.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "codec.h"
#include "io.h"
#include "log.h"
#include "priv.h"
#include "spawn.h"

/* A token cache file: a few short lines and the token. */
#define CACHE_FILE_MAX (OAUTH2_TOKEN_MAX + 3 * 4096)
/* A lifetime is 1 to 10 digits (RFC 6749 §5.1 gives no bound; this one is ours). */
#define LIFETIME_DIGITS_MAX 10
/* How deep a token endpoint's JSON answer may nest. */
#define JSON_DEPTH_MAX 16

static long long (*clock_hook)(void);

void
oauth2_set_clock(long long (*now)(void))
{
	clock_hook = now;
}

static long long
now_s(void)
{
	return clock_hook ? clock_hook() : (long long)time(NULL);
}

/* Digits P (N bytes, 1..LIFETIME_DIGITS_MAX of them) as a number into *V. */
static bool
parse_lifetime(const char *p, size_t n, long *v)
{
	long long x = 0;

	if (n == 0 || n > LIFETIME_DIGITS_MAX)
		return false;
	for (size_t k = 0; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return false;
		x = x * 10 + (p[k] - '0');
	}
	*v = x > LONG_MAX ? LONG_MAX : (long)x;
	return true;
}

struct json {
	const char *p;
	size_t n, i;
};

static void
json_ws(struct json *j)
{
	/* RFC 8259 §2: ws = space, tab, LF, CR */
	while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' ||
	                       j->p[j->i] == '\r'))
		j->i++;
}

/*
 * A string (RFC 8259 §7) at j->i, decoded into OUT (NULL: checked and skipped). \u escapes
 * of ASCII become that byte, others '?' (no token or error code holds them). Returns 0, or
 * -1 for bad syntax or a string past OUT's ceiling.
 */
static int
json_string(struct json *j, struct buf *out)
{
	if (j->i >= j->n || j->p[j->i] != '"')
		return -1;
	j->i++;
	for (;;) {
		if (j->i >= j->n)
			return -1;
		unsigned char c = (unsigned char)j->p[j->i++];
		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (j->i >= j->n)
				return -1;
			char x = j->p[j->i++];
			switch (x) {
			case '"':
			case '\\':
			case '/':
				c = (unsigned char)x;
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u': {
				int v = 0;
				if (j->n - j->i < 4)
					return -1;
				for (int k = 0; k < 4; k++) {
					int h = codec_hex_value((unsigned char)j->p[j->i++]);
					if (h < 0)
						return -1;
					v = v * 16 + h;
				}
				c = v > 0 && v < 0x80 ? (unsigned char)v : '?';
				break;
			}
			default:
				return -1;
			}
		}
		if (out && buf_append(out, &c, 1, NULL) < 0)
			return -1;
	}
}

/* A number (RFC 8259 §6), spanned by *S and *N when S is not NULL. */
static int
json_number(struct json *j, const char **s, size_t *n)
{
	size_t start = j->i;
	bool digits = false;

	if (j->i < j->n && j->p[j->i] == '-')
		j->i++;
	/* No leading zeros: "0" alone, or a digit 1-9 first. */
	if (j->n - j->i >= 2 && j->p[j->i] == '0' && j->p[j->i + 1] >= '0' && j->p[j->i + 1] <= '9')
		return -1;
	while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') {
		j->i++;
		digits = true;
	}
	if (!digits)
		return -1;
	if (j->i < j->n && j->p[j->i] == '.') {
		j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return -1;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return -1;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (s) {
		*s = j->p + start;
		*n = j->i - start;
	}
	return 0;
}

/* Skip any value at j->i, nesting at most JSON_DEPTH_MAX - DEPTH levels more. */
static int
json_skip(struct json *j, int depth)
{
	static const char *const words[] = {"true", "false", "null"};

	json_ws(j);
	if (j->i >= j->n)
		return -1;
	char c = j->p[j->i];
	if (c == '"')
		return json_string(j, NULL);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		if (depth >= JSON_DEPTH_MAX)
			return -1;
		j->i++;
		json_ws(j);
		if (j->i < j->n && j->p[j->i] == close) {
			j->i++;
			return 0;
		}
		for (;;) {
			if (c == '{') {
				json_ws(j);
				if (json_string(j, NULL) < 0)
					return -1;
				json_ws(j);
				if (j->i >= j->n || j->p[j->i++] != ':')
					return -1;
			}
			if (json_skip(j, depth + 1) < 0)
				return -1;
			json_ws(j);
			if (j->i >= j->n)
				return -1;
			char d = j->p[j->i++];
			if (d == close)
				return 0;
			if (d != ',')
				return -1;
		}
	}
	for (size_t k = 0; k < 3; k++) {
		size_t len = strlen(words[k]);
		if (j->n - j->i >= len && memcmp(j->p + j->i, words[k], len) == 0) {
			j->i += len;
			return 0;
		}
	}
	return json_number(j, NULL, NULL);
}

/* What a token endpoint's answer gave (RFC 6749 §5.1, §5.2). */
struct answer {
	struct buf key, error, tok;
	bool have_token, have_life, twice;
	long *lifetime;
};

/* How reading the answer went: JSON_REFUSED has its error set already. */
enum { JSON_OK = 0, JSON_SYNTAX = -1, JSON_REFUSED = -2 };

/* The value of expires_in at j->i: a number, or (some endpoints) a string of digits. */
static int
json_expires(struct json *j, struct answer *an, struct err *e)
{
	const char *s = NULL;
	size_t len = 0;
	struct buf digits;
	int r;

	buf_init(&digits, LIFETIME_DIGITS_MAX + 1);
	if (j->i < j->n && j->p[j->i] == '"') {
		r = json_string(j, &digits);
		s = digits.data;
		len = digits.len;
	} else {
		/* Any number, so that 1.5 reads as a bad lifetime. */
		r = json_number(j, &s, &len);
	}
	bool good = r == 0 && !an->have_life && parse_lifetime(s, len, an->lifetime);
	buf_fini(&digits);
	if (!good) {
		err_set(e, ERR_CONFIG,
		        "its expires_in is not a number of seconds (at most %d digits)",
		        LIFETIME_DIGITS_MAX);
		return JSON_REFUSED;
	}
	an->have_life = true;
	return JSON_OK;
}

/* The value of access_token at j->i: a string. */
static int
json_access_token(struct json *j, struct answer *an, struct err *e)
{
	/* Twice is ambiguous: which one would the endpoint mean? */
	if (an->have_token)
		an->twice = true;
	buf_reset(&an->tok);
	if (json_string(j, &an->tok) < 0) {
		if (an->tok.len < an->tok.max)
			return JSON_SYNTAX;
		err_set(e, ERR_CONFIG, "its access_token is longer than %zu bytes", an->tok.max);
		return JSON_REFUSED;
	}
	an->have_token = true;
	return JSON_OK;
}

/* One member, "KEY": VALUE, of the answer's object at j->i. */
static int
json_member(struct json *j, struct answer *an, struct err *e)
{
	json_ws(j);
	buf_reset(&an->key);
	if (json_string(j, &an->key) < 0)
		return JSON_SYNTAX;
	json_ws(j);
	if (j->i >= j->n || j->p[j->i++] != ':')
		return JSON_SYNTAX;
	json_ws(j);
	const char *k = an->key.data ? an->key.data : "";
	bool plain = strlen(k) == an->key.len; /* else it holds a NUL byte: no key of ours */
	if (plain && strcmp(k, "access_token") == 0)
		return json_access_token(j, an, e);
	if (plain && strcmp(k, "expires_in") == 0)
		return json_expires(j, an, e);
	if (plain && strcmp(k, "error") == 0 && j->i < j->n && j->p[j->i] == '"') {
		buf_reset(&an->error);
		return json_string(j, &an->error) < 0 ? JSON_SYNTAX : JSON_OK;
	}
	return json_skip(j, 1) < 0 ? JSON_SYNTAX : JSON_OK;
}

/* The answer: one object (RFC 8259 §4), with blanks around it and nothing else. */
static int
json_object(struct json *j, struct answer *an, struct err *e)
{
	json_ws(j);
	if (j->i >= j->n || j->p[j->i++] != '{')
		return JSON_SYNTAX;
	json_ws(j);
	if (j->i < j->n && j->p[j->i] == '}') {
		j->i++;
	} else {
		for (;;) {
			int r = json_member(j, an, e);
			if (r != JSON_OK)
				return r;
			json_ws(j);
			if (j->i >= j->n)
				return JSON_SYNTAX;
			char d = j->p[j->i++];
			if (d == '}')
				break;
			if (d != ',')
				return JSON_SYNTAX;
		}
	}
	json_ws(j);
	return j->i == j->n ? JSON_OK : JSON_SYNTAX;
}

/* The token of a well-formed answer into TOKEN, or why there is none. */
static int
answer_take(const struct answer *an, struct buf *token, struct err *e)
{
	if (an->twice)
		return err_set(e, ERR_CONFIG, "it gives access_token twice");
	if (!an->have_token) {
		if (an->error.len)
			return err_set(e, ERR_CONFIG,
			               "the token endpoint answered with error \"%.64s\" (RFC 6749 "
			               "§5.2); renew the grant with your OAuth helper",
			               an->error.data);
		return err_set(e, ERR_CONFIG, "its JSON has no access_token");
	}
	if (!an->have_life)
		*an->lifetime = -1;
	if (!codec_is_b64token(an->tok.data, an->tok.len))
		return err_set(e, ERR_CONFIG,
		               "its access_token is not a bearer token (RFC 6750 b64token: "
		               "letters, digits and -._~+/ then '=' padding)");
	return buf_append(token, an->tok.data, an->tok.len, e);
}

static int
oauth2_json(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e)
{
	struct json j = {.p = p, .n = n, .i = 0};
	struct answer an = {.lifetime = lifetime};
	int rc;

	buf_init(&an.key, 256);
	buf_init(&an.error, 4096);
	buf_init(&an.tok, OAUTH2_TOKEN_MAX);
	an.tok.secret = true;
	int r = json_object(&j, &an, e);
	if (r == JSON_SYNTAX)
		rc = err_set(e, ERR_CONFIG,
		             "it begins with '{' but is not a JSON object (RFC 8259)");
	else if (r == JSON_REFUSED)
		rc = -1;
	else
		rc = answer_take(&an, token, e);
	buf_fini(&an.key);
	buf_fini(&an.error);
	buf_fini(&an.tok);
	return rc;
}

int
oauth2_parse(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e)
{
	size_t i = 0, tok_start, tok_end;

	*lifetime = -1;
	token->secret = true;
	while (i < n && codec_is_space(p[i]))
		i++;
	if (i < n && p[i] == '{')
		return oauth2_json(p + i, n - i, token, lifetime, e);
	tok_start = i;
	while (i < n && !codec_is_space(p[i]))
		i++;
	tok_end = i;
	if (tok_end == tok_start)
		return err_set(e, ERR_CONFIG, "it printed no token");
	if (tok_end - tok_start > OAUTH2_TOKEN_MAX || tok_end - tok_start > token->max - token->len)
		return err_set(e, ERR_CONFIG, "its token is longer than %d bytes",
		               OAUTH2_TOKEN_MAX);
	if (!codec_is_b64token(p + tok_start, tok_end - tok_start))
		return err_set(e, ERR_CONFIG,
		               "its first word is not a bearer token (RFC 6750 "
		               "b64token: letters, digits and -._~+/ then '=' padding)");
	while (i < n && codec_is_space(p[i]))
		i++;
	if (i < n) {
		size_t s = i;
		while (i < n && !codec_is_space(p[i]))
			i++;
		if (!parse_lifetime(p + s, i - s, lifetime))
			return err_set(e, ERR_CONFIG,
			               "after the token comes something that is "
			               "not a lifetime in seconds (1 to %d digits)",
			               LIFETIME_DIGITS_MAX);
		while (i < n && codec_is_space(p[i]))
			i++;
		if (i < n)
			return err_set(e, ERR_CONFIG,
			               "it printed more than a token and its lifetime");
	}
	return buf_append(token, p + tok_start, tok_end - tok_start, e);
}

/* Whether the directory PATH is ours and writable by no one else (a cache others could
 * write could feed us their token). */
static bool
private_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & 022);
}

/*
 * The account's cache file, $XDG_CACHE_HOME/postie/oauth2/NAME (default ~/.cache), NULL
 * when neither gives an absolute path. The name is the account's, with every byte outside
 * [A-Za-z0-9_-] and a leading '.' written %XX: one file per account, never shared by two (a shared
 * file would hand one account's token to another's server). With MAKE, the directories are made
 * (0700) and the last one must be private_dir.
 */
static char *
cache_path(const struct account *a, bool make)
{
	/* SEC-45: a setgid postie keeps no cache of the system account's under the caller's
	 * home: a TLS session's secrets or an OAuth token written there would be the caller's
	 * to read, and a file planted there would be used. */
	if (priv_setgid() && a->origin == PROFILE_ORIGIN_SYSTEM)
		return NULL;
	struct buf b;

	char *dir = io_xdg_path(IO_XDG_CACHE, "postie/oauth2", make ? IO_XDG_MAKE : 0);
	if (!dir)
		return NULL;
	if (make && !private_dir(dir)) {
		log_info("not caching the OAuth token: %s is not a private directory of yours",
		         dir);
		free(dir);
		return NULL;
	}
	buf_init(&b, PATH_MAX);
	int rc = buf_printf(&b, NULL, "%s/", dir);
	free(dir);
	for (const unsigned char *p = (const unsigned char *)a->name; *p && rc == 0; p++) {
		bool plain = ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		             (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
		rc = plain ? buf_append(&b, p, 1, NULL) : buf_printf(&b, NULL, "%%%02X", *p);
	}
	if (rc == 0 && !a->name[0])
		rc = buf_puts(&b, "%", NULL);
	if (rc < 0) {
		buf_fini(&b);
		return NULL;
	}
	return b.data;
}

/* 2: the entry names the profile file too (SEC-41); a version 1 entry reads as damaged,
 * which costs one command run. */
static const char cache_magic[] = "postie-oauth2-cache 2";

/*
 * The cache names the command by its SHA-256, in hex: a changed command invalidates the
 * entry, and a secret the command carries (a refresh token, a client secret) is not copied
 * into the cache.
 */
static void
command_digest(const char *cmd, char hex[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, cmd, strlen(cmd), d) < 0) {
		hex[0] = '\0'; /* never matches a written entry; nothing is cached */
		return;
	}
	codec_hex_encode(hex, d, sizeof(d));
}

/* Whether the next line of P (N bytes, from *I) is exactly "NAME VALUE". */
static bool
cache_line(const char *p, size_t n, size_t *i, const char *name, const char *value)
{
	size_t ln = strlen(name), lv = strlen(value);

	if (n - *i < ln + 1 + lv + 1 || memcmp(p + *i, name, ln) != 0 || p[*i + ln] != ' ' ||
	    memcmp(p + *i + ln + 1, value, lv) != 0 || p[*i + ln + 1 + lv] != '\n')
		return false;
	*i += ln + 1 + lv + 1;
	return true;
}

/* Whether the bytes of P (N bytes) at *I are WORD; then *I is past them. */
static bool
cache_word(const char *p, size_t n, size_t *i, const char *word)
{
	size_t len = strlen(word);

	if (n - *i < len || memcmp(p + *i, word, len) != 0)
		return false;
	*i += len;
	return true;
}

/* The end of the line of P (N bytes) that begins at I: its "\n", or N. */
static size_t
line_end(const char *p, size_t n, size_t i)
{
	while (i < n && p[i] != '\n')
		i++;
	return i;
}

enum cache_verdict { CACHE_GOOD, CACHE_DAMAGED, CACHE_OTHER, CACHE_STALE };

/* A cache file's text P (N bytes), for A: when CACHE_GOOD, its token is the *LEN bytes at
 * P + *AT. */
static enum cache_verdict
cache_parse(const struct account *a, const char *p, size_t n, size_t *at, size_t *len)
{
	size_t i = sizeof(cache_magic), s;
	long expires;
	char digest[65];

	if (n < sizeof(cache_magic) || memcmp(p, cache_magic, sizeof(cache_magic) - 1) != 0 ||
	    p[sizeof(cache_magic) - 1] != '\n' || !cache_word(p, n, &i, "expires "))
		return CACHE_DAMAGED;
	s = i;
	i = line_end(p, n, i);
	if (i == n || !parse_lifetime(p + s, i - s, &expires))
		return CACHE_DAMAGED;
	i++;
	command_digest(a->oauth2_token_command, digest);
	if (!digest[0] || !cache_line(p, n, &i, "host", a->host ? a->host : "") ||
	    !cache_line(p, n, &i, "user", a->user ? a->user : "") ||
	    !cache_line(p, n, &i, "profile", a->file ? a->file : "") ||
	    !cache_line(p, n, &i, "command-sha256", digest))
		return CACHE_OTHER;
	if (!cache_word(p, n, &i, "token "))
		return CACHE_DAMAGED;
	s = i;
	i = line_end(p, n, i);
	if (i + 1 != n || i - s > OAUTH2_TOKEN_MAX || !codec_is_b64token(p + s, i - s))
		return CACHE_DAMAGED;
	long long now = now_s();
	/* Stale, or from a clock that has since gone back a long way. */
	if (now >= (long long)expires - OAUTH2_TOKEN_MARGIN ||
	    (long long)expires - now > OAUTH2_TOKEN_CACHE_MAX + OAUTH2_TOKEN_MARGIN)
		return CACHE_STALE;
	*at = s;
	*len = i - s;
	return CACHE_GOOD;
}

/* Read the cached token for A into OUT. Returns 1 when there is a good one, else 0. */
static int
cache_read(const struct account *a, struct buf *out)
{
	char *path = cache_path(a, false);
	char why[512];
	struct buf content;
	size_t at = 0, len = 0;
	int rc = 0;

	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_info("no cached OAuth token: %s: %s", path, strerror(errno));
		free(path);
		return 0;
	}
	spawn_hold_secret();
	buf_init(&content, CACHE_FILE_MAX);
	content.secret = true;
	if (io_not_private(fd, path, why, sizeof(why))) {
		/* The token may have been read by others: never use it. The next token the
		 * command prints replaces the file. */
		warn("cached OAuth token %s not used: %s", path, why);
	} else if (io_read_all(fd, &content) != 0) {
		log_info("cached OAuth token %s is damaged; not used", path);
	} else {
		switch (cache_parse(a, content.data ? content.data : "", content.len, &at, &len)) {
		case CACHE_DAMAGED:
			log_info("cached OAuth token %s is damaged; not used", path);
			break;
		case CACHE_OTHER:
			log_info("cached OAuth token %s is for another host, user, profile or "
			         "command",
			         path);
			break;
		case CACHE_STALE:
			log_info("cached OAuth token %s has expired", path);
			break;
		case CACHE_GOOD:
			rc = buf_append(out, content.data + at, len, NULL) == 0 ? 1 : 0;
			break;
		}
	}
	buf_fini(&content);
	close(fd);
	free(path);
	return rc;
}

/* Cache TOKEN for A until EXPIRES. Failing costs only a command run next time. */
static void
cache_write(const struct account *a, const char *token, size_t len, long long expires)
{
	char *path = cache_path(a, true);
	struct buf content;
	char digest[65];

	if (!path)
		return;
	buf_init(&content, CACHE_FILE_MAX);
	content.secret = true;
	command_digest(a->oauth2_token_command, digest);
	/* A value with a line end could forge the lines after it. */
	const char *file = a->file ? a->file : "";
	if (digest[0] && !strpbrk(file, "\r\n") &&
	    buf_printf(&content, NULL,
	               "%s\nexpires %lld\nhost %s\nuser %s\nprofile %s\ncommand-sha256 %s\ntoken ",
	               cache_magic, expires, a->host ? a->host : "", a->user ? a->user : "", file,
	               digest) == 0 &&
	    buf_append(&content, token, len, NULL) == 0 && buf_puts(&content, "\n", NULL) == 0) {
		/* A new file of our own, renamed into place so a reader sees the old file or the
		 * new one, never half of one; no fsync: it is a cache. */
		struct iovec iov = {.iov_base = content.data, .iov_len = content.len};
		int r = io_replace(path, &iov, 1, 0600, false);
		if (r)
			log_info("not caching the OAuth token: write %s: %s", path, strerror(r));
	}
	buf_fini(&content);
	free(path);
}

void
oauth2_forget(const struct account *a)
{
	char *path = cache_path(a, false);

	if (path && unlink(path) == 0)
		log_info("forgot the cached OAuth token %s", path);
	free(path);
}

int
oauth2_token(const struct account *a, bool refresh, struct buf *out, struct err *e)
{
	static const char hint[] = "fix the command (see oauth2_token_command in postie.conf(5))";
	struct buf output;
	struct err pe;
	long lifetime;
	int rc;

	buf_init(out, OAUTH2_TOKEN_MAX);
	out->secret = true;
	if (!a->oauth2_token_command)
		return 0;
	spawn_hold_secret();
	if (!refresh && cache_read(a, out) == 1) {
		log_info("OAuth token for account %s from the cache", a->name);
		return 1;
	}
	buf_reset(out);
	buf_init(&output, BUF_MAX_SECRET);
	output.secret = true;
	/* Named by its account, not quoted: such a command often carries a client secret or a
	 * refresh token (SEC-13). */
	char label[600];
	snprintf(label, sizeof(label), "run oauth2_token_command of account %s", a->name);
	rc = spawn_command(label, hint, a->oauth2_token_command, &output, e);
	if (rc == 0 &&
	    oauth2_parse(output.data ? output.data : "", output.len, out, &lifetime, &pe) < 0)
		rc = err_set(e, ERR_CONFIG, "%s: %s; %s", label, pe.text, hint);
	buf_fini(&output);
	if (rc < 0) {
		buf_reset(out);
		return -1;
	}
	if (lifetime > OAUTH2_TOKEN_MARGIN) {
		long long keep =
		    lifetime < OAUTH2_TOKEN_CACHE_MAX ? lifetime : OAUTH2_TOKEN_CACHE_MAX;
		cache_write(a, out->data, out->len, now_s() + keep);
	}
	return 0;
}
