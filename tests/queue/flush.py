#!/usr/bin/env python3
# flush.py POSTIE: how queued messages leave.
#   piggyback    an ordinary run sends its own message, then the due entries of its account
#                over the same session (no RSET, one QUIT); entries not yet due stay
#   accounts     `postie -q` opens one session per account (two accounts, two servers)
#   select       -qR and -qI flush only the entries they name
#   expiry       an entry older than queue_lifetime moves to failed/, is reported, not sent
#   no-steal     a flush beside a running postie leaves that postie's copy alone (its lock)
#   version      an entry of another format version is left alone
#   identical    a message that went through the queue arrives byte for byte as one sent
#                directly (dots with and without -i, CRLF, no final newline, bare CR, big)
#   bcc          -t with Bcc: the queued copy holds no Bcc line; the flush still sends to it

import os
import re

from qlib import Test, wait_for


def queue_some(t, s, prof, mids, rcpt='rcpt@example.test'):
    s.configure(refuse=-1, refuse_at='rcpt')
    for m in mids:
        r = t.send(m, rcpts=[rcpt], profile=prof)
        t.ok(r.rc == 0 and 'queued as' in r.err, 'queued %s' % m, r)
    s.configure(refuse=0)


def sent(s, mid):
    return s.count_by_msgid().get('<%s@example.test>' % mid, 0)


def piggyback(t):
    s = t.sink('sink-pig')
    qdir = t.tmp + '/q-pig'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-pig')
    queue_some(t, s, prof, ['pig-old1', 'pig-old2'])
    t.make_due(qdir)
    queue_some(t, s, prof, ['pig-notdue'])
    n0 = len(s.sessions)
    r = t.send('pig-own', profile=prof)
    t.ok(r.rc == 0 and 'queued as' not in r.err, 'piggyback: the run exits 0', r)
    sess = s.sessions[n0:]
    got = [sent(s, m) for m in ('pig-own', 'pig-old1', 'pig-old2', 'pig-notdue')]
    t.ok(got == [1, 1, 1, 0], 'piggyback: own + 2 due entries sent once, the other waits', got)
    t.ok(len(sess) == 1 and sess[0].count('MAIL') == 3 and 'RSET' not in sess[0]
         and sess[0].count('QUIT') == 1, 'piggyback: one session, 3 MAILs, no RSET, one QUIT',
         sess)
    order = [m['message_id'] for m in s.messages[-3:]]
    t.ok(order[0] == '<pig-own@example.test>', 'piggyback: its own message goes first', order)
    t.ok(t.state(qdir)['queue'] == 1, 'piggyback: only the entry not due is left',
         t.state(qdir))


def after_refusal(t):
    """An entry refused part-way (a recipient 550) leaves its transaction open on the
    server; the next entry of the same flush starts afresh with RSET on the same session."""
    s = t.sink('sink-rset')
    qdir = t.tmp + '/q-rset'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-rset')
    queue_some(t, s, prof, ['rset-bad'], rcpt='gone@example.test')
    queue_some(t, s, prof, ['rset-good'])
    s.configure(reject=['gone@example.test'])
    n0 = len(s.sessions)
    f = t.flush(profile=prof)
    sess = s.sessions[n0:]
    t.ok(sent(s, 'rset-good') == 1 and sent(s, 'rset-bad') == 0,
         'after a refusal: the next entry is delivered on the same flush', (f, sess))
    # The third MAIL is the notice of the failure to the sender, over the same session.
    t.ok(len(sess) == 1 and sess[0].count('RSET') == 1 and sess[0].count('MAIL') == 3,
         'after a refusal: one session, RSET between the two transactions, then the notice',
         sess)
    t.ok(t.state(qdir)['failed'] == 1 and t.state(qdir)['queue'] == 0,
         'after a refusal: the refused entry is in failed/, nothing waits', t.state(qdir))


def accounts(t):
    s1 = t.sink('sink-acc1')
    s2 = t.sink('sink-acc2')
    qdir = t.tmp + '/q-acc'
    # In the user's config folder (qlib's profiles are too): a profile -C names elsewhere
    # may not set queue_dir (SEC-43).
    path = os.path.join(t.home, '.config', 'postie', 'profile-acc')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('defaults\ntls off\nqueue_dir %s\n'
                'account one\nhost 127.0.0.1\nport %d\nfrom one@example.test\n'
                'account two\nhost 127.0.0.1\nport %d\nfrom two@example.test\n'
                'account default : one\n' % (qdir, s1.port, s2.port))
    os.chmod(path, 0o600)
    for s, acc in ((s1, 'one'), (s2, 'two')):
        s.configure(refuse=-1, refuse_at='rcpt')
        for i in range(2):
            r = t.send('acc-%s-%d' % (acc, i), args=['-a', acc], profile=path)
            t.ok(r.rc == 0 and 'queued as' in r.err, 'accounts: queued for %s' % acc, r)
        s.configure(refuse=0)
    n1, n2 = len(s1.sessions), len(s2.sessions)
    f = t.flush(profile=path)
    t.ok(f.rc == 0, 'accounts: the flush exits 0', f)
    for s, acc, n0 in ((s1, 'one', n1), (s2, 'two', n2)):
        sess = s.sessions[n0:]
        t.ok(len(sess) == 1 and sess[0].count('MAIL') == 2,
             'accounts: one session with 2 transactions on the server of %s' % acc, sess)
        t.ok([sent(s, 'acc-%s-%d' % (acc, i)) for i in range(2)] == [1, 1],
             'accounts: both messages of %s delivered once, to its server' % acc)
        t.ok(all(m['mail_from'] == '%s@example.test' % acc for m in s.messages),
             'accounts: sender of %s kept' % acc)
    t.ok(sum(t.state(qdir).values()) == 0, 'accounts: nothing left', t.state(qdir))


def select(t):
    s = t.sink('sink-sel')
    qdir = t.tmp + '/q-sel'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-sel')
    queue_some(t, s, prof, ['sel-a'], rcpt='alice@example.test')
    queue_some(t, s, prof, ['sel-b'], rcpt='bob@example.test')
    queue_some(t, s, prof, ['sel-c'], rcpt='carol@example.test')
    f = t.run(['-qRbob@'], profile=prof)
    t.ok(f.rc == 0 and [sent(s, m) for m in ('sel-a', 'sel-b', 'sel-c')] == [0, 1, 0],
         'select: -qRbob@ sends only the message to bob', f)
    ids = t.ids('queue', qdir)
    carol = [i for i in ids if 'carol' in t.envelope('queue', i, qdir)]
    f = t.run(['-qI' + carol[0][-8:]], profile=prof) if carol else None
    t.ok(f is not None and [sent(s, m) for m in ('sel-a', 'sel-c')] == [0, 1],
         'select: -qI with the end of an id sends only that entry', f)
    t.ok(t.state(qdir)['queue'] == 1, 'select: one entry left', t.state(qdir))


def expiry(t):
    s = t.sink('sink-exp')
    qdir = t.tmp + '/q-exp'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-exp',
                     extra='queue_lifetime 1d\n')
    queue_some(t, s, prof, ['exp-old', 'exp-new'])
    ids = t.ids('queue', qdir)
    old = [i for i in ids if 'exp-old' in open('%s/queue/%s/message' % (qdir, i)).read()]
    p = '%s/queue/%s/envelope' % (qdir, old[0])
    text = open(p, encoding='utf-8').read()
    queued = int(re.search(r'^queued (\d+)$', text, re.M).group(1))
    with open(p + '.x', 'w', encoding='utf-8') as f:
        f.write(re.sub(r'^queued \d+$', 'queued %d' % (queued - 2 * 86400), text, flags=re.M))
    os.rename(p + '.x', p)
    f = t.flush(profile=prof)
    t.ok(sent(s, 'exp-old') == 0 and sent(s, 'exp-new') == 1,
         'expiry: the old entry is not sent, the new one is', f)
    st = t.state(qdir)
    t.ok(st['failed'] == 1 and st['queue'] == 0, 'expiry: the old entry is in failed/', st)
    t.ok('expired' in f.err and old[0] in f.err, 'expiry: the flush reports it', f)
    q = t.mailq(profile=prof)
    t.ok(old[0] + '!' in q.out and 'expired' in q.out, 'expiry: mailq shows it expired', q.out)


def no_steal(t):
    s = t.sink('sink-steal', hold='mail')
    qdir = t.tmp + '/q-steal'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-steal')
    p = t.spawn(['rcpt@example.test'], stdin=t.message('steal', 3000), profile=prof)
    t.ok(s.wait_reached('mail', 10), 'no-steal: a run is mid-transaction', t.child_stderr(p))
    f = t.flush(profile=prof)
    t.ok(f.rc == 0 and sent(s, 'steal') == 0 and t.state(qdir)['tmp'] == 1,
         'no-steal: a flush leaves the running postie\'s copy alone', (f, t.state(qdir)))
    t.kill9(p)
    f = t.flush(profile=prof)
    t.ok(sent(s, 'steal') == 1 and sum(t.state(qdir).values()) == 0,
         'no-steal: once that postie is gone, the next flush sends it once', f)


def version(t):
    s = t.sink('sink-ver')
    qdir = t.tmp + '/q-ver'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-ver')
    queue_some(t, s, prof, ['ver'])
    qid = t.ids('queue', qdir)[0]
    p = '%s/queue/%s/envelope' % (qdir, qid)
    text = open(p, encoding='utf-8').read()
    with open(p, 'w', encoding='utf-8') as f:
        f.write(text.replace('postie-queue 1\n', 'postie-queue 2\n', 1))
    f = t.flush(profile=prof)
    t.ok(sent(s, 'ver') == 0 and t.ids('queue', qdir) == [qid],
         'version: an entry of format 2 is neither sent nor moved', (f, t.state(qdir)))


HEAD = ('From: Sender <sender@example.test>\nTo: rcpt@example.test\n'
        'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <%s@example.test>\n'
        'Subject: identical\n\n')
BODIES = [
    # name, extra args, body bytes
    ('plain', [], b'hello\n.leading dot\n..two dots\nbye\n'),
    ('dot-ends-it', [], b'before\n.\nafter the dot, not sent\n'),
    ('dot-with-i', ['-i'], b'before\n.\nafter the dot, sent with -i\n'),
    ('crlf', [], b'one\r\ntwo\r\n.\r\n'),
    ('no-final-newline', [], b'no newline at the end'),
    ('bare-cr', [], b'a\rb\r\n'),
    ('big', [], b''.join(b'.%06d some text to make the body bigger than the read-ahead\n' % i
                         for i in range(4000))),
]


def identical(t):
    """A message sent through the queue arrives byte for byte as one sent directly."""
    s = t.sink('sink-same')
    qdir = t.tmp + '/q-same'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-same')
    for name, args, body in BODIES:
        got = []
        for way in ('direct', 'queued'):
            mid = 'same-%s-%s' % (name, way)
            path = '%s/in-%s' % (t.tmp, mid)
            with open(path, 'wb') as f:
                f.write((HEAD % ('same-' + name)).encode() + body)
            s.configure(refuse=1 if way == 'queued' else 0, refuse_at='dot')
            r = t.run(args + ['rcpt@example.test'], stdin=path, profile=prof)
            if way == 'queued':
                t.ok(r.rc == 0 and 'queued as' in r.err, 'identical %s: queued' % name, r)
                f = t.flush(profile=prof)
                t.ok(f.rc == 0, 'identical %s: flushed' % name, f)
            else:
                t.ok(r.rc == 0, 'identical %s: sent directly' % name, r)
            got.append(open('%s/msg-%04d.eml' % (s.dir, len(s.messages)), 'rb').read())
        t.ok(got[0] == got[1], 'identical %s: the queued copy arrives byte for byte the same'
             % name, '%r\n%r' % (got[0][-200:], got[1][-200:]))
    t.ok(sum(t.state(qdir).values()) == 0, 'identical: nothing left', t.state(qdir))


def bcc(t):
    """-t with Bcc: the queued copy has no Bcc line, and the Bcc recipient still gets it."""
    s = t.sink('sink-bcc', refuse=1, refuse_at='rcpt')
    qdir = t.tmp + '/q-bcc'
    prof = t.profile(s.port, qdir=qdir, path=t.tmp + '/profile-bcc')
    path = t.tmp + '/in-bcc'
    with open(path, 'w', encoding='utf-8') as f:
        f.write('From: sender@example.test\nTo: to@example.test\nBcc: hidden@example.test\n'
                'Message-ID: <bcc@example.test>\nSubject: bcc\n\nbody\n')
    r = t.run(['-t'], stdin=path, profile=prof)
    t.ok(r.rc == 0 and 'queued as' in r.err, 'bcc: queued', r)
    ids = t.ids('queue', qdir)
    msg = open('%s/queue/%s/message' % (qdir, ids[0]), 'rb').read() if ids else b''
    t.ok(ids and b'hidden' not in msg, 'bcc: the queued message has no Bcc line', msg)
    t.flush(profile=prof)
    m = s.messages[-1] if s.messages else {}
    t.ok(sorted(m.get('rcpts', [])) == ['hidden@example.test', 'to@example.test'],
         'bcc: the flush sends to both recipients', m)


def main():
    t = Test('flush')
    piggyback(t)
    after_refusal(t)
    accounts(t)
    select(t)
    expiry(t)
    no_steal(t)
    version(t)
    identical(t)
    bcc(t)
    t.finish()


main()
