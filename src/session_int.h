/*
 * session_int: what session.c and session_data.c share. Internal to the session: no other
 * module includes it; the session's contract is session.h.
 */
#ifndef POSTIE_SESSION_INT_H
#define POSTIE_SESSION_INT_H

#include <stdbool.h>
#include "err.h"
#include "smtp.h"
#include "source.h"

struct session;

/* Stream SRC through the DATA encoder after DATA's 354: head, read-ahead, then the input to
 * its end, and the final dot. Stops (ERR_DATA) when the message outgrows the server's SIZE
 * (SEC-35). 0, or -1 with E. */
int session_data_send(struct smtp *s, struct source *src, struct err *e);

/*
 * SRC as BDAT chunks (RFC 3030): line ends made CRLF, no dot-stuffing, no end marker. A
 * message that was read whole goes as one "BDAT n LAST" in the same write as MAIL and RCPT;
 * a longer one as chunks of about SOURCE_READ_CHUNK, the last one marked LAST (and followed
 * by QUIT with QUIT). 0, or -1 with E.
 */
int session_data_bdat(struct smtp *s, struct source *src, bool quit, struct err *e);

/*
 * Early pipelining (session_early.c, PIPECONNECT): before the greeting is read, send EHLO
 * when the cache says this server (host, port, TLS mode IMPLICIT or not, EHLO name) offered
 * it last time; ss->early says it went. 0, or -1 with E (EHLO could not be written).
 */
int session_early_begin(struct session *ss, bool implicit, struct err *e);

/*
 * The first EHLO of the session (smtp_ehlo with ALLOW_HELO; after session_early_begin only
 * its reply is read), then the cache: the reply is kept when it offers PIPECONNECT and
 * differs from the cache, the cache removed when it no longer offers it. 0, or -1 with E.
 */
int session_early_ehlo(struct session *ss, bool implicit, bool allow_helo, struct err *e);

/* The server refused a session whose EHLO went early: no early EHLO there next time. */
void session_early_forget(struct session *ss, bool implicit);

#endif
