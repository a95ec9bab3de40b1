/*
 * msg: the header section of the message on standard input.
 *
 * RFC 5322 §2.1 (header section, empty line, body), §2.2 (fields, folding), §2.1.1 (998
 * octets), §3.3 (date-time), §3.6 (which fields), §3.6.3 (Bcc), §3.6.4 (msg-id), §3.6.6
 * (Resent-*), §4.5.3 (obsolete "Bcc :"); RFC 2047 §2, §5 (encoded words in a phrase).
 * SECURITY.md: SEC-20, SEC-23, SEC-27, SEC-28, SEC-29.
 *
 * Seam: header.c finds the end of the header section and walks its fields; this file reads
 * the input, takes recipients and the sender from the fields, and writes the header section
 * to send.
 */
#include "msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "header.h"

/* One read(2): the same size the body is streamed with. */
#define MSG_READ_SIZE (64 * 1024)
/* RFC 5322 §2.1.1: no line is over 998 octets. */
#define MSG_MAX_LINE HEADER_MAX_LINE
/*
 * The scanner keeps the line it has not judged yet (at most MSG_MAX_LINE octets of a
 * would-be field name) in m->head, over the ceiling of the header section proper.
 */
#define MSG_LINE_SLACK 1024
/* RFC 5322 §2.1.1 SHOULD: lines of at most 78 characters; RFC 2047 §2: 76 with encoded words. */
#define MSG_FOLD_AT 78
#define MSG_FOLD_2047 76
/* RFC 2047 §2: an encoded word is at most 75 characters. */
#define MSG_MAX_WORD 75
/* A full name longer than this is a mistake, not a name. */
#define MSG_MAX_NAME 4096

void
msg_init(struct msg *m)
{
	buf_init(&m->head, BUF_MAX_HEADER + MSG_LINE_SLACK);
	m->has_body_sep = false;
	buf_init(&m->rest, MSG_READ_SIZE + MSG_LINE_SLACK);
	/* LF made CRLF can grow a header section by half (" \n" lines); plus what we add. */
	buf_init(&m->out, 2 * BUF_MAX_HEADER + 64 * 1024);
}

void
msg_fini(struct msg *m)
{
	buf_fini(&m->head);
	buf_fini(&m->rest);
	buf_fini(&m->out);
}

/* Start reading a header section into M. */
static void
scan_start(struct msg *m, struct header_scan *s)
{
	buf_reset(&m->out);
	m->has_body_sep = false;
	header_scan_start(s, &m->head, &m->rest);
}

int
msg_read_header(struct msg *m, int fd, struct err *e)
{
	struct header_scan s;
	char *chunk = xmalloc(MSG_READ_SIZE);
	int rc = -1;

	scan_start(m, &s);
	m->rest.max = MSG_READ_SIZE + MSG_LINE_SLACK; /* one read, and the line moved back */
	for (;;) {
		ssize_t r = read(fd, chunk, MSG_READ_SIZE);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_OS, "read message: %s", strerror(errno));
			break;
		}
		if (r == 0) {
			rc = header_scan_end(&s, e);
			break;
		}
		if (header_scan_feed(&s, chunk, (size_t)r, e) < 0)
			break;
		if (header_scan_done(&s)) {
			rc = 0;
			break;
		}
	}
	m->has_body_sep = s.body_sep;
	free(chunk);
	return rc;
}

int
msg_parse_header(struct msg *m, const char *text, size_t len, struct err *e)
{
	struct header_scan s;
	int rc;

	scan_start(m, &s);
	/* Everything is in memory already: the rest may be as long as the input. */
	if (m->rest.max < len)
		m->rest.max = len;
	rc = header_scan_feed(&s, text, len, e);
	if (rc == 0 && !header_scan_done(&s))
		rc = header_scan_end(&s, e);
	m->has_body_sep = s.body_sep;
	return rc;
}

bool
msg_has_field(const struct msg *m, const char *name)
{
	struct header_field f;
	size_t pos = 0;

	while (header_field_next(&m->head, &pos, &f))
		if (header_field_is(&f, name))
			return true;
	return false;
}

bool
msg_has_8bit(const struct msg *m)
{
	const struct buf *b = m->out.len ? &m->out : &m->head;

	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return true;
	return false;
}

/*
 * RFC 5322 §3.6.6: when a message is resent, the Resent-* fields name the new recipients,
 * and the old To/Cc/Bcc are history. sendmail -t and Postfix read the Resent- fields then.
 */
static bool
is_resent(const struct msg *m)
{
	struct header_field f;
	size_t pos = 0;

	while (header_field_next(&m->head, &pos, &f))
		if (f.name_len > 7 && strncasecmp(f.name, "Resent-", 7) == 0)
			return true;
	return false;
}

int
msg_recipients(const struct msg *m, struct addr_list *l, struct err *e)
{
	static const char *const plain[] = {"To", "Cc", "Bcc"};
	static const char *const resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
	const char *const *names = is_resent(m) ? resent : plain;
	struct header_field f;
	size_t pos = 0;

	while (header_field_next(&m->head, &pos, &f)) {
		if (!header_field_is(&f, names[0]) && !header_field_is(&f, names[1]) &&
		    !header_field_is(&f, names[2]))
			continue;
		size_t k;
		char *v = header_unfold(&m->head, &f, &k);
		struct err sub = {0};
		int rc = addr_list_parse(l, v, k, ERR_DATA, &sub);
		free(v);
		if (rc < 0)
			return err_set(e, ERR_DATA, "read %.*s field: %s", (int)f.name_len, f.name,
			               sub.text);
	}
	return 0;
}

char *
msg_msgid(const struct msg *m)
{
	const struct buf *b = m->out.len ? &m->out : &m->head;
	struct header_field f;
	size_t pos = 0;

	while (header_field_next(b, &pos, &f)) {
		if (!header_field_is(&f, "Message-ID"))
			continue;
		size_t n;
		char *v = header_unfold(b, &f, &n);
		size_t s = 0;
		while (s < n && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (n > s && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		char *r = n > s ? xstrndup(v + s, n - s) : NULL;
		free(v);
		return r;
	}
	return NULL;
}

int
msg_sender(const struct msg *m, char **out, struct err *e)
{
	struct header_field f;
	size_t pos = 0;

	while (header_field_next(&m->head, &pos, &f)) {
		if (!header_field_is(&f, "From"))
			continue;
		size_t k;
		char *v = header_unfold(&m->head, &f, &k);
		struct addr_list l = {0};
		struct err sub = {0};
		int rc = addr_list_parse(&l, v, k, ERR_DATA, &sub);
		free(v);
		if (rc < 0)
			err_set(e, ERR_DATA, "read From field: %s", sub.text);
		else if (l.n == 0)
			rc = err_set(e, ERR_DATA,
			             "read From field: no address in it; "
			             "--read-envelope-from takes the envelope sender from there");
		else
			*out = xstrdup(l.v[0]);
		addr_list_fini(&l);
		return rc;
	}
	return err_set(e, ERR_DATA,
	               "read From field: the message has none; "
	               "--read-envelope-from takes the envelope sender from there (or pass -f)");
}

/*
 * Write the unfolded line S (N bytes, no line end) folded before spaces so that lines stay
 * within WIDTH where a space allows it (RFC 5322 §2.2.3; folding inside a quoted string is
 * allowed too, §3.2.4). A fold only goes before a space that follows a non-space, so no
 * line is whitespace only, nor before the first word after the field name. Ends with CRLF.
 * A word that would make a line pass 998 octets is an error of kind KIND: "WHAT: ...".
 */
static int
put_folded(struct buf *out, const char *s, size_t n, size_t width, enum err_kind kind,
           const char *what, struct err *e)
{
	size_t col = 0, name = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && !(s[j] == ' ' && s[j - 1] != ' '))
			j++;
		if (i == 0)
			name = j; /* "From:" */
		if (col > name && col + (j - i) > width) {
			if (buf_append(out, "\r\n", 2, e) < 0)
				return -1;
			col = 0;
			name = 0;
		}
		if (col + (j - i) > MSG_MAX_LINE)
			return err_set(e, kind, "%s too long for a header line (over %d octets)",
			               what, MSG_MAX_LINE);
		if (buf_append(out, s + i, j - i, e) < 0)
			return -1;
		col += j - i;
		i = j;
	}
	return buf_append(out, "\r\n", 2, e);
}

/*
 * The full name as a display name (SEC-20): a phrase as it is when it is atoms and spaces,
 * a quoted string when it has specials, RFC 2047 encoded words when it is not ASCII.
 * Appends to LINE; sets *ENCODED for the encoded form.
 */
static int
put_name(struct buf *line, const char *name, const char *what, bool *encoded, struct err *e)
{
	const unsigned char *u = (const unsigned char *)name;
	size_t n = strlen(name);
	bool atoms = false, specials = false, eight = false;

	if (n > MSG_MAX_NAME)
		return err_set(e, ERR_USAGE, "read %s: the full name is over %d octets", what,
		               MSG_MAX_NAME);
	for (size_t i = 0; i < n; i++) {
		if (addr_is_ctl(u[i]))
			return err_set(e, ERR_USAGE, "read %s: control character in the full name",
			               what);
		if (u[i] >= 0x80)
			eight = true;
		else if (addr_is_atext(u[i]))
			atoms = true;
		else if (u[i] != ' ')
			specials = true;
	}
	*encoded = eight;
	if (eight) {
		/*
		 * RFC 2047 §5(3): encoded words in a phrase, "B" encoding of UTF-8, each at most
		 * 75 characters and never splitting a character (§5: each word must be
		 * self-contained). The first word shares its line with "From: ", so it is
		 * shorter: lines with encoded words stay within 76 characters (§2).
		 */
		size_t budget = ((MSG_FOLD_2047 - (sizeof("From: ") - 1) - 12) / 4) * 3;
		bool first = true;
		for (size_t i = 0; i < n;) {
			size_t j = i;
			while (j < n) {
				size_t c = addr_utf8_len((const char *)u + j, n - j);
				if (c == 0)
					return err_set(e, ERR_USAGE,
					               "read %s: the full name is not valid UTF-8",
					               what);
				if (j + c - i > budget)
					break;
				j += c;
			}
			if ((!first && buf_append(line, " ", 1, e) < 0) ||
			    buf_puts(line, "=?UTF-8?B?", e) < 0 ||
			    codec_base64_encode(line, u + i, j - i, e) < 0 ||
			    buf_puts(line, "?=", e) < 0)
				return -1;
			first = false;
			budget = ((MSG_MAX_WORD - 12) / 4) * 3;
			i = j;
		}
		return 0;
	}
	if (atoms && !specials)
		return buf_puts(line, name, e);
	/* RFC 5322 §3.2.4: a quoted string, with '"' and '\' as quoted-pairs. */
	if (buf_append(line, "\"", 1, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (((u[i] == '"' || u[i] == '\\') && buf_append(line, "\\", 1, e) < 0) ||
		    buf_append(line, name + i, 1, e) < 0)
			return -1;
	return buf_append(line, "\"", 1, e);
}

static int
add_from(struct buf *out, const char *sender, const char *name, const char *what, struct err *e)
{
	struct buf line;
	bool encoded = false;
	int rc = -1;

	for (const unsigned char *p = (const unsigned char *)sender; *p; p++)
		if (addr_is_ctl(*p))
			return err_set(e, ERR_USAGE, "add From: control character in the sender");
	buf_init(&line, 16 * MSG_MAX_NAME);
	if (buf_puts(&line, "From: ", e) < 0)
		goto out;
	if (name && *name) {
		if (put_name(&line, name, what, &encoded, e) < 0)
			goto out;
		if (buf_printf(&line, e, " <%s>", sender) < 0)
			goto out;
	} else if (buf_puts(&line, sender, e) < 0) {
		goto out;
	}
	struct buf why;
	buf_init(&why, 256);
	if (buf_printf(&why, e, "read %s: the full name has a word", what) == 0)
		rc = put_folded(out, line.data, line.len, encoded ? MSG_FOLD_2047 : MSG_FOLD_AT,
		                ERR_USAGE, why.data, e);
	buf_fini(&why);
out:
	buf_fini(&line);
	return rc;
}

/* RFC 5322 §3.3, in the C locale whatever the environment says: our own names. */
static int
add_date(struct buf *out, struct err *e)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	tzset(); /* localtime_r need not look at TZ again (POSIX) */
	if (!localtime_r(&now, &tm))
		return err_set(e, ERR_OS, "add Date: cannot convert the time: %s", strerror(errno));
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	return buf_printf(out, e, "Date: %s, %d %s %d %02d:%02d:%02d %c%02ld%02ld\r\n",
	                  days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
	                  off % 60);
}

/* RFC 5322 §3.6.4 id-right = dot-atom-text / no-fold-literal. */
static bool
msgid_right_ok(const char *d)
{
	size_t n = strlen(d);

	if (n >= 2 && d[0] == '[' && d[n - 1] == ']') {
		for (size_t i = 1; i + 1 < n; i++) {
			unsigned char c = (unsigned char)d[i];
			if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
				return false;
		}
		return true;
	}
	bool dot = true;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (dot)
				return false;
			dot = true;
		} else if (addr_is_atext((unsigned char)d[i])) {
			dot = false;
		} else {
			return false;
		}
	}
	return n > 0 && !dot;
}

/* "<" time in base 36 "." 16 random hex digits "@" domain ">": unique without state. */
static int
add_msgid(struct buf *out, const char *domain, struct err *e)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[8];
	char t36[16];
	char hex[sizeof(rnd) * 2 + 1];
	size_t k = sizeof(t36) - 1;

	if (!domain || !*domain)
		domain = "localhost";
	if (!msgid_right_ok(domain))
		return err_set(
		    e, ERR_CONFIG,
		    "add Message-ID: \"%s\" is not usable after '@' (set `domain` in the "
		    "profile to a host name)",
		    domain);
	if (getentropy(rnd, sizeof(rnd)) < 0)
		return err_set(e, ERR_OS, "add Message-ID: getentropy: %s", strerror(errno));
	uint64_t t = (uint64_t)time(NULL);
	t36[k] = '\0';
	do {
		t36[--k] = digits[t % 36];
		t /= 36;
	} while (t && k > 0);
	codec_hex_encode(hex, rnd, sizeof(rnd));
	return buf_printf(out, e, "Message-ID: <%s.%s@%s>\r\n", t36 + k, hex, domain);
}

/*
 * Bare local names in address fields. The value is walked as RFC 5322 §3.4 lays it out
 * (elements split at ',' outside quoted strings, comments, domain literals and angle
 * brackets; "name:" opening a group and ';' closing it), and an element whose address is a
 * plain local name (no '@', no quoting, no comment inside) is replaced by what
 * aliases_resolve makes of it: "<a>" inside angle brackets, the address itself otherwise,
 * several joined by ", ". Everything else stays as written.
 */
#define MSG_NONE ((size_t)-1)

struct elem {
	size_t end;              /* the delimiter after the element, or the value's length */
	char delim;              /* ',', ';', ':' or '\0' at the end */
	size_t angle_l, angle_r; /* '<' and '>', or MSG_NONE */
	size_t tok_s, tok_e;     /* the span of what is not WSP or a comment */
	bool has_at;             /* an '@' outside quotes, comments and literals */
	bool odd;                /* a quoted string or literal outside the brackets */
};

/* The byte after the quoted string (CLOSE '"') or domain literal (']') that opens at V[J],
   quoted-pairs skipped (RFC 5322 §3.2.4, §3.4.1). */
static size_t
skip_quoted(const char *v, size_t n, size_t j, char close)
{
	for (size_t k = j + 1; k < n; k++) {
		if (v[k] == '\\')
			k++;
		else if (v[k] == close)
			return k + 1;
	}
	return n;
}

/* The byte after the comment that opens at V[J]; comments nest (RFC 5322 §3.2.2). */
static size_t
skip_comment(const char *v, size_t n, size_t j)
{
	size_t depth = 0;

	for (size_t k = j; k < n; k++) {
		if (v[k] == '\\')
			k++;
		else if (v[k] == '(')
			depth++;
		else if (v[k] == ')' && depth == 1)
			return k + 1;
		else if (v[k] == ')')
			depth--;
	}
	return n;
}

static void
mark(struct elem *el, size_t s, size_t t)
{
	if (el->tok_s == MSG_NONE)
		el->tok_s = s;
	el->tok_e = t;
}

static void
scan_element(const char *v, size_t n, size_t j, bool in_group, struct elem *el)
{
	*el = (struct elem){.angle_l = MSG_NONE, .angle_r = MSG_NONE, .tok_s = MSG_NONE};
	while (j < n) {
		char c = v[j];
		size_t k;
		if (c == '"' || c == '[') {
			k = skip_quoted(v, n, j, c == '"' ? '"' : ']');
			mark(el, j, k);
			el->odd = true;
			j = k;
			continue;
		}
		if (c == '(') {
			j = skip_comment(v, n, j);
			continue;
		}
		if (c == '<' && el->angle_l == MSG_NONE) {
			el->angle_l = j;
			for (k = j + 1; k < n && v[k] != '>';)
				k = v[k] == '"'   ? skip_quoted(v, n, k, '"')
				    : v[k] == '(' ? skip_comment(v, n, k)
				                  : k + 1;
			el->angle_r = k < n ? k : MSG_NONE;
			mark(el, j, k < n ? k + 1 : n);
			j = k < n ? k + 1 : n;
			continue;
		}
		if (c == ',' || (c == ';' && in_group) || (c == ':' && !in_group))
			break;
		if (c == '@')
			el->has_at = true;
		if (c != ' ' && c != '\t')
			mark(el, j, j + 1);
		j++;
	}
	el->end = j;
	el->delim = j < n ? v[j] : '\0';
}

/* Whether V[S..T) is a plain local name: no specials (RFC 5322 §3.2.3), no WSP. */
static bool
plain_name(const char *v, size_t s, size_t t)
{
	if (s >= t)
		return false;
	for (size_t i = s; i < t; i++)
		if (addr_is_ctl((unsigned char)v[i]) || strchr(" \t\"(),:;<>@[\\]", v[i]))
			return false;
	return true;
}

/*
 * Append to NV what the name V[S..T) becomes, "<a>, <b>" when ANGLE; *CHANGED when that is
 * not the name itself. A name that is no valid local part is left alone: -t refuses it, and
 * without -t it is the sender's business.
 */
static int
resolve_name(struct buf *nv, const char *v, size_t s, size_t t, bool angle,
             const struct aliases *al, const char *maildomain, bool *changed, struct err *e)
{
	char *raw = xstrndup(v + s, t - s), *norm = NULL;
	struct addr_list l = {0};
	int rc = 0;

	*changed = false;
	if (addr_envelope(raw, false, ERR_DATA, &norm, NULL) == 0 && !strchr(norm, '@')) {
		rc = aliases_resolve(al, maildomain, norm, &l, e);
		if (rc == 0 && !(l.n == 1 && strcmp(l.v[0], norm) == 0)) {
			*changed = true;
			for (size_t i = 0; i < l.n && rc == 0; i++)
				rc = buf_printf(nv, e, "%s%s%s%s", i ? ", " : "", angle ? "<" : "",
				                l.v[i], angle ? ">" : "");
		}
	}
	free(raw);
	free(norm);
	addr_list_fini(&l);
	return rc;
}

/*
 * Write F to OUT with its bare names resolved, refolded; *DONE false (nothing written) when
 * no name changed, so that the caller copies the field as it was.
 */
static int
rewrite_field(struct buf *out, const struct msg *m, const struct header_field *f,
              const struct aliases *al, const char *maildomain, bool *done, struct err *e)
{
	size_t n, copied = 0;
	char *v = header_unfold(&m->head, f, &n);
	struct buf nv;
	bool in_group = false;
	int rc = 0;

	*done = false;
	buf_init(&nv, BUF_MAX_HEADER);
	if (buf_append(&nv, f->name, f->name_len, e) < 0 || buf_append(&nv, ":", 1, e) < 0)
		rc = -1;
	for (size_t i = 0; i <= n && rc == 0;) {
		struct elem el;
		scan_element(v, n, i, in_group, &el);
		size_t s = MSG_NONE, t = MSG_NONE, from = 0, to = 0;
		bool angle = el.angle_l != MSG_NONE;
		if (el.delim == ':') {
			in_group = true;
		} else if (angle && el.angle_r != MSG_NONE) {
			s = el.angle_l + 1;
			t = el.angle_r;
			while (s < t && (v[s] == ' ' || v[s] == '\t'))
				s++;
			while (t > s && (v[t - 1] == ' ' || v[t - 1] == '\t'))
				t--;
			from = el.angle_l;
			to = el.angle_r + 1;
		} else if (!angle && !el.has_at && !el.odd && el.tok_s != MSG_NONE) {
			s = from = el.tok_s;
			t = to = el.tok_e;
		}
		if (s != MSG_NONE && plain_name(v, s, t)) {
			size_t mark_len = nv.len;
			bool changed;
			if (buf_append(&nv, v + copied, from - copied, e) < 0 ||
			    resolve_name(&nv, v, s, t, angle, al, maildomain, &changed, e) < 0) {
				rc = -1;
				break;
			}
			if (changed) {
				copied = to;
				*done = true;
			} else {
				/* Keep what was there: it is copied from the value later. */
				nv.len = mark_len;
				nv.data[nv.len] = '\0';
			}
		}
		if (el.delim == ';')
			in_group = false;
		i = el.end + 1;
	}
	if (rc == 0 && *done) {
		struct buf why;
		buf_init(&why, 256);
		if (buf_append(&nv, v + copied, n - copied, e) < 0 ||
		    buf_printf(&why, e, "rewrite %.*s field: a word", (int)f->name_len, f->name) <
		        0 ||
		    put_folded(out, nv.data, nv.len, MSG_FOLD_AT, ERR_DATA, why.data, e) < 0)
			rc = -1;
		buf_fini(&why);
	}
	buf_fini(&nv);
	free(v);
	return rc;
}

/* Fields whose addresses are recipients: aliases and maildomain apply. */
static bool
is_rcpt_field(const struct header_field *f)
{
	return header_field_is(f, "To") || header_field_is(f, "Cc") || header_field_is(f, "Bcc") ||
	       header_field_is(f, "Resent-To") || header_field_is(f, "Resent-Cc") ||
	       header_field_is(f, "Resent-Bcc");
}

/* Fields that name the sender or where replies go: only maildomain applies. */
static bool
is_sender_field(const struct header_field *f)
{
	return header_field_is(f, "From") || header_field_is(f, "Sender") ||
	       header_field_is(f, "Reply-To") || header_field_is(f, "Resent-From") ||
	       header_field_is(f, "Resent-Sender");
}

static int
copy_field(struct buf *out, const struct msg *m, const struct header_field *f, struct err *e)
{
	for (size_t p = f->start, eol; p < f->end;) {
		size_t next = header_next_line(m->head.data, f->end, p, &eol);
		if (buf_append(out, m->head.data + p, eol - p, e) < 0 ||
		    buf_append(out, "\r\n", 2, e) < 0)
			return -1;
		p = next;
	}
	return 0;
}

int
msg_rewrite(struct msg *m, const struct msg_opts *o, struct err *e)
{
	struct header_field f;
	size_t pos = 0;
	bool encoded;
	const char *what = o->fullname_what ? o->fullname_what : "-F";
	const char *md = o->maildomain && *o->maildomain ? o->maildomain : NULL;
	bool has_sender = o->sender && *o->sender;
	/*
	 * set_from_header on replaces the message's From; with the null sender there is no
	 * address to put in one (RFC 5322 §3.6.2 wants one), and inventing one would be
	 * wrong: then the message keeps its own, and none is added.
	 */
	bool replace_from = o->set_from == MSG_FROM_ON && has_sender;

	buf_reset(&m->out);
	/* Check -F whether or not it is used: a bad name is a usage error either way (SEC-20). */
	if (o->fullname) {
		struct buf scratch;
		buf_init(&scratch, 16 * MSG_MAX_NAME);
		int rc = put_name(&scratch, o->fullname, what, &encoded, e);
		buf_fini(&scratch);
		if (rc < 0)
			return -1;
	}
	while (header_field_next(&m->head, &pos, &f)) {
		/* SEC-23: Bcc goes, continuation lines with it (RFC 5322 §3.6.3). */
		if (o->remove_bcc &&
		    (header_field_is(&f, "Bcc") || header_field_is(&f, "Resent-Bcc")))
			continue;
		if (o->undisclosed && (header_field_is(&f, "To") || header_field_is(&f, "Cc") ||
		                       header_field_is(&f, "Bcc")))
			continue;
		if (replace_from && header_field_is(&f, "From"))
			continue;
		bool done = false;
		if ((o->aliases || md) && is_rcpt_field(&f) &&
		    rewrite_field(&m->out, m, &f, o->aliases, md, &done, e) < 0)
			return -1;
		if (md && !done && is_sender_field(&f) &&
		    rewrite_field(&m->out, m, &f, NULL, md, &done, e) < 0)
			return -1;
		if (!done && copy_field(&m->out, m, &f, e) < 0)
			return -1;
	}
	bool add = has_sender && (o->set_from == MSG_FROM_ON ||
	                          (o->set_from == MSG_FROM_AUTO && !msg_has_field(m, "From")));
	if (add && add_from(&m->out, o->sender, o->fullname, what, e) < 0)
		return -1;
	/* RFC 5322 §3.4: a group with no members says there are recipients without naming
	   them (the form msmtp and sendmail write). */
	if (o->undisclosed && buf_puts(&m->out, "To: undisclosed-recipients:;\r\n", e) < 0)
		return -1;
	if (!o->no_date && !msg_has_field(m, "Date") && add_date(&m->out, e) < 0)
		return -1;
	if (!o->no_msgid && !msg_has_field(m, "Message-ID") &&
	    add_msgid(&m->out, o->msgid_domain, e) < 0)
		return -1;
	return buf_append(&m->out, "\r\n", 2, e);
}
