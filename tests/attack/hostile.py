#!/usr/bin/env python3
# hostile.py POSTIE CASE: the other attacks of issue 10, by a caller's message or a hostile
# server (the server the victim's profile names, with the CA's certificate):
#   bare-cr         (bug 10, SEC-27) -t with `To: a@x<CR>RCPT TO:<b@y>` in the header
#                   section: exit 65, nothing sent
#   spin-rcpt       (bug 11, SEC-34) CHUNKING and PIPELINING offered; the first of two RCPTs
#                   refused with 550 and the connection closed: postie ends (no endless loop)
#   spin-mail       (bug 11, SEC-34) the same with MAIL refused
#   malformed       (bug 5) a malformed reply line followed by more lines: the error quotes
#                   at most the line itself, nothing the server sent after it
#   malformed-64k   (bug 5) a malformed last line that ends exactly at 64 KiB, the size of
#                   postie's read buffer: the error quotes nothing beyond it (a heap over-read
#                   under ASan, stray bytes in a release build)

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402

CASES = ('bare-cr', 'spin-rcpt', 'spin-mail', 'malformed', 'malformed-64k')
SPIN_LIMIT = 15.0   # seconds: a session against a closed connection ends long before
AFTER = 'AFTER-THE-LINE-M5'


def quote_ok(err):
    """Where the error quotes the malformed line "zz", nothing follows it inside the quote."""
    i = err.find('zz')
    return i < 0 or err[i + 2:i + 3] == '"'


def main():
    t = alib.Test('hostile', CASES)
    case = t.case
    script = {}
    if case == 'spin-rcpt':
        script = {'RCPT#1': ['550 5.1.1 alice: no such user', '!close']}
    elif case == 'spin-mail':
        script = {'MAIL#1': ['550 5.7.1 sender refused', '!close']}
    elif case == 'malformed':
        script = {'GREETING': ['!raw 220-hello\r\nzz\r\n220 %s more text\r\n' % AFTER]}
    elif case == 'malformed-64k':
        # 33 lines of 1990 bytes, one of what is left, then "zz\r\n": 65536 bytes in all.
        body = ''.join('220-%s\r\n' % ('a' * 1984) for _ in range(32))
        rest = 65536 - len(body) - len('zz\r\n') - len('220-\r\n')
        body += '220-%s\r\n' % ('b' * rest) + 'zz\r\n'
        assert len(body) == 65536
        script = {'GREETING': ['!raw ' + body]}
    server = t.victim_server('hostile-server', script=script,
                             chunking=case.startswith('spin'))
    t.write(t.user_profile, t.victim_profile(server.port, 'timeout 5\nqueue off\n'))

    if case == 'bare-cr':
        msg = (b'From: victim@example.test\r\nTo: a@example.test\rRCPT TO:<b@evil.test>\r\n'
               b'Subject: bare CR in a header field\r\n\r\nbody\r\n')
        r = t.run(['-t'], stdin=msg)
        what = 'a bare CR inside a header field with -t'
        t.exit_is('SEC-27', what, r, 65)
        t.ok(server.connections == 0, 'SEC-27: %s: nothing was sent' % what,
             'commands the server got: %s' % server.commands)
        t.ok(not [c for c in server.commands if 'evil.test' in c],
             'SEC-27: %s: no recipient taken from after the CR' % what, server.commands)
    elif case.startswith('spin'):
        r = t.run(['alice@example.test', 'bob@example.test'], stdin=t.message('spin'),
                  timeout=SPIN_LIMIT)
        what = 'CHUNKING+PIPELINING, %s refused with 550 and the connection closed' % (
            'the first RCPT' if case == 'spin-rcpt' else 'MAIL')
        t.ok(not r.timed_out, 'SEC-34: %s: postie ends (within %.0f s)' % (what, SPIN_LIMIT), r)
        t.ok(r.rc not in (0, None) and not r.timed_out,
             'SEC-34: %s: and does not claim delivery' % what, r)
    else:
        r = t.run(['rcpt@example.test'], stdin=t.message('malformed'))
        what = 'a malformed reply line' + (' ending at 64 KiB' if case == 'malformed-64k'
                                           else ' followed by more')
        t.exit_is('SEC-31', what, r, 76)
        t.ok(AFTER not in r.err and quote_ok(r.err),
             'bug 5: %s: the error quotes nothing beyond the line' % what, r)
    t.finish()


if __name__ == '__main__':
    main()
