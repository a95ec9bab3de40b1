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
 * Deliver the message read from FD as O says. 0 only after the server's 250 to the end of
 * data and 250 or 251 to every recipient (SEC-36), or once the message is durably queued
 * (an out-of-step verdict is kept in the queue and still -1, ERR_UNSURE, unless
 * O->serving); otherwise -1 with e set to the kind that gives the exit status (SEC-37).
 * Everything that can be checked before connecting is checked before connecting. The
 * account is O's -a, else the one whose `from` is -f's (or, with --read-envelope-from, the
 * From field's) address, else "default"; O's long options (--port=N, ...) go over it
 * (profile_apply): one that moves the mail is refused for an account with a secret (SEC-41)
 * and makes the run one that neither queues nor flushes (SEC-42). msmtp's --host makes an
 * account of the command line alone (no profile is read; -a with it is ERR_USAGE).
 * Recipients pass through the account's aliases file and maildomain, in the envelope and
 * in the header; the header is rewritten as the account says (msg_rewrite); -N/-R/-V/-B
 * win over dsn_notify/dsn_return. One maillog line records the outcome.
 */
int submit_run(const struct opts *o, int fd, struct err *e);

/*
 * postie -q: deliver every queued entry (O's -qR/-qI selectors and -a narrow it), one
 * session per account, many messages per session, each with the DSN and BODY parameters
 * it was queued with (one maillog line each). Entries that cannot go now stay queued
 * with their reply and a later next attempt. An entry goes only through the account of its
 * name defined in the profile file it was queued from (SEC-42); others are left alone.
 * Prints a summary on stderr. -1 when the profile or the queue cannot be read, and
 * ERR_USAGE for an option of O that would move the mail (the overrides are not applied).
 */
int submit_flush(const struct opts *o, struct err *e);

/* mailq / postie -bp: list the queue on standard output. */
int submit_list(const struct opts *o, struct err *e);

/*
 * -bv: resolve O's recipients as a delivery would (the operands, and with -t the To, Cc and
 * Bcc fields of the header on standard input; the account's aliases file and maildomain;
 * every address checked, SEC-18/22) and print each final envelope recipient on a line of
 * its own on standard output. Nothing is sent and no server is asked. -1 with ERR_USAGE
 * (operands) or ERR_DATA (header) for an invalid address, ERR_CONFIG for profile and
 * aliases errors.
 */
int submit_verify(const struct opts *o, struct err *e);

/*
 * -P / --pretend: print the settings of the account O chooses, after O's overrides, on
 * standard output, one "command = value" line each as msmtp does ("(not set)" for none; the
 * envelope sender as a run would choose it). A password, password command or token command
 * shows as "*", never itself. Connects to nothing. -1 only for profile errors and an
 * invalid -f.
 */
int submit_pretend(const struct opts *o, struct err *e);

/*
 * -S / --serverinfo: connect as O's account would (TLS verified, no AUTH, no MAIL), print
 * the greeting, the capabilities and the TLS session and certificate on standard output, QUIT.
 */
int submit_serverinfo(const struct opts *o, struct err *e);

#endif
