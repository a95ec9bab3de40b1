/*
 * source: where one message's bytes come from, and their copy into the queue. The rewritten
 * header, then what was read ahead, then standard input to its end; every byte read from the
 * input also goes to the queue copy (pulled in the kernel where it can be), and the copy's
 * envelope is written the moment the end of the message is known.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

void
source_init(struct source *src, const char *head, size_t head_len, int fd, bool ignore_dots,
            struct queue_copy *copy)
{
	memset(src, 0, sizeof(*src));
	src->head = head;
	src->head_len = head_len;
	buf_init(&src->ahead, SOURCE_READ_AHEAD + SOURCE_READ_CHUNK);
	src->fd = fd;
	src->ignore_dots = ignore_dots;
	src->copy = copy;
}

void
source_fini(struct source *src)
{
	buf_fini(&src->ahead);
}

/* How much one pull moves from the input into the queue copy. */
#define PULL_MAX (1024 * 1024)

/*
 * With a queue copy, the input goes into the copy first, inside the kernel, a megabyte at a
 * time (queue_copy_pull), and is read back from the page cache: no write per read for the
 * copy. Returns as source_read; -2 when pulling is not possible (then read the plain way).
 */
static ssize_t
pull_read(struct source *src, char *p, size_t n, struct err *e)
{
	struct queue_copy *c = src->copy;

	if (!src->pulling) {
		src->pulling = true;
		src->pull_off = c->size;
		/* A bigger pipe lets one pull move more (Linux; refused elsewhere, harmless). */
		fcntl(src->fd, F_SETPIPE_SZ, PULL_MAX);
	}
	if (src->pull_off == c->size) {
		ssize_t k = queue_copy_pull(c, src->fd, PULL_MAX);
		if (k == -2) {
			src->no_pull = true;
			return -2;
		}
		if (k == 0) {
			src->at_end = true;
			source_complete(src);
			return 0;
		}
	}
	size_t want = n < c->size - src->pull_off ? n : (size_t)(c->size - src->pull_off);
	ssize_t r = queue_copy_read(c, src->pull_off, p, want);
	if (r <= 0)
		return err_set(e, ERR_OS, "read message back from the queue copy: %s",
		               r < 0 ? strerror(errno) : "short file");
	src->pull_off += (uint64_t)r;
	return r;
}

/* Read once from the source's fd into P; the bytes go to the queue copy too. 0 at the end. */
ssize_t
source_read(struct source *src, char *p, size_t n, struct err *e)
{
	/* Bytes already pulled into the copy come first, also after pulling had to stop. */
	bool buffered = src->pulling && src->pull_off < src->copy->size;
	if (src->copy && (buffered || !src->no_pull)) {
		ssize_t r = pull_read(src, p, n, e);
		if (r != -2)
			return r;
	}
	for (;;) {
		ssize_t r = read(src->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_OS, "read message: %s; nothing was delivered",
			               strerror(errno));
		if (r == 0) {
			src->at_end = true;
			source_complete(src);
		}
		/* A copy that fails keeps its error; the delivery goes on (queue_copy_write). */
		else if (src->copy)
			queue_copy_write(src->copy, p, (size_t)r, NULL);
		return r;
	}
}

/* The spool's sink: the tap, then the file. */
struct spool {
	int fd;
	dot_sink tap;
	void *ctx;
};

static int
spool_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	struct spool *s = ctx;
	if (s->tap(s->ctx, p, n, e) < 0)
		return -1;
	int r = io_write_all(s->fd, p, n);
	if (r)
		return err_set(e, ERR_OS,
		               "write the message's spool file: %s; nothing was delivered",
		               strerror(r));
	return 0;
}

/* An unlinked file to write and read: O_TMPFILE where the file system has it. */
static int
spool_open(int dirfd, struct err *e)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	int fd = dirfd >= 0 ? openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
	                    : open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/postie-spool-XXXXXX", tmp) >= (int)sizeof(path))
		return err_set(e, ERR_OS, "make the message's spool file: TMPDIR is too long");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_OS, "make the message's spool file in %s: %s; set TMPDIR",
		               tmp, strerror(errno));
	unlink(path);
	return fd;
}

int
source_spool(int dirfd, const char *rest, size_t n, int fd, bool more, bool stop_at_dot,
             dot_sink tap, void *ctx, struct err *e)
{
	struct spool s = {.fd = spool_open(dirfd, e), .tap = tap, .ctx = ctx};
	if (s.fd < 0)
		return -1;
	struct dot enc;
	dot_init(&enc, stop_at_dot);
	enc.bdat = true;
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = dot_encode(&enc, n ? rest : "", n, spool_sink, &s, e);
	while (rc == 0 && more && !enc.ended) {
		ssize_t r = read(fd, chunk, SOURCE_READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = err_set(e, ERR_OS, "read message: %s; nothing was delivered",
			             strerror(errno));
		else if (r == 0)
			break;
		else
			rc = dot_encode(&enc, chunk, (size_t)r, spool_sink, &s, e);
	}
	free(chunk);
	if (rc == 0)
		rc = dot_finish(&enc, spool_sink, &s, e);
	if (rc == 0 && lseek(s.fd, 0, SEEK_SET) < 0)
		rc = err_set(e, ERR_OS, "rewind the message's spool file: %s", strerror(errno));
	if (rc < 0) {
		close(s.fd);
		return -1;
	}
	return s.fd;
}

static int
count_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	(void)ctx, (void)p, (void)n, (void)e;
	return 0;
}

void
source_complete(struct source *src)
{
	if (src->complete)
		return;
	src->complete = true;
	/* A copy that fails keeps its error for the commit (queue_copy_complete). */
	if (src->copy && src->meta)
		queue_copy_complete(src->copy, src->meta, NULL);
}

/*
 * FD is a regular file: give the rest of it, from FD's offset to its end, to ENC (a measure)
 * with pread, so that FD's offset and so the stream stay where they are. 1 when it was
 * measured, 0 when FD is no regular file (nothing to do), -1 with e set (a NUL, ERR_DATA).
 */
static int
measure_rest(struct source *src, struct dot *enc, struct err *e)
{
	struct stat st;

	if (fstat(src->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	off_t off = lseek(src->fd, 0, SEEK_CUR);
	/* Bytes pulled into the queue copy but not given yet come before FD's offset. */
	uint64_t held = src->pulling ? src->copy->size - src->pull_off : 0;
	if (off < 0 || (uint64_t)off < held)
		return 0;
	off -= (off_t)held;
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = 1;
	while (!enc->ended) {
		ssize_t n = pread(src->fd, chunk, SOURCE_READ_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = 0; /* the send's own reads will say what is wrong */
			break;
		}
		if (n == 0)
			break;
		if (dot_encode(enc, chunk, (size_t)n, count_sink, NULL, e) < 0) {
			rc = -1;
			break;
		}
		off += n;
	}
	free(chunk);
	return rc;
}

/* Lines over 998 octets that a measure found: warned about now, before any connection. */
static void
warn_measured(struct source *src, const struct dot *enc)
{
	if (source_note_lines(src, enc))
		source_warn_lines(src);
}

int
source_read_ahead(struct source *src, struct err *e)
{
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = 0;
	while (!src->at_end && src->ahead.len < SOURCE_READ_AHEAD) {
		ssize_t n = source_read(src, chunk, SOURCE_READ_CHUNK, e);
		if (n < 0 || (n > 0 && buf_append(&src->ahead, chunk, (size_t)n, e) < 0)) {
			rc = -1;
			break;
		}
	}
	free(chunk);
	if (rc < 0)
		return rc;
	/* The message itself: no dot-stuffing, no end marker (RFC 1870 §3). Without -i, a
	 * line of "." may end it early. */
	struct dot enc;
	dot_init(&enc, !src->ignore_dots);
	enc.bdat = true;
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, count_sink, NULL, e) < 0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len, count_sink,
	               NULL, e) < 0)
		return -1;
	if (!src->at_end && !enc.ended) {
		/* A file given as standard input is measured whole: SIZE= then lets the server
		 * refuse a message too big before any of it goes (RFC 1870 §6). */
		rc = measure_rest(src, &enc, e);
		if (rc <= 0 || dot_finish(&enc, count_sink, NULL, e) < 0) {
			warn_measured(src, &enc);
			return rc < 0 ? -1 : 0;
		}
		src->size = enc.out_bytes;
		src->sized = true;
		src->sized_8bit = enc.eight_bit;
		warn_measured(src, &enc);
		return 0;
	}
	if (dot_finish(&enc, count_sink, NULL, e) < 0)
		return -1;
	src->size = enc.out_bytes;
	warn_measured(src, &enc);
	source_complete(src);
	return 0;
}

int
source_drain(struct source *src, struct err *e)
{
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	ssize_t n = 0;
	while (!src->complete && !src->at_end) {
		n = source_read(src, chunk, SOURCE_READ_CHUNK, e);
		if (n < 0)
			break;
	}
	free(chunk);
	if (n < 0)
		return -1;
	source_complete(src);
	return 0;
}

/* Whether the part of the message read so far holds an octet above 127 (RFC 6152). */
bool
source_8bit(const struct source *src)
{
	if (src->sized)
		return src->sized_8bit;
	const unsigned char *parts[] = {(const unsigned char *)src->head,
	                                (const unsigned char *)src->ahead.data};
	size_t lens[] = {src->head ? src->head_len : 0, src->ahead.data ? src->ahead.len : 0};
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < lens[k]; i++)
			if (parts[k][i] >= 0x80)
				return true;
	return false;
}

bool
source_note_lines(struct source *src, const struct dot *enc)
{
	if (enc->long_lines > src->long_lines) {
		src->long_lines = enc->long_lines;
		src->long_first = enc->long_first;
		src->long_first_len = enc->long_first_len;
	}
	return src->long_lines > 0 && !src->long_warned;
}

/* Where the first long line is: "line N of the body" (the header as sent comes first). */
static void
long_place(const struct source *src, char *out, size_t n)
{
	uint64_t head = 0;
	for (size_t i = 0; src->head && i < src->head_len; i++)
		head += src->head[i] == '\n';
	if (src->long_first > head)
		snprintf(out, n, "line %" PRIu64 " of the body", src->long_first - head);
	else
		snprintf(out, n, "line %" PRIu64 " of the header", src->long_first);
}

void
source_warn_lines(struct source *src)
{
	char place[64];

	if (src->long_lines == 0 || src->long_warned)
		return;
	src->long_warned = true;
	long_place(src, place, sizeof(place));
	warn("%s is %zu octets long; RFC 5322 §2.1.1 allows %d, and a server may refuse the "
	     "message: wrap the lines, or encode the body (quoted-printable or base64)",
	     place, src->long_first_len, DOT_LINE_MAX);
}

void
source_lines_hint(const struct source *src, struct err *e)
{
	char place[64];

	if (!e || src->long_lines == 0)
		return;
	long_place(src, place, sizeof(place));
	err_append(e,
	           "; the message has %s over %d octets (the first: %s, %zu octets), which "
	           "RFC 5322 §2.1.1 forbids, and this is likely why: wrap them, or encode the "
	           "body (quoted-printable or base64)",
	           src->long_lines == 1 ? "a line" : "lines", DOT_LINE_MAX, place,
	           src->long_first_len);
}
