/*
 * queue_int: what the queue's parts share (queue.c: the directories, the copy;
 * queue_envelope.c: the on-disk format; queue_policy.c: due, backoff, lifetime, flush
 * selection; queue_share.c: the system spool's shares; queue_admin.c: mailq, delete, retry).
 * Internal to the queue: no other module includes it; the queue's contract is queue.h.
 */
#ifndef POSTIE_QUEUE_INT_H
#define POSTIE_QUEUE_INT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "err.h"
#include "queue.h"

#define MESSAGE "message"
#define ENVELOPE "envelope"
#define ENVELOPE_NEW "envelope.new"
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct queue_item {
	char id[QUEUE_ID_MAX];
	char *account; /* NULL: the envelope could not be read (sorted last) */
};

/*
 * SEC-45: on the system spool (root:GROUP 1770, nothing for others) every lookup of a name
 * in it (openat, mkdirat, renameat, unlinkat, fstatat through its directory descriptors)
 * needs the group: hold it from queue_group_hold to queue_group_let_go around a queue
 * operation (nested calls count). The names are postie's own (the four directories, entry
 * ids, message, envelope), never the caller's. Nothing on another queue.
 */
void queue_group_hold(struct queue *q);
void queue_group_let_go(struct queue *q);

/* Now, in seconds: the test clock when the queue has one (q->now), else time(). */
time_t queue_now(const struct queue *q);

/* An ERR_OS for writing WHAT of entry ID; "queue full" when it is a matter of space. */
int queue_write_error(struct err *e, const struct queue *q, const char *what, const char *id,
                      int err);

/* close *FD when it is open, and mark it closed (-1). */
void queue_close_fd(int *fd);

/* Ids are made by queue_make_id; anything else in a queue directory is not ours to touch. */
bool queue_valid_id(const char *s);

/* UTC time with microseconds (sorts by age), pid and 32 random bits (never collides). */
void queue_make_id(char *out, size_t n);

/* Replace the string *DST (freed) by a copy of S made one line (line ends and tabs as spaces,
 * other controls as ?, trailing spaces cut); NULL: none. */
void queue_set_text(char **dst, const char *s);

/* Append the recipient ADDR (N bytes) to M, its state zeroed (pending); the new entry. */
struct queue_rcpt *queue_add_rcpt(struct queue_meta *m, const char *addr, size_t n);

/* Drop the recipients the server accepted: they must never get the message again. */
void queue_drop_sent(struct queue_meta *m, size_t *pending, size_t *failed);

/* Replace DIR/envelope with M: written to envelope.new, renamed; with SYNC both synced. */
int queue_write_envelope(const struct queue *q, const char *id, int dir, const struct queue_meta *m,
                         bool sync, struct err *e);

/*
 * Read DIR/envelope into M. *MISSING tells "there is none" (a copy never completed) from
 * "it cannot be used" (ERR_DATA, or ERR_CONFIG for another version).
 */
int queue_read_envelope(int dir, struct queue_meta *m, bool *missing, struct err *e);

/*
 * After taking the lock: is PARENT/ID still the directory DIR, holding the file FD? The
 * previous owner may have removed or moved the entry just before letting go of it.
 */
bool queue_still_there(int parent, const char *id, int dir, int fd);

/*
 * Remove PARENT/ID (its directory DIR): the message first, so that an interrupted removal
 * can never leave something that would be sent again. 0, or the first errno.
 */
int queue_remove_entry(int parent, const char *id, int dir);

/*
 * The rest of an entry that has no message: a removal that was interrupted, or a copy whose
 * writer is creating its message this instant. The message is never touched here (it may
 * be that writer's), so at worst the rmdir fails and the writer goes on.
 */
void queue_remove_remains(int parent, const char *id, int dir);

/* Move ID from one queue directory to another; with SYNC both directories are synced. */
int queue_move_entry(int from, int to, const char *id, bool sync);

/* The names in directory FD that are entry ids. */
int queue_list_ids(const struct queue *q, int fd, const char *name, char ***ids, size_t *n,
                   struct err *e);

/* Free what queue_list_ids returned. */
void queue_free_ids(char **ids, size_t n);

/*
 * SEC-46 (queue_share.c). The bytes the caller may still queue in Q: UINT64_MAX unless Q is
 * the system spool and the caller is not root; there, the rest of the caller's share
 * (entries and MiB over tmp/, queue/, failed/, corrupt/) and of the file system above its
 * kept part. ERR_TEMP, saying which and what to do, when there is none.
 */
int queue_system_room(struct queue *q, uint64_t *room, struct err *e);

/* The ERR_TEMP for a copy that outgrew its room (SIZE bytes). */
int queue_system_over(const struct queue *q, uint64_t size, struct err *e);

/* Root's flush of the system spool: remove failed/ and corrupt/ entries older than the
 * build's keep-days, saying so. Nothing on another queue or for another caller. */
void queue_system_tidy(struct queue *q);

/* A duration as mailq shows it: 45s, 12m, 3h, 5d. */
void queue_format_age(time_t age, char *out, size_t n);

#endif
