/*
 * Unit tests for src/flush.c flush_family_fits: which queue entries a session may carry by
 * the family it is connected over. An entry keeps the family of the run that queued it
 * (-4, -6, --ip-family); one that kept none goes over the family its profile's ip_family
 * says, and not at all when that is not known (a run whose own -4/-6 changed it).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/flush.h"
#include "src/queue.h"
#include "src/session.h"
#include "tests/lib/tap.h"

/* A TCP connection to a listener of FAMILY's loopback: the client's fd, or -1. */
static int
loopback_pair(int family, int *listener)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	*listener = socket(family, SOCK_STREAM, 0);
	if (*listener < 0 || bind(*listener, (struct sockaddr *)&ss, len) < 0 ||
	    listen(*listener, 1) < 0 || getsockname(*listener, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static bool
fits(int fd, int kept, int profile_family)
{
	struct session ss;
	struct queue_meta m;

	memset(&ss, 0, sizeof(ss));
	memset(&m, 0, sizeof(m));
	ss.s.conn.fd = fd;
	m.ip_family = kept;
	return flush_family_fits(&ss, kept < 0 ? NULL : &m, profile_family);
}

int
main(void)
{
	int l4 = -1, l6 = -1;
	int v4 = loopback_pair(AF_INET, &l4);
	int v6 = loopback_pair(AF_INET6, &l6);

	ok(v4 >= 0, "a connection over 127.0.0.1");
	/* kept: 0 none, 4, 6, QUEUE_IP_ANY; -1 stands for a notice (no entry). */
	ok(fits(v4, 0, 0) && fits(v4, 0, 4) && !fits(v4, 0, 6),
	   "kept none: the profile's family decides (any, 4 fit IPv4; 6 does not)");
	ok(!fits(v4, 0, -1), "kept none, the profile's family not known: does not fit");
	ok(fits(v4, 4, 6) && !fits(v4, 6, 4) && !fits(v4, 6, 0),
	   "kept 4 or 6: that family, whatever the profile says");
	ok(fits(v4, QUEUE_IP_ANY, -1) && fits(v4, QUEUE_IP_ANY, 6), "kept any: fits any session");
	ok(fits(v4, -1, 4) && !fits(v4, -1, 6) && fits(v4, -1, 0),
	   "a notice: the profile's family decides");
	if (v6 >= 0) {
		ok(fits(v6, 0, 6) && !fits(v6, 0, 4) && fits(v6, 0, 0) && !fits(v6, 0, -1),
		   "over ::1: kept none goes by the profile's family");
		ok(fits(v6, 6, 4) && !fits(v6, 4, 0), "over ::1: a kept family decides");
	} else {
		printf("# no IPv6 loopback here: the ::1 checks are left out\n");
	}
	int sv[2];
	ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && fits(sv[0], 6, -1) && fits(sv[0], 0, -1),
	   "a local socket has no family: every entry fits");
	ok(!fits(-1, 4, 0), "no connection: a kept family does not fit");
	int fds[] = {v4, v6, l4, l6, sv[0], sv[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return tap_done();
}
