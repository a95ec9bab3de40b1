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
	char **rcpts;        /* operands, owned */
	size_t nrcpts;
};

/*
 * Parse ARGV. Options stop at the first operand and at "--" (SEC-21). Errors are ERR_USAGE
 * naming the flag. On success O owns copies of every string.
 */
int cli_parse(struct opts *o, int argc, const char **argv, struct err *e);

/* Free what cli_parse allocated. */
void cli_fini(struct opts *o);

/* Print the usage text to F. */
void cli_usage(FILE *f);

#endif
