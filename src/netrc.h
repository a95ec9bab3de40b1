/*
 * netrc: the password for a host and a user in a netrc file (~/.netrc, /etc/netrc).
 *
 * The format is ftp(1)'s (4.2BSD ftp(1) and netrc(5); GNU inetutils, "The .netrc file"),
 * with the quoted strings curl reads since 7.84 (curl's docs/cmdline-opts/netrc.md).
 */
#ifndef POSTIE_NETRC_H
#define POSTIE_NETRC_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

/* The longest word (machine, login, password...) postie reads from a netrc file. */
#define NETRC_WORD_MAX 4096

/*
 * Find the password for HOST and USER in the netrc text P (N bytes). The format is ftp(1)'s:
 * words separated by blanks and line ends; "machine NAME", "default", "login NAME",
 * "password WORD", "account WORD", "macdef NAME" (its body, up to the next empty line, is
 * skipped); a word may be a quoted string as curl reads them ("a b", with \" \\ \n \r \t);
 * '#' where a keyword is due starts a comment to the end of the line; unknown keywords are
 * skipped. The password of the first "machine" entry whose name is HOST (any case) and
 * whose login is USER or absent is appended to OUT (a secret buffer); failing that, that of
 * the first such "default" entry. Returns 1 when found, 0 when not, -1 with ERR_CONFIG
 * "line N: reason" for text that is not netrc: a NUL byte, an unterminated quoted string, a
 * word longer than NETRC_WORD_MAX, a keyword without its word.
 */
int netrc_find(const char *p, size_t n, const char *host, const char *user, struct buf *out,
               struct err *e);

/*
 * Look HOST and USER up in the netrc file PATH (netrc_find). PRIVATE (~/.netrc): a password
 * found in a file that others may read, or that is not the user's, is not used (ftp(1)
 * refuses such a file too; io_not_private). Nothing here fails the run: a missing file is
 * quietly skipped, an unreadable or malformed one with a warning. Returns 1 when the
 * password is in OUT, else 0.
 */
int netrc_lookup(const char *path, bool private, const char *host, const char *user,
                 struct buf *out);

#endif
