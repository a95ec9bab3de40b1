/*
 * io: the bottom layer's files, clock and waiting, one copy of each. Functions here return
 * an errno value (0 when all went well) or NULL, never text: the caller knows what it was
 * doing and says so in its own "verb object: reason".
 */
#ifndef POSTIE_IO_H
#define POSTIE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <sys/uio.h>
#include "buf.h"

/* Milliseconds of CLOCK_MONOTONIC: for deadlines, never for dates. */
int64_t io_clock_ms(void);

/*
 * Wait until FD is ready for EVENTS (POLLIN, POLLOUT) or the io_clock_ms() DEADLINE passes.
 * 0 when ready, ETIMEDOUT after the deadline, else poll's errno. EINTR is retried.
 */
int io_wait(int fd, short events, int64_t deadline);

/*
 * io_wait on a connection to a server (TCP, or a socketpair in tests): before a wait for
 * input, ask the kernel for immediate ACKs (TCP_QUICKACK), so that a server holding a small
 * reply under Nagle does not wait 40 ms for our delayed ACK. Same results as io_wait.
 */
int io_wait_peer(int fd, short events, int64_t deadline);

/* Write all N bytes at P to FD (EINTR retried). 0, or the errno (EIO for a 0-byte write). */
int io_write_all(int fd, const void *p, size_t n);

/*
 * Read FD to its end, appending to OUT up to OUT->max bytes. 0 when all was read; EFBIG
 * when it holds more (OUT then has what fit); else read's errno. The stack chunk is wiped:
 * OUT may be a secret.
 */
int io_read_all(int fd, struct buf *out);

/* fsync FD, a file or a directory; a file system that cannot sync a directory is fine. */
int io_sync(int fd);

/*
 * Replace the file PATH by the IOVCNT pieces of IOV, atomically: a reader sees the old file
 * or the new one, never part of either. A new file of our own is made beside PATH (O_EXCL,
 * O_NOFOLLOW, MODE), written, with DURABLE fsynced, renamed over PATH and, with DURABLE, its
 * directory fsynced. 0, or the errno of the step that failed (the temporary file is gone).
 */
int io_replace(const char *path, const struct iovec *iov, int iovcnt, unsigned mode, bool durable);

/*
 * A file without a name, in the folder DIR (O_TMPFILE), else in memory (memfd): nothing is
 * left behind whatever happens to the process. Its descriptor, or -1 with the errno of
 * the attempt in DIR.
 */
int io_anonymous(const char *dir);

/* The XDG base directories (XDG Base Directory Specification 0.8). */
enum io_xdg {
	IO_XDG_CONFIG, /* $XDG_CONFIG_HOME, else ~/.config */
	IO_XDG_CACHE,  /* $XDG_CACHE_HOME, else ~/.cache */
	IO_XDG_STATE,  /* $XDG_STATE_HOME, else ~/.local/state */
};

/*
 * The home folder: $HOME when it is an absolute path and not an existing folder of another
 * user's (a daemon's environment passed on: cron started from root's shell runs a user's
 * mailer with HOME=/root), else the passwd entry's of the real user when that is absolute,
 * else NULL.
 */
const char *io_home(void);

/* How io_xdg_path finds and makes the folder. */
enum {
	IO_XDG_MAKE = 1,   /* create BASE and each folder of TAIL (mode 0700) when missing */
	IO_XDG_PASSWD = 2, /* without an absolute $HOME, the passwd entry's home (io_home) */
};

/*
 * BASE/TAIL (TAIL like "postie/tls"), malloc'd, where BASE is the XDG variable when it holds
 * an absolute path (a relative one is invalid and ignored, as the specification says) else
 * its default under $HOME (absolute only, and another user's folder there counts as the
 * passwd entry's home, as in io_home; with IO_XDG_PASSWD, under io_home()). NULL
 * without a home: what postie writes for itself (the queue, caches) goes only where the
 * environment says, while the profile is also looked for in the passwd entry's home. With
 * IO_XDG_MAKE the folders are made; NULL with errno when that fails.
 */
char *io_xdg_path(enum io_xdg which, const char *tail, unsigned flags);

/*
 * The one rule for a file that may hold a secret or say where one goes (SEC-14): a regular
 * file of the effective user that grants group and others nothing. NULL when the file open
 * at FD (named PATH in the reason) is such a file, else the reason in WHY (N bytes), with
 * the commands that fix it ("run `chmod 600 PATH`"; for a file of another user in the
 * user's home `chown`, and `chmod` too when others may read it; for one outside it, which
 * several users may share, a copy of the user's own: the advice never has two users take
 * one file from each other).
 */
const char *io_not_private(int fd, const char *path, char *why, size_t n);

/*
 * The same rule's variant for a setgid postie (SEC-45), only for the system profile and the
 * password_file it names: a regular file of root that others may not use and that its group
 * may at most read when it is the system group GID (root:GROUP 0640), else nothing (0600).
 * NULL when it is such a file, else the reason in WHY (N bytes) with the commands that fix
 * it; GROUP names the group there.
 */
const char *io_not_private_system(int fd, const char *path, gid_t gid, const char *group, char *why,
                                  size_t n);

#endif
