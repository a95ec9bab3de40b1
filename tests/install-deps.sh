#!/bin/sh
# install-deps.sh: the Debian packages that building and testing postie need (clang-format-14
# for tests/style's format check; build-essential, debhelper, dpkg-dev, fakeroot and lintian for
# tests/debian's package build, debootstrap for its fresh Debian root). Idempotent; quick when
# everything is already there.
set -eu
pkgs="meson ninja-build pkg-config gcc libc6-dev libgnutls28-dev libidn2-dev libpopt-dev
gnutls-bin scdoc python3 postfix dovecot-core strace openssl softhsm2 clang-format-14
build-essential debhelper dpkg-dev fakeroot lintian debootstrap"
pkgs="$pkgs zsh fish" # tests/completions drives the zsh and fish completions in them
pkgs="$pkgs python3-dkim python3-nacl" # tests/dkim: the independent verifier (nacl: Ed25519)
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
sh "$(dirname "$0")/callers/install-deps.sh"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix must not configure itself as the machine's mailer: the tests run private ones.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
