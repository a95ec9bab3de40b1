/*
 * smtp_bdat: one transaction with BDAT (RFC 3030, CHUNKING): MAIL, RCPT and the chunks
 * pipelined (RFC 2920), their replies read in order as they arrive, the LAST chunk's reply
 * the verdict (SEC-36).
 */
#include "smtp_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/*
 * Take the next BDAT-transaction reply: MAIL, then each RCPT, then one per chunk. 0 when a
 * reply was read, whatever it said: a refusal is kept in s->bdat (failed, first). -1 with e
 * set when none could be read (connection lost, timeout, malformed reply): callers stop
 * there, since a loop that read on would spin on a closed connection (SEC-34; issue 10,
 * bug 11).
 */
static int
bdat_reply(struct smtp *s, struct err *e)
{
	struct smtp_bdat *b = &s->bdat;
	struct smtp_reply r;
	char brief[256];
	size_t i = b->replies;
	bool rcpt = i >= 1 && i <= b->n;
	/* The reply to the LAST chunk: the verdict on the message (SEC-36). */
	bool verdict = b->last_sent && i == b->n + b->chunks;

	smtp_reply_init(&r);
	/* -v: a chunk's 250 is counted in its group's line (bdat_group), not shown alone. */
	s->hush = log_is_verbose() && i > b->n && !verdict;
	int rrc = smtp_read_reply(s, &r, smtp_deadline(s, verdict ? s->t.data_end : s->t.command),
	                          false, e);
	s->hush = false;
	if (rrc < 0) {
		smtp_reply_fini(&r);
		/* With LAST out, a reply that cannot be parsed leaves the verdict unknown; a lost
		 * connection or a timeout stays temporary (SEC-37: no reply after the end). */
		if (b->last_sent && e && e->kind == ERR_PROTO)
			smtp_unsure_read(e);
		return -1;
	}
	b->replies++;
	int code = r.code;
	smtp_reply_brief(&r, brief, sizeof(brief));
	smtp_reply_fini(&r);
	if (rcpt && b->codes && !b->mail_failed)
		b->codes[i - 1] = code;
	if (verdict) {
		s->final_code = code;
		snprintf(s->final_text, sizeof(s->final_text), "%s", brief);
	}
	b->chunks_ok += i > b->n && code == 250;
	/* SEC-36: 250 to MAIL and to every chunk, 250 or 251 to each RCPT. */
	if (code == 250 || (rcpt && code == 251))
		return 0;
	/* After a refusal the later replies only echo it (503, 554). */
	if (b->failed && (!rcpt || b->mail_failed || code < 400))
		return 0;
	if (code < 400) {
		/* A 2xx or 3xx that is not the reply this command takes: the server is out of
		 * step (it may be answering the QUIT behind the data). Once LAST is out it may
		 * keep the message; before, nothing can be delivered. */
		const char *what = i == 0    ? "MAIL FROM"
		                   : rcpt    ? "RCPT TO"
		                   : verdict ? "BDAT LAST"
		                             : "a BDAT chunk";
		if (b->last_sent)
			smtp_unsure(&b->first, code, s->conn.peer, what, brief);
		else
			err_set_code(&b->first, ERR_PROTO, code,
			             "send message to %s: the reply to %s was \"%s\", not %s: the "
			             "replies are out of step; not sent",
			             s->conn.peer, what, brief, rcpt ? "250 or 251" : "250");
		b->failed = true;
		b->mail_failed = b->mail_failed || i == 0;
	} else if (i == 0) {
		err_set_code(&b->first, smtp_kind_of(code, ERR_PERM), code,
		             "send MAIL FROM to %s: %s", s->conn.peer, brief);
		b->failed = b->mail_failed = true;
	} else if (rcpt) {
		b->refused++;
		if (b->refused == 1) {
			b->who = b->rcpts[i - 1];
			b->who_code = code;
			snprintf(b->who_reply, sizeof(b->who_reply), "%s", brief);
		}
		b->perm = b->perm || code >= 500;
		smtp_refused_error(&b->first, b->refused, b->n, b->perm, b->who, b->who_code,
		                   b->who_reply);
		b->failed = true;
	} else {
		err_set_code(&b->first, smtp_kind_of(code, ERR_PERM), code,
		             "send message to %s: server refused it: %s", s->conn.peer, brief);
		b->failed = true;
	}
	return 0;
}

/* The end of a BDAT reading loop: 0 when every reply owed (WANT) was read and none refused;
 * else -1 with the first refusal in e, or the failed read's error already there. */
static int
bdat_outcome(struct smtp *s, size_t want, struct err *e)
{
	struct smtp_bdat *b = &s->bdat;

	if (!b->failed && b->replies == want)
		return 0;
	if (b->failed && e)
		*e = b->first;
	return -1;
}

int
smtp_bdat_begin(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
                const char *const *rcpt_params, size_t n, int *codes, bool wait, struct err *e)
{
	struct smtp_bdat *b = &s->bdat;

	memset(b, 0, sizeof(*b));
	err_clear(&b->first);
	b->rcpts = rcpts;
	b->n = n;
	b->codes = codes;
	if (smtp_command(s, smtp_max_with(mail_params, SMTP_MAIL_EXTRA), NULL, e,
	                 "MAIL FROM:<%s>%s", sender, mail_params) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (smtp_send_rcpt(s, rcpts, rcpt_params, i, e) < 0)
			return -1;
	if (!wait)
		return 0;
	/* Read every envelope reply, so the error counts all refused recipients. A reply that
	 * cannot be read ends the loop and the connection: a refusal read before it is still
	 * the error to report (SEC-34: no loop outlives its connection). */
	while (b->replies < n + 1) {
		if (bdat_reply(s, e) < 0) {
			smtp_abandon(s);
			break;
		}
	}
	b->envelope_read = true;
	return bdat_outcome(s, n + 1, e);
}

/* -v: one line for the chunks sent since the last such line (before LAST, or every
 * SMTP_BDAT_GROUP chunks), with how many chunks the server has answered 250 so far. */
static void
bdat_group(struct smtp *s)
{
	struct smtp_bdat *b = &s->bdat;

	if (b->group_first == 0)
		return;
	log_info("BDAT chunks %zu-%zu sent: %llu octets; %zu of %zu chunks answered 250 so far",
	         b->group_first, b->chunks, b->group_len, b->chunks_ok, b->chunks);
	b->group_first = 0;
	b->group_len = 0;
}

int
smtp_bdat_chunk(struct smtp *s, const char *p, size_t n, bool last, bool quit, struct err *e)
{
	struct smtp_bdat *b = &s->bdat;
	bool verbose = log_is_verbose();

	if (verbose && last)
		bdat_group(s);
	s->hush = verbose && !last;
	int rc = smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "BDAT %zu%s", n, last ? " LAST" : "");
	s->hush = false;
	if (rc < 0)
		return -1;
	if (smtp_check_end(s, e) < 0 ||
	    conn_write(&s->conn, p, n, smtp_deadline(s, s->t.data_block), e) < 0)
		return smtp_note_end(s, e);
	b->chunks++;
	if (verbose && !last) {
		if (b->group_first == 0)
			b->group_first = b->chunks;
		b->group_len += n;
		if (b->chunks - b->group_first + 1 >= SMTP_BDAT_GROUP)
			bdat_group(s);
	}
	if (last) {
		b->last_sent = true;
		return quit ? smtp_pipeline_quit(s, e) : 0;
	}
	/* Replies to earlier commands that are already here are read now: the server is not
	 * left blocked on a full socket, and a refusal stops the data early. */
	while (b->replies < b->n + 1 + b->chunks && conn_pending(&s->conn)) {
		if (bdat_reply(s, e) < 0)
			return -1;
		if (b->failed) {
			if (log_is_verbose())
				bdat_group(s);
			if (e)
				*e = b->first;
			return -1;
		}
	}
	return 0;
}

int
smtp_bdat_end(struct smtp *s, struct err *e)
{
	struct smtp_bdat *b = &s->bdat;

	/* Every reply is read, also after a refusal, so the session stays in step; a reply
	 * that cannot be read ends the loop and the connection (SEC-34). */
	while (b->replies < b->n + 1 + b->chunks) {
		if (bdat_reply(s, e) < 0) {
			smtp_abandon(s);
			break;
		}
	}
	return bdat_outcome(s, b->n + 1 + b->chunks, e);
}
