# tests/system/sg_share.py: what one user may take of the system queue (SEC-46), and the
# group given up for good once it is not needed (SEC-45). A second setgid install with a
# small share (3 entries, 1 MiB a user) so that the limits are reached in a few sends; the
# file system floor on a 4 MiB tmpfs mounted as the spool; root's flush removing failed and
# set-aside entries older than the keep-days (14: their folders' times set back).
#
# Called by setgid.py: run(w) with the World of sglib.

import copy
import fcntl
import grp
import os
import pwd
import subprocess
import time

from sglib import crlf, message, out, spool_entries, tap

SHARE_ENTRIES = 3
SHARE_MIB = 1


def big_message(n, size):
    head = message(n)
    line = b'x' * 76 + b'\n'
    return head + line * (size // len(line))


def entries_of(w, uid):
    """Every entry of UID in the spool's four folders, as 'folder/id'."""
    found = []
    for sub in ('tmp', 'queue', 'failed', 'corrupt'):
        for e in spool_entries(w, sub):
            if os.stat(os.path.join(w.spool, sub, e)).st_uid == uid:
                found.append('%s/%s' % (sub, e))
    return found


def check_entries(w, sink):
    u1, u2 = w.users
    uid1 = pwd.getpwnam(u1).pw_uid
    sink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
    codes = []
    for k in range(SHARE_ENTRIES):
        codes.append(w.as_user(u1, ['rcpt@example.test'], stdin=message(60 + k)).returncode)
    tap.ok(codes == [0] * SHARE_ENTRIES and len(entries_of(w, uid1)) == SHARE_ENTRIES,
           'share: a user queues up to its %d entries (exit 0 each)' % SHARE_ENTRIES,
           '%s %s' % (codes, entries_of(w, uid1)))
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(63))
    tap.ok(r.returncode == 75 and 'share of the system queue is used' in out(r) and
           'mailq' in out(r) and len(entries_of(w, uid1)) == SHARE_ENTRIES,
           'share: one more is refused, exit 75 (the caller keeps it), saying why and what '
           'to do; nothing more in the spool', out(r))
    r = w.as_user(u2, ['rcpt@example.test'], stdin=message(64))
    tap.ok(r.returncode == 0 and len(entries_of(w, pwd.getpwnam(u2).pw_uid)) == 1,
           'share: another user still queues (a share is per user)', out(r))
    sink.configure(refuse=0)
    n = len(sink.bodies())
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(65))
    bodies = sink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and bodies[-1] == crlf(message(65)),
           'share: a user at its limit still sends directly when the server takes it', out(r))
    r = w.as_user('root', ['-q'])
    tap.ok(r.returncode == 0 and not entries_of(w, uid1) and
           len(sink.bodies()) == n + 1 + SHARE_ENTRIES + 1,
           'share: root\'s flush delivers them and gives the share back', out(r))


def check_bytes(w, sink):
    u1 = w.users[0]
    uid1 = pwd.getpwnam(u1).pw_uid
    big = big_message(70, 2 * 1024 * 1024)
    sink.configure(refuse=-1, refuse_at='dot', refuse_reply='451 4.3.0 sink: not now')
    r = w.as_user(u1, ['rcpt@example.test'], stdin=big)
    tap.ok(r.returncode == 75 and 'bigger than what is left of your share' in out(r) and
           not entries_of(w, uid1),
           'share: a 2 MiB message that must wait is refused (1 MiB share): exit 75, no copy '
           'left in tmp/', out(r))
    sink.configure(refuse=0)
    n = len(sink.bodies())
    r = w.as_user(u1, ['rcpt@example.test'], stdin=big)
    bodies = sink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and bodies[-1] == crlf(big) and
           not entries_of(w, uid1),
           'share: the same message goes through whole when the server takes it', out(r))


def mount_small_spool(w):
    gid = grp.getgrnam(w.group).gr_gid
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m,mode=1770', 'postie-share',
                        w.spool], capture_output=True)
    if r.returncode != 0:
        return False
    for sub in ('', 'tmp', 'queue', 'failed', 'corrupt'):
        d = os.path.join(w.spool, sub)
        os.makedirs(d, exist_ok=True)
        os.chown(d, 0, gid)
        os.chmod(d, 0o1770)
    return True


def check_floor(w, sink):
    """The last 5% of the spool's file system is never a user's: on a 4 MiB tmpfs filled by
    root to within 4%, a user's message that must wait is refused."""
    u1 = w.users[0]
    saved = w.spool + '.saved'
    os.rename(w.spool, saved)
    os.makedirs(w.spool)
    mounted = mount_small_spool(w)
    try:
        if not mounted:
            tap.ok(True, 'share: the file system floor # SKIP cannot mount a tmpfs')
            return
        st = os.statvfs(w.spool)
        fill = os.path.join(w.spool, 'root-fill')
        with open(fill, 'wb') as f:
            f.write(b'\0' * (st.f_bavail * st.f_frsize - st.f_blocks * st.f_frsize * 4 // 100))
        sink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
        r = w.as_user(u1, ['rcpt@example.test'], stdin=message(80))
        tap.ok(r.returncode == 75 and 'less than 5% free' in out(r) and
               not spool_entries(w, 'tmp') and not spool_entries(w),
               'share: a file system with less than 5% free takes no user\'s message '
               '(exit 75, nothing written)', out(r))
        os.unlink(fill)
        r = w.as_user(u1, ['rcpt@example.test'], stdin=message(81))
        tap.ok(r.returncode == 0 and len(spool_entries(w)) == 1,
               'share: with room again, the same user queues (control)', out(r))
        sink.configure(refuse=0)
        r = w.as_user('root', ['-q'])
    finally:
        sink.configure(refuse=0)
        if mounted:
            subprocess.run(['umount', w.spool])
        os.rmdir(w.spool)
        os.rename(saved, w.spool)


def check_tidy(w, sink):
    """Root's flush removes failed/ and corrupt/ entries untouched for more than 14 days,
    and only those, and says so."""
    u1 = w.users[0]
    uid1 = pwd.getpwnam(u1).pw_uid
    sink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
    for k in range(2):
        w.as_user(u1, ['rcpt@example.test'], stdin=message(90 + k))
    sink.configure(refuse=-1, refuse_at='mail', refuse_reply='550 5.7.1 sink: never')
    w.as_user('root', ['-q'])
    failed = spool_entries(w, 'failed')
    old = time.time() - 15 * 86400
    if failed:
        os.utime(os.path.join(w.spool, 'failed', failed[0]), (old, old))
    sink.configure(refuse=0)
    r = w.as_user(u1, ['-q'])
    left_user = spool_entries(w, 'failed')
    r = w.as_user('root', ['-q'])
    left = spool_entries(w, 'failed')
    tap.ok(len(failed) == 2 and left_user == failed and left == failed[1:] and
           'removed 1 entry older than 14 days' in out(r),
           'tidy: root\'s flush removes the failed entry older than 14 days (said), keeps the '
           'newer one; a user\'s flush removes nothing',
           'failed %s, after the user\'s flush %s, after root\'s %s\n%s' % (
               failed, left_user, left, out(r)))
    # An entry whose lock is held (a --queue-retry moving it back) is left alone.
    held = os.path.join(w.spool, 'failed', left[0]) if left else None
    kept = gone = False
    if held:
        os.utime(held, (old, old))
        with open(os.path.join(held, 'message'), 'rb') as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            r = w.as_user('root', ['-q'])
            kept = os.path.isdir(held)
        r = w.as_user('root', ['-q'])
        gone = not os.path.exists(held)
    tap.ok(kept and gone, 'tidy: an old entry whose lock is held is left alone; removed once '
           'the lock is free', 'kept %s, gone after %s\n%s' % (kept, gone, out(r)))
    for e in spool_entries(w, 'failed'):
        subprocess.run(['rm', '-rf', os.path.join(w.spool, 'failed', e)])
    tap.ok(not entries_of(w, uid1), 'tidy: the spool is clean again', str(entries_of(w, uid1)))


def gid_line(pid):
    with open('/proc/%d/status' % pid, encoding='ascii') as f:
        for line in f:
            if line.startswith('Gid:'):
                return [int(x) for x in line.split()[1:]]
    return None


def check_give_up(w, sink, ownsink):
    """SEC-45: once the secrets are read, a run that will not need the system queue gives the
    group up for good (saved group too); a system account's run keeps it saved only."""
    u1, u2 = w.users
    g = grp.getgrnam(w.group).gr_gid
    seen = {}
    for who, user, s, home in (('own', u2, ownsink, w.home2), ('system', u1, sink,
                                                                '/nonexistent')):
        s.configure(refuse=0, hold='mail')
        p = w.as_user(user, ['rcpt@example.test'], popen=True, home=home)
        p.stdin.write(message(95))
        p.stdin.close()
        if s.wait_reached('mail', 20):
            seen[who] = gid_line(p.pid)
        p.kill()
        p.wait()
        s.configure(refuse=0)
    gid2, gid1 = pwd.getpwnam(u2).pw_gid, pwd.getpwnam(u1).pw_gid
    tap.ok(seen.get('own') == [gid2] * 4,
           'the group is given up for good on the user\'s own account (real, effective, '
           'saved: the user\'s)', str(seen))
    tap.ok(seen.get('system') == [gid1, gid1, g, gid1],
           'a system account\'s run keeps the group only as the saved one (for the system '
           'queue)', str(seen))
    r = w.as_user('root', ['-q'])


def run(w, sink, ownsink):
    w2 = copy.copy(w)
    w2.build('-share', ['-Dsystem-queue-user-entries=%d' % SHARE_ENTRIES,
                        '-Dsystem-queue-user-mib=%d' % SHARE_MIB])
    w2.system_profile(sink.port)
    check_entries(w2, sink)
    check_bytes(w2, sink)
    check_floor(w2, sink)
    check_tidy(w2, sink)
    check_give_up(w, sink, ownsink)
