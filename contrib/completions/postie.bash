# bash completion for postie(1), and for sendmail and mailq when they are postie.
# -*- shell-script -*-
#
# Installed by meson as DATADIR/bash-completion/completions/postie (with -Dsendmail-links,
# also as .../sendmail and .../mailq, links to it), where bash-completion loads it the first
# time one of those commands is completed; or source it from ~/.bashrc. It needs bash 4 and
# awk, not bash-completion.
#
# It completes the flags and long options, the values of those that take a fixed set, account
# names (-a) and queue ids (-qI, --queue-delete, --queue-retry). It reads the profile files
# postie would read, and no other file:
#   -C FILE (or --file) when the line has one, else $XDG_CONFIG_HOME/postie/config (or
#   ~/.config/postie/config), else ~/.msmtprc; and the system profile /etc/postie.conf (meson
#   writes the build's path here) when it is readable.
# They are read with awk and never run: an "eval" or "passwordeval" line stays text. Queue
# ids come from the command's own "-bp" (the queue may be the system one, which only a setgid
# postie can list); loading a profile runs its "eval" lines, so when one of the files has one
# the ids are not completed.

# The profile files for the words of the line: into the array _postie_files.
_postie_profile_files()
{
	local i w f= cfg sys=/etc/postie.conf
	_postie_files=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-C | --file)
			f=${COMP_WORDS[i + 1]-}
			[[ $f == = ]] && f=${COMP_WORDS[i + 2]-}
			;;
		--file=?*) f=${w#--file=} ;;
		-C?*) f=${w#-C} ;;
		--) break ;;
		esac
	done
	# Undo the simplest quoting by hand (never eval a word of the line).
	if [[ $f == \"*\" || $f == \'*\' ]]; then
		f=${f:1:${#f}-2}
	else
		f=${f//\\/}
	fi
	[[ $f == "~/"* ]] && f=$HOME/${f#"~/"}
	[[ -f $sys && -r $sys ]] && _postie_files+=("$sys")
	if [[ -n $f ]]; then
		_postie_profile_C=$f
		[[ -f $f && -r $f ]] && _postie_files+=("$f")
		return
	fi
	_postie_profile_C=
	cfg=${XDG_CONFIG_HOME-}
	[[ $cfg == /* ]] || cfg=$HOME/.config
	if [[ -e $cfg/postie/config ]]; then
		[[ -f $cfg/postie/config && -r $cfg/postie/config ]] &&
			_postie_files+=("$cfg/postie/config")
	elif [[ -f $HOME/.msmtprc && -r $HOME/.msmtprc ]]; then
		_postie_files+=("$HOME/.msmtprc")
	fi
}

# The account names the profile files define, one a line (postie.conf(5), SECTIONS): the
# argument of an "account" line, unquoted as postie does, up to a ':'.
_postie_accounts()
{
	((${#_postie_files[@]})) || return 0
	awk '
	{
		sub(/\r$/, ""); sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "")
	}
	/^account([ \t]|$)/ {
		a = substr($0, 8); sub(/^[ \t]+/, "", a)
		n = length(a)
		if (n >= 2 && substr(a, 1, 1) == "\"" && substr(a, n, 1) == "\"") {
			s = substr(a, 2, n - 2); a = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == "\\" && i < length(s) && index("\"\\", substr(s, i + 1, 1))) {
					i++; c = substr(s, i, 1)
				}
				a = a c
			}
		}
		sub(/:.*/, "", a); sub(/^[ \t]+/, "", a); sub(/[ \t]+$/, "", a)
		if (a != "" && index(a, ",") == 0 && !seen[a]++)
			print a
	}' "${_postie_files[@]}" 2>/dev/null
}

# Whether a profile file has an "eval" line: loading the profile would run it.
_postie_profile_runs()
{
	((${#_postie_files[@]})) || return 1
	awk '{ sub(/\r$/, "") } /^[ \t]*eval([ \t]|$)/ { found = 1; exit }
		END { exit !found }' "${_postie_files[@]}" 2>/dev/null
}

# The queue ids, one a line, from "COMMAND -bp" (COMMAND: the word typed, $1), with the
# line's -C and -a. The first field of a line that starts with an id (queue.h: UTC time with
# microseconds, pid, random hex), less the '!' or '*' mailq may put after it.
_postie_queue_ids()
{
	local cmd=$1 i w a= args=()
	_postie_profile_runs && return 0
	[[ $cmd == "~/"* ]] && cmd=$HOME/${cmd#"~/"}
	[[ -n $_postie_profile_C ]] && args+=(-C "$_postie_profile_C")
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-a | --account)
			a=${COMP_WORDS[i + 1]-}
			[[ $a == = ]] && a=${COMP_WORDS[i + 2]-}
			;;
		--account=?*) a=${w#--account=} ;;
		-a?*) a=${w#-a} ;;
		--) break ;;
		esac
	done
	[[ -n $a && $a != -* ]] && args+=(-a "$a")
	"$cmd" "${args[@]}" -bp </dev/null 2>/dev/null | awk '
	/^[0-9]/ {
		id = $1; sub(/[!*]$/, "", id)
		split(id, p, ".")
		if (id ~ /^[0-9]+\.[0-9]+-[0-9]+-[0-9a-fA-F]+$/ && length(p[1]) == 14 && !seen[id]++)
			print id
	}'
}

# Add to COMPREPLY each of the lines of $3 that starts with $2, quoted, after the prefix $1.
_postie_add()
{
	local pre=$1 cur=$2 w q
	while IFS= read -r w; do
		[[ -n $w ]] || continue
		printf -v q %q "$w"
		[[ $w == "$cur"* || $q == "$cur"* ]] && COMPREPLY+=("$pre$q")
	done <<<"$3"
}

# The values of option $1 (e.g. -b, --tls) that start with $2, after the prefix $3.
_postie_value()
{
	local opt=$1 cur=$2 pre=$3 w onoff=$'on\noff'
	case $opt in
	-a | --account)
		_postie_profile_files
		_postie_add "$pre" "$cur" "$(_postie_accounts)"
		;;
	-C | --file | -X)
		compopt -o filenames 2>/dev/null
		while IFS= read -r w; do
			[[ -n $w ]] && COMPREPLY+=("$pre$w")
		done <<<"$(compgen -f -- "$cur")"
		;;
	-b) _postie_add "$pre" "$cur" $'m\np\ns\nv\ni' ;;
	-B) _postie_add "$pre" "$cur" $'7BIT\n8BITMIME' ;;
	-A) _postie_add "$pre" "$cur" $'m\nc' ;;
	-o) _postie_add "$pre" "$cur" i ;;
	-N | --dsn-notify)
		# a list: complete the word after the last comma
		if [[ $cur == *,* ]]; then
			pre=$pre${cur%,*},
			cur=${cur##*,}
			_postie_add "$pre" "$cur" $'success\ndelay\nfailure'
		else
			_postie_add "$pre" "$cur" $'never\nsuccess\ndelay\nfailure\noff'
		fi
		;;
	-R | --dsn-return) _postie_add "$pre" "$cur" $'full\nhdrs\noff' ;;
	--protocol) _postie_add "$pre" "$cur" $'smtp\nlmtp' ;;
	--ip-family) _postie_add "$pre" "$cur" $'any\n4\n6' ;;
	--auth)
		_postie_add "$pre" "$cur" "$(printf '%s\n' on off scram-sha-256-plus scram-sha-1-plus \
			scram-sha-256 scram-sha-1 plain login cram-md5 xoauth2 oauthbearer external)"
		;;
	--syslog)
		_postie_add "$pre" "$cur" "$(printf '%s\n' on off LOG_USER LOG_MAIL LOG_LOCAL{0..7})"
		;;
	--tls | --tls-starttls | --tls-certcheck | --auto-from | --keepbcc | --remove-bcc-headers | \
		--undisclosed-recipients | --allow-from-override)
		_postie_add "$pre" "$cur" "$onoff"
		;;
	--set-from-header) _postie_add "$pre" "$cur" $'auto\non\noff' ;;
	--set-date-header | --set-msgid-header) _postie_add "$pre" "$cur" $'auto\noff' ;;
	--tls-trust-file) _postie_add "$pre" "$cur" system ;;
	--logfile) _postie_add "$pre" "$cur" - ;;
	--host | --proxy-host) _postie_add "$pre" "$cur" "$(compgen -A hostname -- "$cur")" ;;
	esac
}

# Flags without a value, and those whose value may be attached or the next word.
_postie_short_plain=(-t -i -I -v -d -S -P -G -U -m -n -c -x -4 -6)
_postie_short_value=(-f -r -F -o -b -B -N -R -V -a -C -X -h -L -O -A -e -p)
_postie_long_plain=(--read-recipients --read-envelope-from --verbose --debug --serverinfo
	--pretend --flush --check --queue-delete --queue-retry --version --help)
# --NAME=VALUE or --NAME VALUE
_postie_long_value=(--from --dsn-notify --dsn-return --account --file --host --port --timeout
	--protocol --domain --user --passwordeval --tls-trust-file --tls-crl-file --tls-fingerprint
	--tls-key-file --tls-cert-file --tls-priorities --tls-host-override --tls-min-dh-prime-bits
	--maildomain --source-ip --proxy-host --proxy-port --socket --logfile --logfile-time-format
	--aliases --from-full-name --ip-family)
# --NAME alone, or --NAME=VALUE (never the next word)
_postie_long_optional=(--auth --tls --tls-starttls --tls-certcheck --auto-from --keepbcc
	--set-from-header --set-date-header --set-msgid-header --remove-bcc-headers
	--undisclosed-recipients --syslog --allow-from-override)

_postie()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]-} opt= pre=
	local i j w want= operands=0 ids=0 ww=" ${_postie_long_value[*]} "
	COMPREPLY=()

	# Where the line stands: after an option that waits for its value, after the first
	# operand (popt stops there, and at "--"), after --queue-delete or --queue-retry.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		want=
		((operands)) && continue
		case $w in
		--) operands=1 ;;
		--queue-delete | --queue-retry) ids=1 ;;
		--*=*) ;;
		--*)
			# "--file=x" is three words when COMP_WORDBREAKS has "=" (the default)
			if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
				((i += 2))
			elif [[ $ww == *" $w "* ]]; then
				want=$w
				((i < COMP_CWORD - 1)) && ((i += 1)) && want=
			fi
			;;
		-?*)
			for ((j = 1; j < ${#w}; j++)); do
				# -q takes the rest of the word (-qIID), never the next one
				[[ ${w:j:1} == q ]] && break
				[[ " ${_postie_short_value[*]} " == *" -${w:j:1} "* ]] || continue
				if ((j == ${#w} - 1)); then
					want=-${w:j:1}
					((i < COMP_CWORD - 1)) && ((i += 1)) && want=
				fi
				break
			done
			;;
		*) operands=1 ;;
		esac
	done

	# --NAME=VALUE: three words ("--tls" "=" "o") or one, as COMP_WORDBREAKS says
	if [[ $cur == = && $prev == --* ]]; then
		opt=$prev cur=
	elif [[ $prev == = && ${COMP_WORDS[COMP_CWORD - 2]-} == --* ]]; then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*} pre=${cur%%=*}= cur=${cur#*=}
	fi
	if [[ -n $opt ]]; then
		_postie_value "$opt" "$cur" "$pre"
		return 0
	fi
	if [[ -n $want ]]; then
		_postie_value "$want" "$cur" ""
		return 0
	fi
	# After --queue-delete or --queue-retry: queue ids. Recipients are not completed.
	if ((ids)) && { ((operands)) || [[ $cur != -* ]]; }; then
		_postie_profile_files
		_postie_add "" "$cur" "$(_postie_queue_ids "$1")"
		return 0
	fi
	((operands)) && return 0
	case $cur in
	-qI*)
		_postie_profile_files
		_postie_add "-qI" "${cur#-qI}" "$(_postie_queue_ids "$1")"
		;;
	-q*) _postie_add "" "$cur" $'-q\n-qI\n-qR' ;;
	-b*) _postie_add "-b" "${cur#-b}" $'m\np\ns\nv\ni' ;;
	-o*) _postie_add "-o" "${cur#-o}" i ;;
	-*)
		local all
		all=$(printf '%s\n' "${_postie_short_plain[@]}" "${_postie_short_value[@]}" -q \
			"${_postie_long_plain[@]}" "${_postie_long_optional[@]}")
		all+=$'\n'$(printf '%s=\n' "${_postie_long_value[@]}")
		_postie_add "" "$cur" "$all"
		# "--host=": the value follows without a space
		[[ ${#COMPREPLY[@]} == 1 && $COMPREPLY == *= ]] && compopt -o nospace 2>/dev/null
		;;
	esac
	return 0
}

complete -F _postie postie
# sendmail and mailq: only when they are links to a postie
for _postie_cmd in sendmail mailq; do
	_postie_path=$(type -P "$_postie_cmd") &&
		[[ $(readlink -f -- "$_postie_path" 2>/dev/null) == */postie ]] &&
		complete -F _postie "$_postie_cmd"
done
unset -v _postie_cmd _postie_path
