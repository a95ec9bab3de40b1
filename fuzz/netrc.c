/*
 * fuzz/netrc: a netrc file (netrc_find in src/netrc.h), looked up for a few hosts
 * and users: ordinary ones, other case, and the empty host and user that no caller passes
 * today (issue 10, bug 12: the reader must not depend on that).
 *
 * Contract checked: 1 appends a non-empty password, 0 appends nothing, -1 is ERR_CONFIG
 * "line N: reason" and appends nothing; the same text and names give the same answer
 * every time; the answer does not depend on the host's case.
 */
#include "fuzz.h"

#include "buf.h"
#include "netrc.h"

static const struct {
	const char *host, *user;
} lookups[] = {
    {"mail.example.com", "me"},
    {"MAIL.Example.COM", "me"},
    {"mail.example.com", ""},
    {"h", "u"},
    {"", ""},
    {"", "me"},
};

static int
find(const char *text, size_t n, const char *host, const char *user, struct buf *out)
{
	struct err e;

	buf_init(out, BUF_MAX_SECRET);
	out->secret = true;
	int rc = netrc_find(text, n, host, user, out, &e);
	fuzz_check(rc >= -1 && rc <= 1, "returned %d", rc);
	if (rc == 1)
		fuzz_check(out->len > 0, "found an empty password");
	else
		fuzz_check(out->len == 0, "a password appended with %d", rc);
	if (rc < 0) {
		fuzz_check(e.kind == ERR_CONFIG, "refused with kind %d: %s", e.kind, e.text);
		fuzz_check(strncmp(e.text, "line ", 5) == 0, "error without its line: %s", e.text);
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_exact(data, size);
	struct buf first, out;
	int rc0 = 0;

	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		int rc = find(text, size, lookups[i].host, lookups[i].user, &out);
		if (i == 0) {
			rc0 = rc;
			first = out;
			continue;
		}
		if (i == 1) {
			/* Host names are compared without regard to case. */
			fuzz_check(rc == rc0 && out.len == first.len &&
			               (out.len == 0 || memcmp(out.data, first.data, out.len) == 0),
			           "the host's case changed the answer");
		}
		buf_fini(&out);
	}
	int again = find(text, size, lookups[0].host, lookups[0].user, &out);
	fuzz_check(again == rc0 && out.len == first.len, "a second lookup differs");
	buf_fini(&out);
	buf_fini(&first);
	free(text);
	return 0;
}
