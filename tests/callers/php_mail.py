#!/usr/bin/env python3
# php_mail.py POSTIE: PHP's mail() (php-cli) with `sendmail_path = "PATH -t -i"`, PHP's own
# default form, given with -d (no php.ini is changed).
#
# PHP writes To and Subject, then the extra headers, with CRLF line ends (PHP >= 8.0), then the
# body as given (here LF line ends, and PHP ends it with CRLF): postie gets a mix of LF and
# CRLF, and must put CRLF on the wire (SEC-26).
#   1. mail(to, subject, body, "From/Cc/X-Extra"): recipients from To and Cc (-t), the extra
#      headers kept, the body's "." line kept (-i), CRLF only on the wire
#   2. the fifth argument "-fbounce@..." (PHP appends it to sendmail_path): MAIL FROM, and a
#      Bcc among the extra headers: delivered to, not shown
#   3. mail() returns false when the server refuses the only recipient

from clib import Test

PHP = r'''
$ok = mail($argv[1], $argv[2], $argv[3], $argv[4], $argv[5] === '' ? '' : $argv[5]);
echo $ok ? "mail() true\n" : "mail() false\n";
'''


def main():
    t = Test('php-mail', programs=['php'])
    base = ['php', '-n', '-d', 'sendmail_path=%s -t -i' % t.sendmail, '-r', PHP, '--']

    # 1. Headers and a body with a "." line.
    body = 'Line one.\n.\n..two\nLast line'
    extra = 'From: Web App <web@example.test>\r\nCc: cc@example.test\r\nX-Extra: yes, kept'
    r = t.run(base + ['Rcpt <rcpt@example.test>', 'PHP mail() test', body, extra, ''])
    t.ok(r.returncode == 0 and r.out == 'mail() true\n', 'headers: mail() returns true',
         r.out + r.err)
    calls = t.wait_calls(1)
    c = calls[0] if calls else None
    t.check_call(c, ['-t', '-i'], 'headers')
    t.ok(c is not None and b'\r\n' in c.stdin and b'Line one.\n.\n' in c.stdin,
         'headers: PHP handed postie a mix of CRLF and LF line ends', c and c.stdin)
    msgs = t.messages()
    t.ok(len(msgs) == 1, 'headers: one message at the sink', [c, msgs])
    if msgs:
        m = msgs[0]
        t.ok(sorted(m.rcpts) == ['cc@example.test', 'rcpt@example.test'],
             'headers: RCPT for To and Cc (-t)', m)
        t.ok(m.mail_from == 'sender@example.test', 'headers: MAIL FROM is the profile\'s from',
             m)
        t.ok(m.one('to') == 'Rcpt <rcpt@example.test>', 'headers: To kept', m)
        t.ok(m.one('subject') == 'PHP mail() test', 'headers: Subject kept', m)
        t.ok(m.one('from') == 'Web App <web@example.test>', 'headers: From kept', m)
        t.ok(m.one('x-extra') == 'yes, kept', 'headers: X-Extra kept', m)
        t.ok(m.body == b'Line one.\r\n.\r\n..two\r\nLast line\r\n',
             'headers: body byte-exact in CRLF, the "." line kept', m)
        t.check_wire(m, 'headers')

    # 2. The envelope sender from mail()'s fifth argument; a Bcc.
    extra = 'From: web@example.test\r\nBcc: hidden@example.test'
    r = t.run(base + ['rcpt@example.test', 'PHP mail() -f test', 'Body.', extra,
                      '-fbounce@example.test'])
    t.ok(r.returncode == 0 and r.out == 'mail() true\n', '-f: mail() returns true',
         r.out + r.err)
    calls = t.wait_calls(2)
    c = calls[1] if len(calls) > 1 else None
    t.check_call(c, ['-t', '-i', '-fbounce@example.test'], '-f')
    msgs = t.messages()
    t.ok(len(msgs) == 2, '-f: a second message at the sink', [c, msgs])
    if len(msgs) > 1:
        m = msgs[1]
        t.ok(m.mail_from == 'bounce@example.test', '-f: MAIL FROM:<bounce@example.test>', m)
        t.ok(sorted(m.rcpts) == ['hidden@example.test', 'rcpt@example.test'],
             '-f: RCPT for To and Bcc', m)
        t.ok(b'hidden@example.test' not in m.raw, '-f: the Bcc address is nowhere in it', m)
        t.ok(m.body == b'Body.\r\n', '-f: body', m)
        t.check_wire(m, '-f')

    # 3. Refused: PHP sees the failure.
    t.sink.configure(reject=['nobody@example.test'])
    r = t.run(base + ['nobody@example.test', 'refused', 'Body.', '', ''])
    calls = t.wait_calls(3)
    c = calls[2] if len(calls) > 2 else None
    t.ok(c is not None and c.rc not in (None, 0, 75),
         'refused: postie exits with a permanent failure (not 0, not 75)', c)
    t.ok(r.out == 'mail() false\n', 'refused: mail() returns false', r.out + r.err)
    t.ok(len(t.messages()) == 2, 'refused: nothing more at the sink')
    t.finish()


if __name__ == '__main__':
    main()
