/*
 * eyeballs: RFC 8305's race between a host's addresses. All attempts in flight are
 * non-blocking sockets watched by one poll(); the poll wakes at the next attempt's start
 * time, at the deadline, or when an attempt ends. An attempt that fails at once (refused,
 * unreachable) lets the next one start at once (§5: "as soon as ... fails").
 */
#include "eyeballs.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

void
eyeballs_order(struct eyeballs_addr *v, size_t n)
{
	struct eyeballs_addr six[EYEBALLS_MAX], four[EYEBALLS_MAX];
	size_t n6 = 0, n4 = 0, k = 0;

	if (n > EYEBALLS_MAX)
		n = EYEBALLS_MAX;
	for (size_t i = 0; i < n; i++) {
		if (v[i].family == AF_INET6)
			six[n6++] = v[i];
		else
			four[n4++] = v[i];
	}
	for (size_t i = 0; i < n6 || i < n4; i++) {
		if (i < n6)
			v[k++] = six[i];
		if (i < n4)
			v[k++] = four[i];
	}
}

/* The race's state: the sockets in flight, which address each is, and the last failure. */
struct race {
	struct pollfd pfd[EYEBALLS_MAX];
	size_t idx[EYEBALLS_MAX];
	size_t nfly;
	bool any_failed, all_refused;
	size_t last;
	int last_errno;
};

static void
failed(struct race *rc, size_t idx, int err)
{
	rc->all_refused = (rc->all_refused || !rc->any_failed) && err == ECONNREFUSED;
	rc->any_failed = true;
	rc->last = idx;
	rc->last_errno = err;
}

static void
close_all(struct race *rc)
{
	for (size_t i = 0; i < rc->nfly; i++)
		close(rc->pfd[i].fd);
	rc->nfly = 0;
}

static int
won(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Start the attempt at V[I]: 1 when it is in flight, 0 when it failed (recorded in RC),
 * 2 when it connected at once (its socket in *FD), -1 with ERR_CONFIG when the bind failed.
 */
static int
start(struct race *rc, const struct eyeballs_addr *v, size_t i, const struct sockaddr *src,
      socklen_t srclen, int *fd, struct err *e)
{
	*fd = socket(v[i].family, v[i].socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, v[i].protocol);
	if (*fd < 0) {
		failed(rc, i, errno);
		return 0;
	}
	if (srclen > 0 && bind(*fd, src, srclen) < 0) {
		int saved = errno;
		close(*fd);
		return err_set(e, ERR_CONFIG, "%s", strerror(saved));
	}
	if (connect(*fd, v[i].sa, v[i].len) == 0)
		return 2;
	if (errno == EINPROGRESS || errno == EINTR) {
		rc->pfd[rc->nfly] = (struct pollfd){.fd = *fd, .events = POLLOUT};
		rc->idx[rc->nfly++] = i;
		return 1;
	}
	failed(rc, i, errno);
	close(*fd);
	return 0;
}

/*
 * After poll: the socket of an attempt that connected (its address's index in *WINNER), or
 * -1; the attempts that failed are recorded and removed.
 */
static int
reap(struct race *rc, size_t *winner)
{
	for (size_t i = 0; i < rc->nfly;) {
		if (!rc->pfd[i].revents) {
			i++;
			continue;
		}
		int fd = rc->pfd[i].fd, soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr == 0 && (rc->pfd[i].revents & POLLOUT)) {
			/* The winner: every other attempt is closed. */
			*winner = rc->idx[i];
			rc->pfd[i] = rc->pfd[--rc->nfly];
			close_all(rc);
			return won(fd);
		}
		failed(rc, rc->idx[i], soerr ? soerr : ECONNRESET);
		close(fd);
		rc->pfd[i] = rc->pfd[--rc->nfly];
		rc->idx[i] = rc->idx[rc->nfly];
	}
	return -1;
}

/* The race is lost: fill R and E from RC (TIMED_OUT: the deadline passed). */
static int
lost(struct race *rc, bool timed_out, struct eyeballs_result *r, struct err *e)
{
	if (timed_out && rc->nfly > 0) {
		/* The attempt in flight longest: the address preferred most among them. */
		size_t first = rc->idx[0];
		for (size_t i = 1; i < rc->nfly; i++)
			if (rc->idx[i] < first)
				first = rc->idx[i];
		rc->last = first;
	}
	close_all(rc);
	r->last = rc->last;
	r->all_refused = !timed_out && rc->all_refused;
	if (timed_out)
		return err_set(e, ERR_TEMP, "timed out");
	return err_set(e, ERR_TEMP, "%s",
	               rc->last_errno == ETIMEDOUT ? "timed out" : strerror(rc->last_errno));
}

int
eyeballs_connect(const struct eyeballs_addr *v, size_t n, const struct sockaddr *src,
                 socklen_t srclen, int64_t deadline, int delay_ms, struct eyeballs_result *r,
                 struct err *e)
{
	struct race rc = {.nfly = 0};
	size_t next = 0;
	int64_t next_at = io_clock_ms();

	memset(r, 0, sizeof(*r));
	if (n > EYEBALLS_MAX)
		n = EYEBALLS_MAX;
	for (;;) {
		int64_t now = io_clock_ms();
		if (next < n && (rc.nfly == 0 || now >= next_at)) {
			int fd = -1, s = start(&rc, v, next, src, srclen, &fd, e);
			if (s < 0) {
				close_all(&rc);
				r->last = next;
				return -1;
			}
			if (s == 2) {
				close_all(&rc);
				r->winner = next;
				return won(fd);
			}
			next++;
			next_at = now + delay_ms;
			continue;
		}
		if (rc.nfly == 0)
			return lost(&rc, false, r, e);
		if (now >= deadline)
			return lost(&rc, true, r, e);
		int64_t until = next < n && next_at < deadline ? next_at : deadline;
		int k = poll(rc.pfd, rc.nfly, (int)(until - now));
		if (k < 0 && errno != EINTR) {
			failed(&rc, rc.idx[0], errno);
			return lost(&rc, false, r, e);
		}
		if (k <= 0)
			continue;
		int fd = reap(&rc, &r->winner);
		if (fd >= 0)
			return fd;
	}
}
