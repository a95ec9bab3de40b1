/* Unit tests of smtp: the reply parser (SEC-31, SEC-32), EHLO capabilities (SEC-35), the
 * command writer (SEC-19, SEC-33), a session against a scripted peer on a socketpair, xtext
 * and the DSN parameters (RFC 3461), and LMTP's replies after the data (RFC 2033). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/tap.h"
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
	    {"550\tbad", -1, 0, NULL}, /* HT is not SP or '-' */
	    {"25 short", -1, 0, NULL},
	    {"2500 long code", -1, 0, NULL},
	    {"650 out of range", -1, 0, NULL},
	    {"160 out of range", -1, 0, NULL},
	    {"260 second digit", -1, 0, NULL},
	    {"2a0 letters", -1, 0, NULL},
	    {"hello", -1, 0, NULL},
	    {"", -1, 0, NULL},
	    {"250-one\n251 two", -1, 0, NULL}, /* SEC-32: mixed codes */
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
	feed_all(
	    &r,
	    "250-mail.example greets you\n250-PIPELINING\n250-SIZE 10240000\n250-auth plain LOGIN\n"
	    "250-AUTH=CRAM-MD5\n250-8BITMIME\n250-STARTTLS\n250-X-UNKNOWN foo\n250-CHUNKING\n"
	    "250-ENHANCEDSTATUSCODES\n250 SMTPUTF8",
	    &e);
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

/* smtp_reply.h: the keyword table behind smtp_caps_parse, and the serverinfo copy of a reply. */
static void
test_caps_table(void)
{
	struct smtp_reply r;
	struct buf b;
	struct err e;
	unsigned bit = 0, all = 0;
	size_t i = 0;

	ok(smtp_caps_bit("pipelining", 10) == SMTP_CAP_PIPELINING, "keyword in any case");
	ok(smtp_caps_bit("AUTH", 4) == SMTP_CAP_AUTH && smtp_caps_bit("SIZE", 4) == SMTP_CAP_SIZE,
	   "AUTH and SIZE have bits");
	ok(smtp_caps_bit("PIPELININGX", 11) == 0 && smtp_caps_bit("PIPE", 4) == 0,
	   "only whole keywords count");
	ok(strcmp(smtp_caps_flag(0, &bit), "PIPELINING") == 0 && bit == SMTP_CAP_PIPELINING,
	   "the flags in serverinfo's order, PIPELINING first");
	for (; smtp_caps_flag(i, &bit) != NULL; i++)
		all |= bit;
	ok(i == 7 && !(all & (SMTP_CAP_AUTH | SMTP_CAP_SIZE)) && all == (0x1ffu & ~0xcu),
	   "seven flags, every bit but AUTH and SIZE");

	smtp_reply_init(&r);
	buf_init(&b, 1 << 16);
	feed_all(&r, "220-first\n220-second\n220 last", &e);
	smtp_reply_copy(&b, &r, true);
	ok(strcmp(b.data, "220-first\n220-second\n220 last") == 0,
	   "copy with codes, lines as sent");
	smtp_reply_copy(&b, &r, false);
	ok(strcmp(b.data, "first\nsecond\nlast") == 0, "copy of the text");
	buf_fini(&b);
	smtp_reply_fini(&r);
}

/*
 * Bug 5 of issue 10: a malformed line is quoted in the error with an explicit length. Each
 * line sits at the very end of its own heap block, without NUL or LF after it, as the last
 * line of a full 64 KiB read buffer does; ASan reports any read past it.
 */
static void
test_reply_overread(void)
{
	static const char *const bad[] = {
	    "xx",
	    "hello",
	    "25",
	    "2",
	    "250x",
	    "999 nine",
	    "2a0 letters and more than sixty characters of text that go on and on and on"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);
		char *line = malloc(n);
		memcpy(line, bad[i], n);
		struct smtp_reply r;
		struct err e;
		err_clear(&e);
		smtp_reply_init(&r);
		int rc = smtp_reply_feed(&r, line, n, &e);
		char want[80];
		snprintf(want, sizeof(want), "\"%.*s\"", (int)(n < 60 ? n : 60), bad[i]);
		ok(rc == -1 && e.kind == ERR_PROTO && strstr(e.text, want),
		   "malformed line %zu quoted within its length: %s", i, e.text);
		smtp_reply_fini(&r);
		free(line);
	}
	/* The same at the end of a 64 KiB buffer, as conn_getline hands it over. */
	char *big = malloc(CONN_BUF_SIZE);
	memset(big, 'y', CONN_BUF_SIZE);
	memcpy(big + CONN_BUF_SIZE - 3, "zz\r", 3);
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	ok(smtp_reply_feed(&r, big + CONN_BUF_SIZE - 3, 3, &e) == -1 && strstr(e.text, "\"zz\""),
	   "a malformed line ending the 64 KiB buffer: %s", e.text);
	smtp_reply_fini(&r);
	free(big);
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
	           -1 &&
	       e.kind == ERR_SOFTWARE,
	   "SEC-19: CRLF inside a command refused");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "X %s", "a\nb") == -1, "LF refused");
	char longarg[600];
	memset(longarg, 'a', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "RCPT TO:<%s>", longarg) == -1 &&
	       e.kind == ERR_SOFTWARE,
	   "SEC-19: a command over 512 octets refused");
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

/* SEC-34: the session's total deadline, and how it is derived from the step deadlines. */
static void
test_session_deadline(void)
{
	struct smtp_timeouts t;

	smtp_timeouts_init(&t, 0);
	ok(t.session == 72LL * 60 * 1000, "RFC 5321 defaults: a 72-minute session (%lld ms)",
	   (long long)t.session);
	smtp_timeouts_init(&t, 3);
	ok(t.session == SMTP_SESSION_MIN_MS, "timeout 3: at least an hour (%lld ms)",
	   (long long)t.session);
	smtp_timeouts_init(&t, 600);
	ok(t.session == 16LL * 600 * 1000, "timeout 600: 16 x 600 s (%lld ms)",
	   (long long)t.session);
	smtp_timeouts_init(&t, 2147483);
	ok(t.session > 0, "a huge timeout does not overflow (%lld ms)", (long long)t.session);

	int sv[2];
	struct smtp s;
	struct smtp_reply r;
	struct err e;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK); /* as conn_open makes it */
	sp_conn(&s, sv[0]);
	smtp_timeouts_init(&s.t, 10);
	ok(smtp_deadline(&s, 1000) - conn_clock_ms() <= 1000,
	   "no total yet: a step's own deadline");
	s.end = conn_clock_ms() + 300;
	ok(smtp_deadline(&s, 10000) <= s.end, "a step's deadline is cut to the session's");
	/* A silent server: the 10 s step deadline is cut to the session's 0.3 s. */
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "NOOP") == 0, "NOOP queued");
	smtp_reply_init(&r);
	int64_t t0 = conn_clock_ms();
	int rc = smtp_read_reply(&s, &r, smtp_deadline(&s, s.t.command), false, &e);
	int64_t took = conn_clock_ms() - t0;
	ok(rc == -1 && e.kind == ERR_TEMP && strstr(e.text, "total deadline") && took < 3000,
	   "a silent server: ERR_TEMP at the session's deadline (%s; %lld ms)", e.text,
	   (long long)took);
	/* Past it, nothing more is tried, even where a call would return at once. */
	ok(write(sv[1], "250 ok\r\n", 8) == 8, "the peer answers late");
	ok(smtp_read_reply(&s, &r, conn_clock_ms() + 1000, false, &e) == -1 && e.kind == ERR_TEMP &&
	       strstr(e.text, "total deadline"),
	   "a reply already there is not read past the deadline");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "QUIT") == -1 && e.kind == ERR_TEMP,
	   "no command past the deadline");
	ok(smtp_data_sink(&s, "x", 1, &e) == -1 && e.kind == ERR_TEMP,
	   "no message data past the deadline");
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
		rc = smtp_envelope(&s, "a@example.com", "", rcpts, NULL, n, NULL, e);
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
	                         "MAIL FROM:<a@example.com>|",
	                         "RCPT TO:<x@example.com>|",
	                         "RCPT TO:<y@example.com>|",
	                         "DATA|250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	                         NULL};
	ok(run_envelope(ok_pipe, NULL, rcpts, 2, &e) == 0, "pipelined envelope: 354");

	const char *one_refused[] = {
	    "EHLO client.example|250-hi\r\n250 PIPELINING\r\n",
	    "MAIL FROM:<a@example.com>|",
	    "RCPT TO:<x@example.com>|",
	    "RCPT TO:<y@example.com>|",
	    "RCPT TO:<z@example.com>|",
	    "DATA|250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n",
	    NULL};
	ok(run_envelope(one_refused, NULL, rcpts, 3, &e) == -1 && e.kind == ERR_NOUSER &&
	       strstr(e.text, "<y@example.com>") && strstr(e.text, "550 5.1.1"),
	   "SEC-38: one of three refused: 67 naming it (%s)", e.text);

	const char *temp_refused[] = {"EHLO client.example|250 hi\r\n",
	                              "MAIL FROM:<a@example.com>|250 ok\r\n",
	                              "RCPT TO:<x@example.com>|451 later\r\n", NULL};
	ok(run_envelope(temp_refused, NULL, rcpts, 2, &e) == -1 && e.kind == ERR_TEMP,
	   "not pipelined: 451 to RCPT is temporary");

	const char *mail_refused[] = {"EHLO client.example|250 hi\r\n",
	                              "MAIL FROM:<a@example.com>|553 sender rejected\r\n", NULL};
	ok(run_envelope(mail_refused, NULL, rcpts, 1, &e) == -1 && e.kind == ERR_PERM &&
	       e.code == 553,
	   "553 to MAIL: permanent");

	const char *data_refused[] = {
	    "EHLO client.example|250 hi\r\n", "MAIL FROM:<a@example.com>|250 ok\r\n",
	    "RCPT TO:<x@example.com>|250 ok\r\n", "DATA|554 no\r\n", NULL};
	ok(run_envelope(data_refused, NULL, rcpts, 1, &e) == -1 && e.kind == ERR_PERM &&
	       e.code == 554,
	   "554 to DATA: permanent");
}

static void
test_xtext(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"", ""},
	    {"user@example.com", "user@example.com"},
	    {"a+b@example.com", "a+2Bb@example.com"}, /* "+" is the escape itself */
	    {"key=value", "key+3Dvalue"},             /* "=" separates ESMTP params */
	    {"with space", "with+20space"},
	    {"\"quoted\"@x", "\"quoted\"@x"}, /* '"' (34) is an xchar */
	    {"~!", "~!"},                     /* 126 and 33: the edges */
	    {"\x7f\x1f", "+7F+1F"},           /* DEL, a control */
	    {"caf\xc3\xa9", "caf+C3+A9"},     /* 8-bit octets, upper-case hex */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		int k = smtp_xtext(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		ok(k == (int)strlen(cases[i].out) && strcmp(out, cases[i].out) == 0,
		   "xtext %zu: \"%s\" (%d)", i, out, k);
	}
	char small[6];
	ok(smtp_xtext("abcde", 5, small, sizeof(small)) == 5, "xtext fills a buffer exactly");
	ok(smtp_xtext("abcdef", 6, small, sizeof(small)) == -1, "xtext: one octet too many");
	ok(smtp_xtext("abcd+", 5, small, sizeof(small)) == -1,
	   "xtext: an escape that does not fit");
	char nul[8];
	ok(smtp_xtext("a\0b", 3, nul, sizeof(nul)) == 5 && memcmp(nul, "a+00b", 6) == 0,
	   "xtext takes a length: NUL is encoded, not an end");
}

static void
test_dsn(void)
{
	char out[600];
	struct err e;

	out[0] = '\0';
	ok(smtp_dsn_mail("HDRS", "id+1=x", out, sizeof(out), &e) == 0 &&
	       strcmp(out, " RET=HDRS ENVID=id+2B1+3Dx") == 0,
	   "MAIL: RET and ENVID \"%s\"", out);
	snprintf(out, sizeof(out), " SIZE=10");
	ok(smtp_dsn_mail("full", NULL, out, sizeof(out), &e) == 0 &&
	       strcmp(out, " SIZE=10 RET=FULL") == 0,
	   "MAIL: appended, any case \"%s\"", out);
	out[0] = '\0';
	ok(smtp_dsn_mail(NULL, NULL, out, sizeof(out), &e) == 0 && out[0] == '\0',
	   "MAIL: nothing asked, nothing added");
	ok(smtp_dsn_mail("ALL", NULL, out, sizeof(out), &e) == -1 && e.kind == ERR_USAGE,
	   "MAIL: RET=ALL refused");
	ok(smtp_dsn_mail("FULL X=Y", NULL, out, sizeof(out), &e) == -1,
	   "MAIL: no parameter smuggled through RET (SEC-19)");
	char envid[120];
	memset(envid, 'a', 100);
	envid[100] = '\0';
	out[0] = '\0';
	ok(smtp_dsn_mail(NULL, envid, out, sizeof(out), &e) == 0, "ENVID of 100 characters");
	envid[99] = '+';
	out[0] = '\0';
	ok(smtp_dsn_mail(NULL, envid, out, sizeof(out), &e) == -1 && e.kind == ERR_USAGE,
	   "ENVID over 100 characters once encoded refused (RFC 3461 §4.4)");
	char tiny[8] = "";
	ok(smtp_dsn_mail("FULL", NULL, tiny, sizeof(tiny), &e) == -1 && e.kind == ERR_SOFTWARE &&
	       tiny[0] == '\0',
	   "MAIL: too small a buffer is an error, never a cut");

	static const struct {
		const char *notify, *addr, *out;
		int rc;
	} rc_cases[] = {
	    {"FAILURE,DELAY", "a+b@example.com",
	     " NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@example.com", 0},
	    {"never", "x@y", " NOTIFY=NEVER ORCPT=rfc822;x@y", 0},
	    {"success,Failure", NULL, " NOTIFY=SUCCESS,FAILURE", 0},
	    {NULL, "x@y", " ORCPT=rfc822;x@y", 0},
	    {NULL, "j\xc3\xb6rg@example.com", "", 0}, /* RFC 3461 §4.2: ASCII only */
	    {"NEVER,SUCCESS", "x@y", NULL, -1},       /* NEVER stands alone */
	    {"SUCCESS,SUCCESS", "x@y", NULL, -1},
	    {"SUCCESS FAILURE", "x@y", NULL, -1},
	    {"SUCCESS,", "x@y", NULL, -1},
	    {"", "x@y", NULL, -1},
	    {"DELAY ORCPT=rfc822;evil@x", "x@y", NULL, -1},
	};
	for (size_t i = 0; i < sizeof(rc_cases) / sizeof(rc_cases[0]); i++) {
		out[0] = '\0';
		err_clear(&e);
		int rc = smtp_dsn_rcpt(rc_cases[i].notify, rc_cases[i].addr, out, sizeof(out), &e);
		if (rc_cases[i].rc == 0)
			ok(rc == 0 && strcmp(out, rc_cases[i].out) == 0, "RCPT %zu: \"%s\"", i,
			   out);
		else
			ok(rc == -1 && e.kind == ERR_USAGE, "RCPT %zu: refused (%s)", i, e.text);
	}
	/* §5: 500 more octets at most; a longer ORCPT is left out, the NOTIFY stays. */
	char addr[400];
	memset(addr, '+', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	out[0] = '\0';
	ok(smtp_dsn_rcpt("FAILURE", addr, out, sizeof(out), &e) == 0 &&
	       strcmp(out, " NOTIFY=FAILURE") == 0,
	   "RCPT: an ORCPT past RFC 3461 §5 is left out");
}

/* Run PEER's SCRIPT against an LMTP envelope and data end; CODES gets the replies. */
static int
run_lmtp(const char *const *script, char *const *rcpts, size_t n, int *codes, size_t *read,
         struct err *e)
{
	int sv[2];
	struct smtp s;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], "220 lmtp ready\r\n", script);
	}
	close(sv[1]);
	sp_conn(&s, sv[0]);
	s.lmtp = true;
	int rc = smtp_greeting(&s, e);
	if (rc == 0)
		rc = smtp_ehlo(&s, "client.example", true, e);
	if (rc == 0)
		rc = smtp_envelope(&s, "a@example.com", "", rcpts, NULL, n, codes, e);
	if (rc == 0)
		rc = conn_write(&s.conn, "body\r\n.\r\n", 9, conn_clock_ms() + 1000, e);
	if (rc == 0)
		rc = smtp_data_end(&s, false, rcpts, n, codes, e);
	*read = s.lmtp_read;
	conn_close(&s.conn);
	int st;
	waitpid(pid, &st, 0);
	return rc;
}

static void
test_lmtp(void)
{
	char *rcpts[] = {"x@example.com", "y@example.com", "z@example.com"};
	int codes[3];
	size_t read;
	struct err e;

	const char *all_ok[] = {"LHLO client.example|250-lmtp\r\n250 PIPELINING\r\n",
	                        "MAIL FROM:<a@example.com>|",
	                        "RCPT TO:<x@example.com>|",
	                        "RCPT TO:<y@example.com>|",
	                        "DATA|250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	                        "body|",
	                        ".|250 2.0.0 x done\r\n250 2.0.0 y done\r\n",
	                        NULL};
	ok(run_lmtp(all_ok, rcpts, 2, codes, &read, &e) == 0 && read == 2 && codes[0] == 250 &&
	       codes[1] == 250,
	   "LMTP: LHLO, and one 250 per recipient after the data");

	const char *one_refused[] = {
	    "LHLO client.example|250 lmtp\r\n",
	    "MAIL FROM:<a@example.com>|250 ok\r\n",
	    "RCPT TO:<x@example.com>|250 ok\r\n",
	    "RCPT TO:<y@example.com>|250 ok\r\n",
	    "RCPT TO:<z@example.com>|250 ok\r\n",
	    "DATA|354 go\r\n",
	    "body|",
	    ".|250 2.0.0 x done\r\n552 5.2.2 y is full\r\n250 2.0.0 z done\r\n",
	    NULL};
	memset(codes, 0, sizeof(codes));
	ok(run_lmtp(one_refused, rcpts, 3, codes, &read, &e) == -1 && e.kind == ERR_NOUSER &&
	       e.code == 552 && read == 3,
	   "LMTP: 552 for one of three after the data: 67 (%s)", e.text);
	ok(codes[0] == 250 && codes[1] == 552 && codes[2] == 250,
	   "LMTP: each recipient's code kept, so the others count as delivered");
	ok(strstr(e.text, "<y@example.com>") && strstr(e.text, "1 of 3 recipients refused") &&
	       strstr(e.text, "the others have the message"),
	   "LMTP: the error names the refused one");

	const char *temp[] = {"LHLO client.example|250 lmtp\r\n",
	                      "MAIL FROM:<a@example.com>|250 ok\r\n",
	                      "RCPT TO:<x@example.com>|250 ok\r\n",
	                      "RCPT TO:<y@example.com>|250 ok\r\n",
	                      "DATA|354 go\r\n",
	                      "body|",
	                      ".|451 4.3.0 x later\r\n452 4.2.2 y later\r\n",
	                      NULL};
	ok(run_lmtp(temp, rcpts, 2, codes, &read, &e) == -1 && e.kind == ERR_TEMP &&
	       codes[0] == 451 && codes[1] == 452,
	   "LMTP: only 4xx after the data: temporary");

	const char *lost[] = {"LHLO client.example|250 lmtp\r\n",
	                      "MAIL FROM:<a@example.com>|250 ok\r\n",
	                      "RCPT TO:<x@example.com>|250 ok\r\n",
	                      "RCPT TO:<y@example.com>|250 ok\r\n",
	                      "DATA|354 go\r\n",
	                      "body|",
	                      ".|250 2.0.0 x done\r\n",
	                      NULL};
	memset(codes, 0, sizeof(codes));
	int rc = run_lmtp(lost, rcpts, 2, codes, &read, &e);
	ok(rc == -1 && e.kind == ERR_TEMP && read == 1 && codes[0] == 250 && codes[1] == 0 &&
	       strstr(e.text, "1 of 2 recipients confirmed"),
	   "LMTP: connection lost after one "
	   "reply: temporary, the first known delivered (%s; read %zu, codes %d %d)",
	   e.text, read, codes[0], codes[1]);

	/* SEC-36: only 250 is delivery for a recipient; another 2xx leaves it not known (0). */
	const char *odd[] = {"LHLO client.example|250 lmtp\r\n",
	                     "MAIL FROM:<a@example.com>|250 ok\r\n",
	                     "RCPT TO:<x@example.com>|250 ok\r\n",
	                     "RCPT TO:<y@example.com>|250 ok\r\n",
	                     "DATA|354 go\r\n",
	                     "body|",
	                     ".|250 2.0.0 x done\r\n252 2.0.0 y maybe\r\n",
	                     NULL};
	memset(codes, 0, sizeof(codes));
	rc = run_lmtp(odd, rcpts, 2, codes, &read, &e);
	ok(rc == -1 && e.kind == ERR_UNSURE && read == 2 && codes[0] == 250 && codes[1] == 0 &&
	       strstr(e.text, "<y@example.com>") && strstr(e.text, "not 250"),
	   "LMTP: 252 for one recipient: ERR_UNSURE, its code 0 (%s)", e.text);
	const char *odd_and_refused[] = {"LHLO client.example|250 lmtp\r\n",
	                                 "MAIL FROM:<a@example.com>|250 ok\r\n",
	                                 "RCPT TO:<x@example.com>|250 ok\r\n",
	                                 "RCPT TO:<y@example.com>|250 ok\r\n",
	                                 "DATA|354 go\r\n",
	                                 "body|",
	                                 ".|221 2.0.0 x bye\r\n550 5.1.1 y gone\r\n",
	                                 NULL};
	memset(codes, 0, sizeof(codes));
	rc = run_lmtp(odd_and_refused, rcpts, 2, codes, &read, &e);
	ok(rc == -1 && e.kind == ERR_NOUSER && e.code == 550 && codes[0] == 0 && codes[1] == 550 &&
	       strstr(e.text, "<y@example.com>") && strstr(e.text, "1 without a verdict"),
	   "LMTP: 221 for one, 550 for the other: 67 naming the refused one (%s)", e.text);

	/* RFC 2033 §4.1: no HELO to fall back to, even where SMTP would (ALLOW_HELO). */
	const char *refused[] = {"LHLO client.example|500 what\r\n", NULL};
	ok(run_lmtp(refused, rcpts, 1, codes, &read, &e) == -1 && e.kind == ERR_PERM &&
	       strstr(e.text, "send LHLO"),
	   "LMTP: LHLO refused, no HELO (%s)", e.text);
}

static void
test_rcpt_params(void)
{
	char *rcpts[] = {"x@example.com", "y@example.com"};
	const char *params[] = {" NOTIFY=SUCCESS ORCPT=rfc822;x@example.com", ""};
	int sv[2];
	struct smtp s;
	struct err e;

	const char *script[] = {
	    "EHLO client.example|250 hi\r\n",
	    "MAIL FROM:<a@example.com> RET=FULL|250 ok\r\n",
	    "RCPT TO:<x@example.com> NOTIFY=SUCCESS ORCPT=rfc822;x@example.com|250 ok\r\n",
	    "RCPT TO:<y@example.com>\r|250 ok\r\n",
	    "DATA|354 go\r\n",
	    NULL};
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], "220 hi\r\n", script);
	}
	close(sv[1]);
	sp_conn(&s, sv[0]);
	int rc = smtp_greeting(&s, &e);
	if (rc == 0)
		rc = smtp_ehlo(&s, "client.example", false, &e);
	if (rc == 0)
		rc = smtp_envelope(&s, "a@example.com", " RET=FULL", rcpts, params, 2, NULL, &e);
	conn_close(&s.conn);
	int st;
	waitpid(pid, &st, 0);
	ok(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "each RCPT carries its own parameters, exactly (peer status %d)", WEXITSTATUS(st));

	/* SEC-19 still holds with parameters: 512 octets, plus what RFC 3461 §5 allows for
	 * them and no more. A 505-octet RCPT goes with its NOTIFY (over 512 only by it). */
	char longaddr[490];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	char want[600];
	snprintf(want, sizeof(want), "RCPT TO:<%s> NOTIFY=FAILURE\r|", longaddr);
	const char *long_script[] = {"MAIL FROM:<a@example.com>|", want,
	                             "DATA|250 ok\r\n250 ok\r\n354 go\r\n", NULL};
	char *one[] = {longaddr};
	const char *p1[] = {" NOTIFY=FAILURE"};
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], "", long_script);
	}
	close(sv[1]);
	sp_conn(&s, sv[0]);
	s.caps.bits = SMTP_CAP_PIPELINING;
	rc = smtp_envelope(&s, "a@example.com", "", one, p1, 1, NULL, &e);
	conn_close(&s.conn);
	waitpid(pid, &st, 0);
	ok(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "a RCPT over 512 octets only by its DSN parameter is sent (%s)", rc ? e.text : "");
	ok(smtp_command(&s, SMTP_COMMAND_MAX, NULL, &e, "RCPT TO:<%s> NOTIFY=FAILURE", longaddr) ==
	           -1 &&
	       e.kind == ERR_SOFTWARE,
	   "the same line without the allowance is refused");
}

int
main(void)
{
	test_replies();
	test_reply_overread();
	test_caps();
	test_caps_table();
	test_command();
	test_session_deadline();
	test_session();
	test_xtext();
	test_dsn();
	test_lmtp();
	test_rcpt_params();
	return tap_done();
}
