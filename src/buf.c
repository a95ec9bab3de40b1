/* buf: growable byte buffers with a ceiling; secret ones are wiped. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secret = false;
}

void
buf_fini(struct buf *b)
{
	if (b->data && b->secret)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->data && b->secret)
		explicit_bzero(b->data, b->cap);
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for N more bytes plus the terminating NUL. */
static int
reserve(struct buf *b, size_t n, struct err *e)
{
	if (n > b->max || b->len > b->max - n)
		return err_set(e, ERR_DATA, "store data: more than %zu bytes", b->max);
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->secret) {
		/* realloc could leave a copy of the secret behind: move it by hand. */
		char *p = xmalloc(cap);
		if (b->data) {
			memcpy(p, b->data, b->len + 1);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		b->data = p;
	} else {
		b->data = xrealloc(b->data, cap);
	}
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n, struct err *e)
{
	if (reserve(b, n, e) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s, struct err *e)
{
	return buf_append(b, s, strlen(s), e);
}

int
buf_printf(struct buf *b, struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err_set(e, ERR_SOFTWARE, "format text: failed");
	if (reserve(b, (size_t)n, e) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
	if (b->secret)
		explicit_bzero(b->data + b->len + 1, b->cap - b->len - 1);
}
