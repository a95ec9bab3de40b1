/*
 * progress: the progress line of a big send (see progress.h). Drawn only on a terminal,
 * never into a pipe, a cron job's mail or a log file: the caller asks progress_terminal.
 */
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

FILE *
progress_terminal(bool verbose, size_t *width)
{
	struct winsize ws;

	*width = 80;
	if (verbose || !isatty(STDERR_FILENO))
		return NULL;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		*width = ws.ws_col;
	return stderr;
}

void
progress_start(struct progress *p, FILE *out, uint64_t total, const char *peer, size_t width,
               int64_t now)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->total = total;
	p->start = p->last = now;
	p->width = width < PROGRESS_LINE_MAX ? width : PROGRESS_LINE_MAX;
	snprintf(p->peer, sizeof(p->peer), "%s", peer ? peer : "");
}

/* OCTETS in MiB with one decimal (rounded down), or in whole KiB below one MiB. */
static void
amount(char *out, size_t n, uint64_t octets, const char *per)
{
	unsigned long long tenths = (unsigned long long)(octets * 10 / (1024 * 1024));

	if (octets >= 1024 * 1024)
		snprintf(out, n, "%llu.%llu MiB%s", tenths / 10, tenths % 10, per);
	else
		snprintf(out, n, "%llu KiB%s", (unsigned long long)(octets / 1024), per);
}

size_t
progress_format(char *out, size_t n, uint64_t sent, uint64_t total, int64_t elapsed_ms,
                const char *peer)
{
	char done[96], part[48], rate[56] = "", line[256];

	if (n == 0)
		return 0;
	if (total >= 1024 * 1024) {
		amount(part, sizeof(part), total, "");
		unsigned long long tenths = (unsigned long long)(sent * 10 / (1024 * 1024));
		snprintf(done, sizeof(done), "%llu.%llu of %s (%u%%)", tenths / 10, tenths % 10,
		         part, (unsigned)(sent >= total ? 100 : sent * 100 / total));
	} else {
		amount(done, sizeof(done), sent, "");
	}
	if (elapsed_ms >= 1) {
		/* Octets per second, without overflow for any size a message can have. */
		uint64_t per = sent / (uint64_t)elapsed_ms * 1000 +
		               sent % (uint64_t)elapsed_ms * 1000 / (uint64_t)elapsed_ms;
		amount(part, sizeof(part), per, "/s");
		snprintf(rate, sizeof(rate), ", %s", part);
	}
	int k = snprintf(line, sizeof(line), "postie: %s%s to %.96s", done, rate, peer);
	size_t len = k < 0 ? 0 : (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
	if (len > n - 1)
		len = n - 1;
	memcpy(out, line, len);
	out[len] = '\0';
	return len;
}

/* Blank the columns the line covered and go back to its start. */
static void
blank(struct progress *p)
{
	char spaces[PROGRESS_LINE_MAX + 2];

	memset(spaces, ' ', sizeof(spaces));
	spaces[0] = '\r';
	fwrite(spaces, 1, p->shown + 1, p->out);
	fputc('\r', p->out);
}

bool
progress_update(struct progress *p, uint64_t sent, int64_t now)
{
	char line[PROGRESS_LINE_MAX + 1];

	if (!p->out || (p->total <= PROGRESS_MIN && sent <= PROGRESS_MIN))
		return false;
	if (p->drawn && now - p->last < PROGRESS_EVERY_MS)
		return false;
	/* One column is left free: a line that fills the last column wraps on some terminals. */
	size_t room = p->width > 1 ? p->width : 2;
	size_t len = progress_format(line, room < sizeof(line) ? room : sizeof(line), sent,
	                             p->total, now - p->start, p->peer);
	if (p->shown > len)
		blank(p);
	fputc('\r', p->out);
	fwrite(line, 1, len, p->out);
	fflush(p->out);
	p->shown = len; /* anything beyond was blanked */
	p->drawn = true;
	p->last = now;
	return true;
}

void
progress_clear(struct progress *p)
{
	if (!p->out || p->shown == 0)
		return;
	blank(p);
	fflush(p->out);
	p->shown = 0;
	p->drawn = false;
}
