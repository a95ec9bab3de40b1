/*
 * queue: the durable spool (format and locking rules in queue.h). Every file operation goes
 * through directory descriptors (openat and friends), so a renamed or replaced path never
 * sends a write somewhere else, and nothing follows a symbolic link inside the queue.
 *
 * Durability: a copy is written without fsync while the message streams (the common case,
 * a delivery, then simply removes it); only a copy that must survive (commit, recovery,
 * retry, failure) is synced: the files first, then the renames, then the directories that
 * the renames changed, so after a crash an entry is either whole in its place or not there.
 */
#define _GNU_SOURCE /* splice, copy_file_range */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"
#include "smtp.h"

#define MESSAGE "message"
#define ENVELOPE "envelope"
#define ENVELOPE_NEW "envelope.new"
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct queue_item {
	char id[QUEUE_ID_MAX];
	char *account; /* NULL: the envelope could not be read (sorted last) */
};

static time_t
now(const struct queue *q)
{
	return q->now ? q->now : time(NULL);
}

/* Errors that mean the disk (or the user's quota, or RLIMIT_FSIZE) has no room left. */
static bool
is_full(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG;
}

/* An ERR_OS for writing WHAT of entry ID; "queue full" when it is a matter of space. */
static int
write_error(struct err *e, const struct queue *q, const char *what, const char *id, int err)
{
	if (is_full(err))
		return err_set(e, ERR_OS, "%s %s: queue full (%s); make room in %s", what, id,
		               strerror(err), q->path);
	return err_set(e, ERR_OS, "%s %s in %s: %s", what, id, q->path, strerror(err));
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* 0, or the errno of a short or failed write. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync a file or a directory; file systems that cannot sync a directory say EINVAL. */
static int
sync_fd(int fd)
{
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		return errno;
	return 0;
}

/* Ids are made by make_id; anything else in a queue directory is not ours to touch. */
static bool
valid_id(const char *s)
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
static void
make_id(char *out, size_t n)
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

static void
set_text(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? clean_text(s) : NULL;
}

time_t
queue_backoff(unsigned attempts)
{
	time_t t = QUEUE_BACKOFF_MIN;
	for (unsigned i = 1; i < attempts && t < QUEUE_BACKOFF_MAX; i++)
		t *= 2;
	return t < QUEUE_BACKOFF_MAX ? t : QUEUE_BACKOFF_MAX;
}

void
queue_rcpt_note(struct queue_rcpt *r, enum queue_rcpt_state state, const char *reply)
{
	r->state = state;
	if (reply)
		set_text(&r->reply, reply);
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

static struct queue_rcpt *
add_rcpt(struct queue_meta *m, const char *addr, size_t n)
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
static void
drop_sent(struct queue_meta *m, size_t *pending, size_t *failed)
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

int
queue_meta_format(const struct queue_meta *m, struct buf *out, struct err *e)
{
	if (!m->account || !m->account[0] || !m->sender)
		return err_set(e, ERR_SOFTWARE, "write queue envelope: no account or no sender");
	if (m->nrcpts == 0)
		return err_set(e, ERR_SOFTWARE, "write queue envelope: no recipient");
	if (buf_printf(out, e, "postie-queue %d\n", QUEUE_VERSION) < 0 ||
	    put(out, "account", m->account, e) < 0 ||
	    (m->profile && put(out, "profile", m->profile, e) < 0) ||
	    put(out, "sender", m->sender, e) < 0 ||
	    (m->mail_params && put(out, "mail-params", m->mail_params, e) < 0) ||
	    put(out, "ignore-dots", m->ignore_dots ? "yes" : "no", e) < 0 ||
	    put_num(out, "size", m->size, e) < 0 ||
	    put_num(out, "queued", (unsigned long long)m->queued, e) < 0 ||
	    put_num(out, "attempts", m->attempts, e) < 0 ||
	    (m->unsure && put_num(out, "unsure", m->unsure, e) < 0) ||
	    (m->last_attempt &&
	     put_num(out, "last-attempt", (unsigned long long)m->last_attempt, e) < 0) ||
	    put_num(out, "next-attempt", (unsigned long long)m->next_attempt, e) < 0 ||
	    (m->last_reply && put(out, "last-reply", m->last_reply, e) < 0) ||
	    (m->failed && put_num(out, "failed", (unsigned long long)m->failed, e) < 0) ||
	    (m->fail_reason && put(out, "failed-reason", m->fail_reason, e) < 0))
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
	SEEN_REQUIRED = SEEN_ACCOUNT | SEEN_SENDER | SEEN_DOTS | SEEN_SIZE | SEEN_QUEUED |
	                SEEN_ATTEMPTS | SEEN_NEXT,
};

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
	};
	const unsigned long long tmax = (unsigned long long)INT64_MAX;
	unsigned long long num = 0;

	if (key_is(k, kn, "rcpt")) {
		if (vn == 0)
			return *why = "empty rcpt", -1;
		add_rcpt(m, v, vn);
		return 0;
	}
	if (kn > 5 && memcmp(k, "rcpt-", 5) == 0) {
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
	unsigned bit = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !bit; i++)
		if (key_is(k, kn, keys[i].name))
			bit = keys[i].bit;
	if (!bit)
		return 0; /* unknown keys are ignored (queue.h) */
	if (*seen & bit)
		return *why = "key given twice", -1;
	*seen |= bit;
	switch (bit) {
	case SEEN_ACCOUNT:
		if (vn == 0)
			return *why = "empty account", -1;
		m->account = xstrndup(v, vn);
		return 0;
	case SEEN_SENDER:
		m->sender = xstrndup(v, vn);
		return 0;
	case SEEN_PROFILE:
		if (vn == 0)
			return *why = "empty profile", -1;
		m->profile = xstrndup(v, vn);
		return 0;
	case SEEN_PARAMS:
		m->mail_params = xstrndup(v, vn);
		return 0;
	case SEEN_REPLY:
		m->last_reply = xstrndup(v, vn);
		return 0;
	case SEEN_REASON:
		m->fail_reason = xstrndup(v, vn);
		return 0;
	case SEEN_DOTS:
		if (vn == 3 && memcmp(v, "yes", 3) == 0)
			m->ignore_dots = true;
		else if (!(vn == 2 && memcmp(v, "no", 2) == 0))
			return *why = "ignore-dots is neither yes nor no", -1;
		return 0;
	default:
		break;
	}
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
	default:
		break;
	}
	return 0;
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

/* Replace DIR/envelope with M: written to envelope.new, renamed; with SYNC both synced. */
static int
write_envelope(const struct queue *q, const char *id, int dir, const struct queue_meta *m,
               bool sync, struct err *e)
{
	struct buf b;
	int err = 0;

	buf_init(&b, QUEUE_ENVELOPE_MAX);
	if (queue_meta_format(m, &b, e) < 0) {
		buf_fini(&b);
		return -1;
	}
	int fd =
	    openat(dir, ENVELOPE_NEW, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		err = errno;
	if (!err)
		err = write_all(fd, b.data, b.len);
	if (!err && sync)
		err = sync_fd(fd);
	if (fd >= 0 && close(fd) < 0 && !err)
		err = errno;
	if (!err && renameat(dir, ENVELOPE_NEW, dir, ENVELOPE) < 0)
		err = errno;
	if (!err && sync)
		err = sync_fd(dir);
	buf_fini(&b);
	if (err) {
		unlinkat(dir, ENVELOPE_NEW, 0);
		return write_error(e, q, "write queue envelope", id, err);
	}
	return 0;
}

/*
 * Read DIR/envelope into M. *MISSING tells "there is none" (a copy never completed) from
 * "it cannot be used" (ERR_DATA, or ERR_CONFIG for another version).
 */
static int
read_envelope(int dir, struct queue_meta *m, bool *missing, struct err *e)
{
	struct stat st;
	struct buf b;

	*missing = false;
	memset(m, 0, sizeof(*m));
	int fd = openat(dir, ENVELOPE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
	char chunk[4096];
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, ERR_DATA, "read queue envelope: %s", strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (buf_append(&b, chunk, (size_t)r, e) < 0) {
			rc = -1;
			break;
		}
	}
	close(fd);
	if (rc == 0)
		rc = queue_meta_parse(m, b.data ? b.data : "", b.len, e);
	buf_fini(&b);
	return rc;
}

/* --- opening --- */

char *
queue_default_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct buf b;

	buf_init(&b, PATH_MAX);
	/* XDG Base Directory: a relative $XDG_STATE_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/' && buf_printf(&b, NULL, "%s/postie/queue", xdg) == 0)
		return b.data;
	if (home && home[0] == '/' &&
	    buf_printf(&b, NULL, "%s/.local/state/postie/queue", home) == 0)
		return b.data;
	buf_fini(&b);
	return NULL;
}

/* Make PATH and its missing parents, mode 0700 (mkdir -p). */
static int
make_dirs(const char *path, struct err *e)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = err_set(e, ERR_OS, "make queue directory %s: %s", p, strerror(errno));
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* The queue is private: ours, and not writable by anyone else (else they could plant mail). */
static int
check_dir(int fd, const char *path, const char *sub, struct err *e)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(e, ERR_OS, "open queue %s%s: %s", path, sub, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_CONFIG, "open queue %s%s: not a directory; check queue_dir",
		               path, sub);
	if (st.st_uid != geteuid())
		return err_set(
		    e, ERR_CONFIG,
		    "open queue %s%s: owned by uid %lu, not by you (uid %lu); set queue_dir to "
		    "a directory of your own",
		    path, sub, (unsigned long)st.st_uid, (unsigned long)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return err_set(e, ERR_CONFIG,
		               "open queue %s%s: writable by group or others (mode %04o); "
		               "run chmod go-w %s%s",
		               path, sub, (unsigned)(st.st_mode & 07777), path, sub);
	return 0;
}

static int
open_sub(struct queue *q, const char *name, bool create, int *fd, struct err *e)
{
	*fd = openat(q->root, name, DIR_FLAGS);
	if (*fd < 0 && errno == ENOENT && create) {
		if (mkdirat(q->root, name, 0700) < 0 && errno != EEXIST)
			return err_set(e, ERR_OS, "make queue directory %s/%s: %s", q->path, name,
			               strerror(errno));
		*fd = openat(q->root, name, DIR_FLAGS);
	}
	if (*fd < 0) {
		if (errno == ENOENT && !create)
			return 0;
		return err_set(e, errno == ENOTDIR || errno == ELOOP ? ERR_CONFIG : ERR_OS,
		               "open queue %s/%s: %s", q->path, name, strerror(errno));
	}
	char sub[32];
	snprintf(sub, sizeof(sub), "/%s", name);
	return check_dir(*fd, q->path, sub, e);
}

int
queue_open(struct queue *q, const char *path, bool create, struct err *e)
{
	memset(q, 0, sizeof(*q));
	q->root = q->tmp = q->wait = q->failed = q->corrupt = -1;
	q->lifetime = QUEUE_LIFETIME_DEFAULT;
	if (!path || !path[0])
		return err_set(e, ERR_CONFIG,
		               "open queue: no queue_dir and no $HOME; set queue_dir");
	q->path = xstrdup(path);
	/* The usual case is a queue that exists: open it first, make the path only if not. */
	q->root = open(path, DIR_FLAGS & ~O_NOFOLLOW);
	if (q->root < 0 && errno == ENOENT && create) {
		if (make_dirs(path, e) < 0)
			goto fail;
		q->root = open(path, DIR_FLAGS & ~O_NOFOLLOW);
	}
	if (q->root < 0) {
		if (errno == ENOENT && !create)
			return 0;
		err_set(e, errno == ENOTDIR ? ERR_CONFIG : ERR_OS, "open queue %s: %s", path,
		        strerror(errno));
		goto fail;
	}
	if (check_dir(q->root, path, "", e) < 0 || open_sub(q, "tmp", create, &q->tmp, e) < 0 ||
	    open_sub(q, "queue", create, &q->wait, e) < 0 ||
	    open_sub(q, "failed", create, &q->failed, e) < 0 ||
	    open_sub(q, "corrupt", create, &q->corrupt, e) < 0)
		goto fail;
	return 0;
fail:
	queue_close(q);
	return -1;
}

void
queue_close(struct queue *q)
{
	if (!q->path)
		return;
	close_fd(&q->root);
	close_fd(&q->tmp);
	close_fd(&q->wait);
	close_fd(&q->failed);
	close_fd(&q->corrupt);
	free(q->path);
	q->path = NULL;
}

/* --- locks and entry directories --- */

/*
 * After taking the lock: is PARENT/ID still the directory DIR, holding the file FD? The
 * previous owner may have removed or moved the entry just before letting go of it.
 */
static bool
still_there(int parent, const char *id, int dir, int fd)
{
	struct stat a, b;

	if (fstatat(parent, id, &a, AT_SYMLINK_NOFOLLOW) < 0 || fstat(dir, &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return false;
	if (fstatat(dir, MESSAGE, &a, AT_SYMLINK_NOFOLLOW) < 0 || fstat(fd, &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return false;
	return true;
}

/*
 * Remove PARENT/ID (its directory DIR): the message first, so that an interrupted removal
 * can never leave something that would be sent again. 0, or the first errno.
 */
static int
remove_entry(int parent, const char *id, int dir)
{
	int err = 0;
	const char *files[] = {MESSAGE, ENVELOPE, ENVELOPE_NEW};

	for (size_t i = 0; i < 3; i++)
		if (unlinkat(dir, files[i], 0) < 0 && errno != ENOENT && !err)
			err = errno;
	if (unlinkat(parent, id, AT_REMOVEDIR) < 0 && errno != ENOENT && !err)
		err = errno;
	return err;
}

/*
 * The rest of an entry that has no message: a removal that was interrupted, or a copy whose
 * writer is creating its message this instant. The message is never touched here (it may
 * be that writer's), so at worst the rmdir fails and the writer goes on.
 */
static void
remove_remains(int parent, const char *id, int dir)
{
	unlinkat(dir, ENVELOPE, 0);
	unlinkat(dir, ENVELOPE_NEW, 0);
	unlinkat(parent, id, AT_REMOVEDIR);
}

/* Move ID from one queue directory to another; with SYNC both directories are synced. */
static int
move_entry(int from, int to, const char *id, bool sync)
{
	if (to < 0)
		return ENOENT;
	if (renameat(from, id, to, id) < 0)
		return errno;
	if (!sync)
		return 0;
	int err = sync_fd(to);
	int err2 = sync_fd(from);
	return err ? err : err2;
}

/* The names in directory FD that are entry ids. */
static int
list_ids(const struct queue *q, int fd, const char *name, char ***ids, size_t *n, struct err *e)
{
	*ids = NULL;
	*n = 0;
	if (fd < 0)
		return 0;
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return err_set(e, ERR_OS, "read queue %s/%s: %s", q->path, name, strerror(errno));
	}
	rewinddir(d); /* the offset is shared with FD, which may have been read before */
	size_t cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!valid_id(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = xstrdup(de->d_name);
		errno = 0;
	}
	int err = errno;
	closedir(d);
	if (err) {
		for (size_t i = 0; i < *n; i++)
			free((*ids)[i]);
		free(*ids);
		*ids = NULL;
		*n = 0;
		return err_set(e, ERR_OS, "read queue %s/%s: %s", q->path, name, strerror(err));
	}
	return 0;
}

static void
free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* --- the copy written while streaming --- */

int
queue_copy_begin(struct queue *q, struct queue_copy *c, struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->q = q;
	c->dir = c->fd = -1;
	if (q->tmp < 0 || q->wait < 0)
		return err_set(e, ERR_SOFTWARE, "start queue copy: %s was opened without create",
		               q->path ? q->path : "the queue");
	/*
	 * The directory exists a moment before its message is locked; a flush recovering tmp/
	 * in that moment removes it (an empty copy is nothing). Then we start again under a
	 * new id. That can only happen a few times in a row by extraordinary bad luck.
	 */
	for (int tries = 0; tries < 8; tries++) {
		make_id(c->id, sizeof(c->id));
		if (mkdirat(q->tmp, c->id, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return write_error(e, q, "start queue copy", c->id, errno);
		}
		c->dir = openat(q->tmp, c->id, DIR_FLAGS);
		if (c->dir < 0) {
			if (errno == ENOENT)
				continue;
			int err = errno;
			unlinkat(q->tmp, c->id, AT_REMOVEDIR);
			return write_error(e, q, "start queue copy", c->id, err);
		}
		c->fd = openat(c->dir, MESSAGE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		               0600);
		if (c->fd < 0) {
			int err = errno;
			close_fd(&c->dir);
			if (err == ENOENT || err == EEXIST)
				continue;
			unlinkat(q->tmp, c->id, AT_REMOVEDIR);
			return write_error(e, q, "start queue copy", c->id, err);
		}
		if (flock(c->fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;
			if (err != EWOULDBLOCK) {
				queue_copy_discard(c);
				return err_set(e, ERR_OS, "lock queue copy %s in %s: %s", c->id,
				               q->path, strerror(err));
			}
		} else if (still_there(q->tmp, c->id, c->dir, c->fd)) {
			return 0;
		}
		close_fd(&c->fd);
		close_fd(&c->dir);
	}
	return err_set(e, ERR_OS, "start queue copy in %s: the new entry was taken away 8 times",
	               q->path);
}

static int
copy_failed(const struct queue_copy *c, struct err *e)
{
	if (e)
		*e = c->failed;
	return -1;
}

int
queue_copy_write(struct queue_copy *c, const void *p, size_t n, struct err *e)
{
	if (c->failed.kind != ERR_NONE)
		return copy_failed(c, e);
	if (c->fd < 0 || c->complete)
		return err_set(e, ERR_SOFTWARE, "write queue copy: not open for writing");
	int err = write_all(c->fd, p, n);
	if (err) {
		write_error(&c->failed, c->q, "write queue copy", c->id, err);
		return copy_failed(c, e);
	}
	c->size += n;
	return 0;
}

ssize_t
queue_copy_pull(struct queue_copy *c, int fd, size_t max)
{
	struct stat st;

	if (c->failed.kind != ERR_NONE || c->fd < 0 || c->complete || fstat(fd, &st) < 0)
		return -2;
	/* The bytes go from FD to the copy inside the kernel (a pipe's pages are moved, a
	 * file's are copied), so a large message costs one call per MAX, not per read. */
	loff_t off = (loff_t)c->size;
	ssize_t r;
	if (S_ISFIFO(st.st_mode))
		r = splice(fd, NULL, c->fd, &off, max, SPLICE_F_MOVE);
	else if (S_ISREG(st.st_mode))
		r = copy_file_range(fd, NULL, c->fd, &off, max, 0);
	else
		return -2;
	if (r < 0) {
		int err = errno;
		/* Out of room: the copy is lost (the commit will say "queue full"), the
		 * delivery goes on reading FD itself. Anything else: read the plain way. */
		if (err == ENOSPC || err == EDQUOT || err == EFBIG)
			write_error(&c->failed, c->q, "write queue copy", c->id, err);
		return -2;
	}
	c->size += (uint64_t)r;
	return r;
}

ssize_t
queue_copy_read(struct queue_copy *c, uint64_t off, void *p, size_t n)
{
	for (;;) {
		ssize_t r = pread(c->fd, p, n, (off_t)off);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

int
queue_copy_complete(struct queue_copy *c, const struct queue_meta *m, struct err *e)
{
	if (c->failed.kind != ERR_NONE)
		return copy_failed(c, e);
	if (c->fd < 0 || c->complete)
		return err_set(e, ERR_SOFTWARE, "complete queue copy: not open for writing");
	struct queue_meta *d = &c->meta;
	queue_meta_fini(d);
	d->account = m->account ? xstrdup(m->account) : NULL;
	d->profile = m->profile ? xstrdup(m->profile) : NULL;
	d->sender = m->sender ? xstrdup(m->sender) : NULL;
	d->mail_params = m->mail_params ? xstrdup(m->mail_params) : NULL;
	d->ignore_dots = m->ignore_dots;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *a = m->rcpts[i].addr ? m->rcpts[i].addr : "";
		struct queue_rcpt *r = add_rcpt(d, a, strlen(a));
		r->params = m->rcpts[i].params ? xstrdup(m->rcpts[i].params) : NULL;
	}
	d->size = c->size;
	d->queued = now(c->q);
	d->next_attempt = d->queued; /* if this process dies now, the next flush sends it */
	/* The error is kept in the copy whether or not the caller asked for it: a caller
	 * that completes in passing learns of it at the commit (exit 74, "queue full"). */
	struct err we;
	err_clear(&we);
	if (write_envelope(c->q, c->id, c->dir, d, false, &we) < 0) {
		if (we.kind == ERR_OS)
			c->failed = we;
		if (e)
			*e = we;
		return -1;
	}
	c->complete = true;
	return 0;
}

int
queue_copy_commit(struct queue_copy *c, const char *last_reply, struct err *e)
{
	struct queue *q = c->q;
	size_t pending, failed;
	int err;

	if (c->fd < 0)
		return err_set(e, ERR_SOFTWARE, "queue message: no copy was started");
	if (c->failed.kind != ERR_NONE) {
		copy_failed(c, e);
		queue_copy_discard(c);
		return -1;
	}
	if (!c->complete) {
		queue_copy_discard(c);
		return err_set(
		    e, ERR_SOFTWARE,
		    "queue message: the input was not read to its end; nothing was queued");
	}
	struct queue_meta *m = &c->meta;
	drop_sent(m, &pending, &failed);
	if (pending == 0) {
		queue_copy_discard(c);
		return err_set(e, ERR_SOFTWARE, "queue message: no recipient left to deliver to");
	}
	time_t t = now(q);
	m->attempts = 1;
	m->last_attempt = t;
	m->next_attempt = t + queue_backoff(1);
	set_text(&m->last_reply, last_reply);
	/* The message reaches the disk before the envelope that vouches for it. */
	if ((err = sync_fd(c->fd)) != 0) {
		write_error(e, q, "sync queue copy", c->id, err);
		queue_copy_discard(c);
		return -1;
	}
	if (write_envelope(q, c->id, c->dir, m, true, e) < 0) {
		queue_copy_discard(c);
		return -1;
	}
	if ((err = move_entry(q->tmp, q->wait, c->id, true)) != 0) {
		write_error(e, q, "move queue copy into the queue", c->id, err);
		queue_copy_discard(c);
		return -1;
	}
	close_fd(&c->fd);
	close_fd(&c->dir);
	queue_meta_fini(&c->meta);
	return 0;
}

void
queue_copy_discard(struct queue_copy *c)
{
	if (c->dir >= 0 && c->q && c->q->tmp >= 0)
		remove_entry(c->q->tmp, c->id, c->dir);
	close_fd(&c->fd);
	close_fd(&c->dir);
	queue_meta_fini(&c->meta);
	c->complete = false;
}

/* --- recovery of tmp/ --- */

/* A copy directory in tmp/ without a message is left this long to its writer. */
#define TMP_STALE 3600

/*
 * One copy in tmp/ whose writer is gone (its lock is free): complete ones go into the queue
 * (synced now: their writer never synced them), incomplete ones aside, never to be sent.
 */
static void
recover_one(struct queue_iter *it, const char *id)
{
	struct queue *q = it->q;
	struct queue_meta m;
	struct stat st;
	struct err e;
	bool missing;
	int err;

	int dir = openat(q->tmp, id, DIR_FLAGS);
	if (dir < 0)
		return;
	int fd = openat(dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* No message. A writer creates its message before anything else, and a
		 * removal unlinks it first: an envelope without a message is an interrupted
		 * removal, cleaned now. An empty directory may be a writer between mkdir and
		 * creating its message (and about to commit): left alone unless an hour old. */
		bool gone = errno == ENOENT;
		/* The checks are not one step: a writer may create its message, then its
		 * envelope, between them. Since the message always comes first, a message that
		 * is still missing after an envelope was seen settles it. */
		bool removal = gone &&
		               (faccessat(dir, ENVELOPE, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
		                faccessat(dir, ENVELOPE_NEW, F_OK, AT_SYMLINK_NOFOLLOW) == 0) &&
		               faccessat(dir, MESSAGE, F_OK, AT_SYMLINK_NOFOLLOW) != 0;
		if (removal || (gone && fstat(dir, &st) == 0 && st.st_mtime + TMP_STALE < now(q)))
			remove_remains(q->tmp, id, dir);
		close(dir);
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !still_there(q->tmp, id, dir, fd) ||
	    fstat(fd, &st) < 0) {
		close(fd);
		close(dir);
		return;
	}
	if (read_envelope(dir, &m, &missing, &e) < 0) {
		if (missing && st.st_size == 0) {
			/* Stopped before a byte was written: there is nothing to keep. */
			remove_entry(q->tmp, id, dir);
			log_info("queue: removed the empty copy %s/tmp/%s", q->path, id);
		} else if (e.kind == ERR_CONFIG) {
			/* another postie's format: not ours to judge */
		} else if ((err = move_entry(q->tmp, q->corrupt, id, true)) == 0) {
			it->set_aside++;
			warn("queue: copy %s %s; moved to %s/corrupt/%s, it will not be sent", id,
			     missing ? "was never completed (postie stopped before reading its "
			               "input to the end)"
			             : "has an unreadable envelope",
			     q->path, id);
		} else {
			warn("queue: copy %s in %s/tmp cannot be sent and could not be set "
			     "aside: %s",
			     id, q->path, strerror(err));
		}
	} else if (m.size != (uint64_t)st.st_size) {
		/* The writer never synced: after a crash the envelope may outlive the data. */
		err = move_entry(q->tmp, q->corrupt, id, true);
		if (!err)
			it->set_aside++;
		warn("queue: copy %s holds %lld bytes, its envelope says %llu; %s %s/corrupt/%s, "
		     "it will not be sent",
		     id, (long long)st.st_size, (unsigned long long)m.size,
		     err ? "could not move it to" : "moved to", q->path, id);
	} else {
		int efd = openat(dir, ENVELOPE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		err = sync_fd(fd);
		if (!err)
			err = efd < 0 ? errno : sync_fd(efd);
		if (!err)
			err = sync_fd(dir);
		if (!err)
			err = move_entry(q->tmp, q->wait, id, true);
		if (efd >= 0)
			close(efd);
		if (err) {
			warn("queue: copy %s in %s/tmp could not be taken into the queue: %s", id,
			     q->path, strerror(err));
		} else {
			it->recovered++;
			warn("queue: %s, left complete by a postie that stopped, taken into "
			     "the queue",
			     id);
		}
	}
	queue_meta_fini(&m);
	close(fd);
	close(dir);
}

static int
recover_tmp(struct queue_iter *it, struct err *e)
{
	char **ids;
	size_t n;

	if (it->q->tmp < 0)
		return 0;
	if (list_ids(it->q, it->q->tmp, "tmp", &ids, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		recover_one(it, ids[i]);
	free_ids(ids, n);
	return 0;
}

/* --- flushing --- */

/* A duration as mailq shows it: 45s, 12m, 3h, 5d. */
static void
format_age(time_t age, char *out, size_t n)
{
	if (age < 0)
		age = 0;
	if (age < 60)
		snprintf(out, n, "%llds", (long long)age);
	else if (age < 3600)
		snprintf(out, n, "%lldm", (long long)(age / 60));
	else if (age < 86400)
		snprintf(out, n, "%lldh", (long long)(age / 3600));
	else
		snprintf(out, n, "%lldd", (long long)(age / 86400));
}

/* Case-insensitive (ASCII) substring test. */
static bool
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i]) {
			char a = hay[i], b = needle[i];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char)(b - 'A' + 'a');
			if (a != b)
				break;
			i++;
		}
		if (i == n)
			return true;
	}
	return n == 0;
}

static bool
expired(const struct queue *q, const struct queue_meta *m, time_t t)
{
	return q->lifetime > 0 && t - m->queued >= q->lifetime;
}

/* Does F select the entry ID with envelope M at time T? Expired entries always go on. */
static bool
selected(const struct queue_iter *it, const char *id, const struct queue_meta *m, time_t t)
{
	const struct queue_filter *f = &it->f;

	if (f->id && !contains(id, f->id))
		return false;
	if (f->account && strcmp(m->account, f->account) != 0)
		return false;
	if (f->profiles) {
		bool mine = !m->profile && f->legacy;
		for (size_t i = 0; m->profile && f->profiles[i] && !mine; i++)
			mine = strcmp(m->profile, f->profiles[i]) == 0;
		if (!mine)
			return false;
	}
	if (f->sender && !contains(m->sender, f->sender))
		return false;
	if (f->rcpt) {
		bool any = false;
		for (size_t i = 0; i < m->nrcpts && !any; i++)
			any = m->rcpts[i].state == QUEUE_RCPT_PENDING &&
			      contains(m->rcpts[i].addr, f->rcpt);
		if (!any)
			return false;
	}
	return expired(it->q, m, t) || f->force || m->next_attempt <= t;
}

static int
item_cmp(const void *pa, const void *pb)
{
	const struct queue_item *a = pa, *b = pb;

	if (!a->account != !b->account)
		return a->account ? -1 : 1;
	if (a->account) {
		int c = strcmp(a->account, b->account);
		if (c)
			return c;
	}
	return strcmp(a->id, b->id);
}

int
queue_iter_start(struct queue *q, struct queue_iter *it, const struct queue_filter *f,
                 struct err *e)
{
	char **ids;
	size_t n;

	memset(it, 0, sizeof(*it));
	it->q = q;
	if (f)
		it->f = *f;
	if (recover_tmp(it, e) < 0 || list_ids(q, q->wait, "queue", &ids, &n, e) < 0)
		return -1;
	it->items = xcalloc(n ? n : 1, sizeof(*it->items));
	time_t t = now(q);
	for (size_t i = 0; i < n; i++) {
		struct queue_meta m;
		struct err pe;
		bool missing;
		int dir = openat(q->wait, ids[i], DIR_FLAGS);
		if (dir < 0)
			continue;
		/* Unlocked: the envelope is only ever replaced whole, so this reads a whole one. */
		int rc = read_envelope(dir, &m, &missing, &pe);
		close(dir);
		if (rc < 0 && pe.kind == ERR_CONFIG)
			continue; /* another version: left alone */
		if (rc == 0 && !selected(it, ids[i], &m, t)) {
			queue_meta_fini(&m);
			continue;
		}
		/* An unreadable envelope goes on, to be set aside once locked. */
		if (rc < 0 && it->f.id && !contains(ids[i], it->f.id))
			continue;
		struct queue_item *item = &it->items[it->n++];
		snprintf(item->id, sizeof(item->id), "%s", ids[i]);
		item->account = rc == 0 ? xstrdup(m.account) : NULL;
		queue_meta_fini(&m);
	}
	free_ids(ids, n);
	qsort(it->items, it->n, sizeof(*it->items), item_cmp);
	return 0;
}

void
queue_iter_fini(struct queue_iter *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->items[i].account);
	free(it->items);
	it->items = NULL;
	it->n = it->next = 0;
}

void
queue_entry_release(struct queue_entry *en)
{
	close_fd(&en->fd); /* closing the last descriptor lets go of the flock */
	close_fd(&en->dir);
	queue_meta_fini(&en->meta);
}

/* Record the failure in the envelope (synced), then move the entry to failed/. */
static int
to_failed(struct queue_entry *en, struct err *e)
{
	struct queue *q = en->q;

	en->meta.failed = now(q);
	if (write_envelope(q, en->id, en->dir, &en->meta, true, e) < 0)
		return -1;
	int err = move_entry(q->wait, q->failed, en->id, true);
	if (err)
		return err_set(e, ERR_OS, "move queue entry %s to %s/failed: %s", en->id, q->path,
		               strerror(err));
	return 0;
}

static void
report_expired(const struct queue_entry *en)
{
	const struct queue_meta *m = &en->meta;
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < m->nrcpts && b.len < 3000; i++)
		buf_printf(&b, NULL, "%s%s", i ? ", " : "", m->rcpts[i].addr);
	warn("queue: %s from <%s> to %s: %s; given up, last reply: %s; kept in %s/failed/%s",
	     en->id, m->sender, b.data ? b.data : "", m->fail_reason,
	     m->last_reply ? m->last_reply : "none", en->q->path, en->id);
	buf_fini(&b);
}

/* Lock and check one snapshot item: 1 taken, 0 skipped, -1 error. */
static int
take(struct queue_iter *it, const char *id, struct queue_entry *en, struct err *e)
{
	struct queue *q = it->q;
	struct err pe;
	struct stat st;
	bool missing;

	memset(en, 0, sizeof(*en));
	en->q = q;
	en->fd = en->dir = -1;
	snprintf(en->id, sizeof(en->id), "%s", id);
	en->dir = openat(q->wait, id, DIR_FLAGS);
	if (en->dir < 0)
		return 0; /* delivered or moved by someone else since the snapshot */
	en->fd = openat(en->dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (en->fd < 0) {
		/* The message goes first when an entry is removed: this is the rest of one. */
		if (errno == ENOENT)
			remove_remains(q->wait, id, en->dir);
		queue_entry_release(en);
		return 0;
	}
	if (flock(en->fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		queue_entry_release(en);
		if (err == EWOULDBLOCK || err == EINTR)
			return 0; /* another postie has it and delivers it */
		return err_set(e, ERR_OS, "lock queue entry %s in %s: %s", id, q->path,
		               strerror(err));
	}
	if (!still_there(q->wait, id, en->dir, en->fd) || fstat(en->fd, &st) < 0) {
		queue_entry_release(en);
		return 0;
	}
	int rc = read_envelope(en->dir, &en->meta, &missing, &pe);
	if (rc < 0 && pe.kind == ERR_CONFIG) {
		queue_entry_release(en); /* another postie's format: left alone */
		return 0;
	}
	if (rc < 0 || en->meta.size != (uint64_t)st.st_size) {
		int err = move_entry(q->wait, q->corrupt, id, true);
		if (!err)
			it->set_aside++;
		warn("queue: entry %s: %s; %s %s/corrupt/%s, it will not be sent", id,
		     rc < 0 ? pe.text : "its message is not the size its envelope says",
		     err ? "could not move it to" : "moved to", q->path, id);
		queue_entry_release(en);
		return 0;
	}
	time_t t = now(q);
	if (en->meta.failed) {
		/* A failure recorded but not yet moved (interrupted): finish the move. */
		move_entry(q->wait, q->failed, id, true);
		queue_entry_release(en);
		return 0;
	}
	if (!selected(it, id, &en->meta, t)) {
		queue_entry_release(en); /* retried by someone else meanwhile */
		return 0;
	}
	if (expired(q, &en->meta, t)) {
		char span[32], reason[128];
		format_age(q->lifetime, span, sizeof(span));
		snprintf(reason, sizeof(reason),
		         "expired: in the queue longer than %s "
		         "(queue_lifetime)",
		         span);
		set_text(&en->meta.fail_reason, reason);
		struct err fe;
		if (to_failed(en, &fe) == 0) {
			it->expired++;
			report_expired(en);
		} else {
			/* Not a reason to stop the flush: the next one tries again. */
			warn("queue: %s expired but %s", id, fe.text);
		}
		queue_entry_release(en);
		return 0;
	}
	return 1;
}

int
queue_iter_next(struct queue_iter *it, struct queue_entry *en, struct err *e)
{
	while (it->next < it->n) {
		if (it->f.max && it->given >= it->f.max)
			return 0;
		int r = take(it, it->items[it->next++].id, en, e);
		if (r < 0)
			return -1;
		if (r > 0) {
			it->given++;
			return 1;
		}
	}
	return 0;
}

int
queue_entry_done(struct queue_entry *en, struct err *e)
{
	struct queue *q = en->q;
	int rc = 0;

	/* Unlinking the message settles it: after that nothing can send it again. */
	if (unlinkat(en->dir, MESSAGE, 0) < 0 && errno != ENOENT) {
		rc = err_set(e, ERR_OS, "remove queue entry %s from %s: %s", en->id, q->path,
		             strerror(errno));
	} else {
		int err = remove_entry(q->wait, en->id, en->dir);
		if (!err)
			err = sync_fd(q->wait);
		if (err)
			warn("queue: entry %s was delivered but not removed whole from %s: %s",
			     en->id, q->path, strerror(err));
	}
	queue_entry_release(en);
	return rc;
}

int
queue_entry_retry(struct queue_entry *en, const char *last_reply, struct err *e)
{
	struct queue_meta *m = &en->meta;
	size_t pending, failed;
	int rc;

	drop_sent(m, &pending, &failed);
	if (pending == 0 && failed == 0)
		return queue_entry_done(en, e);
	if (last_reply)
		set_text(&m->last_reply, last_reply);
	time_t t = now(en->q);
	m->attempts++;
	m->last_attempt = t;
	if (pending == 0) {
		rc = to_failed(en, e); /* every recipient left was refused permanently */
	} else {
		m->next_attempt = t + queue_backoff(m->attempts);
		rc = write_envelope(en->q, en->id, en->dir, m, true, e);
	}
	queue_entry_release(en);
	return rc;
}

int
queue_entry_fail(struct queue_entry *en, const char *reason, struct err *e)
{
	size_t pending, failed;

	drop_sent(&en->meta, &pending, &failed);
	if (en->meta.nrcpts == 0)
		return queue_entry_done(en, e); /* every recipient had it already */
	if (reason)
		set_text(&en->meta.last_reply, reason);
	int rc = to_failed(en, e);
	queue_entry_release(en);
	return rc;
}

/* --- mailq --- */

struct listed {
	char id[QUEUE_ID_MAX];
	bool failed;
	struct queue_meta m;
	bool ok;
	char why[sizeof(((struct err *)0)->text)]; /* when !ok */
};

static int
listed_cmp(const void *pa, const void *pb)
{
	const struct listed *a = pa, *b = pb;
	return strcmp(a->id, b->id);
}

static void
collect(int fd, bool failed, char **ids, size_t n, struct listed *out, size_t *k)
{
	for (size_t i = 0; i < n; i++) {
		struct listed *l = &out[*k];
		struct err pe;
		bool missing;
		int dir = openat(fd, ids[i], DIR_FLAGS);
		if (dir < 0)
			continue;
		memset(l, 0, sizeof(*l));
		snprintf(l->id, sizeof(l->id), "%s", ids[i]);
		l->failed = failed;
		l->ok = read_envelope(dir, &l->m, &missing, &pe) == 0;
		if (!l->ok)
			snprintf(l->why, sizeof(l->why), "%s", missing ? "being removed" : pe.text);
		close(dir);
		++*k;
	}
}

int
queue_list(struct queue *q, FILE *out, struct err *e)
{
	char **wait_ids = NULL, **failed_ids = NULL, **corrupt_ids = NULL;
	size_t nw = 0, nf = 0, nc = 0, k = 0;

	if (list_ids(q, q->wait, "queue", &wait_ids, &nw, e) < 0 ||
	    list_ids(q, q->failed, "failed", &failed_ids, &nf, e) < 0 ||
	    list_ids(q, q->corrupt, "corrupt", &corrupt_ids, &nc, e) < 0) {
		free_ids(wait_ids, nw);
		free_ids(failed_ids, nf);
		return -1;
	}
	struct listed *l = xcalloc(nw + nf + 1, sizeof(*l));
	collect(q->wait, false, wait_ids, nw, l, &k);
	collect(q->failed, true, failed_ids, nf, l, &k);
	free_ids(wait_ids, nw);
	free_ids(failed_ids, nf);
	free_ids(corrupt_ids, nc);
	qsort(l, k, sizeof(*l), listed_cmp);

	time_t t = now(q);
	unsigned long long total = 0;
	size_t nfailed = 0;
	if (k == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "%-39s %9s %5s  %s\n", "-Queue ID-", "--Size--", "-Age-",
		        "-Sender -> Recipients (last reply)-");
	for (size_t i = 0; i < k; i++) {
		const struct queue_meta *m = &l[i].m;
		char id[QUEUE_ID_MAX + 1], age[32];
		snprintf(id, sizeof(id), "%s%s", l[i].id, l[i].failed ? "!" : "");
		nfailed += l[i].failed;
		if (!l[i].ok) {
			fprintf(out, "%-39s %9s %5s  (%s)\n", id, "-", "-", l[i].why);
			continue;
		}
		total += m->size;
		format_age(t - m->queued, age, sizeof(age));
		fprintf(out, "%-39s %9llu %5s  %s ->", id, (unsigned long long)m->size, age,
		        m->sender[0] ? m->sender : "<>");
		for (size_t j = 0; j < m->nrcpts; j++)
			fprintf(out, "%s %s%s", j ? "," : "", m->rcpts[j].addr,
			        m->rcpts[j].state == QUEUE_RCPT_FAILED ? " [refused]" : "");
		if (l[i].failed)
			fprintf(out, " (failed: %s%s%s)\n", m->fail_reason ? m->fail_reason : "",
			        m->fail_reason && m->last_reply ? "; last reply: " : "",
			        m->last_reply    ? m->last_reply
			        : m->fail_reason ? ""
			                         : "given up");
		else if (m->last_reply)
			fprintf(out, " (%s)\n", m->last_reply);
		else
			fprintf(out, "\n");
	}
	if (k)
		fprintf(out, "-- %llu Kbytes in %zu Request%s%s", (total + 1023) / 1024, k,
		        k == 1 ? "" : "s", nfailed ? "" : ".\n");
	if (k && nfailed)
		fprintf(out, ", %zu failed (kept in %s/failed).\n", nfailed, q->path);
	if (nc)
		fprintf(out, "-- %zu cop%s set aside in %s/corrupt, never sent.\n", nc,
		        nc == 1 ? "y" : "ies", q->path);
	for (size_t i = 0; i < k; i++)
		queue_meta_fini(&l[i].m);
	free(l);
	if (fflush(out) != 0 || ferror(out))
		return err_set(e, ERR_OS, "print the queue: %s", strerror(errno));
	return 0;
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
