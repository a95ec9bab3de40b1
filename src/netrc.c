/*
 * netrc: the netrc lexer and lookup (netrc.h).
 *
 * ftp(1)'s format (4.2BSD netrc(5), GNU inetutils "The .netrc file"): blank-separated
 * words, the keywords machine, default, login, password, account and macdef; curl 7.84's
 * quoted strings ("a b" with \" \\ \n \r \t). The text is read with a ceiling, every word
 * with another, and the password is kept in wiped buffers.
 */
#include "netrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "spawn.h"
#include "codec.h"

/* The largest netrc file read (macros make them long; passwords do not). */
#define NETRC_FILE_MAX (1024 * 1024)

struct lex {
	const char *p;
	size_t n, i;
	unsigned line;
};

/* Step past the end of the current line. */
static void
skip_line(struct lex *l)
{
	while (l->i < l->n && l->p[l->i] != '\n')
		l->i++;
	if (l->i < l->n) {
		l->i++;
		l->line++;
	}
}

/* Step past blanks and, when KEYWORD, comments. false at the end of the text. */
static bool
skip_blanks(struct lex *l, bool keyword)
{
	for (;;) {
		while (l->i < l->n && codec_is_space(l->p[l->i])) {
			if (l->p[l->i] == '\n')
				l->line++;
			l->i++;
		}
		if (l->i == l->n)
			return false;
		if (!keyword || l->p[l->i] != '#')
			return true;
		skip_line(l);
	}
}

/* A quoted string (curl 7.84) at l->i: "..." with \" \\ \n \r \t; another \c is c. Into
 * TOK; its word began on line START. 1, or -1 on error. */
static int
quoted_word(struct lex *l, unsigned start, struct buf *tok, struct err *e)
{
	l->i++;
	for (;;) {
		if (l->i == l->n)
			return err_set(e, ERR_CONFIG,
			               "line %u: a quoted string without its closing quote", start);
		char c = l->p[l->i++];
		if (c == '"')
			return 1;
		if (c == '\n')
			l->line++;
		if (c == '\\') {
			if (l->i == l->n)
				continue; /* reported as unterminated above */
			c = l->p[l->i++];
			c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
		}
		if (buf_append(tok, &c, 1, NULL) < 0)
			return err_set(e, ERR_CONFIG, "line %u: a word longer than %d bytes", start,
			               NETRC_WORD_MAX);
	}
}

/*
 * The next word into TOK (emptied first; its ceiling is NETRC_WORD_MAX). KEYWORD: a '#' that
 * starts the word starts a comment instead (a password may begin with '#'). Returns 1 for a
 * word, 0 at the end of the text, -1 on error.
 */
static int
next_word(struct lex *l, bool keyword, struct buf *tok, struct err *e)
{
	buf_reset(tok);
	if (!skip_blanks(l, keyword))
		return 0;
	unsigned start = l->line;
	if (l->p[l->i] == '"')
		return quoted_word(l, start, tok, e);
	size_t s = l->i;
	while (l->i < l->n && !codec_is_space(l->p[l->i]))
		l->i++;
	if (buf_append(tok, l->p + s, l->i - s, NULL) < 0)
		return err_set(e, ERR_CONFIG, "line %u: a word longer than %d bytes", start,
		               NETRC_WORD_MAX);
	return 1;
}

/* Skip a macro's body: the rest of the "macdef NAME" line, then lines up to an empty one. */
static void
skip_macro(struct lex *l)
{
	skip_line(l);
	while (l->i < l->n) {
		size_t k = l->i;
		if (l->p[k] == '\r' && k + 1 < l->n && l->p[k + 1] == '\n')
			k++;
		bool empty = l->p[k] == '\n';
		skip_line(l);
		if (empty)
			break;
	}
}

struct netrc_entry {
	bool open; /* inside a machine or default entry */
	bool is_default;
	bool has_login, has_password;
	struct buf machine, login, password;
};

static void
entry_init(struct netrc_entry *en)
{
	memset(en, 0, sizeof(*en));
	buf_init(&en->machine, NETRC_WORD_MAX);
	buf_init(&en->login, NETRC_WORD_MAX);
	buf_init(&en->password, NETRC_WORD_MAX);
	en->password.secret = true;
}

static void
entry_reset(struct netrc_entry *en)
{
	en->open = en->is_default = en->has_login = en->has_password = false;
	buf_reset(&en->machine);
	buf_reset(&en->login);
	buf_reset(&en->password);
}

static void
entry_fini(struct netrc_entry *en)
{
	buf_fini(&en->machine);
	buf_fini(&en->login);
	buf_fini(&en->password);
}

/*
 * The entry ended: 1 when it is a machine entry that fits HOST and USER, 2 when it is a
 * default entry that fits USER, 0 otherwise.
 */
static int
entry_fits(const struct netrc_entry *en, const char *host, const char *user)
{
	/* Lengths first: an empty word ("", or `machine ""`) leaves its buffer's data NULL. */
	size_t hn = host ? strlen(host) : 0, un = user ? strlen(user) : 0;

	if (!en->open || !en->has_password || en->password.len == 0)
		return 0;
	if (en->has_login && (en->login.len != un || (un && memcmp(en->login.data, user, un) != 0)))
		return 0;
	if (en->is_default)
		return 2;
	/* An empty name is no machine's name, and no lookup's. */
	return hn && en->machine.len == hn && strncasecmp(en->machine.data, host, hn) == 0 ? 1 : 0;
}

/* Keyword KW's word TOK goes into the entry: a login or password outside any entry belongs
 * to nothing; account is read and dropped. */
static void
entry_take(struct netrc_entry *en, const char *kw, const struct buf *tok)
{
	struct buf *into = NULL;
	bool *flag = NULL;

	if (strcmp(kw, "machine") == 0) {
		en->open = true;
		into = &en->machine;
	} else if (strcmp(kw, "login") == 0) {
		into = &en->login;
		flag = &en->has_login;
	} else if (strcmp(kw, "password") == 0) {
		into = &en->password;
		flag = &en->has_password;
	}
	if (!into || !en->open)
		return;
	buf_reset(into);
	if (tok->len)
		buf_append(into, tok->data, tok->len, NULL);
	if (flag)
		*flag = true;
}

/* The keyword W names when it is one that takes a word, else NULL (skipped, as other
 * readers do). */
static const char *
keyword(const char *w)
{
	static const char *const takes_word[] = {"machine", "login", "password", "account",
	                                         "macdef"};

	for (size_t k = 0; k < sizeof(takes_word) / sizeof(takes_word[0]); k++)
		if (strcmp(w, takes_word[k]) == 0)
			return takes_word[k];
	return NULL;
}

/* Whether the word W ends the entry before it. */
static bool
ends_entry(const char *w)
{
	return strcmp(w, "machine") == 0 || strcmp(w, "default") == 0 || strcmp(w, "macdef") == 0;
}

/* The line of the first NUL byte in P (N bytes), or 0 when there is none. */
static unsigned
nul_line(const char *p, size_t n)
{
	const char *nul = n ? memchr(p, '\0', n) : NULL;
	unsigned line = 1;

	if (!nul)
		return 0;
	for (const char *k = p; k < nul; k++)
		line += *k == '\n';
	return line;
}

int
netrc_find(const char *p, size_t n, const char *host, const char *user, struct buf *out,
           struct err *e)
{
	struct lex l = {.p = p, .n = n, .i = 0, .line = 1};
	struct netrc_entry en;
	struct buf tok, dflt;
	int rc = -1;

	spawn_hold_secret();
	unsigned nul = nul_line(p, n);
	if (nul)
		return err_set(e, ERR_CONFIG, "line %u: a NUL byte", nul);
	buf_init(&tok, NETRC_WORD_MAX);
	tok.secret = true;
	buf_init(&dflt, NETRC_WORD_MAX);
	dflt.secret = true;
	entry_init(&en);
	for (;;) {
		int r = next_word(&l, true, &tok, e);
		if (r < 0)
			goto done;
		const char *w = r == 1 && tok.data ? tok.data : "";
		if (r == 0 || ends_entry(w)) {
			/* The entry so far is complete. */
			int fit = entry_fits(&en, host, user);
			if (fit == 1) {
				rc = buf_append(out, en.password.data, en.password.len, e) < 0 ? -1
				                                                               : 1;
				goto done;
			}
			if (fit == 2 && dflt.len == 0)
				buf_append(&dflt, en.password.data, en.password.len, NULL);
			entry_reset(&en);
		}
		if (r == 0)
			break;
		if (strcmp(w, "default") == 0) {
			en.open = en.is_default = true;
			continue;
		}
		const char *kw = keyword(w); /* w is TOK's, which the next word replaces */
		if (!kw)
			continue;
		unsigned at = l.line;
		r = next_word(&l, false, &tok, e);
		if (r < 0)
			goto done;
		if (r == 0) {
			err_set(e, ERR_CONFIG, "line %u: `%s` without its word", at, kw);
			goto done;
		}
		if (strcmp(kw, "macdef") == 0)
			skip_macro(&l);
		else
			entry_take(&en, kw, &tok);
	}
	rc = 0;
	if (dflt.len)
		rc = buf_append(out, dflt.data, dflt.len, e) < 0 ? -1 : 1;
done:
	buf_fini(&tok);
	buf_fini(&dflt);
	entry_fini(&en);
	return rc;
}

/* netrc_find over the text CONTENT of the file PATH (open at FD); 1 when the password is in
 * OUT, else 0 with a warning when there is something to say. */
static int
lookup_text(int fd, const char *path, const struct buf *content, bool private, const char *host,
            const char *user, struct buf *out)
{
	struct buf found;
	struct err e;
	char why[512];
	int rc = 0;

	buf_init(&found, NETRC_WORD_MAX);
	found.secret = true;
	int r = netrc_find(content->data, content->len, host, user, &found, &e);
	if (r < 0) {
		warn("read %s: %s; skipped", path, e.text);
	} else if (r == 1 && private && io_not_private(fd, path, why, sizeof(why))) {
		warn("read %s: it has a password for %s, but %s; skipped", path, host, why);
	} else if (r == 1) {
		log_info("password for %s from %s", host, path);
		rc = buf_append(out, found.data, found.len, NULL) == 0 ? 1 : 0;
	}
	buf_fini(&found);
	return rc;
}

int
netrc_lookup(const char *path, bool private, const char *host, const char *user, struct buf *out)
{
	struct buf content;
	struct stat st;
	int rc = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			warn("read %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	spawn_hold_secret();
	buf_init(&content, NETRC_FILE_MAX);
	content.secret = true;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	int r = regular ? io_read_all(fd, &content) : 0;
	if (!regular)
		warn("read %s: not a regular file; skipped", path);
	else if (r == EFBIG)
		warn("read %s: longer than %d bytes; skipped", path, NETRC_FILE_MAX);
	else if (r)
		warn("read %s: %s; skipped", path, strerror(r));
	else
		rc = lookup_text(fd, path, &content, private, host, user, out);
	buf_fini(&content);
	close(fd);
	return rc;
}
