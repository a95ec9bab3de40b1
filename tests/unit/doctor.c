/* Unit tests of doctor: the note on a certificate's expiry (postie --check's warning). */
#include <string.h>

#include "tests/lib/tap.h"
#include "doctor.h"

static void
test_expiry(void)
{
	char b[128];
	const long long now = 1767225600; /* 2026-01-01 00:00 UTC */
	const long long day = 86400;

	doctor_expiry_note(now + 365 * day, now, b, sizeof(b));
	ok(b[0] == '\0', "a year away: no note (%s)", b);
	doctor_expiry_note(now + DOCTOR_EXPIRY_WARN_DAYS * day + 1, now, b, sizeof(b));
	ok(b[0] == '\0', "just over %d days away: no note (%s)", DOCTOR_EXPIRY_WARN_DAYS, b);
	doctor_expiry_note(now + DOCTOR_EXPIRY_WARN_DAYS * day, now, b, sizeof(b));
	ok(strcmp(b, "expires in 14 days (2026-01-15 00:00 UTC)") == 0, "14 days away: %s", b);
	doctor_expiry_note(now + 9 * day + 3600, now, b, sizeof(b));
	ok(strcmp(b, "expires in 9 days (2026-01-10 01:00 UTC)") == 0, "9 days away: %s", b);
	doctor_expiry_note(now + 3600, now, b, sizeof(b));
	ok(strcmp(b, "expires in less than a day (2026-01-01 01:00 UTC)") == 0, "an hour away: %s",
	   b);
	doctor_expiry_note(now + day, now, b, sizeof(b));
	ok(strcmp(b, "expires in 1 day (2026-01-02 00:00 UTC)") == 0, "one day: singular (%s)", b);
	doctor_expiry_note(now, now, b, sizeof(b));
	ok(strcmp(b, "expired on 2026-01-01 00:00 UTC") == 0, "now: expired (%s)", b);
	doctor_expiry_note(1577836800, now, b, sizeof(b));
	ok(strcmp(b, "expired on 2020-01-01 00:00 UTC") == 0, "long ago: expired (%s)", b);
	doctor_expiry_note(now + day, now, b, 12);
	ok(strlen(b) == 11, "a short buffer is cut, not overrun (%s)", b);
}

int
main(void)
{
	test_expiry();
	return tap_done();
}
