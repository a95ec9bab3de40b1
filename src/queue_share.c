/*
 * queue_share: what one user may take of the system spool (SEC-46). A caller other than root
 * queues there with its own rights, so without a limit one user could fill the spool's file
 * system for everybody. Each user gets a share (entries and bytes, counted over tmp/, queue/,
 * failed/ and corrupt/), and no user's message takes the last part of the file system (a
 * percentage of its blocks and inodes). Root's flush removes what nobody can send any more
 * (failed/ and corrupt/ entries whose folder has not changed for the build's keep-days), which
 * gives shares back.
 */
#include "queue.h"
#include "queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MIB (1024ull * 1024ull)
#define DAY (24 * 3600)

struct usage {
	size_t entries;
	uint64_t bytes;
};

/* Add the caller's entries in directory FD (NAME) and their messages' sizes to U. */
static int
count_dir(const struct queue *q, int fd, const char *name, struct usage *u, struct err *e)
{
	char **ids;
	size_t n;

	if (queue_list_ids(q, fd, name, &ids, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char path[QUEUE_ID_MAX + sizeof(MESSAGE) + 1];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", ids[i], MESSAGE);
		u->entries++;
		if (fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			u->bytes += (uint64_t)st.st_size;
	}
	queue_free_ids(ids, n);
	return 0;
}

static int
no_room(const struct queue *q, const char *why, struct err *e)
{
	return err_set(e, ERR_TEMP, "queue message in %s: %s; nothing was queued", q->path, why);
}

/* The bytes the file system of FD has for a user above the floor (min-free percent). */
static int
fs_room(const struct queue *q, uint64_t *room, struct err *e)
{
	struct statvfs v;

	if (fstatvfs(q->root, &v) < 0)
		return err_set(e, ERR_OS, "queue message in %s: statvfs: %s", q->path,
		               strerror(errno));
	uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
	uint64_t floor = (uint64_t)v.f_blocks * POSTIE_SYSTEM_QUEUE_MIN_FREE / 100;
	uint64_t ifloor = (uint64_t)v.f_files * POSTIE_SYSTEM_QUEUE_MIN_FREE / 100;
	char why[160];

	if ((uint64_t)v.f_bavail <= floor || (v.f_files > 0 && (uint64_t)v.f_favail <= ifloor)) {
		snprintf(why, sizeof(why),
		         "its file system has less than %d%% free, which is kept for the system; "
		         "root must make room there",
		         POSTIE_SYSTEM_QUEUE_MIN_FREE);
		return no_room(q, why, e);
	}
	*room = ((uint64_t)v.f_bavail - floor) * unit;
	return 0;
}

int
queue_system_room(struct queue *q, uint64_t *room, struct err *e)
{
	struct usage u = {0, 0};
	const uint64_t max_bytes = (uint64_t)POSTIE_SYSTEM_QUEUE_USER_MIB * MIB;
	char why[200];

	*room = UINT64_MAX;
	if (!q->system || getuid() == 0)
		return 0;
	int fds[] = {q->tmp, q->wait, q->failed, q->corrupt};
	const char *names[] = {"tmp", "queue", "failed", "corrupt"};
	for (size_t i = 0; i < 4; i++)
		if (count_dir(q, fds[i], names[i], &u, e) < 0)
			return -1;
	if (u.entries >= POSTIE_SYSTEM_QUEUE_USER_ENTRIES || u.bytes >= max_bytes) {
		snprintf(why, sizeof(why),
		         "your share of the system queue is used (%zu entries, %llu MiB; at most "
		         "%d entries, %d MiB a user); see them with mailq",
		         u.entries, (unsigned long long)((u.bytes + MIB - 1) / MIB),
		         POSTIE_SYSTEM_QUEUE_USER_ENTRIES, POSTIE_SYSTEM_QUEUE_USER_MIB);
		return no_room(q, why, e);
	}
	uint64_t fs = 0;
	if (fs_room(q, &fs, e) < 0)
		return -1;
	*room = max_bytes - u.bytes < fs ? max_bytes - u.bytes : fs;
	return 0;
}

int
queue_system_over(const struct queue *q, uint64_t size, struct err *e)
{
	char why[160];

	snprintf(why, sizeof(why),
	         "the message is bigger than what is left of your share of the system queue or "
	         "of its file system (%llu bytes)",
	         (unsigned long long)size);
	return no_room(q, why, e);
}

/*
 * Remove DIR (PARENT/ID) when its message's lock is free and it is still there: a
 * --queue-retry holds the lock while it moves an entry back into queue/. true when removed.
 */
static bool
remove_unlocked(int parent, const char *id, int dir)
{
	/* O_NONBLOCK: a FIFO there cannot hang root's flush (flock on it fails below). */
	int fd = openat(dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT && queue_remove_entry(parent, id, dir) == 0;
	bool gone = flock(fd, LOCK_EX | LOCK_NB) == 0 && queue_still_there(parent, id, dir, fd) &&
	            queue_remove_entry(parent, id, dir) == 0;
	close(fd);
	return gone;
}

/* Remove the entries of directory FD (NAME) that were put there more than KEEP days ago. */
static void
tidy_dir(struct queue *q, int fd, const char *name)
{
	char **ids;
	size_t n, removed = 0;
	struct err e;
	time_t limit = queue_now(q) - (time_t)POSTIE_SYSTEM_QUEUE_KEEP_DAYS * DAY;

	if (fd < 0 || queue_list_ids(q, fd, name, &ids, &n, &e) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int dir = openat(fd, ids[i], DIR_FLAGS);
		/* The folder's time is its last change: the envelope written as it failed, or the
		 * copy's last file made (corrupt/). */
		if (dir >= 0 && fstat(dir, &st) == 0 && st.st_mtime <= limit &&
		    remove_unlocked(fd, ids[i], dir))
			removed++;
		if (dir >= 0)
			close(dir);
	}
	queue_free_ids(ids, n);
	/* Said, not only logged: these messages are gone for good. */
	if (removed)
		warn("queue: removed %zu entr%s older than %d days from %s/%s (never sent)",
		     removed, removed == 1 ? "y" : "ies", POSTIE_SYSTEM_QUEUE_KEEP_DAYS, q->path,
		     name);
}

void
queue_system_tidy(struct queue *q)
{
	if (!q->system || getuid() != 0)
		return;
	tidy_dir(q, q->failed, "failed");
	tidy_dir(q, q->corrupt, "corrupt");
}
