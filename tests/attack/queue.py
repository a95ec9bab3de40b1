#!/usr/bin/env python3
# queue.py POSTIE CASE: SEC-42, the queue belongs to the profile's destinations (issue 10,
# bug 2). The victim's message is queued (the victim's relay is down: its port refuses), and
# made due. Then the attacker runs postie with a route from argv (CASE):
#   proxy-divert   --proxy-host/--proxy-port to a proxy that diverts to the attacker's
#                  server, + --tls-fingerprint of that server
#   proxy-forward  --proxy-host/--proxy-port to a logging proxy that forwards to the
#                  requested destination (the victim's relay, now up)
#   socket         --socket to the attacker's unix-socket server + --tls-fingerprint
#   port           --port of the attacker's server + --tls-fingerprint
#   flush          postie -q with --port, and with --proxy-host/--proxy-port: 64
#   tempfail       --port of a closed port: 75, nothing queued
#   cfile          -C an attacker profile (private, elsewhere) whose account is named as the
#                  victim's, with queue_dir naming the victim's queue: -q and an ordinary run
#                  (postie may refuse queue_dir there: 78)
#   cfile-default  the same without queue_dir: the default queue is the victim's
# The victim's message must reach no attacker, and `postie -bp` must still list it. Last, the
# victim's own `postie -q` with the relay up delivers it (the entry was there to be stolen).

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402
from alib import VICTIM_MARK  # noqa: E402

RULE = 'SEC-42'
CASES = ('proxy-divert', 'proxy-forward', 'socket', 'port', 'flush', 'tempfail', 'cfile',
         'cfile-default')


def still_queued(t, qid, what):
    t.ok(qid in t.queue_ids(), '%s: %s: the victim\'s entry is still in the queue' % (RULE, what),
         'queue now: %s' % t.queue_ids())
    r = t.run(['-bp'])
    t.ok(r.rc == 0 and qid in r.out, '%s: %s: mailq (postie -bp) still lists the victim\'s '
         'entry %s' % (RULE, what, qid), r)


def main():
    t = alib.Test('queue', CASES)
    case = t.case
    victim = t.victim_server(listening=False)
    t.write(t.user_profile, t.victim_profile(victim.port, 'timeout 10\n'))

    r = t.run(['rcpt@example.test'], stdin=t.message(VICTIM_MARK))
    ids = t.queue_ids()
    if not t.ok(r.rc == 0 and len(ids) == 1 and 'queued as' in r.err,
                'control: the victim\'s message is queued while its relay is down', r):
        t.finish()
    qid = ids[0]
    t.make_due()
    pin = '--tls-fingerprint=' + t.evil_pin
    attacker_msg = t.message('attacker message', to='attacker@evil.test')

    if case in ('proxy-divert', 'socket', 'port'):
        if case == 'proxy-divert':
            e = t.evil_server('evil-starttls')
            p = t.evil_proxy('evil-socks5-divert', mode='divert', divert=('127.0.0.1', e.port))
            args = ['--proxy-host=127.0.0.1', '--proxy-port=%d' % p.port, pin]
        elif case == 'socket':
            e = t.evil_server('evil-unix', unix=True)
            args = ['--socket=%s' % e.unix, pin]
        else:
            e = t.evil_server('evil-starttls')
            args = ['--port=%d' % e.port, pin]
        what = 'attacker run with %s' % ' '.join(a.split('=')[0] for a in args)
        r = t.run(args + ['attacker@evil.test'], stdin=attacker_msg)
        t.exit_is(RULE, what + ' (its own message delivered)', r, 0)
        t.ok(len(e.messages) <= 1, '%s: %s: the attacker\'s server got no queued message'
             % (RULE, what), '%d messages reached the attacker' % len(e.messages))
        t.no_leak(RULE, what)
        still_queued(t, qid, what)
    elif case == 'proxy-forward':
        victim.listen()
        p = t.evil_proxy('evil-socks5-forward', mode='forward')
        what = 'attacker run with --proxy-host/--proxy-port (forwarding to the victim\'s relay)'
        r = t.run(['--proxy-host=127.0.0.1', '--proxy-port=%d' % p.port, 'attacker@evil.test'],
                  stdin=attacker_msg)
        t.exit_is(RULE, what + ' (its own message delivered)', r, 0)
        through = [m for m in victim.bodies() if VICTIM_MARK.encode() in m]
        t.ok(not through, '%s: %s: the victim\'s queued message did not go through the '
             'attacker\'s proxy' % (RULE, what),
             'the victim\'s message was sent %d time(s) through the proxy' % len(through))
        t.no_leak(RULE, what)
        still_queued(t, qid, what)
    elif case == 'flush':
        e = t.evil_server('evil-starttls')
        p = t.evil_proxy('evil-socks5-divert', mode='divert', divert=('127.0.0.1', e.port))
        for args in (['-q', '--port=%d' % e.port, pin],
                     ['-q', '--proxy-host=127.0.0.1', '--proxy-port=%d' % p.port, pin],
                     ['-q', '--socket=%s' % os.path.join(t.tmp, 'none.sock')]):
            what = 'postie %s' % ' '.join(a.split('=')[0] for a in args)
            r = t.run(args)
            t.exit_is(RULE, what, r, 64)
            t.no_connection(RULE, what)
            t.no_leak(RULE, what)
            still_queued(t, qid, what)
    elif case == 'tempfail':
        closed = t.server('closed', mode='plain', listening=False)
        what = 'attacker run with --port of a closed port'
        r = t.run(['--port=%d' % closed.port, 'attacker@evil.test'], stdin=attacker_msg)
        t.exit_is(RULE, what + ' (a temporary failure is not queued)', r, 75)
        t.ok(t.queue_ids() == [qid], '%s: %s: nothing was queued' % (RULE, what),
             'queue now: %s' % t.queue_ids())
        still_queued(t, qid, what)
    elif case in ('cfile', 'cfile-default'):
        # cfile names the victim's queue with queue_dir (postie may refuse that setting in
        # such a profile: 78); cfile-default leaves it out, and the default queue directory
        # is the victim's (same user, same HOME): only the entry's profile binding is left.
        def evil_profile_text(port):
            return ('account default\nhost localhost\nport %d\ntls_fingerprint %s\n'
                    'from attacker@evil.test\ntimeout 10\n%s'
                    % (port, t.evil_pin, 'queue_dir %s\n' % t.qdir if case == 'cfile' else ''))
        refused = (78,) if case == 'cfile' else ()
        e = t.evil_server('evil-starttls')
        evil_profile = t.write(os.path.join(t.tmp, 'attacker', 'postie.conf'),
                               evil_profile_text(e.port))
        what = '-C attacker profile%s: -q' % (' with queue_dir of the victim\'s queue'
                                               if case == 'cfile' else ' (default queue_dir)')
        r = t.run(['-C', evil_profile, '-q'])
        t.exit_is(RULE, what, r, (0, 75) + refused)
        t.no_leak(RULE, what)
        still_queued(t, qid, what)
        if not t.queue_ids():
            # Stolen: queue another, so that the next attack is tested on its own.
            t.fresh_attackers()
            e = t.evil_server('evil-starttls-2')
            evil_profile = t.write(evil_profile, evil_profile_text(e.port))
            t.run(['rcpt@example.test'], stdin=t.message(VICTIM_MARK))
            qid = (t.queue_ids() or ['(none)'])[0]
        t.make_due()
        what = what[:-len(': -q')] + ': an ordinary run'
        r = t.run(['-C', evil_profile, 'attacker@evil.test'], stdin=attacker_msg)
        t.exit_is(RULE, what + ' (its own message delivered, or the profile refused)', r,
                  (0,) + refused)
        t.no_leak(RULE, what)
        still_queued(t, qid, what)

    # The victim's own flush, its relay up: the entry was there, intact, and deliverable.
    victim.listen()
    t.make_due()
    r = t.run(['-q'])
    got = [m for m in victim.bodies() if VICTIM_MARK.encode() in m]
    t.ok(r.rc == 0 and len(got) == 1 and not t.queue_ids(),
         'control: the victim\'s own postie -q delivers the entry once to the victim\'s relay',
         '%r\nthe relay got it %d time(s); queue now %s' % (r, len(got), t.queue_ids()))
    t.finish()


if __name__ == '__main__':
    main()
