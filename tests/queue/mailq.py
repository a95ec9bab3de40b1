#!/usr/bin/env python3
# mailq.py POSTIE: `postie -bp` and `mailq` show what waits and why.
#
#   no queue directory yet: "Mail queue is empty", exit 0, nothing created
#   waiting entries in Postfix's layout (a block per entry, 80 columns: id, size, arrival,
#   sender; then the recipients, each after its reason where that changes), each with its
#   reason (a refused connection, a 451 at MAIL, a 452 for one recipient, a multi-line 451
#   made one line), the null sender as <>, a failed entry marked '!' with its reason, -v's
#   details, a copy set aside in corrupt/ counted on the last line
#   the same text when called as `mailq`, and while a flush holds an entry's lock

import os
import re
import subprocess

from qlib import Test, mailq_blocks, wait_for

RCPT3 = ['r1@example.test', 'r2@example.test', 'r3@example.test']


def main():
    t = Test('mailq')
    s = t.sink('sink', listening=False)
    prof = t.profile(s.port)

    # 1. Nothing yet.
    q = t.mailq()
    t.ok(q.rc == 0 and q.out == 'Mail queue is empty\n', 'empty: "Mail queue is empty"', q)
    t.ok(not os.path.exists(t.qdir), 'empty: mailq created no directory')

    # 2. Entries with their reasons.
    reasons = {}
    r = t.send('refused', rcpts=['a@example.test'])
    t.ok(r.rc == 0 and 'queued as' in r.err, 'connection refused: queued', r)
    reasons['refused'] = 'Connection refused'
    s.listen()
    s.configure(refuse=1, refuse_at='mail', refuse_reply='451 4.7.1 greylisted, come back later')
    r = t.send('greylisted', rcpts=['b@example.test'], args=['-f', '<>'])
    t.ok(r.rc == 0 and 'queued as' in r.err, '451 at MAIL, null sender: queued', r)
    reasons['greylisted'] = '451 4.7.1 greylisted, come back later'
    s.configure(refuse=0, rcpt_reply={'r2@example.test': '452 4.2.2 mailbox full'})
    r = t.send('full', rcpts=RCPT3)
    t.ok(r.rc == 0 and 'queued as' in r.err, '452 for one of three: queued', r)
    reasons['full'] = '452 4.2.2 mailbox full'
    s.configure(rcpt_reply={}, refuse=1, refuse_at='dot',
                refuse_reply='451-4.3.0 first line\r\n451 4.3.0 second line')
    r = t.send('multiline', rcpts=['c@example.test'])
    t.ok(r.rc == 0 and 'queued as' in r.err, 'multi-line 451 at the dot: queued', r)
    reasons['multiline'] = '451 4.3.0 first line'  # postie keeps a reply's first line
    s.configure(refuse=1, refuse_at='rcpt', refuse_reply='451 4.3.0 wait')
    r = t.send('doomed', rcpts=['e@example.test'])
    t.ok(r.rc == 0 and 'queued as' in r.err, '451 at RCPT: queued', r)
    ids = dict(zip(['refused', 'greylisted', 'full', 'multiline', 'doomed'], t.ids('queue')))

    # One entry fails for good in a flush (550 to its sole recipient): failed/.
    s.configure(refuse=0, reject=['e@example.test'])
    f = t.run(['-qI' + ids.get('doomed', 'none')])
    t.ok(t.state()['failed'] == 1, 'the 550 moved one entry to failed/', (f, t.state()))
    s.configure(reject=[])

    # A copy set aside: a postie killed while its input was still open.
    s.configure(hold='greeting')
    p = t.spawn(['d@example.test'], stdin=subprocess.PIPE)
    p.stdin.write(open(t.message('partial', 100000), 'rb').read()[:90000])
    p.stdin.flush()
    t.ok(s.wait_reached('greeting', 10), 'partial: postie connected with its input open')
    t.kill9(p)
    p.stdin.close()
    s.configure(hold=None, refuse=-1, refuse_at='rcpt', refuse_reply='451 4.3.0 not now')
    # The refused flush recovers tmp/ (the partial copy goes to corrupt/) and keeps the
    # others waiting; then restore the first reasons by not flushing again.
    st = t.state()
    t.ok(st['tmp'] == 1, 'partial: its copy is in tmp/', st)

    q = t.mailq()
    t.note('mailq before the flush that sets the partial copy aside:\n' + q.out)
    t.ok(q.rc == 0, 'mailq exits 0', q)
    lines = q.out.splitlines()
    t.ok(lines and lines[0].startswith('-Queue ID-'), 'a header line', q.out)
    # 80 columns: the id, size and arrival take 62, the sender the rest (a long one runs
    # past, as in Postfix); reasons are folded, recipients take 40 and their address.
    heads = [x for x in lines if x[:1].isdigit()]
    t.ok(all(len(x) <= 80 for x in lines if not x.startswith('-- ') and x not in heads)
         and all(x.find(' sender@') == 61 or x.endswith(' <>') for x in heads),
         'Postfix layout: 80 columns (but for a long address, and the summary)', q.out)
    try:
        blocks = {b['id']: b for b in mailq_blocks(q.out)}
    except ValueError as err:
        blocks = {}
        t.ok(False, 'Postfix layout: every line in its place', (err, q.out))
    t.ok(len(blocks) == 5 and q.out.count('\n\n') == 5,
         'Postfix layout: one block per entry, each followed by an empty line', q.out)
    for name, qid in ids.items():
        b = blocks.get(qid, {'rcpts': [], 'failed': False, 'lines': []})
        why = ' '.join(r or '' for _, r in b['rcpts'])
        if name == 'doomed':
            t.ok(b['failed'] and b['lines'][0].startswith(qid + '!')
                 and why.startswith('refused for good: ') and '550 5.1.1' in why,
                 'the failed entry: id!, refused for good, the 550', b['lines'])
            continue
        t.ok(reasons[name] in why, '%s: the block gives the reason %r' % (name, reasons[name]),
             b['lines'] or q.out)
    grey = blocks.get(ids.get('greylisted'), {})
    t.ok(grey.get('sender') == '<>' and grey.get('rcpts', [('',)])[0][0] == 'b@example.test',
         'the null sender shows as <>', grey)
    full = blocks.get(ids.get('full'), {})
    t.ok([a for a, _ in full.get('rcpts', [])] ==
         ['r1@example.test', 'r2@example.test', 'r3@example.test'],
         'all recipients are listed, one a line', full)
    t.ok(sum(1 for x in full.get('lines', []) if x.startswith('(')) == 1,
         'a reason shared by the next recipients is given once', full)
    first = full.get('lines', [''])[0]
    t.ok(re.match(r'^\S+ {2,}\d+ [A-Z][a-z]{2} [ \d]\d \d\d:\d\d sender@example\.test$', first)
         and first.index(' sender@') == 61,
         'the first line: id, size, arrival, sender in their columns', first)
    t.ok(re.search(r'^-- \d+ Kbytes in 5 Requests, 1 failed \(kept in .*/failed\)\.$', q.out,
                   re.M), 'the summary counts 5 requests, 1 failed', q.out)
    t.ok('multi' not in q.out and '\r' not in q.out, 'a multi-line reply is one line', q.out)

    # -v: the details of each entry too.
    v = t.run(['-bp', '-v'])
    t.ok(v.rc == 0 and 'attempts 1 (last ' in v.out and '  account default of ' in v.out
         and 'notice to the sender: sent' in v.out,
         '-bp -v: attempts, account, the notice of the failed entry', v.out)

    # The flush that sets the partial copy aside; mailq counts it.
    f = t.flush()
    t.ok('never completed' in f.err, 'the flush reports the partial copy', f)
    q = t.mailq()
    t.ok(re.search(r'^-- 1 copy set aside in .*/corrupt, never sent\.$', q.out, re.M),
         'mailq counts the copy set aside', q.out)
    t.ok('451 4.3.0 not now' in q.out, 'mailq shows the newest reason after a flush', q.out)
    t.ok(not any('partial' in x for x in q.out.splitlines() if x.startswith('2')),
         'the partial copy is not listed as waiting')

    # 3. Called as mailq.
    link = os.path.join(t.tmp, 'mailq')
    os.symlink(t.postie, link)
    r = subprocess.run([link, '-C', prof], capture_output=True, env=t.env, timeout=20)
    t.ok(r.returncode == 0 and r.stdout.decode() == q.out,
         'as `mailq`: the same text', r.stdout.decode() + r.stderr.decode())

    # 4. No lock taken: mailq answers while a flush holds an entry.
    s.configure(refuse=0, hold='dot')
    p = t.spawn(['-q'])
    t.ok(s.wait_reached('dot', 10), 'a flush is mid-transaction', t.child_stderr(p))
    q2 = t.mailq(timeout=5)
    t.ok(q2.rc == 0 and q2.secs < 2 and ids.get('refused', '?') in q2.out,
         'mailq answers while the flush holds a lock', q2)
    t.kill9(p)
    t.finish()


main()
