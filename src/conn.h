/*
 * conn: one buffered byte stream to the server over TCP or TLS. Connects to the host with a
 * deadline, racing its IPv6 and IPv4 addresses (RFC 8305, module eyeballs), from a chosen
 * source address, through a SOCKS5 proxy, or to a local socket instead; keeps one 64 KiB buffer per
 * direction, flushes only when the buffer is full or a reply must be awaited, and turns Nagle off
 * (TCP_NODELAY). RFC 1928.
 */
#ifndef POSTIE_CONN_H
#define POSTIE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "tls.h"

#define CONN_BUF_SIZE (64 * 1024)

struct conn {
	int fd;
	struct tls *tls; /* NULL: plaintext */
	char *rbuf;      /* CONN_BUF_SIZE bytes */
	size_t rpos, rlen;
	char *wbuf; /* CONN_BUF_SIZE bytes */
	size_t wlen;
	unsigned long writes; /* write calls made (for -v and benchmarks) */
	char peer[128];       /* "host [address]:port" for messages */
	bool refused; /* the last conn_open_route failed because nothing listens on the port:
	                 every address of the host refused (ECONNREFUSED); direct routes only */
};

/* Monotonic clock in milliseconds: io_clock_ms(), the clock of every deadline here. */
int64_t conn_clock_ms(void);

/*
 * Wait until FD is ready for EVENTS (POLLIN/POLLOUT) or DEADLINE passes: io_wait() with
 * conn's words. 0 ready, -1 with ERR_TEMP "wait for server: timed out" on expiry (or
 * "wait for server: " and the reason poll gave).
 */
int conn_wait(int fd, short events, int64_t deadline, struct err *e);

/*
 * Resolve HOST (A-label or IP literal) and connect to PORT: its addresses race (RFC 8305:
 * IPv6 and IPv4 interleaved, a new attempt every 250 ms or when one fails, the first to
 * connect wins) until one answers before DEADLINE. ERR_NOHOST when the
 * name does not resolve, ERR_TEMP when no address could be reached.
 */
int conn_open(struct conn *c, const char *host, int port, int64_t deadline, struct err *e);

/*
 * Resolve HOST (an A-label or IP literal; with PROXY, the SOCKS5 proxy's name) as
 * conn_open_route would, without connecting (postie --check), keeping only the addresses of
 * FAMILY (AF_INET, AF_INET6; 0: both) as conn_route.family does. Returns how many addresses
 * (stream sockets) it has, the first one as text in FIRST (N bytes), or -1 with the errors
 * conn_open_route gives for a name: ERR_NOHOST (also: none of FAMILY), ERR_TEMP.
 */
int conn_resolve(const char *host, bool proxy, int family, char *first, size_t n, struct err *e);

/* How to reach the server besides its name and port (msmtp's commands of the same names). */
struct conn_route {
	const char *source_ip;  /* a numeric address (IPv4 or IPv6) to bind to before connecting;
	                           addresses of the other family are skipped. NULL: any */
	const char *proxy_host; /* a SOCKS5 proxy (RFC 1928, no authentication) that connects
	                           for us and resolves HOST itself; NULL: none */
	int proxy_port;         /* 0: 1080 */
	const char *socket;     /* a local (unix) socket to connect to instead of HOST:PORT (and
	                           instead of the proxy); NULL: none */
	int family;             /* AF_INET or AF_INET6: that family's addresses only (of HOST,
	                           or of the proxy); 0: both, raced (RFC 8305) */
};

/*
 * conn_open along ROUTE (NULL: directly). Errors: ERR_NOHOST (HOST, or the proxy's name,
 * does not resolve), ERR_TEMP (nothing could be reached; the proxy could not connect: its
 * reply code is named), ERR_CONFIG (source_ip not a numeric address or not of this host, no
 * address of its family, not of ROUTE's family, socket path too long), ERR_NOHOST also when
 * the name has no address of ROUTE's family, ERR_PROTO (the proxy does not speak SOCKS5
 * or wants authentication). On success c->peer names the route: "host [address]:port",
 * "host:port via SOCKS5 proxy name [address]:port", "host [unix:/path]".
 */
int conn_open_route(struct conn *c, const char *host, int port, const struct conn_route *route,
                    int64_t deadline, struct err *e);

/*
 * Start TLS on the connection (implicit TLS right after conn_open, or after STARTTLS's 220).
 * Fails with ERR_PROTO when bytes the server sent are still unread (SEC-3); the read
 * buffer is reset either way.
 */
int conn_start_tls(struct conn *c, const struct tls_config *cfg, int64_t deadline, struct err *e);

/* Queue N bytes for sending; flushes when the buffer fills. */
int conn_write(struct conn *c, const void *p, size_t n, int64_t deadline, struct err *e);

/* Send everything queued. */
int conn_flush(struct conn *c, int64_t deadline, struct err *e);

/*
 * Read one line ending in LF. *LINE points into the read buffer (valid until the next
 * read), *LEN is its length without the LF (a CR before the LF is left in). A line longer
 * than MAX gives ERR_PROTO; end of stream ERR_TEMP ("connection closed").
 */
int conn_getline(struct conn *c, const char **line, size_t *len, size_t max, int64_t deadline,
                 struct err *e);

/*
 * True when the server sent bytes that are not read yet: in our buffer, inside GnuTLS, or
 * in the socket (SEC-33). Never waits.
 */
bool conn_pending(struct conn *c);

/* Close the socket and free the session and buffers. Safe on a closed conn. */
void conn_close(struct conn *c);

#endif
