/* tap.h: a very small TAP producer for the unit tests (meson protocol: 'tap'). */
#ifndef POSTIE_TAP_H
#define POSTIE_TAP_H

#include <stdio.h>
#include <string.h>

#define TAP_UNUSED __attribute__((unused))

static int tap_n;
static int tap_failed;

/* Report one test: OK true passes. Returns OK. */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
TAP_UNUSED static int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   at %s:%d\n", file, line);
	}
	return cond;
}

/* Compare two byte strings; on mismatch print both (escaped). */
#define ok_mem(got, gotlen, want, wantlen, ...)                                                    \
	tap_ok_mem((got), (gotlen), (want), (wantlen), __FILE__, __LINE__, __VA_ARGS__)

TAP_UNUSED static void
tap_dump(const char *label, const char *p, size_t n)
{
	printf("#   %s (%zu): \"", label, n);
	for (size_t i = 0; i < n && i < 400; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\r')
			printf("\\r");
		else if (ch == '\n')
			printf("\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	printf("%s\"\n", n > 400 ? "..." : "");
}

static int tap_ok_mem(const char *got, size_t gotlen, const char *want, size_t wantlen,
                      const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

TAP_UNUSED static int
tap_ok_mem(const char *got, size_t gotlen, const char *want, size_t wantlen, const char *file,
           int line, const char *fmt, ...)
{
	va_list ap;
	int cond = gotlen == wantlen && (wantlen == 0 || memcmp(got, want, wantlen) == 0);

	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   at %s:%d\n", file, line);
		tap_dump("got", got ? got : "", got ? gotlen : 0);
		tap_dump("want", want, wantlen);
	}
	return cond;
}

/* Print the plan and return the exit status for main. */
TAP_UNUSED static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
