/*
 * Unit tests for src/secret.c (SEC-15, SEC-16): the profile password, passwordeval with and
 * without a shell, first-line rules, failures that name the command but never its output,
 * the output ceiling, and no leaked descriptors or zombie children afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/buf.h"
#include "src/profile.h"
#include "src/secret.h"
#include "tests/tap.h"

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
	const char *want;  /* NULL: an error */
	const char *text;  /* for errors: part of the message */
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
		"run passwordeval 'false': exited with status 1; fix the command or use password"},
	{"exit status", NULL, "(exit 3)", NULL, "exited with status 3"},
	{"killed by a signal", NULL, "kill -9 $$", NULL, "killed by signal 9"},
	{"empty output", NULL, "true", NULL, "first line of output is empty"},
	{"empty first line", NULL, "printf '\\nsecond\\n'", NULL, "first line of output is empty"},
	{"only CRLF", NULL, "printf '\\r\\n'", NULL, "first line of output is empty"},
	{"missing program", NULL, "no-such-program-postie-test arg", NULL,
		"cannot run no-such-program-postie-test: No such file or directory"},
	{"missing program through the shell", NULL, "no-such-program-postie-test; exit $?", NULL,
		"exited with status 127"},
	{"not executable", NULL, "/dev/null", NULL, "cannot run /dev/null"},
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

	/* The error names the command but never its output (SEC-13, SEC-15). */
	char ev[] = "echo c2VjcmV0Cg== | base64 -d; exit 3";
	a.passwordeval = ev;
	ok(secret_get(&a, &out, &e) == -1 && strstr(e.text, "exited with status 3") &&
		   strstr(e.text, "c2VjcmV0Cg==") && !strstr(e.text, "secret"),
		"a failing command's output is not in the message (%s)", e.text);
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

int
main(void)
{
	test_cases();
	test_misc();
	return tap_done();
}
