/*
 * deliver: one delivery. From the options, the profile and the message on standard input to
 * the server's final reply: account choice (account.h), envelope checks, header rewriting,
 * the password, the queue copy, and the session (session.h), then a few due queue entries
 * of the account over it (flush.h).
 */
#ifndef POSTIE_DELIVER_H
#define POSTIE_DELIVER_H

#include <stdbool.h>
#include "account.h"
#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "err.h"
#include "msg.h"
#include "queue.h"

/* One run: the message, its account, envelope, password and queue copy. */
struct delivery {
	const struct opts *o;
	struct account_choice ac; /* the profile, the account, its aliases */
	struct account *acct;     /* ac.acct, once loaded */
	char *claimed;            /* the sender -f or (--read-envelope-from) the From field names */
	enum err_kind claimed_kind; /* ERR_USAGE for -f, ERR_DATA for the From field */
	char *sender;               /* normalised envelope sender; "" is the null sender */
	struct addr_list rcpts;     /* normalised, aliases resolved, without duplicates */
	struct msg msg;
	bool msg_read;
	struct buf password; /* secret */
	struct queue q;      /* open when the account queues */
	bool queue_open;
	struct queue_copy copy;
	bool copying;             /* copy holds this message (begun, not yet committed/discarded) */
	struct queue_meta meta;   /* the copy's envelope */
	struct txn_params params; /* DSN and BODY for MAIL and RCPT */
	char *mail_params;        /* the same as the queue keeps them, or NULL */
	char *rcpt_params;
	struct buf signed_head; /* DKIM: the signature field, then msg.out */
	int spool;              /* DKIM: the body, read whole before the signature; -1: none */
};

/* D empty, for the run O asks for. */
void deliver_init(struct delivery *d, const struct opts *o);

/* Free what D holds, discarding a queue copy not yet committed. */
void deliver_fini(struct delivery *d);

/* The account (account_load) for d->claimed, the sender -f or the From field names. */
int deliver_load_account(struct delivery *d, struct err *e);

/*
 * The envelope sender into d->sender: the account's `from` (msmtp's %U, %H, %C, %M
 * expanded; auto_from makes it USER@maildomain, or USER@ the host's canonical name), unless
 * d->claimed claims another and allow_from_override lets it. A bare name gets the
 * maildomain. ERR_CONFIG (or ERR_USAGE with --host) when there is none.
 */
int deliver_choose_sender(struct delivery *d, struct err *e);

/*
 * The signing key of account A (dkim_key) into K, as a send and --check load it: ERR_CONFIG
 * without a dkim_selector, else dkim_key_load's verdict, the file opened with the group when
 * the system profile names it (SEC-45). K needs dkim_key_fini only after 0.
 */
struct dkim_key;
int deliver_dkim_key(const struct account *a, struct dkim_key *k, struct err *e);

/*
 * Every recipient into d->rcpts: the operands, and with -t the To, Cc and Bcc fields of
 * d->msg; each checked (SEC-22) and resolved through the aliases file and maildomain,
 * duplicates dropped. ERR_USAGE (operands) or ERR_DATA (header); none is an error.
 */
int deliver_collect_recipients(struct delivery *d, struct err *e);

/*
 * Deliver the message read from FD as O says. 0 only after the server's 250 to the end of
 * data and 250 or 251 to every recipient (SEC-36), or once the message is durably queued
 * (an out-of-step verdict is kept in the queue and still -1, ERR_UNSURE, unless
 * O->serving); otherwise -1 with e set to the kind that gives the exit status (SEC-37).
 * Everything that can be checked before connecting is checked before connecting. The
 * account is O's -a, else the one whose `from` is -f's (or, with --read-envelope-from, the
 * From field's) address, else "default"; O's long options (--port=N, ...) go over it
 * (profile_apply): one that moves the mail is refused for an account with a secret (SEC-41)
 * and makes the run one that neither queues nor flushes (SEC-42). msmtp's --host makes an
 * account of the command line alone (no profile is read; -a with it is ERR_USAGE).
 * Recipients pass through the account's aliases file and maildomain, in the envelope and
 * in the header; the header is rewritten as the account says (msg_rewrite); -N/-R/-V/-B
 * win over dsn_notify/dsn_return. One maillog line records the outcome.
 */
int deliver_run(const struct opts *o, int fd, struct err *e);

#endif
