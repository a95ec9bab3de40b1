#!/usr/bin/env python3
# run.py POSTIE: Happy Eyeballs end to end (issue #14, RFC 8305), as root, in private network
# and mount namespaces (tests/lib/blackhole.py): dual.test resolves to 2001:db8::1, whose
# packets vanish, and to 127.0.0.1, where a sink listens; hole.test to 2001:db8::1 only.
#
#   any family   delivered, well inside the 30 s connect timeout, after trying IPv6 first
#                (two TCP opens: the SYN into the hole, then 127.0.0.1)
#   -4           delivered with one TCP open: IPv6 is not tried at all
#   -6           the hole only: fails at the 2 s timeout, EX_TEMPFAIL, naming the address
#   hole.test    one address that black-holes: the timeout holds (EX_TEMPFAIL)
#   port list    dual.test with a closed port, then the sink's: the fallback still works
#   queued -4    a message queued after `postie -4` (the port refused) keeps its family:
#                `postie -q` delivers it with one TCP open, IPv6 not tried
#   queued -6    a message queued after `postie -6` (the hole) is not sent over the IPv4
#                connection of a later run that sends queued mail, and `postie -q` tries
#                IPv6 only for it (one TCP open, the timeout): it stays queued; `postie -q -4`
#                sends it over IPv4: a flush's own -4/-6 is its family for every entry
#
# The checks count TCP opens (/proc/net/snmp of the namespace), not milliseconds; the one time
# bound is "under a third of the timeout", which a postie without the race cannot meet (it
# waits out the whole timeout on IPv6 first). Skips (77) when not root or without unshare,
# ip or veth. Standard library only; the sink stops by itself.

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import blackhole  # noqa: E402
import fakesmtp  # noqa: E402
from postietest import Tap, TempDir, private_env  # noqa: E402

MSG = (b'From: Sender <sender@example.test>\nTo: rcpt@example.test\n'
       b'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <eyeballs@example.test>\n'
       b'Subject: eyeballs\n\nHello.\n')


def msg(tag):
    return MSG.replace(b'<eyeballs@', b'<%s@' % tag.encode())
HOSTS = {'dual.test': [blackhole.HOLE, '127.0.0.1'], 'hole.test': [blackhole.HOLE]}


class Env:
    def __init__(self, postie, tmp):
        self.postie = postie
        self.home = os.path.join(tmp, 'home')
        self.env = private_env(self.home)
        self.profile = os.path.join(self.env['XDG_CONFIG_HOME'], 'postie', 'config')
        os.makedirs(os.path.dirname(self.profile), exist_ok=True)

    def run(self, host, ports, timeout, args=(), queue=None, rcpts=('rcpt@example.test',),
            stdin=MSG):
        """Run postie to HOST:PORTS (with QUEUE: queue on, in that folder); returns
        (status, stderr, seconds, TCP opens)."""
        with open(self.profile, 'w') as f:
            f.write('account default\nhost %s\nport %s\ntls off\ntimeout %d\n'
                    'from sender@example.test\n' % (host, ports, timeout))
            f.write('queue on\nqueue_dir %s\n' % queue if queue else 'queue off\n')
        os.chmod(self.profile, 0o600)
        opens = blackhole.active_opens()
        t0 = time.monotonic()
        p = subprocess.run([self.postie, '-v'] + list(args) + list(rcpts),
                           input=stdin, capture_output=True, env=self.env, timeout=120)
        took = time.monotonic() - t0
        return (p.returncode, p.stderr.decode(errors='replace'), took,
                blackhole.active_opens() - opens)


def checks(t, postie, tmp):
    blackhole.setup(HOSTS)
    sink = fakesmtp.Sink(os.path.join(tmp, 'sink'), deadline=300)
    closed = fakesmtp.Sink(os.path.join(tmp, 'closed'), listening=False, deadline=300)
    e = Env(postie, tmp)
    try:
        rc, err, took, opens = e.run('dual.test', sink.port, 30)
        sink.wait_idle()
        t.note('dual.test, IPv6 black-holed, timeout 30 s: %.3f s, %d TCP opens' % (took, opens))
        t.ok(rc == 0 and len(sink.messages) == 1, 'any family: delivered over IPv4', err)
        t.ok(took < 10, 'any family: connected in %.2f s, under a third of the timeout' % took,
             err)
        t.ok(opens == 2, 'any family: IPv6 tried first, then IPv4 (2 TCP opens, got %d)' % opens,
             err)
        t.ok('connected to dual.test [127.0.0.1]:%d' % sink.port in err,
             'any family: -v names the IPv4 address', err)

        rc, err, took, opens = e.run('dual.test', sink.port, 30, ['-4'])
        sink.wait_idle()
        t.note('-4: %.3f s, %d TCP opens' % (took, opens))
        t.ok(rc == 0 and len(sink.messages) == 2 and opens == 1,
             '-4: delivered, IPv6 never tried (1 TCP open, got %d)' % opens, err)

        rc, err, took, opens = e.run('dual.test', sink.port, 2, ['-6'])
        t.note('-6: %.3f s, %d TCP opens' % (took, opens))
        t.ok(rc == 75 and 'connect to dual.test [%s]:%d: timed out' % (blackhole.HOLE,
                                                                      sink.port) in err,
             '-6: the hole only: EX_TEMPFAIL, "timed out" at the address', err)
        t.ok(opens == 1 and took >= 1.5, '-6: one TCP open, no IPv4 (%d, %.2f s)' % (opens, took),
             err)

        rc, err, took, opens = e.run('hole.test', sink.port, 2)
        t.note('hole.test: %.3f s' % took)
        t.ok(rc == 75 and 'timed out' in err and took < 10,
             'an address that black-holes alone: the timeout holds (%.2f s)' % took, err)

        ports = '%d %d' % (closed.port, sink.port)
        rc, err, took, opens = e.run('dual.test', ports, 2)
        sink.wait_idle()
        t.note('port list %s: %.3f s, %d TCP opens' % (ports, took, opens))
        t.ok(rc == 0 and len(sink.messages) == 3 and 'trying port %d' % sink.port in err,
             'port list: the closed port fails, the next port delivers', err)
        queued(t, e, sink, closed, os.path.join(tmp, 'queue'))
    finally:
        sink.stop()
        closed.stop()


def entries(qdir):
    """The envelopes of the entries waiting in QDIR's queue/, by id."""
    out = {}
    wait = os.path.join(qdir, 'queue')
    for i in sorted(os.listdir(wait)) if os.path.isdir(wait) else []:
        with open(os.path.join(wait, i, 'envelope'), encoding='utf-8') as f:
            out[i] = f.read()
    return out


def queued(t, e, sink, closed, qdir):
    """-4 and -6 are kept with a queued message and used by every later attempt."""
    rc, err, took, opens = e.run('dual.test', closed.port, 30, ['-4'], queue=qdir,
                                 stdin=msg('queued4'))
    q = entries(qdir)
    t.ok(rc == 0 and opens == 1 and len(q) == 1 and '\nip-family 4\n' in list(q.values())[0],
         'queued -4: the refused port queues it (exit 0, 1 TCP open), its envelope keeps ip-family 4',
         '%s\n%r' % (err, q))
    rc, err, took, opens = e.run('dual.test', sink.port, 30, ['-q'], queue=qdir, rcpts=())
    sink.wait_idle()
    t.note('postie -q, the -4 entry: %.3f s, %d TCP opens' % (took, opens))
    t.ok(rc == 0 and sink.count_by_msgid().get('<queued4@example.test>') == 1 and
         not entries(qdir), 'queued -4: postie -q delivers it', err)
    t.ok(opens == 1, 'queued -4: postie -q tries IPv4 only (1 TCP open, got %d)' % opens, err)

    rc, err, took, opens = e.run('dual.test', sink.port, 2, ['-6'], queue=qdir,
                                 stdin=msg('queued6'))
    q = entries(qdir)
    t.ok(rc == 0 and opens == 1 and len(q) == 1 and '\nip-family 6\n' in list(q.values())[0],
         'queued -6: the hole times out and queues it (exit 0), its envelope keeps ip-family 6',
         '%s\n%r' % (err, q))
    ids = list(q)
    r = subprocess.run([e.postie, '-bp', '-v'], capture_output=True, env=e.env)
    t.ok(b'\n  ip family 6 (kept from the command line)\n' in r.stdout,
         'queued -6: mailq -v shows the family it kept', r.stdout)
    r = subprocess.run([e.postie, '--queue-retry'] + ids, capture_output=True, env=e.env)
    t.ok(r.returncode == 0, 'queued -6: --queue-retry makes it due now', r.stderr)
    n = len(sink.messages)
    rc, err, took, opens = e.run('dual.test', sink.port, 30, queue=qdir, stdin=msg('fresh'))
    sink.wait_idle()
    t.note('a run with any family while the -6 entry is due: %.3f s, %d TCP opens' %
           (took, opens))
    t.ok(rc == 0 and len(sink.messages) == n + 1 and
         sink.count_by_msgid().get('<fresh@example.test>') == 1,
         'queued -6: a later run over IPv4 delivers its own message only', err)
    t.ok(list(entries(qdir)) == ids and '<queued6@example.test>' not in sink.count_by_msgid(),
         'queued -6: that run leaves the -6 entry queued (not sent over IPv4)', err)
    rc, err, took, opens = e.run('dual.test', sink.port, 2, ['-q'], queue=qdir, rcpts=())
    t.note('postie -q, the -6 entry: %.3f s, %d TCP opens' % (took, opens))
    t.ok(opens == 1 and took >= 1.5 and list(entries(qdir)) == ids and
         '<queued6@example.test>' not in sink.count_by_msgid(),
         'queued -6: postie -q tries IPv6 only (1 TCP open, %.2f s): still queued' % took, err)
    # The flush's own -4 wins for this flush: every entry goes over IPv4.
    subprocess.run([e.postie, '--queue-retry'] + ids, capture_output=True, env=e.env)
    rc, err, took, opens = e.run('dual.test', sink.port, 30, ['-q', '-4'], queue=qdir, rcpts=())
    sink.wait_idle()
    t.ok(rc == 0 and opens == 1 and not entries(qdir) and
         sink.count_by_msgid().get('<queued6@example.test>') == 1,
         'postie -q -4: the flush\'s family for every entry: the -6 entry goes over IPv4 '
         '(1 TCP open, got %d)' % opens, err)


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: run.py POSTIE')
    if not blackhole.inside():
        reason = blackhole.why_not()
        if reason:
            Tap.skip_all(reason)
        blackhole.reexec()
    postie = os.path.abspath(sys.argv[1])
    t = Tap('eyeballs')
    tmp = TempDir('eyeballs')
    try:
        checks(t, postie, tmp.path)
    finally:
        rc = t.plan()
        tmp.end(rc != 0)
    sys.exit(rc)


if __name__ == '__main__':
    main()
