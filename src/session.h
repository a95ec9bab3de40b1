/*
 * session: one SMTP session for one account. Open it (connect, TLS, AUTH, as the account
 * and SEC-1..12 require), send one or more transactions over it (the envelope, then the
 * message streamed from a source, by DATA or by BDAT where CHUNKING is offered), close it.
 * A normal run sends its own message and then a few due queue entries; a flush sends every
 * due entry of an account over one session.
 */
#ifndef POSTIE_SESSION_H
#define POSTIE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "buf.h"
#include "err.h"
#include "profile.h"
#include "smtp.h"
#include "source.h"

struct session {
	const struct account *acct;
	const struct txn_params *params; /* for the next session_send; NULL: none */
	struct smtp s;
	char *host;      /* A-label form of acct->host */
	char *cache;     /* the TLS session cache file, or NULL */
	int port;        /* the port the session uses (of the account's list), for logs; 0 over
	                    a local socket */
	bool open;       /* greeted, TLS and AUTH done, ready for MAIL */
	bool dirty;      /* a transaction failed part-way: RSET before the next */
	bool dsn_warned; /* the "no DSN" warning was given */
	bool per_rcpt;   /* LMTP (RFC 2033 §4.2): the last session_send read one reply per
	                    recipient after the data; CODES hold them, and a recipient with 250
	                    has the message even when session_send failed (a reply that was
	                    neither 250 nor a refusal is 0 there: not known, SEC-36) */
	unsigned sent;   /* transactions completed */
	bool early;      /* EHLO went before the greeting on this connection (PIPECONNECT) */
	bool ehlo_read;  /* and its reply was read with the greeting (session_connect_port) */
	int64_t since;   /* io_clock_ms when the session started, or the last transaction ended:
	                    the -v summary's time */
};

/* SS closed and empty: safe for session_close, ready for session_open (set ss->params after). */
void session_init(struct session *ss);

/*
 * Connect to the account's server and make the session ready for MAIL: greeting, EHLO
 * (LHLO for LMTP), STARTTLS or implicit TLS, EHLO again, AUTH with PASSWORD. Every error
 * kind of SEC-37. The ports of the account (profile_ports; implicit TLS or STARTTLS per port,
 * profile_implicit_tls) are tried in order while a port cannot be connected to (refused,
 * unreachable, timed out, the proxy could not connect) or its greeting refuses the session
 * (4xx/5xx, after QUIT): nothing was said there but QUIT. Never after a TLS, EHLO or
 * authentication failure (SEC-1: no downgrade by making a port fail). ss->port says which
 * port answered. ss->params survives the call.
 */
int session_open(struct session *ss, const struct account *a, const char *password, struct err *e);

/*
 * One transaction: MAIL FROM SENDER, RCPT TO each of RCPTS, then SRC's message. CODES, when
 * not NULL, receives each recipient's RCPT reply code (0: not known); with LMTP, once the
 * data is sent, each recipient's reply to it instead (ss->per_rcpt). ss->params adds DSN
 * (RFC 3461: RET, ENVID, NOTIFY, ORCPT) where the server offers it, else warns once a
 * session, and BODY=8BITMIME (RFC 6152) where offered as its body says. With LAST, QUIT goes
 * out behind the end of the data (no other transaction follows), and its reply must be 221
 * (SEC-33). Only 250 to the end of the data is delivery (SEC-36; with LMTP a 250 for every
 * recipient), and with QUIT pipelined only once its reply, if any, is 221: then SRC's queue
 * copy is discarded and SRC->copy set to NULL, and 0 is returned. Any other reply where the
 * verdict should be (221, 252, a reply out of step, one that cannot be parsed) is ERR_UNSURE
 * and the copy stays; no reply at all is ERR_TEMP; a refusal ERR_TEMP (4xx) or ERR_PERM
 * (5xx). -1 with e set otherwise. After a failure the session may still be usable for another
 * transaction (ss->open); when the data was abandoned or the server is out of step it is not.
 */
int session_send(struct session *ss, const char *sender, char *const *rcpts, size_t n, int *codes,
                 struct source *src, bool last, struct err *e);

/*
 * MAIL FROM SENDER and RCPT TO each of RCPTS, as session_send would send them (SMTPUTF8 when
 * an address needs it, SEC-25), with the same verdicts and errors, but no DATA; then RSET.
 * Nothing is sent (postie --check). CODES as for session_send. The session stays open when
 * the connection does.
 */
int session_try_envelope(struct session *ss, const char *sender, char *const *rcpts, size_t n,
                         int *codes, struct err *e);

/*
 * QUIT (if not yet sent) and close. WHY is the error that ends the session, or NULL: after
 * a timeout, a lost connection, a protocol or TLS failure no QUIT is sent. Safe to call on a
 * session that failed to open.
 */
void session_close(struct session *ss, const struct err *why);

/* Whether the session runs over TLS (for the log). */
bool session_tls(const struct session *ss);

/* The server's reply code to the end of the last data (0: none) and, in *TEXT when not
 * NULL, its text; valid until the next session_send or session_close. */
int session_final(const struct session *ss, const char **text);

/*
 * The parts of session_open that --serverinfo (show.c) uses to look at a server without
 * logging in. session_ports: the ports of A to try, in order (profile_ports; LMTP's default
 * is there too), and a local socket counts one (its port only decides TLS).
 */
int session_ports(const struct account *a, int out[PROFILE_MAX_PORTS]);

/*
 * Start SS for account A with nothing connected yet (ss->params kept): the host in A-label
 * form (SEC-8), the session's total deadline started (SEC-34), and the TLS settings in TC,
 * checked (a key others can read, a missing file: said before connecting).
 */
int session_start(struct session *ss, const struct account *a, struct tls_config *tc,
                  struct err *e);

/*
 * Connect to PORT along the account's route, do implicit TLS when IMPLICIT, and read the
 * greeting. *NEXT says whether another port may be tried: only when the connection could not
 * be made, or the greeting refused the session (SEC-40: after QUIT; nothing else was sent).
 * Never after anything TLS did: a port that fails TLS must not lead to another (SEC-1).
 */
int session_connect_port(struct session *ss, const struct tls_config *tc, int port, bool implicit,
                         bool *next, struct err *e);

/*
 * The rest of session_open once session_connect_port has a greeting, for postie --check to
 * walk it step by step. session_ehlo_tls: EHLO (LHLO), and with STARTTLS (not IMPLICIT, TLS
 * on) the upgrade and EHLO again (SEC-1..4). session_auth: AUTH as session_open does it
 * (the caller has checked acct->auth): the mechanism sasl_pick chooses from those offered
 * under TLS (SEC-4), channel binding where there is one, an OAuth token asked for again
 * once when refused; *MECH gets the mechanism's name (static), NULL when none could be
 * chosen. Neither sets ss->open; the caller does once both succeeded.
 */
int session_ehlo_tls(struct session *ss, const struct tls_config *tc, bool implicit, struct err *e);
int session_auth(struct session *ss, const char *password, const char **mech, struct err *e);

/* SEC-1: TLS is required and the server offers no STARTTLS: ERR_TLS (with the fix), QUIT,
 * -1. No silent downgrade. */
int session_no_starttls(struct session *ss, struct err *e);

#endif
