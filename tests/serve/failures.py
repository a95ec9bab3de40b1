#!/usr/bin/env python3
# failures.py POSTIE: the reply to the end of the data is the delivery's verdict, and 250
# only when the message is safe (delivered, or durably queued: SEC-36).
#   queued        the server answers 451 to the dot, queue on: 250 (it is queued), "queued as"
#                 on stderr, nothing at the sink; `postie -q` then delivers it once
#   temp-off      the same with `queue off`: 451 quoting the server, the error on stderr,
#                 nothing at the sink; the next message of the same session goes (250)
#   refused-conn  the server is down: 250 with the queue on, 451 with `queue off`
#   perm-dot      554 to the dot: 554 quoting it, nothing queued
#   unsure-off    221 to the dot, `queue off`: no verdict (SEC-36, ERR_UNSURE): 451 4.5.0
#                 saying so, never 250 (issue 10, bug 3); the session goes on
#   unsure-on     221 to the dot, queue on: the message is kept in the queue, so 250 (the
#                 caller must not send it again); two flushes against the same server keep
#                 it, the third attempt's out-of-step verdict moves it to failed/ (SEC-36)
#   perm-rcpt     550 5.1.1 to the recipient at the server: 550 5.1.1, nothing queued
#   utf8          a UTF-8 local part the server cannot take (no SMTPUTF8): 554, not queued
#   long-reason   a 1000-character 451 from the server: one reply line of at most 400
#                 characters of text, CRLF-terminated
#   no-account    -a names no account: 451 4.3.5 naming it (the message is fine)
#   no-profile    -C names a missing file: the greeting is 421 4.3.5 with the reason, exit 78

import os
import re

from bslib import Bs, Test, by_msgid, greet, message, stuff


def one(t, mid, args=(), profile=None, rcpt='rcpt@example.test'):
    """A session with one message: (reply to the dot, QUIT reply, exit status, stderr)."""
    bs = Bs(t, args=args, profile=profile)
    greet(bs)
    r = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('RCPT TO:<%s>' % rcpt),
         bs.cmd('DATA')]
    if [x[0] for x in r] != [250, 250, 354]:
        return (None, r), None, None, bs.finish()[1]
    bs.send(stuff(message(mid)))
    end = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    return end, q, rc, err


def setup(t, tag, extra='', **kw):
    s = t.sink('sink-' + tag, **kw)
    qdir = os.path.join(t.tmp, 'q-' + tag)
    prof = t.profile(s.port, extra=extra, qdir=qdir, path=os.path.join(t.tmp, 'profile-' + tag))
    return s, qdir, prof


def queued(t):
    s, qdir, prof = setup(t, 'queued', refuse=1, refuse_at='dot')
    end, q, rc, err = one(t, 'queued', profile=prof)
    t.ok(end[0] == 250 and q[0] == 221 and rc == 0, 'queued: 451 at the server, queue on: 250',
         (end, q, rc, err))
    t.ok('queued as' in err and '451' in err, 'queued: stderr says queued as ID and why', err)
    t.ok(len(by_msgid(s, 'queued')) == 0 and len(t.ids('queue', qdir)) == 1,
         'queued: nothing at the sink, one entry in the queue', t.state(qdir))
    f = t.flush(profile=prof)
    t.ok(f.rc == 0 and len(by_msgid(s, 'queued')) == 1 and not t.ids('queue', qdir),
         'queued: postie -q delivers it once', f)


def temp_off(t):
    s, qdir, prof = setup(t, 'temp-off', extra='queue off\n', refuse=1, refuse_at='dot')
    bs = Bs(t, profile=prof)
    greet(bs)
    for c in ('MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA'):
        bs.cmd(c)
    bs.send(stuff(message('temp-off-1')))
    end = bs.reply()
    t.ok(end[0] == 451 and end[1][0].startswith('4.') and '451 4.3.0 sink: try again later'
         in end[1][0], 'temp-off: 451 4.x.x quoting the server\'s 451', end)
    r = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('RCPT TO:<rcpt@example.test>'),
         bs.cmd('DATA')]
    bs.send(stuff(message('temp-off-2')))
    end2 = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok([x[0] for x in r] == [250, 250, 354] and end2[0] == 250 and q[0] == 221 and rc == 0,
         'temp-off: the next message of the session goes; exit 0', (r, end2, q, rc))
    t.ok(re.search(r'^postie: .*451 4\.3\.0 sink: try again later', err, re.M) is not None,
         'temp-off: the error is on stderr too', err)
    t.ok(len(by_msgid(s, 'temp-off-1')) == 0 and len(by_msgid(s, 'temp-off-2')) == 1
         and not t.ids('queue', qdir),
         'temp-off: only the second at the sink, nothing queued', s.messages)


def refused_conn(t):
    s, qdir, prof = setup(t, 'down', listening=False)
    end, q, rc, err = one(t, 'down-q', profile=prof)
    t.ok(end[0] == 250 and rc == 0 and 'queued as' in err and len(t.ids('queue', qdir)) == 1,
         'refused-conn: server down, queue on: 250, queued', (end, err))
    s2, qdir2, prof2 = setup(t, 'down-off', extra='queue off\n', listening=False)
    end, q, rc, err = one(t, 'down-off', profile=prof2)
    t.ok(end[0] == 451 and 'connect' in end[1][0].lower() and rc == 0 and not t.ids('queue', qdir2),
         'refused-conn: server down, queue off: 451 saying connect', (end, err))


def perm_dot(t):
    s, qdir, prof = setup(t, 'perm-dot', refuse=-1, refuse_at='dot',
                          refuse_reply='554 5.7.1 sink: rejected for good')
    end, q, rc, err = one(t, 'perm-dot', profile=prof)
    t.ok(end[0] == 554 and end[1][0].startswith('5.') and 'rejected for good' in end[1][0]
         and rc == 0, 'perm-dot: 554 to the dot: 554 5.x.x quoting it', (end, rc))
    t.ok('rejected for good' in err and not t.ids('queue', qdir) and not s.messages,
         'perm-dot: on stderr, not queued, not delivered', (err, t.state(qdir)))


def unsure_off(t):
    s, qdir, prof = setup(t, 'unsure-off', extra='queue off\n', refuse=1, refuse_at='dot',
                          refuse_reply='221 2.0.0 sink: closing')
    end, q, rc, err = one(t, 'unsure-off', profile=prof)
    t.ok(end is not None and end[0] == 451 and end[1][0].startswith('4.5.0 ')
         and 'not 250' in end[1][0] and 'may keep a copy' in end[1][0],
         'unsure-off: 221 to the dot, queue off: 451 4.5.0 saying it was no verdict', (end, err))
    t.ok(q is not None and q[0] == 221 and rc == 0 and 'not 250' in err
         and not t.ids('queue', qdir),
         'unsure-off: the error on stderr, nothing queued, exit 0 at QUIT', (q, rc, err))


def unsure_on(t):
    s, qdir, prof = setup(t, 'unsure-on', refuse=-1, refuse_at='dot',
                          refuse_reply='221 2.0.0 sink: closing')
    end, q, rc, err = one(t, 'unsure-on', profile=prof)
    ids = t.ids('queue', qdir)
    t.ok(end is not None and end[0] == 250 and len(ids) == 1,
         'unsure-on: 221 to the dot, queue on: kept in the queue, so 250', (end, err, ids))
    for n in (1, 2):
        t.make_due(qdir)
        f = t.flush(profile=prof)
        left = t.ids('queue', qdir)
        failed = t.ids('failed', qdir)
        if n == 1:
            t.ok(left == ids and not failed,
                 'unsure-on: a flush against the same server keeps the entry', (f, left))
        else:
            t.ok(not left and failed == ids and 'no verdict in step' in
                 open(os.path.join(qdir, 'failed', ids[0], 'envelope')).read(),
                 'unsure-on: the third out-of-step verdict moves it to failed/, saying why',
                 (f, left, failed))


def perm_rcpt(t):
    s, qdir, prof = setup(t, 'perm-rcpt', reject=['gone@example.test'])
    end, q, rc, err = one(t, 'perm-rcpt', profile=prof, rcpt='gone@example.test')
    t.ok(end[0] == 550 and end[1][0].startswith('5.1.1 ') and 'gone@example.test' in end[1][0],
         'perm-rcpt: the server refused the recipient: 550 5.1.1 naming it', end)
    t.ok(rc == 0 and not t.ids('queue', qdir) and not s.messages,
         'perm-rcpt: not queued, not delivered', (rc, err))


def utf8(t):
    s, qdir, prof = setup(t, 'utf8')
    end, q, rc, err = one(t, 'utf8', profile=prof, rcpt='δοκιμή@example.test')
    t.ok(end[0] == 554 and 'SMTPUTF8' in end[1][0] and not t.ids('queue', qdir)
         and not s.messages, 'utf8: a UTF-8 local part the server cannot take: 554, not queued',
         (end, err))


def long_reason(t):
    s, qdir, prof = setup(t, 'long', extra='queue off\n', refuse=1, refuse_at='dot',
                          refuse_reply='451 4.3.0 ' + 'y' * 1000)
    bs = Bs(t, profile=prof)
    greet(bs)
    for c in ('MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA'):
        bs.cmd(c)
    bs.send(stuff(message('long')))
    raw = bs.line()
    bs.cmd('QUIT')
    bs.finish()
    t.ok(raw.startswith(b'451 4.') and raw.endswith(b'\r\n') and raw.count(b'\n') == 1
         and len(raw) - 2 <= 4 + 6 + 400, 'long-reason: one line, at most 400 characters of '
         'text (%d octets)' % len(raw), raw)


def no_account(t):
    s, qdir, prof = setup(t, 'no-account')
    end, q, rc, err = one(t, 'no-account', args=['-a', 'nosuch'], profile=prof)
    t.ok(end[0] == 451 and end[1][0].startswith('4.3.5 ') and 'nosuch' in end[1][0] and rc == 0
         and not s.messages, 'no-account: -a nosuch: 451 4.3.5 naming it', (end, err))


def no_profile(t):
    bs = Bs(t, profile=os.path.join(t.tmp, 'does-not-exist'))
    g = bs.reply()
    rest = bs.rest()
    rc, err = bs.finish()
    t.ok(g[0] == 421 and g[1][0].startswith('4.3.5 ') and 'does-not-exist' in g[1][0]
         and rest == b'', 'no-profile: greeting 421 4.3.5 with the reason, nothing more', (g, rest))
    t.ok(rc == 78 and 'does-not-exist' in err, 'no-profile: exit 78, the reason on stderr',
         (rc, err))


def main():
    t = Test('serve-failures')
    for f in (queued, temp_off, refused_conn, perm_dot, unsure_off, unsure_on, perm_rcpt, utf8,
              long_reason, no_account, no_profile):
        f(t)
    t.finish()


if __name__ == '__main__':
    main()
