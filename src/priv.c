/*
 * priv: the setgid group, dropped at start and raised only around two opens (SEC-45).
 * Linux: setresgid(2), prctl(2) PR_SET_DUMPABLE.
 */
#define _GNU_SOURCE /* setresgid */
#include "priv.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "io.h"

extern char **environ;

static bool setgid_mode;
static gid_t real_gid;
static gid_t elevated_gid;

/* Whether the variable NAME=VALUE at S must go: it moves files or loads code (GnuTLS's
 * configuration and debugging, the dynamic loader, message catalogues), writes TLS secrets
 * (SSLKEYLOGFILE, GNUTLS_KEYLOGFILE), or sends names elsewhere (the resolver's; glibc's
 * secure mode drops those, and LD_*, too). */
static bool
dangerous(const char *s)
{
	static const char *const names[] = {"LOCALEDIR",   "NLSPATH",     "HOSTALIASES",
	                                    "LOCALDOMAIN", "RES_OPTIONS", "SSLKEYLOGFILE"};
	size_t n = strcspn(s, "=");

	if (strncmp(s, "GNUTLS_", 7) == 0 || strncmp(s, "LD_", 3) == 0)
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncmp(s, names[i], n) == 0)
			return true;
	return false;
}

/* Remove every dangerous variable from the environment, in place (an entry without '=' too,
 * which unsetenv could not name). */
static void
clean_environment(void)
{
	char **to = environ;

	if (!environ)
		return;
	for (char **p = environ; *p; p++)
		if (!dangerous(*p))
			*to++ = *p;
	*to = NULL;
}

int
priv_init(struct err *e)
{
	gid_t r = getgid(), eg = getegid();

	if (r == eg)
		return 0;
	if (setresgid(r, r, eg) < 0)
		return err_set(e, ERR_OS, "drop group %lu: %s", (unsigned long)eg, strerror(errno));
	setgid_mode = true;
	real_gid = r;
	elevated_gid = eg;
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	clean_environment();
	return 0;
}

bool
priv_setgid(void)
{
	return setgid_mode;
}

gid_t
priv_gid(void)
{
	return elevated_gid;
}

const char *
priv_group_name(void)
{
#ifdef POSTIE_SYSTEM_GROUP
	return POSTIE_SYSTEM_GROUP;
#else
	return "its group";
#endif
}

int
priv_raise(void)
{
	if (!setgid_mode)
		return 0;
	if (setresgid((gid_t)-1, elevated_gid, (gid_t)-1) < 0)
		return errno;
	/* Changing a credential sets the process dumpable as fs.suid_dumpable says (1 would
	 * allow a core with the secret in it): not dumpable again, every time. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

void
priv_drop(void)
{
	if (!setgid_mode)
		return;
	if (setresgid((gid_t)-1, real_gid, (gid_t)-1) < 0 || getegid() != real_gid)
		abort();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* as in priv_raise */
}

void
priv_give_up(void)
{
	if (!setgid_mode)
		return;
	if (setresgid(real_gid, real_gid, real_gid) < 0 || getegid() != real_gid)
		abort();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* as in priv_raise */
}

int
priv_child(void)
{
	if (!setgid_mode)
		return 0;
	return setresgid(real_gid, real_gid, real_gid);
}

int
priv_open(const char *path, int flags, bool system)
{
	bool raise = system && setgid_mode;
	int raised = raise ? priv_raise() : 0;
	int fd = open(path, flags);
	int saved = errno;

	if (raise && raised == 0)
		priv_drop();
	errno = saved;
	return fd;
}

const char *
priv_not_private(int fd, const char *path, bool system, char *why, size_t n)
{
	if (system && setgid_mode)
		return io_not_private_system(fd, path, elevated_gid, priv_group_name(), why, n);
	return io_not_private(fd, path, why, n);
}
