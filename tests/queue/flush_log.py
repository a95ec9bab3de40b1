#!/usr/bin/env python3
# flush_log.py POSTIE: the logfile line of a queued message's later delivery (issue 10,
# bug 4). A flush and a piggybacking run each write one line per entry naming its sender
# and recipients; postie read them after the queue had freed them (ASan:
# heap-use-after-free in log_attempt), so the line showed freed memory.
#   flush      postie -q delivers two entries: two lines, each with its own recipients
#   piggyback  an ordinary run sends its message, then a due entry: a line for each

import os
import re

from qlib import Test


def lines_for(log, rcpt):
    return [ln for ln in log if re.search(r'recipients=%s(\s|$)' % re.escape(rcpt), ln)]


def read_log(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read().splitlines()
    except OSError:
        return []


def queue_one(t, s, prof, mid, rcpt):
    s.configure(refuse=-1, refuse_at='rcpt')
    r = t.send(mid, rcpts=[rcpt], profile=prof)
    t.ok(r.rc == 0 and 'queued as' in r.err, 'queued %s' % mid, r)
    s.configure(refuse=0)


def flush(t):
    s = t.sink('sink-flushlog')
    qdir = t.tmp + '/q-flushlog'
    log = t.tmp + '/flush.log'
    prof = t.profile(s.port, qdir=qdir, path='profile-flushlog', extra='logfile %s\n' % log)
    queue_one(t, s, prof, 'fl-one', 'first-recipient@example.test')
    queue_one(t, s, prof, 'fl-two', 'second-recipient@example.test')
    t.make_due(qdir)
    before = len(read_log(log))
    r = t.flush(profile=prof)
    t.ok(r.rc == 0, 'flush: exit 0', r)
    got = read_log(log)[before:]
    for rcpt in ('first-recipient@example.test', 'second-recipient@example.test'):
        mine = lines_for(got, rcpt)
        t.ok(len(mine) == 1 and 'from=sender@example.test' in mine[0]
             and 'exitcode=EX_OK' in mine[0],
             'flush: one log line for %s names its sender and recipient' % rcpt, got)
    t.ok(t.state(qdir)['queue'] == 0, 'flush: both delivered', t.state(qdir))


def piggyback(t):
    s = t.sink('sink-piglog')
    qdir = t.tmp + '/q-piglog'
    log = t.tmp + '/pig.log'
    prof = t.profile(s.port, qdir=qdir, path='profile-piglog', extra='logfile %s\n' % log)
    queue_one(t, s, prof, 'pl-old', 'queued-recipient@example.test')
    t.make_due(qdir)
    before = len(read_log(log))
    r = t.send('pl-own', rcpts=['own-recipient@example.test'], profile=prof)
    t.ok(r.rc == 0 and 'queued as' not in r.err, 'piggyback: the run exits 0', r)
    got = read_log(log)[before:]
    for rcpt in ('own-recipient@example.test', 'queued-recipient@example.test'):
        mine = lines_for(got, rcpt)
        t.ok(len(mine) == 1 and 'from=sender@example.test' in mine[0],
             'piggyback: one log line for %s names its sender and recipient' % rcpt, got)


def main():
    t = Test('flush-log')
    flush(t)
    piggyback(t)
    t.finish()


main()
