#!/usr/bin/env python3
# symfony.py POSTIE: Symfony Mailer (Debian's php-symfony-mailer, 5.4) with its
# SendmailTransport pointed at postie, run by tests/callers/symfony.php.
#
# 1. "PATH -bs" (Symfony's default command, "/usr/sbin/sendmail -bs"): Symfony speaks SMTP to
#    postie over its stdin and stdout (SmtpTransport over a ProcessStream): it reads the 220
#    greeting, says HELO (not EHLO), MAIL FROM:<..>, one RCPT TO:<..> per recipient (To, Cc,
#    Bcc), DATA, the message dot-stuffed ("\r\n." made "\r\n.."), "\r\n.\r\n", and QUIT when
#    it goes, waiting for each reply and checking its code (220, 250, 250, 250/251/252, 354,
#    250, 221). postie must answer each, relay the message, and exit 0.
# 2. "PATH -oi -t" (the command Symfony's documentation shows): Symfony drops -t when it knows
#    the recipients and runs `PATH -oi -fSENDER -- rcpt...`, writing the message with LF line
#    ends; with -oi it does not dot-stuff.
# Each: the envelope, the message byte-exact as Symfony wrote it, no Bcc in it.

import os
import re

from clib import Test

PHP = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'symfony.php')
AUTOLOAD = '/usr/share/php/Symfony/Component/Mailer/autoload.php'
RCPTS = ['user@example.test', 'cc@example.test', 'hidden@example.test']
BODY_LINES = [b'Hello from Symfony Mailer.', b'.', b'..two dots', b'.leading dot']


def replies(out):
    """The reply codes in OUT, one per reply (multi-line replies counted once, RFC 5321 4.2)."""
    codes = []
    for line in out.split(b'\r\n'):
        if re.match(rb'^[2-5]\d\d( |$)', line):
            codes.append(int(line[:3]))
    return codes


def dialogue(stdin):
    """Symfony's commands (the data left out) and the data as it meant it (stuffing undone)."""
    head, sep, rest = stdin.partition(b'DATA\r\n')
    cmds = [x for x in head.split(b'\r\n') if x] + ([b'DATA'] if sep else [])
    data, sep2, tail = rest.partition(b'\r\n.\r\n')
    cmds += [x for x in tail.split(b'\r\n') if x]
    data = re.sub(rb'(^|\r\n)\.', rb'\1', data) + b'\r\n' if sep2 else None
    return [c.decode('utf-8', 'replace') for c in cmds], data


def main():
    t = Test('symfony', programs=['php'])
    if not os.path.exists(AUTOLOAD):
        print('1..0 # SKIP php-symfony-mailer is not installed (tests/callers/install-deps.sh)')
        raise SystemExit(77)

    # 1. -bs: an SMTP conversation over stdin and stdout.
    r = t.run(['php', PHP, '%s -bs' % t.sendmail])
    t.ok(r.returncode == 0 and r.out == 'sent\n', '-bs: Symfony\'s send() succeeds',
         r.out + r.err)
    calls = t.wait_calls(1)
    c = calls[0] if calls else None
    t.check_call(c, ['-bs'], '-bs', dialogue=True)
    if c is not None:
        cmds, data = dialogue(c.stdin)
        t.note('-bs: Symfony said: %s' % ' | '.join(cmds))
        t.note('-bs: postie answered: %s' % ' '.join(str(x) for x in replies(c.stdout)))
        t.ok(len(cmds) == 7 and cmds[0].startswith('HELO ') and
             cmds[1] == 'MAIL FROM:<app@example.test>' and
             cmds[2:5] == ['RCPT TO:<%s>' % x for x in RCPTS] and
             cmds[5:] == ['DATA', 'QUIT'],
             '-bs: Symfony got through HELO, MAIL, three RCPT, DATA, the data and QUIT', cmds)
        t.ok(replies(c.stdout) == [220, 250, 250, 250, 250, 250, 354, 250, 221],
             '-bs: postie answered 220, 250 (HELO), 250 (MAIL), 250 x3, 354, 250, 221',
             c.stdout.decode('utf-8', 'replace'))
    else:
        data = None
    msgs = t.messages()
    t.ok(len(msgs) == 1, '-bs: one message at the sink', [c, msgs])
    if msgs:
        m = msgs[0]
        t.ok(m.mail_from == 'app@example.test', '-bs: MAIL FROM:<app@example.test>', m)
        t.ok(m.rcpts == RCPTS, '-bs: RCPT for To, Cc and Bcc, in order', m)
        t.ok(data is not None and m.raw == data,
             '-bs: the message byte-exact as Symfony sent it (dot-stuffing undone once)',
             [data, m.raw])
        t.ok(m.body.split(b'\r\n')[:4] == BODY_LINES, '-bs: the "." lines of the text kept', m)
        t.check_wire(m, '-bs')

    # 2. -oi -t: the message on stdin, the recipients on the command line. (Counted from
    # what part 1 left, so that its failure does not spill over.)
    n_calls, n_msgs = len(t.calls()), len(t.messages())
    r = t.run(['php', PHP, '%s -oi -t' % t.sendmail])
    t.ok(r.returncode == 0 and r.out == 'sent\n', '-t: Symfony\'s send() succeeds',
         r.out + r.err)
    calls = t.wait_calls(n_calls + 1)[n_calls:]
    c = calls[0] if calls else None
    t.check_call(c, ['-oi', '-fapp@example.test', '--'] + RCPTS, '-t')
    msgs = t.messages()[n_msgs:]
    t.ok(len(msgs) == 1, '-t: one more message at the sink', [c, msgs])
    if msgs and c is not None:
        m = msgs[0]
        t.ok(m.mail_from == 'app@example.test', '-t: MAIL FROM:<app@example.test> (-f)', m)
        t.ok(m.rcpts == RCPTS, '-t: RCPT for each operand, in order', m)
        t.ok(m.raw.replace(b'\r\n', b'\n') == c.stdin + (b'' if c.stdin.endswith(b'\n')
                                                         else b'\n'),
             '-t: the message byte-exact as Symfony wrote it (LF made CRLF)', [c.stdin, m.raw])
        t.ok(m.body.split(b'\r\n')[:4] == BODY_LINES, '-t: the "." lines of the text kept', m)
        t.check_wire(m, '-t')
    t.finish()


if __name__ == '__main__':
    main()
