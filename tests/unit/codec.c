/* Unit tests of codec: hex and fingerprints (the one copy the profile, TLS and the queue use). */
#include <string.h>

#include "tests/lib/tap.h"
#include "codec.h"

static void
test_hex(void)
{
	const char *digits = "0123456789abcdefABCDEF";
	int good = 1;
	for (const char *p = digits; *p; p++) {
		int want = p - digits < 16 ? (int)(p - digits) : (int)(p - digits) - 6;
		if (codec_hex_value(*p) != want)
			good = 0;
	}
	ok(good, "every hex digit in either case has its value");
	ok(codec_hex_value('g') == -1 && codec_hex_value(':') == -1 && codec_hex_value(0) == -1 &&
	       codec_hex_value(0xff) == -1 && codec_hex_value('/') == -1,
	   "anything else is -1");

	char out[9];
	codec_hex_encode(out, "\x00\x9f\xff\x10", 4);
	ok(strcmp(out, "009fff10") == 0, "encode: lower case, NUL-terminated (%s)", out);
	codec_hex_encode(out, "", 0);
	ok(out[0] == '\0', "encode nothing: an empty string");
}

static void
test_fingerprint(void)
{
	unsigned char b[4];

	ok(codec_hex_fingerprint("0aFf10", b, sizeof(b)) == 3 && memcmp(b, "\x0a\xff\x10", 3) == 0,
	   "digits together, either case");
	ok(codec_hex_fingerprint("0A:ff:10", b, sizeof(b)) == 3 &&
	       memcmp(b, "\x0a\xff\x10", 3) == 0,
	   "colon-separated pairs");
	ok(codec_hex_fingerprint("0a0b0c0d0e0f", b, sizeof(b)) == 6 &&
	       memcmp(b, "\x0a\x0b\x0c\x0d", 4) == 0,
	   "more than MAX bytes: counted, only MAX stored");
	ok(codec_hex_fingerprint("", b, sizeof(b)) == 0, "empty: zero bytes");
	const char *bad[] = {
	    "0a1", "0a:1", "0a::10", ":0a", "0a:", "0a:bc10", "0g", "0a 10", "0a-10", "0a1:0b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(codec_hex_fingerprint(bad[i], b, sizeof(b)) == -1, "refused: \"%s\"", bad[i]);
}

static void
test_b64token(void)
{
	const char *good[] = {"abc", "a-._~+/", "ya29.a0Af_x==", "Z", "0="};
	const char *bad[] = {"", "=", "==abc", "a b", "a=b", "a\"", "a\n", "a,b", "é"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(codec_is_b64token(good[i], strlen(good[i])), "b64token: \"%s\"", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!codec_is_b64token(bad[i], strlen(bad[i])), "not a b64token: bad[%zu]", i);
	ok(!codec_is_b64token("ab\0cd", 5), "a NUL inside is not a b64token");
	ok(codec_is_b64token("abXX", 2), "only N bytes count");
}

int
main(void)
{
	test_hex();
	test_fingerprint();
	test_b64token();
	return tap_done();
}
