/*
 * addr: envelope mailboxes and header address lists.
 *
 * RFC 5321 §4.1.2 (Mailbox, Dot-string, Quoted-string, address literals), §4.5.3.1.3 (path
 * length); RFC 5322 §3.2 (lexical tokens), §3.4 (address-list), §4.4 (obsolete addressing:
 * obs-phrase, obs-route, obs-local-part, empty list elements); RFC 5890/5891 and UTS #46 via
 * libidn2 (IDNA2008 A-labels); RFC 6531 (SMTPUTF8: UTF-8 local parts, which the session
 * sends only to a server that offers SMTPUTF8).
 * SECURITY.md: SEC-18, SEC-21, SEC-22, SEC-25.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5321 §4.5.3.1.3: a path is at most 256 octets including "<" and ">". */
#define ADDR_MAX_MAILBOX 254
/* RFC 1035 §2.3.4 (and RFC 5321 §2.3.5): a label is at most 63 octets. */
#define ADDR_MAX_LABEL 63
/* How much of a refused address an error message quotes. */
#define ADDR_QUOTE_MAX 200
/*
 * SEC-25: RFC 6531 §3.3 allows UTF8-non-ascii in a local part; it must be well-formed
 * UTF-8 (RFC 3629 §4: no overlong forms, no surrogates, nothing past U+10FFFF).
 */
size_t
addr_utf8_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	unsigned int min;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	unsigned int cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#define BAD_UTF8 "the local part is not valid UTF-8"

bool
addr_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

bool
addr_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* Refuse IN (LEN bytes) with a reason; err_set shows its control characters as '?'. */
static int refuse(const char *in, size_t len, enum err_kind kind, struct err *e, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));

static int
refuse(const char *in, size_t len, enum err_kind kind, struct err *e, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	int shown = len > ADDR_QUOTE_MAX ? ADDR_QUOTE_MAX : (int)len;
	return err_set(e, kind, "check address \"%.*s%s\": %s", shown, in,
	               len > ADDR_QUOTE_MAX ? "..." : "", reason);
}

/* The reason for a byte that has no place where it was found. */
static int
refuse_char(const char *in, size_t len, enum err_kind kind, struct err *e, unsigned char c,
            const char *where)
{
	if (c == ' ')
		return refuse(in, len, kind, e, "unquoted space");
	if (c == '<' || c == '>')
		return refuse(in, len, kind, e, "'<' or '>' outside the brackets");
	if (c == '@')
		return refuse(in, len, kind, e, "more than one '@'");
	return refuse(in, len, kind, e, "invalid character '%c' in the %s", c, where);
}

/*
 * Check an ASCII domain name: LDH labels of 1 to 63 octets separated by single dots, no
 * label beginning or ending with '-' (RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]).
 */
static int
check_domain(const char *in, size_t len, const char *d, size_t n, enum err_kind kind, struct err *e)
{
	size_t label = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (label == 0)
				return refuse(in, len, kind, e, "empty label in the domain");
			if (label > ADDR_MAX_LABEL)
				return refuse(in, len, kind, e,
				              "a domain label is longer than %d octets",
				              ADDR_MAX_LABEL);
			if (d[i - label] == '-' || d[i - 1] == '-')
				return refuse(in, len, kind, e,
				              "a domain label begins or ends with '-'");
			label = 0;
			continue;
		}
		if (!is_ldh((unsigned char)d[i]))
			return refuse_char(in, len, kind, e, (unsigned char)d[i], "domain");
		label++;
	}
	return 0;
}

/*
 * An address literal (RFC 5321 §4.1.3): "[" IPv4 "]" or "[IPv6:" IPv6 "]". The general
 * form (a standardized tag) names nothing a submission server routes to: refused.
 */
static int
check_literal(const char *in, size_t len, const char *d, size_t n, enum err_kind kind,
              struct err *e)
{
	char text[64];
	const char *body = d + 1;
	size_t blen = n - 2;
	int af = AF_INET;
	unsigned char bin[16];

	if (blen >= 5 && strncasecmp(body, "IPv6:", 5) == 0) {
		af = AF_INET6;
		body += 5;
		blen -= 5;
	}
	if (blen == 0 || blen >= sizeof(text))
		return refuse(in, len, kind, e, "invalid address literal");
	memcpy(text, body, blen);
	text[blen] = '\0';
	if (inet_pton(af, text, bin) != 1)
		return refuse(in, len, kind, e, "invalid %s address literal",
		              af == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

/*
 * Convert a domain with non-ASCII bytes to A-labels (SEC-25, IDNA2008 through UTS #46
 * non-transitional processing). *ACE is owned by the caller (free()).
 */
static int
to_alabels(const char *in, size_t len, const char *d, size_t n, enum err_kind kind, char **ace,
           struct err *e)
{
	char *u = xstrndup(d, n);
	char *out = NULL;
	int rc = idn2_to_ascii_8z(u, &out, IDN2_NONTRANSITIONAL);
	free(u);
	if (rc != IDN2_OK)
		return refuse(in, len, kind, e, "the domain is not a valid IDN: %s",
		              idn2_strerror(rc));
	*ace = xstrdup(out);
	idn2_free(out);
	if (check_domain(in, len, *ace, strlen(*ace), kind, e) < 0) {
		free(*ace);
		*ace = NULL;
		return -1;
	}
	return 0;
}

/*
 * Scan the local part at *P (RFC 5321 §4.1.2 Local-part = Dot-string / Quoted-string) and
 * leave *P where it ends. *QUOTED tells which form it was.
 */
static int
scan_local(const char *in, size_t len, const char **pp, const char *end, bool angle,
           enum err_kind kind, bool *quoted, struct err *e)
{
	const char *p = *pp;

	*quoted = p < end && *p == '"';
	if (*quoted) {
		for (p++; p < end && *p != '"'; p++) {
			/* quoted-pairSMTP = "\" %d32-126 (controls are already refused) */
			if (*p == '\\') {
				p++;
				if (p == end)
					break;
			}
			if ((unsigned char)*p >= 0x80) {
				size_t k = addr_utf8_len(p, (size_t)(end - p));
				if (k == 0)
					return refuse(in, len, kind, e, BAD_UTF8);
				p += k - 1;
			}
		}
		if (p == end)
			return refuse(in, len, kind, e, "unclosed quoted string");
		*pp = p + 1;
		return 0;
	}
	const char *start = p;
	bool dot = true; /* at the start, or just after a '.' */
	for (; p < end && *p != '@' && !(angle && *p == '>'); p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.' && dot)
			return refuse(in, len, kind, e, "misplaced '.' in the local part");
		if (c == '.')
			dot = true;
		else if (c >= 0x80) {
			size_t k = addr_utf8_len(p, (size_t)(end - p));
			if (k == 0)
				return refuse(in, len, kind, e, BAD_UTF8);
			p += k - 1;
			dot = false;
		} else if (addr_is_atext(c))
			dot = false;
		else if (c == '"')
			return refuse(in, len, kind, e,
			              "the local part mixes quoted and unquoted text");
		else
			return refuse_char(in, len, kind, e, c, "local part");
	}
	if (p > start && dot)
		return refuse(in, len, kind, e, "misplaced '.' in the local part");
	*pp = p;
	return 0;
}

/*
 * Scan the domain after the '@' at *PP (a domain literal "[...]", or a name up to the end or
 * the '>') and leave *PP where it ends; *DOM and *DOM_LEN give it. Only its shape is checked
 * here; check_literal, check_domain and to_alabels judge it.
 */
static int
scan_domain(const char *in, size_t len, const char **pp, const char *end, bool angle,
            enum err_kind kind, const char **dom, size_t *dom_len, struct err *e)
{
	const char *p = *pp;

	*dom = p;
	if (p < end && *p == '[') {
		while (p < end && *p != ']') {
			if (*p == ' ')
				return refuse(in, len, kind, e, "unquoted space");
			p++;
		}
		if (p == end)
			return refuse(in, len, kind, e, "unclosed '['");
		p++;
	} else {
		while (p < end && !(angle && *p == '>')) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x80 && c != '.' && !is_ldh(c))
				return refuse_char(in, len, kind, e, c, "domain");
			p++;
		}
	}
	*dom_len = (size_t)(p - *dom);
	if (*dom_len == 0)
		return refuse(in, len, kind, e, "empty domain");
	*pp = p;
	return 0;
}

/*
 * The normalised address into *OUT: LOCAL, and when DOM is not NULL '@' and the domain,
 * checked (a literal, or LDH labels) and as A-labels when it is not ASCII (SEC-25).
 */
static int
normalise(const char *in, size_t len, const char *local, size_t local_len, const char *dom,
          size_t dom_len, enum err_kind kind, char **out, struct err *e)
{
	char *ace = NULL;

	if (dom && *dom == '[') {
		if (check_literal(in, len, dom, dom_len, kind, e) < 0)
			return -1;
	} else if (dom) {
		bool ascii = true;
		for (size_t i = 0; i < dom_len; i++)
			if ((unsigned char)dom[i] >= 0x80)
				ascii = false;
		/* ASCII names keep their case: DNS does not care, and the user wrote them so. */
		if (ascii && check_domain(in, len, dom, dom_len, kind, e) < 0)
			return -1;
		if (!ascii && to_alabels(in, len, dom, dom_len, kind, &ace, e) < 0)
			return -1;
	}
	const char *d = ace ? ace : dom;
	size_t dlen = ace ? strlen(ace) : dom_len;
	size_t total = local_len + (d ? 1 + dlen : 0);
	if (total > ADDR_MAX_MAILBOX) {
		free(ace);
		return refuse(in, len, kind, e, "longer than %d octets (RFC 5321 §4.5.3.1.3)",
		              ADDR_MAX_MAILBOX);
	}
	char *r = xmalloc(total + 1);
	memcpy(r, local, local_len);
	if (d) {
		r[local_len] = '@';
		memcpy(r + local_len + 1, d, dlen);
	}
	r[total] = '\0';
	free(ace);
	*out = r;
	return 0;
}

/*
 * The checker behind addr_envelope, over LEN bytes (the list parser hands it pieces of a
 * header field).
 */
static int
envelope(const char *in, size_t len, bool allow_null, enum err_kind kind, char **out, struct err *e)
{
	const char *p = in, *end = in + len;
	bool angle = false, quoted;

	*out = NULL;
	/* SEC-18: CR, LF, NUL and every other control character, wherever they are. */
	for (size_t i = 0; i < len; i++)
		if (addr_is_ctl((unsigned char)in[i]))
			return refuse(in, len, kind, e, "control character");
	if (len == 0 || (len == 2 && in[0] == '<' && in[1] == '>')) {
		if (!allow_null)
			return refuse(in, len, kind, e, "empty address");
		*out = xstrdup("");
		return 0;
	}
	if (*p == '<') {
		angle = true;
		p++;
	}
	const char *local = p;
	if (scan_local(in, len, &p, end, angle, kind, &quoted, e) < 0)
		return -1;
	size_t local_len = (size_t)(p - local);
	if (local_len == 0)
		return refuse(in, len, kind, e, "empty local part");
	/* SEC-21: whatever begins with '-' could be taken for an option somewhere. */
	if (*local == '-')
		return refuse(in, len, kind, e, "begins with '-'");

	const char *dom = NULL;
	size_t dom_len = 0;
	if (p < end && *p == '@') {
		p++;
		if (scan_domain(in, len, &p, end, angle, kind, &dom, &dom_len, e) < 0)
			return -1;
	} else if (p < end && !(angle && *p == '>')) {
		/* Only a quoted local part gets here: something follows its closing quote. */
		return refuse_char(in, len, kind, e, (unsigned char)*p, "local part");
	} else if (quoted) {
		return refuse(in, len, kind, e, "a local part without a domain must be unquoted");
	}
	if (angle) {
		if (p == end)
			return refuse(in, len, kind, e, "missing '>'");
		p++;
		if (p != end)
			return refuse(in, len, kind, e, "text after '>'");
	} else if (p != end) {
		return refuse_char(in, len, kind, e, (unsigned char)*p, "domain");
	}
	return normalise(in, len, local, local_len, dom, dom_len, kind, out, e);
}

int
addr_envelope(const char *in, bool allow_null, enum err_kind kind, char **out, struct err *e)
{
	return envelope(in, strlen(in), allow_null, kind, out, e);
}

/*
 * The address-list lexer (RFC 5322 §3.2). CFWS disappears; what is left is a list of
 * tokens: atoms (atext, plus bytes >= 0x80 so UTF-8 display names and IDN domains pass, RFC
 * 6532), quoted strings and domain literals (kept with their delimiters and quoted-pairs,
 * folding removed), and the specials < > : ; @ , . as themselves.
 */
enum {
	TOK_END = 0,
	TOK_ATOM = 'a',
	TOK_QUOTED = 'q',
	TOK_LITERAL = 'l',
};

struct tok {
	int type;
	size_t off, len;     /* the token's text in the arena */
	size_t raw, raw_end; /* where it was in the value */
};

struct lex {
	const char *v;
	size_t len, pos;
	char *arena;
	size_t used;
	struct tok *t;
	size_t n, cap;
	enum err_kind kind;
	struct err *e;
};

static int
lex_fail(struct lex *x, const char *reason)
{
	return refuse(x->v, x->len, x->kind, x->e, "%s", reason);
}

/*
 * At a CR or LF: folding (RFC 5322 §3.2.2: a line break followed by WSP) is whitespace,
 * and so is a line break that ends the value. Returns the bytes it covers, 0 when it is
 * not folding.
 */
static size_t
fold_len(const struct lex *x, size_t i)
{
	size_t k = i;

	if (x->v[k] == '\r')
		k++;
	if (k < x->len && x->v[k] == '\n')
		k++;
	if (k == x->len || x->v[k] == ' ' || x->v[k] == '\t')
		return k - i;
	return 0;
}

static void
push(struct lex *x, int type, size_t raw)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 16;
		x->t = xrealloc(x->t, x->cap * sizeof(*x->t));
	}
	x->t[x->n] =
	    (struct tok){.type = type, .off = x->used, .len = 0, .raw = raw, .raw_end = raw};
	x->n++;
}

static void
put(struct lex *x, char c)
{
	x->arena[x->used++] = c;
	x->t[x->n - 1].len++;
}

/*
 * Inside a comment, quoted string or literal: folding (CRLF or LF before WSP) is taken out
 * and any other control character but HT refused. 1 when a fold was skipped, 0 for an
 * ordinary byte C, -1 (lex_fail) for a control character.
 */
static int
lex_text_byte(struct lex *x, unsigned char c)
{
	if (c == '\r' || c == '\n') {
		size_t f = fold_len(x, x->pos);
		if (!f)
			return lex_fail(x, "control character");
		x->pos += f;
		return 1;
	}
	if (addr_is_ctl(c) && c != '\t')
		return lex_fail(x, "control character");
	return 0;
}

/*
 * The next byte of a comment, quoted string or literal into *C, x->pos past it, folding
 * skipped: 1; 0 at the end of the value; -1 (lex_fail) for a control character.
 */
static int
text_next(struct lex *x, unsigned char *c)
{
	while (x->pos < x->len) {
		*c = (unsigned char)x->v[x->pos];
		int k = lex_text_byte(x, *c);
		if (k < 0)
			return -1;
		if (k == 0) {
			x->pos++;
			return 1;
		}
	}
	return 0;
}

/* Skip a comment (nested, with quoted-pairs: RFC 5322 §3.2.2) starting at x->pos. */
static int
lex_comment(struct lex *x)
{
	int depth = 0;
	unsigned char c;
	int k = text_next(x, &c);

	for (; k > 0; k = text_next(x, &c)) {
		if (c == '(') {
			depth++;
		} else if (c == ')') {
			depth--;
			if (depth == 0)
				return 0;
		} else if (c == '\\') {
			if (x->pos == x->len)
				break;
			if (addr_is_ctl((unsigned char)x->v[x->pos]) && x->v[x->pos] != '\t')
				return lex_fail(x, "control character");
			x->pos++;
		}
	}
	return k < 0 ? -1 : lex_fail(x, "unclosed comment");
}

/*
 * A quoted string or a domain literal, from its opening delimiter to CLOSE, folding taken
 * out. The text keeps its delimiters and quoted-pairs: addr_envelope judges it as it would
 * go out. In a literal, whitespace is dropped (RFC 5322 §3.4.1 allows FWS there).
 */
static int
lex_delimited(struct lex *x, int type, char close)
{
	unsigned char c;
	int k;

	push(x, type, x->pos);
	put(x, x->v[x->pos++]);
	for (k = text_next(x, &c); k > 0; k = text_next(x, &c)) {
		if (type == TOK_LITERAL && (c == ' ' || c == '\t'))
			continue;
		if (type == TOK_LITERAL && c == '[')
			return lex_fail(x, "'[' inside a domain literal");
		put(x, (char)c);
		if (c == (unsigned char)close) {
			x->t[x->n - 1].raw_end = x->pos;
			return 0;
		}
		if (c == '\\' && x->pos < x->len) {
			c = (unsigned char)x->v[x->pos];
			if (c == '\r' || c == '\n' || (addr_is_ctl(c) && c != '\t'))
				return lex_fail(x, "control character");
			put(x, (char)c);
			x->pos++;
		}
	}
	if (k < 0)
		return -1;
	return lex_fail(x, type == TOK_QUOTED ? "unclosed quoted string" : "unclosed '['");
}

static int
lex_run(struct lex *x)
{
	while (x->pos < x->len) {
		unsigned char c = (unsigned char)x->v[x->pos];
		if (c == ' ' || c == '\t') {
			x->pos++;
		} else if (c == '\r' || c == '\n') {
			size_t f = fold_len(x, x->pos);
			if (!f)
				return lex_fail(x, "control character");
			x->pos += f;
		} else if (addr_is_ctl(c)) {
			return lex_fail(x, "control character");
		} else if (c == '(') {
			if (lex_comment(x) < 0)
				return -1;
		} else if (c == '"') {
			if (lex_delimited(x, TOK_QUOTED, '"') < 0)
				return -1;
		} else if (c == '[') {
			if (lex_delimited(x, TOK_LITERAL, ']') < 0)
				return -1;
		} else if (strchr("<>:;@,.", c)) {
			push(x, c, x->pos);
			put(x, (char)c);
			x->t[x->n - 1].raw_end = ++x->pos;
		} else if (addr_is_atext(c) || c >= 0x80) {
			push(x, TOK_ATOM, x->pos);
			while (x->pos < x->len && (addr_is_atext((unsigned char)x->v[x->pos]) ||
			                           (unsigned char)x->v[x->pos] >= 0x80))
				put(x, x->v[x->pos++]);
			x->t[x->n - 1].raw_end = x->pos;
		} else {
			/* ')' without '(', ']' without '[', a '\' outside quotes */
			char reason[32];
			snprintf(reason, sizeof(reason), "unexpected '%c'", c);
			return lex_fail(x, reason);
		}
	}
	push(x, TOK_END, x->len);
	return 0;
}

struct parser {
	struct lex *x;
	size_t i;
	struct addr_list *l;
};

static bool
is_word(int type)
{
	return type == TOK_ATOM || type == TOK_QUOTED || type == TOK_LITERAL;
}

/* What may appear in a display name or an addr-spec (obs-phrase has '.', RFC 5322 §4.1). */
static bool
is_part(int type)
{
	return is_word(type) || type == '.' || type == '@';
}

/* Refuse the element that began at token START, quoting it up to the current token. */
static int element_fail(struct parser *p, size_t start, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
element_fail(struct parser *p, size_t start, const char *fmt, ...)
{
	char reason[128];
	va_list ap;
	struct lex *x = p->x;
	size_t from = x->t[start].raw;
	size_t to = x->t[p->i].type == TOK_END ? x->len : x->t[p->i].raw_end;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (to < from)
		to = from;
	return refuse(x->v + from, to - from, x->kind, x->e, "%s", reason);
}

static int
unexpected(struct parser *p, size_t start)
{
	int type = p->x->t[p->i].type;

	if (type == TOK_END)
		return element_fail(p, start, "unexpected end");
	if (type == '<' || type == '>')
		return element_fail(p, start, "'<' or '>' outside the brackets");
	return element_fail(p, start, "unexpected '%c'", type);
}

/*
 * Rebuild the addr-spec from tokens [FROM, TO) without the CFWS between them (obsolete
 * "a . b @ c" is "a.b@c"), check it as an envelope address and append it. Two words with
 * nothing between them were separated by space, which addr_envelope then refuses.
 */
static int
add_spec(struct parser *p, size_t from, size_t to)
{
	struct lex *x = p->x;
	size_t n = 0;

	for (size_t k = from; k < to; k++)
		n += x->t[k].len + 1;
	char *s = xmalloc(n + 1);
	size_t len = 0;
	for (size_t k = from; k < to; k++) {
		if (k > from && is_word(x->t[k - 1].type) && is_word(x->t[k].type))
			s[len++] = ' ';
		memcpy(s + len, x->arena + x->t[k].off, x->t[k].len);
		len += x->t[k].len;
	}
	s[len] = '\0';
	char *out;
	int rc = envelope(s, len, false, x->kind, &out, x->e);
	free(s);
	if (rc < 0)
		return -1;
	addr_list_add(p->l, out);
	free(out);
	return 0;
}

/* True at the end of an element: ',' or the end, and ';' inside a group. */
static bool
at_delim(const struct parser *p, bool in_group)
{
	int type = p->x->t[p->i].type;

	return type == ',' || type == TOK_END || (in_group && type == ';');
}

/* angle-addr = "<" [obs-route] addr-spec ">" (RFC 5322 §3.4, §4.4); p->i is at '<'. */
static int
angle_addr(struct parser *p, size_t start, bool in_group)
{
	const struct tok *t = p->x->t;

	p->i++;
	/*
	 * obs-route = obs-domain-list ":" where obs-domain-list starts with "@" or ",". It is
	 * dropped: RFC 5321 §4.1.1.3 and Appendix C say source routes are to be ignored.
	 */
	if (t[p->i].type == '@' || t[p->i].type == ',') {
		size_t k = p->i;
		while (t[k].type == '@' || t[k].type == ',' || t[k].type == '.' ||
		       t[k].type == TOK_ATOM || t[k].type == TOK_LITERAL)
			k++;
		if (t[k].type == ':')
			p->i = k + 1;
	}
	size_t from = p->i;
	while (is_part(t[p->i].type))
		p->i++;
	if (t[p->i].type == TOK_END)
		return element_fail(p, start, "missing '>'");
	if (t[p->i].type != '>')
		return unexpected(p, start);
	if (from == p->i)
		return element_fail(p, start, "empty address");
	if (add_spec(p, from, p->i) < 0)
		return -1;
	p->i++;
	if (!at_delim(p, in_group))
		return element_fail(p, start, "text after '>'");
	return 0;
}

static int element(struct parser *p, bool in_group);

/* group = display-name ":" [group-list] ";" (RFC 5322 §3.4); p->i is at ':'. */
static int
group(struct parser *p, size_t start)
{
	const struct tok *t = p->x->t;

	p->i++;
	for (;;) {
		if (element(p, true) < 0)
			return -1;
		if (t[p->i].type == ',') {
			p->i++;
			continue;
		}
		if (t[p->i].type == ';')
			p->i++;
		/* A missing ';' at the very end is forgiven: nothing can follow it anyway. */
		break;
	}
	if (t[p->i].type != ',' && t[p->i].type != TOK_END)
		return element_fail(p, start, "text after the group");
	return 0;
}

/*
 * One element of a list: nothing (obsolete empty element), an addr-spec, a name-addr, or
 * (outside a group) a group. Leaves p->i at the delimiter after it.
 */
static int
element(struct parser *p, bool in_group)
{
	const struct tok *t = p->x->t;
	size_t start = p->i;
	bool spec = false; /* what came so far can only be an addr-spec, not a name */

	while (is_part(t[p->i].type)) {
		if (t[p->i].type == '@' || t[p->i].type == TOK_LITERAL)
			spec = true;
		p->i++;
	}
	size_t end = p->i;
	int type = t[p->i].type;
	if (type == '<' && !spec)
		return angle_addr(p, start, in_group);
	if (type == ':' && !spec && !in_group && end > start)
		return group(p, start);
	if (type == ':' && !spec && in_group)
		return element_fail(p, start, "a group inside a group");
	if (at_delim(p, in_group)) {
		if (end == start)
			return 0;
		return add_spec(p, start, end);
	}
	return unexpected(p, start);
}

int
addr_list_parse(struct addr_list *l, const char *value, size_t len, enum err_kind kind,
                struct err *e)
{
	struct lex x = {.v = value, .len = len, .kind = kind, .e = e};
	int rc = -1;

	x.arena = xmalloc(len + 1);
	if (lex_run(&x) < 0)
		goto out;
	struct parser p = {.x = &x, .i = 0, .l = l};
	for (;;) {
		if (element(&p, false) < 0)
			goto out;
		if (x.t[p.i].type == TOK_END)
			break;
		p.i++; /* the ',' */
	}
	rc = 0;
out:
	free(x.arena);
	free(x.t);
	return rc;
}

const char *
addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : NULL;
}
