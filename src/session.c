/*
 * session: one SMTP session for one account, and the transactions sent over it. RFC 5321,
 * RFC 3207 (STARTTLS), RFC 8314 (implicit TLS), RFC 4954 (AUTH), RFC 2920 (PIPELINING),
 * RFC 3030 (CHUNKING), RFC 1870 (SIZE), RFC 6531 (SMTPUTF8).
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dot.h"
#include "log.h"
#include "sasl.h"

void
source_init(struct source *src, const char *head, size_t head_len, int fd, bool ignore_dots,
	struct queue_copy *copy)
{
	memset(src, 0, sizeof(*src));
	src->head = head;
	src->head_len = head_len;
	buf_init(&src->ahead, SOURCE_READ_AHEAD + SOURCE_READ_CHUNK);
	src->fd = fd;
	src->ignore_dots = ignore_dots;
	src->copy = copy;
}

void
source_fini(struct source *src)
{
	buf_fini(&src->ahead);
}

/* How much one pull moves from the input into the queue copy. */
#define PULL_MAX (1024 * 1024)

/*
 * With a queue copy, the input goes into the copy first, inside the kernel, a megabyte at a
 * time (queue_copy_pull), and is read back from the page cache: no write per read for the
 * copy. Returns as source_read; -2 when pulling is not possible (then read the plain way).
 */
static ssize_t
pull_read(struct source *src, char *p, size_t n, struct err *e)
{
	struct queue_copy *c = src->copy;

	if (!src->pulling) {
		src->pulling = true;
		src->pull_off = c->size;
		/* A bigger pipe lets one pull move more (Linux; refused elsewhere, harmless). */
		fcntl(src->fd, F_SETPIPE_SZ, PULL_MAX);
	}
	if (src->pull_off == c->size) {
		ssize_t k = queue_copy_pull(c, src->fd, PULL_MAX);
		if (k == -2) {
			src->no_pull = true;
			return -2;
		}
		if (k == 0) {
			src->at_end = true;
			source_complete(src);
			return 0;
		}
	}
	size_t want = n < c->size - src->pull_off ? n : (size_t)(c->size - src->pull_off);
	ssize_t r = queue_copy_read(c, src->pull_off, p, want);
	if (r <= 0)
		return err_set(e, ERR_OS, "read message back from the queue copy: %s",
			r < 0 ? strerror(errno) : "short file");
	src->pull_off += (uint64_t)r;
	return r;
}

/* Read once from the source's fd into P; the bytes go to the queue copy too. 0 at the end. */
static ssize_t
source_read(struct source *src, char *p, size_t n, struct err *e)
{
	/* Bytes already pulled into the copy come first, also after pulling had to stop. */
	bool buffered = src->pulling && src->pull_off < src->copy->size;
	if (src->copy && (buffered || !src->no_pull)) {
		ssize_t r = pull_read(src, p, n, e);
		if (r != -2)
			return r;
	}
	for (;;) {
		ssize_t r = read(src->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_OS, "read message: %s; nothing was delivered",
				strerror(errno));
		if (r == 0) {
			src->at_end = true;
			source_complete(src);
		}
		/* A copy that fails keeps its error; the delivery goes on (queue_copy_write). */
		else if (src->copy)
			queue_copy_write(src->copy, p, (size_t)r, NULL);
		return r;
	}
}

static int
count_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	(void)ctx, (void)p, (void)n, (void)e;
	return 0;
}

void
source_complete(struct source *src)
{
	if (src->complete)
		return;
	src->complete = true;
	/* A copy that fails keeps its error for the commit (queue_copy_complete). */
	if (src->copy && src->meta)
		queue_copy_complete(src->copy, src->meta, NULL);
}

int
source_read_ahead(struct source *src, struct err *e)
{
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = 0;
	while (!src->at_end && src->ahead.len < SOURCE_READ_AHEAD) {
		ssize_t n = source_read(src, chunk, SOURCE_READ_CHUNK, e);
		if (n < 0 || (n > 0 && buf_append(&src->ahead, chunk, (size_t)n, e) < 0)) {
			rc = -1;
			break;
		}
	}
	free(chunk);
	if (rc < 0)
		return rc;
	/* The message itself: no dot-stuffing, no end marker (RFC 1870 §3). Without -i, a
	 * line of "." may end it early. */
	struct dot enc;
	dot_init(&enc, !src->ignore_dots);
	enc.bdat = true;
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, count_sink, NULL, e) < 0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len, count_sink,
		    NULL, e) < 0)
		return -1;
	if (!src->at_end && !enc.ended)
		return 0;
	if (dot_finish(&enc, count_sink, NULL, e) < 0)
		return -1;
	src->size = enc.out_bytes;
	source_complete(src);
	return 0;
}

int
source_drain(struct source *src, struct err *e)
{
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	ssize_t n = 0;
	while (!src->complete && !src->at_end &&
	       (n = source_read(src, chunk, SOURCE_READ_CHUNK, e)) >= 0)
		;
	free(chunk);
	if (n < 0)
		return -1;
	source_complete(src);
	return 0;
}

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
	/* The cache base itself may not exist yet (a fresh account): make it too. */
	if (make && mkdir(b.data, 0700) < 0 && errno != EEXIST) {
		buf_fini(&b);
		return NULL;
	}
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

int
session_open(struct session *ss, const struct account *a, const char *password, struct err *e)
{
	struct smtp *s = &ss->s;
	int port = profile_port(a);

	memset(ss, 0, sizeof(*ss));
	ss->acct = a;
	s->conn.fd = -1;
	smtp_timeouts_init(&s->t, a->timeout);
	if (host_ascii(ss, a->host, e) < 0)
		return -1;
	ss->cache = a->tls ? session_path(a, false) : NULL;
	struct tls_config tc = {
		.host = a->tls_host_override ? a->tls_host_override : ss->host,
		.trust_file = a->tls_trust_file,
		.fingerprint = a->tls_fingerprint,
		.certcheck = a->tls_certcheck,
		.priorities = a->tls_priorities,
		.session_file = ss->cache,
	};
	if (conn_open(&s->conn, ss->host, port, conn_clock_ms() + s->t.connect, e) < 0)
		return -1;
	log_info("connected to %s", s->conn.peer);
	if (a->tls && !a->tls_starttls) {
		/* Implicit TLS (RFC 8314 §3): the handshake comes before the greeting. */
		if (conn_start_tls(&s->conn, &tc, conn_clock_ms() + s->t.greeting, e) < 0)
			return -1;
		s->tls = true;
		log_info("TLS started: %s", tls_describe(s->conn.tls));
	}
	if (smtp_greeting(s, e) < 0 || smtp_ehlo(s, a->domain, !a->tls, e) < 0)
		return -1;
	if (a->tls && a->tls_starttls) {
		if (!(s->caps.bits & SMTP_CAP_STARTTLS)) {
			/* SEC-1: no silent downgrade. */
			err_set(e, ERR_TLS,
				"start TLS with %s: the server does not offer STARTTLS; nothing was sent. "
				"%s", s->conn.peer,
				(a->set & PROFILE_SET_TLS)
					? "Use `tls_starttls off` if it speaks TLS from the start (port 465)"
					: "postie requires TLS by default (msmtp did not): if this server has "
					  "no TLS at all, add `tls off` to the account, and know that mail "
					  "then travels in clear");
			smtp_quit(s);
			return -1;
		}
		if (smtp_starttls(s, &tc, a->domain, e) < 0)
			return -1;
	}
	if (a->auth) {
		if (!(s->caps.bits & SMTP_CAP_AUTH)) {
			err_set(e, ERR_PERM, "authenticate to %s: the server offers no AUTH; remove "
				"`user`/`auth` from account %s if it needs none", s->conn.peer, a->name);
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
		struct sasl_creds c = {
			.user = a->user,
			.pass = password,
			.host = ss->host,
			.port = port,
			.cb = cb.len ? (const unsigned char *)cb.data : NULL,
			.cb_len = cb.len,
			.cb_type = cb.len ? cb_type : NULL,
			.offered = s->caps.auth,
		};
		const char *mech = sasl_pick(s->caps.auth, a->auth_mech, &c, e);
		int arc = mech ? smtp_auth(s, mech, &c, e) : -1;
		buf_fini(&cb);
		if (arc < 0) {
			if (!mech || (e && e->kind == ERR_AUTH))
				smtp_quit(s);
			return -1;
		}
		log_info("authenticated with %s", mech);
	}
	ss->open = true;
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

/* The MAIL FROM parameters: SIZE when offered and known (RFC 1870 §6), SMTPUTF8. */
static int
mail_params(struct smtp *s, const struct source *src, bool utf8, char *out, size_t n,
	struct err *e)
{
	size_t k = 0;

	out[0] = '\0';
	if ((s->caps.bits & SMTP_CAP_SIZE) && src->complete) {
		if (s->caps.size && s->caps.size != (unsigned long)-1 && src->size > s->caps.size)
			return err_set(e, ERR_DATA,
				"send message to %s: it is %llu bytes and the server takes at most "
				"%lu (SIZE); nothing was sent", s->conn.peer, src->size, s->caps.size);
		k += (size_t)snprintf(out + k, n - k, " SIZE=%llu", src->size);
	}
	if (utf8)
		snprintf(out + k, n - k, " SMTPUTF8");
	return 0;
}

/* SEC-35: a message of unknown size is stopped, never ended, when it outgrows the limit. */
static int
check_limit(struct smtp *s, const struct dot *enc, struct err *e)
{
	unsigned long limit = s->caps.size;
	if (limit && limit != (unsigned long)-1 && enc->out_bytes > limit)
		return err_set(e, ERR_DATA, "send message to %s: larger than the server's limit "
			"of %lu bytes (SIZE); nothing was delivered", s->conn.peer, limit);
	return 0;
}

/* Stream the source through the DATA encoder: head, read-ahead, then the fd to its end. */
static int
send_data(struct smtp *s, struct source *src, struct err *e)
{
	struct dot enc;
	dot_init(&enc, !src->ignore_dots);
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, smtp_data_sink, s, e) < 0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len,
		    smtp_data_sink, s, e) < 0)
		return -1;
	char *chunk = xmalloc(SOURCE_READ_CHUNK);
	int rc = 0;
	while ((rc = check_limit(s, &enc, e)) == 0 && !src->at_end && !enc.ended) {
		ssize_t n = source_read(src, chunk, SOURCE_READ_CHUNK, e);
		if (n < 0)
			rc = -1;
		else if (n > 0)
			rc = dot_encode(&enc, chunk, (size_t)n, smtp_data_sink, s, e);
		if (rc < 0)
			break;
	}
	if (rc == 0 && enc.ended)
		source_complete(src);
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
 * RCPT; a longer one as chunks of about SOURCE_READ_CHUNK, the last one marked LAST.
 */
static int
send_bdat(struct smtp *s, struct source *src, bool quit, struct err *e)
{
	struct dot enc;
	struct buf chunk;
	int rc = -1;

	dot_init(&enc, !src->ignore_dots);
	enc.bdat = true;
	buf_init(&chunk, 4 * SOURCE_READ_CHUNK);
	char *in = xmalloc(SOURCE_READ_CHUNK);
	if (dot_encode(&enc, src->head ? src->head : "", src->head_len, chunk_sink, &chunk, e) < 0 ||
	    dot_encode(&enc, src->ahead.data ? src->ahead.data : "", src->ahead.len, chunk_sink,
		    &chunk, e) < 0)
		goto out;
	while (check_limit(s, &enc, e) == 0) {
		if (src->at_end || enc.ended) {
			source_complete(src);
			if (dot_finish(&enc, chunk_sink, &chunk, e) < 0 ||
			    smtp_bdat_chunk(s, chunk.data ? chunk.data : "", chunk.len, true, quit,
				    e) < 0 ||
			    smtp_bdat_end(s, e) < 0)
				goto out;
			log_info("message: %llu bytes sent as %zu BDAT chunk%s in %lu writes",
				(unsigned long long)enc.out_bytes, s->bdat.chunks,
				s->bdat.chunks == 1 ? "" : "s", s->conn.writes);
			rc = 0;
			break;
		}
		if (chunk.len >= SOURCE_READ_CHUNK) {
			if (smtp_bdat_chunk(s, chunk.data, chunk.len, false, false, e) < 0)
				goto out;
			buf_reset(&chunk);
		}
		ssize_t n = source_read(src, in, SOURCE_READ_CHUNK, e);
		if (n < 0 || (n > 0 && dot_encode(&enc, in, (size_t)n, chunk_sink, &chunk, e) < 0))
			goto out;
	}
out:
	free(in);
	buf_fini(&chunk);
	return rc;
}

int
session_send(struct session *ss, const char *sender, char *const *rcpts, size_t n, int *codes,
	struct source *src, bool last, struct err *e)
{
	struct smtp *s = &ss->s;
	char params[64];

	if (!ss->open)
		return err_set(e, ERR_SOFTWARE, "send message: the session is not open");
	if (ss->dirty) {
		/* The last transaction failed part-way: start afresh (RFC 5321 §4.1.1.5). */
		smtp_rset(s);
		ss->dirty = false;
		if (s->conn.fd < 0) {
			ss->open = false;
			return err_set(e, ERR_TEMP, "send message to %s: RSET failed; the connection "
				"is closed", ss->host);
		}
	}
	const char *utf8 = needs_smtputf8(sender, rcpts, n);
	if (utf8 && !(s->caps.bits & SMTP_CAP_SMTPUTF8))
		/* SEC-25: an address the server cannot take as UTF-8 is not sent mangled. */
		return err_set(e, ERR_PERM, "send to %s: the address <%s> needs SMTPUTF8, which the "
			"server does not offer; use an ASCII address", s->conn.peer, utf8);
	if (mail_params(s, src, utf8 != NULL, params, sizeof(params), e) < 0)
		return -1;
	if ((s->caps.bits & SMTP_CAP_CHUNKING) && (s->caps.bits & SMTP_CAP_PIPELINING)) {
		/* With one recipient the data follows the envelope in the same write: a
		 * refused sole recipient leaves nothing to deliver. With more, one refusal must
		 * stop the transaction before any data (SEC-38). */
		if (smtp_bdat_begin(s, sender, params, rcpts, n, codes, n > 1, e) < 0) {
			ss->open = ss->dirty = s->conn.fd >= 0;
			return -1;
		}
		if (send_bdat(s, src, last, e) < 0) {
			/* A refusal after the last chunk leaves the session in step; anything
			 * else abandons the transaction (SEC-30). */
			if (!(s->bdat.last_sent && s->bdat.failed))
				smtp_abandon(s);
			ss->open = ss->dirty = s->conn.fd >= 0;
			return -1;
		}
	} else {
		if (smtp_envelope(s, sender, params, rcpts, n, codes, e) < 0) {
			ss->open = ss->dirty = s->conn.fd >= 0;
			return -1;
		}
		if (send_data(s, src, e) < 0) {
			/* SEC-30: a message that could not be read or encoded whole is never
			 * ended. */
			smtp_abandon(s);
			ss->open = false;
			return -1;
		}
		if (smtp_data_end(s, last, e) < 0) {
			ss->open = ss->dirty = s->conn.fd >= 0 && e && e->kind != ERR_TEMP &&
				e->kind != ERR_PROTO;
			return -1;
		}
	}
	ss->sent++;
	/* The server has the message: the copy goes before anything else can happen, so a
	 * kill from here on cannot make the message go twice. */
	if (src->copy) {
		queue_copy_discard(src->copy);
		src->copy = NULL;
	}
	if (smtp_quit_check(s, e) < 0)
		return -1;
	if (ss->cache && s->conn.tls) {
		/* Keep the TLS session for the next run: a failure costs a full handshake. */
		char *path = session_path(ss->acct, true);
		struct err se;
		if (!path)
			log_info("keep TLS session: no cache folder (HOME, XDG_CACHE_HOME)");
		else if (tls_save_session(s->conn.tls, path, &se) < 0)
			log_info("%s", se.text);
		free(path);
	}
	return 0;
}

void
session_close(struct session *ss, const struct err *why)
{
	/* After a timeout, a lost connection, a broken protocol or TLS, a goodbye would only
	 * wait; otherwise QUIT (RFC 5321 §4.1.1.10). */
	bool polite = !why || (why->kind != ERR_TEMP && why->kind != ERR_PROTO &&
		why->kind != ERR_TLS && why->kind != ERR_SOFTWARE);
	if (ss->s.conn.fd >= 0 && polite)
		smtp_quit(&ss->s);
	conn_close(&ss->s.conn);
	free(ss->host);
	free(ss->cache);
	ss->host = ss->cache = NULL;
	ss->open = false;
}
