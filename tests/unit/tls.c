/*
 * tls: real GnuTLS handshakes over socketpair() against a GnuTLS server in a forked child,
 * with the certificates of tests/gencerts.sh (path in POSTIE_TEST_GENCERTS) plus a few made
 * here for the wildcard rules. SEC-6, SEC-7, SEC-9, SEC-10, SEC-11, SEC-34.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "src/conn.h"
#include "src/err.h"
#include "src/tls.h"
#include "tests/tap.h"

#define BIG_LEN (1024 * 1024)

static char dir[64];

/* Session ticket key shared by every child server, so a later one can resume. */
static gnutls_datum_t ticket_key;

/* What the child server does. */
enum srv_mode {
	SRV_SCRIPT, /* handshake, then the little line protocol below */
	SRV_SILENT, /* never answer: read until EOF */
	SRV_DROP,   /* read the ClientHello, then close mid-handshake */
	SRV_IDLE,   /* handshake, then say nothing until EOF */
	SRV_ABRUPT, /* handshake, then close without close_notify */
};

struct server {
	const char *cert; /* file name in dir */
	const char *prio; /* NULL: "NORMAL" */
	enum srv_mode mode;
};

/* ---- the server (child process, blocking socket) ---- */

static int
srv_recv_line(gnutls_session_t s, char *line, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		char c;
		ssize_t r = gnutls_record_recv(s, &c, 1);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0)
			return -1;
		line[n++] = c;
		if (c == '\n')
			break;
	}
	line[n] = '\0';
	return 0;
}

static int
srv_send(gnutls_session_t s, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = gnutls_record_send(s, p, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * "hello\n" -> "echo hello sni=NAME\n"; "big N\n" + N bytes -> "got N sum S\n";
 * "cb\n" -> "cb HEX\n", the server's channel binding;
 * "bye\n" -> "two\nlines\n" in one record, then close_notify.
 */
static void
srv_script(gnutls_session_t s)
{
	char line[256], reply[300];

	for (;;) {
		if (srv_recv_line(s, line, sizeof(line)) < 0)
			return;
		if (strcmp(line, "bye\n") == 0) {
			srv_send(s, "two\nlines\n", 10);
			gnutls_bye(s, GNUTLS_SHUT_WR);
			return;
		}
		if (strcmp(line, "cb\n") == 0) {
			/* The server's own channel binding, computed its own way: RFC 9266's
			 * exporter by hand for TLS 1.3, tls-unique for TLS 1.2. */
			unsigned char v[64];
			size_t vlen = 0;
			gnutls_datum_t d = {NULL, 0};
			const gnutls_channel_binding_t unique = GNUTLS_CB_TLS_UNIQUE;
			if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_3) {
				if (gnutls_prf_rfc5705(s, 24, "EXPORTER-Channel-Binding", 0, "", 32,
				                       (char *)v) == 0)
					vlen = 32;
			} else if (gnutls_session_channel_binding(s, unique, &d) == 0) {
				vlen = d.size < sizeof(v) ? d.size : sizeof(v);
				memcpy(v, d.data, vlen);
			}
			gnutls_free(d.data);
			int n = snprintf(reply, sizeof(reply), "cb ");
			for (size_t i = 0; i < vlen; i++)
				n += snprintf(reply + n, sizeof(reply) - (size_t)n, "%02x", v[i]);
			n += snprintf(reply + n, sizeof(reply) - (size_t)n, "\n");
			srv_send(s, reply, (size_t)n);
			continue;
		}
		if (strncmp(line, "big ", 4) == 0) {
			unsigned long want = strtoul(line + 4, NULL, 10), got = 0, sum = 0;
			char buf[16384];
			while (got < want) {
				ssize_t r = gnutls_record_recv(s, buf, sizeof(buf));
				if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
					continue;
				if (r <= 0)
					return;
				for (ssize_t i = 0; i < r; i++)
					sum += (unsigned char)buf[i];
				got += (unsigned long)r;
			}
			int n = snprintf(reply, sizeof(reply), "got %lu sum %lu\n", got, sum);
			srv_send(s, reply, (size_t)n);
			continue;
		}
		char sni[128] = "none";
		size_t snilen = sizeof(sni);
		unsigned type;
		if (gnutls_server_name_get(s, sni, &snilen, &type, 0) != 0)
			snprintf(sni, sizeof(sni), "none");
		line[strcspn(line, "\n")] = '\0';
		int n = snprintf(reply, sizeof(reply), "echo %.100s sni=%.100s\n", line, sni);
		srv_send(s, reply, (size_t)n);
	}
}

static void
srv_wait_eof(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static _Noreturn void
serve(int fd, const struct server *sv)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char cert[128], key[128];

	alarm(10);
	if (sv->mode == SRV_SILENT) {
		srv_wait_eof(fd);
		_exit(0);
	}
	if (sv->mode == SRV_DROP) {
		char buf[4096];
		if (read(fd, buf, sizeof(buf)) < 0)
			_exit(1);
		close(fd);
		_exit(0);
	}
	snprintf(cert, sizeof(cert), "%s/%s", dir, sv->cert);
	bool tickets = ticket_key.size > 0;
	snprintf(key, sizeof(key), "%s/server-key.pem", dir);
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0 ||
	    gnutls_priority_set_direct(s, sv->prio ? sv->prio : "NORMAL", NULL) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    (tickets && gnutls_session_ticket_enable_server(s, &ticket_key) < 0))
		_exit(2);
	gnutls_transport_set_int(s, fd);
	int r;
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0)
		_exit(3);
	if (sv->mode == SRV_SCRIPT)
		srv_script(s);
	else if (sv->mode == SRV_IDLE)
		srv_wait_eof(fd);
	/* SRV_ABRUPT: just go */
	_exit(0);
}

/* ---- the client side ---- */

struct run {
	pid_t pid;
	int fd;
	int rc;
	struct err e;
	struct tls *t;
	int64_t ms; /* how long tls_start took */
};

static void
start(struct run *run, const struct server *sv, const struct tls_config *cfg, int64_t wait_ms)
{
	int p[2];

	memset(run, 0, sizeof(*run));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0) {
		perror("socketpair");
		exit(99);
	}
	run->pid = -1;
	if (sv) {
		run->pid = fork();
		if (run->pid < 0) {
			perror("fork");
			exit(99);
		}
		if (run->pid == 0) {
			close(p[0]);
			serve(p[1], sv);
		}
	}
	close(p[1]);
	run->fd = p[0];
	int64_t t0 = conn_clock_ms();
	err_clear(&run->e);
	run->rc = tls_start(&run->t, run->fd, cfg, t0 + wait_ms, &run->e);
	run->ms = conn_clock_ms() - t0;
}

/* Returns the server's exit status (3: its handshake failed), or -1. */
static int
finish(struct run *run)
{
	int st = 0;

	tls_free(run->t);
	run->t = NULL;
	close(run->fd);
	if (run->pid > 0 && waitpid(run->pid, &st, 0) == run->pid && WIFEXITED(st))
		return WEXITSTATUS(st);
	return -1;
}

/* Read one line (up to LF) through tls_read, byte by byte. */
static ssize_t
read_line(struct tls *t, char *buf, size_t max, struct err *e)
{
	size_t n = 0;

	while (n + 1 < max) {
		ssize_t r = tls_read(t, buf + n, 1, conn_clock_ms() + 2000, e);
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)n;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* ---- certificates ---- */

static char fps[8][3][100]; /* name, "AA:BB:...", "aabb..." */

static const char *
fp_find(const char *name, int form)
{
	for (size_t i = 0; i < 8; i++)
		if (strcmp(fps[i][0], name) == 0)
			return fps[i][form];
	return "(no fingerprint)";
}

/* As shown in messages. */
static const char *
fp_of(const char *name)
{
	return fp_find(name, 1);
}

/* "af96..." -> "AF:96:..." */
static void
colonize(char *out, size_t outlen, const char *hex)
{
	size_t o = 0;

	for (size_t i = 0; hex[i] && hex[i + 1] && o + 3 < outlen; i += 2) {
		if (i)
			out[o++] = ':';
		out[o++] = (char)toupper((unsigned char)hex[i]);
		out[o++] = (char)toupper((unsigned char)hex[i + 1]);
	}
	out[o] = '\0';
}

static void
load_fingerprints(void)
{
	char path[128], name[64], hex[80];
	snprintf(path, sizeof(path), "%s/fingerprints.txt", dir);
	FILE *f = fopen(path, "r");
	size_t i = 0;

	if (!f) {
		perror(path);
		exit(99);
	}
	while (i < 8 && fscanf(f, "%63s %79s", name, hex) == 2) {
		snprintf(fps[i][0], sizeof(fps[i][0]), "%s", name);
		colonize(fps[i][1], sizeof(fps[i][1]), hex);
		snprintf(fps[i][2], sizeof(fps[i][2]), "%s", hex);
		i++;
	}
	fclose(f);
}

static void
gencerts(void)
{
	const char *script = getenv("POSTIE_TEST_GENCERTS");
	if (!script)
		script = "../../tests/gencerts.sh";
	pid_t pid = fork();
	if (pid == 0) {
		execlp("sh", "sh", script, dir, (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "gencerts.sh %s failed\n", script);
		exit(99);
	}
}

static void
must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", what, gnutls_strerror(r));
		exit(99);
	}
}

/* A leaf certificate for server-key.pem with the dNSName SANs given, signed by the CA. */
static void
make_leaf(const char *file, const char *const *names, size_t n)
{
	gnutls_x509_crt_t ca, crt;
	gnutls_x509_privkey_t cakey, key;
	gnutls_datum_t d;
	char path[128];
	unsigned char serial[8];

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	must(gnutls_load_file(path, &d), "load ca.pem");
	must(gnutls_x509_crt_init(&ca), "crt init");
	must(gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM), "import ca");
	gnutls_free(d.data);
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	must(gnutls_load_file(path, &d), "load ca-key.pem");
	must(gnutls_x509_privkey_init(&cakey), "key init");
	must(gnutls_x509_privkey_import(cakey, &d, GNUTLS_X509_FMT_PEM), "import ca key");
	gnutls_free(d.data);
	snprintf(path, sizeof(path), "%s/server-key.pem", dir);
	must(gnutls_load_file(path, &d), "load server-key.pem");
	must(gnutls_x509_privkey_init(&key), "key init");
	must(gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM), "import key");
	gnutls_free(d.data);

	must(gnutls_x509_crt_init(&crt), "crt init");
	must(gnutls_x509_crt_set_version(crt, 3), "version");
	must(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), "rnd");
	serial[0] &= 0x7f;
	must(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial");
	time_t now = time(NULL);
	must(gnutls_x509_crt_set_activation_time(crt, now - 3600), "activation");
	must(gnutls_x509_crt_set_expiration_time(crt, now + 86400), "expiration");
	must(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "test", 4), "dn");
	for (size_t i = 0; i < n; i++)
		must(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i],
		                                          (unsigned)strlen(names[i]),
		                                          GNUTLS_FSAN_APPEND),
		     "san");
	must(gnutls_x509_crt_set_key(crt, key), "set key");
	must(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "constraints");
	must(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "usage");
	must(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose");
	must(gnutls_x509_crt_sign2(crt, ca, cakey, GNUTLS_DIG_SHA256, 0), "sign");
	must(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), "export");
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	if (!f || fwrite(d.data, 1, d.size, f) != d.size || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(cakey);
}

static void
remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- cases ---- */

static char ca_file[128];

static bool
has(const struct err *e, const char *s)
{
	return strstr(e->text, s) != NULL;
}

/* The full session: data both ways, a big write, pending bytes, close_notify. */
static void
test_good(void)
{
	struct server sv = {"server.pem", NULL, SRV_SCRIPT};
	struct tls_config cfg = {"localhost", ca_file, NULL, true, NULL, NULL};
	struct run r;
	char line[256];
	struct err e;

	start(&r, &sv, &cfg, 3000);
	if (!ok(r.rc == 0, "good certificate + CA file: handshake ok (%s)", r.e.text)) {
		finish(&r);
		return;
	}
	ok(strncmp(tls_describe(r.t), "TLS1.3 ", 7) == 0, "describe shows TLS1.3: \"%s\"",
	   tls_describe(r.t));
	ok(fcntl(r.fd, F_GETFL) & O_NONBLOCK, "tls_start made the socket non-blocking");

	err_clear(&e);
	ok(tls_write(r.t, "hello\n", 6, conn_clock_ms() + 2000, &e) == 0, "write hello");
	ssize_t n = read_line(r.t, line, sizeof(line), &e);
	ok_mem(line, n > 0 ? (size_t)n : 0, "echo hello sni=localhost\n", 25,
	       "server got our data and SNI localhost");

	char *big = malloc(BIG_LEN);
	unsigned long sum = 0;
	for (size_t i = 0; i < BIG_LEN; i++) {
		big[i] = (char)(i * 7 + 3);
		sum += (unsigned char)big[i];
	}
	char want[64];
	int wl = snprintf(want, sizeof(want), "got %d sum %lu\n", BIG_LEN, sum);
	ok(tls_write(r.t, "big 1048576\n", 12, conn_clock_ms() + 3000, &e) == 0 &&
	       tls_write(r.t, big, BIG_LEN, conn_clock_ms() + 3000, &e) == 0,
	   "write 1 MiB through a full socket (%s)", e.text);
	free(big);
	n = read_line(r.t, line, sizeof(line), &e);
	ok_mem(line, n > 0 ? (size_t)n : 0, want, (size_t)wl, "server got all 1 MiB intact");

	ok(tls_write(r.t, "bye\n", 4, conn_clock_ms() + 2000, &e) == 0, "write bye");
	char c = 0;
	n = tls_read(r.t, &c, 1, conn_clock_ms() + 2000, &e);
	ok(n == 1 && c == 't', "read one byte of a record");
	ok(tls_pending(r.t), "the rest of the record is pending inside GnuTLS");
	char rest[64];
	n = tls_read(r.t, rest, sizeof(rest), conn_clock_ms() + 2000, &e);
	ok_mem(rest, n > 0 ? (size_t)n : 0, "wo\nlines\n", 9, "read the pending rest");
	ok(!tls_pending(r.t), "nothing pending after that");
	n = tls_read(r.t, rest, sizeof(rest), conn_clock_ms() + 2000, &e);
	ok(n == 0, "close_notify reads as 0 (got %zd, %s)", n, n < 0 ? e.text : "");
	finish(&r);
}

struct fail_case {
	const char *what;
	struct server sv;
	struct tls_config cfg;
	enum err_kind kind;
	const char *say1, *say2; /* must appear in the text */
	const char *fp_of;       /* the fingerprint of this certificate must appear */
};

static void
test_failures(void)
{
	static const char *bad_pin =
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	const struct fail_case cases[] = {
	    {"expired certificate (SEC-6)",
	     {"expired.pem", NULL, SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "expired on 2020-01-01",
	     "issuer \"postie test CA\"",
	     "expired"},
	    {"wrong name (SEC-6)",
	     {"wrongname.pem", NULL, SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "name mismatch: certificate is for other.example",
	     NULL,
	     "wrongname"},
	    {"CN-only certificate (SEC-7)",
	     {"cn-only.pem", NULL, SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "no subjectAltName",
	     "verify server certificate for localhost: ",
	     "cn-only"},
	    {"self-signed (SEC-6)",
	     {"selfsigned.pem", NULL, SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "issuer unknown",
	     "pin it with tls_fingerprint",
	     "selfsigned"},
	    {"wrong pin (SEC-9)",
	     {"selfsigned.pem", NULL, SRV_SCRIPT},
	     {"localhost", NULL, bad_pin, true, NULL, NULL},
	     ERR_TLS,
	     "fingerprint mismatch",
	     NULL,
	     "selfsigned"},
	    {"IP literal vs a DNS-only certificate",
	     {"wrongname.pem", NULL, SRV_SCRIPT},
	     {"127.0.0.1", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "no subjectAltName for an IP address",
	     NULL,
	     "wrongname"},
	    {"other IP address",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"127.0.0.2", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "name mismatch: certificate is for localhost, 127.0.0.1, ::1",
	     NULL,
	     "server"},
	    {"nested wildcard (RFC 9525 6.3)",
	     {"wild.pem", NULL, SRV_SCRIPT},
	     {"x.mail.example.test", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "name mismatch: certificate is for *.example.test",
	     NULL,
	     NULL},
	    {"wildcard does not match the bare domain",
	     {"wild.pem", NULL, SRV_SCRIPT},
	     {"example.test", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "name mismatch",
	     NULL,
	     NULL},
	    {"partial wildcard refused",
	     {"partial.pem", NULL, SRV_SCRIPT},
	     {"foo.example.test", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "name mismatch",
	     NULL,
	     NULL},
	    {"TLS 1.1-only server (SEC-10)",
	     {"server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.1", SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TLS,
	     "TLS handshake with localhost",
	     "1.2",
	     NULL},
	    {"a profile's own priorities cannot open TLS 1.1 (SEC-10)",
	     {"server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.1", SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0", NULL},
	     ERR_TLS,
	     "TLS handshake with localhost",
	     "1.2",
	     NULL},
	    {"server closes mid-handshake",
	     {"server.pem", NULL, SRV_DROP},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     ERR_TEMP,
	     "connection lost",
	     NULL,
	     NULL},
	    {"SHA-1 pin refused (SEC-9)",
	     {NULL, NULL, SRV_SCRIPT},
	     {"localhost", NULL, "0123456789abcdef0123456789abcdef01234567", true, NULL, NULL},
	     ERR_CONFIG,
	     "SHA-256",
	     NULL,
	     NULL},
	    {"bad priority string",
	     {NULL, NULL, SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, "NORMAL:+NO-SUCH-THING", NULL},
	     ERR_CONFIG,
	     "tls_priorities",
	     "NO-SUCH-THING",
	     NULL},
	    {"missing trust file",
	     {NULL, NULL, SRV_SCRIPT},
	     {"localhost", "/nonexistent/ca.pem", NULL, true, NULL, NULL},
	     ERR_CONFIG,
	     "/nonexistent/ca.pem",
	     "No such file",
	     NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fail_case *c = &cases[i];
		struct run r;
		start(&r, c->sv.cert ? &c->sv : NULL, &c->cfg, 3000);
		bool good = r.rc == -1 && r.t == NULL && r.e.kind == c->kind &&
		            has(&r.e, c->say1) && (!c->say2 || has(&r.e, c->say2)) &&
		            (!c->fp_of || has(&r.e, fp_of(c->fp_of))) && r.ms < 10000;
		ok(good, "%s: refused as %d: %s", c->what, (int)r.e.kind, r.e.text);
		int st = finish(&r);
		/* SEC-11: a refused server saw its handshake fail, so it got nothing else. */
		if (c->kind == ERR_TLS)
			ok(st == 3, "%s: the server's handshake failed too (exit %d)", c->what, st);
	}

	/* The system store (loaded when no trust file is named) does not know the test CA. */
	struct server sv = {"server.pem", NULL, SRV_SCRIPT};
	struct tls_config sys = {"localhost", NULL, NULL, true, NULL, NULL};
	struct run r;
	start(&r, &sv, &sys, 3000);
	ok(r.rc == -1 && ((r.e.kind == ERR_TLS && has(&r.e, "issuer unknown")) ||
	                  (r.e.kind == ERR_CONFIG && has(&r.e, "system trust store"))),
	   "system trust store: test CA unknown: %s", r.e.text);
	finish(&r);
}

static void
test_accepts(void)
{
	char pin_server[100], pin_self[100], pin_expired[100];
	/* The profile hands over 64 lower-case hex digits; the "AA:BB:..." form shown in
	 * messages is accepted too. */
	snprintf(pin_server, sizeof(pin_server), "%s", fp_find("server", 2));
	snprintf(pin_self, sizeof(pin_self), "%s", fp_of("selfsigned"));
	snprintf(pin_expired, sizeof(pin_expired), "%s", fp_find("expired", 2));
	const struct {
		const char *what;
		struct server sv;
		struct tls_config cfg;
		const char *sni; /* what the server must see */
	} cases[] = {
	    {"right pin, trust file never loaded (SEC-9)",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"localhost", "/nonexistent/ca.pem", pin_server, true, NULL, NULL},
	     "localhost"},
	    {"right pin on a self-signed certificate",
	     {"selfsigned.pem", NULL, SRV_SCRIPT},
	     {"localhost", NULL, pin_self, true, NULL, NULL},
	     "localhost"},
	    {"pin replaces validity dates too",
	     {"expired.pem", NULL, SRV_SCRIPT},
	     {"localhost", NULL, pin_expired, true, NULL, NULL},
	     "localhost"},
	    {"certcheck off accepts anything",
	     {"selfsigned.pem", NULL, SRV_SCRIPT},
	     {"other.example", "/nonexistent/ca.pem", NULL, false, NULL, NULL},
	     "other.example"},
	    {"IP literal 127.0.0.1 with an IP SAN, no SNI",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"127.0.0.1", ca_file, NULL, true, NULL, NULL},
	     "none"},
	    {"IPv6 literal ::1",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"::1", ca_file, NULL, true, NULL, NULL},
	     "none"},
	    {"bracketed [::1]",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"[::1]", ca_file, NULL, true, NULL, NULL},
	     "none"},
	    {"host name case does not matter",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"LocalHost", ca_file, NULL, true, NULL, NULL},
	     "LocalHost"},
	    {"trailing dot",
	     {"server.pem", NULL, SRV_SCRIPT},
	     {"localhost.", ca_file, NULL, true, NULL, NULL},
	     "localhost"},
	    {"wildcard matches one label",
	     {"wild.pem", NULL, SRV_SCRIPT},
	     {"a.example.test", ca_file, NULL, true, NULL, NULL},
	     "a.example.test"},
	    {"TLS 1.2-only server",
	     {"server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT},
	     {"localhost", ca_file, NULL, true, NULL, NULL},
	     "localhost"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		char line[256], want[128];
		struct err e;
		start(&r, &cases[i].sv, &cases[i].cfg, 3000);
		int wl = snprintf(want, sizeof(want), "echo hello sni=%s\n", cases[i].sni);
		ssize_t n = -1;
		err_clear(&e);
		if (r.rc == 0 && tls_write(r.t, "hello\n", 6, conn_clock_ms() + 2000, &e) == 0)
			n = read_line(r.t, line, sizeof(line), &e);
		ok(r.rc == 0 && n == wl && memcmp(line, want, (size_t)wl) == 0,
		   "%s: accepted (%s%s)", cases[i].what, r.rc ? r.e.text : tls_describe(r.t),
		   e.text);
		if (i == sizeof(cases) / sizeof(cases[0]) - 1)
			ok(r.t && strncmp(tls_describe(r.t), "TLS1.2 ", 7) == 0,
			   "TLS 1.2 server described as TLS1.2");
		finish(&r);
	}
}

/* SEC-34: deadlines, not hangs. */
static void
test_timeouts(void)
{
	struct tls_config cfg = {"localhost", ca_file, NULL, true, NULL, NULL};
	struct run r;
	struct err e;
	char buf[64];

	struct server silent = {"server.pem", NULL, SRV_SILENT};
	start(&r, &silent, &cfg, 300);
	ok(r.rc == -1 && r.e.kind == ERR_TEMP && has(&r.e, "timed out") && r.ms >= 290 &&
	       r.ms < 5000,
	   "silent server: ERR_TEMP after %lld ms: %s", (long long)r.ms, r.e.text);
	finish(&r);

	struct server idle = {"server.pem", NULL, SRV_IDLE};
	start(&r, &idle, &cfg, 3000);
	err_clear(&e);
	int64_t t0 = conn_clock_ms();
	ssize_t n = r.rc == 0 ? tls_read(r.t, buf, sizeof(buf), t0 + 200, &e) : 0;
	int64_t ms = conn_clock_ms() - t0;
	ok(n == -1 && e.kind == ERR_TEMP && has(&e, "timed out") && ms >= 190 && ms < 5000,
	   "read from an idle server: ERR_TEMP after %lld ms: %s", (long long)ms, e.text);
	finish(&r);

	struct server abrupt = {"server.pem", NULL, SRV_ABRUPT};
	start(&r, &abrupt, &cfg, 3000);
	err_clear(&e);
	n = r.rc == 0 ? tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 2000, &e) : 0;
	ok(n == -1 && e.kind == ERR_TEMP && has(&e, "connection lost"),
	   "read: close without close_notify: ERR_TEMP: %s", e.text);
	finish(&r);

	/* The peer is gone: writing must fail with ERR_TEMP, not raise SIGPIPE or hang. */
	signal(SIGPIPE, SIG_DFL);
	start(&r, &abrupt, &cfg, 3000);
	err_clear(&e);
	char chunk[4096] = {0};
	int w = r.rc == 0 ? 0 : 1;
	for (int i = 0; i < 200 && w == 0; i++)
		w = tls_write(r.t, chunk, sizeof(chunk), conn_clock_ms() + 1000, &e);
	ok(w == -1 && e.kind == ERR_TEMP && has(&e, "connection lost"),
	   "write to a closed peer: ERR_TEMP, no SIGPIPE: %s", e.text);
	signal(SIGPIPE, SIG_IGN);
	finish(&r);
}

/* Resumption: a second run offers the saved session, resumes it without reading the
 * trust file, and a session saved under other settings is never offered. */
static void
test_resume(void)
{
	struct server sv = {"server.pem", NULL, SRV_SCRIPT};
	char trust[160], sess[160], line[256], cmd[400];
	struct run r;
	struct err e;
	struct stat st;

	snprintf(trust, sizeof(trust), "%s/trust-copy.pem", dir);
	snprintf(sess, sizeof(sess), "%s/session", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", ca_file, trust);
	ok(system(cmd) == 0, "copy the CA to a trust file of its own");
	struct tls_config cfg = {"localhost", trust, NULL, true, NULL, sess};

	start(&r, &sv, &cfg, 3000);
	ok(r.rc == 0 && !tls_resumed(r.t), "first run: full handshake (%s)", r.e.text);
	if (r.rc == 0) {
		/* A reply read under TLS brings the TLS 1.3 ticket in. */
		err_clear(&e);
		tls_write(r.t, "hello\n", 6, conn_clock_ms() + 2000, &e);
		read_line(r.t, line, sizeof(line), &e);
		ok(tls_save_session(r.t, sess, &e) == 0, "session saved (%s)", e.text);
	}
	finish(&r);
	ok(stat(sess, &st) == 0 && (st.st_mode & 0777) == 0600, "session file is mode 0600");

	/* Empty the trust file: loading it now would fail, so success proves it was not read. */
	FILE *f = fopen(trust, "w");
	if (f)
		fclose(f);
	start(&r, &sv, &cfg, 3000);
	ok(r.rc == 0 && tls_resumed(r.t), "second run resumes without loading trust (%s)",
	   r.e.text);
	ok(r.rc == 0 && strstr(tls_describe(r.t), "(resumed)"), "describe says resumed");
	finish(&r);

	/* Other settings: the cached session is not offered; a full handshake needs trust. */
	struct tls_config other = {"localhost", ca_file, NULL, true, NULL, sess};
	start(&r, &sv, &other, 3000);
	ok(r.rc == 0 && !tls_resumed(r.t), "another trust file: full handshake (%s)", r.e.text);
	finish(&r);

	/* A session file others can read is ignored: with the same settings, the full
	 * handshake then has to load the (now empty) trust file, and fails on it. */
	ok(chmod(sess, 0644) == 0, "make the session file readable by others");
	start(&r, &sv, &cfg, 3000);
	ok(r.rc == -1 && r.e.kind == ERR_CONFIG && has(&r.e, "no PEM certificates"),
	   "a 0644 session file is ignored; the full handshake loads trust (%s)", r.e.text);
	finish(&r);
	f = fopen(sess, "w");
	if (f) {
		fputs("postie-tls-session 1 garbage\n", f);
		fclose(f);
	}
	chmod(sess, 0600);
	start(&r, &sv, &other, 3000);
	ok(r.rc == 0 && !tls_resumed(r.t), "a damaged session file: full handshake (%s)",
	   r.e.text);
	finish(&r);
}

/* tls_channel_binding: client and server derive the same bytes (RFC 9266, RFC 5929). */
static void
test_channel_binding(void)
{
	static const struct {
		const char *prio;
		const char *type; /* NULL: refused */
		size_t len;
	} cases[] = {
	    {NULL, "tls-exporter", 32},
	    {"NORMAL:-VERS-ALL:+VERS-TLS1.2", "tls-unique", 12},
	    {"NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_SESSION_HASH", NULL, 0},
	};
	struct tls_config cfg = {"localhost", ca_file, NULL, true, NULL, NULL};
	char first[256] = "";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server sv = {"server.pem", cases[i].prio, SRV_SCRIPT};
		struct run r;
		struct buf b;
		struct err e;
		const char *type = "unset";
		char line[256], want[256];

		start(&r, &sv, &cfg, 3000);
		if (!ok(r.rc == 0, "channel binding %zu: handshake (%s)", i, r.e.text)) {
			finish(&r);
			continue;
		}
		buf_init(&b, 64);
		b.secret = true;
		err_clear(&e);
		int rc = tls_channel_binding(r.t, &type, &b, &e);
		if (!cases[i].type) {
			ok(rc == -1 && e.kind == ERR_TLS && !type && b.len == 0 &&
			       has(&e, "extended master secret"),
			   "TLS 1.2 without EMS: no channel binding (%s)", e.text);
		} else {
			ok(rc == 0 && type && strcmp(type, cases[i].type) == 0 &&
			       b.len == cases[i].len,
			   "%s: %zu bytes (%s)", cases[i].type, b.len, rc ? e.text : "ok");
			int n = snprintf(want, sizeof(want), "cb ");
			for (size_t k = 0; k < b.len; k++)
				n += snprintf(want + n, sizeof(want) - (size_t)n, "%02x",
				              (unsigned char)b.data[k]);
			n += snprintf(want + n, sizeof(want) - (size_t)n, "\n");
			ok(tls_write(r.t, "cb\n", 3, conn_clock_ms() + 2000, &e) == 0,
			   "ask for cb");
			ssize_t got = read_line(r.t, line, sizeof(line), &e);
			ok_mem(line, got > 0 ? (size_t)got : 0, want, (size_t)n,
			       "%s: the server derives the same bytes", cases[i].type);
			if (i == 0)
				snprintf(first, sizeof(first), "%s", want);
		}
		buf_fini(&b);
		finish(&r);
	}

	/* Another session, another binding: that is the point of it. */
	struct server sv = {"server.pem", NULL, SRV_SCRIPT};
	struct run r;
	struct buf b;
	struct err e;
	const char *type;
	start(&r, &sv, &cfg, 3000);
	buf_init(&b, 64);
	bool differs = false;
	if (r.rc == 0 && tls_channel_binding(r.t, &type, &b, &e) == 0 && b.len == 32) {
		char hex[80];
		int n = snprintf(hex, sizeof(hex), "cb ");
		for (size_t k = 0; k < b.len; k++)
			n += snprintf(hex + n, sizeof(hex) - (size_t)n, "%02x",
			              (unsigned char)b.data[k]);
		snprintf(hex + n, sizeof(hex) - (size_t)n, "\n");
		differs = first[0] && strcmp(hex, first) != 0;
	}
	ok(differs, "tls-exporter differs between two sessions");
	buf_fini(&b);
	finish(&r);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(30);
	snprintf(dir, sizeof(dir), "/tmp/postie-tls-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	atexit(remove_dir);
	gencerts();
	load_fingerprints();
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	static const char *const wild[] = {"*.example.test"};
	static const char *const partial[] = {"f*.example.test"};
	make_leaf("wild.pem", wild, 1);
	make_leaf("partial.pem", partial, 1);

	tls_free(NULL);
	ok(1, "tls_free(NULL) is a no-op");
	test_good();
	test_accepts();
	test_failures();
	test_timeouts();
	test_channel_binding();
	gnutls_session_ticket_key_generate(&ticket_key);
	test_resume();
	return tap_done();
}
