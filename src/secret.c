/*
 * secret: where the password or the OAuth 2.0 token comes from (SEC-14, SEC-15, SEC-16).
 *
 * The sources, in the order secret.h lists them: the profile's password, a command's first
 * line (msmtp's passwordeval), a private file, a systemd credential, ~/.netrc and
 * /etc/netrc (ftp(1)'s format, curl's quoted strings), the desktop keyring through
 * secret-tool (msmtp's attributes), and last a prompt on the terminal. Commands run without
 * a shell when they are a plain list of words, so their words mean what they say; anything
 * a shell would interpret sends them through /bin/sh -c. Every secret is read with a
 * ceiling, never shown, and wiped; every path closes its descriptors and reaps its child.
 *
 * OAuth 2.0 (RFC 6749, RFC 6750): oauth2_token_command prints an access token, with or
 * without its lifetime, or a token endpoint's JSON answer (RFC 6749 §5.1, RFC 8259). A
 * token with a lifetime is cached in a private file until shortly before it expires.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <gnutls/crypto.h>

#include "log.h"

/* The largest netrc file read (macros make them long; passwords do not). */
#define NETRC_FILE_MAX (1024 * 1024)
/* The longest password typed at the prompt. */
#define PROMPT_MAX 1024
/* A token cache file: a few short lines and the token. */
#define CACHE_FILE_MAX (SECRET_TOKEN_MAX + 3 * 4096)
/* A lifetime is 1 to 10 digits (RFC 6749 §5.1 gives no bound; this one is ours). */
#define LIFETIME_DIGITS_MAX 10
/* How deep a token endpoint's JSON answer may nest. */
#define JSON_DEPTH_MAX 16

static struct secret_hooks hooks;

void
secret_set_hooks(const struct secret_hooks *h)
{
	if (h)
		hooks = *h;
	else
		memset(&hooks, 0, sizeof(hooks));
}

static long long
now_s(void)
{
	return hooks.now ? hooks.now() : (long long)time(NULL);
}

/*
 * A secret is about to be in memory: no core dump may hold it, and no other process of the
 * user may read it through ptrace or /proc/PID/mem. Never undone (see secret.h).
 */
static void
hold_secret(void)
{
#if defined(__linux__) && defined(PR_SET_DUMPABLE)
	static bool done;

	if (!done && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
		done = true;
#endif
}

/* ---- running a command ---- */

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

/*
 * Run ARGV and collect its whole output into OUTPUT (ceiling OUTPUT->max). Errors read
 * "LABEL: reason; HINT" and never quote the output.
 */
static int
spawn(const char *label, const char *hint, char **argv, struct buf *output, struct err *e)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	char chunk[4096];
	int rc = -1;

	hold_secret();
	/* Both pipes close on exec, so no other child of ours inherits them. */
	if (pipe(out) < 0 || set_cloexec(out[0]) < 0 || set_cloexec(out[1]) < 0 || pipe(errp) < 0 ||
	    set_cloexec(errp[0]) < 0 || set_cloexec(errp[1]) < 0) {
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

	/* EOF here means exec worked (the close-on-exec pipe closed); else errno arrives. */
	int exec_err = 0;
	ssize_t r;
	while ((r = read(errp[0], &exec_err, sizeof(exec_err))) < 0 && errno == EINTR)
		;
	if (r == (ssize_t)sizeof(exec_err)) {
		reap(pid);
		err_set(e, ERR_CONFIG, "%s: cannot start its program: %s; %s", label,
		        strerror(exec_err), hint);
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
			err_set(e, ERR_OS, "%s: read its output: %s", label, strerror(saved));
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
		err_set(e, ERR_CONFIG, "%s: its output is longer than %zu bytes; %s", label,
		        output->max, hint);
		goto done;
	}
	if (status < 0) {
		err_set(e, ERR_OS, "%s: wait for it: %s", label, strerror(errno));
		goto done;
	}
	if (WIFSIGNALED(status)) {
		err_set(e, ERR_CONFIG, "%s: killed by signal %d; %s", label, WTERMSIG(status),
		        hint);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err_set(e, ERR_CONFIG, "%s: exited with status %d; %s", label,
		        WIFEXITED(status) ? WEXITSTATUS(status) : -1, hint);
		goto done;
	}
	rc = 0;
done:
	explicit_bzero(chunk, sizeof(chunk));
	close_keep_errno(out[0]);
	close_keep_errno(out[1]);
	close_keep_errno(errp[0]);
	close_keep_errno(errp[1]);
	return rc;
}

/* Run the profile's command CMD, with or without a shell; errors begin with LABEL. */
static int
run_command(const char *label, const char *hint, const char *cmd, struct buf *output, struct err *e)
{
	char **argv = NULL, *copy = NULL;
	char sh[] = "/bin/sh", dash_c[] = "-c";
	char *shell_argv[] = {sh, dash_c, NULL, NULL};

	if (needs_shell(cmd)) {
		/* execv does not change the strings; POSIX types them char * for old reasons. */
		shell_argv[2] = copy = xstrdup(cmd);
		argv = shell_argv;
	} else if (split_words(cmd, &argv, &copy) == 0) {
		free(argv);
		free(copy);
		return err_set(e, ERR_CONFIG, "%s: the command is empty; %s", label, hint);
	}
	int rc = spawn(label, hint, argv, output, e);
	if (argv != shell_argv)
		free(argv);
	free(copy);
	return rc;
}

int
secret_run(const char *what, const char *cmd, struct buf *output, struct err *e)
{
	char label[600];

	/* SEC-44: the label names the command's place, never the command (it may hold a
	 * token: `passwordeval echo hunter2`). */
	snprintf(label, sizeof(label), "run %s", what);
	return run_command(label, "fix the command in the profile", cmd, output, e);
}

/* ---- first lines and private files ---- */

enum line_verdict { LINE_OK, LINE_EMPTY, LINE_NUL };

/* The first line of P (N bytes): one "\n" or "\r\n" ends it (SEC-15). */
static enum line_verdict
first_line(const char *p, size_t n, size_t *len)
{
	const char *nl = p ? memchr(p, '\n', n) : NULL;
	size_t k = nl ? (size_t)(nl - p) : n;

	if (nl && k > 0 && p[k - 1] == '\r')
		k--;
	*len = k;
	if (k == 0)
		return LINE_EMPTY;
	return memchr(p, '\0', k) ? LINE_NUL : LINE_OK;
}

/*
 * Append the first line of SRC to OUT; errors read "WHAT: its first line is empty; HINT"
 * (or holds a NUL byte).
 */
static int
take_first_line(const struct buf *src, const char *what, const char *hint, struct buf *out,
                struct err *e)
{
	size_t len;

	switch (first_line(src->data, src->len, &len)) {
	case LINE_EMPTY:
		return err_set(e, ERR_CONFIG, "%s: its first line is empty; %s", what, hint);
	case LINE_NUL:
		return err_set(e, ERR_CONFIG, "%s: its first line holds a NUL byte; %s", what,
		               hint);
	case LINE_OK:
		break;
	}
	return buf_append(out, src->data, len, e);
}

/*
 * Why the file behind FD (at PATH) may not hold a secret of ours, or NULL when it may: it
 * must be a regular file of the effective user granting group and others nothing (SEC-14;
 * the same rule as for the profile, root included). The reason says what to run.
 */
static const char *
not_private(int fd, const char *path, char *why, size_t n)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(why, n, "%s", strerror(errno));
		return why;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "it is not a regular file");
		return why;
	}
	if (st.st_uid != geteuid()) {
		unsigned long me = (unsigned long)geteuid();
		snprintf(why, n,
		         "it belongs to uid %lu, not to uid %lu who runs postie; run "
		         "`chown %lu %s` (as root), or use a copy of your own",
		         (unsigned long)st.st_uid, me, me, path);
		return why;
	}
	if (st.st_mode & 077) {
		snprintf(why, n, "group or others may use it (mode %04o); run `chmod 600 %s`",
		         (unsigned)(st.st_mode & 07777), path);
		return why;
	}
	return NULL;
}

/* Read all of FD into OUT (a secret buffer), at most OUT->max bytes, else TOO_LONG. */
static int
read_all(int fd, struct buf *out, bool *too_long)
{
	char chunk[4096];
	int rc = 0;

	*too_long = false;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		if ((size_t)r > out->max - out->len) {
			*too_long = true;
			break;
		}
		buf_append(out, chunk, (size_t)r, NULL);
	}
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

/*
 * The first line of the file PATH into OUT. WHAT names the source in errors. PRIVATE: refuse
 * a file that others may read or that is not ours. Returns 1 when read, 0 when the file does
 * not exist and MAY_BE_MISSING, -1 with ERR_CONFIG otherwise.
 */
static int
file_first_line(const char *what, const char *path, bool private, bool may_be_missing,
                struct buf *out, struct err *e)
{
	char why[512];
	struct buf content;
	bool too_long;
	int rc = -1;

	hold_secret();
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && may_be_missing)
			return 0;
		return err_set(e, ERR_CONFIG, "read %s %s: %s; fix the path in the profile", what,
		               path, strerror(errno));
	}
	if (private && not_private(fd, path, why, sizeof(why))) {
		close(fd);
		return err_set(e, ERR_CONFIG, "read %s %s: %s", what, path, why);
	}
	buf_init(&content, BUF_MAX_SECRET);
	content.secret = true;
	if (read_all(fd, &content, &too_long) < 0) {
		err_set(e, ERR_CONFIG, "read %s %s: %s", what, path, strerror(errno));
	} else if (too_long) {
		err_set(e, ERR_CONFIG,
		        "read %s %s: longer than %zu bytes; put the password alone "
		        "on its first line",
		        what, path, content.max);
	} else {
		char label[600];
		snprintf(label, sizeof(label), "read %s %s", what, path);
		static const char hint[] = "put the password on its first line";
		if (take_first_line(&content, label, hint, out, e) == 0)
			rc = 1;
	}
	buf_fini(&content);
	close(fd);
	return rc;
}

/* ---- netrc (ftp(1); curl's quoted strings) ---- */

struct lex {
	const char *p;
	size_t n, i;
	unsigned line;
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Step past the end of the current line. */
static void
skip_line(struct lex *l)
{
	while (l->i < l->n && l->p[l->i] != '\n')
		l->i++;
	if (l->i < l->n) {
		l->i++;
		l->line++;
	}
}

/*
 * The next word into TOK (emptied first; its ceiling is SECRET_NETRC_WORD_MAX). KEYWORD: a
 * '#' that starts the word starts a comment instead (a password may begin with '#').
 * Returns 1 for a word, 0 at the end of the text, -1 on error.
 */
static int
next_word(struct lex *l, bool keyword, struct buf *tok, struct err *e)
{
	buf_reset(tok);
	for (;;) {
		while (l->i < l->n && is_blank(l->p[l->i])) {
			if (l->p[l->i] == '\n')
				l->line++;
			l->i++;
		}
		if (l->i == l->n)
			return 0;
		if (!keyword || l->p[l->i] != '#')
			break;
		skip_line(l);
	}
	unsigned start = l->line;
	if (l->p[l->i] != '"') {
		size_t s = l->i;
		while (l->i < l->n && !is_blank(l->p[l->i]))
			l->i++;
		if (buf_append(tok, l->p + s, l->i - s, NULL) < 0)
			return err_set(e, ERR_CONFIG, "line %u: a word longer than %d bytes", start,
			               SECRET_NETRC_WORD_MAX);
		return 1;
	}
	/* A quoted string (curl 7.84): "..." with \" \\ \n \r \t; another \c is c. */
	l->i++;
	for (;;) {
		if (l->i == l->n)
			return err_set(e, ERR_CONFIG,
			               "line %u: a quoted string without its closing quote", start);
		char c = l->p[l->i++];
		if (c == '"')
			break;
		if (c == '\n')
			l->line++;
		if (c == '\\') {
			if (l->i == l->n)
				continue; /* reported as unterminated above */
			c = l->p[l->i++];
			c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
		}
		if (buf_append(tok, &c, 1, NULL) < 0)
			return err_set(e, ERR_CONFIG, "line %u: a word longer than %d bytes", start,
			               SECRET_NETRC_WORD_MAX);
	}
	return 1;
}

/* Skip a macro's body: the rest of the "macdef NAME" line, then lines up to an empty one. */
static void
skip_macro(struct lex *l)
{
	skip_line(l);
	while (l->i < l->n) {
		size_t k = l->i;
		if (l->p[k] == '\r' && k + 1 < l->n && l->p[k + 1] == '\n')
			k++;
		bool empty = l->p[k] == '\n';
		skip_line(l);
		if (empty)
			break;
	}
}

struct netrc_entry {
	bool open; /* inside a machine or default entry */
	bool is_default;
	bool has_login, has_password;
	struct buf machine, login, password;
};

/*
 * The entry ended: 1 when it is a machine entry that fits HOST and USER, 2 when it is a
 * default entry that fits USER, 0 otherwise.
 */
static int
entry_fits(const struct netrc_entry *en, const char *host, const char *user)
{
	/* Lengths first: an empty word ("", or `machine ""`) leaves its buffer's data NULL. */
	size_t hn = host ? strlen(host) : 0, un = user ? strlen(user) : 0;

	if (!en->open || !en->has_password || en->password.len == 0)
		return 0;
	if (en->has_login && (en->login.len != un || (un && memcmp(en->login.data, user, un) != 0)))
		return 0;
	if (en->is_default)
		return 2;
	/* An empty name is no machine's name, and no lookup's. */
	return hn && en->machine.len == hn && strncasecmp(en->machine.data, host, hn) == 0 ? 1 : 0;
}

int
secret_netrc_find(const char *p, size_t n, const char *host, const char *user, struct buf *out,
                  struct err *e)
{
	struct lex l = {.p = p, .n = n, .i = 0, .line = 1};
	struct netrc_entry en = {0};
	struct buf tok, dflt;
	int rc = -1;

	hold_secret();
	if (n && memchr(p, '\0', n)) {
		size_t at = (size_t)((const char *)memchr(p, '\0', n) - p);
		unsigned line = 1;
		for (size_t k = 0; k < at; k++)
			line += p[k] == '\n';
		return err_set(e, ERR_CONFIG, "line %u: a NUL byte", line);
	}
	buf_init(&tok, SECRET_NETRC_WORD_MAX);
	tok.secret = true;
	buf_init(&dflt, SECRET_NETRC_WORD_MAX);
	dflt.secret = true;
	buf_init(&en.machine, SECRET_NETRC_WORD_MAX);
	buf_init(&en.login, SECRET_NETRC_WORD_MAX);
	buf_init(&en.password, SECRET_NETRC_WORD_MAX);
	en.password.secret = true;

	for (;;) {
		int r = next_word(&l, true, &tok, e);
		if (r < 0)
			goto done;
		const char *w = r == 1 && tok.data ? tok.data : "";
		bool machine = strcmp(w, "machine") == 0;
		bool deflt = strcmp(w, "default") == 0;
		bool macdef = strcmp(w, "macdef") == 0;
		if (r == 0 || machine || deflt || macdef) {
			/* The entry so far is complete. */
			int fit = entry_fits(&en, host, user);
			if (fit == 1) {
				rc = buf_append(out, en.password.data, en.password.len, e) < 0 ? -1
				                                                               : 1;
				goto done;
			}
			if (fit == 2 && dflt.len == 0)
				buf_append(&dflt, en.password.data, en.password.len, NULL);
			en.open = en.is_default = en.has_login = en.has_password = false;
			buf_reset(&en.machine);
			buf_reset(&en.login);
			buf_reset(&en.password);
		}
		if (r == 0)
			break;
		if (deflt) {
			en.open = en.is_default = true;
			continue;
		}
		/* The keywords that take a word; anything else is skipped, as other readers do. */
		const char *kw;
		struct buf *into = NULL;
		bool *flag = NULL;
		if (machine) {
			kw = "machine";
			into = &en.machine;
		} else if (macdef) {
			kw = "macdef";
		} else if (strcmp(w, "login") == 0) {
			kw = "login";
			into = &en.login;
			flag = &en.has_login;
		} else if (strcmp(w, "password") == 0) {
			kw = "password";
			into = &en.password;
			flag = &en.has_password;
		} else if (strcmp(w, "account") == 0) {
			kw = "account";
		} else {
			continue;
		}
		unsigned at = l.line;
		r = next_word(&l, false, &tok, e);
		if (r < 0)
			goto done;
		if (r == 0) {
			err_set(e, ERR_CONFIG, "line %u: `%s` without its word", at, kw);
			goto done;
		}
		if (macdef) {
			skip_macro(&l);
			continue;
		}
		if (machine)
			en.open = true;
		/* A login or password outside any entry belongs to nothing. */
		if (into && en.open) {
			buf_reset(into);
			if (tok.len)
				buf_append(into, tok.data, tok.len, NULL);
			if (flag)
				*flag = true;
		}
	}
	rc = 0;
	if (dflt.len)
		rc = buf_append(out, dflt.data, dflt.len, e) < 0 ? -1 : 1;
done:
	buf_fini(&tok);
	buf_fini(&dflt);
	buf_fini(&en.machine);
	buf_fini(&en.login);
	buf_fini(&en.password);
	return rc;
}

/*
 * Look HOST and USER up in the netrc file PATH. PRIVATE (~/.netrc): a password found in a
 * file that others may read, or that is not ours, is not used (ftp(1) refuses such a file
 * too). Nothing here fails the run: a missing file is quietly skipped, an unreadable or
 * malformed one with a warning. Returns 1 when the password is in OUT, else 0.
 */
static int
netrc_file(const char *path, bool private, const char *host, const char *user, struct buf *out)
{
	struct buf content;
	struct err e;
	char why[512];
	bool too_long;
	int rc = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			warn("read %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	hold_secret();
	buf_init(&content, NETRC_FILE_MAX);
	content.secret = true;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		warn("read %s: not a regular file; skipped", path);
	} else if (read_all(fd, &content, &too_long) < 0) {
		warn("read %s: %s; skipped", path, strerror(errno));
	} else if (too_long) {
		warn("read %s: longer than %d bytes; skipped", path, NETRC_FILE_MAX);
	} else {
		struct buf found;
		buf_init(&found, SECRET_NETRC_WORD_MAX);
		found.secret = true;
		int r = secret_netrc_find(content.data, content.len, host, user, &found, &e);
		if (r < 0) {
			warn("read %s: %s; skipped", path, e.text);
		} else if (r == 1 && private && not_private(fd, path, why, sizeof(why))) {
			warn("read %s: it has a password for %s, but %s; skipped", path, host, why);
		} else if (r == 1) {
			log_info("password for %s from %s", host, path);
			rc = buf_append(out, found.data, found.len, NULL) == 0 ? 1 : 0;
		}
		buf_fini(&found);
	}
	buf_fini(&content);
	close(fd);
	return rc;
}

/* ---- systemd credentials, the keyring ---- */

/*
 * systemd's credential postie.ACCOUNT (systemd.exec(5), LoadCredential= and the like). Named
 * for the account so that one account's password never goes to another account's server.
 * systemd makes the directory and its files private to the service; no mode is checked.
 */
static int
credential(const struct account *a, struct buf *out, struct err *e)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct buf path;
	int rc;

	if (!dir || dir[0] != '/' || strchr(a->name, '/'))
		return 0;
	buf_init(&path, PATH_MAX);
	if (buf_printf(&path, NULL, "%s/postie.%s", dir, a->name) < 0) {
		buf_fini(&path);
		return 0;
	}
	rc = file_first_line("systemd credential", path.data, false, true, out, e);
	if (rc == 1)
		log_info("password for account %s from %s", a->name, path.data);
	buf_fini(&path);
	return rc;
}

/* Whether PROG is an executable file in a directory of PATH. */
static bool
in_path(const char *prog)
{
	const char *path = getenv("PATH");
	struct buf b;
	bool found = false;

	if (!path)
		return false;
	buf_init(&b, PATH_MAX);
	for (const char *p = path; !found;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		buf_reset(&b);
		/* An empty entry is the current directory (POSIX); not for a secret's helper. */
		if (len > 0 && p[0] == '/' && buf_append(&b, p, len, NULL) == 0 &&
		    buf_printf(&b, NULL, "/%s", prog) == 0) {
			struct stat st;
			found = stat(b.data, &st) == 0 && S_ISREG(st.st_mode) &&
			        access(b.data, X_OK) == 0;
		}
		if (!end)
			break;
		p = end + 1;
	}
	buf_fini(&b);
	return found;
}

/*
 * The desktop keyring, through libsecret's secret-tool and the attributes msmtp stores
 * ("secret-tool store --label=msmtp host HOST service smtp user USER"). Quietly nothing
 * when there is no secret-tool or no session bus; a failed lookup just means "not there".
 */
static int
keyring(const struct account *a, struct buf *out)
{
	const char *bus = getenv("DBUS_SESSION_BUS_ADDRESS");
	struct buf output;
	struct err e;
	int rc = 0;

	if (!bus || !*bus || !in_path("secret-tool"))
		return 0;
	/* No shell: the host and user are arguments, whatever characters they hold. */
	char prog[] = "secret-tool", lookup[] = "lookup", host[] = "host", service[] = "service",
	     smtp[] = "smtp", user[] = "user";
	char *h = xstrdup(a->host), *u = xstrdup(a->user);
	char *argv[] = {prog, lookup, host, h, service, smtp, user, u, NULL};
	buf_init(&output, BUF_MAX_SECRET);
	output.secret = true;
	if (spawn("run secret-tool lookup", "the keyring is skipped", argv, &output, &e) < 0) {
		log_info("no password for %s in the keyring (%s)", a->host, e.text);
	} else {
		size_t len;
		if (first_line(output.data, output.len, &len) == LINE_OK &&
		    buf_append(out, output.data, len, NULL) == 0) {
			log_info("password for %s from the keyring", a->host);
			rc = 1;
		}
	}
	buf_fini(&output);
	free(h);
	free(u);
	return rc;
}

/* ---- the prompt ---- */

static volatile sig_atomic_t prompt_signal;

static void
on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

/* The signals that would leave the terminal without echo if they ended or stopped us. */
static const int prompt_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                     SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};
#define NPROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* Write all of P to FD; errors are ignored (the prompt is a courtesy). */
static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* S with control characters as '?', for the prompt (a profile value could hold escapes). */
static void
printable(char *dst, size_t n, const char *s)
{
	size_t k = 0;

	for (; *s && k + 1 < n; s++, k++)
		dst[k] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	dst[k] = '\0';
}

/*
 * One attempt at reading a line with echo off on the terminal FD. Returns 1 with the line in
 * OUT, 0 for an empty line or end of file, -1 on error, or 2 when a signal came (its number
 * in prompt_signal; the terminal is restored before returning).
 */
static int
prompt_once(int fd, const char *text, struct buf *out, struct err *e)
{
	struct termios old, quiet;
	struct sigaction sa, saved[NPROMPT_SIGNALS];
	bool caught[NPROMPT_SIGNALS] = {false};
	char c;
	int rc = 0;

	if (tcgetattr(fd, &old) < 0)
		return 0;
	prompt_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prompt_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the read must end when a signal comes */
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++) {
		struct sigaction cur;
		/* An ignored signal stays ignored (nohup, a parent's choice). */
		if (sigaction(prompt_signals[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
			caught[i] = sigaction(prompt_signals[i], &sa, &saved[i]) == 0;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	/* Echo goes off before the prompt shows, so nothing typed after it is ever echoed;
	 * TCSAFLUSH drops what was typed before it. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		rc = 0;
		goto restore;
	}
	write_all(fd, text, strlen(text));
	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR) {
			if (prompt_signal) {
				rc = 2;
				break;
			}
			continue;
		}
		if (r < 0) {
			rc = err_set(e, ERR_OS, "read password from the terminal: %s",
			             strerror(errno));
			break;
		}
		if (r == 0 || c == '\n') {
			rc = out->len > 0 ? 1 : 0;
			break;
		}
		if (out->len >= PROMPT_MAX) {
			rc = err_set(e, ERR_CONFIG,
			             "read password from the terminal: longer than %d bytes",
			             PROMPT_MAX);
			break;
		}
		buf_append(out, &c, 1, NULL);
	}
	c = 0;
	/* The Enter key was not echoed: end the prompt's line ourselves. */
	write_all(fd, "\n", 1);
	tcsetattr(fd, TCSAFLUSH, &old);
restore:
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
		if (caught[i])
			sigaction(prompt_signals[i], &saved[i], NULL);
	if (rc != 1)
		buf_reset(out);
	return rc;
}

/*
 * Ask on the terminal, only where a person is: standard error is a terminal (so a MUA or a
 * script that captures it is never stopped by an invisible question) and /dev/tty opens.
 * Standard input is the message and is never read here.
 */
static int
prompt(const struct account *a, struct buf *out, struct err *e)
{
	const char *path = hooks.tty ? hooks.tty : "/dev/tty";
	char user[256], host[256], text[600];
	int rc;

	if (hooks.no_tty || (!hooks.tty_any_stderr && !isatty(STDERR_FILENO)))
		return 0;
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (!isatty(fd)) {
		close(fd);
		return 0;
	}
	hold_secret();
	printable(user, sizeof(user), a->user);
	printable(host, sizeof(host), a->host);
	snprintf(text, sizeof(text), "postie: password for %s at %s: ", user, host);
	for (;;) {
		rc = prompt_once(fd, text, out, e);
		if (rc != 2)
			break;
		int sig = prompt_signal;
		raise(sig); /* the terminal is restored: now let the signal do what it does */
		/* Still here: stopped and continued (ask again), or the signal was handled. */
		if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) {
			rc = err_set(e, ERR_TEMP,
			             "read password from the terminal: interrupted by "
			             "signal %d",
			             sig);
			break;
		}
	}
	close(fd);
	return rc < 0 ? -1 : rc;
}

/* ---- the password ---- */

int
secret_get(const struct account *a, struct buf *out, struct err *e)
{
	struct buf output;
	int rc;

	buf_init(out, BUF_MAX_SECRET);
	out->secret = true;
	if (a->password) {
		hold_secret();
		return buf_puts(out, a->password, e);
	}
	if (a->passwordeval) {
		buf_init(&output, BUF_MAX_SECRET);
		output.secret = true;
		/* SEC-44: messages name the account and its file, never the command; SEC-15:
		 * nor the output. */
		char label[600];
		snprintf(label, sizeof(label), "passwordeval of account %s (%s)",
		         a->name ? a->name : "?", a->file ? a->file : "?");
		rc = secret_run(label, a->passwordeval, &output, e);
		if (rc == 0) {
			size_t len;
			switch (first_line(output.data, output.len, &len)) {
			case LINE_EMPTY:
				rc = err_set(e, ERR_CONFIG,
				             "run %s: its first line of output is "
				             "empty; fix the command or use password",
				             label);
				break;
			case LINE_NUL:
				rc = err_set(e, ERR_CONFIG,
				             "run %s: its output holds a NUL byte; "
				             "fix the command or use password",
				             label);
				break;
			case LINE_OK:
				rc = buf_append(out, output.data, len, e);
				break;
			}
		}
		buf_fini(&output);
		return rc;
	}
	if (a->password_file)
		return file_first_line("password_file", a->password_file, true, false, out, e) < 0
		           ? -1
		           : 0;

	/* The implicit sources need a server and a user to look for, and are not for an
	 * account that logs in without a password: with an OAuth token, or with a mechanism
	 * the profile names that takes none. */
	if (!a->host || !a->user || a->oauth2_token_command)
		return 0;
	/*
	 * SEC-41: these sources are looked up by the account's name or its host, so they serve
	 * only the accounts of the user's own profile and of the system profile, and only
	 * where those send their mail. A profile -C names elsewhere is the caller's choice:
	 * it could name the host of a netrc entry and send its password to a server of its
	 * own. (profile_check_route has refused a route from the command line already.)
	 */
	if (!secret_implicit_ok(a)) {
		log_info("account %s of %s: netrc, the keyring and systemd credentials serve only "
		         "the user's own profile",
		         a->name ? a->name : "?", a->file ? a->file : "the command line");
		return 0;
	}
	static const char *const no_password[] = {"EXTERNAL", "XOAUTH2", "OAUTHBEARER"};
	for (size_t i = 0; a->auth_mech && i < sizeof(no_password) / sizeof(no_password[0]); i++)
		if (strcasecmp(a->auth_mech, no_password[i]) == 0)
			return 0;
	if ((rc = credential(a, out, e)) != 0)
		return rc < 0 ? -1 : 0;
	const char *home = getenv("HOME");
	if (home && home[0] == '/') {
		struct buf path;
		buf_init(&path, PATH_MAX);
		int found = buf_printf(&path, NULL, "%s/.netrc", home) == 0 &&
		            netrc_file(path.data, true, a->host, a->user, out);
		buf_fini(&path);
		if (found)
			return 0;
	}
	if (netrc_file(hooks.system_netrc ? hooks.system_netrc : "/etc/netrc", false, a->host,
	               a->user, out))
		return 0;
	if (keyring(a, out))
		return 0;
	/* A client certificate may be all the account logs in with (EXTERNAL): no question. */
	if (a->tls_cert_file)
		return 0;
	return prompt(a, out, e) < 0 ? -1 : 0;
}

bool
secret_implicit_ok(const struct account *a)
{
	return profile_route_is_own(a) &&
	       (a->origin == PROFILE_ORIGIN_USER || a->origin == PROFILE_ORIGIN_SYSTEM);
}

/* ---- OAuth 2.0 ---- */

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool
is_b64token(const char *p, size_t n)
{
	size_t k = 0;

	while (k < n &&
	       (((p[k] | 0x20) >= 'a' && (p[k] | 0x20) <= 'z') || (p[k] >= '0' && p[k] <= '9') ||
	        strchr("-._~+/", p[k])) &&
	       p[k])
		k++;
	if (k == 0)
		return false;
	while (k < n && p[k] == '=')
		k++;
	return k == n;
}

/* Digits P (N bytes, 1..LIFETIME_DIGITS_MAX of them) as a number into *V. */
static bool
parse_lifetime(const char *p, size_t n, long *v)
{
	long long x = 0;

	if (n == 0 || n > LIFETIME_DIGITS_MAX)
		return false;
	for (size_t k = 0; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return false;
		x = x * 10 + (p[k] - '0');
	}
	*v = x > LONG_MAX ? LONG_MAX : (long)x;
	return true;
}

struct json {
	const char *p;
	size_t n, i;
};

static void
json_ws(struct json *j)
{
	/* RFC 8259 §2: ws = space, tab, LF, CR */
	while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' ||
	                       j->p[j->i] == '\r'))
		j->i++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * A string (RFC 8259 §7) at j->i, decoded into OUT (NULL: checked and skipped). \u escapes
 * of ASCII become that byte, others '?' (no token or error code holds them). Returns 0, or
 * -1 for bad syntax or a string past OUT's ceiling.
 */
static int
json_string(struct json *j, struct buf *out)
{
	if (j->i >= j->n || j->p[j->i] != '"')
		return -1;
	j->i++;
	for (;;) {
		if (j->i >= j->n)
			return -1;
		unsigned char c = (unsigned char)j->p[j->i++];
		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (j->i >= j->n)
				return -1;
			char x = j->p[j->i++];
			switch (x) {
			case '"':
			case '\\':
			case '/':
				c = (unsigned char)x;
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u': {
				int v = 0;
				if (j->n - j->i < 4)
					return -1;
				for (int k = 0; k < 4; k++) {
					int h = hexval(j->p[j->i++]);
					if (h < 0)
						return -1;
					v = v * 16 + h;
				}
				c = v > 0 && v < 0x80 ? (unsigned char)v : '?';
				break;
			}
			default:
				return -1;
			}
		}
		if (out && buf_append(out, &c, 1, NULL) < 0)
			return -1;
	}
}

/* A number (RFC 8259 §6), spanned by *S and *N when S is not NULL. */
static int
json_number(struct json *j, const char **s, size_t *n)
{
	size_t start = j->i;
	bool digits = false;

	if (j->i < j->n && j->p[j->i] == '-')
		j->i++;
	/* No leading zeros: "0" alone, or a digit 1-9 first. */
	if (j->n - j->i >= 2 && j->p[j->i] == '0' && j->p[j->i + 1] >= '0' && j->p[j->i + 1] <= '9')
		return -1;
	while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') {
		j->i++;
		digits = true;
	}
	if (!digits)
		return -1;
	if (j->i < j->n && j->p[j->i] == '.') {
		j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return -1;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return -1;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (s) {
		*s = j->p + start;
		*n = j->i - start;
	}
	return 0;
}

/* Skip any value at j->i, nesting at most JSON_DEPTH_MAX - DEPTH levels more. */
static int
json_skip(struct json *j, int depth)
{
	static const char *const words[] = {"true", "false", "null"};

	json_ws(j);
	if (j->i >= j->n)
		return -1;
	char c = j->p[j->i];
	if (c == '"')
		return json_string(j, NULL);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		if (depth >= JSON_DEPTH_MAX)
			return -1;
		j->i++;
		json_ws(j);
		if (j->i < j->n && j->p[j->i] == close) {
			j->i++;
			return 0;
		}
		for (;;) {
			if (c == '{') {
				json_ws(j);
				if (json_string(j, NULL) < 0)
					return -1;
				json_ws(j);
				if (j->i >= j->n || j->p[j->i++] != ':')
					return -1;
			}
			if (json_skip(j, depth + 1) < 0)
				return -1;
			json_ws(j);
			if (j->i >= j->n)
				return -1;
			char d = j->p[j->i++];
			if (d == close)
				return 0;
			if (d != ',')
				return -1;
		}
	}
	for (size_t k = 0; k < 3; k++) {
		size_t len = strlen(words[k]);
		if (j->n - j->i >= len && memcmp(j->p + j->i, words[k], len) == 0) {
			j->i += len;
			return 0;
		}
	}
	return json_number(j, NULL, NULL);
}

static int
oauth2_json(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e)
{
	struct json j = {.p = p, .n = n, .i = 0};
	struct buf key, error, tok;
	bool have_token = false, have_life = false, bad = false;
	int rc = -1;

	buf_init(&key, 256);
	buf_init(&error, 4096);
	buf_init(&tok, SECRET_TOKEN_MAX);
	tok.secret = true;
	json_ws(&j);
	if (j.i >= j.n || j.p[j.i++] != '{')
		goto syntax;
	json_ws(&j);
	if (j.i < j.n && j.p[j.i] == '}') {
		j.i++;
	} else {
		for (;;) {
			json_ws(&j);
			buf_reset(&key);
			if (json_string(&j, &key) < 0)
				goto syntax;
			json_ws(&j);
			if (j.i >= j.n || j.p[j.i++] != ':')
				goto syntax;
			json_ws(&j);
			const char *k = key.data ? key.data : "";
			if (strlen(k) != key.len) {
				if (json_skip(&j, 1) < 0)
					goto syntax;
			} else if (strcmp(k, "access_token") == 0) {
				/* Twice is ambiguous: which one would the endpoint mean? */
				if (have_token)
					bad = true;
				buf_reset(&tok);
				if (json_string(&j, &tok) < 0) {
					if (tok.len >= tok.max)
						goto too_long;
					goto syntax;
				}
				have_token = true;
			} else if (strcmp(k, "expires_in") == 0) {
				/* A number, or (some endpoints) a string of digits. */
				const char *s;
				size_t len;
				struct buf digits;
				buf_init(&digits, LIFETIME_DIGITS_MAX + 1);
				int r;
				if (j.i < j.n && j.p[j.i] == '"') {
					r = json_string(&j, &digits);
					s = digits.data;
					len = digits.len;
				} else {
					/* Any number, so that 1.5 reads as a bad lifetime. */
					r = json_number(&j, &s, &len);
				}
				if (r < 0 || have_life || !parse_lifetime(s, len, lifetime)) {
					buf_fini(&digits);
					err_set(e, ERR_CONFIG,
					        "its expires_in is not a number of "
					        "seconds (at most %d digits)",
					        LIFETIME_DIGITS_MAX);
					goto out;
				}
				buf_fini(&digits);
				have_life = true;
			} else if (strcmp(k, "error") == 0 && j.i < j.n && j.p[j.i] == '"') {
				buf_reset(&error);
				if (json_string(&j, &error) < 0)
					goto syntax;
			} else if (json_skip(&j, 1) < 0) {
				goto syntax;
			}
			json_ws(&j);
			if (j.i >= j.n)
				goto syntax;
			char d = j.p[j.i++];
			if (d == '}')
				break;
			if (d != ',')
				goto syntax;
		}
	}
	json_ws(&j);
	if (j.i != j.n)
		goto syntax;
	if (bad) {
		err_set(e, ERR_CONFIG, "it gives access_token twice");
		goto out;
	}
	if (!have_token) {
		if (error.len)
			err_set(e, ERR_CONFIG,
			        "the token endpoint answered with error "
			        "\"%.64s\" (RFC 6749 §5.2); renew the grant with your OAuth "
			        "helper",
			        error.data);
		else
			err_set(e, ERR_CONFIG, "its JSON has no access_token");
		goto out;
	}
	if (!have_life)
		*lifetime = -1;
	if (!is_b64token(tok.data, tok.len)) {
		err_set(e, ERR_CONFIG,
		        "its access_token is not a bearer token (RFC 6750 "
		        "b64token: letters, digits and -._~+/ then '=' padding)");
		goto out;
	}
	rc = buf_append(token, tok.data, tok.len, e);
	goto out;
too_long:
	err_set(e, ERR_CONFIG, "its access_token is longer than %zu bytes", tok.max);
	goto out;
syntax:
	err_set(e, ERR_CONFIG, "it begins with '{' but is not a JSON object (RFC 8259)");
out:
	buf_fini(&key);
	buf_fini(&error);
	buf_fini(&tok);
	return rc;
}

int
secret_oauth2_parse(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e)
{
	size_t i = 0, tok_start, tok_end;

	*lifetime = -1;
	token->secret = true;
	while (i < n && is_blank(p[i]))
		i++;
	if (i < n && p[i] == '{')
		return oauth2_json(p + i, n - i, token, lifetime, e);
	tok_start = i;
	while (i < n && !is_blank(p[i]))
		i++;
	tok_end = i;
	if (tok_end == tok_start)
		return err_set(e, ERR_CONFIG, "it printed no token");
	if (tok_end - tok_start > SECRET_TOKEN_MAX || tok_end - tok_start > token->max - token->len)
		return err_set(e, ERR_CONFIG, "its token is longer than %d bytes",
		               SECRET_TOKEN_MAX);
	if (!is_b64token(p + tok_start, tok_end - tok_start))
		return err_set(e, ERR_CONFIG,
		               "its first word is not a bearer token (RFC 6750 "
		               "b64token: letters, digits and -._~+/ then '=' padding)");
	while (i < n && is_blank(p[i]))
		i++;
	if (i < n) {
		size_t s = i;
		while (i < n && !is_blank(p[i]))
			i++;
		if (!parse_lifetime(p + s, i - s, lifetime))
			return err_set(e, ERR_CONFIG,
			               "after the token comes something that is "
			               "not a lifetime in seconds (1 to %d digits)",
			               LIFETIME_DIGITS_MAX);
		while (i < n && is_blank(p[i]))
			i++;
		if (i < n)
			return err_set(e, ERR_CONFIG,
			               "it printed more than a token and its lifetime");
	}
	return buf_append(token, p + tok_start, tok_end - tok_start, e);
}

/*
 * The account's cache file, $XDG_CACHE_HOME/postie/oauth2/NAME (default ~/.cache), NULL
 * when there is no home. The name is the account's, with every byte outside [A-Za-z0-9_-]
 * and a leading '.' written %XX: one file per account, never shared by two (a shared file
 * would hand one account's token to another's server). With MAKE, the directories are made
 * (0700) and the last one must be ours and writable by no one else; *DIRLEN gets the length
 * of the directory part.
 */
static char *
cache_path(const struct account *a, bool make, size_t *dirlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	struct buf b;

	buf_init(&b, PATH_MAX);
	if (xdg && xdg[0] == '/')
		buf_puts(&b, xdg, NULL);
	else if (home && home[0] == '/')
		buf_printf(&b, NULL, "%s/.cache", home);
	else
		return NULL;
	if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST)
		goto fail;
	const char *parts[] = {"/postie", "/oauth2"};
	for (size_t i = 0; i < 2; i++) {
		if (buf_puts(&b, parts[i], NULL) < 0)
			goto fail;
		if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST)
			goto fail;
	}
	if (make) {
		struct stat st;
		if (lstat(b.data, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & 022)) {
			log_info("not caching the OAuth token: %s is not a private directory of "
			         "yours",
			         b.data);
			goto fail;
		}
	}
	*dirlen = b.len;
	buf_puts(&b, "/", NULL);
	for (const unsigned char *p = (const unsigned char *)a->name; *p; p++) {
		bool plain = ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		             (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
		if ((plain ? buf_append(&b, p, 1, NULL) : buf_printf(&b, NULL, "%%%02X", *p)) < 0)
			goto fail;
	}
	if (!a->name[0] && buf_puts(&b, "%", NULL) < 0)
		goto fail;
	return b.data;
fail:
	buf_fini(&b);
	return NULL;
}

/* 2: the entry names the profile file too (SEC-41); a version 1 entry reads as damaged,
 * which costs one command run. */
static const char cache_magic[] = "postie-oauth2-cache 2";

/*
 * The cache names the command by its SHA-256, in hex: a changed command invalidates the
 * entry, and a secret the command carries (a refresh token, a client secret) is not copied
 * into the cache.
 */
static void
command_digest(const char *cmd, char hex[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, cmd, strlen(cmd), d) < 0) {
		hex[0] = '\0'; /* never matches a written entry; nothing is cached */
		return;
	}
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Whether the next line of P (N bytes, from *I) is exactly "NAME VALUE". */
static bool
cache_line(const char *p, size_t n, size_t *i, const char *name, const char *value)
{
	size_t ln = strlen(name), lv = strlen(value);

	if (n - *i < ln + 1 + lv + 1 || memcmp(p + *i, name, ln) != 0 || p[*i + ln] != ' ' ||
	    memcmp(p + *i + ln + 1, value, lv) != 0 || p[*i + ln + 1 + lv] != '\n')
		return false;
	*i += ln + 1 + lv + 1;
	return true;
}

/* Read the cached token for A into OUT. Returns 1 when there is a good one, else 0. */
static int
cache_read(const struct account *a, struct buf *out)
{
	size_t dirlen;
	char *path = cache_path(a, false, &dirlen);
	char why[512];
	struct buf content;
	bool too_long;
	int rc = 0;

	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_info("no cached OAuth token: %s: %s", path, strerror(errno));
		free(path);
		return 0;
	}
	hold_secret();
	buf_init(&content, CACHE_FILE_MAX);
	content.secret = true;
	if (not_private(fd, path, why, sizeof(why))) {
		/* The token may have been read by others: never use it. The next token the
		 * command prints replaces the file. */
		warn("cached OAuth token %s not used: %s", path, why);
		goto out;
	}
	if (read_all(fd, &content, &too_long) < 0 || too_long)
		goto damaged;
	const char *p = content.data ? content.data : "";
	size_t n = content.len, i = 0;
	if (n < sizeof(cache_magic) || memcmp(p, cache_magic, sizeof(cache_magic) - 1) != 0 ||
	    p[sizeof(cache_magic) - 1] != '\n')
		goto damaged;
	i = sizeof(cache_magic);
	if (n - i < 8 || memcmp(p + i, "expires ", 8) != 0)
		goto damaged;
	i += 8;
	size_t s = i;
	while (i < n && p[i] != '\n')
		i++;
	long expires;
	if (i == n || !parse_lifetime(p + s, i - s, &expires))
		goto damaged;
	i++;
	char digest[65];
	command_digest(a->oauth2_token_command, digest);
	if (!digest[0] || !cache_line(p, n, &i, "host", a->host ? a->host : "") ||
	    !cache_line(p, n, &i, "user", a->user ? a->user : "") ||
	    !cache_line(p, n, &i, "profile", a->file ? a->file : "") ||
	    !cache_line(p, n, &i, "command-sha256", digest)) {
		log_info("cached OAuth token %s is for another host, user, profile or command",
		         path);
		goto out;
	}
	if (n - i < 6 || memcmp(p + i, "token ", 6) != 0)
		goto damaged;
	i += 6;
	s = i;
	while (i < n && p[i] != '\n')
		i++;
	if (i + 1 != n || i - s > SECRET_TOKEN_MAX || !is_b64token(p + s, i - s))
		goto damaged;
	long long now = now_s();
	/* Stale, or from a clock that has since gone back a long way. */
	if (now >= (long long)expires - SECRET_TOKEN_MARGIN ||
	    (long long)expires - now > SECRET_TOKEN_CACHE_MAX + SECRET_TOKEN_MARGIN) {
		log_info("cached OAuth token %s has expired", path);
		goto out;
	}
	if (buf_append(out, p + s, i - s, NULL) == 0)
		rc = 1;
	goto out;
damaged:
	log_info("cached OAuth token %s is damaged; not used", path);
out:
	buf_fini(&content);
	close(fd);
	free(path);
	return rc;
}

/* Cache TOKEN for A until EXPIRES. Failing costs only a command run next time. */
static void
cache_write(const struct account *a, const char *token, size_t len, long long expires)
{
	size_t dirlen;
	char *path = cache_path(a, true, &dirlen);
	struct buf content, tmp;
	int fd = -1;

	char digest[65];

	if (!path)
		return;
	buf_init(&content, CACHE_FILE_MAX);
	content.secret = true;
	buf_init(&tmp, PATH_MAX);
	command_digest(a->oauth2_token_command, digest);
	/* A value with a line end could forge the lines after it. */
	const char *file = a->file ? a->file : "";
	if (!digest[0] || strpbrk(file, "\r\n") ||
	    buf_printf(&content, NULL,
	               "%s\nexpires %lld\nhost %s\nuser %s\nprofile %s\n"
	               "command-sha256 %s\ntoken ",
	               cache_magic, expires, a->host ? a->host : "", a->user ? a->user : "", file,
	               digest) < 0 ||
	    buf_append(&content, token, len, NULL) < 0 || buf_puts(&content, "\n", NULL) < 0)
		goto out;
	/* A new file of our own (O_EXCL: never one someone put there), renamed into place so
	 * a reader sees the old file or the new one, never half of one. */
	for (unsigned k = 0; k < 100 && fd < 0; k++) {
		buf_reset(&tmp);
		if (buf_append(&tmp, path, dirlen, NULL) < 0 ||
		    buf_printf(&tmp, NULL, "/.tmp.%ld.%u", (long)getpid(), k) < 0)
			goto out;
		fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			log_info("not caching the OAuth token: %s: %s", tmp.data, strerror(errno));
			goto out;
		}
	}
	if (fd < 0)
		goto out;
	size_t off = 0;
	while (off < content.len) {
		ssize_t w = write(fd, content.data + off, content.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != content.len || close(fd) < 0 || rename(tmp.data, path) < 0) {
		log_info("not caching the OAuth token: write %s: %s", path, strerror(errno));
		if (off != content.len)
			close(fd);
		unlink(tmp.data);
	}
	fd = -1;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp.data);
	}
	buf_fini(&content);
	buf_fini(&tmp);
	free(path);
}

void
secret_oauth2_forget(const struct account *a)
{
	size_t dirlen;
	char *path = cache_path(a, false, &dirlen);

	if (path && unlink(path) == 0)
		log_info("forgot the cached OAuth token %s", path);
	free(path);
}

int
secret_oauth2_token(const struct account *a, bool refresh, struct buf *out, struct err *e)
{
	static const char hint[] = "fix the command (see oauth2_token_command in postie.conf(5))";
	struct buf output;
	struct err pe;
	long lifetime;
	int rc;

	buf_init(out, SECRET_TOKEN_MAX);
	out->secret = true;
	if (!a->oauth2_token_command)
		return 0;
	hold_secret();
	if (!refresh && cache_read(a, out) == 1) {
		log_info("OAuth token for account %s from the cache", a->name);
		return 1;
	}
	buf_reset(out);
	buf_init(&output, BUF_MAX_SECRET);
	output.secret = true;
	/* Named by its account, not quoted: such a command often carries a client secret or a
	 * refresh token (SEC-13). */
	char label[600];
	snprintf(label, sizeof(label), "run oauth2_token_command of account %s", a->name);
	rc = run_command(label, hint, a->oauth2_token_command, &output, e);
	if (rc == 0 && secret_oauth2_parse(output.data ? output.data : "", output.len, out,
	                                   &lifetime, &pe) < 0)
		rc = err_set(e, ERR_CONFIG, "%s: %s; %s", label, pe.text, hint);
	buf_fini(&output);
	if (rc < 0) {
		buf_reset(out);
		return -1;
	}
	if (lifetime > SECRET_TOKEN_MARGIN) {
		long long keep =
		    lifetime < SECRET_TOKEN_CACHE_MAX ? lifetime : SECRET_TOKEN_CACHE_MAX;
		cache_write(a, out->data, out->len, now_s() + keep);
	}
	return 0;
}
