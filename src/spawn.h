/*
 * spawn: running a command of the profile (passwordeval, eval, oauth2_token_command, and
 * secret-tool for the keyring) and taking the first line of what a secret's source gives
 * (SEC-15, SEC-44).
 *
 * POSIX.1-2017: fork, execvp, pipe, waitpid; a command with shell syntax runs as
 * "/bin/sh -c COMMAND" (XCU 2, Shell Command Language), a plain list of words without one.
 *
 * Every function here that may see a secret first calls spawn_hold_secret (see secret.h).
 */
#ifndef POSTIE_SPAWN_H
#define POSTIE_SPAWN_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

/*
 * A secret is about to be in memory: make the process non-dumpable (prctl PR_SET_DUMPABLE
 * 0: no core file, no ptrace or /proc/PID/mem by other processes of the user). Never undone.
 */
void spawn_hold_secret(void);

/*
 * Run ARGV (execvp; standard input /dev/null, standard error ours, SIGPIPE back to its
 * default) and collect its whole output into OUTPUT (ceiling OUTPUT->max: a longer output
 * kills the command and is refused, never cut). Errors read "LABEL: reason; HINT" (ERR_OS
 * for pipes, fork and wait; ERR_CONFIG for a program that cannot start, too much output, a
 * signal or a non-zero exit) and never quote the output.
 */
int spawn_argv(const char *label, const char *hint, char **argv, struct buf *output, struct err *e);

/*
 * Run the profile's command CMD as spawn_argv runs ARGV: split at spaces and tabs when it
 * holds no shell syntax, else through /bin/sh -c. An empty command is ERR_CONFIG. Errors
 * begin with LABEL, which must not quote CMD (SEC-44).
 */
int spawn_command(const char *label, const char *hint, const char *cmd, struct buf *output,
                  struct err *e);

/*
 * Run CMD (as passwordeval runs: without a shell when it holds no shell syntax, standard
 * input /dev/null) and collect its whole output into OUTPUT, which the caller has set up as a
 * secret buffer (ceiling BUF_MAX_SECRET). Every error is ERR_CONFIG "run WHAT: reason",
 * where WHAT names the command's place ("passwordeval of account A (FILE)", "eval at
 * FILE:LINE"): never the command, which may hold a secret (SEC-44), nor its output (SEC-15).
 * For passwordeval and the profile's eval.
 */
int spawn_run(const char *what, const char *cmd, struct buf *output, struct err *e);

enum spawn_line { SPAWN_LINE_OK, SPAWN_LINE_EMPTY, SPAWN_LINE_NUL };

/*
 * The first line of P (N bytes; P may be NULL when N is 0): one "\n" or "\r\n" ends it
 * (SEC-15). Its length goes to *LEN; SPAWN_LINE_EMPTY when it is empty, SPAWN_LINE_NUL when
 * it holds a NUL byte.
 */
enum spawn_line spawn_first_line(const char *p, size_t n, size_t *len);

/*
 * Append the first line of SRC to OUT. ERR_CONFIG "WHAT: its first line is empty; HINT" (or
 * "holds a NUL byte") otherwise.
 */
int spawn_take_first_line(const struct buf *src, const char *what, const char *hint,
                          struct buf *out, struct err *e);

#endif
