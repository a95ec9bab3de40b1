/* err: the one error type, and the one table from error kinds to exit statuses. */
#ifndef POSTIE_ERR_H
#define POSTIE_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* What the caller must do, not where it failed. */
enum err_kind {
	ERR_NONE = 0,
	ERR_USAGE,    /* bad flags or argv addresses: 64 */
	ERR_DATA,     /* message or header address unusable: 65 */
	ERR_NOUSER,   /* a recipient was refused permanently: 67 */
	ERR_NOHOST,   /* the server name does not resolve: 68 */
	ERR_PERM,     /* the server refused permanently (5xx): 69 */
	ERR_TLS,      /* TLS required but unavailable, failed or unverified: 69 */
	ERR_SOFTWARE, /* internal error, refused command line (SEC-19): 70 */
	ERR_OS,       /* local I/O: reading the message, writing a file: 74 */
	ERR_TEMP,     /* network, timeout, 4xx, connection lost: 75 */
	ERR_PROTO,    /* the server broke the protocol: 76 */
	ERR_UNSURE,   /* the verdict on the message data was not a 250 in step with the end of
	                 data (SEC-36): not delivered, yet the server may hold a copy; 76, and
	                 with a queue the message stays queued */
	ERR_AUTH,     /* authentication refused: 77 */
	ERR_CONFIG,   /* profile error, unsafe permissions, failing password command: 78 */
};

struct err {
	enum err_kind kind;
	int code;       /* the SMTP reply code when there is one, else 0 */
	char text[512]; /* "verb object: reason", without the "postie: " prefix */
};

/*
 * Record an error of kind KIND with a printf-style message. Control characters in the
 * result are replaced by '?', so server text can be quoted safely. Always returns -1.
 * A NULL e is allowed (the error is dropped).
 */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, with the SMTP reply CODE kept in e->code. Always returns -1. */
int err_set_code(struct err *e, enum err_kind kind, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Add printf output to the end of e's text (kind and code stay), cut at its size, control
 * characters replaced as by err_set. A NULL e is allowed. */
void err_append(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset e to "no error". */
void err_clear(struct err *e);

/* The sysexits.h status for KIND (0 for ERR_NONE). */
int err_exit_status(enum err_kind kind);

/* Print "postie: TEXT" to stderr. */
void err_print(const struct err *e);

/* Print "postie: warning: ..." to stderr. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "postie: ..." and abort: impossible states only. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* malloc/calloc/realloc/strdup that end the process with 70 on exhaustion. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* free a string that may hold a secret, wiped first; NULL is a no-op. */
void xfree_secret(char *s);

#endif
