/*
 * conn: one buffered byte stream to the server. The socket is non-blocking; every wait is a
 * poll() against a monotonic deadline, so a slow or silent server cannot hold a run past
 * its deadline (SEC-34). Writes are gathered in one 64 KiB buffer and sent when it is full
 * or when a reply must be awaited; TCP_NODELAY keeps the last small write from waiting for
 * the server's delayed ACK. The way there may bind a source address, go through a SOCKS5
 * proxy (RFC 1928) or end at a local socket.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "eyeballs.h"
#include "io.h"

int64_t
conn_clock_ms(void)
{
	return io_clock_ms();
}

int
conn_wait(int fd, short events, int64_t deadline, struct err *e)
{
	int r = io_wait_peer(fd, events, deadline);

	if (r == 0)
		return 0;
	return err_set(e, ERR_TEMP, "wait for server: %s",
	               r == ETIMEDOUT ? "timed out" : strerror(r));
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A parsed source_ip: the address to bind to before connecting. */
struct source_addr {
	const char *text; /* as the profile gave it; NULL: none */
	struct sockaddr_storage sa;
	socklen_t len;
	int family;
};

static int
parse_source(const char *ip, struct source_addr *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (!ip || !*ip)
		return 0;
	/* Numeric only: a name here would cost a lookup and could pick either family. */
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
	struct addrinfo *res = NULL;
	if (getaddrinfo(ip, NULL, &hints, &res) != 0 || !res || res->ai_addrlen > sizeof(out->sa)) {
		if (res)
			freeaddrinfo(res);
		return err_set(e, ERR_CONFIG,
		               "bind to source_ip %s: not a numeric IPv4 or IPv6 "
		               "address; check `source_ip` in the profile",
		               ip);
	}
	out->text = ip;
	memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	out->family = res->ai_family;
	freeaddrinfo(res);
	return 0;
}

/* After a non-blocking connect: wait for it to finish before DEADLINE. 0, or -1 with errno. */
static int
finish_connect(int fd, int64_t deadline)
{
	int r = io_wait(fd, POLLOUT, deadline);
	if (r != 0) {
		errno = r;
		return -1;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -1;
	if (soerr) {
		errno = soerr;
		return -1;
	}
	return 0;
}

static void
name_address(int family, const struct sockaddr *sa, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          host, sizeof(host));
	else if (family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, host,
		          sizeof(host));
	snprintf(out, n, "%s", host);
}

/* getaddrinfo for HOST:PORT into *RES (the caller frees it), with the errors of
 * connect_host. */
static int
lookup(const char *host, int port, const char *what, const char *cmd, struct addrinfo **res,
       struct err *e)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	char service[16];

	*res = NULL;
	snprintf(service, sizeof(service), "%d", port);
	int r = getaddrinfo(host, service, &hints, res);
	if (r == EAI_NONAME && hints.ai_flags) {
		/* AI_ADDRCONFIG hides loopback-only hosts on machines with no other address. */
		hints.ai_flags = 0;
		r = getaddrinfo(host, service, &hints, res);
	}
	if (r != 0) {
		enum err_kind kind = (r == EAI_NONAME || r == EAI_FAIL
#ifdef EAI_NODATA
		                      || r == EAI_NODATA
#endif
		                      )
		                         ? ERR_NOHOST
		                         : ERR_TEMP;
		*res = NULL;
		return err_set(e, kind, "resolve %s%s: %s; check `%s` in the profile",
		               *what ? what : "host ", host,
		               r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r), cmd);
	}
	return 0;
}

static const char *
family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/*
 * Resolve HOST and connect to PORT from SRC, only to addresses of FAMILY (AF_INET, AF_INET6;
 * 0: both), racing them as RFC 8305 asks (eyeballs): the socket, with the address used in
 * ADDR, or -1. WHAT names the peer in messages ("" for the server, "SOCKS5 proxy " for the
 * proxy) and CMD the profile command that names it. *REFUSED (when not NULL) tells whether
 * every address tried refused the connection: nothing listens on PORT there.
 */
static int
connect_host(const char *host, int port, const struct source_addr *src, int family,
             int64_t deadline, const char *what, const char *cmd, char *addr, size_t addrn,
             bool *refused, struct err *e)
{
	struct addrinfo *res = NULL;
	struct eyeballs_addr v[EYEBALLS_MAX];
	size_t n = 0, skipped = 0, other = 0;

	if (refused)
		*refused = false;
	addr[0] = '\0';
	if (lookup(host, port, what, cmd, &res, e) < 0)
		return -1;
	for (const struct addrinfo *ai = res; ai && n < EYEBALLS_MAX; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		/* ip_family (-4, -6) keeps one family; source_ip binds one family. */
		if (family && ai->ai_family != family)
			other++;
		else if (src->family && ai->ai_family != src->family)
			skipped++;
		else
			v[n++] =
			    (struct eyeballs_addr){ai->ai_family, ai->ai_socktype, ai->ai_protocol,
			                           ai->ai_addr, ai->ai_addrlen};
	}
	int fd = -1;
	struct eyeballs_result r = {0};
	struct err last;
	err_clear(&last);
	if (n > 0) {
		eyeballs_order(v, n);
		fd = eyeballs_connect(v, n, (const struct sockaddr *)&src->sa,
		                      src->family ? src->len : 0, deadline, EYEBALLS_DELAY_MS, &r,
		                      &last);
		name_address(v[fd >= 0 ? r.winner : r.last].family,
		             v[fd >= 0 ? r.winner : r.last].sa, addr, addrn);
	}
	freeaddrinfo(res);
	if (fd >= 0)
		return fd;
	if (refused)
		*refused = n > 0 && r.all_refused;
	if (last.kind == ERR_CONFIG)
		return err_set(e, ERR_CONFIG,
		               "bind to source_ip %s: %s; check `source_ip` in the "
		               "profile",
		               src->text, last.text);
	if (n == 0 && other && !skipped)
		return err_set(e, ERR_NOHOST,
		               "connect to %s%s: it has no %s address, and postie was told to use "
		               "%s only; check -4, -6 and `ip_family` in the profile",
		               what, host, family_name(family), family_name(family));
	if (n == 0 && skipped)
		return err_set(e, ERR_CONFIG,
		               "connect to %s%s: it has no %s address to go with "
		               "source_ip %s; check `source_ip` in the profile",
		               what, host, family_name(src->family), src->text);
	return err_set(e, ERR_TEMP, "connect to %s%s [%s]:%d: %s", what, host, addr, port,
	               last.text[0] ? last.text : "no address");
}

static int
sock_write_all(int fd, const unsigned char *p, size_t n, int64_t deadline, struct err *e)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_wait(fd, POLLOUT, deadline, e) < 0)
				return -1;
		} else {
			return err_set(e, ERR_TEMP, "%s",
			               w < 0 ? strerror(errno) : "connection lost");
		}
	}
	return 0;
}

/* Read exactly N bytes: the proxy's reply is read to its last byte and not one further,
 * so what the server says next stays in the socket for the SMTP reader. */
static int
sock_read_exact(int fd, unsigned char *p, size_t n, int64_t deadline, struct err *e)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_wait(fd, POLLIN, deadline, e) < 0)
				return -1;
		} else {
			return err_set(e, ERR_TEMP, "%s",
			               r < 0 ? strerror(errno) : "connection closed by the proxy");
		}
	}
	return 0;
}

/* RFC 1928 §6: the meaning of the REP field. */
static const char *
socks_reply_text(unsigned rep)
{
	static const char *const text[] = {"succeeded",
	                                   "general SOCKS server failure",
	                                   "connection not allowed by ruleset",
	                                   "network unreachable",
	                                   "host unreachable",
	                                   "connection refused",
	                                   "TTL expired",
	                                   "command not supported",
	                                   "address type not supported"};
	return rep < sizeof(text) / sizeof(text[0]) ? text[rep] : "unassigned reply code";
}

/* RFC 1928 §3: over FD, connected to the proxy PROXY, offer "no authentication" only. */
static int
socks5_greet(int fd, const char *proxy, int64_t deadline, struct err *e)
{
	unsigned char b[3] = {5 /* VER */, 1 /* NMETHODS */, 0 /* NO AUTHENTICATION REQUIRED */};
	struct err io;

	if (sock_write_all(fd, b, 3, deadline, &io) < 0 ||
	    sock_read_exact(fd, b, 2, deadline, &io) < 0)
		return err_set(e, ERR_TEMP, "talk to SOCKS5 proxy %s: %s", proxy, io.text);
	if (b[0] != 5)
		return err_set(e, ERR_PROTO,
		               "talk to SOCKS5 proxy %s: it answered version %u, not "
		               "SOCKS5; check `proxy_host` and `proxy_port`",
		               proxy, b[0]);
	if (b[1] != 0)
		return err_set(
		    e, ERR_PROTO,
		    "talk to SOCKS5 proxy %s: it accepts no "
		    "connection without authentication (method reply 0x%02X); postie speaks "
		    "SOCKS5 without authentication only",
		    proxy, b[1]);
	return 0;
}

/*
 * RFC 1928 §4: the CONNECT request for HOST:PORT into B (4 + 1 + 255 + 2 bytes); its length,
 * or 0 when HOST is a name longer than 255 octets. A name goes as a domain name (ATYP 3), so
 * the proxy resolves it and no DNS query leaves this host; an IP literal as an address
 * (ATYP 1 or 4).
 */
static size_t
socks5_request(unsigned char *b, const char *host, int port)
{
	struct in_addr a4;
	struct in6_addr a6;
	size_t k = 0;

	b[k++] = 5; /* VER */
	b[k++] = 1; /* CMD: CONNECT */
	b[k++] = 0; /* RSV */
	if (inet_pton(AF_INET, host, &a4) == 1) {
		b[k++] = 1;
		memcpy(b + k, &a4, 4);
		k += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		b[k++] = 4;
		memcpy(b + k, &a6, 16);
		k += 16;
	} else {
		size_t hl = strlen(host);
		if (hl > 255)
			return 0;
		b[k++] = 3;
		b[k++] = (unsigned char)hl;
		memcpy(b + k, host, hl);
		k += hl;
	}
	b[k++] = (unsigned char)((port >> 8) & 0xff);
	b[k++] = (unsigned char)(port & 0xff);
	return k;
}

/* RFC 1928 §6: the proxy's reply to CONNECT, read to its last byte. */
static int
socks5_reply(int fd, const char *proxy, const char *host, int port, int64_t deadline, struct err *e)
{
	unsigned char b[255 + 2];
	struct err io;

	if (sock_read_exact(fd, b, 4, deadline, &io) < 0)
		return err_set(e, ERR_TEMP, "connect to %s:%d via SOCKS5 proxy %s: %s", host, port,
		               proxy, io.text);
	if (b[0] != 5)
		return err_set(e, ERR_PROTO,
		               "connect to %s:%d via SOCKS5 proxy %s: reply "
		               "version %u, not SOCKS5",
		               host, port, proxy, b[0]);
	if (b[1] != 0)
		/* The proxy could not reach the server: like a failed connect, worth retrying. */
		return err_set(e, ERR_TEMP,
		               "connect to %s:%d via SOCKS5 proxy %s: the proxy "
		               "replied %u (%s)",
		               host, port, proxy, b[1], socks_reply_text(b[1]));
	/* BND.ADDR and BND.PORT (§6): read and dropped. */
	size_t more = b[3] == 1 ? 4 : b[3] == 4 ? 16 : 0;
	if (b[3] == 3) {
		if (sock_read_exact(fd, b, 1, deadline, &io) < 0)
			return err_set(e, ERR_TEMP, "connect via SOCKS5 proxy %s: %s", proxy,
			               io.text);
		more = b[0];
	} else if (!more) {
		return err_set(e, ERR_PROTO,
		               "connect to %s:%d via SOCKS5 proxy %s: reply with "
		               "unknown address type %u",
		               host, port, proxy, b[3]);
	}
	if (sock_read_exact(fd, b, more + 2, deadline, &io) < 0)
		return err_set(e, ERR_TEMP, "connect via SOCKS5 proxy %s: %s", proxy, io.text);
	return 0;
}

/* RFC 1928: over FD (connected to the proxy PROXY), have the proxy connect to HOST:PORT. */
static int
socks5_connect(int fd, const char *proxy, const char *host, int port, int64_t deadline,
               struct err *e)
{
	unsigned char b[4 + 1 + 255 + 2];
	struct err io;

	if (socks5_greet(fd, proxy, deadline, e) < 0)
		return -1;
	size_t k = socks5_request(b, host, port);
	if (k == 0)
		return err_set(e, ERR_CONFIG,
		               "connect to %s via SOCKS5 proxy %s: the "
		               "name is longer than 255 octets",
		               host, proxy);
	if (sock_write_all(fd, b, k, deadline, &io) < 0)
		return err_set(e, ERR_TEMP, "connect to %s:%d via SOCKS5 proxy %s: %s", host, port,
		               proxy, io.text);
	return socks5_reply(fd, proxy, host, port, deadline, e);
}

/* A local (unix) socket at PATH: the socket, or -1. */
static int
connect_unix(const char *path, int64_t deadline, struct err *e)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sun.sun_path))
		return err_set(e, ERR_CONFIG,
		               "connect to unix socket %s: the path is longer than "
		               "%zu bytes; check `socket` in the profile",
		               path, sizeof(sun.sun_path) - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, ERR_TEMP, "connect to unix socket %s: %s", path, strerror(errno));
	/* A full backlog says EAGAIN on a local socket: wait as for a TCP connect. */
	bool failed = set_nonblock(fd) < 0;
	if (!failed && connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0)
		failed =
		    (errno != EINPROGRESS && errno != EAGAIN) || finish_connect(fd, deadline) < 0;
	if (failed) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_TEMP,
		               "connect to unix socket %s: %s; check `socket` in the "
		               "profile",
		               path, saved == ETIMEDOUT ? "timed out" : strerror(saved));
	}
	return fd;
}

int
conn_resolve(const char *host, bool proxy, int family, char *first, size_t n, struct err *e)
{
	struct addrinfo *res = NULL;

	if (n)
		first[0] = '\0';
	if (lookup(host, 25, proxy ? "SOCKS5 proxy " : "", proxy ? "proxy_host" : "host", &res, e) <
	    0)
		return -1;
	int count = 0;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		/* ip_family (-4, -6): only the addresses a connection would try. */
		if (family && ai->ai_family != family)
			continue;
		if (count++ == 0 && n)
			name_address(ai->ai_family, ai->ai_addr, first, n);
	}
	freeaddrinfo(res);
	if (count == 0 && family)
		return err_set(e, ERR_NOHOST,
		               "resolve %s%s: it has no %s address, and postie was told to use %s "
		               "only; check -4, -6 and `ip_family` in the profile",
		               proxy ? "SOCKS5 proxy " : "", host, family_name(family),
		               family_name(family));
	return count;
}

int
conn_open(struct conn *c, const char *host, int port, int64_t deadline, struct err *e)
{
	return conn_open_route(c, host, port, NULL, deadline, e);
}

int
conn_open_route(struct conn *c, const char *host, int port, const struct conn_route *route,
                int64_t deadline, struct err *e)
{
	static const struct conn_route direct = {0};
	struct source_addr src;
	char addr[INET6_ADDRSTRLEN] = "";
	int fd;

	if (!route)
		route = &direct;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (route->socket) {
		/* msmtp's `socket` replaces host, port and proxy alike. */
		fd = connect_unix(route->socket, deadline, e);
		if (fd < 0)
			return -1;
		snprintf(c->peer, sizeof(c->peer), "%s [unix:%s]", host, route->socket);
	} else if (parse_source(route->source_ip, &src, e) < 0) {
		return -1;
	} else if (src.family && route->family && src.family != route->family) {
		return err_set(
		    e, ERR_CONFIG,
		    "connect to %s: source_ip %s is an %s address, and postie was told to "
		    "use %s only; check `source_ip`, `ip_family`, -4 and -6",
		    host, src.text, family_name(src.family), family_name(route->family));
	} else if (route->proxy_host) {
		int pport = route->proxy_port ? route->proxy_port : 1080;
		fd = connect_host(route->proxy_host, pport, &src, route->family, deadline,
		                  "SOCKS5 proxy ", "proxy_host", addr, sizeof(addr), NULL, e);
		if (fd < 0)
			return -1;
		if (socks5_connect(fd, route->proxy_host, host, port, deadline, e) < 0) {
			close(fd);
			return -1;
		}
		snprintf(c->peer, sizeof(c->peer), "%s:%d via SOCKS5 proxy %s [%s]:%d", host, port,
		         route->proxy_host, addr, pport);
	} else {
		fd = connect_host(host, port, &src, route->family, deadline, "", "host", addr,
		                  sizeof(addr), &c->refused, e);
		if (fd < 0)
			return -1;
		snprintf(c->peer, sizeof(c->peer), "%s [%s]:%d", host, addr, port);
	}
	c->fd = fd;
	c->rbuf = xmalloc(CONN_BUF_SIZE);
	c->wbuf = xmalloc(CONN_BUF_SIZE);
	return 0;
}

int
conn_start_tls(struct conn *c, const struct tls_config *cfg, int64_t deadline, struct err *e)
{
	/* SEC-3: bytes that arrived before the handshake are unauthenticated; refuse them
	 * rather than let them pass for replies sent under TLS. */
	if (c->rpos < c->rlen) {
		c->rpos = c->rlen = 0;
		return err_set(e, ERR_PROTO,
		               "start TLS with %s: the server sent data before the TLS handshake "
		               "(possible STARTTLS injection)",
		               c->peer);
	}
	c->rpos = c->rlen = 0;
	return tls_start(&c->tls, c->fd, cfg, deadline, e);
}

static int
raw_write(struct conn *c, const char *p, size_t n, int64_t deadline, struct err *e)
{
	if (c->tls) {
		c->writes++;
		return tls_write(c->tls, p, n, deadline, e);
	}
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		c->writes++;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_wait(c->fd, POLLOUT, deadline, e) < 0)
				return -1;
			continue;
		}
		return err_set(e, ERR_TEMP, "send to %s: %s", c->peer,
		               w < 0 ? strerror(errno) : "connection lost");
	}
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t n, int64_t deadline, struct err *e)
{
	const char *s = p;

	while (n > 0) {
		if (c->wlen == CONN_BUF_SIZE && conn_flush(c, deadline, e) < 0)
			return -1;
		/* A large write with an empty buffer skips the copy. */
		if (c->wlen == 0 && n >= CONN_BUF_SIZE) {
			size_t k = n - n % CONN_BUF_SIZE;
			if (raw_write(c, s, k, deadline, e) < 0)
				return -1;
			s += k;
			n -= k;
			continue;
		}
		size_t k = CONN_BUF_SIZE - c->wlen;
		if (k > n)
			k = n;
		memcpy(c->wbuf + c->wlen, s, k);
		c->wlen += k;
		s += k;
		n -= k;
	}
	return 0;
}

int
conn_flush(struct conn *c, int64_t deadline, struct err *e)
{
	if (c->wlen == 0)
		return 0;
	size_t n = c->wlen;
	c->wlen = 0;
	return raw_write(c, c->wbuf, n, deadline, e);
}

/* Read more bytes into the read buffer (after what is there). */
static int
fill(struct conn *c, int64_t deadline, struct err *e)
{
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == CONN_BUF_SIZE)
		return err_set(e, ERR_PROTO, "read from %s: line too long", c->peer);
	for (;;) {
		ssize_t r;
		if (c->tls) {
			r = tls_read(c->tls, c->rbuf + c->rlen, CONN_BUF_SIZE - c->rlen, deadline,
			             e);
			if (r < 0)
				return -1;
		} else {
			r = recv(c->fd, c->rbuf + c->rlen, CONN_BUF_SIZE - c->rlen, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					if (conn_wait(c->fd, POLLIN, deadline, e) < 0)
						return -1;
					continue;
				}
				return err_set(e, ERR_TEMP, "read from %s: %s", c->peer,
				               strerror(errno));
			}
		}
		if (r == 0)
			return err_set(e, ERR_TEMP, "read from %s: connection closed by the server",
			               c->peer);
		c->rlen += (size_t)r;
		return 0;
	}
}

int
conn_getline(struct conn *c, const char **line, size_t *len, size_t max, int64_t deadline,
             struct err *e)
{
	size_t scanned = 0;

	for (;;) {
		char *start = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;
		char *lf = memchr(start + scanned, '\n', avail - scanned);
		if (lf) {
			size_t n = (size_t)(lf - start);
			if (n > max)
				return err_set(e, ERR_PROTO,
				               "read reply from %s: line longer than %zu bytes",
				               c->peer, max);
			*line = start;
			*len = n;
			c->rpos += n + 1;
			return 0;
		}
		scanned = avail;
		if (avail > max)
			return err_set(e, ERR_PROTO,
			               "read reply from %s: line longer than %zu bytes", c->peer,
			               max);
		if (fill(c, deadline, e) < 0)
			return -1;
	}
}

bool
conn_pending(struct conn *c)
{
	if (c->rpos < c->rlen || (c->tls && tls_pending(c->tls)))
		return true;
	if (c->fd < 0)
		return false;
	/* What the kernel holds counts too (SEC-33): a forged reply sent during the data sits
	 * in the socket, not in our buffer. A closed connection is not "pending": the next
	 * read or write reports it. */
	if (!c->tls) {
		char b;
		return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
	}
	/* Under TLS only a record can tell: read what is there without waiting (a session
	 * ticket is consumed by GnuTLS and yields no data). */
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	ssize_t r =
	    tls_read(c->tls, c->rbuf + c->rlen, CONN_BUF_SIZE - c->rlen, io_clock_ms(), NULL);
	if (r > 0)
		c->rlen += (size_t)r;
	return r > 0;
}

void
conn_close(struct conn *c)
{
	if (c->tls) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->rbuf);
	free(c->wbuf);
	c->rbuf = c->wbuf = NULL;
	c->rpos = c->rlen = c->wlen = 0;
}
