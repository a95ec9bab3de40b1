#!/bin/sh
# install-deps.sh: install what the interop tests need on Debian, as root:
# postfix (preseeded to "No configuration": it must not configure or start a system
# mail server), dovecot-core (SASL for Postfix) and gnutls-bin (certtool, for
# tests/gencerts.sh). Does nothing, quickly, when they are all there.
set -eu

pkgs="postfix dovecot-core gnutls-bin"

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f '${Status}' "$p" 2> /dev/null || true)
	[ "$status" = "install ok installed" ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: must run as root to install:$missing" >&2
	exit 1
fi

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -q -y --no-install-recommends $missing
