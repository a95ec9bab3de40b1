/*
 * session: one SMTP session for one account, and the transactions sent over it. RFC 5321,
 * RFC 3207 (STARTTLS), RFC 8314 (implicit TLS), RFC 4954 (AUTH), RFC 2920 (PIPELINING),
 * RFC 3030 (CHUNKING), RFC 1870 (SIZE), RFC 6531 (SMTPUTF8).
 */
#include "session.h"
#include "session_int.h"

#include <errno.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "priv.h"
#include "reach.h"
#include "sasl.h"
#include "oauth2.h"

/* SEC-8: the host name in A-label form, for DNS, SNI and verification alike. */
static int
host_ascii(struct session *ss, const char *host, struct err *e)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)host; *p; p++)
		if (*p >= 0x80)
			ascii = false;
	if (ascii) {
		ss->host = xstrdup(host);
		return 0;
	}
	char *out = NULL;
	int rc = idn2_to_ascii_8z(host, &out, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		return err_set(e, ERR_CONFIG, "convert host %s: %s; check `host` in %s", host,
		               idn2_strerror(rc), ss->acct->file);
	ss->host = xstrdup(out);
	idn2_free(out);
	return 0;
}

/*
 * The account's TLS session cache file, $XDG_CACHE_HOME/postie/tls/ACCOUNT (default
 * ~/.cache), or NULL when there is no home. With MAKE, the directories are created (0700).
 */
static char *
session_path(const struct account *a, bool make)
{
	/* SEC-45: a setgid postie keeps no cache of the system account's under the caller's
	 * home: a TLS session's secrets or an OAuth token written there would be the caller's
	 * to read, and a file planted there would be used. */
	if (priv_setgid() && a->origin == PROFILE_ORIGIN_SYSTEM)
		return NULL;
	char *dir = io_xdg_path(IO_XDG_CACHE, "postie/tls", make ? IO_XDG_MAKE : 0);
	struct buf b;

	if (!dir)
		return NULL;
	buf_init(&b, 4096);
	buf_printf(&b, NULL, "%s/", dir);
	free(dir);
	/* The account name is the file name, with anything unusual made harmless. */
	for (const char *p = a->name; *p; p++) {
		char c = *p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		buf_append(&b, plain && !(p == a->name && c == '.') ? &c : "_", 1, NULL);
	}
	if (b.len == 0 || b.len >= 4000) {
		buf_fini(&b);
		return NULL;
	}
	return b.data;
}

int
session_ports(const struct account *a, int out[PROFILE_MAX_PORTS])
{
	int n = profile_ports(a, out);
	return a->socket ? 1 : n;
}

int
session_start(struct session *ss, const struct account *a, struct tls_config *tc, struct err *e)
{
	const struct txn_params *params = ss->params;

	memset(ss, 0, sizeof(*ss));
	ss->params = params;
	ss->acct = a;
	ss->s.conn.fd = -1;
	ss->s.lmtp = a->lmtp;
	smtp_timeouts_init(&ss->s.t, a->timeout);
	/* SEC-34: the session's total deadline runs from here, over every port tried. */
	smtp_start_clock(&ss->s);
	ss->since = io_clock_ms();
	if (host_ascii(ss, a->host, e) < 0)
		return -1;
	ss->cache = a->tls ? session_path(a, false) : NULL;
	/* Over a local socket too the name verified is the account's host (msmtp's socket). */
	*tc = (struct tls_config){
	    .host = a->tls_host_override ? a->tls_host_override : ss->host,
	    .trust_file = a->tls_trust_file,
	    .fingerprint = a->tls_fingerprint,
	    .certcheck = a->tls_certcheck,
	    .priorities = a->tls_priorities,
	    .session_file = ss->cache,
	    .cert_file = a->tls_cert_file,
	    .key_file = a->tls_key_file,
	    .crl_file = a->tls_crl_file,
	    .pin_spki = a->tls_pin_spki,
	    .min_version = a->tls_min_version,
	};
	/* A key others can read, a missing CRL or certificate file: said before connecting. */
	if (a->tls && tls_check_config(tc, e) < 0)
		return -1;
	return 0;
}

/*
 * Whether this run remembers which ports of the account's server answered (reach.h). Not
 * over a local socket or a proxy (a refusal there says nothing of the server's port), and
 * (SEC-45) not for the system account of a setgid postie: nothing of it goes under the
 * caller's home, so its refusals never say "never reached".
 */
static bool
keeps_reach(const struct account *a)
{
	return !a->socket && !a->proxy_host &&
	       !(priv_setgid() && a->origin == PROFILE_ORIGIN_SYSTEM);
}

/*
 * Every port of the list refused the connection (nothing listens there): say so, which
 * ports submission servers use, and, when this user's postie never reached the server on
 * any of them, that the port is likely wrong (a queued message would never get through).
 */
static void
explain_refused(const struct session *ss, const int *ports, int np, struct err *e)
{
	const struct account *a = ss->acct;
	bool ever = false, known = keeps_reach(a);
	char list[64] = "";
	size_t k = 0;

	for (int i = 0; i < np; i++) {
		int w = snprintf(list + k, sizeof(list) - k, "%s%d", i ? ", " : "", ports[i]);
		if (w > 0 && (size_t)w < sizeof(list) - k)
			k += (size_t)w;
		int seen = known ? reach_seen(ss->host, ports[i]) : -1;
		known = known && seen >= 0;
		ever = ever || seen == 1;
	}
	int p = ports[0];
	err_append(e, ": nothing listens on %s port%s %s; %s", ss->host, np > 1 ? "s" : "", list,
	           np == 1 && p == 587   ? "the provider may use 465 (implicit TLS) instead"
	           : np == 1 && p == 465 ? "the provider may use 587 (STARTTLS) instead"
	                                 : "submission servers listen on 587 (STARTTLS) or 465 "
	                                   "(implicit TLS)");
	if (known && !ever)
		err_append(e,
		           "; postie has never reached %s on %s, so check `host` and `port` of "
		           "account %s in %s",
		           ss->host, np > 1 ? "these ports" : "this port", a->name, a->file);
}

/* Back to "not connected" before the next port: nothing of the last one carries over. */
static void
reset_port(struct smtp *s)
{
	conn_close(&s->conn);
	memset(&s->caps, 0, sizeof(s->caps));
	s->tls = s->quit_sent = s->quit_read = s->ehlo_early = false;
	s->starttls_early = s->starttls_ok = false;
	s->awaited = 0;
}

/* One connection to PORT as session_connect_port makes it; with EARLY, EHLO may go before
 * the greeting (session_early_begin) and its reply is read here. *RETRY: the greeting
 * refused the session, or the early EHLO failed (the server may no longer take it). */
static int
connect_once(struct session *ss, const struct tls_config *tc, int port, bool implicit, bool early,
             bool *next, bool *retry, struct err *e)
{
	struct smtp *s = &ss->s;
	const struct account *a = ss->acct;
	const struct conn_route route = {
	    .source_ip = a->source_ip,
	    .proxy_host = a->proxy_host,
	    .proxy_port = a->proxy_port,
	    .socket = a->socket,
	    .family = a->ip_family == 4   ? AF_INET
	              : a->ip_family == 6 ? AF_INET6
	                                  : 0,
	};
	struct err pe;

	*next = false;
	reset_port(s);
	err_clear(&pe);
	ss->port = a->socket ? 0 : port; /* a local socket has no port to log */
	if (conn_open_route(&s->conn, ss->host, port, &route, smtp_deadline(s, s->t.connect), &pe) <
	    0) {
		*next = pe.kind == ERR_TEMP;
		goto fail;
	}
	log_info("connected to %s", s->conn.peer);
	if (implicit) {
		/* Implicit TLS (RFC 8314 §3): the handshake comes before the greeting. */
		if (conn_start_tls(&s->conn, tc, smtp_deadline(s, s->t.greeting), &pe) < 0)
			goto fail;
		s->tls = true;
		log_info("TLS started: %s", tls_describe(s->conn.tls));
	}
	if (early && session_early_begin(ss, implicit, &pe) < 0)
		goto fail;
	if (smtp_greeting(s, &pe) < 0) {
		*next = pe.code >= 400;
		/* Exim refuses an early EHLO it no longer invited with "554 SMTP synchronization
		 * error" in place of its greeting: a refusal is worth one more plain try. */
		*retry = pe.code >= 400;
		goto fail;
	}
	if (ss->early && session_early_ehlo(ss, implicit, false, &pe) < 0) {
		*retry = true;
		goto fail;
	}
	/* STARTTLS went behind the early EHLO: a refusal means the cache is stale. */
	if (ss->early && s->starttls_early && smtp_starttls_reply(s, &pe) < 0) {
		*retry = pe.code >= 400;
		goto fail;
	}
	ss->ehlo_read = ss->early;
	if (keeps_reach(a))
		reach_note(ss->host, port);
	return 0;
fail:
	if (e)
		*e = pe;
	return -1;
}

int
session_connect_port(struct session *ss, const struct tls_config *tc, int port, bool implicit,
                     bool *next, struct err *e)
{
	bool retry = false;
	ss->early = ss->ehlo_read = false;
	if (connect_once(ss, tc, port, implicit, true, next, &retry, e) == 0)
		return 0;
	if (!ss->early)
		return -1;
	/* A session refused with EHLO sent early: no early EHLO there next time. The cache
	 * may be stale (the server no longer takes EHLO before its greeting and says so with a
	 * refusal): once more the plain way, whose verdict stands. A timeout is not retried. */
	session_early_forget(ss, implicit);
	ss->early = false;
	if (!retry)
		return -1;
	log_info("early pipelining: refused with EHLO sent early; connecting again without it");
	return connect_once(ss, tc, port, implicit, false, next, &retry, e);
}

int
session_no_starttls(struct session *ss, struct err *e)
{
	err_set(e, ERR_TLS,
	        "start TLS with %s: the server does not offer STARTTLS; nothing was sent. %s",
	        ss->s.conn.peer,
	        (ss->acct->set & PROFILE_SET_TLS)
	            ? "Use `tls_starttls off` if it speaks TLS from the start (port 465)"
	            : "postie requires TLS by default (msmtp did not): if this server has no "
	              "TLS at all, add `tls off` to the account, and know that mail then "
	              "travels in clear");
	smtp_quit(&ss->s);
	return -1;
}

int
session_ehlo_tls(struct session *ss, const struct tls_config *tc, bool implicit, struct err *e)
{
	struct smtp *s = &ss->s;
	const struct account *a = ss->acct;

	/* After early pipelining the EHLO reply was read with the greeting. */
	if (!ss->ehlo_read && session_early_ehlo(ss, implicit, !a->tls, e) < 0)
		return -1;
	ss->ehlo_read = false;
	if (!a->tls || implicit)
		return 0;
	if (!(s->caps.bits & SMTP_CAP_STARTTLS))
		return session_no_starttls(ss, e);
	return smtp_starttls(s, tc, a->domain, e);
}

/* Connect to the first port of the account that takes the session (see session_open). */
static int
connect_ports(struct session *ss, const struct tls_config *tc, bool *implicit, struct err *e)
{
	const struct account *a = ss->acct;
	int ports[PROFILE_MAX_PORTS];
	int np = session_ports(a, ports);
	char tried[96] = "";
	size_t tl = 0;
	bool temp = false, refused = np > 0;

	for (int i = 0; i < np; i++) {
		bool next;
		*implicit = profile_implicit_tls(a, ports[i]);
		int rc = session_connect_port(ss, tc, ports[i], *implicit, &next, e);
		refused = refused && rc < 0 && ss->s.conn.refused;
		if (rc == 0) {
			if (np > 1 || i > 0)
				log_info("using port %d (%s)", ports[i],
				         *implicit ? "implicit TLS"
				         : a->tls  ? "STARTTLS"
				                   : "no TLS");
			return 0;
		}
		if (!next)
			return -1;
		temp = temp || (e && e->kind == ERR_TEMP);
		if (i + 1 < np) {
			log_info("port %d: %s; trying port %d", ports[i], e ? e->text : "failed",
			         ports[i + 1]);
			int w = snprintf(tried + tl, sizeof(tried) - tl, "%s%d", tl ? ", " : "",
			                 ports[i]);
			if (w > 0 && (size_t)w < sizeof(tried) - tl)
				tl += (size_t)w;
		}
	}
	if (e && np > 1) {
		/* The last port's error, with the others named; worth retrying if any was. */
		err_append(e, " (ports %s failed first)", tried);
		if (temp)
			e->kind = ERR_TEMP;
	}
	if (e && refused && !a->socket)
		explain_refused(ss, ports, np, e);
	return -1;
}

int
session_open(struct session *ss, const struct account *a, const char *password, struct err *e)
{
	struct tls_config tc;
	bool implicit = false;

	/* SEC-2: nothing but EHLO, STARTTLS and QUIT before session_ehlo_tls has TLS up. */
	if (session_start(ss, a, &tc, e) < 0 || connect_ports(ss, &tc, &implicit, e) < 0 ||
	    session_ehlo_tls(ss, &tc, implicit, e) < 0)
		return -1;
	const char *mech = NULL;
	if (a->auth && session_auth(ss, password, &mech, e) < 0)
		return -1;
	ss->open = true;
	return 0;
}

int
session_auth(struct session *ss, const char *password, const char **mech_out, struct err *e)
{
	struct smtp *s = &ss->s;
	const struct account *a = ss->acct;

	*mech_out = NULL;
	if (!(s->caps.bits & SMTP_CAP_AUTH)) {
		err_set(e, ERR_PERM,
		        "authenticate to %s: the server offers no AUTH; remove "
		        "`user`/`auth` from account %s if it needs none",
		        s->conn.peer, a->name);
		smtp_quit(s);
		return -1;
	}
	/* SEC-4: only the mechanisms offered under TLS; channel binding when the
	 * session can give it (SCRAM-*-PLUS, RFC 5802 §6, RFC 9266). */
	struct buf cb;
	const char *cb_type = NULL;
	buf_init(&cb, 256);
	if (!s->conn.tls || tls_channel_binding(s->conn.tls, &cb_type, &cb, NULL) < 0)
		buf_reset(&cb);
	/* With oauth2_token_command, PASSWORD is the OAuth token (account.c). */
	bool oauth = a->oauth2_token_command != NULL;
	struct sasl_creds c = {
	    .user = a->user,
	    .pass = oauth ? NULL : password,
	    .token = oauth ? password : NULL,
	    .host = ss->host,
	    .port = ss->port,
	    .cb = cb.len ? (const unsigned char *)cb.data : NULL,
	    .cb_len = cb.len,
	    .cb_type = cb.len ? cb_type : NULL,
	    .offered = s->caps.auth,
	    .have_cert = s->conn.tls && tls_client_cert_sent(s->conn.tls),
	};
	const char *mech = sasl_pick(s->caps.auth, a->auth_mech, &c, e);
	*mech_out = mech;
	int arc = mech ? smtp_auth(s, mech, &c, e) : -1;
	if (arc < 0 && oauth && mech && e && e->kind == ERR_AUTH && password) {
		/* The token may have expired or been revoked before the time its cache
		 * entry says: forget it, ask the command once more, and try a new token
		 * once on this connection (RFC 4954 §4: a failed AUTH may be followed by
		 * another). The same token again would only be refused again. */
		struct buf fresh;
		struct err why = *e;
		oauth2_forget(a);
		if (oauth2_token(a, true, &fresh, e) < 0) {
			arc = -1; /* the command's failure (ERR_CONFIG) says what to fix */
		} else if (fresh.len && strcmp(fresh.data, password) != 0) {
			log_info("the server refused the OAuth token; trying a new one");
			c.token = fresh.data;
			arc = smtp_auth(s, mech, &c, e);
			if (arc < 0)
				oauth2_forget(a); /* refused too: not worth keeping */
		} else {
			*e = why;
		}
		buf_fini(&fresh);
	}
	buf_fini(&cb);
	if (arc < 0) {
		if (!mech || (e && e->kind == ERR_AUTH))
			smtp_quit(s);
		return -1;
	}
	log_info("authenticated with %s", mech);
	return 0;
}

/* The first envelope address with a UTF-8 local part (RFC 6531), or NULL. */
static const char *
needs_smtputf8(const char *sender, char *const *rcpts, size_t n)
{
	for (size_t i = 0; i <= n; i++) {
		const char *a = i < n ? rcpts[i] : sender;
		for (const unsigned char *p = (const unsigned char *)a; *p; p++)
			if (*p >= 0x80)
				return a;
	}
	return NULL;
}

/* SEC-25: an address the server cannot take as UTF-8 (UTF8, from needs_smtputf8) is not
 * sent mangled. */
static int
check_smtputf8(const struct smtp *s, const char *utf8, struct err *e)
{
	if (utf8 && !(s->caps.bits & SMTP_CAP_SMTPUTF8))
		return err_set(e, ERR_PERM,
		               "send to %s: the address <%s> needs SMTPUTF8, which the "
		               "server does not offer; use an ASCII address",
		               s->conn.peer, utf8);
	return 0;
}

/*
 * The MAIL FROM parameters: SIZE when offered and known (RFC 1870 §6), BODY=8BITMIME (RFC 6152
 * §3) as params->body says, SMTPUTF8, then RET and ENVID when DSN is offered (RFC 3461 §4.3,
 * §4.4).
 */
static int
mail_params(struct session *ss, const struct source *src, bool utf8, bool dsn, char *out, size_t n,
            struct err *e)
{
	struct smtp *s = &ss->s;
	const struct txn_params *p = ss->params;
	int body = p ? p->body : 0;
	size_t k = 0;

	out[0] = '\0';
	if ((s->caps.bits & SMTP_CAP_SIZE) && (src->complete || src->sized)) {
		if (s->caps.size && s->caps.size != (unsigned long)-1 && src->size > s->caps.size)
			return err_set(
			    e, ERR_DATA,
			    "send message to %s: it is %llu bytes and the server takes at most "
			    "%lu (SIZE); nothing was sent",
			    s->conn.peer, src->size, s->caps.size);
		k += (size_t)snprintf(out + k, n - k, " SIZE=%llu", src->size);
	}
	/* Only a message read whole is known to be 7-bit; anything else may hold 8-bit
	 * octets further on, and is declared as 8-bit when the server takes it. */
	if ((s->caps.bits & SMTP_CAP_8BITMIME) && body != 7 &&
	    (body == 8 || !(src->complete || src->sized) || source_8bit(src)))
		k += (size_t)snprintf(out + k, n - k, " BODY=8BITMIME");
	if (utf8)
		snprintf(out + k, n - k, " SMTPUTF8");
	if (dsn && smtp_dsn_mail(p->dsn_ret, p->envid, out, n, e) < 0)
		return -1;
	return 0;
}

/*
 * Whether DSN parameters go with this transaction: the session asks for them and the server
 * offers DSN (RFC 3461 §4). When it does not, the request is dropped with a warning, once a
 * session: the mail itself can still go.
 */
static bool
dsn_wanted(struct session *ss)
{
	const struct txn_params *p = ss->params;
	if (!p || (!p->dsn_notify && !p->dsn_ret && !p->envid))
		return false;
	if (ss->s.caps.bits & SMTP_CAP_DSN)
		return true;
	if (!ss->dsn_warned)
		warn("server does not offer DSN; delivery notifications not requested (%s)",
		     ss->s.conn.peer);
	ss->dsn_warned = true;
	return false;
}

/* Each recipient's RCPT parameters: NOTIFY and ORCPT (RFC 3461 §4.1, §4.2). Freed with
 * free_rcpt_params. */
static char **
rcpt_params(struct session *ss, char *const *rcpts, size_t n, struct err *e)
{
	char **v = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		size_t size = SMTP_RCPT_EXTRA + 1;
		v[i] = xmalloc(size);
		v[i][0] = '\0';
		if (smtp_dsn_rcpt(ss->params->dsn_notify, rcpts[i], v[i], size, e) < 0) {
			for (size_t j = 0; j <= i; j++)
				free(v[j]);
			free(v);
			return NULL;
		}
	}
	return v;
}

static void
free_rcpt_params(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The server's replies no longer match the commands (a 2xx that is not the one the command
 * takes, a verdict not in step): the connection cannot carry another transaction. */
static bool
out_of_step(const struct err *e)
{
	return e && (e->kind == ERR_PROTO || e->kind == ERR_UNSURE);
}

/* The last transaction failed part-way: start afresh (RFC 5321 §4.1.1.5). */
static int
reset_if_dirty(struct session *ss, struct err *e)
{
	if (!ss->dirty)
		return 0;
	smtp_rset(&ss->s);
	ss->dirty = false;
	if (ss->s.conn.fd >= 0)
		return 0;
	ss->open = false;
	return err_set(e, ERR_TEMP, "send message to %s: RSET failed; the connection is closed",
	               ss->host);
}

/* The envelope and the message as BDAT chunks (RFC 3030), with the session's state after a
 * failure (see session_send). */
static int
by_bdat(struct session *ss, const char *sender, const char *params, char *const *rcpts,
        const char *const *rp, size_t n, int *codes, struct source *src, bool last, struct err *e)
{
	struct smtp *s = &ss->s;

	/* With one recipient the data follows the envelope in the same write: a refused sole
	 * recipient leaves nothing to deliver. With more, one refusal must stop the
	 * transaction before any data (SEC-38). */
	if (smtp_bdat_begin(s, sender, params, rcpts, rp, n, codes, n > 1, e) < 0) {
		if (out_of_step(e))
			smtp_abandon(s);
		ss->open = ss->dirty = s->conn.fd >= 0;
		return -1;
	}
	if (session_data_bdat(s, src, last, e) < 0) {
		/* A refusal after the last chunk leaves the session in step; anything else
		 * abandons the transaction (SEC-30), and so does a server out of step (SEC-36). */
		if (!(s->bdat.last_sent && s->bdat.failed) || out_of_step(e))
			smtp_abandon(s);
		ss->open = ss->dirty = s->conn.fd >= 0;
		return -1;
	}
	return 0;
}

/* The envelope and the message after DATA, with the session's state after a failure (see
 * session_send); LMTP reads one reply per recipient (ss->per_rcpt). */
static int
by_data(struct session *ss, const char *sender, const char *params, char *const *rcpts,
        const char *const *rp, size_t n, int *codes, struct source *src, bool last, struct err *e)
{
	struct smtp *s = &ss->s;

	if (smtp_envelope(s, sender, params, rcpts, rp, n, codes, e) < 0) {
		if (out_of_step(e))
			smtp_abandon(s);
		ss->open = ss->dirty = s->conn.fd >= 0;
		return -1;
	}
	if (session_data_send(s, src, e) < 0) {
		/* SEC-30: a message that could not be read or encoded whole is never ended. */
		smtp_abandon(s);
		ss->open = false;
		return -1;
	}
	if (smtp_data_end(s, last, rcpts, n, codes, e) < 0) {
		if (s->lmtp) {
			/* RFC 2033 §4.2: some recipients may have the message now. With every
			 * reply read, and each a 250 or a refusal, the session is in step for the
			 * next one. */
			ss->per_rcpt = s->lmtp_read > 0;
			ss->open = s->conn.fd >= 0 && s->lmtp_read == n && !out_of_step(e);
		} else {
			ss->open = ss->dirty =
			    s->conn.fd >= 0 && e && e->kind != ERR_TEMP && !out_of_step(e);
		}
		if (!ss->open)
			smtp_abandon(s);
		return -1;
	}
	ss->per_rcpt = s->lmtp;
	return 0;
}

/* The server has the message: the copy goes before anything else can happen, so a kill
 * from here on cannot make the message go twice; the TLS session is kept for the next run
 * (a failure costs a full handshake). */
static void
delivered(struct session *ss, struct source *src)
{
	ss->sent++;
	if (src->copy) {
		queue_copy_discard(src->copy);
		src->copy = NULL;
	}
	if (!ss->cache || !ss->s.conn.tls)
		return;
	char *path = session_path(ss->acct, true);
	struct err se;
	if (!path)
		log_info("keep TLS session: no cache folder (HOME, XDG_CACHE_HOME)");
	else if (tls_save_session(ss->s.conn.tls, path, &se) < 0)
		log_info("%s", se.text);
	free(path);
}

/* Whether E is the server's 5xx to the message itself (the end of the data, or a BDAT
 * chunk), not to the envelope: only then may lines over 998 octets be why. */
static bool
data_refused(const struct smtp *s, const struct err *e)
{
	if (!e || e->code < 500 || e->code > 599)
		return false;
	if (s->final_code >= 500)
		return true;
	const struct smtp_bdat *b = &s->bdat;
	return b->chunks > 0 && b->failed && !b->mail_failed && b->refused == 0;
}

/* -v: one line for a delivered message, "delivered to 3 recipients in 1.2 s: 250 2.0.0 Ok",
 * timed from the start of the session (or the end of the transaction before). */
static void
summary(const struct session *ss, size_t n)
{
	char reply[sizeof(ss->s.final_text)];
	int64_t ms = io_clock_ms() - ss->since;

	if (!log_is_verbose())
		return;
	/* The server's text, shown as the transcript shows it: no control characters. */
	snprintf(reply, sizeof(reply), "%s", ss->s.final_text);
	for (char *p = reply; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	log_info("delivered to %zu recipient%s in %lld.%lld s: %s", n, n == 1 ? "" : "s",
	         (long long)(ms / 1000), (long long)(ms % 1000 / 100), reply[0] ? reply : "250");
}

int
session_send(struct session *ss, const char *sender, char *const *rcpts, size_t n, int *codes,
             struct source *src, bool last, struct err *e)
{
	struct smtp *s = &ss->s;
	char params[SMTP_MAIL_EXTRA + 64];
	char **rp = NULL;
	int rc;

	ss->per_rcpt = false;
	s->final_code = 0;
	s->final_text[0] = '\0';
	if (!ss->open)
		return err_set(e, ERR_SOFTWARE, "send message: the session is not open");
	if (reset_if_dirty(ss, e) < 0)
		return -1;
	const char *utf8 = needs_smtputf8(sender, rcpts, n);
	if (check_smtputf8(s, utf8, e) < 0)
		return -1;
	bool dsn = dsn_wanted(ss);
	if (mail_params(ss, src, utf8 != NULL, dsn, params, sizeof(params), e) < 0)
		return -1;
	if (dsn) {
		rp = rcpt_params(ss, rcpts, n, e);
		if (!rp)
			return -1;
	}
	const char *const *rpc = (const char *const *)rp;
	/* LMTP answers BDAT LAST per recipient as well (RFC 3030 §4.2 leaves it to RFC 2033);
	 * postie keeps LMTP on DATA, where RFC 2033 §4.2 says it plainly. */
	if ((s->caps.bits & SMTP_CAP_CHUNKING) && (s->caps.bits & SMTP_CAP_PIPELINING) && !s->lmtp)
		rc = by_bdat(ss, sender, params, rcpts, rpc, n, codes, src, last, e);
	else
		rc = by_data(ss, sender, params, rcpts, rpc, n, codes, src, last, e);
	/* SEC-36: a 250 is delivery only in step with the commands: with QUIT pipelined
	 * behind the data, its reply (already here, or at most 2 s away) must be the 221.
	 * Out of step, the message is not counted as delivered and its copy stays. */
	if (rc == 0 && smtp_quit_check(s, e) < 0) {
		smtp_abandon(s);
		ss->open = false;
		ss->per_rcpt = false; /* LMTP: those 250s are in doubt too */
		rc = -1;
	}
	if (rc == 0)
		delivered(ss, src);
	if (rc == 0)
		summary(ss, n);
	else if (data_refused(s, e))
		source_lines_hint(src, e);
	ss->since = io_clock_ms();
	free_rcpt_params(rp, n);
	return rc;
}

int
session_try_envelope(struct session *ss, const char *sender, char *const *rcpts, size_t n,
                     int *codes, struct err *e)
{
	struct smtp *s = &ss->s;

	if (!ss->open)
		return err_set(e, ERR_SOFTWARE, "try envelope: the session is not open");
	if (reset_if_dirty(ss, e) < 0)
		return -1;
	const char *utf8 = needs_smtputf8(sender, rcpts, n);
	if (check_smtputf8(s, utf8, e) < 0)
		return -1;
	int rc = smtp_try_envelope(s, sender, utf8 ? " SMTPUTF8" : "", rcpts, n, codes, e);
	/* A reply out of step, or none, leaves nothing to reset (a refusal has its code). */
	if (rc < 0 && e && (e->kind == ERR_PROTO || e->code == 0))
		smtp_abandon(s);
	else
		smtp_rset(s);
	ss->open = s->conn.fd >= 0;
	return rc;
}

void
session_close(struct session *ss, const struct err *why)
{
	/* After a timeout, a lost connection, a broken protocol or TLS, a goodbye would only
	 * wait; otherwise QUIT (RFC 5321 §4.1.1.10). */
	bool polite =
	    !why || (why->kind != ERR_TEMP && why->kind != ERR_PROTO && why->kind != ERR_UNSURE &&
	             why->kind != ERR_TLS && why->kind != ERR_SOFTWARE);
	if (ss->s.conn.fd >= 0 && polite)
		smtp_quit(&ss->s);
	conn_close(&ss->s.conn);
	free(ss->host);
	free(ss->cache);
	ss->host = ss->cache = NULL;
	ss->open = false;
}

void
session_init(struct session *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->s.conn.fd = -1;
}

bool
session_tls(const struct session *ss)
{
	return ss->s.tls;
}

int
session_final(const struct session *ss, const char **text)
{
	if (text)
		*text = ss->s.final_text;
	return ss->s.final_code;
}
