#!/usr/bin/env python3
# kill9_tls.py POSTIE: the kill -9 steps that need STARTTLS and AUTH.
#
# "Before connect": postie has read its input and completed its copy, and runs the
# account's passwordeval before it connects (the last thing before the connection). The
# passwordeval here is a small script that, while a HOLD file exists, writes REACHED and
# waits: postie is killed there, the HOLD file removed (the script then ends by itself), and
# a flush delivers. Same for a flush, which runs passwordeval before its session. The other
# rows repeat steps of kill9_run.py / kill9_flush.py over STARTTLS with AUTH PLAIN.
# Skipped (77) without certtool (tests/gencerts.sh).

import os
import sys

from qlib import Test, table, wait_for

SIZE = 30000


def setup(t, tag, **kw):
    s = t.sink('sink-' + tag, certs=t.certs, **kw)
    qdir = '%s/q-%s' % (t.tmp, tag)
    hold = '%s/HOLD-%s' % (t.tmp, tag)
    reached = '%s/REACHED-%s' % (t.tmp, tag)
    script = '%s/pw-%s.sh' % (t.tmp, tag)
    with open(script, 'w', encoding='ascii') as f:
        f.write('if [ -e %s ]; then\n'
                '  : > %s\n'
                '  i=0\n'
                '  while [ -e %s ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done\n'
                'fi\n'
                'echo secret-pw\n' % (hold, reached, hold))
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag), extra=(
        'tls on\ntls_starttls on\ntls_trust_file %s/ca.pem\nuser alice\n'
        'passwordeval sh %s\n' % (t.certs, script)))
    return s, qdir, prof, hold, reached


def count(s, mids):
    c = s.count_by_msgid()
    return [c.get('<%s@example.test>' % m, 0) for m in mids]


def finish_row(t, rows, tag, what, s, qdir, prof, mids, after_kill, allowed=None):
    before = sum(count(s, mids))
    r = t.flush(profile=prof)
    t.ok(r.rc == 0, '%s: the flush exits 0' % tag, r)
    per = count(s, mids)
    allowed = allowed or [1] * len(mids)
    t.ok(all(1 <= n <= a for n, a in zip(per, allowed)),
         '%s: every message delivered, twice only where the reply was lost' % tag,
         'per message %s, allowed %s; flush: %s' % (per, allowed, r))
    left = t.state(qdir)
    t.ok(sum(left.values()) == 0, '%s: nothing left in the queue' % tag, left)
    rows.append([tag, what, 'queue=%d tmp=%d' % (after_kill['queue'], after_kill['tmp']),
                 before, sum(per) - before, sum(1 for n in per if n),
                 sum(n - 1 for n in per if n > 1), sum(left.values())])


def run_before_connect(t, rows):
    tag = 'run-before-connect'
    s, qdir, prof, hold, reached = setup(t, tag)
    open(hold, 'w').close()
    p = t.spawn(['rcpt@example.test'], stdin=t.message(tag, SIZE), profile=prof)
    t.ok(wait_for(lambda: os.path.exists(reached), 10), '%s: passwordeval reached' % tag,
         t.child_stderr(p))
    t.ok(s.connections == 0, '%s: no connection made yet' % tag)
    t.ok(t.kill9(p), '%s: postie was still running when killed' % tag)
    os.unlink(hold)
    after = t.state(qdir)
    t.ok(after['tmp'] == 1, '%s: the completed copy is in tmp/' % tag, after)
    finish_row(t, rows, tag, 'input read, copy complete, before connecting', s, qdir, prof,
               [tag], after)


def run_step(t, rows, step, allowed):
    tag = 'run-tls-' + step
    s, qdir, prof, _, _ = setup(t, tag, hold=step)
    p = t.spawn(['rcpt@example.test'], stdin=t.message(tag, SIZE), profile=prof)
    t.ok(s.wait_reached(step, 10), '%s: the server reached the step' % tag, t.child_stderr(p))
    t.ok(t.kill9(p), '%s: postie was still running when killed' % tag)
    finish_row(t, rows, tag, 'STARTTLS+AUTH, kill at %s' % step, s, qdir, prof, [tag],
               t.state(qdir), [allowed])


def flush_case(t, rows, step):
    tag = 'flush-' + step
    s, qdir, prof, hold, reached = setup(t, tag, refuse=-1, refuse_at='mail')
    mids = ['%s-%s' % (m, tag) for m in 'abc']
    for m in mids:
        r = t.send(m, size=SIZE, profile=prof)
        t.ok(r.rc == 0 and 'queued as' in r.err, '%s: %s queued' % (tag, m), r)
    conns = s.connections
    if step == 'before-connect':
        s.configure(refuse=0)
        open(hold, 'w').close()
        p = t.spawn(['-q'], profile=prof)
        t.ok(wait_for(lambda: os.path.exists(reached), 10), '%s: passwordeval reached' % tag,
             t.child_stderr(p))
        t.ok(s.connections == conns, '%s: no connection made yet' % tag)
        allowed = None
    else:
        s.configure(refuse=0, hold=step, hold_txn=1)
        p = t.spawn(['-q'], profile=prof)
        t.ok(s.wait_reached(step, 10), '%s: the server reached the step' % tag,
             t.child_stderr(p))
        allowed = [2, 1, 1] if step == 'dot-commit' else None
    t.ok(t.kill9(p), '%s: postie was still running when killed' % tag)
    if os.path.exists(hold):
        os.unlink(hold)
    finish_row(t, rows, tag, 'flush of 3, kill at %s' % step, s, qdir, prof, mids,
               t.state(qdir), allowed)


def main():
    t = Test('kill9-tls')
    if not t.make_certs():
        print('1..0 # SKIP certtool is missing (tests/gencerts.sh)')
        sys.exit(77)
    rows = []
    run_before_connect(t, rows)
    run_step(t, rows, 'mail', 1)
    run_step(t, rows, 'dot', 1)
    run_step(t, rows, 'dot-commit', 2)
    flush_case(t, rows, 'before-connect')
    flush_case(t, rows, 'data-mid')
    flush_case(t, rows, 'dot-commit')
    t.note('FIGURES kill -9 with STARTTLS + AUTH (passwordeval), then `postie -q`:')
    t.note(table(rows, ['case', 'what', 'after kill', 'by 1st', 'by flush', 'delivered',
                        'dups', 'left']))
    t.finish()


main()
