#!/usr/bin/env python3
# notices.py POSTIE: when postie gives up on a queued message, the sender hears of it: a
# delivery status notification (RFC 3464, multipart/report) through the same account, with
# the null reverse-path; never for the null sender; never a loop. And the one line that says
# how many entries wait after a run that leaves mail behind.
#
#   550 during a flush: a notice at the sink, MAIL FROM:<>, to the sender, its three parts
#     (text, message/delivery-status with Status 5.1.1 and the 550, the original header);
#     the entry records "notice sent"; a second flush sends nothing more
#   expiry: the notice says 4.4.7
#   queue_notify ADDRESS: the notice goes there instead
#   two accounts: each notice over its own account's session of the flush
#   an entry that fails in an ordinary run (after its own message): the notice goes too
#   the null sender: no notice; -N never: no notice
#   the notice refused (550 to its recipient): dropped with a warning, nothing queued, no
#     notice about the notice; a 451 to it: still due, the next flush sends it
#   "N waiting in the queue" after a run that queues and after a flush that leaves some

import email
import email.policy
import os
import re

from qlib import Test

SENDER = 'sender@example.test'


def notices(s, since=0):
    """The messages the sink took with the null sender (the notices), after SINCE."""
    return [m for m in s.messages[since:] if m['mail_from'] == '']


def parse(s, rec):
    with open(os.path.join(s.dir, 'msg-%04d.eml' % rec['seq']), 'rb') as f:
        return email.message_from_bytes(f.read(), policy=email.policy.compat32)


def env_lines(t, sub, qid, qdir=None):
    try:
        return t.envelope(sub, qid, qdir).split('\n')
    except FileNotFoundError:
        return []


def queue_one(t, s, prof, mid, rcpts=('x@example.test',), args=()):
    """Queue one message (a 451 at RCPT), made due at once; its id."""
    s.configure(refuse=1, refuse_at='rcpt', refuse_reply='451 4.3.0 not now')
    r = t.send(mid, rcpts=rcpts, args=args, profile=prof)
    m = re.search(r'queued as (\S+):', r.err)
    t.ok(r.rc == 0 and m, '%s: queued' % mid, r)
    s.configure(refuse=0)
    return m.group(1) if m else '?'


def refused(t):
    s = t.sink('sink')
    prof = t.profile(s.port)
    qid = queue_one(t, s, prof, 'doomed')
    s.configure(reject=['x@example.test'])
    f = t.flush()
    n = notices(s)
    t.ok(f.rc == 0 and len(n) == 1, '550: one notice at the sink', (f, s.messages))
    if not n:
        return
    t.ok(n[0]['rcpts'] == [SENDER], '550: the notice goes to the envelope sender', n[0])
    t.ok(any(c.upper().startswith('MAIL FROM:<>') for c in s.commands),
         '550: sent with MAIL FROM:<>', s.commands)
    t.ok(s.sessions[-1].count('MAIL') == 2 and len(s.sessions) == 2,
         '550: over the session of the flush, after the entry', s.sessions)
    msg = parse(s, n[0])
    t.ok(msg.get_content_type() == 'multipart/report'
         and msg.get_param('report-type') == 'delivery-status',
         '550: multipart/report; report-type=delivery-status', msg['Content-Type'])
    t.ok(msg['Auto-Submitted'] == 'auto-replied' and msg['To'] == '<%s>' % SENDER,
         '550: Auto-Submitted: auto-replied, To the sender', str(msg)[:600])
    parts = msg.get_payload() if msg.is_multipart() else []
    types = [p.get_content_type() for p in parts]
    t.ok(types == ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
         '550: the three parts of RFC 3464', types)
    if len(parts) == 3:
        ds = parts[1].get_payload()
        ds = '\n'.join(str(x) for x in ds) if isinstance(ds, list) else ds
        t.ok(re.search(r'^Reporting-MTA: dns;\S+', ds, re.M)
             and re.search(r'^Arrival-Date: ', ds, re.M),
             '550: Reporting-MTA and Arrival-Date', ds)
        t.ok('Final-Recipient: rfc822;x@example.test' in ds and 'Action: failed' in ds
             and 'Status: 5.1.1' in ds
             and re.search(r'^Diagnostic-Code: smtp; 550 5\.1\.1 <x@example\.test>', ds, re.M),
             '550: Final-Recipient, Action: failed, Status 5.1.1, the 550', ds)
        orig = parts[2].get_payload()
        t.ok('Message-ID: <doomed@example.test>' in orig and 'Subject: queue test doomed'
             in orig and 'line 000000' not in orig,
             '550: the original header, not its body', orig)
        t.ok(qid in parts[0].get_payload(), '550: the text names the queue entry',
             parts[0].get_payload())
    t.ok('notice sent' in env_lines(t, 'failed', qid), '550: the entry says "notice sent"',
         env_lines(t, 'failed', qid))
    m0 = len(s.messages)
    f = t.flush()
    t.ok(len(s.messages) == m0, 'a second flush sends no second notice', (f, s.messages[m0:]))


def expired(t):
    s = t.sink('sink-exp')
    qdir = t.tmp + '/q-exp'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-exp')
    qid = queue_one(t, s, prof, 'old', rcpts=['y@example.test'])
    # Arrived long ago (the format is in src/queue.h).
    path = os.path.join(qdir, 'queue', qid, 'envelope')
    with open(path, encoding='utf-8') as f:
        text = re.sub(r'^queued \d+$', 'queued 1000', f.read(), flags=re.M)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    f = t.flush(profile=prof)
    n = notices(s)
    t.ok(len(n) == 1 and n[0]['rcpts'] == [SENDER], 'expired: a notice to the sender', (f, n))
    body = open(os.path.join(s.dir, 'msg-%04d.eml' % n[0]['seq']), 'rb').read().decode() \
        if n else ''
    t.ok('Status: 4.4.7' in body and 'Final-Recipient: rfc822;y@example.test' in body
         and 'Diagnostic-Code: smtp; 451 4.3.0 not now' in body,
         'expired: Status 4.4.7, the last reply', body[-1500:])
    t.ok('some expired into failed/' in f.err, 'expired: the flush says so', f)


def notify_elsewhere(t):
    s = t.sink('sink-notify')
    qdir = t.tmp + '/q-notify'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-notify',
                     extra='queue_notify postmaster@example.test\n')
    queue_one(t, s, prof, 'elsewhere')
    s.configure(reject=['x@example.test'])
    t.flush(profile=prof)
    n = notices(s)
    t.ok(len(n) == 1 and n[0]['rcpts'] == ['postmaster@example.test'],
         'queue_notify: the notice goes to its address', n)
    r = t.run(['--queue-notify=evil@example.test', 'a@example.test'], profile=prof)
    t.ok(r.rc == 64, 'queue_notify is not taken from the command line', r)


def no_notice(t):
    s = t.sink('sink-null')
    qdir = t.tmp + '/q-null'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-null')
    q1 = queue_one(t, s, prof, 'nullsender', args=['-f', '<>'])
    q2 = queue_one(t, s, prof, 'never', args=['-N', 'never'])
    s.configure(reject=['x@example.test'])
    f = t.flush(profile=prof)
    t.ok(len(t.ids('failed', qdir)) == 2 and notices(s) == [],
         'the null sender and -N never: both failed, no notice', (f, s.messages))
    t.ok(not any(x.startswith('notice') for x in env_lines(t, 'failed', q1, qdir)),
         'the null sender: no notice is ever due', env_lines(t, 'failed', q1, qdir))
    t.ok(not any(x.startswith('notice') for x in env_lines(t, 'failed', q2, qdir)),
         '-N never: no notice is due', env_lines(t, 'failed', q2, qdir))


def notice_refused(t):
    s = t.sink('sink-loop')
    qdir = t.tmp + '/q-loop'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-loop')
    qid = queue_one(t, s, prof, 'loop')
    # The notice's own recipient (the sender) gets a 451 first: it stays due.
    s.configure(reject=['x@example.test'], rcpt_reply={SENDER: '451 4.3.0 busy'})
    f = t.flush(profile=prof)
    t.ok(notices(s) == [] and 'notice due' in env_lines(t, 'failed', qid, qdir)
         and 'next flush tries again' in f.err,
         'a 451 to the notice: still due for the next flush', (f, env_lines(t, 'failed', qid, qdir)))
    # Then a 550: dropped, with a warning; nothing queued, no notice about the notice.
    s.configure(rcpt_reply={SENDER: '550 5.1.1 no such sender'})
    f = t.flush(profile=prof)
    st = t.state(qdir)
    t.ok('notice dropped' in env_lines(t, 'failed', qid, qdir) and 'dropped' in f.err
         and f.rc == 0, 'a 550 to the notice: dropped with a warning', (f, st))
    t.ok(st['queue'] == 0 and st['tmp'] == 0 and st['failed'] == 1 and notices(s) == [],
         'a refused notice is never queued, and makes no notice of its own', (st, s.messages))
    s.configure(rcpt_reply={})
    f = t.flush(profile=prof)
    t.ok(notices(s) == [], 'no later flush tries it again', (f, s.messages))


def two_accounts(t):
    """Entries of two accounts fail in one flush: each account's notice goes over that
    account's own session, before the flush moves on to the next account."""
    sa, sb = t.sink('sink-a'), t.sink('sink-b')
    qdir = t.tmp + '/q-two'
    prof = t.profile(sa.port, qdir=qdir, path=t.tmp + '/profile-two',
                     extra='account two\nhost 127.0.0.1\nport %d\ntls off\n'
                           'from sender@example.test\nqueue_dir %s\n' % (sb.port, qdir))
    for s, acct in ((sa, 'default'), (sb, 'two')):
        queue_one(t, s, prof, 'two-' + acct, args=['-a', acct])
        s.configure(reject=['x@example.test'])
    f = t.flush(profile=prof)
    t.ok(len(notices(sa)) == 1 and len(notices(sb)) == 1,
         'two accounts: a notice through each', (f, sa.messages, sb.messages))
    t.ok([x.count('MAIL') for x in sa.sessions] == [1, 2]
         and [x.count('MAIL') for x in sb.sessions] == [1, 2],
         'two accounts: each notice over its account\'s session of the flush',
         (sa.sessions, sb.sessions))


def during_run(t):
    """An entry that fails for good while an ordinary run sends it after its own message:
    the notice goes over that run's session too."""
    s = t.sink('sink-run')
    qdir = t.tmp + '/q-run'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-run')
    queue_one(t, s, prof, 'piggy')
    t.make_due(qdir)
    s.configure(reject=['x@example.test'])
    n0 = len(s.sessions)
    r = t.send('own', rcpts=['other@example.test'], profile=prof)
    n = notices(s)
    t.ok(r.rc == 0 and len(n) == 1 and n[0]['rcpts'] == [SENDER],
         'a run: the entry it sent after its own message failed, and its notice went',
         (r, s.messages))
    t.ok(len(s.sessions) == n0 + 1 and s.sessions[-1].count('MAIL') == 3,
         'a run: its own message, the entry, the notice: one session', s.sessions[n0:])


def waiting_line(t):
    s = t.sink('sink-wait', listening=False)
    qdir = t.tmp + '/q-wait'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-wait')
    r1 = t.send('w1', profile=prof)
    r2 = t.send('w2', profile=prof)
    t.ok(r1.rc == 0 and r1.err.count('\n') == 2
         and r1.err.endswith('postie: 1 waiting in the queue (see mailq)\n'),
         'a run that queues: one line says how many wait', r1)
    t.ok(r2.err.endswith('postie: 2 waiting in the queue (see mailq)\n'),
         'the next one counts both', r2)
    f = t.flush(profile=prof)
    t.ok(re.search(r'^postie: flush queue: 0 delivered, 2 not yet; 2 waiting in the queue '
                   r'\(see mailq\)$', f.err, re.M), 'a flush that leaves some: the count', f)
    s.listen()
    f = t.flush(profile=prof)
    t.ok(f.rc == 0 and f.err == '', 'a flush that leaves nothing: quiet', f)


def main():
    t = Test('notices')
    refused(t)
    expired(t)
    notify_elsewhere(t)
    no_notice(t)
    two_accounts(t)
    during_run(t)
    notice_refused(t)
    waiting_line(t)
    t.finish()


main()
