/*
 * profile: the profile format (msmtp's syntax, so ~/.msmtprc works unchanged), accounts,
 * inheritance, secure defaults, and FILE:LINE errors.
 */
#ifndef POSTIE_PROFILE_H
#define POSTIE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	PROFILE_SET_LOGFILE = 1u << 19,
	PROFILE_SET_LOGFILE_TIME_FORMAT = 1u << 20,
	PROFILE_SET_SYSLOG = 1u << 21,
	PROFILE_SET_ALIASES = 1u << 22,
	PROFILE_SET_AUTO_FROM = 1u << 23,
	PROFILE_SET_MAILDOMAIN = 1u << 24,
	PROFILE_SET_ALLOW_FROM_OVERRIDE = 1u << 25,
	PROFILE_SET_SET_FROM_HEADER = 1u << 26,
	PROFILE_SET_SET_DATE_HEADER = 1u << 27,
	PROFILE_SET_SET_MSGID_HEADER = 1u << 28,
	PROFILE_SET_REMOVE_BCC_HEADERS = 1u << 29,
	PROFILE_SET_UNDISCLOSED_RECIPIENTS = 1u << 30,
};

/* The rest do not fit an int enumeration constant (C11 §6.7.2.2). */
#define PROFILE_SET_DSN_NOTIFY (UINT64_C(1) << 31)
#define PROFILE_SET_DSN_RETURN (UINT64_C(1) << 32)
#define PROFILE_SET_SOURCE_IP (UINT64_C(1) << 33)
#define PROFILE_SET_PROXY_HOST (UINT64_C(1) << 34)
#define PROFILE_SET_PROXY_PORT (UINT64_C(1) << 35)
#define PROFILE_SET_SOCKET (UINT64_C(1) << 36)
#define PROFILE_SET_PROTOCOL (UINT64_C(1) << 37)
#define PROFILE_SET_FROM_FULL_NAME (UINT64_C(1) << 38)
#define PROFILE_SET_TLS_CERT_FILE (UINT64_C(1) << 39)
#define PROFILE_SET_TLS_KEY_FILE (UINT64_C(1) << 40)
#define PROFILE_SET_TLS_CRL_FILE (UINT64_C(1) << 41)
#define PROFILE_SET_TLS_MIN_VERSION (UINT64_C(1) << 42)
#define PROFILE_SET_OAUTH2_TOKEN_COMMAND (UINT64_C(1) << 43)
#define PROFILE_SET_PASSWORD_FILE (UINT64_C(1) << 44)
#define PROFILE_SET_QUEUE_NOTIFY (UINT64_C(1) << 45)
#define PROFILE_SET_IP_FAMILY (UINT64_C(1) << 46)
#define PROFILE_SET_DKIM_KEY (UINT64_C(1) << 47)
#define PROFILE_SET_DKIM_SELECTOR (UINT64_C(1) << 48)
#define PROFILE_SET_DKIM_DOMAIN (UINT64_C(1) << 49)
#define PROFILE_SET_DKIM_HEADERS (UINT64_C(1) << 50)

/* At most this many ports in "port 465 587 2525". */
#define PROFILE_MAX_PORTS 8

/* set_from_header, set_date_header, set_msgid_header. */
enum profile_hdr { PROFILE_HDR_AUTO = 0, PROFILE_HDR_ON, PROFILE_HDR_OFF };

/*
 * Where an account was defined, which decides what it may reach (SECURITY.md, SEC-41): only
 * the user's own profile and the system profile are served by the secret sources looked up
 * by name or host (systemd credentials, netrc, the keyring) and own the queue's entries.
 */
enum profile_origin {
	PROFILE_ORIGIN_USER = 0, /* the user's profile ($XDG_CONFIG_HOME/postie/config), also
	                            when -C names that same file */
	PROFILE_ORIGIN_SYSTEM,   /* the system profile (/etc/postie.conf) */
	PROFILE_ORIGIN_NAMED,    /* a profile -C names elsewhere: the caller's choice */
	PROFILE_ORIGIN_ARGV,     /* msmtp's --host: the command line alone */
};

struct account {
	char *name;
	char *file;    /* the profile file that defined it (its real path when read
	                  from a file: the queue binds entries to it) */
	unsigned line; /* the line of its "account" command */
	enum profile_origin origin;
	uint64_t set;      /* PROFILE_SET_* bits given by the profile (own, defaults, parents) */
	uint64_t argv_set; /* PROFILE_SET_* bits given by the command line (profile_apply) */
	const char *argv_route; /* the first command-line option that changed where the mail
	                          goes or whom it trusts (SEC-41), e.g. "port"; NULL: none */

	char *host; /* NULL: not set (an error at submit time) */
	int port;   /* 0: follow the encryption (587 STARTTLS, 465 implicit, 25 none);
	               else ports[0] */
	int ports[PROFILE_MAX_PORTS]; /* "port 465 587 2525": tried in this order when a
	                          connection cannot be made; 465 means implicit TLS */
	int nports;                   /* 0 when port is 0 */
	char *from;                   /* envelope sender, NULL: not set */
	char *domain;                 /* EHLO argument; default "localhost" */
	char *user;                   /* NULL: none */
	char *password;               /* NULL: none; wiped when freed */
	char *passwordeval;      /* command whose first output line is the password; NULL: none */
	bool auth;               /* authenticate; default: on when user is set */
	char *auth_mech;         /* NULL: choose automatically; else upper case, e.g. "PLAIN" */
	bool tls;                /* default on */
	bool tls_starttls;       /* default on; off means implicit TLS */
	char *tls_trust_file;    /* NULL: the system trust store ("system"); else a PEM file */
	char *tls_fingerprint;   /* NULL, or 64 lower-case hex digits: SHA-256 of the certificate */
	bool tls_certcheck;      /* default on */
	char *tls_host_override; /* name to verify instead of host; NULL: host */
	char *tls_priorities;    /* GnuTLS priority string; NULL: postie's (TLS 1.3 and 1.2) */
	int timeout;             /* seconds; 0: the RFC 5321 defaults per command */
	bool queue;              /* keep a message a temporary failure stopped; default on */
	char *queue_dir;         /* NULL: the default ($XDG_STATE_HOME/postie/queue) */
	int queue_lifetime;      /* seconds before a queued message is given up; 0: 5 days */
	char *queue_notify;      /* who hears of a failed entry (dsn.c); NULL: its sender */

	/* The rest of msmtp's commands (msmtp(1), "ACCOUNT COMMANDS"). */
	char *logfile;             /* NULL: none; "-": standard output */
	char *logfile_time_format; /* strftime(3) format; NULL: msmtp's "%b %d %H:%M:%S" */
	char *syslog;              /* NULL: off; else the facility name, e.g. "LOG_MAIL" */
	char *aliases;             /* an aliases file (~ expanded), NULL: none */
	bool auto_from;            /* msmtp's deprecated auto_from: from is user@maildomain */
	char *maildomain;          /* qualifies bare local names; NULL: none */
	bool allow_from_override;  /* -f / -F may replace from; default on */
	int set_from_header;       /* enum profile_hdr: auto adds a missing From, on replaces it */
	int set_date_header;       /* auto or off */
	int set_msgid_header;      /* auto or off */
	bool remove_bcc_headers;   /* default on */
	bool undisclosed_recipients; /* replace To, Cc, Bcc by "To: undisclosed-recipients:;" */
	char *dsn_notify;            /* NULL: off; "NEVER" or a list of SUCCESS,FAILURE,DELAY */
	char *dsn_return;            /* NULL: off; "FULL" or "HDRS" */
	char *source_ip;             /* bind to this address before connecting; NULL: any */
	int ip_family;               /* ip_family, -4, -6: 4 or 6 for that family only; 0: any */
	char *proxy_host;            /* SOCKS5 proxy; NULL: none */
	int proxy_port;              /* 0: 1080 */
	char *socket;                /* a local socket to connect to instead of host; NULL: none */
	bool lmtp;                   /* protocol lmtp (RFC 2033); default smtp */
	char *from_full_name;        /* display name for an added From; NULL: none */
	char *tls_cert_file;         /* client certificate (PEM or a PKCS#11 URI), NULL: none */
	char *tls_key_file;          /* its key, NULL: none */
	char *tls_crl_file;          /* CRLs (PEM), NULL: none */
	int tls_min_version;         /* 0: TLS 1.2; 13: TLS 1.3 */
	char *tls_pin_spki;         /* NULL, or the base64 SHA-256 of the SubjectPublicKeyInfo, from
	                               "tls_fingerprint sha256//BASE64" (same bit as tls_fingerprint) */
	char *oauth2_token_command; /* prints an access token [and its lifetime]; NULL: none */
	char *password_file; /* a private file whose first line is the password; NULL: none */
	char *dkim_key;      /* DKIM signing key (PEM, Ed25519 or RSA), private; NULL: no signing */
	char *dkim_selector; /* s= */
	char *dkim_domain;   /* d=; NULL: the From field's domain */
	char *dkim_headers;  /* h=, colon-separated; NULL: DKIM_HEADERS_DEFAULT */
};

struct profile {
	struct account **accounts; /* in the order they were defined; owned */
	size_t n;
	char *default_name; /* the account "default" points at (account default : NAME) */
	char *looked;       /* for messages, after profile_load: each file it looked for and
	                       what became of it, "PATH (read), PATH (does not exist), ..." */
	char *user_file;    /* the user profile profile_load read (-C's, postie's own or
	                       msmtp's in its place; its real path), or NULL */
};

/*
 * Load the system profile SYSFILE (skipped when it does not exist) and then the user profile
 * USERFILE; an account in USERFILE replaces a system account of the same name. When
 * USERFILE is NULL the default path is used ($XDG_CONFIG_HOME/postie/config, else
 * ~/.config/postie/config; a missing default file is not an error); when it does not
 * exist, msmtp's (~/.msmtprc, else $XDG_CONFIG_HOME/msmtp/config) is the user's profile if
 * nobody else can have written it (SEC-47: else ERR_CONFIG). Likewise msmtprc beside
 * SYSFILE when SYSFILE does not exist. An explicit USERFILE (-C) must exist. Only a regular file is
 * a profile (not a pipe, a device or /dev/stdin). A file that holds password or passwordeval must
 * not be readable by group or others and must be owned by the effective user (SEC-14). Each account
 * records its file's real path and its origin: USER for the default file (or -C naming it, or
 * msmtp's profile read in its place), SYSTEM for SYSFILE (or msmtp's), NAMED for another -C file.
 * P's looked and user_file say which files were looked for and read. Every error is ERR_CONFIG with
 * "FILE:LINE: reason". Unknown msmtp commands of later issues give a warning on stderr.
 */
int profile_load(struct profile *p, const char *sysfile, const char *userfile, struct err *e);

/*
 * Parse the text of one profile file (TEXT, LEN bytes) as if read from NAME, adding its
 * accounts to P (origin PROFILE_ORIGIN_USER). PRIVATE says the file passed the SEC-14
 * checks (else password and passwordeval are refused). For profile_load and for tests.
 */
int profile_parse(struct profile *p, const char *name, const char *text, size_t len, bool private,
                  struct err *e);

/* The account called NAME ("default" follows "account default : X"), or NULL. */
struct account *profile_find(const struct profile *p, const char *name);

/* The first account whose from equals ADDR (case-insensitive), or NULL. */
struct account *profile_find_by_from(const struct profile *p, const char *addr);

/* The port the account will use: its port, else 2003 for LMTP, else 25 / 465 / 587 from tls
 * and tls_starttls. */
int profile_port(const struct account *a);

/*
 * The ports to try, in order, into OUT: the account's list ("port 465 587 2525"), else the
 * one profile_port gives. Returns how many (1..PROFILE_MAX_PORTS).
 */
int profile_ports(const struct account *a, int out[PROFILE_MAX_PORTS]);

/*
 * Whether PORT is spoken with implicit TLS (RFC 8314): as tls_starttls says when the profile
 * set it (off: implicit), else port 465 is implicit and every other port uses STARTTLS.
 * False when tls is off.
 */
bool profile_implicit_tls(const struct account *a, int port);

/*
 * Whether the command line may set profile command NAME to ARG (SEC-43): never a file to
 * read or write or a command to run (logfile but "-", passwordeval, aliases, the TLS trust,
 * CRL, key and certificate files but "system" trust), never a secret, and never a setting
 * that keeps what the profile hides (remove_bcc_headers off, undisclosed_recipients off).
 * 0, or -1 with ERR_USAGE "parse flags: --NAME: ..." saying to set it in the profile.
 */
int profile_argv_check(const char *name, const char *arg, struct err *e);

/*
 * Apply one profile command NAME with argument ARG to A as a profile line would (same
 * checks; "~" expanded), for msmtp's long options (--host=HOST): what profile_argv_check
 * refuses is refused here too. A setting of where the mail goes or whom it trusts (SEC-41:
 * host, port, proxy, socket, source_ip, tls*, protocol) is recorded in A->argv_route.
 * Errors are ERR_USAGE "parse flags: --NAME=ARG: reason". Call profile_finish_account after
 * the last one.
 */
int profile_apply(struct account *a, const char *name, const char *arg, struct err *e);

/*
 * SEC-41, the one place: a secret goes only where the profile sends it. When the command
 * line changed where A's mail goes or whom it trusts (A->argv_route, or an account of
 * --host) and A authenticates or holds a client key, -1 with ERR_USAGE naming the option
 * and saying to define an account for that server in the profile; else 0 (the run then
 * holds no secret). Call after profile_finish_account.
 */
int profile_check_route(const struct account *a, struct err *e);

/* The most bytes of a command-line flag's name, its NUL included. */
#define PROFILE_FLAG_MAX 64

/*
 * Profile command NAME as the command line spells its flag ('_' as '-', "tls_starttls" is
 * "tls-starttls") into FLAG (SIZE bytes, cut to fit, NUL-terminated), for messages.
 */
void profile_flag_name(const char *name, char *flag, size_t size);

/* Whether profile command NAME says where the mail goes or whom it trusts (SEC-41). */
bool profile_is_route(const char *name);

/* Whether A's mail goes where its profile says: no route setting came from the command
 * line and A comes from a profile file (SEC-42: only then may it queue and flush). */
bool profile_route_is_own(const struct account *a);

/* Settings derived from others once every command is in (auth from user). */
void profile_finish_account(struct account *a);

/* Whether NAME is a profile command postie knows (msmtp's or its own). */
bool profile_known(const char *name);

/* Free everything (passwords wiped). P is left empty. */
void profile_fini(struct profile *p);

#endif
