/*
 * show: the modes that stop short of sending: the queue listed, the recipients resolved,
 * the account's settings, what the server offers. Nothing here sends mail.
 */
#ifndef POSTIE_SHOW_H
#define POSTIE_SHOW_H

#include "cli.h"
#include "err.h"

/* mailq / postie -bp: list the queue (queue_list) on standard output. */
int show_list(const struct opts *o, struct err *e);

/*
 * -bv: resolve O's recipients as a delivery would (the operands, and with -t the To, Cc and
 * Bcc fields of the header on standard input; the account's aliases file and maildomain;
 * every address checked, SEC-18/22) and print each final envelope recipient on a line of
 * its own on standard output. Nothing is sent and no server is asked. -1 with ERR_USAGE
 * (operands) or ERR_DATA (header) for an invalid address, ERR_CONFIG for profile and
 * aliases errors.
 */
int show_verify(const struct opts *o, struct err *e);

/*
 * -P / --pretend: print the settings of the account O chooses, after O's overrides, on
 * standard output, one "command = value" line each as msmtp does ("(not set)" for none; the
 * envelope sender as a run would choose it). A password, password command or token command
 * shows as "*", never itself. Connects to nothing. -1 only for profile errors and an
 * invalid -f.
 */
int show_pretend(const struct opts *o, struct err *e);

/*
 * -S / --serverinfo: for each port of O's account, connect as session_open does (proxy,
 * socket, implicit TLS or STARTTLS, verification) but without AUTH or MAIL, print on
 * standard output the greeting, the capabilities (after TLS when TLS is on, and whether
 * STARTTLS was offered before), and the TLS details (version, cipher, the certificate's
 * subject, issuer, dates, SHA-256 fingerprint and SPKI pin), then QUIT. A certificate that
 * fails verification is still described before the failure is reported. 0 when at least
 * one port answered (the others' errors are warnings); else the error of the port that got
 * furthest (a TLS failure: 69).
 */
int show_serverinfo(const struct opts *o, struct err *e);

#endif
