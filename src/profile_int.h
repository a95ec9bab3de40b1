/*
 * profile_int: what the profile's own files share, and nothing any other module may use.
 *
 *   profile.c          one file's text: lines, sections, inheritance, merging; the lookups
 *   profile_account.c  the account record: its fields, defaults, copying, comparing, ports
 *   profile_cmd.c      the command table and one reader per kind of value
 *   profile_argv.c     the command line's rules over profile commands (SEC-41, SEC-43)
 *   profile_file.c     finding, opening and checking the profile files (SEC-14)
 */
#ifndef POSTIE_PROFILE_INT_H
#define POSTIE_PROFILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "profile.h"

/* The state of reading one profile file (or one command-line setting, profile_apply). */
struct parse {
	const char *file;
	enum profile_origin origin;
	bool private;        /* the file passed the SEC-14 checks */
	const char *why;     /* why it did not (io_not_private's reason); NULL: not checked */
	struct profile out;  /* the accounts of this file */
	uint64_t *own;       /* per account of out: bits its own lines and its parents gave */
	unsigned eval_depth; /* inside an eval line: no eval again */
	struct account defaults;
	struct account *cur; /* where settings go: &defaults, an account of out, or NULL */
	size_t cur_idx;      /* index of cur in out, SIZE_MAX for the defaults */
	size_t alias;        /* index of "account default : NAME" in out, else SIZE_MAX */
	bool alias_touched;  /* that account had lines of its own */
	char *alias_target;
};

struct command;

/*
 * A reader of one kind of value: read ARG (the caller's) for command C at LINE into
 * ps->cur. -1 with ERR_CONFIG "FILE:LINE: reason"; 0 when it set C's setting; PROFILE_UNSET
 * when the line sets nothing of its own (an ignored command, an eval line).
 */
typedef int profile_reader(struct parse *ps, unsigned line, const struct command *c,
                           const char *arg, struct err *e);

#define PROFILE_UNSET 1

/* One profile command: its name, how its value is read, and where it goes. */
struct command {
	const char *name;
	profile_reader *read;
	uint64_t bit;    /* PROFILE_SET_* it sets; 0 for none */
	size_t off;      /* the member of struct account it sets */
	const char *why; /* an obsolete or refused command: the reason */
};

/* The command called W (N bytes), or NULL. */
const struct command *profile_cmd_find(const char *w, size_t n);

/* The longest word profile_cmd_nearest compares. */
#define PROFILE_NEAR_MAX 40

/*
 * The known command (or "account", "defaults") nearest to the unknown word W (N bytes):
 * at most a third of its letters apart (one to three edits), for "did you mean"; or NULL.
 */
const char *profile_cmd_nearest(const char *w, size_t n);

/* Apply one setting line (command C, argument ARG) to ps->cur and record its bit. */
int profile_cmd_apply(struct parse *ps, unsigned line, const struct command *c, const char *arg,
                      struct err *e);

/* on, off, or empty (msmtp: on) into *ON; false for anything else. */
bool profile_read_on_off(const char *arg, bool *on);

/*
 * "~" and "~/x" become the home folder and HOME/x (msmtp does the same for file names) in a
 * malloc'd *OUT; any other ARG is copied. ERR_CONFIG naming ps->file:LINE and command CMD
 * without a home, and for password_file or dkim_key in the system profile of a setgid postie
 * (SEC-45: the home is the caller's, and those files are opened with the group).
 */
int profile_expand_tilde(const struct parse *ps, unsigned line, const char *cmd, const char *arg,
                         char **out, struct err *e);

/* Parse one line S (N bytes, no line end) of the file ps->file. For eval's output too. */
int profile_parse_line(struct parse *ps, unsigned line, const char *s, size_t n, struct err *e);

/*
 * Parse the text of one file NAME (LEN bytes) into P, every account with ORIGIN. PRIVATE:
 * it passed the SEC-14 checks; else WHY says why not (NULL: no file was checked).
 */
int profile_parse_text(struct profile *p, const char *name, const char *text, size_t len,
                       bool private, const char *why, enum profile_origin origin, struct err *e);

/* Move the accounts of ADD into P: a later file's account replaces one of the same name. */
void profile_merge(struct profile *p, struct profile *add);

/* The settings every profile starts from: postie's secure defaults (not msmtp's). */
void profile_account_defaults(struct account *a);

/* Copy into DST every setting whose bit is in MASK. */
void profile_account_copy(struct account *dst, const struct account *src, uint64_t mask);

/* Whether every setting whose bit is in MASK is the same in A and B. */
bool profile_account_same(const struct account *a, const struct account *b, uint64_t mask);

/* Free what A holds (every string wiped); A itself stays. */
void profile_account_fini(struct account *a);

/* profile_account_fini, then free A. NULL is fine. */
void profile_account_free(struct account *a);

/* Replace the string member at OFF by OWNED (NULL: unset); the old one is wiped. */
void profile_account_set_str(struct account *a, size_t off, char *owned);

/* The member of type T at offset OFF of A. */
#define PROFILE_AT(a, T, off) ((T *)(void *)((char *)(a) + (off)))

#endif
