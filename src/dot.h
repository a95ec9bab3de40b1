/*
 * dot: the streaming body encoder for DATA (RFC 5321 §2.3.8, §4.5.2; SEC-26..30). One pass
 * turns LF, CRLF and bare CR into CRLF, dot-stuffs every line that begins with '.', refuses
 * NUL, and ends the data with CRLF "." CRLF. Its state carries across input chunks, so any
 * split of the input gives the same output. In BDAT mode (RFC 3030 CHUNKING) the same pass
 * neither stuffs nor adds the end marker; everything else is the same.
 */
#ifndef POSTIE_DOT_H
#define POSTIE_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* Where output goes: append N bytes; 0 ok, -1 failed (with e set). */
typedef int (*dot_sink)(void *ctx, const char *p, size_t n, struct err *e);

struct dot {
	int state; /* private */
	/*
	 * BDAT mode (RFC 3030): no dot-stuffing and no end marker; line ends, NUL and
	 * stop_at_dot as in DATA. dot_init clears it; set it before the first dot_encode.
	 */
	bool bdat;
	bool stop_at_dot;      /* a line holding only "." ends the input (sendmail without -i) */
	bool ended;            /* set when such a line was seen; later input is ignored */
	bool eight_bit;        /* a byte >= 0x80 was seen */
	uint64_t in_bytes;     /* input bytes consumed */
	uint64_t out_bytes;    /* exactly the sum of N over the sink calls that returned 0 */
	size_t line_len;       /* length of the current output line so far, without CRLF */
	size_t max_line;       /* longest output line, without CRLF */
	uint64_t lines;        /* output lines ended so far (the last one once dot_finish ran) */
	uint64_t long_lines;   /* of them, longer than DOT_LINE_MAX octets (RFC 5322 §2.1.1) */
	uint64_t long_first;   /* the line number (from 1) of the first such line, 0: none */
	size_t long_first_len; /* and its length, without CRLF */
	bool stuffed;          /* private: the open line got a stuffed dot (not counted above) */
};

/* RFC 5322 §2.1.1: a line MUST be no longer than 998 characters, excluding the CRLF. */
#define DOT_LINE_MAX 998

/* Start a DATA encoding (bdat off). Nothing to free. */
void dot_init(struct dot *d, bool stop_at_dot);

/*
 * Encode N bytes of input, giving the result to SINK in as few calls as practical (spans of
 * input, not single bytes). ERR_DATA on a NUL byte (nothing after it is given to the sink).
 */
int dot_encode(struct dot *d, const char *in, size_t n, dot_sink sink, void *ctx, struct err *e);

/*
 * End the data: CRLF when the last line is open (or a held CR), then ".\r\n" (not in BDAT
 * mode: there empty input gives nothing at all). ERR_SOFTWARE after a refusal or a finish.
 */
int dot_finish(struct dot *d, dot_sink sink, void *ctx, struct err *e);

#endif
