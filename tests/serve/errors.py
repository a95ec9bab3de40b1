#!/usr/bin/env python3
# errors.py POSTIE: what postie -bs refuses, and that a refusal never desynchronises the
# conversation (one reply per command line, the next command understood).
#   order        MAIL/RCPT/DATA before EHLO, RCPT and DATA before MAIL, nested MAIL, DATA
#                before any RCPT: 503; DATA after only refused RCPTs: 554 (RFC 5321 §3.3)
#   commands     unknown 500; STARTTLS, AUTH, EXPN 502; VRFY 252; HELP 214; NOOP 250;
#                arguments where none belong 501; EHLO without a name 501; any case
#   long-line    a 512-octet command line (CRLF included) is taken, 513 and a 200 KB one get
#                one 500 each (RFC 5321 §4.5.3.1.4) and the next command works
#   bad-rcpt     control characters (a bare CR smuggling a second RCPT, NUL, DEL) 501;
#                unquoted space, a leading '-', <>, a double @ 553; no brackets, trailing
#                garbage, no closing bracket 501; RCPT parameters 555; then a good RCPT and
#                the message goes to it alone (SEC-18)
#   crlf-rcpt    "RCPT TO:<a@b.c>\r\nRCPT TO:<x@y>" is two command lines: two replies, both
#                recipients (the stream cannot be desynchronised)
#   mail-params  BODY=8BITMIME SIZE=n SMTPUTF8 taken; BODY=BINARYMIME, SIZE=abc 501; FOO=1
#                555; a bad sender 553; a source route dropped
#   error-limit  100 refused commands: 421 and the end, exit 0, a warning on stderr

from bslib import Bs, Test, by_msgid, greet, message, stuff


def codes(rs):
    return [x[0] for x in rs]


def order(t, s):
    bs = Bs(t)
    bs.reply()
    pre = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('RCPT TO:<rcpt@example.test>'),
           bs.cmd('DATA')]
    t.ok(codes(pre) == [503, 503, 503], 'order: MAIL, RCPT, DATA before EHLO: 503', pre)
    bs.cmd('EHLO order.example.test')
    r = [bs.cmd('RCPT TO:<rcpt@example.test>'), bs.cmd('DATA'),
         bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('MAIL FROM:<other@example.test>'),
         bs.cmd('DATA')]
    t.ok(codes(r) == [503, 503, 250, 503, 503],
         'order: RCPT 503, DATA 503 before MAIL; nested MAIL 503; DATA before RCPT 503', r)
    t.ok(all('5.5.1' in x[1][0] for x in r if x[0] == 503), 'order: 503 with 5.5.1', r)
    r2 = [bs.cmd('RCPT TO:<bad address@example.test>'), bs.cmd('DATA')]
    t.ok(codes(r2) == [553, 554], 'order: DATA after only refused RCPTs: 554', r2)
    r3 = [bs.cmd('RSET'), bs.cmd('MAIL FROM:<sender@example.test>'),
          bs.cmd('RCPT TO:<rcpt@example.test>'), bs.cmd('DATA')]
    bs.send(stuff(message('order')))
    end = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok(codes(r3) == [250, 250, 250, 354] and end[0] == 250 and q[0] == 221 and rc == 0,
         'order: after the refusals, a clean transaction goes', (r3, end, q, rc, err))
    t.ok(len(s.messages) == 1 and len(by_msgid(s, 'order')) == 1, 'order: exactly one message '
         'reached the sink', s.messages)


def commands(t):
    bs = Bs(t)
    greet(bs)
    table = [
        ('FOO bar', 500), ('STARTTLS', 502), ('AUTH PLAIN', 502), ('EXPN list', 502),
        ('VRFY someone', 252), ('VRFY', 501), ('HELP', 214), ('HELP MAIL', 214),
        ('NOOP', 250), ('NOOP anything', 250), ('RSET now', 501), ('RSET', 250),
        ('EHLO', 501), ('', 500), ('noop', 250), ('eHlO mixed.example.test', 250),
    ]
    for line, want in table:
        got = bs.cmd(line)
        t.ok(got[0] == want, 'commands: %r -> %d' % (line, want), got)
    m = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('DATA now')]
    t.ok(codes(m) == [250, 501], 'commands: DATA with an argument: 501', m)
    q = bs.cmd('QUIT')
    rc, _ = bs.finish()
    t.ok(q[0] == 221 and rc == 0, 'commands: QUIT 221, exit 0', (q, rc))


def long_line(t):
    bs = Bs(t)
    greet(bs)
    at512 = 'NOOP ' + 'x' * (512 - 2 - 5)
    at513 = 'NOOP ' + 'x' * (513 - 2 - 5)
    t.ok(len(at512) + 2 == 512, 'long-line: the 512-octet line is 512 octets with CRLF')
    r = [bs.cmd(at512), bs.cmd(at513), bs.cmd('NOOP')]
    t.ok(codes(r) == [250, 500, 250], 'long-line: 512 taken, 513 refused (500), NOOP after it',
         r)
    bs.send('NOOP ' + 'y' * 200000 + '\r\nNOOP\r\n')
    r2 = bs.replies(2)
    t.ok(codes(r2) == [500, 250] and 'too long' in r2[0][1][0],
         'long-line: a 200 KB line is one 500 "line too long", and the next command works', r2)
    # A long line inside an open transaction does not end it.
    r3 = [bs.cmd('MAIL FROM:<sender@example.test>'),
          bs.cmd('RCPT TO:<' + 'z' * 600 + '@example.test>'), bs.cmd('RCPT TO:<ok@example.test>')]
    t.ok(codes(r3) == [250, 500, 250], 'long-line: an over-long RCPT: 500; the transaction goes '
         'on', r3)
    q = bs.cmd('QUIT')
    rc, _ = bs.finish()
    t.ok(q[0] == 221 and rc == 0, 'long-line: QUIT 221, exit 0', (q, rc))


def bad_rcpt(t, s):
    bs = Bs(t)
    greet(bs)
    bs.cmd('MAIL FROM:<sender@example.test>')
    table = [
        (b'RCPT TO:<evil@example.test\rRCPT TO:<x@example.test>>', 501, 'bare CR smuggling a RCPT'),
        (b'RCPT TO:<evil@example.test>\rRCPT TO:<x@example.test>', 501, 'bare CR after the path'),
        (b'RCPT TO:<ev\x00il@example.test>', 501, 'NUL'),
        (b'RCPT TO:<evil@example.test\x7f>', 501, 'DEL'),
        (b'RCPT TO:<evil@exa\tmple.test>', 501, 'TAB'),
        (b'RCPT TO:<ev il@example.test>', 553, 'unquoted space'),
        (b'RCPT TO:<-oQ/tmp/x@example.test>', 553, "a leading '-'"),
        (b'RCPT TO:<>', 553, 'the null path'),
        (b'RCPT TO:<evil@@example.test>', 553, 'a double @'),
        (b'RCPT TO:<evil@example.test>garbage', 501, 'garbage after >'),
        (b'RCPT TO:evil@example.test', 501, 'no angle brackets'),
        (b'RCPT TO:<evil@example.test', 501, 'no closing bracket'),
        (b'RCPT TO:<evil@example.test> NOTIFY=NEVER', 555, 'a DSN parameter (not offered)'),
        (b'RCPT FROM:<evil@example.test>', 501, 'RCPT FROM'),
    ]
    for line, want, what in table:
        bs.send(line + b'\r\n')
        got = bs.reply()
        t.ok(got[0] == want, 'bad-rcpt: %s -> %d' % (what, want), got)
    good = bs.cmd('RCPT TO:<good@example.test>')
    d = bs.cmd('DATA')
    bs.send(stuff(message('bad-rcpt')))
    end = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok(codes([good, d, end, q]) == [250, 354, 250, 221] and rc == 0,
         'bad-rcpt: then a good RCPT, and the message goes', (good, d, end, q, err))
    got = by_msgid(s, 'bad-rcpt')
    t.ok(len(got) == 1 and got[0]['rcpts'] == ['good@example.test'],
         'bad-rcpt: to the good recipient alone', got)


def crlf_rcpt(t, s):
    bs = Bs(t)
    greet(bs)
    bs.cmd('MAIL FROM:<sender@example.test>')
    bs.send('RCPT TO:<' + 'a@b.example>\r\nRCPT TO:<x@y.example' + '>\r\n')
    r = bs.replies(2)
    d = bs.cmd('DATA')
    bs.send(stuff(message('crlf-rcpt')) + 'QUIT\r\n')
    end = bs.replies(2)
    rc, _ = bs.finish()
    t.ok(codes(r) == [250, 250] and d[0] == 354 and codes(end) == [250, 221] and rc == 0,
         'crlf-rcpt: a CRLF inside the path makes two command lines, two replies', (r, d, end))
    got = by_msgid(s, 'crlf-rcpt')
    t.ok(len(got) == 1 and got[0]['rcpts'] == ['a@b.example', 'x@y.example'],
         'crlf-rcpt: each line was one RCPT, nothing else', got)


def mail_params(t, s):
    bs = Bs(t)
    greet(bs)
    table = [
        ('MAIL FROM:<s@example.test> BODY=BINARYMIME', 501),
        ('MAIL FROM:<s@example.test> SIZE=abc', 501),
        ('MAIL FROM:<s@example.test> SIZE=', 501),
        ('MAIL FROM:<s@example.test> FOO=1', 555),
        ('MAIL FROM:<s @example.test>', 553),
        ('MAIL FROM:<-s@example.test>', 553),
        ('MAIL FROM:s@example.test', 501),
        ('MAIL TO:<s@example.test>', 501),
    ]
    for line, want in table:
        got = bs.cmd(line)
        t.ok(got[0] == want, 'mail-params: %r -> %d' % (line, want), got)
    ok = bs.cmd('mail from: <params@example.test> BODY=8BITMIME SIZE=1234 SMTPUTF8')
    t.ok(ok[0] == 250, 'mail-params: BODY=8BITMIME SIZE=1234 SMTPUTF8 (lower case, a space '
         'after the colon) taken', ok)
    r = bs.cmd('RCPT TO:<@relay.example,@other.example:routed@example.test>')
    t.ok(r[0] == 250, 'mail-params: a source route is accepted', r)
    bs.cmd('DATA')
    bs.send(stuff(message('params')) + 'QUIT\r\n')
    end = bs.replies(2)
    bs.finish()
    got = by_msgid(s, 'params')
    t.ok(codes(end) == [250, 221] and len(got) == 1 and got[0]['mail_from'] == 'params@example.test'
         and got[0]['rcpts'] == ['routed@example.test'],
         'mail-params: delivered, the source route dropped', (end, got))


def error_limit(t):
    bs = Bs(t)
    bs.send('FOO\r\n' * 150)
    r = bs.replies(102)
    rest = bs.rest()
    rc, err = bs.finish()
    t.ok(r[0][0] == 220 and codes(r[1:101]) == [500] * 100 and r[101][0] == 421
         and rest == b'', 'error-limit: 100 refusals, then 421 and the end', (r[99:], rest))
    t.ok(rc == 0 and 'refused commands' in err, 'error-limit: exit 0 and a warning', (rc, err))


def main():
    t = Test('serve-errors')
    s = t.sink()
    t.profile(s.port)
    order(t, s)
    commands(t)
    long_line(t)
    bad_rcpt(t, s)
    crlf_rcpt(t, s)
    mail_params(t, s)
    error_limit(t)
    t.finish()


if __name__ == '__main__':
    main()
