/* log: the verbose transcript on stderr (-v), with credentials redacted (SEC-13). */
#ifndef POSTIE_LOG_H
#define POSTIE_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Turn the transcript on or off (off by default). */
void log_set_verbose(bool on);
bool log_is_verbose(void);

/* Direction of a transcript line. */
enum log_dir { LOG_IN, LOG_OUT };

/*
 * Print one protocol line: "<-- TEXT" (LOG_IN) or "--> TEXT" (LOG_OUT), without its line
 * ending. Control characters are shown as '?'. Does nothing when not verbose.
 */
void log_line(enum log_dir dir, const char *p, size_t n);

/* Print "postie: ..." to stderr when verbose (what the session is doing, e.g. "TLS 1.3"). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
