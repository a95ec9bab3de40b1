#!/usr/bin/env python3
# fulldisk.py POSTIE: the queue on a full disk (a 64 KiB tmpfs as queue_dir; needs root).
#
# Whenever postie needs the queue and the disk is full, it must exit 74 or 75 with a message
# that says the queue is full, never 0, and leave no half-written entry behind:
#   big        a 200 KB message, the server stopped: the copy outgrows the disk
#   full       the disk already full, a small message, the server stopped
#   one-page   room for the message but not for its envelope
#   451-dot    the disk full, the server answers 451 at the end of the data (DATA and BDAT)
#   451-mail   a 200 KB message that is still being read when MAIL is refused
# When the server takes the message the queue is not needed: exit 0 and delivered once (or,
# if postie refuses to start without its copy, 74/75 with "queue full" and nothing sent:
# that is what happens when no inode is left for the copy's directory, no-inode-server-up).
# A flush on a full disk keeps its entries as they were; once there is room again the
# queue works and the flush delivers each message once.

import os
import subprocess
import sys

from qlib import Test, table

SIZE = '64k'


def fill(path, leave_page=False):
    """Fill the file system at PATH; with LEAVE_PAGE free exactly one 4 KiB page again."""
    fd = os.open(os.path.join(path, 'filler'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while os.write(fd, b'x' * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave_page:
        os.truncate(os.path.join(path, 'filler'), max(0, os.path.getsize(
            os.path.join(path, 'filler')) - 4096))


def unfill(path):
    try:
        os.unlink(os.path.join(path, 'filler'))
    except FileNotFoundError:
        pass


def main():
    t = Test('fulldisk', root=True)
    mnt = os.path.join(t.tmp, 'qfs')
    os.makedirs(mnt)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0700' % SIZE, 'tmpfs', mnt],
                       capture_output=True)
    if r.returncode != 0:
        print('1..0 # SKIP cannot mount a tmpfs: %s' % r.stderr.decode().strip())
        sys.exit(77)
    rows = []
    try:
        run(t, mnt, rows)
    finally:
        for p in t.children:
            if p.poll() is None:
                t.kill9(p)
        subprocess.run(['umount', mnt])
    t.note('FIGURES queue on a %s tmpfs:' % SIZE)
    t.note(table(rows, ['case', 'exit', 'says queue full', 'delivered', 'left in queue']))
    t.finish()


def check_full(t, rows, tag, r, s, mid, qdir):
    t.ok(r.rc in (74, 75), '%s: exit 74 or 75, never 0' % tag, r)
    t.ok('queue full' in r.err, '%s: the message says the queue is full' % tag, r)
    t.ok('queued as' not in r.err, '%s: does not claim it was queued' % tag, r)
    n = s.count_by_msgid().get('<%s@example.test>' % mid, 0)
    t.ok(n == 0, '%s: nothing delivered' % tag, n)
    st = t.state(qdir)
    t.ok(st['tmp'] == 0 and st['queue'] == 0, '%s: no half-written entry left' % tag, st)
    rows.append([tag, r.rc, 'yes' if 'queue full' in r.err else 'NO', n,
                 st['tmp'] + st['queue']])


def run(t, mnt, rows):
    qdir = mnt  # the tmpfs root is the queue directory (mode 0700, ours)
    down = t.sink('sink-down', listening=False)
    prof_down = t.profile(down.port, qdir=qdir, path=os.path.join(t.tmp, 'profile-down'))

    tag = 'big'
    r = t.send(tag, size=200000, profile=prof_down)
    check_full(t, rows, tag, r, down, tag, qdir)

    fill(mnt)
    tag = 'full'
    r = t.send(tag, size=2000, profile=prof_down)
    check_full(t, rows, tag, r, down, tag, qdir)
    unfill(mnt)

    fill(mnt, leave_page=True)
    tag = 'one-page'
    r = t.send(tag, size=2000, profile=prof_down)
    check_full(t, rows, tag, r, down, tag, qdir)
    unfill(mnt)

    for mode in ('DATA', 'BDAT'):
        tag = '%s-451-dot' % mode
        s = t.sink('sink-' + tag, chunking=mode == 'BDAT', refuse=-1, refuse_at='dot')
        prof = t.profile(s.port, qdir=qdir, path=os.path.join(t.tmp, 'profile-' + tag))
        fill(mnt)
        r = t.send(tag, size=2000, profile=prof)
        check_full(t, rows, tag, r, s, tag, qdir)
        unfill(mnt)

    tag = '451-mail-big'
    s = t.sink('sink-' + tag, refuse=-1, refuse_at='mail')
    prof = t.profile(s.port, qdir=qdir, path=os.path.join(t.tmp, 'profile-' + tag))
    r = t.send(tag, size=200000, profile=prof)
    check_full(t, rows, tag, r, s, tag, qdir)

    # The server takes it: the queue is not needed.
    tag = 'server-up'
    up = t.sink('sink-up')
    prof_up = t.profile(up.port, qdir=qdir, path=os.path.join(t.tmp, 'profile-up'))
    fill(mnt)
    r = t.send(tag, size=2000, profile=prof_up)
    n = up.count_by_msgid().get('<%s@example.test>' % tag, 0)
    t.ok((r.rc == 0 and n == 1) or (r.rc in (74, 75) and 'queue full' in r.err and n == 0),
         '%s: delivered once with exit 0, or 74/75 "queue full" and not sent' % tag, (r, n))
    if r.rc != 0:
        t.note('%s: postie refused to send while the queue disk is full: %s' % (tag, r.err))
    st = t.state(qdir)
    t.ok(st['tmp'] == 0 and st['queue'] == 0, '%s: nothing left in the queue' % tag, st)
    rows.append([tag, r.rc, 'yes' if 'queue full' in r.err else 'no', n,
                 st['tmp'] + st['queue']])
    unfill(mnt)

    # A flush on a full disk keeps its entries; with room again they go, once.
    tag = 'flush-full'
    s = t.sink('sink-' + tag, refuse=-1, refuse_at='rcpt')
    prof = t.profile(s.port, qdir=qdir, path=os.path.join(t.tmp, 'profile-' + tag))
    r = t.send(tag, size=2000, profile=prof)
    t.ok(r.rc == 0 and 'queued as' in r.err, '%s: queued while there is room' % tag, r)
    fill(mnt)
    f = t.flush(profile=prof)
    st = t.state(qdir)
    t.ok(st['queue'] == 1 and st['corrupt'] == 0 and st['failed'] == 0,
         '%s: the flush on a full disk keeps the entry' % tag, (f, st))
    t.note('%s: the flush on a full disk: %s' % (tag, f))
    t.ok('queue full' in f.err, '%s: the flush says it could not record the attempt' % tag,
           f)
    unfill(mnt)
    s.configure(refuse=0)
    f2 = t.flush(profile=prof)
    n = s.count_by_msgid().get('<%s@example.test>' % tag, 0)
    st = t.state(qdir)
    t.ok(f2.rc == 0 and n == 1 and sum(st.values()) == 0,
         '%s: with room again, delivered once, nothing left' % tag, (f2, n, st))
    rows.append([tag, '%d,%d' % (f.rc, f2.rc), 'yes' if 'queue full' in f.err else 'no', n,
                 sum(st.values())])

    # No inode left for a new entry (a tmpfs of 5 inodes: the queue directory and its four
    # subdirectories), the server up.
    tag = 'no-inode-server-up'
    mnt2 = os.path.join(t.tmp, 'qfs2')
    os.makedirs(mnt2)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,nr_inodes=5,mode=0700' % SIZE,
                        'tmpfs', mnt2], capture_output=True)
    if r.returncode == 0:
        try:
            prof2 = t.profile(up.port, qdir=mnt2, path=os.path.join(t.tmp, 'profile-inode'))
            r = t.send('inode-prepare', size=100, profile=prof2)  # makes the 5 directories
            r = t.send(tag, size=2000, profile=prof2)
            n = up.count_by_msgid().get('<%s@example.test>' % tag, 0)
            t.ok((r.rc == 0 and n == 1) or (r.rc in (74, 75) and 'queue full' in r.err
                                              and n == 0),
                 '%s: delivered once with exit 0, or 74/75 "queue full" and not sent' % tag,
                 (r, n))
            if r.rc != 0:
                t.note('%s: postie did not try the server: %s' % (tag, r.err.strip()))
            rows.append([tag, r.rc, 'yes' if 'queue full' in r.err else 'no', n, 0])
        finally:
            subprocess.run(['umount', mnt2])

    # With room again an ordinary run queues normally.
    tag = 'room-again'
    r = t.send(tag, size=2000, profile=prof_down)
    t.ok(r.rc == 0 and 'queued as' in r.err, '%s: queued' % tag, r)
    down.listen()
    f = t.flush(profile=prof_down)
    n = down.count_by_msgid().get('<%s@example.test>' % tag, 0)
    t.ok(f.rc == 0 and n == 1 and sum(t.state(qdir).values()) == 0,
         '%s: delivered once by the flush' % tag, (f, n, t.state(qdir)))
    rows.append([tag, r.rc, 'no', n, sum(t.state(qdir).values())])


main()
