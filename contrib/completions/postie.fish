# fish completion for postie(1), and for sendmail and mailq when they are postie.
#
# Installed by meson as DATADIR/fish/vendor_completions.d/postie.fish (with -Dsendmail-links,
# also as sendmail.fish and mailq.fish, links to it), where fish loads it the first time one
# of those commands is completed.
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

# The -C file of the line (empty when none), one line.
function __postie_profile_C
    set -l words (commandline -opc)
    set -l f
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case -C --file
                set f $words[(math $i + 1)]
            case '--file=?*'
                set f (string replace -- --file= '' $words[$i])
            case '-C?*'
                set f (string sub -s 3 -- $words[$i])
            case --
                break
        end
        set i (math $i + 1)
    end
    string replace -r -- '^~/' "$HOME/" $f
end

# The profile files for the line, one a line.
function __postie_profile_files
    set -l sys /etc/postie.conf
    test -f $sys -a -r $sys; and echo $sys
    set -l f (__postie_profile_C)
    if test -n "$f"
        test -f "$f" -a -r "$f"; and echo $f
        return 0
    end
    set -l cfg "$XDG_CONFIG_HOME"
    string match -q -- '/*' $cfg; or set cfg $HOME/.config
    if test -e $cfg/postie/config
        test -f $cfg/postie/config -a -r $cfg/postie/config; and echo $cfg/postie/config
    else if test -f $HOME/.msmtprc -a -r $HOME/.msmtprc
        echo $HOME/.msmtprc
    end
end

# The account names the profile files define (postie.conf(5), SECTIONS): the argument of an
# "account" line, unquoted as postie does, up to a ':'.
function __postie_accounts
    set -l files (__postie_profile_files)
    test (count $files) -gt 0; or return 0
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
                if (c == "\\\\" && i < length(s) && index("\"\\\\", substr(s, i + 1, 1))) {
                    i++; c = substr(s, i, 1)
                }
                a = a c
            }
        }
        sub(/:.*/, "", a); sub(/^[ \t]+/, "", a); sub(/[ \t]+$/, "", a)
        if (a != "" && index(a, ",") == 0 && !seen[a]++)
            print a
    }' $files 2>/dev/null
end

# The queue ids from "COMMAND -bp" (COMMAND: the word typed), with the line's -C and -a: the
# first field of a line that starts with an id (queue.h: UTC time with microseconds, pid,
# random hex), less the '!' or '*' mailq may put after it.
function __postie_queue_ids
    set -l files (__postie_profile_files)
    if test (count $files) -gt 0
        awk '{ sub(/\r$/, "") } /^[ \t]*eval([ \t]|$)/ { found = 1; exit }
            END { exit !found }' $files 2>/dev/null
        and return 0
    end
    set -l words (commandline -opc)
    set -l cmd (string replace -r -- '^~/' "$HOME/" $words[1])
    set -l args
    set -l f (__postie_profile_C)
    test -n "$f"; and set args -C $f
    set -l a
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case -a --account
                set a $words[(math $i + 1)]
            case '--account=?*'
                set a (string replace -- --account= '' $words[$i])
            case '-a?*'
                set a (string sub -s 3 -- $words[$i])
            case --
                break
        end
        set i (math $i + 1)
    end
    test -n "$a"; and not string match -q -- '-*' $a; and set -a args -a $a
    command $cmd $args -bp </dev/null 2>/dev/null | awk '
    /^[0-9]/ {
        id = $1; sub(/[!*]$/, "", id)
        split(id, p, ".")
        if (id ~ /^[0-9]+\.[0-9]+-[0-9]+-[0-9a-fA-F]+$/ && length(p[1]) == 14 && !seen[id]++)
            print id
    }'
end

# -q's attached argument: I and a queue id, R (and a recipient substring).
function __postie_queue_arg
    printf '%s\tby recipient\n' R
    printf '%s\tby queue id\n' I
    for id in (__postie_queue_ids)
        printf 'I%s\tqueue id\n' $id
    end
end

# Whether the line has --queue-delete or --queue-retry: its operands are queue ids.
function __postie_queue_command
    contains -- --queue-delete (commandline -opc); or contains -- --queue-retry (commandline -opc)
end

set -l onoff 'on off'
set -l refused 'refused on the command line: set it in the profile'

complete -c postie -f
complete -c postie -s t -l read-recipients -d 'Also send to the To, Cc and Bcc fields'
complete -c postie -s f -l from -x -d 'Envelope sender'
complete -c postie -s r -x -d 'Envelope sender'
complete -c postie -l read-envelope-from -d 'Envelope sender from the From field'
complete -c postie -s F -x -d 'Full name for an added From field'
complete -c postie -s i -d 'A line holding only "." does not end the message'
complete -c postie -s o -x -a 'i\t"same as -i"' -d 'Sendmail option (only -oi means something)'
complete -c postie -s N -l dsn-notify -x -a 'never success delay failure off' -d 'Delivery status notifications'
complete -c postie -s R -l dsn-return -x -a 'full hdrs off' -d 'What a bounce returns'
complete -c postie -s V -x -d 'Envelope id for notifications'
complete -c postie -s B -x -a '7BIT 8BITMIME' -d 'Body type'
complete -c postie -s a -l account -x -a '(__postie_accounts)' -d 'Use this account of the profile'
complete -c postie -s C -l file -r -F -d 'Read this profile'
complete -c postie -s v -l verbose -d 'Show the SMTP session on standard error'
complete -c postie -s d -l debug -d 'Show the SMTP session on standard error'
complete -c postie -s q -x -a '(__postie_queue_arg)' -d 'Deliver the queue now'
complete -c postie -l flush -d 'Deliver the queue now'
complete -c postie -s b -x -a 'm\t"deliver the message" p\t"list the queue" s\t"SMTP on standard input and output" v\t"print the recipients" i\tnewaliases' -d Mode
complete -c postie -s I -d 'newaliases: nothing to do'
complete -c postie -s S -l serverinfo -d 'Show what the server offers'
complete -c postie -s P -l pretend -d 'Show the settings that would be used'
complete -c postie -l check -d 'Check the profile and the account (with -a)'
complete -c postie -l queue-delete -d 'Remove entries from the queue'
complete -c postie -l queue-retry -d 'Send entries of the queue now'
complete -c postie -n __postie_queue_command -x -a '(__postie_queue_ids)'
complete -c postie -l version -d 'Print the version'
complete -c postie -l help -d 'Print a short help'
complete -c postie -s X -r -F -d 'Ignored with a warning'
complete -c postie -s G -d 'Ignored: relayed submission'
complete -c postie -s U -d 'Ignored: initial submission'
complete -c postie -s m -d 'Ignored: me too'
complete -c postie -s n -d 'Ignored: no alias expansion'
complete -c postie -s c -d Ignored
complete -c postie -s x -d Ignored
complete -c postie -s h -x -d 'Ignored: hop count'
complete -c postie -s L -x -d 'Ignored: syslog label'
complete -c postie -s O -x -d 'Ignored: sendmail.cf option'
complete -c postie -s e -x -d 'Ignored: error mode'
complete -c postie -s p -x -d 'Ignored: protocol'
complete -c postie -s A -x -a 'm c' -d Ignored

# msmtp's long options: --NAME=VALUE or --NAME VALUE
complete -c postie -l host -x -a '(__fish_print_hostnames)' -d 'The server (no profile is read)'
complete -c postie -l port -x -d 'The server port'
complete -c postie -l timeout -x -d 'Seconds to wait for the server'
complete -c postie -l protocol -x -a 'smtp lmtp' -d 'The protocol'
complete -c postie -l domain -x -d 'The name sent with EHLO'
complete -c postie -l user -x -d 'User name for authentication'
complete -c postie -l passwordeval -x -d $refused
complete -c postie -l tls-trust-file -x -a system -d 'The trust store (only system here)'
complete -c postie -l tls-crl-file -x -d $refused
complete -c postie -l tls-fingerprint -x -d 'Trust the certificate with this SHA-256 fingerprint'
complete -c postie -l tls-key-file -x -d $refused
complete -c postie -l tls-cert-file -x -d $refused
complete -c postie -l tls-priorities -x -d 'GnuTLS priority string'
complete -c postie -l tls-host-override -x -a '(__fish_print_hostnames)' -d 'The name to verify in the certificate'
complete -c postie -l tls-min-dh-prime-bits -x -d Ignored
complete -c postie -l maildomain -x -d 'Domain for unqualified addresses'
complete -c postie -l source-ip -x -d 'The local address to connect from'
complete -c postie -s 4 -d 'Connect over IPv4 only'
complete -c postie -s 6 -d 'Connect over IPv6 only'
complete -c postie -l ip-family -x -a 'any 4 6' -d 'The address family to connect over'
complete -c postie -l proxy-host -x -a '(__fish_print_hostnames)' -d 'SOCKS proxy'
complete -c postie -l proxy-port -x -d 'SOCKS proxy port'
complete -c postie -l socket -r -F -d 'Connect to this local socket'
complete -c postie -l logfile -x -a - -d 'Log file (only - here)'
complete -c postie -l logfile-time-format -x -d 'strftime format of the log'
complete -c postie -l aliases -x -d $refused
complete -c postie -l from-full-name -x -d 'Full name for an added From field'

# msmtp's long options with an optional value: --NAME alone, or --NAME=VALUE (the next word
# stays a recipient, so the value is offered only after "=")
function __postie_optional_value -a name
    commandline -ct | string match -q -- "--$name=*"
end
for spec in "auth:on off scram-sha-256-plus scram-sha-1-plus scram-sha-256 scram-sha-1 plain login cram-md5 xoauth2 oauthbearer external:Authenticate, optionally with this mechanism" \
        "tls:$onoff:Use TLS" \
        "tls-starttls:$onoff:STARTTLS (on) or implicit TLS (off)" \
        "tls-certcheck:$onoff:Verify the server certificate" \
        "auto-from:$onoff:Make the sender from the user name" \
        "keepbcc:$onoff:Keep Bcc fields (only off is taken)" \
        "set-from-header:auto on off:Add a From field" \
        "set-date-header:auto off:Add a Date field" \
        "set-msgid-header:auto off:Add a Message-ID field" \
        "remove-bcc-headers:$onoff:Remove Bcc fields" \
        "undisclosed-recipients:$onoff:Replace To, Cc and Bcc" \
        "syslog:on off LOG_USER LOG_MAIL LOG_LOCAL0 LOG_LOCAL1 LOG_LOCAL2 LOG_LOCAL3 LOG_LOCAL4 LOG_LOCAL5 LOG_LOCAL6 LOG_LOCAL7:Log to syslog" \
        "allow-from-override:$onoff:Let -f override the account's from"
    set -l part (string split -m 2 : -- $spec)
    complete -c postie -l $part[1] -d $part[3]
    set -l values (string split ' ' -- $part[2])
    complete -c postie -n "__postie_optional_value $part[1]" -x -a (string join ' ' -- --$part[1]=$values)
end
set -e spec

# sendmail and mailq: only when they are links to a postie
for cmd in sendmail mailq
    set -l p (command -s $cmd)
    and test (builtin realpath -- $p | string replace -r '.*/' '') = postie
    and complete -c $cmd -w postie
end
set -e cmd
