/*
 * fuzz/aliases: the aliases file (src/aliases.h), msmtp's "local: addr, addr" lines, and
 * what a bare local name becomes through it.
 *
 * The input is the file. When it parses, each alias name (the first 16), "default", "root"
 * and an address with '@' are resolved, with and without a maildomain. Contract checked:
 * a refusal is ERR_CONFIG naming the file; a resolution gives addresses without control
 * characters, each once, each with '@' when a maildomain is set; an address with '@'
 * resolves to itself alone; a refusal there is ERR_CONFIG.
 */
#include "fuzz.h"

#include "aliases.h"

static void
resolve(const struct aliases *a, const char *maildomain, const char *name)
{
	struct addr_list out = {0};
	struct err e;

	if (aliases_resolve(a, maildomain, name, &out, &e) == 0) {
		fuzz_check(out.n >= 1 && out.n <= ALIASES_MAX_ADDRS, "%s resolves to %zu addresses",
		           name, out.n);
		for (size_t i = 0; i < out.n; i++) {
			const char *s = out.v[i];
			fuzz_check(!fuzz_has_ctl(s, strlen(s), ""), "control character in \"%s\"",
			           s);
			fuzz_check(!maildomain || strchr(s, '@'), "%s resolves to the bare %s",
			           name, s);
			for (size_t k = 0; k < i && out.n <= 64; k++)
				fuzz_check(strcmp(out.v[k], s) != 0, "%s resolves to %s twice",
				           name, s);
		}
		if (strchr(name, '@'))
			fuzz_check(out.n == 1 && strcmp(out.v[0], name) == 0,
			           "%s resolves to something else", name);
	} else {
		fuzz_check(e.kind == ERR_CONFIG, "resolve refused with kind %d: %s", e.kind,
		           e.text);
	}
	addr_list_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aliases a = {0};
	struct err e;
	char *text = fuzz_exact(data, size);

	if (aliases_parse(&a, "fuzz-aliases", text, size, &e) < 0) {
		fuzz_check(e.kind == ERR_CONFIG, "refused with kind %d: %s", e.kind, e.text);
		fuzz_check(strncmp(e.text, "fuzz-aliases:", 13) == 0, "error without the file: %s",
		           e.text);
		fuzz_check(!fuzz_has_ctl(e.text, strlen(e.text), ""), "control character in error");
	} else {
		for (int md = 0; md < 2; md++) {
			const char *maildomain = md ? "example.org" : NULL;
			for (size_t i = 0; i < a.n && i < 16; i++) {
				fuzz_check(a.v[i].name && !strchr(a.v[i].name, '@'),
				           "alias name with '@'");
				fuzz_check(a.v[i].to.n > 0, "alias %s stands for nothing",
				           a.v[i].name);
				resolve(&a, maildomain, a.v[i].name);
			}
			resolve(&a, maildomain, "default");
			resolve(&a, maildomain, "root");
			resolve(&a, maildomain, "someone@example.net");
		}
	}
	free(text);
	aliases_fini(&a);
	return 0;
}
