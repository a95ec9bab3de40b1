/*
 * profile: the profile format (msmtp's syntax, so ~/.msmtprc works unchanged), accounts,
 * inheritance, secure defaults, and FILE:LINE errors.
 */
#ifndef POSTIE_PROFILE_H
#define POSTIE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

/* Bits of struct account.set: which settings a profile line gave (for inheritance). */
enum {
	PROFILE_SET_HOST = 1u << 0,
	PROFILE_SET_PORT = 1u << 1,
	PROFILE_SET_FROM = 1u << 2,
	PROFILE_SET_DOMAIN = 1u << 3,
	PROFILE_SET_USER = 1u << 4,
	PROFILE_SET_PASSWORD = 1u << 5,
	PROFILE_SET_PASSWORDEVAL = 1u << 6,
	PROFILE_SET_AUTH = 1u << 7,
	PROFILE_SET_TLS = 1u << 8,
	PROFILE_SET_TLS_STARTTLS = 1u << 9,
	PROFILE_SET_TLS_TRUST_FILE = 1u << 10,
	PROFILE_SET_TLS_FINGERPRINT = 1u << 11,
	PROFILE_SET_TLS_CERTCHECK = 1u << 12,
	PROFILE_SET_TLS_HOST_OVERRIDE = 1u << 13,
	PROFILE_SET_TLS_PRIORITIES = 1u << 14,
	PROFILE_SET_TIMEOUT = 1u << 15,
	PROFILE_SET_QUEUE = 1u << 16,
	PROFILE_SET_QUEUE_DIR = 1u << 17,
	PROFILE_SET_QUEUE_LIFETIME = 1u << 18,
};

struct account {
	char *name;
	char *file;            /* the profile file that defined it */
	unsigned line;         /* the line of its "account" command */
	unsigned set;          /* PROFILE_SET_* bits given by the profile (own, defaults, parents) */

	char *host;            /* NULL: not set (an error at submit time) */
	int port;              /* 0: follow the encryption (587 STARTTLS, 465 implicit, 25 none) */
	char *from;            /* envelope sender, NULL: not set */
	char *domain;          /* EHLO argument; default "localhost" */
	char *user;            /* NULL: none */
	char *password;        /* NULL: none; wiped when freed */
	char *passwordeval;    /* command whose first output line is the password; NULL: none */
	bool auth;             /* authenticate; default: on when user is set */
	char *auth_mech;       /* NULL: choose automatically; else upper case, e.g. "PLAIN" */
	bool tls;              /* default on */
	bool tls_starttls;     /* default on; off means implicit TLS */
	char *tls_trust_file;  /* NULL: the system trust store ("system"); else a PEM file */
	char *tls_fingerprint; /* NULL, or 64 lower-case hex digits: SHA-256 of the certificate */
	bool tls_certcheck;    /* default on */
	char *tls_host_override; /* name to verify instead of host; NULL: host */
	char *tls_priorities;  /* GnuTLS priority string; NULL: postie's (TLS 1.3 and 1.2) */
	int timeout;           /* seconds; 0: the RFC 5321 defaults per command */
	bool queue;            /* keep a message a temporary failure stopped; default on */
	char *queue_dir;       /* NULL: the default ($XDG_STATE_HOME/postie/queue) */
	int queue_lifetime;    /* seconds before a queued message is given up; 0: 5 days */
};

struct profile {
	struct account **accounts; /* in the order they were defined; owned */
	size_t n;
	char *default_name;        /* the account "default" points at (account default : NAME) */
};

/*
 * Load the system profile SYSFILE (skipped when it does not exist) and then the user profile
 * USERFILE; an account in USERFILE replaces a system account of the same name. When
 * USERFILE is NULL the default path is used ($XDG_CONFIG_HOME/postie/config, else
 * ~/.config/postie/config; a missing default file is not an error). An explicit USERFILE
 * (-C) must exist. A file that holds password or passwordeval must not be readable by group
 * or others and must be owned by the effective user (SEC-14). Every error is ERR_CONFIG with
 * "FILE:LINE: reason". Unknown msmtp commands of later issues give a warning on stderr.
 */
int profile_load(struct profile *p, const char *sysfile, const char *userfile, struct err *e);

/*
 * Parse the text of one profile file (TEXT, LEN bytes) as if read from NAME, adding its
 * accounts to P. PRIVATE says the file passed the SEC-14 checks (else password and
 * passwordeval are refused). For profile_load and for tests.
 */
int profile_parse(struct profile *p, const char *name, const char *text, size_t len,
	bool private, struct err *e);

/* The account called NAME ("default" follows "account default : X"), or NULL. */
struct account *profile_find(const struct profile *p, const char *name);

/* The first account whose from equals ADDR (case-insensitive), or NULL. */
struct account *profile_find_by_from(const struct profile *p, const char *addr);

/* The port the account will use: its port, else 25 / 465 / 587 from tls and tls_starttls. */
int profile_port(const struct account *a);

/* Free everything (passwords wiped). P is left empty. */
void profile_fini(struct profile *p);

#endif
