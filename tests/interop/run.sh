#!/bin/bash
# run.sh POSTIE SCENARIO... | run.sh POSTIE all
#
# postie against a real Postfix with Dovecot SASL, started on loopback by server.sh.
# Every scenario checks the bytes that landed in the recipient's maildir: the message as
# postie was given it, with every line ending made CRLF on the wire (LF in the maildir,
# where Postfix stores lines), Bcc removed and From/Date/Message-ID added only when missing.
# Postfix puts Return-Path:, Delivered-To: and Received: on top; those are cut before comparing.
#
# Exit: 0 all passed, 1 any failed, 77 (meson's "skipped") without root or without
# postfix/dovecot/certtool (tests/interop/install-deps.sh installs them).
# The binary is only driven through its command line, so another sendmail-style client
# with msmtp's profile syntax can stand in for it (e.g. /usr/bin/msmtp).
# The work folder is kept when a scenario fails, or always with POSTIE_TEST_KEEP=1.
# The environment (private HOME and XDG dirs, TZ, the locale C.UTF-8) is tests/lib/env.sh's.
# The scenario functions are called by name (sc_<scenario>), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/env.sh
. "$here/../lib/env.sh"
scenarios=(starttls-plain starttls-login implicit-tls wrong-password bcc body dot-ends-input
	big profile passwordeval minimal-profile untrusted added-headers resume mechanisms msmtp-oauth)

if [ $# -lt 2 ]; then
	echo "usage: run.sh POSTIE SCENARIO...|all" >&2
	echo "scenarios: ${scenarios[*]}" >&2
	exit 64
fi
postie=$1
shift
case $postie in /*) ;; *) postie=$PWD/$postie ;; esac
[ "$1" = all ] && set -- "${scenarios[@]}"
for s in "$@"; do
	case " ${scenarios[*]} " in *" $s "*) ;; *)
		echo "run.sh: unknown scenario $s (known: ${scenarios[*]})" >&2
		exit 64 ;;
	esac
done

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (Postfix and Dovecot are started as root)"
PATH=$PATH:/usr/sbin:/sbin
for p in postfix dovecot certtool; do
	command -v "$p" > /dev/null || skip "$p not installed (tests/interop/install-deps.sh)"
done
[ -x "$postie" ] || { echo "FAIL: $postie is not an executable" >&2; exit 1; }
name=$(basename "$postie") # the program's name, which starts its error lines

work=$(mktemp -d /tmp/postie-interop.XXXXXX) || exit 1
chmod 0755 "$work" # Postfix and its pipe transport work in $work/srv as other users
srv=$work/srv
# Each scenario's profiles live in the user's config folder ($XDG_CONFIG_HOME/postie): a
# profile that -C names elsewhere is a caller's and may run no command (SEC-43).
postie_test_env "$work/home"
cfg=$XDG_CONFIG_HOME/postie
mkdir -p "$cfg"
failed=0
cleanup() {
	"$here/server.sh" stop "$srv"
	if [ "$failed" = 0 ] && ! postie_test_keep 0; then
		rm -rf "$work"
	else
		echo "work folder kept: $work (maillog: $srv/maillog)"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$here/server.sh" start "$srv" || { failed=1; exit 1; }
# shellcheck source=/dev/null
. "$srv/env"

# ---- helpers ---------------------------------------------------------------

sc="" # the running scenario
fails=0 # failed checks in it

fail() {
	echo "  FAIL [$sc]: $*"
	fails=$((fails + 1))
}

# profile FILE: stdin becomes the profile FILE, mode 0600 as the contract demands.
profile() {
	(umask 077 && cat > "$1")
	chmod 0600 "$1"
}

# std_profile FILE: the default account, on the STARTTLS port as alice.
std_profile() {
	profile "$1" <<-EOF
		account default
		host 127.0.0.1
		port $SUBMISSION_PORT
		tls on
		tls_starttls on
		tls_trust_file $CA_FILE
		auth on
		user alice
		password "s3cret pass"
		from alice@example.org
	EOF
}

# send INPUT ARGS...: run postie with stdin from INPUT; sets rc, out=stdout, err=stderr files.
send() {
	local input=$1
	shift
	out=$cfg/$sc/out
	err=$cfg/$sc/err
	timeout 60 "$postie" "$@" < "$input" > "$out" 2> "$err"
	rc=$?
	[ "$rc" = 124 ] && fail "$name $* did not finish within 60 s"
	return 0
}

# show_err: the client's stderr, indented, after a failed check.
show_err() {
	sed -n '1,40s/^/    | /p' "$err"
}

# expect_rc WANT
expect_rc() {
	if [ "$rc" != "$1" ]; then
		fail "exit status $rc, want $1"
		show_err
		return 1
	fi
}

# wait_mail RCPT COUNT: wait (up to 20 s) until RCPT's maildir holds COUNT messages;
# prints their paths.
wait_mail() {
	local box=$MAIL_ROOT/$1/new i n
	for ((i = 0; i < 200; i++)); do
		n=$(find "$box" -type f 2> /dev/null | wc -l)
		[ "$n" -ge "$2" ] && break
		sleep 0.1
	done
	if [ "$n" != "$2" ]; then
		fail "$1: $n message(s) in the maildir, want $2"
		return 1
	fi
	find "$box" -type f | sort
}

# queue_empty: nothing waits in this Postfix's queue.
queue_empty() {
	[ -z "$(find "$srv/spool/incoming" "$srv/spool/active" "$srv/spool/deferred" \
		"$srv/spool/hold" "$srv/spool/maildrop" -type f 2> /dev/null)" ]
}

# no_mail RCPT: after a short pause, nothing for RCPT arrived and nothing is queued.
no_mail() {
	sleep 1
	[ -d "$MAIL_ROOT/$1" ] && fail "$1 received a message, want none"
	queue_empty || fail "Postfix's queue holds a message, want none"
}

# strip_trace FILE: FILE from its first line after Postfix's own leading
# Return-Path:/Delivered-To:/Received: fields (byte-exact; tail, not awk, prints it).
strip_trace() {
	local n
	n=$(awk '
		/^(Return-Path|Delivered-To|Received):/ { n = NR; trace = 1; next }
		trace && /^[ \t]/ { n = NR; next }
		{ exit }
		END { print n + 0 }' "$1")
	tail -n "+$((n + 1))" "$1"
}

# same WANT-FILE GOT-FILE WHAT: byte comparison, with the first differing lines shown.
same() {
	if ! cmp -s "$1" "$2"; then
		fail "$3: the delivered bytes differ from the expected ones"
		diff <(cat -A "$1") <(cat -A "$2") | head -n 20 | cut -c 1-150 | sed 's/^/    /'
		return 1
	fi
}

# expect_message RCPT WANT-FILE: one message reached RCPT, and it is WANT-FILE's bytes.
expect_message() {
	local f
	f=$(wait_mail "$1" 1) || return 1
	strip_trace "$f" > "$cfg/$sc/got-$1"
	same "$2" "$cfg/$sc/got-$1" "$1"
}

# log_has PATTERN WHAT: Postfix's log has a line matching the extended regex PATTERN.
log_has() {
	grep -qE "$1" "$MAILLOG" || fail "Postfix's log has no line matching /$1/ ($2)"
}

# a complete message (nothing for postie to add): msg FILE RCPT SUBJECT [BODY-LINE]
msg() {
	printf 'From: Alice <alice@example.org>\nTo: %s\nSubject: %s\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <%s.1@postie.test>\n\n%s\n' \
		"$2" "$3" "$sc" "${4:-Hello from the $sc scenario.}" > "$1"
}

# ---- scenarios ---------------------------------------------------------------
# Each writes its files under $cfg/$sc/ and sends to recipients named after it, so all
# scenarios can share one server.

sc_starttls_plain() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	sed -i 's/^auth on$/auth plain/' "$d/profile"
	msg "$d/in" plain-bob@example.org "STARTTLS and AUTH PLAIN"
	send "$d/in" -v -C "$d/profile" plain-bob@example.org
	expect_rc 0 || return
	expect_message plain-bob@example.org "$d/in"
	log_has 'postfix/submission/smtpd.*client=.*sasl_method=PLAIN, sasl_username=alice$' "AUTH PLAIN as alice"
	grep -q '^--> AUTH PLAIN' "$out" "$err" || fail "no '--> AUTH PLAIN' line in the -v transcript"
	# The transcript must not show the password, plainly or in base64 (AUTH PLAIN's).
	grep -qF 's3cret pass' "$out" "$err" && fail "the password appears in the -v output"
	grep -qF "$(printf '\0alice\0s3cret pass' | base64)" "$out" "$err" &&
		fail "the AUTH PLAIN credentials appear in the -v output"
	return 0
}

sc_starttls_login() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	sed -i 's/^auth on$/auth login/' "$d/profile"
	msg "$d/in" login-bob@example.org "STARTTLS and AUTH LOGIN"
	send "$d/in" -v -C "$d/profile" login-bob@example.org
	expect_rc 0 || return
	expect_message login-bob@example.org "$d/in"
	log_has 'postfix/submission/smtpd.*client=.*sasl_method=LOGIN, sasl_username=alice$' "AUTH LOGIN as alice"
	grep -q '^--> AUTH LOGIN' "$out" "$err" || fail "no '--> AUTH LOGIN' line in the -v transcript"
	grep -qF "$(printf 's3cret pass' | base64)" "$out" "$err" &&
		fail "the AUTH LOGIN password appears in the -v output"
	return 0
}

sc_implicit_tls() {
	local d=$cfg/$sc
	profile "$d/profile" <<-EOF
		account tls
		host 127.0.0.1
		port $SMTPS_PORT
		tls on
		tls_starttls off
		tls_trust_file $CA_FILE
		auth on
		user alice
		password "s3cret pass"
		from alice@example.org
	EOF
	msg "$d/in" implicit-bob@example.org "implicit TLS"
	send "$d/in" -v -C "$d/profile" -a tls implicit-bob@example.org
	expect_rc 0 || return
	expect_message implicit-bob@example.org "$d/in"
	# Left to choose, postie takes the strongest mechanism both sides have (issue 5).
	log_has 'postfix/submissions/smtpd.*client=.*sasl_method=SCRAM-SHA-256, sasl_username=alice$' "AUTH SCRAM-SHA-256 chosen on the implicit-TLS port"
	# PLAIN and LOGIN on the implicit-TLS port too, byte-exact.
	local m
	for m in plain login; do
		sed "s/^auth .*/auth $m/" "$d/profile" > "$d/profile-$m"
		chmod 0600 "$d/profile-$m"
		msg "$d/in-$m" "implicit-$m@example.org" "implicit TLS, AUTH $m"
		send "$d/in-$m" -C "$d/profile-$m" -a tls "implicit-$m@example.org"
		expect_rc 0 || continue
		expect_message "implicit-$m@example.org" "$d/in-$m"
		log_has "postfix/submissions/smtpd.*client=.*sasl_method=${m^^}, sasl_username=alice\$" "AUTH ${m^^} on the implicit-TLS port"
	done
}

# Every mechanism Dovecot offers here, named in the profile, authenticates for real; left
# to choose, postie takes SCRAM-SHA-256.
sc_mechanisms() {
	local d=$cfg/$sc m
	for m in plain login cram-md5 scram-sha-1 scram-sha-256 on; do
		std_profile "$d/profile-$m"
		sed -i "s/^auth on$/auth $m/" "$d/profile-$m"
		msg "$d/in-$m" "mech-$m@example.org" "AUTH $m"
		send "$d/in-$m" -v -C "$d/profile-$m" "mech-$m@example.org"
		expect_rc 0 || continue
		local want=${m^^}
		[ "$m" = on ] && want=SCRAM-SHA-256
		grep -q "authenticated with $want" "$err" || fail "auth $m: the transcript does not say $want"
		grep -qF 's3cret pass' "$out" "$err" && fail "auth $m: the password appears in the -v output"
		wait_mail "mech-$m@example.org" 1 > /dev/null
	done
	# OAuth2 (issue 5): a token from oauth2_token_command, fetched once and cached; Dovecot
	# 2.3 checks it as carol's password. Left to choose, postie takes an OAuth mechanism
	# for an account with a token command. One profile file, rewritten for each mechanism:
	# the cache belongs to the file and account that configured the command (SEC-41).
	local counter=$d/token-runs
	for m in xoauth2 oauthbearer on; do
		profile "$d/profile-oauth" <<-EOF
			account default
			host 127.0.0.1
			port $SUBMISSION_PORT
			tls_trust_file $CA_FILE
			auth $m
			user carol
			oauth2_token_command sh -c 'echo run >> $counter; echo ya29.tok3n-for-carol 3600'
			from carol@example.org
		EOF
		msg "$d/in-oauth-$m" "oauth-$m@example.org" "AUTH $m with a token"
		send "$d/in-oauth-$m" -v -C "$d/profile-oauth" "oauth-$m@example.org"
		expect_rc 0 || { show_err; continue; }
		local want=${m^^}
		[ "$m" = on ] && want='(XOAUTH2|OAUTHBEARER)'
		grep -Eq "authenticated with $want" "$err" || fail "auth $m: the transcript does not say $want"
		grep -qF 'tok3n-for-carol' "$out" "$err" && fail "auth $m: the token appears in the -v output"
		wait_mail "oauth-$m@example.org" 1 > /dev/null
	done
	log_has 'sasl_method=XOAUTH2, sasl_username=carol$' "XOAUTH2 accepted by Dovecot"
	log_has 'sasl_method=OAUTHBEARER, sasl_username=carol$' "OAUTHBEARER accepted by Dovecot"
	[ "$(wc -l < "$counter")" = 1 ] || fail "oauth2_token_command ran $(wc -l < "$counter") times for three runs, not once (cache)"
	log_has 'sasl_method=CRAM-MD5, sasl_username=alice$' "CRAM-MD5 accepted by Dovecot"
	log_has 'sasl_method=SCRAM-SHA-1, sasl_username=alice$' "SCRAM-SHA-1 accepted by Dovecot"
	log_has 'sasl_method=SCRAM-SHA-256, sasl_username=alice$' "SCRAM-SHA-256 accepted by Dovecot"
}

sc_wrong_password() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	sed -i 's/^password .*/password "s3cret past"/' "$d/profile"
	msg "$d/in" wrongpw-bob@example.org "never delivered"
	send "$d/in" -C "$d/profile" wrongpw-bob@example.org
	expect_rc 77
	grep -q "^$name: " "$err" || { fail "no '$name: ...' error line on stderr"; show_err; }
	no_mail wrongpw-bob@example.org
	log_has 'warning: .*SASL (PLAIN|LOGIN|SCRAM-SHA-256) authentication failed' "the refused AUTH"
}

sc_bcc() {
	local d=$cfg/$sc r
	std_profile "$d/profile"
	printf '%s\n' \
		'From: Alice <alice@example.org>' \
		'To: Bob Example <bcc-bob@example.org>' \
		'Cc: bcc-carol@example.org' \
		'Bcc: bcc-dave@example.org,' \
		'	Erin <bcc-erin@example.org>' \
		'Subject: -t with Bcc' \
		'Date: Mon, 01 Jan 2024 10:00:00 +0000' \
		'Message-ID: <bcc.1@postie.test>' \
		'' \
		'Bcc: in the body is only text.' > "$d/in"
	grep -v -e '^Bcc: bcc-dave' -e '^	Erin' "$d/in" > "$d/want"
	send "$d/in" -v -C "$d/profile" -t
	expect_rc 0 || return
	for r in bcc-bob bcc-carol bcc-dave bcc-erin; do
		expect_message "$r@example.org" "$d/want"
	done
}

sc_body() {
	local d=$cfg/$sc long
	std_profile "$d/profile"
	long=$(printf 'x%.0s' $(seq 1 2999)) # with its LF, 3000 bytes: past Postfix's 2048 records
	{
		printf 'From: Alice <alice@example.org>\nTo: body-bob@example.org\n'
		printf 'Subject: dots, line ends, a long line, 8-bit\n'
		printf 'Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <body.1@postie.test>\n\n'
		printf '.\n..\n.leading dot\n . space then dot\n'
		printf 'crlf line\r\n'
		printf 'bare cr\rafter the bare cr\n'
		printf 'cr before crlf\r\r\n'
		printf 'lf only\n'
		printf '8-bit: Gr\303\274\303\237e, caf\351 \377\n'
		printf '%s\n' "$long"
		printf '.\r\n'
		printf 'trailing spaces   \n'
		printf 'tab\tinside\n'
		printf '.'
	} > "$d/in"
	{
		printf 'From: Alice <alice@example.org>\nTo: body-bob@example.org\n'
		printf 'Subject: dots, line ends, a long line, 8-bit\n'
		printf 'Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <body.1@postie.test>\n\n'
		printf '.\n..\n.leading dot\n . space then dot\n'
		printf 'crlf line\n'
		printf 'bare cr\nafter the bare cr\n'
		printf 'cr before crlf\n\n'
		printf 'lf only\n'
		printf '8-bit: Gr\303\274\303\237e, caf\351 \377\n'
		printf '%s\n' "$long"
		printf '.\n'
		printf 'trailing spaces   \n'
		printf 'tab\tinside\n'
		printf '.\n'
	} > "$d/want"
	# -i: the lone "." lines are text (without it, as with sendmail, one ends the input).
	send "$d/in" -i -C "$d/profile" body-bob@example.org
	expect_rc 0 || return
	expect_message body-bob@example.org "$d/want"
}

sc_dot_ends_input() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	msg "$d/in" dotend-bob@example.org "a lone dot" 'first line
.
after the lone dot'
	# Without -i (sendmail's rule) the "." line ends the message.
	sed '/^\.$/,$d' "$d/in" > "$d/want1"
	send "$d/in" -C "$d/profile" dotend-bob@example.org
	expect_rc 0 || return
	expect_message dotend-bob@example.org "$d/want1"
	# With -oi it is a line of text like any other.
	send "$d/in" -oi -C "$d/profile" dotend-carol@example.org
	expect_rc 0 || return
	expect_message dotend-carol@example.org "$d/in"
}

sc_big() {
	local d=$cfg/$sc t0 t1
	std_profile "$d/profile"
	msg "$d/in" big-bob@example.org "5 MB" "The body is 5 MiB of numbered lines."
	# 5 MiB of 76-byte lines (75 + LF), each numbered so a lost or doubled line shows.
	awk 'BEGIN {
		pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-+=/_"
		for (i = 1; i * 76 <= 5 * 1048576; i++) printf "%08d %s\n", i, substr(pad pad, 1 + i % 60, 66)
	}' >> "$d/in"
	t0=$(date +%s.%N)
	send "$d/in" -C "$d/profile" big-bob@example.org
	t1=$(date +%s.%N)
	expect_rc 0 || return
	echo "  [$sc] $(wc -c < "$d/in") bytes submitted in $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
	expect_message big-bob@example.org "$d/in"
}

sc_profile() {
	local d=$cfg/$sc
	profile "$d/profile" <<-EOF
		# An msmtprc-style profile: settings in defaults, accounts inheriting them,
		# one account inheriting another, and the default account named by "account default".

		defaults
		host 127.0.0.1
		port $SUBMISSION_PORT
		tls on
		tls_starttls on
		tls_trust_file $CA_FILE
		auth on

		account home
		user alice
		password "s3cret pass"
		from alice@example.org

		account work : home
		# from here on: what differs from home
		from alice@work.example

		account default : work
	EOF
	msg "$d/in1" profile-bob@example.org "default account"
	send "$d/in1" -C "$d/profile" profile-bob@example.org
	expect_rc 0 || return
	expect_message profile-bob@example.org "$d/in1" || return
	grep -q '^Return-Path: <alice@work.example>$' "$MAIL_ROOT"/profile-bob@example.org/new/* ||
		fail "default account: envelope sender is not alice@work.example (from of 'work')"

	msg "$d/in2" profile-carol@example.org "-a home"
	send "$d/in2" -C "$d/profile" -a home profile-carol@example.org
	expect_rc 0 || return
	expect_message profile-carol@example.org "$d/in2" || return
	grep -q '^Return-Path: <alice@example.org>$' "$MAIL_ROOT"/profile-carol@example.org/new/* ||
		fail "-a home: envelope sender is not alice@example.org"

	msg "$d/in3" profile-dave@example.org "-f"
	send "$d/in3" -C "$d/profile" -f other@example.net profile-dave@example.org
	expect_rc 0 || return
	expect_message profile-dave@example.org "$d/in3" || return
	grep -q '^Return-Path: <other@example.net>$' "$MAIL_ROOT"/profile-dave@example.org/new/* ||
		fail "-f other@example.net: envelope sender is not other@example.net"
}

sc_passwordeval() {
	local d=$cfg/$sc
	printf '%s\n' 'pa$$ "w0rd"' > "$d/secret"
	profile "$d/profile" <<-EOF
		defaults
		host 127.0.0.1
		port $SUBMISSION_PORT
		tls on
		tls_starttls on
		tls_trust_file $CA_FILE
		auth on

		account bob
		user bob
		passwordeval "cat $d/secret"
		from bob@example.org

		account default : bob
	EOF
	msg "$d/in" pweval-carol@example.org "passwordeval"
	send "$d/in" -C "$d/profile" pweval-carol@example.org
	expect_rc 0 || return
	expect_message pweval-carol@example.org "$d/in"
	log_has 'postfix/submission/smtpd.*client=.*sasl_username=bob$' "AUTH as bob"
}

sc_minimal_profile() {
	local d=$cfg/$sc
	# Nothing about TLS or AUTH: the defaults are TLS with STARTTLS, and AUTH since user is set.
	profile "$d/profile" <<-EOF
		account default
		host 127.0.0.1
		port $SUBMISSION_PORT
		tls_trust_file $CA_FILE
		user alice
		password "s3cret pass"
		from alice@example.org
	EOF
	msg "$d/in" minimal-bob@example.org "defaults: STARTTLS and AUTH"
	send "$d/in" -C "$d/profile" minimal-bob@example.org
	expect_rc 0 || return
	expect_message minimal-bob@example.org "$d/in"
	log_has 'postfix/submission/smtpd.*client=.*sasl_username=alice$' "AUTH as alice"
}

sc_untrusted() {
	local d=$cfg/$sc
	# A CA of its own that did not sign the server's certificate.
	sh "$here/../gencerts.sh" "$d/other-ca" || { fail "gencerts.sh failed"; return; }
	std_profile "$d/profile"
	sed -i "s|^tls_trust_file .*|tls_trust_file $d/other-ca/ca.pem|" "$d/profile"
	local auths
	auths=$(grep -cE 'sasl_username=|SASL [A-Z0-9-]+ authentication failed' "$MAILLOG")
	msg "$d/in" untrusted-bob@example.org "never delivered"
	send "$d/in" -C "$d/profile" untrusted-bob@example.org
	expect_rc 69
	grep -q "^$name: " "$err" || { fail "no '$name: ...' error line on stderr"; show_err; }
	no_mail untrusted-bob@example.org
	[ "$(grep -cE 'sasl_username=|SASL [A-Z0-9-]+ authentication failed' "$MAILLOG")" = "$auths" ] ||
		fail "the client sent AUTH to a server it does not trust"
	return 0
}

# fields FILE: FILE's header section, one field per line (folded lines joined).
fields() {
	awk '/^$/ { exit } /^[ \t]/ { line = line $0; next } { if (line != "") print line; line = $0 }
		END { if (line != "") print line }' "$1"
}

# added_ok RCPT IN: the message IN reached RCPT with From:, Date: and Message-ID: once each:
# those IN lacks were added (and look right), and nothing else changed.
added_ok() {
	local d=$cfg/$sc f h added=""
	f=$(wait_mail "$1" 1) || return
	strip_trace "$f" > "$d/got-$1"
	fields "$d/got-$1" > "$d/fields-$1"
	for h in From Date Message-ID; do
		[ "$(grep -ci "^$h:" "$d/fields-$1")" = 1 ] ||
			fail "$1: want one $h: field, got: $(grep -i "^$h:" "$d/fields-$1" | tr '\n' '|')"
		fields "$2" | grep -qi "^$h:" || added="$added|$h"
	done
	case $added in *'|From'*)
		grep -qi '^From:.*alice@example\.org' "$d/fields-$1" ||
			fail "$1: the added From: does not name alice@example.org" ;;
	esac
	case $added in *'|Message-ID'*)
		grep -qiE '^Message-ID:[[:space:]]*<[^<>@[:space:]]+@[^<>@[:space:]]+>[[:space:]]*$' "$d/fields-$1" ||
			fail "$1: the added Message-ID: is not <left@right>: $(grep -i '^Message-ID:' "$d/fields-$1")" ;;
	esac
	case $added in *'|Date'*)
		grep -qiE '^Date:[[:space:]]*([A-Z][a-z]{2},[[:space:]]*)?[0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}(:[0-9]{2})? [+-][0-9]{4}' "$d/fields-$1" ||
			fail "$1: the added Date: is not RFC 5322: $(grep -i '^Date:' "$d/fields-$1")" ;;
	esac
	# Everything else, in its order and bytes: the other fields and the body.
	if [ -n "$added" ]; then
		grep -viE "^(${added#|}):" "$d/fields-$1" > "$d/rest-$1"
	else
		cp "$d/fields-$1" "$d/rest-$1"
	fi
	fields "$2" > "$d/want-rest-$1"
	same "$d/want-rest-$1" "$d/rest-$1" "$1: the fields not added"
	sed '1,/^$/d' "$d/got-$1" > "$d/got-body-$1"
	sed '1,/^$/d' "$2" > "$d/want-body-$1"
	same "$d/want-body-$1" "$d/got-body-$1" "$1: the body"
}

sc_added_headers() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	# No From:, Date: or Message-ID:: all three are added.
	printf 'To: added-bob@example.org\nSubject: headers to add\nX-Mailer: run.sh\n\nbody\n' > "$d/in1"
	send "$d/in1" -C "$d/profile" added-bob@example.org
	expect_rc 0 || return
	added_ok added-bob@example.org "$d/in1"
	# From: present (another address than the sender): only Date: and Message-ID: are added.
	printf 'From: Someone Else <else@example.net>\nTo: added-carol@example.org\nSubject: two to add\n\nbody\n' > "$d/in2"
	send "$d/in2" -C "$d/profile" added-carol@example.org
	expect_rc 0 || return
	added_ok added-carol@example.org "$d/in2"
}

# A second run resumes the first run's TLS session from the account's cache (0600).
sc_resume() {
	local d=$cfg/$sc
	std_profile "$d/profile"
	# The cache folder does not exist yet: postie makes it (a fresh account has none).
	msg "$d/in" resume-bob@example.org "TLS session resumption"
	XDG_CACHE_HOME=$d/cache send "$d/in" -v -C "$d/profile" resume-bob@example.org
	expect_rc 0 || return
	grep -q 'TLS started: .*(resumed)' "$err" && fail "the first run claims a resumed session"
	local cache=$d/cache/postie/tls/default
	[ -f "$cache" ] || { fail "no session cache at $cache"; return; }
	[ "$(stat -c %a "$cache")" = 600 ] || fail "session cache mode $(stat -c %a "$cache"), want 600"
	XDG_CACHE_HOME=$d/cache send "$d/in" -v -C "$d/profile" resume-bob@example.org
	expect_rc 0 || return
	grep -q 'TLS started: .*(resumed)' "$err" || { fail "the second run did not resume"; show_err; }
	wait_mail resume-bob@example.org 2 > /dev/null || fail "two messages did not arrive"
	# A stale or foreign cache entry costs a full handshake, never a failure.
	printf 'postie-tls-session 1 0000\ngarbage\n' > "$cache"
	XDG_CACHE_HOME=$d/cache send "$d/in" -v -C "$d/profile" resume-bob@example.org
	expect_rc 0 || return
	grep -q 'TLS started: .*(resumed)' "$err" && fail "a damaged cache entry was resumed"
	wait_mail resume-bob@example.org 3 > /dev/null || fail "the third message did not arrive"
}

# An msmtp user's profile, unchanged (issue 12): ~/.msmtprc, no postie profile, the access
# token as the password the msmtp way (passwordeval for XOAUTH2, a literal password for
# OAUTHBEARER, as the oama/mutt_oauth2 guides set it up). Dovecot 2.3 checks the token as
# carol's password; Postfix's log names the mechanism.
sc_msmtp_oauth() {
	local d=$cfg/$sc m
	[ -e "$XDG_CONFIG_HOME/postie/config" ] && { fail "a postie profile exists: no fallback"; return; }
	for m in xoauth2 oauthbearer; do
		local secret="passwordeval \"echo ya29.tok3n-for-carol\""
		[ "$m" = oauthbearer ] && secret="password ya29.tok3n-for-carol"
		profile "$HOME/.msmtprc" <<-EOF
			# msmtp's own syntax and defaults, as an msmtp user has it
			defaults
			tls on
			tls_starttls on
			tls_trust_file $CA_FILE

			account carol
			host 127.0.0.1
			port $SUBMISSION_PORT
			auth $m
			user carol
			$secret
			from carol@example.org

			account default : carol
		EOF
		msg "$d/in-$m" "msmtp-$m@example.org" "an msmtp profile with $m"
		send "$d/in-$m" -v "msmtp-$m@example.org"
		expect_rc 0 || continue
		grep -q "\.msmtprc" "$err" || fail "$m: -v does not say that ~/.msmtprc was read"
		grep -Eq "authenticated with ${m^^}" "$err" || fail "$m: the transcript does not say ${m^^}"
		grep -qF 'tok3n-for-carol' "$out" "$err" && fail "$m: the token appears in the -v output"
		wait_mail "msmtp-$m@example.org" 1 > /dev/null || fail "$m: the message did not arrive"
	done
	rm -f "$HOME/.msmtprc"
	log_has 'sasl_method=XOAUTH2, sasl_username=carol$' "XOAUTH2 from ~/.msmtprc accepted"
	log_has 'sasl_method=OAUTHBEARER, sasl_username=carol$' "OAUTHBEARER from ~/.msmtprc accepted"
}

# ---- run ---------------------------------------------------------------------

passed=0
nfailed=0
for s in "$@"; do
	fn=sc_${s//-/_}
	sc=$s
	fails=0
	mkdir -p "$cfg/$sc"
	"$fn"
	if [ "$fails" = 0 ]; then
		echo "ok   $sc"
		passed=$((passed + 1))
	else
		echo "FAIL $sc"
		nfailed=$((nfailed + 1))
	fi
done
echo "$passed passed, $nfailed failed"
[ "$nfailed" = 0 ] || failed=1
exit "$failed"
