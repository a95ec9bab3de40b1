/*
 * doctor: postie --check. Walks the path a message of the account would take, with the same
 * code a send runs (account.h, secret.h, session.h), and stops at the first step that fails,
 * saying what to change. Nothing is sent: the envelope is tried and reset.
 */
#ifndef POSTIE_DOCTOR_H
#define POSTIE_DOCTOR_H

#include <stdio.h>
#include "cli.h"
#include "err.h"

/* How many days before its expiry the server's certificate earns a warning. */
#define DOCTOR_EXPIRY_WARN_DAYS 14

/*
 * Check O's account (-a, else the one -f's address chooses, else the default) step by step,
 * one line each on OUT: "ok", "warning" or "error" (padded to 9 columns), then the step and
 * what was found, the error's text with its fix, and a last "result" line. The steps: the
 * profile (its file, mode and owner; every other account's policy, as warnings), the
 * account (its settings, the envelope sender a send would use, account_check_policy, the TLS
 * files), the secret (its source runs or is read; never the secret, nor its length), name
 * resolution (of the host, or the proxy; none over a local socket), each port in turn as a
 * send tries them (connect, implicit TLS, the greeting; a port that fails where a send would
 * go on to the next is a warning), EHLO and STARTTLS, TLS (version, the certificate's names,
 * issuer and expiry, how it was verified; a full handshake, no cached session; expiry within
 * DOCTOR_EXPIRY_WARN_DAYS is a warning), AUTH (the mechanism chosen and a real login), and
 * MAIL FROM / RCPT TO of the sender's own address followed by RSET; then QUIT. Every text
 * from the server or a certificate is shown through codec_put_printable, and the secret is
 * never printed (SEC-13). 0 when every step passed (warnings included); else -1 with E set
 * to the error of the first failed step, whose kind gives the exit status a send would have
 * had (SEC-37): the report has already said it, the caller prints nothing more. The command
 * line's rules are a send's (SEC-41, SEC-43, SEC-45): the same route overrides are refused.
 */
int doctor_run(const struct opts *o, FILE *out, struct err *e);

/*
 * The note on a certificate that expires at NOT_AFTER, at NOW (both seconds since the
 * epoch), into BUF (N bytes): "" when it is more than DOCTOR_EXPIRY_WARN_DAYS days away,
 * else "expires in D days (DATE)", "expires in less than a day (DATE)" or "expired on DATE". For
 * doctor_run and the unit tests.
 */
void doctor_expiry_note(long long not_after, long long now, char *buf, size_t n);

#endif
