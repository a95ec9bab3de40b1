#!/bin/sh
# mkchains.sh OUTDIR: the chains and bundles of tests/trust, made with GnuTLS's certtool.
# Certificates:
#   rootA rootB          two self-signed roots
#   rootB-by-A           root B's name and key, signed by root A (a cross-certificate)
#   intA intB            one intermediate ("trust intermediate", one key), signed by A and
#                        by B (a cross-signed intermediate)
#   leaf                 localhost, by the intermediate
#   intExp leafExp       an intermediate whose validity ended in 2020, and its leaf
#   intNC leafNC         an intermediate constrained to example.org (nc_permit_dns), and a
#                        localhost leaf under it (violates the constraint)
#   decoyA               self-signed, root A's name over another key
#   selfleaf             localhost, self-signed
#   unrelated-N          20 CAs of other names
#   skeleton.pem         a block shaped like a certificate up to its subject, and nothing
#                        GnuTLS can read after that
# Bundles hold these; bundle-leaf.pem the server's certificate itself, as some pin it.
# What a server sends (NAME.pem, key NAME-key.pem): normal, withroot, crossB, crosschain,
# expint, nc, self. Bundles: bundle-*.pem. "done" is written last.
set -eu
out=${1:?usage: mkchains.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[ -f done ] && exit 0
ct() { certtool "$@" >/dev/null 2>&1; }
key() { ct --generate-privkey --key-type=ecdsa --outfile "$1-key.pem"; }
ca_tmpl() { printf 'cn = "%s"\nca\ncert_signing_key\nexpiration_days = 3650\n%s\n' "$1" "${2:-}"; }
leaf_tmpl() { printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 3650\n'; }
self() { # NAME TEMPLATE-FILE KEY
	ct --generate-self-signed --load-privkey "$3-key.pem" --template "$2" --outfile "$1.pem"
}
sign() { # NAME TEMPLATE-FILE KEY ISSUER
	ct --generate-certificate --load-privkey "$3-key.pem" --load-ca-certificate "$4.pem" \
		--load-ca-privkey "$4-key.pem" --template "$2" --outfile "$1.pem"
}

for k in rootA rootB int leaf intExp intNC decoy other; do key $k; done
ca_tmpl "trust root A" > rootA.tmpl && self rootA rootA.tmpl rootA
ca_tmpl "trust root B" > rootB.tmpl && self rootB rootB.tmpl rootB
sign rootB-by-A rootB.tmpl rootB rootA
ca_tmpl "trust intermediate" > int.tmpl
sign intA int.tmpl int rootA
cp int-key.pem intA-key.pem
sign intB int.tmpl int rootB
leaf_tmpl > leaf.tmpl && sign leaf leaf.tmpl leaf intA
printf 'cn = "trust expired intermediate"\nca\ncert_signing_key\nactivation_date = "2019-01-01 00:00:00"\nexpiration_date = "2020-01-01 00:00:00"\n' > intExp.tmpl
sign intExp intExp.tmpl intExp rootA
sign leafExp leaf.tmpl leaf intExp
ca_tmpl "trust constrained intermediate" 'nc_permit_dns = "example.org"' > intNC.tmpl
sign intNC intNC.tmpl intNC rootA
sign leafNC leaf.tmpl leaf intNC
self decoyA rootA.tmpl decoy
leaf_tmpl > selfleaf.tmpl && self selfleaf selfleaf.tmpl leaf
i=0
: > unrelated.pem
while [ $i -lt 20 ]; do
	ca_tmpl "unrelated CA $i" > u.tmpl && self u u.tmpl other
	cat u.pem >> unrelated.pem
	i=$((i + 1))
done
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'MCUwHqADAgECAgEHMAAwBTEDDAFJMAIFADAFMQMMAVMwADAAAwEA' \
	'-----END CERTIFICATE-----' > skeleton.pem

chain() { # NAME KEY CERT...
	name=$1 k=$2
	shift 2
	cat "$@" > "$name.pem"
	cp "$k-key.pem" "$name-key.pem"
}
chain normal leaf leaf.pem intA.pem
chain withroot leaf leaf.pem intA.pem rootA.pem
chain crossB leaf leaf.pem intB.pem
chain crosschain leaf leaf.pem intB.pem rootB-by-A.pem
chain expint leaf leafExp.pem intExp.pem
chain nc leaf leafNC.pem intNC.pem
chain self leaf selfleaf.pem

cp rootA.pem bundle-A.pem
cp rootB.pem bundle-B.pem
sys=/etc/ssl/certs/ca-certificates.crt
[ -r $sys ] || sys=/dev/null
cat $sys unrelated.pem rootA.pem unrelated.pem > bundle-many.pem
cat unrelated.pem rootB.pem > bundle-unknown.pem
cp decoyA.pem bundle-decoy.pem
cat decoyA.pem unrelated.pem rootA.pem > bundle-decoy-and-A.pem
cat unrelated.pem selfleaf.pem > bundle-self.pem
cat skeleton.pem rootA.pem > bundle-skeleton.pem
cat unrelated.pem leaf.pem > bundle-leaf.pem
# The same CAs as bundle-many.pem, each block labelled "X509 CERTIFICATE": GnuTLS reads
# them alike, postie's scan leaves the file to GnuTLS (the whole store, as before).
sed 's/CERTIFICATE-----/X509 CERTIFICATE-----/' bundle-many.pem > bundle-many-x509.pem
sed 's/CERTIFICATE-----/X509 CERTIFICATE-----/' bundle-A.pem > bundle-A-x509.pem
touch done
