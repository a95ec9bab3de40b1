/* Unit tests of buf: ceilings are errors, never silent cuts. */
#include <string.h>

#include "tests/lib/tap.h"
#include "buf.h"

int
main(void)
{
	struct buf b;
	struct err e;

	buf_init(&b, 10);
	ok(buf_append(&b, "12345", 5, &e) == 0, "append within the ceiling");
	ok(buf_append(&b, "67890", 5, &e) == 0 && b.len == 10, "append up to the ceiling");
	ok(buf_append(&b, "x", 1, &e) == -1 && e.kind == ERR_DATA, "one byte past it fails");
	ok(b.len == 10 && memcmp(b.data, "1234567890", 10) == 0 && b.data[10] == '\0',
	   "nothing appended by the failed call");
	buf_consume(&b, 4);
	ok(b.len == 6 && strcmp(b.data, "567890") == 0, "consume");
	buf_reset(&b);
	ok(b.len == 0 && b.data[0] == '\0', "reset");
	ok(buf_printf(&b, &e, "%d-%s", 42, "ab") == 0 && strcmp(b.data, "42-ab") == 0, "printf");
	ok(buf_printf(&b, &e, "%s", "too long text") == -1, "printf past the ceiling fails");
	buf_fini(&b);
	ok(b.data == NULL && b.len == 0, "fini");

	buf_init(&b, 1 << 20);
	b.secret = true;
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, "secret", &e);
	ok(b.len == 6000, "secret buffer grows by copying");
	buf_fini(&b);
	ok(b.data == NULL, "secret buffer freed");
	return tap_done();
}
