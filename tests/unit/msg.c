/*
 * Unit tests for src/msg.c: the header scanner on a table of tricky inputs (LF, CRLF and
 * bare-CR line ends, folding, header-less messages, obsolete "Bcc :"), each read whole from
 * memory and through msg_read_header with every one- and two-point split across reads
 * (a SOCK_SEQPACKET socket returns one written packet per read); the 1 MiB ceiling; NUL
 * (SEC-28); -t recipients (SEC-23); Bcc removal; the added From, Date and Message-ID
 * (SEC-20); the account's rewrite rules, table-driven (header in, header out, envelope out):
 * aliases and maildomain in address fields, set_from_header, set_date_header,
 * set_msgid_header, remove_bcc_headers, undisclosed_recipients; --read-envelope-from's
 * msg_sender; msg_msgid.
 */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/header.h"
#include "src/msg.h"
#include "tests/lib/tap.h"

#define S(x) x, sizeof(x) - 1

static const char *
show(const char *in, size_t len)
{
	static char out[2][400];
	static int which;
	char *o = out[which ^= 1];
	size_t k = 0;

	for (size_t i = 0; i < len && k < sizeof(out[0]) - 8; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\r')
			k += (size_t)snprintf(o + k, sizeof(out[0]) - k, "\\r");
		else if (c == '\n')
			k += (size_t)snprintf(o + k, sizeof(out[0]) - k, "\\n");
		else if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(o + k, sizeof(out[0]) - k, "\\x%02x", c);
		else
			o[k++] = (char)c;
	}
	o[k] = '\0';
	return o;
}

/* ---- the scanner ---- */

struct scan_case {
	const char *in;
	size_t len;
	const char *head;
	const char *rest;
	size_t rest_len;
	bool sep;
};

#define C(in, head, rest, sep)                                                                     \
	{                                                                                          \
		in, sizeof(in) - 1, head, rest, sizeof(rest) - 1, sep                              \
	}

static const struct scan_case scan_cases[] = {
    C("To: a@x\nSubject: hi\n\nbody\n", "To: a@x\nSubject: hi\n", "body\n", true),
    C("To: a@x\r\nSubject: hi\r\n\r\nbody\r\n", "To: a@x\r\nSubject: hi\r\n", "body\r\n", true),
    C("A: 1\r\n\nbody", "A: 1\r\n", "body", true),
    C("A: 1\n\r\nbody", "A: 1\n", "body", true),
    C("A: 1\n\n\nbody", "A: 1\n", "\nbody", true),
    C("Subject: a\n b\n\tc\n\nx", "Subject: a\n b\n\tc\n", "x", true),
    C("Subject: a\r\n b\r\n\r\nx", "Subject: a\r\n b\r\n", "x", true),
    C("Subject: a\r\n \r\n\r\nx", "Subject: a\r\n \r\n", "x", true),
    C("To: a@x\n", "To: a@x\n", "", false),
    C("To: a@x", "To: a@x", "", false),
    C("To: a@x\r\n", "To: a@x\r\n", "", false),
    C("", "", "", false),
    C("\n", "", "", true),
    C("\r\n", "", "", true),
    C("\n\n", "", "\n", true),
    C("Hello world\nmore\n", "", "Hello world\nmore\n", true),
    C("Hello", "", "Hello", true),
    C(" indented\nTo: a\n", "", " indented\nTo: a\n", true),
    C("\tx: y\n", "", "\tx: y\n", true),
    C("From someone@x Mon Jan  1 00:00:00 2024\nTo: a\n\nb", "",
      "From someone@x Mon Jan  1 00:00:00 2024\nTo: a\n\nb", true),
    C("To: a@x\nThis is the body\n", "To: a@x\n", "This is the body\n", true),
    C("To: a@x\nFoo bar: x\n", "To: a@x\n", "Foo bar: x\n", true),
    C("To: a@x\nxyz", "To: a@x\n", "xyz", true),
    C("To: a@x\nxyz ", "To: a@x\n", "xyz ", true),
    C("To: a@x\n:x\n", "To: a@x\n", ":x\n", true),
    C("To: a@x\n\xc3\x9c"
      "ber: x\n",
      "To: a@x\n",
      "\xc3\x9c"
      "ber: x\n",
      true),
    C("To: a@x\nX\x01: y\n", "To: a@x\n", "X\x01: y\n", true),
    C("To: a@x\nSubject\r\n\r\n", "To: a@x\n", "Subject\r\n\r\n", true),
    C("To: a@x\nSub\rject: x\n", "To: a@x\n", "Sub\rject: x\n", true),
    C("A: 1\r\n\r\nb\rc\r\r\n", "A: 1\r\n", "b\rc\r\r\n", true),
    C("Bcc : a@x\n\nb", "Bcc : a@x\n", "b", true),
    C("Bcc\t \t: a@x\n\nb", "Bcc\t \t: a@x\n", "b", true),
    C("X:\n\n", "X:\n", "", true),
    C("Subject: \xc3\xa9t\xc3\xa9\n\nb", "Subject: \xc3\xa9t\xc3\xa9\n", "b", true),
    C("Subject: a\n\nbody\0with NUL", "Subject: a\n", "body\0with NUL", true),
    C("A: 1\n \n\n", "A: 1\n \n", "", true),
    C("A: 1\n\n\0x", "A: 1\n", "\0x", true),
};

static bool
same(const struct buf *b, const char *want, size_t wantlen)
{
	return b->len == wantlen && (wantlen == 0 || memcmp(b->data, want, wantlen) == 0);
}

static bool
scan_ok(const struct msg *m, const struct scan_case *c)
{
	return same(&m->head, c->head, strlen(c->head)) && same(&m->rest, c->rest, c->rest_len) &&
	       m->has_body_sep == c->sep;
}

/*
 * Read IN through msg_read_header, written as separate packets cut at CUTS[0..NCUTS): a
 * SOCK_SEQPACKET socket gives one packet per read(2), so each cut is a read boundary. The
 * inputs are small: every packet fits in the socket buffer before we read.
 */
static int
read_split(struct msg *m, const char *in, size_t len, const size_t *cuts, size_t ncuts,
           struct err *e)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		if (to > from &&
		    send(sv[0], in + from, to - from, MSG_DONTWAIT) != (ssize_t)(to - from)) {
			perror("send");
			exit(1);
		}
		from = to;
	}
	close(sv[0]);
	int rc = msg_read_header(m, sv[1], e);
	/* What msg_read_header did not read is the caller's to stream: put it with m->rest. */
	char more[4096];
	ssize_t r;
	m->rest.max = (size_t)-1;
	while (rc == 0 && (r = read(sv[1], more, sizeof(more))) > 0)
		buf_append(&m->rest, more, (size_t)r, NULL);
	close(sv[1]);
	return rc;
}

static void
test_scan_table(void)
{
	for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		const struct scan_case *c = &scan_cases[i];
		struct msg m;
		struct err e = {0};

		msg_init(&m);
		int rc = msg_parse_header(&m, c->in, c->len, &e);
		ok(rc == 0 && scan_ok(&m, c), "scan \"%s\" (memory)", show(c->in, c->len));
		if (rc == 0 && !scan_ok(&m, c)) {
			printf("#   head \"%s\"", show(m.head.data, m.head.len));
			printf(" rest \"%s\" sep %d\n", show(m.rest.data, m.rest.len),
			       m.has_body_sep);
		}

		/* whole, then every single cut, then every pair of cuts, then 1 byte a read */
		size_t bad = 0, runs = 0;
		char where[64] = "";
		rc = read_split(&m, c->in, c->len, NULL, 0, &e);
		runs++;
		if (rc != 0 || !scan_ok(&m, c))
			bad++;
		for (size_t k = 1; k < c->len; k++) {
			size_t cut[1] = {k};
			runs++;
			if (read_split(&m, c->in, c->len, cut, 1, &e) != 0 || !scan_ok(&m, c)) {
				if (!bad++)
					snprintf(where, sizeof(where), "cut at %zu", k);
			}
		}
		for (size_t k1 = 1; k1 < c->len && c->len <= 48; k1++) {
			for (size_t k2 = k1 + 1; k2 < c->len; k2++) {
				size_t cut[2] = {k1, k2};
				runs++;
				if (read_split(&m, c->in, c->len, cut, 2, &e) != 0 ||
				    !scan_ok(&m, c)) {
					if (!bad++)
						snprintf(where, sizeof(where), "cuts at %zu, %zu",
						         k1, k2);
				}
			}
		}
		size_t ones[256];
		size_t n1 = 0;
		for (size_t k = 1; k < c->len && n1 < 256; k++)
			ones[n1++] = k;
		runs++;
		if (read_split(&m, c->in, c->len, ones, n1, &e) != 0 || !scan_ok(&m, c)) {
			if (!bad++)
				snprintf(where, sizeof(where), "one byte per read");
		}
		ok(bad == 0, "scan \"%s\": %zu splits across reads agree %s", show(c->in, c->len),
		   runs, where);
		msg_fini(&m);
	}
}

/* The name of a field may be 998 octets, not more (RFC 5322 §2.1.1). */
static void
test_scan_long_name(void)
{
	struct msg m;
	struct err e = {0};
	char in[1100];

	msg_init(&m);
	memset(in, 'X', 998);
	memcpy(in + 998, ": v\n\nb", 6);
	ok(msg_parse_header(&m, in, 1004, &e) == 0 && m.head.len == 1002 && m.rest.len == 1,
	   "a 998-octet field name is a field");
	memset(in, 'X', 999);
	memcpy(in + 999, ": v\n\nb", 6);
	ok(msg_parse_header(&m, in, 1005, &e) == 0 && m.head.len == 0 && m.rest.len == 1005,
	   "a 999-octet 'name' is body");
	memcpy(in, "A: 1\n", 5);
	memset(in + 5, ' ', 998);
	in[5] = 'B';
	memcpy(in + 1003, ":\n", 2);
	ok(msg_parse_header(&m, in, 1005, &e) == 0 && m.head.len == 1005,
	   "a name and WSP of 998 octets before the colon make a field");
	memset(in + 5, ' ', 999);
	in[5] = 'B';
	memcpy(in + 1004, ":\n", 2);
	ok(msg_parse_header(&m, in, 1006, &e) == 0 && m.head.len == 5 && m.rest.len == 1001,
	   "WSP before the colon counts towards the 998 octets");
	msg_fini(&m);
}

static void
test_nul(void)
{
	static const struct {
		const char *in;
		size_t len;
		size_t line;
	} cases[] = {
	    {S("To: a\0b\n\n"), 1},    {S("\0"), 1},
	    {S("To: a\n\0\n"), 2},     {S("To: a\nSubj\0ect: x\n"), 2},
	    {S("To: a\n b\0\n\n"), 2}, {S("To: a\r\n\0"), 2},
	    {S("To: a\nB : \0"), 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg m;
		struct err e = {0};
		char line[32];

		msg_init(&m);
		int rc = msg_parse_header(&m, cases[i].in, cases[i].len, &e);
		snprintf(line, sizeof(line), "(line %zu)", cases[i].line);
		ok(rc == -1 && e.kind == ERR_DATA && strstr(e.text, "NUL byte in the header") &&
		       strstr(e.text, line),
		   "SEC-28: NUL refused in \"%s\" (%s)", show(cases[i].in, cases[i].len), e.text);
		size_t cut[1] = {cases[i].len - 1};
		rc = read_split(&m, cases[i].in, cases[i].len, cut, 1, &e);
		ok(rc == -1 && e.kind == ERR_DATA, "  and through a split read");
		msg_fini(&m);
	}
}

/*
 * Issue 10, bug 10; SEC-27 (amended): a bare CR (no LF after it) in the header section is an
 * error that names its line. It used to end the line, so `To: a@x\rRCPT TO:<b@y>` with -t
 * ended the header section early and sent Subject and the rest as body. Each input is read
 * from memory, whole, cut once at every offset (the CR at the end of one read, its follower
 * at the start of the next), and one byte a read.
 */
static void
test_bare_cr(void)
{
	static const struct {
		const char *in;
		size_t len;
		size_t line;
	} cases[] = {
	    {S("To: a@x\rRCPT TO:<b@y>\nSubject: s\n\nbody\n"), 1},
	    {S("From: f@x\nTo: a@x\r\r\nSubject: s\n\nbody\n"), 2},
	    {S("To: a@x,\n b@y\r c@z\nSubject: s\n\n"), 2},
	    {S("To: a@x,\r\n\tb@y\r\r\n\r\nbody\r\n"), 2},
	    {S("A: 1\r\nB: 2\r\nC: 3\rD: 4\r\n\r\n"), 3},
	    {S("Subject: a\r b\r\rx"), 1},
	    {S("A: 1\n\rbody\n"), 2},
	    {S("A: 1\n\r\r\nbody\n"), 2},
	    {S("A: 1\n\r\0x"), 2},
	    {S("A: 1\r"), 1},
	    {S("A: 1\n\r"), 2},
	    {S("\r"), 1},
	    {S("\rTo: a@x\n\n"), 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t len = cases[i].len;
		struct msg m;
		struct err e = {0};
		char want[128];

		snprintf(want, sizeof(want),
		         "read header: line %zu: a bare CR (carriage return "
		         "without line feed); ",
		         cases[i].line);
		msg_init(&m);
		int rc = msg_parse_header(&m, in, len, &e);
		ok(rc == -1 && e.kind == ERR_DATA && strncmp(e.text, want, strlen(want)) == 0 &&
		       strstr(e.text, "end each header line with LF or CRLF"),
		   "SEC-27: bare CR refused in \"%s\" (%s)", show(in, len), e.text);
		size_t bad = 0, runs = 0;
		for (size_t k = 0; k < len; k++) {
			size_t cut[1] = {k};
			err_clear(&e);
			rc = read_split(&m, in, len, cut, k ? 1 : 0, &e);
			runs++;
			if (rc != -1 || e.kind != ERR_DATA || strncmp(e.text, want, strlen(want)))
				bad++;
		}
		size_t ones[256], n1 = 0;
		for (size_t k = 1; k < len && n1 < 256; k++)
			ones[n1++] = k;
		err_clear(&e);
		rc = read_split(&m, in, len, ones, n1, &e);
		runs++;
		if (rc != -1 || e.kind != ERR_DATA || strncmp(e.text, want, strlen(want)))
			bad++;
		ok(bad == 0, "  and through %zu splits across reads", runs);
		msg_fini(&m);
	}

	/* CRLF, LF, and a CR in the body (dot converts it, SEC-27) are no error. */
	struct msg m;
	struct err e = {0};
	msg_init(&m);
	ok(msg_parse_header(&m, S("To: a@x\r\nCc: b@y\n\r\nbody\rCR\r\r\n"), &e) == 0 &&
	       same(&m.head, S("To: a@x\r\nCc: b@y\n")) && same(&m.rest, S("body\rCR\r\r\n")),
	   "CRLF and LF lines, and a bare CR in the body, pass");
	msg_fini(&m);
}

/* ---- the 1 MiB ceiling, through a file (64 KiB reads) and from memory ---- */

/* A header section of exactly N bytes: 100-byte lines, then one to make up the rest. */
static char *
make_header(size_t n, const char *tail, size_t *len)
{
	size_t tl = strlen(tail);
	char *p = malloc(n + tl);
	size_t k = 0;

	while (n - k >= 200) {
		memcpy(p + k, "X: ", 3);
		memset(p + k + 3, 'a', 96);
		p[k + 99] = '\n';
		k += 100;
	}
	size_t last = n - k;
	memcpy(p + k, "X: ", 3);
	memset(p + k + 3, 'b', last - 4);
	p[k + last - 1] = '\n';
	k += last;
	memcpy(p + k, tail, tl);
	*len = k + tl;
	return p;
}

static int
read_file(struct msg *m, const char *p, size_t len, struct err *e)
{
	FILE *f = tmpfile();
	if (!f || fwrite(p, 1, len, f) != len || fflush(f) != 0) {
		perror("tmpfile");
		exit(1);
	}
	lseek(fileno(f), 0, SEEK_SET);
	int rc = msg_read_header(m, fileno(f), e);
	fclose(f);
	return rc;
}

static void
test_ceiling(void)
{
	struct msg m;
	struct err e = {0};
	size_t len;
	char *p;

	msg_init(&m);
	p = make_header(BUF_MAX_HEADER, "\nbody\n", &len);
	ok(read_file(&m, p, len, &e) == 0 && m.head.len == BUF_MAX_HEADER &&
	       same(&m.rest, "body\n", 5) && m.has_body_sep,
	   "a header section of exactly 1 MiB is read (%s)", e.text);
	ok(msg_parse_header(&m, p, len, &e) == 0 && m.head.len == BUF_MAX_HEADER,
	   "  and parsed from memory");
	free(p);

	p = make_header(BUF_MAX_HEADER, "", &len);
	ok(read_file(&m, p, len, &e) == 0 && m.head.len == BUF_MAX_HEADER && !m.has_body_sep,
	   "1 MiB and the end of input");
	free(p);

	p = make_header(BUF_MAX_HEADER, "a body line without a colon\n", &len);
	ok(read_file(&m, p, len, &e) == 0 && m.head.len == BUF_MAX_HEADER &&
	       same(&m.rest, S("a body line without a colon\n")),
	   "1 MiB then a body line: the undecided line does not count");
	free(p);

	p = make_header(BUF_MAX_HEADER + 1, "\nbody\n", &len);
	err_clear(&e);
	ok(read_file(&m, p, len, &e) == -1 && e.kind == ERR_DATA &&
	       strstr(e.text, "read message: header section over 1 MiB") &&
	       strstr(e.text, "empty line"),
	   "one byte more is refused with advice (%s)", e.text);
	err_clear(&e);
	ok(msg_parse_header(&m, p, len, &e) == -1 && e.kind == ERR_DATA, "  also from memory");
	free(p);

	p = make_header(BUF_MAX_HEADER - 100, "X: unfinished", &len);
	ok(read_file(&m, p, len, &e) == 0 && m.head.len == BUF_MAX_HEADER - 100 + 13,
	   "just under 1 MiB with an unterminated last field");
	free(p);

	/* one endless line */
	len = 2 * BUF_MAX_HEADER;
	p = malloc(len);
	memcpy(p, "Subject: ", 9);
	memset(p + 9, 'z', len - 9);
	ok(read_file(&m, p, len, &e) == -1 && strstr(e.text, "over 1 MiB"),
	   "a 2 MiB header line is refused");
	/* a 2 MiB body line with no header is fine */
	memset(p, 'z', len);
	ok(read_file(&m, p, len, &e) == 0 && m.head.len == 0 && m.has_body_sep && m.rest.len > 0 &&
	       m.rest.len <= 64 * 1024 + 1024,
	   "a message that is all body: the rest holds at most one read (%zu)", m.rest.len);
	ok(msg_parse_header(&m, p, len, &e) == 0 && m.rest.len == len,
	   "  from memory the rest is all of it");
	free(p);

	/* many continuation lines */
	len = BUF_MAX_HEADER + 10;
	p = malloc(len);
	memcpy(p, "X: y\n", 5);
	for (size_t k = 5; k + 2 <= len; k += 2)
		memcpy(p + k, " \n", 2);
	p[len - 1] = '\n';
	ok(read_file(&m, p, len, &e) == -1 && strstr(e.text, "over 1 MiB"),
	   "1 MiB of continuation lines is refused");
	free(p);

	ok(msg_read_header(&m, -1, &e) == -1 && e.kind == ERR_OS &&
	       strstr(e.text, "read message: "),
	   "a read error is ERR_OS (%s)", e.text);
	msg_fini(&m);
}

/* ---- -t ---- */

struct rcpt_case {
	const char *in;
	const char *want; /* joined by " ", or NULL when refused */
	const char *reason;
};

static const struct rcpt_case rcpt_cases[] = {
    {"To: a@x\nCc: b@y, c@z\nBcc: d@w\nSubject: s\n\nTo: body@x\n", "a@x b@y c@z d@w", NULL},
    {"Bcc: a@x,\n b@y\n\n", "a@x b@y", NULL},
    {"Bcc: a@x,\r\n\tB <b@y>,\r\n (c)\r\n c@z\r\n\r\n", "a@x b@y c@z", NULL},
    {"Bcc : a@x\n\n", "a@x", NULL},
    {"Bcc\t: a@x\nCc  : b@y\n", "a@x b@y", NULL},
    {"bcc: a@x\nTO: b@y\ncC: c@z\n", "a@x b@y c@z", NULL},
    {"To: Undisclosed recipients:;\nBcc: a@x\n", "a@x", NULL},
    {"To: A <a@x>,\r\n\tB <b@y>\r\n\r\n", "a@x b@y", NULL},
    {"To: a@x\nTo: b@y\n", "a@x b@y", NULL},
    {"To: team: a@x, b@y;\n", "a@x b@y", NULL},
    {"To: user@bücher.example\n", "user@xn--bcher-kva.example", NULL},
    {"To:\n", "", NULL},
    {"Subject: To: a@x\nX-To: b@y\nTox: c@z\nReply-To: d@w\n", "", NULL},
    {"", "", NULL},
    {"Body only\nTo: a@x\n", "", NULL},
    {"To: old@x\nResent-From: r@x\nResent-To: new@y\nResent-Bcc: hid@z\nResent-Cc: c@c\n",
     "new@y hid@z c@c", NULL},
    {"To: old@x\nResent-Date: Mon, 1 Jan 2024 00:00:00 +0000\n", "", NULL},
    {"To: a@x\nCc: bad address\n", NULL,
     "read Cc field: check address \"bad address\": "
     "unquoted space"},
    {"Bcc : ok@x, -oQ@x\n", NULL, "read Bcc field: check address \"-oQ@x\": begins with '-'"},
    {"To: jösé@x\n", "jösé@x", NULL},
    {"To: j\xc3@x\n", NULL, "not valid UTF-8"},
    {"To: a@x,\n b@y c@z\n", NULL, "check address \"b@y c@z\": unquoted space"},
};

static void
test_recipients(void)
{
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct msg m;
		struct addr_list l = {0};
		struct err e = {0};
		char got[512] = "";
		size_t k = 0;

		msg_init(&m);
		msg_parse_header(&m, c->in, strlen(c->in), &e);
		int rc = msg_recipients(&m, &l, &e);
		for (size_t j = 0; j < l.n; j++)
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s", j ? " " : "",
			                      l.v[j]);
		if (c->want)
			ok(rc == 0 && strcmp(got, c->want) == 0,
			   "-t \"%s\" gives \"%s\" (got \"%s\")", show(c->in, strlen(c->in)),
			   c->want, got);
		else
			ok(rc == -1 && e.kind == ERR_DATA && strstr(e.text, c->reason),
			   "-t \"%s\" refused (%s)", show(c->in, strlen(c->in)), e.text);
		addr_list_fini(&l);
		msg_fini(&m);
	}
}

static void
test_has_field(void)
{
	struct msg m;
	struct err e = {0};

	msg_init(&m);
	msg_parse_header(&m, S("from : a@x\nMessage-Id: <1@x>\nX-Date: y\n folded: no\n\nDate: z"),
	                 &e);
	ok(msg_has_field(&m, "From"), "has From (obsolete \"from :\")");
	ok(msg_has_field(&m, "Message-ID"), "has Message-ID (any case)");
	ok(!msg_has_field(&m, "Date"), "X-Date and a body line are not Date");
	ok(!msg_has_field(&m, "folded"), "a continuation line is not a field");
	ok(msg_has_field(&m, "X-Date") && !msg_has_field(&m, "X-Dat"), "exact names");
	msg_fini(&m);
}

/* ---- msg_rewrite ---- */

/* The field of OUT that begins with PREFIX (at a line start), continuation lines included. */
static char *
field_of(const struct buf *out, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < out->len; i++) {
		if ((i == 0 || out->data[i - 1] == '\n') && out->len - i >= n &&
		    strncmp(out->data + i, prefix, n) == 0) {
			size_t j = i;
			do {
				const char *nl = memchr(out->data + j, '\n', out->len - j);
				j = nl ? (size_t)(nl - out->data) + 1 : out->len;
			} while (j < out->len && (out->data[j] == ' ' || out->data[j] == '\t'));
			char *r = malloc(j - i + 1);
			memcpy(r, out->data + i, j - i);
			r[j - i] = '\0';
			return r;
		}
	}
	return NULL;
}

static bool
matches(const char *s, const char *re)
{
	regex_t r;

	if (!s || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	bool yes = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return yes;
}

#define HAVE_ALL "From: f@x\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@x>\n"
#define HAVE_ALL_OUT "From: f@x\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x>\r\n"

#define DIGITS70 "0123456789012345678901234567890123456789012345678901234567890123456789"

struct rewrite_case {
	const char *in;
	const char *out;
};

static const struct rewrite_case rewrite_cases[] = {
    {HAVE_ALL "To: a@x\nBcc: b@y\nSubject: s\n\nbody",
     HAVE_ALL_OUT "To: a@x\r\nSubject: s\r\n\r\n"},
    {HAVE_ALL "To: a\nBcc: x,\n y,\n\tz\nSubject: s\n", HAVE_ALL_OUT "To: a\r\nSubject: s\r\n\r\n"},
    {"Bcc: x,\r\n y\r\n" HAVE_ALL, HAVE_ALL_OUT "\r\n"},
    {HAVE_ALL "Bcc : x\nbcc: y\nBCC:z\nResent-Bcc: r\n\tr2\nX-Bcc: keep\nBccx: keep\n",
     HAVE_ALL_OUT "X-Bcc: keep\r\nBccx: keep\r\n\r\n"},
    {HAVE_ALL "Bcc: x", HAVE_ALL_OUT "\r\n"},
    {HAVE_ALL "Bcc: x\r\n", HAVE_ALL_OUT "\r\n"},
    {HAVE_ALL "Bcc: x\r\n y\r\nSubject: s\r\n\r\n", HAVE_ALL_OUT "Subject: s\r\n\r\n"},
    {HAVE_ALL "A: 1\r\nB: 2\nC: 3\nD: 4", HAVE_ALL_OUT "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"},
    {HAVE_ALL "Subject: a\r\n b\n\tc\r\n d\n",
     HAVE_ALL_OUT "Subject: a\r\n b\r\n\tc\r\n d\r\n\r\n"},
    {HAVE_ALL "Subject: \xc3\xa9\n", HAVE_ALL_OUT "Subject: \xc3\xa9\r\n\r\n"},
    {"from: f@x\ndate: d\nmessage-id: <1@x>\n",
     "from: f@x\r\ndate: d\r\nmessage-id: <1@x>\r\n\r\n"},
    {"Subject: long " DIGITS70 DIGITS70 "\n" HAVE_ALL,
     "Subject: long " DIGITS70 DIGITS70 "\r\n" HAVE_ALL_OUT "\r\n"},
};

static void
test_rewrite_table(void)
{
	struct msg_opts o = {.sender = "me@example.com",
	                     .fullname = "Me",
	                     .msgid_domain = "example.com",
	                     .remove_bcc = true};

	for (size_t i = 0; i < sizeof(rewrite_cases) / sizeof(rewrite_cases[0]); i++) {
		const struct rewrite_case *c = &rewrite_cases[i];
		struct msg m;
		struct err e = {0};

		msg_init(&m);
		msg_parse_header(&m, c->in, strlen(c->in), &e);
		size_t headlen = m.head.len;
		int rc = msg_rewrite(&m, &o, &e);
		ok(rc == 0 && same(&m.out, c->out, strlen(c->out)), "rewrite \"%s\"",
		   show(c->in, strlen(c->in)));
		if (rc != 0 || !same(&m.out, c->out, strlen(c->out)))
			printf("#   got \"%s\" %s\n", show(m.out.data, m.out.len), e.text);
		ok(m.head.len == headlen && memcmp(m.head.data, c->in, headlen) == 0,
		   "  m->head is kept as read");
		msg_fini(&m);
	}

	struct msg m;
	struct err e = {0};
	msg_init(&m);
	msg_parse_header(&m, S(HAVE_ALL "Bcc: b@y\n\n"), &e);
	o.remove_bcc = false;
	ok(msg_rewrite(&m, &o, &e) == 0 && same(&m.out, S(HAVE_ALL_OUT "Bcc: b@y\r\n\r\n")),
	   "remove_bcc false keeps Bcc");
	msg_fini(&m);
}

#define DATE_RE                                                                                    \
	"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-9][0-9]? "                                       \
	"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 2[0-9]{3} "                             \
	"([01][0-9]|2[0-3]):[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}\r\n$"
#define MSGID_RE "^Message-ID: <[0-9a-z]+\\.[0-9a-f]{16}@example\\.org>\r\n$"

static char *
rewrite(const char *in, const char *sender, const char *name, struct err *e, int *rc)
{
	struct msg m;
	struct msg_opts o = {
	    .sender = sender, .fullname = name, .msgid_domain = "example.org", .remove_bcc = true};

	msg_init(&m);
	msg_parse_header(&m, in, strlen(in), e);
	*rc = msg_rewrite(&m, &o, e);
	char *r = xstrndup(m.out.data ? m.out.data : "", m.out.len);
	msg_fini(&m);
	return r;
}

static void
test_added(void)
{
	struct err e = {0};
	int rc;
	char *out, *f;

	out = rewrite("Subject: s\n\nbody", "me@example.com", NULL, &e, &rc);
	ok(rc == 0 && strncmp(out, "Subject: s\r\nFrom: me@example.com\r\nDate: ", 40) == 0,
	   "From, then Date, after the fields (%s)", show(out, strlen(out)));
	struct buf b = {.data = out, .len = strlen(out)};
	f = field_of(&b, "Date:");
	ok(matches(f, DATE_RE), "Date shape (%s)", f ? show(f, strlen(f)) : "none");
	free(f);
	f = field_of(&b, "Message-ID:");
	ok(matches(f, MSGID_RE), "Message-ID shape (%s)", f ? show(f, strlen(f)) : "none");
	char *mid1 = f;
	ok(strlen(out) > 5 && strcmp(out + strlen(out) - 5, ">\r\n\r\n") == 0 &&
	       strstr(out, "Message-ID") > strstr(out, "Date"),
	   "Message-ID last, then the empty line");
	free(out);
	out = rewrite("Subject: s\n\nbody", "me@example.com", NULL, &e, &rc);
	b = (struct buf){.data = out, .len = strlen(out)};
	f = field_of(&b, "Message-ID:");
	ok(f && mid1 && strcmp(f, mid1) != 0, "two Message-IDs differ");
	free(f);
	free(mid1);
	free(out);

	/* Date with fixed zones: the offset is numeric, names are English whatever LANG is. */
	static const struct {
		const char *tz;
		const char *off;
	} zones[] = {{"UTC0", "+0000"},
	             {"EST5", "-0500"},
	             {"IST-5:30", "+0530"},
	             {"NPT-5:45", "+0545"},
	             {"XXX3:30", "-0330"}};
	const char *old = getenv("TZ");
	char *saved = old ? xstrdup(old) : NULL;
	setenv("LC_ALL", "de_DE.UTF-8", 1);
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		setenv("TZ", zones[i].tz, 1);
		out = rewrite("From: a@x\n", "me@x", NULL, &e, &rc);
		b = (struct buf){.data = out, .len = strlen(out)};
		f = field_of(&b, "Date:");
		ok(matches(f, DATE_RE) && f && strstr(f, zones[i].off),
		   "Date in TZ=%s ends with %s (%s)", zones[i].tz, zones[i].off,
		   f ? show(f, strlen(f)) : "none");
		free(f);
		free(out);
	}
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	unsetenv("LC_ALL");

	/* Nothing added when present, whatever the case of the name. */
	out = rewrite("FROM: a@x\ndate: d\nmessage-id: <i@x>\n", "me@x", "Me", &e, &rc);
	ok(rc == 0 && strcmp(out, "FROM: a@x\r\ndate: d\r\nmessage-id: <i@x>\r\n\r\n") == 0,
	   "nothing added when From, Date and Message-ID are there");
	free(out);

	/* The empty input, without the empty line: the out still ends with one. */
	out = rewrite("", "me@example.com", NULL, &e, &rc);
	ok(rc == 0 && strncmp(out, "From: me@example.com\r\nDate: ", 28) == 0 &&
	       strcmp(out + strlen(out) - 5, ">\r\n\r\n") == 0,
	   "an empty message gets From, Date, Message-ID and the empty line");
	free(out);
	out = rewrite("To: a@x", "me@example.com", NULL, &e, &rc);
	ok(rc == 0 && strncmp(out, "To: a@x\r\nFrom: ", 15) == 0 &&
	       strcmp(out + strlen(out) - 5, ">\r\n\r\n") == 0,
	   "a header without line end or body ends with the empty line");
	free(out);

	/* the null sender: no From is made up */
	out = rewrite("Subject: s\n", "", "Name", &e, &rc);
	ok(rc == 0 && !strstr(out, "From:") && strstr(out, "Date: "), "null sender: no From added");
	free(out);
	out = rewrite("Subject: s\n", NULL, NULL, &e, &rc);
	ok(rc == 0 && !strstr(out, "From:"), "no sender: no From added");
	free(out);

	/* Message-ID domains */
	struct msg m;
	struct msg_opts o = {.sender = "a@x", .remove_bcc = true};
	msg_init(&m);
	msg_parse_header(&m, S("From: a@x\nDate: d\n"), &e);
	ok(msg_rewrite(&m, &o, &e) == 0 && strstr(m.out.data, "@localhost>\r\n"),
	   "Message-ID without a domain uses localhost");
	o.msgid_domain = "[192.0.2.1]";
	ok(msg_rewrite(&m, &o, &e) == 0 && strstr(m.out.data, "@[192.0.2.1]>\r\n"),
	   "Message-ID with an address literal");
	static const char *const bad[] = {"bad domain", "x\r\nBcc: y", "a..b",   ".a",
	                                  "a.",         "x>y",         "[a\\b]", "ü.example"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.msgid_domain = bad[i];
		err_clear(&e);
		ok(msg_rewrite(&m, &o, &e) == -1 && e.kind == ERR_CONFIG &&
		       strstr(e.text, "add Message-ID: "),
		   "Message-ID domain \"%s\" refused (%s)", show(bad[i], strlen(bad[i])), e.text);
	}
	msg_fini(&m);
}

/* Decode the encoded words of an RFC 2047 From: line back to bytes. */
static size_t
decode_2047(const char *field, char *out, size_t cap)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0;
	const char *p = field;

	while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
		p += 10;
		const char *end = strstr(p, "?=");
		unsigned int acc = 0;
		int bits = 0;
		for (; p < end; p++) {
			const char *c = strchr(set, *p);
			if (*p == '=' || !c)
				continue;
			acc = (acc << 6) | (unsigned int)(c - set);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				if (n < cap)
					out[n++] = (char)((acc >> bits) & 0xff);
			}
		}
	}
	return n;
}

/* Every line at most MAX characters; each encoded word at most 75 and whole UTF-8. */
static bool
lines_within(const char *s, size_t max)
{
	for (const char *p = s; *p;) {
		const char *nl = strstr(p, "\r\n");
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > max)
			return false;
		p += n + (nl ? 2 : 0);
	}
	return true;
}

static bool
words_ok(const char *s)
{
	for (const char *p = s; (p = strstr(p, "=?UTF-8?B?")) != NULL;) {
		const char *end = strstr(p, "?=");
		if (!end || end + 2 - p > 75)
			return false;
		char one[200];
		char *w = xstrndup(p, (size_t)(end + 2 - p));
		size_t n = decode_2047(w, one, sizeof(one));
		free(w);
		/* a word ends on a character boundary: its last sequence is complete */
		size_t i = 0;
		while (i < n) {
			unsigned char c = (unsigned char)one[i];
			size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
			if (i + len > n)
				return false;
			i += len;
		}
		p = end + 2;
	}
	return true;
}

static void
test_names(void)
{
	static const struct {
		const char *name;
		const char *from;
	} forms[] = {
	    {"Jane Doe", "From: Jane Doe <me@example.com>\r\n"},
	    {"Jane", "From: Jane <me@example.com>\r\n"},
	    {"O'Brien-Smith {ops}", "From: O'Brien-Smith {ops} <me@example.com>\r\n"},
	    {"Jane Q. Doe", "From: \"Jane Q. Doe\" <me@example.com>\r\n"},
	    {"Doe, Jane", "From: \"Doe, Jane\" <me@example.com>\r\n"},
	    {"root@host", "From: \"root@host\" <me@example.com>\r\n"},
	    {"Ann (admin)", "From: \"Ann (admin)\" <me@example.com>\r\n"},
	    {"Say \"hi\" \\o/", "From: \"Say \\\"hi\\\" \\\\o/\" <me@example.com>\r\n"},
	    {"<evil@x>", "From: \"<evil@x>\" <me@example.com>\r\n"},
	    {"   ", "From: \"   \" <me@example.com>\r\n"},
	    {"", "From: me@example.com\r\n"},
	    {"J\xc3\xb6rg", "From: =?UTF-8?B?SsO2cmc=?= <me@example.com>\r\n"},
	    {"J\xc3\xb6rg M\xc3\xbcller",
	     "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <me@example.com>\r\n"},
	    {"\"Jörg\"", "From: =?UTF-8?B?IkrDtnJnIg==?= <me@example.com>\r\n"},
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct err e = {0};
		int rc;
		char *out = rewrite("Date: d\nMessage-ID: <i@x>\n", "me@example.com", forms[i].name,
		                    &e, &rc);
		struct buf b = {.data = out, .len = strlen(out)};
		char *f = field_of(&b, "From:");
		ok(rc == 0 && f && strcmp(f, forms[i].from) == 0, "-F \"%s\" gives %s",
		   forms[i].name, f ? show(f, strlen(f)) : e.text);
		free(f);
		free(out);
	}

	/* long names: encoded words of at most 75 characters on whole characters, lines
	   within 76 (RFC 2047 §2), decoding gives the name back */
	static const char *const longs[] = {
	    "\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84"
	    "\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84"
	    "\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84"
	    "\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84\xc3\x84",
	    "a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"
	    "\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2"
	    "\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
	    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
	    "Jos\xc3\xa9 Mar\xc3\xad"
	    "a de la Sant\xc3\xadsima Trinidad Ruiz y Picasso "
	    "L\xc3\xb3pez Garc\xc3\xad"
	    "a Fern\xc3\xa1ndez",
	};
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		struct err e = {0};
		int rc;
		char *out =
		    rewrite("Date: d\nMessage-ID: <i@x>\n", "me@example.com", longs[i], &e, &rc);
		struct buf b = {.data = out, .len = strlen(out)};
		char *f = field_of(&b, "From:");
		char back[1024];
		size_t n = f ? decode_2047(f, back, sizeof(back)) : 0;
		ok(rc == 0 && f && strstr(f, "\r\n =?UTF-8?B?") && lines_within(f, 76) &&
		       words_ok(f) && n == strlen(longs[i]) && memcmp(back, longs[i], n) == 0 &&
		       strstr(f, " <me@example.com>\r\n"),
		   "long non-ASCII name %zu: folded encoded words (%s)", i,
		   f ? show(f, strlen(f)) : e.text);
		free(f);
		free(out);
	}

	/* a long ASCII name folds at spaces; unfolding gives the line back */
	const char *longname = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliett "
	                       "Kilo Lima Mike November Oscar Papa Quebec Romeo Sierra Tango";
	const char *quoted = "Alpha Bravo, Charlie Delta Echo Foxtrot Golf Hotel India Juliett "
	                     "Kilo Lima Mike November Oscar Papa Quebec Romeo Sierra Tango";
	for (int q = 0; q < 2; q++) {
		struct err e = {0};
		int rc;
		const char *nm = q ? quoted : longname;
		char *out = rewrite("Date: d\nMessage-ID: <i@x>\n", "me@example.com", nm, &e, &rc);
		struct buf b = {.data = out, .len = strlen(out)};
		char *f = field_of(&b, "From:");
		char want[512];
		snprintf(want, sizeof(want),
		         q ? "From: \"%s\" <me@example.com>" : "From: %s <me@example.com>", nm);
		char unf[512];
		size_t k = 0;
		for (const char *p = f; p && *p && k < sizeof(unf) - 1; p++)
			if (*p != '\r' && *p != '\n')
				unf[k++] = *p;
		unf[k] = '\0';
		ok(rc == 0 && f && strstr(f, "\r\n ") && lines_within(f, 78) &&
		       strcmp(unf, want) == 0,
		   "long %s name folds at spaces (%s)", q ? "quoted" : "atom",
		   f ? show(f, strlen(f)) : e.text);
		free(f);
		free(out);
	}

	/* refusals (SEC-20) */
	static const char *const badnames[] = {"Evil\r\nBcc: x@y", "Evil\nX: y", "a\rb",
	                                       "tab\there",        "del\x7f",    "esc\x1b[0m",
	                                       "J\xc3\xb6rg\n"};
	for (size_t i = 0; i < sizeof(badnames) / sizeof(badnames[0]); i++) {
		struct err e = {0};
		int rc;
		char *out = rewrite("Subject: s\n", "me@example.com", badnames[i], &e, &rc);
		ok(rc == -1 && e.kind == ERR_USAGE &&
		       strcmp(e.text, "read -F: control character in the full name") == 0,
		   "-F \"%s\" refused (%s)", show(badnames[i], strlen(badnames[i])), e.text);
		free(out);
	}
	static const char *const badutf8[] = {"J\xf6rg",      "\xc3",     "\xe2\x82",
	                                      "\xed\xa0\x80", "\xc0\xaf", "\xf5\x80\x80\x80"};
	for (size_t i = 0; i < sizeof(badutf8) / sizeof(badutf8[0]); i++) {
		struct err e = {0};
		int rc;
		char *out = rewrite("Subject: s\n", "me@example.com", badutf8[i], &e, &rc);
		ok(rc == -1 && e.kind == ERR_USAGE && strstr(e.text, "not valid UTF-8"),
		   "-F with invalid UTF-8 #%zu refused (%s)", i, e.text);
		free(out);
	}
	struct err e = {0};
	int rc;
	char *out = rewrite("From: a@x\n", "me@example.com", "Evil\nBcc: x", &e, &rc);
	ok(rc == -1 && e.kind == ERR_USAGE, "-F is checked even when From is present");
	free(out);
	char word[1100];
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	out = rewrite("Subject: s\n", "me@example.com", word, &e, &rc);
	ok(rc == -1 && e.kind == ERR_USAGE && strstr(e.text, "too long"),
	   "-F with a 1099-octet word refused (%s)", e.text);
	free(out);
	char *huge = malloc(5000);
	memset(huge, 'x', 4999);
	for (size_t i = 50; i < 4999; i += 50)
		huge[i] = ' ';
	huge[4999] = '\0';
	out = rewrite("Subject: s\n", "me@example.com", huge, &e, &rc);
	ok(rc == -1 && e.kind == ERR_USAGE && strstr(e.text, "over 4096 octets"),
	   "-F over 4096 octets refused (%s)", e.text);
	free(out);
	free(huge);
	char sender[200];
	memset(sender, 'l', 100);
	sender[100] = '@';
	memset(sender + 101, 'd', 98);
	sender[199] = '\0';
	out = rewrite("Subject: s\n", sender, NULL, &e, &rc);
	struct buf sb = {.data = out, .len = strlen(out)};
	char *f = field_of(&sb, "From:");
	char want[256];
	snprintf(want, sizeof(want), "From: %s\r\n", sender);
	ok(rc == 0 && f && strcmp(f, want) == 0, "a long sender is not folded off the name");
	free(f);
	free(out);
	out = rewrite("Subject: s\n", sender, "Jane Doe", &e, &rc);
	sb = (struct buf){.data = out, .len = strlen(out)};
	f = field_of(&sb, "From:");
	snprintf(want, sizeof(want), "From: Jane Doe\r\n <%s>\r\n", sender);
	ok(rc == 0 && f && strcmp(f, want) == 0, "a long sender goes on its own line (%s)",
	   f ? show(f, strlen(f)) : e.text);
	free(f);
	free(out);
	out = rewrite("Subject: s\n", "me\r\n@example.com", NULL, &e, &rc);
	ok(rc == -1 && !strstr(out, "me\r\n@"), "a sender with CR LF never reaches a header");
	free(out);
}

static void
test_8bit(void)
{
	struct msg m;
	struct err e = {0};
	struct msg_opts o = {
	    .sender = "me@x", .fullname = "J\xc3\xb6rg", .msgid_domain = "x", .remove_bcc = true};

	msg_init(&m);
	msg_parse_header(&m, S("Subject: s\n\n\xc3\xa9"), &e);
	ok(!msg_has_8bit(&m), "ASCII header, 8-bit body: header is ASCII");
	ok(msg_rewrite(&m, &o, &e) == 0 && !msg_has_8bit(&m), "an encoded From is ASCII");
	msg_parse_header(&m, S("Bcc: J\xc3\xb6rg <j@x>\nSubject: s\n\n"), &e);
	ok(msg_has_8bit(&m), "8-bit in the header as read");
	ok(msg_rewrite(&m, &o, &e) == 0 && !msg_has_8bit(&m), "gone with the Bcc");
	msg_parse_header(&m, S("Subject: \xc3\xa9\n\n"), &e);
	ok(msg_rewrite(&m, &o, &e) == 0 && msg_has_8bit(&m), "8-bit Subject");
	msg_fini(&m);
}

/* ---- the account's rewrite rules: aliases, maildomain, set_*_header, Bcc, undisclosed ---- */

static struct aliases al_def;   /* with "default" */
static struct aliases al_plain; /* without */
static struct aliases al_loop;

static const char al_def_text[] = "root: admin@example.com, ops@example.com\n"
                                  "cron: root\n"
                                  "www-data: Web Team <web@example.com>\n"
                                  "default: catchall@example.com\n";
static const char al_plain_text[] = "root: admin@example.com, ops@example.com\ncron: root\n";

#define DM "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@x>\n"
#define DM_OUT "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x>\r\n"
#define ME "me@example.com"
#define O_BASE .sender = ME, .msgid_domain = "example.com", .remove_bcc = true

struct rule_case {
	const char *what;
	const char *in;
	struct msg_opts o;
	const char *out; /* m->out */
	const char *env; /* -t recipients resolved as submit resolves them, space separated */
};

static const struct rule_case rule_cases[] = {
    /* aliases in To and Cc (msmtp changes only the envelope; postie both) */
    {"alias in To",
     HAVE_ALL "To: root\nSubject: s\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: admin@example.com, ops@example.com\r\nSubject: s\r\n\r\n",
     "admin@example.com ops@example.com"},
    {"alias in an angle address",
     HAVE_ALL "To: Root <root>, x@y.example\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: Root <admin@example.com>, <ops@example.com>, x@y.example\r\n\r\n",
     "admin@example.com ops@example.com x@y.example"},
    {"alias through an alias, in Cc",
     HAVE_ALL "Cc: cron\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "Cc: admin@example.com, ops@example.com\r\n\r\n",
     "admin@example.com ops@example.com"},
    {"alias with a comment after it",
     HAVE_ALL "To: root (the admins)\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: admin@example.com, ops@example.com (the admins)\r\n\r\n",
     "admin@example.com ops@example.com"},
    {"alias in a group",
     HAVE_ALL "To: team: www-data, root;\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: team: web@example.com, admin@example.com, ops@example.com;\r\n"
                  "\r\n",
     "web@example.com admin@example.com ops@example.com"},
    {"quoted display name with a comma",
     HAVE_ALL "To: \"Doe, Root\" <root>\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: \"Doe, Root\" <admin@example.com>, <ops@example.com>\r\n\r\n",
     "admin@example.com ops@example.com"},
    {"names in quotes and comments are not addresses",
     HAVE_ALL "To: \"root\" <x@y.example>, (root) z@y.example\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: \"root\" <x@y.example>, (root) z@y.example\r\n\r\n",
     "x@y.example z@y.example"},
    {"a folded field is unfolded and refolded",
     HAVE_ALL "To: a@x.example,\n root,\n\tb@y.example\n",
     {O_BASE, .aliases = &al_def},
     HAVE_ALL_OUT "To: a@x.example, admin@example.com, ops@example.com,\tb@y.example\r\n\r\n",
     "a@x.example admin@example.com ops@example.com b@y.example"},
    {"a field without bare names stays byte for byte",
     HAVE_ALL "To:  a@x.example ,\n b@y.example\nCc: (c) <c@z.example>\n",
     {O_BASE, .aliases = &al_def, .maildomain = "example.org"},
     HAVE_ALL_OUT "To:  a@x.example ,\r\n b@y.example\r\nCc: (c) <c@z.example>\r\n\r\n",
     "a@x.example b@y.example c@z.example"},
    {"default catches unlisted names",
     HAVE_ALL "To: bob, alice\n",
     {O_BASE, .aliases = &al_def, .maildomain = "example.org"},
     HAVE_ALL_OUT "To: catchall@example.com, catchall@example.com\r\n\r\n",
     "catchall@example.com"},
    {"without default, maildomain qualifies",
     HAVE_ALL "To: bob, root\n",
     {O_BASE, .aliases = &al_plain, .maildomain = "example.org"},
     HAVE_ALL_OUT "To: bob@example.org, admin@example.com, ops@example.com\r\n\r\n",
     "bob@example.org admin@example.com ops@example.com"},
    {"without aliases or maildomain nothing changes",
     HAVE_ALL "To: root\nCc: cron\n",
     {O_BASE},
     HAVE_ALL_OUT "To: root\r\nCc: cron\r\n\r\n",
     "root cron"},

    /* maildomain alone: recipients, and the sender's fields */
    {"maildomain in To, Cc, From, Reply-To, Sender",
     DM "From: root\nTo: root\nCc: Cron Daemon <cron>\nReply-To: www-data\n"
        "Sender: nobody\nX-Note: root\n",
     {O_BASE, .maildomain = "example.org"},
     DM_OUT "From: root@example.org\r\nTo: root@example.org\r\n"
            "Cc: Cron Daemon <cron@example.org>\r\nReply-To: www-data@example.org\r\n"
            "Sender: nobody@example.org\r\nX-Note: root\r\n\r\n",
     "root@example.org cron@example.org"},
    {"aliases never apply to From",
     DM "From: root\nTo: cron\n",
     {O_BASE, .aliases = &al_plain, .maildomain = "example.org"},
     DM_OUT "From: root@example.org\r\n"
            "To: admin@example.com, ops@example.com\r\n\r\n",
     "admin@example.com ops@example.com"},
    {"maildomain leaves addresses with a domain",
     DM "From: R <r@x.example>\nTo: a@b.example\n",
     {O_BASE, .maildomain = "example.org"},
     DM_OUT "From: R <r@x.example>\r\nTo: a@b.example\r\n\r\n",
     "a@b.example"},
    {"Resent-To is a recipient field",
     HAVE_ALL "To: old@x.example\nResent-To: cron\n",
     {O_BASE, .aliases = &al_plain},
     HAVE_ALL_OUT "To: old@x.example\r\n"
                  "Resent-To: admin@example.com, ops@example.com\r\n\r\n",
     "admin@example.com ops@example.com"},

    /* Bcc */
    {"Bcc goes, its names still resolved for the envelope",
     HAVE_ALL "To: a@x.example\nBcc: root\n",
     {O_BASE, .aliases = &al_plain},
     HAVE_ALL_OUT "To: a@x.example\r\n\r\n",
     "a@x.example admin@example.com ops@example.com"},
    {"remove_bcc_headers off keeps Bcc, rewritten",
     HAVE_ALL "Bcc: root, b@y.example\n",
     {.sender = ME, .msgid_domain = "x", .aliases = &al_plain},
     HAVE_ALL_OUT "Bcc: admin@example.com, ops@example.com, b@y.example\r\n\r\n",
     "admin@example.com ops@example.com b@y.example"},
    {"remove_bcc_headers off keeps obsolete \"Bcc :\" as it is",
     HAVE_ALL "Bcc : a@x.example,\n b@y.example\n",
     {.sender = ME, .msgid_domain = "x"},
     HAVE_ALL_OUT "Bcc : a@x.example,\r\n b@y.example\r\n\r\n",
     "a@x.example b@y.example"},

    /* undisclosed_recipients */
    {"undisclosed_recipients",
     HAVE_ALL "To: a@x.example\nCc: B <b@y.example>,\n c@z.example\nBcc: d@w.example\n"
              "Subject: s\n",
     {O_BASE, .undisclosed = true},
     HAVE_ALL_OUT "Subject: s\r\nTo: undisclosed-recipients:;\r\n\r\n",
     "a@x.example b@y.example c@z.example d@w.example"},
    {"undisclosed_recipients with Bcc kept and no To",
     HAVE_ALL "Bcc: d@w.example\nResent-To: r@x.example\n",
     {.sender = ME, .msgid_domain = "x", .undisclosed = true},
     HAVE_ALL_OUT "Resent-To: r@x.example\r\nTo: undisclosed-recipients:;\r\n\r\n",
     "r@x.example"},

    /* set_from_header */
    {"set_from_header on replaces From",
     DM "From: Someone Else\n <someone@else.example>\nTo: a@x.example\n",
     {O_BASE, .fullname = "Me", .set_from = MSG_FROM_ON},
     DM_OUT "To: a@x.example\r\nFrom: Me <me@example.com>\r\n\r\n",
     "a@x.example"},
    {"set_from_header on replaces every From, keeps Resent-From",
     DM "from: a@x.example\nResent-From: r@x.example\nFROM : b@x.example\n",
     {O_BASE, .set_from = MSG_FROM_ON},
     DM_OUT "Resent-From: r@x.example\r\nFrom: me@example.com\r\n\r\n",
     NULL},
    {"set_from_header on adds a missing From",
     DM "Subject: s\n",
     {O_BASE, .set_from = MSG_FROM_ON},
     DM_OUT "Subject: s\r\nFrom: me@example.com\r\n\r\n",
     NULL},
    {"set_from_header on with the null sender keeps the From",
     DM "From: a@x.example\n",
     {.sender = "", .msgid_domain = "x", .remove_bcc = true, .set_from = MSG_FROM_ON},
     DM_OUT "From: a@x.example\r\n\r\n",
     NULL},
    {"set_from_header off adds none",
     DM "Subject: s\n",
     {O_BASE, .fullname = "Me", .set_from = MSG_FROM_OFF},
     DM_OUT "Subject: s\r\n\r\n",
     NULL},
    {"set_from_header off keeps the message's",
     DM "From: a@x.example\n",
     {O_BASE, .set_from = MSG_FROM_OFF},
     DM_OUT "From: a@x.example\r\n\r\n",
     NULL},
    {"set_from_header auto keeps the message's",
     DM "From: a@x.example\n",
     {O_BASE, .fullname = "Me"},
     DM_OUT "From: a@x.example\r\n\r\n",
     NULL},
    {"from_full_name is named in its errors",
     DM "Subject: s\n",
     {O_BASE, .fullname = "Ann\tAdmin", .fullname_what = "from_full_name"},
     "read from_full_name: control character in the full name",
     NULL},

    /* set_date_header, set_msgid_header */
    {"set_date_header off",
     "From: f@x\nMessage-ID: <1@x>\n",
     {O_BASE, .no_date = true},
     "From: f@x\r\nMessage-ID: <1@x>\r\n\r\n",
     NULL},
    {"set_msgid_header off",
     "From: f@x\nDate: d\n",
     {O_BASE, .no_msgid = true},
     "From: f@x\r\nDate: d\r\n\r\n",
     NULL},
    {"both off, nothing added",
     "Subject: s\n",
     {O_BASE, .no_date = true, .no_msgid = true, .set_from = MSG_FROM_OFF},
     "Subject: s\r\n\r\n",
     NULL},
    {"both off keep what is there",
     HAVE_ALL,
     {O_BASE, .no_date = true, .no_msgid = true},
     HAVE_ALL_OUT "\r\n",
     NULL},

    /* all at once */
    {"everything together",
     "From: root\nTo: root, x@y.example\nCc: cron\nBcc: b@y.example\nSubject: s\n",
     {O_BASE, .fullname = "Cron", .set_from = MSG_FROM_ON, .no_date = true, .no_msgid = true,
      .undisclosed = true, .aliases = &al_plain, .maildomain = "example.org"},
     "Subject: s\r\nFrom: Cron <me@example.com>\r\nTo: undisclosed-recipients:;\r\n\r\n",
     "admin@example.com ops@example.com x@y.example b@y.example"},
};

static void
test_rules(void)
{
	aliases_parse(&al_def, "def", S(al_def_text), NULL);
	aliases_parse(&al_plain, "plain", S(al_plain_text), NULL);
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *c = &rule_cases[i];
		struct msg m;
		struct err e = {0};

		msg_init(&m);
		msg_parse_header(&m, c->in, strlen(c->in), &e);
		int rc = msg_rewrite(&m, &c->o, &e);
		const char *got = rc == 0 ? m.out.data : e.text;
		ok(got && strcmp(got, c->out) == 0, "%s", c->what);
		if (!got || strcmp(got, c->out) != 0)
			printf("#   got  \"%s\"\n#   want \"%s\"\n",
			       got ? show(got, strlen(got)) : "", show(c->out, strlen(c->out)));
		if (c->env) {
			struct addr_list l = {0}, env = {0};
			struct buf joined;
			buf_init(&joined, 4096);
			buf_puts(&joined, "", NULL);
			rc = msg_recipients(&m, &l, &e);
			for (size_t j = 0; j < l.n && rc == 0; j++)
				rc = aliases_resolve(c->o.aliases, c->o.maildomain, l.v[j], &env,
				                     &e);
			for (size_t j = 0; j < env.n; j++)
				buf_printf(&joined, NULL, "%s%s", j ? " " : "", env.v[j]);
			ok(rc == 0 && strcmp(joined.data, c->env) == 0, "  envelope: %s (got %s)",
			   c->env, rc == 0 ? joined.data : e.text);
			buf_fini(&joined);
			addr_list_fini(&l);
			addr_list_fini(&env);
		}
		msg_fini(&m);
	}

	/* A field that grows past 78 columns is folded again, and unfolds to the whole. */
	struct msg m;
	struct err e = {0};
	struct msg_opts o = {O_BASE, .aliases = &al_plain};
	msg_init(&m);
	msg_parse_header(&m,
	                 S(HAVE_ALL "To: root, cron, someone.with.a.long.name@example.org, "
	                            "root, another.long.address@example.org\n"),
	                 &e);
	ok(msg_rewrite(&m, &o, &e) == 0, "a long field is rewritten");
	char *f = field_of(&m.out, "To:");
	char unf[1024];
	size_t k = 0;
	for (const char *p = f; p && *p && k < sizeof(unf) - 1; p++)
		if (*p != '\r' && *p != '\n')
			unf[k++] = *p;
	unf[k] = '\0';
	ok(f && lines_within(f, 78) && strstr(f, "\r\n ") &&
	       strcmp(unf, "To: admin@example.com, ops@example.com, admin@example.com, "
	                   "ops@example.com, someone.with.a.long.name@example.org, "
	                   "admin@example.com, ops@example.com, "
	                   "another.long.address@example.org") == 0,
	   "  folded within 78 columns, unfolds to the whole (%s)", f ? show(f, strlen(f)) : "");
	free(f);

	/* Errors from the aliases file come through (a loop is the profile's fault). */
	aliases_parse(&al_loop, "loop", S("a: b\nb: a\n"), NULL);
	o.aliases = &al_loop;
	msg_parse_header(&m, S(HAVE_ALL "Cc: a\n"), &e);
	err_clear(&e);
	ok(msg_rewrite(&m, &o, &e) == -1 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "expand alias a: loop a -> b -> a"),
	   "an alias loop in Cc is an error (%s)", e.text);
	/* A bare name that is no valid local part is left for the server (without -t). */
	o.aliases = &al_plain;
	o.maildomain = "example.org";
	msg_parse_header(&m, S(HAVE_ALL "To: -oQ, bob\n"), &e);
	int rc = msg_rewrite(&m, &o, &e);
	ok(rc == 0 && strstr(m.out.data, "To: -oQ, bob@example.org\r\n"),
	   "an invalid name is left alone, the next one rewritten (%s)",
	   show(m.out.data, m.out.len));
	msg_fini(&m);
	aliases_fini(&al_def);
	aliases_fini(&al_plain);
	aliases_fini(&al_loop);
}

static void
test_sender(void)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: refused */
		const char *reason;
	} cases[] = {
	    {"From: a@x.example\n", "a@x.example", NULL},
	    {"Subject: s\nfrom :\n Ann <ann@x.example>, bob@y.example\nFrom: c@z.example\n",
	     "ann@x.example", NULL},
	    {"From: Jörg <j@bücher.example>\n", "j@xn--bcher-kva.example", NULL},
	    {"From: root\n", "root", NULL},
	    {"Sender: s@x.example\n\nFrom: body@x.example\n", NULL, "the message has none"},
	    {"From: group:;\n", NULL, "no address in it"},
	    {"From: bad address\n", NULL, "read From field: check address \"bad address\""},
	    {"From: a@x.example\r\nBcc: evil@x\r\n", "a@x.example", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg m;
		struct err e = {0};
		char *out = NULL;
		msg_init(&m);
		msg_parse_header(&m, cases[i].in, strlen(cases[i].in), &e);
		int rc = msg_sender(&m, &out, &e);
		if (cases[i].want)
			ok(rc == 0 && out && strcmp(out, cases[i].want) == 0,
			   "--read-envelope-from \"%s\" gives %s (%s)",
			   show(cases[i].in, strlen(cases[i].in)), cases[i].want,
			   rc == 0 ? out : e.text);
		else
			ok(rc == -1 && e.kind == ERR_DATA && strstr(e.text, cases[i].reason),
			   "--read-envelope-from \"%s\" refused (%s)",
			   show(cases[i].in, strlen(cases[i].in)), e.text);
		free(out);
		msg_fini(&m);
	}
}

static void
test_msgid(void)
{
	struct msg m;
	struct err e = {0};
	struct msg_opts o = {O_BASE};

	msg_init(&m);
	msg_parse_header(&m, S("Subject: s\nMessage-Id:\n  <given@x.example> \n"), &e);
	char *id = msg_msgid(&m);
	ok(id && strcmp(id, "<given@x.example>") == 0, "msg_msgid unfolds and trims (%s)",
	   id ? id : "NULL");
	free(id);
	msg_parse_header(&m, S("Subject: s\n"), &e);
	id = msg_msgid(&m);
	ok(id == NULL, "no Message-ID: NULL");
	free(id);
	ok(msg_rewrite(&m, &o, &e) == 0, "rewrite adds one");
	id = msg_msgid(&m);
	ok(id && id[0] == '<' && strstr(id, "@example.com>"), "msg_msgid finds the added one (%s)",
	   id ? id : "NULL");
	free(id);
	msg_fini(&m);
}

/* header.h on its own: the scanner in pieces, the field walk and the unfolded value. */
static void
test_header_module(void)
{
	static const char text[] = "Subject: a\r\n b\nX-Y :z\n\nbody";
	struct buf head, rest;
	struct header_scan s;
	struct header_field f;
	struct err e;
	size_t pos = 0, len = 0;
	bool fed = true;

	buf_init(&head, BUF_MAX_HEADER + 1024);
	buf_init(&rest, 1024);
	header_scan_start(&s, &head, &rest);
	/* Split after the CR of the first line end: the CR waits for its LF. */
	fed = header_scan_feed(&s, text, 11, &e) == 0 && !header_scan_done(&s) &&
	      header_scan_feed(&s, text + 11, sizeof(text) - 12, &e) == 0;
	ok(fed && header_scan_done(&s) && s.body_sep, "the scanner, in two pieces");
	ok(head.len == 22 && strcmp(rest.data, "body") == 0, "header and rest split (%zu)",
	   head.len);
	ok(header_field_next(&head, &pos, &f) && header_field_is(&f, "subject"),
	   "first field, name in any case");
	char *v = header_unfold(&head, &f, &len);
	ok(strcmp(v, " a b") == 0 && len == 4, "unfolded: \"%s\"", v);
	free(v);
	ok(header_field_next(&head, &pos, &f) && f.name_len == 3 && header_field_is(&f, "X-Y"),
	   "WSP before the colon is not part of the name");
	ok(!header_field_next(&head, &pos, &f), "two fields");
	buf_fini(&head);
	buf_fini(&rest);
}

int
main(void)
{
	test_header_module();
	test_scan_table();
	test_scan_long_name();
	test_nul();
	test_bare_cr();
	test_ceiling();
	test_recipients();
	test_has_field();
	test_rewrite_table();
	test_added();
	test_names();
	test_8bit();
	test_rules();
	test_sender();
	test_msgid();
	return tap_done();
}
