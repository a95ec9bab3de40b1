/*
 * doctor: postie --check. One line per step of a send's path, each made by the code a send
 * runs: account_load and deliver_choose_sender (the account and sender), account_check_policy
 * and session_start (what must hold before connecting), account_get_password (the secret),
 * session_connect_port over the account's ports as connect_ports tries them,
 * session_ehlo_tls, session_auth and session_try_envelope. Only the resolution step is its
 * own (conn_resolve), since a send resolves inside its connect. The session is a full
 * handshake (no cached TLS session is offered, so the certificate is seen and checked) and
 * keeps nothing: no cache written, no queue read or written.
 */
#include "doctor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "addr.h"
#include "codec.h"
#include "conn.h"
#include "deliver.h"
#include "dkim.h"
#include "dns_txt.h"
#include "priv.h"
#include "profile.h"
#include "session.h"
#include "smtp.h"
#include "tls.h"

enum mark { MARK_OK, MARK_WARNING, MARK_ERROR, MARK_RESULT };

struct doctor {
	FILE *out;
	struct delivery d; /* the account, sender and password, as a send has them */
	struct session ss;
	struct tls_config tc;
	struct buf greeting, ehlo;
	bool implicit;                   /* the port that answered speaks implicit TLS */
	struct buf dkim_record;          /* the TXT record step_dkim made, for step_dkim_dns */
	const char *dkim_sel, *dkim_dom; /* where it belongs (the account's, the sender's) */
	unsigned warnings;
	char failed[320]; /* the step that failed, for the result line */
};

/* One line: the mark in 9 columns, then the text, every byte outside printable ASCII as
 * \xNN (server and certificate text cannot act on the terminal). */
__attribute__((format(printf, 3, 4))) static void
say(struct doctor *dr, enum mark m, const char *fmt, ...)
{
	static const char *const marks[] = {"ok", "warning", "error", "result"};
	char text[1536];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	fprintf(dr->out, "%-9s", marks[m]);
	codec_put_printable(dr->out, text, (size_t)n, "");
	putc('\n', dr->out);
	fflush(dr->out);
	if (m == MARK_WARNING)
		dr->warnings++;
}

/* The step STEP failed with E: its line (TEXT, E's text, then HINT when not NULL). */
static int
fail(struct doctor *dr, const char *step, const struct err *e, const char *hint)
{
	snprintf(dr->failed, sizeof(dr->failed), "%.300s", step);
	say(dr, MARK_ERROR, "%s: %s%s", step, e->text, hint ? hint : "");
	return -1;
}

void
doctor_expiry_note(long long not_after, long long now, char *buf, size_t n)
{
	char date[32] = "an unknown date";
	time_t t = (time_t)not_after;
	struct tm tm;

	buf[0] = '\0';
	if (not_after - now > (long long)DOCTOR_EXPIRY_WARN_DAYS * 86400)
		return;
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	if (not_after <= now)
		snprintf(buf, n, "expired on %s", date);
	else if (not_after - now < 86400)
		snprintf(buf, n, "expires in less than a day (%s)", date);
	else
		snprintf(buf, n, "expires in %lld day%s (%s)", (not_after - now) / 86400,
		         (not_after - now) / 86400 == 1 ? "" : "s", date);
}

/* ---- before connecting ---- */

/* "0600, yours" and the like, for the profile FILE. */
static void
file_note(const char *file, char *buf, size_t n)
{
	struct stat st;
	if (stat(file, &st) != 0) {
		snprintf(buf, n, "%s", strerror(errno));
		return;
	}
	const char *who = st.st_uid == getuid() ? "yours" : st.st_uid == 0 ? "root's" : NULL;
	if (who)
		snprintf(buf, n, "%04o, %s", (unsigned)(st.st_mode & 07777), who);
	else
		snprintf(buf, n, "%04o, owner uid %u", (unsigned)(st.st_mode & 07777),
		         (unsigned)st.st_uid);
}

/* What the account's origin means for it (SEC-41, SEC-43). */
static const char *
origin_note(const struct account *a)
{
	switch (a->origin) {
	case PROFILE_ORIGIN_SYSTEM:
		return ", the system profile";
	case PROFILE_ORIGIN_NAMED:
		return ", named by -C outside ~/.config/postie: it runs no command and gets no "
		       "password from ~/.netrc, the keyring or credentials";
	default:
		return "";
	}
}

/* The profile, and the account a send would choose (with -f's claim, as a send). */
static int
step_profile(struct doctor *dr, const struct opts *o, struct err *e)
{
	struct delivery *d = &dr->d;
	char note[128];

	if (o->sender) {
		d->claimed = xstrdup(o->sender);
		d->claimed_kind = ERR_USAGE;
	}
	if (deliver_load_account(d, e) < 0)
		return fail(dr, "profile", e, NULL);
	const struct account *a = d->acct;
	if (a->origin == PROFILE_ORIGIN_ARGV) {
		say(dr, MARK_OK, "profile: none read, --host gives every setting");
		return 0;
	}
	file_note(a->file, note, sizeof(note));
	say(dr, MARK_OK, "profile %s (%s%s): %zu account%s", a->file, note, origin_note(a),
	    d->ac.prof.n, d->ac.prof.n == 1 ? "" : "s");
	/* Every other account's settings, as a send through it would check them. */
	for (size_t i = 0; i < d->ac.prof.n; i++) {
		const struct account *other = d->ac.prof.accounts[i];
		struct err pe;
		err_clear(&pe);
		if (other != a && account_check_policy(other, &pe) < 0)
			say(dr, MARK_WARNING, "account %s (%s:%u): %s", other->name, other->file,
			    other->line, pe.text);
	}
	return 0;
}

/* "587 STARTTLS, 465 implicit TLS" for A's ports, into OUT. */
static void
ports_note(const struct account *a, struct buf *out)
{
	int ports[PROFILE_MAX_PORTS];
	int np = session_ports(a, ports);

	if (a->socket) {
		buf_printf(out, NULL, "local socket %s", a->socket);
		return;
	}
	for (int i = 0; i < np; i++)
		buf_printf(out, NULL, "%s%d %s", i ? ", " : "", ports[i],
		           profile_implicit_tls(a, ports[i]) ? "implicit TLS"
		           : a->tls                          ? "STARTTLS"
		                                             : "no TLS");
}

/* The account's settings, the sender, and what must hold before connecting. */
static int
step_account(struct doctor *dr, struct err *e)
{
	struct delivery *d = &dr->d;
	const struct account *a = d->acct;
	char where[4200];
	struct buf ports;
	const char *step = "account";

	if (deliver_choose_sender(d, e) < 0 || account_check_policy(a, e) < 0)
		return fail(dr, step, e, NULL);
	/* The TLS files load and the host converts as a send's session_start does. */
	if (session_start(&dr->ss, a, &dr->tc, e) < 0)
		return fail(dr, step, e, NULL);
	/* A full handshake: the certificate is seen and checked, not a cached session. */
	dr->tc.session_file = NULL;
	buf_init(&ports, 4096);
	ports_note(a, &ports);
	snprintf(where, sizeof(where), "%s:%u", a->file, a->line);
	say(dr, MARK_OK, "account %s (%s): host %s, port %s%s, %s%s%s%s, from <%s>", a->name,
	    a->origin == PROFILE_ORIGIN_ARGV ? "command line" : where, dr->ss.host, ports.data,
	    a->lmtp ? " (LMTP)" : "", a->auth ? "AUTH " : "no AUTH",
	    !a->auth       ? ""
	    : a->auth_mech ? a->auth_mech
	                   : "(mechanism chosen from the server's)",
	    a->auth && a->user ? " as " : "", a->auth && a->user ? a->user : "", d->sender);
	buf_fini(&ports);
	return 0;
}

/*
 * The DKIM key record published at SEL._domainkey.DOM (dns_txt_lookup: the system resolver,
 * 2 s a server) against OURS, the record of the key: an ok line when every TXT record there
 * is the key's, else a warning saying what differs (none, revoked, another type or key, not a
 * key record) or why it could not be looked up. Never an error: a send does not look it up,
 * the mail goes, only a receiver cannot verify. The DNS's text is untrusted; say() escapes.
 */
static void
dkim_published(struct doctor *dr, const char *sel, const char *dom, const char *ours)
{
	char name[640], why[256];
	struct dns_txt t;
	struct err e;
	const char *publish = "publish the record above, or receivers cannot verify the "
	                      "signature (mail still goes)";

	snprintf(name, sizeof(name), "%s._domainkey.%s", sel, dom);
	dns_txt_init(&t);
	err_clear(&e);
	if (dns_txt_lookup(name, &t, &e) < 0) {
		const char *reason = strstr(e.text, ": ");
		say(dr, MARK_WARNING, "DKIM record %s: could not look up: %s", name,
		    reason ? reason + 2 : e.text);
		return;
	}
	/* The first record that is not the key's, if any (i). */
	size_t i = 0;
	enum dkim_record_verdict v = DKIM_RECORD_MATCH;
	for (; i < t.n; i++) {
		v = dkim_record_compare(ours, t.text[i], t.len[i], why, sizeof(why));
		if (v != DKIM_RECORD_MATCH)
			break;
	}
	if (t.n == 0)
		say(dr, MARK_WARNING, "DKIM record %s: %s; %s", name,
		    t.nxdomain ? "no such name in the DNS" : "no TXT record there", publish);
	else if (v == DKIM_RECORD_MATCH && t.total == t.n)
		say(dr, MARK_OK, "DKIM record %s: matches the key", name);
	else if (v == DKIM_RECORD_MATCH)
		say(dr, MARK_WARNING, "DKIM record %s: %zu TXT records, too many to compare; %s",
		    name, t.total, publish);
	else
		say(dr, MARK_WARNING, "DKIM record %s: %s; the DNS has \"%.*s\"%s; %s", name, why,
		    (int)(t.len[i] < 300 ? t.len[i] : 300), t.text[i],
		    t.n > 1 ? " among other TXT records (a verifier may take any)" : "", publish);
	dns_txt_fini(&t);
}

/*
 * DKIM (dkim_key): the key loads as a send loads it (with the group for the system profile's,
 * so before step_secret gives the group up, SEC-45), and the line gives the TXT record to
 * publish; step_dkim_dns then looks the record up in the DNS and compares it
 * (dkim_published). Without a domain (no dkim_domain, the null sender) nothing is looked up.
 */
static int
step_dkim(struct doctor *dr, struct err *e)
{
	const struct account *a = dr->d.acct;
	struct dkim_key key;

	if (!a->dkim_key)
		return 0;
	if (deliver_dkim_key(a, &key, e) < 0)
		return fail(dr, "DKIM", e, NULL);
	int rc = dkim_key_record(&key, &dr->dkim_record, e);
	bool ed = key.ed25519;
	dkim_key_fini(&key);
	if (rc < 0)
		return fail(dr, "DKIM", e, NULL);
	/* Without dkim_domain a send signs for the From field's domain: this account's own
	 * address's when the message does not say otherwise. */
	const char *dom = a->dkim_domain                  ? a->dkim_domain
	                  : dr->d.sender && *dr->d.sender ? addr_domain(dr->d.sender)
	                                                  : NULL;
	bool known = dom && *dom;
	if (!known)
		dom = "DOMAIN";
	say(dr, MARK_OK,
	    "DKIM: %s key %s, selector %s, domain %s; publish %s._domainkey.%s TXT \"%s\"",
	    ed ? "Ed25519" : "RSA", a->dkim_key, a->dkim_selector,
	    a->dkim_domain ? dom : "the From field's", a->dkim_selector, dom, dr->dkim_record.data);
	if (known) {
		dr->dkim_sel = a->dkim_selector;
		dr->dkim_dom = dom;
	}
	return 0;
}

/* The record step_dkim made, as the DNS has it (dkim_published; SEC-49). After step_secret: the
 * answer is untrusted bytes, parsed once a setgid postie has given its group up (SEC-45). */
static int
step_dkim_dns(struct doctor *dr, struct err *e)
{
	(void)e;
	if (dr->dkim_sel) {
		priv_give_up();
		dkim_published(dr, dr->dkim_sel, dr->dkim_dom, dr->dkim_record.data);
	}
	return 0;
}

/* Where the password came from (secret_get's order), never what it is. */
static const char *
secret_source(const struct account *a, const struct buf *pw, char *buf, size_t n)
{
	/* SEC-45: a user checking the setgid system account learns no more than -P shows. */
	if (a->origin == PROFILE_ORIGIN_SYSTEM && priv_setgid() && getuid() != 0)
		return "the system profile gives a password";
	if (a->oauth2_token_command)
		return "oauth2_token_command gave a token";
	if (a->password)
		return "a password is in the profile";
	if (a->passwordeval)
		return "passwordeval ran and gave a password";
	if (a->password_file) {
		snprintf(buf, n, "password_file %s gave a password", a->password_file);
		return buf;
	}
	if (pw->len == 0)
		return "none: the client certificate (tls_cert_file) logs in (EXTERNAL)";
	return "a password was found for the host and user (systemd credential, ~/.netrc, "
	       "/etc/netrc, the keyring, or the prompt)";
}

static int
step_secret(struct doctor *dr, struct err *e)
{
	struct delivery *d = &dr->d;
	const struct account *a = d->acct;
	char buf[4200];

	if (!a->auth) {
		priv_give_up(); /* SEC-45: no secret to read; the doctor uses no queue */
		say(dr, MARK_OK, "secret: none needed (no AUTH)");
		return 0;
	}
	int rc = account_get_password(a, &d->password, e);
	/* SEC-45: the secrets are read, and the doctor uses no queue: the group goes. */
	priv_give_up();
	if (rc < 0)
		return fail(dr, "secret", e, NULL);
	say(dr, MARK_OK, "secret: %s", secret_source(a, &d->password, buf, sizeof(buf)));
	return 0;
}

/* The name a connection resolves: the host, or the proxy, or none over a local socket. */
static int
step_resolve(struct doctor *dr, struct err *e)
{
	const struct account *a = dr->d.acct;
	char first[64];

	if (a->socket) {
		say(dr, MARK_OK, "resolve: nothing to resolve, local socket %s", a->socket);
		return 0;
	}
	const char *name = a->proxy_host ? a->proxy_host : dr->ss.host;
	/* ip_family (-4, -6) as the send's connection keeps it (session.c). */
	const char *only = a->ip_family == 4   ? " (IPv4 only)"
	                   : a->ip_family == 6 ? " (IPv6 only)"
	                                       : "";
	int family = a->ip_family == 4 ? AF_INET : a->ip_family == 6 ? AF_INET6 : 0;
	int n = conn_resolve(name, a->proxy_host != NULL, family, first, sizeof(first), e);
	if (n < 0)
		return fail(dr, "resolve", e, NULL);
	say(dr, MARK_OK, "resolve %s%s%s: %d address%s, first %s%s%s",
	    a->proxy_host ? "proxy " : "", name, only, n, n == 1 ? "" : "es", first,
	    a->proxy_host ? "; the proxy resolves " : "", a->proxy_host ? dr->ss.host : "");
	return 0;
}

/* ---- the connection ---- */

/* How the server's certificate was judged, as the account says. */
static const char *
trust_note(const struct account *a, char *buf, size_t n)
{
	if (a->tls_fingerprint)
		return "pinned by tls_fingerprint (the certificate)";
	if (a->tls_pin_spki)
		return "pinned by tls_fingerprint sha256// (the public key)";
	if (!a->tls_certcheck)
		return "NOT verified (tls_certcheck off)";
	if (!a->tls_trust_file)
		return "verified against the system trust store";
	snprintf(buf, n, "verified against tls_trust_file %s", a->tls_trust_file);
	return buf;
}

/* The TLS session that is up: version, the certificate, how it was verified, its expiry. */
static void
step_tls(struct doctor *dr)
{
	const struct account *a = dr->d.acct;
	struct tls *t = dr->ss.s.conn.tls;
	struct tls_summary sum;
	char trust[4200], date[32] = "an unknown date", note[128];

	if (!t) {
		say(dr, MARK_WARNING,
		    "TLS: off (`tls off` in account %s): the mail travels in clear", a->name);
		return;
	}
	if (tls_summarize(t, &sum) < 0) {
		say(dr, MARK_OK, "TLS: %s, %s", tls_describe(t),
		    trust_note(a, trust, sizeof(trust)));
		return;
	}
	time_t end = (time_t)sum.not_after;
	struct tm tm;
	if (sum.not_after >= 0 && gmtime_r(&end, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	say(dr, MARK_OK, "TLS: %s, certificate for %s by %s, expires %s; %s", tls_describe(t),
	    sum.names[0] ? sum.names : "(no name of the host's kind)", sum.issuer, date,
	    trust_note(a, trust, sizeof(trust)));
	if (!a->tls_certcheck && !a->tls_fingerprint && !a->tls_pin_spki)
		say(dr, MARK_WARNING,
		    "TLS: the server's certificate is not verified "
		    "(tls_certcheck off): anyone on the path can pose as it");
	if (sum.not_after < 0)
		return;
	doctor_expiry_note(sum.not_after, (long long)time(NULL), note, sizeof(note));
	if (note[0])
		say(dr, MARK_WARNING,
		    "TLS: the server's certificate %s: its administrator must "
		    "renew it%s",
		    note,
		    a->tls_fingerprint ? "; tls_fingerprint pins this very certificate, so "
		                         "change the pin when it is renewed"
		                       : "");
}

/* The step a failed session_connect_port stopped at, into BUF. */
static const char *
connect_stage(const struct doctor *dr, int port, char *buf, size_t n)
{
	const struct smtp *s = &dr->ss.s;

	if (!s->conn.peer[0])
		snprintf(buf, n, "connect %s port %d", dr->ss.host, port);
	else if (dr->implicit && !s->tls)
		snprintf(buf, n, "TLS with %s", s->conn.peer);
	else
		snprintf(buf, n, "greeting of %s", s->conn.peer);
	return buf;
}

/* What to change for a connection or TLS failure E of account A. */
static const char *
connect_hint(const struct account *a, const struct err *e)
{
	if (e->kind == ERR_TLS && strstr(e->text, "issuer unknown"))
		return a->tls_trust_file
		           ? " (the trust file does not hold the CA that signed the server's "
		             "certificate)"
		           : " (postie trusts the system store: for a private CA set "
		             "`tls_trust_file` to the CA's certificate)";
	if (e->kind != ERR_TEMP || e->code)
		return NULL;
	if (strstr(e->text, strerror(ECONNREFUSED)))
		return "; nothing listens there: check `port` (587 is submission with STARTTLS, "
		       "465 implicit TLS) and `host`";
	if (strstr(e->text, "timed out"))
		return "; no answer: check `host`, `port` and any firewall on the way";
	return NULL;
}

/* The first line of the greeting. */
static void
first_line(const struct buf *b, char *out, size_t n)
{
	const char *p = b->data ? b->data : "";
	size_t k = strcspn(p, "\n");
	snprintf(out, n, "%.*s", (int)(k < n ? k : n - 1), p);
}

/* The account's ports in turn, as connect_ports tries them: the first that greets wins. */
static int
step_connect(struct doctor *dr, struct err *e)
{
	const struct account *a = dr->d.acct;
	struct smtp *s = &dr->ss.s;
	int ports[PROFILE_MAX_PORTS];
	int np = session_ports(a, ports);
	bool temp = false;
	char step[256], greet[256];

	s->greeting_text = &dr->greeting;
	for (int i = 0; i < np; i++) {
		bool next;
		dr->implicit = profile_implicit_tls(a, ports[i]);
		if (session_connect_port(&dr->ss, &dr->tc, ports[i], dr->implicit, &next, e) == 0) {
			first_line(&dr->greeting, greet, sizeof(greet));
			say(dr, MARK_OK, "connect %s (%s): %s", s->conn.peer,
			    dr->implicit ? "implicit TLS"
			    : a->tls     ? "STARTTLS"
			                 : "no TLS",
			    greet);
			if (dr->implicit)
				step_tls(dr);
			return 0;
		}
		connect_stage(dr, ports[i], step, sizeof(step));
		temp = temp || e->kind == ERR_TEMP;
		if (next && i + 1 < np) {
			say(dr, MARK_WARNING, "%s: %s; a send goes on to port %d", step, e->text,
			    ports[i + 1]);
			continue;
		}
		/* As connect_ports: worth retrying when any port was. */
		if (next && np > 1 && temp)
			e->kind = ERR_TEMP;
		return fail(dr, step, e, connect_hint(a, e));
	}
	return err_set(e, ERR_SOFTWARE, "connect: no port to try");
}

/* The step a failed session_ehlo_tls stopped at. */
static const char *
ehlo_stage(const struct smtp *s, bool starttls, const struct err *e)
{
	if (!starttls || s->tls || !(s->caps.bits & SMTP_CAP_STARTTLS) ||
	    strncmp(e->text, "send ", 5) == 0)
		return s->tls ? "EHLO after STARTTLS" : "EHLO";
	return e->kind == ERR_TLS && strncmp(e->text, "start TLS", 9) != 0 ? "TLS" : "STARTTLS";
}

/* EHLO, and STARTTLS with its handshake, as a send does them. */
static int
step_ehlo(struct doctor *dr, struct err *e)
{
	const struct account *a = dr->d.acct;
	struct smtp *s = &dr->ss.s;
	bool starttls = a->tls && !dr->implicit;
	char name[256];

	s->ehlo_text = &dr->ehlo;
	if (session_ehlo_tls(&dr->ss, &dr->tc, dr->implicit, e) < 0)
		return fail(dr, ehlo_stage(s, starttls, e), e, connect_hint(a, e));
	if (starttls)
		step_tls(dr);
	first_line(&dr->ehlo, name, sizeof(name));
	say(dr, MARK_OK, "%s %s: %s; AUTH %s", a->lmtp ? "LHLO" : "EHLO",
	    a->domain ? a->domain : "localhost", name,
	    !(s->caps.bits & SMTP_CAP_AUTH) ? "not offered"
	    : s->caps.auth[0]               ? s->caps.auth
	                                    : "offered, no mechanism named");
	if (!a->tls)
		step_tls(dr);
	return 0;
}

/* Where to look after a refused login of A (its password's source; never the secret). */
static void
auth_hint(const struct account *a, char *buf, size_t n)
{
	if (a->origin == PROFILE_ORIGIN_SYSTEM && priv_setgid() && getuid() != 0)
		snprintf(buf, n, " (the system profile's: ask its administrator)");
	else if (a->oauth2_token_command)
		snprintf(buf, n, " (the token comes from oauth2_token_command in %s)", a->file);
	else if (a->password)
		snprintf(buf, n, " (`password` in %s)", a->file);
	else if (a->passwordeval)
		snprintf(buf, n, " (the output of passwordeval in %s)", a->file);
	else if (a->password_file)
		snprintf(buf, n, " (the first line of password_file %s)", a->password_file);
	else
		snprintf(buf, n,
		         " (found for host %s and user %s: systemd credential, ~/.netrc, "
		         "/etc/netrc or the keyring)",
		         a->host, a->user ? a->user : "");
}

/* A real login, with the mechanism a send would choose. */
static int
step_auth(struct doctor *dr, struct err *e)
{
	const struct account *a = dr->d.acct;
	const char *mech = NULL;
	char step[320], hint[4400];

	if (!a->auth) {
		say(dr, MARK_OK, "AUTH: not used (account %s has no `user`)", a->name);
		return 0;
	}
	int rc = session_auth(&dr->ss, dr->d.password.data, &mech, e);
	buf_fini(&dr->d.password); /* wiped: not needed again */
	snprintf(step, sizeof(step), "AUTH %s%s%s", mech ? mech : "", a->user ? " as " : "",
	         a->user ? a->user : "");
	if (rc < 0) {
		auth_hint(a, hint, sizeof(hint));
		return fail(dr, step, e, e->kind == ERR_AUTH ? hint : NULL);
	}
	say(dr, MARK_OK, "%s: accepted", step);
	return 0;
}

/* MAIL FROM and RCPT TO of the sender's own address, then RSET: nothing is sent. */
static int
step_envelope(struct doctor *dr, struct err *e)
{
	const char *sender = dr->d.sender;
	char *rcpt[1] = {dr->d.sender};
	int code = 0;
	char step[640];

	dr->ss.open = true;
	if (!*sender) {
		say(dr, MARK_WARNING, "envelope: not tried with the null sender (-f '<>')");
		return 0;
	}
	snprintf(step, sizeof(step), "MAIL FROM:<%s> / RCPT TO:<%s>", sender, sender);
	if (session_try_envelope(&dr->ss, sender, rcpt, 1, &code, e) < 0)
		return fail(dr, step, e,
		            e->code >= 500
		                ? "; the server refuses this envelope: check `from` (the "
		                  "server may not let this login send as this address)"
		                : NULL);
	say(dr, MARK_OK, "%s: 250 / %d; RSET, nothing sent", step, code);
	return 0;
}

int
doctor_run(const struct opts *o, FILE *out, struct err *e)
{
	struct doctor dr = {.out = out};
	int (*const steps[])(struct doctor *, struct err *) = {
	    step_account, step_dkim, step_secret, step_dkim_dns, step_resolve,
	    step_connect, step_ehlo, step_auth,   step_envelope,
	};

	deliver_init(&dr.d, o);
	session_init(&dr.ss);
	buf_init(&dr.greeting, 16384);
	buf_init(&dr.dkim_record, 8192);
	buf_init(&dr.ehlo, 16384);
	int rc = step_profile(&dr, o, e);
	for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
		rc = steps[i](&dr, e);
	session_close(&dr.ss, rc < 0 ? e : NULL);
	if (rc == 0 && dr.warnings)
		say(&dr, MARK_RESULT, "ok: account %s can send (%u warning%s above)",
		    dr.d.acct->name, dr.warnings, dr.warnings == 1 ? "" : "s");
	else if (rc == 0)
		say(&dr, MARK_RESULT, "ok: account %s can send", dr.d.acct->name);
	else
		say(&dr, MARK_RESULT, "failed at %s: exit status %d%s",
		    dr.failed[0] ? dr.failed : "the start", err_exit_status(e->kind),
		    e->kind == ERR_TEMP && dr.d.acct && dr.d.acct->queue
		        ? ", worth retrying: a send would keep its message in the queue"
		        : ", as a send would have");
	buf_fini(&dr.greeting);
	buf_fini(&dr.dkim_record);
	buf_fini(&dr.ehlo);
	deliver_fini(&dr.d);
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		return err_set(e, ERR_OS, "print the check: %s", strerror(errno));
	return rc;
}
