/*
 * conn: one buffered byte stream to the server. The socket is non-blocking; every wait is a
 * poll() against a monotonic deadline, so a slow or silent server cannot hold a run past
 * its deadline (SEC-34). Writes are gathered in one 64 KiB buffer and sent when it is full
 * or when a reply must be awaited; TCP_NODELAY keeps the last small write from waiting for
 * the server's delayed ACK.
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

int64_t
conn_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
conn_wait(int fd, short events, int64_t deadline, struct err *e)
{
	/* Before waiting for the server, ask for immediate ACKs: a server that wrote a small
	 * record (a TLS 1.3 session ticket) holds its next small write (the reply) under
	 * Nagle until that record is acknowledged, and a delayed ACK costs 40 ms. The kernel
	 * drops back to delayed ACKs by itself, so this is set before every wait. Not TCP (a
	 * socketpair in tests): the call fails, harmlessly. */
	if (events & POLLIN) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	for (;;) {
		int64_t left = deadline - conn_clock_ms();
		if (left <= 0)
			return err_set(e, ERR_TEMP, "wait for server: timed out");
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return err_set(e, ERR_TEMP, "wait for server: %s", strerror(errno));
	}
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Connect one address before DEADLINE; returns the socket or -1 with errno-style text in e. */
static int
connect_one(const struct addrinfo *ai, int64_t deadline, struct err *e)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return err_set(e, ERR_TEMP, "%s", strerror(errno));
	if (set_nonblock(fd) < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		if (conn_wait(fd, POLLOUT, deadline, NULL) < 0) {
			close(fd);
			return err_set(e, ERR_TEMP, "timed out");
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto fail;
		if (soerr) {
			errno = soerr;
			goto fail;
		}
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:;
	int saved = errno;
	close(fd);
	return err_set(e, ERR_TEMP, "%s", strerror(saved));
}

static void
name_address(const struct addrinfo *ai, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (ai->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, host,
			sizeof(host));
	else if (ai->ai_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, host,
			sizeof(host));
	snprintf(out, n, "%s", host);
}

int
conn_open(struct conn *c, const char *host, int port, int64_t deadline, struct err *e)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	char service[16];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(service, sizeof(service), "%d", port);
	int r = getaddrinfo(host, service, &hints, &res);
	if (r == EAI_NONAME && hints.ai_flags) {
		/* AI_ADDRCONFIG hides loopback-only hosts on machines with no other address. */
		hints.ai_flags = 0;
		r = getaddrinfo(host, service, &hints, &res);
	}
	if (r != 0) {
		enum err_kind kind = (r == EAI_NONAME || r == EAI_FAIL
#ifdef EAI_NODATA
			|| r == EAI_NODATA
#endif
		) ? ERR_NOHOST : ERR_TEMP;
		return err_set(e, kind, "resolve host %s: %s; check `host` in the profile", host,
			r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	}
	struct err last;
	err_clear(&last);
	char addr[INET6_ADDRSTRLEN] = "";
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		name_address(ai, addr, sizeof(addr));
		int fd = connect_one(ai, deadline, &last);
		if (fd >= 0) {
			c->fd = fd;
			break;
		}
		if (conn_clock_ms() >= deadline)
			break;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return err_set(e, ERR_TEMP, "connect to %s [%s]:%d: %s", host, addr, port,
			last.text[0] ? last.text : "no address");
	snprintf(c->peer, sizeof(c->peer), "%s [%s]:%d", host, addr, port);
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
			"(possible STARTTLS injection)", c->peer);
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
			r = tls_read(c->tls, c->rbuf + c->rlen, CONN_BUF_SIZE - c->rlen, deadline, e);
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
					"read reply from %s: line longer than %zu bytes", c->peer, max);
			*line = start;
			*len = n;
			c->rpos += n + 1;
			return 0;
		}
		scanned = avail;
		if (avail > max)
			return err_set(e, ERR_PROTO, "read reply from %s: line longer than %zu bytes",
				c->peer, max);
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
	ssize_t r = tls_read(c->tls, c->rbuf + c->rlen, CONN_BUF_SIZE - c->rlen,
		conn_clock_ms(), NULL);
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
