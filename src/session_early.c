/*
 * session_early: early pipelining (PIPECONNECT, draft-harris-early-pipe) for the session.
 * When the server offered it last time (ehlo_cache.h), EHLO goes right after the connection
 * (after the handshake with implicit TLS), before the greeting: one wait fewer; for an
 * account that requires STARTTLS, STARTTLS goes behind it: one more. Nothing else goes
 * early: the mechanism, the envelope and its parameters are decided by the replies read in
 * this session, never by the cache (SEC-48); after TLS, EHLO is read over TLS (SEC-4).
 */
#include "session.h"
#include "session_int.h"

#include <stdlib.h>

#include "ehlo_cache.h"
#include "log.h"
#include "priv.h"

/* Whether this session may use the cache: not LMTP (LHLO, and no such extension), not over
 * a local socket, and (SEC-45) not for the system account of a setgid postie. */
static bool
usable(const struct session *ss)
{
	const struct account *a = ss->acct;
	return !a->lmtp && !a->socket && a->domain && a->domain[0] &&
	       !(priv_setgid() && a->origin == PROFILE_ORIGIN_SYSTEM);
}

static struct ehlo_key
key_of(const struct session *ss, bool implicit)
{
	const struct account *a = ss->acct;
	return (struct ehlo_key){
	    .host = ss->host,
	    .port = ss->port,
	    .mode = implicit ? "implicit"
	            : a->tls ? "starttls"
	                     : "plain",
	    .domain = a->domain,
	};
}

int
session_early_begin(struct session *ss, bool implicit, struct err *e)
{
	ss->early = false;
	if (!usable(ss))
		return 0;
	struct ehlo_key k = key_of(ss, implicit);
	char *path = ehlo_cache_path(&k, false);
	if (!path)
		return 0;
	struct buf text;
	buf_init(&text, 16384);
	int rc = 0;
	if (ehlo_cache_load(path, &k, &text) && ehlo_cache_offers(text.data, text.len)) {
		log_info("early pipelining: %s offered PIPECONNECT last time; EHLO goes before "
		         "the greeting",
		         ss->host);
		rc = smtp_ehlo_early(&ss->s, ss->acct->domain, e);
		ss->early = rc == 0;
		/* "EHLO,STARTTLS": the account requires STARTTLS whatever the server says, so it
		 * goes too; its 220 is read after the EHLO reply, and a refusal is a stale cache.
		 */
		if (rc == 0 && !implicit && ss->acct->tls) {
			log_info(
			    "early pipelining: STARTTLS goes behind it (the account requires TLS)");
			rc = smtp_starttls_early(&ss->s, e);
		}
	}
	buf_fini(&text);
	free(path);
	return rc;
}

void
session_early_forget(struct session *ss, bool implicit)
{
	struct ehlo_key k = key_of(ss, implicit);
	char *path = ehlo_cache_path(&k, false);
	if (path)
		ehlo_cache_forget(path);
	free(path);
}

/* After the first EHLO reply (REPLY, its text): keep, update or drop the cache. */
static void
note(struct session *ss, bool implicit, const struct buf *reply)
{
	if (!usable(ss))
		return;
	struct ehlo_key k = key_of(ss, implicit);
	const char *t = reply->data ? reply->data : "";
	bool offers = ehlo_cache_offers(t, reply->len);
	char *path = ehlo_cache_path(&k, offers);
	if (!path) {
		if (offers)
			log_info("early pipelining: no cache folder (HOME, XDG_CACHE_HOME)");
		return;
	}
	struct buf old;
	struct err se;
	buf_init(&old, 16384);
	bool had = ehlo_cache_load(path, &k, &old);
	bool same = had && ehlo_cache_same(old.data, old.len, t, reply->len);
	if (!offers && had) {
		ehlo_cache_forget(path);
		log_info("early pipelining: %s no longer offers PIPECONNECT; its cached EHLO "
		         "reply is removed",
		         ss->host);
	} else if (offers && !same) {
		if (ehlo_cache_save(path, &k, t, reply->len, &se) < 0)
			log_info("%s", se.text);
		else if (had)
			log_info(
			    "early pipelining: the EHLO reply of %s differs from the cached "
			    "one; the cache is updated, this session goes on with the reply read",
			    ss->host);
		else
			log_info(
			    "early pipelining: %s offers PIPECONNECT; its EHLO reply is cached "
			    "for the next session",
			    ss->host);
	} else if (ss->early && same) {
		log_info("early pipelining: the EHLO reply matches the cached one");
	}
	buf_fini(&old);
	free(path);
}

int
session_early_ehlo(struct session *ss, bool implicit, bool allow_helo, struct err *e)
{
	struct smtp *s = &ss->s;
	struct buf mine, *shown = s->ehlo_text;

	/* The reply's text goes where the caller wants it (serverinfo) and to the cache. */
	buf_init(&mine, 16384);
	s->ehlo_text = shown ? shown : &mine;
	int rc = smtp_ehlo(s, ss->acct->domain, allow_helo, e);
	if (rc == 0)
		note(ss, implicit, s->ehlo_text);
	s->ehlo_text = shown;
	buf_fini(&mine);
	return rc;
}
