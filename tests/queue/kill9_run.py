#!/usr/bin/env python3
# kill9_run.py POSTIE: kill -9 an ordinary postie run at each step after its input was read,
# then flush against a working server, and count deliveries by Message-ID.
#
# Issue 4's rule: the message is delivered, or delivered by the next flush, never lost; it is
# sent twice only when the kill fell between the server's final reply and postie recording
# it (step dot-commit: the server took the message, postie never saw the 250; step quit:
# the 250 was sent, the pipelined QUIT is not answered, postie killed at once). Each step is
# placed by the sink (the sink's hold=STEP, tests/lib/fakesmtp.py): postie is killed only once the server has
# written reached-STEP, so the place of the kill does not depend on timing. Both transfer
# modes: DATA (PIPELINING) and BDAT (CHUNKING + PIPELINING).
#
# One more row shows the designed limit: killed mid-DATA while its input was still open
# (never read to its end), the copy is set aside in corrupt/ and never sent; the caller got
# no exit status, so nothing was promised.

import subprocess
import threading

from qlib import Test, table, wait_for

SIZE = 30000  # under the 64 KiB read-ahead: read whole before connecting; many sink reads
STEPS = [
    # step, what it means
    ('greeting', 'connected, no greeting yet'),
    ('mail', 'MAIL sent, no reply'),
    ('rcpt', 'RCPT sent, no reply'),
    ('data-mid', 'mid-DATA (part of the data at the server)'),
    ('dot', 'after the final dot / BDAT LAST, server did not take it, no reply'),
    ('dot-commit', 'after the final dot, server took it, reply lost'),
    ('quit', 'after the 2xx, its pipelined QUIT unanswered'),
    ('reply', 'after the 2xx, once postie dropped its copy'),
]


def one(t, rows, mode, step, meaning):
    tag = '%s-%s' % (mode, step)
    s = t.sink('sink-' + tag, chunking=mode == 'BDAT', hold=step)
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    mid = 'run-' + tag
    p = t.spawn(['rcpt@example.test'], stdin=t.message(mid, SIZE), profile=prof)
    reached = s.wait_reached(step, 10)
    t.ok(reached, '%s %s: the server reached the step' % (mode, step),
        t.child_stderr(p) if not reached else None)
    if step == 'reply':
        # The 250 was written and nothing more is answered; wait until postie has dropped
        # its copy (it may then wait for the 221 to its pipelined QUIT, or be gone).
        recorded = wait_for(lambda: t.state(qdir)['tmp'] == 0, 5)
        t.ok(recorded, '%s %s: postie removed its copy after the 250' % (mode, step),
            t.state(qdir))
    alive = t.kill9(p)
    if step == 'reply':
        t.ok(alive or p.returncode == 0, '%s %s: postie was running or had exited 0' %
            (mode, step), 'exit %s: %s' % (p.returncode, t.child_stderr(p)))
    else:
        t.ok(alive, '%s %s: postie was still running when killed' % (mode, step),
            'exit %s: %s' % (p.returncode, t.child_stderr(p)))
    after_kill = t.state(qdir)
    before = s.count_by_msgid().get('<%s@example.test>' % mid, 0)
    r = t.flush(profile=prof)
    t.ok(r.rc == 0, '%s %s: the flush exits 0' % (mode, step), r)
    n = s.count_by_msgid().get('<%s@example.test>' % mid, 0)
    left = t.state(qdir)
    dups = max(0, n - 1)
    if step in ('dot-commit', 'quit'):
        # Killed between the server's 250 and postie recording it (for quit: if postie
        # records the delivery only once the 221 came): twice is allowed.
        t.ok(n in (1, 2), '%s %s: delivered (twice allowed: the 250 was not recorded)' %
            (mode, step), 'delivered %d times' % n)
    else:
        t.ok(n == 1, '%s %s: delivered exactly once' % (mode, step),
            'delivered %d times; flush: %s' % (n, r))
    t.ok(sum(left.values()) == 0, '%s %s: nothing left in the queue' % (mode, step), left)
    rows.append([mode, step, meaning, 'yes' if alive else 'exit %s' % p.returncode,
        'tmp=%d queue=%d' % (after_kill['tmp'], after_kill['queue']), before, n - before,
        1 if n else 0, dups, sum(left.values())])


def input_open(t, rows, mode):
    """Killed mid-DATA while the input is still open: set aside, never sent (by design)."""
    tag = '%s-input-open' % mode
    s = t.sink('sink-' + tag, chunking=mode == 'BDAT', hold='data-mid')
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    mid = 'run-' + tag
    with open(t.message(mid, 200000), 'rb') as f:
        data = f.read()
    p = t.spawn(['rcpt@example.test'], stdin=subprocess.PIPE, profile=prof)

    def feed():
        try:
            p.stdin.write(data[:150000])  # more than the read-ahead; the end never comes
            p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
    w = threading.Thread(target=feed, daemon=True)
    w.start()
    reached = s.wait_reached('data-mid', 10)
    t.ok(reached, '%s input open: the server got part of the data' % mode)
    alive = t.kill9(p)
    w.join(5)
    try:
        p.stdin.close()
    except OSError:
        pass
    after_kill = t.state(qdir)
    r = t.flush(profile=prof)
    n = s.count_by_msgid().get('<%s@example.test>' % mid, 0)
    left = t.state(qdir)
    t.ok(n == 0, '%s input open: never sent (its end was never read)' % mode, r)
    t.ok(left['corrupt'] == 1 and left['tmp'] == 0 and left['queue'] == 0,
        '%s input open: the copy is set aside in corrupt/' % mode, left)
    t.ok('never completed' in r.err, '%s input open: the flush says so' % mode, r)
    rows.append([mode, 'data-mid*', 'mid-DATA, input NOT read to its end (by design)',
        'yes' if alive else 'NO', 'tmp=%d queue=%d' % (after_kill['tmp'],
        after_kill['queue']), 0, n, n, 0, 'corrupt=%d' % left['corrupt']])


def main():
    t = Test('kill9-run')
    rows = []
    for mode in ('DATA', 'BDAT'):
        for step, meaning in STEPS:
            one(t, rows, mode, step, meaning)
        input_open(t, rows, mode)
    t.note('FIGURES kill -9 of an ordinary run, then one `postie -q` (size %d bytes):' % SIZE)
    # by run / by flush: transactions the server took; delivered: messages it got at all.
    t.note(table(rows, ['mode', 'step', 'meaning', 'alive', 'after kill', 'by run',
        'by flush', 'delivered', 'dups', 'left']))
    t.finish()


main()
