/*
 * tls: a GnuTLS client session over a connected, non-blocking socket.
 *
 * RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2), RFC 8996 and RFC 8997 (no TLS 1.0/1.1, SEC-10),
 * RFC 6066 §3 (server_name), RFC 5280 (certificate paths, §6.3 CRLs), RFC 9525 (service
 * identity: subjectAltName only, wildcard as the whole left-most label, SEC-6, SEC-7),
 * RFC 8314 (implicit TLS for submission), RFC 6066 §8 and RFC 8446 §4.4.2.1 (stapled OCSP
 * responses, RFC 6960), RFC 7469 §2.4 (the SPKI pin: SHA-256 of the DER
 * SubjectPublicKeyInfo), RFC 8446 §4.3.2 and RFC 5246 §7.4.4 (client certificates).
 *
 * The server is checked inside the handshake (tls_verify.c's callback), so a refused
 * certificate ends the handshake with an alert before the client's Finished and before any
 * application byte (SEC-11). The callback keeps its own error text, which tls_start then
 * returns instead of GnuTLS's generic "certificate error". This file is the session itself:
 * configuration, handshake, record I/O, channel binding and what a failure means; the parts
 * are listed in tls_int.h.
 */
#include "tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "io.h"

/* Records in a row without data (warning alerts, hello requests) or sends without progress
 * before a read or write gives up: a hostile server cannot keep postie busy with them. */
#define TLS_IDLE_RECORDS_MAX 64
/* SEC-10: TLS 1.3 preferred, TLS 1.2 accepted, nothing older (GnuTLS's NORMAL alone still
 * enables TLS 1.0 and 1.1). */
#define TLS_DEFAULT_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* tls_min_version 1.3. */
#define TLS_13_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static void
free_session(struct tls *t)
{
	if (!t)
		return;
	if (t->session)
		gnutls_deinit(t->session);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	free(t->trust_file);
	free(t->crl_file);
	free(t->cert_file);
	free(t);
}

/* Wait for the socket in the direction GnuTLS is blocked on. */
static int
wait_io(struct tls *t, const char *what, int64_t deadline, struct err *e)
{
	short ev = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
	int r = io_wait_peer(t->fd, ev, deadline);

	if (r == 0)
		return 0;
	return err_set(e, ERR_TEMP, "%s %s: %s", what, t->name,
	               r == ETIMEDOUT ? "timed out" : strerror(r));
}

static bool
connection_lost(int r)
{
	/* GNUTLS_E_INVALID_SESSION: an earlier error already ended the session. */
	return r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
	       r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
	       r == GNUTLS_E_INVALID_SESSION;
}

/*
 * What an alert about client certificates means for the profile: the server asked for one
 * (RFC 8446 §4.3.2, RFC 5246 §7.4.4) and we had none, or it did not accept ours. TLS 1.3
 * servers judge the client's certificate after the client's Finished, so this alert may
 * come with the first read rather than in the handshake.
 */
static void
client_cert_hint(const struct tls *t, gnutls_alert_description_t a, char *out, size_t outlen)
{
	bool cert_alert = a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE ||
	                  a == GNUTLS_A_UNSUPPORTED_CERTIFICATE ||
	                  a == GNUTLS_A_CERTIFICATE_REVOKED || a == GNUTLS_A_CERTIFICATE_EXPIRED ||
	                  a == GNUTLS_A_CERTIFICATE_UNKNOWN || a == GNUTLS_A_UNKNOWN_CA ||
	                  a == GNUTLS_A_ACCESS_DENIED || a == GNUTLS_A_HANDSHAKE_FAILURE;

	out[0] = '\0';
	if (!gnutls_certificate_client_get_request_status(t->session))
		return;
	/* Servers differ in the alert they send for a missing certificate (OpenSSL:
	 * certificate_required or handshake_failure, GnuTLS: decode_error). */
	if (!t->client_cert)
		snprintf(out, outlen,
		         "; the server asked for a client certificate: set tls_cert_file and "
		         "tls_key_file");
	else if (!cert_alert)
		return;
	else if (!gnutls_certificate_get_ours(t->session))
		snprintf(out, outlen,
		         "; the server asked for a client certificate and tls_cert_file %.100s "
		         "is not from a CA it accepts",
		         t->cert_file);
	else
		snprintf(out, outlen,
		         "; the server did not accept the client certificate in tls_cert_file "
		         "%.100s",
		         t->cert_file);
}

/* Turn a fatal GnuTLS error into an err of the right kind. */
static int
fatal_error(struct tls *t, const char *what, int r, struct err *e)
{
	if (connection_lost(r)) {
		/* Some servers (Exim over GnuTLS, measured) hang up without an alert when a
		 * client certificate they require is missing. Asked for one, had none, and cut
		 * off before the server said a word: a refusal, not a network fault, so no
		 * retry (SEC-37: TLS that cannot be had is 69). */
		if (!t->got_data && !t->client_cert && !t->resumed &&
		    gnutls_certificate_client_get_request_status(t->session))
			return err_set(
			    e, ERR_TLS,
			    "%s %s: the server hung up right after asking for a client "
			    "certificate, and none is configured: if it requires one, set "
			    "tls_cert_file and tls_key_file",
			    what, t->name);
		return err_set(e, ERR_TEMP, "%s %s: connection lost", what, t->name);
	}
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);
		const char *name = gnutls_alert_get_name(a);
		if (a == GNUTLS_A_PROTOCOL_VERSION && t->tls13_only)
			return err_set(e, ERR_TLS,
			               "%s %s: the server refused TLS 1.3 (alert \"%s\"); "
			               "tls_min_version 1.3 allows nothing older",
			               what, t->name, name ? name : "protocol version");
		if (a == GNUTLS_A_PROTOCOL_VERSION)
			return err_set(e, ERR_TLS,
			               "%s %s: the server refused TLS 1.3 and 1.2 (alert \"%s\"); "
			               "older versions are not used (RFC 8996)",
			               what, t->name, name ? name : "protocol version");
		/* A server without TLS 1.3 may answer a ClientHello that offers nothing else
		 * with a plain handshake_failure (GnuTLS does). */
		char hint[200];
		client_cert_hint(t, a, hint, sizeof(hint));
		if (!hint[0] && t->tls13_only && a == GNUTLS_A_HANDSHAKE_FAILURE &&
		    gnutls_protocol_get_version(t->session) != GNUTLS_TLS1_3)
			snprintf(hint, sizeof(hint),
			         "; the server may not speak TLS 1.3, and tls_min_version 1.3 "
			         "allows nothing older");
		return err_set(e, ERR_TLS, "%s %s: the server sent the TLS alert \"%s\"%s", what,
		               t->name, name ? name : "unknown", hint);
	}
	if (r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET && t->tls13_only)
		return err_set(e, ERR_TLS,
		               "%s %s: the server offers only TLS 1.2 or older; tls_min_version "
		               "1.3 allows nothing older",
		               what, t->name);
	if (r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		return err_set(
		    e, ERR_TLS,
		    "%s %s: the server offers only a TLS version older than 1.2 (RFC 8996)", what,
		    t->name);
	return err_set(e, ERR_TLS, "%s %s: %s", what, t->name, gnutls_strerror(r));
}

/* SEC-10: the version floor and the priority string into t->prio. */
static int
set_priorities(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	const char *errpos = NULL;
	char prio[1024];

	/* 1.2 is the floor (RFC 8996); 1.3 may be required. */
	if (cfg->min_version == 13)
		t->tls13_only = true;
	else if (cfg->min_version != 0 && cfg->min_version != 12)
		return err_set(e, ERR_CONFIG,
		               "check tls_min_version: %d.%d is not possible; say 1.2 or 1.3 "
		               "(nothing older than TLS 1.2 is used, RFC 8996)",
		               cfg->min_version / 10, cfg->min_version % 10);
	/* A profile's own priority string can tune ciphers, never open TLS < 1.2;
	 * tls_min_version 1.3 takes 1.2 away as well. */
	if (cfg->priorities) {
		int n = snprintf(prio, sizeof(prio), "%s:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1%s",
		                 cfg->priorities, t->tls13_only ? ":-VERS-TLS1.2" : "");
		if (n < 0 || (size_t)n >= sizeof(prio))
			return err_set(e, ERR_CONFIG, "set tls_priorities: longer than %zu bytes",
			               sizeof(prio) - 60);
	} else {
		snprintf(prio, sizeof(prio), "%s",
		         t->tls13_only ? TLS_13_PRIORITIES : TLS_DEFAULT_PRIORITIES);
	}
	int r = gnutls_priority_init(&t->prio, prio, &errpos);
	if (r < 0) {
		t->prio = NULL;
		if (r == GNUTLS_E_INVALID_REQUEST && errpos)
			return err_set(e, ERR_CONFIG, "set tls_priorities: error at \"%.40s\"",
			               errpos);
		return err_set(e, ERR_CONFIG, "set tls_priorities \"%.80s\": %s", prio,
		               gnutls_strerror(r));
	}
	return 0;
}

/* The credentials: trust file noted, CRLs and the client certificate loaded (tls_cred.c). */
static int
set_credentials(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	if (gnutls_certificate_allocate_credentials(&t->cred) < 0) {
		t->cred = NULL;
		return err_set(e, ERR_OS, "start TLS: out of memory");
	}
	/* Trust is loaded only when it decides anything (in tls_verify_peer): a pin replaces
	 * it, certcheck off ignores it, a resumed session needs none. A trust file that
	 * cannot be read is still reported here, before any byte goes out. */
	bool pinned = t->pinned || t->spki_pinned;
	if (cfg->trust_file) {
		if (!pinned && t->certcheck && access(cfg->trust_file, R_OK) != 0)
			return err_set(e, ERR_CONFIG, "load tls_trust_file %s: %s", cfg->trust_file,
			               strerror(errno));
		t->trust_file = xstrdup(cfg->trust_file);
	}
	/* CRLs only mean something next to CA trust, which a pin replaces. They are loaded
	 * now, not lazily with the trust store: they are small, and a broken file is better
	 * reported before any byte goes out. */
	if (cfg->crl_file && !pinned && t->certcheck) {
		if (tls_cred_load_crl(t->cred, cfg->crl_file, e) < 0)
			return -1;
		t->crl_file = xstrdup(cfg->crl_file);
	}
	if ((cfg->cert_file || cfg->key_file) && tls_cred_load_client(t, cfg, e) < 0)
		return -1;
	return 0;
}

/*
 * Everything the configuration says that can be checked without a server: the name, the
 * pins, the version floor, the priority string, the files (trust file readable, CRLs and the
 * client certificate and key loaded into t->cred). Shared by tls_start and
 * tls_check_config, so both refuse the same things with the same words.
 */
static int
configure(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	if (!cfg->host)
		return err_set(e, ERR_SOFTWARE, "start TLS: no server name");
	t->certcheck = cfg->certcheck;
	if (tls_verify_set_name(t, cfg->host, e) < 0 || tls_verify_set_pins(t, cfg, e) < 0 ||
	    set_priorities(t, cfg, e) < 0)
		return -1;
	return set_credentials(t, cfg, e);
}

/* The GnuTLS session over t->fd, ready for the handshake. */
static int
setup(struct tls *t, const struct tls_config *cfg, struct err *e)
{
	int r;

	gnutls_certificate_set_verify_function(t->cred, tls_verify_peer);
	r = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->session = NULL;
		return err_set(e, ERR_OS, "start TLS: %s", gnutls_strerror(r));
	}
	gnutls_session_set_ptr(t->session, t);
	r = gnutls_priority_set(t->session, t->prio);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "set tls_priorities: %s", gnutls_strerror(r));
	/* RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName". */
	if (!t->is_ip) {
		r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, t->name, strlen(t->name));
		if (r < 0)
			return err_set(e, ERR_CONFIG, "set TLS server name %s: %s", t->name,
			               gnutls_strerror(r));
	}
	r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (r < 0)
		return err_set(e, ERR_OS, "start TLS: %s", gnutls_strerror(r));
	gnutls_transport_set_int(t->session, t->fd);
	tls_cache_set_params(t, cfg);
	if (cfg->session_file)
		tls_cache_load(t, cfg->session_file);
	/* Our deadline governs, not GnuTLS's own handshake timer. */
	gnutls_handshake_set_timeout(t->session, GNUTLS_INDEFINITE_TIMEOUT);
	return 0;
}

static int
handshake(struct tls *t, int64_t deadline, struct err *e)
{
	for (;;) {
		int r = gnutls_handshake(t->session);
		if (r == 0)
			return 0;
		if (t->verify_failed) {
			*e = t->verr;
			return -1;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "TLS handshake with", deadline, e) < 0)
				return -1;
			continue;
		}
		/* Warning alerts (and other non-fatal results) let the handshake go on; the
		 * deadline still bounds a server that sends nothing else. */
		if (!gnutls_error_is_fatal(r)) {
			if (io_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "TLS handshake with %s: timed out",
				               t->name);
			continue;
		}
		return fatal_error(t, "TLS handshake with", r, e);
	}
}

int
tls_check_config(const struct tls_config *cfg, struct err *e)
{
	struct tls *t = xcalloc(1, sizeof(*t));
	int rc = configure(t, cfg, e);

	free_session(t);
	return rc;
}

int
tls_start(struct tls **out, int fd, const struct tls_config *cfg, int64_t deadline, struct err *e)
{
	struct tls *t;
	int fl;

	*out = NULL;
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	err_clear(&t->verr);
	/* A resumed session is not verified again: what was verified is in the cache key. */
	snprintf(t->verdict, sizeof(t->verdict),
	         "not checked in this handshake (a resumed session, verified when it was made)");
	if (configure(t, cfg, e) < 0)
		goto fail;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err_set(e, ERR_OS, "start TLS: make the socket non-blocking: %s", strerror(errno));
		goto fail;
	}
	if (setup(t, cfg, e) < 0)
		goto fail;
	if (handshake(t, deadline, e) < 0) {
		/* --serverinfo describes a server it could not verify, then fails. */
		if (t->verify_failed && cfg->keep_failed) {
			t->failed = true;
			*out = t;
			return -1;
		}
		goto fail;
	}

	gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
	/* SEC-10, in depth: whatever the priority string, nothing older than TLS 1.2. */
	if (v != GNUTLS_TLS1_2 && v != GNUTLS_TLS1_3) {
		err_set(e, ERR_TLS,
		        "TLS handshake with %s: the server chose %s; TLS 1.2 or newer "
		        "is required (RFC 8996)",
		        t->name, gnutls_protocol_get_name(v));
		goto fail;
	}
	if (t->tls13_only && v != GNUTLS_TLS1_3) {
		err_set(e, ERR_TLS,
		        "TLS handshake with %s: the server chose %s; tls_min_version 1.3 "
		        "requires TLS 1.3",
		        t->name, gnutls_protocol_get_name(v));
		goto fail;
	}
	const char *pname = gnutls_protocol_get_name(v);
	const char *cname = gnutls_cipher_get_name(gnutls_cipher_get(t->session));
	t->resumed = gnutls_session_is_resumed(t->session) != 0;
	snprintf(t->desc, sizeof(t->desc), "%s %s%s", pname ? pname : "TLS",
	         cname ? cname : "unknown-cipher", t->resumed ? " (resumed)" : "");
	*out = t;
	return 0;
fail:
	free_session(t);
	return -1;
}

/* A session kept after a failed verification carries nothing. */
static int
refuse_failed(const struct tls *t, const char *what, struct err *e)
{
	return err_set(e, ERR_SOFTWARE, "%s %s: the TLS session failed verification", what,
	               t->name);
}

ssize_t
tls_read(struct tls *t, void *p, size_t n, int64_t deadline, struct err *e)
{
	unsigned idle = 0; /* records in a row that brought no data */

	if (t->failed)
		return refuse_failed(t, "read from", e);
	for (;;) {
		ssize_t r = gnutls_record_recv(t->session, p, n);
		if (r > 0)
			t->got_data = true;
		if (r >= 0)
			return r; /* 0: close_notify, a clean end (RFC 8446 §6.1) */
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "read from", deadline, e) < 0)
				return -1;
			continue;
		}
		/* RFC 5246 §7.4.1.1: a client may ignore a HelloRequest; we do not renegotiate
		 * (it could swap the verified certificate for another). TLS 1.3 key updates
		 * and tickets are handled inside GnuTLS. Warning alerts are not fatal. */
		if (r == GNUTLS_E_REHANDSHAKE || !gnutls_error_is_fatal((int)r)) {
			if (io_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "read from %s: timed out", t->name);
			/* SEC-34: a server that only sends warnings or hello requests must not
			 * keep this loop busy until the deadline. */
			if (++idle > TLS_IDLE_RECORDS_MAX)
				return err_set(e, ERR_PROTO,
				               "read from %s: %u TLS records in a row "
				               "without data (%s)",
				               t->name, idle, gnutls_strerror((int)r));
			continue;
		}
		return fatal_error(t, "read from", (int)r, e);
	}
}

int
tls_write(struct tls *t, const void *p, size_t n, int64_t deadline, struct err *e)
{
	const char *s = p;
	unsigned idle = 0; /* tries in a row that sent nothing */

	if (t->failed)
		return refuse_failed(t, "send to", e);
	while (n > 0) {
		/* After GNUTLS_E_AGAIN the same buffer is offered again, as GnuTLS requires. */
		ssize_t r = gnutls_record_send(t->session, s, n);
		if (r > 0) {
			s += r;
			n -= (size_t)r;
			continue;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, "send to", deadline, e) < 0)
				return -1;
			continue;
		}
		if (r == 0 || !gnutls_error_is_fatal((int)r)) {
			if (io_clock_ms() >= deadline)
				return err_set(e, ERR_TEMP, "send to %s: timed out", t->name);
			/* SEC-34: no busy loop on a send that makes no progress. */
			if (++idle > TLS_IDLE_RECORDS_MAX)
				return err_set(e, ERR_PROTO,
				               "send to %s: no progress after %u tries "
				               "(%s)",
				               t->name, idle,
				               r ? gnutls_strerror((int)r) : "0 bytes");
			continue;
		}
		/* The server may have said why before it closed: a TLS 1.3 server judges our
		 * certificate after our Finished (RFC 8446 §4.4.2.4), so its alert can be
		 * waiting unread when our first write finds the connection gone. */
		if (connection_lost((int)r)) {
			char c;
			ssize_t rr = gnutls_record_recv(t->session, &c, 1);
			if (rr == GNUTLS_E_FATAL_ALERT_RECEIVED)
				return fatal_error(t, "send to", (int)rr, e);
		}
		return fatal_error(t, "send to", (int)r, e);
	}
	return 0;
}

bool
tls_pending(const struct tls *t)
{
	return !t->failed && gnutls_record_check_pending(t->session) > 0;
}

const char *
tls_describe(const struct tls *t)
{
	return t->desc;
}

bool
tls_resumed(const struct tls *t)
{
	return t->resumed;
}

bool
tls_client_cert_sent(const struct tls *t)
{
	if (t->failed)
		return false;
	/* A resumed session carries the authentication of the one it resumes (RFC 8446
	 * §2.2, RFC 5246 §7.3): no certificate goes over the wire again. */
	if (t->resumed)
		return t->client_cert;
	return gnutls_certificate_get_ours(t->session) != NULL;
}

int
tls_channel_binding(struct tls *t, const char **type, struct buf *out, struct err *e)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
	gnutls_channel_binding_t kind;
	gnutls_datum_t cb = {NULL, 0};
	const char *name;

	*type = NULL;
	if (t->failed)
		return refuse_failed(t, "get TLS channel binding for", e);
	if (v == GNUTLS_TLS1_3) {
		/* RFC 9266 §2: tls-unique is not defined for TLS 1.3; tls-exporter is. */
		kind = GNUTLS_CB_TLS_EXPORTER;
		name = "tls-exporter";
	} else if (v == GNUTLS_TLS1_2) {
		/* RFC 7627 §1 (the triple handshake): without the extended master secret a
		 * resumed session can carry the Finished of another connection. */
		if (!gnutls_session_ext_master_secret_status(t->session))
			return err_set(e, ERR_TLS,
			               "get TLS channel binding for %s: TLS 1.2 without the "
			               "extended master secret (RFC 7627) has no safe one",
			               t->name);
		kind = GNUTLS_CB_TLS_UNIQUE;
		name = "tls-unique";
	} else {
		return err_set(e, ERR_TLS, "get TLS channel binding for %s: not TLS 1.2 or 1.3",
		               t->name);
	}
	int r = gnutls_session_channel_binding(t->session, kind, &cb);
	if (r < 0)
		return err_set(e, ERR_TLS, "get TLS channel binding %s for %s: %s", name, t->name,
		               gnutls_strerror(r));
	int rc = cb.size ? buf_append(out, cb.data, cb.size, e)
	                 : err_set(e, ERR_TLS, "get TLS channel binding %s for %s: empty", name,
	                           t->name);
	if (cb.data) {
		explicit_bzero(cb.data, cb.size);
		gnutls_free(cb.data);
	}
	if (rc == 0)
		*type = name;
	return rc;
}

void
tls_free(struct tls *t)
{
	if (!t)
		return;
	/* One non-blocking close_notify attempt (RFC 8446 §6.1); never wait for the
	 * server's. If the socket is full or gone, the close of FD ends the session anyway.
	 * A handshake that failed has already sent its alert. */
	if (!t->failed)
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
	free_session(t);
}
