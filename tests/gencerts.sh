#!/bin/sh
# gencerts.sh OUTDIR: make the test certificates with GnuTLS's certtool.
#   ca.pem ca-key.pem            a test CA (the trust file of every test)
#   server.pem server-key.pem    for localhost, 127.0.0.1, ::1, signed by the CA
#   cn-only.pem                  CN=localhost and no subjectAltName (SEC-7)
#   expired.pem                  validity ended in 2020 (SEC-6)
#   wrongname.pem                SAN other.example only (SEC-6)
#   selfsigned.pem               localhost, signed by its own key (SEC-6)
# Every certificate uses server-key.pem, so a server needs only to swap the certificate.
# fingerprints.txt: "NAME SHA256-hex-with-colons" of each certificate (for pinning tests).
set -eu
out=${1:?usage: gencerts.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[ -f fingerprints.txt ] && exit 0
ct() { certtool "$@" >/dev/null 2>&1; }

ct --generate-privkey --key-type=ecdsa --outfile ca-key.pem
ct --generate-privkey --key-type=ecdsa --outfile server-key.pem

cat > ca.tmpl <<T
cn = "postie test CA"
ca
cert_signing_key
expiration_days = 3650
T
ct --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem

leaf() { # NAME TEMPLATE-BODY [self]
	printf '%s\ntls_www_server\nsigning_key\nencryption_key\n' "$2" > "$1.tmpl"
	if [ "${3:-}" = self ]; then
		ct --generate-self-signed --load-privkey server-key.pem --template "$1.tmpl" --outfile "$1.pem"
	else
		ct --generate-certificate --load-privkey server-key.pem --load-ca-certificate ca.pem \
			--load-ca-privkey ca-key.pem --template "$1.tmpl" --outfile "$1.pem"
	fi
}
leaf server 'cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
expiration_days = 3650'
leaf cn-only 'cn = "localhost"
expiration_days = 3650'
leaf expired 'cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
activation_date = "2019-01-01 00:00:00"
expiration_date = "2020-01-01 00:00:00"'
leaf wrongname 'cn = "other.example"
dns_name = "other.example"
expiration_days = 3650'
leaf selfsigned 'cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
expiration_days = 3650' self

for n in server cn-only expired wrongname selfsigned; do
	fp=$(certtool --certificate-info --infile "$n.pem" | sed -n 's/^[[:space:]]*sha256:\([0-9a-f]*\)$/\1/p' | head -n 1)
	echo "$n $fp"
done > fingerprints.tmp
mv fingerprints.tmp fingerprints.txt
