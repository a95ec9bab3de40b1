/*
 * show: the modes that stop short of sending. mailq (the queue listed), -bv (the
 * recipients as they would go), --pretend (the account's settings) and --serverinfo (what
 * the server offers, looked at as a session would, without logging in).
 */
#include "show.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "codec.h"
#include "deliver.h"
#include "dkim.h"
#include "flush.h"
#include "profile.h"
#include "queue.h"
#include "session.h"
#include "smtp.h"
#include "tls.h"

int
show_list(const struct opts *o, struct err *e)
{
	struct profile prof = {0};
	struct queue q;

	if (profile_load(&prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	const struct account *a = profile_find(&prof, o->account ? o->account : "default");
	struct account none = {.queue = true};
	int rc = 0;
	if (!flush_open_queue(&q, a ? a : &none, false))
		rc = err_set(e, ERR_OS, "list queue: the queue cannot be opened");
	else {
		rc = queue_list(&q, stdout, e);
		queue_close(&q);
	}
	profile_fini(&prof);
	return rc;
}

/* The account O names (or -f's, or the default), with the command line's settings. */
static int
setup_only(struct delivery *d, struct err *e)
{
	if (d->o->sender) {
		d->claimed = xstrdup(d->o->sender);
		d->claimed_kind = ERR_USAGE;
	}
	return deliver_load_account(d, e);
}

int
show_verify(const struct opts *o, struct err *e)
{
	struct delivery d;

	deliver_init(&d, o);
	int rc = setup_only(&d, e);
	/* -t: the recipients of the header on standard input (nothing else is read). */
	if (rc == 0 && o->read_rcpts)
		rc = msg_read_header(&d.msg, STDIN_FILENO, e);
	if (rc == 0)
		rc = deliver_collect_recipients(&d, e);
	for (size_t i = 0; rc == 0 && i < d.rcpts.n; i++)
		printf("%s\n", d.rcpts.v[i]);
	if (rc == 0 && fflush(stdout) != 0)
		rc = err_set(e, ERR_OS, "write recipients: %s", strerror(errno));
	deliver_fini(&d);
	return rc;
}

static void
put(const char *key, const char *value)
{
	printf("%s = %s\n", key, value && *value ? value : "(not set)");
}

static const char *
on_off(bool b)
{
	return b ? "on" : "off";
}

static const char *
hdr_mode(int v)
{
	return v == PROFILE_HDR_ON ? "on" : v == PROFILE_HDR_OFF ? "off" : "auto";
}

/* What the profile holds for this secret: never the secret or the command (a command can
 * carry one: `passwordeval echo hunter2`). */
static const char *
hidden(const char *s)
{
	return s ? "*" : NULL;
}

/* The settings of where and how the account connects, as -P prints them (PORTS: the
 * port list as text). */
static void
put_connection(const struct account *a, const char *ports)
{
	char num[32];

	put("account", a->name);
	printf("file = %s:%u\n", a->file, a->line);
	put("host", a->host);
	put("port", ports);
	put("socket", a->socket);
	put("source_ip", a->source_ip);
	/* postie's own (msmtp has none): a line only when set, so msmtp's lines stay as they are.
	 */
	if (a->ip_family)
		put("ip_family", a->ip_family == 4 ? "4" : "6");
	put("proxy_host", a->proxy_host);
	snprintf(num, sizeof(num), "%d", a->proxy_port ? a->proxy_port : 1080);
	put("proxy_port", a->proxy_host ? num : NULL);
	snprintf(num, sizeof(num), "%d", a->timeout);
	put("timeout", a->timeout ? num : "off");
	put("protocol", a->lmtp ? "lmtp" : "smtp");
	put("domain", a->domain);
	put("auth", !a->auth ? "off" : a->auth_mech ? a->auth_mech : "on");
	put("user", a->user);
	/* "*" only for a password the profile gives (written, a command's or a file's): an
	 * account with none, or that logs in with an OAuth token command, has none to hide. */
	put("password",
	    (a->password || a->passwordeval || a->password_file) && !a->oauth2_token_command
	        ? "*"
	        : NULL);
	put("passwordeval", hidden(a->passwordeval));
	put("password_file", a->password_file);
	put("oauth2_token_command", hidden(a->oauth2_token_command));
	put("tls", on_off(a->tls));
	put("tls_starttls", on_off(a->tls_starttls));
	put("tls_trust_file", a->tls_trust_file ? a->tls_trust_file : "system");
	put("tls_crl_file", a->tls_crl_file);
	if (a->tls_pin_spki) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, NULL, "sha256//%s", a->tls_pin_spki);
		put("tls_fingerprint", b.data);
		buf_fini(&b);
	} else {
		put("tls_fingerprint", a->tls_fingerprint);
	}
	put("tls_key_file", a->tls_key_file);
	put("tls_cert_file", a->tls_cert_file);
	put("tls_certcheck", on_off(a->tls_certcheck));
	put("tls_priorities", a->tls_priorities);
	put("tls_host_override", a->tls_host_override);
	put("tls_min_version", a->tls_min_version == 13 ? "1.3" : "1.2");
}

/* The settings of the envelope, the header, DSN, logs and the queue, as -P prints them
 * (SENDER as deliver_choose_sender made it, or NULL; QDIR the default queue directory). */
static void
put_message(const struct opts *o, const struct account *a, const char *sender, const char *qdir)
{
	char num[32];

	put("from", sender ? (*sender ? sender : "<>") : NULL);
	put("auto_from", on_off(a->auto_from));
	put("maildomain", a->maildomain);
	put("allow_from_override", on_off(a->allow_from_override));
	put("from_full_name", a->from_full_name);
	put("set_from_header", hdr_mode(a->set_from_header));
	put("set_date_header", hdr_mode(a->set_date_header));
	put("set_msgid_header", hdr_mode(a->set_msgid_header));
	put("remove_bcc_headers", on_off(a->remove_bcc_headers));
	put("undisclosed_recipients", on_off(a->undisclosed_recipients));
	put("dsn_notify", o->dsn_notify ? o->dsn_notify : a->dsn_notify);
	put("dsn_return", o->dsn_ret ? o->dsn_ret : a->dsn_return);
	put("logfile", a->logfile);
	put("logfile_time_format", a->logfile_time_format);
	put("syslog", a->syslog);
	put("aliases", a->aliases);
	put("queue", on_off(a->queue));
	put("queue_dir", a->queue_dir ? a->queue_dir : qdir);
	snprintf(num, sizeof(num), "%d",
	         a->queue_lifetime ? a->queue_lifetime : QUEUE_LIFETIME_DEFAULT);
	put("queue_lifetime", num);
	/* postie's own (msmtp does not sign): lines only for an account that signs. */
	if (a->dkim_key) {
		put("dkim_key", a->dkim_key);
		put("dkim_selector", a->dkim_selector);
		put("dkim_domain", a->dkim_domain ? a->dkim_domain : "(the From field's domain)");
		put("dkim_headers", a->dkim_headers ? a->dkim_headers : DKIM_HEADERS_DEFAULT);
	}
}

int
show_pretend(const struct opts *o, struct err *e)
{
	struct delivery d;

	deliver_init(&d, o);
	int rc = setup_only(&d, e);
	const struct account *a = d.acct;
	/* The envelope sender as a run would choose it; none is not an error here. */
	if (rc == 0 && (a->from || a->auto_from || d.claimed))
		rc = deliver_choose_sender(&d, e);
	if (rc < 0) {
		deliver_fini(&d);
		return -1;
	}
	int ports[PROFILE_MAX_PORTS];
	int np = profile_ports(a, ports);
	struct buf b;
	buf_init(&b, 4096);
	for (int i = 0; i < np; i++)
		buf_printf(&b, NULL, "%s%d", i ? " " : "", ports[i]);
	char *qdir = a->queue_dir            ? NULL
	             : flush_system_queue(a) ? xstrdup(POSTIE_SYSTEM_SPOOL)
	                                     : queue_default_dir();

	put_connection(a, b.data);
	put_message(o, a, d.sender, qdir);
	buf_fini(&b);
	free(qdir);
	if (fflush(stdout) != 0)
		rc = err_set(e, ERR_OS, "write settings: %s", strerror(errno));
	deliver_fini(&d);
	return rc;
}

/* Each line of TEXT (lines joined by '\n') as "INDENT LABEL line". */
static void
put_lines(FILE *out, const char *indent, const char *label, const char *text, size_t n)
{
	const char *p = text ? text : "";
	const char *end = p + n;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);
		fprintf(out, "%s%s", indent, label);
		codec_put_printable(out, p, k, "\\");
		putc('\n', out);
		p += k + (nl ? 1 : 0);
	} while (p < end);
}

/* What the TLS layer tells of the session (tls_print_info), indented under "TLS:". */
static void
put_tls(FILE *out, struct tls *t)
{
	char *text = NULL;
	size_t len = 0;
	struct err ignore;
	FILE *m = open_memstream(&text, &len);

	fputs("  TLS:\n", out);
	if (!m)
		return;
	tls_print_info(t, m, &ignore);
	fclose(m);
	/* tls_print_info already shows certificate text safely (\xNN). */
	if (len && text[len - 1] == '\n')
		len--;
	if (len)
		put_lines(out, "    ", "", text, len);
	free(text);
}

/* The EHLO capabilities as postie understood them (SEC-35), then any other keyword. */
static void
put_caps(FILE *out, const struct smtp_caps *c, const struct buf *ehlo, const char *when)
{
	const char *p = ehlo->data ? ehlo->data : "";
	const char *end = p + ehlo->len;
	const char *nl = memchr(p, '\n', ehlo->len);

	fprintf(out, "  Capabilities%s:\n", when);
	put_lines(out, "    ", "Server name: ", p, nl ? (size_t)(nl - p) : ehlo->len);
	if (!(c->bits & SMTP_CAP_SIZE))
		fputs("    SIZE: not offered\n", out);
	else if (c->size == 0)
		fputs("    SIZE: offered, no limit given\n", out);
	else if (c->size == (unsigned long)-1)
		fputs("    SIZE: offered, a limit too large to matter\n", out);
	else
		fprintf(out, "    SIZE: %lu bytes (%.1f MiB)\n", c->size,
		        (double)c->size / (1024.0 * 1024.0));
	unsigned bit;
	for (size_t i = 0; smtp_caps_flag(i, &bit); i++)
		fprintf(out, "    %s: %s\n", smtp_caps_flag(i, &bit),
		        (c->bits & bit) ? "yes" : "no");
	fprintf(out, "    AUTH: %s\n",
	        (c->bits & SMTP_CAP_AUTH) ? (c->auth[0] ? c->auth : "offered, no mechanisms named")
	                                  : "not offered");
	while (nl) {
		p = nl + 1;
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t k = 0;
		while (k < n && p[k] != ' ' && p[k] != '=')
			k++;
		if (!smtp_caps_bit(p, k))
			put_lines(out, "    ", "Other: ", p, n);
	}
}

/* How far one serverinfo port got: the error of the one that got furthest is reported. */
enum info_stage { INFO_NONE, INFO_CONNECTED, INFO_GREETED, INFO_DONE };

/* Connect to PORT as session_open would, without AUTH, and describe what it offers. */
static int
info_port(const struct account *a, int port, FILE *out, enum info_stage *stage, struct err *e)
{
	struct session ss = {0};
	struct smtp *s = &ss.s;
	struct tls_config tc;
	struct buf greet, ehlo;
	bool next;
	bool implicit = profile_implicit_tls(a, port);
	int rc = -1;

	*stage = INFO_NONE;
	buf_init(&greet, 16384);
	buf_init(&ehlo, 16384);
	if (session_start(&ss, a, &tc, e) < 0) {
		fprintf(out, "Server: %s, port %d\n", a->host, port);
		goto out;
	}
	/* A full handshake shows the certificates; a certificate that fails is still shown. */
	tc.session_file = NULL;
	tc.keep_failed = true;
	s->greeting_text = &greet;
	s->ehlo_text = &ehlo;
	int orc = session_connect_port(&ss, &tc, port, implicit, &next, e);
	if (s->conn.peer[0]) {
		*stage = INFO_CONNECTED;
		fprintf(out, "Server: %s\n", s->conn.peer);
	} else if (a->socket) {
		fprintf(out, "Server: %s [unix:%s]\n", ss.host, a->socket);
	} else {
		fprintf(out, "Server: %s, port %d\n", ss.host, port);
	}
	fprintf(out, "  Protocol: %s, %s\n", a->lmtp ? "LMTP" : "SMTP",
	        implicit ? "implicit TLS"
	        : a->tls ? "STARTTLS"
	                 : "no TLS (tls off)");
	if (implicit && s->conn.tls)
		put_tls(out, s->conn.tls);
	if (greet.len || orc == 0)
		put_lines(out, "  ", "Greeting: ", greet.data, greet.len);
	if (orc < 0)
		goto out;
	*stage = INFO_GREETED;
	/* After early pipelining the EHLO reply (and the 220 to STARTTLS) came with the
	 * greeting: only the handshake is left. */
	if (!ss.ehlo_read && smtp_ehlo(s, a->domain, !a->tls, e) < 0)
		goto out;
	ss.ehlo_read = false;
	if (a->tls && !implicit) {
		bool offered = s->caps.bits & SMTP_CAP_STARTTLS;
		fprintf(out, "  STARTTLS before TLS: %s\n", offered ? "offered" : "not offered");
		if (!offered) {
			put_caps(out, &s->caps, &ehlo, " (before TLS: not to be trusted, SEC-4)");
			session_no_starttls(&ss, e);
			goto out;
		}
		int src = smtp_starttls(s, &tc, a->domain, e);
		if (s->conn.tls)
			put_tls(out, s->conn.tls);
		if (src < 0)
			goto out;
	}
	put_caps(out, &s->caps, &ehlo, s->tls ? " (after TLS)" : "");
	*stage = INFO_DONE;
	rc = 0;
out:
	if (rc < 0 && e)
		fprintf(out, "  Failed: %s\n", e->text);
	session_close(&ss, rc < 0 ? e : NULL);
	buf_fini(&greet);
	buf_fini(&ehlo);
	return rc;
}

/* The caller has checked the account's host. */
static int
serverinfo(const struct account *a, FILE *out, struct err *e)
{
	int ports[PROFILE_MAX_PORTS];
	int np = session_ports(a, ports);
	int answered = 0;
	enum info_stage best = INFO_NONE;
	struct err first;

	err_clear(&first);
	for (int i = 0; i < np; i++) {
		enum info_stage stage;
		struct err pe;
		err_clear(&pe);
		if (i > 0)
			putc('\n', out);
		if (info_port(a, ports[i], out, &stage, &pe) == 0) {
			answered++;
		} else if (first.kind == ERR_NONE || stage > best) {
			first = pe;
			best = stage;
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return err_set(e, ERR_OS, "print server information: %s", strerror(errno));
	if (answered)
		return 0;
	if (e)
		*e = first;
	return -1;
}

int
show_serverinfo(const struct opts *o, struct err *e)
{
	struct delivery d;

	deliver_init(&d, o);
	int rc = setup_only(&d, e);
	if (rc == 0 && !d.acct->host)
		rc = err_set(e, ERR_CONFIG, "connect: account %s (%s:%u) has no `host`; add one",
		             d.acct->name, d.acct->file, d.acct->line);
	if (rc == 0)
		rc = serverinfo(d.acct, stdout, e);
	deliver_fini(&d);
	return rc;
}
