/*
 * secret: where the password comes from (SEC-15, SEC-16).
 *
 * The profile's password, else the first line of a command's output (msmtp's passwordeval).
 * The command runs without a shell when it is a plain list of words, so its words mean what
 * they say; anything a shell would interpret sends it through /bin/sh -c. Its output is read
 * with a ceiling, never shown, and wiped; every path closes the pipe and reaps the child.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

int
secret_run(const char *cmd, struct buf *output, struct err *e)
{
	char **argv = NULL, *copy = NULL;
	char sh[] = "/bin/sh", dash_c[] = "-c";
	char *shell_argv[] = {sh, dash_c, NULL, NULL};
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	char chunk[4096];
	int rc = -1;

	if (needs_shell(cmd)) {
		/* execv does not change the strings; POSIX types them char * for old reasons. */
		shell_argv[2] = copy = xstrdup(cmd);
		argv = shell_argv;
	} else if (split_words(cmd, &argv, &copy) == 0) {
		free(argv);
		free(copy);
		return err_set(e, ERR_CONFIG, "run passwordeval: the command is empty; "
			"fix the command or use password");
	}

	/* Both pipes close on exec, so no other child of ours inherits them. */
	if (pipe(out) < 0 || set_cloexec(out[0]) < 0 || set_cloexec(out[1]) < 0 ||
	    pipe(errp) < 0 || set_cloexec(errp[0]) < 0 || set_cloexec(errp[1]) < 0) {
		err_set(e, ERR_OS, "run passwordeval '%s': make a pipe: %s", cmd, strerror(errno));
		goto done;
	}
	pid_t pid = fork();
	if (pid < 0) {
		err_set(e, ERR_OS, "run passwordeval '%s': fork: %s", cmd, strerror(errno));
		goto done;
	}
	if (pid == 0)
		child(out[1], errp[1], argv);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;

	/* EOF here means exec worked (the close-on-exec pipe closed); else errno arrives. */
	int exec_err = 0;
	ssize_t r;
	while ((r = read(errp[0], &exec_err, sizeof(exec_err))) < 0 && errno == EINTR)
		;
	if (r == (ssize_t)sizeof(exec_err)) {
		reap(pid);
		err_set(e, ERR_CONFIG, "run passwordeval '%s': cannot run %s: %s; "
			"fix the command or use password", cmd, argv[0], strerror(exec_err));
		goto done;
	}

	bool too_long = false;
	for (;;) {
		r = read(out[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			kill(pid, SIGKILL);
			reap(pid);
			err_set(e, ERR_OS, "run passwordeval '%s': read its output: %s", cmd,
				strerror(saved));
			goto done;
		}
		if (r == 0)
			break;
		if ((size_t)r > output->max - output->len) {
			/* SEC-15: a ceiling, not a cut: stop the command and refuse. */
			too_long = true;
			kill(pid, SIGKILL);
			break;
		}
		buf_append(output, chunk, (size_t)r, NULL);
	}
	close(out[0]);
	out[0] = -1;
	int status = reap(pid);
	if (too_long) {
		err_set(e, ERR_CONFIG,
			"run passwordeval '%s': its output is longer than %zu bytes; "
			"fix the command or use password",
			cmd, output->max);
		goto done;
	}
	if (status < 0) {
		err_set(e, ERR_OS, "run passwordeval '%s': wait for it: %s", cmd, strerror(errno));
		goto done;
	}
	if (WIFSIGNALED(status)) {
		err_set(e, ERR_CONFIG, "run passwordeval '%s': killed by signal %d; "
			"fix the command or use password", cmd, WTERMSIG(status));
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err_set(e, ERR_CONFIG, "run passwordeval '%s': exited with status %d; "
			"fix the command or use password", cmd,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto done;
	}
	rc = 0;
done:
	explicit_bzero(chunk, sizeof(chunk));
	close_keep_errno(out[0]);
	close_keep_errno(out[1]);
	close_keep_errno(errp[0]);
	close_keep_errno(errp[1]);
	if (argv != shell_argv)
		free(argv);
	free(copy);
	return rc;
}

int
secret_get(const struct account *a, struct buf *out, struct err *e)
{
	struct buf output;

	buf_init(out, BUF_MAX_SECRET);
	out->secret = true;
	if (a->password)
		return buf_puts(out, a->password, e);
	if (!a->passwordeval)
		return 0;

	buf_init(&output, BUF_MAX_SECRET);
	output.secret = true;
	int rc = secret_run(a->passwordeval, &output, e);
	if (rc == 0) {
		/* SEC-15: the first line; one "\n" or "\r\n" ends it. */
		const char *p = output.data ? output.data : "";
		const char *nl = memchr(p, '\n', output.len);
		size_t len = nl ? (size_t)(nl - p) : output.len;
		if (nl && len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0)
			rc = err_set(e, ERR_CONFIG,
				"run passwordeval '%s': its first line of output is empty; "
				"fix the command or use password",
				a->passwordeval);
		else if (memchr(p, '\0', len))
			rc = err_set(e, ERR_CONFIG,
				"run passwordeval '%s': its output holds a NUL byte; "
				"fix the command or use password",
				a->passwordeval);
		else
			rc = buf_append(out, p, len, e);
	}
	buf_fini(&output);
	return rc;
}
