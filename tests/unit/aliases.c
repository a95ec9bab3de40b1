/*
 * Unit tests for src/aliases.c: the aliases file (msmtp's format: "local: addr, addr",
 * "default", '#' comments, CRLF lines), every refusal with its FILE:LINE, resolution
 * (recursion, "default" only for the names given, loops, the depth and size limits,
 * duplicates, maildomain for the names left bare), reading the file, and the substitution
 * patterns %U %H %C %M of `from`.
 */
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/aliases.h"
#include "src/buf.h"
#include "tests/lib/tap.h"

#define S(x) x, sizeof(x) - 1

static const char good[] = "# aliases for this host\n"
                           "\n"
                           "root: admin@example.com, ops@example.com   # two people\n"
                           "cron: root\r\n"
                           "   www-data :  Web Team <web@example.com>\n"
                           "postmaster: root, admin@example.com\n"
                           "Mixed.Case: mc@example.com\n"
                           "nobody: nobody\n"
                           "chain1: chain2\n"
                           "chain2: local-only\n"
                           "default: catchall@example.com\n";

/* Resolve ADDR and return the result joined by spaces (static storage), or the error. */
static const char *
resolve(const struct aliases *a, const char *md, const char *addr, struct err *e, int *rc)
{
	static struct buf out;
	struct addr_list l = {0};

	err_clear(e);
	buf_fini(&out);
	buf_init(&out, 1 << 20);
	buf_puts(&out, "", NULL);
	*rc = aliases_resolve(a, md, addr, &l, e);
	for (size_t i = 0; i < l.n; i++)
		buf_printf(&out, NULL, "%s%s", i ? " " : "", l.v[i]);
	addr_list_fini(&l);
	return *rc == 0 ? out.data : e->text;
}

static void
test_parse(void)
{
	struct aliases a = {0};
	struct err e = {0};

	ok(aliases_parse(&a, "/etc/aliases.test", S(good), &e) == 0, "a good file parses (%s)",
	   e.text);
	ok(a.n == 9, "nine aliases (comments and blank lines skipped): %zu", a.n);
	ok(a.n > 0 && strcmp(a.v[0].name, "root") == 0 && a.v[0].line == 3 && a.v[0].to.n == 2 &&
	       strcmp(a.v[0].to.v[1], "ops@example.com") == 0,
	   "root at line 3, two addresses, the comment after them dropped");
	ok(a.n > 2 && strcmp(a.v[1].name, "cron") == 0 && a.v[1].to.n == 1 &&
	       strcmp(a.v[1].to.v[0], "root") == 0,
	   "a CRLF line: cron is root");
	ok(a.n > 2 && strcmp(a.v[2].name, "www-data") == 0 &&
	       strcmp(a.v[2].to.v[0], "web@example.com") == 0,
	   "indented, space before ':', a display name on the right");
	aliases_fini(&a);
	ok(a.n == 0 && a.v == NULL && a.file == NULL, "aliases_fini empties");
	aliases_fini(&a);
	ok(1, "aliases_fini twice is safe");

	ok(aliases_parse(&a, "empty", "", 0, &e) == 0 && a.n == 0, "an empty file is no alias");
	aliases_fini(&a);
	ok(aliases_parse(&a, "f", S("root: a@x.example"), &e) == 0 && a.n == 1,
	   "no line end at the end of the file");
	aliases_fini(&a);
}

static void
test_bad_lines(void)
{
	static const struct {
		const char *text;
		size_t len;
		const char *want;
	} bad[] = {
	    {S("root admin@x.example\n"), "aliases.bad:1: no ':'; write `name: address, address`"},
	    {S("\n# c\n: a@x.example\n"), "aliases.bad:3: no name before ':'"},
	    {S("root@host: a@x.example\n"), "aliases.bad:1: alias name \"root@host\" has '@'"},
	    {S("two words: a@x.example\n"), "aliases.bad:1: alias name: check address \"two "
	                                    "words\": unquoted space"},
	    {S("root: a@x.example\nRoot: b@x.example\n"),
	     "aliases.bad:2: alias Root given twice (first at line 1)"},
	    {S("root: a@x.example, bad address\n"),
	     "aliases.bad:1: alias root: check address \"bad address\": unquoted space"},
	    {S("root:\n"), "aliases.bad:1: alias root: no address after ':'"},
	    {S("root: # nobody\n"), "aliases.bad:1: alias root: no address after ':'"},
	    {S("root: -oQ@x.example\n"), "aliases.bad:1: alias root: check address "
	                                 "\"-oQ@x.example\": begins with '-'"},
	    {S("ok: a@x.example\nroot: a@x\0.example\n"), "aliases.bad:2: NUL byte"},
	    {S("root: a@x.example\rcron: b@x.example\n"),
	     "aliases.bad:1: carriage return inside the line"},
	    {S("root: a@[300.1.1.1]\n"), "aliases.bad:1: alias root: "},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aliases a = {0};
		struct err e = {0};
		int rc = aliases_parse(&a, "aliases.bad", bad[i].text, bad[i].len, &e);
		ok(rc == -1 && e.kind == ERR_CONFIG &&
		       strncmp(e.text, bad[i].want, strlen(bad[i].want)) == 0,
		   "bad file #%zu refused: %s", i, e.text);
		aliases_fini(&a);
	}
}

static void
test_resolve(void)
{
	struct aliases a = {0}, nodef = {0};
	struct err e = {0};
	int rc;

	aliases_parse(&a, "al", S(good), &e);
	aliases_parse(&nodef, "al2", S("root: admin@example.com\nops: root, cron\n"), &e);
	const struct {
		const struct aliases *a;
		const char *md;
		const char *in;
		const char *want;
	} cases[] = {
	    {&a, NULL, "root", "admin@example.com ops@example.com"},
	    {&a, NULL, "ROOT", "admin@example.com ops@example.com"},
	    {&a, NULL, "cron", "admin@example.com ops@example.com"},
	    {&a, NULL, "postmaster", "admin@example.com ops@example.com"},
	    {&a, NULL, "www-data", "web@example.com"},
	    {&a, NULL, "mixed.case", "mc@example.com"},
	    {&a, NULL, "bob", "catchall@example.com"},
	    {&a, NULL, "default", "catchall@example.com"},
	    {&a, NULL, "root@example.net", "root@example.net"},
	    {&a, NULL, "", ""},
	    {&a, NULL, "chain1", "local-only"},
	    {&a, "example.org", "chain1", "local-only@example.org"},
	    {&a, "example.org", "root", "admin@example.com ops@example.com"},
	    {&nodef, NULL, "bob", "bob"},
	    {&nodef, "example.org", "bob", "bob@example.org"},
	    {&nodef, "example.org", "ops", "admin@example.com cron@example.org"},
	    {&nodef, "bücher.example", "bob", "bob@xn--bcher-kva.example"},
	    {NULL, "example.org", "root", "root@example.org"},
	    {NULL, "", "root", "root"},
	    {NULL, NULL, "root", "root"},
	    {NULL, "example.org", "root@x.example", "root@x.example"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = resolve(cases[i].a, cases[i].md, cases[i].in, &e, &rc);
		ok(rc == 0 && strcmp(got, cases[i].want) == 0, "%s%s%s: \"%s\" (got \"%s\")",
		   cases[i].in, cases[i].md ? " with maildomain " : "",
		   cases[i].md ? cases[i].md : "", cases[i].want, got);
	}
	/* A name that maps to itself is a loop, as any other. */
	const char *got = resolve(&a, NULL, "nobody", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG &&
	       strcmp(got, "expand alias nobody: loop nobody -> nobody; fix al:8") == 0,
	   "nobody: nobody is a loop (%s)", got);

	/* Appending to a list keeps what it holds and adds no duplicate. */
	struct addr_list l = {0};
	addr_list_add(&l, "ops@example.com");
	ok(aliases_resolve(&a, NULL, "root", &l, &e) == 0 && l.n == 2 &&
	       strcmp(l.v[0], "ops@example.com") == 0 && strcmp(l.v[1], "admin@example.com") == 0,
	   "resolve appends without duplicates");
	addr_list_fini(&l);

	got = resolve(&nodef, "bad domain", "bob", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG &&
	       strstr(got, "qualify bob with maildomain bad "
	                   "domain: ") &&
	       strstr(got, "fix `maildomain`"),
	   "a maildomain that makes no address is a config error (%s)", got);
	got = resolve(&nodef, "x\r\nRCPT TO:<evil@x>", "bob", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG && !strchr(got, '\r') && !strchr(got, '\n'),
	   "a maildomain with CR LF never makes an address (%s)", got);
	aliases_fini(&a);
	aliases_fini(&nodef);
}

static void
test_limits(void)
{
	struct aliases a = {0};
	struct err e = {0};
	int rc;
	const char *got;

	aliases_parse(&a, "loops",
	              S("a: b\nb: c, x@example.com\nc: a\nself: x@example.com, self\n"
	                "default: a\n"),
	              &e);
	got = resolve(&a, NULL, "a", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG &&
	       strcmp(got, "expand alias a: loop a -> b -> c -> a; fix loops:3") == 0,
	   "a loop names its chain and the line that closes it (%s)", got);
	got = resolve(&a, NULL, "self", &e, &rc);
	ok(rc == -1 && strstr(got, "loop self -> self"), "a self-reference is a loop (%s)", got);
	got = resolve(&a, NULL, "unlisted", &e, &rc);
	ok(rc == -1 && strstr(got, "expand alias default: loop default -> a -> b -> c -> a"),
	   "a loop reached through default (%s)", got);
	aliases_fini(&a);

	/* A chain of ALIASES_MAX_DEPTH aliases ends in an address; one more is too deep. */
	for (int extra = 0; extra < 2; extra++) {
		char text[4096];
		size_t k = 0;
		int n = ALIASES_MAX_DEPTH + extra;
		for (int i = 0; i + 1 < n; i++)
			k += (size_t)snprintf(text + k, sizeof(text) - k, "n%d: n%d\n", i, i + 1);
		k += (size_t)snprintf(text + k, sizeof(text) - k, "n%d: end@example.com\n", n - 1);
		struct aliases d = {0};
		ok(aliases_parse(&d, "deep", text, k, &e) == 0, "a chain of %d parses", n);
		got = resolve(&d, NULL, "n0", &e, &rc);
		if (extra == 0)
			ok(rc == 0 && strcmp(got, "end@example.com") == 0, "%d levels resolve (%s)",
			   n, got);
		else
			ok(rc == -1 && e.kind == ERR_CONFIG &&
			       strstr(got, "expand alias n0: more than 16 levels of "
			                   "aliases; fix deep:17"),
			   "%d levels are too deep (%s)", n, got);
		aliases_fini(&d);
	}

	/* Fan-out: each level doubles; the walk stops at ALIASES_MAX_ADDRS, duplicates or not. */
	char text[4096];
	size_t k = 0;
	for (int i = 0; i < 12; i++)
		k += (size_t)snprintf(text + k, sizeof(text) - k, "f%d: f%d, f%d\n", i, i + 1,
		                      i + 1);
	k += (size_t)snprintf(text + k, sizeof(text) - k, "f12: x@example.com\n");
	ok(aliases_parse(&a, "fan", text, k, &e) == 0, "a fan-out file parses");
	got = resolve(&a, NULL, "f0", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG &&
	       strstr(got, "expand alias f0: more than 1000 addresses"),
	   "4096 paths are refused (%s)", got);
	got = resolve(&a, NULL, "f4", &e, &rc);
	ok(rc == 0 && strcmp(got, "x@example.com") == 0, "256 paths to one address (%s)", got);
	aliases_fini(&a);
}

/*
 * Issue 10, bug 9: -t with tens of thousands of recipients. Every one goes through
 * aliases_resolve into one list, as collect_recipients (submit.c) does; duplicates (the same
 * bytes, so U0@x is not u0@x) go, the order of first appearance stays, and the duplicate
 * check costs O(log n) comparisons a recipient where a scan of the list cost O(n).
 */
static void
test_many(void)
{
	enum { N = 20000, STEP = 7919 }; /* STEP is prime to N: j -> j * STEP % N permutes */
	struct aliases a = {0};
	struct addr_list out = {0}, want = {0};
	struct err e = {0};
	char s[64];
	size_t adds = 0;
	int rc = 0;

	ok(aliases_parse(&a, "many", S("team: t@x, u0@x\n"), &e) == 0, "many: parses");
	for (int pass = 0; pass < 2; pass++) {
		for (int n = 0; n < N && rc == 0; n++) {
			int j = pass ? N - 1 - n : n, k = (int)((long)j * STEP % N);
			snprintf(s, sizeof(s), "u%d@x", k);
			rc |= aliases_resolve(&a, "example.org", s, &out, &e);
			if (pass == 0)
				addr_list_add(&want, s);
			adds++;
			if (k % 5 == 0) {
				snprintf(s, sizeof(s), "U%d@x", k);
				rc |= aliases_resolve(&a, "example.org", s, &out, &e);
				if (pass == 0)
					addr_list_add(&want, s);
				adds++;
			}
			if (j % 1000 == 0) {
				rc |= aliases_resolve(&a, "example.org", "team", &out, &e);
				if (pass == 0 && j == 0)
					addr_list_add(&want, "t@x"); /* u0@x came just before */
				adds += 2;
			}
			if (j % 1000 == 1) {
				snprintf(s, sizeof(s), "b%d", j);
				rc |= aliases_resolve(&a, "example.org", s, &out, &e);
				snprintf(s, sizeof(s), "b%d@example.org", j);
				if (pass == 0)
					addr_list_add(&want, s);
				adds++;
			}
		}
	}
	bool same = rc == 0 && out.n == want.n;
	size_t i = 0;
	for (; same && i < want.n; i++)
		same = strcmp(out.v[i], want.v[i]) == 0;
	ok(same, "%zu recipients twice: %zu kept once each, in order (%s; %zu compared)", adds,
	   want.n, rc ? e.text : "resolved", i);

	size_t bits = 0, bound;
	for (size_t v = out.n + 2; v; v >>= 1)
		bits++;
	bound = adds * ((bits * 14405 + 9999) / 10000); /* 1.4405 log2(n + 2): AVL height */
	ok(addr_list_compares(&out) > 0 && addr_list_compares(&out) <= bound,
	   "the duplicate check is indexed: %zu comparisons for %zu additions, at most %zu",
	   addr_list_compares(&out), adds, bound);
	addr_list_fini(&out);
	addr_list_fini(&want);
	aliases_fini(&a);
}

static char *
temp_file(const char *text, size_t len)
{
	char *path = strdup("/tmp/postie-aliases-XXXXXX");
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		perror("temp file");
		exit(1);
	}
	close(fd);
	return path;
}

static void
test_load(void)
{
	struct aliases a = {0};
	struct err e = {0};
	char *path = temp_file(S(good));

	ok(aliases_load(&a, path, &e) == 0 && a.n == 9, "aliases_load reads the file (%s)", e.text);
	aliases_fini(&a);
	unlink(path);
	err_clear(&e);
	ok(aliases_load(&a, path, &e) == -1 && e.kind == ERR_CONFIG &&
	       strstr(e.text, "No such file or directory; fix `aliases` in the profile"),
	   "a missing file (%s)", e.text);
	free(path);

	path = temp_file(S("ok: a@x.example\n\nbroken line\n"));
	ok(aliases_load(&a, path, &e) == -1 && strstr(e.text, ":3: no ':'") &&
	       strncmp(e.text, path, strlen(path)) == 0,
	   "errors name the file and the line (%s)", e.text);
	aliases_fini(&a);
	unlink(path);
	free(path);

	ok(aliases_load(&a, "/tmp", &e) == -1 && strstr(e.text, "not a regular file"),
	   "a directory is refused (%s)", e.text);
	aliases_fini(&a);

	char *big = malloc(ALIASES_MAX_FILE + 10);
	memset(big, '#', ALIASES_MAX_FILE + 10);
	path = temp_file(big, ALIASES_MAX_FILE + 10);
	ok(aliases_load(&a, path, &e) == -1 && strstr(e.text, "over 1048576 bytes"),
	   "a file over the ceiling is refused (%s)", e.text);
	aliases_fini(&a);
	unlink(path);
	free(path);
	free(big);
}

static const char *
subst(const char *pattern, const char *mailname, struct err *e, int *rc)
{
	static char out[1024];
	char *r = NULL;

	err_clear(e);
	*rc = aliases_substitute(pattern, mailname, &r, e);
	snprintf(out, sizeof(out), "%s", *rc == 0 ? r : e->text);
	free(r);
	return out;
}

static void
test_substitute(void)
{
	struct err e = {0};
	int rc;
	const char *got;
	char *mailname = temp_file(S("  mail.example.org \r\nsecond.example\n"));
	char *emptyname = temp_file(S("\n"));

	setenv("USER", "alice", 1);
	setenv("LOGNAME", "bob", 1);
	setenv("HOSTNAME", "localhost", 1);
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"%U@%H", "alice@localhost"},
	    {"%U@%M", "alice@mail.example.org"},
	    {"cron-%U@%M", "cron-alice@mail.example.org"},
	    {"plain@example.com", "plain@example.com"},
	    {"100%@x%y%", "100%@x%y%"},
	    {"%u%h%%U", "%u%h%alice"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = subst(cases[i].in, mailname, &e, &rc);
		ok(rc == 0 && strcmp(got, cases[i].want) == 0, "\"%s\" gives \"%s\" (got \"%s\")",
		   cases[i].in, cases[i].want, got);
	}

	/* %C: the resolver's canonical name of %H (localhost is in every hosts file). */
	struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *res = NULL;
	char want[512] = "localhost";
	if (getaddrinfo("localhost", NULL, &hints, &res) == 0 && res->ai_canonname)
		snprintf(want, sizeof(want), "%s", res->ai_canonname);
	if (res)
		freeaddrinfo(res);
	got = subst("%C", mailname, &e, &rc);
	ok(rc == 0 && strcmp(got, want) == 0, "%%C of localhost is \"%s\" (got \"%s\")", want, got);
	setenv("HOSTNAME", "no-such-host.invalid", 1);
	got = subst("x@%C", mailname, &e, &rc);
	ok(rc == 0 && strcmp(got, "x@no-such-host.invalid") == 0,
	   "%%C without a canonical name is %%H (%s)", got);

	/* %U falls back from $USER to $LOGNAME to the password database. */
	unsetenv("USER");
	got = subst("%U", mailname, &e, &rc);
	ok(rc == 0 && strcmp(got, "bob") == 0, "%%U without $USER is $LOGNAME (%s)", got);
	setenv("USER", "", 1);
	unsetenv("LOGNAME");
	struct passwd *pw = getpwuid(getuid());
	got = subst("%U", mailname, &e, &rc);
	ok(rc == 0 && pw && strcmp(got, pw->pw_name) == 0,
	   "%%U with neither is the login name of uid %ld (%s)", (long)getuid(), got);

	/* %H without $HOSTNAME is gethostname(2). */
	unsetenv("HOSTNAME");
	char host[256] = "";
	gethostname(host, sizeof(host));
	got = subst("%H", mailname, &e, &rc);
	ok(rc == 0 && strcmp(got, host) == 0, "%%H is the system's host name (%s)", got);

	/* %M needs the file. */
	got = subst("a@%M", "/nonexistent/mailname", &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG &&
	       strstr(got, "expand %M: read /nonexistent/mailname: No such file"),
	   "%%M without the file (%s)", got);
	got = subst("a@%M", emptyname, &e, &rc);
	ok(rc == -1 && e.kind == ERR_CONFIG && strstr(got, "is empty"), "%%M of an empty file (%s)",
	   got);
	got = subst("a@%H", "/nonexistent/mailname", &e, &rc);
	ok(rc == 0, "the file is read only for %%M (%s)", got);
	unlink(mailname);
	unlink(emptyname);
	free(mailname);
	free(emptyname);
}

int
main(void)
{
	test_parse();
	test_bad_lines();
	test_resolve();
	test_limits();
	test_many();
	test_load();
	test_substitute();
	return tap_done();
}
