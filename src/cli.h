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
	enum cli_mode { CLI_SEND = 0, CLI_FLUSH, CLI_LIST } mode; /* -bm; -q / --flush; -bp */
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
