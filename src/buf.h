/* buf: growable byte buffers with a ceiling. */
#ifndef POSTIE_BUF_H
#define POSTIE_BUF_H

#include <stddef.h>
#include <stdbool.h>
#include "err.h"

/* Named ceilings (STYLE.md: every buffer that grows has one). */
#define BUF_MAX_REPLY (64 * 1024)    /* one SMTP reply, all lines */
#define BUF_MAX_HEADER (1024 * 1024) /* the header section of a message */
#define BUF_MAX_COMMAND 2048         /* one command we build */
#define BUF_MAX_SECRET (64 * 1024)   /* a password command's output */

struct buf {
	char *data; /* always NUL-terminated when len > 0 or after buf_init */
	size_t len;
	size_t cap;
	size_t max;  /* ceiling on len */
	bool secret; /* wipe on free and on growth */
};

/* Start an empty buffer that may grow to MAX bytes. No allocation yet. */
void buf_init(struct buf *b, size_t max);
/* Free the storage (wiped first when b->secret). b is left empty and reusable. */
void buf_fini(struct buf *b);
/* Forget the contents, keep the storage. */
void buf_reset(struct buf *b);
/* Append N bytes. Fails with ERR_DATA when the ceiling would be passed (nothing appended). */
int buf_append(struct buf *b, const void *p, size_t n, struct err *e);
/* Append a NUL-terminated string. */
int buf_puts(struct buf *b, const char *s, struct err *e);
/* Append printf output. */
int buf_printf(struct buf *b, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Remove the first N bytes (N <= len). */
void buf_consume(struct buf *b, size_t n);

#endif
