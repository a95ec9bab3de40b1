/*
 * fuzz/header: the header section of a message (src/msg.h): reading it, the recipients of
 * -t, the sender of --read-envelope-from, the Message-ID, and the rewrite that builds the
 * header section postie sends.
 *
 * The first byte chooses the rewrite's options and how the input is cut into reads; the
 * rest is the message on standard input. Contract checked:
 *  - msg_parse_header and msg_read_header (the input arriving in pieces over a socket) find
 *    the same header section, and the input is exactly that section, its empty line (none,
 *    LF or CRLF) and the rest; the section holds no NUL and no bare CR (SEC-27, SEC-28);
 *  - every address taken from it has no control character (SEC-18, SEC-23);
 *  - the rewritten section has only CRLF line ends, ends with the empty line, and read again
 *    it is one whole header section: nothing of it falls into the body, no field is split;
 *    without Bcc and Resent-Bcc when they are to be removed (SEC-23), without To, Cc and
 *    Bcc but the one "undisclosed-recipients" To when those are to be hidden;
 *  - the log line of a delivery (maillog_format) with the message's Message-ID, recipients
 *    and first body line as the server's reply is one line of msmtp's fields in order: no
 *    value can forge a field or a line.
 */
#include "fuzz.h"

#include <sys/socket.h>
#include <unistd.h>

#include "aliases.h"
#include "maillog.h"
#include "msg.h"

static struct aliases fixed_aliases;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] = "root: admin@example.com\n"
	                           "cron: root, ops@example.net\n"
	                           "list: a@example.org, b@example.org, root\n"
	                           "default: catchall@example.org\n";
	struct err e;

	if (aliases_parse(&fixed_aliases, "fuzz-aliases", text, sizeof(text) - 1, &e) < 0) {
		fprintf(stderr, "fuzz: %s\n", e.text);
		abort();
	}
	return 0;
}

static bool
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The input in pieces, one read each: a SOCK_SEQPACKET socket keeps their bounds. */
static int
read_in_pieces(struct msg *m, const char *p, size_t n, uint8_t seed, struct err *e)
{
	int sv[2];
	uint32_t st = seed;
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* At most 32 pieces (each costs socket memory), the last one takes the rest. */
	for (int k = 0; off < n; k++) {
		size_t piece = k == 31 ? n - off : 1 + fuzz_next(&st) % (seed % 2 ? 8 : 300);
		if (piece > n - off)
			piece = n - off;
		if (write(sv[1], p + off, piece) != (ssize_t)piece)
			abort();
		off += piece;
	}
	close(sv[1]);
	int rc = msg_read_header(m, sv[0], e);
	close(sv[0]);
	return rc;
}

static void
check_addrs(const struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		fuzz_check(l->v[i][0] && !fuzz_has_ctl(l->v[i], strlen(l->v[i]), ""),
		           "bad address \"%s\" from the header", l->v[i]);
}

/* The rewritten section M->out, read again. */
static void
check_rewrite(const struct msg *m, const struct msg_opts *o)
{
	const char *p = m->out.data;
	size_t n = m->out.len;
	struct msg again;
	struct err e;

	fuzz_check(n >= 2 && memcmp(p + n - 2, "\r\n", 2) == 0, "rewrite does not end in CRLF");
	fuzz_check(n == 2 || (n >= 4 && memcmp(p + n - 4, "\r\n\r\n", 4) == 0),
	           "rewrite does not end with the empty line");
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			fuzz_check(i + 1 < n && p[i + 1] == '\n', "bare CR in the rewrite");
		if (p[i] == '\n')
			fuzz_check(i > 0 && p[i - 1] == '\r', "bare LF in the rewrite");
	}
	fuzz_check(!memchr(p, '\0', n), "NUL in the rewrite");

	msg_init(&again);
	int rc = msg_parse_header(&again, p, n, &e);
	fuzz_check(rc == 0, "the rewrite is not a header section: %s", e.text);
	fuzz_check(again.rest.len == 0, "%zu bytes of the rewrite read as body", again.rest.len);
	fuzz_check(again.head.len + 2 == n &&
	               memcmp(again.head.data ? again.head.data : "", p, n - 2) == 0,
	           "the rewrite's header section ends early");
	if (o->remove_bcc)
		fuzz_check(!msg_has_field(&again, "Bcc") && !msg_has_field(&again, "Resent-Bcc"),
		           "Bcc left in");
	if (o->undisclosed)
		fuzz_check(!msg_has_field(&again, "Cc") && !msg_has_field(&again, "Bcc"),
		           "Cc or Bcc left in with undisclosed recipients");
	struct addr_list l = {0};
	if (msg_recipients(&again, &l, &e) == 0)
		check_addrs(&l);
	addr_list_fini(&l);
	msg_fini(&again);
}

/*
 * The log line of a delivery of this message (maillog_format): the message's Message-ID and
 * recipients, its first body line as the server's reply, an error's text. It must stay one
 * line that splits back into msmtp's fields, in order, whatever the values hold: no value
 * can forge a field (say " exitcode=EX_OK") or a line.
 */
static void
check_log(const struct msg *m, const char *msgid, char *const *rcpts, size_t n,
          const struct err *err)
{
	static const char *const order[] = {
	    "host",       "tls",     "auth",     "user",     "from",  "recipients", "mailsize",
	    "smtpstatus", "smtpmsg", "errormsg", "exitcode", "msgid", "port",       "queued"};
	const char *nl = m->rest.len ? memchr(m->rest.data, '\n', m->rest.len) : NULL;
	char *reply =
	    m->rest.len ? fuzz_strndup(m->rest.data, nl ? (size_t)(nl - m->rest.data) : m->rest.len)
	                : NULL;
	struct maillog_entry le = {
	    .host = "mail.example.com",
	    .port = 587,
	    .tls = true,
	    .auth = true,
	    .user = msgid,
	    .from = msgid ? msgid : "",
	    .rcpts = rcpts,
	    .nrcpts = n,
	    .mailsize = (long long)m->head.len,
	    .smtpstatus = 250,
	    .smtpmsg = reply,
	    .errormsg = err ? err->text : NULL,
	    .exitcode = 75,
	    .msgid = msgid,
	    .queued = reply,
	};
	struct buf out;
	struct err e;
	size_t next = 0;

	buf_init(&out, MAILLOG_LINE_MAX);
	fuzz_check(maillog_format(&le, "%b %d %H:%M:%S", &out, &e) == 0, "log line: %s", e.text);
	const char *p = out.data, *end = out.data + out.len;
	fuzz_check(!fuzz_has_ctl(p, out.len, ""), "control character in the log line");
	/* The time: three words. */
	for (int k = 0; k < 3; k++) {
		p = memchr(p, ' ', (size_t)(end - p));
		fuzz_check(p != NULL, "no time in the log line");
		p++;
	}
	while (p < end) {
		const char *eq = memchr(p, '=', (size_t)(end - p));
		fuzz_check(eq != NULL, "a log field without '='");
		size_t nl2 = (size_t)(eq - p);
		size_t i = next;
		while (i < sizeof(order) / sizeof(order[0]) &&
		       !(strlen(order[i]) == nl2 && memcmp(order[i], p, nl2) == 0))
			i++;
		fuzz_check(i < sizeof(order) / sizeof(order[0]), "log field \"%.*s\" out of place",
		           (int)nl2, p);
		next = i + 1;
		const char *v = eq + 1;
		/* msmtp's reader knows which two fields are quoted. */
		bool quoted = strcmp(order[i], "smtpmsg") == 0 || strcmp(order[i], "errormsg") == 0;
		fuzz_check(!quoted || (v < end && *v == '\''), "%s not quoted", order[i]);
		if (quoted) {
			const char *q = memchr(v + 1, '\'', (size_t)(end - v - 1));
			fuzz_check(q != NULL, "an unterminated quoted log value");
			p = q + 1;
		} else {
			p = memchr(v, ' ', (size_t)(end - v));
			p = p ? p : end;
		}
		fuzz_check(p == end || *p == ' ', "a log value runs into the next field");
		if (p < end)
			p++;
	}
	buf_fini(&out);
	free(reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t f = data[0];
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	struct msg m, r;
	struct err e, er;

	msg_init(&m);
	int rc = msg_parse_header(&m, in, n, &e);

	/* The same section when it arrives in pieces (64 KiB: one read's worth, so all of it
	 * may come back as the rest). */
	if (n <= 60 * 1024) {
		msg_init(&r);
		int rr = read_in_pieces(&r, in, n, f, &er);
		fuzz_check(rc == rr, "msg_parse_header %d, msg_read_header %d (%s)", rc, rr,
		           rr < 0 ? er.text : e.text);
		if (rc < 0) {
			fuzz_check(e.kind == er.kind && strcmp(e.text, er.text) == 0,
			           "errors differ: \"%s\" and \"%s\"", e.text, er.text);
		} else {
			fuzz_check(same(&m.head, &r.head), "header sections differ");
			fuzz_check(m.has_body_sep == r.has_body_sep, "has_body_sep differs");
			fuzz_check(r.rest.len <= m.rest.len &&
			               (r.rest.len == 0 ||
			                memcmp(r.rest.data, m.rest.data, r.rest.len) == 0),
			           "the rest read is not the start of the rest");
		}
		msg_fini(&r);
	}

	if (rc < 0) {
		fuzz_check(e.kind == ERR_DATA, "refused with kind %d: %s", e.kind, e.text);
		msg_fini(&m);
		return 0;
	}

	/* Nothing lost, nothing added: IN is the section, its empty line, the rest. */
	const char *h = m.head.data ? m.head.data : "";
	size_t hl = m.head.len, rl = m.rest.len;
	fuzz_check(hl + rl <= n && memcmp(in, h, hl) == 0, "the section is not the input's start");
	fuzz_check(rl == 0 || memcmp(in + n - rl, m.rest.data, rl) == 0,
	           "the rest is not the input's end");
	size_t gap = n - hl - rl;
	fuzz_check(gap == 0 || (gap == 1 && in[hl] == '\n') ||
	               (gap == 2 && in[hl] == '\r' && in[hl + 1] == '\n'),
	           "%zu bytes between the section and the rest", gap);
	fuzz_check(gap == 0 || m.has_body_sep, "an empty line but no has_body_sep");
	fuzz_check(!memchr(h, '\0', hl), "NUL in the header section");
	for (size_t i = 0; i < hl; i++)
		if (h[i] == '\r')
			fuzz_check(i + 1 < hl && h[i + 1] == '\n', "bare CR in the header section");

	struct addr_list l = {0};
	rc = msg_recipients(&m, &l, &e);
	if (rc == 0)
		check_addrs(&l);
	else
		fuzz_check(e.kind == ERR_DATA, "recipients: kind %d", e.kind);

	char *sender = NULL;
	if (msg_sender(&m, &sender, &e) == 0) {
		fuzz_check(!fuzz_has_ctl(sender, strlen(sender), ""),
		           "control character in sender");
		free(sender);
	}
	char *id = msg_msgid(&m);
	check_log(&m, id, l.v, l.n, rc < 0 ? &e : NULL);
	free(id);
	(void)msg_has_8bit(&m);
	addr_list_fini(&l);

	struct msg_opts o = {
	    .sender = f & 0x80 ? "" : "me@example.com",
	    .fullname = f & 0x40 ? "J\xc3\xb6rg \"the\" Tester" : NULL,
	    .msgid_domain = "example.com",
	    .remove_bcc = !(f & 0x01),
	    .set_from = (enum msg_from)((f >> 1) % 3),
	    .no_date = f & 0x08,
	    .no_msgid = f & 0x10,
	    .undisclosed = f & 0x20,
	    .aliases = f & 0x04 ? &fixed_aliases : NULL,
	    .maildomain = f & 0x04 ? "example.org" : NULL,
	};
	if (msg_rewrite(&m, &o, &e) == 0)
		check_rewrite(&m, &o);
	else
		fuzz_check(e.kind == ERR_DATA || e.kind == ERR_CONFIG || e.kind == ERR_USAGE,
		           "rewrite refused with kind %d: %s", e.kind, e.text);
	id = msg_msgid(&m);
	free(id);
	msg_fini(&m);
	return 0;
}
