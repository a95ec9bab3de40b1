/* io: files, clock and waiting for the modules above (io.h). */
#define _GNU_SOURCE /* O_TMPFILE, memfd_create */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int64_t
io_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
io_wait_peer(int fd, short events, int64_t deadline)
{
	/* Before waiting for the peer, ask for immediate ACKs: a server that wrote a small
	 * record (a TLS 1.3 session ticket) holds its next small write (the reply) under
	 * Nagle until that record is acknowledged, and a delayed ACK costs 40 ms. The kernel
	 * drops back to delayed ACKs by itself, so this is set before every wait. Not TCP (a
	 * socketpair in tests, a file): the call fails, harmlessly. */
	if (events & POLLIN) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	return io_wait(fd, events, deadline);
}

int
io_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - io_clock_ms();
		if (left <= 0)
			return ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return errno;
	}
}

int
io_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
io_read_all(int fd, struct buf *out)
{
	char chunk[4096];
	int rc = 0;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno;
			break;
		}
		if (r == 0)
			break;
		if ((size_t)r > out->max - out->len) {
			rc = EFBIG;
			break;
		}
		buf_append(out, chunk, (size_t)r, NULL);
	}
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

int
io_sync(int fd)
{
	/* Linux says EINVAL for a directory on a file system that cannot sync one. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		return errno;
	return 0;
}

/* fsync the folder that holds PATH, so a rename in it is durable. */
static int
sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return ENAMETOOLONG;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = io_sync(fd);
	close(fd);
	return rc;
}

int
io_replace(const char *path, const struct iovec *iov, int iovcnt, unsigned mode, bool durable)
{
	char tmp[PATH_MAX];
	int fd = -1, rc = 0;

	/* A name of our own beside PATH (the same file system, so rename is atomic); O_EXCL:
	 * never a file someone put there, O_NOFOLLOW: never through a link. */
	for (unsigned k = 0; k < 100 && fd < 0; k++) {
		int n = snprintf(tmp, sizeof(tmp), "%s.%ld.%u.tmp", path, (long)getpid(), k);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
		if (fd < 0 && errno != EEXIST)
			return errno;
	}
	if (fd < 0)
		return EEXIST;
	for (int i = 0; i < iovcnt && rc == 0; i++)
		rc = io_write_all(fd, iov[i].iov_base, iov[i].iov_len);
	if (rc == 0 && durable)
		rc = io_sync(fd);
	if (close(fd) < 0 && rc == 0)
		rc = errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	return durable ? sync_parent(path) : 0;
}

/* The passwd entry's home of the real user, when absolute. */
static const char *
passwd_home(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

/*
 * $HOME when absolute. An existing folder of another user's there is a daemon's environment
 * passed on, not the caller's home: cron started from root's shell runs a user's mailer with
 * HOME=/root, sudo may keep the invoker's HOME. Then the caller's passwd entry's home counts
 * (unless it names that very folder: www-data's /var/www is root's and its home).
 */
static const char *
env_home(void)
{
	const char *h = getenv("HOME");
	struct stat st;

	if (!h || h[0] != '/')
		return NULL;
	if (stat(h, &st) == 0 && st.st_uid != getuid()) {
		const char *p = passwd_home();
		if (p && strcmp(p, h) != 0) {
			log_info("HOME %s is not yours (owner uid %lu): using %s", h,
			         (unsigned long)st.st_uid, p);
			return p;
		}
	}
	return h;
}

const char *
io_home(void)
{
	const char *h = env_home();
	return h ? h : passwd_home();
}

char *
io_xdg_path(enum io_xdg which, const char *tail, unsigned flags)
{
	bool make = flags & IO_XDG_MAKE;
	static const struct {
		const char *var, *fallback;
	} base[] = {
	    [IO_XDG_CONFIG] = {"XDG_CONFIG_HOME", "/.config"},
	    [IO_XDG_CACHE] = {"XDG_CACHE_HOME", "/.cache"},
	    [IO_XDG_STATE] = {"XDG_STATE_HOME", "/.local/state"},
	};
	const char *xdg = getenv(base[which].var);
	struct buf b;

	buf_init(&b, PATH_MAX);
	if (xdg && xdg[0] == '/') {
		if (buf_puts(&b, xdg, NULL) < 0)
			goto fail;
	} else {
		const char *home = env_home();
		if (!home)
			home = flags & IO_XDG_PASSWD ? passwd_home() : NULL;
		if (!home || buf_printf(&b, NULL, "%s%s", home, base[which].fallback) < 0)
			goto fail;
		/* ~/.local/state: ~/.local may be missing too. */
		if (make && which == IO_XDG_STATE) {
			char *last = strrchr(b.data, '/');
			*last = '\0';
			if (mkdir(b.data, 0700) < 0 && errno != EEXIST)
				goto fail;
			*last = '/';
		}
	}
	if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST)
		goto fail;
	for (const char *p = tail; *p;) {
		size_t n = strcspn(p, "/");
		if (buf_puts(&b, "/", NULL) < 0 || buf_append(&b, p, n, NULL) < 0)
			goto fail;
		if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST)
			goto fail;
		p += n;
		p += *p == '/';
	}
	return b.data;
fail:;
	int saved = errno;
	buf_fini(&b);
	errno = saved;
	return NULL;
}

/* fstat FD into ST: true for a regular file, else false with the reason in WHY (N bytes). */
static bool
regular(int fd, struct stat *st, char *why, size_t n)
{
	if (fstat(fd, st) < 0) {
		snprintf(why, n, "%s", strerror(errno));
		return false;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, n, "it is not a regular file");
		return false;
	}
	return true;
}

/* Whether the real path of PATH lies in the user's home folder (io_home's). */
static bool
in_home(const char *path)
{
	const char *home = io_home();
	char *h = home ? realpath(home, NULL) : NULL;
	char *r = realpath(path, NULL);
	size_t k = h ? strlen(h) : 0;
	bool yes = h && r && strncmp(r, h, k) == 0 && (k == 1 || r[k] == '/');

	free(h);
	free(r);
	return yes;
}

const char *
io_not_private(int fd, const char *path, char *why, size_t n)
{
	struct stat st;

	if (!regular(fd, &st, why, n))
		return why;
	/* Outside the user's home a file of another user is likely shared (a team's profile,
	 * another user's file root runs with): telling each user to chown it to themselves
	 * would have them take it from one another. A secret's file is one user's alone. */
	if (st.st_uid != geteuid() && !in_home(path)) {
		snprintf(
		    why, n,
		    "it belongs to uid %lu, not to uid %lu who runs postie; a file that holds a "
		    "secret must be the file of the one user who runs postie, so each user "
		    "needs a copy of their own (mode 0600)",
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return why;
	}
	if (st.st_uid != geteuid()) {
		unsigned long me = (unsigned long)geteuid();
		bool open = st.st_mode & 077;
		snprintf(why, n,
		         "it belongs to uid %lu, not to uid %lu who runs postie; run "
		         "`chown %lu %s` (as root)%s%s%s, or use a copy of your own",
		         (unsigned long)st.st_uid, me, me, path, open ? " and `chmod 600 " : "",
		         open ? path : "", open ? "`" : "");
		return why;
	}
	if (st.st_mode & 077) {
		snprintf(why, n, "group or others may use it (mode %04o); run `chmod 600 %s`",
		         (unsigned)(st.st_mode & 07777), path);
		return why;
	}
	return NULL;
}

const char *
io_not_private_system(int fd, const char *path, gid_t gid, const char *group, char *why, size_t n)
{
	struct stat st;

	if (!regular(fd, &st, why, n))
		return why;
	mode_t allowed = st.st_gid == gid ? 0640 : 0600;
	if (st.st_uid != 0 || (st.st_mode & 07777 & ~allowed)) {
		snprintf(
		    why, n,
		    "it is uid %lu gid %lu mode %04o, and a setgid postie reads secrets only from "
		    "a file of root that group %s may at most read; run `chown root:%s %s` and "
		    "`chmod 640 %s` (as root)",
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned)(st.st_mode & 07777), group, group, path, path);
		return why;
	}
	return NULL;
}

int
io_anonymous(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	int saved = errno;
	/* A file system without O_TMPFILE (or no usable DIR): memory, still anonymous. */
	fd = memfd_create("postie", MFD_CLOEXEC);
	if (fd < 0)
		errno = saved;
	return fd;
}
