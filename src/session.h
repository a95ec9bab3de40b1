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
#include "queue.h"
#include "smtp.h"

#define SOURCE_READ_CHUNK (64 * 1024)
/* How much of the body is read before connecting: a message that ends within it has an
 * exact size for SIZE= (RFC 1870) before MAIL, and goes in the same write as the envelope
 * (BDAT LAST). */
#define SOURCE_READ_AHEAD (64 * 1024)

/* Where one message's bytes come from: HEAD, then AHEAD, then FD to its end. */
struct source {
	const char *head; /* the rewritten header section (or NULL); not owned */
	size_t head_len;
	struct buf ahead;        /* bytes read ahead from FD */
	int fd;                  /* the rest, read to its end */
	bool at_end;             /* FD has been read to its end */
	bool complete;           /* the end of the message is known: FD's end, or (without -i)
	                            a line of "." */
	bool ignore_dots;        /* -i: a line of "." is data, not the end */
	unsigned long long size; /* the message size, exact once complete (RFC 1870 §3) */
	struct queue_copy *copy; /* every byte read from FD is also written here, or NULL */
	bool pulling;            /* FD's bytes go into the copy in the kernel and are read back */
	bool no_pull;            /* that cannot be done: read FD and write the copy */
	uint64_t pull_off;       /* when pulling: the copy's offset of the next byte to give */
	const struct queue_meta *meta; /* the copy's envelope, written once complete */
};

/* Set up SRC over HEAD and FD. Nothing is read yet. */
void source_init(struct source *src, const char *head, size_t head_len, int fd, bool ignore_dots,
                 struct queue_copy *copy);
void source_fini(struct source *src);

/*
 * Read up to SOURCE_READ_AHEAD bytes (after what AHEAD already holds). When the message
 * ends within them, measure it as it will be sent (line ends made CRLF, no dot-stuffing:
 * the message, not its transport) and mark it complete; a NUL there is found before any
 * connection (ERR_DATA). ERR_OS when reading fails.
 */
int source_read_ahead(struct source *src, struct err *e);

/* The end of the message is known: mark the queue copy complete (its envelope written), so
 * that from now on no kill can lose it. */
void source_complete(struct source *src);

/* Read the rest of the message into the copy only (to queue what the session could not
 * send). Stops at FD's end, or at once when the message is already complete. */
int source_drain(struct source *src, struct err *e);

/* Per-message extras of MAIL and RCPT: RFC 3461 DSN and RFC 6152 8BITMIME. Sent only where
 * the server offers the extension; a DSN request it cannot take is a warning, not a failure. */
struct txn_params {
	const char *dsn_notify; /* NULL, "NEVER" or a list of SUCCESS,FAILURE,DELAY */
	const char *dsn_ret;    /* NULL, "FULL" or "HDRS" */
	const char *envid;      /* NULL or the ENVID (xtext-encoded when sent) */
	int body;               /* 0: BODY=8BITMIME when offered unless the message is known to be
	                           7-bit; 7: never; 8: always when offered */
};

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
};

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
 * QUIT (if not yet sent) and close. WHY is the error that ends the session, or NULL: after
 * a timeout, a lost connection, a protocol or TLS failure no QUIT is sent. Safe to call on a
 * session that failed to open.
 */
void session_close(struct session *ss, const struct err *why);

/*
 * --serverinfo: for each port of account A, connect as session_open does (proxy, socket,
 * implicit TLS or STARTTLS, verification) but without AUTH, print to OUT the greeting, the
 * capabilities (after TLS when TLS is on, and whether STARTTLS was offered before), and the
 * TLS details (version, cipher, the certificate's subject, issuer, dates, SHA-256
 * fingerprint and SPKI pin), then QUIT. A certificate that fails verification is still
 * described before the failure is reported. 0 when at least one port answered (the others'
 * errors are warnings); else the error of the port that got furthest (a TLS failure: 69).
 */
int session_serverinfo(const struct account *a, FILE *out, struct err *e);

#endif
