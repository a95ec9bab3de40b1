/*
 * fuzz: what the libFuzzer targets share (fuzz/README.md). Each target is one file that
 * defines LLVMFuzzerTestOneInput for one parser of untrusted bytes, checks the parser's
 * contract on what it returns, and frees everything (the leak checker runs after every
 * input). A broken contract is a crash: fuzz_check prints why and aborts, so libFuzzer
 * keeps the input.
 */
#ifndef POSTIE_FUZZ_H
#define POSTIE_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Abort with "fuzz: invariant broken: ..." unless OK. */
static inline void
fuzz_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	fputs("fuzz: invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A copy of N bytes with a NUL after them (freed by the caller). */
static inline char *
fuzz_strndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A copy of exactly N bytes and no more, so that reading past them is an ASan report. */
static inline char *
fuzz_exact(const void *p, size_t n)
{
	char *s = malloc(n ? n : 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	return s;
}

/* Whether any of the N bytes at P is a control character (< 0x20 or DEL) other than the
 * ones in ALLOW. */
static inline bool
fuzz_has_ctl(const char *p, size_t n, const char *allow)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 || c == 0x7f) && (c == 0 || !strchr(allow, c)))
			return true;
	}
	return false;
}

/* A small deterministic generator for split points and choices drawn from the input. */
static inline uint32_t
fuzz_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

#endif
