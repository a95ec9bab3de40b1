#!/bin/sh
# meson install: make the installed postie setgid to the system group (SEC-45).
# $1: the group; $2: the program's path below the prefix (sbindir/postie, absolute or not);
# $3: the system profile; $4: the system spool (the system queue).
# Run as root without DESTDIR and the group exists: chgrp and chmod 2755, and the spool and
# its four folders made root:GROUP mode 1770 (postie never makes them). Otherwise nothing
# is changed and the commands to run are printed.
set -eu
group=$1
rel=$2
sysconf=$3
spool=$4
spooldirs="$spool $spool/tmp $spool/queue $spool/failed $spool/corrupt"
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
	echo "    install -d -o root -g $group -m 1770 $spooldirs   (the system queue)"
}

if [ -n "${DESTDIR:-}" ]; then
	echo "postie: DESTDIR is set: the package must install $prog as root:$group mode 2755"
	echo "postie: (and create the group with \`groupadd --system $group\` when it is missing)"
	echo "postie: and make the system queue: install -d -o root -g $group -m 1770 $spooldirs"
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
# The system queue (SEC-45): only the group enters it; the sticky bit keeps each entry its
# owner's. install -d leaves the folders' contents alone and sets the mode again.
# shellcheck disable=SC2086
install -d -o root -g "$group" -m 1770 $spooldirs
echo "postie: the system queue $spool is root:$group mode 1770"
