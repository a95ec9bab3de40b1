/*
 * smtp: the protocol, one function per command. Replies are read here (SEC-31, SEC-32) and
 * parsed by smtp_reply.h, which also reads the EHLO capabilities (SEC-35); smtp_dsn.h builds the
 * DSN parameters (RFC 3461). Here: the one function that writes a command line (SEC-19), STARTTLS
 * with capabilities rebuilt (SEC-1..4), AUTH (SEC-12, SEC-13, SEC-17), a pipelined envelope (RFC
 * 2920) and the data phase (SEC-30, SEC-33). RFC 5321, RFC 3207, RFC 4954, RFC 2920, RFC 1870; LMTP
 * (RFC 2033).
 */
#ifndef POSTIE_SMTP_H
#define POSTIE_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "conn.h"
#include "smtp_dsn.h"
#include "err.h"
#include "smtp_reply.h"
#include "sasl.h"

#define SMTP_COMMAND_MAX 512     /* RFC 5321 §4.5.3.1.4, CRLF included */
#define SMTP_AUTH_LINE_MAX 12288 /* RFC 4954 §4: SASL continuation lines */

struct smtp_timeouts { /* milliseconds; SEC-34, RFC 5321 §4.5.3.2 */
	int connect, greeting, command, data_init, data_block, data_end;
	int64_t session; /* the whole session, connect to close (SMTP_SESSION_MIN_MS) */
};

/*
 * SEC-34: besides the deadline of each step, a session has a total deadline, so that no
 * server, however it answers, can hold a run (a cron job) for ever. It is twice the sum of
 * the step deadlines of one message (connect, greeting, EHLO, MAIL, RCPT, DATA, one data
 * block, the reply to the end of the data) and at least one hour: 72 minutes with the RFC
 * 5321 defaults, 16 x N seconds (at least an hour) with `timeout N`. A legitimate session
 * uses a fraction of each step; a big message on a slow link gets the hour. When it has
 * passed, nothing more is read or written: ERR_TEMP.
 */
#define SMTP_SESSION_MIN_MS (60 * 60 * 1000)

/* One BDAT transaction (RFC 3030): its replies are read in order as they arrive. */
struct smtp_bdat {
	char *const *rcpts;
	size_t n;
	size_t replies; /* replies read so far: MAIL, each RCPT, then one per chunk */
	size_t chunks;  /* chunks sent */
	bool last_sent;
	bool envelope_read; /* MAIL and RCPT replies were read before any chunk */
	int *codes;         /* each RCPT reply code, or NULL */
	bool mail_failed;
	bool failed; /* a reply refused something; first holds why */
	struct err first;
	size_t refused;  /* recipients refused */
	bool perm;       /* one of them with 5xx */
	const char *who; /* the first refused */
	int who_code;
	char who_reply[256];
	/* -v: the chunks before LAST are shown as groups (SMTP_BDAT_GROUP), not one by one */
	size_t group_first;           /* the first chunk of the group not shown yet (from 1) */
	unsigned long long group_len; /* its octets so far */
	size_t chunks_ok;             /* chunks answered 250 so far */
};

/* -v: how many BDAT chunks one transcript line stands for (about 1 MiB of 64 KiB chunks). */
#define SMTP_BDAT_GROUP 16

struct smtp {
	struct conn conn;
	struct smtp_bdat bdat;
	struct smtp_caps caps;
	struct smtp_timeouts t;
	unsigned awaited; /* replies owed by the server for commands sent */
	bool tls;         /* the session runs over TLS */
	bool quit_sent;   /* QUIT went out pipelined behind the data */
	bool quit_read;   /* and its reply was read */
	bool lmtp;        /* LMTP (RFC 2033): LHLO, one reply per recipient after the data */
	bool ehlo_early;  /* EHLO went before the greeting (smtp_ehlo_early); its reply is owed */
	bool starttls_early; /* STARTTLS went behind it (smtp_starttls_early); its reply is owed */
	bool starttls_ok;    /* that reply was 220: smtp_starttls goes straight to the handshake */
	size_t lmtp_read;    /* LMTP: replies read after the last end of data */
	struct buf *greeting_text; /* when not NULL: receives the greeting's lines (serverinfo) */
	struct buf *ehlo_text;     /* when not NULL: receives the last EHLO reply's text */
	int64_t end;               /* the session's total deadline (conn_clock_ms time), 0: none;
	                              every step's deadline is cut to it (SEC-34) */
	bool hush; /* -v: the next command, and a one-line 250 reply, are not shown (BDAT groups) */
	int final_code;       /* the last transaction's reply to the end of data, 0: none */
	char final_text[256]; /* that reply, brief ("250 2.0.0 Ok: queued as X") */
};

/* The RFC 5321 default deadlines, or every one set to SECONDS when SECONDS > 0; and the
 * session's total from them (SMTP_SESSION_MIN_MS). */
void smtp_timeouts_init(struct smtp_timeouts *t, int seconds);

/* Start the session's total deadline (s->end) now, from s->t.session. */
void smtp_start_clock(struct smtp *s);

/* The deadline (conn_clock_ms time) of a step of MS milliseconds starting now: never later
 * than the session's total deadline. */
int64_t smtp_deadline(const struct smtp *s, int ms);

/*
 * Format a command line, refuse it (ERR_SOFTWARE) when it holds CR, LF or NUL or is longer
 * than MAX octets with its CRLF (SEC-19), show it in the transcript (SHOWN in its place when
 * not NULL: redaction, SEC-13), and queue it. A command that starts a new exchange (no
 * reply owed) first checks that the server sent nothing unasked (SEC-33).
 */
int smtp_command(struct smtp *s, size_t max, const char *shown, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Flush what is queued and read the next reply before DEADLINE (conn_clock_ms time).
 * REDACT shows 334 lines (SASL challenges) as "334 <redacted>" in the transcript.
 */
int smtp_read_reply(struct smtp *s, struct smtp_reply *r, int64_t deadline, bool redact,
                    struct err *e);

/* The commands, each a send and its reply(ies). All take deadlines from s->t. */

/*
 * Read the greeting (SEC-40): 220 goes on; 554 and other 5xx: QUIT, ERR_PERM; 421 and other
 * 4xx: QUIT, ERR_TEMP.
 */
int smtp_greeting(struct smtp *s, struct err *e);

/*
 * EHLO DOMAIN (LHLO with s->lmtp, RFC 2033 §4.1) and rebuild s->caps from its reply. When
 * the server refuses EHLO with 5xx and ALLOW_HELO (no TLS required, not LMTP), fall back to
 * HELO with empty capabilities; else ERR_PERM.
 */
int smtp_ehlo(struct smtp *s, const char *domain, bool allow_helo, struct err *e);

/*
 * Early pipelining (PIPECONNECT, draft-harris-early-pipe): queue EHLO DOMAIN before the
 * greeting has been read; smtp_greeting's read sends it, and the next smtp_ehlo only reads
 * its reply. Only for a server that offered it (the caller's cache); never with LMTP.
 */
int smtp_ehlo_early(struct smtp *s, const char *domain, struct err *e);

/*
 * Early pipelining with STARTTLS ("EHLO,STARTTLS" in draft-harris-early-pipe): queue STARTTLS
 * behind the early EHLO, for an account that requires it whatever the server says (SEC-48).
 * smtp_starttls_reply reads its reply once the EHLO's is read: 220, or an error as
 * smtp_starttls gives it; after 220 smtp_starttls neither sends nor reads STARTTLS again.
 */
int smtp_starttls_early(struct smtp *s, struct err *e);
int smtp_starttls_reply(struct smtp *s, struct err *e);

/*
 * STARTTLS (unless smtp_starttls_reply took its 220 already), the handshake, and EHLO again
 * (SEC-1..4). The caller has checked the capability. 454 and other 4xx: ERR_TEMP; 5xx: ERR_TLS;
 * unread bytes after 220: ERR_PROTO.
 */
int smtp_starttls(struct smtp *s, const struct tls_config *cfg, const char *domain, struct err *e);

/*
 * AUTH with MECH (as sasl_pick chose it) and the credentials C: the whole SASL exchange,
 * every challenge and response redacted in the transcript (SEC-13). 235 with the mechanism
 * complete (a SCRAM server's signature verified) is success; 535 and other 5xx, or a server
 * that fails the mechanism's checks: ERR_AUTH (SEC-17); 4xx: ERR_TEMP.
 */
int smtp_auth(struct smtp *s, const char *mech, const struct sasl_creds *c, struct err *e);

/*
 * MAIL FROM (with MAIL_PARAMS, e.g. " SMTPUTF8", or ""), every RCPT TO (with RCPT_PARAMS[i]
 * when RCPT_PARAMS is not NULL, e.g. " NOTIFY=FAILURE") and DATA: one write with
 * PIPELINING, else one at a time.
 * Success means 354. A refused recipient abandons the transaction (SEC-38): ERR_NOUSER (any
 * 5xx) or ERR_TEMP naming the addresses. Only 250 accepts MAIL and 250 or 251 a recipient
 * (SEC-36): another 2xx or 3xx (a 252) is a server out of step, ERR_PROTO, nothing sent.
 * CODES (when not NULL) gets each RCPT reply code.
 * After a refusal the caller ends the session, or sends RSET to go on; when a 354 came
 * back the connection is already closed without data (the server drops the transaction).
 */
int smtp_envelope(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
                  const char *const *rcpt_params, size_t n, int *codes, struct err *e);

/*
 * MAIL FROM and every RCPT TO as smtp_envelope sends them, with the same verdicts and errors,
 * but no DATA: whether the server would take this envelope, with nothing sent (postie
 * --check). The caller sends RSET (smtp_rset) after it, success or not.
 */
int smtp_try_envelope(struct smtp *s, const char *sender, const char *mail_params,
                      char *const *rcpts, size_t n, int *codes, struct err *e);

/*
 * CHUNKING (RFC 3030), used only with PIPELINING (and not with LMTP). Queue MAIL FROM and
 * every RCPT TO (parameters as for smtp_envelope). With
 * WAIT (more than one recipient) their replies are read now, so one refused recipient stops
 * the transaction before any data (SEC-38); with one recipient the data follows in the same
 * group, since a refused sole recipient leaves nothing to deliver. Every reading loop of a
 * BDAT transaction stops at the first reply that cannot be read, and closes the connection
 * (SEC-34); a refusal read before it is still the error reported.
 */
int smtp_bdat_begin(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
                    const char *const *rcpt_params, size_t n, int *codes, bool wait, struct err *e);

/*
 * Queue "BDAT <n>[ LAST]" and N bytes; with LAST and QUIT, QUIT follows (pipelined). Replies that
 * have already arrived are read, so a long message never fills the reply direction. Fails
 * (the caller abandons the connection) as soon as a reply refuses something.
 */
int smtp_bdat_chunk(struct smtp *s, const char *p, size_t n, bool last, bool quit, struct err *e);

/*
 * Read every reply still owed; the reply to the LAST chunk is the verdict (SEC-36): 250 is
 * delivery, 4xx ERR_TEMP, 5xx ERR_PERM, no reply ERR_TEMP. Once LAST is out, any other reply
 * in the transaction (221, another 2xx, 3xx, one that cannot be parsed) is ERR_UNSURE: not
 * delivered, though the server may keep the message.
 */
int smtp_bdat_end(struct smtp *s, struct err *e);

/* A dot_sink that queues message data on the connection (data-block deadline). */
int smtp_data_sink(void *smtp, const char *p, size_t n, struct err *e);

/*
 * After the encoder's end marker has been queued: check that the server sent nothing
 * unasked (SEC-33), send the data (with QUIT behind it when QUIT and PIPELINING), read the final
 * reply (SEC-36): 250 ok, 4xx ERR_TEMP, 5xx ERR_PERM, no reply ERR_TEMP; any other reply
 * (221, 252, 354, one that cannot be parsed) is no verdict: ERR_UNSURE.
 * With s->lmtp (RFC 2033 §4.2) one reply per recipient RCPTS[0..N) (all accepted) is read
 * instead, each into CODES[i] when CODES is not NULL (0 for one not read, or whose reply was
 * neither 250 nor 4xx/5xx; s->lmtp_read counts the replies read): 0 when every one is 250;
 * else the error names the first recipient not delivered, ERR_NOUSER when any refusal is
 * 5xx, else ERR_UNSURE when a reply was no verdict, else ERR_TEMP, and the recipients with
 * 250 have the message.
 */
int smtp_data_end(struct smtp *s, bool quit, char *const *rcpts, size_t n, int *codes,
                  struct err *e);

/*
 * SEC-33, SEC-36: when QUIT went out pipelined behind the end of the data, read its reply
 * (waiting at most 2 s): it must be 221. Another reply means the replies were out of step
 * and the 250 read may not have been the server's verdict (ERR_UNSURE). A server that just
 * closes, or does not answer in time, is fine. Called after the 250 and before the caller
 * counts the message as delivered.
 */
int smtp_quit_check(struct smtp *s, struct err *e);

/* QUIT (when not already sent) and close. Never fails: the mail is already settled. */
void smtp_quit(struct smtp *s);

/* RSET, to start the next transaction afresh; a failure closes the connection. */
void smtp_rset(struct smtp *s);

/* Close the connection without a word (abandon a transaction: no end of data is sent). */
void smtp_abandon(struct smtp *s);

#endif
