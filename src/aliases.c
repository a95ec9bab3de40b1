/*
 * aliases: bare local names into addresses, and the substitution patterns of `from`.
 *
 * The file format is msmtp's (msmtp(1), the `aliases` command): one "local: address,
 * address" mapping a line, "default" matching every name the file does not list, '#'
 * starting a comment that runs to the end of the line. The right-hand side is an RFC 5322
 * address list (§3.4), so "Name <addr>" works too. A name is matched without regard to
 * ASCII case, as aliases(5) of sendmail and OpenSMTPD do.
 *
 * msmtp rewrites only the envelope with it (its issues #7, #98, #146 ask for the headers);
 * postie gives msg the same resolution for To and Cc, so that a cron mail to "root" names
 * in its To field the address it went to.
 */
#include "aliases.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"

/* A host name: POSIX HOST_NAME_MAX is at most 255 on every system we know. */
#define ALIASES_HOST_MAX 256
/* What of /etc/mailname is read: its first line is a domain name (at most 253 octets). */
#define ALIASES_MAILNAME_MAX 1024

void
aliases_fini(struct aliases *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		addr_list_fini(&a->v[i].to);
	}
	free(a->v);
	free(a->file);
	a->v = NULL;
	a->n = 0;
	a->file = NULL;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_wsp(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_wsp((*s)[*n - 1]))
		(*n)--;
}

static const struct alias *
find(const struct aliases *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcasecmp(a->v[i].name, name) == 0)
			return &a->v[i];
	return NULL;
}

/* One line without its line end: "name: list", a comment, or blank. */
static int
parse_line(struct aliases *a, unsigned line, const char *s, size_t n, struct err *e)
{
	const char *hash = memchr(s, '#', n);
	if (hash)
		n = (size_t)(hash - s);
	trim(&s, &n);
	if (n == 0)
		return 0;
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return err_set(e, ERR_CONFIG, "%s:%u: no ':'; write `name: address, address`",
		               a->file, line);
	const char *name = s, *value = colon + 1;
	size_t name_len = (size_t)(colon - s), value_len = n - name_len - 1;
	trim(&name, &name_len);
	if (name_len == 0)
		return err_set(e, ERR_CONFIG, "%s:%u: no name before ':'", a->file, line);

	char *raw = xstrndup(name, name_len), *norm = NULL;
	struct err sub;
	err_clear(&sub);
	if (addr_envelope(raw, false, ERR_CONFIG, &norm, &sub) < 0) {
		free(raw);
		return err_set(e, ERR_CONFIG, "%s:%u: alias name: %s", a->file, line, sub.text);
	}
	free(raw);
	if (strchr(norm, '@')) {
		err_set(e, ERR_CONFIG,
		        "%s:%u: alias name \"%s\" has '@'; only local names (no "
		        "domain) are aliased",
		        a->file, line, norm);
		free(norm);
		return -1;
	}
	const struct alias *old = find(a, norm);
	if (old) {
		err_set(e, ERR_CONFIG, "%s:%u: alias %s given twice (first at line %u)", a->file,
		        line, norm, old->line);
		free(norm);
		return -1;
	}
	struct addr_list to = {0};
	if (addr_list_parse(&to, value, value_len, ERR_CONFIG, &sub) < 0) {
		addr_list_fini(&to);
		err_set(e, ERR_CONFIG, "%s:%u: alias %s: %s", a->file, line, norm, sub.text);
		free(norm);
		return -1;
	}
	if (to.n == 0) {
		err_set(e, ERR_CONFIG, "%s:%u: alias %s: no address after ':'", a->file, line,
		        norm);
		free(norm);
		return -1;
	}
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
	a->v[a->n++] = (struct alias){.name = norm, .line = line, .to = to};
	return 0;
}

int
aliases_parse(struct aliases *a, const char *file, const char *text, size_t len, struct err *e)
{
	unsigned line = 1;

	free(a->file);
	a->file = xstrdup(file);
	for (size_t pos = 0; pos < len; line++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (memchr(text + pos, '\0', n))
			return err_set(e, ERR_CONFIG, "%s:%u: NUL byte", file, line);
		/* SEC-24: a file edited on Windows ends its lines with CRLF. */
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (memchr(text + pos, '\r', n))
			return err_set(e, ERR_CONFIG, "%s:%u: carriage return inside the line",
			               file, line);
		if (parse_line(a, line, text + pos, n, e) < 0)
			return -1;
		pos = nl ? end + 1 : len;
	}
	return 0;
}

int
aliases_load(struct aliases *a, const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return err_set(e, ERR_CONFIG,
		               "read aliases file %s: %s; fix `aliases` in the profile", path,
		               strerror(errno));
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_CONFIG, "read aliases file %s: %s", path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "read aliases file %s: not a regular file", path);
	}
	char *text = xmalloc(ALIASES_MAX_FILE + 1);
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, text + len, ALIASES_MAX_FILE + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, ERR_CONFIG, "read aliases file %s: %s", path,
			             strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > ALIASES_MAX_FILE) {
			rc = err_set(e, ERR_CONFIG, "read aliases file %s: over %d bytes", path,
			             ALIASES_MAX_FILE);
			break;
		}
	}
	close(fd);
	if (rc == 0)
		rc = aliases_parse(a, path, text, len, e);
	free(text);
	return rc;
}

/* One resolution: the names being expanded (for loops) and what came out so far. */
struct expand {
	const struct aliases *a;
	const char *maildomain;
	const struct alias *chain[ALIASES_MAX_DEPTH]; /* the aliases being expanded */
	size_t visits;
	struct addr_list *out;
	struct err *e;
};

/* A duplicate is the same normalised address byte for byte, as before; addr_list_add_unique
   finds it in O(log n), where a scan of the list made -t with 100,000 recipients quadratic. */
static void
add_unique(struct addr_list *l, const char *s)
{
	addr_list_add_unique(l, s);
}

/* A name at the end of the chain: qualified with maildomain, or left bare. */
static int
put_final(struct expand *x, const char *name)
{
	if (strchr(name, '@') || !x->maildomain || !*x->maildomain) {
		add_unique(x->out, name);
		return 0;
	}
	size_t nl = strlen(name), dl = strlen(x->maildomain);
	char *q = xmalloc(nl + 1 + dl + 1), *norm = NULL;
	struct err sub;
	memcpy(q, name, nl);
	q[nl] = '@';
	memcpy(q + nl + 1, x->maildomain, dl + 1);
	err_clear(&sub);
	int rc = addr_envelope(q, false, ERR_CONFIG, &norm, &sub);
	free(q);
	if (rc < 0)
		return err_set(x->e, ERR_CONFIG,
		               "qualify %s with maildomain %s: %s; fix "
		               "`maildomain` in the profile",
		               name, x->maildomain, sub.text);
	add_unique(x->out, norm);
	free(norm);
	return 0;
}

/* The chain x->chain[0 .. depth) comes back to AL: name it, and the line that closes it. */
static int
loop_error(struct expand *x, size_t depth, const struct alias *al)
{
	struct buf chain;

	/* At most ALIASES_MAX_DEPTH names of at most 254 octets (addr's mailbox limit). */
	buf_init(&chain, (ALIASES_MAX_DEPTH + 1) * 260);
	for (size_t i = 0; i < depth; i++)
		buf_printf(&chain, NULL, "%s -> ", x->chain[i]->name);
	buf_puts(&chain, al->name, NULL);
	err_set(x->e, ERR_CONFIG, "expand alias %s: loop %s; fix %s:%u", x->chain[0]->name,
	        chain.data, x->a->file, x->chain[depth - 1]->line);
	buf_fini(&chain);
	return -1;
}

static int
expand(struct expand *x, const char *name, size_t depth)
{
	x->visits++;
	if (x->visits > ALIASES_MAX_ADDRS)
		return err_set(x->e, ERR_CONFIG, "expand alias %s: more than %d addresses; fix %s",
		               depth ? x->chain[0]->name : name, ALIASES_MAX_ADDRS, x->a->file);
	if (strchr(name, '@') || !x->a)
		return put_final(x, name);
	const struct alias *al = find(x->a, name);
	/* "default" stands for the names the caller gave, not for those an alias brings:
	   `root: admin` means the local admin, not whoever default names. */
	if (!al && depth == 0)
		al = find(x->a, "default");
	if (!al)
		return put_final(x, name);
	for (size_t i = 0; i < depth; i++)
		if (x->chain[i] == al)
			return loop_error(x, depth, al);
	if (depth == ALIASES_MAX_DEPTH)
		return err_set(x->e, ERR_CONFIG,
		               "expand alias %s: more than %d levels of aliases; fix %s:%u",
		               x->chain[0]->name, ALIASES_MAX_DEPTH, x->a->file, al->line);
	x->chain[depth] = al;
	for (size_t i = 0; i < al->to.n; i++)
		if (expand(x, al->to.v[i], depth + 1) < 0)
			return -1;
	return 0;
}

int
aliases_resolve(const struct aliases *a, const char *maildomain, const char *addr,
                struct addr_list *out, struct err *e)
{
	struct expand x = {.a = a && a->n ? a : NULL, .maildomain = maildomain, .out = out, .e = e};

	/* The null sender and empty names are nothing to resolve. */
	if (!*addr) {
		add_unique(out, addr);
		return 0;
	}
	return expand(&x, addr, 0);
}

/* ---- substitution patterns ---- */

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* msmtp(1), `from`: %U is $USER, else $LOGNAME, else the login name of the user. */
static int
put_user(struct buf *b, struct err *e)
{
	const char *u = env_nonempty("USER");

	if (!u)
		u = env_nonempty("LOGNAME");
	if (!u) {
		struct passwd *pw = getpwuid(getuid());
		u = pw && pw->pw_name && *pw->pw_name ? pw->pw_name : NULL;
	}
	if (!u)
		return err_set(
		    e, ERR_CONFIG,
		    "expand %%U: no user name ($USER and $LOGNAME are unset, and uid %ld has "
		    "no name); write the address into `from`",
		    (long)getuid());
	return buf_puts(b, u, e);
}

/* %H is $HOSTNAME, else the host name of the system. */
static int
host_name(char out[ALIASES_HOST_MAX], struct err *e)
{
	const char *h = env_nonempty("HOSTNAME");

	if (h) {
		if (strlen(h) >= ALIASES_HOST_MAX)
			return err_set(e, ERR_CONFIG, "expand %%H: $HOSTNAME is over %d bytes",
			               ALIASES_HOST_MAX - 1);
		memcpy(out, h, strlen(h) + 1);
		return 0;
	}
	if (gethostname(out, ALIASES_HOST_MAX) < 0)
		return err_set(e, ERR_CONFIG, "expand %%H: gethostname: %s", strerror(errno));
	out[ALIASES_HOST_MAX - 1] = '\0';
	if (!*out)
		return err_set(e, ERR_CONFIG, "expand %%H: the system has no host name");
	return 0;
}

/* %C is the canonical name of %H: what the resolver (hosts file, DNS) calls it. */
static int
put_canonical(struct buf *b, struct err *e)
{
	char host[ALIASES_HOST_MAX];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME};
	struct addrinfo *res = NULL;

	if (host_name(host, e) < 0)
		return -1;
	int rc;
	if (getaddrinfo(host, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
	    *res->ai_canonname)
		rc = buf_puts(b, res->ai_canonname, e);
	else
		rc = buf_puts(b, host, e); /* no canonical name known: the name itself */
	if (res)
		freeaddrinfo(res);
	return rc;
}

/* %M is the first line of /etc/mailname (Debian's mail domain of the system). */
static int
put_mailname(struct buf *b, const char *file, struct err *e)
{
	char text[ALIASES_MAILNAME_MAX];
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(
		    e, ERR_CONFIG,
		    "expand %%M: read %s: %s; write the mail domain there or use another "
		    "pattern in `from`",
		    file, strerror(errno));
	ssize_t r;
	do
		r = read(fd, text, sizeof(text) - 1);
	while (r < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "expand %%M: read %s: %s", file, strerror(saved));
	const char *s = text;
	size_t n = (size_t)r;
	const char *nl = memchr(s, '\n', n);
	if (nl)
		n = (size_t)(nl - s);
	if (n > 0 && s[n - 1] == '\r')
		n--;
	trim(&s, &n);
	if (n == 0)
		return err_set(e, ERR_CONFIG,
		               "expand %%M: %s is empty; write the mail domain "
		               "there or use another pattern in `from`",
		               file);
	return buf_append(b, s, n, e);
}

int
aliases_substitute(const char *pattern, const char *mailname_file, char **out, struct err *e)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, 4096);
	for (const char *p = pattern; *p && rc == 0;) {
		if (p[0] != '%' || !p[1] || !strchr("UHCM", p[1])) {
			rc = buf_append(&b, p, 1, e);
			p++;
			continue;
		}
		char host[ALIASES_HOST_MAX];
		switch (p[1]) {
		case 'U':
			rc = put_user(&b, e);
			break;
		case 'H':
			rc = host_name(host, e) < 0 ? -1 : buf_puts(&b, host, e);
			break;
		case 'C':
			rc = put_canonical(&b, e);
			break;
		default:
			rc = put_mailname(&b, mailname_file, e);
			break;
		}
		p += 2;
	}
	if (rc == 0)
		*out = xstrdup(b.data ? b.data : "");
	buf_fini(&b);
	return rc;
}
