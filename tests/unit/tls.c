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
#include "tests/lib/tap.h"

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
	SRV_ALERTS, /* handshake, then warning alerts without end (no data) */
};

/* Whether the server asks for a client certificate. */
enum srv_client { SRV_NO_CLIENT_CERT, SRV_REQUEST_CLIENT_CERT, SRV_REQUIRE_CLIENT_CERT };

struct server {
	const char *cert; /* file name in dir */
	const char *prio; /* NULL: "NORMAL" */
	enum srv_mode mode;
	const char *key; /* file name in dir; NULL: server-key.pem */
	enum srv_client client;
	const char *ocsp;   /* an OCSP response (DER) in dir to staple; NULL: none */
	bool no_alert;      /* a failed handshake just hangs up (as Exim does) */
	bool verify_client; /* the handshake fails on a client certificate the CA did not sign */
};

#define SRV(cert_, prio_, mode_)                                                                   \
	{                                                                                          \
		.cert = (cert_), .prio = (prio_), .mode = (mode_)                                  \
	}
#define CFG(host_, trust_, fp_, check_, prio_, sess_)                                              \
	{                                                                                          \
		.host = (host_), .trust_file = (trust_), .fingerprint = (fp_),                     \
		.certcheck = (check_), .priorities = (prio_), .session_file = (sess_)              \
	}

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
		if (strcmp(line, "drop\n") == 0) {
			srv_send(s, "dropping\n", 9);
			return; /* and close without close_notify */
		}
		if (strcmp(line, "who\n") == 0) {
			/* The client certificate as the server saw it, and whether it verified
			 * against the test CA. */
			unsigned n = 0, status = 1;
			const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
			char dn[200] = "none";
			if (peers && n > 0) {
				gnutls_x509_crt_t c;
				size_t dnlen = sizeof(dn);
				if (gnutls_x509_crt_init(&c) == 0 &&
				    gnutls_x509_crt_import(c, &peers[0], GNUTLS_X509_FMT_DER) ==
				        0 &&
				    gnutls_x509_crt_get_dn(c, dn, &dnlen) == 0)
					gnutls_x509_crt_deinit(c);
				if (gnutls_certificate_verify_peers2(s, &status) < 0)
					status = 1;
			}
			int n2 = snprintf(reply, sizeof(reply), "who %s %s\n", dn,
			                  peers && n > 0 ? (status == 0 ? "verified" : "unverified")
			                                 : "-");
			srv_send(s, reply, (size_t)n2);
			continue;
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

/* Staple the response as it is. GnuTLS's own loader refuses to staple a "revoked"
 * response; other servers send whatever their responder said, so the client must judge. */
static int
srv_staple(gnutls_session_t s, void *ptr, gnutls_datum_t *resp)
{
	const gnutls_datum_t *d = ptr;

	(void)s;
	resp->data = gnutls_malloc(d->size);
	if (!resp->data)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(resp->data, d->data, d->size);
	resp->size = d->size;
	return 0;
}

static _Noreturn void
serve(int fd, const struct server *sv)
{
	gnutls_datum_t staple = {NULL, 0};
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
	snprintf(key, sizeof(key), "%s/%s", dir, sv->key ? sv->key : "server-key.pem");
	char ca[128], ocsp[128];
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	if (sv->ocsp)
		snprintf(ocsp, sizeof(ocsp), "%s/%s", dir, sv->ocsp);
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM) < 0 ||
	    (sv->client &&
	     gnutls_certificate_set_x509_trust_file(cred, ca, GNUTLS_X509_FMT_PEM) < 1) ||
	    (sv->ocsp && gnutls_load_file(ocsp, &staple) < 0) ||
	    (sv->ocsp && gnutls_certificate_set_ocsp_status_request_function2(cred, 0, srv_staple,
	                                                                      &staple) < 0) ||
	    gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0 ||
	    gnutls_priority_set_direct(s, sv->prio ? sv->prio : "NORMAL", NULL) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    (tickets && gnutls_session_ticket_enable_server(s, &ticket_key) < 0))
		_exit(2);
	if (sv->client)
		gnutls_certificate_server_set_request(s, sv->client == SRV_REQUIRE_CLIENT_CERT
		                                             ? GNUTLS_CERT_REQUIRE
		                                             : GNUTLS_CERT_REQUEST);
	if (sv->verify_client)
		gnutls_session_set_verify_cert(s, NULL, 0);
	gnutls_transport_set_int(s, fd);
	int r;
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		/* As a real server does: say why (e.g. certificate_required, protocol_version). */
		if (!sv->no_alert)
			gnutls_alert_send_appropriate(s, r);
		_exit(3);
	}
	if (sv->mode == SRV_SCRIPT)
		srv_script(s);
	else if (sv->mode == SRV_IDLE)
		srv_wait_eof(fd);
	else if (sv->mode == SRV_ALERTS)
		for (int i = 0; i < 100000; i++)
			if (gnutls_alert_send(s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION) < 0)
				break;
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
		run->pid = (fflush(stdout), fork());
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
	pid_t pid = (fflush(stdout), fork());
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

/* A leaf certificate for server-key.pem with the subject CN and dNSName SANs given, signed by
 * the CA. */
static void
make_leaf(const char *file, const char *cn, const char *const *names, size_t n)
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
	must(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	                                   (unsigned)strlen(cn)),
	     "dn");
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

/* PATH and everything under it (the SoftHSM token's folders too); symlinks not followed. */
static void
remove_tree(const char *path, int depth)
{
	DIR *d = depth < 8 ? opendir(path) : NULL;
	struct dirent *de;
	struct stat st;
	char sub[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(sub, depth + 1);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static void
remove_dir(void)
{
	remove_tree(dir, 0);
}

/* ---- cases ---- */

static void info_of(struct tls *t, char *out, size_t outlen);
static bool has_line(const char *text, const char *line);

/* Print TEXT as TAP comment lines. */
static void
dump(const char *text)
{
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		printf("# %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

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
	struct server sv = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
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
	    {"expired certificate (SEC-6)", SRV("expired.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TLS, "expired on 2020-01-01",
	     "issuer \"postie test CA\"", "expired"},
	    {"wrong name (SEC-6)", SRV("wrongname.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TLS,
	     "name mismatch: certificate is for other.example", NULL, "wrongname"},
	    {"CN-only certificate (SEC-7)", SRV("cn-only.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TLS, "no subjectAltName",
	     "verify server certificate for localhost: ", "cn-only"},
	    {"self-signed (SEC-6)", SRV("selfsigned.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TLS, "issuer unknown",
	     "pin it with tls_fingerprint", "selfsigned"},
	    {"wrong pin (SEC-9)", SRV("selfsigned.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", NULL, bad_pin, true, NULL, NULL), ERR_TLS, "fingerprint mismatch",
	     NULL, "selfsigned"},
	    {"IP literal vs a DNS-only certificate", SRV("wrongname.pem", NULL, SRV_SCRIPT),
	     CFG("127.0.0.1", ca_file, NULL, true, NULL, NULL), ERR_TLS,
	     "no subjectAltName for an IP address", NULL, "wrongname"},
	    {"other IP address", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("127.0.0.2", ca_file, NULL, true, NULL, NULL), ERR_TLS,
	     "name mismatch: certificate is for localhost, 127.0.0.1, ::1", NULL, "server"},
	    {"nested wildcard (RFC 9525 6.3)", SRV("wild.pem", NULL, SRV_SCRIPT),
	     CFG("x.mail.example.test", ca_file, NULL, true, NULL, NULL), ERR_TLS,
	     "name mismatch: certificate is for *.example.test", NULL, NULL},
	    {"wildcard does not match the bare domain", SRV("wild.pem", NULL, SRV_SCRIPT),
	     CFG("example.test", ca_file, NULL, true, NULL, NULL), ERR_TLS, "name mismatch", NULL,
	     NULL},
	    {"partial wildcard refused", SRV("partial.pem", NULL, SRV_SCRIPT),
	     CFG("foo.example.test", ca_file, NULL, true, NULL, NULL), ERR_TLS, "name mismatch",
	     NULL, NULL},
	    {"TLS 1.1-only server (SEC-10)",
	     SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.1", SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TLS,
	     "TLS handshake with localhost", "1.2", NULL},
	    {"a profile's own priorities cannot open TLS 1.1 (SEC-10)",
	     SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.1", SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0", NULL),
	     ERR_TLS, "TLS handshake with localhost", "1.2", NULL},
	    {"server closes mid-handshake", SRV("server.pem", NULL, SRV_DROP),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), ERR_TEMP, "connection lost", NULL,
	     NULL},
	    {"SHA-1 pin refused (SEC-9)", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("localhost", NULL, "0123456789abcdef0123456789abcdef01234567", true, NULL, NULL),
	     ERR_CONFIG, "SHA-256", NULL, NULL},
	    /* codec_hex_fingerprint: all together, or "AB:CD:.." pairs, nothing in between. */
	    {"pin with misplaced colons refused (SEC-9)", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("localhost", NULL,
	         "0:0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", true, NULL,
	         NULL),
	     ERR_CONFIG, "SHA-256", NULL, NULL},
	    {"bad priority string", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, "NORMAL:+NO-SUCH-THING", NULL), ERR_CONFIG,
	     "tls_priorities", "NO-SUCH-THING", NULL},
	    {"missing trust file", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("localhost", "/nonexistent/ca.pem", NULL, true, NULL, NULL), ERR_CONFIG,
	     "/nonexistent/ca.pem", "No such file", NULL},
	    /* SEC-34: GnuTLS reads a trust file whole; a device would never end. */
	    {"trust file that is no regular file", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", "/dev/zero", NULL, true, NULL, NULL), ERR_CONFIG, "/dev/zero",
	     "not a regular file", NULL},
	    /* SEC-8: a name IDNA2008 refuses never reaches SNI or verification. */
	    {"U-label IDNA2008 refuses", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("bad\xe2\x98\x83.example", ca_file, NULL, true, NULL, NULL), ERR_CONFIG,
	     "convert TLS server name \"bad\xe2\x98\x83.example\" to an A-label: ",
	     "fix `tls_host_override` in the profile", NULL},
	    {"name that is no UTF-8", SRV(NULL, NULL, SRV_SCRIPT),
	     CFG("\xff.example", ca_file, NULL, true, NULL, NULL), ERR_CONFIG,
	     "convert TLS server name to an A-label: ", "(not UTF-8); fix `tls_host_override`",
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
	struct server sv = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config sys = CFG("localhost", NULL, NULL, true, NULL, NULL);
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
	    {"right pin, trust file never loaded (SEC-9)", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", "/nonexistent/ca.pem", pin_server, true, NULL, NULL), "localhost"},
	    {"right pin on a self-signed certificate", SRV("selfsigned.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", NULL, pin_self, true, NULL, NULL), "localhost"},
	    {"pin replaces validity dates too", SRV("expired.pem", NULL, SRV_SCRIPT),
	     CFG("localhost", NULL, pin_expired, true, NULL, NULL), "localhost"},
	    {"certcheck off accepts anything", SRV("selfsigned.pem", NULL, SRV_SCRIPT),
	     CFG("other.example", "/nonexistent/ca.pem", NULL, false, NULL, NULL), "other.example"},
	    {"IP literal 127.0.0.1 with an IP SAN, no SNI", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("127.0.0.1", ca_file, NULL, true, NULL, NULL), "none"},
	    {"IPv6 literal ::1", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("::1", ca_file, NULL, true, NULL, NULL), "none"},
	    {"bracketed [::1]", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("[::1]", ca_file, NULL, true, NULL, NULL), "none"},
	    {"host name case does not matter", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("LocalHost", ca_file, NULL, true, NULL, NULL), "LocalHost"},
	    {"trailing dot", SRV("server.pem", NULL, SRV_SCRIPT),
	     CFG("localhost.", ca_file, NULL, true, NULL, NULL), "localhost"},
	    {"wildcard matches one label", SRV("wild.pem", NULL, SRV_SCRIPT),
	     CFG("a.example.test", ca_file, NULL, true, NULL, NULL), "a.example.test"},
	    /* Issue 10, bug 13 (SEC-8): tls_host_override as a U-label, a certificate for its
	     * A-label; the A-label is verified and sent as SNI. */
	    {"U-label name, A-label certificate", SRV("idn.pem", NULL, SRV_SCRIPT),
	     CFG("b\xc3\xbc"
	         "cher.example",
	         ca_file, NULL, true, NULL, NULL),
	     "xn--bcher-kva.example"},
	    {"U-label name in capitals, trailing dot", SRV("idn.pem", NULL, SRV_SCRIPT),
	     CFG("B\xc3\x9c"
	         "CHER.example.",
	         ca_file, NULL, true, NULL, NULL),
	     "xn--bcher-kva.example"},
	    {"TLS 1.2-only server", SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT),
	     CFG("localhost", ca_file, NULL, true, NULL, NULL), "localhost"},
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
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	struct run r;
	struct err e;
	char buf[64];

	struct server silent = SRV("server.pem", NULL, SRV_SILENT);
	start(&r, &silent, &cfg, 300);
	ok(r.rc == -1 && r.e.kind == ERR_TEMP && has(&r.e, "timed out") && r.ms >= 290 &&
	       r.ms < 5000,
	   "silent server: ERR_TEMP after %lld ms: %s", (long long)r.ms, r.e.text);
	finish(&r);

	struct server idle = SRV("server.pem", NULL, SRV_IDLE);
	start(&r, &idle, &cfg, 3000);
	err_clear(&e);
	int64_t t0 = conn_clock_ms();
	ssize_t n = r.rc == 0 ? tls_read(r.t, buf, sizeof(buf), t0 + 200, &e) : 0;
	int64_t ms = conn_clock_ms() - t0;
	ok(n == -1 && e.kind == ERR_TEMP && has(&e, "timed out") && ms >= 190 && ms < 5000,
	   "read from an idle server: ERR_TEMP after %lld ms: %s", (long long)ms, e.text);
	finish(&r);

	struct server abrupt = SRV("server.pem", NULL, SRV_ABRUPT);
	start(&r, &abrupt, &cfg, 3000);
	err_clear(&e);
	n = r.rc == 0 ? tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 2000, &e) : 0;
	ok(n == -1 && e.kind == ERR_TEMP && has(&e, "connection lost"),
	   "read: close without close_notify: ERR_TEMP: %s", e.text);
	finish(&r);

	/* SEC-34: warning alerts without end, never data: the read gives up after a bounded
	 * number of them, long before its deadline, instead of looping until then. */
	struct server alerts = SRV("server.pem", NULL, SRV_ALERTS);
	alerts.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
	start(&r, &alerts, &cfg, 3000);
	err_clear(&e);
	t0 = conn_clock_ms();
	n = r.rc == 0 ? tls_read(r.t, buf, sizeof(buf), t0 + 8000, &e) : 0;
	ms = conn_clock_ms() - t0;
	ok(n == -1 && e.kind == ERR_PROTO && has(&e, "without data") && ms < 4000,
	   "endless warning alerts: ERR_PROTO after %lld ms: %s", (long long)ms, e.text);
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
	struct server sv = SRV("server.pem", NULL, SRV_SCRIPT);
	char trust[160], sess[160], line[256], cmd[400];
	struct run r;
	struct err e;
	struct stat st;

	snprintf(trust, sizeof(trust), "%s/trust-copy.pem", dir);
	snprintf(sess, sizeof(sess), "%s/session", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", ca_file, trust);
	ok(system(cmd) == 0, "copy the CA to a trust file of its own");
	struct tls_config cfg = CFG("localhost", trust, NULL, true, NULL, sess);

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
	char info[4096] = "";
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(has_line(info, "Session resumed: yes") &&
	       strstr(info, "\nVerification: not checked in this handshake"),
	   "tls_print_info: resumed, not verified again");
	ok(strstr(info, "\n  SHA-256 fingerprint: ") != NULL,
	   "tls_print_info: a resumed session still shows the server's certificate");
	finish(&r);

	/* Other settings: the cached session is not offered; a full handshake needs trust. */
	struct tls_config other = CFG("localhost", ca_file, NULL, true, NULL, sess);
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
	ok(r.rc == 0 && !tls_resumed(r.t), "a damaged session file: full handshake (%s)", r.e.text);
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
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	char first[256] = "";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server sv = SRV("server.pem", cases[i].prio, SRV_SCRIPT);
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
	struct server sv = SRV("server.pem", NULL, SRV_SCRIPT);
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

/* ---- client certificates, SPKI pins, CRLs, OCSP, versions, tls_print_info ---- */

static char spkis[16][2][80]; /* name, "sha256//BASE64" (certtool's pin-sha256) */

static void
load_spki(void)
{
	char path[128], name[64], pin[80];
	snprintf(path, sizeof(path), "%s/spki.txt", dir);
	FILE *f = fopen(path, "r");
	size_t i = 0;

	if (!f) {
		perror(path);
		exit(99);
	}
	while (i < 16 && fscanf(f, "%63s %79s", name, pin) == 2) {
		snprintf(spkis[i][0], sizeof(spkis[i][0]), "%s", name);
		snprintf(spkis[i][1], sizeof(spkis[i][1]), "%s", pin);
		i++;
	}
	fclose(f);
}

/* "sha256//BASE64" of certificate NAME, as gencerts.sh computed it with certtool. */
static const char *
spki_of(const char *name)
{
	for (size_t i = 0; i < 16; i++)
		if (strcmp(spkis[i][0], name) == 0)
			return spkis[i][1];
	return "(no pin)";
}

static void
path_in(char *out, size_t outlen, const char *file)
{
	snprintf(out, outlen, "%s/%s", dir, file);
}

/* tls_print_info's text for T, into OUT. */
static void
info_of(struct tls *t, char *out, size_t outlen)
{
	char *text = NULL;
	size_t len = 0;
	struct err e;
	FILE *f = open_memstream(&text, &len);

	out[0] = '\0';
	if (!f)
		return;
	err_clear(&e);
	int rc = tls_print_info(t, f, &e);
	fclose(f);
	snprintf(out, outlen, "%s", rc == 0 && text ? text : "(tls_print_info failed)");
	free(text);
}

/* Whether TEXT has the whole line LINE. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Send "hello", expect the echo: the session carries data both ways. */
static bool
talks(struct tls *t, struct err *e)
{
	char line[256];

	err_clear(e);
	if (tls_write(t, "hello\n", 6, conn_clock_ms() + 2000, e) < 0)
		return false;
	ssize_t n = read_line(t, line, sizeof(line), e);
	return n > 0 && strncmp(line, "echo hello ", 11) == 0;
}

/* A handshake that must succeed and carry data; returns the server's exit status. */
static int
expect_ok(const char *what, const struct server *sv, const struct tls_config *cfg)
{
	struct run r;
	struct err e;

	start(&r, sv, cfg, 3000);
	err_clear(&e);
	bool good = r.rc == 0 && talks(r.t, &e);
	ok(good, "%s: accepted (%s%s)", what, r.rc ? r.e.text : tls_describe(r.t), e.text);
	return finish(&r);
}

/* A handshake (or configuration) that must fail as KIND saying SAY1 and SAY2. */
static void
expect_fail(const char *what, const struct server *sv, const struct tls_config *cfg,
            enum err_kind kind, const char *say1, const char *say2)
{
	struct run r;

	start(&r, sv, cfg, 3000);
	ok(r.rc == -1 && r.t == NULL && r.e.kind == kind && has(&r.e, say1) &&
	       (!say2 || has(&r.e, say2)),
	   "%s: refused as %d: %s", what, (int)r.e.kind, r.e.text);
	int st = finish(&r);
	if (sv && kind == ERR_TLS)
		ok(st == 3, "%s: the server's handshake failed too (exit %d)", what, st);
}

/* The server asks for a client certificate (RFC 8446 §4.3.2, RFC 5246 §7.4.4). */
static void
test_client_cert(void)
{
	char cert[160], key[160], combined[160], line[256], info[4096];
	path_in(cert, sizeof(cert), "client.pem");
	path_in(key, sizeof(key), "client-key.pem");
	path_in(combined, sizeof(combined), "client-combined.pem");
	static const char *const prios[] = {NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2"};

	for (size_t i = 0; i < 2; i++) {
		const char *v = i == 0 ? "TLS 1.3" : "TLS 1.2";
		struct server sv = {.cert = "server.pem",
		                    .prio = prios[i],
		                    .mode = SRV_SCRIPT,
		                    .client = SRV_REQUIRE_CLIENT_CERT};
		struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		struct run r;
		struct err e;

		/* Presented, and the server verifies it against the test CA. */
		cfg.cert_file = cert;
		cfg.key_file = key;
		start(&r, &sv, &cfg, 3000);
		ok(r.rc == 0, "%s, client certificate required and configured: handshake (%s)", v,
		   r.e.text);
		ssize_t n = -1;
		err_clear(&e);
		if (r.rc == 0 && tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) == 0)
			n = read_line(r.t, line, sizeof(line), &e);
		bool seen =
		    n > 0 && strstr(line, "CN=postie test client") && strstr(line, " verified\n");
		ok(seen, "%s: the server got our certificate and verified it: %.*s", v,
		   (int)strcspn(n > 0 ? line : e.text, "\n"), n > 0 ? line : e.text);
		ok(r.rc == 0 && tls_client_cert_sent(r.t), "%s: tls_client_cert_sent says so", v);
		if (r.rc == 0)
			info_of(r.t, info, sizeof(info));
		ok(r.rc == 0 && strstr(info, "\nClient certificate: sent: ") &&
		       strstr(info, "CN=postie test client"),
		   "%s: tls_print_info names the client certificate", v);
		ok(finish(&r) == 0, "%s: the server was content", v);

		/* None configured: the server's refusal says what to set. In TLS 1.3 the
		 * server judges after our Finished, so the alert may come with the first read. */
		cfg.cert_file = cfg.key_file = NULL;
		start(&r, &sv, &cfg, 3000);
		err_clear(&e);
		struct err *got = &r.e;
		if (r.rc == 0) {
			got = &e;
			if (tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) == 0)
				n = read_line(r.t, line, sizeof(line), &e);
		}
		ok(got->kind == ERR_TLS && strstr(got->text, "set tls_cert_file and tls_key_file"),
		   "%s, client certificate required, none configured: %s", v, got->text);
		ok(finish(&r) == 3, "%s: the server's handshake failed", v);
	}

	/* TLS 1.3: the client's handshake is over before the server refuses; when the server
	 * has already closed, the first write still reports its alert, not just "lost". */
	{
		struct server sv = {
		    .cert = "server.pem", .mode = SRV_SCRIPT, .client = SRV_REQUIRE_CLIENT_CERT};
		struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		struct run r;
		struct err e;
		int st = -1;
		start(&r, &sv, &cfg, 3000);
		if (r.rc == 0 && waitpid(r.pid, &st, 0) == r.pid)
			r.pid = -1;
		err_clear(&e);
		int w = r.rc == 0 ? tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) : -1;
		ok(r.rc == 0 && w == -1 && e.kind == ERR_TLS && has(&e, "send to localhost") &&
		       has(&e, "set tls_cert_file"),
		   "write after the server refused and closed: its alert is reported (%s%s)",
		   r.e.text, e.text);
		finish(&r);
	}

	/* A server that requires a certificate and hangs up without an alert (Exim): the
	 * likely reason is said, and it is no temporary failure (ERR_TLS, exit 69). */
	for (size_t i = 0; i < 2; i++) {
		struct server sv = {.cert = "server.pem",
		                    .prio = prios[i],
		                    .mode = SRV_SCRIPT,
		                    .client = SRV_REQUIRE_CLIENT_CERT,
		                    .no_alert = true};
		struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		struct run r;
		struct err e;
		char buf[16];
		start(&r, &sv, &cfg, 3000);
		err_clear(&e);
		struct err *got = &r.e;
		if (r.rc == 0) {
			got = &e;
			tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 2000, &e);
		}
		ok(got->kind == ERR_TLS &&
		       strstr(got->text, "hung up right after asking for a "
		                         "client certificate") &&
		       strstr(got->text, "set tls_cert_file"),
		   "%s, no certificate, the server hangs up without an alert: %s",
		   i == 0 ? "TLS 1.3" : "TLS 1.2", got->text);
		finish(&r);
	}
	/* A certificate the server refuses, and one it would not even take: each is said. */
	{
		struct server sv = {.cert = "server.pem",
		                    .mode = SRV_SCRIPT,
		                    .client = SRV_REQUIRE_CLIENT_CERT,
		                    .verify_client = true};
		const struct {
			const char *cert, *say;
		} bad[] = {
		    {"expired.pem", "did not accept the client certificate in tls_cert_file"},
		    {"selfsigned.pem", "is not from a CA it accepts"},
		};
		for (size_t i = 0; i < 2; i++) {
			char bcert[160], bkey[160], buf[16];
			struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
			struct run r;
			struct err e;
			path_in(bcert, sizeof(bcert), bad[i].cert);
			path_in(bkey, sizeof(bkey), "server-key.pem");
			cfg.cert_file = bcert;
			cfg.key_file = bkey;
			start(&r, &sv, &cfg, 3000);
			err_clear(&e);
			struct err *got = &r.e;
			if (r.rc == 0) {
				got = &e;
				tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 2000, &e);
			}
			ok(got->kind == ERR_TLS && strstr(got->text, bad[i].say) &&
			       strstr(got->text, bcert),
			   "client certificate %s refused: %s", bad[i].cert, got->text);
			ok(finish(&r) == 3, "%s: the server's handshake failed", bad[i].cert);
		}
	}

	/* Once the server has spoken, a lost connection is a lost connection. */
	{
		struct server sv = {
		    .cert = "server.pem", .mode = SRV_SCRIPT, .client = SRV_REQUEST_CLIENT_CERT};
		struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		struct run r;
		struct err e;
		char buf[64];
		start(&r, &sv, &cfg, 3000);
		err_clear(&e);
		ssize_t n = -1;
		if (r.rc == 0 && tls_write(r.t, "drop\n", 5, conn_clock_ms() + 2000, &e) == 0)
			n = read_line(r.t, buf, sizeof(buf), &e);
		ssize_t n2 =
		    n > 0 ? tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 2000, &e) : 0;
		ok(n == 9 && n2 == -1 && e.kind == ERR_TEMP && has(&e, "connection lost"),
		   "certificate asked for, none configured, lost after data: ERR_TEMP (%s%s)",
		   r.e.text, e.text);
		finish(&r);
	}

	/* Asked for but optional: without one, the session works and says none was sent. */
	struct server opt = {
	    .cert = "server.pem", .mode = SRV_SCRIPT, .client = SRV_REQUEST_CLIENT_CERT};
	struct tls_config none = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	struct run r;
	struct err e;
	ssize_t n = -1;
	start(&r, &opt, &none, 3000);
	err_clear(&e);
	if (r.rc == 0 && tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) == 0)
		n = read_line(r.t, line, sizeof(line), &e);
	ok(n > 0 && strcmp(line, "who none -\n") == 0 && !tls_client_cert_sent(r.t),
	   "certificate requested, none configured: no certificate, session works (%s%s)", r.e.text,
	   e.text);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(r.rc == 0 && has_line(info, "Client certificate: asked for, none configured "
	                               "(tls_cert_file)"),
	   "tls_print_info: asked for, none configured");
	finish(&r);

	/* Not asked for: nothing is sent, so EXTERNAL must not be offered. */
	struct server plain = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config with = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	with.cert_file = cert;
	with.key_file = key;
	start(&r, &plain, &with, 3000);
	ok(r.rc == 0 && talks(r.t, &e) && !tls_client_cert_sent(r.t),
	   "a server that does not ask gets no certificate (%s)", r.e.text);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(r.rc == 0 && has_line(info, "Client certificate: not asked for"),
	   "tls_print_info: not asked for");
	finish(&r);

	/* Certificate and key in one file (no tls_key_file). */
	struct server req = {
	    .cert = "server.pem", .mode = SRV_SCRIPT, .client = SRV_REQUIRE_CLIENT_CERT};
	struct tls_config one = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	one.cert_file = combined;
	start(&r, &req, &one, 3000);
	n = -1;
	err_clear(&e);
	if (r.rc == 0 && tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) == 0)
		n = read_line(r.t, line, sizeof(line), &e);
	ok(n > 0 && strstr(line, " verified\n"),
	   "certificate and key in one file: presented and verified (%s%.*s)", r.e.text,
	   (int)strcspn(n > 0 ? line : e.text, "\n"), n > 0 ? line : e.text);
	finish(&r);
}

/* ---- a PKCS #11 token (SoftHSM) holding the client certificate and key ---- */

static bool have_token;

/* Run ARGV with output to /dev/null; true when it exits 0. */
static bool
run_quiet(char *const argv[])
{
	pid_t pid = (fflush(stdout), fork());
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * A SoftHSM token "postie" (user PIN 1234) in dir with client.pem and its key, when
 * softhsm2-util and p11tool are installed. SOFTHSM2_CONF must be set before GnuTLS first
 * touches PKCS #11 (it loads p11-kit's modules then), so this runs first.
 */
static void
make_token(void)
{
	char conf[160], tokens[160], key[160], cert[160], text[400];

	path_in(conf, sizeof(conf), "softhsm2.conf");
	path_in(tokens, sizeof(tokens), "tokens");
	path_in(key, sizeof(key), "client-key.pem");
	path_in(cert, sizeof(cert), "client.pem");
	if (access("/usr/lib/softhsm/libsofthsm2.so", R_OK) != 0 || mkdir(tokens, 0700) != 0)
		return;
	int n = snprintf(text, sizeof(text),
	                 "directories.tokendir = %s\nobjectstore.backend = file\n"
	                 "log.level = ERROR\n",
	                 tokens);
	int fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) != 0)
		return;
	setenv("SOFTHSM2_CONF", conf, 1);
	setenv("GNUTLS_PIN", "1234", 1); /* for p11tool only */
	char *init[] = {"softhsm2-util", "--init-token", "--free",   "--label", "postie",
	                "--pin",         "1234",         "--so-pin", "5678",    NULL};
	char *put_key[] = {"p11tool", "--login", "--write", "--load-privkey",
	                   key,       "--label", "client",  "pkcs11:token=postie",
	                   NULL};
	char *put_cert[] = {"p11tool", "--login", "--write", "--load-certificate",
	                    cert,      "--label", "client",  "pkcs11:token=postie",
	                    NULL};
	have_token = run_quiet(init) && run_quiet(put_key) && run_quiet(put_cert);
	unsetenv("GNUTLS_PIN");
}

/* The client certificate and key from the token, by pkcs11: URIs (RFC 7512). */
static void
test_pkcs11(void)
{
	if (!have_token) {
		ok(1, "# SKIP no SoftHSM token (install softhsm2 and gnutls-bin for this test)");
		return;
	}
	struct server sv = {
	    .cert = "server.pem", .mode = SRV_SCRIPT, .client = SRV_REQUIRE_CLIENT_CERT};
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	struct run r;
	struct err e;
	char line[256];
	ssize_t n = -1;

	cfg.cert_file = "pkcs11:token=postie;object=client;type=cert";
	cfg.key_file = "pkcs11:token=postie;object=client;type=private?pin-value=1234";
	start(&r, &sv, &cfg, 5000);
	err_clear(&e);
	if (r.rc == 0 && tls_write(r.t, "who\n", 4, conn_clock_ms() + 2000, &e) == 0)
		n = read_line(r.t, line, sizeof(line), &e);
	ok(n > 0 && strstr(line, "CN=postie test client") && strstr(line, " verified\n"),
	   "certificate and key on a PKCS #11 token: presented and verified (%s%.*s)", r.e.text,
	   (int)strcspn(n > 0 ? line : e.text, "\n"), n > 0 ? line : e.text);
	ok(r.rc == 0 && tls_client_cert_sent(r.t), "tls_client_cert_sent with a token");
	finish(&r);

	/* A wrong PIN: GnuTLS's reason, under the setting's name. */
	cfg.key_file = "pkcs11:token=postie;object=client;type=private?pin-value=0000";
	start(&r, NULL, &cfg, 3000);
	ok(r.rc == -1 && r.e.kind == ERR_CONFIG &&
	       has(&r.e, "load tls_key_file pkcs11:token=postie"),
	   "a wrong PIN: ERR_CONFIG (%s)", r.e.text);
	finish(&r);
}

/* Write an encrypted PKCS #8 copy of the client key to FILE (mode 0600). */
static void
make_encrypted_key(const char *file)
{
	char path[160];
	gnutls_datum_t d;
	gnutls_x509_privkey_t k;

	path_in(path, sizeof(path), "client-key.pem");
	must(gnutls_load_file(path, &d), "load client key");
	must(gnutls_x509_privkey_init(&k), "key init");
	must(gnutls_x509_privkey_import(k, &d, GNUTLS_X509_FMT_PEM), "import client key");
	gnutls_free(d.data);
	must(gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, "s3cret",
	                                       GNUTLS_PKCS_PBES2_AES_256, &d),
	     "export pkcs8");
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, d.data, d.size) != (ssize_t)d.size || close(fd) != 0) {
		perror(file);
		exit(99);
	}
	gnutls_free(d.data);
	gnutls_x509_privkey_deinit(k);
}

/* Client certificate settings that cannot work are refused before any byte is sent. */
static void
test_client_cert_config(void)
{
	char cert[160], key[160], key644[160], key640[160], enc[160], srvkey[160], notcert[160];
	char cmd[1200];
	path_in(cert, sizeof(cert), "client.pem");
	path_in(key, sizeof(key), "client-key.pem");
	path_in(key644, sizeof(key644), "client-key-644.pem");
	path_in(key640, sizeof(key640), "client-key-640.pem");
	path_in(enc, sizeof(enc), "client-key-enc.pem");
	path_in(srvkey, sizeof(srvkey), "server-key.pem");
	path_in(notcert, sizeof(notcert), "crl.pem");
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 644 %s && cp %s %s && chmod 640 %s", key,
	         key644, key644, key, key640, key640);
	ok(system(cmd) == 0, "copies of the client key with modes 644 and 640");
	make_encrypted_key(enc);

	const struct {
		const char *what, *cert, *key, *say1, *say2;
	} cases[] = {
	    {"key readable by others (SEC-14)", cert, key644, "chmod 600", "mode 0644"},
	    {"key readable by the group (SEC-14)", cert, key640, "chmod 600", key640},
	    {"combined file readable by others", key644, NULL, "chmod 600", "tls_cert_file"},
	    {"missing key file", cert, "/nonexistent/key.pem", "/nonexistent/key.pem",
	     "No such file"},
	    {"missing certificate file", "/nonexistent/cert.pem", key, "tls_cert_file",
	     "No such file"},
	    {"certificate and key do not match", cert, srvkey, "not for this key", srvkey},
	    {"certificate file holds no certificate", notcert, key, "no PEM certificate", notcert},
	    {"encrypted key", cert, enc, "passphrase", enc},
	    {"key without certificate", NULL, key, "set tls_cert_file", key},
	    {"PKCS #11 URIs go to GnuTLS", "pkcs11:token=postie-no-such-token;object=c",
	     "pkcs11:token=postie-no-such-token;object=k", "pkcs11:token=postie-no-such-token",
	     "tls_"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		cfg.cert_file = cases[i].cert;
		cfg.key_file = cases[i].key;
		struct run r;
		start(&r, NULL, &cfg, 3000);
		ok(r.rc == -1 && r.e.kind == ERR_CONFIG && has(&r.e, cases[i].say1) &&
		       has(&r.e, cases[i].say2),
		   "%s: ERR_CONFIG: %s", cases[i].what, r.e.text);
		/* Nothing went out: the peer end of the socket pair holds no ClientHello. */
		char c;
		ok(recv(r.fd, &c, 1, MSG_DONTWAIT) <= 0, "%s: nothing sent", cases[i].what);
		/* tls_check_config finds the same before any connection. */
		struct err ce;
		err_clear(&ce);
		ok(tls_check_config(&cfg, &ce) == -1 && ce.kind == ERR_CONFIG &&
		       strcmp(ce.text, r.e.text) == 0,
		   "%s: tls_check_config says the same (%s)", cases[i].what, ce.text);
		finish(&r);
	}
	/* And accepts what works. */
	{
		char crl[160], combined[160];
		path_in(crl, sizeof(crl), "crl.pem");
		path_in(combined, sizeof(combined), "client-combined.pem");
		struct tls_config good = CFG("localhost", ca_file, NULL, true, NULL, NULL);
		good.cert_file = cert;
		good.key_file = key;
		good.crl_file = crl;
		good.min_version = 13;
		struct err ce;
		err_clear(&ce);
		struct tls_config idn = good;
		idn.host = "b\xc3\xbc"
		           "cher.example";
		ok(tls_check_config(&idn, &ce) == 0, "tls_check_config: a U-label name (%s)",
		   ce.text);
		idn.host = "bad\xe2\x98\x83.example";
		ok(tls_check_config(&idn, &ce) == -1 && ce.kind == ERR_CONFIG &&
		       has(&ce, "convert TLS server name"),
		   "tls_check_config: a name IDNA2008 refuses, before connecting (%s)", ce.text);
		err_clear(&ce);
		ok(tls_check_config(&good, &ce) == 0, "tls_check_config: a good configuration (%s)",
		   ce.text);
		good.cert_file = combined;
		good.key_file = NULL;
		good.trust_file = "/nonexistent/ca.pem";
		good.pin_spki = spki_of("server");
		ok(tls_check_config(&good, &ce) == 0,
		   "tls_check_config: pinned, so the trust file does not matter (%s)", ce.text);
		good.priorities = "NORMAL:+NO-SUCH-THING";
		ok(tls_check_config(&good, &ce) == -1 && ce.kind == ERR_CONFIG &&
		       has(&ce, "NO-SUCH-THING"),
		   "tls_check_config: a bad priority string (%s)", ce.text);
	}
	/* The URI really went to GnuTLS's loader, not to open(2). */
	struct tls_config uri = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	uri.cert_file = "pkcs11:token=postie-no-such-token;object=c";
	uri.key_file = "pkcs11:token=postie-no-such-token;object=k";
	struct run r;
	start(&r, NULL, &uri, 3000);
	ok(r.rc == -1 && !has(&r.e, "No such file") && !has(&r.e, "chmod"),
	   "a pkcs11: URI is not treated as a file name: %s", r.e.text);
	finish(&r);
}

/* SEC-9 with the key instead of the certificate (RFC 7469 §2.4): a renewal that keeps the
 * key keeps the pin. */
static void
test_spki(void)
{
	char pin[80], b64[80], fp_server[100];
	snprintf(pin, sizeof(pin), "%s", spki_of("server"));
	snprintf(b64, sizeof(b64), "%s", pin + 8);
	snprintf(fp_server, sizeof(fp_server), "%s", fp_find("server", 2));
	ok(strncmp(pin, "sha256//", 8) == 0 && strlen(b64) == 44, "spki.txt has the pin: %s", pin);
	ok(strcmp(spki_of("renewed"), pin) == 0 && strcmp(spki_of("otherkey"), pin) != 0,
	   "gencerts: renewed.pem shares the key, otherkey.pem does not");

	struct server server = SRV("server.pem", NULL, SRV_SCRIPT);
	struct server renewed = SRV("renewed.pem", NULL, SRV_SCRIPT);
	struct server expired = SRV("expired.pem", NULL, SRV_SCRIPT);
	struct server self = SRV("selfsigned.pem", NULL, SRV_SCRIPT);
	struct server other = {
	    .cert = "otherkey.pem", .mode = SRV_SCRIPT, .key = "otherkey-key.pem"};

	struct tls_config cfg = CFG("localhost", "/nonexistent/ca.pem", NULL, true, NULL, NULL);
	cfg.pin_spki = b64;
	expect_ok("SPKI pin (base64), trust file never loaded", &server, &cfg);
	cfg.pin_spki = pin;
	expect_ok("SPKI pin with the sha256// prefix", &server, &cfg);
	expect_ok("SPKI pin survives a renewal with the same key", &renewed, &cfg);
	expect_ok("SPKI pin replaces validity dates, as tls_fingerprint does", &expired, &cfg);
	expect_ok("SPKI pin on a self-signed certificate", &self, &cfg);

	/* The same renewal breaks a certificate pin: that is what the SPKI pin is for. */
	struct tls_config hex = CFG("localhost", NULL, fp_server, true, NULL, NULL);
	expect_fail("certificate pin and a renewed certificate", &renewed, &hex, ERR_TLS,
	            "fingerprint mismatch", NULL);

	/* Another key: refused, though the CA vouches for it; the message shows its pin. */
	struct tls_config ca = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	expect_ok("otherkey.pem verifies by its CA", &other, &ca);
	ca.pin_spki = pin;
	expect_fail("SPKI pin mismatch (another key, same CA)", &other, &ca, ERR_TLS,
	            "public key pin mismatch", spki_of("otherkey"));

	/* Both pins: both must hold. */
	struct tls_config both = CFG("localhost", NULL, fp_server, true, NULL, NULL);
	both.pin_spki = pin;
	expect_ok("certificate and SPKI pin together", &server, &both);
	expect_fail("certificate and SPKI pin, renewed certificate", &renewed, &both, ERR_TLS,
	            "fingerprint mismatch", NULL);
	/* certcheck off does not switch a pin off. */
	struct tls_config off = CFG("localhost", NULL, NULL, false, NULL, NULL);
	off.pin_spki = spki_of("otherkey");
	expect_fail("SPKI pin holds with tls_certcheck off", &server, &off, ERR_TLS,
	            "public key pin mismatch", NULL);

	static const char *const bad[] = {
	    "sha256//x9VkokghWwL6awEgoyd1Dscuc0XwAGHhXexjD94byz8", /* 43 characters */
	    "x9VkokghWwL6awEgoyd1Dscuc0XwAGHhXexjD94byz8==",       /* 45 */
	    "x9VkokghWwL6awEgoyd1Dscuc0XwAGHhXexjD94b!z8=",        /* not base64 */
	    "x9VkokghWwL6awEgoyd1Dscuc0XwAGHhXexjD94byz8A",        /* 33 bytes */
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tls_config b = CFG("localhost", NULL, NULL, true, NULL, NULL);
		b.pin_spki = bad[i];
		expect_fail("malformed SPKI pin", NULL, &b, ERR_CONFIG,
		            "not the base64 of a SHA-256", NULL);
	}
}

/* tls_crl_file (RFC 5280 §6.3). */
static void
test_crl(void)
{
	char crl[160];
	path_in(crl, sizeof(crl), "crl.pem");
	struct server revoked = SRV("revoked.pem", NULL, SRV_SCRIPT);
	struct server revoked12 = SRV("revoked.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT);
	struct server server = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);

	expect_ok("revoked.pem without a CRL verifies", &revoked, &cfg);
	cfg.crl_file = crl;
	expect_fail("revoked.pem with the CRL", &revoked, &cfg, ERR_TLS, "certificate revoked",
	            "tls_crl_file");
	expect_fail("revoked.pem with the CRL, TLS 1.2", &revoked12, &cfg, ERR_TLS,
	            "certificate revoked", NULL);
	expect_ok("a certificate the CRL does not list", &server, &cfg);

	struct run r;
	char info[4096];
	start(&r, &server, &cfg, 3000);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(r.rc == 0 && strstr(info, "\nVerification: ok: chain to tls_trust_file ") &&
	       strstr(info, ", CRLs checked"),
	   "tls_print_info: CRLs checked (%s)", r.e.text);
	finish(&r);

	/* A pin replaces CA trust, and CRLs with it. */
	struct tls_config pinned = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	pinned.crl_file = crl;
	pinned.pin_spki = spki_of("revoked");
	expect_ok("an SPKI pin replaces CA trust and its CRLs", &revoked, &pinned);

	struct tls_config missing = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	missing.crl_file = "/nonexistent/crl.pem";
	expect_fail("missing CRL file", NULL, &missing, ERR_CONFIG,
	            "load tls_crl_file /nonexistent/crl.pem", "No such file");
	struct tls_config nocrl = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	nocrl.crl_file = ca_file;
	expect_fail("a CRL file without CRLs", NULL, &nocrl, ERR_CONFIG, "tls_crl_file", ca_file);
}

/* Stapled OCSP responses (RFC 6066 §8, RFC 8446 §4.4.2.1, RFC 6960). */
static void
test_ocsp(void)
{
	char good[160], bad[160], info[4096];
	path_in(good, sizeof(good), "ocsp-good.der");
	path_in(bad, sizeof(bad), "ocsp-revoked.der");
	if (access(good, R_OK) != 0 || access(bad, R_OK) != 0) {
		ok(1, "# SKIP no OCSP responses (gencerts.sh needs openssl to make them)");
		return;
	}
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	static const char *const prios[] = {NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
	for (size_t i = 0; i < 2; i++) {
		const char *v = i == 0 ? "TLS 1.3" : "TLS 1.2";
		char what[128];
		struct server revoked = {.cert = "revoked.pem",
		                         .prio = prios[i],
		                         .mode = SRV_SCRIPT,
		                         .ocsp = "ocsp-revoked.der"};
		snprintf(what, sizeof(what), "%s: stapled OCSP response says revoked", v);
		expect_fail(what, &revoked, &cfg, ERR_TLS, "certificate revoked on 2024-01-01",
		            "OCSP");

		struct server stapled = {.cert = "server.pem",
		                         .prio = prios[i],
		                         .mode = SRV_SCRIPT,
		                         .ocsp = "ocsp-good.der"};
		struct run r;
		start(&r, &stapled, &cfg, 3000);
		if (r.rc == 0)
			info_of(r.t, info, sizeof(info));
		if (!ok(r.rc == 0 && strstr(info, "\nOCSP: stapled response: good (this update ") &&
		            strstr(info, ", verified\n") &&
		            strstr(info, ", stapled OCSP response checked, name localhost\n"),
		        "%s: a good stapled response is checked (%s)", v, r.e.text))
			dump(info);
		finish(&r);
	}
	/* Absence is not an error. */
	struct server plain = SRV("server.pem", NULL, SRV_SCRIPT);
	struct run r;
	start(&r, &plain, &cfg, 3000);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(r.rc == 0 && has_line(info, "OCSP: no response stapled"),
	   "no stapled response: accepted, and said so (%s)", r.e.text);
	finish(&r);
	/* Revoked by OCSP is not overruled by a pin holder's CA trust: a pin replaces both. */
	struct server revoked = {
	    .cert = "revoked.pem", .mode = SRV_SCRIPT, .ocsp = "ocsp-revoked.der"};
	struct tls_config pinned = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	pinned.pin_spki = spki_of("revoked");
	expect_ok("a pin replaces CA trust, OCSP included", &revoked, &pinned);
}

/* tls_min_version (SEC-10: never below 1.2). */
static void
test_min_version(void)
{
	struct server only12 = SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT);
	struct server normal = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);

	cfg.min_version = 13;
	expect_fail("tls_min_version 1.3 against a TLS 1.2-only server", &only12, &cfg, ERR_TLS,
	            "tls_min_version 1.3", "localhost");
	struct run r;
	start(&r, &normal, &cfg, 3000);
	ok(r.rc == 0 && strncmp(tls_describe(r.t), "TLS1.3 ", 7) == 0,
	   "tls_min_version 1.3 against a TLS 1.3 server: %s", r.rc ? r.e.text : tls_describe(r.t));
	finish(&r);
	cfg.priorities = "NORMAL";
	expect_fail("tls_min_version 1.3 with a priority string of one's own", &only12, &cfg,
	            ERR_TLS, "tls_min_version 1.3", NULL);
	cfg.priorities = NULL;
	cfg.min_version = 12;
	expect_ok("tls_min_version 1.2 against a TLS 1.2-only server", &only12, &cfg);
	static const int bad[] = {10, 11, 14, 1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.min_version = bad[i];
		expect_fail("tls_min_version out of range", NULL, &cfg, ERR_CONFIG,
		            "tls_min_version", "1.2 or 1.3");
	}
}

/* Whether TEXT has "LABEL: YYYY-MM-DDTHH:MM:SSZ" and that the date is WANT (or any). */
static bool
has_iso_time(const char *text, const char *label, const char *want)
{
	const char *p = strstr(text, label);
	int y, mo, d, h, mi, s;
	char z = 0, after = 0;

	if (!p)
		return false;
	p += strlen(label);
	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &y, &mo, &d, &h, &mi, &s, &z, &after) != 8 ||
	    z != 'Z' || after != '\n' || p[4] != '-' || p[10] != 'T')
		return false;
	return !want || strncmp(p, want, strlen(want)) == 0;
}

static void
test_print_info(void)
{
	char info[8192], want[256];
	struct run r;
	struct err e;

	struct server sv = SRV("server.pem", NULL, SRV_SCRIPT);
	struct tls_config cfg = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	start(&r, &sv, &cfg, 3000);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	else
		snprintf(info, sizeof(info), "%s", r.e.text);
	ok(has_line(info, "TLS version: TLS1.3"), "info: version");
	ok(strstr(info, "\nCipher suite: TLS_AES_") || strstr(info, "\nCipher suite: TLS_CHACHA20"),
	   "info: cipher suite");
	ok(strstr(info, "\nKey exchange: ") && !strstr(info, "\nKey exchange: unknown"),
	   "info: key exchange");
	ok(strstr(info, "\nServer signature: ECDSA"), "info: the server's signature");
	ok(has_line(info, "Session resumed: no"), "info: not resumed");
	snprintf(want, sizeof(want), "Verification: ok: chain to tls_trust_file %s, name localhost",
	         ca_file);
	ok(has_line(info, want), "info: verified by the trust file");
	ok(has_line(info, "Certificate 1 of 1 (the server's):"), "info: the chain");
	ok(has_line(info, "  Subject: CN=localhost"), "info: subject");
	ok(has_line(info, "  Names: localhost, 127.0.0.1, ::1"), "info: names");
	ok(has_line(info, "  Issuer: CN=postie test CA"), "info: issuer");
	ok(has_iso_time(info, "\n  Not before: ", NULL), "info: not before, ISO 8601 UTC");
	ok(has_iso_time(info, "\n  Not after: ", NULL), "info: not after, ISO 8601 UTC");
	snprintf(want, sizeof(want), "  SHA-256 fingerprint: %s", fp_of("server"));
	ok(has_line(info, want), "info: SHA-256 fingerprint as certtool has it");
	snprintf(want, sizeof(want), "  SPKI pin: %s", spki_of("server"));
	ok(has_line(info, want), "info: SPKI pin as certtool has it");
	if (!ok(strchr(info, '\x1b') == NULL, "info: no control characters"))
		dump(info);
	/* Writing to a stream that cannot take it is an error. */
	FILE *ro = fopen("/dev/null", "r");
	err_clear(&e);
	ok(r.rc == 0 && ro && tls_print_info(r.t, ro, &e) == -1 && e.kind == ERR_OS,
	   "tls_print_info to an unwritable stream: ERR_OS (%s)", e.text);
	if (ro)
		fclose(ro);
	finish(&r);

	struct server sv12 = SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT);
	start(&r, &sv12, &cfg, 3000);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	ok(r.rc == 0 && has_line(info, "TLS version: TLS1.2") &&
	       strstr(info, "\nCipher suite: TLS_ECDHE_ECDSA_"),
	   "info: TLS 1.2 and its cipher suite");
	finish(&r);

	/* Certificate text is the server's: shown with control bytes escaped. */
	struct server esc = SRV("escape.pem", NULL, SRV_SCRIPT);
	start(&r, &esc, &cfg, 3000);
	if (r.rc == 0)
		info_of(r.t, info, sizeof(info));
	if (!ok(r.rc == 0 && !strchr(info, '\x1b') && !strchr(info, '\x7f') &&
	            strstr(info, "\n  Subject: CN=evil\\x1B[31m\\x7F\\\\\n"),
	        "info: control bytes in the subject are shown as \\xNN (%s)", r.e.text))
		dump(info);
	finish(&r);

	/* A refused server is still described when the caller asks to keep the session. */
	struct server expired = SRV("expired.pem", NULL, SRV_SCRIPT);
	struct tls_config keep = CFG("localhost", ca_file, NULL, true, NULL, NULL);
	char sess[160];
	path_in(sess, sizeof(sess), "failed-session");
	keep.keep_failed = true;
	start(&r, &expired, &keep, 3000);
	ok(r.rc == -1 && r.t != NULL && r.e.kind == ERR_TLS && has(&r.e, "expired"),
	   "keep_failed: refused, and the session kept (%s)", r.e.text);
	if (r.t) {
		info_of(r.t, info, sizeof(info));
		ok(has_line(info, "Verification: failed: certificate expired on 2020-01-01"),
		   "info on a failed session: the reason");
		ok(has_iso_time(info, "\n  Not after: ", "2020-01-01T00:00:00Z"),
		   "info on a failed session: the certificate's dates");
		snprintf(want, sizeof(want), "  SHA-256 fingerprint: %s", fp_of("expired"));
		ok(has_line(info, want), "info on a failed session: the fingerprint");
		ok(has_line(info, "TLS version: TLS1.3"), "info on a failed session: the version");
		char buf[16];
		err_clear(&e);
		ok(tls_read(r.t, buf, sizeof(buf), conn_clock_ms() + 1000, &e) == -1 &&
		       e.kind == ERR_SOFTWARE,
		   "a failed session cannot be read (%s)", e.text);
		err_clear(&e);
		ok(tls_write(r.t, "x", 1, conn_clock_ms() + 1000, &e) == -1 &&
		       e.kind == ERR_SOFTWARE,
		   "a failed session cannot be written (%s)", e.text);
		ok(tls_save_session(r.t, sess, &e) == 0 && access(sess, F_OK) != 0,
		   "a failed session is never cached");
		ok(!tls_client_cert_sent(r.t) && !tls_pending(r.t), "and carries nothing else");
	}
	ok(finish(&r) == 3, "keep_failed: the server's handshake failed all the same");
	/* Only verification failures keep a session. */
	struct server only12 = SRV("server.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2", SRV_SCRIPT);
	keep.min_version = 13;
	start(&r, &only12, &keep, 3000);
	ok(r.rc == -1 && r.t == NULL, "keep_failed keeps nothing after a version refusal (%s)",
	   r.e.text);
	finish(&r);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(90);
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
	static const char *const local[] = {"localhost"};
	make_leaf("wild.pem", "test", wild, 1);
	make_leaf("partial.pem", "test", partial, 1);
	make_leaf("escape.pem", "evil\x1b[31m\x7f\\", local, 1);
	load_spki();
	make_token();

	tls_free(NULL);
	ok(1, "tls_free(NULL) is a no-op");
	test_good();
	test_accepts();
	test_failures();
	test_timeouts();
	test_channel_binding();
	test_client_cert();
	test_client_cert_config();
	test_pkcs11();
	test_spki();
	test_crl();
	test_ocsp();
	test_min_version();
	test_print_info();
	gnutls_session_ticket_key_generate(&ticket_key);
	test_resume();
	return tap_done();
}
