/*
 * secret: where a password or an OAuth 2.0 access token comes from (SEC-14, SEC-15, SEC-16).
 *
 * Every function here that reads a secret first makes the process non-dumpable
 * (prctl PR_SET_DUMPABLE 0: no core file, no ptrace by other processes of the user), and
 * leaves it so for the rest of the process's life: the secret lingers in copies (the
 * profile, SASL state) that cannot all be tracked, so undoing it would be unsafe.
 */
#ifndef POSTIE_SECRET_H
#define POSTIE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"
#include "profile.h"

/* The longest word (machine, login, password...) postie reads from a netrc file. */
#define SECRET_NETRC_WORD_MAX 4096
/* The longest OAuth 2.0 access token postie takes (Microsoft's JWTs run to a few KiB). */
#define SECRET_TOKEN_MAX 8192
/* A cached token is used until this many seconds before it expires. */
#define SECRET_TOKEN_MARGIN 60
/* A cached token is kept at most this long, whatever lifetime the command gave. */
#define SECRET_TOKEN_CACHE_MAX (24 * 3600)

/*
 * Put the account's password into OUT, which this sets up as a secret buffer (ceiling
 * BUF_MAX_SECRET; the caller calls buf_fini, which wipes it). The first source that gives
 * one wins:
 *
 *   1. password (the profile);
 *   2. passwordeval: the first line of its output (see secret_run);
 *   3. password_file: its first line; the file must belong to the effective user and give
 *      group and others no permission at all (SEC-14), else ERR_CONFIG saying what to run;
 *
 * and, only when the account has a host and a user, no oauth2_token_command, and no
 * auth_mech that takes no password (EXTERNAL, XOAUTH2, OAUTHBEARER):
 *
 *   4. systemd's credential $CREDENTIALS_DIRECTORY/postie.ACCOUNT: its first line;
 *   5. ~/.netrc, then /etc/netrc (see secret_netrc_find); a ~/.netrc that would give the
 *      password but that others may read, or that is not the user's, is skipped with a
 *      warning, as ftp(1) does;
 *   6. the desktop keyring: "secret-tool lookup host HOST service smtp user USER" (msmtp's
 *      attributes), only when secret-tool is in PATH and DBUS_SESSION_BUS_ADDRESS is set;
 *      its failure is no error (the next source is tried);
 *   7. a prompt on /dev/tty with echo off, only when standard error is a terminal and
 *      /dev/tty opens as one (standard input is the message, never a password), and not
 *      when the account has a client certificate (it may log in with EXTERNAL).
 *
 * A "first line" ends at the first "\n" or "\r\n"; an empty one or a NUL byte in it is
 * ERR_CONFIG naming the source (never its content). With no source, or an empty answer to
 * the prompt, OUT is left empty and 0 is returned. ERR_TEMP when a signal ends the prompt.
 */
int secret_get(const struct account *a, struct buf *out, struct err *e);

/*
 * SEC-41: whether the sources looked up by an account's name or host (systemd credentials,
 * netrc, the keyring) may serve A: only an account of the user's own profile or of the
 * system profile whose destination and trust all come from that profile.
 */
bool secret_implicit_ok(const struct account *a);

/*
 * Run CMD (as passwordeval runs: without a shell when it holds no shell syntax, standard
 * input /dev/null) and collect its whole output into OUTPUT, which the caller has set up as a
 * secret buffer (ceiling BUF_MAX_SECRET). Every error is ERR_CONFIG "run WHAT: reason",
 * where WHAT names the command's place ("passwordeval of account A (FILE)", "eval at
 * FILE:LINE"): never the command, which may hold a secret (SEC-44), nor its output (SEC-15).
 * For passwordeval and the profile's eval.
 */
int secret_run(const char *what, const char *cmd, struct buf *output, struct err *e);

/*
 * Find the password for HOST and USER in the netrc text P (N bytes). The format is ftp(1)'s:
 * words separated by blanks and line ends; "machine NAME", "default", "login NAME",
 * "password WORD", "account WORD", "macdef NAME" (its body, up to the next empty line, is
 * skipped); a word may be a quoted string as curl reads them ("a b", with \" \\ \n \r \t);
 * '#' where a keyword is due starts a comment to the end of the line; unknown keywords are
 * skipped. The password of the first "machine" entry whose name is HOST (any case) and
 * whose login is USER or absent is appended to OUT (a secret buffer); failing that, that of
 * the first such "default" entry. Returns 1 when found, 0 when not, -1 with ERR_CONFIG
 * "line N: reason" for text that is not netrc: a NUL byte, an unterminated quoted string, a
 * word longer than SECRET_NETRC_WORD_MAX, a keyword without its word.
 */
int secret_netrc_find(const char *p, size_t n, const char *host, const char *user, struct buf *out,
                      struct err *e);

/*
 * Read what an oauth2_token_command printed (P, N bytes), in one of two forms:
 *
 *   TOKEN [LIFETIME]   the token (RFC 6750 b64token), then optionally blanks or line ends
 *                      and its lifetime in seconds (1 to 10 digits); blanks and line ends
 *                      may follow; nothing else.
 *   {JSON object}      a token endpoint's answer (RFC 6749 §5.1): "access_token" (a string)
 *                      and optionally "expires_in" (a number, or a string of digits); other
 *                      members are skipped (at most 16 levels deep). An object with "error"
 *                      and no "access_token" is refused with that error code (§5.2).
 *
 * Appends the token (at most SECRET_TOKEN_MAX bytes) to TOKEN (a secret buffer) and sets
 * *LIFETIME to the lifetime in seconds, or -1 when the output gives none. ERR_CONFIG for
 * anything else; the message never quotes the output.
 */
int secret_oauth2_parse(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e);

/*
 * The account's OAuth 2.0 access token into OUT (set up here as a secret buffer, ceiling
 * SECRET_TOKEN_MAX; the caller calls buf_fini). Unless REFRESH, a token cached by an earlier
 * run is used while it has more than SECRET_TOKEN_MARGIN seconds to live; else
 * oauth2_token_command runs (as secret_run runs it) and its output is read with
 * secret_oauth2_parse. A token with a known lifetime is cached in
 * $XDG_CACHE_HOME/postie/oauth2/ACCOUNT (default ~/.cache): mode 0600, written to a new
 * file (O_EXCL) and renamed into place, tied to the account's host, user, profile file and
 * command (SEC-41: a -C profile elsewhere with the same account name never reads it). A
 * cache file that is stale, damaged, for another host, user, profile or command, not the
 * user's, or readable by others is not used (the last two with a warning). A cache that
 * cannot be written costs only the next run a command.
 *
 * Returns 1 when the token came from the cache, 0 when the command just printed it (also 0,
 * with OUT empty, when the account has no oauth2_token_command), -1 with ERR_CONFIG when the
 * command fails or prints no token. A server that refuses a token that came from the cache
 * may only have revoked it early: call secret_oauth2_forget, then this with REFRESH, and try
 * once more.
 */
int secret_oauth2_token(const struct account *a, bool refresh, struct buf *out, struct err *e);

/* Delete the account's cached OAuth 2.0 token, if any. */
void secret_oauth2_forget(const struct account *a);

/*
 * For tests only: what the sources see of the system. secret_set_hooks(NULL) (or never
 * calling it) means the real thing.
 */
struct secret_hooks {
	const char *system_netrc; /* NULL: /etc/netrc */
	const char *tty;          /* the terminal to prompt on; NULL: /dev/tty */
	bool no_tty;              /* never prompt */
	bool tty_any_stderr;      /* prompt even when standard error is not a terminal */
	long long (*now)(void);   /* seconds since the epoch; NULL: time() */
};
void secret_set_hooks(const struct secret_hooks *h);

#endif
