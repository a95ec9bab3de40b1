/* serve: sendmail -bs, an SMTP conversation with the caller on standard input and output. */
#ifndef POSTIE_SERVE_H
#define POSTIE_SERVE_H

#include "cli.h"
#include "err.h"

/*
 * -bs: speak SMTP (RFC 5321, with PIPELINING, 8BITMIME, SMTPUTF8 and ENHANCEDSTATUSCODES)
 * with the caller on standard input/output, as Postfix's `sendmail -bs` does, and deliver
 * each message it accepts as deliver_run would, with the MAIL FROM address as -f (<> the null
 * sender), the RCPT TO addresses as the recipients (checked by addr_envelope as argv
 * recipients are), -i, and O's other flags.
 *
 * The reply to the end of the data is the outcome: 250 only when deliver_run returned 0 (the
 * server's 250, or a durable queue write: SEC-36); 451 for what may pass (4xx, connection,
 * local configuration, TLS, authentication, and a server whose reply to the end of the data
 * was no verdict, ERR_UNSURE, with no queue to keep the message: 451 4.5.0 saying the server
 * may hold a copy); 550 or 554 when the server refused the recipient or
 * the message for good, or the message is unusable. The reply carries the error's text, and
 * the error is printed on stderr too.
 *
 * Standard input is read with a buffer, so pipelined commands are never lost; command lines
 * are at most 512 octets (RFC 5321 §4.5.3.1.4), at most SERVE_RCPTS_MAX recipients a
 * message. While it runs, standard input is /dev/null and standard output is standard error
 * for everything else (a `logfile -` cannot corrupt the conversation).
 *
 * Returns 0 at QUIT and at the end of input (a message whose data had not ended is not sent;
 * a warning says so), whatever became of each message: the caller had each reply. -1 with
 * e set when the profile cannot be read before the greeting (the greeting is then 421 with
 * the reason; ERR_CONFIG), or when standard input or output fails (ERR_OS).
 */
int serve_run(const struct opts *o, struct err *e);

#endif
