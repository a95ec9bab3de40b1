/*
 * Unit tests for src/secret.c (SEC-14, SEC-15, SEC-16): the profile password, passwordeval
 * with and without a shell, first-line rules, failures that name the command but never its
 * output, the output ceiling, and no leaked descriptors or zombie children afterwards; then
 * the other sources (password_file and its permissions, systemd credentials, netrc parsing
 * and files, secret-tool's argv, the terminal prompt on a pseudo-terminal), the OAuth 2.0
 * token output parser and the token cache (with an injected clock), and PR_SET_DUMPABLE.
 */
#define _GNU_SOURCE /* posix_openpt, ptsname */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "src/buf.h"
#include "src/profile.h"
#include "src/netrc.h"
#include "src/oauth2.h"
#include "src/secret.h"
#include "src/spawn.h"
#include "tests/lib/tap.h"

/* Open descriptors of this process. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Whether a child of ours is left (a zombie or still running). */
static bool
children_left(void)
{
	return !(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

struct tcase {
	const char *name;
	const char *password;
	const char *eval;
	const char *want; /* NULL: an error */
	const char *text; /* for errors: part of the message */
};

static const struct tcase cases[] = {
    {"password", "hunter2", NULL, "hunter2", NULL},
    {"password wins over passwordeval", "pw", "echo other", "pw", NULL},
    {"password with spaces kept", " a b ", NULL, " a b ", NULL},
    {"exec path", NULL, "echo hunter2", "hunter2", NULL},
    {"exec path, spaces and tabs", NULL, "  echo \t two   words  ", "two words", NULL},
    {"shell path, first line only", NULL, "printf 'a b\\nsecond\\n'", "a b", NULL},
    {"shell syntax", NULL, "echo x | tr x y", "y", NULL},
    {"CRLF output", NULL, "printf 'pw\\r\\n'", "pw", NULL},
    {"no final newline", NULL, "printf pw", "pw", NULL},
    {"only one newline stripped", NULL, "printf 'pw\\n\\n'", "pw", NULL},
    {"CR inside kept", NULL, "printf 'a\\rb\\n'", "a\rb", NULL},
    {"stdin is /dev/null", NULL, "read x || echo eof", "eof", NULL},
    {"exec path reads /dev/null", NULL, "cat", NULL, "first line of output is empty"},
    {"failing command", NULL, "false", NULL,
     "run passwordeval of account ? (?): exited with status 1; fix the command in the "
     "profile"},
    {"exit status", NULL, "(exit 3)", NULL, "exited with status 3"},
    {"killed by a signal", NULL, "kill -9 $$", NULL, "killed by signal 9"},
    {"empty output", NULL, "true", NULL, "first line of output is empty"},
    {"empty first line", NULL, "printf '\\nsecond\\n'", NULL, "first line of output is empty"},
    {"only CRLF", NULL, "printf '\\r\\n'", NULL, "first line of output is empty"},
    {"missing program", NULL, "no-such-program-postie-test arg", NULL,
     "cannot start its program: No such file or directory"},
    {"missing program through the shell", NULL, "no-such-program-postie-test; exit $?", NULL,
     "exited with status 127"},
    {"not executable", NULL, "/dev/null", NULL, "cannot start its program: Permission denied"},
    {"empty command", NULL, " \t ", NULL, "the command is empty"},
    {"huge output (shell)", NULL, "head -c 200000 /dev/zero | tr '\\0' a", NULL,
     "output is longer than 65536 bytes"},
    {"endless output (exec)", NULL, "yes", NULL, "output is longer than 65536 bytes"},
    {"NUL in the password", NULL, "printf 'a\\0b\\n'", NULL, "holds a NUL byte"},
    {"just under the ceiling", NULL, "head -c 65535 /dev/zero | tr '\\0' b", "", NULL},
};

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		struct account a;
		struct buf out;
		struct err e;
		char pw[32], ev[128];

		memset(&a, 0, sizeof(a));
		if (t->password) {
			snprintf(pw, sizeof(pw), "%s", t->password);
			a.password = pw;
		}
		if (t->eval) {
			snprintf(ev, sizeof(ev), "%s", t->eval);
			a.passwordeval = ev;
		}
		err_clear(&e);
		int fds = count_fds();
		int rc = secret_get(&a, &out, &e);
		if (t->want && t->want[0]) {
			ok(rc == 0, "%s: ok (%s)", t->name, rc ? e.text : "-");
			ok_mem(out.data, out.len, t->want, strlen(t->want), "%s: value", t->name);
		} else if (t->want) {
			/* 65535 'b' and no newline: the whole output is the password. */
			bool all_b = out.len == 65535;
			for (size_t k = 0; all_b && k < out.len; k++)
				all_b = out.data[k] == 'b';
			ok(rc == 0 && all_b, "%s: %zu bytes (%s)", t->name, out.len,
			   rc ? e.text : "-");
		} else {
			ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, t->text),
			   "%s: refused (%s)", t->name, e.text);
			ok(out.len == 0, "%s: nothing returned", t->name);
		}
		ok(out.secret && out.max == BUF_MAX_SECRET, "%s: a secret buffer (SEC-16)",
		   t->name);
		ok(count_fds() == fds, "%s: no descriptor left open", t->name);
		ok(!children_left(), "%s: no child left", t->name);
		buf_fini(&out);
	}
}

static void
test_misc(void)
{
	struct account a;
	struct buf out;
	struct err e;

	memset(&a, 0, sizeof(a));
	ok(secret_get(&a, &out, &e) == 0 && out.len == 0 && out.secret,
	   "neither password nor passwordeval: empty, no error");
	buf_fini(&out);

	/* The error names neither the command, which may carry a token (SEC-44), nor its
	 * output (SEC-13, SEC-15), but the account and its file. */
	char ev[] = "echo c2VjcmV0Cg== | base64 -d; exit 3";
	char name[] = "work", file[] = "/home/u/.config/postie/config";
	a.passwordeval = ev;
	a.name = name;
	a.file = file;
	ok(secret_get(&a, &out, &e) == -1 && strstr(e.text, "exited with status 3") &&
	       strstr(e.text, "passwordeval of account work (/home/u/.config/postie/config)") &&
	       !strstr(e.text, "c2VjcmV0Cg==") && !strstr(e.text, "secret"),
	   "a failing command's output is not in the message (%s)", e.text);
	a.name = NULL;
	a.file = NULL;
	buf_fini(&out);

	/* SIGPIPE is ignored by postie; the command must still see the default. */
	signal(SIGPIPE, SIG_IGN);
	char ev2[] = "yes | head -n 1";
	a.passwordeval = ev2;
	int rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 1 && out.data[0] == 'y',
	   "SIGPIPE ignored in postie: a pipeline in the command still ends (%s)",
	   rc ? e.text : "-");
	buf_fini(&out);
	ok(!children_left(), "no child left after the pipeline");

	/* Standard output of postie closed: the pipe may land on fd 1 and must still work. */
	int saved = dup(STDOUT_FILENO);
	fflush(stdout);
	close(STDOUT_FILENO);
	char ev3[] = "echo fd1";
	a.passwordeval = ev3;
	rc = secret_get(&a, &out, &e);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	ok(rc == 0 && out.len == 3 && memcmp(out.data, "fd1", 3) == 0,
	   "works with standard output closed (%s)", rc ? e.text : "-");
	buf_fini(&out);
}

/* ---- helpers for the other sources ---- */

static char tmpdir[] = "/tmp/postie-secret-test-XXXXXX";

/* TMPDIR/NAME in a static buffer (one of 8 in turn). */
static const char *
at(const char *name)
{
	static char bufs[8][512];
	static int k;
	char *b = bufs[k++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
	return b;
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(99);
	}
	close(fd);
	chmod(path, mode);
}

/* The whole file PATH, NUL-terminated (static; empty when missing). */
static const char *
file_text(const char *path)
{
	static char b[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, b, sizeof(b) - 1);

	if (fd >= 0)
		close(fd);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Standard error into a file between capture_start and capture_end. */
static int saved_stderr = -1;

static void
capture_start(void)
{
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	int fd = open(at("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static const char *
capture_end(void)
{
	static char text[8192];

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	snprintf(text, sizeof(text), "%s", file_text(at("stderr")));
	/* One line, so that TAP descriptions stay on theirs. */
	for (char *p = text; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return text;
}

/* An account for smtp.example.test and alice, nothing else. */
static void
account_init(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->name = "default";
	a->host = "smtp.example.test";
	a->user = "alice";
}

static bool
same(const struct buf *b, const char *s)
{
	return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

/* ---- PR_SET_DUMPABLE ---- */

static void
test_dumpable(void)
{
	struct account a;
	struct buf out;
	struct err e;

	if (prctl(PR_GET_DUMPABLE) != 1) {
		ok(1, "# SKIP the process is not dumpable to begin with");
		return;
	}
	memset(&a, 0, sizeof(a));
	secret_get(&a, &out, &e);
	buf_fini(&out);
	ok(prctl(PR_GET_DUMPABLE) == 1, "no secret read: still dumpable");
	char pw[] = "hunter2";
	a.password = pw;
	secret_get(&a, &out, &e);
	buf_fini(&out);
	ok(prctl(PR_GET_DUMPABLE) == 0, "a secret read: no longer dumpable (SEC-16)");
}

/* ---- netrc parsing ---- */

struct ncase {
	const char *name;
	const char *text;
	const char *host, *user;
	int want;          /* 1 found, 0 not, -1 error */
	const char *value; /* found: the password; error: part of the message */
};

static const struct ncase ncases[] = {
    {"one line", "machine h login u password p", "h", "u", 1, "p"},
    /* Issue 10, bug 12: an empty machine name looked up with an empty host passed NULL to
     * strcasecmp. An empty name is no host's name; an empty login is compared by length. */
    {"empty machine, empty host", "machine \"\" login u password p", "", "u", 0, NULL},
    {"empty machine, a host", "machine \"\" login u password p", "h", "u", 0, NULL},
    {"empty login, empty user", "machine h login \"\" password p", "h", "", 1, "p"},
    {"empty machine before the default", "machine \"\" password p\ndefault password d", "", "u", 1,
     "d"},
    {"host in any case", "machine SMTP.Example.TEST login u password p", "smtp.example.test", "u",
     1, "p"},
    {"host prefix is no match", "machine smtp.example login u password p", "smtp.example.test", "u",
     0, NULL},
    {"several lines, tabs, CRLF", "machine h\r\n\tlogin u\r\n\tpassword p\r\n", "h", "u", 1, "p"},
    {"other login skipped", "machine h login x password a\nmachine h login u password b", "h", "u",
     1, "b"},
    {"login compared exactly", "machine h login U password a", "h", "u", 0, NULL},
    {"entry without login fits", "machine h password p", "h", "u", 1, "p"},
    {"first fitting entry wins", "machine h password a\nmachine h login u password b", "h", "u", 1,
     "a"},
    {"other machine", "machine o login u password p", "h", "u", 0, NULL},
    {"default", "machine o login u password a\ndefault login u password d", "h", "u", 1, "d"},
    {"machine wins over an earlier default", "default password d\nmachine h password p", "h", "u",
     1, "p"},
    {"default for another login", "default login x password d", "h", "u", 0, NULL},
    {"entry without password", "machine h login u", "h", "u", 0, NULL},
    {"empty password", "machine h login u password \"\"", "h", "u", 0, NULL},
    {"login and password outside any entry", "login u password p", "h", "u", 0, NULL},
    {"quoted password", "machine h login u password \"a b\\\"c\\\\d\\n\\te\"", "h", "u", 1,
     "a b\"c\\d\n\te"},
    {"quoted machine and login", "machine \"h\" login \"u\" password p", "h", "u", 1, "p"},
    {"other backslash kept as the letter", "machine h password \"a\\qb\"", "h", "u", 1, "aqb"},
    {"quote inside a word is a character", "machine h password a\"b", "h", "u", 1, "a\"b"},
    {"macdef body skipped",
     "macdef init\nmachine h login u password bad\n\nmachine h login u password good", "h", "u", 1,
     "good"},
    {"macdef ended by a CRLF empty line",
     "macdef init\r\nmachine h password bad\r\n\r\nmachine h password good\r\n", "h", "u", 1,
     "good"},
    {"macdef inside an entry ends it", "machine h login u\nmacdef x\ncd /\n\npassword p", "h", "u",
     0, NULL},
    {"macdef to the end", "machine o password a\nmacdef init\nmachine h password p\n", "h", "u", 0,
     NULL},
    {"comment line", "# machine h password bad\nmachine h password p", "h", "u", 1, "p"},
    {"comment after an entry", "machine h password p # machine h password q", "h", "u", 1, "p"},
    {"password may begin with #", "machine h password #secret", "h", "u", 1, "#secret"},
    {"account skipped", "machine h login u account acct password p", "h", "u", 1, "p"},
    {"unknown keywords skipped", "machine h port 587 login u password p", "h", "u", 1, "p"},
    {"empty text", "", "h", "u", 0, NULL},
    {"only blanks", " \n\t\r\n", "h", "u", 0, NULL},
    {"unterminated quote", "machine h\npassword \"abc", "h", "u", -1,
     "line 2: a quoted string without its closing quote"},
    {"backslash at the end", "machine h password \"abc\\", "h", "u", -1,
     "without its closing quote"},
    {"keyword at the end", "machine h login u\npassword", "h", "u", -1,
     "line 2: `password` without its word"},
    {"machine at the end", "machine", "h", "u", -1, "`machine` without its word"},
};

static void
test_netrc_parse(void)
{
	for (size_t i = 0; i < sizeof(ncases) / sizeof(ncases[0]); i++) {
		const struct ncase *t = &ncases[i];
		struct buf out;
		struct err e;

		buf_init(&out, BUF_MAX_SECRET);
		out.secret = true;
		err_clear(&e);
		int rc = netrc_find(t->text, strlen(t->text), t->host, t->user, &out, &e);
		if (t->want == 1)
			ok_mem(rc == 1 ? out.data : "(not found)", rc == 1 ? out.len : 11, t->value,
			       strlen(t->value), "netrc %s: found (rc %d)", t->name, rc);
		else if (t->want == 0)
			ok(rc == 0 && out.len == 0, "netrc %s: not found (rc %d)", t->name, rc);
		else
			ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, t->value),
			   "netrc %s: refused (%s)", t->name, e.text);
		buf_fini(&out);
	}

	/* Bounds: the parser reads N bytes, not up to a NUL. */
	const char text[] = "machine h password abcdef";
	struct buf out;
	struct err e;
	buf_init(&out, BUF_MAX_SECRET);
	int rc = netrc_find(text, strlen(text) - 4, "h", "u", &out, &e);
	ok(rc == 1 && same(&out, "ab"), "netrc: reads only the N bytes given");
	buf_reset(&out);
	rc = netrc_find("machine h password p\0machine", 28, "h", "u", &out, &e);
	ok(rc == -1 && strstr(e.text, "line 1: a NUL byte"), "netrc: NUL refused (%s)", e.text);
	buf_reset(&out);
	rc = netrc_find("\n\nmachine h pass\0word", 21, "h", "u", &out, &e);
	ok(rc == -1 && strstr(e.text, "line 3: a NUL byte"), "netrc: NUL line number (%s)", e.text);

	/* Words up to NETRC_WORD_MAX bytes; one more is refused. */
	static char big[NETRC_WORD_MAX + 64];
	for (int extra = 0; extra <= 1; extra++) {
		int k = snprintf(big, sizeof(big), "machine h password ");
		memset(big + k, 'x', NETRC_WORD_MAX + (size_t)extra);
		size_t n = (size_t)k + NETRC_WORD_MAX + (size_t)extra;
		buf_reset(&out);
		rc = netrc_find(big, n, "h", "u", &out, &e);
		if (extra == 0)
			ok(rc == 1 && out.len == NETRC_WORD_MAX, "netrc: a %d-byte password",
			   NETRC_WORD_MAX);
		else
			ok(rc == -1 && strstr(e.text, "a word longer than"),
			   "netrc: a longer word refused (%s)", e.text);
	}
	/* The same with a quoted word. */
	int k = snprintf(big, sizeof(big), "machine h password \"");
	memset(big + k, 'y', NETRC_WORD_MAX + 1);
	big[k + NETRC_WORD_MAX + 1] = '"';
	buf_reset(&out);
	rc = netrc_find(big, (size_t)k + NETRC_WORD_MAX + 2, "h", "u", &out, &e);
	ok(rc == -1 && strstr(e.text, "a word longer than"), "netrc: a long quoted word refused");
	buf_fini(&out);
}

/* ---- password_file ---- */

static void
test_password_file(void)
{
	struct account a;
	struct buf out;
	struct err e;
	char path[512];

	account_init(&a);
	snprintf(path, sizeof(path), "%s", at("pwfile"));
	a.password_file = path;

	put_file(path, "file-pw\nsecond line\n", 0600);
	int rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "file-pw"), "password_file 0600: its first line (%s)",
	   rc ? e.text : "-");
	buf_fini(&out);

	put_file(path, "crlf-pw\r\n", 0400);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "crlf-pw"), "password_file 0400, CRLF: ok");
	buf_fini(&out);

	put_file(path, "no-newline", 0600);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "no-newline"), "password_file without a final newline");
	buf_fini(&out);

	static const mode_t bad[] = {0640, 0604, 0610, 0601, 0644, 0660};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file(path, "file-pw\n", bad[i]);
		rc = secret_get(&a, &out, &e);
		char want[600];
		snprintf(want, sizeof(want), "run `chmod 600 %s`", path);
		ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, want) &&
		       strstr(e.text, "password_file") && !strstr(e.text, "file-pw") &&
		       out.len == 0,
		   "password_file mode %04o refused (%s)", (unsigned)bad[i], e.text);
		buf_fini(&out);
	}

	if (geteuid() == 0) {
		put_file(path, "file-pw\n", 0600);
		if (chown(path, 65534, (gid_t)-1) == 0) {
			rc = secret_get(&a, &out, &e);
			ok(rc == -1 && e.kind == ERR_CONFIG &&
			       strstr(e.text, "belongs to uid 65534") && strstr(e.text, "chown 0 "),
			   "password_file of another user refused (%s)", e.text);
			buf_fini(&out);
		}
	} else {
		ok(1, "# SKIP a file of another user needs root to make");
	}

	unlink(path);
	rc = secret_get(&a, &out, &e);
	ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, "No such file"),
	   "password_file missing: refused (%s)", e.text);
	buf_fini(&out);

	put_file(path, "\nsecond\n", 0600);
	rc = secret_get(&a, &out, &e);
	ok(rc == -1 && strstr(e.text, "its first line is empty"),
	   "password_file with an empty first line (%s)", e.text);
	buf_fini(&out);

	mkdir(at("pwdir"), 0700);
	a.password_file = (char *)at("pwdir");
	rc = secret_get(&a, &out, &e);
	ok(rc == -1 && strstr(e.text, "not a regular file"), "password_file a directory (%s)",
	   e.text);
	buf_fini(&out);

	/* A symbolic link to a private file is fine (e.g. /run/secrets/...). */
	put_file(path, "linked-pw\n", 0600);
	unlink(at("pwlink"));
	symlink(path, at("pwlink"));
	a.password_file = (char *)at("pwlink");
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "linked-pw"), "password_file through a symbolic link");
	buf_fini(&out);

	/* Order: password, then passwordeval, then password_file. */
	a.password_file = path;
	char pw[] = "profile-pw", ev[] = "echo eval-pw";
	a.passwordeval = ev;
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "eval-pw"), "passwordeval comes before password_file");
	buf_fini(&out);
	a.password = pw;
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "profile-pw"), "password comes first");
	buf_fini(&out);
	unlink(path);
}

/* ---- systemd credentials, netrc files, the keyring ---- */

static void
test_implicit_sources(void)
{
	struct account a;
	struct buf out;
	struct err e;
	static char etc_netrc[512];
	snprintf(etc_netrc, sizeof(etc_netrc), "%s", at("etc-netrc"));
	struct secret_hooks h = {.no_tty = true, .system_netrc = etc_netrc};

	secret_set_hooks(&h);
	mkdir(at("home"), 0700);
	mkdir(at("creds"), 0700);
	setenv("HOME", at("home"), 1);
	account_init(&a);

	/* Nothing anywhere: empty, no error. */
	int rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0, "no source: empty, no error");
	buf_fini(&out);

	/* /etc/netrc (no permission rule: it is the administrator's). */
	put_file(at("etc-netrc"), "machine smtp.example.test login alice password sys-pw\n", 0644);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "sys-pw"), "password from /etc/netrc");
	buf_fini(&out);

	/* ~/.netrc comes first. */
	put_file(at("home/.netrc"), "machine smtp.example.test login alice password home-pw\n",
	         0600);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"), "password from ~/.netrc before /etc/netrc");
	buf_fini(&out);

	/* A ~/.netrc that others may read is skipped with a warning, as ftp(1) does. */
	chmod(at("home/.netrc"), 0644);
	capture_start();
	rc = secret_get(&a, &out, &e);
	const char *err = capture_end();
	ok(rc == 0 && same(&out, "sys-pw") && strstr(err, "warning") && strstr(err, "chmod 600") &&
	       strstr(err, ".netrc") && !strstr(err, "home-pw"),
	   "~/.netrc mode 0644: skipped with a warning (%s)", err);
	buf_fini(&out);

	/* ... but only when it holds the password we want (ftp(1) again). */
	put_file(at("home/.netrc"), "machine other.example.test password x\n", 0644);
	capture_start();
	rc = secret_get(&a, &out, &e);
	err = capture_end();
	ok(rc == 0 && same(&out, "sys-pw") && !strstr(err, "warning"),
	   "~/.netrc mode 0644 without our host: no warning (%s)", err);
	buf_fini(&out);

	if (geteuid() == 0) {
		put_file(at("home/.netrc"), "machine smtp.example.test password home-pw\n", 0600);
		chown(at("home/.netrc"), 65534, (gid_t)-1);
		capture_start();
		rc = secret_get(&a, &out, &e);
		err = capture_end();
		ok(rc == 0 && same(&out, "sys-pw") && strstr(err, "belongs to uid 65534"),
		   "~/.netrc of another user: skipped with a warning (%s)", err);
		buf_fini(&out);
	}

	/* A malformed ~/.netrc: a warning, and the next source. */
	put_file(at("home/.netrc"), "machine smtp.example.test password \"home-pw\n", 0600);
	capture_start();
	rc = secret_get(&a, &out, &e);
	err = capture_end();
	ok(rc == 0 && same(&out, "sys-pw") && strstr(err, "closing quote") &&
	       !strstr(err, "home-pw"),
	   "malformed ~/.netrc: warned and skipped (%s)", err);
	buf_fini(&out);
	put_file(at("home/.netrc"), "machine smtp.example.test password home-pw\n", 0600);

	/* systemd credential postie.ACCOUNT comes before netrc. */
	put_file(at("creds/postie.default"), "cred-pw\n", 0400);
	put_file(at("creds/postie"), "generic-pw\n", 0400);
	setenv("CREDENTIALS_DIRECTORY", at("creds"), 1);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "cred-pw"), "password from $CREDENTIALS_DIRECTORY/postie.default");
	buf_fini(&out);
	a.name = "work";
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"),
	   "no postie.work credential: no other account's (nor a generic one); ~/.netrc next");
	buf_fini(&out);
	a.name = "../creds/postie.default";
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"), "an account name with '/' names no credential");
	buf_fini(&out);
	a.name = "default";
	put_file(at("creds/postie.default"), "\n", 0400);
	rc = secret_get(&a, &out, &e);
	ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, "systemd credential"),
	   "an empty credential is an error (%s)", e.text);
	buf_fini(&out);
	setenv("CREDENTIALS_DIRECTORY", "creds", 1);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"), "a relative CREDENTIALS_DIRECTORY is ignored");
	buf_fini(&out);
	unsetenv("CREDENTIALS_DIRECTORY");

	/* No user or no host: no implicit source at all. */
	a.user = NULL;
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0, "no user: netrc not consulted");
	buf_fini(&out);
	a.user = "alice";
	/* Nor for a mechanism that takes no password. */
	put_file(at("home/.netrc"), "machine smtp.example.test password home-pw\n", 0600);
	static const char *const nopw[] = {"external", "XOAUTH2", "OAuthBearer"};
	for (size_t i = 0; i < 3; i++) {
		a.auth_mech = (char *)nopw[i];
		rc = secret_get(&a, &out, &e);
		ok(rc == 0 && out.len == 0, "auth %s: netrc not consulted", nopw[i]);
		buf_fini(&out);
	}
	a.auth_mech = (char *)"plain";
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"), "auth plain: netrc consulted");
	buf_fini(&out);
	a.auth_mech = NULL;
	/* An OAuth account never picks up a password by itself. */
	char tc[] = "echo tok";
	a.oauth2_token_command = tc;
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0, "oauth2_token_command: netrc not consulted");
	buf_fini(&out);
	a.oauth2_token_command = NULL;

	/* The keyring: a fake secret-tool that records its arguments. */
	unlink(at("home/.netrc"));
	unlink(at("etc-netrc"));
	mkdir(at("bin"), 0700);
	char script[1024];
	snprintf(script, sizeof(script),
	         "#!/bin/sh\nfor a in \"$@\"; do printf '[%%s]\\n' \"$a\"; done > %s\n"
	         "[ -e %s ] && exit 1\nprintf 'keyring-pw\\n'\n",
	         at("argv"), at("notfound"));
	put_file(at("bin/secret-tool"), script, 0700);
	const char *old_path = getenv("PATH");
	char path[2048];
	snprintf(path, sizeof(path), "%s:%s", at("bin"), old_path ? old_path : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	unlink(at("argv"));
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0 && !exists(at("argv")),
	   "no DBUS_SESSION_BUS_ADDRESS: secret-tool not run");
	buf_fini(&out);
	setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
	a.user = "alice smith's";
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "keyring-pw"), "password from the keyring (%s)",
	   rc ? e.text : "-");
	const char *argv = file_text(at("argv"));
	const char *want = "[lookup]\n[host]\n[smtp.example.test]\n[service]\n[smtp]\n[user]\n"
	                   "[alice smith's]\n";
	ok_mem(argv, strlen(argv), want, strlen(want), "secret-tool's arguments (msmtp's)");
	buf_fini(&out);
	put_file(at("notfound"), "", 0600);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0, "secret-tool finds nothing (exit 1): empty, no error");
	buf_fini(&out);
	unlink(at("notfound"));
	chmod(at("bin/secret-tool"), 0600);
	unlink(at("argv"));
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0 && !exists(at("argv")), "secret-tool not executable: not run");
	buf_fini(&out);
	chmod(at("bin/secret-tool"), 0700);
	/* netrc still comes before the keyring. */
	put_file(at("home/.netrc"), "default password home-pw\n", 0600);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && same(&out, "home-pw"), "netrc before the keyring");
	buf_fini(&out);
	unlink(at("home/.netrc"));
	if (old_path)
		setenv("PATH", old_path, 1);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	ok(!children_left(), "no child left after the keyring");
	secret_set_hooks(&(struct secret_hooks){.no_tty = true});
}

/* ---- the prompt, on a pseudo-terminal ---- */

/*
 * The person at the terminal: waits for the prompt on MASTER, types ANSWER, then reads up
 * to the end of the prompt's line. Exits 0 when what came back holds no echo of the
 * answer, 1 when it does, 2 when the prompt never came.
 */
static _Noreturn void
typist(int master, const char *answer)
{
	char got[4096];
	size_t n = 0;
	char *end = NULL;

	alarm(20); /* a safety net against a hang, not a timed assertion */
	while (!(end = n ? memmem(got, n, "at smtp.example.test: ", 22) : NULL)) {
		ssize_t r = read(master, got + n, sizeof(got) - 1 - n);
		if (r <= 0)
			_exit(2);
		n += (size_t)r;
	}
	size_t from = (size_t)(end - got) + 22;
	if (write(master, answer, strlen(answer)) < 0)
		_exit(3);
	while (!memchr(got + from, '\n', n - from)) {
		ssize_t r = read(master, got + n, sizeof(got) - 1 - n);
		if (r <= 0)
			_exit(2);
		n += (size_t)r;
	}
	_exit(memmem(got + from, n - from, "typed", 5) ? 1 : 0);
}

static void
test_prompt(void)
{
	struct account a;
	struct buf out;
	struct err e;
	int status;

	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		ok(1, "# SKIP no pseudo-terminal");
		return;
	}
	char slave[256];
	snprintf(slave, sizeof(slave), "%s", ptsname(master));
	int sfd = open(slave, O_RDWR | O_NOCTTY);
	struct termios before;
	tcgetattr(sfd, &before);
	account_init(&a);
	setenv("HOME", at("home"), 1);

	/* The detector works: with echo on, the answer comes back. */
	pid_t pid = fork();
	if (pid == 0)
		typist(master, "typed-pw\n");
	const char *p = "postie: password for alice at smtp.example.test: ";
	write(sfd, p, strlen(p));
	char line[64];
	ssize_t r = read(sfd, line, sizeof(line));
	write(sfd, "\n", 1);
	waitpid(pid, &status, 0);
	ok(r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
	   "control: with echo on the typist sees the answer (status %d)", status);

	struct secret_hooks h = {.tty = slave, .tty_any_stderr = true};
	secret_set_hooks(&h);
	pid = fork();
	if (pid == 0)
		typist(master, "typed-pw\n");
	int rc = secret_get(&a, &out, &e);
	waitpid(pid, &status, 0);
	ok(rc == 0 && same(&out, "typed-pw"), "password typed at the prompt (%s)",
	   rc ? e.text : "-");
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the typed password was not echoed (status %d)", status);
	buf_fini(&out);
	struct termios after;
	tcgetattr(sfd, &after);
	ok(after.c_lflag == before.c_lflag, "the terminal is as it was (echo back on)");

	pid = fork();
	if (pid == 0)
		typist(master, "\n");
	rc = secret_get(&a, &out, &e);
	waitpid(pid, &status, 0);
	ok(rc == 0 && out.len == 0, "an empty answer: no password, no error");
	buf_fini(&out);

	/* Standard error not a terminal: no prompt. A typist stands by to catch one. */
	h.tty_any_stderr = false;
	secret_set_hooks(&h);
	pid = fork();
	if (pid == 0)
		typist(master, "typed-pw\n");
	capture_start();
	rc = secret_get(&a, &out, &e);
	capture_end();
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(rc == 0 && out.len == 0, "standard error not a terminal: no prompt");
	buf_fini(&out);

	/* A client certificate: no prompt (EXTERNAL may be all it needs). */
	h.tty_any_stderr = true;
	secret_set_hooks(&h);
	a.tls_cert_file = (char *)"/etc/client.pem";
	pid = fork();
	if (pid == 0)
		typist(master, "typed-pw\n");
	rc = secret_get(&a, &out, &e);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(rc == 0 && out.len == 0, "a client certificate: no prompt");
	buf_fini(&out);
	a.tls_cert_file = NULL;

	/* A path that is not a terminal: no prompt. */
	h.tty = at("home");
	h.tty_any_stderr = true;
	secret_set_hooks(&h);
	rc = secret_get(&a, &out, &e);
	ok(rc == 0 && out.len == 0, "not a terminal: no prompt");
	buf_fini(&out);

	secret_set_hooks(&(struct secret_hooks){.no_tty = true});
	close(sfd);
	close(master);
}

/* ---- OAuth 2.0: the command's output ---- */

struct ocase {
	const char *name;
	const char *text;
	const char *token; /* NULL: an error */
	long lifetime;     /* or, for errors, unused */
	const char *msg;   /* for errors: part of the message */
};

static const struct ocase ocases[] = {
    {"token and newline", "ya29.a0Af-_~+/x==\n", "ya29.a0Af-_~+/x==", -1, NULL},
    {"token alone", "tok", "tok", -1, NULL},
    {"token and lifetime", "tok 3599\n", "tok", 3599, NULL},
    {"lifetime on the next line", "tok\n3599\n", "tok", 3599, NULL},
    {"blanks around", " \r\n\ttok\t 60 \r\n\n", "tok", 60, NULL},
    {"lifetime 0", "tok 0", "tok", 0, NULL},
    {"ten digits", "tok 9999999999", "tok", 9999999999L, NULL},
    {"eleven digits", "tok 12345678901", NULL, 0, "not a lifetime"},
    {"negative lifetime", "tok -5", NULL, 0, "not a lifetime"},
    {"two lines of words", "tok\nsomething\n", NULL, 0, "not a lifetime"},
    {"Bearer prefix", "Bearer tok", NULL, 0, "not a lifetime"},
    {"three words", "tok 60 more", NULL, 0, "more than a token and its lifetime"},
    {"empty", "", NULL, 0, "printed no token"},
    {"blank", " \n\n", NULL, 0, "printed no token"},
    {"comma in the token", "to,ken", NULL, 0, "not a bearer token"},
    {"padding first", "=tok", NULL, 0, "not a bearer token"},
    {"padding inside", "to=k", NULL, 0, "not a bearer token"},
    {"JSON",
     "{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"scope\":\"https://mail."
     "google.com/\",\"token_type\":\"Bearer\"}\n",
     "ya29.x", 3599, NULL},
    {"JSON with blanks",
     "\n { \"token_type\" : \"Bearer\" ,\r\n \"access_token\" : "
     "\"t\" , \"expires_in\" : \"3600\" }\n\n",
     "t", 3600, NULL},
    {"JSON without expires_in", "{\"access_token\":\"t\"}", "t", -1, NULL},
    {"JSON nested values skipped",
     "{\"a\":{\"b\":[1,-2.5e+3,{\"c\":null}],\"d\":[]},"
     "\"e\":true,\"f\":false,\"g\":{},\"access_token\":\"t\"}",
     "t", -1, NULL},
    {"JSON escaped slash", "{\"access_token\":\"a\\/b\\u0041\"}", "a/bA", -1, NULL},
    {"JSON error",
     "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been "
     "expired or revoked.\"}",
     NULL, 0, "error \"invalid_grant\""},
    {"JSON empty object", "{}", NULL, 0, "no access_token"},
    {"JSON token twice", "{\"access_token\":\"a\",\"access_token\":\"b\"}", NULL, 0,
     "access_token twice"},
    {"JSON trailing garbage", "{\"access_token\":\"t\"} x", NULL, 0, "not a JSON object"},
    {"JSON two objects", "{\"access_token\":\"t\"}{}", NULL, 0, "not a JSON object"},
    {"JSON trailing comma", "{\"access_token\":\"t\",}", NULL, 0, "not a JSON object"},
    {"JSON unterminated", "{\"access_token\":\"t", NULL, 0, "not a JSON object"},
    {"JSON no closing brace", "{\"access_token\":\"t\"", NULL, 0, "not a JSON object"},
    {"JSON raw control character", "{\"access_token\":\"t\tx\"}", NULL, 0, "not a JSON object"},
    {"JSON bad escape", "{\"access_token\":\"\\x41\"}", NULL, 0, "not a JSON object"},
    {"JSON short \\u", "{\"access_token\":\"\\u41\"}", NULL, 0, "not a JSON object"},
    {"JSON token not a string", "{\"access_token\":12}", NULL, 0, "not a JSON object"},
    {"JSON token with a space", "{\"access_token\":\"a\\u0020b\"}", NULL, 0, "not a bearer token"},
    {"JSON expires_in fraction", "{\"access_token\":\"t\",\"expires_in\":1.5}", NULL, 0,
     "expires_in"},
    {"JSON expires_in negative", "{\"access_token\":\"t\",\"expires_in\":-1}", NULL, 0,
     "expires_in"},
    {"JSON expires_in words", "{\"access_token\":\"t\",\"expires_in\":\"soon\"}", NULL, 0,
     "expires_in"},
    {"JSON expires_in twice", "{\"access_token\":\"t\",\"expires_in\":1,\"expires_in\":2}", NULL, 0,
     "expires_in"},
    {"JSON leading zero", "{\"access_token\":\"t\",\"x\":01}", NULL, 0, "not a JSON object"},
    {"JSON bad literal", "{\"x\":nul,\"access_token\":\"t\"}", NULL, 0, "not a JSON object"},
    {"JSON 16 levels", "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]],\"access_token\":\"t\"}", "t", -1,
     NULL},
    {"JSON 17 levels", "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]],\"access_token\":\"t\"}", NULL, 0,
     "not a JSON object"},
};

static void
test_oauth2_parse(void)
{
	for (size_t i = 0; i < sizeof(ocases) / sizeof(ocases[0]); i++) {
		const struct ocase *t = &ocases[i];
		struct buf tok;
		struct err e;
		long life = 12345;

		buf_init(&tok, OAUTH2_TOKEN_MAX);
		err_clear(&e);
		int rc = oauth2_parse(t->text, strlen(t->text), &tok, &life, &e);
		if (t->token) {
			ok(rc == 0 && same(&tok, t->token) && life == t->lifetime,
			   "oauth2 output, %s: token and lifetime %ld (%s)", t->name, life,
			   rc ? e.text : "-");
		} else {
			ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, t->msg) &&
			       tok.len == 0,
			   "oauth2 output, %s: refused (%s)", t->name, e.text);
		}
		ok(tok.secret, "oauth2 output, %s: a secret buffer", t->name);
		buf_fini(&tok);
	}

	/* The message never shows the output. */
	struct buf tok;
	struct err e;
	long life;
	buf_init(&tok, OAUTH2_TOKEN_MAX);
	const char *t = "SECRETTOKEN 60 extra";
	ok(oauth2_parse(t, strlen(t), &tok, &life, &e) == -1 && !strstr(e.text, "SECRET") &&
	       !strstr(e.text, "extra"),
	   "oauth2 output: the message quotes nothing (%s)", e.text);
	t = "{\"access_token\":\"SECRET,TOKEN\"}";
	ok(oauth2_parse(t, strlen(t), &tok, &life, &e) == -1 && !strstr(e.text, "SECRET"),
	   "oauth2 JSON: the message quotes nothing (%s)", e.text);

	/* Bounds: only N bytes are read. */
	t = "abc 3600 garbage";
	ok(oauth2_parse(t, 8, &tok, &life, &e) == 0 && same(&tok, "abc") && life == 3600,
	   "oauth2 output: reads only the N bytes given");
	buf_reset(&tok);
	t = "{\"access_token\":\"t\"}}}}";
	ok(oauth2_parse(t, 20, &tok, &life, &e) == 0 && same(&tok, "t"),
	   "oauth2 JSON: reads only the N bytes given");
	buf_reset(&tok);

	/* OAUTH2_TOKEN_MAX bytes of token, and one more. */
	static char big[OAUTH2_TOKEN_MAX + 64];
	for (int json = 0; json <= 1; json++) {
		for (int extra = 0; extra <= 1; extra++) {
			size_t k = 0;
			if (json)
				k = (size_t)snprintf(big, sizeof(big), "{\"access_token\":\"");
			memset(big + k, 'x', OAUTH2_TOKEN_MAX + (size_t)extra);
			k += OAUTH2_TOKEN_MAX + (size_t)extra;
			if (json)
				k += (size_t)snprintf(big + k, sizeof(big) - k, "\"}");
			buf_reset(&tok);
			int rc = oauth2_parse(big, k, &tok, &life, &e);
			const char *form = json ? "JSON" : "output";
			if (extra == 0)
				ok(rc == 0 && tok.len == OAUTH2_TOKEN_MAX,
				   "oauth2 %s: a %d-byte token", form, OAUTH2_TOKEN_MAX);
			else
				ok(rc == -1 && strstr(e.text, "longer than"),
				   "oauth2 %s: a longer token refused (%s)", form, e.text);
		}
	}
	buf_fini(&tok);
}

/* ---- OAuth 2.0: the command and the cache ---- */

static long long fake_now = 1700000000;

static long long
fake_clock(void)
{
	return fake_now;
}

/* How many times the token command ran. */
static int
runs(void)
{
	return atoi(file_text(at("tokcmd.count")));
}

static void
test_oauth2_cache(void)
{
	struct account a;
	struct buf tok;
	struct err e;
	char cmd[512], cache[512];
	struct stat st;

	struct secret_hooks h = {.no_tty = true, .now = fake_clock};
	secret_set_hooks(&h);
	setenv("XDG_CACHE_HOME", at("cache"), 1);
	put_file(at("tokcmd"),
	         "#!/bin/sh\nn=$(cat \"$0.count\" 2>/dev/null || echo 0)\nn=$((n + 1))\n"
	         "echo $n > \"$0.count\"\n[ -e \"$0.fail\" ] && { echo oops-$n; exit 1; }\n"
	         "printf 'tok-%s %s\\n' $n \"${TOKLIFE-3600}\"\n",
	         0700);
	unlink(at("tokcmd.count"));
	snprintf(cmd, sizeof(cmd), "%s", at("tokcmd"));
	snprintf(cache, sizeof(cache), "%s", at("cache/postie/oauth2/default"));
	account_init(&a);
	a.oauth2_token_command = cmd;

	int rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && same(&tok, "tok-1") && runs() == 1, "first run: the command's token (%s)",
	   rc < 0 ? e.text : "-");
	ok(tok.secret && tok.max == OAUTH2_TOKEN_MAX, "the token is in a secret buffer");
	buf_fini(&tok);
	ok(stat(cache, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_uid == geteuid(),
	   "the cache file is 0600 and ours");
	ok(stat(at("cache/postie/oauth2"), &st) == 0 && (st.st_mode & 0777) == 0700,
	   "the cache directory is 0700");
	ok(strstr(file_text(cache), "token tok-1\n") != NULL, "the cache holds the token");

	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && same(&tok, "tok-1") && runs() == 1,
	   "second run: from the cache, the command did not run");
	buf_fini(&tok);

	rc = oauth2_token(&a, true, &tok, &e);
	ok(rc == 0 && same(&tok, "tok-2") && runs() == 2, "refresh: the command runs");
	buf_fini(&tok);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && same(&tok, "tok-2"), "after a refresh the cache has the new token");
	buf_fini(&tok);

	/* Expiry: the token was cached at fake_now with 3600 s to live. */
	fake_now += 3600 - OAUTH2_TOKEN_MARGIN - 1;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && runs() == 2, "one second before the margin: still cached");
	buf_fini(&tok);
	fake_now += 1;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && same(&tok, "tok-3") && runs() == 3, "within the margin: the command runs");
	buf_fini(&tok);
	/* A clock that went back a long way: the entry is not believed. */
	fake_now -= 10 * 24 * 3600;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == 4, "an entry far in the future (clock went back) is not used");
	buf_fini(&tok);
	fake_now += 10 * 24 * 3600;

	/* A cache file others may read is not used, with a warning, and is replaced. */
	rc = oauth2_token(&a, false, &tok, &e);
	buf_fini(&tok);
	int before = runs();
	chmod(cache, 0644);
	capture_start();
	rc = oauth2_token(&a, false, &tok, &e);
	const char *err = capture_end();
	ok(rc == 0 && runs() == before + 1 && strstr(err, "not used") && strstr(err, "chmod 600") &&
	       !strstr(err, "tok-"),
	   "a world-readable cache file is refused with a warning (%s)", err);
	buf_fini(&tok);
	ok(stat(cache, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "and the new token's file is 0600 again");
	if (geteuid() == 0) {
		chown(cache, 65534, (gid_t)-1);
		before = runs();
		capture_start();
		rc = oauth2_token(&a, false, &tok, &e);
		err = capture_end();
		ok(rc == 0 && runs() == before + 1 && strstr(err, "belongs to uid 65534"),
		   "a cache file of another user is refused (%s)", err);
		buf_fini(&tok);
	}

	/* Tied to host, user and command. */
	rc = oauth2_token(&a, false, &tok, &e);
	buf_fini(&tok);
	before = runs();
	a.host = "smtp.other.test";
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "another host: the cached token is not used");
	buf_fini(&tok);
	a.user = "bob";
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 2, "another user: the cached token is not used");
	buf_fini(&tok);
	char cmd2[600];
	snprintf(cmd2, sizeof(cmd2), "%s  ", cmd);
	a.oauth2_token_command = cmd2;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 3, "another command: the cached token is not used");
	buf_fini(&tok);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && runs() == before + 3, "the same again: cached");
	buf_fini(&tok);

	/* Damaged files are ignored. */
	static const char *const damaged[] = {
	    "",
	    "garbage\n",
	    "postie-oauth2-cache 2\nexpires 1800000000\n",
	    "postie-oauth2-cache 1\nexpires x\n",
	    "postie-oauth2-cache 1\nexpires 1700003600\nhost smtp.other.test\nuser bob\n",
	};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		put_file(cache, damaged[i], 0600);
		before = runs();
		rc = oauth2_token(&a, false, &tok, &e);
		ok(rc == 0 && runs() == before + 1, "damaged cache file %zu: not used", i);
		buf_fini(&tok);
	}
	/* A good file, then the same with a token that is not a b64token or extra bytes. */
	/* The command is in the file as its SHA-256 (here of "TOKCMD  "), never in clear. */
	char good[2048], digest[80];
	ok(!strstr(file_text(cache), cmd2), "the cache does not hold the command");
	const char *dl = strstr(file_text(cache), "\ncommand-sha256 ");
	ok(dl && strlen(dl) > 16 + 64 && dl[16 + 64] == '\n', "the cache holds its SHA-256");
	snprintf(digest, sizeof(digest), "%.64s", dl ? dl + 16 : "");
	/* SEC-41: the entry names the profile file; one of another profile is not used. */
	snprintf(good, sizeof(good),
	         "postie-oauth2-cache 2\nexpires %lld\nhost smtp.other.test\n"
	         "user bob\nprofile /tmp/caller.rc\ncommand-sha256 %s\ntoken hand-made\n",
	         fake_now + 600, digest);
	put_file(cache, good, 0600);
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1 && !same(&tok, "hand-made"),
	   "a cache file of another profile file is not used");
	buf_fini(&tok);
	snprintf(good, sizeof(good),
	         "postie-oauth2-cache 2\nexpires %lld\nhost smtp.other.test\n"
	         "user bob\nprofile %s\ncommand-sha256 %s\ntoken hand-made\n",
	         fake_now + 600, a.file ? a.file : "", digest);
	put_file(cache, good, 0600);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && same(&tok, "hand-made"), "a well-formed cache file is used");
	buf_fini(&tok);
	size_t glen = strlen(good);
	memcpy(good + glen, "x", 2); /* a byte after the token's line */
	put_file(cache, good, 0600);
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "a cache file with bytes after the token: not used");
	buf_fini(&tok);
	snprintf(good, sizeof(good),
	         "postie-oauth2-cache 1\nexpires %lld\nhost smtp.other.test\n"
	         "user bob\ncommand-sha256 %s\ntoken bad,token\n",
	         fake_now + 600, digest);
	put_file(cache, good, 0600);
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "a cache file with a bad token: not used");
	buf_fini(&tok);
	/* A symbolic link is not followed. */
	put_file(at("elsewhere"), good, 0600);
	unlink(cache);
	symlink(at("elsewhere"), cache);
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "a symbolic link as the cache file: not followed");
	buf_fini(&tok);
	ok(lstat(cache, &st) == 0 && S_ISREG(st.st_mode), "and replaced by a file");

	/* forget */
	oauth2_forget(&a);
	ok(!exists(cache), "oauth2_forget removes the cache file");
	oauth2_forget(&a); /* nothing to remove: no harm */

	/* Lifetimes: none, too short, very long. */
	setenv("TOKLIFE", "", 1);
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && !exists(cache), "no lifetime: not cached");
	buf_fini(&tok);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 2, "no lifetime: the command runs every time");
	buf_fini(&tok);
	setenv("TOKLIFE", "60", 1);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && !exists(cache), "a lifetime within the margin: not cached");
	buf_fini(&tok);
	setenv("TOKLIFE", "999999999", 1);
	rc = oauth2_token(&a, false, &tok, &e);
	buf_fini(&tok);
	before = runs();
	fake_now += OAUTH2_TOKEN_CACHE_MAX - OAUTH2_TOKEN_MARGIN - 1;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 1 && runs() == before, "a long lifetime: cached for up to a day");
	buf_fini(&tok);
	fake_now += 1;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "but not longer");
	buf_fini(&tok);
	unsetenv("TOKLIFE");

	/* A failing command: ERR_CONFIG naming the command, never its output. */
	oauth2_forget(&a);
	put_file(at("tokcmd.fail"), "", 0600);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, "oauth2_token_command") &&
	       strstr(e.text, "exited with status 1") && !strstr(e.text, "oops") &&
	       strstr(e.text, "account default") && !strstr(e.text, "tokcmd") && tok.len == 0,
	   "a failing command: named by its account, not quoted (%s)", e.text);
	buf_fini(&tok);
	unlink(at("tokcmd.fail"));
	char bad[] = "echo not,a,token 3600";
	a.oauth2_token_command = bad;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == -1 && e.kind == ERR_CONFIG && strstr(e.text, "not a bearer token"),
	   "a command that prints no token (%s)", e.text);
	buf_fini(&tok);

	/* No command: empty, no error. */
	a.oauth2_token_command = NULL;
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && tok.len == 0, "no oauth2_token_command: empty, no error");
	buf_fini(&tok);

	/* Two accounts whose names a simple mapping would merge have two files. */
	a.oauth2_token_command = cmd;
	a.host = "smtp.example.test";
	a.user = "alice";
	a.name = "a.b";
	rc = oauth2_token(&a, false, &tok, &e);
	buf_fini(&tok);
	a.name = "a_b";
	before = runs();
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && runs() == before + 1, "accounts a.b and a_b do not share a cache file");
	buf_fini(&tok);
	ok(exists(at("cache/postie/oauth2/a%2Eb")) && exists(at("cache/postie/oauth2/a_b")),
	   "their files are a%%2Eb and a_b");
	a.name = "../x";
	rc = oauth2_token(&a, false, &tok, &e);
	buf_fini(&tok);
	ok(exists(at("cache/postie/oauth2/%2E%2E%2Fx")), "an account name cannot leave the dir");

	/* A cache directory others may write to: not used for writing. */
	a.name = "default";
	oauth2_forget(&a);
	chmod(at("cache/postie/oauth2"), 0777);
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && !exists(cache), "a cache directory others may write: nothing cached");
	buf_fini(&tok);
	chmod(at("cache/postie/oauth2"), 0700);

	/* No home at all: the token still comes, uncached. */
	unsetenv("XDG_CACHE_HOME");
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	unsetenv("HOME");
	rc = oauth2_token(&a, false, &tok, &e);
	ok(rc == 0 && tok.len > 0, "no HOME nor XDG_CACHE_HOME: the token, uncached");
	buf_fini(&tok);
	if (home)
		setenv("HOME", home, 1);
	free(home);
	ok(!children_left(), "no child left after the token commands");
	secret_set_hooks(&(struct secret_hooks){.no_tty = true});
}

/* ---- the public functions of spawn.h and netrc.h that secret.c calls ---- */

static void
test_spawn_netrc(void)
{
	struct buf out, line;
	struct err e;
	size_t len;

	ok(spawn_first_line("ab\r\ncd", 6, &len) == SPAWN_LINE_OK && len == 2,
	   "spawn_first_line: CRLF ends the line");
	ok(spawn_first_line("\nx", 3, &len) == SPAWN_LINE_EMPTY && len == 0,
	   "spawn_first_line: an empty first line");
	ok(spawn_first_line(NULL, 0, &len) == SPAWN_LINE_EMPTY, "spawn_first_line: no text");
	ok(spawn_first_line("a\0b\n", 4, &len) == SPAWN_LINE_NUL, "spawn_first_line: a NUL byte");

	buf_init(&out, BUF_MAX_SECRET);
	out.secret = true;
	buf_init(&line, BUF_MAX_SECRET);
	buf_puts(&out, "\nrest", NULL);
	ok(spawn_take_first_line(&out, "read X", "HINT", &line, &e) < 0 &&
	       strcmp(e.text, "read X: its first line is empty; HINT") == 0 && line.len == 0,
	   "spawn_take_first_line: an empty line is refused (%s)", e.text);
	buf_fini(&out);

	buf_init(&out, BUF_MAX_SECRET);
	out.secret = true;
	int rc = spawn_command("run LABEL", "HINT", "printf hunter2", &out, &e);
	ok(rc == 0 && same(&out, "hunter2"), "spawn_command: the output, without a shell");
	buf_reset(&out);
	rc = spawn_command("run LABEL", "HINT", "false", &out, &e);
	ok(rc < 0 && strcmp(e.text, "run LABEL: exited with status 1; HINT") == 0,
	   "spawn_command: LABEL and HINT, never the command (%s)", e.text);
	buf_reset(&out);
	rc = spawn_command("run LABEL", "HINT", " \t ", &out, &e);
	ok(rc < 0 && strstr(e.text, "the command is empty") != NULL,
	   "spawn_command: an empty command (%s)", e.text);
	char prog[] = "/nonexistent/postie-test-prog", *argv[] = {prog, NULL};
	rc = spawn_argv("run LABEL", "HINT", argv, &out, &e);
	ok(rc < 0 && e.kind == ERR_CONFIG && strstr(e.text, "cannot start its program") &&
	       !strstr(e.text, prog),
	   "spawn_argv: a program that cannot start (%s)", e.text);
	ok(!children_left(), "spawn: no child left");
	buf_fini(&out);
	buf_fini(&line);

	buf_init(&out, NETRC_WORD_MAX);
	out.secret = true;
	ok(netrc_lookup(at("no-such-netrc"), true, "h", "u", &out) == 0 && out.len == 0,
	   "netrc_lookup: a missing file is nothing");
	put_file(at("lookup-netrc"), "machine h login u password pw\n", 0600);
	ok(netrc_lookup(at("lookup-netrc"), true, "h", "u", &out) == 1 && same(&out, "pw"),
	   "netrc_lookup: a private file gives its password");
	buf_reset(&out);
	put_file(at("lookup-netrc"), "machine h login u password pw\n", 0644);
	capture_start();
	rc = netrc_lookup(at("lookup-netrc"), true, "h", "u", &out);
	const char *err = capture_end();
	ok(rc == 0 && out.len == 0 && strstr(err, "chmod 600"),
	   "netrc_lookup: a private file others may read is skipped (%s)", err);
	ok(netrc_lookup(at("lookup-netrc"), false, "h", "u", &out) == 1 && same(&out, "pw"),
	   "netrc_lookup: not PRIVATE (/etc/netrc): its mode does not matter");
	buf_fini(&out);
}

int
main(void)
{
	/* Never a prompt on the terminal of whoever runs the tests. */
	secret_set_hooks(&(struct secret_hooks){.no_tty = true});
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	unsetenv("XDG_CACHE_HOME");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	setenv("HOME", tmpdir, 1);

	test_dumpable();
	test_cases();
	test_misc();
	test_netrc_parse();
	test_password_file();
	test_implicit_sources();
	test_prompt();
	test_oauth2_parse();
	test_oauth2_cache();
	test_spawn_netrc();

	char rm[600];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", tmpdir);
	if (system(rm) != 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
