#!/usr/bin/env python3
# sec44.py POSTIE CASE: SEC-44, errors and logs never quote a secret-bearing command (issue
# 10, bug 6). The user's profile holds a command whose command line carries a token, and the
# command fails (CASE: passwordeval, eval, oauth for oauth2_token_command). The token must
# appear nowhere: not on stderr or stdout (also with -v), not in the profile's logfile, not in
# --pretend's output. The error still names the source. passwordeval also checks that
# --pretend shows neither a working command nor what it printed.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402

RULE = 'SEC-44'
CASES = ('passwordeval', 'eval', 'oauth')
TOKEN = 'Tok3n-in-the-command-T44'
PRINTED = 'S3cr3t-printed-by-the-command-T44'


def main():
    t = alib.Test('sec44', CASES)
    case = t.case
    victim = t.victim_server()
    logfile = os.path.join(t.tmp, 'postie.log')
    base = t.victim_profile(victim.port, 'logfile %s\ntimeout 10\n' % logfile)
    # `false` ignores its arguments and fails; the command line holds the token.
    cmd = 'false --client-secret %s' % TOKEN
    source = {'passwordeval': 'passwordeval', 'eval': 'eval',
              'oauth': 'oauth2_token_command'}[case]
    extra = {'passwordeval': 'user victim\npasswordeval %s\n' % cmd,
             'eval': 'eval %s\n' % cmd,
             'oauth': 'user victim\nauth oauthbearer\noauth2_token_command %s\n' % cmd}[case]
    t.write(t.user_profile, base + extra)

    def logtext():
        try:
            with open(logfile, encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    for args, label in ((['rcpt@example.test'], 'a run'),
                        (['-v', 'rcpt@example.test'], 'a run with -v'),
                        (['-P'], '--pretend')):
        what = 'failing %s whose command line holds a token, %s' % (source, label)
        seen = len(logtext())
        r = t.run(args, stdin=t.message('x'))
        if label != '--pretend':  # --pretend runs no password command
            t.ok(r.rc != 0, '%s: %s: fails' % (RULE, what), r)
        t.ok(TOKEN not in r.err, '%s: %s: the token is not on stderr' % (RULE, what),
             'the token LEAKED on stderr:\n%s' % r.err)
        t.ok(TOKEN not in r.out, '%s: %s: the token is not on stdout' % (RULE, what),
             'the token LEAKED on stdout:\n%s' % r.out)
        t.ok(TOKEN not in logtext()[seen:], '%s: %s: the token is not in the logfile'
             % (RULE, what), 'the token LEAKED into the logfile:\n%s' % logtext()[seen:])
        if label == 'a run':
            t.ok(source in r.err, '%s: %s: the error names the source (%s)'
                 % (RULE, what, source), r)
    t.ok(TOKEN not in victim.text(), '%s: the token did not reach the server' % RULE)

    if case == 'passwordeval':
        t.write(t.user_profile, base + 'user victim\npasswordeval printf %%s\\n %s\n' % PRINTED
                + '# %s\n' % TOKEN)
        r = t.run(['-P'])
        what = 'a working passwordeval, --pretend'
        t.ok(r.rc == 0, '%s: %s: exit 0' % (RULE, what), r)
        leaked = [s for s in (PRINTED, 'printf') if s in r.out + r.err]
        t.ok(not leaked, '%s: %s: shows neither the command nor its output' % (RULE, what),
             'LEAKED %s:\n%s' % (leaked, r.out))
    t.finish()


if __name__ == '__main__':
    main()
