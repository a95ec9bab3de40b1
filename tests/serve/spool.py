#!/usr/bin/env python3
# spool.py POSTIE: where postie -bs keeps a message between the caller's dot and the
# delivery: an anonymous file (O_TMPFILE in $TMPDIR, else memfd_create).
#   clean     TMPDIR an empty directory: the message is delivered and nothing is left in it
#   missing   TMPDIR a directory that does not exist: still delivered (memory instead)
#   full      TMPDIR a 64 KiB tmpfs (root only, else skipped): a 300 KB message gets
#             452 4.3.1 (RFC 3463: mail system full), nothing is sent, and the next message
#             of the same session, a small one, goes

import os
import subprocess

from bslib import Bs, Test, by_msgid, greet, message, stuff


def send(t, env, mids, body='Hello.\r\n'):
    bs = Bs(t, env=env)
    greet(bs)
    ends = []
    for mid, b in mids:
        bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
        bs.replies(3)
        bs.send(stuff(message(mid, body=b)))
        ends.append(bs.reply())
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    return ends, q, rc, err


def clean(t, s):
    d = os.path.join(t.tmp, 'spool-clean')
    os.makedirs(d)
    env = dict(t.env, TMPDIR=d)
    ends, q, rc, err = send(t, env, [('spool-clean', 'x' * 100 + '\r\n')])
    t.ok(ends[0][0] == 250 and rc == 0 and len(by_msgid(s, 'spool-clean')) == 1,
         'clean: delivered', (ends, err))
    t.ok(os.listdir(d) == [], 'clean: nothing left in TMPDIR', os.listdir(d))


def missing(t, s):
    env = dict(t.env, TMPDIR=os.path.join(t.tmp, 'no-such-dir'))
    ends, q, rc, err = send(t, env, [('spool-missing', 'Hello.\r\n')])
    t.ok(ends[0][0] == 250 and rc == 0 and len(by_msgid(s, 'spool-missing')) == 1,
         'missing: TMPDIR missing: delivered all the same', (ends, err))


def full(t, s):
    if os.geteuid() != 0:
        t.note('full: skipped (needs root to mount a tmpfs)')
        return
    mnt = os.path.join(t.tmp, 'spool-full')
    os.makedirs(mnt)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt],
                       capture_output=True)
    if r.returncode != 0:
        t.note('full: skipped (cannot mount a tmpfs: %s)' % r.stderr.decode().strip())
        return
    try:
        env = dict(t.env, TMPDIR=mnt)
        big = ('y' * 76 + '\r\n') * 4000
        ends, q, rc, err = send(t, env, [('spool-big', big), ('spool-small', 'Small.\r\n')])
        t.ok(ends[0][0] == 452 and ends[0][1][0].startswith('4.3.1 ') and rc == 0,
             'full: a 300 KB message on a 64 KiB TMPDIR: 452 4.3.1', (ends, err))
        t.ok(len(by_msgid(s, 'spool-big')) == 0 and 'store the message' in err,
             'full: not sent, and said on stderr', err)
        t.ok(ends[1][0] == 250 and len(by_msgid(s, 'spool-small')) == 1 and q[0] == 221,
             'full: the next message of the session goes', ends)
    finally:
        subprocess.run(['umount', mnt])


def main():
    t = Test('serve-spool')
    s = t.sink()
    t.profile(s.port)
    for f in (clean, missing, full):
        f(t, s)
    t.finish()


if __name__ == '__main__':
    main()
