/*
 * progress: the one line that shows a big send on a terminal. Pure formatting and the
 * decision when to draw; the caller gives the clock (milliseconds) and the stream, so a test
 * can drive it with a fake clock and a memory FILE. The line is drawn with a carriage return
 * and erased with spaces: no escape sequence, so any terminal (TERM=dumb too) shows it right.
 */
#ifndef POSTIE_PROGRESS_H
#define POSTIE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_MIN (1024 * 1024) /* only messages over 1 MiB get a line */
#define PROGRESS_EVERY_MS 100      /* at most 10 redraws a second */
#define PROGRESS_LINE_MAX 160

struct progress {
	FILE *out;      /* NULL: off (every call does nothing) */
	uint64_t total; /* the message's size as sent, 0: not known */
	int64_t start;  /* clock at progress_start */
	int64_t last;   /* clock at the last draw */
	bool drawn;     /* a draw happened since start (or the last clear) */
	size_t width;   /* columns the line must stay within (one is left free) */
	size_t shown;   /* columns on the terminal the line may cover, 0: none */
	char peer[96];  /* where the message goes: "HOST [ADDRESS]:PORT" */
};

/*
 * The stream for a progress line, or NULL: stderr when it is a terminal and the -v
 * transcript is off (VERBOSE: its lines would mix with the line). *WIDTH gets the
 * terminal's columns (80 when it does not say).
 */
FILE *progress_terminal(bool verbose, size_t *width);

/* Start P on OUT (NULL: off) for a message of TOTAL octets (0: not known) going to PEER, at
 * NOW (milliseconds, any clock that only goes forward). Nothing is drawn yet. */
void progress_start(struct progress *p, FILE *out, uint64_t total, const char *peer, size_t width,
                    int64_t now);

/*
 * SENT octets have gone at NOW. Draws the line when the message is known to be, or has
 * grown, over PROGRESS_MIN and the last draw is PROGRESS_EVERY_MS old (the first draw at
 * once). Returns whether it drew.
 */
bool progress_update(struct progress *p, uint64_t sent, int64_t now);

/* Erase the line (when one is shown) and leave the cursor where it began; P goes on, so the
 * next update draws it again (use before printing a warning). */
void progress_clear(struct progress *p);

/* The text of the line (no carriage return), cut to N - 1 octets: "postie: 12.3 of 50.0 MiB
 * (24%), 4.1 MiB/s to HOST [ADDRESS]:PORT" (without "of ..." when TOTAL is 0, without a rate
 * before ELAPSED_MS is 1). Returns its length. */
size_t progress_format(char *out, size_t n, uint64_t sent, uint64_t total, int64_t elapsed_ms,
                       const char *peer);

#endif
