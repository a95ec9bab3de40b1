/* cli: the command line (popt) into struct opts. Only sendmail's and msmtp's flags. */
#ifndef POSTIE_CLI_H
#define POSTIE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "err.h"

struct opts {
	bool read_rcpts;     /* -t */
	char *sender;        /* -f / -r ADDR, NULL: the account's from */
	char *fullname;      /* -F NAME */
	bool ignore_dots;    /* -i / -oi: a line of "." does not end the message */
	char *account;       /* -a / --account */
	char *profile;       /* -C / --file: replaces the user profile */
	bool verbose;        /* -v / -d / --debug */
	bool version;        /* --version */
	bool help;           /* --help */
	/* -bm; -q / --flush; -bp; -bs; -bv; -bi (newaliases); --pretend; --serverinfo */
	enum cli_mode {
		CLI_SEND = 0, CLI_FLUSH, CLI_LIST, CLI_SERVE, CLI_VERIFY, CLI_NEWALIASES,
		CLI_PRETEND, CLI_SERVERINFO,
	} mode;
	char *dsn_notify;    /* -N: NULL, "NEVER" or a list of SUCCESS,FAILURE,DELAY (upper case) */
	char *dsn_ret;       /* -R: NULL, "FULL" or "HDRS" */
	char *envid;         /* -V: the DSN envelope id (RFC 3461 ENVID), NULL: none */
	int body;            /* -B: 0 not given, 7 (7BIT), 8 (8BITMIME) */
	bool read_envelope_from; /* --read-envelope-from: the envelope sender from From */
	/* msmtp's long options for profile commands (--host=H, --port=N, --tls=on, ...), in the
	 * order given: applied over the chosen account with profile_apply (NAME is the profile
	 * command). */
	struct cli_override { char *name; char *value; } *overrides;
	size_t noverrides;
	char *queue_rcpt;    /* -qR: only entries with a recipient containing this */
	char *queue_id;      /* -qI: only entries whose id contains this */
	char **rcpts;        /* operands, owned */
	size_t nrcpts;
};

/*
 * Parse ARGV. Options stop at the first operand and at "--" (SEC-21). Errors are ERR_USAGE
 * naming the flag. On success O owns copies of every string.
 */
int cli_parse(struct opts *o, int argc, const char **argv, struct err *e);

/* Set the mode from the program's name: "mailq" lists the queue. */
void cli_name(struct opts *o, const char *argv0);

/* Free what cli_parse allocated. */
void cli_fini(struct opts *o);

/* Print the usage text to F. */
void cli_usage(FILE *f);

#endif
