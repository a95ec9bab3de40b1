#!/usr/bin/env python3
# snail.py POSTIE: s-nail (Debian's s-nail package) with postie as its mail transfer agent,
# set by `-S mta=PATH` (s-nail(1), "mta"); `-S sendwait` makes s-nail wait for it and report
# its exit status. No resource file is read (-n, and HOME is private).
#
# s-nail runs `sendmail -i [-F NAME -f ADDR] -- rcpt...`: the recipients on the command line
# (no -t), Bcc left out of the headers by s-nail itself.
#   1. `s-nail -s SUBJECT rcpt`: argv, envelope, subject, body
#   2. `-r 'Name <addr>' -c CC -b BCC`: -F and -f passed, "--" before the recipients, the
#      Bcc recipient gets it without appearing in it, a line of "." kept (-i)
#   3. the server refuses the recipient (550): postie exits non-zero and not 75, a permanent
#      failure (SEC-36, SEC-37), and s-nail, which
#      waits for it, reports the failure (non-zero exit) instead of claiming success

from clib import Test, crlf


def main():
    t = Test('snail', programs=['s-nail'])
    base = ['s-nail', '-n', '-S', 'mta=%s' % t.sendmail, '-S', 'sendwait']

    # 1. Plain.
    body = 'Hello from s-nail.\nSecond line.\n'
    r = t.run(base + ['-s', 's-nail plain test', 'rcpt@example.test'], input=body.encode())
    t.ok(r.returncode == 0, 'plain: s-nail exits 0', r.err)
    calls = t.wait_calls(1)
    c = calls[0] if calls else None
    t.check_call(c, ['-i', '--', 'rcpt@example.test'], 'plain')
    msgs = t.messages()
    t.ok(len(msgs) == 1, 'plain: one message at the sink', [c, msgs])
    if msgs:
        m = msgs[0]
        t.ok(m.rcpts == ['rcpt@example.test'], 'plain: RCPT TO:<rcpt@example.test>', m)
        t.ok(m.mail_from == 'sender@example.test', 'plain: MAIL FROM is the profile\'s from', m)
        t.ok(m.one('subject') == 's-nail plain test', 'plain: Subject kept', m)
        t.ok(m.one('user-agent') is not None and m.one('user-agent').startswith('s-nail'),
             'plain: s-nail\'s User-Agent kept', m)
        t.ok(m.body == crlf(body), 'plain: body byte-exact (CRLF)', m)
        t.check_wire(m, 'plain')

    # 2. Sender with a name, Cc, Bcc, a "." line.
    body = 'First line.\n.\n..two dots\n.leading dot\nLast line.\n'
    r = t.run(base + ['-s', 's-nail full test', '-r', 'Sue Sender <sue@example.test>',
                      '-c', 'cc@example.test', '-b', 'hidden@example.test', 'rcpt@example.test'],
              input=body.encode())
    t.ok(r.returncode == 0, 'full: s-nail exits 0', r.err)
    calls = t.wait_calls(2)
    c = calls[1] if len(calls) > 1 else None
    t.check_call(c, ['-i', '-F', 'Sue Sender', '-f', 'sue@example.test', '--',
                     'rcpt@example.test', 'cc@example.test', 'hidden@example.test'], 'full')
    msgs = t.messages()
    t.ok(len(msgs) == 2, 'full: a second message at the sink', [c, msgs])
    if len(msgs) > 1:
        m = msgs[1]
        t.ok(m.mail_from == 'sue@example.test', 'full: MAIL FROM:<sue@example.test> (-f)', m)
        t.ok(m.rcpts == ['rcpt@example.test', 'cc@example.test', 'hidden@example.test'],
             'full: RCPT for each operand, in order', m)
        t.ok(m.one('from') == 'Sue Sender <sue@example.test>',
             'full: s-nail\'s From kept (-F does not add a second)', m)
        t.ok(m.one('cc') == 'cc@example.test', 'full: Cc kept', m)
        t.ok(m.one('message-id') == (c and _msgid(c.stdin)),
             'full: s-nail\'s Message-ID kept', m)
        t.ok(b'hidden@example.test' not in m.raw, 'full: the Bcc address is nowhere in it', m)
        t.ok(m.body == crlf(body), 'full: body byte-exact, "." lines kept', m)
        t.check_wire(m, 'full')

    # 3. A refused recipient: the failure reaches s-nail's exit status.
    t.sink.configure(reject=['nobody@example.test'])
    r = t.run(base + ['-s', 's-nail refused test', 'nobody@example.test'], input=b'x\n')
    calls = t.wait_calls(3)
    c = calls[2] if len(calls) > 2 else None
    t.ok(c is not None and c.rc not in (None, 0, 75),
         'refused: postie exits with a permanent failure (not 0, not 75)', c)
    t.ok(r.returncode != 0, 'refused: s-nail exits non-zero', (r.returncode, r.err))
    t.ok(len(t.messages()) == 2, 'refused: nothing more at the sink', t.messages())
    t.finish()


def _msgid(stdin):
    for line in stdin.split(b'\n'):
        if line.lower().startswith(b'message-id:'):
            return line.split(b':', 1)[1].strip().decode('ascii', 'replace')
        if not line:
            break
    return None


if __name__ == '__main__':
    main()
