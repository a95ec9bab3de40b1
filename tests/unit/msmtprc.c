/*
 * Unit tests for src/profile_file.c's msmtp fallback (issue 12, SEC-47): with no postie
 * profile, msmtp's ~/.msmtprc (else $XDG_CONFIG_HOME/msmtp/config) is read as the user's own
 * profile, passwordeval included, but only when nobody else can have written it; msmtprc
 * beside the system profile stands in for a missing system profile; -C naming the file
 * postie would read anyway is the user's; the files looked for are named for messages.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"
#include "tests/lib/tap.h"

static char tmpdir[] = "/tmp/postie-msmtprc-XXXXXX";
static struct err e;

/* TMPDIR/NAME in one of four rotating buffers. */
static const char *
at(const char *name)
{
	static char buf[4][512];
	static int k;
	char *s = buf[k++ % 4];

	snprintf(s, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return s;
}

static void
put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		perror(path);
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
}

static bool
has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* profile_load into a fresh P (the caller frees it); the system profile is SYS. */
static int
load(struct profile *p, const char *sys, const char *user)
{
	err_clear(&e);
	memset(p, 0, sizeof(*p));
	return profile_load(p, sys, user, &e);
}

static const char rc[] = "defaults\n"
                         "tls_trust_file system\n"
                         "account gmail\n"
                         "host smtp.gmail.example\n"
                         "user me@gmail.example\n"
                         "auth xoauth2\n"
                         "passwordeval \"echo tok\"\n"
                         "account default : gmail\n";

/* ~/.msmtprc as the user's profile, and the XDG place after it. */
static void
test_user_fallback(void)
{
	struct profile p;
	struct account *a;

	put(at("home/.msmtprc"), rc, 0600);
	ok(load(&p, at("etc/postie.conf"), NULL) == 0 && p.n == 1,
	   "no postie profile: ~/.msmtprc is read (%s)", e.text);
	a = profile_find(&p, "default");
	ok(a && a->origin == PROFILE_ORIGIN_USER && a->passwordeval &&
	       has(a->file, "/home/.msmtprc") && a->auth_mech && !strcmp(a->auth_mech, "XOAUTH2"),
	   "SEC-47: it is the user's own: passwordeval kept, origin USER, its real path");
	ok(has(p.user_file, "/home/.msmtprc"), "user_file names it");
	ok(has(p.looked, "home/.config/postie/config (does not exist)") &&
	       has(p.looked, "home/.msmtprc (read)") &&
	       has(p.looked, "etc/postie.conf (does not exist)") &&
	       has(p.looked, "etc/msmtprc (does not exist)"),
	   "looked lists every file and what became of it (%s)", p.looked);
	profile_fini(&p);

	/* A postie profile wins; msmtp's is not even looked for. */
	put(at("home/.config/postie/config"), "account own\nhost own.example\n", 0600);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1 && profile_find(&p, "own") &&
	       !has(p.looked, "/.msmtprc") && !has(p.looked, "msmtp/config"),
	   "a postie profile: msmtp's is not looked for");
	profile_fini(&p);
	unlink(at("home/.config/postie/config"));

	/* $XDG_CONFIG_HOME/msmtp/config when there is no ~/.msmtprc. */
	unlink(at("home/.msmtprc"));
	put(at("home/.config/msmtp/config"), rc, 0600);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1 && has(p.user_file, "/msmtp/config") &&
	       has(p.looked, "home/.msmtprc (does not exist)"),
	   "no ~/.msmtprc: $XDG_CONFIG_HOME/msmtp/config (%s)", e.text);
	profile_fini(&p);
	unlink(at("home/.config/msmtp/config"));

	ok(load(&p, NULL, NULL) == 0 && p.n == 0 && !p.user_file &&
	       has(p.looked, "home/.msmtprc (does not exist)") &&
	       has(p.looked, "home/.config/msmtp/config (does not exist)"),
	   "none at all: not an error, each one named");
	profile_fini(&p);
}

/* SEC-47: only a file nobody else can have written. */
static void
test_user_fallback_refused(void)
{
	struct profile p;
	char *home = strdup(at("home"));

	put(at("home/.msmtprc"), rc, 0620);
	ok(load(&p, NULL, NULL) < 0 && e.kind == ERR_CONFIG &&
	       has(e.text, "read msmtp's profile ") && has(e.text, "group or others may write") &&
	       has(e.text, "SEC-47") && !has(e.text, "echo tok"),
	   "SEC-47: a file group may write is refused (%s)", e.text);
	profile_fini(&p);

	put(at("home/.msmtprc"), "account a\nhost h\n", 0644);
	ok(load(&p, NULL, NULL) == 0 && p.n == 1, "0644 without a secret: read (%s)", e.text);
	profile_fini(&p);

	put(at("home/.msmtprc"), rc, 0644);
	ok(load(&p, NULL, NULL) < 0 &&
	       has(e.text, "'passwordeval' in a profile that is not private"),
	   "SEC-14 still holds: 0644 with passwordeval refused (%s)", e.text);
	profile_fini(&p);

	put(at("home/.msmtprc"), rc, 0600);
	chmod(home, 0777);
	ok(load(&p, NULL, NULL) < 0 && has(e.text, "its folder") && has(e.text, "mode 0777"),
	   "SEC-47: in a folder others may write: refused (%s)", e.text);
	profile_fini(&p);
	chmod(home, 0700);

	/* A link into a folder others may write: the real folder counts too. */
	mkdir(at("open"), 0777);
	chmod(at("open"), 0777);
	put(at("open/rc"), rc, 0600);
	unlink(at("home/.msmtprc"));
	if (symlink(at("open/rc"), at("home/.msmtprc")) == 0) {
		ok(load(&p, NULL, NULL) < 0 && has(e.text, "/open is not yours"),
		   "SEC-47: a link into a folder others may write: refused (%s)", e.text);
		profile_fini(&p);
	}
	unlink(at("home/.msmtprc"));
	unlink(at("open/rc"));
	rmdir(at("open"));

	put(at("home/.msmtprc"), "account a\nhost h\n", 0600);
	if (geteuid() == 0 && chown(at("home/.msmtprc"), 65534, (gid_t)-1) == 0) {
		ok(load(&p, NULL, NULL) < 0 && has(e.text, "belongs to uid 65534"),
		   "SEC-47: another user's file, even without a secret: refused (%s)", e.text);
		profile_fini(&p);
	} else {
		ok(1, "# SKIP another user's file needs root");
	}
	unlink(at("home/.msmtprc"));
	free(home);
}

/* -C naming the msmtp profile: the user's only when postie would read it anyway. */
static void
test_named(void)
{
	struct profile p;
	struct account *a;

	put(at("home/.msmtprc"), rc, 0600);
	ok(load(&p, NULL, at("home/.msmtprc")) == 0 && (a = profile_find(&p, "default")) &&
	       a->origin == PROFILE_ORIGIN_USER && a->passwordeval,
	   "-C ~/.msmtprc without a postie profile: the user's own (%s)", e.text);
	profile_fini(&p);

	put(at("home/.msmtprc"), rc, 0660);
	ok(load(&p, NULL, at("home/.msmtprc")) < 0 && has(e.text, "SEC-47"),
	   "-C ~/.msmtprc: the same rule (%s)", e.text);
	profile_fini(&p);
	chmod(at("home/.msmtprc"), 0600);

	put(at("home/.config/postie/config"), "account own\nhost own.example\n", 0600);
	ok(load(&p, NULL, at("home/.msmtprc")) < 0 && has(e.text, "'passwordeval' is not taken") &&
	       has(e.text, "SEC-43"),
	   "-C ~/.msmtprc beside a postie profile: a caller's file, no command (%s)", e.text);
	profile_fini(&p);
	unlink(at("home/.config/postie/config"));

	put(at("elsewhere"), rc, 0600);
	ok(load(&p, NULL, at("elsewhere")) < 0 && has(e.text, "SEC-43"),
	   "-C another file: a caller's file (%s)", e.text);
	profile_fini(&p);
	put(at("elsewhere"), "account x\nhost x\n", 0600);
	ok(load(&p, NULL, at("elsewhere")) == 0 && has(p.user_file, "/elsewhere") &&
	       has(p.looked, "/elsewhere (read)") && !has(p.looked, ".msmtprc"),
	   "-C: user_file is -C's file, looked names no msmtp file");
	profile_fini(&p);
	unlink(at("elsewhere"));
	unlink(at("home/.msmtprc"));
}

/* msmtprc beside the system profile, only when that does not exist. */
static void
test_system(void)
{
	struct profile p;
	struct account *a;

	put(at("etc/msmtprc"), "account sys\nhost sys.example\naccount default : sys\n", 0644);
	ok(load(&p, at("etc/postie.conf"), NULL) == 0 && (a = profile_find(&p, "default")) &&
	       a->origin == PROFILE_ORIGIN_SYSTEM && has(a->file, "etc/msmtprc"),
	   "no system profile: msmtprc beside it is the system profile (%s)", e.text);
	ok(has(p.looked, "etc/postie.conf (does not exist)") && has(p.looked, "etc/msmtprc (read)"),
	   "both named (%s)", p.looked);
	profile_fini(&p);

	put(at("etc/postie.conf"), "account pc\nhost pc.example\n", 0644);
	ok(load(&p, at("etc/postie.conf"), NULL) == 0 && p.n == 1 && profile_find(&p, "pc") &&
	       !has(p.looked, "etc/msmtprc"),
	   "a system profile: msmtprc is not looked for");
	profile_fini(&p);
	unlink(at("etc/postie.conf"));

	put(at("etc/msmtprc"), "account sys\nhost sys.example\npasswordeval echo x\n", 0644);
	ok(load(&p, at("etc/postie.conf"), NULL) < 0 && has(e.text, "not private"),
	   "a system msmtprc obeys SEC-14 like the system profile (%s)", e.text);
	profile_fini(&p);
	unlink(at("etc/msmtprc"));
}

int
main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	const char *dirs[] = {"home", "home/.config", "home/.config/postie", "home/.config/msmtp",
	                      "etc"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mkdir(at(dirs[i]), 0700);
	setenv("HOME", at("home"), 1);
	unsetenv("XDG_CONFIG_HOME");

	test_user_fallback();
	test_user_fallback_refused();
	test_named();
	test_system();

	for (size_t i = sizeof(dirs) / sizeof(dirs[0]); i > 0; i--)
		rmdir(at(dirs[i - 1]));
	rmdir(tmpdir);
	return tap_done();
}
