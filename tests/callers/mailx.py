#!/usr/bin/env python3
# mailx.py POSTIE: bsd-mailx (mail(1) of Debian's bsd-mailx package) with postie as its
# sendmail, set by `set sendmail=PATH` in a private MAILRC (bsd-mailx(1), "Mail options").
#
# bsd-mailx runs `sendmail -i -t [-f FROM]` and writes To/Subject/Cc/Bcc and its MIME headers,
# but no From (unless -r), no Date and no Message-ID: postie adds those (DESIGN.md, msg).
#   1. `mail -s SUBJECT rcpt`: recipient, subject, body; From/Date/Message-ID added
#   2. `mail -r FROM -c CC1,CC2 -b BCC -a X-Loop:... -s SUBJECT -- rcpt`: -f passed, every
#      recipient from the headers (-t), Bcc removed (SEC-23), a line of "." kept (-i)

import os

from clib import Test, crlf


def main():
    t = Test('mailx', programs=['bsd-mailx'])
    mailrc = os.path.join(t.tmp, 'mailrc')
    with open(mailrc, 'w', encoding='utf-8') as f:
        f.write('set sendmail=%s\n' % t.sendmail)
    env = {'MAILRC': mailrc}

    # 1. The plainest use.
    body = 'Hello from bsd-mailx.\nSecond line.\n'
    r = t.run(['bsd-mailx', '-s', 'mailx plain test', 'rcpt@example.test'],
              input=body.encode(), env=env)
    t.ok(r.returncode == 0, 'plain: mail exits 0', r.err)
    calls = t.wait_calls(1)
    c = calls[0] if calls else None
    t.check_call(c, ['-i', '-t'], 'plain')
    msgs = t.messages()
    t.ok(len(msgs) == 1, 'plain: one message at the sink', [c, msgs])
    if msgs:
        m = msgs[0]
        t.ok(m.rcpts == ['rcpt@example.test'], 'plain: RCPT TO:<rcpt@example.test>', m)
        t.ok(m.mail_from == 'sender@example.test', 'plain: MAIL FROM is the profile\'s from', m)
        t.ok(m.one('subject') == 'mailx plain test', 'plain: Subject kept', m)
        t.ok(m.one('to') == 'rcpt@example.test', 'plain: To kept', m)
        t.ok(m.body == crlf(body), 'plain: body byte-exact (CRLF)', m)
        t.check_wire(m, 'plain')
        t.ok('sender@example.test' in (m.one('from') or ''),
             'plain: the added From names the profile\'s from', m.header('from'))

    # 2. Sender, Cc, Bcc, an extra header, a line of ".".
    body = 'First line.\n.\n..two dots\nLast line: the "." above is text (-i).\n'
    r = t.run(['bsd-mailx', '-s', 'mailx full test', '-r', 'Sam Sender <sam@example.test>',
               '-c', 'cc1@example.test,cc2@example.test', '-b', 'hidden@example.test',
               '-a', 'X-Loop: callers-test', '--', 'rcpt@example.test'],
              input=body.encode(), env=env)
    t.ok(r.returncode == 0, 'full: mail exits 0', r.err)
    calls = t.wait_calls(2)
    c = calls[1] if len(calls) > 1 else None
    t.check_call(c, ['-i', '-t', '-f', 'sam@example.test'], 'full')
    t.ok(c is not None and b'\nBcc: hidden@example.test\n' in c.stdin,
         'full: bsd-mailx handed postie a Bcc header', c and c.stdin)
    msgs = t.messages()
    t.ok(len(msgs) == 2, 'full: a second message at the sink', [c, msgs])
    if len(msgs) > 1:
        m = msgs[1]
        t.ok(m.mail_from == 'sam@example.test', 'full: MAIL FROM:<sam@example.test> (-f)', m)
        t.ok(sorted(m.rcpts) == sorted(['rcpt@example.test', 'cc1@example.test',
                                        'cc2@example.test', 'hidden@example.test']),
             'full: RCPT for To, both Cc and the Bcc (-t)', m)
        t.ok(m.one('from') == 'Sam Sender <sam@example.test>', 'full: From kept', m)
        t.ok(m.one('cc') == 'cc1@example.test,cc2@example.test', 'full: Cc kept', m)
        t.ok(m.one('x-loop') == 'callers-test', 'full: the -a header kept', m)
        t.ok(b'hidden@example.test' not in m.raw, 'full: the Bcc address is nowhere in it', m)
        t.ok(m.body == crlf(body), 'full: body byte-exact, the "." line kept', m)
        t.check_wire(m, 'full')
    t.finish()


if __name__ == '__main__':
    main()
