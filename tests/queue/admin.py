#!/usr/bin/env python3
# admin.py POSTIE: postie --queue-delete ID... and --queue-retry ID... on the user's queue.
#
#   delete by the whole id and by a unique start of one; an id that matches nothing, and a
#   start shared by several: a message naming it, exit 64, nothing touched; several ids,
#   one bad: the others done, exit 64; an entry being sent right now: refused (75), kept
#   retry of a waiting entry: due now; of a failed one: back in queue/, its recipients
#   pending, no notice left due, sent by the next flush; a retried entry past its
#   queue_lifetime gets a new one; retry of a copy set aside: refused, but it can be deleted

import os
import re
import subprocess

from qlib import Test


def field(env, key):
    m = re.search(r'^%s (.*)$' % re.escape(key), env, re.M)
    return m.group(1) if m else None


def queued(t, s, mid, rcpt='x@example.test'):
    s.configure(refuse=1, refuse_at='rcpt', refuse_reply='451 4.3.0 not now')
    r = t.send(mid, rcpts=[rcpt])
    m = re.search(r'queued as (\S+):', r.err)
    t.ok(r.rc == 0 and m, 'queued %s' % mid, r)
    s.configure(refuse=0)
    return m.group(1) if m else '?'


def delete(t, s):
    a, b, c = queued(t, s, 'del-a'), queued(t, s, 'del-b'), queued(t, s, 'del-c')
    r = t.run(['--queue-delete', a])
    t.ok(r.rc == 0 and re.search(r'^postie: queue entry %s deleted' % re.escape(a), r.err, re.M)
         and a not in t.ids('queue') and b in t.ids('queue'),
         'delete by the whole id: that entry, and only it, is gone', r)
    # The last part of an id is random: its start up to it names one entry.
    start = b[:b.rindex('-') + 3]
    r = t.run(['--queue-delete', start])
    t.ok(r.rc == 0 and b not in t.ids('queue') and c in t.ids('queue'),
         'delete by a unique start of an id', (start, r))
    r = t.run(['--queue-delete', '20991231'])
    t.ok(r.rc == 64 and 'no entry has that id' in r.err and t.ids('queue') == [c],
         'an id that matches nothing: said, exit 64, nothing deleted', r)
    d = queued(t, s, 'del-d')
    common = os.path.commonprefix([c, d])
    r = t.run(['--queue-delete', common])
    t.ok(r.rc == 64 and 'the start of 2 ids' in r.err and len(t.ids('queue')) == 2,
         'a start shared by two ids: said, exit 64, nothing deleted', (common, r))
    r = t.run(['--queue-delete', 'nothing-like-it', c])
    t.ok(r.rc == 64 and c not in t.ids('queue') and '1 of 2 ids was not done' in r.err,
         'two ids, one bad: the good one is deleted, exit 64', r)
    r = t.run(['--queue-delete', '../queue'])
    t.ok(r.rc == 64 and 'not a queue id' in r.err, 'a path is no queue id', r)
    r = t.run(['--queue-delete'])
    t.ok(r.rc == 64 and 'needs one or more queue ids' in r.err, 'no id at all: exit 64', r)

    # Being sent right now: the flush holds its lock; the deletion is refused.
    s.configure(hold='dot')
    p = t.spawn(['-q'])
    t.ok(s.wait_reached('dot', 10), 'a flush is sending the entry', t.child_stderr(p))
    r = t.run(['--queue-delete', d], timeout=10)
    t.ok(r.rc == 75 and 'sending it right now' in r.err and d in t.ids('queue'),
         'an entry being sent is not deleted: exit 75, it stays', r)
    t.kill9(p)
    s.configure(hold=None)
    r = t.run(['--queue-delete', d])
    t.ok(r.rc == 0 and t.ids('queue') == [], 'once the flush is gone it can be deleted', r)


def retry(t, s):
    w = queued(t, s, 'retry-wait')
    env = t.envelope('queue', w)
    t.ok(int(field(env, 'next-attempt')) > int(field(env, 'last-attempt')),
         'a new entry waits for its backoff', env)
    r = t.run(['--queue-retry', w])
    env = t.envelope('queue', w)
    t.ok(r.rc == 0 and 'is due now' in r.err
         and int(field(env, 'next-attempt')) <= int(field(env, 'last-attempt')) + 1
         and field(env, 'retried') is not None, 'retry: due now, the retry noted', (r, env))

    # A failed entry comes back, its recipient pending again; the flush delivers it.
    s.configure(reject=['x@example.test'])
    t.flush(['-qI' + w])
    t.ok(t.ids('failed') == [w], 'the entry failed (550)', t.state())
    s.configure(reject=[])
    r = t.run(['--queue-retry', w[:20] + w[20:-4]])
    env = t.envelope('queue', w) if w in t.ids('queue') else ''
    t.ok(r.rc == 0 and 'recipients pending again' in r.err and t.ids('failed') == []
         and 'rcpt-state' not in env and field(env, 'failed') is None
         and field(env, 'notice') is None and field(env, 'failed-reason') is None,
         'retry of a failed entry: back in queue/, pending, no failure kept', (r, env))
    n0 = len(s.messages)
    f = t.flush()
    t.ok(f.rc == 0 and len(s.messages) == n0 + 1 and t.state()['queue'] == 0,
         'the next flush delivers it', (f, s.messages[n0:]))

    # Past its lifetime: a retry gives it a new one (else the next flush would expire it).
    x = queued(t, s, 'retry-old')
    path = os.path.join(t.qdir, 'queue', x, 'envelope')
    with open(path, encoding='utf-8') as fh:
        text = re.sub(r'^queued \d+$', 'queued 1000', fh.read(), flags=re.M)
    with open(path, 'w', encoding='utf-8') as fh:
        fh.write(text)
    r = t.run(['--queue-retry', x])
    n0 = len(s.messages)
    f = t.flush()
    t.ok(r.rc == 0 and 'expired' not in f.err and len(s.messages) == n0 + 1,
         'a retried entry past queue_lifetime is sent, not expired', (r, f))


def corrupt(t, s):
    # A copy set aside: a postie killed while its input was open, then a flush.
    s.configure(hold='greeting')
    p = t.spawn(['z@example.test'], stdin=subprocess.PIPE)
    p.stdin.write(open(t.message('partial', 100000), 'rb').read()[:90000])
    p.stdin.flush()
    t.ok(s.wait_reached('greeting', 10), 'partial: postie connected with its input open')
    t.kill9(p)
    p.stdin.close()
    s.configure(hold=None)
    t.flush()
    ids = t.ids('corrupt')
    t.ok(len(ids) == 1, 'a copy is set aside in corrupt/', t.state())
    if not ids:
        return
    r = t.run(['--queue-retry', ids[0]])
    t.ok(r.rc == 64 and 'can never be sent' in r.err and t.ids('corrupt') == ids,
         'retry of a copy set aside: refused', r)
    r = t.run(['--queue-delete', ids[0]])
    t.ok(r.rc == 0 and t.ids('corrupt') == [], 'delete of a copy set aside', r)


def main():
    t = Test('admin')
    s = t.sink('sink')
    t.profile(s.port)
    delete(t, s)
    retry(t, s)
    corrupt(t, s)
    t.finish()


main()
