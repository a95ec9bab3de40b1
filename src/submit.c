/*
 * submit: one delivery, from options and profile to the server's final reply. Every check
 * that needs no server runs before the connection is made, so a bad address, a bad profile
 * or a failing password command never costs a connection and never sends a byte.
 */
#include "submit.h"

#include <errno.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "addr.h"
#include "dot.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "sasl.h"
#include "secret.h"
#include "smtp.h"

#define READ_CHUNK (64 * 1024)
/* How much of the body is read before connecting: a message that ends within it has an
 * exact size for SIZE= (RFC 1870) before MAIL, and costs no reads during the session. */
#define READ_AHEAD (64 * 1024)

struct delivery {
	const struct opts *o;
	struct profile prof;
	const struct account *acct;
	char *sender;           /* normalised envelope sender; "" is the null sender */
	struct addr_list rcpts; /* normalised, without duplicates */
	struct msg msg;
	struct buf password;    /* secret */
	char *host;             /* A-label form of the account's host */
	bool input_done;        /* the whole input is in msg.out and msg.rest */
	unsigned long long size; /* the message size when input_done (RFC 1870) */
};

static int
choose_account(struct delivery *d, struct err *e)
{
	const struct opts *o = d->o;

	if (o->account) {
		d->acct = profile_find(&d->prof, o->account);
		if (!d->acct)
			return err_set(e, ERR_CONFIG,
				"choose account %s: no such account in the profile; check -a", o->account);
		return 0;
	}
	if (o->sender) {
		char *norm = NULL;
		if (addr_envelope(o->sender, true, ERR_USAGE, &norm, e) < 0)
			return -1;
		d->acct = profile_find_by_from(&d->prof, norm);
		free(norm);
		if (d->acct)
			return 0;
	}
	d->acct = profile_find(&d->prof, "default");
	if (!d->acct)
		return err_set(e, ERR_CONFIG,
			"choose account: none given and no default; pass -a NAME or add "
			"`account default : NAME` to ~/.config/postie/config");
	return 0;
}

static int
choose_sender(struct delivery *d, struct err *e)
{
	if (d->o->sender)
		return addr_envelope(d->o->sender, true, ERR_USAGE, &d->sender, e);
	if (d->acct->from)
		return addr_envelope(d->acct->from, true, ERR_CONFIG, &d->sender, e);
	return err_set(e, ERR_CONFIG,
		"choose envelope sender: account %s has no `from`; add `from ADDRESS` to it in %s "
		"or pass -f ADDRESS", d->acct->name, d->acct->file);
}

static void
add_unique(struct addr_list *to, const struct addr_list *from)
{
	for (size_t i = 0; i < from->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < to->n && !seen; j++)
			seen = strcmp(to->v[j], from->v[i]) == 0;
		if (!seen)
			addr_list_add(to, from->v[i]);
	}
}

static int
collect_recipients(struct delivery *d, struct err *e)
{
	struct addr_list l = {0};
	int rc = 0;

	/* SEC-22: every operand must be valid; one bad element refuses the whole run. */
	for (size_t i = 0; i < d->o->nrcpts && rc == 0; i++) {
		const char *r = d->o->rcpts[i];
		if (r[0] == '-')
			rc = err_set(e, ERR_USAGE,
				"check recipient \"%s\": begins with '-'; flags go before recipients", r);
		else
			rc = addr_list_parse(&l, r, strlen(r), ERR_USAGE, e);
	}
	if (rc == 0 && d->o->read_rcpts)
		rc = msg_recipients(&d->msg, &l, e);
	if (rc == 0) {
		add_unique(&d->rcpts, &l);
		if (d->rcpts.n == 0)
			rc = err_set(e, d->o->read_rcpts ? ERR_DATA : ERR_USAGE,
				"collect recipients: none; name them after the flags%s",
				d->o->read_rcpts ? " or in To, Cc or Bcc" : " or pass -t");
	}
	addr_list_fini(&l);
	return rc;
}

/* SEC-8: the host name in A-label form, for DNS, SNI and verification alike. */
static int
host_ascii(struct delivery *d, const char *host, struct err *e)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)host; *p; p++)
		if (*p >= 0x80)
			ascii = false;
	if (ascii) {
		d->host = xstrdup(host);
		return 0;
	}
	char *out = NULL;
	int rc = idn2_to_ascii_8z(host, &out, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		return err_set(e, ERR_CONFIG, "convert host %s: %s; check `host` in %s", host,
			idn2_strerror(rc), d->acct->file);
	d->host = xstrdup(out);
	idn2_free(out);
	return 0;
}

/* What the account asks of TLS and AUTH, checked before connecting (SEC-1, SEC-12). */
static int
check_policy(struct delivery *d, struct err *e)
{
	const struct account *a = d->acct;

	if (!a->host)
		return err_set(e, ERR_CONFIG, "connect: account %s (%s:%u) has no `host`; add one",
			a->name, a->file, a->line);
	if (a->auth && !a->user)
		return err_set(e, ERR_CONFIG,
			"authenticate: account %s (%s:%u) says `auth` but has no `user`; add one",
			a->name, a->file, a->line);
	if (a->auth && !a->tls)
		return err_set(e, ERR_TLS,
			"authenticate to %s: account %s has `tls off`; postie does not send a password "
			"in clear. Turn TLS on (remove `tls off`)", a->host, a->name);
	if (a->auth && !a->tls_certcheck && !a->tls_fingerprint)
		return err_set(e, ERR_TLS,
			"authenticate to %s: account %s has `tls_certcheck off`; postie does not send "
			"a password to an unverified server. Pin it with `tls_fingerprint` instead",
			a->host, a->name);
	if (a->tls && !a->tls_certcheck && !a->tls_fingerprint)
		warn("account %s: tls_certcheck off: the server's certificate is not verified",
			a->name);
	if (a->auth && a->auth_mech && !sasl_choose(a->auth_mech, a->auth_mech, e))
		return -1;
	return 0;
}

static int
count_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	(void)ctx, (void)p, (void)n, (void)e;
	return 0;
}

/*
 * Read up to READ_AHEAD bytes of the body. When the input ends within it, measure the
 * message as it will be sent (line ends made CRLF; without the dot-stuffing and the end
 * marker, which are transport, not message: RFC 1870 §3). A NUL is found here too, before
 * any connection.
 */
static int
read_ahead(struct delivery *d, int fd, struct err *e)
{
	struct buf *rest = &d->msg.rest;

	if (rest->max < READ_AHEAD + READ_CHUNK)
		rest->max = READ_AHEAD + READ_CHUNK;
	d->input_done = !d->msg.has_body_sep;
	char *chunk = xmalloc(READ_CHUNK);
	while (!d->input_done && rest->len < READ_AHEAD) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(chunk);
			return err_set(e, ERR_OS, "read message: %s; nothing was sent", strerror(errno));
		}
		if (n == 0)
			d->input_done = true;
		else if (buf_append(rest, chunk, (size_t)n, e) < 0)
			break;
	}
	free(chunk);
	if (!d->input_done)
		return 0;
	struct dot enc;
	dot_init(&enc, !d->o->ignore_dots);
	enc.bdat = true; /* the message itself: no dot-stuffing, no end marker */
	if (dot_encode(&enc, d->msg.out.data, d->msg.out.len, count_sink, NULL, e) < 0 ||
	    dot_encode(&enc, rest->data ? rest->data : "", rest->len, count_sink, NULL, e) < 0 ||
	    dot_finish(&enc, count_sink, NULL, e) < 0)
		return -1;
	d->size = enc.out_bytes;
	return 0;
}

static int
prepare(struct delivery *d, int fd, struct err *e)
{
	const struct opts *o = d->o;

	if (profile_load(&d->prof, POSTIE_SYSCONFIG, o->profile, e) < 0)
		return -1;
	if (choose_account(d, e) < 0 || choose_sender(d, e) < 0)
		return -1;
	log_info("account %s from %s:%u", d->acct->name, d->acct->file, d->acct->line);
	if (check_policy(d, e) < 0 || host_ascii(d, d->acct->host, e) < 0)
		return -1;
	if (msg_read_header(&d->msg, fd, e) < 0)
		return -1;
	if (collect_recipients(d, e) < 0)
		return -1;
	const char *dom = addr_domain(d->sender);
	struct msg_opts mo = {
		.sender = d->sender,
		.fullname = o->fullname,
		.msgid_domain = dom && *dom ? dom : d->acct->domain,
		.remove_bcc = true,
	};
	if (msg_rewrite(&d->msg, &mo, e) < 0 || read_ahead(d, fd, e) < 0)
		return -1;
	if (d->acct->auth) {
		if (secret_get(d->acct, &d->password, e) < 0)
			return -1;
		if (d->password.len == 0)
			return err_set(e, ERR_CONFIG,
				"authenticate: account %s has no password; add `password` or "
				"`passwordeval` to %s", d->acct->name, d->acct->file);
	}
	return 0;
}

/* Stream the header section, the start of the body, and the rest of FD through the encoder. */
static int
send_body(struct delivery *d, struct smtp *s, int fd, struct err *e)
{
	struct dot enc;
	dot_init(&enc, !d->o->ignore_dots);
	if (dot_encode(&enc, d->msg.out.data, d->msg.out.len, smtp_data_sink, s, e) < 0)
		return -1;
	if (d->msg.rest.len &&
	    dot_encode(&enc, d->msg.rest.data, d->msg.rest.len, smtp_data_sink, s, e) < 0)
		return -1;
	char *chunk = xmalloc(READ_CHUNK);
	int rc = 0;
	unsigned long limit = s->caps.size;
	for (bool more = !d->input_done; rc == 0; ) {
		/* SEC-35: a message of unknown size is stopped, never ended, when it outgrows
		 * the server's limit. */
		if (limit && limit != (unsigned long)-1 && enc.out_bytes > limit) {
			rc = err_set(e, ERR_DATA, "send message to %s: larger than the server's limit "
				"of %lu bytes (SIZE); nothing was delivered", s->conn.peer, limit);
			break;
		}
		if (!more || enc.ended)
			break;
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n == 0) {
			more = false;
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(e, ERR_OS, "read message: %s; nothing was delivered",
				strerror(errno));
			break;
		}
		rc = dot_encode(&enc, chunk, (size_t)n, smtp_data_sink, s, e);
	}
	free(chunk);
	if (rc == 0)
		rc = dot_finish(&enc, smtp_data_sink, s, e);
	if (rc == 0)
		log_info("message: %llu bytes sent in %lu writes", (unsigned long long)enc.out_bytes,
			s->conn.writes);
	return rc;
}

/* A dot_sink that gathers BDAT chunk bytes. */
static int
chunk_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	return buf_append(ctx, p, n, e);
}

/*
 * The body as BDAT chunks (RFC 3030): line ends made CRLF, no dot-stuffing, no end marker.
 * A message that was read whole goes as one "BDAT n LAST" in the same write as MAIL and
 * RCPT; a longer one as chunks of about READ_CHUNK, the last one marked LAST.
 */
static int
send_bdat(struct delivery *d, struct smtp *s, int fd, const char *params, struct err *e)
{
	struct dot enc;
	struct buf chunk;
	int rc = -1;

	dot_init(&enc, !d->o->ignore_dots);
	enc.bdat = true;
	buf_init(&chunk, 4 * READ_CHUNK);
	char *in = xmalloc(READ_CHUNK);
	if (smtp_bdat_begin(s, d->sender, params, d->rcpts.v, d->rcpts.n, d->rcpts.n > 1, e) < 0 ||
	    dot_encode(&enc, d->msg.out.data, d->msg.out.len, chunk_sink, &chunk, e) < 0 ||
	    dot_encode(&enc, d->msg.rest.data ? d->msg.rest.data : "", d->msg.rest.len,
		    chunk_sink, &chunk, e) < 0)
		goto out;
	bool more = !d->input_done;
	unsigned long limit = s->caps.size;
	for (;;) {
		if (limit && limit != (unsigned long)-1 && enc.out_bytes > limit) {
			err_set(e, ERR_DATA, "send message to %s: larger than the server's limit of "
				"%lu bytes (SIZE); nothing was delivered", s->conn.peer, limit);
			goto out;
		}
		if (!more || enc.ended)
			break;
		if (chunk.len >= READ_CHUNK) {
			if (smtp_bdat_chunk(s, chunk.data, chunk.len, false, e) < 0)
				goto out;
			buf_reset(&chunk);
		}
		ssize_t n = read(fd, in, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_OS, "read message: %s; nothing was delivered", strerror(errno));
			goto out;
		}
		if (n == 0)
			more = false;
		else if (dot_encode(&enc, in, (size_t)n, chunk_sink, &chunk, e) < 0)
			goto out;
	}
	if (dot_finish(&enc, chunk_sink, &chunk, e) < 0 ||
	    smtp_bdat_chunk(s, chunk.data ? chunk.data : "", chunk.len, true, e) < 0 ||
	    smtp_bdat_end(s, e) < 0)
		goto out;
	log_info("message: %llu bytes sent as %zu BDAT chunk%s in %lu writes",
		(unsigned long long)enc.out_bytes, s->bdat.chunks, s->bdat.chunks == 1 ? "" : "s",
		s->conn.writes);
	rc = 0;
out:
	free(in);
	buf_fini(&chunk);
	return rc;
}

/*
 * The account's TLS session cache file, $XDG_CACHE_HOME/postie/tls/ACCOUNT (default
 * ~/.cache), or NULL when there is no home. With MAKE, the directories are created (0700).
 */
static char *
session_path(const struct account *a, bool make)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	struct buf b;

	buf_init(&b, 4096);
	if (xdg && xdg[0] == '/')
		buf_puts(&b, xdg, NULL);
	else if (home && home[0] == '/')
		buf_printf(&b, NULL, "%s/.cache", home);
	else
		return NULL;
	const char *parts[] = {"/postie", "/tls"};
	for (size_t i = 0; i < 2; i++) {
		buf_puts(&b, parts[i], NULL);
		if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST) {
			buf_fini(&b);
			return NULL;
		}
	}
	buf_puts(&b, "/", NULL);
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

/* Keep the TLS session for the next run (best effort: a failure costs a full handshake). */
static void
save_session(const struct delivery *d, struct smtp *s)
{
	if (!s->conn.tls)
		return;
	char *path = session_path(d->acct, true);
	struct err e;
	if (path && tls_save_session(s->conn.tls, path, &e) < 0)
		log_info("%s", e.text);
	free(path);
}

/* The first envelope address with a UTF-8 local part (RFC 6531), or NULL. */
static const char *
needs_smtputf8(const struct delivery *d)
{
	for (size_t i = 0; i <= d->rcpts.n; i++) {
		const char *a = i < d->rcpts.n ? d->rcpts.v[i] : d->sender;
		for (const unsigned char *p = (const unsigned char *)a; *p; p++)
			if (*p >= 0x80)
				return a;
	}
	return NULL;
}

/* The MAIL FROM parameters: SIZE when offered and known (RFC 1870 §6), SMTPUTF8. */
static int
mail_params(const struct delivery *d, struct smtp *s, bool utf8, char *out, size_t n,
	struct err *e)
{
	size_t k = 0;

	out[0] = '\0';
	if ((s->caps.bits & SMTP_CAP_SIZE) && d->input_done) {
		if (s->caps.size && s->caps.size != (unsigned long)-1 && d->size > s->caps.size)
			return err_set(e, ERR_DATA,
				"send message to %s: it is %llu bytes and the server takes at most "
				"%lu (SIZE); nothing was sent", s->conn.peer, d->size, s->caps.size);
		k += (size_t)snprintf(out + k, n - k, " SIZE=%llu", d->size);
	}
	if (utf8)
		snprintf(out + k, n - k, " SMTPUTF8");
	return 0;
}

static int
session(struct delivery *d, int fd, struct err *e)
{
	const struct account *a = d->acct;
	struct smtp s = {0};
	int port = profile_port(a);

	s.conn.fd = -1;
	smtp_timeouts_init(&s.t, a->timeout);
	char *cache = a->tls ? session_path(a, false) : NULL;
	struct tls_config tc = {
		.host = a->tls_host_override ? a->tls_host_override : d->host,
		.trust_file = a->tls_trust_file,
		.fingerprint = a->tls_fingerprint,
		.certcheck = a->tls_certcheck,
		.priorities = a->tls_priorities,
		.session_file = cache,
	};
	if (conn_open(&s.conn, d->host, port, conn_clock_ms() + s.t.connect, e) < 0) {
		free(cache);
		return -1;
	}
	log_info("connected to %s", s.conn.peer);
	int rc = -1;
	if (a->tls && !a->tls_starttls) {
		/* Implicit TLS (RFC 8314 §3): the handshake comes before the greeting. */
		if (conn_start_tls(&s.conn, &tc, conn_clock_ms() + s.t.greeting, e) < 0)
			goto out;
		s.tls = true;
		log_info("TLS started: %s", tls_describe(s.conn.tls));
	}
	if (smtp_greeting(&s, e) < 0 || smtp_ehlo(&s, a->domain, !a->tls, e) < 0)
		goto out;
	if (a->tls && a->tls_starttls) {
		if (!(s.caps.bits & SMTP_CAP_STARTTLS)) {
			/* SEC-1: no silent downgrade. */
			err_set(e, ERR_TLS,
				"start TLS with %s: the server does not offer STARTTLS; nothing was sent. "
				"%s", s.conn.peer,
				(a->set & PROFILE_SET_TLS)
					? "Use `tls_starttls off` if it speaks TLS from the start (port 465)"
					: "postie requires TLS by default (msmtp did not): if this server has "
					  "no TLS at all, add `tls off` to the account, and know that mail "
					  "then travels in clear");
			goto out;
		}
		if (smtp_starttls(&s, &tc, a->domain, e) < 0)
			goto out;
	}
	if (a->auth) {
		if (!(s.caps.bits & SMTP_CAP_AUTH)) {
			err_set(e, ERR_PERM, "authenticate to %s: the server offers no AUTH; remove "
				"`user`/`auth` from account %s if it needs none", s.conn.peer, a->name);
			goto out;
		}
		const char *mech = sasl_choose(s.caps.auth, a->auth_mech, e);
		if (!mech || smtp_auth(&s, mech, a->user, d->password.data, e) < 0)
			goto out;
		buf_fini(&d->password);
	}
	const char *utf8 = needs_smtputf8(d);
	if (utf8 && !(s.caps.bits & SMTP_CAP_SMTPUTF8)) {
		/* SEC-25: an address the server cannot take as UTF-8 is not sent mangled. */
		err_set(e, ERR_PERM, "send to %s: the address <%s> needs SMTPUTF8, which the server "
			"does not offer; use an ASCII address", s.conn.peer, utf8);
		goto out;
	}
	char params[64];
	if (mail_params(d, &s, utf8 != NULL, params, sizeof(params), e) < 0)
		goto out;
	if ((s.caps.bits & SMTP_CAP_CHUNKING) && (s.caps.bits & SMTP_CAP_PIPELINING)) {
		/* No 354 round trip; a failure part-way abandons the transaction (SEC-30). */
		if (send_bdat(d, &s, fd, params, e) < 0) {
			smtp_abandon(&s);
			goto out;
		}
	} else {
		if (smtp_envelope(&s, d->sender, params, d->rcpts.v, d->rcpts.n, e) < 0)
			goto out;
		if (send_body(d, &s, fd, e) < 0) {
			/* SEC-30: a message that could not be read or encoded whole is never
			 * ended. */
			smtp_abandon(&s);
			goto out;
		}
		if (smtp_data_end(&s, e) < 0)
			goto out;
	}
	save_session(d, &s);
	rc = 0;
	log_info("delivered to %zu recipient%s", d->rcpts.n, d->rcpts.n == 1 ? "" : "s");
out:
	if (rc < 0 && s.conn.fd >= 0 && e && e->kind != ERR_TEMP && e->kind != ERR_PROTO &&
	    e->kind != ERR_TLS && e->kind != ERR_SOFTWARE)
		smtp_quit(&s);
	else if (rc == 0)
		smtp_quit(&s);
	conn_close(&s.conn);
	free(cache);
	return rc;
}

int
submit_run(const struct opts *o, int fd, struct err *e)
{
	struct delivery d = {.o = o};

	msg_init(&d.msg);
	buf_init(&d.password, BUF_MAX_SECRET);
	d.password.secret = true;
	int rc = prepare(&d, fd, e);
	if (rc == 0)
		rc = session(&d, fd, e);
	buf_fini(&d.password);
	free(d.host);
	free(d.sender);
	addr_list_fini(&d.rcpts);
	msg_fini(&d.msg);
	profile_fini(&d.prof);
	return rc;
}
