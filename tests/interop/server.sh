#!/bin/bash
# server.sh start DIR | stop DIR
#
# A private, throwaway Postfix + Dovecot SASL under DIR, for the interop tests and the demo.
# Needs root, postfix, dovecot-core and certtool (tests/interop/install-deps.sh installs them).
#
#   start  writes the certificates (tests/gencerts.sh), a Dovecot that only does SASL
#          authentication for Postfix, and a Postfix listening on two free loopback ports:
#            SUBMISSION_PORT  STARTTLS required, AUTH required
#            SMTPS_PORT       implicit TLS (smtpd_tls_wrappermode), AUTH required
#          Every recipient, in any domain, is delivered by a pipe transport into its own
#          maildir, DIR/mail/<recipient>/new/, with the bytes Postfix was given plus the
#          Return-Path:, Delivered-To: and Received: headers it puts on top.
#          Then writes DIR/env (shell variables, for ". DIR/env") and DIR/ports.
#   stop   stops the Postfix and the Dovecot of this DIR (and nothing else); safe to call
#          after a failed or partial start, and more than once. Files under DIR are kept.
#
# Users (Dovecot passwd-file): alice / "s3cret pass", bob / 'pa$$ "w0rd"'.
# Logs: DIR/maillog (Postfix), DIR/dovecot.log.
set -u

prog=server.sh
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "$prog: $*" >&2; exit 1; }

usage() { echo "usage: $prog start|stop DIR" >&2; exit 64; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case $cmd in start | stop) ;; *) usage ;; esac
if [ "$cmd" = stop ] && [ ! -d "$dir" ]; then
	exit 0
fi
mkdir -p "$dir" || die "create $dir: failed"
dir=$(cd "$dir" && pwd)
# DIR goes unquoted into Postfix's master.cf (pipe argv) and main.cf lists.
case $dir in *[!A-Za-z0-9/._-]*) die "DIR $dir: use only letters, digits and / . _ -" ;; esac

etc=$dir/etc
spool=$dir/spool
dovecot_conf=$dir/dovecot.conf
dovecot_run=$dir/dovecot/run
auth_socket=$spool/private/auth

# pid_alive PID PROGRAM-PATTERN: PID is alive and its executable matches the pattern.
pid_alive() {
	local exe
	[ -n "$1" ] && [ -d "/proc/$1" ] || return 1
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	# shellcheck disable=SC2254
	case $exe in $2) return 0 ;; esac
	return 1
}

# postfix_master_pid: the pid of this DIR's Postfix master, if it runs.
postfix_master_pid() {
	local pid
	pid=$(tr -dc 0-9 2> /dev/null < "$spool/pid/master.pid") || return 1
	pid_alive "$pid" '/usr/lib/postfix/sbin/master*' || return 1
	# Its working directory is this DIR's queue: not some other Postfix.
	[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$spool" ] || return 1
	echo "$pid"
}

# dovecot_master_pid: the pid of this DIR's Dovecot master, if it runs.
dovecot_master_pid() {
	local pid
	pid=$(tr -dc 0-9 2> /dev/null < "$dovecot_run/master.pid") || return 1
	pid_alive "$pid" '/usr/sbin/dovecot*' || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-c $dovecot_conf" || return 1
	echo "$pid"
}

# running PID: PID exists and is not a zombie (here a zombie may wait seconds for its reaper).
running() {
	local stat
	stat=$(cat 2> /dev/null "/proc/$1/stat") || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# wait_gone PID SECONDS: wait until PID has exited; 1 if it still runs after SECONDS.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		running "$1" || return 0
		sleep 0.1
	done
	return 1
}

# leftovers: Postfix and Dovecot processes working inside DIR (children of a master
# that could not be stopped cleanly).
leftovers() {
	local p exe cwd
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case $exe in /usr/lib/postfix/sbin/* | /usr/lib/dovecot/* | /usr/sbin/dovecot) ;; *) continue ;; esac
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd/ in "$dir"/*) echo "${p#/proc/}" ;; esac
	done
}

# stop_postfix: stop this DIR's Postfix master (it takes its children along), as
# "postfix stop" does but without its 1 s pause.
stop_postfix() {
	local pid
	pid=$(postfix_master_pid) || return 0
	kill -TERM "$pid" 2> /dev/null
	wait_gone "$pid" 10 || kill -KILL "$pid" 2> /dev/null
}

stop_dovecot() {
	local pid
	pid=$(dovecot_master_pid) || return 0
	kill -TERM "$pid" 2> /dev/null
	wait_gone "$pid" 10 || kill -KILL "$pid" 2> /dev/null
}

stop() {
	local pid
	stop_postfix
	stop_dovecot
	# The masters' children leave by themselves when their master goes; give them a moment.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -z "$(leftovers)" ] && return 0
		sleep 0.2
	done
	for pid in $(leftovers); do kill -KILL "$pid" 2> /dev/null; done
	return 0
}

# port_bound PORT: something on this machine has PORT open (any state, TCP v4 or v6).
port_bound() {
	local hex
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2> /dev/null |
		awk -v h=":$hex" 'substr($2, length($2) - 4) == h { found = 1 } END { exit !found }'
}

# free_port: a port below the usual ephemeral range that nothing has open.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		port_bound "$p" || { echo "$p"; return; }
	done
}

# listening PORT: a TCP socket listens on PORT (checked without connecting, so the
# servers log no probe).
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'substr($2, length($2) - 4) == h && $4 == "0A" { found = 1 }
		END { exit !found }' /proc/net/tcp
}

write_dovecot() {
	mkdir -p "$dir/dovecot/state" "$dovecot_run"
	chmod 0755 "$dir/dovecot"
	# passwd-file: user:password:uid:gid:gecos:home:shell:extra. Passwords may hold spaces.
	cat > "$dir/dovecot/users" <<-'EOF'
		alice:{PLAIN}s3cret pass::::::
		bob:{PLAIN}pa$$ "w0rd"::::::
		carol:{PLAIN}ya29.tok3n-for-carol::::::
	EOF
	chgrp dovecot "$dir/dovecot/users"
	chmod 0640 "$dir/dovecot/users"
	cat > "$dovecot_conf" <<-EOF
		# Dovecot for postie's interop tests: SASL authentication for Postfix only.
		protocols =
		instance_name = postie-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
		base_dir = $dovecot_run
		state_dir = $dir/dovecot/state
		log_path = $dir/dovecot.log
		ssl = no
		disable_plaintext_auth = no
		# Dovecot 2.3 without an oauth2 passdb checks an OAuth token as the password.
		auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 xoauth2 oauthbearer
		auth_verbose = yes
		passdb {
		  driver = passwd-file
		  args = scheme=PLAIN username_format=%u $dir/dovecot/users
		}
		userdb {
		  driver = static
		  args = uid=nobody gid=nogroup home=/nonexistent
		}
		service auth {
		  unix_listener $auth_socket {
		    mode = 0660
		    user = postfix
		    group = postfix
		  }
		}
	EOF
}

# make_dirs: Postfix's folders (Dovecot's auth socket goes into its private/), the mail root.
make_dirs() {
	mkdir -p "$etc" "$spool/private" "$dir/data" "$dir/mail"
	chown postfix "$spool/private" "$dir/data"
	chmod 0700 "$spool/private"
	chown nobody:nogroup "$dir/mail"
	chmod 0755 "$dir/mail"
}

write_postfix() { # SUBMISSION-PORT SMTPS-PORT

	# The pipe transport runs this as nobody, once per recipient.
	cat > "$dir/deliver.sh" <<-'EOF'
		#!/bin/sh
		# deliver.sh MAILROOT RECIPIENT: the message on stdin into MAILROOT/RECIPIENT/new/.
		root=$1
		rcpt=$2
		case $rcpt in '' | .* | */*) exit 67 ;; esac
		box=$root/$rcpt
		mkdir -p "$box/tmp" "$box/new" "$box/cur" || exit 75
		name=$(date +%s.%N).$$
		cat > "$box/tmp/$name" || exit 75
		mv "$box/tmp/$name" "$box/new/$name" || exit 75
	EOF
	chmod 0755 "$dir/deliver.sh"

	cat > "$etc/main.cf" <<-EOF
		# Postfix for postie's interop tests: loopback only, TLS and AUTH required,
		# every recipient into DIR/mail/<recipient>/ through the testpipe transport.
		compatibility_level = 3.6
		queue_directory = $spool
		data_directory = $dir/data
		maillog_file = $dir/maillog
		maillog_file_prefixes = $dir
		mail_owner = postfix
		setgid_group = postdrop
		myhostname = mx.postie.test
		mydomain = postie.test
		myorigin = \$myhostname
		mydestination =
		inet_interfaces = 127.0.0.1
		inet_protocols = ipv4
		mynetworks = 127.0.0.1/32
		relayhost =
		alias_maps =
		alias_database =
		local_recipient_maps =
		biff = no
		append_dot_mydomain = no
		# No header rewriting and nothing added by cleanup: the message arrives as the
		# client sent it, apart from the Received: header.
		local_header_rewrite_clients =
		remote_header_rewrite_domain =
		always_add_missing_headers = no
		undisclosed_recipients_header =
		message_size_limit = 52428800
		smtpd_banner = \$myhostname ESMTP postie-interop
		smtpd_peername_lookup = no
		# A bare LF in DATA is refused, so a client that does not send CRLF fails here
		# (the maildir cannot show it: it stores lines with LF).
		smtpd_forbid_bare_newline = reject
		smtpd_forbid_bare_newline_exclusions =
		default_transport = testpipe
		relay_transport = testpipe
		local_transport = testpipe
		testpipe_destination_recipient_limit = 1

		smtpd_tls_chain_files = $dir/certs/server-key.pem, $dir/certs/server.pem
		smtpd_tls_security_level = encrypt
		smtpd_tls_auth_only = yes
		smtpd_tls_loglevel = 1
		smtpd_tls_received_header = yes
		smtpd_sasl_auth_enable = yes
		smtpd_sasl_type = dovecot
		smtpd_sasl_path = private/auth
		smtpd_sasl_authenticated_header = yes
		smtpd_sasl_security_options = noanonymous
		smtpd_sasl_tls_security_options = noanonymous
		smtpd_client_restrictions = permit_sasl_authenticated, reject
		smtpd_relay_restrictions = permit_sasl_authenticated, reject
		smtpd_recipient_restrictions = permit_sasl_authenticated, reject
	EOF

	cat > "$etc/master.cf" <<-EOF
		# service type private unpriv chroot wakeup maxproc command + args
		127.0.0.1:$1 inet n - n - - smtpd
		  -o syslog_name=postfix/submission
		  -o smtpd_tls_wrappermode=no
		127.0.0.1:$2 inet n - n - - smtpd
		  -o syslog_name=postfix/submissions
		  -o smtpd_tls_wrappermode=yes
		pickup unix n - n 60 1 pickup
		cleanup unix n - n - 0 cleanup
		qmgr unix n - n 300 1 qmgr
		tlsmgr unix - - n 1000? 1 tlsmgr
		rewrite unix - - n - - trivial-rewrite
		bounce unix - - n - 0 bounce
		defer unix - - n - 0 bounce
		trace unix - - n - 0 bounce
		verify unix - - n - 1 verify
		flush unix n - n 1000? 0 flush
		proxymap unix - - n - - proxymap
		proxywrite unix - - n - 1 proxymap
		showq unix n - n - - showq
		error unix - - n - - error
		retry unix - - n - - error
		discard unix - - n - - discard
		anvil unix - - n - 1 anvil
		scache unix - - n - 1 scache
		postlog unix-dgram n - n - 1 postlogd
		testpipe unix - n n - - pipe
		  flags=DR user=nobody:nogroup argv=/bin/sh $dir/deliver.sh $dir/mail \${recipient}
	EOF
}

# fail_start WHAT: report, show the logs' ends, stop what did start, exit 1.
fail_start() {
	echo "$prog: start $dir: $1" >&2
	for f in "$dir/maillog" "$dir/dovecot.log" "$dir/postfix-start.log"; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
	done
	stop
	exit 1
}

start() {
	local sub smtps try i p lines
	[ "$(id -u)" = 0 ] || die "start: must run as root"
	for p in postfix dovecot certtool; do
		command -v "$p" > /dev/null || die "start: $p not installed (run tests/interop/install-deps.sh)"
	done
	[ ${#auth_socket} -lt 100 ] || die "start: DIR $dir is too long for a unix socket path"
	stop # anything left from an earlier run in this DIR
	chmod 0755 "$dir" # Postfix (user postfix) and the pipe (user nobody) work inside it
	runuser -u nobody -- test -x "$dir" ||
		die "start: user nobody cannot reach $dir: make its parent folders searchable (chmod o+x)"
	sh "$here/../gencerts.sh" "$dir/certs" || die "start: gencerts.sh $dir/certs failed"
	chmod 0755 "$dir/certs"
	rm -f "$dir/env" "$dir/ports"

	make_dirs
	write_dovecot
	dovecot -c "$dovecot_conf" 2> "$dir/dovecot-start.log" ||
		fail_start "dovecot did not start: $(cat "$dir/dovecot-start.log")"

	for try in 1 2 3; do
		sub=$(free_port)
		smtps=$(free_port)
		while [ "$smtps" = "$sub" ]; do smtps=$(free_port); done
		write_postfix "$sub" "$smtps"
		lines=$(wc -l 2> /dev/null < "$dir/maillog")
		if postfix -c "$etc" start > "$dir/postfix-start.log" 2>&1; then
			break
		fi
		# A port taken between the choice and the bind: stop and choose again.
		tail -n "+$((lines + 1))" "$dir/maillog" 2> /dev/null | grep -q 'Address already in use' ||
			fail_start "postfix did not start"
		stop_postfix
		[ "$try" = 3 ] && fail_start "postfix did not start (see above)"
	done

	for ((i = 0; i < 100; i++)); do
		[ -S "$auth_socket" ] && listening "$sub" && listening "$smtps" && break
		sleep 0.1
	done
	[ -S "$auth_socket" ] || fail_start "no Dovecot auth socket $auth_socket after 10 s"
	listening "$sub" || fail_start "nothing listens on port $sub after 10 s"
	listening "$smtps" || fail_start "nothing listens on port $smtps after 10 s"

	cat > "$dir/env" <<-EOF
		SUBMISSION_PORT=$sub
		SMTPS_PORT=$smtps
		CA_FILE=$dir/certs/ca.pem
		MAIL_ROOT=$dir/mail
		MAILLOG=$dir/maillog
	EOF
	printf 'submission %s\nsmtps %s\n' "$sub" "$smtps" > "$dir/ports"
	echo "$prog: postfix on 127.0.0.1:$sub (STARTTLS) and 127.0.0.1:$smtps (TLS); see $dir/env"
}

case $cmd in
start) start ;;
stop) stop ;;
esac
