/*
 * spawn: running a command and taking its first line (spawn.h).
 *
 * POSIX.1-2017 fork, execvp, pipe, waitpid; "/bin/sh -c" (XCU 2) only for a command that
 * holds shell syntax, so a plain list of words means what it says. Every path closes its
 * descriptors and reaps its child; the output is read with a ceiling and never shown.
 */
#include "spawn.h"

#include "priv.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "io.h"

void
spawn_hold_secret(void)
{
#if defined(__linux__) && defined(PR_SET_DUMPABLE)
	static bool done;

	if (!done && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
		done = true;
#endif
}

/* Characters that make the command shell syntax (quoting, expansion, redirection...). */
static const char shell_chars[] = "|&;<>()$`\\\"'*?[]#~=%\n";

static bool
needs_shell(const char *cmd)
{
	return cmd[strcspn(cmd, shell_chars)] != '\0';
}

/* Split CMD (no shell syntax) at spaces and tabs: a NULL-terminated vector in *ARGV whose
 * strings live in *COPY. Returns the number of words. */
static size_t
split_words(const char *cmd, char ***argv, char **copy)
{
	char *s = xstrdup(cmd);
	size_t n = 0, cap = 8;
	char **v = xmalloc(cap * sizeof(*v));

	for (char *p = s; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n + 2 > cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	v[n] = NULL;
	*argv = v;
	*copy = s;
	return n;
}

static void
close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

/* Wait for PID, retrying on EINTR. Returns the status, or -1 with errno set. */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/*
 * In the child, between fork and exec: only async-signal-safe calls. Standard output
 * becomes the pipe, standard input /dev/null, standard error stays ours. SIGPIPE goes back
 * to its default (postie ignores it, and an ignored signal would stay ignored in the
 * command and in everything it starts, so a pipeline in the command could not end early).
 * On failure, errno goes to the parent through ERRFD.
 */
static _Noreturn void
child(int outfd, int errfd, char **argv)
{
	struct sigaction sa;
	int nul, err;

	/* SEC-45: a command never runs with the setgid group, not even the saved one. */
	if (priv_child() < 0)
		goto fail;
	if (outfd != STDOUT_FILENO) {
		if (dup2(outfd, STDOUT_FILENO) < 0)
			goto fail;
	} else if (fcntl(outfd, F_SETFD, 0) < 0) {
		goto fail; /* it already is fd 1, but marked close-on-exec */
	}
	nul = open("/dev/null", O_RDONLY);
	if (nul < 0)
		goto fail;
	if (nul != STDIN_FILENO) {
		if (dup2(nul, STDIN_FILENO) < 0)
			goto fail;
		close(nul);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	execvp(argv[0], argv);
fail:
	err = errno;
	while (write(errfd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(127);
}

static int
set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* The output pipe and the exec-error pipe. Both close on exec, so no other child of ours
 * inherits them. -1 with errno on failure (what was made is closed by the caller). */
static int
make_pipes(int out[2], int errp[2])
{
	if (pipe(out) < 0 || set_cloexec(out[0]) < 0 || set_cloexec(out[1]) < 0)
		return -1;
	if (pipe(errp) < 0 || set_cloexec(errp[0]) < 0 || set_cloexec(errp[1]) < 0)
		return -1;
	return 0;
}

/* Whether exec failed in the child, its errno then in *ERR. End of file on FD means exec
 * worked (the close-on-exec pipe closed); else the child's errno arrives. */
static bool
exec_failed(int fd, int *err)
{
	ssize_t r;

	*err = 0;
	for (;;) {
		r = read(fd, err, sizeof(*err));
		if (r >= 0 || errno != EINTR)
			break;
	}
	return r == (ssize_t)sizeof(*err);
}

/*
 * How the command ended: READ_ERR from reading its output (EFBIG: too long), STATUS from
 * waitpid (-1: WAIT_ERR). 0 when it read all and exited 0, else -1 with the error.
 */
static int
verdict(const char *label, const char *hint, const struct buf *output, int read_err, int status,
        int wait_err, struct err *e)
{
	/* SEC-15: a ceiling, not a cut: the command was stopped and is refused. */
	if (read_err == EFBIG)
		return err_set(e, ERR_CONFIG, "%s: its output is longer than %zu bytes; %s", label,
		               output->max, hint);
	if (read_err)
		return err_set(e, ERR_OS, "%s: read its output: %s", label, strerror(read_err));
	if (status < 0)
		return err_set(e, ERR_OS, "%s: wait for it: %s", label, strerror(wait_err));
	if (WIFSIGNALED(status))
		return err_set(e, ERR_CONFIG, "%s: killed by signal %d; %s", label,
		               WTERMSIG(status), hint);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, ERR_CONFIG, "%s: exited with status %d; %s", label,
		               WIFEXITED(status) ? WEXITSTATUS(status) : -1, hint);
	return 0;
}

int
spawn_argv(const char *label, const char *hint, char **argv, struct buf *output, struct err *e)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	int rc = -1;

	spawn_hold_secret();
	if (make_pipes(out, errp) < 0) {
		err_set(e, ERR_OS, "%s: make a pipe: %s", label, strerror(errno));
		goto done;
	}
	pid_t pid = fork();
	if (pid < 0) {
		err_set(e, ERR_OS, "%s: fork: %s", label, strerror(errno));
		goto done;
	}
	if (pid == 0)
		child(out[1], errp[1], argv);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;

	int exec_err;
	if (exec_failed(errp[0], &exec_err)) {
		reap(pid);
		err_set(e, ERR_CONFIG, "%s: cannot start its program: %s; %s", label,
		        strerror(exec_err), hint);
		goto done;
	}
	int read_err = io_read_all(out[0], output);
	if (read_err)
		kill(pid, SIGKILL); /* an error or too much: it has nothing more to say to us */
	close(out[0]);
	out[0] = -1;
	int status = reap(pid);
	int wait_err = status < 0 ? errno : 0;
	rc = verdict(label, hint, output, read_err, status, wait_err, e);
done:
	close_keep_errno(out[0]);
	close_keep_errno(out[1]);
	close_keep_errno(errp[0]);
	close_keep_errno(errp[1]);
	return rc;
}

int
spawn_command(const char *label, const char *hint, const char *cmd, struct buf *output,
              struct err *e)
{
	char **argv = NULL, *copy = NULL;
	char sh[] = "/bin/sh", dash_c[] = "-c";
	char *shell_argv[] = {sh, dash_c, NULL, NULL};

	if (needs_shell(cmd)) {
		/* execv does not change the strings; POSIX types them char * for old reasons. */
		copy = xstrdup(cmd);
		shell_argv[2] = copy;
		argv = shell_argv;
	} else if (split_words(cmd, &argv, &copy) == 0) {
		free(argv);
		free(copy);
		return err_set(e, ERR_CONFIG, "%s: the command is empty; %s", label, hint);
	}
	int rc = spawn_argv(label, hint, argv, output, e);
	if (argv != shell_argv)
		free(argv);
	free(copy);
	return rc;
}

int
spawn_run(const char *what, const char *cmd, struct buf *output, struct err *e)
{
	char label[600];

	/* SEC-44: the label names the command's place, never the command (it may hold a
	 * token: `passwordeval echo hunter2`). */
	snprintf(label, sizeof(label), "run %s", what);
	return spawn_command(label, "fix the command in the profile", cmd, output, e);
}

enum spawn_line
spawn_first_line(const char *p, size_t n, size_t *len)
{
	const char *nl = p ? memchr(p, '\n', n) : NULL;
	size_t k = nl ? (size_t)(nl - p) : n;

	if (nl && k > 0 && p[k - 1] == '\r')
		k--;
	*len = k;
	if (k == 0)
		return SPAWN_LINE_EMPTY;
	return memchr(p, '\0', k) ? SPAWN_LINE_NUL : SPAWN_LINE_OK;
}

int
spawn_take_first_line(const struct buf *src, const char *what, const char *hint, struct buf *out,
                      struct err *e)
{
	size_t len;

	switch (spawn_first_line(src->data, src->len, &len)) {
	case SPAWN_LINE_EMPTY:
		return err_set(e, ERR_CONFIG, "%s: its first line is empty; %s", what, hint);
	case SPAWN_LINE_NUL:
		return err_set(e, ERR_CONFIG, "%s: its first line holds a NUL byte; %s", what,
		               hint);
	case SPAWN_LINE_OK:
		break;
	}
	return buf_append(out, src->data, len, e);
}
