/* secret: where a password comes from (SEC-15, SEC-16). */
#ifndef POSTIE_SECRET_H
#define POSTIE_SECRET_H

#include "buf.h"
#include "err.h"
#include "profile.h"

/*
 * Put the account's password into OUT (which this sets up as a secret buffer with ceiling
 * BUF_MAX_SECRET; the caller calls buf_fini, which wipes it): the profile's password, else
 * the first line of passwordeval's output. passwordeval runs through execvp with the words
 * of the command when it holds no shell syntax, else through /bin/sh -c; its standard input
 * is /dev/null; output past BUF_MAX_SECRET, a non-zero exit, death by a signal, or an empty
 * first line give ERR_CONFIG naming the command (never its output). With neither, OUT is
 * left empty and 0 is returned.
 */
int secret_get(const struct account *a, struct buf *out, struct err *e);

/*
 * Run CMD (as passwordeval runs: without a shell when it holds no shell syntax, standard
 * input /dev/null) and collect its whole output into OUTPUT, which the caller has set up as a
 * secret buffer (ceiling BUF_MAX_SECRET). Every error is ERR_CONFIG naming the command and
 * never its output. For passwordeval and the profile's eval.
 */
int secret_run(const char *cmd, struct buf *output, struct err *e);

#endif
