/*
 * fuzz/serve: sendmail -bs (serve_run in src/serve.h), with the input as the caller's SMTP
 * conversation on standard input.
 *
 * Standard input and output are memory files for the call; the profile (in a private temp
 * directory, which is also HOME, TMPDIR and every XDG directory) sends through a unix
 * socket that does not exist, with the queue off: every message that gets through DATA is
 * read, checked and rewritten as a real one is (deliver_run), and then fails to connect.
 * Nothing is written outside the temp directory, nothing goes to the network.
 * Contract checked: serve_run returns 0; every reply line is "NNN" with a code 2xx..5xx,
 * then ' ' or '-', ends in CRLF, has no other control character and is at most 512 octets
 * (RFC 5321 §4.5.3.1.5); the first is the 220 greeting; and since no message can be
 * delivered, no reply to the end of the data is 2xx (SEC-36: 250 only for a delivery).
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

static char dir[256];
static char profile_path[300];
static char socket_path[300];

static void
cleanup(void)
{
	unlink(profile_path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char text[1024];

	snprintf(dir, sizeof(dir), "%s/postie-fuzz-serve.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	snprintf(profile_path, sizeof(profile_path), "%s/profile", dir);
	snprintf(socket_path, sizeof(socket_path), "%s/no-server", dir);
	int n = snprintf(text, sizeof(text),
	                 "account default\n"
	                 "host localhost\n"
	                 "socket %s\n"
	                 "tls off\n"
	                 "auth off\n"
	                 "queue off\n"
	                 "timeout 5\n"
	                 "from fuzz@example.com\n",
	                 socket_path);
	int fd = open(profile_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0) {
		perror("fuzz: write the profile");
		abort();
	}
	atexit(cleanup);
	/* Whatever postie looks for in the user's directories, it finds this empty one. */
	setenv("HOME", dir, 1);
	setenv("TMPDIR", dir, 1);
	setenv("XDG_CONFIG_HOME", dir, 1);
	setenv("XDG_STATE_HOME", dir, 1);
	setenv("XDG_CACHE_HOME", dir, 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	return 0;
}

/* The replies, one line at a time. */
static void
check_replies(const char *p, size_t n)
{
	bool after_354 = false;

	fuzz_check(n >= 5 && memcmp(p, "220 ", 4) == 0, "no 220 greeting");
	for (size_t off = 0; off < n;) {
		const char *lf = memchr(p + off, '\n', n - off);
		fuzz_check(lf != NULL, "a reply without a line end");
		size_t len = (size_t)(lf - (p + off)) + 1;
		const char *l = p + off;
		fuzz_check(len >= 6 && l[len - 2] == '\r', "a reply line not ending in CRLF");
		fuzz_check(len <= 512, "a reply line of %zu octets", len);
		fuzz_check(l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '5' &&
		               l[2] >= '0' && l[2] <= '9' && (l[3] == ' ' || l[3] == '-'),
		           "malformed reply \"%.*s\"", (int)(len - 2), l);
		fuzz_check(!fuzz_has_ctl(l, len - 2, ""), "control character in a reply");
		if (after_354)
			fuzz_check(l[0] != '2', "%.*s after the data, but nothing can be delivered",
			           (int)(len - 2), l);
		after_354 = memcmp(l, "354 ", 4) == 0;
		off += len;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in = memfd_create("fuzz-serve-in", MFD_CLOEXEC);
	int out = memfd_create("fuzz-serve-out", MFD_CLOEXEC);
	struct opts o = {0};
	struct err e;

	if (in < 0 || out < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t w = write(in, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	lseek(in, 0, SEEK_SET);

	int save_in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	int save_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (save_in < 0 || save_out < 0 || dup2(in, STDIN_FILENO) < 0 ||
	    dup2(out, STDOUT_FILENO) < 0)
		abort();
	o.profile = profile_path;
	o.mode = CLI_SERVE;
	int rc = serve_run(&o, &e);
	fflush(stdout);
	dup2(save_in, STDIN_FILENO);
	dup2(save_out, STDOUT_FILENO);
	close(save_in);
	close(save_out);
	close(in);

	fuzz_check(rc == 0, "serve_run failed: %s", e.text);
	struct stat st;
	if (fstat(out, &st) < 0)
		abort();
	size_t n = (size_t)st.st_size;
	char *replies = malloc(n + 1);
	if (!replies || pread(out, replies, n, 0) != (ssize_t)n)
		abort();
	close(out);
	check_replies(replies, n);
	free(replies);
	return 0;
}
