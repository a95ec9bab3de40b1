/* Unit tests for src/profile.c: msmtp syntax, inheritance, secure defaults, SEC-9/14/24. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"
#include "tests/lib/tap.h"

#define RC "test.rc"

static struct err e;

/* Parse TEXT as the file "test.rc" into P (which the caller frees). */
static int
parse(struct profile *p, const char *text, bool private)
{
	err_clear(&e);
	return profile_parse(p, RC, text, strlen(text), private, &e);
}

/* Parse TEXT into a throw-away profile and return the error text ("" on success). */
static const char *
parse_error(const char *text, bool private)
{
	struct profile p = {0};
	int r = parse(&p, text, private);

	profile_fini(&p);
	return r < 0 ? e.text : "";
}

static bool
eq(const char *got, const char *want)
{
	if (!got || !want)
		return got == want;
	return strcmp(got, want) == 0;
}

static bool
has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* ---- a real ~/.msmtprc ---- */

static const char msmtprc[] = "# Set default values for all following accounts.\n"
                              "defaults\n"
                              "auth           on\n"
                              "tls            on\n"
                              "tls_trust_file /etc/ssl/certs/ca-certificates.crt\n"
                              "\n"
                              "# Gmail\n"
                              "account        gmail\n"
                              "host           smtp.gmail.com\n"
                              "port           587\n"
                              "from           username@gmail.com\n"
                              "user           username\n"
                              "password       plain-text-password\n"
                              "\n"
                              "# A freemail service\n"
                              "account        freemail\n"
                              "host           smtp.freemail.example\n"
                              "from           joe_smith@freemail.example\n"
                              "user           joe.smith\n"
                              "passwordeval   \"gpg --no-tty -q -d ~/.msmtp-password.gpg\"\n"
                              "\n"
                              "# The office, through the same provider\n"
                              "account work : freemail\n"
                              "host           mail.work.example\n"
                              "from           Joe.Smith@Work.Example\n"
                              "tls_starttls   off\n"
                              "\n"
                              "# Set a default account\n"
                              "account default : gmail\n";

static void
test_real_world(void)
{
	struct profile p = {0};
	struct account *g, *f, *w;

	ok(parse(&p, msmtprc, true) == 0, "real ~/.msmtprc parses (%s)", e.text);
	ok(p.n == 3, "three accounts (default is an alias), got %zu", p.n);
	ok(eq(p.default_name, "gmail"), "account default : gmail sets default_name");
	g = profile_find(&p, "gmail");
	f = profile_find(&p, "freemail");
	w = profile_find(&p, "work");
	ok(g && f && w, "all accounts found");
	if (!g || !f || !w)
		goto out;
	ok(profile_find(&p, "default") == g, "'default' resolves to gmail");
	ok(eq(g->host, "smtp.gmail.com") && g->port == 587 && eq(g->from, "username@gmail.com") &&
	       eq(g->user, "username") && eq(g->password, "plain-text-password"),
	   "gmail settings");
	ok(g->auth && g->auth_mech == NULL, "auth on from the defaults, mechanism automatic");
	ok(eq(g->tls_trust_file, "/etc/ssl/certs/ca-certificates.crt"), "trust file from defaults");
	ok(eq(g->file, RC) && g->line == 8, "gmail remembers %s:%u", g->file, g->line);
	ok(eq(f->passwordeval, "gpg --no-tty -q -d ~/.msmtp-password.gpg"),
	   "quoted passwordeval kept whole, no tilde expansion in a command");
	ok(eq(w->user, "joe.smith") && eq(w->passwordeval, f->passwordeval),
	   "work inherits user and passwordeval from freemail");
	ok(eq(w->host, "mail.work.example") && !w->tls_starttls && f->tls_starttls,
	   "work's own lines win, parent unchanged");
	ok((w->set & PROFILE_SET_USER) && (w->set & PROFILE_SET_TLS_STARTTLS) &&
	       (w->set & PROFILE_SET_TLS) && !(w->set & PROFILE_SET_PORT),
	   "set mask: own, parent and defaults bits; not port");
	ok(profile_port(w) == 465 && profile_port(f) == 587, "derived ports 465 / 587");
	ok(profile_find_by_from(&p, "joe.smith@work.example") == w,
	   "find by from is case-insensitive");
	ok(profile_find_by_from(&p, "nobody@example.org") == NULL, "unknown from: NULL");
	ok(profile_find(&p, "nope") == NULL, "unknown account: NULL");
out:
	profile_fini(&p);
	ok(p.n == 0 && p.accounts == NULL && p.default_name == NULL, "profile_fini empties");
}

/* ---- syntax ---- */

struct value_case {
	const char *line; /* one line after "account a" */
	const char *want; /* the password it gives */
};

static const struct value_case quoting[] = {
    {"password \"  two words  \"", "  two words  "},
    {"password \"a\\\"b\"", "a\"b"},
    {"password \"a\\\\b\"", "a\\b"},
    {"password \"a\\nb\"", "a\\nb"},
    {"password \"ends in \\\"", "ends in \\"},
    {"password \"\\\\\"", "\\"},
    {"password abc#def", "abc#def"},
    {"password \"#not a comment\"", "#not a comment"},
    {"password a\"b\"c", "a\"b\"c"},
    {"password \"unterminated", "\"unterminated"},
    {"password \"in\"side\"", "in\"side"},
    {"password\t \tsp ace\t ", "sp ace"},
    {"  password   x  ", "x"},
    {"password \"\"", NULL},
    {"password", NULL},
};

static void
test_quoting(void)
{
	for (size_t i = 0; i < sizeof(quoting) / sizeof(quoting[0]); i++) {
		char text[256];
		struct profile p = {0};
		snprintf(text, sizeof(text), "account a\n%s\n", quoting[i].line);
		int r = parse(&p, text, true);
		struct account *a = profile_find(&p, "a");
		ok(r == 0 && a && eq(a->password, quoting[i].want), "quoting: [%s]",
		   quoting[i].line);
		profile_fini(&p);
	}
}

static void
test_comments_blank_crlf(void)
{
	struct profile p = {0};
	struct account *a;

	ok(parse(&p,
	         "# top\n\n   \t\n  # indented comment\naccount a\n#host commented.example\n"
	         "host real.example\n\t# tab comment\nport 25 \n",
	         true) == 0,
	   "comments and blank lines (%s)", e.text);
	a = profile_find(&p, "a");
	ok(a && eq(a->host, "real.example") && a->port == 25, "commented host ignored");
	profile_fini(&p);

	ok(parse(&p,
	         "defaults\r\ntls_starttls off\r\naccount a\r\nhost h.example\r\n"
	         "password \"pw\"\r\nfrom a@b.example\r\n\r\n# c\r\n",
	         true) == 0,
	   "CRLF file parses (%s)", e.text);
	a = profile_find(&p, "a");
	ok(a && eq(a->host, "h.example") && eq(a->password, "pw") && eq(a->from, "a@b.example") &&
	       !a->tls_starttls,
	   "SEC-24: trailing CR stripped from every value");
	profile_fini(&p);

	ok(parse(&p, "account a\nhost h.example", true) == 0 && profile_find(&p, "a") &&
	       eq(profile_find(&p, "a")->host, "h.example"),
	   "last line without newline");
	profile_fini(&p);

	ok(parse(&p, "", true) == 0 && p.n == 0, "empty file: no accounts");
	profile_fini(&p);
}

/* ---- every command ---- */

static void
test_commands(void)
{
	struct profile p = {0};
	struct account *a;
	const char *text = "account a\n"
	                   "host smtp.example.org\n"
	                   "port 2525\n"
	                   "from me@example.org\n"
	                   "domain client.example.org\n"
	                   "user me\n"
	                   "password secret\n"
	                   "passwordeval pass show mail\n"
	                   "auth scram-sha-256\n"
	                   "tls off\n"
	                   "tls_starttls off\n"
	                   "tls_trust_file /etc/ca.pem\n"
	                   "tls_fingerprint 00112233445566778899AABBCCDDEEFF"
	                   "00112233445566778899aabbccddeeff\n"
	                   "tls_certcheck off\n"
	                   "tls_host_override mx.example.org\n"
	                   "tls_priorities NORMAL:-VERS-ALL:+VERS-TLS1.3\n"
	                   "timeout 30\n";

	ok(parse(&p, text, true) == 0, "every command parses (%s)", e.text);
	a = profile_find(&p, "a");
	if (!a) {
		ok(0, "account a exists");
		profile_fini(&p);
		return;
	}
	ok(eq(a->host, "smtp.example.org"), "host");
	ok(a->port == 2525 && profile_port(a) == 2525, "port");
	ok(eq(a->from, "me@example.org"), "from");
	ok(eq(a->domain, "client.example.org"), "domain");
	ok(eq(a->user, "me"), "user");
	ok(eq(a->password, "secret"), "password");
	ok(eq(a->passwordeval, "pass show mail"), "passwordeval");
	ok(a->auth && eq(a->auth_mech, "SCRAM-SHA-256"), "auth mechanism stored upper case");
	ok(!a->tls && !a->tls_starttls && !a->tls_certcheck,
	   "tls, tls_starttls, tls_certcheck off");
	ok(eq(a->tls_trust_file, "/etc/ca.pem"), "tls_trust_file");
	ok(eq(a->tls_fingerprint,
	      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
	   "tls_fingerprint normalised to lower case");
	ok(eq(a->tls_host_override, "mx.example.org"), "tls_host_override");
	ok(eq(a->tls_priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3"), "tls_priorities");
	ok(a->timeout == 30, "timeout");
	ok(a->set == 0xffffu, "every PROFILE_SET_ bit set (0x%llx)", (unsigned long long)a->set);
	profile_fini(&p);

	/* Arguments msmtp allows to be empty or spelled otherwise. */
	ok(parse(&p,
	         "defaults\ntls off\ntls_certcheck off\ntls_starttls off\n"
	         "account a\ntls\ntls_starttls\ntls_certcheck\nauth\ntimeout off\n"
	         "tls_trust_file system\nconnect_timeout 9\n"
	         "account b\ntls on\nauth login\ntls_trust_file\ndomain\nfrom\nuser\n"
	         "tls_fingerprint\ntls_host_override\ntls_priorities\n"
	         "account c\nauth plain\nauth off\n",
	         true) == 0,
	   "empty arguments (%s)", e.text);
	a = profile_find(&p, "a");
	ok(a && a->tls && a->tls_starttls && a->tls_certcheck,
	   "empty argument means on (tls, tls_starttls, tls_certcheck)");
	ok(a && a->auth && a->auth_mech == NULL, "empty auth means on, automatic");
	ok(a && a->timeout == 9 && a->tls_trust_file == NULL,
	   "connect_timeout alias; 'system' trust file is NULL");
	a = profile_find(&p, "b");
	ok(a && a->tls && eq(a->auth_mech, "LOGIN") && a->tls_trust_file == NULL &&
	       (a->set & PROFILE_SET_TLS_TRUST_FILE),
	   "auth login; empty trust file means system");
	ok(a && eq(a->domain, "localhost") && !a->from && !a->user && !a->tls_fingerprint &&
	       !a->tls_host_override && !a->tls_priorities,
	   "empty arguments unset strings");
	a = profile_find(&p, "c");
	ok(a && !a->auth && !a->auth_mech, "auth off after auth plain clears the mechanism");
	profile_fini(&p);
}

/* ---- errors: every message, with its FILE:LINE ---- */

struct error_case {
	const char *text;
	const char *want; /* a part of the message */
};

static const struct error_case errors[] = {
    {"account a\nhots smtp.example\n", RC ":2: unknown command 'hots'; did you mean 'host'?"},
    {"account a\npasword x\n", "unknown command 'pasword'; did you mean 'password'?"},
    {"account a\ntls_startls on\n", "'tls_startls'; did you mean 'tls_starttls'?"},
    {"acount a\n", "unknown command 'acount'; did you mean 'account'?"},
    {"account a\nPasswordEval x\n", "'PasswordEval'; did you mean 'passwordeval'?"},
    {"host smtp.example\n", RC ":1: first command must be 'account' or 'defaults'"},
    {"\n# c\nlogfile x\n", RC ":3: first command must be 'account' or 'defaults'"},
    {"account a\nport\n", RC ":2: command 'port' needs an argument"},
    {"account a\nhost\n", RC ":2: command 'host' needs an argument"},
    {"account a\nhost \"\"\n", RC ":2: command 'host' needs an argument"},
    {"account a\ntimeout\n", RC ":2: command 'timeout' needs an argument"},
    {"account a\nport 0\n", RC ":2: invalid argument '0' for command 'port'"},
    {"account a\nport 65536\n", RC ":2: invalid argument '65536' for command 'port'"},
    {"account a\nport -25\n", RC ":2: invalid argument '-25' for command 'port'"},
    {"account a\nport 25x\n", RC ":2: invalid argument '25x' for command 'port'"},
    {"account a\nport 99999999999999999999999\n", "for command 'port'"},
    {"account a\ntimeout 0\n", RC ":2: invalid argument '0' for command 'timeout'"},
    {"account a\ntimeout soon\n", "expected off or a number of seconds"},
    {"account a\ntls maybe\n", RC ":2: invalid argument 'maybe' for command 'tls'"},
    {"account a\ntls ON\n", RC ":2: invalid argument 'ON' for command 'tls'"},
    {"account a\ntls_starttls yes\n", "for command 'tls_starttls': expected on or off"},
    {"account a\ntls_certcheck 0\n", "for command 'tls_certcheck'"},
    {"account a\nauth pl ain\n", RC ":2: invalid argument 'pl ain' for command 'auth'"},
    {"account a\nauth abcdefghijklmnopqrstu\n", "for command 'auth'"},
    {"account a\ntls_fingerprint 12:34\n", RC ":2: invalid argument '12:34' for command "
                                              "'tls_fingerprint'"},
    {"defaults x\n", RC ":1: command 'defaults' takes no argument"},
    {"account\n", RC ":1: command 'account' needs an argument"},
    {"account : a\n", RC ":1: command 'account' needs an argument"},
    {"account a,b\n", RC ":1: account name 'a,b' must not contain ','"},
    {"account a\naccount b\naccount a\n", RC ":3: account 'a' is already defined at line 1"},
    {"account b : nope\n", RC ":1: account 'b' inherits from 'nope', which is not defined"},
    {"account a\naccount b : a, nope\n", "inherits from 'nope'"},
    {"account a\naccount b : a,\n", RC ":2: account 'b': missing account name"},
    {"account a\nhost a\x01\r\rb\n", RC ":2: carriage return inside a line"},
    {"account a\nhost x\r\r\n", RC ":2: carriage return inside a line"},
    {"account a\nhost x\n", ""},
};

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		const char *got = parse_error(errors[i].text, true);
		if (errors[i].want[0])
			ok(has(got, errors[i].want) && e.kind == ERR_CONFIG,
			   "error %zu: [%s] in [%s]", i, errors[i].want, got);
		else
			ok(got[0] == '\0', "no error: [%s]", got);
	}

	/* A NUL byte anywhere makes the whole file an error, with the line it is on. */
	static const char nul[] = "account a\nhost x\npass\0word y\n";
	struct profile p = {0};
	ok(profile_parse(&p, RC, nul, sizeof(nul) - 1, true, &e) < 0 &&
	       has(e.text, RC ":3: NUL byte"),
	   "NUL byte refused: %s", e.text);
	ok(p.n == 0, "a failed file adds nothing");

	/* A failing file leaves what was loaded before untouched. */
	ok(parse(&p, "account keep\nhost k\n", true) == 0, "first file");
	ok(parse(&p, "account keep\nhost changed\naccount x\nport none\n", true) < 0 && p.n == 1 &&
	       eq(p.accounts[0]->host, "k"),
	   "second, broken file changes nothing");
	profile_fini(&p);

	/* A long unknown word is cut in the message. */
	char longcmd[300];
	memset(longcmd, 'x', sizeof(longcmd));
	memcpy(longcmd, "account a\n", 10);
	longcmd[sizeof(longcmd) - 1] = '\0';
	ok(has(parse_error(longcmd, true), "unknown command 'xxxx") && has(e.text, "...'") &&
	       strlen(e.text) < 120,
	   "long unknown command shortened");
	/* Nothing near: no suggestion; a word of one or two letters gets one edit at most. */
	ok(has(parse_error("account a\nxyzzy 1\n", true), "unknown command 'xyzzy'") &&
	       !has(e.text, "did you mean"),
	   "nothing near: no suggestion (%s)", e.text);
	ok(!has(parse_error("account a\nhx 1\n", true), "did you mean"),
	   "two letters: nothing is one edit away (%s)", e.text);
}

/* ---- SEC-9: fingerprints ---- */

struct fpr_case {
	const char *arg;
	const char *want; /* normalised, or NULL for an error */
	const char *msg;  /* part of the error */
};

#define FPR_LOW "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static const struct fpr_case fprs[] = {
    {"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", FPR_LOW, NULL},
    {"9f86d081884C7D659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", FPR_LOW, NULL},
    {"9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:"
     "B0:F0:0A:08",
     FPR_LOW, NULL},
    {"\"9f:86:d0:81:88:4c:7d:65:9a:2f:ea:a0:c5:5a:d0:15:a3:bf:4f:1b:2b:0b:82:2c:d1:5d:6c:15:"
     "b0:f0:0a:08\"",
     FPR_LOW, NULL},
    {"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33", NULL, "SHA-1"},
    {"00112233445566778899AABBCCDDEEFF00112233", NULL, "use the SHA-256 fingerprint"},
    {"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF", NULL, "MD5"},
    {"9F:86D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:"
     "F0:0A:08",
     NULL, "expected a SHA-256 fingerprint"},
    {"9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:"
     "B0:F0:0A:08:",
     NULL, "expected a SHA-256"},
    {"9g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", NULL, "expected"},
    {FPR_LOW "00", NULL, "expected a SHA-256"},
};

static void
test_fingerprints(void)
{
	for (size_t i = 0; i < sizeof(fprs) / sizeof(fprs[0]); i++) {
		char text[512];
		struct profile p = {0};
		snprintf(text, sizeof(text), "account a\ntls_fingerprint %s\n", fprs[i].arg);
		int r = parse(&p, text, true);
		if (fprs[i].want) {
			struct account *a = profile_find(&p, "a");
			ok(r == 0 && a && eq(a->tls_fingerprint, fprs[i].want),
			   "fingerprint %zu normalised", i);
		} else {
			ok(r < 0 && has(e.text, RC ":2:") && has(e.text, fprs[i].msg),
			   "fingerprint %zu refused: %s", i, e.text);
		}
		profile_fini(&p);
	}
}

/* ---- defaults (unlike msmtp: TLS on, verified) ---- */

static void
test_defaults(void)
{
	struct profile p = {0};
	struct account *a;

	ok(parse(&p,
	         "account bare\nhost h\n"
	         "account implicit\ntls_starttls off\n"
	         "account plain\ntls off\n"
	         "account plain_implicit\ntls off\ntls_starttls off\n"
	         "account withuser\nuser u\n"
	         "account useroff\nuser u\nauth off\n"
	         "defaults\nauth off\n"
	         "account d_off\nuser u\n"
	         "defaults\nauth on\n"
	         "account d_on\n"
	         "defaults\nuser du\nauth\n"
	         "account d_user\n",
	         true) == 0,
	   "default cases parse (%s)", e.text);
	a = profile_find(&p, "bare");
	ok(a && a->tls && a->tls_starttls && a->tls_certcheck, "tls, starttls, certcheck on");
	ok(a && !a->tls_trust_file && !a->tls_fingerprint && !a->tls_priorities &&
	       !a->tls_host_override,
	   "system store, no pin, built-in priorities");
	ok(a && eq(a->domain, "localhost") && a->port == 0 && a->timeout == 0,
	   "domain localhost, port 0, timeout 0");
	ok(a && !a->auth && !a->auth_mech && !a->user && !a->password && !a->from,
	   "no auth without a user");
	ok(a && profile_port(a) == 587, "port 587 with STARTTLS");
	ok(a && a->set == PROFILE_SET_HOST, "only the host bit is set");
	a = profile_find(&p, "implicit");
	ok(a && profile_port(a) == 465, "port 465 with implicit TLS");
	a = profile_find(&p, "plain");
	ok(a && profile_port(a) == 25, "port 25 without TLS");
	a = profile_find(&p, "plain_implicit");
	ok(a && profile_port(a) == 25, "port 25 without TLS whatever tls_starttls says");
	a = profile_find(&p, "withuser");
	ok(a && a->auth, "auth on when a user is set");
	a = profile_find(&p, "useroff");
	ok(a && !a->auth, "explicit auth off wins over a user");
	a = profile_find(&p, "d_off");
	ok(a && !a->auth, "auth off from the defaults wins over the account's user");
	a = profile_find(&p, "d_on");
	ok(a && a->auth && !a->user, "auth on from the defaults without a user");
	a = profile_find(&p, "d_user");
	ok(a && a->auth && eq(a->user, "du"), "user from the defaults");
	profile_fini(&p);
}

/* ---- inheritance as msmtp does it ---- */

static void
test_inheritance(void)
{
	struct profile p = {0};
	struct account *a;

	ok(parse(&p,
	         "defaults\nport 2525\n"
	         "account one\nhost one.example\nfrom one@example\n"
	         "account two\nhost two.example\nuser two\n"
	         "defaults\nport 26\ntimeout 7\n"
	         "account both : one, two\n"
	         "account rev : two,one\nfrom rev@example\n"
	         "account grand : both\n",
	         true) == 0,
	   "inheritance parses (%s)", e.text);
	a = profile_find(&p, "both");
	ok(a && eq(a->host, "two.example") && eq(a->from, "one@example") && eq(a->user, "two"),
	   "several parents: later parents win, earlier ones fill in");
	ok(a && a->port == 26 && a->timeout == 7,
	   "a parent's values from older defaults are not copied (msmtp's set mask)");
	ok(a && a->auth, "inherited user turns auth on");
	a = profile_find(&p, "rev");
	ok(a && eq(a->host, "one.example") && eq(a->from, "rev@example"), "order of parents");
	a = profile_find(&p, "grand");
	ok(a && eq(a->host, "two.example") && eq(a->user, "two") && eq(a->from, "one@example"),
	   "grandparent settings pass through");
	a = profile_find(&p, "one");
	ok(a && eq(a->from, "one@example") && a->port == 2525, "parents unchanged");
	profile_fini(&p);

	/* account default : NAME with lines of its own stays a real account. */
	ok(parse(&p,
	         "account g\nhost g.example\nfrom g@example\n"
	         "account default : g\nfrom other@example\n",
	         true) == 0,
	   "default with own lines");
	a = profile_find(&p, "default");
	ok(a && eq(a->name, "default") && eq(a->host, "g.example") &&
	       eq(a->from, "other@example") && p.default_name == NULL,
	   "it is a copy named default with its own from");
	profile_fini(&p);

	/* A literal account named default. */
	ok(parse(&p, "account x\nhost x\naccount default\nhost d.example\n", true) == 0 &&
	       profile_find(&p, "default") && eq(profile_find(&p, "default")->host, "d.example"),
	   "an account literally named default");
	profile_fini(&p);

	/* The defaults changed between NAME and "account default : NAME": keep a real copy. */
	ok(parse(&p, "account g\nhost g\ndefaults\nport 99\naccount default : g\n", true) == 0 &&
	       p.default_name == NULL && profile_find(&p, "default") &&
	       profile_find(&p, "default")->port == 99,
	   "default differing from its parent is a copy");
	profile_fini(&p);

	/* Another account may inherit from the default alias. */
	ok(parse(&p, "account g\nhost g\naccount default : g\naccount h : default\n", true) == 0 &&
	       eq(p.default_name, "g") && profile_find(&p, "h") &&
	       eq(profile_find(&p, "h")->host, "g"),
	   "inheriting from account default");
	profile_fini(&p);
}

/* ---- later files replace accounts ---- */

static void
test_override(void)
{
	struct profile p = {0};
	struct account *a;

	static const char sys[] = "account a\nhost sys-a\naccount b\nhost sys-b\n"
	                          "account default\nhost sys-default\n";
	static const char user[] = "account b\nhost user-b\naccount c\nhost user-c\n"
	                           "account default : c\n";
	ok(profile_parse(&p, "sys", sys, sizeof(sys) - 1, true, &e) == 0 &&
	       profile_parse(&p, "user", user, sizeof(user) - 1, true, &e) == 0,
	   "two files parse");
	a = profile_find(&p, "b");
	ok(a && eq(a->host, "user-b") && eq(a->file, "user"), "user account replaces system one");
	a = profile_find(&p, "a");
	ok(a && eq(a->host, "sys-a") && eq(a->file, "sys"), "other system accounts stay");
	ok(p.n == 3, "a, b, c: the system's default was dropped for the user's (%zu)", p.n);
	a = profile_find(&p, "default");
	ok(a && eq(a->name, "c"), "default follows the later file");

	static const char user2[] = "account default\nhost literal\n";
	ok(profile_parse(&p, "user2", user2, sizeof(user2) - 1, true, &e) == 0 &&
	       p.default_name == NULL && eq(profile_find(&p, "default")->host, "literal"),
	   "a later literal default replaces the alias");
	profile_fini(&p);
}

/* ---- files, permissions (SEC-14), tilde ---- */

static char tmpdir[] = "/tmp/postie-profile-XXXXXX";

static char *
path_in(const char *name)
{
	static char buf[4][512];
	static int k;
	char *s = buf[k++ % 4];
	snprintf(s, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return s;
}

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		perror(path);
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
}

static int
load(struct profile *p, const char *sys, const char *user)
{
	err_clear(&e);
	return profile_load(p, sys, user, &e);
}

static void
test_files(void)
{
	struct profile p = {0};
	const char *pw = "account a\nhost h\npassword hunter2-secret\n";
	const char *pe = "account a\nhost h\npasswordeval echo hunter2\n";
	const char *nopw = "account a\nhost h\nuser u\n";
	char *f = strdup(path_in("rc"));

	write_file(f, pw, strlen(pw), 0644);
	ok(load(&p, NULL, f) < 0 && e.kind == ERR_CONFIG, "SEC-14: 0644 with password refused");
	ok(has(e.text, "chmod 600 ") && has(e.text, f) && has(e.text, ":3: 'password'"),
	   "message names FILE:LINE and says what to run: %s", e.text);
	ok(!has(e.text, "hunter2"), "the message does not show the password");
	ok(p.n == 0, "nothing loaded");

	write_file(f, pw, strlen(pw), 0600);
	ok(load(&p, NULL, f) == 0 && p.n == 1 && eq(p.accounts[0]->password, "hunter2-secret"),
	   "0600 with password loads (%s)", e.text);
	profile_fini(&p);

	write_file(f, pw, strlen(pw), 0400);
	ok(load(&p, NULL, f) == 0, "0400 with password loads");
	profile_fini(&p);

	write_file(f, pe, strlen(pe), 0640);
	ok(load(&p, NULL, f) < 0 && has(e.text, "'passwordeval'") && has(e.text, "mode 0640"),
	   "0640 with passwordeval refused: %s", e.text);
	profile_fini(&p);

	write_file(f, pw, strlen(pw), 0602);
	ok(load(&p, NULL, f) < 0, "0602 (others may write) with password refused");
	profile_fini(&p);

	write_file(f, nopw, strlen(nopw), 0644);
	ok(load(&p, NULL, f) == 0 && p.n == 1, "0644 without password loads");
	profile_fini(&p);

	write_file(f, "account a\npassword\n", 19, 0644);
	ok(load(&p, NULL, f) == 0, "an empty password line holds no secret");
	profile_fini(&p);

	write_file(f, pw, strlen(pw), 0600);
	if (geteuid() == 0) {
		ok(chown(f, 65534, 65534) == 0, "chown to nobody");
		const char *old_home = getenv("HOME");
		char *saved = old_home ? strdup(old_home) : NULL;
		setenv("HOME", tmpdir, 1);
		ok(load(&p, NULL, f) < 0 && has(e.text, "belongs to uid 65534") &&
		       has(e.text, "run `chown "),
		   "SEC-14: root refuses someone else's file in its home, says chown: %s", e.text);
		profile_fini(&p);
		/* Outside the home the file may be shared: no user is told to take it. */
		setenv("HOME", "/nonexistent-home", 1);
		ok(load(&p, NULL, f) < 0 && has(e.text, "belongs to uid 65534") &&
		       !has(e.text, "chown") && has(e.text, "a copy of their own"),
		   "SEC-14: someone else's file elsewhere: a copy of one's own, no chown: %s",
		   e.text);
		profile_fini(&p);
		if (saved)
			setenv("HOME", saved, 1);
		else
			unsetenv("HOME");
		free(saved);
		ok(chown(f, 0, 0) == 0, "chown back");
	} else {
		ok(1, "# SKIP owner check needs root");
		ok(1, "# SKIP owner check needs root");
		ok(1, "# SKIP owner check needs root");
		ok(1, "# SKIP owner check needs root");
	}

	ok(profile_parse(&p, RC, pw, strlen(pw), false, &e) < 0 && has(e.text, "chmod 600 " RC) &&
	       !has(e.text, "hunter2"),
	   "profile_parse with private false refuses: %s", e.text);
	profile_fini(&p);

	/* Missing files. */
	ok(load(&p, path_in("nosys"), path_in("nouser")) < 0 && has(e.text, "read profile ") &&
	       has(e.text, "nouser: No such file or directory") && e.kind == ERR_CONFIG,
	   "explicit -C file missing: %s", e.text);
	profile_fini(&p);

	/* System file, then the user file. */
	char *sys = strdup(path_in("sys"));
	const char *systext = "account s\nhost sys\naccount both\nhost sys-both\n";
	const char *usertext = "account both\nhost user-both\n";
	write_file(sys, systext, strlen(systext), 0644);
	write_file(f, usertext, strlen(usertext), 0600);
	ok(load(&p, sys, f) == 0 && p.n == 2 && eq(profile_find(&p, "both")->host, "user-both") &&
	       eq(profile_find(&p, "s")->host, "sys"),
	   "system then user file (%s)", e.text);
	profile_fini(&p);

	/* Default user file: $XDG_CONFIG_HOME/postie/config, else ~/.config/postie/config. */
	char *xdg = strdup(path_in("xdg"));
	mkdir(xdg, 0700);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	ok(load(&p, path_in("nosys"), NULL) == 0 && p.n == 0,
	   "missing system and default user files are fine");
	profile_fini(&p);
	char *dir = path_in("xdg/postie");
	mkdir(dir, 0700);
	write_file(path_in("xdg/postie/config"), "account x\nhost xdg\n", 19, 0600);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1 && eq(p.accounts[0]->host, "xdg"),
	   "default user file under XDG_CONFIG_HOME");
	profile_fini(&p);

	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", tmpdir, 1);
	mkdir(path_in(".config"), 0700);
	mkdir(path_in(".config/postie"), 0700);
	write_file(path_in(".config/postie/config"), "account y\nhost home\n", 20, 0600);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1 && eq(p.accounts[0]->host, "home"),
	   "default user file under ~/.config");
	profile_fini(&p);
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1 && eq(p.accounts[0]->host, "home"),
	   "a relative XDG_CONFIG_HOME is ignored");
	profile_fini(&p);
	unsetenv("XDG_CONFIG_HOME");

	/* A NUL in a file, CRLF in a file, a file too large, a directory. */
	write_file(f, "account a\nhost h\0x\n", 19, 0600);
	ok(load(&p, NULL, f) < 0 && has(e.text, ":2: NUL byte"), "NUL in a file: %s", e.text);
	profile_fini(&p);
	write_file(f, "account a\r\nhost h\r\npassword p\r\n", 31, 0600);
	ok(load(&p, NULL, f) == 0 && eq(p.accounts[0]->host, "h") &&
	       eq(p.accounts[0]->password, "p"),
	   "CRLF file from disk");
	profile_fini(&p);
	size_t big = 1024 * 1024 + 10;
	char *huge = malloc(big);
	memset(huge, '#', big);
	write_file(f, huge, big, 0600);
	free(huge);
	ok(load(&p, NULL, f) < 0 && has(e.text, "larger than"), "over 1 MiB refused: %s", e.text);
	profile_fini(&p);
	ok(load(&p, NULL, tmpdir) < 0 && has(e.text, "read profile"), "a directory: %s", e.text);
	profile_fini(&p);
	unlink(f);
	free(f);
	free(sys);
	free(xdg);
}

static void
test_tilde(void)
{
	struct profile p = {0};
	struct account *a;

	setenv("HOME", "/home/tester", 1);
	ok(parse(&p,
	         "account a\ntls_trust_file ~/certs/ca.pem\n"
	         "account b\ntls_trust_file ~\n"
	         "account c\ntls_trust_file ~other/ca.pem\n"
	         "account d\ntls_trust_file \"~/my certs/ca.pem\"\n"
	         "account e\ntls_trust_file /abs/~/ca.pem\n",
	         true) == 0,
	   "tilde cases parse");
	a = profile_find(&p, "a");
	ok(a && eq(a->tls_trust_file, "/home/tester/certs/ca.pem"), "~/x expanded");
	a = profile_find(&p, "b");
	ok(a && eq(a->tls_trust_file, "/home/tester"), "~ alone expanded");
	a = profile_find(&p, "c");
	ok(a && eq(a->tls_trust_file, "~other/ca.pem"), "~user is left alone");
	a = profile_find(&p, "d");
	ok(a && eq(a->tls_trust_file, "/home/tester/my certs/ca.pem"), "quoted ~/ expanded");
	a = profile_find(&p, "e");
	ok(a && eq(a->tls_trust_file, "/abs/~/ca.pem"), "~ inside a path is literal");
	profile_fini(&p);
}

/* Parse "account a\nhost h\n" + LINES; A is the account (NULL on error, e.text set). */
static struct account *
parse_account(struct profile *p, const char *lines)
{
	char text[2048];

	snprintf(text, sizeof(text), "account a\nhost h\n%s", lines);
	if (parse(p, text, true) < 0)
		return NULL;
	return profile_find(p, "a");
}

/* The rest of msmtp's commands, each into its field. */
/* Issue 14: the DKIM commands; the command line may set none of them (SEC-43). */
static void
test_dkim(void)
{
	struct profile p = {0};
	struct account *a;
	struct err why;

	setenv("HOME", "/home/tester", 1);
	a = parse_account(&p, "dkim_key ~/dkim.pem\ndkim_selector s2026\n"
	                      "dkim_domain example.org\ndkim_headers from:to:subject\n");
	ok(a && eq(a->dkim_key, "/home/tester/dkim.pem") && eq(a->dkim_selector, "s2026") &&
	       eq(a->dkim_domain, "example.org") && eq(a->dkim_headers, "from:to:subject"),
	   "dkim_key (~ expanded), dkim_selector, dkim_domain, dkim_headers");
	const char *names[] = {"dkim_key", "dkim_selector", "dkim_domain", "dkim_headers"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ok(profile_argv_check(names[i], "x", &why) < 0 && why.kind == ERR_USAGE,
		   "--%s is not taken from the command line", names[i]);
	profile_fini(&p);
}

static void
test_msmtp_commands(void)
{
	struct profile p = {0};
	struct account *a;

	setenv("HOME", "/home/tester", 1);
	a = parse_account(&p,
	                  "logfile ~/.msmtp.log\nlogfile_time_format %Y\nsyslog LOG_MAIL\n"
	                  "aliases /etc/aliases\nauto_from on\nmaildomain example.org\n"
	                  "dsn_notify Failure,delay\ndsn_return headers\nset_from_header on\n"
	                  "set_date_header off\nset_msgid_header auto\nremove_bcc_headers off\n"
	                  "undisclosed_recipients on\nsource_ip 192.0.2.1\nproxy_host 127.0.0.1\n"
	                  "proxy_port 9050\nsocket /run/x\nprotocol lmtp\ntls_cert_file c.pem\n"
	                  "tls_key_file ~/k.pem\ntls_crl_file crl.pem\nallow_from_override off\n"
	                  "from_full_name \"Joe Q\"\ntls_min_version 1.3\npassword_file ~/pw\n"
	                  "oauth2_token_command oama access x@y\n"
	                  "queue_notify postmaster@example.org\n");
	ok(a != NULL, "every msmtp command parses (%s)", e.text);
	if (a) {
		ok(eq(a->logfile, "/home/tester/.msmtp.log"), "logfile, ~ expanded");
		ok(eq(a->logfile_time_format, "%Y"), "logfile_time_format");
		ok(eq(a->syslog, "LOG_MAIL"), "syslog facility");
		ok(eq(a->queue_notify, "postmaster@example.org"), "queue_notify");
		ok(eq(a->aliases, "/etc/aliases"), "aliases");
		ok(a->auto_from && eq(a->maildomain, "example.org"), "auto_from, maildomain");
		ok(eq(a->dsn_notify, "FAILURE,DELAY"), "dsn_notify upper case (%s)",
		   a->dsn_notify ? a->dsn_notify : "NULL");
		ok(eq(a->dsn_return, "HDRS"), "dsn_return headers is HDRS");
		ok(a->set_from_header == PROFILE_HDR_ON, "set_from_header on");
		ok(a->set_date_header == PROFILE_HDR_OFF, "set_date_header off");
		ok(a->set_msgid_header == PROFILE_HDR_AUTO, "set_msgid_header auto");
		ok(!a->remove_bcc_headers, "remove_bcc_headers off");
		ok(a->undisclosed_recipients, "undisclosed_recipients");
		ok(eq(a->source_ip, "192.0.2.1"), "source_ip");
		ok(eq(a->proxy_host, "127.0.0.1") && a->proxy_port == 9050, "proxy");
		ok(eq(a->socket, "/run/x"), "socket");
		ok(a->lmtp, "protocol lmtp");
		ok(eq(a->tls_cert_file, "c.pem") && eq(a->tls_key_file, "/home/tester/k.pem") &&
		       eq(a->tls_crl_file, "crl.pem"),
		   "tls_cert_file, tls_key_file, tls_crl_file");
		ok(!a->allow_from_override, "allow_from_override off");
		ok(eq(a->from_full_name, "Joe Q"), "from_full_name");
		ok(a->tls_min_version == 13, "tls_min_version 1.3");
		ok(eq(a->password_file, "/home/tester/pw"), "password_file");
		ok(eq(a->oauth2_token_command, "oama access x@y"), "oauth2_token_command");
	}
	profile_fini(&p);

	/* Defaults of the new settings. */
	a = parse_account(&p, "");
	ok(a && a->allow_from_override && a->remove_bcc_headers && !a->undisclosed_recipients &&
	       !a->lmtp && !a->syslog && a->set_from_header == PROFILE_HDR_AUTO && a->nports == 0 &&
	       profile_port(a) == 587,
	   "defaults of the new settings");
	profile_fini(&p);

	/* Port lists and which ports are implicit TLS. */
	int ports[PROFILE_MAX_PORTS];
	a = parse_account(&p, "port 465 587\t2525\n");
	ok(a && a->nports == 3 && a->port == 465 && profile_ports(a, ports) == 3 &&
	       ports[0] == 465 && ports[1] == 587 && ports[2] == 2525,
	   "port list in order");
	ok(a && profile_implicit_tls(a, 465) && !profile_implicit_tls(a, 587) &&
	       !profile_implicit_tls(a, 2525),
	   "465 implicit, the others STARTTLS");
	profile_fini(&p);
	a = parse_account(&p, "port 465 587\ntls_starttls on\n");
	ok(a && !profile_implicit_tls(a, 465), "an explicit tls_starttls on wins for 465");
	profile_fini(&p);
	a = parse_account(&p, "tls_starttls off\n");
	ok(a && profile_ports(a, ports) == 1 && ports[0] == 465 && profile_implicit_tls(a, 465),
	   "no port: 465 implicit from tls_starttls off");
	profile_fini(&p);
	a = parse_account(&p, "port 2525\ntls off\n");
	ok(a && !profile_implicit_tls(a, 2525) && profile_ports(a, ports) == 1 && ports[0] == 2525,
	   "single port, tls off");
	profile_fini(&p);
	a = parse_account(&p, "port 1 2 3 4 5 6 7 8\n");
	ok(a && a->nports == 8, "eight ports are the limit");
	profile_fini(&p);
	/* Inheritance copies the whole list. */
	ok(parse(&p, "account a\nhost h\nport 465 2525\naccount b : a\n", true) == 0 &&
	       profile_find(&p, "b")->nports == 2 && profile_find(&p, "b")->ports[1] == 2525,
	   "an inherited port list");
	profile_fini(&p);

	/* Old spellings. */
	a = parse_account(&p, "keepbcc\ntls_nocertcheck\nadd_missing_from_header off\n"
	                      "add_missing_date_header off\n");
	ok(a && !a->remove_bcc_headers && !a->tls_certcheck &&
	       a->set_from_header == PROFILE_HDR_OFF && a->set_date_header == PROFILE_HDR_OFF,
	   "keepbcc, tls_nocertcheck, add_missing_*_header off");
	profile_fini(&p);
	a = parse_account(&p, "syslog\ndsn_notify never\n");
	ok(a && eq(a->syslog, "LOG_USER") && eq(a->dsn_notify, "NEVER"),
	   "syslog alone is LOG_USER (msmtp's default); dsn_notify never");
	profile_fini(&p);
	a = parse_account(&p, "syslog LOG_MAIL\nsyslog off\ndsn_notify success\ndsn_notify off\n");
	ok(a && !a->syslog && !a->dsn_notify, "off unsets syslog and dsn_notify");
	profile_fini(&p);

	/* SPKI pins. */
	a = parse_account(&p,
	                  "tls_fingerprint sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	ok(a && eq(a->tls_pin_spki, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") &&
	       !a->tls_fingerprint,
	   "sha256//BASE64 is a public key pin");
	profile_fini(&p);
	a = parse_account(
	    &p,
	    "tls_fingerprint sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	    "tls_fingerprint 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	ok(a && !a->tls_pin_spki && a->tls_fingerprint, "a later hex fingerprint replaces the pin");
	profile_fini(&p);

	/* Bad arguments name what is expected. */
	static const struct {
		const char *line, *want;
	} bad[] = {
	    {"port 25 x\n", "up to 8 of them"},
	    {"port 1 2 3 4 5 6 7 8 9\n", "up to 8"},
	    {"port 0 25\n", "1 to 65535"},
	    {"syslog LOG_KERN\n", "LOG_LOCAL0"},
	    {"dsn_notify success,bogus\n", "success, failure and delay"},
	    {"dsn_notify success,success\n", "success, failure and delay"},
	    {"dsn_return all\n", "off, headers or full"},
	    {"set_from_header maybe\n", "auto, on or off"},
	    {"set_date_header on\n", "auto or off"},
	    {"protocol esmtp\n", "smtp or lmtp"},
	    {"ip_family 5\n", "any, 4 or 6"},
	    {"ip_family ipv6\n", "any, 4 or 6"},
	    {"ip_family\n", "any, 4 or 6"},
	    {"tls_min_version 1.1\n", "never goes below TLS 1.2"},
	    {"tls_fingerprint sha256//AAAA\n", "44 characters"},
	    {"tls_fingerprint sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
	     "44 characters"},
	    {"tls_force_sslv3 on\n", "SSL 3.0 is broken"},
	    {"eval\n", "needs an argument"},
	    {"keepbcc maybe\n", "on or off"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "account a\nhost h\n%s", bad[i].line);
		const char *got = parse_error(text, true);
		ok(has(got, RC ":3: ") && has(got, bad[i].want), "refused: %.*s -> %s",
		   (int)strlen(bad[i].line) - 1, bad[i].line, got);
	}
	ok(parse_account(&p, "tls_force_sslv3 off\n") != NULL, "tls_force_sslv3 off is fine");
	profile_fini(&p);
	ok(has(parse_error("account a\nhost h\noauth2_token_command x\n", false), "not private"),
	   "oauth2_token_command only in a private file (SEC-14)");
	profile_fini(&p);
}

/* eval: a command's first output line is read as the line. */
static void
test_eval(void)
{
	struct profile p = {0};
	struct account *a;

	a = parse_account(&p, "eval echo from me@example.org\neval printf 'port 2525\\nhost x'\n");
	ok(a && eq(a->from, "me@example.org") && a->port == 2525 && eq(a->host, "h"),
	   "eval: only the first output line counts (%s)", e.text);
	profile_fini(&p);
	ok(has(parse_error("account a\neval echo eval echo host x\n", true), "another eval"),
	   "no eval inside eval");
	ok(has(parse_error("account a\neval echo bogus_command 1\n", true),
	       RC ":2: unknown command 'bogus_command'"),
	   "an eval'd line is checked like any");
	ok(has(parse_error("account a\neval false\n", true), "eval at " RC ":2: exited") &&
	       !has(parse_error("account a\neval false T0ken\n", true), "T0ken"),
	   "a failing command stops the profile, named by its line, never quoted (SEC-44)");
	ok(has(parse_error("account a\neval echo host x\n", false), "'eval' in a profile that"),
	   "eval only in a private file (SEC-14)");
}

/* Obsolete commands warn on stderr and change nothing. */
static void
test_warnings(void)
{
	char *log = path_in("stderr");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	struct profile p = {0};
	int r = parse(&p, "account a\nhost h\ntls_min_dh_prime_bits 2048\nntlmdomain D\n", true);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	ok(r == 0, "obsolete commands accepted (%s)", e.text);
	ok(p.n == 1 && p.accounts[0]->set == PROFILE_SET_HOST, "they change nothing");
	profile_fini(&p);

	char got[8192];
	fd = open(log, O_RDONLY);
	ssize_t gl = fd >= 0 ? read(fd, got, sizeof(got) - 1) : -1;
	if (fd >= 0)
		close(fd);
	got[gl > 0 ? gl : 0] = '\0';
	ok(has(got, "postie: warning: " RC ":3: 'tls_min_dh_prime_bits' is ignored: "),
	   "warning text with FILE:LINE and the reason");
	ok(has(got, RC ":4: 'ntlmdomain' is ignored: postie does not offer NTLM"),
	   "ntlmdomain says why");
	unlink(log);
}

/* ip_family (issue #14): any, 4, 6; the command line may set it and it is no route setting. */
static void
test_ip_family(void)
{
	struct profile p = {0};
	struct account *a = parse_account(&p, "");
	struct err ae;

	ok(a && a->ip_family == 0, "ip_family: default any (0)");
	profile_fini(&p);
	a = parse_account(&p, "ip_family 6\n");
	ok(a && a->ip_family == 6 && (a->set & PROFILE_SET_IP_FAMILY), "ip_family 6");
	profile_fini(&p);
	a = parse_account(&p, "ip_family 4\nip_family any\n");
	ok(a && a->ip_family == 0, "ip_family any after 4: any");
	profile_fini(&p);
	a = parse_account(&p, "ip_family 4\n");
	err_clear(&ae);
	ok(a && profile_apply(a, "ip_family", "6", &ae) == 0 && a->ip_family == 6 && !a->argv_route,
	   "--ip-family=6 overrides 4 and is not a route setting (SEC-41: %s)",
	   a && a->argv_route ? a->argv_route : "none");
	ok(a && profile_apply(a, "ip_family", "both", &ae) < 0 && ae.kind == ERR_USAGE &&
	       has(ae.text, "--ip-family: invalid argument 'both'"),
	   "--ip-family=both refused (%s)", ae.text);
	profile_fini(&p);
}

/* Command-line overrides (msmtp's long options) through profile_apply. */
static void
test_apply(void)
{
	struct profile p = {0};
	struct account *a = parse_account(&p, "port 465\n");
	struct err ae;

	err_clear(&ae);
	ok(a && profile_apply(a, "host", "mx.example.org", &ae) == 0 &&
	       profile_apply(a, "port", "2525", &ae) == 0 &&
	       profile_apply(a, "user", "me", &ae) == 0 && eq(a->host, "mx.example.org") &&
	       a->port == 2525,
	   "apply host, port, user");
	if (a) {
		profile_finish_account(a);
		ok(a->auth, "auth follows the user given on the command line");
	}
	ok(a && profile_apply(a, "tls_starttls", "maybe", &ae) < 0 && ae.kind == ERR_USAGE &&
	       has(ae.text, "parse flags: --tls-starttls: invalid argument 'maybe'"),
	   "a bad value names the flag (%s)", ae.text);
	ok(a && profile_apply(a, "bogus", "x", &ae) < 0 &&
	       has(ae.text, "--bogus: no such profile command"),
	   "unknown command");
	ok(a && profile_apply(a, "eval", "echo host x", &ae) < 0, "no eval from the command line");
	ok(a && profile_apply(a, "queue_notify", "x@example.org", &ae) < 0 && !a->queue_notify &&
	       has(ae.text, "--queue-notify: not taken from the command line"),
	   "queue_notify is a destination: never from the command line");
	ok(a && profile_apply(a, "from", "a@b\r\nRCPT TO:<x>", &ae) < 0 &&
	       has(ae.text, "line break"),
	   "no CR/LF in a value (SEC-24)");
	ok(profile_known("dsn_notify") && profile_known("tls_nocertcheck") &&
	       !profile_known("bogus"),
	   "profile_known");
	char flag[PROFILE_FLAG_MAX], small[4];
	profile_flag_name("tls_host_override", flag, sizeof(flag));
	profile_flag_name("tls_starttls", small, sizeof(small));
	ok(eq(flag, "tls-host-override") && eq(small, "tls"),
	   "profile_flag_name: '_' as '-', cut to fit (%s, %s)", flag, small);
	profile_fini(&p);
}

int
main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	unsetenv("XDG_CONFIG_HOME");
	test_real_world();
	test_quoting();
	test_comments_blank_crlf();
	test_commands();
	test_errors();
	test_fingerprints();
	test_defaults();
	test_inheritance();
	test_override();
	test_files();
	test_msmtp_commands();
	test_dkim();
	test_eval();
	test_apply();
	test_ip_family();
	test_tilde();
	test_warnings();

	/* Clean up the temporary tree. */
	const char *rm[] = {"xdg/postie/config", "xdg/postie", "xdg", ".config/postie/config",
	                    ".config/postie",    ".config",    "sys"};
	for (size_t i = 0; i < sizeof(rm) / sizeof(rm[0]); i++)
		remove(path_in(rm[i]));
	rmdir(tmpdir);
	return tap_done();
}
