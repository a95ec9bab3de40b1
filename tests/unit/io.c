/* Unit tests of io: the atomic replace, the XDG paths, the private-file rule, waiting. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tap.h"
#include "io.h"

static char dir[] = "/tmp/postie-io-XXXXXX";

static void test_foreign_home(void);

static char *
path_of(const char *name)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void
test_replace(void)
{
	char *p = path_of("file");
	struct iovec iov[2] = {{"hello ", 6}, {"world\n", 6}};
	struct buf b;

	ok(io_replace(p, iov, 2, 0600, true) == 0, "replace: a new file");
	int fd = open(p, O_RDONLY);
	buf_init(&b, 64);
	ok(fd >= 0 && io_read_all(fd, &b) == 0 && b.len == 12 &&
	       memcmp(b.data, "hello world\n", 12) == 0,
	   "it holds both pieces");
	struct stat st;
	ok(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	close(fd);
	ok(io_replace(p, iov, 1, 0600, false) == 0, "replace again, not durable");
	fd = open(p, O_RDONLY);
	buf_reset(&b);
	ok(fd >= 0 && io_read_all(fd, &b) == 0 && b.len == 6, "the new content replaced the old");
	close(fd);
	buf_fini(&b);

	buf_init(&b, 4);
	fd = open(p, O_RDONLY);
	ok(io_read_all(fd, &b) == EFBIG && b.len <= 4, "read_all: more than the ceiling is EFBIG");
	close(fd);
	buf_fini(&b);

	char *q = path_of("no/such/dir/file");
	ok(io_replace(q, iov, 1, 0600, false) == ENOENT, "replace in a missing folder: ENOENT");
	/* Nothing left behind: only "file" is in the folder. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A %s)\" = file", dir);
	ok(system(cmd) == 0, "no temporary file left behind");
}

static void
test_xdg(void)
{
	setenv("HOME", dir, 1);
	unsetenv("XDG_CACHE_HOME");
	char *p = io_xdg_path(IO_XDG_CACHE, "postie/tls", IO_XDG_MAKE);
	char want[512];
	snprintf(want, sizeof(want), "%s/.cache/postie/tls", dir);
	ok(p && strcmp(p, want) == 0, "cache under HOME: %s", p ? p : "(null)");
	struct stat st;
	ok(stat(want, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	   "MAKE created the folders, 0700");
	free(p);

	p = io_xdg_path(IO_XDG_STATE, "postie/queue", IO_XDG_MAKE);
	snprintf(want, sizeof(want), "%s/.local/state/postie/queue", dir);
	ok(p && strcmp(p, want) == 0 && stat(want, &st) == 0, "state under HOME, ~/.local made");
	free(p);

	setenv("XDG_CONFIG_HOME", "relative/path", 1);
	p = io_xdg_path(IO_XDG_CONFIG, "postie", 0);
	snprintf(want, sizeof(want), "%s/.config/postie", dir);
	ok(p && strcmp(p, want) == 0, "a relative XDG value is ignored");
	free(p);
	setenv("XDG_CONFIG_HOME", "/somewhere", 1);
	p = io_xdg_path(IO_XDG_CONFIG, "postie", 0);
	ok(p && strcmp(p, "/somewhere/postie") == 0, "an absolute XDG value is taken");
	free(p);
	unsetenv("XDG_CONFIG_HOME");

	/* Without $HOME: nothing, unless the passwd entry may stand in. */
	unsetenv("HOME");
	unsetenv("XDG_CACHE_HOME");
	ok(io_xdg_path(IO_XDG_CACHE, "postie/tls", 0) == NULL, "no HOME: no path");
	const char *pw = io_home();
	p = io_xdg_path(IO_XDG_CONFIG, "postie", IO_XDG_PASSWD);
	if (pw) {
		snprintf(want, sizeof(want), "%s/.config/postie", pw);
		ok(p && strcmp(p, want) == 0, "no HOME, IO_XDG_PASSWD: the passwd entry's home");
	} else {
		ok(p == NULL, "no HOME and no passwd home: no path");
	}
	free(p);
	setenv("HOME", dir, 1);
	test_foreign_home();
}

/* A HOME that is another user's folder (cron started from root's shell gives a user's mailer
 * HOME=/root) is not the caller's: the passwd entry's home counts. Root only (chown). */
static void
test_foreign_home(void)
{
	char want[PATH_MAX], other[PATH_MAX];
	snprintf(other, sizeof(other), "%s", path_of("others-home"));
	const char *pw = io_home();

	if (getuid() != 0 || !pw) {
		ok(1, "a HOME of another user's # SKIP not root, or no passwd home");
		return;
	}
	mkdir(other, 0755);
	ok(chown(other, 12345, 12345) == 0, "a folder of uid 12345 made");
	setenv("HOME", other, 1);
	const char *h = io_home();
	ok(h && strcmp(h, other) != 0, "HOME another user's folder: io_home is not it");
	char *p = io_xdg_path(IO_XDG_CONFIG, "postie", 0);
	snprintf(want, sizeof(want), "%s/.config/postie", h ? h : "");
	ok(p && strcmp(p, want) == 0 && strncmp(p, other, strlen(other)) != 0,
	   "nor is it the base of the XDG paths");
	free(p);
	int mine = chown(other, getuid(), getgid());
	h = io_home();
	ok(mine == 0 && h && strcmp(h, other) == 0,
	   "the same folder, the caller's own: it is the home");
	rmdir(other);
	setenv("HOME", dir, 1);
}

static void
test_private(void)
{
	char why[256];
	char *p = path_of("secret");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fchmod(fd, 0600);
	ok(io_not_private(fd, p, why, sizeof(why)) == NULL, "0600 and ours: private");
	fchmod(fd, 0640);
	ok(io_not_private(fd, p, why, sizeof(why)) && strstr(why, "chmod 600") &&
	       strstr(why, "0640"),
	   "0640: not private, says what to run (%s)", why);
	if (geteuid() == 0) {
		ok(fchown(fd, 65534, 0) == 0 && fchmod(fd, 0644) == 0 &&
		       io_not_private(fd, p, why, sizeof(why)) && strstr(why, "chown 0 ") &&
		       strstr(why, "chmod 600"),
		   "another user's file open to others: chown and chmod (%s)", why);
		ok(fchmod(fd, 0600) == 0 && io_not_private(fd, p, why, sizeof(why)) &&
		       strstr(why, "chown 0 ") && !strstr(why, "chmod"),
		   "another user's private file: chown only (%s)", why);
		/* Outside the home: likely shared, so never "chown it to yourself" (each user of
		 * it would be told to take it from the others). */
		setenv("HOME", "/nonexistent-home", 1);
		ok(io_not_private(fd, p, why, sizeof(why)) && !strstr(why, "chown") &&
		       strstr(why, "a copy of their own") && strstr(why, "uid 65534"),
		   "another user's file outside the home: a copy of one's own (%s)", why);
		setenv("HOME", dir, 1);
	} else {
		ok(1, "another user's file: not root, not tried # SKIP");
		ok(1, "another user's file: not root, not tried # SKIP");
		ok(1, "another user's file: not root, not tried # SKIP");
	}
	close(fd);
	fd = open(dir, O_RDONLY);
	ok(io_not_private(fd, dir, why, sizeof(why)) && strstr(why, "not a regular file"),
	   "a folder is not a private file");
	close(fd);
}

/* SEC-45's variant: root's file, the system group may at most read it. */
static void
test_private_system(void)
{
	char why[512];
	char *p = path_of("system");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const gid_t g = 4242;

	if (geteuid() != 0) {
		fchmod(fd, 0600);
		ok(io_not_private_system(fd, p, g, "postie", why, sizeof(why)) &&
		       strstr(why, "chown root:postie ") && strstr(why, "chmod 640"),
		   "system rule: a file not of root is refused, says what to run (%s)", why);
		for (int i = 0; i < 5; i++)
			ok(1, "system rule: not root, not tried # SKIP");
		close(fd);
		return;
	}
	struct {
		uid_t uid;
		gid_t gid;
		mode_t mode;
		int good;
		const char *name;
	} t[] = {
	    {0, g, 0640, 1, "root:group 0640"}, {0, g, 0440, 1, "root:group 0440"},
	    {0, 0, 0600, 1, "root:root 0600"},  {0, 0, 0640, 0, "root:root 0640 (another group)"},
	    {0, g, 0660, 0, "root:group 0660"}, {0, g, 0644, 0, "root:group 0644"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = fchown(fd, t[i].uid, t[i].gid) == 0 && fchmod(fd, t[i].mode) == 0;
		const char *bad = io_not_private_system(fd, p, g, "postie", why, sizeof(why));
		ok(r && (t[i].good ? bad == NULL : bad != NULL && strstr(why, "chmod 640") != NULL),
		   "system rule: %s %s", t[i].name, t[i].good ? "passes" : "is refused");
	}
	close(fd);
}

static void
test_wait(void)
{
	int sv[2];
	ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	int64_t t0 = io_clock_ms();
	ok(io_wait(sv[0], POLLIN, t0 + 50) == ETIMEDOUT, "nothing to read: ETIMEDOUT");
	ok(io_clock_ms() - t0 >= 49, "after the deadline");
	ok(io_write_all(sv[1], "x", 1) == 0, "write_all");
	ok(io_wait(sv[0], POLLIN, io_clock_ms() + 1000) == 0, "readable: 0");
	ok(io_wait(sv[0], POLLIN, io_clock_ms() - 1) == ETIMEDOUT, "a past deadline: ETIMEDOUT");
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_replace();
	test_xdg();
	test_private();
	test_private_system();
	test_wait();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
