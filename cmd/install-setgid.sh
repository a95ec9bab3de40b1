#!/bin/sh
# meson install: make the installed postie setgid to the system group (SEC-45).
# $1: the group; $2: the program's path below the prefix (sbindir/postie, absolute or not);
# $3: the system profile.
# Run as root without DESTDIR and the group exists: chgrp and chmod 2755. Otherwise nothing
# is changed and the commands to run are printed.
set -eu
group=$1
rel=$2
sysconf=$3
case $rel in
/*) prog=$rel ;;
*) prog=${MESON_INSTALL_PREFIX:-/usr/local}/$rel ;;
esac
target=${MESON_INSTALL_DESTDIR_PREFIX:-${MESON_INSTALL_PREFIX:-}}
case $rel in
/*) target=${DESTDIR:-}$rel ;;
*) target=$target/$rel ;;
esac

instructions() {
	echo "postie: to let every local user send with the system profile, run as root:"
	if ! getent group "$group" >/dev/null 2>&1; then
		echo "    groupadd --system $group"
	fi
	echo "    chgrp $group $prog"
	echo "    chmod 2755 $prog"
	echo "    chown root:$group $sysconf && chmod 640 $sysconf   (the system profile)"
}

if [ -n "${DESTDIR:-}" ]; then
	echo "postie: DESTDIR is set: the package must install $prog as root:$group mode 2755"
	echo "postie: (and create the group with \`groupadd --system $group\` when it is missing)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "postie: not root: $prog is not setgid $group yet."
	instructions
	exit 0
fi
if ! getent group "$group" >/dev/null 2>&1; then
	echo "postie: the group $group does not exist; nothing was changed."
	instructions
	exit 0
fi
chgrp "$group" "$target"
chmod 2755 "$target"
echo "postie: $prog is setgid $group (mode 2755)"
