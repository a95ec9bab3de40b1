/*
 * maillog: one line per delivery attempt in the account's logfile and/or syslog, in msmtp's
 * format (msmtp(1), "Logging"), so tools that read msmtp's log read postie's:
 *
 *   TIME host=H tls=on|off auth=on|off [user=U] from=F recipients=A,B [mailsize=N]
 *        [smtpstatus=NNN] [smtpmsg='...'] [errormsg='...'] exitcode=EX_...
 *        [msgid=<...>] [port=N] [queued=ID]
 *
 * msmtp's fields come first, in msmtp's order; postie's additions (msgid, port, queued) come
 * after exitcode. TIME is there only in the logfile. Never a password or any AUTH data
 * (SEC-13, SEC-16): the entry has no field that could hold one.
 */
#ifndef POSTIE_MAILLOG_H
#define POSTIE_MAILLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "err.h"
#include "profile.h"

/* The default of logfile_time_format, msmtp's. */
#define MAILLOG_TIME_FORMAT "%b %d %H:%M:%S"
/* A whole log line, at most (recipients beyond it are counted, not listed). */
#define MAILLOG_LINE_MAX (32 * 1024)
/* One value (smtpmsg, errormsg, an address), at most; longer ones end in "...". */
#define MAILLOG_VALUE_MAX 1024

/* What happened to one message. Strings are not owned; NULL leaves the field out. */
struct maillog_entry {
	time_t when;        /* the time of the logfile line (injectable for tests) */
	const char *host;   /* the server (account host) */
	int port;           /* the port used; 0: unknown (left out) */
	bool tls;           /* the session ran over TLS */
	bool auth;          /* the session authenticated */
	const char *user;   /* the user name; written only with auth, as msmtp does */
	const char *from;   /* the envelope sender; "" is the null sender (written "") */
	char *const *rcpts; /* the envelope recipients */
	size_t nrcpts;
	long long mailsize;   /* bytes of the message as sent; < 0: unknown (left out) */
	int smtpstatus;       /* the server's final reply code; 0: none (left out) */
	const char *smtpmsg;  /* that reply's text, code included ("250 2.0.0 Ok"); lines
	                         joined by '\n' become one line */
	const char *errormsg; /* postie's error text on failure, else NULL */
	int exitcode;         /* the sysexits.h status of the attempt: 0 is EX_OK */
	const char *msgid;    /* the Message-ID, with its angle brackets, or NULL */
	const char *queued;   /* the queue id when the message was queued, or NULL */
};

/*
 * Write M's line where account A says: its logfile (appended with one write(2), created mode
 * 0600; "-" is standard output) with the time in front (A->logfile_time_format, else
 * MAILLOG_TIME_FORMAT, local time), and/or syslog (ident "postie", LOG_PID, the facility of
 * A->syslog; LOG_INFO when M->exitcode is 0, else LOG_ERR). Does nothing when A has
 * neither. Never fails the delivery: a log that cannot be written is a warning on stderr.
 */
void maillog_record(const struct account *a, const struct maillog_entry *m);

/*
 * Format M's line (no line end) into OUT, after what OUT holds. With TIMEFMT (strftime(3)),
 * the time of M->when in local time and a space come first. Control characters in values
 * are written \xHH (and spaces in unquoted values, and "'" in quoted ones, so a line
 * always splits back into its fields). ERR_DATA only if OUT's ceiling is too small.
 */
int maillog_format(const struct maillog_entry *m, const char *timefmt, struct buf *out,
                   struct err *e);

/*
 * The syslog facility named NAME into *OUT: LOG_USER, LOG_MAIL, LOG_LOCAL0 .. LOG_LOCAL7
 * (as msmtp names them; any case); "on" or "" is msmtp's default, LOG_USER. -1 with
 * ERR_CONFIG naming the choices for anything else (for the profile's check of `syslog`).
 */
int maillog_facility(const char *name, int *out, struct err *e);

/* The sysexits.h name of STATUS ("EX_OK", "EX_TEMPFAIL", ...), or NULL when it has none. */
const char *maillog_exit_name(int status);

#endif
