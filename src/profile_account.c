/*
 * profile_account: the account record. One table lists every setting of struct account with
 * the bit that says a profile line gave it; inheritance (copy what a parent set), comparison
 * and freeing walk it, so that adding a setting is one line here and one in the command
 * table (profile_cmd.c). Also the settings derived from others: the ports and the TLS mode.
 */
#include "profile_int.h"

#include <stdlib.h>
#include <string.h>

enum ftype { F_STR, F_BOOL, F_INT, F_PORTS };

struct field {
	uint64_t bit;
	enum ftype type;
	size_t off;
};

#define FIELD(bit, type, member)                                                                   \
	{                                                                                          \
		bit, type, offsetof(struct account, member)                                        \
	}

static const struct field fields[] = {
    FIELD(PROFILE_SET_HOST, F_STR, host),
    FIELD(PROFILE_SET_PORT, F_INT, port),
    FIELD(PROFILE_SET_PORT, F_PORTS, ports),
    FIELD(PROFILE_SET_PORT, F_INT, nports),
    FIELD(PROFILE_SET_FROM, F_STR, from),
    FIELD(PROFILE_SET_DOMAIN, F_STR, domain),
    FIELD(PROFILE_SET_USER, F_STR, user),
    FIELD(PROFILE_SET_PASSWORD, F_STR, password),
    FIELD(PROFILE_SET_PASSWORDEVAL, F_STR, passwordeval),
    FIELD(PROFILE_SET_AUTH, F_BOOL, auth),
    FIELD(PROFILE_SET_AUTH, F_STR, auth_mech),
    FIELD(PROFILE_SET_TLS, F_BOOL, tls),
    FIELD(PROFILE_SET_TLS_STARTTLS, F_BOOL, tls_starttls),
    FIELD(PROFILE_SET_TLS_TRUST_FILE, F_STR, tls_trust_file),
    FIELD(PROFILE_SET_TLS_FINGERPRINT, F_STR, tls_fingerprint),
    FIELD(PROFILE_SET_TLS_CERTCHECK, F_BOOL, tls_certcheck),
    FIELD(PROFILE_SET_TLS_HOST_OVERRIDE, F_STR, tls_host_override),
    FIELD(PROFILE_SET_TLS_PRIORITIES, F_STR, tls_priorities),
    FIELD(PROFILE_SET_TIMEOUT, F_INT, timeout),
    FIELD(PROFILE_SET_QUEUE, F_BOOL, queue),
    FIELD(PROFILE_SET_QUEUE_DIR, F_STR, queue_dir),
    FIELD(PROFILE_SET_QUEUE_LIFETIME, F_INT, queue_lifetime),
    FIELD(PROFILE_SET_QUEUE_NOTIFY, F_STR, queue_notify),
    FIELD(PROFILE_SET_LOGFILE, F_STR, logfile),
    FIELD(PROFILE_SET_LOGFILE_TIME_FORMAT, F_STR, logfile_time_format),
    FIELD(PROFILE_SET_SYSLOG, F_STR, syslog),
    FIELD(PROFILE_SET_ALIASES, F_STR, aliases),
    FIELD(PROFILE_SET_AUTO_FROM, F_BOOL, auto_from),
    FIELD(PROFILE_SET_MAILDOMAIN, F_STR, maildomain),
    FIELD(PROFILE_SET_ALLOW_FROM_OVERRIDE, F_BOOL, allow_from_override),
    FIELD(PROFILE_SET_SET_FROM_HEADER, F_INT, set_from_header),
    FIELD(PROFILE_SET_SET_DATE_HEADER, F_INT, set_date_header),
    FIELD(PROFILE_SET_SET_MSGID_HEADER, F_INT, set_msgid_header),
    FIELD(PROFILE_SET_REMOVE_BCC_HEADERS, F_BOOL, remove_bcc_headers),
    FIELD(PROFILE_SET_UNDISCLOSED_RECIPIENTS, F_BOOL, undisclosed_recipients),
    FIELD(PROFILE_SET_DSN_NOTIFY, F_STR, dsn_notify),
    FIELD(PROFILE_SET_DSN_RETURN, F_STR, dsn_return),
    FIELD(PROFILE_SET_SOURCE_IP, F_STR, source_ip),
    FIELD(PROFILE_SET_IP_FAMILY, F_INT, ip_family),
    FIELD(PROFILE_SET_PROXY_HOST, F_STR, proxy_host),
    FIELD(PROFILE_SET_PROXY_PORT, F_INT, proxy_port),
    FIELD(PROFILE_SET_SOCKET, F_STR, socket),
    FIELD(PROFILE_SET_PROTOCOL, F_BOOL, lmtp),
    FIELD(PROFILE_SET_FROM_FULL_NAME, F_STR, from_full_name),
    FIELD(PROFILE_SET_TLS_CERT_FILE, F_STR, tls_cert_file),
    FIELD(PROFILE_SET_TLS_KEY_FILE, F_STR, tls_key_file),
    FIELD(PROFILE_SET_TLS_CRL_FILE, F_STR, tls_crl_file),
    FIELD(PROFILE_SET_TLS_MIN_VERSION, F_INT, tls_min_version),
    FIELD(PROFILE_SET_TLS_FINGERPRINT, F_STR, tls_pin_spki),
    FIELD(PROFILE_SET_OAUTH2_TOKEN_COMMAND, F_STR, oauth2_token_command),
    FIELD(PROFILE_SET_PASSWORD_FILE, F_STR, password_file),
    FIELD(PROFILE_SET_DKIM_KEY, F_STR, dkim_key),
    FIELD(PROFILE_SET_DKIM_SELECTOR, F_STR, dkim_selector),
    FIELD(PROFILE_SET_DKIM_DOMAIN, F_STR, dkim_domain),
    FIELD(PROFILE_SET_DKIM_HEADERS, F_STR, dkim_headers),
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char *const *
cstr_at(const struct account *a, size_t off)
{
	return (char *const *)(const void *)((const char *)a + off);
}

static bool
cbool(const struct account *a, size_t off)
{
	return *(const bool *)(const void *)((const char *)a + off);
}

static int
cint(const struct account *a, size_t off)
{
	return *(const int *)(const void *)((const char *)a + off);
}

static const int *
cports(const struct account *a, size_t off)
{
	return (const int *)(const void *)((const char *)a + off);
}

/* Free a string that may hold a secret: every value is wiped, which costs nothing here. */
static void
wipe_free(char **s)
{
	xfree_secret(*s);
	*s = NULL;
}

void
profile_account_set_str(struct account *a, size_t off, char *owned)
{
	char **slot = PROFILE_AT(a, char *, off);

	wipe_free(slot);
	*slot = owned;
}

void
profile_account_copy(struct account *dst, const struct account *src, uint64_t mask)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!(f->bit & mask))
			continue;
		switch (f->type) {
		case F_STR: {
			char *v = *cstr_at(src, f->off);
			profile_account_set_str(dst, f->off, v ? xstrdup(v) : NULL);
			break;
		}
		case F_BOOL:
			*PROFILE_AT(dst, bool, f->off) = cbool(src, f->off);
			break;
		case F_INT:
			*PROFILE_AT(dst, int, f->off) = cint(src, f->off);
			break;
		case F_PORTS:
			memcpy(PROFILE_AT(dst, int, f->off), cports(src, f->off),
			       PROFILE_MAX_PORTS * sizeof(int));
			break;
		}
	}
}

static bool
same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool
profile_account_same(const struct account *a, const struct account *b, uint64_t mask)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!(f->bit & mask))
			continue;
		switch (f->type) {
		case F_STR:
			if (!same_str(*cstr_at(a, f->off), *cstr_at(b, f->off)))
				return false;
			break;
		case F_BOOL:
			if (cbool(a, f->off) != cbool(b, f->off))
				return false;
			break;
		case F_INT:
			if (cint(a, f->off) != cint(b, f->off))
				return false;
			break;
		case F_PORTS:
			if (memcmp(cports(a, f->off), cports(b, f->off),
			           PROFILE_MAX_PORTS * sizeof(int)) != 0)
				return false;
			break;
		}
	}
	return true;
}

void
profile_account_defaults(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->domain = xstrdup("localhost");
	a->tls = true;
	a->queue = true;
	a->tls_starttls = true;
	a->tls_certcheck = true;
	a->allow_from_override = true;
	a->remove_bcc_headers = true;
}

void
profile_account_fini(struct account *a)
{
	wipe_free(&a->name);
	wipe_free(&a->file);
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].type == F_STR)
			wipe_free(PROFILE_AT(a, char *, fields[i].off));
}

void
profile_account_free(struct account *a)
{
	if (!a)
		return;
	profile_account_fini(a);
	free(a);
}

void
profile_finish_account(struct account *a)
{
	/* Authenticate when there is a user to authenticate as, unless told otherwise. */
	if (!(a->set & PROFILE_SET_AUTH))
		a->auth = a->user != NULL;
}

int
profile_port(const struct account *a)
{
	if (a->port)
		return a->port;
	/* RFC 2033 §5: LMTP must not use port 25; msmtp's examples and LMTP servers (Dovecot,
	 * Cyrus) use 2003. */
	if (a->lmtp)
		return 2003;
	if (!a->tls)
		return 25;
	/* RFC 8314 §3.3: 465 for implicit TLS; RFC 6409 §3.1: 587 for submission. */
	return a->tls_starttls ? 587 : 465;
}

int
profile_ports(const struct account *a, int out[PROFILE_MAX_PORTS])
{
	if (a->nports > 0) {
		memcpy(out, a->ports, (size_t)a->nports * sizeof(int));
		return a->nports;
	}
	out[0] = profile_port(a);
	return 1;
}

bool
profile_implicit_tls(const struct account *a, int port)
{
	if (!a->tls)
		return false;
	if (a->set & PROFILE_SET_TLS_STARTTLS)
		return !a->tls_starttls;
	/* SEC-5, RFC 8314 §3.3: 465 is the port for implicit TLS; the others upgrade with
	 * STARTTLS. */
	return port == 465;
}
