/*
 * session_data: a message's data on the wire, for session.c's transactions: through the
 * DATA encoder (dot-stuffed, ended by the dot) or as BDAT chunks (RFC 3030), with the
 * server's SIZE as the ceiling (SEC-35), the progress line of a big send and the warning
 * about long lines as the bytes go.
 */
#include "session.h"
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "dot.h"
#include "io.h"
#include "log.h"
#include "progress.h"

/* SEC-35: a message of unknown size is stopped, never ended, when it outgrows the limit. */
static int
check_limit(struct smtp *s, const struct dot *enc, struct err *e)
{
	unsigned long limit = s->caps.size;
	if (limit && limit != (unsigned long)-1 && enc->out_bytes > limit)
		return err_set(e, ERR_DATA,
		               "send message to %s: larger than the server's limit "
		               "of %lu bytes (SIZE); nothing was delivered",
		               s->conn.peer, limit);
	return 0;
}

/*
 * What the data loops report as they go: the progress line of a big send on a terminal
 * (progress.h; not under -v, whose lines it would break) and, once a message, the warning
 * about lines over 998 octets (source_warn_lines), with the progress line out of its way.
 */
struct watch {
	struct progress pg;
	struct source *src;
};

static void
watch_start(struct watch *w, const struct smtp *s, struct source *src)
{
	size_t width;
	FILE *out = progress_terminal(log_is_verbose(), &width);
	uint64_t total = src->complete || src->sized ? src->size : 0;

	progress_start(&w->pg, out, total, s->conn.peer, width, io_clock_ms());
	w->src = src;
}

static void
watch_step(struct watch *w, const struct dot *enc)
{
	if (source_note_lines(w->src, enc)) {
		progress_clear(&w->pg);
		source_warn_lines(w->src);
	}
	progress_update(&w->pg, enc->out_bytes, io_clock_ms());
}

/* The data is out (or abandoned): the line goes, the counts of the whole message stay. */
static void
watch_end(struct watch *w, const struct dot *enc)
{
	progress_clear(&w->pg);
	if (source_note_lines(w->src, enc))
		source_warn_lines(w->src);
}

int
session_data_send(struct smtp *s, struct source *src, struct err *e)
{
	struct dot enc;
	struct watch w;
	dot_init(&enc, !src->ignore_dots);
	watch_start(&w, s, src);
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, smtp_data_sink, s, e) < 0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len, smtp_data_sink,
	               s, e) < 0) {
		watch_end(&w, &enc);
		return -1;
	}
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = 0;
	for (;;) {
		watch_step(&w, &enc);
		rc = check_limit(s, &enc, e);
		if (rc < 0 || src->at_end || enc.ended)
			break;
		ssize_t n = source_read(src, chunk, SOURCE_READ_CHUNK, e);
		if (n < 0)
			rc = -1;
		else if (n > 0)
			rc = dot_encode(&enc, chunk, (size_t)n, smtp_data_sink, s, e);
		if (rc < 0)
			break;
	}
	if (rc == 0 && enc.ended)
		source_complete(src);
	free(chunk);
	if (rc == 0)
		rc = dot_finish(&enc, smtp_data_sink, s, e);
	watch_end(&w, &enc);
	if (rc == 0)
		log_info("message: %llu bytes sent in %lu writes",
		         (unsigned long long)enc.out_bytes, s->conn.writes);
	return rc;
}

/* A dot_sink that gathers BDAT chunk bytes. */
static int
chunk_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	return buf_append(ctx, p, n, e);
}

int
session_data_bdat(struct smtp *s, struct source *src, bool quit, struct err *e)
{
	struct dot enc;
	struct buf chunk;
	struct watch w;
	int rc = -1;

	dot_init(&enc, !src->ignore_dots);
	enc.bdat = true;
	watch_start(&w, s, src);
	buf_init(&chunk, 4 * SOURCE_READ_CHUNK);
	char *in = xmalloc(SOURCE_READ_CHUNK);
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, chunk_sink, &chunk, e) <
	        0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len, chunk_sink,
	               &chunk, e) < 0)
		goto out;
	while (check_limit(s, &enc, e) == 0) {
		watch_step(&w, &enc);
		if (src->at_end || enc.ended) {
			source_complete(src);
			if (dot_finish(&enc, chunk_sink, &chunk, e) < 0 ||
			    smtp_bdat_chunk(s, chunk.data ? chunk.data : "", chunk.len, true, quit,
			                    e) < 0 ||
			    smtp_bdat_end(s, e) < 0)
				goto out;
			log_info("message: %llu bytes sent as %zu BDAT chunk%s in %lu writes",
			         (unsigned long long)enc.out_bytes, s->bdat.chunks,
			         s->bdat.chunks == 1 ? "" : "s", s->conn.writes);
			rc = 0;
			break;
		}
		if (chunk.len >= SOURCE_READ_CHUNK) {
			if (smtp_bdat_chunk(s, chunk.data, chunk.len, false, false, e) < 0)
				goto out;
			buf_reset(&chunk);
		}
		ssize_t n = source_read(src, in, SOURCE_READ_CHUNK, e);
		if (n < 0 || (n > 0 && dot_encode(&enc, in, (size_t)n, chunk_sink, &chunk, e) < 0))
			goto out;
	}
out:
	watch_end(&w, &enc);
	free(in);
	buf_fini(&chunk);
	return rc;
}
