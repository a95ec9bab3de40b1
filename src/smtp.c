/*
 * smtp: the protocol engine. RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
 * RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 2033 (LMTP). Every command line goes through
 * smtp_command and every reply through smtp_read_reply, so the checks of SEC-19, SEC-31..33
 * and the redaction of SEC-13 have one home each. What a reply line or an EHLO keyword means is
 * smtp_reply.c's; the DSN parameters the commands carry are smtp_dsn.c's.
 */
#include "smtp.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sasl.h"
#include "smtp_int.h"

void
smtp_timeouts_init(struct smtp_timeouts *t, int seconds)
{
	if (seconds > 0) {
		int ms = seconds > INT_MAX / 1000 ? INT_MAX : seconds * 1000;
		*t = (struct smtp_timeouts){ms, ms, ms, ms, ms, ms, 0};
	} else {
		/* RFC 5321 §4.5.3.2: greeting 5 min, MAIL/RCPT 5 min, DATA 2 min, each data
		 * block 3 min, final reply 10 min. Connecting gets one minute over all
		 * addresses. */
		*t = (struct smtp_timeouts){60000, 300000, 300000, 120000, 180000, 600000, 0};
	}
	/* SEC-34: the session's total (SMTP_SESSION_MIN_MS says why these steps). */
	int64_t one = (int64_t)t->connect + t->greeting + 3 * (int64_t)t->command + t->data_init +
	              t->data_block + t->data_end;
	t->session = 2 * one > SMTP_SESSION_MIN_MS ? 2 * one : SMTP_SESSION_MIN_MS;
}

void
smtp_start_clock(struct smtp *s)
{
	s->end = conn_clock_ms() + s->t.session;
}

int64_t
smtp_deadline(const struct smtp *s, int ms)
{
	int64_t d = conn_clock_ms() + ms;
	return s->end && s->end < d ? s->end : d;
}

/*
 * SEC-34: once the session's total deadline has passed, nothing more is read or written.
 * Checked before each command, reply and piece of data, so that a loop ends there even
 * where every call would return at once.
 */
int
smtp_check_end(const struct smtp *s, struct err *e)
{
	if (s->end && conn_clock_ms() >= s->end)
		return err_set(
		    e, ERR_TEMP,
		    "talk to %s: the session's total deadline (%lld s) has passed; giving up",
		    s->conn.peer, (long long)(s->t.session / 1000));
	return 0;
}

/* After a failed read or write: when the session's total deadline cut the wait short,
 * say so rather than "timed out" alone. Returns -1. */
int
smtp_note_end(const struct smtp *s, struct err *e)
{
	if (e && e->kind == ERR_TEMP && s->end && conn_clock_ms() >= s->end)
		return smtp_check_end(s, e);
	return -1;
}

int
smtp_command(struct smtp *s, size_t max, const char *shown, struct err *e, const char *fmt, ...)
{
	char line[SMTP_AUTH_LINE_MAX + 3];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* SEC-19: one command per line, never split by a CR or LF inside a value. */
	if (n < 0 || (size_t)n + 2 > max || (size_t)n + 2 > sizeof(line))
		return err_set(e, ERR_SOFTWARE, "send command: longer than %zu octets; not sent",
		               max);
	for (int i = 0; i < n; i++)
		if (line[i] == '\r' || line[i] == '\n' || line[i] == '\0')
			return err_set(e, ERR_SOFTWARE,
			               "send command: CR, LF or NUL inside a command; not sent");
	if (smtp_check_end(s, e) < 0)
		return -1;
	/* SEC-33: before a new exchange, nothing may be waiting that we did not ask for. */
	if (s->awaited == 0 && conn_pending(&s->conn))
		return err_set(e, ERR_PROTO,
		               "send command to %s: the server sent data nobody asked for",
		               s->conn.peer);
	/* s->hush: a BDAT chunk of a group, shown with its group (smtp_bdat.c). */
	if (!s->hush)
		log_line(LOG_OUT, shown ? shown : line, shown ? strlen(shown) : (size_t)n);
	line[n] = '\r';
	line[n + 1] = '\n';
	s->awaited++;
	int rc = conn_write(&s->conn, line, (size_t)n + 2, smtp_deadline(s, s->t.command), e);
	explicit_bzero(line, sizeof(line));
	return rc < 0 ? smtp_note_end(s, e) : 0;
}

int
smtp_read_reply(struct smtp *s, struct smtp_reply *r, int64_t dl, bool redact, struct err *e)
{
	if (smtp_check_end(s, e) < 0 || conn_flush(&s->conn, dl, e) < 0)
		return smtp_note_end(s, e);
	r->code = 0;
	r->nlines = 0;
	buf_reset(&r->text);
	for (;;) {
		const char *line;
		size_t len;
		if (conn_getline(&s->conn, &line, &len, SMTP_REPLY_LINE_MAX, dl, e) < 0)
			return smtp_note_end(s, e);
		/* s->hush: a chunk's plain 250 is counted in its group's line (smtp_bdat.c). */
		bool hushed = s->hush && r->nlines == 0 && len >= 4 && memcmp(line, "250 ", 4) == 0;
		if (redact && len >= 3 && memcmp(line, "334", 3) == 0)
			log_line(LOG_IN, "334 <redacted>", 14);
		else if (!hushed)
			log_line(LOG_IN, line, len && line[len - 1] == '\r' ? len - 1 : len);
		int rc = smtp_reply_feed(r, line, len, e);
		if (rc < 0)
			return -1;
		if (rc == 1)
			break;
	}
	if (s->awaited > 0)
		s->awaited--;
	return 0;
}

/* The error kind for a failure reply: 4xx is worth retrying, 5xx is not. */
enum err_kind
smtp_kind_of(int code, enum err_kind perm)
{
	return code >= 400 && code < 500 ? ERR_TEMP : perm;
}

int
smtp_greeting(struct smtp *s, struct err *e)
{
	struct smtp_reply r;
	char brief[256];

	smtp_reply_init(&r);
	int rc = smtp_read_reply(s, &r, smtp_deadline(s, s->t.greeting), false, e);
	if (rc == 0 && s->greeting_text)
		smtp_reply_copy(s->greeting_text, &r, true);
	if (rc == 0 && r.code != 220) {
		smtp_reply_brief(&r, brief, sizeof(brief));
		if (r.code >= 400) {
			/* SEC-40: say goodbye, never EHLO. */
			rc = err_set_code(e, smtp_kind_of(r.code, ERR_PERM), r.code,
			                  "greet %s: server refused the session: %s", s->conn.peer,
			                  brief);
			smtp_quit(s);
		} else {
			rc = err_set_code(e, ERR_PROTO, r.code, "greet %s: unexpected greeting: %s",
			                  s->conn.peer, brief);
		}
	}
	smtp_reply_fini(&r);
	return rc;
}

/* SEC-1: after a 5xx to EHLO, HELO with empty capabilities (the caller allowed it). */
static int
helo(struct smtp *s, struct smtp_reply *r, const char *domain, struct err *e)
{
	char brief[256];
	int rc;

	memset(&s->caps, 0, sizeof(s->caps));
	rc = smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "HELO %s", domain);
	if (rc == 0)
		rc = smtp_read_reply(s, r, smtp_deadline(s, s->t.command), false, e);
	if (rc == 0 && r->code != 250)
		rc =
		    err_set_code(e, smtp_kind_of(r->code, ERR_PERM), r->code, "send HELO to %s: %s",
		                 s->conn.peer, smtp_reply_brief(r, brief, sizeof(brief)));
	return rc;
}

int
smtp_ehlo(struct smtp *s, const char *domain, bool allow_helo, struct err *e)
{
	struct smtp_reply r;
	char brief[256];
	/* RFC 2033 §4.1: LMTP greets with LHLO, and has no HELO to fall back to. */
	const char *verb = s->lmtp ? "LHLO" : "EHLO";
	int rc;

	smtp_reply_init(&r);
	/* After smtp_ehlo_early the command is out already: only its reply is read. */
	rc = s->ehlo_early ? 0 : smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "%s %s", verb, domain);
	s->ehlo_early = false;
	if (rc == 0)
		rc = smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), false, e);
	if (rc == 0 && s->ehlo_text)
		smtp_reply_copy(s->ehlo_text, &r, false);
	if (rc == 0 && r.code == 250)
		smtp_caps_parse(&s->caps, &r);
	else if (rc == 0 && r.code >= 500 && allow_helo && !s->lmtp)
		rc = helo(s, &r, domain, e);
	else if (rc == 0)
		/* SEC-1: with TLS required there is no HELO fallback. */
		rc = err_set_code(e, smtp_kind_of(r.code, ERR_PERM), r.code, "send %s to %s: %s",
		                  verb, s->conn.peer, smtp_reply_brief(&r, brief, sizeof(brief)));
	smtp_reply_fini(&r);
	return rc;
}

int
smtp_ehlo_early(struct smtp *s, const char *domain, struct err *e)
{
	/* The greeting is owed (it may be here already: not data nobody asked for, SEC-33),
	 * then the EHLO's reply. */
	s->awaited++;
	if (smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "EHLO %s", domain) < 0)
		return -1;
	s->ehlo_early = true;
	return 0;
}

int
smtp_starttls_early(struct smtp *s, struct err *e)
{
	if (smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "STARTTLS") < 0)
		return -1;
	s->starttls_early = true;
	return 0;
}

int
smtp_starttls_reply(struct smtp *s, struct err *e)
{
	struct smtp_reply r;
	char brief[256];

	s->starttls_early = false;
	smtp_reply_init(&r);
	int rc = smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), false, e);
	if (rc == 0 && r.code != 220)
		rc = err_set_code(
		    e, smtp_kind_of(r.code, ERR_TLS), r.code,
		    "start TLS with %s: server refused STARTTLS: %s; not sending anything in clear",
		    s->conn.peer, smtp_reply_brief(&r, brief, sizeof(brief)));
	smtp_reply_fini(&r);
	s->starttls_ok = rc == 0;
	return rc;
}

int
smtp_starttls(struct smtp *s, const struct tls_config *cfg, const char *domain, struct err *e)
{
	/* After early pipelining the 220 was read with the greeting and the EHLO reply. */
	if (!s->starttls_ok && (smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "STARTTLS") < 0 ||
	                        smtp_starttls_reply(s, e) < 0))
		return -1;
	s->starttls_ok = false;
	if (conn_start_tls(&s->conn, cfg, smtp_deadline(s, s->t.command), e) < 0)
		return -1;
	s->tls = true;
	log_info("TLS started: %s", tls_describe(s->conn.tls));
	/* SEC-4: what the server said before TLS is forgotten; only the new EHLO counts. */
	memset(&s->caps, 0, sizeof(s->caps));
	return smtp_ehlo(s, domain, false, e);
}

/*
 * AUTH MECH with the SASL exchange (RFC 4954 §4): an initial response when it fits, then one
 * response per 334 challenge, until 235 or a refusal. Challenges and responses are shown as
 * <redacted> (SEC-13). A mechanism that fails its own checks (a SCRAM server without the
 * right signature) cancels with "*" and is ERR_AUTH, even after a 235 (SEC-17).
 */
int
smtp_auth(struct smtp *s, const char *mech, const struct sasl_creds *c, struct err *e)
{
	struct smtp_reply r;
	struct sasl *sx = NULL;
	struct buf b;
	char brief[256], shown[64];
	bool has_initial = false;
	int rc = -1;

	smtp_reply_init(&r);
	buf_init(&b, SMTP_AUTH_LINE_MAX);
	b.secret = true;
	size_t room = SMTP_COMMAND_MAX - strlen("AUTH  \r\n") - strlen(mech);
	if (sasl_start(&sx, mech, c, room, &b, &has_initial, e) < 0)
		goto out;
	snprintf(shown, sizeof(shown), "AUTH %s <redacted>", mech);
	if ((has_initial ? smtp_command(s, SMTP_COMMAND_MAX, shown, e, "AUTH %s %s", mech, b.data)
	                 : smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "AUTH %s", mech)) < 0)
		goto out;
	for (;;) {
		if (smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), true, e) < 0)
			goto out;
		if (r.code != 334)
			break;
		if (r.nlines != 1) {
			err_set(e, ERR_PROTO, "authenticate to %s: a challenge of %zu lines",
			        s->conn.peer, r.nlines);
			goto out;
		}
		buf_reset(&b);
		if (sasl_step(sx, r.text.data ? r.text.data : "", r.text.len, &b, e) < 0) {
			/* RFC 4954 §4: "*" cancels the exchange; the server answers 501. */
			struct err ignore;
			if (smtp_command(s, SMTP_COMMAND_MAX, NULL, &ignore, "*") == 0)
				smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), true,
				                &ignore);
			goto out;
		}
		if (smtp_command(s, SMTP_AUTH_LINE_MAX, "<redacted>", e, "%s", b.data) < 0)
			goto out;
	}
	if (r.code == 235) {
		if (sasl_finish(sx, e) == 0)
			rc = 0;
		goto out;
	}
	const char *why = sasl_failure(sx);
	err_set_code(e, smtp_kind_of(r.code, ERR_AUTH), r.code,
	             "authenticate to %s with %s: %s%s%s; check `user` and the password",
	             s->conn.peer, mech, smtp_reply_brief(&r, brief, sizeof(brief)),
	             why ? "; the server says: " : "", why ? why : "");
out:
	sasl_free(sx);
	buf_fini(&b);
	smtp_reply_fini(&r);
	return rc;
}

/*
 * SEC-33, SEC-36: with QUIT pipelined behind the end of the data, its reply must be the 221
 * that follows the verdict. Anything else means the replies were out of step (an extra reply
 * was taken for the verdict): the 250 read may not have been the server's verdict on the
 * message (ERR_UNSURE). A server that just closes, or is slow to answer QUIT, has given its
 * verdict.
 */
int
smtp_quit_check(struct smtp *s, struct err *e)
{
	struct smtp_reply r;
	char brief[256];
	int rc = 0;

	if (!s->quit_sent || s->quit_read)
		return 0;
	s->quit_read = true;
	smtp_reply_init(&r);
	int wait = s->t.command < 2000 ? s->t.command : 2000;
	if (smtp_read_reply(s, &r, smtp_deadline(s, wait), false, NULL) == 0 && r.code != 221)
		rc = err_set_code(
		    e, ERR_UNSURE, r.code,
		    "send message to %s: the reply to QUIT was \"%s\", not 221: the server's "
		    "replies are out of step, so its 250 may not have been the verdict on the "
		    "message; not counted as delivered, though the server may keep a copy",
		    s->conn.peer, smtp_reply_brief(&r, brief, sizeof(brief)));
	smtp_reply_fini(&r);
	return rc;
}

/* The error for refused recipients of one transaction (SEC-38): 5xx anywhere means a retry
 * cannot fix it. */
void
smtp_refused_error(struct err *e, size_t refused, size_t n, bool perm, const char *who, int code,
                   const char *brief)
{
	char count[96] = "";
	if (refused > 1 || refused < n)
		snprintf(count, sizeof(count), " (%zu of %zu recipients refused)", refused, n);
	err_set_code(e, perm ? ERR_NOUSER : ERR_TEMP, code,
	             "send to <%s>: server refused recipient: %s%s; not sent to anyone", who, brief,
	             count);
}

/*
 * SEC-36: only 250 to the end of the data is delivery. Another reply that is no refusal
 * (221, 252, 354, ...) stands where the verdict should be: the server is out of step, maybe
 * answering a later pipelined command (QUIT), and may or may not keep the message. Not
 * delivered, yet not refused: ERR_UNSURE (76), and where there is a queue the message stays
 * in it. WHAT names the command the reply stands for. Returns -1.
 */
int
smtp_unsure(struct err *e, int code, const char *peer, const char *what, const char *brief)
{
	return err_set_code(e, ERR_UNSURE, code,
	                    "send message to %s: the reply to %s was \"%s\", not 250%s; not "
	                    "delivered, though the server may keep a copy",
	                    peer, what, brief,
	                    code == 221 ? " (221 is a reply to QUIT, no verdict on the message)"
	                                : "");
}

/* A reply after the end of the data that could not be read as one (ERR_PROTO from
 * smtp_read_reply) is no verdict either (SEC-36). */
void
smtp_unsure_read(struct err *e)
{
	e->kind = ERR_UNSURE;
	err_append(
	    e, " (after the end of the data: not delivered, though the server may keep a copy)");
}

/* The longest line a command may take with PARAMS added: SEC-19's 512 octets, plus what
 * RFC 3461 §5 allows for the parameters and no more. */
size_t
smtp_max_with(const char *params, size_t extra)
{
	size_t k = params ? strlen(params) : 0;
	return SMTP_COMMAND_MAX + (k < extra ? k : extra);
}

/* RCPT TO for recipient I, with its parameters. */
int
smtp_send_rcpt(struct smtp *s, char *const *rcpts, const char *const *params, size_t i,
               struct err *e)
{
	const char *p = params && params[i] ? params[i] : "";
	return smtp_command(s, smtp_max_with(p, SMTP_RCPT_EXTRA), NULL, e, "RCPT TO:<%s>%s",
	                    rcpts[i], p);
}

/* With PIPELINING, QUIT goes right behind the end of the data: the goodbye costs no extra
 * round trip (its reply is read after the verdict). */
int
smtp_pipeline_quit(struct smtp *s, struct err *e)
{
	if (!(s->caps.bits & SMTP_CAP_PIPELINING))
		return 0;
	if (smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "QUIT") < 0)
		return -1;
	s->quit_sent = true;
	return 0;
}

/* What the RCPT replies of one envelope said (SEC-36, SEC-38). */
struct rcpt_tally {
	size_t refused;  /* recipients refused */
	bool perm;       /* one of them with 5xx */
	const char *who; /* the first refused */
	int who_code;
	char who_reply[256];
	const char *odd; /* the first answered neither 250/251 nor 4xx/5xx */
	int odd_code;
	char odd_reply[256];
};

/*
 * Read the RCPT replies (sending each RCPT first without PIPELINING; then the first refusal
 * ends the loop) into T, and into CODES when MAIL_OK. After a refused MAIL the replies are
 * read (to stay in step) but say nothing about the recipients. -1 when one cannot be read.
 */
static int
rcpt_replies(struct smtp *s, char *const *rcpts, const char *const *rcpt_params, size_t n,
             int *codes, bool mail_ok, struct smtp_reply *r, struct rcpt_tally *t, struct err *e)
{
	bool pipe = s->caps.bits & SMTP_CAP_PIPELINING;

	for (size_t i = 0; i < n && (pipe || mail_ok); i++) {
		if (!pipe && smtp_send_rcpt(s, rcpts, rcpt_params, i, e) < 0)
			return -1;
		if (smtp_read_reply(s, r, smtp_deadline(s, s->t.command), false, e) < 0)
			return -1;
		if (codes && mail_ok)
			codes[i] = r->code;
		if (r->code == 250 || r->code == 251 || !mail_ok)
			continue;
		if (r->code < 400) {
			/* SEC-36: RCPT takes 250 or 251; a 252 (VRFY's "cannot verify") or any
			 * other 2xx or 3xx is a server out of step, not an accepted recipient. */
			if (!t->odd) {
				t->odd = rcpts[i];
				t->odd_code = r->code;
				smtp_reply_brief(r, t->odd_reply, sizeof(t->odd_reply));
			}
		} else {
			t->perm = t->perm || r->code >= 500;
			t->refused++;
			if (t->refused == 1) {
				t->who = rcpts[i];
				t->who_code = r->code;
				smtp_reply_brief(r, t->who_reply, sizeof(t->who_reply));
			}
		}
		if (!pipe)
			break;
	}
	return 0;
}

/*
 * The reply to DATA (sent already with PIPELINING, now without, when OK): only 354 opens the
 * data when the envelope is OK; a 354 after a refusal closes the connection. *OK becomes
 * false, with the error in FIRST, when the reply refuses. -1 when DATA cannot be sent or its
 * reply read.
 */
static int
data_reply(struct smtp *s, struct smtp_reply *r, bool *ok, struct err *first, struct err *e)
{
	char brief[256];
	bool pipe = s->caps.bits & SMTP_CAP_PIPELINING;

	if (!pipe && *ok && smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "DATA") < 0)
		return -1;
	if (!pipe && !*ok)
		return 0;
	if (smtp_read_reply(s, r, smtp_deadline(s, s->t.data_init), false, e) < 0)
		return -1;
	if (r->code == 354 && !*ok) {
		/* The server is now reading message data: no command can follow. Closing
		 * without the end marker makes it drop the transaction. */
		smtp_abandon(s);
	} else if (r->code != 354 && *ok) {
		/* Only 354 opens the data; a 2xx here is a server out of step. */
		err_set_code(first, r->code < 400 ? ERR_PROTO : smtp_kind_of(r->code, ERR_PERM),
		             r->code, "send DATA to %s: %s", s->conn.peer,
		             smtp_reply_brief(r, brief, sizeof(brief)));
		*ok = false;
	}
	return 0;
}

/* smtp_envelope, and with DATA false smtp_try_envelope: the same commands and verdicts,
 * without DATA. */
static int
envelope(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
         const char *const *rcpt_params, size_t n, int *codes, bool data, struct err *e)
{
	bool pipe = s->caps.bits & SMTP_CAP_PIPELINING;
	struct smtp_reply r;
	char brief[256];
	int rc = -1;
	struct rcpt_tally t = {0};
	struct err first;

	err_clear(&first);
	smtp_reply_init(&r);
	/* RFC 2920 §3: MAIL, every RCPT and DATA go as one group; the replies come back in
	 * order. Without PIPELINING each waits for its reply. */
	if (smtp_command(s, smtp_max_with(mail_params, SMTP_MAIL_EXTRA), NULL, e,
	                 "MAIL FROM:<%s>%s", sender, mail_params) < 0)
		goto out;
	for (size_t i = 0; pipe && i < n; i++)
		if (smtp_send_rcpt(s, rcpts, rcpt_params, i, e) < 0)
			goto out;
	if (pipe && data && smtp_command(s, SMTP_COMMAND_MAX, NULL, e, "DATA") < 0)
		goto out;
	if (smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), false, e) < 0)
		goto out;
	bool mail_ok = r.code == 250;
	/* SEC-36: MAIL takes 250; another 2xx or 3xx is a server out of step. */
	if (!mail_ok)
		err_set_code(&first, r.code < 400 ? ERR_PROTO : smtp_kind_of(r.code, ERR_PERM),
		             r.code, "send MAIL FROM:<%s> to %s: %s%s", sender, s->conn.peer,
		             smtp_reply_brief(&r, brief, sizeof(brief)),
		             r.code < 400 ? ", not 250: the replies are out of step; not sent"
		                          : "");
	if (rcpt_replies(s, rcpts, rcpt_params, n, codes, mail_ok, &r, &t, e) < 0)
		goto out;
	if (t.odd)
		err_set_code(&first, ERR_PROTO, t.odd_code,
		             "send to <%s>: the reply to RCPT TO was \"%s\", not 250 or 251: the "
		             "replies are out of step; not sent to anyone",
		             t.odd, t.odd_reply);
	else if (t.refused)
		/* SEC-38: one refusal abandons the whole transaction. */
		smtp_refused_error(&first, t.refused, pipe ? n : t.refused, t.perm, t.who,
		                   t.who_code, t.who_reply);
	bool ok = mail_ok && t.refused == 0 && !t.odd;
	if (data && data_reply(s, &r, &ok, &first, e) < 0)
		goto out;
	if (!ok) {
		if (e)
			*e = first;
		/* The caller ends the session or resets it for another transaction. */
		goto out;
	}
	rc = 0;
out:
	smtp_reply_fini(&r);
	return rc;
}

int
smtp_envelope(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
              const char *const *rcpt_params, size_t n, int *codes, struct err *e)
{
	return envelope(s, sender, mail_params, rcpts, rcpt_params, n, codes, true, e);
}

int
smtp_try_envelope(struct smtp *s, const char *sender, const char *mail_params, char *const *rcpts,
                  size_t n, int *codes, struct err *e)
{
	return envelope(s, sender, mail_params, rcpts, NULL, n, codes, false, e);
}

int
smtp_data_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	struct smtp *s = ctx;
	if (smtp_check_end(s, e) < 0 ||
	    conn_write(&s->conn, p, n, smtp_deadline(s, s->t.data_block), e) < 0)
		return smtp_note_end(s, e);
	return 0;
}

/*
 * RFC 2033 §4.2: after the end of data an LMTP server gives one reply per accepted
 * recipient, in the order of the RCPT commands. Each is the verdict for its recipient alone,
 * and only 250 is delivery (SEC-36): another 2xx or 3xx leaves that recipient not known
 * (its code 0, so a queue keeps it), and the run ERR_UNSURE unless a 5xx makes it 67.
 */
static int
lmtp_replies(struct smtp *s, char *const *rcpts, size_t n, int *codes, struct err *e)
{
	struct smtp_reply r;
	char brief[256];
	size_t refused = 0, delivered = 0, odd = 0;
	bool perm = false;
	struct err first, doubt; /* the first refusal, the first reply that was no verdict */

	err_clear(&first);
	err_clear(&doubt);
	/* The RCPT codes give way to the verdicts; one never read stays 0 (not known), so a
	 * lost connection cannot pass for a delivery. */
	for (size_t i = 0; codes && i < n; i++)
		codes[i] = 0;
	smtp_reply_init(&r);
	for (size_t i = 0; i < n; i++) {
		if (smtp_read_reply(s, &r, smtp_deadline(s, s->t.data_end), false, e) < 0) {
			smtp_reply_fini(&r);
			if (e && e->kind == ERR_PROTO)
				smtp_unsure_read(e);
			err_append(e, " (after the data; %zu of %zu recipients confirmed)",
			           delivered, n);
			return -1;
		}
		s->lmtp_read++;
		if (codes)
			codes[i] = r.code;
		if (r.code == 250) {
			delivered++;
			continue;
		}
		smtp_reply_brief(&r, brief, sizeof(brief));
		if (r.code < 400) {
			/* SEC-36: not 250, not a refusal: this recipient's outcome is not known. */
			if (codes)
				codes[i] = 0;
			odd++;
			if (odd == 1)
				err_set_code(&doubt, ERR_UNSURE, r.code,
				             "send message to <%s>: the reply for this recipient "
				             "was \"%s\", not 250; not delivered to it, though the "
				             "server may keep a copy",
				             rcpts[i], brief);
			continue;
		}
		perm = perm || r.code >= 500;
		refused++;
		if (refused == 1)
			err_set_code(
			    &first, ERR_TEMP, r.code,
			    "send message to <%s>: server refused it for this recipient: %s",
			    rcpts[i], brief);
	}
	smtp_reply_fini(&r);
	if (!refused && !odd)
		return 0;
	if (e) {
		/* A permanent refusal says most (67); else a reply that was no verdict (76). */
		*e = odd && !perm ? doubt : first;
		e->kind = perm ? ERR_NOUSER : odd ? ERR_UNSURE : ERR_TEMP;
		if (odd)
			err_append(e, " (%zu of %zu recipients refused, %zu without a verdict%s)",
			           refused, n, odd,
			           delivered ? "; the others have the message" : "");
		else
			err_append(e, " (%zu of %zu recipients refused%s)", refused, n,
			           delivered ? "; the others have the message" : "");
	}
	return -1;
}

int
smtp_data_end(struct smtp *s, bool quit, char *const *rcpts, size_t n, int *codes, struct err *e)
{
	struct smtp_reply r;
	char brief[256];
	int rc;

	/* SEC-33: a reply that came during the data was not asked for; the final reply must
	 * be read after the end marker was written. */
	if (conn_pending(&s->conn))
		return err_set(
		    e, ERR_PROTO,
		    "send message to %s: the server sent data during the message; not ending it",
		    s->conn.peer);
	log_line(LOG_OUT, ".", 1);
	s->lmtp_read = 0;
	/* LMTP: the end of data is owed one reply per recipient. */
	s->awaited += s->lmtp ? (unsigned)n : 1;
	if (quit && smtp_pipeline_quit(s, e) < 0)
		return -1;
	if (s->lmtp)
		return lmtp_replies(s, rcpts, n, codes, e);
	smtp_reply_init(&r);
	rc = smtp_read_reply(s, &r, smtp_deadline(s, s->t.data_end), false, e);
	/* SEC-37: no reply at all (closed, timed out) stays ERR_TEMP; a reply that cannot be
	 * parsed is no verdict (SEC-36). */
	if (rc < 0 && e && e->kind == ERR_PROTO)
		smtp_unsure_read(e);
	if (rc == 0) {
		s->final_code = r.code;
		smtp_reply_brief(&r, s->final_text, sizeof(s->final_text));
	}
	/* SEC-36: only 250 is delivery; 4xx and 5xx refuse the message, anything else is out
	 * of step (a 221 may be the reply to the QUIT behind the data). */
	if (rc == 0 && r.code >= 400)
		rc = err_set_code(e, smtp_kind_of(r.code, ERR_PERM), r.code,
		                  "send message to %s: server refused it: %s", s->conn.peer,
		                  smtp_reply_brief(&r, brief, sizeof(brief)));
	else if (rc == 0 && r.code != 250)
		rc = smtp_unsure(e, r.code, s->conn.peer, "the end of the data",
		                 smtp_reply_brief(&r, brief, sizeof(brief)));
	smtp_reply_fini(&r);
	return rc;
}

void
smtp_quit(struct smtp *s)
{
	if (s->conn.fd < 0)
		return;
	struct smtp_reply r;
	smtp_reply_init(&r);
	/* The goodbye is a courtesy: a short wait, errors ignored. */
	int wait = s->t.command < 2000 ? s->t.command : 2000;
	if (s->quit_read)
		; /* the pipelined QUIT's reply was read with the verdict */
	else if (s->quit_sent || smtp_command(s, SMTP_COMMAND_MAX, NULL, NULL, "QUIT") == 0)
		smtp_read_reply(s, &r, smtp_deadline(s, wait), false, NULL);
	smtp_reply_fini(&r);
	conn_close(&s->conn);
}

void
smtp_rset(struct smtp *s)
{
	struct smtp_reply r;

	if (s->conn.fd < 0)
		return;
	smtp_reply_init(&r);
	if (smtp_command(s, SMTP_COMMAND_MAX, NULL, NULL, "RSET") < 0 ||
	    smtp_read_reply(s, &r, smtp_deadline(s, s->t.command), false, NULL) < 0 ||
	    r.code != 250)
		conn_close(&s->conn);
	smtp_reply_fini(&r);
}

void
smtp_abandon(struct smtp *s)
{
	conn_close(&s->conn);
}
