/*
 * queue_policy: which entries go when. The backoff between attempts, the recovery of tmp/
 * after a stopped postie, the lifetime past which an entry fails, the selection and order
 * of a flush, and what an attempt's outcome does to an entry (done, retried, failed).
 */
#include "queue.h"
#include "queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

time_t
queue_backoff(unsigned attempts)
{
	time_t t = QUEUE_BACKOFF_MIN;
	for (unsigned i = 1; i < attempts && t < QUEUE_BACKOFF_MAX; i++)
		t *= 2;
	return t < QUEUE_BACKOFF_MAX ? t : QUEUE_BACKOFF_MAX;
}

/* --- recovery of tmp/ --- */

/* A copy directory in tmp/ without a message is left this long to its writer. */
#define TMP_STALE 3600

/*
 * tmp/ID has no message. A writer creates its message before anything else, and a removal
 * unlinks it first: an envelope without a message is an interrupted removal, cleaned now.
 * An empty directory may be a writer between mkdir and creating its message (and about to
 * commit): left alone unless an hour old. GONE: the message is missing (not unreadable).
 */
static void
no_message(struct queue *q, const char *id, int dir, bool gone)
{
	struct stat st;

	/* The checks are not one step: a writer may create its message, then its envelope,
	 * between them. Since the message always comes first, a message that is still missing
	 * after an envelope was seen settles it. */
	bool removal = gone &&
	               (faccessat(dir, ENVELOPE, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	                faccessat(dir, ENVELOPE_NEW, F_OK, AT_SYMLINK_NOFOLLOW) == 0) &&
	               faccessat(dir, MESSAGE, F_OK, AT_SYMLINK_NOFOLLOW) != 0;
	if (removal || (gone && fstat(dir, &st) == 0 && st.st_mtime + TMP_STALE < queue_now(q)))
		queue_remove_remains(q->tmp, id, dir);
}

/* tmp/ID (directory DIR, message SIZE bytes) has no usable envelope (E; MISSING: none). */
static void
unreadable(struct queue_iter *it, const char *id, int dir, off_t size, bool missing,
           const struct err *e)
{
	struct queue *q = it->q;

	if (missing && size == 0) {
		/* Stopped before a byte was written: there is nothing to keep. */
		queue_remove_entry(q->tmp, id, dir);
		log_info("queue: removed the empty copy %s/tmp/%s", q->path, id);
		return;
	}
	if (e->kind == ERR_CONFIG)
		return; /* another postie's format: not ours to judge */
	int err = queue_move_entry(q->tmp, q->corrupt, id, true);
	if (err) {
		warn("queue: copy %s in %s/tmp cannot be sent and could not be set aside: %s", id,
		     q->path, strerror(err));
		return;
	}
	it->set_aside++;
	warn("queue: copy %s %s; moved to %s/corrupt/%s, it will not be sent", id,
	     missing ? "was never completed (postie stopped before reading its input to the end)"
	             : "has an unreadable envelope",
	     q->path, id);
}

/* tmp/ID is complete: sync its files and move it into queue/. */
static void
take_complete(struct queue_iter *it, const char *id, int dir, int fd)
{
	struct queue *q = it->q;
	int efd = openat(dir, ENVELOPE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int err = io_sync(fd);

	if (!err)
		err = efd < 0 ? errno : io_sync(efd);
	if (!err)
		err = io_sync(dir);
	if (!err)
		err = queue_move_entry(q->tmp, q->wait, id, true);
	if (efd >= 0)
		close(efd);
	if (err) {
		warn("queue: copy %s in %s/tmp could not be taken into the queue: %s", id, q->path,
		     strerror(err));
		return;
	}
	it->recovered++;
	warn("queue: %s, left complete by a postie that stopped, taken into the queue", id);
}

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

	int dir = openat(q->tmp, id, DIR_FLAGS);
	if (dir < 0)
		return;
	/* O_NONBLOCK: a FIFO put there cannot hang the flush (it is no regular file below). */
	int fd = openat(dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		no_message(q, id, dir, errno == ENOENT);
		close(dir);
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !queue_still_there(q->tmp, id, dir, fd) ||
	    fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		close(dir);
		return;
	}
	if (queue_read_envelope(dir, &m, &missing, &e) < 0) {
		unreadable(it, id, dir, st.st_size, missing, &e);
	} else if (m.size != (uint64_t)st.st_size) {
		/* The writer never synced: after a crash the envelope may outlive the data. */
		int err = queue_move_entry(q->tmp, q->corrupt, id, true);
		if (!err)
			it->set_aside++;
		warn("queue: copy %s holds %lld bytes, its envelope says %llu; %s %s/corrupt/%s, "
		     "it will not be sent",
		     id, (long long)st.st_size, (unsigned long long)m.size,
		     err ? "could not move it to" : "moved to", q->path, id);
	} else {
		take_complete(it, id, dir, fd);
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
	if (queue_list_ids(it->q, it->q->tmp, "tmp", &ids, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		recover_one(it, ids[i]);
	queue_free_ids(ids, n);
	return 0;
}

/* --- flushing --- */

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

/* The lifetime counts from the arrival, or from the last --queue-retry. */
static bool
expired(const struct queue *q, const struct queue_meta *m, time_t t)
{
	time_t from = m->retried > m->queued ? m->retried : m->queued;
	return q->lifetime > 0 && t - from >= q->lifetime;
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
	if (f->notices)
		return m->notice == QUEUE_NOTICE_DUE;
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

static int
iter_start(struct queue *q, struct queue_iter *it, const struct queue_filter *f, struct err *e)
{
	char **ids;
	size_t n;

	memset(it, 0, sizeof(*it));
	it->q = q;
	if (f)
		it->f = *f;
	int parent = it->f.notices ? q->failed : q->wait;
	if (!it->f.notices) {
		queue_system_tidy(q); /* root's flush of the system spool (SEC-46) */
		if (recover_tmp(it, e) < 0)
			return -1;
	}
	if (queue_list_ids(q, parent, it->f.notices ? "failed" : "queue", &ids, &n, e) < 0)
		return -1;
	it->items = xcalloc(n ? n : 1, sizeof(*it->items));
	time_t t = queue_now(q);
	for (size_t i = 0; i < n; i++) {
		struct queue_meta m;
		struct err pe;
		bool missing;
		int dir = openat(parent, ids[i], DIR_FLAGS);
		if (dir < 0)
			continue;
		/* Unlocked: the envelope is only ever replaced whole, so this reads a whole one. */
		int rc = queue_read_envelope(dir, &m, &missing, &pe);
		close(dir);
		if (rc < 0 && pe.kind == ERR_CONFIG)
			continue; /* another version: left alone */
		if (rc == 0 && !selected(it, ids[i], &m, t)) {
			queue_meta_fini(&m);
			continue;
		}
		/* An unreadable envelope goes on, to be set aside once locked (not in failed/). */
		if (rc < 0 && (it->f.notices || (it->f.id && !contains(ids[i], it->f.id))))
			continue;
		struct queue_item *item = &it->items[it->n++];
		snprintf(item->id, sizeof(item->id), "%s", ids[i]);
		item->account = rc == 0 ? xstrdup(m.account) : NULL;
		queue_meta_fini(&m);
	}
	queue_free_ids(ids, n);
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
	queue_close_fd(&en->fd); /* closing the last descriptor lets go of the flock */
	queue_close_fd(&en->dir);
	queue_meta_fini(&en->meta);
}

/* Record the failure in the envelope (synced), then move the entry to failed/. */
static int
to_failed(struct queue_entry *en, struct err *e)
{
	struct queue *q = en->q;

	en->meta.failed = queue_now(q);
	/* The sender hears of it (flush.c), but never the null sender: no notice about a
	 * notice, so no loop. */
	en->meta.notice = en->meta.sender[0] ? QUEUE_NOTICE_DUE : QUEUE_NOTICE_NONE;
	if (queue_write_envelope(q, en->id, en->dir, &en->meta, true, e) < 0)
		return -1;
	int err = queue_move_entry(q->wait, q->failed, en->id, true);
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

/*
 * Open PARENT/ID (queue/ or failed/) into EN and take its lock; *ST describes its message. 1
 * when EN is ours, 0 when it is gone or another postie has it (EN released), -1 with ERR_OS.
 */
static int
lock_entry(struct queue *q, int parent, const char *id, struct queue_entry *en, struct stat *st,
           struct err *e)
{
	memset(en, 0, sizeof(*en));
	en->q = q;
	en->fd = en->dir = -1;
	snprintf(en->id, sizeof(en->id), "%s", id);
	en->dir = openat(parent, id, DIR_FLAGS);
	if (en->dir < 0)
		return 0; /* delivered or moved by someone else since the snapshot */
	en->fd = openat(en->dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (en->fd < 0) {
		/* The message goes first when an entry is removed: this is the rest of one. */
		if (errno == ENOENT)
			queue_remove_remains(parent, id, en->dir);
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
	/* A message is a regular file with one name, the queue's: anything else was put there
	 * (a FIFO, a hard link to another file) and is not read, let alone sent. */
	if (!queue_still_there(parent, id, en->dir, en->fd) || fstat(en->fd, st) < 0 ||
	    !S_ISREG(st->st_mode) || st->st_nlink != 1) {
		queue_entry_release(en);
		return 0;
	}
	return 1;
}

/* EN is older than the queue's lifetime: into failed/, reported. */
static void
expire(struct queue_iter *it, struct queue_entry *en)
{
	char span[32], reason[128];
	struct err fe;

	queue_format_age(it->q->lifetime, span, sizeof(span));
	snprintf(reason, sizeof(reason), "expired: in the queue longer than %s (queue_lifetime)",
	         span);
	queue_set_text(&en->meta.fail_reason, reason);
	if (to_failed(en, &fe) == 0) {
		it->expired++;
		report_expired(en);
	} else {
		/* Not a reason to stop the flush: the next one tries again. */
		warn("queue: %s expired but %s", en->id, fe.text);
	}
}

/* Lock and check one snapshot item: 1 taken, 0 skipped, -1 error. */
static int
take(struct queue_iter *it, const char *id, struct queue_entry *en, struct err *e)
{
	struct queue *q = it->q;
	struct err pe;
	struct stat st;
	bool missing;

	int rc = lock_entry(q, it->f.notices ? q->failed : q->wait, id, en, &st, e);
	if (rc <= 0)
		return rc;
	rc = queue_read_envelope(en->dir, &en->meta, &missing, &pe);
	if (it->f.notices) {
		/* failed/: nothing is moved from there; a notice no longer due is skipped. */
		if (rc == 0 && selected(it, id, &en->meta, queue_now(q)))
			return 1;
		queue_entry_release(en);
		return 0;
	}
	if (rc < 0 && pe.kind == ERR_CONFIG) {
		queue_entry_release(en); /* another postie's format: left alone */
		return 0;
	}
	if (rc < 0 || en->meta.size != (uint64_t)st.st_size) {
		int err = queue_move_entry(q->wait, q->corrupt, id, true);
		if (!err)
			it->set_aside++;
		warn("queue: entry %s: %s; %s %s/corrupt/%s, it will not be sent", id,
		     rc < 0 ? pe.text : "its message is not the size its envelope says",
		     err ? "could not move it to" : "moved to", q->path, id);
		queue_entry_release(en);
		return 0;
	}
	time_t t = queue_now(q);
	if (en->meta.failed) {
		/* A failure recorded but not yet moved (interrupted): finish the move. */
		queue_move_entry(q->wait, q->failed, id, true);
		queue_entry_release(en);
		return 0;
	}
	if (!selected(it, id, &en->meta, t)) {
		queue_entry_release(en); /* retried by someone else meanwhile */
		return 0;
	}
	if (expired(q, &en->meta, t)) {
		expire(it, en);
		queue_entry_release(en);
		return 0;
	}
	return 1;
}

static int
iter_next(struct queue_iter *it, struct queue_entry *en, struct err *e)
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

static int
entry_done(struct queue_entry *en, struct err *e)
{
	struct queue *q = en->q;
	int rc = 0;

	/* Unlinking the message settles it: after that nothing can send it again. */
	if (unlinkat(en->dir, MESSAGE, 0) < 0 && errno != ENOENT) {
		rc = err_set(e, ERR_OS, "remove queue entry %s from %s: %s", en->id, q->path,
		             strerror(errno));
	} else {
		int err = queue_remove_entry(q->wait, en->id, en->dir);
		if (!err)
			err = io_sync(q->wait);
		if (err)
			warn("queue: entry %s was delivered but not removed whole from %s: %s",
			     en->id, q->path, strerror(err));
	}
	queue_entry_release(en);
	return rc;
}

static int
entry_retry(struct queue_entry *en, const char *last_reply, struct err *e)
{
	struct queue_meta *m = &en->meta;
	size_t pending, failed;
	int rc;

	queue_drop_sent(m, &pending, &failed);
	if (pending == 0 && failed == 0)
		return queue_entry_done(en, e);
	if (last_reply)
		queue_set_text(&m->last_reply, last_reply);
	time_t t = queue_now(en->q);
	m->attempts++;
	m->last_attempt = t;
	if (pending == 0) {
		rc = to_failed(en, e); /* every recipient left was refused permanently */
	} else {
		m->next_attempt = t + queue_backoff(m->attempts);
		rc = queue_write_envelope(en->q, en->id, en->dir, m, true, e);
	}
	queue_entry_release(en);
	return rc;
}

static int
entry_fail(struct queue_entry *en, const char *reason, struct err *e)
{
	size_t pending, failed;

	queue_drop_sent(&en->meta, &pending, &failed);
	if (en->meta.nrcpts == 0)
		return queue_entry_done(en, e); /* every recipient had it already */
	if (reason)
		queue_set_text(&en->meta.last_reply, reason);
	int rc = to_failed(en, e);
	queue_entry_release(en);
	return rc;
}

int
queue_iter_start(struct queue *q, struct queue_iter *it, const struct queue_filter *f,
                 struct err *e)
{
	queue_group_hold(q);
	int rc = iter_start(q, it, f, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_iter_next(struct queue_iter *it, struct queue_entry *en, struct err *e)
{
	struct queue *q = it->q;

	queue_group_hold(q);
	int rc = iter_next(it, en, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_entry_done(struct queue_entry *en, struct err *e)
{
	struct queue *q = en->q;

	queue_group_hold(q);
	int rc = entry_done(en, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_entry_retry(struct queue_entry *en, const char *last_reply, struct err *e)
{
	struct queue *q = en->q;

	queue_group_hold(q);
	int rc = entry_retry(en, last_reply, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_entry_fail(struct queue_entry *en, const char *reason, struct err *e)
{
	struct queue *q = en->q;

	queue_group_hold(q);
	int rc = entry_fail(en, reason, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_entry_noticed(struct queue_entry *en, enum queue_notice state, struct err *e)
{
	struct queue *q = en->q;

	queue_group_hold(q);
	en->meta.notice = state;
	int rc = queue_write_envelope(q, en->id, en->dir, &en->meta, true, e);
	queue_entry_release(en);
	queue_group_let_go(q);
	return rc;
}
