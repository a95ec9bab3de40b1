#!/usr/bin/env python3
# sec36.py POSTIE CASE: SEC-36, only 250 is delivery (issue 10, bug 3). The server the
# victim's profile names is hostile (or broken) at the end of the data:
#   dot221          DATA's end answered `221 closing`, then it hangs up; queue off: not 0
#                   (76: a verdict out of step with the commands)
#   dot221-queue    the same with the queue on: 76 "kept in the queue as", in mailq; a flush
#                   against the same server keeps it; a flush against a good server sends it
#   bdat221-queue   CHUNKING: BDAT LAST answered `221 closing`; queue on, as above
#   dot252          DATA's end answered `252 2.0.0 maybe`; queue off: not 0
#   quitonly-queue  no reply to DATA's end; the pipelined QUIT answered 221; queue on
#   bs              postie -bs (queue off) relaying to the dot221 server: its caller is not
#                   told 250 for the end of the data

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402

RULE = 'SEC-36'
CLOSE221 = ['221 2.0.0 closing', '!close']
CASES = {
    'dot221': dict(script={'DOT': CLOSE221}, queue=False),
    'dot221-queue': dict(script={'DOT': CLOSE221}, queue=True),
    'bdat221-queue': dict(script={'LAST': CLOSE221}, queue=True, chunking=True),
    'dot252': dict(script={'DOT': ['252 2.0.0 maybe']}, queue=False),
    'quitonly-queue': dict(script={'DOT': []}, queue=True),
    'bs': dict(script={'DOT': CLOSE221}, queue=False),
}


def bs_session(t):
    """postie -bs with a whole SMTP session on standard input; its replies, as a list of
    (code, text) in order."""
    msg = t.message('bs message').replace(b'\n', b'\r\n')
    session = (b'EHLO caller.test\r\n', b'MAIL FROM:<victim@example.test>\r\n',
               b'RCPT TO:<rcpt@example.test>\r\n', b'DATA\r\n', msg + b'.\r\n', b'QUIT\r\n')
    p = subprocess.Popen([t.postie, '-bs'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=t.env, cwd=t.tmp)
    out = b''
    try:
        for chunk in (None,) + session:
            if chunk is not None:  # None: the greeting comes first
                p.stdin.write(chunk)
                p.stdin.flush()
            # Read replies up to the one this chunk asks for (a last line "NNN ").
            while True:
                line = p.stdout.readline()
                if not line:
                    raise BrokenPipeError()
                out += line
                if re.match(rb'\d{3} ', line):
                    break
    except (BrokenPipeError, OSError):
        pass
    try:
        rest, err = p.communicate(timeout=alib.POSTIE_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        rest, err = p.communicate()
    out += rest
    replies = [(int(m.group(1)), m.group(2).decode('utf-8', 'replace'))
               for m in re.finditer(rb'^(\d{3}) (.*?)\r?$', out, re.M)]
    return replies, out.decode('utf-8', 'replace') + '\nstderr: ' + err.decode('utf-8',
                                                                               'replace')


def main():
    t = alib.Test('sec36', CASES)
    case = t.case
    c = CASES[case]
    hostile = t.victim_server('hostile-server', script=c['script'],
                              chunking=c.get('chunking', False))
    t.write(t.user_profile, t.victim_profile(hostile.port, 'timeout 3\n%s'
                                             % ('' if c['queue'] else 'queue off\n')))
    what = {'dot221': 'the end of DATA answered 221 and a hang-up',
            'dot221-queue': 'the end of DATA answered 221 and a hang-up, queue on',
            'bdat221-queue': 'BDAT LAST answered 221 and a hang-up, queue on',
            'dot252': 'the end of DATA answered 252',
            'quitonly-queue': 'no reply to the end of DATA, only to the pipelined QUIT, queue on',
            'bs': 'postie -bs, the end of DATA answered 221 and a hang-up'}[case]

    if case == 'bs':
        replies, transcript = bs_session(t)
        t.ok(hostile.messages, 'control: postie -bs relayed the message to the server',
             transcript)
        # The replies: 220 greeting, 250 EHLO, 250 MAIL, 250 RCPT, 354 DATA, then the verdict.
        after = [code for code, _ in replies[5:6]]
        t.ok(len(replies) >= 6 and after[0] != 250,
             '%s: %s: the caller is not told 250 for the end of the data' % (RULE, what),
             transcript)
        t.finish()

    r = t.run(['rcpt@example.test'], stdin=t.message('sec36 message'))
    t.ok(len(hostile.messages) >= 1, 'control: the message reached the server', r)
    if not c['queue']:
        t.ok(r.rc != 0, '%s: %s: the exit status is not 0' % (RULE, what), r)
        t.exit_is(RULE, what, r, 76)
        t.finish()
    ids = t.queue_ids()
    # Kept either way: 0 "queued as" for a plain temporary failure (no reply at all), or
    # 76 "kept in the queue as" for a verdict out of step (the fault is reported).
    t.ok(len(ids) == 1 and ((r.rc == 0 and 'queued as' in r.err) or
                            (r.rc == 76 and 'kept in the queue as' in r.err)),
         '%s: %s: not delivered: the message is kept in the queue (exit 0 "queued as", or '
         '76 "kept in the queue as")' % (RULE, what), '%r\nqueue: %s' % (r, ids))
    m = t.run(['-bp'])
    t.ok(ids and ids[0] in m.out, '%s: %s: mailq lists the message' % (RULE, what), m)
    if not ids:
        t.finish()
    t.make_due()
    before = len(hostile.messages)
    f = t.run(['-q'])
    t.ok(len(hostile.messages) > before and t.queue_ids() == ids,
         '%s: %s: a flush against the same server keeps the entry' % (RULE, what),
         '%r\nqueue: %s' % (f, t.queue_ids()))
    hostile.script = {}
    t.make_due()
    f = t.run(['-q'])
    t.ok(f.rc == 0 and not t.queue_ids(),
         'control: a flush against a server that answers 250 sends it', f)
    t.finish()


if __name__ == '__main__':
    main()
