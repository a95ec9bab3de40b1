#!/usr/bin/env python3
# replies.py POSTIE: what postie does with the server's refusals when the queue is on.
#
#   451 then 250: a 451 at MAIL, RCPT, DATA or the end of the data (DATA and BDAT modes),
#       or a refused connection, queues the message: exit 0, "postie: queued as ID: reason";
#       mailq shows it with the reason; `postie -q` delivers it once and empties the queue.
#   550 to one recipient of three: exit 67 naming the address, nothing sent, nothing queued.
#   550 to the sole recipient, 554 to the end of the data: 67 / 69, nothing queued.
#   452 to one recipient of three: the transaction is abandoned and the message queued for
#       all three; the flush delivers it once to all three.
#   queue off: a 451 is exit 75 and nothing is written.
#   In a flush: 451 again keeps the entry (attempts 2, the backoff doubled); 550 to the sole
#       recipient moves it to failed/; 550 to one of three marks that one refused for good.

import os
import re

from qlib import Test, mailq_blocks, table

RCPT3 = ['r1@example.test', 'r2@example.test', 'r3@example.test']


def env_field(text, key):
    m = re.search(r'^%s (.*)$' % re.escape(key), text, re.M)
    return m.group(1) if m else None


def setup(t, tag, **kw):
    s = t.sink('sink-' + tag, **kw)
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag))
    return s, qdir, prof


def delivered(s, mid):
    return s.count_by_msgid().get('<%s@example.test>' % mid, 0)


def temp_then_ok(t, rows, mode, at):
    tag = '%s-451-at-%s' % (mode, at)
    s, qdir, prof = setup(t, tag, chunking=mode == 'BDAT', refuse=1, refuse_at=at)
    r = t.send(tag, size=5000, profile=prof)
    m = re.search(r'postie: queued as (\S+): (.*)', r.err)
    t.ok(r.rc == 0 and m is not None, '%s: exit 0, "queued as ID: reason"' % tag, r)
    t.ok(m is not None and '451 4.3.0' in m.group(2), '%s: the reason quotes the 451' % tag, r)
    ids = t.ids('queue', qdir)
    qid = m.group(1) if m else None
    t.ok(ids == [qid], '%s: the entry is in queue/ under that id' % tag, (ids, qid))
    t.ok(delivered(s, tag) == 0, '%s: nothing delivered yet' % tag)
    if ids:
        env = t.envelope('queue', ids[0], qdir)
        t.ok(env_field(env, 'attempts') == '1' and '451' in (env_field(env, 'last-reply') or ''),
             '%s: envelope: attempts 1, last-reply 451' % tag, env)
    q = t.mailq(profile=prof)
    b = [x for x in mailq_blocks(q.out) if x['id'] == qid]
    t.ok(q.rc == 0 and len(b) == 1 and b[0]['sender'] == 'sender@example.test'
         and len(b[0]['rcpts']) == 1 and b[0]['rcpts'][0][0] == 'rcpt@example.test'
         and '451 4.3.0' in (b[0]['rcpts'][0][1] or ''),
         '%s: mailq shows the entry, its envelope and why' % tag, q.out)
    f = t.flush(profile=prof)
    n = delivered(s, tag)
    t.ok(f.rc == 0 and n == 1, '%s: the flush delivers it once' % tag, (f, n))
    t.ok(sum(t.state(qdir).values()) == 0, '%s: the queue is empty' % tag, t.state(qdir))
    q2 = t.mailq(profile=prof)
    t.ok('Mail queue is empty' in q2.out, '%s: mailq says the queue is empty' % tag, q2.out)
    rows.append([tag, r.rc, 'yes' if ids else 'no', f.rc, n, sum(t.state(qdir).values())])


def refused_connection(t, rows):
    tag = 'connection-refused'
    s, qdir, prof = setup(t, tag, listening=False)
    r = t.send(tag, profile=prof)
    t.ok(r.rc == 0 and 'queued as' in r.err and 'connect' in r.err,
         '%s: exit 0, queued, the reason says connect' % tag, r)
    q = t.mailq(profile=prof)
    t.ok('refused' in q.out.lower(), '%s: mailq says the connection was refused' % tag, q.out)
    s.listen()
    f = t.flush(profile=prof)
    t.ok(f.rc == 0 and delivered(s, tag) == 1, '%s: the flush delivers it once' % tag, f)
    rows.append([tag, r.rc, 'yes', f.rc, delivered(s, tag), sum(t.state(qdir).values())])


def not_queued(t, rows, tag, want_rc, rcpts, expect_err, **kw):
    s, qdir, prof = setup(t, tag, **kw)
    r = t.send(tag, rcpts=rcpts, profile=prof)
    t.ok(r.rc == want_rc, '%s: exit %d' % (tag, want_rc), r)
    t.ok(expect_err in r.err, '%s: stderr says %r' % (tag, expect_err), r)
    t.ok('queued as' not in r.err, '%s: not queued' % tag, r)
    st = t.state(qdir)
    t.ok(sum(st.values()) == 0, '%s: nothing in the queue directory' % tag, st)
    t.ok(not s.messages, '%s: nothing delivered' % tag, s.messages)
    rows.append([tag, r.rc, 'no', '-', len(s.messages), sum(st.values())])


def rcpt_452(t, rows, mode):
    tag = '%s-452-one-of-three' % mode
    s, qdir, prof = setup(t, tag, chunking=mode == 'BDAT',
                          rcpt_reply={'r2@example.test': '452 4.2.2 mailbox full'})
    r = t.send(tag, rcpts=RCPT3, profile=prof)
    t.ok(r.rc == 0 and 'queued as' in r.err and '452' in r.err,
         '%s: exit 0, queued with the 452' % tag, r)
    t.ok(not s.messages, '%s: nothing delivered by the run' % tag, s.messages)
    ids = t.ids('queue', qdir)
    env = t.envelope('queue', ids[0], qdir) if ids else ''
    t.ok(re.findall(r'^rcpt (.*)$', env, re.M) == RCPT3, '%s: all three wait' % tag, env)
    s.configure(rcpt_reply={})
    f = t.flush(profile=prof)
    recs = [m for m in s.messages if m['message_id'] == '<%s@example.test>' % tag]
    t.ok(f.rc == 0 and len(recs) == 1 and sorted(recs[0]['rcpts']) == RCPT3,
         '%s: the flush delivers once to all three' % tag, (f, recs))
    rows.append([tag, r.rc, 'yes', f.rc, len(recs), sum(t.state(qdir).values())])


def queue_off(t, rows):
    tag = 'queue-off-451'
    s = t.sink('sink-' + tag, refuse=1, refuse_at='dot')
    qdir = '%s/q-%s' % (t.tmp, tag)
    prof = t.profile(s.port, qdir=qdir, path='%s/profile-%s' % (t.tmp, tag),
                     extra='queue off\n')
    r = t.send(tag, profile=prof)
    t.ok(r.rc == 75 and 'queued as' not in r.err, '%s: exit 75, not queued' % tag, r)
    t.ok(not os.path.exists(qdir), '%s: the queue directory was not even made' % tag)
    rows.append([tag, r.rc, 'no', '-', len(s.messages), 0])


def flush_temp_again(t, rows, mode, at):
    # 451 again at the flush: kept, attempts 2, backoff 120 s. With PIPELINING the server
    # answers the RCPTs behind a refused MAIL with 503 (bad sequence): that says nothing
    # about the recipients.
    tag = '%s-flush-451-at-%s-again' % (mode, at)
    s, qdir, prof = setup(t, tag, chunking=mode == 'BDAT', refuse=-1, refuse_at=at)
    r = t.send(tag, profile=prof)
    f = t.flush(profile=prof)
    ids = t.ids('queue', qdir)
    if ids:
        env = t.envelope('queue', ids[0], qdir)
    else:
        failed = t.ids('failed', qdir)
        env = t.envelope('failed', failed[0], qdir) if failed else ''
    att = env_field(env, 'attempts')
    gap = (int(env_field(env, 'next-attempt') or 0) - int(env_field(env, 'last-attempt') or 0))
    t.ok(r.rc == 0 and f.rc == 0 and len(ids) == 1 and att == '2' and gap == 120,
         '%s: still queued, attempts 2, next attempt 120 s later' % tag,
         '%s\n%s\nstate %s\n%s' % (r, f, t.state(qdir), env))
    t.ok('not yet' in f.err, '%s: the flush says one is waiting' % tag, f)
    s.configure(refuse=0)
    f2 = t.flush(profile=prof)
    n = delivered(s, tag)
    t.ok(n == 1, '%s: delivered once when the server takes it' % tag, (f2, t.state(qdir)))
    rows.append([tag, r.rc, 'yes', '%d,%d' % (f.rc, f2.rc), n, sum(t.state(qdir).values())])


def in_flush(t, rows):
    for mode in ('DATA', 'BDAT'):
        for at in ('mail', 'rcpt', 'dot'):
            flush_temp_again(t, rows, mode, at)

    # 550 to the sole recipient at the flush: failed/, shown by mailq with '!'.
    tag = 'flush-550-sole'
    s, qdir, prof = setup(t, tag, refuse=-1, refuse_at='mail')
    r = t.send(tag, profile=prof)
    s.configure(refuse=0, reject=['rcpt@example.test'])
    f = t.flush(profile=prof)
    st = t.state(qdir)
    t.ok(st['failed'] == 1 and st['queue'] == 0, '%s: moved to failed/' % tag, (st, f))
    q = t.mailq(profile=prof)
    b = mailq_blocks(q.out)
    t.ok(len(b) == 1 and b[0]['failed'] and '550 5.1.1' in (b[0]['rcpts'][0][1] or '')
         and 'failed' in q.out, '%s: mailq shows it failed, with the 550' % tag, q.out)
    rows.append([tag, r.rc, 'yes', f.rc, len(s.messages), sum(st.values())])

    # 550 to one of three at the flush: that one refused for good, the others delivered.
    tag = 'flush-550-one-of-three'
    s, qdir, prof = setup(t, tag, refuse=-1, refuse_at='mail')
    r = t.send(tag, rcpts=RCPT3, profile=prof)
    s.configure(refuse=0, reject=['r2@example.test'])
    f1 = t.flush(profile=prof)
    ids = t.ids('queue', qdir)
    env = t.envelope('queue', ids[0], qdir) if ids else ''
    t.ok(len(ids) == 1 and re.search(r'^rcpt r2@example.test\nrcpt-state failed$', env, re.M),
         '%s: after the 1st flush r2 is marked refused, the entry waits' % tag, (f1, env))
    q = t.mailq(profile=prof)
    b = mailq_blocks(q.out)
    why = dict(b[0]['rcpts']) if b else {}
    t.ok((why.get('r2@example.test') or '').startswith('refused for good: ')
         and not (why.get('r1@example.test') or '').startswith('refused'),
         '%s: mailq says r2 is refused for good, r1 is not' % tag, q.out)
    f2 = t.flush(profile=prof)
    recs = [m for m in s.messages if m['message_id'] == '<%s@example.test>' % tag]
    t.ok(len(recs) == 1 and sorted(recs[0]['rcpts']) == ['r1@example.test', 'r3@example.test'],
         '%s: the 2nd flush delivers once to r1 and r3 only' % tag, (f2, recs))
    st = t.state(qdir)
    t.ok(st['queue'] == 0, '%s: nothing waits any more' % tag, st)
    # queue.h: an entry whose pending recipients are gone and some refused moves to
    # failed/ (queue_entry_retry); a delivery to the others removes it and its record.
    t.ok(st['failed'] == 1, '%s: the refusal of r2 stays on record in failed/' % tag,
           (st, f2))
    rows.append([tag, r.rc, 'yes', '%d,%d' % (f1.rc, f2.rc), len(recs),
                 'failed=%d' % st['failed']])


def main():
    t = Test('replies')
    rows = []
    for mode in ('DATA', 'BDAT'):
        for at in ('mail', 'rcpt', 'data', 'dot'):
            if mode == 'BDAT' and at == 'data':
                continue
            temp_then_ok(t, rows, mode, at)
    refused_connection(t, rows)
    for mode in ('DATA', 'BDAT'):
        not_queued(t, rows, '%s-550-one-of-three' % mode, 67, RCPT3, '<r2@example.test>',
                   chunking=mode == 'BDAT', reject=['r2@example.test'])
        rcpt_452(t, rows, mode)
    not_queued(t, rows, '550-sole-rcpt', 67, ['rcpt@example.test'], '<rcpt@example.test>',
               reject=['rcpt@example.test'])
    not_queued(t, rows, '554-at-dot', 69, ['rcpt@example.test'], '554',
               refuse=1, refuse_at='dot', refuse_reply='554 5.6.0 content rejected')
    queue_off(t, rows)
    in_flush(t, rows)
    t.note('FIGURES server replies with the queue on:')
    t.note(table(rows, ['case', 'run exit', 'queued', 'flush exit', 'delivered', 'left']))
    t.finish()


main()
