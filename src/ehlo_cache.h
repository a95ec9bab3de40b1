/*
 * ehlo_cache: the EHLO replies of servers that offered early pipelining (PIPECONNECT,
 * draft-harris-early-pipe), one private file per server, port, TLS mode and EHLO name under
 * $XDG_CACHE_HOME/postie/ehlo. A file says "this server took EHLO before its greeting last
 * time": the next session may send EHLO right after connecting (SEC-48). The capabilities
 * that decide anything are always the ones of the reply read in this session, never the
 * cached ones.
 */
#ifndef POSTIE_EHLO_CACHE_H
#define POSTIE_EHLO_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

/* What one cache file is for: the server's host (A-label form), its port (0 for a local
 * socket), the TLS mode ("plain", "starttls", "implicit") and the EHLO name. */
struct ehlo_key {
	const char *host;
	int port;
	const char *mode;
	const char *domain;
};

/*
 * The cache file of K, malloc'd: $XDG_CACHE_HOME/postie/ehlo/NAME, NAME made of K's parts
 * with anything but [A-Za-z0-9.-] made "_". With MAKE the folders are created (0700). NULL
 * without a home, or when the name would be too long.
 */
char *ehlo_cache_path(const struct ehlo_key *k, bool make);

/*
 * The cached EHLO reply of K from PATH into TEXT (emptied first; the reply's text as
 * smtp_reply_copy gives it, without codes). true only when PATH is a private file
 * (io_not_private) written for exactly K; anything else is no cache.
 */
bool ehlo_cache_load(const char *path, const struct ehlo_key *k, struct buf *text);

/* Replace PATH atomically by a private file (0600) holding K and the reply TEXT (N bytes).
 * 0, or -1 with ERR_OS. */
int ehlo_cache_save(const char *path, const struct ehlo_key *k, const char *text, size_t n,
                    struct err *e);

/* Remove PATH (a stale or refused entry); a missing file is fine. */
void ehlo_cache_forget(const char *path);

/* Whether the EHLO reply TEXT (N bytes, first line the server's name) offers early
 * pipelining: a keyword line PIPECONNECT or X_PIPE_CONNECT (Exim's older name), any case. */
bool ehlo_cache_offers(const char *text, size_t n);

/* Whether two EHLO replies say the same after their first line (the greeting part, which
 * may name the client): the same keyword lines, in the same order. */
bool ehlo_cache_same(const char *a, size_t an, const char *b, size_t bn);

#endif
