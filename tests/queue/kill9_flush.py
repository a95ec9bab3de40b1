#!/usr/bin/env python3
# kill9_flush.py POSTIE: kill -9 a `postie -q` at each step of a flush of three queued
# messages, then flush again against a working server; count deliveries by Message-ID.
#
# The three messages are queued first by ordinary runs that the sink answers 451 at MAIL.
# The flush sends them over one session, one transaction after the other (no RSET between
# them). The kill is placed by the sink (hold=STEP at transaction N): connected before the
# greeting; MAIL, RCPT, mid-DATA, after the final dot of the 1st or 2nd transaction; after
# the 2xx of the 1st or 3rd (postie has removed that entry); at QUIT. Rule (issue 4): every
# message delivered, none twice except the one whose reply the kill cut off (dot-commit).
# Rows "run+2": an ordinary run that sends two due entries after its own message (the
# piggyback) is killed among them.

from qlib import Test, table, wait_for

SIZE = 30000
MIDS = ('a', 'b', 'c')
STEPS = [
    # step, transaction, what it means
    ('greeting', 1, 'connected, no greeting'),
    ('mail', 1, 'MAIL of the 1st entry, no reply'),
    ('rcpt', 1, 'RCPT of the 1st entry, no reply'),
    ('data-mid', 1, 'mid-DATA of the 1st entry'),
    ('dot', 1, 'after the 1st final dot, not taken, no reply'),
    ('dot-commit', 1, 'after the 1st final dot, taken, reply lost'),
    ('reply', 1, 'after the 1st 2xx (entry removed), before the 2nd MAIL'),
    ('mail', 2, 'MAIL of the 2nd entry (after the 1st delivered)'),
    ('data-mid', 2, 'mid-DATA of the 2nd entry'),
    ('dot-commit', 2, 'after the 2nd final dot, taken, reply lost'),
    ('reply', 3, 'after the 3rd 2xx (queue empty), before QUIT'),
    ('quit', 1, 'QUIT sent, no reply'),
]


def one(t, rows, mode, step, txn, meaning):
    tag = '%s-%s-%d' % (mode, step, txn)
    s = t.sink('sink-' + tag, chunking=mode == 'BDAT', refuse=-1, refuse_at='mail')
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    mids = ['%s-%s' % (m, tag) for m in MIDS]
    for m in mids:
        r = t.send(m, size=SIZE, profile=prof)
        if not t.ok(r.rc == 0 and 'queued as' in r.err, '%s: %s queued' % (tag, m), r):
            return
    queued = t.state(qdir)['queue']
    s.configure(refuse=0, hold=step, hold_txn=txn)
    p = t.spawn(['-q'], profile=prof)
    reached = s.wait_reached(step, 10)
    t.ok(reached, '%s: the server reached the step' % tag, t.child_stderr(p))
    if step in ('reply', 'quit'):
        gone = txn if step == 'reply' else 3
        ok = wait_for(lambda: t.state(qdir)['queue'] == 3 - gone, 3)
        t.ok(ok, '%s: postie removed the delivered entries' % tag, t.state(qdir))
    alive = t.kill9(p)
    t.ok(alive, '%s: postie was still running when killed' % tag, t.child_stderr(p))
    after_kill = t.state(qdir)
    counts = s.count_by_msgid()
    before = sum(counts.get('<%s@example.test>' % m, 0) for m in mids)
    r = t.flush(profile=prof)
    t.ok(r.rc == 0, '%s: the second flush exits 0' % tag, r)
    counts = s.count_by_msgid()
    per = [counts.get('<%s@example.test>' % m, 0) for m in mids]
    allowed = [2 if step == 'dot-commit' and i == txn - 1 else 1 for i in range(3)]
    t.ok(all(1 <= n <= a for n, a in zip(per, allowed)),
         '%s: every message delivered, twice only where the reply was lost' % tag,
         'per message %s, allowed %s; flush: %s' % (per, allowed, r))
    left = t.state(qdir)
    t.ok(sum(left.values()) == 0, '%s: nothing left in the queue' % tag, left)
    rows.append([mode, '%s#%d' % (step, txn), meaning, queued,
                 'queue=%d tmp=%d' % (after_kill['queue'], after_kill['tmp']), before,
                 sum(per) - before, sum(1 for n in per if n > 0),
                 sum(n - 1 for n in per if n > 1), sum(left.values())])


PIGGY_STEPS = [
    ('reply', 1, 'run: after its own 2xx, before the 1st due entry'),
    ('data-mid', 2, 'run: mid-DATA of the 1st due entry'),
    ('dot-commit', 2, 'run: after the 1st due entry\'s dot, taken, reply lost'),
    ('dot', 3, 'run: after the 2nd due entry\'s dot, not taken'),
]


def piggy(t, rows, step, txn, meaning):
    """An ordinary run sends 2 due entries after its own message: kill it among them."""
    tag = 'PIGGY-%s-%d' % (step, txn)
    s = t.sink('sink-' + tag, refuse=-1, refuse_at='mail')
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    mids = ['own-' + tag] + ['%s-%s' % (m, tag) for m in 'ab']
    for m in mids[1:]:
        r = t.send(m, size=SIZE, profile=prof)
        t.ok(r.rc == 0 and 'queued as' in r.err, '%s: %s queued' % (tag, m), r)
    t.make_due(qdir)
    s.configure(refuse=0, hold=step, hold_txn=txn)
    p = t.spawn(['rcpt@example.test'], stdin=t.message(mids[0], SIZE), profile=prof)
    t.ok(s.wait_reached(step, 10), '%s: the server reached the step' % tag, t.child_stderr(p))
    if step == 'reply':
        t.ok(wait_for(lambda: t.state(qdir)['tmp'] == 0, 3),
             '%s: postie dropped its own copy after the 250' % tag, t.state(qdir))
    alive = t.kill9(p)
    t.ok(alive, '%s: postie was still running when killed' % tag)
    after_kill = t.state(qdir)
    before = sum(s.count_by_msgid().get('<%s@example.test>' % m, 0) for m in mids)
    r = t.flush(profile=prof)
    counts = s.count_by_msgid()
    per = [counts.get('<%s@example.test>' % m, 0) for m in mids]
    allowed = [2 if step == 'dot-commit' and i == txn - 1 else 1 for i in range(3)]
    t.ok(all(1 <= n <= a for n, a in zip(per, allowed)),
         '%s: every message delivered, twice only where the reply was lost' % tag,
         'per message %s, allowed %s; flush: %s' % (per, allowed, r))
    left = t.state(qdir)
    t.ok(sum(left.values()) == 0, '%s: nothing left in the queue' % tag, left)
    rows.append(['run+2', '%s#%d' % (step, txn), meaning, 2,
                 'queue=%d tmp=%d' % (after_kill['queue'], after_kill['tmp']), before,
                 sum(per) - before, sum(1 for n in per if n > 0),
                 sum(n - 1 for n in per if n > 1), sum(left.values())])


def main():
    t = Test('kill9-flush')
    rows = []
    for mode in ('DATA', 'BDAT'):
        for step, txn, meaning in STEPS:
            one(t, rows, mode, step, txn, meaning)
    for step, txn, meaning in PIGGY_STEPS:
        piggy(t, rows, step, txn, meaning)
    t.note('FIGURES kill -9 of `postie -q` flushing 3 queued messages (%d bytes each), '
           'then a second `postie -q`:' % SIZE)
    t.note(table(rows, ['mode', 'step', 'meaning', 'queued', 'after kill', 'by 1st flush',
                        'by 2nd flush', 'delivered', 'dups', 'left']))
    t.finish()


main()
