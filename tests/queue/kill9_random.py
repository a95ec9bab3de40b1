#!/usr/bin/env python3
# kill9_random.py POSTIE: kill -9 at random moments inside the windows where postie records
# an outcome in the queue, which no server step can pin down:
#   run-451     an ordinary run gets 451 to the end of its data and commits its copy into
#               queue/ (fsync, envelope, rename); killed 0-6 ms after the 451 was written
#   flush-250   a flush of 3 gets 250s and removes the entries; killed 0-6 ms after the
#               first 250
#   flush-451   a flush of 3 gets 451s and rewrites their envelopes (attempts, backoff);
#               killed 0-6 ms after the first 451
# Then a flush against a working server. Each message must be delivered; twice only for the
# one whose 250 the kill may have cut off (at most one per killed flush, none for 451s);
# nothing may end in corrupt/ or failed/. QUEUE_SEED=N repeats a run; QUEUE_ROUNDS=N.

import os
import random
import time

from qlib import Test, table

ROUNDS = int(os.environ.get('QUEUE_ROUNDS', '12'))
MAX_DELAY = 0.006


def scenario(t, rng, name, rows):
    stats = {'rounds': 0, 'killed': 0, 'delivered': 0, 'lost': 0, 'dups': 0, 'bad': 0}
    for i in range(ROUNDS):
        tag = '%s-%02d' % (name, i)
        delay = rng.uniform(0, MAX_DELAY)
        qdir = '%s/q-%s' % (t.tmp, tag)
        if name == 'run-451':
            s = t.sink('sink-' + tag, refuse=1, refuse_at='dot')
            prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
            mids = [tag]
            p = t.spawn(['rcpt@example.test'], stdin=t.message(tag, 3000), profile=prof)
            event = s.sent['refused']
        else:
            s = t.sink('sink-' + tag, refuse=-1, refuse_at='mail')
            prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
            mids = ['%s-%s' % (tag, m) for m in 'abc']
            for m in mids:
                t.send(m, size=3000, profile=prof)
            if name == 'flush-250':
                s.configure(refuse=0)
                event = s.sent['accepted']
            else:
                # Refused at the dot: RCPTs were accepted, so nothing marks them failed.
                s.configure(refuse=-1, refuse_at='dot')
                event = s.sent['refused']
            p = t.spawn(['-q'], profile=prof)
        if not event.wait(10):
            t.ok(False, '%s: the server answered' % tag, t.child_stderr(p))
            continue
        time.sleep(delay)
        killed = t.kill9(p)
        # The killed postie's last data may still be on its way to the sink: let the sink
        # answer it as configured (a refusal) before it starts accepting, or the test itself
        # would make a duplicate that no postie could avoid.
        s.wait_idle()
        before = t.state(qdir)
        s.configure(refuse=0)
        f = t.flush(profile=prof)
        counts = s.count_by_msgid()
        per = [counts.get('<%s@example.test>' % m, 0) for m in mids]
        st = t.state(qdir)
        dups = sum(n - 1 for n in per if n > 1)
        allowed = 1 if name == 'flush-250' and killed else 0
        good = (all(n >= 1 for n in per) and dups <= allowed and sum(st.values()) == 0)
        t.ok(good, '%s: delay %.1f ms, %s: delivered %s, left %s' % (
            tag, delay * 1000, 'killed' if killed else 'had exited', per, st),
            'before the flush %s; flush: %s' % (before, f))
        stats['rounds'] += 1
        stats['killed'] += killed
        stats['delivered'] += sum(1 for n in per if n)
        stats['lost'] += sum(1 for n in per if not n)
        stats['dups'] += dups
        stats['bad'] += st['corrupt'] + st['failed']
        for sk in t.sinks:
            if sk is s:
                sk.stop()
    rows.append([name, stats['rounds'], stats['killed'], stats['delivered'], stats['lost'],
                 stats['dups'], stats['bad']])


def main():
    t = Test('kill9-random')
    seed = int(os.environ.get('QUEUE_SEED', str(int(time.time()))))
    t.note('seed %d (QUEUE_SEED=%d repeats it), %d rounds each' % (seed, seed, ROUNDS))
    rng = random.Random(seed)
    rows = []
    for name in ('run-451', 'flush-250', 'flush-451'):
        scenario(t, rng, name, rows)
    t.note('FIGURES random kill -9 within 0-%d ms of the reply, then `postie -q`:' %
           (MAX_DELAY * 1000))
    t.note(table(rows, ['case', 'rounds', 'killed alive', 'delivered', 'lost', 'dups',
                        'corrupt/failed']))
    t.finish()


main()
