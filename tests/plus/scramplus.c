/*
 * scramplus: a small SMTP submission server for postie's tests of SCRAM with channel binding,
 * which no server in Debian 12 offers (Dovecot 2.3 has no -PLUS). It implements the SERVER
 * side of SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (RFC 5802, RFC 7677) with the
 * channel bindings tls-exporter under TLS 1.3 (RFC 9266) and tls-unique under TLS 1.2
 * (RFC 5929 §3), PLAIN (RFC 4616), STARTTLS (RFC 3207) or implicit TLS (RFC 8314), and
 * MAIL/RCPT/DATA (RFC 5321), recording what arrives. The SCRAM arithmetic is written here
 * from the RFC on top of GnuTLS's HMAC, hash and PBKDF2, independently of src/sasl.c, so the
 * two sides check each other.
 *
 * Hostile modes (--mode) make it a server postie must not trust or that must refuse postie:
 *   good          an honest server
 *   bad-signature sends a wrong server signature v= (RFC 5802 §5: the client MUST check it)
 *   no-signature  answers 235 without ever sending v=
 *   bad-nonce     its nonce does not begin with the client's (RFC 5802 §5.1)
 *   bad-binding   checks c= against a binding that differs from the session's (as a server
 *                 on the far side of a man in the middle would): the exchange must fail
 * With --no-cb it is a server that cannot bind at all; without it a client's "y" flag makes
 * it fail the exchange (RFC 5802 §6: the client could bind and saw no -PLUS, so somebody
 * removed -PLUS from the list: a downgrade).
 *
 * Usage: scramplus --certs DIR --out DIR [--port N] [--implicit] [--mechs "A B C"]
 *        [--mode MODE] [--no-cb] [--user U] [--password P] [--iterations N]
 *        [--priorities STRING] [--connections N] [--timeout SECONDS]
 * It prints "PORT n" on standard output once it listens on 127.0.0.1, serves CONNECTIONS
 * connections one after the other (default 1) and exits; a read or accept that waits longer
 * than TIMEOUT seconds (default 30) ends it too. In OUT it writes "log" (one line per event:
 * the commands, "tls VERSION", "auth MECH gs2=HEADER result=ok|fail REASON"), and for each
 * message N "message-N" (the DATA bytes as they came, dot-unstuffed, without the final dot)
 * and "envelope-N" (its MAIL and RCPT lines). DIR holds server.pem and server-key.pem from
 * tests/gencerts.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define LINE_MAX_BYTES 65536 /* a line we read, CRLF included (RFC 5321 says 1000) */
#define SASL_MAX 4096        /* one decoded SASL message */
#define HASH_MAX 32          /* SHA-256 */
#define CB_MAX 64            /* channel binding data: 32 (exporter) or 12..36 (unique) */
#define SALT_BYTES 16
#define NONCE_BYTES 18

enum mode { MODE_GOOD, MODE_BAD_SIGNATURE, MODE_NO_SIGNATURE, MODE_BAD_NONCE, MODE_BAD_BINDING };

static struct {
	const char *certs, *out, *user, *password, *priorities;
	char mechs[512];
	int port, connections, timeout_s;
	unsigned iterations;
	bool implicit, no_cb;
	enum mode mode;
} cfg = {
    .user = "alice",
    .password = "Pa55-w0rd!x",
    .priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
    .mechs = "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 PLAIN",
    .connections = 1,
    .timeout_s = 30,
    .iterations = 4096,
};

static FILE *logf_; /* OUT/log */
static gnutls_certificate_credentials_t creds;
static unsigned messages; /* how many message-N files so far */

struct peer {
	int fd;
	gnutls_session_t tls; /* NULL before TLS */
	char in[LINE_MAX_BYTES];
	size_t len; /* bytes waiting in IN */
	bool authed;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("scramplus: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logline(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(logf_, fmt, ap);
	fputc('\n', logf_);
	fflush(logf_);
	va_end(ap);
}

/* Append N bytes at S to DST (MAX bytes, kept NUL-terminated) at *LEN. False: no room. */
static bool
put(char *dst, size_t max, size_t *len, const char *s, size_t n)
{
	if (n >= max - *len)
		return false;
	memcpy(dst + *len, s, n);
	*len += n;
	dst[*len] = '\0';
	return true;
}

/* ---- base64 (RFC 4648 §4), written out so the server depends on nothing but GnuTLS ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode N bytes at P into OUT (room for 4 * ((N + 2) / 3) + 1). */
static size_t
b64_encode(const unsigned char *p, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[k++] = b64chars[(v >> 18) & 63];
		out[k++] = b64chars[(v >> 12) & 63];
		out[k++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		out[k++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	out[k] = '\0';
	return k;
}

static int
b64_value(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

/* Decode LEN characters at S into OUT (at most MAX bytes). -1 when S is not strict base64. */
static long
b64_decode(const char *s, size_t len, unsigned char *out, size_t max)
{
	size_t k = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64_value(s[i + j])) < 0) {
				return -1;
			}
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		             (unsigned)v[3];
		unsigned char b[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8),
		                      (unsigned char)w};
		for (int j = 0; j < 3 - pad; j++) {
			if (k == max)
				return -1;
			out[k++] = b[j];
		}
	}
	return (long)k;
}

/* ---- the connection: a line reader over the socket or the TLS session ---- */

/* Read more bytes into P->in. >0 count, 0 end of stream, -1 timeout or error. */
static ssize_t
peer_fill(struct peer *p)
{
	if (p->len == sizeof(p->in))
		return -1;
	if (p->tls) {
		ssize_t r;
		do
			r = gnutls_record_recv(p->tls, p->in + p->len, sizeof(p->in) - p->len);
		while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r < 0) {
			logline("tls read: %s", gnutls_strerror((int)r));
			return r == GNUTLS_E_PREMATURE_TERMINATION ? 0 : -1;
		}
		p->len += (size_t)r;
		return r;
	}
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};
	int pr = poll(&pf, 1, cfg.timeout_s * 1000);
	if (pr <= 0) {
		logline("read: %s", pr == 0 ? "timeout" : strerror(errno));
		return -1;
	}
	ssize_t r = recv(p->fd, p->in + p->len, sizeof(p->in) - p->len, 0);
	if (r < 0) {
		logline("read: %s", strerror(errno));
		return -1;
	}
	p->len += (size_t)r;
	return r;
}

/*
 * The next line, CRLF (or LF) included, copied to LINE (LINE_MAX_BYTES + 1). Returns its
 * length, 0 at the end of the stream, -1 on error or a line longer than the buffer.
 */
static long
peer_line(struct peer *p, char *line)
{
	for (;;) {
		char *lf = memchr(p->in, '\n', p->len);
		if (lf) {
			size_t n = (size_t)(lf - p->in) + 1;
			memcpy(line, p->in, n);
			line[n] = '\0';
			memmove(p->in, p->in + n, p->len - n);
			p->len -= n;
			return (long)n;
		}
		ssize_t r = peer_fill(p);
		if (r <= 0)
			return r;
	}
}

/* Cut the line ending off LINE of N bytes; returns the new length. */
static size_t
chomp(char *line, size_t n)
{
	if (n && line[n - 1] == '\n')
		n--;
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return n;
}

static int
peer_write(struct peer *p, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t r;
		if (p->tls) {
			r = gnutls_record_send(p->tls, s, n);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
		} else {
			r = send(p->fd, s, n, MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
		}
		if (r <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Send one reply line (CRLF added) and log it. */
static int reply(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
reply(struct peer *p, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		die("reply too long");
	logline("S: %s", line);
	line[n] = '\r';
	line[n + 1] = '\n';
	return peer_write(p, line, (size_t)n + 2);
}

static int
tls_begin(struct peer *p)
{
	gnutls_session_t s;
	int r;

	if (gnutls_init(&s, GNUTLS_SERVER) < 0)
		die("gnutls_init failed");
	const char *where = NULL;
	r = gnutls_priority_set_direct(s, cfg.priorities, &where);
	if (r < 0)
		die("priority string %s: %s at %s", cfg.priorities, gnutls_strerror(r),
		    where ? where : "?");
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
	gnutls_transport_set_int(s, p->fd);
	gnutls_handshake_set_timeout(s, (unsigned)cfg.timeout_s * 1000);
	gnutls_record_set_timeout(s, (unsigned)cfg.timeout_s * 1000);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		logline("tls handshake failed: %s", gnutls_strerror(r));
		gnutls_deinit(s);
		return -1;
	}
	p->tls = s;
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	logline("tls %s%s", v ? v : "?",
	        gnutls_protocol_get_version(s) == GNUTLS_TLS1_2 &&
	                gnutls_session_ext_master_secret_status(s)
	            ? " ems"
	            : "");
	return 0;
}

/* ---- channel binding (RFC 5929, RFC 9266) ---- */

/*
 * The session's binding: tls-exporter under TLS 1.3 (RFC 9266 §2 defines no tls-unique for
 * it), tls-unique under TLS 1.2. Into CB (CB_MAX); returns the length, NAME set, or -1.
 */
static long
session_binding(gnutls_session_t s, unsigned char *cb, const char **name)
{
	gnutls_datum_t d = {NULL, 0};
	gnutls_channel_binding_t kind;

	if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_3) {
		kind = GNUTLS_CB_TLS_EXPORTER;
		*name = "tls-exporter";
	} else {
		kind = GNUTLS_CB_TLS_UNIQUE;
		*name = "tls-unique";
	}
	if (gnutls_session_channel_binding(s, kind, &d) < 0 || d.size == 0 || d.size > CB_MAX)
		return -1;
	memcpy(cb, d.data, d.size);
	long n = (long)d.size;
	gnutls_free(d.data);
	/* What a server behind a man in the middle sees: another session's binding. */
	if (cfg.mode == MODE_BAD_BINDING)
		cb[n - 1] ^= 0x5a;
	return n;
}

/* ---- SASL ---- */

/* Whether MECH (any case) is in the advertised list. */
static bool
offered(const char *mech)
{
	size_t n = strlen(mech);
	for (const char *p = cfg.mechs; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && strncasecmp(p, mech, n) == 0)
			return true;
		p += k;
		p += strspn(p, " ");
	}
	return false;
}

/*
 * Read one SASL response line and decode it into OUT (SASL_MAX + 1, NUL-terminated for
 * convenience). Returns its length, -2 for "*" (the client cancelled, RFC 4954 §4), -3 for
 * bad base64, -1 when the connection ended.
 */
static long
sasl_read(struct peer *p, unsigned char *out)
{
	static char line[LINE_MAX_BYTES + 1];
	long n = peer_line(p, line);

	if (n <= 0)
		return -1;
	size_t len = chomp(line, (size_t)n);
	logline("C: %s", line);
	if (len == 1 && line[0] == '*')
		return -2;
	long k = b64_decode(line, len, out, SASL_MAX);
	if (k < 0)
		return -3;
	out[k] = '\0';
	return k;
}

/* Send "334 " + base64 of N bytes at P. */
static int
sasl_send(struct peer *p, const void *msg, size_t n)
{
	static char b64[SASL_MAX * 2];

	if (n > SASL_MAX)
		die("SASL message too long");
	b64_encode(msg, n, b64);
	return reply(p, "334 %s", b64);
}

/* Answer a failed exchange where the client has finished its part. */
static int
auth_fail(struct peer *p, const char *mech, const char *gs2, const char *why)
{
	logline("auth %s gs2=%s result=fail %s", mech, gs2 ? gs2 : "-", why);
	return reply(p, "535 5.7.8 Authentication credentials invalid (%s)", why);
}

/*
 * After a server-final-message with e= (RFC 5802 §7: "server-error"): the client answers
 * with "*" or an empty line, then the failure comes (RFC 4954 §4).
 */
static int
scram_error(struct peer *p, const char *mech, const char *gs2, const char *why)
{
	char msg[128];
	unsigned char in[SASL_MAX + 1];

	int n = snprintf(msg, sizeof(msg), "e=%s", why);
	logline("auth %s gs2=%s result=fail %s", mech, gs2, why);
	if (sasl_send(p, msg, (size_t)n) < 0)
		return -1;
	long r = sasl_read(p, in);
	if (r == -1)
		return -1;
	if (r == -2)
		return reply(p, "501 5.7.0 Authentication cancelled");
	return reply(p, "535 5.7.8 Authentication credentials invalid (%s)", why);
}

/* Constant time, so the check leaks nothing about where the bytes differ. */
static bool
same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * A saslname (RFC 5802 §5.1: "," as "=2C", "=" as "=3D") at S, N bytes, into OUT (size
 * MAX). False when it is badly encoded.
 */
static bool
saslname_decode(const char *s, size_t n, char *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			if (n - i < 3)
				return false;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				c = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				c = '=';
			else
				return false;
			i += 2;
		} else if (c == ',' || c == '\0') {
			return false;
		}
		if (k + 1 >= max)
			return false;
		out[k++] = c;
	}
	out[k] = '\0';
	return true;
}

/* The value of attribute NAME ("r" for "r=") at the start of *S (up to END); moves *S on. */
static bool
attr(const char **s, const char *end, char name, const char **val, size_t *len)
{
	const char *p = *s;

	if (end - p < 2 || p[0] != name || p[1] != '=')
		return false;
	p += 2;
	const char *comma = memchr(p, ',', (size_t)(end - p));
	*val = p;
	*len = comma ? (size_t)(comma - p) : (size_t)(end - p);
	*s = comma ? comma + 1 : end;
	return true;
}

/*
 * The server side of SCRAM (RFC 5802 §5, §7) for MECH. INITIAL is the AUTH line's initial
 * response (NULL: none). Returns 0 when the dialogue went as far as it could (authenticated
 * or not: P->authed says), -1 when the connection is lost.
 */
static int
scram(struct peer *p, const char *mech, const char *initial)
{
	bool plus = strlen(mech) > 5 && strcasecmp(mech + strlen(mech) - 5, "-PLUS") == 0;
	bool sha1 = strncasecmp(mech, "SCRAM-SHA-1", 11) == 0;
	gnutls_mac_algorithm_t mac = sha1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	gnutls_digest_algorithm_t dig = sha1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
	size_t hlen = sha1 ? 20 : 32;
	unsigned char first[SASL_MAX + 1], final[SASL_MAX + 1];
	long flen;

	/* client-first-message: with AUTH, or after an empty 334 (RFC 4954 §4) */
	if (initial) {
		if (strcmp(initial, "=") == 0)
			flen = 0;
		else
			flen = b64_decode(initial, strlen(initial), first, SASL_MAX);
		if (flen >= 0)
			first[flen] = '\0';
	} else {
		if (reply(p, "334 ") < 0)
			return -1;
		flen = sasl_read(p, first);
		if (flen == -1)
			return -1;
		if (flen == -2)
			return reply(p, "501 5.7.0 Authentication cancelled");
	}
	if (flen < 0)
		return reply(p, "501 5.5.2 Invalid base64");
	if (memchr(first, '\0', (size_t)flen))
		return auth_fail(p, mech, NULL, "invalid-encoding");

	/* gs2-header = gs2-cbind-flag "," [ authzid ] "," (RFC 5802 §7) */
	const char *end = (const char *)first + flen;
	const char *c1 = memchr(first, ',', (size_t)flen);
	const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
	if (!c2)
		return auth_fail(p, mech, NULL, "invalid-encoding");
	char gs2[256];
	size_t gs2len = (size_t)(c2 + 1 - (const char *)first);
	if (gs2len >= sizeof(gs2))
		return auth_fail(p, mech, NULL, "invalid-encoding");
	memcpy(gs2, first, gs2len);
	gs2[gs2len] = '\0';

	unsigned char cb[CB_MAX];
	const char *cbname = NULL;
	long cblen = 0;
	if (gs2[0] == 'p' && gs2[1] == '=') {
		/* RFC 5802 §6: "p" only with a -PLUS mechanism, and with the type we use. */
		if (!plus)
			return auth_fail(p, mech, gs2, "channel-binding-not-supported");
		cblen = session_binding(p->tls, cb, &cbname);
		if (cblen < 0)
			return auth_fail(p, mech, gs2, "channel-binding-not-supported");
		size_t nl = strlen(cbname);
		size_t given = (size_t)(c1 - (const char *)first) - 2;
		if (given != nl || memcmp(gs2 + 2, cbname, nl) != 0)
			return auth_fail(p, mech, gs2, "unsupported-channel-binding-type");
	} else if (gs2[0] == 'y' && c1 == (const char *)first + 1) {
		/* RFC 5802 §6: the client could bind but saw no -PLUS. A server that can bind
		 * MUST fail it: somebody removed -PLUS from the list on the way. */
		if (plus)
			return auth_fail(p, mech, gs2, "invalid-encoding");
		if (!cfg.no_cb)
			return auth_fail(p, mech, gs2, "server-does-support-channel-binding");
	} else if (gs2[0] == 'n' && c1 == (const char *)first + 1) {
		if (plus)
			return auth_fail(p, mech, gs2, "invalid-encoding");
	} else {
		return auth_fail(p, mech, gs2, "invalid-encoding");
	}

	/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," ext] */
	const char *bare = c2 + 1;
	const char *s = bare;
	const char *v;
	size_t vlen;
	char user[256];
	if (!attr(&s, end, 'n', &v, &vlen))
		return auth_fail(p, mech, gs2,
		                 s < end && *s == 'm' ? "extensions-not-supported"
		                                      : "invalid-encoding");
	if (!saslname_decode(v, vlen, user, sizeof(user)))
		return auth_fail(p, mech, gs2, "invalid-username-encoding");
	const char *cnonce;
	size_t cnlen;
	if (!attr(&s, end, 'r', &cnonce, &cnlen) || cnlen == 0)
		return auth_fail(p, mech, gs2, "invalid-encoding");
	if (strcmp(user, cfg.user) != 0)
		return auth_fail(p, mech, gs2, "unknown-user");

	/* server-first-message = "r=" c-nonce s-nonce ",s=" salt ",i=" iteration-count */
	unsigned char raw[NONCE_BYTES], salt[SALT_BYTES];
	char snonce[NONCE_BYTES * 2], salt64[SALT_BYTES * 2];
	if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt)) < 0)
		die("gnutls_rnd failed");
	b64_encode(raw, sizeof(raw), snonce);
	b64_encode(salt, sizeof(salt), salt64);
	char sfirst[1024], iter[16];
	size_t sflen = 0;
	snprintf(iter, sizeof(iter), "%u", cfg.iterations);
	if (!put(sfirst, sizeof(sfirst), &sflen, "r=", 2) ||
	    !put(sfirst, sizeof(sfirst), &sflen, cnonce, cfg.mode == MODE_BAD_NONCE ? 0 : cnlen) ||
	    !put(sfirst, sizeof(sfirst), &sflen, snonce, strlen(snonce)) ||
	    !put(sfirst, sizeof(sfirst), &sflen, ",s=", 3) ||
	    !put(sfirst, sizeof(sfirst), &sflen, salt64, strlen(salt64)) ||
	    !put(sfirst, sizeof(sfirst), &sflen, ",i=", 3) ||
	    !put(sfirst, sizeof(sfirst), &sflen, iter, strlen(iter)))
		return auth_fail(p, mech, gs2, "no-resources");
	if (sasl_send(p, sfirst, sflen) < 0)
		return -1;

	/* client-final-message = "c=" base64(gs2-header [cbind-data]) ",r=" nonce ",p=" proof */
	long cflen = sasl_read(p, final);
	if (cflen == -1)
		return -1;
	if (cflen == -2) {
		logline("auth %s gs2=%s result=fail cancelled by client", mech, gs2);
		return reply(p, "501 5.7.0 Authentication cancelled");
	}
	if (cflen < 0)
		return reply(p, "501 5.5.2 Invalid base64");
	const char *fend = (const char *) final + cflen;
	const char *pp = NULL;
	for (const char *q = (const char *) final; q + 3 <= fend; q++)
		if (q[0] == ',' && q[1] == 'p' && q[2] == '=')
			pp = q;
	s = (const char *) final;
	const char *c64, *rn;
	size_t c64len, rnlen;
	if (!pp || !attr(&s, pp, 'c', &c64, &c64len) || !attr(&s, pp, 'r', &rn, &rnlen))
		return scram_error(p, mech, gs2, "invalid-encoding");

	/* c=: what the client bound to (RFC 5802 §6) */
	unsigned char cbind[CB_MAX + 256];
	long cbl = b64_decode(c64, c64len, cbind, sizeof(cbind));
	if (cbl < 0)
		return scram_error(p, mech, gs2, "invalid-encoding");
	if ((size_t)cbl < gs2len || memcmp(cbind, gs2, gs2len) != 0)
		return scram_error(p, mech, gs2, "channel-bindings-dont-match");
	if ((size_t)cbl != gs2len + (size_t)cblen || !same_bytes(cbind + gs2len, cb, (size_t)cblen))
		return scram_error(p, mech, gs2, "channel-bindings-dont-match");

	/* r=: our combined nonce, unchanged */
	if (rnlen != cnlen + strlen(snonce) || memcmp(rn, cnonce, cnlen) != 0 ||
	    memcmp(rn + cnlen, snonce, strlen(snonce)) != 0) {
		/* A client that refused our nonce would not be here; one that sent another is
		 * broken. */
		if (cfg.mode != MODE_BAD_NONCE)
			return scram_error(p, mech, gs2, "invalid-encoding");
	}

	unsigned char proof[HASH_MAX];
	long prlen = b64_decode(pp + 3, (size_t)(fend - pp - 3), proof, sizeof(proof));
	if (prlen != (long)hlen)
		return scram_error(p, mech, gs2, "invalid-proof");

	/*
	 * RFC 5802 §3:
	 *   SaltedPassword  := Hi(Normalize(password), salt, i)     (PBKDF2 with HMAC)
	 *   ClientKey       := HMAC(SaltedPassword, "Client Key")
	 *   StoredKey       := H(ClientKey)
	 *   AuthMessage     := client-first-message-bare + "," + server-first-message + "," +
	 *                      client-final-message-without-proof
	 *   ClientSignature := HMAC(StoredKey, AuthMessage)
	 *   ClientProof     := ClientKey XOR ClientSignature
	 *   ServerKey       := HMAC(SaltedPassword, "Server Key")
	 *   ServerSignature := HMAC(ServerKey, AuthMessage)
	 * The passwords of the tests are ASCII, where SASLprep (RFC 4013) changes nothing.
	 */
	unsigned char salted[HASH_MAX], ckey[HASH_MAX], stored[HASH_MAX], csig[HASH_MAX];
	unsigned char skey[HASH_MAX], ssig[HASH_MAX], check[HASH_MAX], recovered[HASH_MAX];
	gnutls_datum_t key = {(unsigned char *)cfg.password, (unsigned)strlen(cfg.password)};
	gnutls_datum_t saltd = {salt, sizeof(salt)};
	if (gnutls_pbkdf2(mac, &key, &saltd, cfg.iterations, salted, hlen) < 0)
		die("gnutls_pbkdf2 failed");
	static char authmsg[3 * SASL_MAX];
	size_t amlen = 0;
	if (!put(authmsg, sizeof(authmsg), &amlen, bare, (size_t)(end - bare)) ||
	    !put(authmsg, sizeof(authmsg), &amlen, ",", 1) ||
	    !put(authmsg, sizeof(authmsg), &amlen, sfirst, sflen) ||
	    !put(authmsg, sizeof(authmsg), &amlen, ",", 1) ||
	    !put(authmsg, sizeof(authmsg), &amlen, (const char *) final,
	         (size_t)(pp - (const char *) final)))
		return scram_error(p, mech, gs2, "no-resources");
	if (gnutls_hmac_fast(mac, salted, hlen, "Client Key", 10, ckey) < 0 ||
	    gnutls_hash_fast(dig, ckey, hlen, stored) < 0 ||
	    gnutls_hmac_fast(mac, stored, hlen, authmsg, amlen, csig) < 0 ||
	    gnutls_hmac_fast(mac, salted, hlen, "Server Key", 10, skey) < 0 ||
	    gnutls_hmac_fast(mac, skey, hlen, authmsg, amlen, ssig) < 0)
		die("GnuTLS HMAC or hash failed");
	/* The client's key comes back out of its proof; its hash must be our StoredKey. */
	for (size_t i = 0; i < hlen; i++)
		recovered[i] = proof[i] ^ csig[i];
	if (gnutls_hash_fast(dig, recovered, hlen, check) < 0)
		die("GnuTLS hash failed");
	if (!same_bytes(check, stored, hlen))
		return scram_error(p, mech, gs2, "invalid-proof");

	/* server-final-message = "v=" base64(ServerSignature) */
	logline("auth %s gs2=%s cb=%s result=ok", mech, gs2, cbname ? cbname : "-");
	p->authed = true;
	if (cfg.mode == MODE_NO_SIGNATURE)
		return reply(p, "235 2.7.0 Authentication successful");
	if (cfg.mode == MODE_BAD_SIGNATURE)
		ssig[0] ^= 0x01;
	char sfinal[2 + HASH_MAX * 2];
	memcpy(sfinal, "v=", 2);
	size_t vl = b64_encode(ssig, hlen, sfinal + 2);
	if (sasl_send(p, sfinal, 2 + vl) < 0)
		return -1;
	/* SMTP has no "additional data with success" (RFC 4954 §4): v= comes as a 334, which
	 * the client answers with an empty line once it has checked it. */
	long r = sasl_read(p, final);
	if (r == -1)
		return -1;
	if (r != 0) {
		p->authed = false;
		logline("auth %s: the client refused the server signature", mech);
		return reply(p, r == -2 ? "501 5.7.0 Authentication cancelled"
		                        : "535 5.7.8 Authentication failed");
	}
	return reply(p, "235 2.7.0 Authentication successful");
}

/* PLAIN (RFC 4616 §2): [authzid] NUL authcid NUL passwd */
static int
plain(struct peer *p, const char *initial)
{
	unsigned char msg[SASL_MAX + 1];
	long n;

	if (initial) {
		n = b64_decode(initial, strlen(initial), msg, SASL_MAX);
	} else {
		if (reply(p, "334 ") < 0)
			return -1;
		n = sasl_read(p, msg);
		if (n == -1)
			return -1;
		if (n == -2)
			return reply(p, "501 5.7.0 Authentication cancelled");
	}
	if (n < 0)
		return reply(p, "501 5.5.2 Invalid base64");
	const unsigned char *z1 = memchr(msg, '\0', (size_t)n);
	const unsigned char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(msg + n - z1 - 1)) : NULL;
	if (!z2)
		return auth_fail(p, "PLAIN", NULL, "invalid-encoding");
	size_t ul = (size_t)(z2 - z1 - 1), pl = (size_t)(msg + n - z2 - 1);
	if (ul != strlen(cfg.user) || memcmp(z1 + 1, cfg.user, ul) != 0 ||
	    pl != strlen(cfg.password) || memcmp(z2 + 1, cfg.password, pl) != 0)
		return auth_fail(p, "PLAIN", NULL, "invalid-proof");
	logline("auth PLAIN gs2=- result=ok");
	p->authed = true;
	return reply(p, "235 2.7.0 Authentication successful");
}

static int
auth(struct peer *p, char *args)
{
	char *mech = args;
	char *sp = strchr(args, ' ');
	char *initial = NULL;

	if (sp) {
		*sp = '\0';
		initial = sp + 1;
	}
	if (!p->tls)
		return reply(p, "538 5.7.11 Encryption required for the mechanism");
	if (p->authed)
		return reply(p, "503 5.5.1 Already authenticated");
	if (!offered(mech))
		return reply(p, "504 5.5.4 Unrecognized authentication type");
	for (char *c = mech; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	if (strcmp(mech, "PLAIN") == 0)
		return plain(p, initial);
	if (strncmp(mech, "SCRAM-SHA-", 10) == 0)
		return scram(p, mech, initial);
	return reply(p, "504 5.5.4 Unrecognized authentication type");
}

/* ---- SMTP ---- */

static FILE *
open_out(const char *name, unsigned n)
{
	char path[4096];

	int k = snprintf(path, sizeof(path), "%s/%s-%u", cfg.out, name, n);
	if (k < 0 || (size_t)k >= sizeof(path))
		die("path too long");
	FILE *f = fopen(path, "wb");
	if (!f)
		die("open %s: %s", path, strerror(errno));
	return f;
}

/* DATA (RFC 5321 §4.1.1.4, §4.5.2): the lines up to "." alone, dot-unstuffed. */
static int
data(struct peer *p, char *envelope, size_t envlen)
{
	static char line[LINE_MAX_BYTES + 1];

	if (reply(p, "354 End data with <CR><LF>.<CR><LF>") < 0)
		return -1;
	unsigned n = ++messages;
	FILE *f = open_out("message", n);
	unsigned long bytes = 0;
	for (;;) {
		long k = peer_line(p, line);
		if (k <= 0) {
			fclose(f);
			logline("message %u: the connection ended inside DATA", n);
			return -1;
		}
		if (k == 3 && memcmp(line, ".\r\n", 3) == 0)
			break;
		const char *s = line[0] == '.' ? line + 1 : line;
		size_t len = (size_t)k - (size_t)(s - line);
		if (fwrite(s, 1, len, f) != len)
			die("write message: %s", strerror(errno));
		bytes += len;
	}
	if (fclose(f) != 0)
		die("write message: %s", strerror(errno));
	f = open_out("envelope", n);
	fwrite(envelope, 1, envlen, f);
	fclose(f);
	logline("message %u: %lu bytes", n, bytes);
	return reply(p, "250 2.0.0 Ok: queued as %u", n);
}

static void
ehlo(struct peer *p)
{
	reply(p, "250-localhost");
	if (!p->tls) {
		reply(p, "250-PIPELINING");
		reply(p, "250 STARTTLS");
		return;
	}
	/* RFC 3207 §4.2: what follows TLS is said anew. AUTH only under TLS. */
	reply(p, "250-PIPELINING");
	reply(p, "250-8BITMIME");
	reply(p, "250 AUTH %s", cfg.mechs);
}

static void
serve(int fd)
{
	static struct peer peer;
	static char line[LINE_MAX_BYTES + 1];
	static char envelope[8192];
	struct peer *p = &peer;
	size_t envlen = 0;
	bool mail = false;
	int rcpts = 0;

	memset(p, 0, sizeof(*p));
	p->fd = fd;
	if (cfg.implicit && tls_begin(p) < 0)
		return;
	if (reply(p, "220 localhost ESMTP scramplus") < 0)
		goto done;
	for (;;) {
		long n = peer_line(p, line);
		if (n <= 0) {
			logline("connection ended");
			break;
		}
		size_t len = chomp(line, (size_t)n);
		logline("C: %s", line);
		if (strncasecmp(line, "EHLO ", 5) == 0) {
			ehlo(p);
		} else if (strcasecmp(line, "STARTTLS") == 0 && !p->tls) {
			reply(p, "220 2.0.0 Ready to start TLS");
			if (p->len) {
				logline("bytes after STARTTLS: refused");
				break;
			}
			if (tls_begin(p) < 0)
				break;
			mail = false;
			rcpts = 0;
			envlen = 0;
		} else if (strncasecmp(line, "AUTH ", 5) == 0) {
			if (auth(p, line + 5) < 0)
				break;
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (!p->authed) {
				reply(p, "530 5.7.0 Authentication required");
				continue;
			}
			envlen = 0;
			mail = true;
			rcpts = 0;
			if (!put(envelope, sizeof(envelope), &envlen, line, len) ||
			    !put(envelope, sizeof(envelope), &envlen, "\n", 1)) {
				reply(p, "552 5.3.4 Too long");
				mail = false;
				continue;
			}
			reply(p, "250 2.1.0 Ok");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (!mail) {
				reply(p, "503 5.5.1 MAIL first");
				continue;
			}
			if (!put(envelope, sizeof(envelope), &envlen, line, len) ||
			    !put(envelope, sizeof(envelope), &envlen, "\n", 1)) {
				reply(p, "452 4.5.3 Too many recipients");
				continue;
			}
			rcpts++;
			reply(p, "250 2.1.5 Ok");
		} else if (strcasecmp(line, "DATA") == 0) {
			if (!mail || rcpts == 0) {
				reply(p, "503 5.5.1 MAIL and RCPT first");
				continue;
			}
			if (data(p, envelope, envlen) < 0)
				break;
			mail = false;
			rcpts = 0;
		} else if (strcasecmp(line, "RSET") == 0) {
			mail = false;
			rcpts = 0;
			reply(p, "250 2.0.0 Ok");
		} else if (strcasecmp(line, "NOOP") == 0) {
			reply(p, "250 2.0.0 Ok");
		} else if (strcasecmp(line, "QUIT") == 0) {
			reply(p, "221 2.0.0 Bye");
			break;
		} else {
			reply(p, "500 5.5.2 Command not recognized");
		}
	}
done:
	if (p->tls) {
		gnutls_bye(p->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(p->tls);
	}
}

static enum mode
parse_mode(const char *s)
{
	static const struct {
		const char *name;
		enum mode m;
	} modes[] = {
	    {"good", MODE_GOOD},
	    {"bad-signature", MODE_BAD_SIGNATURE},
	    {"no-signature", MODE_NO_SIGNATURE},
	    {"bad-nonce", MODE_BAD_NONCE},
	    {"bad-binding", MODE_BAD_BINDING},
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(s, modes[i].name) == 0)
			return modes[i].m;
	die("unknown mode %s", s);
	return MODE_GOOD;
}

static long
number(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("bad number %s", s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"certs", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"port", required_argument, NULL, 'p'},
	    {"implicit", no_argument, NULL, 'I'},
	    {"mechs", required_argument, NULL, 'm'},
	    {"mode", required_argument, NULL, 'M'},
	    {"no-cb", no_argument, NULL, 'N'},
	    {"user", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'w'},
	    {"iterations", required_argument, NULL, 'i'},
	    {"priorities", required_argument, NULL, 'P'},
	    {"connections", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cfg.certs = optarg;
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case 'p':
			cfg.port = (int)number(optarg, 0, 65535);
			break;
		case 'I':
			cfg.implicit = true;
			break;
		case 'm':
			if (snprintf(cfg.mechs, sizeof(cfg.mechs), "%s", optarg) >=
			    (int)sizeof(cfg.mechs))
				die("--mechs too long");
			break;
		case 'M':
			cfg.mode = parse_mode(optarg);
			break;
		case 'N':
			cfg.no_cb = true;
			break;
		case 'u':
			cfg.user = optarg;
			break;
		case 'w':
			cfg.password = optarg;
			break;
		case 'i':
			cfg.iterations = (unsigned)number(optarg, 1, 1000000);
			break;
		case 'P':
			cfg.priorities = optarg;
			break;
		case 'n':
			cfg.connections = (int)number(optarg, 1, 100);
			break;
		case 't':
			cfg.timeout_s = (int)number(optarg, 1, 3600);
			break;
		default:
			die("usage: scramplus --certs DIR --out DIR [options] (see the source)");
		}
	}
	if (!cfg.certs || !cfg.out || optind != argc)
		die("usage: scramplus --certs DIR --out DIR [options] (see the source)");

	char path[4096], cert[4096], key[4096];
	snprintf(path, sizeof(path), "%s/log", cfg.out);
	logf_ = fopen(path, "a");
	if (!logf_)
		die("open %s: %s", path, strerror(errno));
	snprintf(cert, sizeof(cert), "%s/server.pem", cfg.certs);
	snprintf(key, sizeof(key), "%s/server-key.pem", cfg.certs);
	if (gnutls_certificate_allocate_credentials(&creds) < 0)
		die("gnutls_certificate_allocate_credentials failed");
	int r = gnutls_certificate_set_x509_key_file(creds, cert, key, GNUTLS_X509_FMT_PEM);
	if (r < 0)
		die("load %s: %s", cert, gnutls_strerror(r));

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(ls, 4) < 0)
		die("listen on 127.0.0.1:%d: %s", cfg.port, strerror(errno));
	socklen_t sl = sizeof(sin);
	if (getsockname(ls, (struct sockaddr *)&sin, &sl) < 0)
		die("getsockname: %s", strerror(errno));
	printf("PORT %u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);

	for (int i = 0; i < cfg.connections; i++) {
		struct pollfd pf = {.fd = ls, .events = POLLIN};
		if (poll(&pf, 1, cfg.timeout_s * 1000) <= 0) {
			logline("no connection within %d s", cfg.timeout_s);
			break;
		}
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			die("accept: %s", strerror(errno));
		logline("connection %d", i + 1);
		serve(fd);
		close(fd);
	}
	close(ls);
	gnutls_certificate_free_credentials(creds);
	fclose(logf_);
	return 0;
}
