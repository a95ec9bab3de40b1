/* err: the error type and its one kind-to-exit-status table (sysexits.h). */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static void
clean(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static int vset(struct err *e, enum err_kind kind, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int
vset(struct err *e, enum err_kind kind, int code, const char *fmt, va_list ap)
{
	if (!e)
		return -1;
	e->kind = kind;
	e->code = code;
	int n = vsnprintf(e->text, sizeof(e->text), fmt, ap);
	if (n < 0)
		snprintf(e->text, sizeof(e->text), "(unprintable error)");
	clean(e->text);
	return -1;
}

int
err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(e, kind, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_set_code(struct err *e, enum err_kind kind, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(e, kind, code, fmt, ap);
	va_end(ap);
	return -1;
}

void
err_append(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	size_t at = strnlen(e->text, sizeof(e->text));
	va_start(ap, fmt);
	vsnprintf(e->text + at, sizeof(e->text) - at, fmt, ap);
	va_end(ap);
	clean(e->text + at);
}

void
err_clear(struct err *e)
{
	e->kind = ERR_NONE;
	e->code = 0;
	e->text[0] = '\0';
}

int
err_exit_status(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE:
		return EX_OK;
	case ERR_USAGE:
		return EX_USAGE;
	case ERR_DATA:
		return EX_DATAERR;
	case ERR_NOUSER:
		return EX_NOUSER;
	case ERR_NOHOST:
		return EX_NOHOST;
	case ERR_PERM:
		return EX_UNAVAILABLE;
	case ERR_TLS:
		return EX_UNAVAILABLE;
	case ERR_SOFTWARE:
		return EX_SOFTWARE;
	case ERR_OS:
		return EX_IOERR;
	case ERR_TEMP:
		return EX_TEMPFAIL;
	case ERR_PROTO:
		return EX_PROTOCOL;
	case ERR_UNSURE:
		return EX_PROTOCOL;
	case ERR_AUTH:
		return EX_NOPERM;
	case ERR_CONFIG:
		return EX_CONFIG;
	}
	return EX_SOFTWARE;
}

void
err_print(const struct err *e)
{
	fprintf(stderr, "postie: %s\n", e->text[0] ? e->text : "unknown error");
}

void
warn(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	clean(text);
	fprintf(stderr, "postie: warning: %s\n", text);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("postie: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EX_SOFTWARE);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal("allocate memory: out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		fatal("allocate memory: out of memory");
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		fatal("allocate memory: out of memory (%zu bytes)", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
xfree_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
