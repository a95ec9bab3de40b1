/*
 * fuzz/addr: RFC 5322 address lists and RFC 5321 envelope addresses (src/addr.h), as a
 * message's To/Cc/Bcc/From fields and the command line give them.
 *
 * The whole input is one header field value for addr_list_parse, and (when it holds no
 * NUL) one envelope address for addr_envelope, with and without the null sender allowed.
 * Contract checked (SEC-18, SEC-21, SEC-22): every address given back has no control
 * character, does not begin with '-', is at most 254 octets (RFC 5321 §4.5.3.1.3), has an
 * ASCII domain (an A-label), and is a fixed point: addr_envelope gives it back unchanged;
 * a refusal is of the kind asked for and says why.
 */
#include "fuzz.h"

#include "addr.h"

/* One normalised address: the checks above. NULL_OK: the null sender "" may come back. */
static void
check_addr(const char *a, bool null_ok)
{
	size_t n = strlen(a);
	struct err e;
	char *again = NULL;

	if (n == 0) {
		fuzz_check(null_ok, "an empty address where none may be");
		return;
	}
	fuzz_check(!fuzz_has_ctl(a, n, ""), "control character in \"%s\"", a);
	fuzz_check(a[0] != '-', "address \"%s\" begins with '-'", a);
	fuzz_check(n <= 254, "address of %zu octets", n);
	const char *d = addr_domain(a);
	if (d) {
		for (const char *q = d; *q; q++)
			fuzz_check((unsigned char)*q < 0x80, "domain of \"%s\" not an A-label", a);
		fuzz_check(d > a + 1, "empty local part in \"%s\"", a);
		fuzz_check(*d != '\0', "empty domain in \"%s\"", a);
	}
	fuzz_check(addr_envelope(a, false, ERR_USAGE, &again, &e) == 0,
	           "\"%s\" normalised is refused: %s", a, e.text);
	fuzz_check(strcmp(again, a) == 0, "\"%s\" normalises again to \"%s\"", a, again);
	free(again);
}

static void
check_refusal(const struct err *e, enum err_kind kind)
{
	fuzz_check(e->kind == kind, "refusal of kind %d, not %d", e->kind, kind);
	fuzz_check(e->text[0] != '\0', "refusal without a reason");
	fuzz_check(!fuzz_has_ctl(e->text, strlen(e->text), ""), "control character in error");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct addr_list l = {0};
	struct err e;

	/* As a header field value; the list starts with an entry of its own (SEC-22: what came
	 * before a bad element stays). */
	addr_list_add(&l, "first@example.com");
	char *value = fuzz_exact(p, size);
	int rc = addr_list_parse(&l, value, size, ERR_DATA, &e);
	free(value);
	fuzz_check(l.n >= 1 && strcmp(l.v[0], "first@example.com") == 0, "list head lost");
	for (size_t i = 1; i < l.n; i++)
		check_addr(l.v[i], false);
	if (rc < 0)
		check_refusal(&e, ERR_DATA);
	addr_list_fini(&l);
	fuzz_check(l.n == 0 && l.v == NULL, "addr_list_fini left something");

	/* As an envelope address (argv, -f, -bs's MAIL FROM and RCPT TO). */
	if (!memchr(p, '\0', size)) {
		char *s = fuzz_strndup(p, size);
		for (int allow_null = 0; allow_null < 2; allow_null++) {
			char *out = NULL;
			if (addr_envelope(s, allow_null, ERR_USAGE, &out, &e) == 0) {
				check_addr(out, allow_null);
				free(out);
			} else {
				check_refusal(&e, ERR_USAGE);
				fuzz_check(out == NULL, "a refused address was given back");
			}
		}
		free(s);
	}

	size_t u = addr_utf8_len(p, size);
	fuzz_check(u <= size && u <= 4, "UTF-8 sequence of %zu bytes in %zu", u, size);
	return 0;
}
