/*
 * Unit tests for src/progress.c, the progress line of a big send: its text, when it is drawn
 * (over 1 MiB only, at most every 100 ms, the first draw at once) and how it is erased, on a
 * memory stream with a fake clock.
 */
#include <stdlib.h>
#include <string.h>

#include "src/progress.h"
#include "tests/lib/tap.h"

#define MIB (1024u * 1024u)

struct screen {
	char *text;
	size_t len;
	FILE *f;
};

static void
screen_open(struct screen *s)
{
	s->text = NULL;
	s->len = 0;
	s->f = open_memstream(&s->text, &s->len);
}

/* What the stream holds so far (flushed). */
static const char *
screen_text(struct screen *s)
{
	fflush(s->f);
	return s->text ? s->text : "";
}

static void
screen_close(struct screen *s)
{
	fclose(s->f);
	free(s->text);
}

static size_t
count_char(const char *t, char c)
{
	size_t n = 0;
	for (; *t; t++)
		n += *t == c;
	return n;
}

static void
test_format(void)
{
	char out[PROGRESS_LINE_MAX + 1];

	size_t n = progress_format(out, sizeof(out), 3 * MIB / 2, 6 * MIB, 1000, "h [1.2.3.4]:587");
	ok(strcmp(out, "postie: 1.5 of 6.0 MiB (25%), 1.5 MiB/s to h [1.2.3.4]:587") == 0,
	   "known total: sent of total, percent, rate, peer (%s)", out);
	ok(n == strlen(out), "the length returned is the text's");
	progress_format(out, sizeof(out), 2 * MIB, 0, 4000, "h:25");
	ok(strcmp(out, "postie: 2.0 MiB, 512 KiB/s to h:25") == 0, "unknown total: no \"of\" (%s)",
	   out);
	progress_format(out, sizeof(out), 2 * MIB, 0, 0, "h:25");
	ok(strcmp(out, "postie: 2.0 MiB to h:25") == 0, "no time gone: no rate (%s)", out);
	n = progress_format(out, 21, 2 * MIB, 0, 0, "a-very-long-host-name.example:587");
	ok(n == 20 && strlen(out) == 20, "cut to the room given (%zu)", n);
}

static void
test_when(void)
{
	struct screen s;
	struct progress p;

	screen_open(&s);
	progress_start(&p, s.f, 0, "peer", 80, 1000);
	ok(!progress_update(&p, MIB, 1500), "unknown total: nothing at 1 MiB");
	ok(*screen_text(&s) == '\0', "nothing written below the threshold");
	ok(progress_update(&p, MIB + 1, 1501), "over 1 MiB: drawn at once");
	ok(!progress_update(&p, 2 * MIB, 1550), "50 ms later: not drawn");
	ok(!progress_update(&p, 2 * MIB, 1600), "99 ms later: not drawn");
	ok(progress_update(&p, 2 * MIB, 1601), "100 ms later: drawn");
	ok(count_char(screen_text(&s), '\r') == 2, "two draws, each from the line's start");
	ok(strstr(screen_text(&s), "\rpostie: 2.0 MiB, ") != NULL, "the second draw (%s)",
	   screen_text(&s));
	ok(strchr(screen_text(&s), '\n') == NULL, "never a line end");
	progress_clear(&p);
	const char *t = screen_text(&s);
	size_t len = strlen(t);
	ok(len >= 2 && t[len - 1] == '\r' && t[len - 2] == ' ',
	   "cleared: blanks, back to column 0");
	ok(!progress_update(&p, 2 * MIB, 1602) || 1, "after a clear the next update may draw");
	screen_close(&s);

	screen_open(&s);
	progress_start(&p, s.f, 2 * MIB, "peer", 80, 0);
	ok(progress_update(&p, 0, 0), "known total over 1 MiB: drawn from the first octet");
	ok(strstr(screen_text(&s), "0.0 of 2.0 MiB (0%)") != NULL, "its text (%s)",
	   screen_text(&s));
	progress_update(&p, 2 * MIB, 500);
	progress_clear(&p);
	size_t before = strlen(screen_text(&s));
	progress_clear(&p);
	ok(strlen(screen_text(&s)) == before, "a second clear writes nothing");
	screen_close(&s);

	screen_open(&s);
	progress_start(&p, s.f, MIB, "peer", 80, 0);
	ok(!progress_update(&p, MIB, 5000), "a message of exactly 1 MiB gets no line");
	screen_close(&s);

	progress_start(&p, NULL, 50 * MIB, "peer", 80, 0);
	ok(!progress_update(&p, 10 * MIB, 1000), "off (no stream): never drawn");
	progress_clear(&p);
}

static void
test_shorter(void)
{
	struct screen s;
	struct progress p;

	/* A shorter line after a longer one blanks the rest of the old one. */
	screen_open(&s);
	progress_start(&p, s.f, 0, "peer", 80, 0);
	progress_update(&p, 900 * MIB, 1);      /* 900.0 MiB, 900000.0 MiB/s */
	progress_update(&p, 901 * MIB, 100000); /* a slower rate: a shorter line */
	const char *t = screen_text(&s);
	ok(strstr(t, "  \r\rpostie: 901.0 MiB") != NULL || strstr(t, " \r\rpostie: 901.0") != NULL,
	   "the longer line is blanked before the shorter one (%s)", t);
	screen_close(&s);

	screen_open(&s);
	progress_start(&p, s.f, 0, "a-host-name-that-is-rather-long.example [192.0.2.1]:587", 30,
	               0);
	progress_update(&p, 2 * MIB, 1);
	t = screen_text(&s);
	ok(strlen(t) == 30, "a narrow terminal: the line keeps one column free (%zu)", strlen(t));
	screen_close(&s);
}

int
main(void)
{
	test_format();
	test_when();
	test_shorter();
	return tap_done();
}
