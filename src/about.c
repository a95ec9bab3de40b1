/*
 * about: the --version text. One "name: value" line each, so a bug report can quote it and
 * a script can grep it.
 */
#include "about.h"

#include <gnutls/gnutls.h>
#include <idn2.h>
#include <stdlib.h>

#include "config.h"
#include "io.h"

/* "WHAT: PATH ($VARIABLE/TAIL)", PATH as this environment makes it (not created). */
static void
xdg_line(FILE *out, const char *what, enum io_xdg which, const char *var, const char *tail)
{
	char *path = io_xdg_path(which, tail, 0);
	fprintf(out, "%s: %s (%s/%s)\n", what, path ? path : "none: no home folder", var, tail);
	free(path);
}

void
about_print(FILE *out)
{
	fprintf(out, "postie %s\n", POSTIE_VERSION);
	fprintf(out, "GnuTLS: %s (built with %s)\n", gnutls_check_version(NULL), GNUTLS_VERSION);
	fprintf(out, "libidn2: %s (built with %s)\n", idn2_check_version(NULL), IDN2_VERSION);
	/* popt does not say its version at run time. */
	fprintf(out, "popt: %s (built with)\n", POSTIE_POPT_VERSION);
	fprintf(out, "system profile: %s\n", POSTIE_SYSCONFIG);
	xdg_line(out, "user profile", IO_XDG_CONFIG, "$XDG_CONFIG_HOME", "postie/config");
	xdg_line(out, "queue", IO_XDG_STATE, "$XDG_STATE_HOME", "postie/queue");
	xdg_line(out, "TLS session cache", IO_XDG_CACHE, "$XDG_CACHE_HOME", "postie/tls");
	xdg_line(out, "servers reached", IO_XDG_STATE, "$XDG_STATE_HOME", "postie/reached");
#ifdef POSTIE_SYSTEM_GROUP
	fprintf(out, "setgid group: %s (system queue %s)\n", POSTIE_SYSTEM_GROUP,
	        POSTIE_SYSTEM_SPOOL);
#else
	fprintf(out, "setgid group: none (built without -Dsystem-group)\n");
#endif
	fprintf(out, "TLS: TLS 1.2 and 1.3, implicit (465) and STARTTLS (587), certificates "
	             "verified, pins (SHA-256), client certificates, session resumption\n");
	fprintf(out, "IDN: IDNA2008 host names (libidn2), SMTPUTF8 addresses\n");
	fprintf(out, "SASL: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, "
	             "PLAIN, LOGIN, CRAM-MD5, OAUTHBEARER, XOAUTH2, EXTERNAL\n");
	fprintf(out, "passwords: profile, passwordeval, netrc, systemd credentials, keyring "
	             "(secret-tool, when on PATH), OAuth 2.0 token command, prompt\n");
	fprintf(out, "SMTP: PIPELINING, CHUNKING, SIZE, 8BITMIME, DSN, SMTPUTF8, LMTP, SOCKS5 "
	             "proxy, local socket, queue\n");
}
