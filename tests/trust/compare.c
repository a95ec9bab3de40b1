/*
 * trust-compare BUNDLE CHAIN HOST: verify the chain CHAIN (PEM, as a server sends it) for
 * HOST twice, with GnuTLS's trust list of the whole BUNDLE (what postie loaded before) and
 * with only the CAs tls_anchor_add picks from it (or the whole BUNDLE when it picks none, as
 * postie then does). Prints "full=STATUS lazy=STATUS added=N" (GnuTLS status bits in hex;
 * "error" when the bundle cannot be loaded), exits 0 when it could run. tests/trust/run.py
 * compares the two.
 *
 * trust-compare --system: each CA of POSTIE_SYSTEM_TRUST_FILE sent alone as a chain, verified
 * with GnuTLS's own system trust and with what tls_anchor_add (FILE NULL) picks. Prints
 * "roots=N same=S picked=P": S of the N verdicts equal, P chains with CAs picked. Exit 77
 * without the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "tls_int.h"

static int
verify(gnutls_x509_trust_list_t tl, gnutls_x509_crt_t *crts, unsigned n, const char *host,
       unsigned *status)
{
	gnutls_typed_vdata_st data[2] = {
	    {.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host},
	    {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER},
	};
	return gnutls_x509_trust_list_verify_crt2(tl, crts, n, data, 2, 0, status, NULL);
}

static void
show(const char *label, int loaded, int rc, unsigned status)
{
	if (loaded < 0 || rc < 0)
		printf("%s=error", label);
	else
		printf("%s=0x%x", label, status);
}

/* Each system CA as a chain: GnuTLS's system trust and tls_anchor_add's picks agree. */
static int
system_roots(void)
{
	gnutls_datum_t pem = {NULL, 0}, der;
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_trust_list_t full;
	unsigned n = 0, same = 0, picked = 0;

	if (!POSTIE_SYSTEM_TRUST_FILE[0] || gnutls_load_file(POSTIE_SYSTEM_TRUST_FILE, &pem) < 0 ||
	    gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0) < 0) {
		printf("no system trust file\n");
		return 77;
	}
	gnutls_x509_trust_list_init(&full, 0);
	gnutls_x509_trust_list_add_system_trust(full, GNUTLS_TL_USE_IN_TLS, 0);
	for (unsigned i = 0; i < n; i++) {
		gnutls_x509_trust_list_t lazy;
		unsigned sf = 0, sl = 0;
		gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &der);
		gnutls_x509_trust_list_init(&lazy, 0);
		int added = tls_anchor_add(lazy, NULL, &der, 1);
		if (added > 0)
			picked++;
		else
			gnutls_x509_trust_list_add_system_trust(lazy, GNUTLS_TL_USE_IN_TLS, 0);
		int rf = verify(full, &crts[i], 1, "localhost", &sf);
		int rl = verify(lazy, &crts[i], 1, "localhost", &sl);
		if (rf == rl && sf == sl)
			same++;
		else
			printf("differs: root %u: full 0x%x, picked 0x%x\n", i, sf, sl);
		gnutls_x509_trust_list_deinit(lazy, 1);
		gnutls_free(der.data);
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_x509_trust_list_deinit(full, 1);
	gnutls_free(crts);
	gnutls_free(pem.data);
	printf("roots=%u same=%u picked=%u\n", n, same, picked);
	return 0;
}

int
main(int argc, char **argv)
{
	gnutls_datum_t pem = {NULL, 0}, der[16];
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_trust_list_t full, lazy;
	unsigned n = 0, sfull = 0, slazy = 0;

	if (argc == 2 && strcmp(argv[1], "--system") == 0)
		return system_roots();
	if (argc != 4) {
		fprintf(stderr, "usage: trust-compare BUNDLE CHAIN HOST\n");
		return 2;
	}
	if (gnutls_load_file(argv[2], &pem) < 0 ||
	    gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0) < 0 || n > 16) {
		fprintf(stderr, "trust-compare: cannot read %s\n", argv[2]);
		return 2;
	}
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &der[i]);
	gnutls_x509_trust_list_init(&full, 0);
	gnutls_x509_trust_list_init(&lazy, 0);
	int lf = gnutls_x509_trust_list_add_trust_file(full, argv[1], NULL, GNUTLS_X509_FMT_PEM,
	                                               GNUTLS_TL_USE_IN_TLS, 0);
	int rf = lf < 0 ? -1 : verify(full, crts, n, argv[3], &sfull);
	int added = tls_anchor_add(lazy, argv[1], der, n);
	int ll = added;
	if (added <= 0)
		ll = gnutls_x509_trust_list_add_trust_file(lazy, argv[1], NULL, GNUTLS_X509_FMT_PEM,
		                                           GNUTLS_TL_USE_IN_TLS, 0);
	int rl = ll < 0 ? -1 : verify(lazy, crts, n, argv[3], &slazy);
	show("full", lf, rf, sfull);
	show(" lazy", ll, rl, slazy);
	printf(" added=%d\n", added);
	gnutls_x509_trust_list_deinit(full, 1);
	gnutls_x509_trust_list_deinit(lazy, 1);
	for (unsigned i = 0; i < n; i++) {
		gnutls_free(der[i].data);
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	gnutls_free(pem.data);
	return 0;
}
