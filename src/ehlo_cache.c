/*
 * ehlo_cache: the cached EHLO replies of servers that offer early pipelining (ehlo_cache.h).
 * A file is "postie-ehlo 1 HOST PORT MODE DOMAIN\n" and then the reply's text; private
 * (SEC-14's rule), replaced atomically, never synced (a cache: losing it costs one wait).
 */
#include "ehlo_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io.h"

#define EHLO_CACHE_MAX 16384 /* a reply's text is at most 8192 bytes (smtp_reply_copy) */

/* The file's first line for K, into OUT (N bytes); false when it does not fit or K holds a
 * space or a line end (then it cannot be told apart: no cache). */
static bool
make_head(const struct ehlo_key *k, char *out, size_t n)
{
	int w =
	    snprintf(out, n, "postie-ehlo 1 %s %d %s %s\n", k->host, k->port, k->mode, k->domain);
	if (w < 0 || (size_t)w >= n)
		return false;
	size_t words = 0;
	for (const char *p = out; *p; p++) {
		if (*p == ' ')
			words++;
		if ((*p == '\n' && p[1] != '\0') || *p == '\r')
			return false;
	}
	return words == 5;
}

char *
ehlo_cache_path(const struct ehlo_key *k, bool make)
{
	char name[600];
	int w = snprintf(name, sizeof(name), "%s_%d_%s_%s", k->host, k->port, k->mode, k->domain);
	if (w < 0 || (size_t)w >= sizeof(name) - 1)
		return NULL;
	for (char *p = name; *p; p++) {
		char c = *p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.';
		if (!plain || (p == name && c == '.'))
			*p = '_';
	}
	char *dir = io_xdg_path(IO_XDG_CACHE, "postie/ehlo", make ? IO_XDG_MAKE : 0);
	if (!dir)
		return NULL;
	size_t dl = strlen(dir), nl = strlen(name);
	char *path = xmalloc(dl + 1 + nl + 1);
	memcpy(path, dir, dl);
	path[dl] = '/';
	memcpy(path + dl + 1, name, nl + 1);
	free(dir);
	return path;
}

bool
ehlo_cache_load(const char *path, const struct ehlo_key *k, struct buf *text)
{
	char head[700], why[512];
	struct buf b;
	bool ok = false;

	buf_reset(text);
	if (!make_head(k, head, sizeof(head)))
		return false;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; io_not_private refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	buf_init(&b, EHLO_CACHE_MAX);
	size_t hl = strlen(head);
	if (io_not_private(fd, path, why, sizeof(why)) == NULL && io_read_all(fd, &b) == 0 &&
	    b.len > hl && memcmp(b.data, head, hl) == 0 &&
	    memchr(b.data + hl, '\0', b.len - hl) == NULL)
		ok = buf_append(text, b.data + hl, b.len - hl, NULL) == 0;
	buf_fini(&b);
	close(fd);
	return ok;
}

int
ehlo_cache_save(const char *path, const struct ehlo_key *k, const char *text, size_t n,
                struct err *e)
{
	char head[700];

	if (!make_head(k, head, sizeof(head)) || n > EHLO_CACHE_MAX - sizeof(head))
		return 0; /* nothing that could be read back */
	struct iovec iov[2] = {{head, strlen(head)}, {(void *)text, n}};
	int r = io_replace(path, iov, 2, 0600, false);
	if (r != 0)
		return err_set(e, ERR_OS, "save EHLO reply %s: %s; early pipelining is not used",
		               path, strerror(r));
	return 0;
}

void
ehlo_cache_forget(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return; /* a cache: the next load refuses what it cannot trust */
}

/* The keyword lines of TEXT: where the second line starts (N bytes from TEXT). */
static size_t
after_first_line(const char *text, size_t n)
{
	const char *nl = memchr(text, '\n', n);
	return nl ? (size_t)(nl + 1 - text) : n;
}

bool
ehlo_cache_offers(const char *text, size_t n)
{
	size_t i = after_first_line(text, n);
	while (i < n) {
		const char *p = text + i;
		const char *nl = memchr(p, '\n', n - i);
		size_t len = nl ? (size_t)(nl - p) : n - i, k = 0;
		while (k < len && p[k] != ' ' && p[k] != '\r')
			k++;
		if ((k == 11 && strncasecmp(p, "PIPECONNECT", 11) == 0) ||
		    (k == 14 && strncasecmp(p, "X_PIPE_CONNECT", 14) == 0))
			return true;
		i += len + 1;
	}
	return false;
}

bool
ehlo_cache_same(const char *a, size_t an, const char *b, size_t bn)
{
	size_t ai = after_first_line(a, an), bi = after_first_line(b, bn);
	return an - ai == bn - bi && memcmp(a + ai, b + bi, an - ai) == 0;
}
