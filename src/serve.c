/*
 * serve: sendmail -bs. The server side of RFC 5321 on standard input/output, for callers that
 * speak SMTP to a local sendmail (Symfony Mailer's "sendmail -bs" transport, PHPMailer): each
 * message is spooled to an anonymous file and handed to deliver_run, and the reply to the end
 * of its data is deliver_run's verdict. RFC 5321 (§4.1 commands, §4.2 replies, §4.5.2 dot
 * transparency, §4.5.3 limits), RFC 2920 (PIPELINING), RFC 6152 (8BITMIME), RFC 6531
 * (SMTPUTF8), RFC 2034 and RFC 3463 (enhanced status codes), RFC 1870 (the SIZE parameter).
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "addr.h"
#include "buf.h"
#include "io.h"
#include "log.h"
#include "profile.h"
#include "deliver.h"

#define SERVE_LINE_MAX 512   /* a command line, CRLF included (RFC 5321 §4.5.3.1.4) */
#define SERVE_RCPTS_MAX 1000 /* recipients a message; RFC 5321 §4.5.3.1.8 asks for 100 */
#define SERVE_ERRORS_MAX 100 /* refused commands before the conversation is ended */
#define SERVE_TIMEOUT_MS (5 * 60 * 1000) /* waiting for the caller (RFC 5321 §4.5.3.2.7) */
#define SERVE_IN_SIZE (64 * 1024)        /* the input buffer: a pipelined group fits many times */
#define SERVE_SPOOL_SIZE (64 * 1024)
#define SERVE_OUT_MAX (256 * 1024)  /* replies not yet written (1000 RCPT replies fit) */
#define SERVE_OUT_FLUSH (16 * 1024) /* write them out past this even if more input waits */
#define SERVE_REPLY_TEXT_MAX 400    /* the text of a reply line that quotes an error */

/* What a command handler tells the loop. */
enum { GO_ON = 0, STOP = 1 };

struct spool {
	int fd;
	char *buf; /* SERVE_SPOOL_SIZE bytes */
	size_t len;
	int err; /* errno of the first failed write, 0: none */
};

struct server {
	const struct opts *o;
	int in, out; /* the caller's standard input and output */
	char *ibuf;  /* SERVE_IN_SIZE bytes; [ipos, ilen) not yet used */
	size_t ipos, ilen;
	bool eof;
	bool timed_out;
	struct buf obuf; /* replies not yet written */
	struct err io;   /* the failure of standard input or output, if any */
	bool io_failed;
	char host[256];
	bool greeted;   /* HELO or EHLO seen */
	bool line_crlf; /* the last command line ended in CRLF */
	bool mail;      /* a transaction is open */
	char *sender;   /* its MAIL FROM address ("" the null sender) */
	struct addr_list rcpts;
	size_t rcpt_tried; /* RCPT commands in this transaction, accepted or not */
	unsigned errors;
	unsigned sent, failed;
};

/* ---- output ---------------------------------------------------------------------------- */

static int
flush_out(struct server *s)
{
	if (!s->io_failed && s->obuf.len > 0) {
		int rc = io_write_all(s->out, s->obuf.data, s->obuf.len);
		if (rc != 0) {
			s->io_failed = true;
			err_set(&s->io, ERR_OS, "write the SMTP reply to standard output: %s",
			        rc == EIO ? "nothing written" : strerror(rc));
		}
	}
	buf_reset(&s->obuf);
	return s->io_failed ? -1 : 0;
}

/* Queue one reply line (CRLF added). Replies go out when the caller's input runs dry
 * (RFC 2920 §3.2: a server may hold replies while pipelined commands remain), or sooner. */
static void reply(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct server *s, const char *fmt, ...)
{
	char line[SERVE_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("format a reply");
	size_t len = (size_t)n < sizeof(line) - 3 ? (size_t)n : sizeof(line) - 3;
	/* A reply is one line whatever it quotes (SEC-19's rule, from the other side). */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\r';
	line[len++] = '\n';
	struct err e;
	if (buf_append(&s->obuf, line, len, &e) < 0 && flush_out(s) == 0)
		buf_append(&s->obuf, line, len, &e);
	if (s->obuf.len >= SERVE_OUT_FLUSH)
		flush_out(s);
}

/* A refusal: counted, so a caller stuck in a loop of errors is stopped. */
static void refuse(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
refuse(struct server *s, const char *fmt, ...)
{
	char text[SERVE_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	s->errors++;
	reply(s, "%s", text);
}

/* ERR's text for a reply: one line of at most SERVE_REPLY_TEXT_MAX characters. */
static const char *
reply_text(const struct err *err, char out[SERVE_REPLY_TEXT_MAX + 1])
{
	const char *t = err->text[0] ? err->text : "failed";
	size_t n = strnlen(t, sizeof(err->text));

	if (n > SERVE_REPLY_TEXT_MAX) {
		/* A cut shows. */
		memcpy(out, t, SERVE_REPLY_TEXT_MAX - 3);
		memcpy(out + SERVE_REPLY_TEXT_MAX - 3, "...", 3);
		n = SERVE_REPLY_TEXT_MAX;
	} else {
		memcpy(out, t, n);
	}
	out[n] = '\0';
	return out;
}

/* ---- input ----------------------------------------------------------------------------- */

/*
 * Read more of the caller's input after what the buffer holds, flushing every reply first:
 * the caller may be waiting for them before it sends more. 1 read, 0 end of input (or the
 * caller idle for too long), -1 input failed.
 */
static int
fill(struct server *s)
{
	if (s->eof)
		return 0;
	if (flush_out(s) < 0)
		return -1;
	if (s->ipos > 0) {
		memmove(s->ibuf, s->ibuf + s->ipos, s->ilen - s->ipos);
		s->ilen -= s->ipos;
		s->ipos = 0;
	}
	if (s->ilen == SERVE_IN_SIZE)
		fatal("serve: input buffer full");
	for (;;) {
		if (io_wait(s->in, POLLIN, io_clock_ms() + SERVE_TIMEOUT_MS) == ETIMEDOUT) {
			s->timed_out = s->eof = true;
			return 0;
		}
		ssize_t n = read(s->in, s->ibuf + s->ilen, SERVE_IN_SIZE - s->ilen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			s->io_failed = true;
			err_set(&s->io, ERR_OS, "read SMTP commands from standard input: %s",
			        strerror(errno));
			return -1;
		}
		if (n == 0) {
			s->eof = true;
			return 0;
		}
		s->ilen += (size_t)n;
		return 1;
	}
}

/*
 * The next command line, without its line end (CRLF, or a bare LF as some callers send).
 * 1 a line (*TOO_LONG when it was longer than SERVE_LINE_MAX: its bytes are dropped and
 * *LEN is 0), 0 end of input, -1 input failed.
 */
static int
next_line(struct server *s, const char **line, size_t *len, bool *too_long)
{
	*too_long = false;
	for (;;) {
		char *p = s->ibuf + s->ipos;
		size_t n = s->ilen - s->ipos;
		char *lf = memchr(p, '\n', n);
		if (lf) {
			size_t k = (size_t)(lf - p) + 1;
			s->ipos += k;
			if (*too_long || k > SERVE_LINE_MAX) {
				*too_long = true;
				*len = 0;
				return 1;
			}
			k--;
			s->line_crlf = k > 0 && p[k - 1] == '\r';
			if (s->line_crlf)
				k--;
			*line = p;
			*len = k;
			return 1;
		}
		if (n >= SERVE_LINE_MAX) {
			/* Too long already: drop what came and find the line's end. */
			*too_long = true;
			s->ipos = s->ilen;
		}
		int r = fill(s);
		if (r <= 0)
			return r;
	}
}

/* ---- the message file ------------------------------------------------------------------ */

static int
spool_open(struct spool *sp, struct err *e)
{
	const char *dir = getenv("TMPDIR");

	sp->len = 0;
	sp->err = 0;
	sp->fd = io_anonymous(dir && *dir ? dir : "/tmp");
	if (sp->fd >= 0)
		return 0;
	return err_set(e, ERR_OS, "store the message: %s: %s; set TMPDIR to a writable directory",
	               dir && *dir ? dir : "/tmp", strerror(errno));
}

static void
spool_flush(struct spool *sp)
{
	if (sp->err == 0)
		sp->err = io_write_all(sp->fd, sp->buf, sp->len);
	sp->len = 0;
}

/* After a failed write the rest is dropped: the data is read to its end all the same. */
static void
spool_write(struct spool *sp, const char *p, size_t n)
{
	while (n > 0 && sp->err == 0) {
		size_t k = SERVE_SPOOL_SIZE - sp->len;
		if (k > n)
			k = n;
		memcpy(sp->buf + sp->len, p, k);
		sp->len += k;
		p += k;
		n -= k;
		if (sp->len == SERVE_SPOOL_SIZE)
			spool_flush(sp);
	}
}

/*
 * The message data, up to the line of "." (RFC 5321 §4.5.2: a line that begins with a dot
 * has it removed), into SP: every other byte as it came, line ends included, so the line
 * end before the final dot belongs to the message. What follows the end stays in the input
 * buffer (a pipelined QUIT). 1 the end was read, 0 the input ended first, -1 input failed.
 *
 * SEC-30 (SMTP smuggling, CVE-2023-51764): a caller that speaks CRLF (its DATA line ended
 * so) ends the data only with CRLF "." CRLF; "LF.LF", "LF.CRLF" or "CRLF.LF" inside its data
 * is data, or a body passed through -bs could open a second transaction of its own. A
 * caller that ended DATA with a bare LF is one that writes bare LFs: "." and either line
 * end, after either line end, ends its data.
 */
static int
read_data(struct server *s, struct spool *sp)
{
	bool bol = true; /* at the beginning of a line */
	bool strict = s->line_crlf;
	bool after_crlf = true; /* the line end before this line was CRLF (or DATA's) */
	char prev = '\0';       /* the last byte spooled */

	for (;;) {
		char *p = s->ibuf + s->ipos;
		size_t n = s->ilen - s->ipos;
		if (n == 0 || (bol && p[0] == '.' && (n == 1 || (n == 2 && p[1] == '\r')))) {
			/* Nothing to look at, or too little to tell ".CRLF" from a stuffed dot. */
			int r = fill(s);
			if (r <= 0)
				return r;
			continue;
		}
		if (bol && p[0] == '.') {
			bool crlf_end = p[1] == '\r' && p[2] == '\n';
			if (strict ? (after_crlf && crlf_end) : (p[1] == '\n' || crlf_end)) {
				s->ipos += p[1] == '\n' ? 2 : 3;
				return 1;
			}
			/* A stuffed dot is removed; a lone "." that does not end the data (strict
			 * mode, bare line ends) stays as data: the encoder stuffs it again. */
			if (!(p[1] == '\n' || crlf_end))
				s->ipos++;
			bol = false;
			continue;
		}
		char *lf = memchr(p, '\n', n);
		size_t k = lf ? (size_t)(lf - p) + 1 : n;
		spool_write(sp, p, k);
		s->ipos += k;
		if (lf) {
			/* The CR may have come in an earlier piece of the same line. */
			after_crlf = k >= 2 ? lf[-1] == '\r' : prev == '\r';
		}
		prev = p[k - 1];
		bol = lf != NULL;
	}
}

/* ---- commands -------------------------------------------------------------------------- */

static void
txn_reset(struct server *s)
{
	free(s->sender);
	s->sender = NULL;
	addr_list_fini(&s->rcpts);
	s->mail = false;
	s->rcpt_tried = 0;
}

/* Whether LINE (LEN bytes) starts with the keyword KW (any case). */
static bool
keyword(const char *line, size_t len, const char *kw)
{
	size_t k = strlen(kw);
	return len >= k && strncasecmp(line, kw, k) == 0;
}

/*
 * The path of "FROM:<path> params" / "TO:<path> params" (RFC 5321 §4.1.2): after PREFIX,
 * optional spaces (a common laxity), "<", the path up to the ">" outside a quoted string,
 * then nothing or a space and parameters. A source route ("@a,@b:") is dropped (RFC 5321
 * §4.1.1.3: accepted and ignored). *PATH is allocated. 0 ok, -1 a syntax error.
 */
static int
parse_path(const char *arg, size_t len, const char *prefix, char **path, const char **params,
           size_t *nparams)
{
	size_t i = strlen(prefix);

	if (!keyword(arg, len, prefix))
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return -1;
	size_t start = ++i;
	bool quoted = false;
	for (; i < len; i++) {
		if (quoted && arg[i] == '\\' && i + 1 < len)
			i++;
		else if (arg[i] == '"')
			quoted = !quoted;
		else if (!quoted && arg[i] == '>')
			break;
	}
	if (i >= len)
		return -1;
	size_t end = i++;
	if (i < len && arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	*params = arg + i;
	*nparams = len - i;
	if (end > start && arg[start] == '@') {
		const char *colon = memchr(arg + start, ':', end - start);
		if (!colon)
			return -1;
		start = (size_t)(colon - arg) + 1;
	}
	*path = xstrndup(arg + start, end - start);
	return 0;
}

/*
 * MAIL's parameters: BODY=7BIT|8BITMIME (RFC 6152), SIZE=n (RFC 1870), SMTPUTF8 (RFC 6531).
 * They change nothing here: the delivery decides BODY, SIZE and SMTPUTF8 for the server
 * from the message and the addresses. 0 ok, -1 with the reply written.
 */
static int
check_mail_params(struct server *s, const char *p, size_t n)
{
	while (n > 0) {
		const char *sp = memchr(p, ' ', n);
		size_t k = sp ? (size_t)(sp - p) : n;
		char word[SERVE_LINE_MAX];
		if (k >= sizeof(word))
			k = sizeof(word) - 1; /* cannot happen: a command line is shorter */
		memcpy(word, p, k);
		word[k] = '\0';
		const char *eq = strchr(word, '=');
		const char *v = eq ? eq + 1 : "";
		size_t kl = eq ? (size_t)(eq - word) : k;
		if (kl == 4 && strncasecmp(word, "BODY", 4) == 0) {
			if (strcasecmp(v, "7BIT") != 0 && strcasecmp(v, "8BITMIME") != 0) {
				refuse(s, "501 5.5.4 BODY=%s: use BODY=7BIT or BODY=8BITMIME", v);
				return -1;
			}
		} else if (kl == 4 && strncasecmp(word, "SIZE", 4) == 0) {
			size_t d = strspn(v, "0123456789");
			if (d == 0 || d > 20 || v[d]) {
				refuse(s, "501 5.5.4 SIZE=%s: not a number of octets", v);
				return -1;
			}
		} else if (k == 8 && strncasecmp(word, "SMTPUTF8", 8) == 0) {
			/* nothing to do: UTF-8 addresses are accepted either way */
		} else {
			refuse(s, "555 5.5.4 MAIL FROM parameter %s not recognized", word);
			return -1;
		}
		p += k;
		n -= k;
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
	}
	return 0;
}

static void
cmd_helo(struct server *s, const char *arg, size_t alen, bool ehlo)
{
	if (alen == 0) {
		refuse(s, "501 5.5.4 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
		return;
	}
	/* RFC 5321 §4.1.4: EHLO or HELO also ends any transaction in progress. */
	txn_reset(s);
	s->greeted = true;
	if (!ehlo) {
		reply(s, "250 %s", s->host);
		return;
	}
	/* No SIZE: postie sets no limit of its own (the server's applies at delivery). */
	reply(s, "250-%s", s->host);
	reply(s, "250-PIPELINING");
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_mail(struct server *s, const char *arg, size_t alen)
{
	char *path = NULL;
	const char *params;
	size_t nparams;
	struct err e;
	char t[SERVE_REPLY_TEXT_MAX + 1];

	if (!s->greeted) {
		refuse(s, "503 5.5.1 Error: send HELO or EHLO first");
		return;
	}
	if (s->mail) {
		refuse(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (parse_path(arg, alen, "FROM:", &path, &params, &nparams) < 0) {
		refuse(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (check_mail_params(s, params, nparams) < 0) {
		free(path);
		return;
	}
	/* The same checks as -f (SEC-18): the null sender is allowed. */
	char *norm = NULL;
	if (addr_envelope(path, true, ERR_USAGE, &norm, &e) < 0) {
		free(path);
		refuse(s, "553 5.1.7 %s", reply_text(&e, t));
		return;
	}
	free(path);
	s->sender = norm;
	s->mail = true;
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct server *s, const char *arg, size_t alen)
{
	char *path = NULL;
	const char *params;
	size_t nparams;
	struct err e;
	char t[SERVE_REPLY_TEXT_MAX + 1];

	if (!s->mail) {
		refuse(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	s->rcpt_tried++;
	if (s->rcpts.n >= SERVE_RCPTS_MAX) {
		/* RFC 5321 §4.5.3.1.10: the client sends the rest in another transaction. */
		refuse(s, "452 4.5.3 Error: too many recipients (%d a message)", SERVE_RCPTS_MAX);
		return;
	}
	if (parse_path(arg, alen, "TO:", &path, &params, &nparams) < 0) {
		refuse(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (nparams > 0) {
		free(path);
		/* No DSN is offered, so no NOTIFY or ORCPT can be asked for. */
		refuse(s, "555 5.5.4 RCPT TO parameters not recognized");
		return;
	}
	/* The checks of argv recipients (SEC-18, SEC-21): no null path, no leading '-'. */
	char *norm = NULL;
	int rc = path[0] == '-'
	             ? err_set(&e, ERR_USAGE, "check recipient \"%s\": begins with '-'", path)
	             : addr_envelope(path, false, ERR_USAGE, &norm, &e);
	free(path);
	if (rc < 0) {
		refuse(s, "553 5.1.3 %s", reply_text(&e, t));
		return;
	}
	addr_list_add(&s->rcpts, norm);
	free(norm);
	reply(s, "250 2.1.5 Ok");
}

/* The reply to the end of the data when deliver_run failed with E. */
static void
reply_failure(struct server *s, const struct err *e)
{
	char t[SERVE_REPLY_TEXT_MAX + 1];

	reply_text(e, t);
	switch (e->kind) {
	case ERR_NOUSER:
		/* A recipient the server refused for good (a 5xx to RCPT). */
		reply(s, "550 5.1.1 %s", t);
		break;
	case ERR_PERM:
		/* The server refused for good: its own code when it is one of RFC 5321's. */
		reply(s, "%d 5.0.0 %s", e->code >= 550 && e->code <= 554 ? e->code : 554, t);
		break;
	case ERR_DATA:
	case ERR_USAGE:
		/* The message or an address cannot be sent as it is. */
		reply(s, "554 5.6.0 %s", t);
		break;
	case ERR_CONFIG:
		reply(s, "451 4.3.5 %s", t);
		break;
	case ERR_UNSURE:
		/* SEC-36: the server's reply to the end of the data was no verdict (not 250, or
		 * out of step) and no queue kept the message: not delivered, so never 250; the
		 * text says the server may hold a copy, for a caller that tries again. X.5.0:
		 * other protocol status (RFC 3463). */
		reply(s, "451 4.5.0 %s", t);
		break;
	default:
		/* A 4xx, the connection, TLS, authentication, local I/O: the message is not lost
		 * for good; the caller may try again once the cause is gone. */
		reply(s, "451 4.3.0 %s", t);
		break;
	}
}

/* Deliver the spooled message as a normal run would: -f sender, the recipients, -i. */
static void
deliver(struct server *s, int fd)
{
	struct opts c = *s->o;
	struct err e;

	c.sender = s->sender;
	c.rcpts = s->rcpts.v;
	c.nrcpts = s->rcpts.n;
	c.read_rcpts = false;
	c.read_envelope_from = false;
	c.ignore_dots = true; /* the data is un-stuffed already: a line of "." is data */
	c.mode = CLI_SEND;
	c.serving = true; /* kept in the queue is taken: 250 (SEC-36) */
	err_clear(&e);
	log_info("-bs: delivering a message from <%s> to %zu recipient%s", s->sender, s->rcpts.n,
	         s->rcpts.n == 1 ? "" : "s");
	/* SEC-36: 250 only for deliver_run's 0. */
	if (deliver_run(&c, fd, &e) == 0) {
		s->sent++;
		reply(s, "250 2.0.0 Ok: delivered or queued");
		return;
	}
	s->failed++;
	if (e.kind == ERR_NONE)
		err_set(&e, ERR_SOFTWARE, "deliver: failed without a reason");
	err_print(&e);
	reply_failure(s, &e);
}

/* DATA: STOP when the input ended or failed inside the data. */
static int
cmd_data(struct server *s, size_t alen)
{
	struct spool sp = {.fd = -1};
	struct err e;
	char t[SERVE_REPLY_TEXT_MAX + 1];

	if (alen > 0) {
		refuse(s, "501 5.5.4 Syntax: DATA");
		return GO_ON;
	}
	if (!s->mail) {
		refuse(s, "503 5.5.1 Error: need MAIL command");
		return GO_ON;
	}
	if (s->rcpts.n == 0) {
		/* RFC 5321 §3.3: 554 when every RCPT was refused, 503 when none was given. */
		if (s->rcpt_tried)
			refuse(s, "554 5.5.1 Error: no valid recipients");
		else
			refuse(s, "503 5.5.1 Error: need RCPT command");
		return GO_ON;
	}
	if (spool_open(&sp, &e) < 0) {
		err_print(&e);
		refuse(s, "451 4.3.0 %s", reply_text(&e, t));
		return GO_ON;
	}
	sp.buf = xmalloc(SERVE_SPOOL_SIZE);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	int r = read_data(s, &sp);
	if (r == 1) {
		spool_flush(&sp);
		if (sp.err == 0 && lseek(sp.fd, 0, SEEK_SET) < 0)
			sp.err = errno;
		if (sp.err) {
			err_set(&e, ERR_OS, "store the message: %s", strerror(sp.err));
			err_print(&e);
			/* RFC 3463 X.3.1: mail system full. */
			if (sp.err == ENOSPC || sp.err == EDQUOT)
				reply(s, "452 4.3.1 %s", reply_text(&e, t));
			else
				reply(s, "451 4.3.0 %s", reply_text(&e, t));
		} else {
			/* The caller may wait long for this one: what it is owed goes first. */
			flush_out(s);
			deliver(s, sp.fd);
		}
	} else if (r == 0) {
		warn("-bs: the input ended inside DATA; that message was not sent");
	}
	free(sp.buf);
	close(sp.fd);
	txn_reset(s);
	return r == 1 ? GO_ON : STOP;
}

static int
command(struct server *s, const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f) {
			/* A bare CR, NUL or other control inside a command is never part of an
			 * address or a keyword (SEC-18: no CR/LF injection). */
			refuse(s, "501 5.5.2 Syntax error: control character in command");
			return GO_ON;
		}
	}
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	const char *arg = line + vlen;
	size_t alen = len - vlen;
	while (alen > 0 && *arg == ' ') {
		arg++;
		alen--;
	}
	while (alen > 0 && arg[alen - 1] == ' ')
		alen--;
#define VERB(name) (vlen == sizeof(name) - 1 && strncasecmp(line, name, vlen) == 0)
	if (VERB("EHLO") || VERB("HELO")) {
		cmd_helo(s, arg, alen, VERB("EHLO"));
	} else if (VERB("MAIL")) {
		cmd_mail(s, arg, alen);
	} else if (VERB("RCPT")) {
		cmd_rcpt(s, arg, alen);
	} else if (VERB("DATA")) {
		return cmd_data(s, alen);
	} else if (VERB("RSET")) {
		if (alen > 0) {
			refuse(s, "501 5.5.4 Syntax: RSET");
		} else {
			txn_reset(s);
			reply(s, "250 2.0.0 Ok");
		}
	} else if (VERB("NOOP")) {
		reply(s, "250 2.0.0 Ok");
	} else if (VERB("QUIT")) {
		reply(s, "221 2.0.0 Bye");
		return STOP;
	} else if (VERB("VRFY")) {
		/* RFC 5321 §3.5.3: 252, neither verified nor refused. */
		if (alen == 0)
			refuse(s, "501 5.5.4 Syntax: VRFY address");
		else
			reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
			         "delivery");
	} else if (VERB("HELP")) {
		reply(s, "214 2.0.0 postie -bs: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
	} else if (VERB("EXPN") || VERB("STARTTLS") || VERB("AUTH") || VERB("BDAT") ||
	           VERB("ETRN") || VERB("TURN") || VERB("ATRN")) {
		refuse(s, "502 5.5.1 Error: command not implemented");
	} else {
		refuse(s, "500 5.5.2 Error: command not recognized");
	}
#undef VERB
	return GO_ON;
}

/* ---- the conversation ------------------------------------------------------------------ */

/* The name for the greeting and EHLO: this host's, if it is a plain host name. */
static void
host_name(char *out, size_t n)
{
	if (gethostname(out, n) < 0)
		out[0] = '\0';
	out[n - 1] = '\0';
	bool plain = out[0] != '\0';
	for (const char *p = out; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_';
	if (!plain)
		snprintf(out, n, "localhost");
}

static void
converse(struct server *s)
{
	const char *line;
	size_t len;
	bool too_long;
	int r;

	reply(s, "220 %s postie ESMTP", s->host);
	for (;;) {
		r = next_line(s, &line, &len, &too_long);
		if (r <= 0)
			break;
		if (too_long)
			refuse(s, "500 5.5.2 Error: line too long (%d octets at most)",
			       SERVE_LINE_MAX);
		else if (command(s, line, len) == STOP)
			break;
		if (s->errors >= SERVE_ERRORS_MAX) {
			reply(s, "421 4.7.0 Error: too many errors; closing");
			warn("-bs: %u refused commands; the conversation was ended", s->errors);
			break;
		}
		if (s->io_failed)
			break;
	}
	if (s->timed_out) {
		reply(s, "421 4.4.2 Error: timeout waiting for the next command; closing");
		warn("-bs: the caller said nothing for %d seconds; the conversation was ended",
		     SERVE_TIMEOUT_MS / 1000);
	} else if (r == 0 && s->mail) {
		log_info("-bs: the input ended inside a transaction (no DATA); nothing sent");
	}
	flush_out(s);
}

/*
 * The caller's input and output are the SMTP channel and nothing else's: keep them on
 * private descriptors (s->in, s->out; closed in child processes, e.g. passwordeval), and
 * give the rest of postie /dev/null as input and stderr as output, so a `logfile -` or any
 * other print to stdout cannot inject text into the conversation. *SAVED_ERR: standard
 * error while it is set aside, or -1.
 */
static int
take_channel(struct server *s, int *saved_err, struct err *e)
{
	fflush(stdout);
	*saved_err = -1;
	s->in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	s->out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (s->in < 0 || s->out < 0) {
		int saved = errno;
		if (s->in >= 0)
			close(s->in);
		if (s->out >= 0)
			close(s->out);
		return err_set(e, ERR_OS, "-bs: standard input or output is not open: %s",
		               strerror(saved));
	}
	/*
	 * A caller that runs `sendmail -bs 2>&1` reads our standard error as the conversation:
	 * a warning there would desynchronise its SMTP client. Then standard error is /dev/null
	 * for the session (each outcome is in the replies anyway) and comes back at the end.
	 */
	struct stat so, se;
	if (fstat(s->out, &so) == 0 && fstat(STDERR_FILENO, &se) == 0 && so.st_dev == se.st_dev &&
	    so.st_ino == se.st_ino)
		*saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0 && *saved_err >= 0)
		dup2(null, STDERR_FILENO);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
	    (dup2(STDERR_FILENO, STDOUT_FILENO) < 0 && dup2(null, STDOUT_FILENO) < 0)) {
		int saved = errno;
		if (null >= 0)
			close(null);
		if (*saved_err >= 0) {
			dup2(*saved_err, STDERR_FILENO);
			close(*saved_err);
		}
		close(s->in);
		close(s->out);
		return err_set(e, ERR_OS, "-bs: set up standard input and output: %s",
		               strerror(saved));
	}
	close(null);
	return 0;
}

/* Give the process its standard input, output and error back (see take_channel). */
static void
give_back(struct server *s, int saved_err)
{
	fflush(stdout);
	dup2(s->in, STDIN_FILENO);
	dup2(s->out, STDOUT_FILENO);
	if (saved_err >= 0) {
		dup2(saved_err, STDERR_FILENO);
		close(saved_err);
	}
	close(s->in);
	close(s->out);
}

int
serve_run(const struct opts *o, struct err *e)
{
	struct server s = {.o = o};
	int saved_err;

	if (take_channel(&s, &saved_err, e) < 0)
		return -1;
	buf_init(&s.obuf, SERVE_OUT_MAX);
	host_name(s.host, sizeof(s.host));
	int rc = 0;

	/* A profile that cannot be read would fail every message: say so in the greeting
	 * (421, RFC 5321 §3.1) and stop, rather than accept mail that cannot go. */
	struct profile prof = {0};
	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0) {
		char t[SERVE_REPLY_TEXT_MAX + 1];
		reply(&s, "421 4.3.5 %s", reply_text(e, t));
		flush_out(&s);
		rc = -1;
	} else {
		profile_fini(&prof);
		s.ibuf = xmalloc(SERVE_IN_SIZE);
		converse(&s);
		txn_reset(&s);
		free(s.ibuf);
		log_info("-bs: %u message%s sent or queued, %u refused", s.sent,
		         s.sent == 1 ? "" : "s", s.failed);
		if (s.io_failed) {
			*e = s.io;
			rc = -1;
		}
	}
	buf_fini(&s.obuf);
	give_back(&s, saved_err);
	return rc;
}
