/*
 * msg: the message on standard input. The header section is read into a bounded buffer,
 * recipients are taken from it for -t, Bcc is removed and From, Date and Message-ID are
 * added when missing. The body is never held: after msg_read_header, the caller streams
 * m->rest and then the rest of the input. RFC 5322 §2.2, §3.6.
 */
#ifndef POSTIE_MSG_H
#define POSTIE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "addr.h"
#include "aliases.h"
#include "err.h"

struct msg {
	struct buf head;   /* the header section as read, line endings as in the input, without
	                      the empty line that ends it */
	bool has_body_sep; /* the input had the empty line (or any body) after the header */
	struct buf rest;   /* bytes read past the header section: the start of the body */
	struct buf out;    /* msg_rewrite's result: the header section to send, CRLF line ends,
	                      ending with the empty line CRLF */
};

/* msmtp's set_from_header: when msg_rewrite writes a From field of its own. */
enum msg_from {
	MSG_FROM_AUTO = 0, /* when the message has none */
	MSG_FROM_ON,       /* always: every From of the message is replaced */
	MSG_FROM_OFF,      /* never */
};

/* What msg_rewrite does. A zeroed struct (but remove_bcc) is postie's default behaviour. */
struct msg_opts {
	const char *sender;   /* envelope sender for an added From ("" : none) */
	const char *fullname; /* the display name of an added From (-F, from_full_name), or NULL */
	const char *fullname_what; /* how errors name it; NULL: "-F" */
	const char *msgid_domain;  /* the right-hand side of an added Message-ID */
	bool remove_bcc;           /* remove Bcc and Resent-Bcc (remove_bcc_headers, default on) */
	enum msg_from set_from;    /* set_from_header */
	bool no_date;              /* set_date_header off: never add Date */
	bool no_msgid;             /* set_msgid_header off: never add Message-ID */
	bool undisclosed;          /* undisclosed_recipients: To, Cc and Bcc replaced by
	                              "To: undisclosed-recipients:;" */
	/* Bare local names (no '@') in To, Cc, Bcc and their Resent- forms become what
	   aliases_resolve makes of them with these two; in From, Sender, Reply-To and
	   Resent-From/-Sender only MAILDOMAIN applies. Both NULL: no field is touched. */
	const struct aliases *aliases;
	const char *maildomain;
};

/* Start an empty message. */
void msg_init(struct msg *m);
void msg_fini(struct msg *m);

/*
 * Read from FD until the end of the header section: the first empty line, the first line
 * that is neither a header field ("name:" with printable name, WSP allowed before the
 * colon) nor a continuation, or the end of input. Lines end with LF or CRLF. Bytes read
 * past it go to m->rest. Errors: ERR_DATA when the header section passes BUF_MAX_HEADER,
 * holds a NUL, or holds a bare CR (SEC-27: "read header: line N: a bare CR ..."; the body
 * may hold one), ERR_OS when reading fails.
 */
int msg_read_header(struct msg *m, int fd, struct err *e);

/* As msg_read_header, from memory (for tests): TEXT of LEN bytes is the whole input. */
int msg_parse_header(struct msg *m, const char *text, size_t len, struct err *e);

/*
 * Append to L the recipients of the To, Cc and Bcc fields (-t, SEC-23), ERR_DATA on an
 * invalid address (the message names the field).
 */
int msg_recipients(const struct msg *m, struct addr_list *l, struct err *e);

/*
 * The first address of the first From field into *OUT (normalised, owned by the caller): the
 * envelope sender for --read-envelope-from. ERR_DATA when there is no From field, it names
 * no address, or an address in it is invalid.
 */
int msg_sender(const struct msg *m, char **out, struct err *e);

/*
 * The value of the Message-ID field of the header section to send (m->out once msg_rewrite
 * has built it, m->head before), unfolded and without surrounding WSP, for the log; NULL
 * when there is none. Owned by the caller.
 */
char *msg_msgid(const struct msg *m);

/* True when the header section has a field called NAME (case-insensitive). */
bool msg_has_field(const struct msg *m, const char *name);

/*
 * True when the header section to send has a byte over 0x7f (m->out once msg_rewrite has
 * built it, m->head before): with the body's dot.eight_bit, whether to ask for 8BITMIME.
 */
bool msg_has_8bit(const struct msg *m);

/*
 * Build m->out: every field but Bcc (folded lines included; "Bcc :" too) unless
 * O->remove_bcc is false, line endings made CRLF; the fields O says to replace left out (From
 * with MSG_FROM_ON, To/Cc/Bcc with O->undisclosed), address fields with bare local names
 * rewritten and refolded (O->aliases, O->maildomain; others are kept byte for byte); then
 * From (from O->sender and O->fullname, the name RFC 2047-encoded when not ASCII, quoted
 * when needed: SEC-20) as O->set_from says, "To: undisclosed-recipients:;", Date and
 * Message-ID when missing (unless O turns them off), then the empty line. ERR_USAGE when
 * the full name holds a control character; ERR_CONFIG from aliases_resolve.
 */
int msg_rewrite(struct msg *m, const struct msg_opts *o, struct err *e);

#endif
