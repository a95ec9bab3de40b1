/*
 * Unit tests of maillog: msmtp's log line field by field (names, order, which are left out),
 * escaping (a value can never split a line or a field), the time stamp (injected, TZ=UTC),
 * the logfile (appended, 0600, "-" is standard output), syslog facility names, and that no
 * secret of the account reaches the line (SEC-13).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tap.h"
#include "maillog.h"

/* 2024-06-14 10:15:30 UTC */
#define WHEN ((time_t)1718360130)

static char *rcpts2[] = {"a@example.net", "b@example.net"};

static struct maillog_entry
success(void)
{
	struct maillog_entry m = {
	    .when = WHEN,
	    .host = "smtp.example.org",
	    .port = 587,
	    .tls = true,
	    .auth = true,
	    .user = "joe",
	    .from = "joe@example.org",
	    .rcpts = rcpts2,
	    .nrcpts = 2,
	    .mailsize = 1234,
	    .smtpstatus = 250,
	    .smtpmsg = "250 2.0.0 Ok: queued as 4Wabc",
	    .exitcode = 0,
	    .msgid = "<20240614.1@example.org>",
	};
	return m;
}

/* Format M into a C string (static storage). */
static const char *
line_of(const struct maillog_entry *m, const char *fmt)
{
	static char text[MAILLOG_LINE_MAX + 1];
	struct buf b;
	struct err e;

	buf_init(&b, MAILLOG_LINE_MAX);
	if (maillog_format(m, fmt, &b, &e) < 0) {
		snprintf(text, sizeof(text), "(error: %s)", e.text);
	} else {
		memcpy(text, b.data ? b.data : "", b.len);
		text[b.len] = '\0';
	}
	buf_fini(&b);
	return text;
}

static int
check_line(const struct maillog_entry *m, const char *fmt, const char *want, const char *what)
{
	const char *got = line_of(m, fmt);
	return ok_mem(got, strlen(got), want, strlen(want), "%s", what);
}

static char *
slurp(const char *path, size_t *n)
{
	static char data[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, data, sizeof(data) - 1);
	if (fd >= 0)
		close(fd);
	*n = r < 0 ? 0 : (size_t)r;
	data[*n] = '\0';
	return data;
}

static void
test_format(void)
{
	struct maillog_entry m = success();

	check_line(&m, MAILLOG_TIME_FORMAT,
	           "Jun 14 10:15:30 host=smtp.example.org tls=on auth=on user=joe "
	           "from=joe@example.org "
	           "recipients=a@example.net,b@example.net mailsize=1234 smtpstatus=250 "
	           "smtpmsg='250 2.0.0 Ok: queued as 4Wabc' exitcode=EX_OK "
	           "msgid=<20240614.1@example.org> port=587",
	           "success: msmtp's fields in msmtp's order, postie's after exitcode");
	check_line(&m, NULL,
	           "host=smtp.example.org tls=on auth=on user=joe from=joe@example.org "
	           "recipients=a@example.net,b@example.net mailsize=1234 smtpstatus=250 "
	           "smtpmsg='250 2.0.0 Ok: queued as 4Wabc' exitcode=EX_OK "
	           "msgid=<20240614.1@example.org> port=587",
	           "without a time format (syslog): no time stamp");
	check_line(&m, "%Y-%m-%dT%H:%M:%S",
	           "2024-06-14T10:15:30 host=smtp.example.org tls=on auth=on user=joe "
	           "from=joe@example.org recipients=a@example.net,b@example.net mailsize=1234 "
	           "smtpstatus=250 smtpmsg='250 2.0.0 Ok: queued as 4Wabc' exitcode=EX_OK "
	           "msgid=<20240614.1@example.org> port=587",
	           "logfile_time_format is a strftime format");

	struct maillog_entry f = {
	    .when = WHEN,
	    .host = "smtp.example.org",
	    .tls = true,
	    .auth = false,
	    .user = "joe",
	    .from = "joe@example.org",
	    .rcpts = rcpts2,
	    .nrcpts = 1,
	    .mailsize = -1,
	    .smtpstatus = 451,
	    .smtpmsg = "451-4.3.0 first line\n451 4.3.0 try again later",
	    .errormsg = "deliver: the server said 451 4.3.0 first line",
	    .exitcode = 75,
	};
	check_line(
	    &f, NULL,
	    "host=smtp.example.org tls=on auth=off from=joe@example.org "
	    "recipients=a@example.net "
	    "smtpstatus=451 smtpmsg='451-4.3.0 first line 451 4.3.0 try again later' "
	    "errormsg='deliver: the server said 451 4.3.0 first line' exitcode=EX_TEMPFAIL",
	    "failure: no user without auth, no mailsize, lines of a reply joined, EX_TEMPFAIL");

	struct maillog_entry q = success();
	q.smtpstatus = 0;
	q.smtpmsg = NULL;
	q.errormsg = "connect to smtp.example.org: Connection refused";
	q.exitcode = 0;
	q.mailsize = -1;
	q.port = 0;
	q.queued = "20240614101530.123456-4242-00a1b2c3";
	check_line(&q, NULL,
	           "host=smtp.example.org tls=on auth=on user=joe from=joe@example.org "
	           "recipients=a@example.net,b@example.net "
	           "errormsg='connect to smtp.example.org: Connection refused' exitcode=EX_OK "
	           "msgid=<20240614.1@example.org> queued=20240614101530.123456-4242-00a1b2c3",
	           "queued: exit 0 with the reason and the queue id; port 0 left out");

	struct maillog_entry n = success();
	n.from = "";
	n.auth = false;
	n.msgid = NULL;
	n.port = 0;
	n.exitcode = 99;
	check_line(
	    &n, NULL,
	    "host=smtp.example.org tls=on auth=off from= "
	    "recipients=a@example.net,b@example.net "
	    "mailsize=1234 smtpstatus=250 smtpmsg='250 2.0.0 Ok: queued as 4Wabc' exitcode=99",
	    "null sender is an empty from=; a status without a name is its number");
}

static void
test_escaping(void)
{
	char *evil[] = {"a,b\"@example.net", "c d@example.net\r\nRCPT TO:<x@y>"};
	struct maillog_entry m = {
	    .when = WHEN,
	    .host = "mx\nexample",
	    .tls = false,
	    .auth = true,
	    .user = "joe smith",
	    .from = "x@y\r\nexitcode=EX_OK",
	    .rcpts = evil,
	    .nrcpts = 2,
	    .mailsize = -1,
	    .smtpstatus = 554,
	    .smtpmsg = "554 it's a \\ no\x01",
	    .errormsg = "line1\r\nline2\ttab",
	    .exitcode = 69,
	};
	const char *got = line_of(&m, "%b %d%n%H:%M:%S");
	check_line(
	    &m, "%b %d%n%H:%M:%S",
	    "Jun 14 10:15:30 host=mx\\x0aexample tls=off auth=on user=joe\\x20smith "
	    "from=x@y\\x0d\\x0aexitcode=EX_OK "
	    "recipients=a\\x2cb\"@example.net,c\\x20d@example.net\\x0d\\x0aRCPT\\x20TO:<x@y> "
	    "smtpstatus=554 smtpmsg='554 it\\x27s a \\x5c no\\x01' "
	    "errormsg='line1 line2\\x09tab' exitcode=EX_UNAVAILABLE",
	    "controls, spaces, commas and quotes escaped; %n in the time format is a space");
	ok(strchr(got, '\n') == NULL && strchr(got, '\r') == NULL, "no CR or LF in the line");

	char long_msg[5000];
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	struct maillog_entry l = success();
	l.smtpmsg = long_msg;
	got = line_of(&l, NULL);
	const char *sm = strstr(got, "smtpmsg='");
	const char *end = sm ? strchr(sm + 9, '\'') : NULL;
	ok(sm && end && (size_t)(end - sm - 9) <= MAILLOG_VALUE_MAX && end[-1] == '.' &&
	       end[-2] == '.' && end[-3] == '.',
	   "a long value is cut at MAILLOG_VALUE_MAX and the cut shows (...)");

	/* 3000 recipients: the line stays bounded and says how many it left out. */
	enum { N = 3000 };
	static char addrs[N][32];
	static char *many[N];
	for (int i = 0; i < N; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "rcpt%04d@example.net", i);
		many[i] = addrs[i];
	}
	struct maillog_entry r = success();
	r.rcpts = many;
	r.nrcpts = N;
	got = line_of(&r, MAILLOG_TIME_FORMAT);
	const char *more = strstr(got, "...(+");
	ok(strncmp(got, "(error", 6) != 0 && strlen(got) < MAILLOG_LINE_MAX && more &&
	       strstr(got, " exitcode=EX_OK") && strstr(got, "rcpt0000@example.net,"),
	   "3000 recipients: a bounded line, the first listed, the rest counted");
	if (more) {
		unsigned long left = strtoul(more + 5, NULL, 10);
		size_t listed = 0;
		const char *p = strstr(got, "recipients=");
		for (; p && p < more; p = strchr(p + 1, ','))
			listed++;
		ok(listed + left == N, "listed (%zu) + counted (%lu) = %d", listed, left, N);
	} else {
		ok(0, "listed + counted");
	}
}

static void
test_names(void)
{
	struct err e;
	int f = -1;

	ok(maillog_exit_name(0) && strcmp(maillog_exit_name(0), "EX_OK") == 0, "0 is EX_OK");
	ok(strcmp(maillog_exit_name(75), "EX_TEMPFAIL") == 0, "75 is EX_TEMPFAIL");
	ok(strcmp(maillog_exit_name(78), "EX_CONFIG") == 0, "78 is EX_CONFIG");
	ok(maillog_exit_name(1) == NULL, "1 has no name");

	ok(maillog_facility("LOG_MAIL", &f, &e) == 0 && f == LOG_MAIL, "LOG_MAIL");
	ok(maillog_facility("LOG_USER", &f, &e) == 0 && f == LOG_USER, "LOG_USER");
	ok(maillog_facility("LOG_LOCAL0", &f, &e) == 0 && f == LOG_LOCAL0, "LOG_LOCAL0");
	ok(maillog_facility("log_local7", &f, &e) == 0 && f == LOG_LOCAL7, "log_local7 (any case)");
	ok(maillog_facility("on", &f, &e) == 0 && f == LOG_USER, "on: msmtp's default, LOG_USER");
	ok(maillog_facility("", &f, &e) == 0 && f == LOG_USER, "empty: the default");
	ok(maillog_facility("LOG_LOCAL8", &f, &e) == -1 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "LOG_LOCAL8") && strstr(e.text, "LOG_MAIL"),
	   "LOG_LOCAL8 refused, naming the choices: %s", e.text);
	ok(maillog_facility("LOG_KERN", &f, &e) == -1, "LOG_KERN refused");
}

static void
test_logfile(const char *dir)
{
	char path[512];
	size_t n;
	struct maillog_entry m = success();
	struct account a = {
	    .name = "acct",
	    .host = "smtp.example.org",
	    .user = "joe",
	    .password = "hunter2-secret",
	    .auth = true,
	};

	snprintf(path, sizeof(path), "%s/sub.log", dir);
	a.logfile = path;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "earlier line\n", 13) == 13, "a log with a line already");
	if (fd >= 0)
		close(fd);
	maillog_record(&a, &m);
	m.exitcode = 75;
	m.errormsg = "the server said 451";
	m.smtpstatus = 451;
	m.smtpmsg = "451 later";
	m.mailsize = -1;
	maillog_record(&a, &m);
	const char *text = slurp(path, &n);
	const char *want =
	    "earlier line\n"
	    "Jun 14 10:15:30 host=smtp.example.org tls=on auth=on user=joe "
	    "from=joe@example.org "
	    "recipients=a@example.net,b@example.net mailsize=1234 smtpstatus=250 "
	    "smtpmsg='250 2.0.0 Ok: queued as 4Wabc' exitcode=EX_OK "
	    "msgid=<20240614.1@example.org> port=587\n"
	    "Jun 14 10:15:30 host=smtp.example.org tls=on auth=on user=joe "
	    "from=joe@example.org "
	    "recipients=a@example.net,b@example.net smtpstatus=451 smtpmsg='451 later' "
	    "errormsg='the server said 451' exitcode=EX_TEMPFAIL "
	    "msgid=<20240614.1@example.org> port=587\n";
	ok_mem(text, n, want, strlen(want), "two records appended after the earlier line");
	ok(strstr(text, "hunter2") == NULL, "the password is nowhere in the log (SEC-13)");

	snprintf(path, sizeof(path), "%s/new.log", dir);
	a.logfile = path;
	a.logfile_time_format = "%s";
	umask(0);
	maillog_record(&a, &m);
	umask(022);
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "a new log file is created mode 0600 (even with umask 0)");
	text = slurp(path, &n);
	ok(strncmp(text, "1718360130 host=", 16) == 0, "logfile_time_format %%s: epoch seconds");

	/* "-": standard output. */
	snprintf(path, sizeof(path), "%s/stdout.txt", dir);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(out, STDOUT_FILENO);
	close(out);
	a.logfile = "-";
	a.logfile_time_format = NULL;
	m = success();
	maillog_record(&a, &m);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	text = slurp(path, &n);
	ok(n > 0 && strncmp(text, "Jun 14 10:15:30 host=smtp.example.org ", 38) == 0 &&
	       text[n - 1] == '\n' && memchr(text, '\n', n) == text + n - 1,
	   "logfile - writes one line to standard output");

	/* A log that cannot be opened is a warning; nothing else happens. */
	snprintf(path, sizeof(path), "%s/no-such-dir/x.log", dir);
	a.logfile = path;
	maillog_record(&a, &m);
	ok(access(path, F_OK) != 0 && errno == ENOENT, "an unwritable log: a warning, no file");

	/* Neither logfile nor syslog: nothing at all. */
	a.logfile = NULL;
	a.syslog = NULL;
	maillog_record(&a, &m);
	ok(1, "no logfile, no syslog: nothing to do");
}

int
main(void)
{
	char dir[] = "/tmp/postie-maillog-XXXXXX";

	setenv("TZ", "UTC", 1);
	tzset();
	setenv("LC_ALL", "C", 1);
	test_format();
	test_escaping();
	test_names();
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_logfile(dir);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
