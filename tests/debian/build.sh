#!/bin/sh
# build.sh SOURCE_ROOT: build the Debian packages with contrib/mkdeb into a temp dir and check
# them (tests/debian/meson.build says what). Prints TAP.
set -u
root=$(cd "${1:?usage: build.sh SOURCE_ROOT}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/env.sh"

for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb lintian; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed (tests/install-deps.sh)"
		exit 77
	fi
done
if ! unmet=$(dpkg-checkbuilddeps "$root/contrib/debian/control" 2>&1); then
	echo "1..0 # SKIP Build-Depends not installed (tests/install-deps.sh): $unmet" | tr '\n' ' '
	echo
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/postie-debian.XXXXXX")
failed=0
finish() {
	if postie_test_keep "$failed"; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM
postie_test_env "$tmp/home"
# the build of the packages is Debian's (dpkg-buildflags): nothing of a sanitizer or clang
# build that runs this suite reaches it
unset CC CXX CFLAGS CPPFLAGS CXXFLAGS LDFLAGS ASAN_OPTIONS UBSAN_OPTIONS DEB_BUILD_OPTIONS \
	DEB_BUILD_PROFILES MAKEFLAGS MFLAGS

n=0
ok() { # ok DESCRIPTION COMMAND...: one TAP check
	_d=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $_d"
	else
		echo "not ok $n - $_d"
		sed 's/^/# /' "$tmp/out"
		failed=1
	fi
}

installed() { dpkg-query -W -f='${Package} ${Status} ${Version}\n' postie postie-mta 2>/dev/null; }
before=$(installed)
out=$tmp/out-debs

build() {
	TMPDIR=$tmp "$root/contrib/mkdeb" "$out" >"$tmp/build.log" 2>&1 && return 0
	tail -n 60 "$tmp/build.log"
	return 1
}
ok "contrib/mkdeb builds the packages (log: last lines on failure)" build

meson_version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)'.*/\1/p" "$root/meson.build" | head -n 1)
deb_version=$(sed -n '1s/^postie (\([^)]*\)).*/\1/p' "$root/contrib/debian/changelog")
same_version() {
	echo "meson.build $meson_version, contrib/debian/changelog $deb_version"
	[ -n "$meson_version" ] && [ "$meson_version" = "$deb_version" ]
}
ok "contrib/debian/changelog's version is meson.build's" same_version

arch=$(dpkg --print-architecture)
main=$out/postie_${deb_version}_$arch.deb
mta=$out/postie-mta_${deb_version}_all.deb
changes=$out/postie_${deb_version}_$arch.changes
exists() {
	for f; do
		[ -f "$f" ] || {
			echo "missing: $f"
			ls -l "$out"
			return 1
		}
	done
}
ok "postie, postie-mta, .changes and .buildinfo are made" \
	exists "$main" "$mta" "$changes" "$out/postie_${deb_version}_$arch.buildinfo"
[ -f "$main" ] && dpkg-deb -c "$main" >"$tmp/main.list" 2>&1 || : >"$tmp/main.list"
[ -f "$mta" ] && dpkg-deb -c "$mta" >"$tmp/mta.list" 2>&1 || : >"$tmp/mta.list"

# has LIST MODE PATH: LIST (dpkg-deb -c) has ./PATH, its mode string starting with MODE
has() {
	awk -v mode="$2" -v path="./$3" '$6 == path && index($1 " " $2, mode) == 1 { found = 1 }
		END { exit !found }' "$1" && return 0
	echo "no $3 with mode $2* in:"
	cat "$1"
	return 1
}
# link LIST PATH TARGET: LIST has the symbolic link ./PATH -> TARGET
link() {
	awk -v path="./$2" -v target="$3" '$6 == path && $7 == "->" && $8 == target { found = 1 }
		END { exit !found }' "$1" && return 0
	echo "no link $2 -> $3 in:"
	cat "$1"
	return 1
}
lacks() { # lacks LIST PATTERN: no line of LIST matches PATTERN
	! grep -E "$2" "$1"
}

# the binary ships root:root 0755; the postinst's statoverride makes it root:postie 2755
ok "postie: /usr/sbin/postie, root:root 0755 in the package (the postinst sets the group)" \
	has "$tmp/main.list" "-rwxr-xr-x root/root" usr/sbin/postie
ok "postie: postie(1)" has "$tmp/main.list" "-rw-r--r--" usr/share/man/man1/postie.1.gz
ok "postie: postie.conf(5)" has "$tmp/main.list" "-rw-r--r--" usr/share/man/man5/postie.conf.5.gz
ok "postie: the systemd user service" \
	has "$tmp/main.list" "-rw-r--r--" usr/lib/systemd/user/postie-flush.service
ok "postie: the systemd user timer" \
	has "$tmp/main.list" "-rw-r--r--" usr/lib/systemd/user/postie-flush.timer
ok "postie: the system queue's service (as root)" \
	has "$tmp/main.list" "-rw-r--r--" lib/systemd/system/postie-queue.service
ok "postie: the system queue's timer" \
	has "$tmp/main.list" "-rw-r--r--" lib/systemd/system/postie-queue.timer
unit_path() { # the installed units run the installed postie
	dpkg-deb --fsys-tarfile "$main" | tar -xO ./lib/systemd/system/postie-queue.service \
		./usr/lib/systemd/user/postie-flush.service | grep -x 'ExecStart=/usr/sbin/postie -q' |
		wc -l | grep -qx 2
}
ok "postie: both services run /usr/sbin/postie -q" unit_path
ok "postie: the bash completion" \
	has "$tmp/main.list" "-rw-r--r--" usr/share/bash-completion/completions/postie
ok "postie: the zsh completion (Debian's vendor-completions)" \
	has "$tmp/main.list" "-rw-r--r--" usr/share/zsh/vendor-completions/_postie
ok "postie: the fish completion" \
	has "$tmp/main.list" "-rw-r--r--" usr/share/fish/vendor_completions.d/postie.fish
ok "postie: README.Debian" has "$tmp/main.list" "-" usr/share/doc/postie/README.Debian
ok "postie: copyright" has "$tmp/main.list" "-" usr/share/doc/postie/copyright
ok "postie: the example crontab" has "$tmp/main.list" "-" usr/share/doc/postie/examples/crontab
ok "postie: no sendmail, mailq, newaliases (postie-mta's)" \
	lacks "$tmp/main.list" '/(sendmail|mailq|newaliases)( |$)'
ok "postie: nothing enabled under /etc (the timer is not enabled)" lacks "$tmp/main.list" ' \./etc/'

ok "postie-mta: /usr/sbin/sendmail -> postie" link "$tmp/mta.list" usr/sbin/sendmail postie
ok "postie-mta: /usr/lib/sendmail -> ../sbin/postie" \
	link "$tmp/mta.list" usr/lib/sendmail ../sbin/postie
ok "postie-mta: /usr/bin/mailq -> ../sbin/postie" link "$tmp/mta.list" usr/bin/mailq ../sbin/postie
ok "postie-mta: /usr/bin/newaliases -> ../sbin/postie" \
	link "$tmp/mta.list" usr/bin/newaliases ../sbin/postie
ok "postie-mta: sendmail(8) -> postie(1)" \
	link "$tmp/mta.list" usr/share/man/man8/sendmail.8.gz ../man1/postie.1.gz
ok "postie-mta: mailq(1) -> postie(1)" link "$tmp/mta.list" usr/share/man/man1/mailq.1.gz postie.1.gz
ok "postie-mta: newaliases(1) -> postie(1)" \
	link "$tmp/mta.list" usr/share/man/man1/newaliases.1.gz postie.1.gz

field() { # field DEB NAME EXPECTED: the control field NAME of DEB is EXPECTED
	_got=$(dpkg-deb -f "$1" "$2")
	echo "$2: $_got (expected: $3)"
	[ "$_got" = "$3" ]
}
ok "postie-mta: Provides: mail-transport-agent" field "$mta" Provides mail-transport-agent
ok "postie-mta: Conflicts: mail-transport-agent" field "$mta" Conflicts mail-transport-agent
ok "postie-mta: Replaces: mail-transport-agent" field "$mta" Replaces mail-transport-agent
ok "postie-mta: Depends on this postie" \
	field "$mta" Depends "postie (<< $deb_version.1~), postie (>= $deb_version)"
depends_adduser() {
	dpkg-deb -f "$main" Depends | tee /dev/stderr | grep -Eq '(^|, )adduser(,|$| )'
}
ok "postie: Depends on adduser (the postinst's addgroup)" depends_adduser
ok "postie: no Provides (postie-mta is the MTA)" field "$main" Provides ""

mkdir -p "$tmp/control"
[ -f "$main" ] && dpkg-deb -e "$main" "$tmp/control" >/dev/null 2>&1
postinst=$tmp/control/postinst
makes_group() {
	grep -E '^[[:space:]]*addgroup --system( --quiet)? postie$' "$postinst"
}
ok "postie: the postinst adds the system group postie" makes_group
statoverride() {
	grep -E '^[[:space:]]*dpkg-statoverride --update --add root postie 2755 /usr/sbin/postie$' \
		"$postinst"
}
ok "postie: the postinst makes postie root:postie 2755 (dpkg-statoverride)" statoverride
spool() {
	grep -E '^[[:space:]]*install -d -o root -g postie -m 1770 "/var/spool/postie/\$d"$' \
		"$postinst"
}
ok "postie: the postinst makes the system queue root:postie 1770" spool
ok "postie: the postinst changes no other mode or owner (no chmod, chown, chgrp)" \
	lacks "$postinst" '^[[:space:]]*[^#[:space:]].*(chmod|chown|chgrp)'
# dh_installsystemduser --no-enable: the one "enable" is for a user who had enabled it
not_enabled() {
	awk '/deb-systemd-helper.*--user enable/ && prev !~ /was-enabled/ { bad = 1; print }
		NF && $1 !~ /^#/ { prev = $0 } END { exit bad }' "$postinst"
}
ok "postie: the postinst enables no user unit" not_enabled
enables_queue_timer() {
	grep -E "deb-systemd-helper( --quiet)? enable .*postie-queue\.timer" "$postinst"
}
ok "postie: the postinst enables the system queue's timer (postie-queue.timer)" \
	enables_queue_timer

run_lintian() {
	lintian --fail-on error --display-info --pedantic "$changes" >"$tmp/lintian.out" 2>&1
	_rc=$?
	cat "$tmp/lintian.out"
	! grep -q '^E:' "$tmp/lintian.out" && [ "$_rc" = 0 ]
}
ok "lintian: no error over the .changes (the packages and the .buildinfo)" run_lintian
sed 's/^/# lintian: /' "$tmp/lintian.out" 2>/dev/null

unchanged() {
	_after=$(installed)
	echo "before: $before"
	echo "after: $_after"
	[ "$before" = "$_after" ]
}
ok "nothing was installed (dpkg's state of postie, postie-mta unchanged)" unchanged

echo "1..$n"
exit "$failed"
