/*
 * profile_file: finding, opening and checking the profile files. The system profile, then
 * the user's ($XDG_CONFIG_HOME/postie/config) or the one -C names; each file is read whole
 * from the descriptor it was checked on, and its origin decides what it may reach (SEC-41,
 * SEC-43). A file that holds a secret must pass io_not_private, the one rule (SEC-14).
 */
#include "profile_int.h"

#include "buf.h"
#include "io.h"
#include "priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A profile is a few hundred bytes; anything near this is not a profile. */
#define PROFILE_MAX_FILE (1024 * 1024)

static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xmalloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

int
profile_expand_tilde(const char *file, unsigned line, const char *cmd, const char *arg, char **out,
                     struct err *e)
{
	if (arg[0] != '~' || (arg[1] != '\0' && arg[1] != '/')) {
		*out = xstrdup(arg);
		return 0;
	}
	const char *home = io_home();
	if (!home)
		return err_set(e, ERR_CONFIG,
		               "%s:%u: cannot expand '~' for command '%s': HOME is not set", file,
		               line, cmd);
	*out = join(home, arg + 1);
	return 0;
}

enum missing { MISSING_ERROR, MISSING_SKIP, MISSING_OR_DENIED_SKIP };

/*
 * Read the profile PATH open at FD whole into TEXT (a secret buffer: it may hold a
 * password), after checking it is a regular file.
 */
static int
read_profile(int fd, const char *path, struct buf *text, struct err *e)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
	/*
	 * SEC-14: only a regular file is a profile. A pipe (-C /dev/stdin) or a device has no
	 * owner and mode of its own that say who wrote it, so the private-file check would
	 * vouch for text from anyone (and eval would run it).
	 */
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFIG,
		               "read profile %s: not a regular file; name a profile file with -C",
		               path);
	int rc = io_read_all(fd, text);
	if (rc == EFBIG)
		return err_set(e, ERR_CONFIG, "read profile %s: larger than %d MiB", path,
		               PROFILE_MAX_FILE / (1024 * 1024));
	if (rc != 0)
		return err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(rc));
	return 0;
}

/*
 * SEC-45: a caller who is not root learns nothing of a setgid postie's system profile from
 * its errors (a line quoted could be a secret); the administrator runs postie as root.
 */
static int
hide_system_error(const char *path, enum profile_origin origin, struct err *e)
{
	if (origin != PROFILE_ORIGIN_SYSTEM || !priv_setgid() || getuid() == 0)
		return -1;
	return err_set(e, ERR_CONFIG,
	               "the system profile %s has an error; the administrator sees it with "
	               "`postie --pretend` as root",
	               path);
}

/*
 * Read PATH whole (with a ceiling) and parse it. The SEC-14 check looks at the opened
 * descriptor, so the file checked is the file read.
 */
static int
load_file(struct profile *p, const char *path, enum missing missing, enum profile_origin origin,
          struct err *e)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. The system
	 * profile alone is opened with a setgid postie's group (SEC-45). */
	int fd = priv_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	                   origin == PROFILE_ORIGIN_SYSTEM);
	struct buf text;
	char why[512];
	int r;

	if (fd < 0) {
		if (errno == ENOENT && missing != MISSING_ERROR)
			return 0;
		/* msmtp reads the system file only "if it exists and is readable". */
		if (errno == EACCES && missing == MISSING_OR_DENIED_SKIP)
			return 0;
		return err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
	}
	buf_init(&text, PROFILE_MAX_FILE);
	text.secret = true;
	r = read_profile(fd, path, &text, e);
	if (r == 0) {
		/* SEC-14: ours, and nothing for group or others - also for root. */
		const char *bad =
		    priv_not_private(fd, path, origin == PROFILE_ORIGIN_SYSTEM, why, sizeof(why));
		r = profile_parse_text(p, path, text.data ? text.data : "", text.len, !bad, bad,
		                       origin, e);
		if (r < 0)
			hide_system_error(path, origin, e);
	}
	buf_fini(&text);
	close(fd);
	return r;
}

/* $XDG_CONFIG_HOME/postie/config, else ~/.config/postie/config; NULL without a home. */
static char *
default_user_file(void)
{
	char *dir = io_xdg_path(IO_XDG_CONFIG, "postie", IO_XDG_PASSWD);
	char *file = dir ? join(dir, "/config") : NULL;

	free(dir);
	return file;
}

/*
 * Whether the real path PATH is one of the user's own profiles: a file below the user's
 * config folder for postie, $XDG_CONFIG_HOME/postie (else ~/.config/postie), taken by its
 * own real path (not the folder of whatever the default profile links to), and only when
 * that folder is the user's and nobody else may write to it. Whoever can write there can
 * rewrite the user's profile anyway. msmtp's ~/.msmtprc is not one: where the user has no
 * msmtp, a caller could create it.
 */
static bool
users_own(const char *path)
{
	char *own = io_xdg_path(IO_XDG_CONFIG, "postie", IO_XDG_PASSWD);
	char *dir = own ? realpath(own, NULL) : NULL;
	size_t n = dir ? strlen(dir) : 0;
	struct stat st;
	bool yes = dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	           !(st.st_mode & 022) && strncmp(path, dir, n) == 0 && path[n] == '/';

	free(dir);
	free(own);
	return yes;
}

/* PATH's real path (symbolic links and dots resolved); for a file that does not exist, its
 * folder's real path and its name; else a copy of PATH. */
static char *
real_path(const char *path)
{
	char *r = realpath(path, NULL);
	const char *slash = strrchr(path, '/');

	if (r)
		return r;
	if (slash && slash != path) {
		char *dir = xstrndup(path, (size_t)(slash - path));
		char *rdir = realpath(dir, NULL);
		free(dir);
		if (rdir) {
			char *full = join(rdir, slash);
			free(rdir);
			return full;
		}
	}
	return xstrdup(path);
}

int
profile_load(struct profile *p, const char *sysfile, const char *userfile, struct err *e)
{
	struct profile tmp = {0};
	int r = 0;

	if (sysfile)
		r = load_file(&tmp, sysfile, MISSING_OR_DENIED_SKIP, PROFILE_ORIGIN_SYSTEM, e);
	char *own = default_user_file();
	char *own_real = own ? real_path(own) : NULL;
	if (r == 0 && userfile) {
		/*
		 * Accounts remember the real path of their file: the queue binds entries to it
		 * (SEC-42). The user's profile (whatever it links to) and the files of the
		 * user's config folder are the user's own whatever -C calls them (SEC-41); any
		 * other is the caller's choice (SEC-43).
		 */
		char *path = real_path(userfile);
		enum profile_origin o = (own_real && strcmp(path, own_real) == 0) || users_own(path)
		                            ? PROFILE_ORIGIN_USER
		                            : PROFILE_ORIGIN_NAMED;
		r = load_file(&tmp, path, MISSING_ERROR, o, e);
		free(path);
	} else if (r == 0 && own_real) {
		r = load_file(&tmp, own_real, MISSING_SKIP, PROFILE_ORIGIN_USER, e);
	}
	free(own);
	free(own_real);
	if (r == 0)
		profile_merge(p, &tmp);
	profile_fini(&tmp);
	return r;
}
