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
#include "dot.h"
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
	bool sized;      /* FD is a regular file and SIZE holds the exact size before the end
	                    is read (source_read_ahead measured the rest with pread) */
	bool sized_8bit; /* when sized: the whole message holds an octet above 127 */
	/* Lines over DOT_LINE_MAX octets (RFC 5322 §2.1.1), as far as an encoder has seen */
	uint64_t long_lines;
	uint64_t long_first; /* the first one's line number in the message as sent */
	size_t long_first_len;
	bool long_warned; /* the warning was given (once a message) */
};

/*
 * Read the whole message body, REST (N bytes, what the header scanner read past the header)
 * then, when MORE, FD to its end, into an unlinked temporary file in the directory DIRFD (or
 * $TMPDIR, else /tmp, when DIRFD is -1), as it will be sent: every line end CRLF, no
 * dot-stuffing, up to a line of "." when STOP_AT_DOT (the dot encoder in BDAT mode; a NUL is
 * ERR_DATA). TAP (with CTX) sees those bytes too, as they are written. Returns the file's
 * fd at offset 0 (the caller closes it), or -1 with ERR_OS or ERR_DATA. For a signature that
 * goes before the header (DKIM): the input is still read once, memory stays flat.
 */
int source_spool(int dirfd, const char *rest, size_t n, int fd, bool more, bool stop_at_dot,
                 dot_sink tap, void *ctx, struct err *e);

/* Set up SRC over HEAD and FD. Nothing is read yet. */
void source_init(struct source *src, const char *head, size_t head_len, int fd, bool ignore_dots,
                 struct queue_copy *copy);
void source_fini(struct source *src);

/*
 * Read up to SOURCE_READ_AHEAD bytes (after what AHEAD already holds). When the message
 * ends within them, measure it as it will be sent (line ends made CRLF, no dot-stuffing:
 * the message, not its transport) and mark it complete; a NUL there is found before any
 * connection (ERR_DATA). When it does not and FD is a regular file, the rest is measured
 * the same way with pread, FD's offset untouched (src->sized; a NUL anywhere is found now).
 * Lines over 998 octets seen by either measure are warned about at once. ERR_OS when
 * reading fails.
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

/* Whether the part of the message read so far (the whole of it when sized) holds an octet
 * above 127 (RFC 6152). */
bool source_8bit(const struct source *src);

/*
 * Take the line counts of ENC, an encoder of this message's bytes (the send's, or the
 * measure's). True when the message has just been found to hold a line over DOT_LINE_MAX
 * octets and no warning has been given: call source_warn_lines (after clearing whatever
 * shares the terminal line).
 */
bool source_note_lines(struct source *src, const struct dot *enc);

/* "postie: warning: line N of the body is M octets long; ..." on stderr, once a message. */
void source_warn_lines(struct source *src);

/*
 * When the message holds lines over DOT_LINE_MAX octets, append to E why a server may have
 * refused it for that, with the first one's place and how to fix it.
 */
void source_lines_hint(const struct source *src, struct err *e);

#endif
