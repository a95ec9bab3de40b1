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
#include "queue_int.h"

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

#include "config.h"
#include "io.h"
#include "log.h"
#include "priv.h"

time_t
queue_now(const struct queue *q)
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
int
queue_write_error(struct err *e, const struct queue *q, const char *what, const char *id, int err)
{
	if (is_full(err))
		return err_set(e, ERR_OS, "%s %s: queue full (%s); make room in %s", what, id,
		               strerror(err), q->path);
	return err_set(e, ERR_OS, "%s %s in %s: %s", what, id, q->path, strerror(err));
}

void
queue_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* --- opening --- */

char *
queue_default_dir(void)
{
	return io_xdg_path(IO_XDG_STATE, "postie/queue", 0);
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
queue_group_hold(struct queue *q)
{
	if (!q || !q->system)
		return;
	/* A failure shows as the lookups' own (EACCES), reported where they fail. */
	if (q->held++ == 0)
		(void)priv_raise();
}

void
queue_group_let_go(struct queue *q)
{
	if (!q || !q->system || q->held == 0)
		return;
	if (--q->held == 0)
		priv_drop();
}

/* The system spool at PATH (SUB one of its directories, or "") cannot be used: WHY, and the
 * command root runs to make it as it must be (postie never makes it). */
static int
system_refusal(const char *path, const char *sub, const char *why, struct err *e)
{
	char g[64];

#ifdef POSTIE_SYSTEM_GROUP
	snprintf(g, sizeof(g), "%s", POSTIE_SYSTEM_GROUP);
#else
	snprintf(g, sizeof(g), "%lu", (unsigned long)priv_gid());
#endif
	return err_set(e, ERR_CONFIG,
	               "open system queue %s%s: %s; as root run: for d in '' tmp queue failed "
	               "corrupt; do install -d -o root -g %s -m 1770 %s/$d; done",
	               path, sub, why, g, path);
}

/* SEC-45: the system spool and its directories are root:GROUP 1770, nothing else. */
static int
check_system_dir(int fd, const char *path, const char *sub, struct err *e)
{
	struct stat st;
	char why[96];

	if (fstat(fd, &st) < 0)
		return system_refusal(path, sub, strerror(errno), e);
	if (S_ISDIR(st.st_mode) && st.st_uid == 0 && st.st_gid == priv_gid() &&
	    (st.st_mode & 07777) == 01770)
		return 0;
	snprintf(why, sizeof(why), "not a folder root:%s mode 1770 (uid %lu, gid %lu, mode %04o)",
	         priv_group_name(), (unsigned long)st.st_uid, (unsigned long)st.st_gid,
	         (unsigned)(st.st_mode & 07777));
	return system_refusal(path, sub, why, e);
}

/* Open and check the system spool's directories (the group held by the caller). */
static int
open_system(struct queue *q, const char *path, bool create, struct err *e)
{
	static const char *const names[] = {"tmp", "queue", "failed", "corrupt"};
	int *fds[] = {&q->tmp, &q->wait, &q->failed, &q->corrupt};

	q->root = open(path, DIR_FLAGS & ~O_NOFOLLOW);
	if (q->root < 0 && errno == ENOENT && !create)
		return 0; /* an empty queue: mailq, postie -q */
	if (q->root < 0)
		return system_refusal(path, "", strerror(errno), e);
	if (check_system_dir(q->root, path, "", e) < 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "/%s", names[i]);
		*fds[i] = openat(q->root, names[i], DIR_FLAGS);
		if (*fds[i] < 0)
			return system_refusal(path, sub, strerror(errno), e);
		if (check_system_dir(*fds[i], path, sub, e) < 0)
			return -1;
	}
	return 0;
}

int
queue_open_system(struct queue *q, const char *path, bool create, struct err *e)
{
	memset(q, 0, sizeof(*q));
	q->root = q->tmp = q->wait = q->failed = q->corrupt = -1;
	q->lifetime = QUEUE_LIFETIME_DEFAULT;
	q->path = xstrdup(path);
	q->system = true;
	q->mine_only = getuid() != 0;
	/* The group only for these opens; later calls hold it around their own lookups. */
	queue_group_hold(q);
	int rc = open_system(q, path, create, e);
	queue_group_let_go(q);
	if (rc < 0)
		queue_close(q);
	return rc;
}

void
queue_close(struct queue *q)
{
	if (!q->path)
		return;
	queue_close_fd(&q->root);
	queue_close_fd(&q->tmp);
	queue_close_fd(&q->wait);
	queue_close_fd(&q->failed);
	queue_close_fd(&q->corrupt);
	free(q->path);
	q->path = NULL;
}

/* --- locks and entry directories --- */

/*
 * After taking the lock: is PARENT/ID still the directory DIR, holding the file FD? The
 * previous owner may have removed or moved the entry just before letting go of it.
 */
bool
queue_still_there(int parent, const char *id, int dir, int fd)
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
int
queue_remove_entry(int parent, const char *id, int dir)
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
void
queue_remove_remains(int parent, const char *id, int dir)
{
	unlinkat(dir, ENVELOPE, 0);
	unlinkat(dir, ENVELOPE_NEW, 0);
	unlinkat(parent, id, AT_REMOVEDIR);
}

/* Move ID from one queue directory to another; with SYNC both directories are synced. */
int
queue_move_entry(int from, int to, const char *id, bool sync)
{
	if (to < 0)
		return ENOENT;
	if (renameat(from, id, to, id) < 0)
		return errno;
	if (!sync)
		return 0;
	int err = io_sync(to);
	int err2 = io_sync(from);
	return err ? err : err2;
}

/* Whether the entry ID in directory FD may be seen: on the system spool, by a caller other
 * than root, only when the caller owns it (SEC-45). */
static bool
mine(const struct queue *q, int fd, const char *id)
{
	struct stat st;

	if (!q->mine_only)
		return true;
	return fstatat(fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == getuid();
}

/* The names in directory FD that are entry ids. */
int
queue_list_ids(const struct queue *q, int fd, const char *name, char ***ids, size_t *n,
               struct err *e)
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
	int err = 0;
	for (;;) {
		/* readdir says an error only through errno: cleared before each call, as mine()'s
		 * fstatat of an entry that another process took away meanwhile leaves ENOENT. */
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = errno;
			break;
		}
		if (!queue_valid_id(de->d_name) || !mine(q, fd, de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
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

void
queue_free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* --- the copy written while streaming --- */

static int
copy_begin(struct queue *q, struct queue_copy *c, struct err *e)
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
		queue_make_id(c->id, sizeof(c->id));
		if (mkdirat(q->tmp, c->id, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return queue_write_error(e, q, "start queue copy", c->id, errno);
		}
		c->dir = openat(q->tmp, c->id, DIR_FLAGS);
		if (c->dir < 0) {
			if (errno == ENOENT)
				continue;
			int err = errno;
			unlinkat(q->tmp, c->id, AT_REMOVEDIR);
			return queue_write_error(e, q, "start queue copy", c->id, err);
		}
		c->fd = openat(c->dir, MESSAGE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		               0600);
		if (c->fd < 0) {
			int err = errno;
			queue_close_fd(&c->dir);
			if (err == ENOENT || err == EEXIST)
				continue;
			unlinkat(q->tmp, c->id, AT_REMOVEDIR);
			return queue_write_error(e, q, "start queue copy", c->id, err);
		}
		if (flock(c->fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;
			if (err != EWOULDBLOCK) {
				queue_copy_discard(c);
				return err_set(e, ERR_OS, "lock queue copy %s in %s: %s", c->id,
				               q->path, strerror(err));
			}
		} else if (queue_still_there(q->tmp, c->id, c->dir, c->fd)) {
			return 0;
		}
		queue_close_fd(&c->fd);
		queue_close_fd(&c->dir);
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
	if (n > c->limit - c->size) {
		queue_system_over(c->q, c->size + n, &c->failed);
		return copy_failed(c, e);
	}
	int err = io_write_all(c->fd, p, n);
	if (err) {
		queue_write_error(&c->failed, c->q, "write queue copy", c->id, err);
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
	/* At the share's end: whatever comes next is read the plain way, and a byte more
	 * fails the copy there (queue_copy_write). */
	if (c->size >= c->limit)
		return -2;
	if (max > c->limit - c->size)
		max = (size_t)(c->limit - c->size);
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
			queue_write_error(&c->failed, c->q, "write queue copy", c->id, err);
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
	d->ip_family = m->ip_family;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *a = m->rcpts[i].addr ? m->rcpts[i].addr : "";
		struct queue_rcpt *r = queue_add_rcpt(d, a, strlen(a));
		r->params = m->rcpts[i].params ? xstrdup(m->rcpts[i].params) : NULL;
	}
	d->size = c->size;
	d->queued = queue_now(c->q);
	d->next_attempt = d->queued; /* if this process dies now, the next flush sends it */
	/* The error is kept in the copy whether or not the caller asked for it: a caller
	 * that completes in passing learns of it at the commit (exit 74, "queue full"). */
	struct err we;
	err_clear(&we);
	if (queue_write_envelope(c->q, c->id, c->dir, d, false, &we) < 0) {
		if (we.kind == ERR_OS)
			c->failed = we;
		if (e)
			*e = we;
		return -1;
	}
	c->complete = true;
	return 0;
}

static int
copy_commit(struct queue_copy *c, const char *last_reply, struct err *e)
{
	struct queue *q = c->q;
	size_t pending, failed;
	int err;

	/* First: a copy refused from the start (the user's share, SEC-46) has no file. */
	if (c->failed.kind != ERR_NONE) {
		copy_failed(c, e);
		queue_copy_discard(c);
		return -1;
	}
	if (c->fd < 0)
		return err_set(e, ERR_SOFTWARE, "queue message: no copy was started");
	if (!c->complete) {
		queue_copy_discard(c);
		return err_set(
		    e, ERR_SOFTWARE,
		    "queue message: the input was not read to its end; nothing was queued");
	}
	struct queue_meta *m = &c->meta;
	queue_drop_sent(m, &pending, &failed);
	if (pending == 0) {
		queue_copy_discard(c);
		return err_set(e, ERR_SOFTWARE, "queue message: no recipient left to deliver to");
	}
	time_t t = queue_now(q);
	m->attempts = 1;
	m->last_attempt = t;
	m->next_attempt = t + queue_backoff(1);
	queue_set_text(&m->last_reply, last_reply);
	/* The message reaches the disk before the envelope that vouches for it. */
	err = io_sync(c->fd);
	if (err != 0) {
		queue_write_error(e, q, "sync queue copy", c->id, err);
		queue_copy_discard(c);
		return -1;
	}
	if (queue_write_envelope(q, c->id, c->dir, m, true, e) < 0) {
		queue_copy_discard(c);
		return -1;
	}
	err = queue_move_entry(q->tmp, q->wait, c->id, true);
	if (err != 0) {
		queue_write_error(e, q, "move queue copy into the queue", c->id, err);
		queue_copy_discard(c);
		return -1;
	}
	queue_close_fd(&c->fd);
	queue_close_fd(&c->dir);
	queue_meta_fini(&c->meta);
	return 0;
}

static void
copy_discard(struct queue_copy *c)
{
	if (c->dir >= 0 && c->q && c->q->tmp >= 0)
		queue_remove_entry(c->q->tmp, c->id, c->dir);
	queue_close_fd(&c->fd);
	queue_close_fd(&c->dir);
	queue_meta_fini(&c->meta);
	c->complete = false;
}

int
queue_copy_begin(struct queue *q, struct queue_copy *c, struct err *e)
{
	uint64_t room;
	struct err re;
	int rc = 0;

	err_clear(&re);
	queue_group_hold(q);
	if (queue_system_room(q, &room, &re) < 0) {
		/* SEC-46: no room for this user. The delivery goes on without a copy; only if it
		 * must wait does the commit fail, with this reason (exit 75, nothing lost). */
		memset(c, 0, sizeof(*c));
		c->q = q;
		c->dir = c->fd = -1;
		c->failed = re;
	} else {
		rc = copy_begin(q, c, e);
		c->limit = room;
	}
	queue_group_let_go(q);
	return rc;
}

int
queue_copy_commit(struct queue_copy *c, const char *last_reply, struct err *e)
{
	struct queue *q = c->q;

	queue_group_hold(q);
	int rc = copy_commit(c, last_reply, e);
	queue_group_let_go(q);
	return rc;
}

void
queue_copy_discard(struct queue_copy *c)
{
	struct queue *q = c->q;

	queue_group_hold(q);
	copy_discard(c);
	queue_group_let_go(q);
}
