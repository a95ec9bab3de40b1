/*
 * cli: the command line (popt) into struct opts: every flag of Postfix's sendmail(1), which
 * is what cron, mail(1), PHP, git send-email and sudo are written against, and msmtp's long
 * options. Flags postie cannot honour are either ignored (when ignoring them changes nothing
 * a caller relies on) or refused with the reason; man/postie.1.scd has the full table.
 */
#ifndef POSTIE_CLI_H
#define POSTIE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "err.h"

struct opts {
	bool read_rcpts;  /* -t */
	char *sender;     /* -f / -r / --from ADDR, NULL: the account's from; "" (from -f '<>'
	                     or -f '') is the null reverse-path */
	char *fullname;   /* -F NAME */
	bool ignore_dots; /* -i / -oi: a line of "." does not end the message */
	char *account;    /* -a / --account */
	char *profile;    /* -C / --file: replaces the user profile */
	bool verbose;     /* -v / -vv / -d / --debug */
	bool version;     /* --version */
	bool help;        /* --help */
	/* -bm; -q / --flush; -bp; -bs; -bv; -bi (newaliases); --pretend; --serverinfo */
	enum cli_mode {
		CLI_SEND = 0,
		CLI_FLUSH,
		CLI_LIST,
		CLI_SERVE,
		CLI_VERIFY,
		CLI_NEWALIASES,
		CLI_PRETEND,
		CLI_SERVERINFO,
		CLI_CHECK,        /* --check: walk a send's path, send nothing (doctor.h) */
		CLI_QUEUE_DELETE, /* --queue-delete ID...: the operands are queue ids */
		CLI_QUEUE_RETRY,  /* --queue-retry ID...: likewise */
	} mode;
	/* -N / --dsn-notify: NULL, "NEVER" or a list of SUCCESS,FAILURE,DELAY (upper case, in
	 * that order). msmtp's "off" leaves it NULL and adds the override dsn_notify=off, so a
	 * profile's dsn_notify is switched off too; -R likewise with dsn_return. */
	char *dsn_notify;
	char *dsn_ret;           /* -R / --dsn-return: NULL, "FULL" or "HDRS" */
	char *envid;             /* -V: the DSN envelope id (RFC 3461 ENVID), NULL: none */
	int body;                /* -B: 0 not given, 7 (7BIT), 8 (8BITMIME) */
	bool read_envelope_from; /* --read-envelope-from: the envelope sender from From */
	bool serving;            /* set by -bs for each message it delivers: a message kept in the
	                            queue counts as taken even after a verdict out of step (SEC-36),
	                            so the SMTP caller, told 250, does not send it twice */
	/* msmtp's long options for profile commands (--host=H, --port=N, --tls=on, ...), in the
	 * order given: applied over the chosen account with profile_apply (NAME is the profile
	 * command: the flag with '-' as '_'). A flag given without its optional value has "on";
	 * --keepbcc[=on|off] is stored as remove_bcc_headers with the value inverted. */
	struct cli_override {
		char *name;
		char *value;
	} * overrides;
	size_t noverrides;
	char *ignored;    /* the flags accepted and ignored, space separated, control characters
	                     shown as '?', for one log_info line under -v; NULL: none */
	char *queue_rcpt; /* -qR: only entries with a recipient containing this */
	char *queue_id;   /* -qI: only entries whose id contains this */
	char **rcpts;     /* operands, owned (queue ids for --queue-delete, --queue-retry) */
	size_t nrcpts;
};

/*
 * Parse ARGV. The mode starts from the program's name (cli_name on argv[0]); flags change it
 * ("mailq -bm" sends). Options stop at the first operand and at "--" (SEC-21); an msmtp long
 * option with an optional value takes it only as --name=value, never from the next argument.
 * -X is accepted and ignored with one warning on stderr: no file is ever opened for it
 * (CVE-2016-10033). Errors are ERR_USAGE naming the flag: unknown flags, bad -N/-R/-V/-B/-b
 * values, refused modes (-bd, -bl, -bh, -bH), and recipients in a mode that takes none. On
 * success O owns copies of every string; on failure O is left empty.
 */
int cli_parse(struct opts *o, int argc, const char *const *argv, struct err *e);

/*
 * Set the mode from the program's name (any directory part is ignored): "mailq" lists the
 * queue, "newaliases" is CLI_NEWALIASES; "sendmail", "send-mail", "postie" and anything
 * else leave the mode alone.
 */
void cli_name(struct opts *o, const char *argv0);

/* Free what cli_parse allocated. O is left empty. */
void cli_fini(struct opts *o);

/* Print the usage text to F. */
void cli_usage(FILE *f);

#endif
