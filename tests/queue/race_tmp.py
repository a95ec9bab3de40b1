#!/usr/bin/env python3
# race_tmp.py POSTIE: a deterministic replay of a race seen under load (queue-concurrent):
# a postie that recovers tmp/ must never damage the copy of a postie that is writing it.
#
#   P  an ordinary run against a stopped server; strace holds it for a moment right after
#      it made its copy's directory tmp/ID (before the message file exists).
#   Q  `postie -q`, started in that moment: its recovery of tmp/ sees tmp/ID without a
#      message; strace delays Q's next unlinkat (a slow process on a busy machine).
#   P  goes on: writes its copy, gets "connection refused", commits the entry into queue/,
#      exits 0 with "queued as ID".
#   Q  resumes.
# Then a flush against a working server must deliver P's message once, and nothing may be
# in corrupt/. Skipped (77) without strace or when ptrace is not allowed.

import os
import re
import shutil
import subprocess
import sys
import time

from qlib import Test, wait_for

P_HOLD_US = 1000000
Q_DELAY_US = 2000000


def main():
    t = Test('race-tmp')
    if shutil.which('strace') is None:
        print('1..0 # SKIP strace is missing')
        sys.exit(77)
    s = t.sink('sink', listening=False)
    prof = t.profile(s.port)
    # The queue directories exist (as they do after the first use), and a calibration run
    # tells which mkdirat call makes the copy's directory.
    r = t.send('calibrate', profile=prof)
    if r.rc != 0 or 'queued as' not in r.err:
        t.ok(False, 'calibration run queued', r)
        t.finish()
    # LeakSanitizer cannot work under ptrace: a sanitized postie run by strace checks no leaks
    # (the same runs without strace do).
    tenv = dict(t.env,
                ASAN_OPTIONS=(t.env.get('ASAN_OPTIONS', '') + ':detect_leaks=0').lstrip(':'))
    cal = subprocess.run(['strace', '-f', '-e', 'trace=mkdirat', '-o', '/dev/stdout',
                          t.postie, '-C', prof, 'rcpt@example.test'],
                         stdin=open(t.message('calibrate2'), 'rb'), capture_output=True,
                         env=tenv, timeout=30)
    calls = [x for x in cal.stdout.decode().splitlines() if 'mkdirat(' in x]
    when = next((i + 1 for i, x in enumerate(calls)
                 if re.search(r'mkdirat\(\d+, "\d{14}\.\d{6}-\d+-[0-9a-f]{8}"', x)), None)
    if cal.returncode != 0 or when is None:
        print('1..0 # SKIP strace cannot trace postie here: %s' % cal.stderr.decode()[-300:])
        sys.exit(77)
    s.listen()
    f = t.flush(profile=prof)
    t.ok(f.rc == 0 and len(s.messages) == 2 and sum(t.state().values()) == 0,
         'calibration: the two calibration messages are delivered', (f, t.state()))

    before = set(t.ids('tmp'))
    s2 = t.sink('sink-down', listening=False)
    prof_down = t.profile(s2.port, path=os.path.join(t.tmp, 'profile-down'))
    p = subprocess.Popen(['strace', '-o', '/dev/null', '-e', 'trace=mkdirat', '-e',
                          'inject=mkdirat:delay_exit=%d:when=%d' % (P_HOLD_US, when),
                          t.postie, '-C', prof_down, 'rcpt@example.test'],
                         stdin=open(t.message('victim'), 'rb'), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=tenv)
    t.children.append(p)
    t.ok(wait_for(lambda: set(t.ids('tmp')) - before, 5), 'P made its copy directory')
    q = subprocess.Popen(['strace', '-o', '/dev/null', '-e', 'trace=unlinkat', '-e',
                          'inject=unlinkat:delay_enter=%d:when=1' % Q_DELAY_US,
                          t.postie, '-C', prof_down, '-q'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tenv)
    t.children.append(q)
    _, perr = p.communicate(timeout=30)
    perr = perr.decode()
    t.ok(p.returncode == 0 and 'queued as' in perr, 'P exits 0: "queued as"', perr)
    st = t.state()
    t.ok(st['queue'] == 1, 'P\'s entry is in queue/', st)
    _, qerr = q.communicate(timeout=30)
    t.note('Q (`postie -q` whose recovery was slow): exit %d: %s' % (q.returncode,
                                                                     qerr.decode().strip()))
    ids = t.ids('queue')
    t.ok(ids and os.path.exists(os.path.join(t.qdir, 'queue', ids[0], 'envelope')),
         'P\'s entry still has its envelope after Q', (t.state(), ids))
    # The entry is sent only through the profile that queued it (SEC-42): prof_down's server.
    s2.listen()
    f = t.flush(profile=prof_down)
    n = s2.count_by_msgid().get('<victim@example.test>', 0)
    st = t.state()
    t.ok(n == 1, 'the message P said it queued is delivered once', (f, st))
    t.ok(st['corrupt'] == 0, 'nothing set aside in corrupt/', (f, st))
    t.finish()


main()
