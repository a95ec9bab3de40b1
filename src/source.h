/*
 * source: where one message's bytes come from. The rewritten header section, then what was
 * read ahead, then the input to its end; a copy of every byte read from the input goes to
 * the queue (queue_copy), and the copy's envelope is written once the end is known.
 */
#ifndef POSTIE_SOURCE_H
#define POSTIE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "buf.h"
#include "err.h"
#include "queue.h"

#define SOURCE_READ_CHUNK (64 * 1024)
/* How much of the body is read before connecting: a message that ends within it has an
 * exact size for SIZE= (RFC 1870) before MAIL, and goes in the same write as the envelope
 * (BDAT LAST). */
#define SOURCE_READ_AHEAD (64 * 1024)

/* Where one message's bytes come from: HEAD, then AHEAD, then FD to its end. */
struct source {
	const char *head; /* the rewritten header section (or NULL); not owned */
	size_t head_len;
	struct buf ahead;        /* bytes read ahead from FD */
	int fd;                  /* the rest, read to its end */
	bool at_end;             /* FD has been read to its end */
	bool complete;           /* the end of the message is known: FD's end, or (without -i)
	                            a line of "." */
	bool ignore_dots;        /* -i: a line of "." is data, not the end */
	unsigned long long size; /* the message size, exact once complete (RFC 1870 §3) */
	struct queue_copy *copy; /* every byte read from FD is also written here, or NULL */
	bool pulling;            /* FD's bytes go into the copy in the kernel and are read back */
	bool no_pull;            /* that cannot be done: read FD and write the copy */
	uint64_t pull_off;       /* when pulling: the copy's offset of the next byte to give */
	const struct queue_meta *meta; /* the copy's envelope, written once complete */
};

/* Set up SRC over HEAD and FD. Nothing is read yet. */
void source_init(struct source *src, const char *head, size_t head_len, int fd, bool ignore_dots,
                 struct queue_copy *copy);
void source_fini(struct source *src);

/*
 * Read up to SOURCE_READ_AHEAD bytes (after what AHEAD already holds). When the message
 * ends within them, measure it as it will be sent (line ends made CRLF, no dot-stuffing:
 * the message, not its transport) and mark it complete; a NUL there is found before any
 * connection (ERR_DATA). ERR_OS when reading fails.
 */
int source_read_ahead(struct source *src, struct err *e);

/* The end of the message is known: mark the queue copy complete (its envelope written), so
 * that from now on no kill can lose it. */
void source_complete(struct source *src);

/* Read the rest of the message into the copy only (to queue what the session could not
 * send). Stops at FD's end, or at once when the message is already complete. */
int source_drain(struct source *src, struct err *e);

/*
 * Read once from SRC's fd into P (up to N bytes); the bytes go to the queue copy too. The
 * count, 0 at the end (the source is then complete), or -1 with ERR_OS.
 */
ssize_t source_read(struct source *src, char *p, size_t n, struct err *e);

/* Whether the part of the message read so far holds an octet above 127 (RFC 6152). */
bool source_8bit(const struct source *src);

#endif
