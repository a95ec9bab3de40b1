/*
 * fuzz/reply: SMTP replies and EHLO capabilities (src/smtp_reply.h; smtp_read_reply from
 * src/smtp.h), as a server sends them.
 *
 * The input is the server's byte stream. It goes through the reader twice:
 *  1. split at LF, each line in an allocation of exactly its length (so a read past the
 *     line is an ASan report), into smtp_reply_feed; every complete reply into
 *     smtp_caps_parse and smtp_reply_brief;
 *  2. over a socketpair into smtp_read_reply (conn_getline's buffer and line limits), until
 *     the stream ends or a reply is refused.
 * Contract checked (RFC 5321 §4.2, SEC-31, SEC-35): a complete reply has a code 200..559,
 * one text line per reply line, no control character but TAB in its text, at most
 * SMTP_REPLY_LINES_MAX lines; a refusal is ERR_PROTO; the capabilities' AUTH list is
 * NUL-terminated, upper case, without control characters.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "smtp.h"

static void
check_reply(const struct smtp_reply *r)
{
	const char *t = r->text.data ? r->text.data : "";
	size_t nl = 0;
	char brief[256];
	struct smtp_caps caps;

	fuzz_check(r->code >= 200 && r->code <= 559, "reply code %d", r->code);
	fuzz_check(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX, "%zu lines", r->nlines);
	fuzz_check(r->text.len <= BUF_MAX_REPLY, "reply text of %zu bytes", r->text.len);
	fuzz_check(!fuzz_has_ctl(t, r->text.len, "\t\n"), "control character in reply text");
	for (size_t i = 0; i < r->text.len; i++)
		nl += t[i] == '\n';
	fuzz_check(nl + 1 == r->nlines, "%zu lines but %zu line breaks", r->nlines, nl);

	/* SEC-4: from scratch, whatever was there before. */
	memset(&caps, 0xa5, sizeof(caps));
	smtp_caps_parse(&caps, r);
	size_t al = strnlen(caps.auth, sizeof(caps.auth));
	fuzz_check(al < sizeof(caps.auth), "AUTH list not terminated");
	fuzz_check(!fuzz_has_ctl(caps.auth, al, "\t"), "control character in the AUTH list");
	for (size_t i = 0; i < al; i++)
		fuzz_check(!(caps.auth[i] >= 'a' && caps.auth[i] <= 'z'),
		           "AUTH list not upper case");
	fuzz_check((caps.bits & ~0x1ffu) == 0, "unknown capability bits %#x", caps.bits);
	fuzz_check((caps.bits & SMTP_CAP_AUTH) || al == 0, "AUTH mechanisms without AUTH");

	smtp_reply_brief(r, brief, sizeof(brief));
	fuzz_check(strnlen(brief, sizeof(brief)) < sizeof(brief), "brief not terminated");
}

static void
check_refusal(const struct err *e)
{
	fuzz_check(e->kind == ERR_PROTO, "refused with kind %d: %s", e->kind, e->text);
	fuzz_check(!fuzz_has_ctl(e->text, strlen(e->text), ""), "control character in error");
}

/* 1: line by line, each in an exact allocation. */
static void
by_lines(const char *p, size_t n)
{
	struct smtp_reply r;
	struct err e;
	size_t off = 0;

	smtp_reply_init(&r);
	while (off < n) {
		const char *lf = memchr(p + off, '\n', n - off);
		size_t len = lf ? (size_t)(lf - (p + off)) : n - off;
		char *line = fuzz_exact(p + off, len);
		int rc = smtp_reply_feed(&r, line, len, &e);
		free(line);
		off += len + (lf != NULL);
		if (rc == 0)
			continue;
		if (rc == 1)
			check_reply(&r);
		else
			check_refusal(&e);
		/* The next reply starts afresh, as smtp_read_reply starts it. */
		r.code = 0;
		r.nlines = 0;
		buf_reset(&r.text);
	}
	smtp_reply_fini(&r);
}

/* 2: through the connection's reader. */
static void
by_conn(const char *p, size_t n)
{
	int sv[2];

	/* The whole input must fit in the socket before the reader starts. */
	if (n > 128 * 1024 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	for (size_t off = 0; off < n;) {
		ssize_t w = write(sv[1], p + off, n - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);

	struct smtp s;
	memset(&s, 0, sizeof(s));
	/* As conn_open leaves a socket: non-blocking, so the deadlines hold. */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	s.conn.fd = sv[0];
	s.conn.rbuf = malloc(CONN_BUF_SIZE);
	s.conn.wbuf = malloc(CONN_BUF_SIZE);
	snprintf(s.conn.peer, sizeof(s.conn.peer), "fuzz");
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	for (unsigned k = 0;; k++) {
		if (smtp_read_reply(&s, &r, conn_clock_ms() + 10000, k % 2, &e) < 0) {
			/* The end of the stream is ERR_TEMP, everything else the server's fault. */
			if (e.kind != ERR_TEMP)
				check_refusal(&e);
			break;
		}
		check_reply(&r);
	}
	smtp_reply_fini(&r);
	conn_close(&s.conn);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	by_lines((const char *)data, size);
	by_conn((const char *)data, size);
	return 0;
}
