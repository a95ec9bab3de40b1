/*
 * secret: where the password comes from (SEC-14, SEC-15, SEC-16).
 *
 * The sources, in the order secret.h lists them: the profile's password, a command's first
 * line (msmtp's passwordeval; spawn.c runs it), a private file, a systemd credential
 * (systemd.exec(5), $CREDENTIALS_DIRECTORY), ~/.netrc and /etc/netrc (netrc.c), the desktop
 * keyring through secret-tool (msmtp's attributes), and last a prompt on the terminal
 * (POSIX termios, echo off). Every secret is read with a ceiling, never shown, and wiped.
 * The OAuth 2.0 token is oauth2.c's.
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
#include <termios.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "netrc.h"
#include "oauth2.h"
#include "priv.h"
#include "spawn.h"

/* The longest password typed at the prompt. */
#define PROMPT_MAX 1024

static struct secret_hooks hooks;

void
secret_set_hooks(const struct secret_hooks *h)
{
	if (h)
		hooks = *h;
	else
		memset(&hooks, 0, sizeof(hooks));
	oauth2_set_clock(hooks.now);
}

/* How file_first_line checks its file: not at all, SEC-14's rule, or SEC-45's variant for the
 * password_file of a setgid postie's system profile (opened with the group). */
enum check { CHECK_NONE, CHECK_PRIVATE, CHECK_SYSTEM };

/*
 * The first line of the file PATH into OUT. WHAT names the source in errors. CHECK: refuse a
 * file that others may read or that is not ours (io_not_private, or its SEC-45 variant).
 * Returns 1 when read, 0 when the file does not exist and MAY_BE_MISSING, -1 with ERR_CONFIG
 * otherwise.
 */
static int
file_first_line(const char *what, const char *path, enum check check, bool may_be_missing,
                struct buf *out, struct err *e)
{
	char why[512];
	struct buf content;
	int rc = -1;

	spawn_hold_secret();
	int fd = priv_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, check == CHECK_SYSTEM);
	if (fd < 0) {
		if (errno == ENOENT && may_be_missing)
			return 0;
		return err_set(e, ERR_CONFIG, "read %s %s: %s; fix the path in the profile", what,
		               path, strerror(errno));
	}
	if (check != CHECK_NONE &&
	    priv_not_private(fd, path, check == CHECK_SYSTEM, why, sizeof(why))) {
		close(fd);
		return err_set(e, ERR_CONFIG, "read %s %s: %s", what, path, why);
	}
	buf_init(&content, BUF_MAX_SECRET);
	content.secret = true;
	int r = io_read_all(fd, &content);
	if (r == EFBIG) {
		err_set(e, ERR_CONFIG,
		        "read %s %s: longer than %zu bytes; put the password alone "
		        "on its first line",
		        what, path, content.max);
	} else if (r) {
		err_set(e, ERR_CONFIG, "read %s %s: %s", what, path, strerror(r));
	} else {
		char label[600];
		snprintf(label, sizeof(label), "read %s %s", what, path);
		static const char hint[] = "put the password on its first line";
		if (spawn_take_first_line(&content, label, hint, out, e) == 0)
			rc = 1;
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
	rc = file_first_line("systemd credential", path.data, CHECK_NONE, true, out, e);
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
	if (spawn_argv("run secret-tool lookup", "the keyring is skipped", argv, &output, &e) < 0) {
		log_info("no password for %s in the keyring (%s)", a->host, e.text);
	} else {
		size_t len;
		if (spawn_first_line(output.data, output.len, &len) == SPAWN_LINE_OK &&
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
	io_write_all(fd, text, strlen(text)); /* the prompt is a courtesy: errors ignored */
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
	io_write_all(fd, "\n", 1);
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
	spawn_hold_secret();
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

/* passwordeval: the first line of the command's output. */
static int
from_command(const struct account *a, struct buf *out, struct err *e)
{
	struct buf output;
	char label[600];

	buf_init(&output, BUF_MAX_SECRET);
	output.secret = true;
	/* SEC-44: messages name the account and its file, never the command; SEC-15: nor the
	 * output. */
	snprintf(label, sizeof(label), "passwordeval of account %s (%s)", a->name ? a->name : "?",
	         a->file ? a->file : "?");
	int rc = spawn_run(label, a->passwordeval, &output, e);
	if (rc == 0) {
		size_t len;
		switch (spawn_first_line(output.data, output.len, &len)) {
		case SPAWN_LINE_EMPTY:
			rc =
			    err_set(e, ERR_CONFIG,
			            "run %s: its first line of output is empty; fix the command or "
			            "use password",
			            label);
			break;
		case SPAWN_LINE_NUL:
			rc = err_set(e, ERR_CONFIG,
			             "run %s: its output holds a NUL byte; fix the command or use "
			             "password",
			             label);
			break;
		case SPAWN_LINE_OK:
			rc = buf_append(out, output.data, len, e);
			break;
		}
	}
	buf_fini(&output);
	return rc;
}

/* Whether the account's auth_mech takes no password (EXTERNAL, XOAUTH2, OAUTHBEARER). */
static bool
mech_without_password(const struct account *a)
{
	static const char *const no_password[] = {"EXTERNAL", "XOAUTH2", "OAUTHBEARER"};

	for (size_t i = 0; a->auth_mech && i < sizeof(no_password) / sizeof(no_password[0]); i++)
		if (strcasecmp(a->auth_mech, no_password[i]) == 0)
			return true;
	return false;
}

/* ~/.netrc (private), then /etc/netrc (or the test's). 1 when the password is in OUT. */
static int
from_netrc(const struct account *a, struct buf *out)
{
	const char *home = getenv("HOME");

	if (home && home[0] == '/') {
		struct buf path;
		buf_init(&path, PATH_MAX);
		int found = buf_printf(&path, NULL, "%s/.netrc", home) == 0 &&
		            netrc_lookup(path.data, true, a->host, a->user, out);
		buf_fini(&path);
		if (found)
			return 1;
	}
	return netrc_lookup(hooks.system_netrc ? hooks.system_netrc : "/etc/netrc", false, a->host,
	                    a->user, out);
}

/* Sources 4 to 7 of secret_get, looked up by the account's name or host. */
static int
from_implicit(const struct account *a, struct buf *out, struct err *e)
{
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
	if (mech_without_password(a))
		return 0;
	int rc = credential(a, out, e);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (from_netrc(a, out) || keyring(a, out))
		return 0;
	/* A client certificate may be all the account logs in with (EXTERNAL): no question. */
	if (a->tls_cert_file)
		return 0;
	return prompt(a, out, e) < 0 ? -1 : 0;
}

int
secret_get(const struct account *a, struct buf *out, struct err *e)
{
	buf_init(out, BUF_MAX_SECRET);
	out->secret = true;
	if (a->password) {
		spawn_hold_secret();
		return buf_puts(out, a->password, e);
	}
	if (a->passwordeval)
		return from_command(a, out, e);
	if (a->password_file)
		return file_first_line("password_file", a->password_file,
		                       a->origin == PROFILE_ORIGIN_SYSTEM ? CHECK_SYSTEM
		                                                          : CHECK_PRIVATE,
		                       false, out, e) < 0
		           ? -1
		           : 0;
	/* The implicit sources need a server and a user to look for, and are not for an
	 * account that logs in without a password: with an OAuth token, or with a mechanism
	 * the profile names that takes none. */
	if (!a->host || !a->user || a->oauth2_token_command)
		return 0;
	return from_implicit(a, out, e);
}

bool
secret_implicit_ok(const struct account *a)
{
	return profile_route_is_own(a) &&
	       (a->origin == PROFILE_ORIGIN_USER || a->origin == PROFILE_ORIGIN_SYSTEM);
}
