#!/bin/sh
# tests/callers/install-deps.sh: the real programs that the callers suite runs against postie
# (issue 3): bsd-mailx, s-nail, git send-email (git-email, and libmailtools-perl that it only
# recommends but needs), PHP's mail(), Symfony Mailer, sudo's mailer. Idempotent and quiet;
# apt-get update runs only when the install fails without it. None of them is made the
# system's mailer: the tests point each program at postie through its own option.
set -eu
pkgs="postfix bsd-mailx s-nail git git-email libmailtools-perl php-cli php-symfony-mailer sudo
python3"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "callers/install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# bsd-mailx depends on an MTA: Postfix (as in the top-level install-deps.sh, left unconfigured)
# satisfies it, so apt does not pick another one.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
