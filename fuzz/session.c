/*
 * fuzz/session: a whole client session against a scripted server (src/smtp.h): greeting,
 * EHLO (or LHLO, or HELO after a refusal), AUTH, MAIL and RCPT (pipelined when offered),
 * DATA or BDAT (CHUNKING), the verdict, QUIT; sometimes RSET and a second transaction.
 * Issue 10's bug 11 (a spin in the BDAT loop after a refusal and a closed connection) was
 * found this way.
 *
 * The first byte holds the client's choices (LMTP, HELO fallback, AUTH, 1..3 recipients,
 * BDAT, QUIT pipelined, a second transaction); the rest is the server's script: replies
 * separated by empty lines. A server thread on the other end of a socketpair sends the
 * first reply (the greeting), then the next one for each command line it receives (after
 * the data of DATA, whose 354 it gave, and after each BDAT chunk) or whenever the client
 * has said nothing for 20 ms (it waits for more), and closes its side when the script runs
 * out. The session's total deadline is 4 s.
 * Contract checked (SEC-36): a transaction counts as delivered only after a 250 to the end
 * of the data (with LMTP, a 250 for every recipient); every loop ends (a hang is a finding:
 * libFuzzer's -timeout); nothing leaks.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "dot.h"
#include "log.h"
#include "sasl.h"
#include "smtp.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* A write to a server that has gone is an error to handle, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* FUZZ_VERBOSE=1 shows the transcript when a finding is replayed. */
	log_set_verbose(getenv("FUZZ_VERBOSE") != NULL);
	return 0;
}

/* ---- the server ---------------------------------------------------------------------- */

struct server {
	int fd;
	const char *p; /* the script */
	size_t n, pos;
	bool closed;   /* the script ran out: write side shut */
	char in[8192]; /* the client's bytes not yet used */
	size_t ilen;
	bool eof;
};

/* Send the next reply of the script (lines up to an empty line), or shut the write side. */
static const char *
next_turn(struct server *sv)
{
	if (sv->closed)
		return NULL;
	size_t start = sv->pos, end = sv->pos;
	while (sv->pos < sv->n) {
		const char *lf = memchr(sv->p + sv->pos, '\n', sv->n - sv->pos);
		size_t len = lf ? (size_t)(lf - (sv->p + sv->pos)) : sv->n - sv->pos;
		size_t line = sv->pos;
		sv->pos += len + (lf != NULL);
		if (len == 0 || (len == 1 && sv->p[line] == '\r')) {
			if (end > start)
				break;
			start = sv->pos; /* leading empty lines */
			continue;
		}
		end = sv->pos;
	}
	if (end == start) {
		shutdown(sv->fd, SHUT_WR);
		sv->closed = true;
		return NULL;
	}
	for (size_t off = start; off < end;) {
		ssize_t w = send(sv->fd, sv->p + off, end - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	return sv->p + start;
}

/*
 * Wait at most SERVER_PATIENCE_MS for more of the client's bytes: 1 got some, 0 the client's
 * end, -1 nothing came. A client that says nothing is waiting for more of a reply (the
 * script gave too few lines): the server then goes on with the next reply, or closes.
 */
#define SERVER_PATIENCE_MS 20

static int
more(struct server *sv)
{
	if (sv->eof)
		return 0;
	if (sv->ilen == sizeof(sv->in))
		sv->ilen = 0; /* a line too long for us: dropped */
	struct pollfd pf = {.fd = sv->fd, .events = POLLIN};
	if (poll(&pf, 1, SERVER_PATIENCE_MS) == 0)
		return -1;
	ssize_t r = recv(sv->fd, sv->in + sv->ilen, sizeof(sv->in) - sv->ilen, 0);
	if (r <= 0) {
		sv->eof = true;
		return 0;
	}
	sv->ilen += (size_t)r;
	return 1;
}

/* The client's next line (without CRLF) into LINE: 1, 0 at its end, -1 when it waits. */
static int
get_line(struct server *sv, char *line, size_t max)
{
	for (;;) {
		char *lf = memchr(sv->in, '\n', sv->ilen);
		if (lf) {
			size_t k = (size_t)(lf - sv->in);
			size_t c = k > 0 && sv->in[k - 1] == '\r' ? k - 1 : k;
			if (c >= max)
				c = max - 1;
			memcpy(line, sv->in, c);
			line[c] = '\0';
			memmove(sv->in, lf + 1, sv->ilen - k - 1);
			sv->ilen -= k + 1;
			return 1;
		}
		int r = more(sv);
		if (r <= 0)
			return r;
	}
}

/* Skip N bytes of BDAT data. */
static void
skip(struct server *sv, unsigned long long n)
{
	while (n > 0) {
		if (sv->ilen == 0 && more(sv) <= 0)
			return;
		size_t k = sv->ilen < n ? sv->ilen : (size_t)n;
		memmove(sv->in, sv->in + k, sv->ilen - k);
		sv->ilen -= k;
		n -= k;
	}
}

static void *
serve(void *arg)
{
	struct server *sv = arg;
	char line[1024];
	bool data = false;
	int r;

	next_turn(sv); /* the greeting */
	while ((r = get_line(sv, line, sizeof(line))) != 0) {
		if (r < 0) {
			/* The client waits: the next reply (or the end) for it. */
			next_turn(sv);
			continue;
		}
		if (data) {
			if (strcmp(line, ".") == 0) {
				data = false;
				next_turn(sv);
			}
			continue;
		}
		if (strncasecmp(line, "BDAT ", 5) == 0)
			skip(sv, strtoull(line + 5, NULL, 10));
		const char *t = next_turn(sv);
		if (t && strcasecmp(line, "DATA") == 0 && sv->p + sv->n - t >= 3 &&
		    memcmp(t, "354", 3) == 0)
			data = true;
	}
	close(sv->fd);
	return NULL;
}

/* ---- the client ---------------------------------------------------------------------- */

static const char message[] = "Subject: fuzz\r\n\r\nHello.\r\n.a line with a dot\r\n";

static void
check_verdict(const struct smtp *s, bool lmtp, const int *codes, size_t n, const char *how)
{
	if (lmtp) {
		for (size_t i = 0; i < n; i++)
			fuzz_check(codes[i] == 250, "LMTP recipient %zu delivered with %d", i,
			           codes[i]);
		return;
	}
	fuzz_check(s->final_code == 250, "%s delivered with a final reply of %d", how,
	           s->final_code);
}

/* One transaction; 1 when it was delivered, 0 when not but the session goes on, -1 when
 * the session is over. */
static int
transaction(struct smtp *s, uint8_t f, char *const *rcpts, size_t n, bool last)
{
	int codes[3] = {0, 0, 0};
	struct err e;
	bool quit = last && (f & 0x40);

	s->final_code = 0;
	if (!s->lmtp && (f & 0x20) && (s->caps.bits & SMTP_CAP_CHUNKING) &&
	    (s->caps.bits & SMTP_CAP_PIPELINING)) {
		size_t half = sizeof(message) / 2;
		if (smtp_bdat_begin(s, "me@example.com", "", rcpts, NULL, n, codes, n > 1, &e) <
		        0 ||
		    smtp_bdat_chunk(s, message, half, false, false, &e) < 0 ||
		    smtp_bdat_chunk(s, message + half, sizeof(message) - 1 - half, true, quit, &e) <
		        0 ||
		    smtp_bdat_end(s, &e) < 0)
			return -1;
		check_verdict(s, false, codes, n, "BDAT");
		if (quit && smtp_quit_check(s, &e) < 0)
			return -1;
		return 1;
	}
	if (smtp_envelope(s, "me@example.com", "", rcpts, NULL, n, codes, &e) < 0)
		return s->conn.fd >= 0 ? 0 : -1;
	struct dot d;
	dot_init(&d, false);
	if (dot_encode(&d, message, sizeof(message) - 1, smtp_data_sink, s, &e) < 0 ||
	    dot_finish(&d, smtp_data_sink, s, &e) < 0)
		return -1;
	if (smtp_data_end(s, quit, rcpts, n, codes, &e) < 0)
		return -1;
	check_verdict(s, s->lmtp, codes, n, "DATA");
	if (quit && smtp_quit_check(s, &e) < 0)
		return -1;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char r0[] = "a@example.com", r1[] = "b@example.net", r2[] = "c@example.org";
	char *rcpts[] = {r0, r1, r2};
	if (size < 1 || size > 16384)
		return 0;
	uint8_t f = data[0];
	size_t n = 1 + (size_t)((f >> 3) & 3) % 3;
	int sv_fd[2];
	struct err e;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_fd) < 0)
		abort();
	struct server *sv = calloc(1, sizeof(*sv));
	if (!sv)
		abort();
	sv->fd = sv_fd[1];
	sv->p = (const char *)data + 1;
	sv->n = size - 1;
	pthread_t th;
	if (pthread_create(&th, NULL, serve, sv) != 0)
		abort();

	struct smtp s;
	memset(&s, 0, sizeof(s));
	/* As conn_open leaves a socket: non-blocking, so the deadlines hold. */
	fcntl(sv_fd[0], F_SETFL, fcntl(sv_fd[0], F_GETFL) | O_NONBLOCK);
	s.conn.fd = sv_fd[0];
	s.conn.rbuf = malloc(CONN_BUF_SIZE);
	s.conn.wbuf = malloc(CONN_BUF_SIZE);
	snprintf(s.conn.peer, sizeof(s.conn.peer), "fuzz");
	s.lmtp = f & 1;
	smtp_timeouts_init(&s.t, 2);
	smtp_start_clock(&s);
	s.end = conn_clock_ms() + 4000;

	int rc = smtp_greeting(&s, &e);
	if (rc == 0)
		rc = smtp_ehlo(&s, "localhost", f & 2, &e);
	if (rc == 0 && (f & 4) && (s.caps.bits & SMTP_CAP_AUTH)) {
		struct sasl_creds c = {.user = "user",
		                       .pass = "pencil",
		                       .offered = s.caps.auth,
		                       .nonce = "fyko+d2lbbFgONRv9qkxdawL"};
		const char *mech = sasl_pick(s.caps.auth, NULL, &c, &e);
		rc = mech ? smtp_auth(&s, mech, &c, &e) : -1;
	}
	if (rc == 0) {
		int t = transaction(&s, f, rcpts, n, !(f & 0x80));
		if (t >= 0 && (f & 0x80) && s.conn.fd >= 0) {
			smtp_rset(&s);
			if (s.conn.fd >= 0)
				t = transaction(&s, f, rcpts, n, true);
		}
		if (t >= 0 && s.conn.fd >= 0)
			smtp_quit(&s);
		else
			smtp_abandon(&s);
	} else {
		smtp_abandon(&s);
	}
	conn_close(&s.conn);
	pthread_join(th, NULL);
	free(sv);
	return 0;
}
