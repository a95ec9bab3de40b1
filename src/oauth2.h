/*
 * oauth2: the OAuth 2.0 access token an account logs in with (SASL XOAUTH2, OAUTHBEARER).
 *
 * RFC 6749 (§5.1 the token endpoint's answer, §5.2 its error), RFC 6750 (§2.1 the bearer
 * token's b64token shape), RFC 8259 (the JSON of that answer); the cache lives where the
 * XDG Base Directory Specification 0.8 puts caches.
 */
#ifndef POSTIE_OAUTH2_H
#define POSTIE_OAUTH2_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"
#include "profile.h"

/* The longest OAuth 2.0 access token postie takes (Microsoft's JWTs run to a few KiB). */
#define OAUTH2_TOKEN_MAX 8192
/* A cached token is used until this many seconds before it expires. */
#define OAUTH2_TOKEN_MARGIN 60
/* A cached token is kept at most this long, whatever lifetime the command gave. */
#define OAUTH2_TOKEN_CACHE_MAX (24 * 3600)

/*
 * Read what an oauth2_token_command printed (P, N bytes), in one of two forms:
 *
 *   TOKEN [LIFETIME]   the token (RFC 6750 b64token), then optionally blanks or line ends
 *                      and its lifetime in seconds (1 to 10 digits); blanks and line ends
 *                      may follow; nothing else.
 *   {JSON object}      a token endpoint's answer (RFC 6749 §5.1): "access_token" (a string)
 *                      and optionally "expires_in" (a number, or a string of digits); other
 *                      members are skipped (at most 16 levels deep). An object with "error"
 *                      and no "access_token" is refused with that error code (§5.2).
 *
 * Appends the token (at most OAUTH2_TOKEN_MAX bytes) to TOKEN (a secret buffer) and sets
 * *LIFETIME to the lifetime in seconds, or -1 when the output gives none. ERR_CONFIG for
 * anything else; the message never quotes the output.
 */
int oauth2_parse(const char *p, size_t n, struct buf *token, long *lifetime, struct err *e);

/*
 * The account's OAuth 2.0 access token into OUT (set up here as a secret buffer, ceiling
 * OAUTH2_TOKEN_MAX; the caller calls buf_fini). Unless REFRESH, a token cached by an earlier
 * run is used while it has more than OAUTH2_TOKEN_MARGIN seconds to live; else
 * oauth2_token_command runs (as spawn_command runs it) and its output is read with
 * oauth2_parse. A token with a known lifetime is cached in
 * $XDG_CACHE_HOME/postie/oauth2/ACCOUNT (default ~/.cache): mode 0600, written to a new
 * file (O_EXCL) and renamed into place (io_replace), tied to the account's host, user,
 * profile file and command (SEC-41: a -C profile elsewhere with the same account name never
 * reads it). A cache file that is stale, damaged, for another host, user, profile or
 * command, not the user's, or readable by others is not used (the last two with a warning).
 * A cache that cannot be written costs only the next run a command.
 *
 * Returns 1 when the token came from the cache, 0 when the command just printed it (also 0,
 * with OUT empty, when the account has no oauth2_token_command), -1 with ERR_CONFIG when the
 * command fails or prints no token. A server that refuses a token that came from the cache
 * may only have revoked it early: call oauth2_forget, then this with REFRESH, and try once
 * more.
 */
int oauth2_token(const struct account *a, bool refresh, struct buf *out, struct err *e);

/* Delete the account's cached OAuth 2.0 token, if any. */
void oauth2_forget(const struct account *a);

/* For tests only: the clock the cache reads (seconds since the epoch); NULL: time(). */
void oauth2_set_clock(long long (*now)(void));

#endif
