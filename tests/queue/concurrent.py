#!/usr/bin/env python3
# concurrent.py POSTIE: 100 postie processes at once against a stopped server (its port is
# bound but not listening: every connect is refused), each queues its message; then one
# `postie -q` against the running server: 100 delivered, 0 duplicates, 0 left. A second
# round queues 100 more and runs 4 flushes at once: the per-entry locks must still give
# every message exactly once. A third round leaves 30 complete copies in tmp/ (postie killed
# while waiting for a greeting that never comes) and lets 4 flushes race to recover them.

import os
import socket
import time

from qlib import Test, table, wait_for

N = 100
FLUSHES = 4


def queue_many(t, s, prof, tag):
    t0 = time.monotonic()
    procs = [t.spawn(['rcpt@example.test'], stdin=t.message('%s-%03d' % (tag, i), 2000),
                     profile=prof) for i in range(N)]
    for p in procs:
        p.wait(60)
    secs = time.monotonic() - t0
    ok = sum(1 for p in procs if p.returncode == 0)
    said = sum(1 for p in procs if 'queued as' in t.child_stderr(p))
    bad = [(p.returncode, t.child_stderr(p)) for p in procs if p.returncode != 0][:3]
    t.ok(ok == N and said == N, '%s: %d processes exit 0 and say "queued as"' % (tag, N),
         'exit 0: %d, queued as: %d; first failures: %s' % (ok, said, bad))
    return ok, secs


def recover_race(t, rows):
    """30 postie processes killed while waiting for a greeting leave complete copies in
    tmp/; 4 flushes at once recover and send them: each exactly once."""
    tag = 'recover-race'
    k = 30
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(('127.0.0.1', 0))
    silent.listen(k + 8)  # connections complete in the kernel; no greeting ever comes
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(silent.getsockname()[1], qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    t0 = time.monotonic()
    procs = [t.spawn(['rcpt@example.test'], stdin=t.message('%s-%03d' % (tag, i), 2000),
                     profile=prof) for i in range(k)]

    def complete():
        return sum(1 for i in t.ids('tmp', qdir)
                   if os.path.exists('%s/tmp/%s/envelope' % (qdir, i))) == k
    t.ok(wait_for(complete, 20), '%s: %d complete copies in tmp/' % (tag, k), t.state(qdir))
    # A postie that ended before its kill (on a loaded machine) committed or dropped its own
    # copy: only the copies still in tmp/ are the flushes' to recover; it is named below.
    early = [t.child_stderr(p).strip() or 'exit %d' % p.returncode
             for p in procs if not t.kill9(p)]
    in_tmp = sum(1 for i in t.ids('tmp', qdir)
                 if os.path.exists('%s/tmp/%s/envelope' % (qdir, i)))
    silent.close()
    s = t.sink('sink-' + tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    t1 = time.monotonic()
    fl = [t.spawn(['-q'], profile=prof) for _ in range(FLUSHES)]
    for p in fl:
        p.wait(60)
    wall = time.monotonic() - t1
    counts = s.count_by_msgid()
    mids = ['<%s-%03d@example.test>' % (tag, i) for i in range(k)]
    delivered = sum(1 for m in mids if counts.get(m, 0) > 0)
    dups = sum(counts.get(m, 0) - 1 for m in mids if counts.get(m, 0) > 1)
    left = t.state(qdir)
    recovered = sum(t.child_stderr(p).count('taken into the queue') for p in fl)
    t.ok(all(p.returncode == 0 for p in fl), '%s: every flush exits 0' % tag,
         [(p.returncode, t.child_stderr(p)) for p in fl])
    t.ok(delivered == k and dups == 0, '%s: %d delivered, no duplicates' % (tag, k),
         (delivered, dups))
    t.ok(recovered == in_tmp, '%s: each copy reported recovered once' % tag,
         'recovered %d of %d in tmp/; ended before the kill: %s' % (recovered, in_tmp, early))
    t.ok(sum(left.values()) == 0, '%s: nothing left' % tag, left)
    rows.append([tag, k, 'tmp=%d' % k, '%.2fs' % (t1 - t0), FLUSHES, delivered, dups,
                 sum(left.values()), len([x for x in s.sessions if 'MAIL' in x]),
                 sum(x.count('RSET') for x in s.sessions), '%.2fs' % wall,
                 '%.0f' % (k / wall if wall else 0)])


def main():
    t = Test('concurrent')
    rows = []
    for tag, flushes in (('one-flush', 1), ('four-flushes', FLUSHES)):
        s = t.sink('sink-' + tag, listening=False, chunking=tag == 'four-flushes')
        qdir = '%s/q-%s' % (t.tmp, tag)
        prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
        ok, qsecs = queue_many(t, s, prof, tag)
        st = t.state(qdir)
        t.ok(st['queue'] == N and st['tmp'] == 0 and st['corrupt'] == 0,
             '%s: %d entries in queue/, none in tmp/ or corrupt/' % (tag, N), st)
        t.ok(s.connections == 0 and not s.messages, '%s: nothing reached the server' % tag)
        s.listen()
        t0 = time.monotonic()
        fl = [t.spawn(['-q'], profile=prof) for _ in range(flushes)]
        for p in fl:
            p.wait(60)
        wall = time.monotonic() - t0
        t.ok(all(p.returncode == 0 for p in fl), '%s: every flush exits 0' % tag,
             [(p.returncode, t.child_stderr(p)) for p in fl])
        counts = s.count_by_msgid()
        mids = ['<%s-%03d@example.test>' % (tag, i) for i in range(N)]
        delivered = sum(1 for m in mids if counts.get(m, 0) > 0)
        dups = sum(counts.get(m, 0) - 1 for m in mids if counts.get(m, 0) > 1)
        left = t.state(qdir)
        t.ok(delivered == N, '%s: %d delivered' % (tag, N), 'delivered %d' % delivered)
        t.ok(dups == 0, '%s: no duplicates' % tag, 'duplicates %d' % dups)
        t.ok(sum(left.values()) == 0, '%s: nothing left' % tag, left)
        t.ok(len(counts) == N, '%s: nothing else was sent' % tag, len(counts))
        sessions = [x for x in s.sessions if 'MAIL' in x]
        rsets = sum(x.count('RSET') for x in s.sessions)
        if flushes == 1:
            t.ok(len(sessions) == 1 and sessions[0].count('MAIL') == N,
                 '%s: one session, %d transactions' % (tag, N), [len(x) for x in sessions])
            t.ok(rsets == 0, '%s: no RSET between the transactions' % tag, rsets)
        rows.append([tag, N, st['queue'], '%.2fs' % qsecs, flushes, delivered, dups,
                     sum(left.values()), len(sessions), rsets, '%.2fs' % wall,
                     '%.0f' % (N / wall if wall else 0)])
    recover_race(t, rows)
    t.note('FIGURES %d concurrent postie processes against a stopped server, then flush:' % N)
    t.note(table(rows, ['case', 'processes', 'queued', 'queue wall', 'flushes', 'delivered',
                        'dups', 'left', 'sessions', 'RSETs', 'flush wall', 'msg/s']))
    t.finish()


main()
