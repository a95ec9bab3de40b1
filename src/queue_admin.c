/*
 * queue_admin: what a person does with the queue by hand. mailq (postie -bp) in Postfix's
 * layout, the count of waiting entries a run reports, and postie --queue-delete and
 * --queue-retry, each taking the entry's lock first so an entry being sent is never touched.
 */
#include "queue.h"
#include "queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

/* --- mailq --- */

#define LIST_WIDTH 80  /* reasons are folded to this */
#define LIST_ID_COL 39 /* the id and its mark */
#define LIST_RCPT_COL 40

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
		l->ok = queue_read_envelope(dir, &l->m, &missing, &pe) == 0;
		if (!l->ok)
			snprintf(l->why, sizeof(l->why), "%s", missing ? "being removed" : pe.text);
		close(dir);
		++*k;
	}
}

/* A time as mailq shows it: "Jun 14 10:15", local time (postie never sets a locale: C). */
static void
list_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) || strftime(out, n, "%b %e %H:%M", &tm) == 0)
		snprintf(out, n, "%lld", (long long)t);
}

/* "(TEXT)" folded to LIST_WIDTH columns at spaces; continuation lines indented by one. */
static void
put_reason(FILE *out, const char *text)
{
	size_t col = 1;
	bool first = true;

	fputc('(', out);
	for (const char *p = text + strspn(text, " "); *p; p += strspn(p, " ")) {
		size_t w = strcspn(p, " ");
		bool last = p[w + strspn(p + w, " ")] == '\0';
		if (!first && col + 1 + w + last > LIST_WIDTH) {
			fputs("\n ", out);
			col = 1;
		} else if (!first) {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, w, out);
		col += w;
		p += w;
		first = false;
	}
	fputs(")\n", out);
}

/* Why recipient R of entry L has not had the message (into B), or "" when no reason is
 * known yet (never tried). */
static void
rcpt_reason(const struct listed *l, const struct queue_rcpt *r, char *b, size_t n)
{
	const struct queue_meta *m = &l->m;
	const char *reply = r->reply ? r->reply : m->last_reply;

	if (r->state == QUEUE_RCPT_FAILED)
		snprintf(b, n, "refused for good: %s", reply ? reply : "no reply kept");
	else if (l->failed && m->fail_reason)
		snprintf(b, n, "given up: %s%s%s", m->fail_reason, reply ? "; last reply: " : "",
		         reply ? reply : "");
	else if (l->failed)
		snprintf(b, n, "given up: %s", reply ? reply : "no reply kept");
	else
		snprintf(b, n, "%s", reply ? reply : "");
}

/* postie -bp -v: what the entry's envelope says beyond the block, indented by two. */
static void
put_details(FILE *out, const struct queue_meta *m)
{
	static const char *const notices[] = {"none", "due (the next flush sends it)", "sent",
	                                      "dropped"};
	char last[32] = "never", next[32];

	if (m->last_attempt)
		list_time(m->last_attempt, last, sizeof(last));
	list_time(m->next_attempt, next, sizeof(next));
	fprintf(out, "  account %s%s%s\n", m->account, m->profile ? " of " : "",
	        m->profile ? m->profile : "");
	fprintf(out, "  attempts %u (last %s, next not before %s)%s\n", m->attempts, last,
	        m->failed ? "-" : next, m->unsure ? ", some without a verdict in step" : "");
	if (m->mail_params)
		fprintf(out, "  mail parameters %s\n", m->mail_params);
	if (m->ip_family)
		fprintf(out, "  ip family %s (kept from the command line)\n",
		        queue_family_name(m->ip_family));
	for (size_t j = 0; j < m->nrcpts; j++)
		if (m->rcpts[j].params)
			fprintf(out, "  %s: %s\n", m->rcpts[j].addr, m->rcpts[j].params);
	if (m->retried) {
		list_time(m->retried, last, sizeof(last));
		fprintf(out, "  retried %s\n", last);
	}
	if (m->failed) {
		list_time(m->failed, last, sizeof(last));
		fprintf(out, "  failed %s; notice to the sender: %s\n", last,
		        (unsigned)m->notice < 4 ? notices[m->notice] : "?");
	}
}

/* One entry's block and the empty line after it. */
static void
put_block(FILE *out, const struct listed *l, bool verbose)
{
	const struct queue_meta *m = &l->m;
	char id[QUEUE_ID_MAX + 1], when[32], reason[QUEUE_REPLY_MAX * 2 + 64], prev[sizeof(reason)];

	snprintf(id, sizeof(id), "%s%s", l->id, l->failed ? "!" : "");
	if (!l->ok) {
		fprintf(out, "%-*s %8s %-12s (%s)\n\n", LIST_ID_COL, id, "-", "-", l->why);
		return;
	}
	list_time(m->queued, when, sizeof(when));
	fprintf(out, "%-*s %8llu %-12s %s\n", LIST_ID_COL, id, (unsigned long long)m->size, when,
	        m->sender[0] ? m->sender : "<>");
	prev[0] = '\0';
	for (size_t j = 0; j < m->nrcpts; j++) {
		rcpt_reason(l, &m->rcpts[j], reason, sizeof(reason));
		if (reason[0] && strcmp(reason, prev) != 0)
			put_reason(out, reason);
		memcpy(prev, reason, sizeof(prev));
		fprintf(out, "%*s%s\n", LIST_RCPT_COL, "", m->rcpts[j].addr);
	}
	if (verbose)
		put_details(out, m);
	fputc('\n', out);
}

static int
list_entries(struct queue *q, FILE *out, struct err *e)
{
	char **wait_ids = NULL, **failed_ids = NULL, **corrupt_ids = NULL;
	size_t nw = 0, nf = 0, nc = 0, k = 0;

	if (queue_list_ids(q, q->wait, "queue", &wait_ids, &nw, e) < 0 ||
	    queue_list_ids(q, q->failed, "failed", &failed_ids, &nf, e) < 0 ||
	    queue_list_ids(q, q->corrupt, "corrupt", &corrupt_ids, &nc, e) < 0) {
		queue_free_ids(wait_ids, nw);
		queue_free_ids(failed_ids, nf);
		return -1;
	}
	struct listed *l = xcalloc(nw + nf + 1, sizeof(*l));
	collect(q->wait, false, wait_ids, nw, l, &k);
	collect(q->failed, true, failed_ids, nf, l, &k);
	queue_free_ids(wait_ids, nw);
	queue_free_ids(failed_ids, nf);
	queue_free_ids(corrupt_ids, nc);
	qsort(l, k, sizeof(*l), listed_cmp);

	unsigned long long total = 0;
	size_t nfailed = 0;
	if (k == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "%-*s %8s %-12s %s\n", LIST_ID_COL, "-Queue ID-", "--Size--",
		        "--Arrival---", "-Sender/Recipient-");
	for (size_t i = 0; i < k; i++) {
		nfailed += l[i].failed;
		total += l[i].ok ? l[i].m.size : 0;
		put_block(out, &l[i], log_is_verbose());
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

int
queue_list(struct queue *q, FILE *out, struct err *e)
{
	queue_group_hold(q);
	int rc = list_entries(q, out, e);
	queue_group_let_go(q);
	return rc;
}

int
queue_count(struct queue *q, size_t *waiting, size_t *failed, struct err *e)
{
	char **ids;
	int rc;

	*waiting = *failed = 0;
	queue_group_hold(q);
	rc = queue_list_ids(q, q->wait, "queue", &ids, waiting, e);
	if (rc == 0)
		queue_free_ids(ids, *waiting);
	if (rc == 0)
		rc = queue_list_ids(q, q->failed, "failed", &ids, failed, e);
	if (rc == 0)
		queue_free_ids(ids, *failed);
	queue_group_let_go(q);
	return rc;
}

/* A duration as mailq shows it: 45s, 12m, 3h, 5d. */
void
queue_format_age(time_t age, char *out, size_t n)
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

/* --- postie --queue-delete, --queue-retry --- */

/* Where an entry NAME names is: the directory and its name. */
struct found {
	int parent;
	const char *where;
	char id[QUEUE_ID_MAX];
	size_t matches; /* ids NAME is the start of */
	bool exact;
};

/* Look for NAME in directory FD (called WHERE) and note it in F. */
static int
find_in(struct queue *q, int fd, const char *where, const char *name, struct found *f,
        struct err *e)
{
	char **ids;
	size_t n, len = strlen(name);

	if (queue_list_ids(q, fd, where, &ids, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n && !f->exact; i++) {
		if (strncmp(ids[i], name, len) != 0)
			continue;
		f->exact = ids[i][len] == '\0';
		f->matches = f->exact ? 1 : f->matches + 1;
		f->parent = fd;
		f->where = where;
		snprintf(f->id, sizeof(f->id), "%s", ids[i]);
	}
	queue_free_ids(ids, n);
	return 0;
}

/* The one entry NAME names, into F (OP: a retry never looks in corrupt/). */
static int
find_entry(struct queue *q, enum queue_admin_op op, const char *name, struct found *f,
           struct err *e)
{
	memset(f, 0, sizeof(*f));
	f->parent = -1;
	if (!name[0] || strspn(name, "0123456789abcdefghijklmnopqrstuvwxyz.-") != strlen(name) ||
	    strlen(name) >= QUEUE_ID_MAX)
		return err_set(e, ERR_USAGE, "find queue entry \"%s\": not a queue id; see mailq",
		               name);
	if (find_in(q, q->wait, "queue", name, f, e) < 0 ||
	    (!f->exact && find_in(q, q->failed, "failed", name, f, e) < 0) ||
	    (!f->exact && find_in(q, q->corrupt, "corrupt", name, f, e) < 0))
		return -1;
	if (f->matches == 0)
		return err_set(e, ERR_USAGE,
		               "find queue entry %s: no entry %s that id in %s; see mailq", name,
		               q->mine_only ? "of yours has" : "has", q->path);
	if (f->matches > 1)
		return err_set(e, ERR_USAGE,
		               "find queue entry %s: the start of %zu ids; give more of it (mailq "
		               "lists them)",
		               name, f->matches);
	if (op == QUEUE_ADMIN_RETRY && f->parent == q->corrupt)
		return err_set(
		    e, ERR_USAGE,
		    "retry queue entry %s: it was set aside in %s/corrupt and can never be "
		    "sent; delete it (postie --queue-delete %s)",
		    f->id, q->path, f->id);
	return 0;
}

/* The entry F names, locked: its directory in *DIR and its message in *FD (-1: it has none,
 * the rest of an interrupted removal). */
static int
lock_found(struct queue *q, const struct found *f, int *dir, int *fd, struct err *e)
{
	*fd = -1;
	*dir = openat(f->parent, f->id, DIR_FLAGS);
	if (*dir < 0)
		return err_set(e, ERR_TEMP, "open queue entry %s: %s; try again", f->id,
		               strerror(errno));
	*fd = openat(*dir, MESSAGE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0)
		return errno == ENOENT
		           ? 0
		           : err_set(e, ERR_OS, "open queue entry %s: %s", f->id, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(e, errno == EWOULDBLOCK ? ERR_TEMP : ERR_OS,
		               "lock queue entry %s: %s", f->id,
		               errno == EWOULDBLOCK
		                   ? "another postie is sending it right now; try again when it "
		                     "is done (mailq)"
		                   : strerror(errno));
	if (!queue_still_there(f->parent, f->id, *dir, *fd))
		return err_set(e, ERR_TEMP,
		               "lock queue entry %s: it was delivered, moved or removed meanwhile; "
		               "see mailq",
		               f->id);
	return 0;
}

/* Retry the locked entry F (directory DIR): due now, from failed/ back into queue/. */
static int
requeue(struct queue *q, const struct found *f, int dir, struct err *e)
{
	struct queue_meta m;
	bool missing;

	if (queue_read_envelope(dir, &m, &missing, e) < 0) {
		err_append(e, "; queue entry %s cannot be retried, only deleted", f->id);
		return -1;
	}
	time_t t = queue_now(q);
	m.next_attempt = t;
	m.retried = t; /* a fresh queue_lifetime */
	if (f->parent == q->failed) {
		/* Postfix's postsuper -r: every recipient left is tried again. */
		for (size_t i = 0; i < m.nrcpts; i++)
			m.rcpts[i].state = QUEUE_RCPT_PENDING;
		m.failed = 0;
		m.notice = QUEUE_NOTICE_NONE;
		m.unsure = 0;
		queue_set_text(&m.fail_reason, NULL);
	}
	int rc = queue_write_envelope(q, f->id, dir, &m, true, e);
	queue_meta_fini(&m);
	if (rc == 0 && f->parent == q->failed) {
		int err = queue_move_entry(q->failed, q->wait, f->id, true);
		if (err)
			rc = err_set(e, ERR_OS, "move queue entry %s back into %s/queue: %s", f->id,
			             q->path, strerror(err));
	}
	return rc;
}

static int
admin(struct queue *q, enum queue_admin_op op, const char *name, char *id, const char **where,
      struct err *e)
{
	struct found f;
	int dir = -1, fd = -1, rc;

	if (find_entry(q, op, name, &f, e) < 0)
		return -1;
	snprintf(id, QUEUE_ID_MAX, "%s", f.id);
	*where = f.where;
	rc = lock_found(q, &f, &dir, &fd, e);
	if (rc == 0 && op == QUEUE_ADMIN_RETRY && fd < 0)
		rc = err_set(e, ERR_TEMP, "retry queue entry %s: it is being removed", f.id);
	else if (rc == 0 && op == QUEUE_ADMIN_RETRY)
		rc = requeue(q, &f, dir, e);
	else if (rc == 0) {
		/* The message first: after that nothing can send it. */
		int err = queue_remove_entry(f.parent, f.id, dir);
		if (!err)
			err = io_sync(f.parent);
		if (err)
			rc = err_set(e, ERR_OS, "delete queue entry %s from %s: %s", f.id, q->path,
			             strerror(err));
	}
	queue_close_fd(&fd); /* lets go of the lock */
	queue_close_fd(&dir);
	return rc;
}

int
queue_admin(struct queue *q, enum queue_admin_op op, const char *name, char *id, const char **where,
            struct err *e)
{
	queue_group_hold(q);
	int rc = admin(q, op, name, id, where, e);
	queue_group_let_go(q);
	return rc;
}
