/*
 * profile: msmtp's configuration syntax (msmtp(1), "CONFIGURATION FILES"), so that an existing
 * ~/.msmtprc loads unchanged, with postie's secure defaults (TLS on, STARTTLS, verified
 * certificates). This file reads one file's text: its lines, quoting, the "defaults" and
 * "account" sections, inheritance and "account default : NAME"; then merges the files and
 * looks accounts up. The commands and their values are profile_cmd.c's, the account record
 * profile_account.c's, the files profile_file.c's and the command line's rules
 * profile_argv.c's. SEC-24 (no CR, LF or NUL in any value) is met here.
 */
#include "profile_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How much of an unknown command word an error message quotes. */
#define PROFILE_SHOW 64

static void
parse_fini(struct parse *ps)
{
	for (size_t i = 0; i < ps->out.n; i++)
		profile_account_free(ps->out.accounts[i]);
	free(ps->out.accounts);
	free(ps->out.default_name);
	free(ps->own);
	profile_account_fini(&ps->defaults);
	free(ps->alias_target);
}

static struct account *
find_in(const struct profile *p, const char *name, size_t *idx)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->accounts[i]->name, name) == 0) {
			if (idx)
				*idx = i;
			return p->accounts[i];
		}
	}
	return NULL;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks on both sides of [*s, *s + *n). */
static void
trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

/*
 * The argument as a string. When it begins and ends with '"', the quotes go and, inside,
 * \" and \\ stand for " and \; any other backslash stays as written, like msmtp, which keeps
 * unquoted arguments (a '#' included) literally too.
 */
static char *
unquote(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i < n - 1; i++) {
			if (s[i] == '\\' && i + 2 < n && (s[i + 1] == '"' || s[i + 1] == '\\'))
				i++;
			out[o++] = s[i];
		}
	} else {
		memcpy(out, s, n);
		o = n;
	}
	out[o] = '\0';
	return out;
}

/*
 * The parents of A, "P1, P2" in LIST: copy what each one's own lines (and its parents) set,
 * not what it took from the defaults, as msmtp does; those bits go to *OWN. The first
 * parent's name goes to *FIRST (*FIRST_LEN bytes). The number of parents, or -1.
 */
static int
inherit(struct parse *ps, unsigned line, struct account *a, const char *list, uint64_t *own,
        const char **first, size_t *first_len, struct err *e)
{
	int nparents = 0;

	for (const char *p = list; p;) {
		const char *comma = strchr(p, ',');
		const char *q = p;
		size_t m = comma ? (size_t)(comma - p) : strlen(p);
		size_t idx;
		trim(&q, &m);
		if (m == 0)
			return err_set(e, ERR_CONFIG,
			               "%s:%u: account '%s': missing account name in the "
			               "list after ':'",
			               ps->file, line, a->name);
		char *pname = xstrndup(q, m);
		const struct account *parent = find_in(&ps->out, pname, &idx);
		if (!parent) {
			err_set(e, ERR_CONFIG,
			        "%s:%u: account '%s' inherits from '%s', which is "
			        "not defined above it in this file",
			        ps->file, line, a->name, pname);
			free(pname);
			return -1;
		}
		free(pname);
		profile_account_copy(a, parent, ps->own[idx]);
		a->set |= ps->own[idx];
		*own |= ps->own[idx];
		if (nparents++ == 0) {
			*first = q;
			*first_len = m;
		}
		p = comma ? comma + 1 : NULL;
	}
	return nparents;
}

/* "account NAME [: PARENT[,PARENT...]]": start from the defaults, then copy the parents. */
static int
start_account(struct parse *ps, unsigned line, const char *arg, struct err *e)
{
	const char *colon = strchr(arg, ':');
	const char *s = arg;
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	const struct account *old;

	trim(&s, &n);
	if (n == 0)
		return err_set(e, ERR_CONFIG, "%s:%u: command 'account' needs an argument",
		               ps->file, line);
	if (memchr(s, ',', n))
		return err_set(e, ERR_CONFIG, "%s:%u: account name '%.*s' must not contain ','",
		               ps->file, line, (int)n, s);
	char *name = xstrndup(s, n);
	old = find_in(&ps->out, name, NULL);
	if (old) {
		err_set(e, ERR_CONFIG, "%s:%u: account '%s' is already defined at line %u",
		        ps->file, line, name, old->line);
		free(name);
		return -1;
	}

	struct account *a = xcalloc(1, sizeof(*a));
	profile_account_defaults(a);
	profile_account_copy(a, &ps->defaults, UINT64_MAX);
	a->set = ps->defaults.set;
	a->name = name;
	a->file = xstrdup(ps->file);
	a->line = line;

	uint64_t own = 0;
	const char *first = NULL;
	size_t first_len = 0;
	int nparents = 0;
	if (colon)
		nparents = inherit(ps, line, a, colon + 1, &own, &first, &first_len, e);
	if (nparents < 0) {
		profile_account_free(a);
		return -1;
	}

	ps->out.accounts = xrealloc(ps->out.accounts, (ps->out.n + 1) * sizeof(*ps->out.accounts));
	ps->own = xrealloc(ps->own, (ps->out.n + 1) * sizeof(*ps->own));
	ps->out.accounts[ps->out.n] = a;
	ps->own[ps->out.n] = own;
	ps->cur = a;
	ps->cur_idx = ps->out.n++;

	if (strcmp(a->name, "default") == 0 && nparents == 1) {
		ps->alias = ps->cur_idx;
		ps->alias_touched = false;
		free(ps->alias_target);
		ps->alias_target = xstrndup(first, first_len);
	}
	return 0;
}

int
profile_parse_line(struct parse *ps, unsigned line, const char *s, size_t n, struct err *e)
{
	/* SEC-24: a file edited on Windows ends its lines with CR LF; any other CR is refused
	 * so that no value can carry one. */
	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\r', n))
		return err_set(e, ERR_CONFIG, "%s:%u: carriage return inside a line", ps->file,
		               line);

	trim(&s, &n);
	if (n == 0 || s[0] == '#')
		return 0;

	size_t wl = 0;
	while (wl < n && !is_blank(s[wl]))
		wl++;
	const char *rest = s + wl;
	size_t rn = n - wl;
	trim(&rest, &rn);

	bool is_account = wl == 7 && memcmp(s, "account", 7) == 0;
	bool is_defaults = wl == 8 && memcmp(s, "defaults", 8) == 0;
	const struct command *c = NULL;
	if (!is_account && !is_defaults) {
		c = profile_cmd_find(s, wl);
		if (!c) {
			size_t show = wl > PROFILE_SHOW ? PROFILE_SHOW : wl;
			const char *near = profile_cmd_nearest(s, wl);
			return err_set(e, ERR_CONFIG, "%s:%u: unknown command '%.*s%s'%s%s%s",
			               ps->file, line, (int)show, s, wl > show ? "..." : "",
			               near ? "; did you mean '" : "", near ? near : "",
			               near ? "'?" : "");
		}
		/* msmtp 1.8 refuses settings before the first section; so do we. */
		if (!ps->cur)
			return err_set(e, ERR_CONFIG,
			               "%s:%u: first command must be 'account' or "
			               "'defaults', not '%s'",
			               ps->file, line, c->name);
	}

	char *arg = unquote(rest, rn);
	int r = 0;
	if (is_defaults) {
		if (*arg)
			r = err_set(e, ERR_CONFIG, "%s:%u: command 'defaults' takes no argument",
			            ps->file, line);
		ps->cur = &ps->defaults;
		ps->cur_idx = SIZE_MAX;
	} else if (is_account) {
		r = start_account(ps, line, arg, e);
	} else {
		r = profile_cmd_apply(ps, line, c, arg, e);
	}
	explicit_bzero(arg, strlen(arg));
	free(arg);
	return r;
}

/* After the last line: settings derived from others, and "account default : NAME". */
static void
parse_finish(struct parse *ps)
{
	for (size_t i = 0; i < ps->out.n; i++)
		profile_finish_account(ps->out.accounts[i]);

	/*
	 * msmtp makes "account default : NAME" a copy of NAME. When the copy has nothing of its
	 * own and behaves exactly like NAME, keep the name instead (default_name), so messages
	 * name the real account; otherwise it stays an account called "default".
	 */
	if (ps->alias != SIZE_MAX && !ps->alias_touched) {
		struct account *d = ps->out.accounts[ps->alias];
		struct account *t = find_in(&ps->out, ps->alias_target, NULL);
		if (t && t != d && d->set == t->set && profile_account_same(d, t, ~UINT64_C(0))) {
			profile_account_free(d);
			memmove(ps->out.accounts + ps->alias, ps->out.accounts + ps->alias + 1,
			        (ps->out.n - ps->alias - 1) * sizeof(*ps->out.accounts));
			ps->out.n--;
			ps->out.default_name = ps->alias_target;
			ps->alias_target = NULL;
		}
	}
}

static void
remove_at(struct profile *p, size_t i)
{
	profile_account_free(p->accounts[i]);
	memmove(p->accounts + i, p->accounts + i + 1, (p->n - i - 1) * sizeof(*p->accounts));
	p->n--;
}

void
profile_merge(struct profile *p, struct profile *add)
{
	bool has_default = false;
	size_t idx;

	for (size_t i = 0; i < add->n; i++) {
		struct account *a = add->accounts[i];
		if (strcmp(a->name, "default") == 0)
			has_default = true;
		if (find_in(p, a->name, &idx)) {
			profile_account_free(p->accounts[idx]);
			p->accounts[idx] = a;
		} else {
			p->accounts = xrealloc(p->accounts, (p->n + 1) * sizeof(*p->accounts));
			p->accounts[p->n++] = a;
		}
	}
	if (add->default_name) {
		if (find_in(p, "default", &idx))
			remove_at(p, idx);
		free(p->default_name);
		p->default_name = add->default_name;
		add->default_name = NULL;
	} else if (has_default) {
		free(p->default_name);
		p->default_name = NULL;
	}
	free(add->accounts);
	add->accounts = NULL;
	add->n = 0;
}

int
profile_parse_text(struct profile *p, const char *name, const char *text, size_t len, bool private,
                   const char *why, enum profile_origin origin, struct err *e)
{
	struct parse ps = {
	    .file = name,
	    .origin = origin,
	    .private = private,
	    .why = why,
	    .cur_idx = SIZE_MAX,
	    .alias = SIZE_MAX,
	};
	const char *nul = memchr(text, '\0', len);
	unsigned line = 1;
	int r = 0;

	profile_account_defaults(&ps.defaults);
	if (nul) {
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		r = err_set(e, ERR_CONFIG, "%s:%u: NUL byte in the profile", name, line);
		goto out;
	}
	for (size_t off = 0; off < len; line++) {
		const char *s = text + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		if (line == UINT_MAX) {
			r = err_set(e, ERR_CONFIG, "%s: too many lines", name);
			goto out;
		}
		r = profile_parse_line(&ps, line, s, n, e);
		if (r < 0)
			goto out;
		off += n + (nl != NULL);
	}
	parse_finish(&ps);
	for (size_t i = 0; i < ps.out.n; i++)
		ps.out.accounts[i]->origin = origin;
	profile_merge(p, &ps.out);
out:
	parse_fini(&ps);
	return r;
}

int
profile_parse(struct profile *p, const char *name, const char *text, size_t len, bool private,
              struct err *e)
{
	return profile_parse_text(p, name, text, len, private, NULL, PROFILE_ORIGIN_USER, e);
}

struct account *
profile_find(const struct profile *p, const char *name)
{
	if (strcmp(name, "default") == 0 && p->default_name)
		name = p->default_name;
	return find_in(p, name, NULL);
}

struct account *
profile_find_by_from(const struct profile *p, const char *addr)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->accounts[i]->from && strcasecmp(p->accounts[i]->from, addr) == 0)
			return p->accounts[i];
	return NULL;
}

void
profile_fini(struct profile *p)
{
	for (size_t i = 0; i < p->n; i++)
		profile_account_free(p->accounts[i]);
	free(p->accounts);
	free(p->default_name);
	free(p->looked);
	free(p->user_file);
	p->accounts = NULL;
	p->n = 0;
	p->default_name = NULL;
	p->looked = NULL;
	p->user_file = NULL;
}
