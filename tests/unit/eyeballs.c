/*
 * Unit tests for src/eyeballs.c, RFC 8305 on loopback: the order interleaves the families
 * starting with IPv6; an address that swallows the SYN (a listening socket whose queue is
 * full: Linux drops the SYN, as a black hole would) does not keep the next address from
 * winning; a refused attempt starts the next one at once; every refused is told apart from a
 * time-out. No root needed, and no timing is asserted except bounds the race itself sets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/eyeballs.h"
#include "src/io.h"
#include "tests/lib/tap.h"

static struct eyeballs_addr
entry(int family, int tag)
{
	/* Only the family and the tag (in protocol) matter to the order. */
	return (struct eyeballs_addr){.family = family, .protocol = tag};
}

static void
test_order(void)
{
	struct eyeballs_addr v[6] = {entry(AF_INET6, 1), entry(AF_INET6, 2), entry(AF_INET, 3),
	                             entry(AF_INET, 4), entry(AF_INET, 5)};
	char got[32] = "";
	size_t k = 0;

	eyeballs_order(v, 5);
	for (size_t i = 0; i < 5; i++)
		k += (size_t)snprintf(got + k, sizeof(got) - k, "%d", v[i].protocol);
	ok(strcmp(got, "13245") == 0, "6 6 4 4 4 -> 6 4 6 4 4 (%s)", got);

	struct eyeballs_addr w[4] = {entry(AF_INET, 1), entry(AF_INET, 2), entry(AF_INET6, 3),
	                             entry(AF_INET6, 4)};
	eyeballs_order(w, 4);
	k = 0;
	for (size_t i = 0; i < 4; i++)
		k += (size_t)snprintf(got + k, sizeof(got) - k, "%d", w[i].protocol);
	ok(strcmp(got, "3142") == 0, "4 4 6 6 -> IPv6 first: 6 4 6 4 (%s)", got);

	struct eyeballs_addr x[2] = {entry(AF_INET, 1), entry(AF_INET, 2)};
	eyeballs_order(x, 2);
	ok(x[0].protocol == 1 && x[1].protocol == 2, "one family keeps its order");
}

/* A loopback listener with backlog BACKLOG; its port in *PORT. */
static int
listener(int backlog, struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*sa);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0)
		return -1;
	return fd;
}

static struct eyeballs_addr
to(const struct sockaddr_in *sa)
{
	return (struct eyeballs_addr){AF_INET, SOCK_STREAM, 0, (const struct sockaddr *)sa,
	                              sizeof(*sa)};
}

static void
test_race(void)
{
	struct sockaddr_in good, hole, shut;
	int lg = listener(8, &good), lh = listener(0, &hole), ls = listener(1, &shut);
	struct eyeballs_result r;
	struct err e;

	/* Fill the hole's queue: one connection it never accepts; the next SYN is dropped. */
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(lg >= 0 && lh >= 0 && ls >= 0 && filler >= 0 &&
	       connect(filler, (struct sockaddr *)&hole, sizeof(hole)) == 0,
	   "listeners and the hole's filler");
	close(ls); /* nothing listens there now: refused */

	struct eyeballs_addr v[3] = {to(&hole), to(&good)};
	int64_t t0 = io_clock_ms();
	int fd = eyeballs_connect(v, 2, NULL, 0, t0 + 10000, 250, &r, &e);
	int64_t took = io_clock_ms() - t0;
	ok(fd >= 0 && r.winner == 1, "black hole then a listener: the listener wins (%d, %s)", fd,
	   fd < 0 ? e.text : "ok");
	ok(took >= 245 && took < 5000, "the second attempt started after the delay (%lld ms)",
	   (long long)took);
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
		ok((fl & O_NONBLOCK) && (fdf & FD_CLOEXEC), "the socket is non-blocking, cloexec");
		close(fd);
	}

	v[0] = to(&shut);
	v[1] = to(&good);
	t0 = io_clock_ms();
	fd = eyeballs_connect(v, 2, NULL, 0, t0 + 10000, 5000, &r, &e);
	took = io_clock_ms() - t0;
	ok(fd >= 0 && r.winner == 1 && took < 2500,
	   "refused then a listener: the next starts at once (%lld ms)", (long long)took);
	if (fd >= 0)
		close(fd);

	v[0] = to(&shut);
	v[1] = to(&shut);
	fd = eyeballs_connect(v, 2, NULL, 0, io_clock_ms() + 10000, 250, &r, &e);
	ok(fd < 0 && r.all_refused && e.kind == ERR_TEMP && r.last == 1 &&
	       strstr(e.text, "refused"),
	   "every attempt refused: all_refused, the last one named (%s)", e.text);

	v[0] = to(&shut);
	v[0].len = 2; /* connect fails at once with EINVAL: not a refusal */
	v[1] = to(&shut);
	fd = eyeballs_connect(v, 2, NULL, 0, io_clock_ms() + 10000, 250, &r, &e);
	ok(fd < 0 && !r.all_refused && r.last == 1 && strstr(e.text, "refused"),
	   "one attempt failed otherwise, the last refused: not all refused (%s)", e.text);

	v[0] = to(&shut);
	v[1] = to(&hole);
	t0 = io_clock_ms();
	fd = eyeballs_connect(v, 2, NULL, 0, t0 + 400, 250, &r, &e);
	ok(fd < 0 && !r.all_refused && r.last == 1 && strcmp(e.text, "timed out") == 0,
	   "refused and a black hole: timed out at the deadline, not all refused (%s)", e.text);

	struct sockaddr_in bad = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.77", &bad.sin_addr); /* not an address of this host */
	v[0] = to(&good);
	fd = eyeballs_connect(v, 1, (struct sockaddr *)&bad, sizeof(bad), io_clock_ms() + 2000, 250,
	                      &r, &e);
	ok(fd < 0 && e.kind == ERR_CONFIG, "a source that cannot be bound: ERR_CONFIG (%s)",
	   e.text);

	close(filler);
	close(lg);
	close(lh);
}

int
main(void)
{
	test_order();
	test_race();
	return tap_done();
}
