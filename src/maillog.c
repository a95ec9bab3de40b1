/*
 * maillog: msmtp's log line (msmtp(1), "Logging"; msmtp's texinfo manual lists the fields
 * and their order) for the logfile and for syslog(3). A log line is parsed by scripts, so
 * every value is escaped: it can never split a line, or a field, in two.
 */
#include "maillog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "codec.h"

#include "io.h"

/* How much of the line the recipient list may take; the rest are counted ("...(+N)"). With
 * every other value at its MAILLOG_VALUE_MAX, a line stays within MAILLOG_LINE_MAX. */
#define RCPTS_BUDGET (8 * 1024)
/* The time stamp, at most (strftime's result). */
#define TIME_MAX 256

static const struct {
	const char *name;
	int status;
} exit_names[] = {
    {"EX_OK", EX_OK},
    {"EX_USAGE", EX_USAGE},
    {"EX_DATAERR", EX_DATAERR},
    {"EX_NOINPUT", EX_NOINPUT},
    {"EX_NOUSER", EX_NOUSER},
    {"EX_NOHOST", EX_NOHOST},
    {"EX_UNAVAILABLE", EX_UNAVAILABLE},
    {"EX_SOFTWARE", EX_SOFTWARE},
    {"EX_OSERR", EX_OSERR},
    {"EX_OSFILE", EX_OSFILE},
    {"EX_CANTCREAT", EX_CANTCREAT},
    {"EX_IOERR", EX_IOERR},
    {"EX_TEMPFAIL", EX_TEMPFAIL},
    {"EX_PROTOCOL", EX_PROTOCOL},
    {"EX_NOPERM", EX_NOPERM},
    {"EX_CONFIG", EX_CONFIG},
};

static const struct {
	const char *name;
	int facility;
} facilities[] = {
    {"LOG_USER", LOG_USER},     {"LOG_MAIL", LOG_MAIL},     {"LOG_LOCAL0", LOG_LOCAL0},
    {"LOG_LOCAL1", LOG_LOCAL1}, {"LOG_LOCAL2", LOG_LOCAL2}, {"LOG_LOCAL3", LOG_LOCAL3},
    {"LOG_LOCAL4", LOG_LOCAL4}, {"LOG_LOCAL5", LOG_LOCAL5}, {"LOG_LOCAL6", LOG_LOCAL6},
    {"LOG_LOCAL7", LOG_LOCAL7},
};

const char *
maillog_exit_name(int status)
{
	for (size_t i = 0; i < sizeof(exit_names) / sizeof(exit_names[0]); i++)
		if (exit_names[i].status == status)
			return exit_names[i].name;
	return NULL;
}

int
maillog_facility(const char *name, int *out, struct err *e)
{
	/* msmtp's default facility (the profile stores "syslog on" as LOG_USER already). */
	if (!name || !*name || strcasecmp(name, "on") == 0) {
		*out = LOG_USER;
		return 0;
	}
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(name, facilities[i].name) == 0) {
			*out = facilities[i].facility;
			return 0;
		}
	}
	return err_set(
	    e, ERR_CONFIG,
	    "log to syslog: unknown facility '%s'; use LOG_MAIL, LOG_USER or LOG_LOCAL0 to "
	    "LOG_LOCAL7",
	    name);
}

/* Which bytes a value may not hold as they are. */
enum { PLAIN = 0, QUOTED = 1, LISTED = 2 };

static bool
must_escape(unsigned char c, int how)
{
	if (c < 0x20 || c == 0x7f || c == '\\')
		return true;
	if (how == QUOTED)
		return c == '\'';
	/* Unquoted: a space would end the field; in the recipient list a comma the address. */
	return c == ' ' || (how == LISTED && c == ',');
}

/*
 * Append S escaped: at most MAILLOG_VALUE_MAX bytes of output, then "..." (a cut is always
 * shown). In a quoted value a line break (LF or CRLF) becomes one space: msmtp joins the
 * lines of a multi-line reply into one.
 */
static int
put_value(struct buf *out, const char *s, int how, struct err *e)
{
	char tmp[MAILLOG_VALUE_MAX + 8];
	size_t k = 0;

	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (k + 4 > MAILLOG_VALUE_MAX) {
			memcpy(tmp + k, "...", 3);
			k += 3;
			break;
		}
		if (how == QUOTED && (c == '\n' || (c == '\r' && s[i + 1] == '\n'))) {
			if (c == '\r')
				i++;
			tmp[k++] = ' ';
		} else if (must_escape(c, how)) {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = codec_hex_digit(c >> 4, false);
			tmp[k++] = codec_hex_digit(c, false);
		} else {
			tmp[k++] = (char)c;
		}
	}
	return buf_append(out, tmp, k, e);
}

static int
put_field(struct buf *out, const char *name, const char *value, int how, struct err *e)
{
	if (buf_printf(out, e, " %s=%s", name, how == QUOTED ? "'" : "") < 0)
		return -1;
	if (put_value(out, value, how, e) < 0)
		return -1;
	return how == QUOTED ? buf_puts(out, "'", e) : 0;
}

static int
put_time(struct buf *out, time_t when, const char *fmt, struct err *e)
{
	struct tm tm;
	char t[TIME_MAX];
	size_t n = 0;

	if (localtime_r(&when, &tm)) {
		/* The format is the profile's logfile_time_format, a strftime format by design. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		n = strftime(t, sizeof(t), *fmt ? fmt : MAILLOG_TIME_FORMAT, &tm);
#pragma GCC diagnostic pop
		/* Empty or too long: the default, so the line still says when. */
		if (n == 0)
			n = strftime(t, sizeof(t), MAILLOG_TIME_FORMAT, &tm);
	}
	if (n == 0)
		n = (size_t)snprintf(t, sizeof(t), "%lld", (long long)when);
	/* %n and %t, or control characters in the format, must not break the line. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			t[i] = ' ';
	if (buf_append(out, t, n, e) < 0)
		return -1;
	return buf_puts(out, " ", e);
}

int
maillog_format(const struct maillog_entry *m, const char *timefmt, struct buf *out, struct err *e)
{
	size_t start = out->len;

	if (timefmt && put_time(out, m->when, timefmt, e) < 0)
		return -1;
	/* msmtp's fields, in msmtp's order. The first has no space before it. */
	if (buf_puts(out, "host=", e) < 0 || put_value(out, m->host ? m->host : "", PLAIN, e) < 0)
		return -1;
	if (buf_printf(out, e, " tls=%s auth=%s", m->tls ? "on" : "off", m->auth ? "on" : "off") <
	    0)
		return -1;
	if (m->auth && m->user && put_field(out, "user", m->user, PLAIN, e) < 0)
		return -1;
	if (put_field(out, "from", m->from ? m->from : "", PLAIN, e) < 0)
		return -1;
	if (buf_puts(out, " recipients=", e) < 0)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (out->len - start > RCPTS_BUDGET) {
			if (buf_printf(out, e, "...(+%zu)", m->nrcpts - i) < 0)
				return -1;
			break;
		}
		if (i > 0 && buf_puts(out, ",", e) < 0)
			return -1;
		if (put_value(out, m->rcpts[i], LISTED, e) < 0)
			return -1;
	}
	if (m->mailsize >= 0 && buf_printf(out, e, " mailsize=%lld", m->mailsize) < 0)
		return -1;
	if (m->smtpstatus > 0 && buf_printf(out, e, " smtpstatus=%d", m->smtpstatus) < 0)
		return -1;
	if (m->smtpmsg && put_field(out, "smtpmsg", m->smtpmsg, QUOTED, e) < 0)
		return -1;
	if (m->errormsg && put_field(out, "errormsg", m->errormsg, QUOTED, e) < 0)
		return -1;
	const char *ex = maillog_exit_name(m->exitcode);
	if ((ex ? buf_printf(out, e, " exitcode=%s", ex)
	        : buf_printf(out, e, " exitcode=%d", m->exitcode)) < 0)
		return -1;
	/* postie's own fields, after msmtp's. */
	if (m->msgid && put_field(out, "msgid", m->msgid, PLAIN, e) < 0)
		return -1;
	if (m->port > 0 && buf_printf(out, e, " port=%d", m->port) < 0)
		return -1;
	if (m->queued && put_field(out, "queued", m->queued, PLAIN, e) < 0)
		return -1;
	return 0;
}

static void
to_logfile(const char *path, const char *line, size_t n)
{
	if (strcmp(path, "-") == 0) {
		/* Whatever stdio holds for standard output goes first. */
		fflush(stdout);
		/* Standard output may be a pipe, where a write can be short. */
		int err = io_write_all(STDOUT_FILENO, line, n);
		if (err)
			warn("write log to standard output: %s", strerror(err));
		return;
	}
	/* O_APPEND and a single write(2): concurrent postie runs never interleave their lines
	 * (POSIX: each write's data is appended at the end of the file, atomically). */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		warn("write log %s: %s; check `logfile` in the profile", path, strerror(errno));
		return;
	}
	ssize_t w;
	do
		w = write(fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		warn("write log %s: %s", path, strerror(errno));
	else if ((size_t)w != n)
		warn("write log %s: only %zd of %zu bytes written (disk full?)", path, w, n);
	if (close(fd) < 0)
		warn("write log %s: %s", path, strerror(errno));
}

static void
to_syslog(const char *facility_name, const char *line, int exitcode)
{
	struct err e;
	int facility;

	if (maillog_facility(facility_name, &facility, &e) < 0) {
		/* The line still goes out, where msmtp's default goes. */
		warn("%s; LOG_USER used", e.text);
		facility = LOG_USER;
	}
	openlog("postie", LOG_PID, facility);
	syslog((exitcode == 0 ? LOG_INFO : LOG_ERR) | facility, "%s", line);
	closelog();
}

void
maillog_record(const struct account *a, const struct maillog_entry *m)
{
	struct buf line;
	struct err e;

	if (!a || (!a->logfile && !a->syslog))
		return;
	buf_init(&line, MAILLOG_LINE_MAX);
	if (a->logfile) {
		const char *fmt =
		    a->logfile_time_format ? a->logfile_time_format : MAILLOG_TIME_FORMAT;
		if (maillog_format(m, fmt, &line, &e) < 0 || buf_puts(&line, "\n", &e) < 0)
			warn("write log %s: %s", a->logfile, e.text);
		else
			to_logfile(a->logfile, line.data, line.len);
	}
	/* "syslog off" is normally NULL already; a literal "off" must not log either. */
	if (a->syslog && strcasecmp(a->syslog, "off") != 0) {
		buf_reset(&line);
		if (maillog_format(m, NULL, &line, &e) < 0)
			warn("log to syslog: %s", e.text);
		else
			to_syslog(a->syslog, line.data, m->exitcode);
	}
	buf_fini(&line);
}
