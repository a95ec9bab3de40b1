/*
 * fuzz/profile: the profile (profile_parse in src/profile.h), msmtp's syntax, and msmtp's
 * long options applied over an account (profile_apply).
 *
 * The first byte holds flags: bit 0 parses the text as a private file (SEC-14: password
 * allowed), bit 1 takes what follows the first NUL as "name=value" lines for profile_apply
 * on every account. The text is parsed twice into the same profile (the second file's
 * accounts replace the first's). "eval" runs a command, so a private text that holds the
 * word "eval" anywhere is parsed as not private (eval is then refused unrun).
 * Contract checked: a refusal is ERR_CONFIG ("FILE:LINE: reason", no control character);
 * every account has a name and can be found by it, its port list holds 1..8 ports in
 * 1..65535, no value holds CR or LF (SEC-24); profile_apply takes only what
 * profile_argv_check allows (SEC-43), records every route option (SEC-41) and then refuses
 * the route for an account that authenticates or holds a client key.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz.h"

#include "profile.h"

static void
check_str(const char *s, const char *what)
{
	if (s)
		fuzz_check(!strpbrk(s, "\r\n"), "%s holds a line end", what);
}

static void
check_account(const struct profile *p, const struct account *a)
{
	int ports[PROFILE_MAX_PORTS];

	fuzz_check(a->name != NULL, "an account without a name");
	fuzz_check(profile_find(p, a->name) != NULL, "account \"%s\" not found", a->name);
	int n = profile_ports(a, ports);
	fuzz_check(n >= 1 && n <= PROFILE_MAX_PORTS, "%d ports", n);
	for (int i = 0; i < n; i++)
		fuzz_check(ports[i] >= 1 && ports[i] <= 65535, "port %d", ports[i]);
	int port = profile_port(a);
	fuzz_check(port >= 1 && port <= 65535, "port %d", port);
	(void)profile_implicit_tls(a, port);
	if (a->from)
		fuzz_check(profile_find_by_from(p, a->from) != NULL, "from %s not found", a->from);
	check_str(a->host, "host");
	check_str(a->from, "from");
	check_str(a->domain, "domain");
	check_str(a->user, "user");
	check_str(a->password, "password");
	check_str(a->passwordeval, "passwordeval");
	check_str(a->auth_mech, "auth");
	check_str(a->tls_trust_file, "tls_trust_file");
	check_str(a->tls_fingerprint, "tls_fingerprint");
	check_str(a->tls_host_override, "tls_host_override");
	check_str(a->tls_priorities, "tls_priorities");
	check_str(a->queue_dir, "queue_dir");
	check_str(a->logfile, "logfile");
	check_str(a->aliases, "aliases");
	check_str(a->maildomain, "maildomain");
	check_str(a->source_ip, "source_ip");
	check_str(a->proxy_host, "proxy_host");
	check_str(a->socket, "socket");
	check_str(a->from_full_name, "from_full_name");
	check_str(a->tls_cert_file, "tls_cert_file");
	check_str(a->tls_key_file, "tls_key_file");
	check_str(a->oauth2_token_command, "oauth2_token_command");
	check_str(a->password_file, "password_file");
}

static void
check_refusal(const struct err *e, enum err_kind kind)
{
	fuzz_check(e->kind == kind, "refused with kind %d, not %d: %s", e->kind, kind, e->text);
	fuzz_check(e->text[0] && !fuzz_has_ctl(e->text, strlen(e->text), ""),
	           "bad error text \"%s\"", e->text);
}

/* Where A's mail goes and whom it trusts (SEC-41), as one string to compare. */
static char *
route_of(const struct account *a)
{
	size_t n = 4096;
	char *s = malloc(n);

	if (!s)
		abort();
	snprintf(s, n, "%s|%d|%d %d %d %d %d %d %d %d|%s|%d|%s|%s|%d|%d|%d|%s|%s|%d|%s|%s|%d|%s",
	         a->host ? a->host : "-", a->port, a->ports[0], a->ports[1], a->ports[2],
	         a->ports[3], a->ports[4], a->ports[5], a->ports[6], a->ports[7],
	         a->proxy_host ? a->proxy_host : "-", a->proxy_port, a->socket ? a->socket : "-",
	         a->source_ip ? a->source_ip : "-", a->lmtp, a->tls, a->tls_starttls,
	         a->tls_fingerprint ? a->tls_fingerprint : "-",
	         a->tls_pin_spki ? a->tls_pin_spki : "-", a->tls_certcheck,
	         a->tls_host_override ? a->tls_host_override : "-",
	         a->tls_priorities ? a->tls_priorities : "-", a->tls_min_version,
	         a->tls_trust_file ? a->tls_trust_file : "-");
	return s;
}

/* "name=value" lines (OV, N bytes) over account A, as msmtp's long options. */
static void
apply_all(struct account *a, const char *ov, size_t n)
{
	struct err e, e2;

	for (size_t off = 0; off < n;) {
		const char *lf = memchr(ov + off, '\n', n - off);
		size_t len = lf ? (size_t)(lf - (ov + off)) : n - off;
		char *line = fuzz_strndup(ov + off, len);
		off += len + (lf != NULL);
		char *eq = strchr(line, '=');
		const char *arg = "on";
		if (eq) {
			*eq = '\0';
			arg = eq + 1;
		}
		const char *before = a->argv_route;
		char *route = route_of(a);
		if (profile_apply(a, line, arg, &e) == 0) {
			fuzz_check(profile_argv_check(line, arg, &e2) == 0,
			           "--%s=%s applied but refused by profile_argv_check", line, arg);
			/* A route option that changed the route is on record (SEC-41). */
			char *after = route_of(a);
			if (strcmp(route, after) != 0)
				fuzz_check(a->argv_route != NULL,
				           "--%s=%s changed the route "
				           "unrecorded: %s became %s",
				           line, arg, route, after);
			free(after);
		} else {
			check_refusal(&e, ERR_USAGE);
			fuzz_check(a->argv_route == before, "a refused option changed the route");
		}
		free(route);
		free(line);
	}
	profile_finish_account(a);
	if (profile_check_route(a, &e) == 0)
		fuzz_check(profile_route_is_own(a) ||
		               (!a->auth && !a->tls_cert_file && !a->tls_key_file),
		           "a secret may go where the command line sends it");
	else
		check_refusal(&e, ERR_USAGE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t f = data[0];
	const char *text = (const char *)data + 1;
	size_t n = size - 1, tn = n;
	const char *ov = NULL;
	size_t on = 0;
	struct profile p = {0};
	struct err e;

	if (f & 2) {
		const char *nul = memchr(text, '\0', n);
		if (nul) {
			tn = (size_t)(nul - text);
			ov = nul + 1;
			on = n - tn - 1;
		}
	}
	/* Never run a command: without the word, no eval line can be. */
	bool private = (f & 1) && !memmem(text, tn, "eval", 4);
	char *copy = fuzz_exact(text, tn);
	for (int round = 0; round < 2; round++) {
		if (profile_parse(&p, "fuzz.conf", copy, tn, private, &e) < 0) {
			check_refusal(&e, ERR_CONFIG);
			fuzz_check(strncmp(e.text, "fuzz.conf", 9) == 0,
			           "error without the file: %s", e.text);
			break;
		}
	}
	free(copy);
	for (size_t i = 0; i < p.n; i++)
		check_account(&p, p.accounts[i]);
	(void)profile_find(&p, "default");
	for (size_t i = 0; ov && i < p.n && i < 4; i++)
		apply_all(p.accounts[i], ov, on);
	profile_fini(&p);
	return 0;
}
