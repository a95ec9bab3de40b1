/*
 * priv: the one place that knows postie may run setgid (SEC-45). When the program file is
 * setgid (a group such as "postie" that may read the system profile, root:postie 0640),
 * priv_init drops the group at once; it is raised only around the open of the system profile
 * and of the password_file that profile names (priv_raise, priv_drop), and around the
 * lookups of postie's own names in the system queue (queue_open_system), and never reaches a
 * child (priv_child). Everything else is opened with the caller's rights. Not setgid: every
 * function here does nothing.
 *
 * In setgid mode HOME and XDG_* are the caller's: they find the caller's own files (opened
 * with the caller's rights), never a file read with the group.
 */
#ifndef POSTIE_PRIV_H
#define POSTIE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "err.h"

/*
 * First thing in main. When the effective group differs from the real one (setgid), remember
 * it, make the effective group the real one again (the elevated one stays the saved group),
 * make the process non-dumpable and remove from the environment what would change the files
 * or the code the group's opens use, or where names resolve: GNUTLS_*, LD_*, LOCALEDIR,
 * NLSPATH, HOSTALIASES, LOCALDOMAIN, RES_OPTIONS. ERR_OS when the group cannot be dropped (the
 * caller must stop).
 */
int priv_init(struct err *e);

/* Whether postie runs setgid (priv_init saw an elevated group). */
bool priv_setgid(void);

/* The elevated group (meaningful only when priv_setgid). */
gid_t priv_gid(void);

/* The system group's name for messages: the build's system-group, else "its group". */
const char *priv_group_name(void);

/*
 * Take the elevated group as effective group, for one open; priv_drop right after it. 0, or
 * an errno value. Nothing when not setgid.
 */
int priv_raise(void);

/* Give the elevated group up again after priv_raise. Aborts when it cannot. */
void priv_drop(void);

/*
 * Give the elevated group up for good (real, effective and saved group the real one), once
 * nothing left to do needs it: priv_raise fails (EPERM) from then on, so a fault later in
 * the run (a hostile server's replies, a TLS bug) can never take the group back. Aborts when
 * it cannot. Nothing when not setgid.
 */
void priv_give_up(void);

/*
 * open(PATH, FLAGS), with the elevated group for that open alone when SYSTEM (a file the
 * system profile names, or the profile itself) and postie runs setgid. The descriptor, or -1
 * with open's errno.
 */
int priv_open(const char *path, int flags, bool system);

/*
 * Why the file open at FD (named PATH) may not hold a secret, or NULL: SEC-14's rule
 * (io_not_private), or for a SYSTEM file of a setgid postie SEC-45's (io_not_private_system:
 * root's, at most readable by the group). The reason goes to WHY (N bytes).
 */
const char *priv_not_private(int fd, const char *path, bool system, char *why, size_t n);

/*
 * In a child between fork and exec: real, effective and saved group all the real one, so a
 * command never runs with the group. Async-signal-safe; -1 with errno when it failed.
 */
int priv_child(void);

#endif
