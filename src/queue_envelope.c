/*
 * queue_envelope: the queue's on-disk format (queue.h tells it): entry ids, the envelope
 * file written and read (queue_meta_format, queue_meta_parse), the recipients' states, and
 * the MAIL and RCPT parameters an entry keeps.
 */
#include "queue.h"
#include "queue_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "io.h"
#include "smtp.h"

/* Ids are made by queue_make_id; anything else in a queue directory is not ours to touch. */
bool
queue_valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= QUEUE_ID_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* UTC time with microseconds (sorts by age), pid and 32 random bits (never collides). */
void
queue_make_id(char *out, size_t n)
{
	static unsigned counter;
	struct timespec ts;
	struct tm tm;
	uint32_t r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ ++counter * 2654435761u;
	/* The modulos only bound the widths for the compiler: the values are in range. */
	snprintf(out, n, "%04u%02u%02u%02u%02u%02u.%06u-%u-%08" PRIx32,
	         (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
	         (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
	         (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
	         (unsigned)(ts.tv_nsec / 1000) % 1000000u, (unsigned)getpid(), r);
}

/* A stored reply: control characters out (a multi-line reply becomes one line), cut. */
static char *
clean_text(const char *s)
{
	size_t n = strlen(s);
	if (n > QUEUE_REPLY_MAX) {
		n = QUEUE_REPLY_MAX;
		/* Cut before a whole UTF-8 sequence, not inside one. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	char *out = xstrndup(s, n);
	for (unsigned char *p = (unsigned char *)out; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
	return out;
}

void
queue_set_text(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? clean_text(s) : NULL;
}

void
queue_rcpt_note(struct queue_rcpt *r, enum queue_rcpt_state state, const char *reply)
{
	r->state = state;
	if (reply)
		queue_set_text(&r->reply, reply);
}

/* --- the envelope file --- */

void
queue_meta_fini(struct queue_meta *m)
{
	free(m->account);
	free(m->profile);
	free(m->sender);
	free(m->mail_params);
	for (size_t i = 0; i < m->nrcpts; i++) {
		free(m->rcpts[i].addr);
		free(m->rcpts[i].params);
		free(m->rcpts[i].reply);
	}
	free(m->rcpts);
	free(m->last_reply);
	free(m->fail_reason);
	memset(m, 0, sizeof(*m));
}

struct queue_rcpt *
queue_add_rcpt(struct queue_meta *m, const char *addr, size_t n)
{
	/* Grow by doubling: the count only ever reaches a power of two on the way up. */
	if ((m->nrcpts & (m->nrcpts - 1)) == 0)
		m->rcpts = xrealloc(m->rcpts, (m->nrcpts ? m->nrcpts * 2 : 1) * sizeof(*m->rcpts));
	struct queue_rcpt *r = &m->rcpts[m->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrndup(addr, n);
	return r;
}

/* Drop the recipients the server accepted: they must never get the message again. */
void
queue_drop_sent(struct queue_meta *m, size_t *pending, size_t *failed)
{
	size_t k = 0;
	*pending = *failed = 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct queue_rcpt *r = &m->rcpts[i];
		if (r->state == QUEUE_RCPT_SENT) {
			free(r->addr);
			free(r->params);
			free(r->reply);
			continue;
		}
		if (r->state == QUEUE_RCPT_FAILED)
			++*failed;
		else
			++*pending;
		m->rcpts[k++] = *r;
	}
	m->nrcpts = k;
}

/* One "key value" line; a value with a control character would break the format. */
static int
put(struct buf *b, const char *key, const char *val, struct err *e)
{
	for (const unsigned char *p = (const unsigned char *)val; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, ERR_SOFTWARE,
			               "write queue envelope: the %s value "
			               "holds a control character",
			               key);
	return buf_printf(b, e, "%s %s\n", key, val);
}

static int
put_num(struct buf *b, const char *key, unsigned long long v, struct err *e)
{
	return buf_printf(b, e, "%s %llu\n", key, v);
}

/* The envelope's "notice" values, by enum queue_notice. */
static const char *const notice_names[] = {"none", "due", "sent", "dropped"};

const char *
queue_family_name(int f)
{
	return f == 4 ? "4" : f == 6 ? "6" : f == QUEUE_IP_ANY ? "any" : NULL;
}

int
queue_meta_format(const struct queue_meta *m, struct buf *out, struct err *e)
{
	if ((unsigned)m->notice >= sizeof(notice_names) / sizeof(notice_names[0]))
		return err_set(e, ERR_SOFTWARE, "write queue envelope: unknown notice state");
	if (!m->account || !m->account[0] || !m->sender)
		return err_set(e, ERR_SOFTWARE, "write queue envelope: no account or no sender");
	if (m->nrcpts == 0)
		return err_set(e, ERR_SOFTWARE, "write queue envelope: no recipient");
	if (m->ip_family && !queue_family_name(m->ip_family))
		return err_set(e, ERR_SOFTWARE, "write queue envelope: unknown ip family");
	if (buf_printf(out, e, "postie-queue %d\n", QUEUE_VERSION) < 0 ||
	    put(out, "account", m->account, e) < 0 ||
	    (m->profile && put(out, "profile", m->profile, e) < 0) ||
	    put(out, "sender", m->sender, e) < 0 ||
	    (m->mail_params && put(out, "mail-params", m->mail_params, e) < 0) ||
	    put(out, "ignore-dots", m->ignore_dots ? "yes" : "no", e) < 0 ||
	    (m->ip_family && put(out, "ip-family", queue_family_name(m->ip_family), e) < 0) ||
	    put_num(out, "size", m->size, e) < 0 ||
	    put_num(out, "queued", (unsigned long long)m->queued, e) < 0 ||
	    put_num(out, "attempts", m->attempts, e) < 0 ||
	    (m->unsure && put_num(out, "unsure", m->unsure, e) < 0) ||
	    (m->last_attempt &&
	     put_num(out, "last-attempt", (unsigned long long)m->last_attempt, e) < 0) ||
	    put_num(out, "next-attempt", (unsigned long long)m->next_attempt, e) < 0 ||
	    (m->last_reply && put(out, "last-reply", m->last_reply, e) < 0) ||
	    (m->failed && put_num(out, "failed", (unsigned long long)m->failed, e) < 0) ||
	    (m->fail_reason && put(out, "failed-reason", m->fail_reason, e) < 0) ||
	    (m->notice && put(out, "notice", notice_names[m->notice], e) < 0) ||
	    (m->retried && put_num(out, "retried", (unsigned long long)m->retried, e) < 0))
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		if (!r->addr || !r->addr[0])
			return err_set(e, ERR_SOFTWARE, "write queue envelope: empty recipient");
		if (put(out, "rcpt", r->addr, e) < 0 ||
		    (r->params && put(out, "rcpt-params", r->params, e) < 0) ||
		    (r->state == QUEUE_RCPT_FAILED && put(out, "rcpt-state", "failed", e) < 0) ||
		    (r->reply && put(out, "rcpt-reply", r->reply, e) < 0))
			return -1;
	}
	return buf_puts(out, "end\n", e);
}

/* A decimal number of at most MAX, the whole of P..P+N. */
static bool
parse_num(const char *p, size_t n, unsigned long long max, unsigned long long *v)
{
	unsigned long long x = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (x > (max - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static bool
key_is(const char *k, size_t kn, const char *name)
{
	return strlen(name) == kn && memcmp(k, name, kn) == 0;
}

enum {
	SEEN_ACCOUNT = 1 << 0,
	SEEN_SENDER = 1 << 1,
	SEEN_PARAMS = 1 << 2,
	SEEN_DOTS = 1 << 3,
	SEEN_SIZE = 1 << 4,
	SEEN_QUEUED = 1 << 5,
	SEEN_ATTEMPTS = 1 << 6,
	SEEN_LAST = 1 << 7,
	SEEN_NEXT = 1 << 8,
	SEEN_REPLY = 1 << 9,
	SEEN_FAILED = 1 << 10,
	SEEN_REASON = 1 << 11,
	SEEN_PROFILE = 1 << 12,
	SEEN_UNSURE = 1 << 13,
	SEEN_NOTICE = 1 << 14,
	SEEN_RETRIED = 1 << 15,
	SEEN_FAMILY = 1 << 16,
	SEEN_REQUIRED = SEEN_ACCOUNT | SEEN_SENDER | SEEN_DOTS | SEEN_SIZE | SEEN_QUEUED |
	                SEEN_ATTEMPTS | SEEN_NEXT,
};

/* A recipient line ("rcpt", or an "rcpt-*" about the last one). 0 ok, -1 with *WHY. */
static int
parse_rcpt(struct queue_meta *m, const char *k, size_t kn, const char *v, size_t vn,
           const char **why)
{
	if (key_is(k, kn, "rcpt")) {
		if (vn == 0)
			return *why = "empty rcpt", -1;
		queue_add_rcpt(m, v, vn);
		return 0;
	}
	if (m->nrcpts == 0)
		return *why = "rcpt-* before any rcpt", -1;
	struct queue_rcpt *r = &m->rcpts[m->nrcpts - 1];
	if (key_is(k, kn, "rcpt-params")) {
		free(r->params);
		r->params = xstrndup(v, vn);
	} else if (key_is(k, kn, "rcpt-reply")) {
		free(r->reply);
		r->reply = xstrndup(v, vn);
	} else if (key_is(k, kn, "rcpt-state")) {
		if (vn == 6 && memcmp(v, "failed", 6) == 0)
			r->state = QUEUE_RCPT_FAILED;
		else if (vn == 7 && memcmp(v, "pending", 7) == 0)
			r->state = QUEUE_RCPT_PENDING;
		else
			return *why = "unknown rcpt-state", -1;
	}
	return 0; /* other rcpt-* keys: from a later postie, ignored */
}

/* The value of a text key (BIT). 1 when BIT is one, 0 when not, -1 with *WHY. */
static int
parse_text(struct queue_meta *m, unsigned bit, const char *v, size_t vn, const char **why)
{
	switch (bit) {
	case SEEN_ACCOUNT:
		if (vn == 0)
			return *why = "empty account", -1;
		m->account = xstrndup(v, vn);
		return 1;
	case SEEN_SENDER:
		m->sender = xstrndup(v, vn);
		return 1;
	case SEEN_PROFILE:
		if (vn == 0)
			return *why = "empty profile", -1;
		m->profile = xstrndup(v, vn);
		return 1;
	case SEEN_PARAMS:
		m->mail_params = xstrndup(v, vn);
		return 1;
	case SEEN_REPLY:
		m->last_reply = xstrndup(v, vn);
		return 1;
	case SEEN_REASON:
		m->fail_reason = xstrndup(v, vn);
		return 1;
	case SEEN_NOTICE:
		for (size_t i = 0; i < sizeof(notice_names) / sizeof(notice_names[0]); i++)
			if (strlen(notice_names[i]) == vn && memcmp(v, notice_names[i], vn) == 0) {
				m->notice = (enum queue_notice)i;
				return 1;
			}
		return *why = "unknown notice state", -1;
	case SEEN_FAMILY:
		for (int f = 1; f <= 6; f++)
			if (queue_family_name(f) && strlen(queue_family_name(f)) == vn &&
			    memcmp(v, queue_family_name(f), vn) == 0) {
				m->ip_family = f;
				return 1;
			}
		return *why = "ip-family is none of 4, 6, any", -1;
	case SEEN_DOTS:
		if (vn == 3 && memcmp(v, "yes", 3) == 0)
			m->ignore_dots = true;
		else if (!(vn == 2 && memcmp(v, "no", 2) == 0))
			return *why = "ignore-dots is neither yes nor no", -1;
		return 1;
	default:
		return 0;
	}
}

/* The value of a number key (BIT). 0 ok, -1 with *WHY. */
static int
parse_number(struct queue_meta *m, unsigned bit, const char *v, size_t vn, const char **why)
{
	const unsigned long long tmax = (unsigned long long)INT64_MAX;
	unsigned long long num = 0;

	if (!parse_num(v, vn, bit == SEEN_ATTEMPTS || bit == SEEN_UNSURE ? UINT_MAX : tmax, &num))
		return *why = "bad number", -1;
	switch (bit) {
	case SEEN_SIZE:
		m->size = num;
		break;
	case SEEN_QUEUED:
		m->queued = (time_t)num;
		break;
	case SEEN_ATTEMPTS:
		m->attempts = (unsigned)num;
		break;
	case SEEN_UNSURE:
		m->unsure = (unsigned)num;
		break;
	case SEEN_LAST:
		m->last_attempt = (time_t)num;
		break;
	case SEEN_NEXT:
		m->next_attempt = (time_t)num;
		break;
	case SEEN_FAILED:
		m->failed = (time_t)num;
		break;
	case SEEN_RETRIED:
		m->retried = (time_t)num;
		break;
	default:
		break;
	}
	return 0;
}

/* One line after the version line. 0 ok, -1 with a reason in *WHY. */
static int
parse_line(struct queue_meta *m, const char *k, size_t kn, const char *v, size_t vn, unsigned *seen,
           const char **why)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {
	    {"account", SEEN_ACCOUNT},    {"sender", SEEN_SENDER},
	    {"mail-params", SEEN_PARAMS}, {"ignore-dots", SEEN_DOTS},
	    {"size", SEEN_SIZE},          {"queued", SEEN_QUEUED},
	    {"attempts", SEEN_ATTEMPTS},  {"last-attempt", SEEN_LAST},
	    {"next-attempt", SEEN_NEXT},  {"last-reply", SEEN_REPLY},
	    {"failed", SEEN_FAILED},      {"failed-reason", SEEN_REASON},
	    {"profile", SEEN_PROFILE},    {"unsure", SEEN_UNSURE},
	    {"notice", SEEN_NOTICE},      {"retried", SEEN_RETRIED},
	    {"ip-family", SEEN_FAMILY},
	};

	if (key_is(k, kn, "rcpt") || (kn > 5 && memcmp(k, "rcpt-", 5) == 0))
		return parse_rcpt(m, k, kn, v, vn, why);
	unsigned bit = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !bit; i++)
		if (key_is(k, kn, keys[i].name))
			bit = keys[i].bit;
	if (!bit)
		return 0; /* unknown keys are ignored (queue.h) */
	if (*seen & bit)
		return *why = "key given twice", -1;
	*seen |= bit;
	int rc = parse_text(m, bit, v, vn, why);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return parse_number(m, bit, v, vn, why);
}

int
queue_meta_parse(struct queue_meta *m, const char *p, size_t n, struct err *e)
{
	unsigned seen = 0, lineno = 0;
	bool ended = false;
	const char *why = NULL;
	size_t i = 0;

	memset(m, 0, sizeof(*m));
	while (i < n && !why) {
		const char *line = p + i;
		const char *nl = memchr(line, '\n', n - i);
		lineno++;
		if (!nl) {
			why = "last line has no line end";
			break;
		}
		size_t len = (size_t)(nl - line);
		i += len + 1;
		if (ended) {
			why = "data after \"end\"";
			break;
		}
		for (size_t j = 0; j < len && !why; j++)
			if ((unsigned char)line[j] < 0x20 || line[j] == 0x7f)
				why = "control character";
		if (why)
			break;
		const char *sp = memchr(line, ' ', len);
		size_t kn = sp ? (size_t)(sp - line) : len;
		const char *v = sp ? sp + 1 : line + len;
		size_t vn = len - (size_t)(v - line);
		if (lineno == 1) {
			unsigned long long ver;
			if (!key_is(line, kn, "postie-queue") ||
			    !parse_num(v, vn, UINT_MAX, &ver)) {
				why = "not a postie queue envelope";
				break;
			}
			if (ver != QUEUE_VERSION) {
				queue_meta_fini(m);
				return err_set(e, ERR_CONFIG,
				               "read queue envelope: format version "
				               "%llu, this postie reads %d; left alone",
				               ver, QUEUE_VERSION);
			}
			continue;
		}
		if (key_is(line, kn, "end") && !sp)
			ended = true;
		else
			parse_line(m, line, kn, v, vn, &seen, &why);
	}
	if (!why && lineno == 0)
		why = "empty file";
	else if (!why && !ended)
		why = "no \"end\" line: the file is incomplete";
	else if (!why && (seen & SEEN_REQUIRED) != SEEN_REQUIRED)
		why = "a required key is missing";
	else if (!why && m->nrcpts == 0)
		why = "no recipient";
	if (why) {
		queue_meta_fini(m);
		return err_set(e, ERR_DATA, "read queue envelope: line %u: %s", lineno, why);
	}
	return 0;
}

/*
 * Create DIR/envelope.new, a new file of its own. SEC-45: when root (the system timer's
 * flush) rewrites an entry of the system spool, the file is created as the entry's owner
 * (fsuid and fsgid set to the folder's for that one call), who must still read and change
 * it; created as root and given away after, a kill -9 in between would leave a file of
 * root's in a user's entry. The descriptor, or -1 with errno.
 */
static int
open_new(const struct queue *q, int dir)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;

	if (!q->system || geteuid() != 0)
		return openat(dir, ENVELOPE_NEW, flags, 0600);
	if (fstat(dir, &st) < 0)
		return -1;
	if (st.st_uid == 0)
		return openat(dir, ENVELOPE_NEW, flags, 0600);
	uid_t old_uid = (uid_t)setfsuid(st.st_uid);
	gid_t old_gid = (gid_t)setfsgid(st.st_gid);
	int fd = openat(dir, ENVELOPE_NEW, flags, 0600);
	int saved = errno;
	setfsgid(old_gid);
	setfsuid(old_uid);
	/* setfsuid reports no failure: the previous value tells whether it took. */
	if ((uid_t)setfsuid((uid_t)-1) != old_uid || (gid_t)setfsgid((gid_t)-1) != old_gid)
		abort();
	errno = saved;
	return fd;
}

/* Replace DIR/envelope with M: written to envelope.new, renamed; with SYNC both synced. */
int
queue_write_envelope(const struct queue *q, const char *id, int dir, const struct queue_meta *m,
                     bool sync, struct err *e)
{
	struct buf b;
	int err = 0;

	buf_init(&b, QUEUE_ENVELOPE_MAX);
	if (queue_meta_format(m, &b, e) < 0) {
		buf_fini(&b);
		return -1;
	}
	/* A new file of our own (O_EXCL), never one that is there: a leftover of a crash, or a
	 * link someone put there, is removed first. */
	if (unlinkat(dir, ENVELOPE_NEW, 0) < 0 && errno != ENOENT)
		err = errno;
	int fd = err ? -1 : open_new(q, dir);
	if (fd < 0 && !err)
		err = errno;
	if (!err)
		err = io_write_all(fd, b.data, b.len);
	if (!err && sync)
		err = io_sync(fd);
	if (fd >= 0 && close(fd) < 0 && !err)
		err = errno;
	if (!err && renameat(dir, ENVELOPE_NEW, dir, ENVELOPE) < 0)
		err = errno;
	if (!err && sync)
		err = io_sync(dir);
	buf_fini(&b);
	if (err) {
		unlinkat(dir, ENVELOPE_NEW, 0);
		return queue_write_error(e, q, "write queue envelope", id, err);
	}
	return 0;
}

/*
 * Read DIR/envelope into M. *MISSING tells "there is none" (a copy never completed) from
 * "it cannot be used" (ERR_DATA, or ERR_CONFIG for another version).
 */
int
queue_read_envelope(int dir, struct queue_meta *m, bool *missing, struct err *e)
{
	struct stat st;
	struct buf b;

	*missing = false;
	memset(m, 0, sizeof(*m));
	int fd = openat(dir, ENVELOPE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*missing = errno == ENOENT;
		return err_set(e, ERR_DATA, "read queue envelope: %s", strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > QUEUE_ENVELOPE_MAX) {
		close(fd);
		return err_set(e, ERR_DATA, "read queue envelope: not a file of at most %d bytes",
		               QUEUE_ENVELOPE_MAX);
	}
	buf_init(&b, QUEUE_ENVELOPE_MAX);
	int err = io_read_all(fd, &b);
	int rc = err ? err_set(e, ERR_DATA, "read queue envelope: %s", strerror(err)) : 0;
	close(fd);
	if (rc == 0)
		rc = queue_meta_parse(m, b.data ? b.data : "", b.len, e);
	buf_fini(&b);
	return rc;
}

/* --- the MAIL and RCPT parameters an entry keeps (mail-params, rcpt-params) --- */

/* The queue's mail-params and rcpt-params: RET=, ENVID= (xtext, RFC 3461 §4.4: at most 100
 * characters before encoding), BODY=, NOTIFY=. */
#define PARAMS_MAX 512

/* An xtext hex digit: RFC 3461 §4 allows upper case only. */
static int
hex_digit(char c)
{
	return c >= 'a' && c <= 'f' ? -1 : codec_hex_value((unsigned char)c);
}

/* RFC 3461 §4: xtext back into the text it encodes (ENVID from the queue). NULL when it is
 * not well-formed or holds more than -V takes (printable ASCII without space). */
static char *
xtext_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int v = (unsigned char)s[i];
		if (s[i] == '+') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			v = hi * 16 + lo;
			i += 2;
		}
		if (v < 0x21 || v > 0x7e) {
			free(out);
			return NULL;
		}
		out[k++] = (char)v;
	}
	out[k] = '\0';
	return out;
}

int
queue_params_encode(const struct txn_params *p, char **mail, char **rcpt, struct err *e)
{
	struct buf mp, rp;
	int rc = 0;

	*mail = *rcpt = NULL;
	buf_init(&mp, PARAMS_MAX);
	buf_init(&rp, PARAMS_MAX);
	if (p->dsn_ret)
		rc = buf_printf(&mp, e, " RET=%s", p->dsn_ret);
	if (rc == 0 && p->envid) {
		/* RFC 3461 §4.4: ENVID is xtext on the wire, and so in the queue. */
		char x[PARAMS_MAX];
		if (smtp_xtext(p->envid, strlen(p->envid), x, sizeof(x)) < 0)
			rc = err_set(e, ERR_USAGE, "parse flags: -V: the envelope id is too long");
		else
			rc = buf_printf(&mp, e, " ENVID=%s", x);
	}
	if (rc == 0 && p->body)
		rc = buf_puts(&mp, p->body == 8 ? " BODY=8BITMIME" : " BODY=7BIT", e);
	if (rc == 0 && p->dsn_notify)
		rc = buf_printf(&rp, e, "NOTIFY=%s", p->dsn_notify);
	if (rc == 0 && mp.len)
		*mail = xstrdup(mp.data + 1);
	if (rc == 0 && rp.len)
		*rcpt = xstrdup(rp.data);
	buf_fini(&mp);
	buf_fini(&rp);
	return rc;
}

/* Whether S is a NOTIFY value as the profile and -N write it: NEVER or SUCCESS,FAILURE,DELAY
 * words (smtp checks the words themselves before sending). */
static bool
notify_ok(const char *s)
{
	return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ,") == strlen(s);
}

void
queue_params_decode(const struct queue_meta *m, struct txn_params *p, char **envid, char **notify)
{
	*p = (struct txn_params){0};
	*envid = NULL;
	*notify = NULL;
	for (const char *s = m->mail_params; s && *s;) {
		size_t n = strcspn(s, " ");
		if (n == 8 && strncmp(s, "RET=FULL", 8) == 0)
			p->dsn_ret = "FULL";
		else if (n == 8 && strncmp(s, "RET=HDRS", 8) == 0)
			p->dsn_ret = "HDRS";
		else if (n == 13 && strncmp(s, "BODY=8BITMIME", 13) == 0)
			p->body = 8;
		else if (n == 9 && strncmp(s, "BODY=7BIT", 9) == 0)
			p->body = 7;
		else if (n > 6 && strncmp(s, "ENVID=", 6) == 0 && !*envid)
			p->envid = *envid = xtext_decode(s + 6, n - 6);
		s += n;
		s += strspn(s, " ");
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *r = m->rcpts[i].params;
		if (m->rcpts[i].state != QUEUE_RCPT_PENDING || !r)
			continue;
		if (strncmp(r, "NOTIFY=", 7) == 0 && notify_ok(r + 7))
			p->dsn_notify = *notify = xstrdup(r + 7);
		break;
	}
}
