#!/bin/sh
# gencerts.sh OUTDIR: make the test certificates with GnuTLS's certtool.
#   ca.pem ca-key.pem            a test CA (the trust file of every test)
#   server.pem server-key.pem    for localhost, 127.0.0.1, ::1, signed by the CA
#   cn-only.pem                  CN=localhost and no subjectAltName (SEC-7)
#   expired.pem                  validity ended in 2020 (SEC-6)
#   wrongname.pem                SAN other.example only (SEC-6)
#   selfsigned.pem               localhost, signed by its own key (SEC-6)
#   renewed.pem                  localhost again, another serial and dates, same key (a
#                                renewal that keeps the key: an SPKI pin still holds)
#   revoked.pem                  localhost, signed by the CA, revoked by crl.pem
#   crl.pem                      a CRL by the CA listing revoked.pem
#   otherkey.pem otherkey-key.pem  localhost, signed by the CA, over a key of its own
#   client.pem client-key.pem    a client certificate (CN "postie test client"), by the CA
#   client-combined.pem          client.pem and client-key.pem in one file (mode 600)
#   client-key-open.pem          client-key.pem again, mode 644: a key postie must refuse
#   ocsp-good.der ocsp-revoked.der  OCSP responses by the CA (RFC 6960): server.pem good,
#                                revoked.pem revoked; made only when openssl is installed
#                                (GnuTLS's ocsptool cannot make responses)
# Every server certificate except otherkey.pem uses server-key.pem, so a server needs only
# to swap the certificate.
# fingerprints.txt: "NAME SHA256-hex-with-colons" of each of the first five certificates
# (for pinning tests); it is written last, so its presence means the directory is complete.
# spki.txt: "NAME sha256//BASE64", the SPKI pin (RFC 7469 §2.4) of each certificate.
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

leaf renewed 'cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
serial = 4242
expiration_days = 3000'
leaf revoked 'cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
expiration_days = 3650'
printf 'crl_next_update = 3650\ncrl_number = 1\n' > crl.tmpl
ct --generate-crl --load-ca-privkey ca-key.pem --load-ca-certificate ca.pem \
	--load-certificate revoked.pem --template crl.tmpl --outfile crl.pem

ct --generate-privkey --key-type=ecdsa --outfile otherkey-key.pem
printf '%s\n' 'cn = "localhost"' 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' \
	'expiration_days = 3650' tls_www_server signing_key > otherkey.tmpl
ct --generate-certificate --load-privkey otherkey-key.pem --load-ca-certificate ca.pem \
	--load-ca-privkey ca-key.pem --template otherkey.tmpl --outfile otherkey.pem

ct --generate-privkey --key-type=ecdsa --outfile client-key.pem
printf '%s\n' 'cn = "postie test client"' 'email = "client@example.test"' \
	'expiration_days = 3650' tls_www_client signing_key > client.tmpl
ct --generate-certificate --load-privkey client-key.pem --load-ca-certificate ca.pem \
	--load-ca-privkey ca-key.pem --template client.tmpl --outfile client.pem
chmod 600 client-key.pem otherkey-key.pem
(umask 077 && cat client.pem client-key.pem > client-combined.pem)
# The same key left readable by others, to be refused (SEC-14).
cp client-key.pem client-key-open.pem
chmod 644 client-key-open.pem

# One look at each certificate: its SHA-256 fingerprint (the first "sha256:" line, as
# before), SPKI pin and serial number (upper-case hex without leading zero bytes, as
# openssl's OCSP index wants it).
: > spki.txt
: > fingerprints.tmp
for n in server cn-only expired wrongname selfsigned renewed revoked otherkey client; do
	# shellcheck disable=SC2046 # the three words, split on purpose
	set -- $(certtool --certificate-info --infile "$n.pem" | awk '
		/pin-sha256:/ && pin == "" { sub(/.*pin-sha256:/, ""); pin = $0 }
		/^[ \t]*sha256:[0-9a-f]+$/ && fp == "" { sub(/.*sha256:/, ""); fp = $0 }
		/Serial Number \(hex\):/ && ser == "" { ser = toupper($NF); sub(/^(00)+/, "", ser) }
		END { print pin, fp, ser }')
	echo "$n sha256//$1" >> spki.txt
	case $n in server|cn-only|expired|wrongname|selfsigned) echo "$n $2" >> fingerprints.tmp ;; esac
	case $n in server) ser_server=$3 ;; revoked) ser_revoked=$3 ;; esac
done

# OCSP responses as a server would staple them (openssl's responder, fed an index).
if command -v openssl >/dev/null 2>&1; then
	printf 'V\t491231235959Z\t\t%s\tunknown\t/CN=localhost\n' "$ser_server" > ocsp-index.txt
	printf 'R\t491231235959Z\t240101000000Z\t%s\tunknown\t/CN=localhost\n' "$ser_revoked" \
		>> ocsp-index.txt
	for r in good revoked; do
		c=server.pem
		[ "$r" = revoked ] && c=revoked.pem
		# Optional: without them the OCSP tests skip, so a failure here stops nothing.
		{ openssl ocsp -issuer ca.pem -cert "$c" -no_nonce -reqout "ocsp-$r.req" &&
			openssl ocsp -index ocsp-index.txt -CA ca.pem -rsigner ca.pem -rkey ca-key.pem \
				-reqin "ocsp-$r.req" -respout "ocsp-$r.der" -ndays 3650
		} >/dev/null 2>&1 || rm -f "ocsp-$r.der"
	done
fi
mv fingerprints.tmp fingerprints.txt

# Appended for issue 10, bug 13 (SEC-8): idn.pem, SAN xn--bcher-kva.example only (the A-label
# of bücher.example), signed by the CA, over server-key.pem. It comes after fingerprints.txt:
# the tests make their directory afresh; one made by an older copy of this script lacks it.
leaf idn 'cn = "xn--bcher-kva.example"
dns_name = "xn--bcher-kva.example"
expiration_days = 3650'
