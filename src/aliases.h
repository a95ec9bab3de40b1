/*
 * aliases: what a bare local name (an address without '@': root, cron, www-data) becomes
 * before it goes into the envelope or a header. First msmtp's aliases file ("local: addr,
 * addr" lines, "default:" for names not listed, '#' comments), recursively; then
 * `maildomain` for the names still bare. Also the substitution patterns of `from` and
 * `domain` (%U, %H, %C, %M), which give machine mail a sender of its own.
 */
#ifndef POSTIE_ALIASES_H
#define POSTIE_ALIASES_H

#include <stddef.h>
#include "addr.h"
#include "err.h"

#define ALIASES_MAX_FILE (1024 * 1024)   /* ceiling on an aliases file */
#define ALIASES_MAX_DEPTH 16             /* alias of an alias of ... at most this deep */
#define ALIASES_MAX_ADDRS 1000           /* addresses one name may expand to */
#define ALIASES_MAILNAME "/etc/mailname" /* %M: the system's mail domain (Debian) */

struct alias {
	char *name;          /* the local name as written (matched without regard to case) */
	unsigned line;       /* where it is defined */
	struct addr_list to; /* what it stands for: addresses and other names, normalised */
};

struct aliases {
	char *file; /* for FILE:LINE in errors */
	struct alias *v;
	size_t n;
};

/*
 * Read the aliases file PATH into A (which must be zeroed). Errors are ERR_CONFIG: the file
 * cannot be read, is over ALIASES_MAX_FILE or holds a NUL, or a line is bad ("FILE:LINE:
 * reason": no ':', an empty or invalid name, a name given twice, an invalid address, no
 * address).
 */
int aliases_load(struct aliases *a, const char *path, struct err *e);

/* As aliases_load, from TEXT of LEN bytes read from FILE (for tests). */
int aliases_parse(struct aliases *a, const char *file, const char *text, size_t len, struct err *e);

/* Free what A holds; A is left empty. Safe on a zeroed struct. */
void aliases_fini(struct aliases *a);

/*
 * Append to OUT (skipping addresses it already holds) what the normalised envelope address
 * ADDR becomes. An address with '@' stays as it is. A bare name is looked up in A (NULL: no
 * aliases file): a listed name becomes its addresses, each bare one looked up again; a name
 * not listed becomes what "default" stands for, if there is a "default" (the names that
 * brings are not defaulted again), and else stays itself. Every name still bare at the end
 * becomes NAME@MAILDOMAIN when MAILDOMAIN is set (else it stays bare, for the server to
 * qualify). ERR_CONFIG for a loop, an expansion deeper than ALIASES_MAX_DEPTH or larger than
 * ALIASES_MAX_ADDRS, or a maildomain that makes no valid address.
 */
int aliases_resolve(const struct aliases *a, const char *maildomain, const char *addr,
                    struct addr_list *out, struct err *e);

/*
 * Expand msmtp's substitution patterns in PATTERN into *OUT (owned by the caller): %U the
 * user name ($USER, else $LOGNAME, else the password database's name for the real uid), %H
 * the host name ($HOSTNAME, else gethostname(2)), %C the canonical name of %H (as the
 * resolver gives it; %H itself when it has none), %M the first line of MAILNAME_FILE
 * (normally ALIASES_MAILNAME). Any other '%' stays as it is. ERR_CONFIG when a value is
 * needed and cannot be found; the result is not checked as an address here.
 */
int aliases_substitute(const char *pattern, const char *mailname_file, char **out, struct err *e);

#endif
