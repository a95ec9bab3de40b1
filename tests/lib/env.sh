# env.sh: tests/lib/postietest.py's environment for the shell suites (POSIX sh; sourced).
#   . "$here/../lib/env.sh"
#   postie_test_env DIR      HOME=DIR, the XDG base directories under it (the XDG spec's
#                            default places), TZ=UTC, LC_ALL=LANG=C.UTF-8 (the one locale of
#                            every suite), and nothing of the caller's that would make postie
#                            read the real user's files or secrets (POSTIE*, XDG_*,
#                            CREDENTIALS_DIRECTORY, DBUS_SESSION_BUS_ADDRESS); makes DIR and
#                            $XDG_CONFIG_HOME
#   postie_test_keep FAILED  true when POSTIE_TEST_KEEP asks to keep the temp dir of a test
#                            that failed (FAILED 1) or passed (0): =1 always, =fail on failure
postie_test_env() {
	for _v in $(env | sed -n 's/^\(POSTIE[A-Za-z0-9_]*\)=.*/\1/p; s/^\(XDG_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$_v"
	done
	unset _v CREDENTIALS_DIRECTORY DBUS_SESSION_BUS_ADDRESS LANGUAGE
	HOME=$1
	XDG_CONFIG_HOME=$1/.config
	XDG_STATE_HOME=$1/.local/state
	XDG_CACHE_HOME=$1/.cache
	XDG_DATA_HOME=$1/.local/share
	TZ=UTC
	LC_ALL=C.UTF-8
	LANG=C.UTF-8
	export HOME XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_DATA_HOME TZ LC_ALL LANG
	mkdir -p "$XDG_CONFIG_HOME"
}

postie_test_keep() {
	case ${POSTIE_TEST_KEEP:-} in
	'' | 0) return 1 ;;
	fail) [ "$1" != 0 ] ;;
	*) return 0 ;;
	esac
}
