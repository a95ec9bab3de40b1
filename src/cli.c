/*
 * cli: sendmail's command line through popt. POPT_CONTEXT_POSIXMEHARDER stops option
 * parsing at the first operand, so a recipient can never be taken for a flag (SEC-21).
 */
#include "cli.h"

#include <popt.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_T = 1,
	OPT_F_SENDER,
	OPT_F_NAME,
	OPT_I,
	OPT_O,
	OPT_ACCOUNT,
	OPT_FILE,
	OPT_VERBOSE,
	OPT_VERSION,
	OPT_HELP,
	OPT_QUEUE,
	OPT_FLUSH,
	OPT_MODE,
};

static const struct poptOption table[] = {
	/* sendmail flags */
	{"read-recipients", 't', POPT_ARG_NONE, NULL, OPT_T,
		"take recipients from To, Cc and Bcc too (Bcc is removed)", NULL},
	{NULL, 'f', POPT_ARG_STRING, NULL, OPT_F_SENDER, "envelope sender", "ADDR"},
	{NULL, 'r', POPT_ARG_STRING, NULL, OPT_F_SENDER, "envelope sender (old name of -f)", "ADDR"},
	{NULL, 'F', POPT_ARG_STRING, NULL, OPT_F_NAME, "full name for an added From", "NAME"},
	{NULL, 'i', POPT_ARG_NONE, NULL, OPT_I, "a line of '.' does not end the message", NULL},
	/* -oX: only -oi so far (same as -i); the other -o options come with the drop-in work. */
	{NULL, 'o', POPT_ARG_STRING, NULL, OPT_O, "sendmail option (-oi)", "OPT"},
	/* -q[R|I|S][substring] or -q<interval>: deliver the queue now (postie has no daemon, so an
	 * interval means the same). */
	{NULL, 'q', POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL, NULL, OPT_QUEUE,
		"deliver the queue now (-qRsubstr: recipients, -qIsubstr: ids)", "[R|I]SUBSTR"},
	/* -bm: deliver a message (the default); -bp: list the queue (mailq). */
	{NULL, 'b', POPT_ARG_STRING, NULL, OPT_MODE, "mode: m (send), p (list the queue)", "MODE"},
	/* msmtp's and postie's own */
	{"flush", '\0', POPT_ARG_NONE, NULL, OPT_FLUSH, "deliver the queue now (same as -q)", NULL},
	{"account", 'a', POPT_ARG_STRING, NULL, OPT_ACCOUNT, "use this account", "NAME"},
	{"file", 'C', POPT_ARG_STRING, NULL, OPT_FILE, "profile file instead of the user's",
		"FILE"},
	{"verbose", 'v', POPT_ARG_NONE, NULL, OPT_VERBOSE, "show the SMTP session", NULL},
	{"debug", 'd', POPT_ARG_NONE, NULL, OPT_VERBOSE, "same as -v", NULL},
	{"version", '\0', POPT_ARG_NONE, NULL, OPT_VERSION, "print the version", NULL},
	{"help", '\0', POPT_ARG_NONE, NULL, OPT_HELP, "print this help", NULL},
	POPT_TABLEEND,
};

static void
replace(char **slot, const char *arg)
{
	free(*slot);
	*slot = xstrdup(arg ? arg : "");
}

int
cli_parse(struct opts *o, int argc, const char **argv, struct err *e)
{
	memset(o, 0, sizeof(*o));
	poptContext pc = poptGetContext("postie", argc, argv, table, POPT_CONTEXT_POSIXMEHARDER);
	int rc;
	while ((rc = poptGetNextOpt(pc)) > 0) {
		const char *arg = poptGetOptArg(pc);
		switch (rc) {
		case OPT_T: o->read_rcpts = true; break;
		case OPT_F_SENDER: replace(&o->sender, arg); break;
		case OPT_F_NAME: replace(&o->fullname, arg); break;
		case OPT_I: o->ignore_dots = true; break;
		case OPT_O:
			if (!arg || strcmp(arg, "i") != 0) {
				err_set(e, ERR_USAGE, "parse flags: -o%s is not supported yet",
					arg ? arg : "");
				free((void *)arg);
				poptFreeContext(pc);
				cli_fini(o);
				return -1;
			}
			o->ignore_dots = true;
			break;
		case OPT_ACCOUNT: replace(&o->account, arg); break;
		case OPT_FILE: replace(&o->profile, arg); break;
		case OPT_VERBOSE: o->verbose = true; break;
		case OPT_VERSION: o->version = true; break;
		case OPT_HELP: o->help = true; break;
		case OPT_FLUSH: o->mode = CLI_FLUSH; break;
		case OPT_QUEUE:
			o->mode = CLI_FLUSH;
			if (arg && (arg[0] == 'R' || arg[0] == 'I') && arg[1]) {
				replace(arg[0] == 'R' ? &o->queue_rcpt : &o->queue_id, arg + 1);
			} else if (arg && arg[0] && !(arg[0] >= '0' && arg[0] <= '9')) {
				err_set(e, ERR_USAGE, "parse flags: -q%s: expected -q, -qRSUBSTR, "
					"-qISUBSTR or -qINTERVAL", arg);
				free((void *)arg);
				poptFreeContext(pc);
				cli_fini(o);
				return -1;
			}
			break;
		case OPT_MODE:
			if (arg && strcmp(arg, "m") == 0) {
				o->mode = CLI_SEND;
			} else if (arg && strcmp(arg, "p") == 0) {
				o->mode = CLI_LIST;
			} else {
				err_set(e, ERR_USAGE, "parse flags: -b%s is not supported yet (-bm, -bp)",
					arg ? arg : "");
				free((void *)arg);
				poptFreeContext(pc);
				cli_fini(o);
				return -1;
			}
			break;
		}
		free((void *)arg);
	}
	if (rc < -1) {
		err_set(e, ERR_USAGE, "parse flags: %s: %s; see postie --help",
			poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc));
		poptFreeContext(pc);
		cli_fini(o);
		return -1;
	}
	const char **rest = poptGetArgs(pc);
	size_t n = 0;
	while (rest && rest[n])
		n++;
	o->rcpts = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		o->rcpts[i] = xstrdup(rest[i]);
	o->nrcpts = n;
	poptFreeContext(pc);
	return 0;
}

void
cli_name(struct opts *o, const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		o->mode = CLI_LIST;
}

void
cli_fini(struct opts *o)
{
	free(o->queue_rcpt);
	free(o->queue_id);
	free(o->sender);
	free(o->fullname);
	free(o->account);
	free(o->profile);
	for (size_t i = 0; i < o->nrcpts; i++)
		free(o->rcpts[i]);
	free(o->rcpts);
	memset(o, 0, sizeof(*o));
}

void
cli_usage(FILE *f)
{
	fputs("Usage: postie [flags] [--] recipient...\n"
	      "Reads a message on standard input and submits it to the account's server.\n"
	      "\n"
	      "  -t                 recipients from To, Cc and Bcc too (Bcc is removed)\n"
	      "  -f ADDR, -r ADDR   envelope sender (default: the account's from)\n"
	      "  -F NAME            full name for an added From header\n"
	      "  -i, -oi            a line holding only '.' does not end the message\n"
	      "  -a, --account=NAME use this account of the profile\n"
	      "  -C, --file=FILE    read this profile instead of ~/.config/postie/config\n"
	      "  -v, -d, --debug    show the SMTP session on stderr (secrets redacted)\n"
	      "  -q, --flush        deliver the queue now (-qRsubstr, -qIsubstr select)\n"
	      "  -bp                list the queue (also as mailq)\n"
	      "      --version      print the version\n"
	      "      --help         print this help\n"
	      "\n"
	      "Exit status: 0 delivered or queued; 75 try again later; see postie(1).\n",
		f);
}
