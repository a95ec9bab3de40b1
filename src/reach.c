/*
 * reach: which servers were reached before (reach.h). The file belongs to the user, in a
 * folder of mode 0700; it is read through no link and only when it is a regular file, and
 * replaced atomically, so two runs at once leave one of their versions whole.
 */
#include "reach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

#define REACH_FILE_MAX (64 * 1024)

/* The file's contents into OUT (empty when there is none); -1 when it cannot be read.
 * O_NONBLOCK: a FIFO planted there would hold the open (and every send) for ever; it is no
 * regular file, so it is refused below. */
static int
load(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= REACH_FILE_MAX)
		rc = io_read_all(fd, out);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* Whether LINE ("HOST PORT\n" lines in TEXT) is one of them. */
static bool
holds(const struct buf *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text->data ? text->data : "";
	const char *end = p + text->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* "HOST PORT\n", or false when HOST could not make one line. */
static bool
make_line(const char *host, int port, char *out, size_t n)
{
	for (const char *p = host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	int k = snprintf(out, n, "%s %d\n", host, port);
	return *host && k > 0 && (size_t)k < n;
}

int
reach_seen(const char *host, int port)
{
	char line[300];
	struct buf text;

	if (!make_line(host, port, line, sizeof(line)))
		return -1;
	char *path = io_xdg_path(IO_XDG_STATE, "postie/reached", 0);
	if (!path)
		return -1;
	buf_init(&text, REACH_FILE_MAX + 1);
	int rc = load(path, &text) < 0 ? -1 : holds(&text, line);
	buf_fini(&text);
	free(path);
	return rc;
}

void
reach_note(const char *host, int port)
{
	char line[300];
	struct buf text;

	if (!make_line(host, port, line, sizeof(line)))
		return;
	char *dir = io_xdg_path(IO_XDG_STATE, "postie", IO_XDG_MAKE);
	if (!dir)
		return;
	struct buf path;
	buf_init(&path, 4096);
	buf_init(&text, REACH_FILE_MAX + 1);
	if (buf_printf(&path, NULL, "%s/reached", dir) == 0 && load(path.data, &text) == 0 &&
	    !holds(&text, line)) {
		/* Keep the newest REACH_MAX - 1 lines, then this one; a last line without
		 * its end (a write cut short) is dropped. */
		const char *p = text.data ? text.data : "";
		while (text.len > 0 && p[text.len - 1] != '\n')
			text.len--;
		size_t lines = 0, skip = 0;
		for (size_t i = 0; i < text.len; i++)
			lines += p[i] == '\n';
		for (size_t i = 0; i < text.len && lines >= REACH_MAX; i++)
			if (p[i] == '\n') {
				lines--;
				skip = i + 1;
			}
		struct iovec iov[2] = {{(void *)(p + skip), text.len - skip}, {line, strlen(line)}};
		io_replace(path.data, iov, 2, 0600, false);
	}
	buf_fini(&text);
	buf_fini(&path);
	free(dir);
}
