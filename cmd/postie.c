/*
 * postie: a sendmail-compatible mail submission client. This file knows about the process:
 * argv, signals and the exit status; the work is in src/.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "cli.h"
#include "err.h"
#include "log.h"
#include "submit.h"

int
main(int argc, char **argv)
{
	struct opts o;
	struct err e;

	err_clear(&e);
	/* SEC-39: a closed connection is an error to report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (cli_parse(&o, argc, (const char **)argv, &e) < 0) {
		err_print(&e);
		return err_exit_status(e.kind);
	}
	if (o.help) {
		cli_usage(stdout);
		cli_fini(&o);
		return EX_OK;
	}
	if (o.version) {
		printf("postie %s\n", POSTIE_VERSION);
		cli_fini(&o);
		return EX_OK;
	}
	log_set_verbose(o.verbose);
	cli_name(&o, argv[0]);
	int rc;
	switch (o.mode) {
	case CLI_FLUSH: rc = submit_flush(&o, &e); break;
	case CLI_LIST: rc = submit_list(&o, &e); break;
	default: rc = submit_run(&o, STDIN_FILENO, &e); break;
	}
	cli_fini(&o);
	if (rc < 0) {
		err_print(&e);
		return err_exit_status(e.kind);
	}
	return EX_OK;
}
