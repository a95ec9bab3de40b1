/* log: the -v transcript on stderr. Redaction is the caller's (smtp) job: it passes only
 * what may be shown. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static bool verbose;

void
log_set_verbose(bool on)
{
	verbose = on;
}

bool
log_is_verbose(void)
{
	return verbose;
}

void
log_line(enum log_dir dir, const char *p, size_t n)
{
	if (!verbose)
		return;
	char line[600];
	size_t k = 0;
	const char *arrow = dir == LOG_IN ? "<-- " : "--> ";
	for (const char *a = arrow; *a; a++)
		line[k++] = *a;
	for (size_t i = 0; i < n && k < sizeof(line) - 5; i++) {
		unsigned char ch = (unsigned char)p[i];
		line[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (n > sizeof(line) - 9)
		for (int i = 0; i < 3; i++)
			line[k++] = '.';
	line[k++] = '\n';
	fwrite(line, 1, k, stderr);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	fputs("postie: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
