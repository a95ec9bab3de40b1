/*
 * smtp_int: what the files of the smtp module share (smtp.c: the commands and replies;
 * smtp_bdat.c: CHUNKING). Nothing outside them includes it.
 */
#ifndef POSTIE_SMTP_INT_H
#define POSTIE_SMTP_INT_H

#include "smtp.h"

/*
 * SEC-34: once the session's total deadline has passed, nothing more is read or written.
 * Checked before each command, reply and piece of data, so that a loop ends there even
 * where every call would return at once.
 */
int smtp_check_end(const struct smtp *s, struct err *e);

/* After a failed read or write: when the session's total deadline cut the wait short,
 * say so rather than "timed out" alone. Returns -1. */
int smtp_note_end(const struct smtp *s, struct err *e);

/* The error kind for a failure reply: 4xx is worth retrying, 5xx is not. */
enum err_kind smtp_kind_of(int code, enum err_kind perm);

/* A reply after the end of the data that could not be read as one (ERR_PROTO from
 * smtp_read_reply) is no verdict either (SEC-36). */
void smtp_unsure_read(struct err *e);

/*
 * SEC-36: only 250 to the end of the data is delivery. Another reply that is no refusal
 * (221, 252, 354, ...) stands where the verdict should be: the server is out of step, maybe
 * answering a later pipelined command (QUIT), and may or may not keep the message. Not
 * delivered, yet not refused: ERR_UNSURE (76), and where there is a queue the message stays
 * in it. WHAT names the command the reply stands for. Returns -1.
 */
int smtp_unsure(struct err *e, int code, const char *peer, const char *what, const char *brief);

/* The error for refused recipients of one transaction (SEC-38): 5xx anywhere means a retry
 * cannot fix it. */
void smtp_refused_error(struct err *e, size_t refused, size_t n, bool perm, const char *who,
                        int code, const char *brief);

/* The longest line a command may take with PARAMS added: SEC-19's 512 octets, plus what
 * RFC 3461 §5 allows for the parameters and no more. */
size_t smtp_max_with(const char *params, size_t extra);

/* RCPT TO for recipient I, with its parameters. */
int smtp_send_rcpt(struct smtp *s, char *const *rcpts, const char *const *params, size_t i,
                   struct err *e);

/* With PIPELINING, QUIT goes right behind the end of the data: the goodbye costs no extra
 * round trip (its reply is read after the verdict). */
int smtp_pipeline_quit(struct smtp *s, struct err *e);

#endif
