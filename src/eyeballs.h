/*
 * eyeballs: Happy Eyeballs (RFC 8305) for one host. Orders the host's addresses with the
 * families interleaved (§4) and races the connections (§5): an attempt starts every
 * EYEBALLS_DELAY_MS, or as soon as the one before it failed, while the earlier ones stay in
 * flight; the first to connect wins and the others are closed. A host whose IPv6 address
 * swallows packets costs 250 ms, not the whole connect timeout.
 */
#ifndef POSTIE_EYEBALLS_H
#define POSTIE_EYEBALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "err.h"

/* RFC 8305 §5: "Connection Attempt Delay", 250 ms recommended (at least 100 ms). */
#define EYEBALLS_DELAY_MS 250

/* The most attempts of one race: a host name with more addresses has the rest dropped. */
#define EYEBALLS_MAX 32

/* One address to try, as getaddrinfo gave it. */
struct eyeballs_addr {
	int family; /* AF_INET or AF_INET6 */
	int socktype, protocol;
	const struct sockaddr *sa;
	socklen_t len;
};

/*
 * RFC 8305 §4: reorder V (N addresses, in getaddrinfo's order of preference) so that the
 * families alternate, starting with IPv6 when the host has an IPv6 address; each family
 * keeps its own order, and what is left of the longer family comes last.
 */
void eyeballs_order(struct eyeballs_addr *v, size_t n);

/* What a race ended with besides the socket. */
struct eyeballs_result {
	size_t winner;    /* the index in V of the address that connected */
	size_t last;      /* on failure: the index of the address whose failure is reported */
	bool all_refused; /* on failure: every attempt ended in ECONNREFUSED (nothing listens) */
};

/*
 * Connect to one of V (N > 0 addresses, tried in this order) before DEADLINE (the
 * io_clock_ms clock), starting the next attempt DELAY_MS after the last one started or at
 * once when every attempt in flight failed. Each socket is bound to SRC (SRCLEN bytes)
 * first when SRCLEN > 0. Returns the connected socket (non-blocking, close-on-exec,
 * TCP_NODELAY) with R->winner set, or -1 with R->last and R->all_refused set and E:
 * ERR_CONFIG when the bind failed (E's text: strerror's reason only), else ERR_TEMP with
 * the reason of R->last's failure ("timed out" when DEADLINE passed first).
 */
int eyeballs_connect(const struct eyeballs_addr *v, size_t n, const struct sockaddr *src,
                     socklen_t srclen, int64_t deadline, int delay_ms, struct eyeballs_result *r,
                     struct err *e);

#endif
