/*
 * fuzz/dns_txt: a DNS answer as the resolver hands it over (src/dns_txt.h, dns_txt_parse), and
 * a DKIM key record as the DNS holds it (src/dkim.h, dkim_record_compare): the input is both.
 *
 * Contract checked:
 *  - the answer is read from an exact allocation (a read past it is an ASan report);
 *  - a failure is ERR_PROTO or ERR_TEMP and keeps no record; a success keeps at most
 *    DNS_TXT_MAX records, counts at least as many, each NUL-terminated at its length, the
 *    lengths together shorter than the input (the character-strings come from it), and
 *    NXDOMAIN keeps none;
 *  - each record kept, and the input itself, compared as a key record with an Ed25519 key's:
 *    a verdict of the enum, a reason that is "" exactly for a match; the key's own record
 *    matches itself.
 */
#include "fuzz.h"

#include "dkim.h"
#include "dns_txt.h"

#define OURS "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static void
compare(const char *pub, size_t len)
{
	char why[256];
	enum dkim_record_verdict v = dkim_record_compare(OURS, pub, len, why, sizeof(why));

	fuzz_check(v >= DKIM_RECORD_MATCH && v <= DKIM_RECORD_INVALID, "verdict %d", (int)v);
	fuzz_check(memchr(why, '\0', sizeof(why)) != NULL, "the reason is not a string");
	fuzz_check((v == DKIM_RECORD_MATCH) == (why[0] == '\0'), "verdict %d with reason \"%s\"",
	           (int)v, why);
	if (len == strlen(OURS) && memcmp(pub, OURS, len) == 0)
		fuzz_check(v == DKIM_RECORD_MATCH, "the key's own record does not match");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *msg = fuzz_exact(data, size);
	struct dns_txt t;
	struct err e;

	dns_txt_init(&t);
	err_clear(&e);
	if (dns_txt_parse(msg, size, &t, &e) < 0) {
		fuzz_check(e.kind == ERR_PROTO || e.kind == ERR_TEMP, "error kind %d", (int)e.kind);
		fuzz_check(t.n == 0, "%zu records kept after a failure", t.n);
	} else {
		size_t sum = 0;
		fuzz_check(t.n <= DNS_TXT_MAX && t.n <= t.total, "%zu kept of %zu", t.n, t.total);
		fuzz_check(!t.nxdomain || t.total == 0, "records with NXDOMAIN");
		for (size_t i = 0; i < t.n; i++) {
			fuzz_check(t.text[i][t.len[i]] == '\0', "record %zu not NUL-terminated", i);
			sum += t.len[i];
			compare(t.text[i], t.len[i]);
		}
		fuzz_check(sum < size || t.n == 0, "%zu bytes of records from %zu", sum, size);
	}
	dns_txt_fini(&t);
	compare((const char *)msg, size);
	free(msg);
	return 0;
}
