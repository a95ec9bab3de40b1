/*
 * account: choosing and loading the account a run uses, with the command line's settings
 * over it, and what must hold of it before a connection is made (policy, password).
 */
#ifndef POSTIE_ACCOUNT_H
#define POSTIE_ACCOUNT_H

#include "aliases.h"
#include "buf.h"
#include "cli.h"
#include "err.h"
#include "profile.h"

/* The account msmtp's --host makes from the command line alone. */
#define ACCOUNT_CMDLINE "command-line"

/* The account a run uses and what comes with it. Zeroed before account_load. */
struct account_choice {
	const struct opts *o;
	const char *claimed;        /* the sender -f or the From field names, or NULL; not owned */
	enum err_kind claimed_kind; /* ERR_USAGE for -f, ERR_DATA for the From field */
	struct profile prof;
	struct account *acct;   /* in prof, once chosen */
	struct aliases aliases; /* the account's aliases file, or empty */
};

/*
 * Load the profile and choose the account into C: O's -a, else the one whose `from` is
 * CLAIMED (checked as an envelope address, error kind CLAIMED_KIND), else "default"; with
 * --host an account of the command line alone (ACCOUNT_CMDLINE; -a with it is ERR_USAGE).
 * O's long options go over it (profile_apply); one that moves the mail is refused for an
 * account with a secret (SEC-41) and turns the queue off (SEC-42). Then `domain`'s patterns
 * are expanded and the aliases file is loaded. ERR_CONFIG for profile errors.
 */
int account_load(struct account_choice *c, const struct opts *o, const char *claimed,
                 enum err_kind claimed_kind, struct err *e);

/* Free what C holds. Safe on a zeroed struct. */
void account_choice_fini(struct account_choice *c);

/* msmtp(1), `domain`: %H, %C and %M expanded in A's domain, in place. */
int account_expand_domain(struct account *a, struct err *e);

/* *ADDR qualified with A's maildomain when it has no '@' (replaced in place). */
int account_qualify(const struct account *a, char **addr, struct err *e);

/*
 * What A asks of TLS and AUTH, checked before connecting (SEC-1, SEC-12): a host, a user for
 * AUTH, no password over clear text or to an unverified server, a mechanism postie has.
 * ERR_CONFIG or ERR_TLS.
 */
int account_check_policy(const struct account *a, struct err *e);

/*
 * A's password into OUT (a secret buffer), from the profile, its passwordeval, its token
 * command or the implicit sources (SEC-15, SEC-41); nothing without `auth`. ERR_CONFIG when
 * AUTH needs one and there is none.
 */
int account_get_password(const struct account *a, struct buf *out, struct err *e);

#endif
