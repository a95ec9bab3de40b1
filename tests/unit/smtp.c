/* Unit tests of smtp: the reply parser (SEC-31, SEC-32), EHLO capabilities (SEC-35), the
 * command writer (SEC-19, SEC-33), and a session against a scripted peer on a socketpair. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "smtp.h"

/* Feed LINES (separated by '\n') into a reply; return the last feed's result. */
static int
feed_all(struct smtp_reply *r, const char *lines, struct err *e)
{
	const char *p = lines;
	if (!*p)
		return smtp_reply_feed(r, p, 0, e);
	int rc = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		rc = smtp_reply_feed(r, p, n, e);
		if (rc != 0)
			return rc;
		p += n + (nl ? 1 : 0);
	}
	return rc;
}

static void
test_replies(void)
{
	static const struct {
		const char *in;
		int rc;
		int code;
		const char *text;
	} cases[] = {
		{"220 mail.example ESMTP\r", 1, 220, "mail.example ESMTP"},
		{"250-mail.example\r\n250-PIPELINING\r\n250 SIZE 1000\r", 1, 250,
			"mail.example\nPIPELINING\nSIZE 1000"},
		{"250", 1, 250, ""},
		{"250 ", 1, 250, ""},
		{"250-first\n250 last", 1, 250, "first\nlast"},
		{"354 go ahead", 1, 354, "go ahead"},
		{"550\tbad", -1, 0, NULL},   /* HT is not SP or '-' */
		{"25 short", -1, 0, NULL},
		{"2500 long code", -1, 0, NULL},
		{"650 out of range", -1, 0, NULL},
		{"160 out of range", -1, 0, NULL},
		{"260 second digit", -1, 0, NULL},
		{"2a0 letters", -1, 0, NULL},
		{"hello", -1, 0, NULL},
		{"", -1, 0, NULL},
		{"250-one\n251 two", -1, 0, NULL},   /* SEC-32: mixed codes */
		{"250-one\n550 two", -1, 0, NULL},
		{"250 with\x01control", -1, 0, NULL},
		{"250 with\x7f del", -1, 0, NULL},
		{"250 tab\tinside", 1, 250, "tab\tinside"},
		{"250 bare\rcr", -1, 0, NULL},
		{"250 caf\xc3\xa9 8-bit", 1, 250, "caf\xc3\xa9 8-bit"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_reply r;
		struct err e;
		err_clear(&e);
		smtp_reply_init(&r);
		int rc = feed_all(&r, cases[i].in, &e);
		ok(rc == cases[i].rc, "reply %zu: result %d (want %d) %s", i, rc, cases[i].rc,
			e.text);
		if (cases[i].rc == 1) {
			ok(r.code == cases[i].code, "reply %zu: code %d", i, r.code);
			ok_mem(r.text.data ? r.text.data : "", r.text.len, cases[i].text,
				strlen(cases[i].text), "reply %zu: text", i);
		} else {
			ok(e.kind == ERR_PROTO, "reply %zu: protocol error", i);
		}
		smtp_reply_fini(&r);
	}

	/* NUL inside a line: the parser gets a length, so it must see the NUL. */
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	ok(smtp_reply_feed(&r, "250 a\0b", 7, &e) == -1 && e.kind == ERR_PROTO,
		"NUL in a reply line is a protocol error");
	smtp_reply_fini(&r);

	/* SEC-31: 100 lines are fine, 101 are not. */
	smtp_reply_init(&r);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = smtp_reply_feed(&r, i == 99 ? "250 x" : "250-x", 5, &e);
	ok(rc == 1 && r.nlines == 100, "100-line reply accepted");
	smtp_reply_fini(&r);
	smtp_reply_init(&r);
	rc = 0;
	for (int i = 0; i < 101 && rc == 0; i++)
		rc = smtp_reply_feed(&r, "250-x", 5, &e);
	ok(rc == -1 && e.kind == ERR_PROTO, "101-line reply refused");
	smtp_reply_fini(&r);
}

static void
test_caps(void)
{
	struct smtp_reply r;
	struct smtp_caps c;
	struct err e;

	smtp_reply_init(&r);
	feed_all(&r,
		"250-mail.example greets you\n250-PIPELINING\n250-SIZE 10240000\n250-auth plain LOGIN\n"
		"250-AUTH=CRAM-MD5\n250-8BITMIME\n250-STARTTLS\n250-X-UNKNOWN foo\n250-CHUNKING\n"
		"250-ENHANCEDSTATUSCODES\n250 SMTPUTF8", &e);
	smtp_caps_parse(&c, &r);
	ok(c.bits & SMTP_CAP_PIPELINING, "PIPELINING");
	ok(c.bits & SMTP_CAP_STARTTLS, "STARTTLS");
	ok(c.bits & SMTP_CAP_8BITMIME, "8BITMIME");
	ok(c.bits & SMTP_CAP_CHUNKING, "CHUNKING");
	ok(c.bits & SMTP_CAP_SMTPUTF8, "SMTPUTF8");
	ok(c.bits & SMTP_CAP_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES");
	ok(!(c.bits & SMTP_CAP_DSN), "no DSN");
	ok(c.size == 10240000, "SIZE value %lu", c.size);
	ok(strcmp(c.auth, "PLAIN LOGIN CRAM-MD5") == 0, "AUTH list \"%s\"", c.auth);
	smtp_reply_fini(&r);

	/* The greeting line of the EHLO reply is not a keyword. */
	smtp_reply_init(&r);
	feed_all(&r, "250-PIPELINING\n250 SIZE 99999999999999999999999999", &e);
	smtp_caps_parse(&c, &r);
	ok(!(c.bits & SMTP_CAP_PIPELINING), "first line is the domain, not a capability");
	ok(c.size == (unsigned long)-1, "SEC-35: overflowing SIZE means unlimited");
	smtp_reply_fini(&r);

	/* Capabilities are rebuilt from scratch each time (SEC-4). */
	smtp_reply_init(&r);
	feed_all(&r, "250 only-a-name", &e);
	c.bits = ~0u;
	smtp_caps_parse(&c, &r);
	ok(c.bits == 0 && c.auth[0] == '\0', "caps cleared by a bare EHLO reply");
	smtp_reply_fini(&r);
}

/* A connection over one end of a socketpair. */
static void
sp_conn(struct smtp *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->conn.fd = fd;
	s->conn.rbuf = malloc(CONN_BUF_SIZE);
	s->conn.wbuf = malloc(CONN_BUF_SIZE);
	snprintf(s->conn.peer, sizeof(s->conn.peer), "peer");
	smtp_timeouts_init(&s->t, 2);
}

static void
test_command(void)
{
	int sv[2];
	struct smtp s;
	struct err e;
	char got[1024];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	sp_conn(&s, sv[0]);
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "MAIL FROM:<%s>", "a@b\r\nRCPT TO:<x@y>") ==
		-1 && e.kind == ERR_SOFTWARE, "SEC-19: CRLF inside a command refused");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "X %s", "a\nb") == -1, "LF refused");
	char longarg[600];
	memset(longarg, 'a', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "RCPT TO:<%s>", longarg) == -1 &&
		e.kind == ERR_SOFTWARE, "SEC-19: a command over 512 octets refused");
	ok(s.conn.wlen == 0, "nothing queued by refused commands");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "NOOP") == 0, "NOOP queued");
	ok(s.conn.wlen == 6 && memcmp(s.conn.wbuf, "NOOP\r\n", 6) == 0, "ends in CRLF");
	ok(conn_flush(&s.conn, conn_clock_ms() + 1000, &e) == 0, "flushed");
	ssize_t n = read(sv[1], got, sizeof(got));
	ok(n == 6, "peer got 6 bytes");

	/* SEC-33: a reply nobody asked for is noticed before the next exchange. */
	ok(write(sv[1], "250 ok\r\n250 extra\r\n", 19) == 19, "peer wrote two replies");
	struct smtp_reply r;
	smtp_reply_init(&r);
	ok(smtp_read_reply(&s, &r, conn_clock_ms() + 1000, false, &e) == 0 && r.code == 250,
		"read the reply to NOOP");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "QUIT") == -1 && e.kind == ERR_PROTO,
		"SEC-33: unsolicited reply refused");
	smtp_reply_fini(&r);
	conn_close(&s.conn);
	close(sv[1]);
}

/* A peer that answers each command line from SCRIPT ("EXPECTED-PREFIX|REPLY" per line). */
static void
peer(int fd, const char *greeting, const char *const *script)
{
	char in[8192];
	size_t have = 0;
	if (write(fd, greeting, strlen(greeting)) < 0)
		_exit(2);
	for (const char *const *step = script; *step; step++) {
		char *nl;
		while (!(nl = memchr(in, '\n', have))) {
			ssize_t n = read(fd, in + have, sizeof(in) - have);
			if (n <= 0)
				_exit(3);
			have += (size_t)n;
		}
		const char *bar = strchr(*step, '|');
		if (strncmp(in, *step, (size_t)(bar - *step)) != 0)
			_exit(4);
		size_t used = (size_t)(nl - in) + 1;
		memmove(in, in + used, have - used);
		have -= used;
		if (write(fd, bar + 1, strlen(bar + 1)) < 0)
			_exit(5);
	}
	_exit(0);
}

static int
run_envelope(const char *const *script, const char *ehlo_caps, char *const *rcpts, size_t n,
	struct err *e)
{
	int sv[2];
	struct smtp s;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], "220 hi\r\n", script);
	}
	close(sv[1]);
	sp_conn(&s, sv[0]);
	(void)ehlo_caps;
	int rc = smtp_greeting(&s, e);
	if (rc == 0)
		rc = smtp_ehlo(&s, "client.example", false, e);
	if (rc == 0)
		rc = smtp_envelope(&s, "a@example.com", "", rcpts, n, NULL, e);
	conn_close(&s.conn);
	int st;
	waitpid(pid, &st, 0);
	return rc;
}

static void
test_session(void)
{
	struct err e;
	char *rcpts[] = {"x@example.com", "y@example.com", "z@example.com"};

	const char *ok_pipe[] = {"EHLO client.example|250-hi\r\n250 PIPELINING\r\n",
		"MAIL FROM:<a@example.com>|", "RCPT TO:<x@example.com>|", "RCPT TO:<y@example.com>|",
		"DATA|250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", NULL};
	ok(run_envelope(ok_pipe, NULL, rcpts, 2, &e) == 0, "pipelined envelope: 354");

	const char *one_refused[] = {"EHLO client.example|250-hi\r\n250 PIPELINING\r\n",
		"MAIL FROM:<a@example.com>|", "RCPT TO:<x@example.com>|", "RCPT TO:<y@example.com>|",
		"RCPT TO:<z@example.com>|",
		"DATA|250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n", NULL};
	ok(run_envelope(one_refused, NULL, rcpts, 3, &e) == -1 && e.kind == ERR_NOUSER &&
		strstr(e.text, "<y@example.com>") && strstr(e.text, "550 5.1.1"),
		"SEC-38: one of three refused: 67 naming it (%s)", e.text);

	const char *temp_refused[] = {"EHLO client.example|250 hi\r\n",
		"MAIL FROM:<a@example.com>|250 ok\r\n", "RCPT TO:<x@example.com>|451 later\r\n",
		NULL};
	ok(run_envelope(temp_refused, NULL, rcpts, 2, &e) == -1 && e.kind == ERR_TEMP,
		"not pipelined: 451 to RCPT is temporary");

	const char *mail_refused[] = {"EHLO client.example|250 hi\r\n",
		"MAIL FROM:<a@example.com>|553 sender rejected\r\n", NULL};
	ok(run_envelope(mail_refused, NULL, rcpts, 1, &e) == -1 && e.kind == ERR_PERM &&
		e.code == 553, "553 to MAIL: permanent");

	const char *data_refused[] = {"EHLO client.example|250 hi\r\n",
		"MAIL FROM:<a@example.com>|250 ok\r\n", "RCPT TO:<x@example.com>|250 ok\r\n",
		"DATA|554 no\r\n", NULL};
	ok(run_envelope(data_refused, NULL, rcpts, 1, &e) == -1 && e.kind == ERR_PERM &&
		e.code == 554, "554 to DATA: permanent");
}

int
main(void)
{
	test_replies();
	test_caps();
	test_command();
	test_session();
	return tap_done();
}
