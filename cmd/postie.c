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
#include "about.h"
#include "cli.h"
#include "err.h"
#include "log.h"
#include "priv.h"
#include "deliver.h"
#include "doctor.h"
#include "flush.h"
#include "serve.h"
#include "show.h"

int
main(int argc, char **argv)
{
	struct opts o;
	struct err e;

	err_clear(&e);
	/* SEC-45: a setgid postie gives its group up before it reads anything of the caller's. */
	if (priv_init(&e) < 0) {
		err_print(&e);
		return err_exit_status(e.kind);
	}
	/* SEC-39: a closed connection is an error to report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (cli_parse(&o, argc, (const char *const *)argv, &e) < 0) {
		err_print(&e);
		return err_exit_status(e.kind);
	}
	if (o.help) {
		cli_usage(stdout);
		cli_fini(&o);
		return EX_OK;
	}
	if (o.version) {
		about_print(stdout);
		cli_fini(&o);
		return EX_OK;
	}
	log_set_verbose(o.verbose);
	if (o.ignored)
		log_info("ignored for sendmail compatibility: %s", o.ignored);
	/* cli_parse set the mode from the name first (mailq, newaliases), then from the flags. */
	int rc;
	switch (o.mode) {
	case CLI_FLUSH:
		rc = flush_run(&o, &e);
		break;
	case CLI_LIST:
		rc = show_list(&o, &e);
		break;
	case CLI_SERVE:
		rc = serve_run(&o, &e);
		break;
	case CLI_VERIFY:
		rc = show_verify(&o, &e);
		break;
	case CLI_PRETEND:
		rc = show_pretend(&o, &e);
		break;
	case CLI_SERVERINFO:
		rc = show_serverinfo(&o, &e);
		break;
	case CLI_CHECK:
		/* The report on standard output has said what failed: only the status is left. */
		rc = doctor_run(&o, stdout, &e);
		if (rc < 0) {
			cli_fini(&o);
			return err_exit_status(e.kind);
		}
		break;
	case CLI_QUEUE_DELETE:
	case CLI_QUEUE_RETRY:
		rc = flush_admin(&o, &e);
		break;
	/* newaliases, -bi, -I: postie keeps no alias database (the profile's aliases file is
	 * read as it is), so there is nothing to rebuild; say nothing, as Postfix does. */
	case CLI_NEWALIASES:
		rc = 0;
		break;
	case CLI_SEND:
	default:
		rc = deliver_run(&o, STDIN_FILENO, &e);
		break;
	}
	cli_fini(&o);
	if (rc < 0) {
		err_print(&e);
		return err_exit_status(e.kind);
	}
	return EX_OK;
}
