/*
 * secret: where a password comes from (SEC-14, SEC-15, SEC-16); the OAuth 2.0 access token is
 * oauth2.h's, the commands spawn.h's, the netrc reader netrc.h's.
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

/*
 * Put the account's password into OUT, which this sets up as a secret buffer (ceiling
 * BUF_MAX_SECRET; the caller calls buf_fini, which wipes it). The first source that gives
 * one wins:
 *
 *   1. password (the profile);
 *   2. passwordeval: the first line of its output (see spawn_run);
 *   3. password_file: its first line; the file must belong to the effective user and give
 *      group and others no permission at all (SEC-14), else ERR_CONFIG saying what to run;
 *
 * and, only when the account has a host and a user, no oauth2_token_command, and no
 * auth_mech that takes no password (EXTERNAL, XOAUTH2, OAUTHBEARER):
 *
 *   4. systemd's credential $CREDENTIALS_DIRECTORY/postie.ACCOUNT: its first line;
 *   5. ~/.netrc, then /etc/netrc (see netrc_find); a ~/.netrc that would give the
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
 * For tests only: what the sources see of the system. secret_set_hooks(NULL) (or never
 * calling it) means the real thing.
 */
struct secret_hooks {
	const char *system_netrc; /* NULL: /etc/netrc */
	const char *tty;          /* the terminal to prompt on; NULL: /dev/tty */
	bool no_tty;              /* never prompt */
	bool tty_any_stderr;      /* prompt even when standard error is not a terminal */
	long long (*now)(void);   /* seconds since the epoch (oauth2_set_clock); NULL: time() */
};
void secret_set_hooks(const struct secret_hooks *h);

#endif
