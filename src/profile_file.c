/*
 * profile_file: finding, opening and checking the profile files. The system profile, then
 * the user's ($XDG_CONFIG_HOME/postie/config) or the one -C names; each file is read whole
 * from the descriptor it was checked on, and its origin decides what it may reach (SEC-41,
 * SEC-43). A file that holds a secret must pass io_not_private, the one rule (SEC-14).
 */
#include "profile_int.h"

#include "buf.h"
#include "io.h"
#include "log.h"
#include "priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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
profile_expand_tilde(const struct parse *ps, unsigned line, const char *cmd, const char *arg,
                     char **out, struct err *e)
{
	const char *file = ps->file;

	if (arg[0] != '~' || (arg[1] != '\0' && arg[1] != '/')) {
		*out = xstrdup(arg);
		return 0;
	}
	/* The system profile's files a setgid postie opens with its group: password_file
	 * (secret.c) and dkim_key (dkim.c). Its others (logfile, aliases, TLS files) are opened
	 * with the caller's rights, so there '~' is the caller's as msmtp has it. */
	bool group_file = strcmp(cmd, "password_file") == 0 || strcmp(cmd, "dkim_key") == 0;
	if (group_file && ps->origin == PROFILE_ORIGIN_SYSTEM && priv_setgid())
		return err_set(
		    e, ERR_CONFIG,
		    "%s:%u: '~' in command '%s': a setgid postie would take the caller's "
		    "home for it and open the file with its group (SEC-45); write the "
		    "whole path",
		    file, line, cmd);
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

/* What profile_load gathers: the accounts, and what became of each file it looked for. */
struct load {
	struct profile tmp;
	struct buf looked; /* "PATH (read), PATH (does not exist), ..." for messages */
	char *user_file;   /* the user profile read (its real path), or NULL */
};

/* The most bytes of the text of the files looked for (a few paths). */
#define LOOKED_MAX (8 * 4096)

/* What load_file found at a path. */
enum found { FOUND_READ, FOUND_MISSING, FOUND_DENIED };

/* PATH and what became of it (WHAT), appended to the list of files looked for. */
static void
note(struct load *l, const char *path, const char *what)
{
	buf_printf(&l->looked, NULL, "%s%s (%s)", l->looked.len ? ", " : "", path, what);
}

/* Whether the folder that holds PATH (by name) is root's or the user's, and writable by
 * nobody else; else false with the reason in WHY. */
static bool
folder_own(const char *path, char *why, size_t n)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash && slash != path ? xstrndup(path, (size_t)(slash - path)) : xstrdup("/");
	struct stat st;
	bool there = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	bool yes = there && (st.st_uid == geteuid() || st.st_uid == 0) && !(st.st_mode & 022);

	if (!there)
		snprintf(why, n, "its folder %s cannot be examined", dir);
	else if (!yes)
		snprintf(why, n, "its folder %s is not yours or root's alone (uid %lu, mode %04o)",
		         dir, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
	free(dir);
	return yes;
}

/*
 * SEC-47: msmtp's profile, read in place of the user's missing postie profile, is the
 * user's own only when nobody else can have written it: a regular file of the user's
 * that group and others may not write, named in a folder (and, through a link, kept in a
 * folder) of the user's or root's that nobody else may write. NULL, or the reason in WHY.
 * A secret in it needs SEC-14's rule on top (load_file).
 */
static const char *
msmtp_not_own(int fd, const char *named, const char *real, char *why, size_t n)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, n, "it is not a regular file");
		return why;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, n, "it belongs to uid %lu, not to uid %lu who runs postie",
		         (unsigned long)st.st_uid, (unsigned long)geteuid());
		return why;
	}
	if (st.st_mode & 022) {
		snprintf(why, n, "group or others may write to it (mode %04o)",
		         (unsigned)(st.st_mode & 07777));
		return why;
	}
	if (!folder_own(named, why, n) || !folder_own(real, why, n))
		return why;
	return NULL;
}

/*
 * Read PATH whole (with a ceiling) and parse it; *FOUND (may be NULL) says whether it was
 * there. The SEC-14 check looks at the opened descriptor, so the file checked is the file
 * read. MSMTP (the name msmtp's profile was found by, or NULL): read in place of the user's
 * postie profile, it must pass msmtp_not_own first (SEC-47).
 */
static int
load_file(struct load *l, const char *path, enum missing missing, enum profile_origin origin,
          const char *msmtp, enum found *found, struct err *e)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. The system
	 * profile alone is opened with a setgid postie's group (SEC-45). */
	int fd = priv_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	                   origin == PROFILE_ORIGIN_SYSTEM);
	struct buf text;
	char why[512];
	int r;

	if (found)
		*found = fd < 0 && errno == ENOENT ? FOUND_MISSING : FOUND_DENIED;
	if (fd < 0) {
		if (errno == ENOENT && missing != MISSING_ERROR) {
			note(l, path, "does not exist");
			return 0;
		}
		/* msmtp reads the system file only "if it exists and is readable". */
		if (errno == EACCES && missing == MISSING_OR_DENIED_SKIP) {
			note(l, path, "not readable");
			return 0;
		}
		return err_set(e, ERR_CONFIG, "read profile %s: %s", path, strerror(errno));
	}
	if (found)
		*found = FOUND_READ;
	note(l, path, "read");
	buf_init(&text, PROFILE_MAX_FILE);
	text.secret = true;
	r = read_profile(fd, path, &text, e);
	if (r == 0 && msmtp && msmtp_not_own(fd, msmtp, path, why, sizeof(why)))
		r = err_set(e, ERR_CONFIG,
		            "read msmtp's profile %s: %s; postie reads it in place of its own "
		            "profile only when nobody else can have written it (SEC-47): make it "
		            "and its folder yours and `chmod go-w` them, or copy it to "
		            "~/.config/postie/config",
		            msmtp, why);
	if (r == 0) {
		/* SEC-14: ours, and nothing for group or others - also for root. */
		const char *bad =
		    priv_not_private(fd, path, origin == PROFILE_ORIGIN_SYSTEM, why, sizeof(why));
		r = profile_parse_text(&l->tmp, path, text.data ? text.data : "", text.len, !bad,
		                       bad, origin, e);
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

/* Whether PATH names something (a link to nothing does not). */
static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 || errno != ENOENT;
}

/*
 * msmtp's user profile, as msmtp(1) finds it: ~/.msmtprc, else
 * $XDG_CONFIG_HOME/msmtp/config (else ~/.config/msmtp/config); the first that exists,
 * malloc'd, or NULL. With NOTE, each one looked for and missing goes to L's list.
 */
static char *
msmtp_user_file(struct load *l, bool with_note)
{
	const char *home = io_home();
	char *dir = io_xdg_path(IO_XDG_CONFIG, "msmtp", IO_XDG_PASSWD);
	char *cand[2] = {home ? join(home, "/.msmtprc") : NULL, dir ? join(dir, "/config") : NULL};
	char *found = NULL;

	free(dir);
	for (size_t i = 0; i < 2; i++) {
		if (!found && cand[i] && exists(cand[i])) {
			found = cand[i];
			continue;
		}
		if (!found && cand[i] && with_note)
			note(l, cand[i], "does not exist");
		free(cand[i]);
	}
	return found;
}

/*
 * The system profile SYSFILE; when it does not exist, msmtp's system profile (msmtprc in
 * the same folder, /etc/msmtprc) in its place, with every rule of a system profile
 * (SEC-45, SEC-47).
 */
static int
load_system(struct load *l, const char *sysfile, struct err *e)
{
	enum found found;
	int r =
	    load_file(l, sysfile, MISSING_OR_DENIED_SKIP, PROFILE_ORIGIN_SYSTEM, NULL, &found, e);

	if (r < 0 || found != FOUND_MISSING)
		return r;
	const char *slash = strrchr(sysfile, '/');
	char *dir = slash ? xstrndup(sysfile, (size_t)(slash - sysfile)) : xstrdup(".");
	char *msmtp = join(dir, "/msmtprc");
	free(dir);
	r = load_file(l, msmtp, MISSING_OR_DENIED_SKIP, PROFILE_ORIGIN_SYSTEM, NULL, &found, e);
	if (r == 0 && found == FOUND_READ)
		log_info("no system profile %s: reading msmtp's %s in its place", sysfile, msmtp);
	free(msmtp);
	return r;
}

/*
 * The profile -C names (USERFILE). Accounts remember the real path of their file: the
 * queue binds entries to it (SEC-42). The user's profile (whatever it links to), the files
 * of the user's config folder and, when the user has no postie profile, the msmtp profile
 * postie would read anyway (MSMTP, or NULL) are the user's own whatever -C calls them
 * (SEC-41, SEC-47); any other is the caller's choice (SEC-43).
 */
static int
load_named(struct load *l, const char *userfile, const char *own_real, const char *msmtp,
           struct err *e)
{
	char *path = real_path(userfile);
	char *msmtp_real = msmtp ? real_path(msmtp) : NULL;
	bool is_msmtp = msmtp_real && strcmp(path, msmtp_real) == 0;
	enum profile_origin o =
	    (own_real && strcmp(path, own_real) == 0) || users_own(path) || is_msmtp
	        ? PROFILE_ORIGIN_USER
	        : PROFILE_ORIGIN_NAMED;
	int r = load_file(l, path, MISSING_ERROR, o, is_msmtp ? msmtp : NULL, NULL, e);

	l->user_file = path;
	free(msmtp_real);
	return r;
}

/*
 * msmtp's profile MSMTP (as found by name) read as the user's, in place of the missing
 * postie profile OWN_REAL (SEC-47), which -v tells.
 */
static int
load_msmtp(struct load *l, const char *own_real, const char *msmtp, struct err *e)
{
	char *path = real_path(msmtp);
	int r = load_file(l, path, MISSING_ERROR, PROFILE_ORIGIN_USER, msmtp, NULL, e);

	if (r == 0)
		log_info("no postie profile (%s): reading msmtp's %s as yours", own_real, msmtp);
	l->user_file = path;
	return r;
}

int
profile_load(struct profile *p, const char *sysfile, const char *userfile, struct err *e)
{
	struct load l = {0};
	int r = 0;

	buf_init(&l.looked, LOOKED_MAX);
	if (sysfile)
		r = load_system(&l, sysfile, e);
	char *own = default_user_file();
	char *own_real = own ? real_path(own) : NULL;
	/* msmtp's profile stands in for the user's only when there is no postie profile. */
	bool own_missing = own_real && !exists(own_real);
	char *msmtp = NULL;
	if (r == 0 && userfile) {
		msmtp = own_missing ? msmtp_user_file(&l, false) : NULL;
		r = load_named(&l, userfile, own_real, msmtp, e);
	} else if (r == 0 && own_missing) {
		note(&l, own_real, "does not exist");
		msmtp = msmtp_user_file(&l, true);
		if (msmtp)
			r = load_msmtp(&l, own_real, msmtp, e);
	} else if (r == 0 && own_real) {
		l.user_file = xstrdup(own_real);
		r = load_file(&l, own_real, MISSING_SKIP, PROFILE_ORIGIN_USER, NULL, NULL, e);
	}
	free(own);
	free(own_real);
	free(msmtp);
	if (r == 0) {
		profile_merge(p, &l.tmp);
		free(p->looked);
		p->looked = xstrdup(l.looked.data ? l.looked.data : "");
		free(p->user_file);
		p->user_file = l.user_file;
		l.user_file = NULL;
	}
	free(l.user_file);
	buf_fini(&l.looked);
	profile_fini(&l.tmp);
	return r;
}
