# tests/system/sg_admin.py: postie --queue-delete and --queue-retry on the system queue
# (SEC-45's "mine" rule): a user reaches only their own entries there, by whole id or by
# its start (another user's is "no entry of yours", 64, untouched); root reaches all, and an
# entry root retries from failed/ stays its owner's.
#
# Called by setgid.py: run(w, sysink) with the World of sglib.

import os
import pwd

from sglib import message, out, spool_entries, tap


def queue_as(w, sysink, user, n):
    """USER queues message N in the system spool (a 451 at MAIL); its id, or None."""
    before = set(spool_entries(w))
    sysink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
    w.as_user(user, ['rcpt@example.test'], stdin=message(n))
    sysink.configure(refuse=0)
    new = sorted(set(spool_entries(w)) - before)
    return new[0] if len(new) == 1 else None


def run(w, sysink):
    u1, u2 = w.users
    a, b = queue_as(w, sysink, u1, 80), queue_as(w, sysink, u2, 81)
    tap.ok(a and b, 'admin: each user queued one entry in the system queue', (a, b))
    if not (a and b):
        return
    for op in ('--queue-delete', '--queue-retry'):
        for name in (a, a[:-3]):
            r = w.as_user(u2, [op, name])
            tap.ok(r.returncode == 64 and 'no entry of yours' in out(r) and
                   a in spool_entries(w),
                   'admin: %s of another user\'s entry (%s): no entry of yours, 64, kept'
                   % (op, 'its id' if name == a else 'the start of its id'), out(r))
    r = w.as_user(u1, ['--queue-retry', a])
    tap.ok(r.returncode == 0 and 'is due now' in out(r), 'admin: its owner retries it', out(r))
    r = w.as_user(u1, ['--queue-delete', a[:-3]])
    tap.ok(r.returncode == 0 and a not in spool_entries(w) and b in spool_entries(w),
           'admin: its owner deletes it by the start of its id; the other\'s stays', out(r))
    # Root: another user's entry, failed, retried back into queue/ and still its owner's.
    sysink.configure(reject=['rcpt@example.test'])
    r = w.as_user('root', ['-qI' + b])
    sysink.configure(reject=[])
    tap.ok(b in spool_entries(w, 'failed'), 'admin: the other entry failed (550)', out(r))
    r = w.as_user('root', ['--queue-retry', b])
    entry = os.path.join(w.spool, 'queue', b)
    uid2 = pwd.getpwnam(u2).pw_uid
    owned = os.path.isdir(entry) and all(
        os.stat(os.path.join(entry, f)).st_uid == uid2 for f in ('.', 'message', 'envelope'))
    tap.ok(r.returncode == 0 and owned,
           'admin: root retries any entry; back in queue/, still its owner\'s', out(r))
    r = w.as_user('root', ['--queue-delete', b])
    tap.ok(r.returncode == 0 and b not in spool_entries(w), 'admin: root deletes any entry',
           out(r))
