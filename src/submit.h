/*
 * submit: one delivery. From the options, the profile and the message on standard input to
 * the server's final reply: account choice, envelope checks, header rewriting, the
 * password, and the session (connect, TLS, AUTH, envelope, streamed body).
 */
#ifndef POSTIE_SUBMIT_H
#define POSTIE_SUBMIT_H

#include "cli.h"
#include "err.h"

/*
 * Deliver the message read from FD as O says. 0 only after the server's 2xx to the end of
 * data (SEC-36); otherwise -1 with e set to the kind that gives the exit status (SEC-37).
 * Everything that can be checked before connecting is checked before connecting.
 */
int submit_run(const struct opts *o, int fd, struct err *e);

/*
 * postie -q: deliver every queued entry (O's -qR/-qI selectors and -a narrow it), one
 * session per account, many messages per session. Entries that cannot go now stay queued
 * with their reply and a later next attempt. Prints a summary on stderr. -1 only when the
 * profile or the queue cannot be read.
 */
int submit_flush(const struct opts *o, struct err *e);

/* mailq / postie -bp: list the queue on standard output. */
int submit_list(const struct opts *o, struct err *e);

#endif
