#!/usr/bin/env python3
# sec43.py POSTIE CASE: SEC-43, arguments never weaken the message and never name a file or a
# command (issue 10, bug 7). The victim's profile sends to the victim's server; the attacker
# adds to argv:
#   keepbcc, keepbcc-on, remove-bcc-headers-off, undisclosed-recipients-off
#       -t with --keepbcc / --keepbcc=on / --remove-bcc-headers=off /
#       --undisclosed-recipients=off on a message with a Bcc: exit 64, nothing sent, no Bcc
#       header leaves (control: plain -t delivers and drops the Bcc header)
#   aliases, tls-key-file, tls-cert-file, tls-crl-file, tls-trust-file
#       --OPTION=FIFO: exit 64 and the FIFO is never opened (a thread waits to feed it);
#       what it would have held appears nowhere in postie's output
#   logfile   --logfile=FILE (missing) and --logfile=FIFO: 64, nothing created or opened
#   passwordeval  --passwordeval='touch FILE': 64, FILE not created

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402
from alib import BCC_MARK  # noqa: E402

RULE = 'SEC-43'
BCC_CASES = {
    'keepbcc': ['--keepbcc'],
    'keepbcc-on': ['--keepbcc=on'],
    'remove-bcc-headers-off': ['--remove-bcc-headers=off'],
    'undisclosed-recipients-off': ['--undisclosed-recipients=off'],
}
FILE_CASES = ('aliases', 'tls-key-file', 'tls-cert-file', 'tls-crl-file', 'tls-trust-file')
OTHER_CASES = ('logfile', 'passwordeval')
FIFO_CONTENT = 'CONTENT-OF-THE-FILE-F43'


def bcc_leaks(msgs):
    """Messages whose header section still names the Bcc recipient."""
    return [m for m in msgs if BCC_MARK.encode() in m.split(b'\r\n\r\n', 1)[0]]


def main():
    t = alib.Test('sec43', list(BCC_CASES) + list(FILE_CASES) + list(OTHER_CASES))
    case = t.case
    victim = t.victim_server()
    t.write(t.user_profile, t.victim_profile(victim.port, 'timeout 10\n'))

    if case in BCC_CASES:
        msg = t.message('bcc test', extra_headers='Bcc: Hidden <%s@example.test>\n' % BCC_MARK)
        r = t.run(['-t'], stdin=msg)
        rcpts = [c for c in victim.commands if c.upper().startswith('RCPT') and BCC_MARK in c]
        t.ok(r.rc == 0 and len(victim.messages) == 1 and rcpts and
             not bcc_leaks(victim.bodies()),
             'control: -t delivers to the Bcc recipient and drops the Bcc header',
             '%r\nmessages: %r' % (r, victim.bodies()))
        before_conn, before_msgs = victim.connections, len(victim.messages)
        what = '-t %s on a message with a Bcc' % ' '.join(BCC_CASES[case])
        r = t.run(['-t'] + BCC_CASES[case], stdin=msg)
        t.exit_is(RULE, what, r, 64)
        t.ok(victim.connections == before_conn, '%s: %s: nothing was sent' % (RULE, what),
             '%d connection(s)' % (victim.connections - before_conn))
        leaks = bcc_leaks(victim.bodies()[before_msgs:])
        t.ok(not leaks, '%s: %s: no Bcc header left' % (RULE, what),
             'the Bcc LEAKED in %d message(s) to every recipient' % len(leaks))
        t.finish()

    marker = os.path.join(t.tmp, 'marker')
    if case in FILE_CASES:
        path = os.path.join(t.tmp, '%s.fifo' % case)
        if case == 'aliases':
            content = 'root: %s@evil.test\n' % FIFO_CONTENT
        else:
            with open(os.path.join(t.certs, {'tls-key-file': 'client-key.pem',
                                             'tls-cert-file': 'client.pem',
                                             'tls-crl-file': 'crl.pem',
                                             'tls-trust-file': 'ca.pem'}[case])) as f:
                content = '# %s\n%s' % (FIFO_CONTENT, f.read())
        fifo = alib.Fifo(path, 'writer', content.encode())
        t.fifos.append(fifo)
        what = '--%s=FILE' % case
        # A key needs its certificate and the reverse: give the other one as a real file, so
        # that only this rule can keep the FIFO closed.
        other = {'tls-key-file': ['--tls-cert-file=%s' % os.path.join(t.certs, 'client.pem')],
                 'tls-cert-file': ['--tls-key-file=%s' % os.path.join(t.certs,
                                                                      'client-key.pem')]}
        r = t.run(['--%s=%s' % (case, path)] + other.get(case, []) + ['rcpt@example.test'],
                  stdin=t.message('x'), timeout=10)
        t.exit_is(RULE, what, r, 64)
        t.ok(not fifo.opened, '%s: %s: the file was not opened' % (RULE, what),
             'postie OPENED %s' % path)
        t.ok(FIFO_CONTENT not in r.out + r.err, '%s: %s: nothing of the file in postie\'s '
             'output' % (RULE, what), r)
    elif case == 'logfile':
        what = '--logfile=FILE (a missing file)'
        r = t.run(['--logfile=%s' % marker, 'rcpt@example.test'], stdin=t.message('x'))
        t.exit_is(RULE, what, r, 64)
        t.ok(not os.path.exists(marker), '%s: %s: the file was not created' % (RULE, what),
             'postie CREATED %s' % marker)
        path = os.path.join(t.tmp, 'logfile.fifo')
        fifo = alib.Fifo(path, 'reader')
        t.fifos.append(fifo)
        what = '--logfile=FIFO'
        r = t.run(['--logfile=%s' % path, 'rcpt@example.test'], stdin=t.message('x'),
                  timeout=10)
        t.exit_is(RULE, what, r, 64)
        t.ok(not fifo.opened, '%s: %s: the file was not opened' % (RULE, what),
             'postie OPENED %s and wrote %r' % (path, fifo.got))
    elif case == 'passwordeval':
        what = '--passwordeval=\'touch FILE\''
        r = t.run(['--user=victim', '--passwordeval=touch %s' % marker, 'rcpt@example.test'],
                  stdin=t.message('x'))
        t.exit_is(RULE, what, r, 64)
        t.ok(not os.path.exists(marker), '%s: %s: the command did not run' % (RULE, what),
             'postie RAN the command: %s exists' % marker)
    t.ok(victim.connections == 0, '%s: %s: nothing was sent' % (RULE, what),
         '%d connection(s) to the victim\'s server' % victim.connections)
    t.finish()


if __name__ == '__main__':
    main()
