#!/usr/bin/env python3
# conversation.py POSTIE: postie -bs accepts what SMTP callers send and delivers it as a
# normal run would.
#   symfony      the conversation Symfony Mailer's "sendmail -bs" transport holds: greeting,
#                EHLO (PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES), MAIL, RCPT, DATA,
#                the dot, QUIT, each reply read before the next command; exit 0, the message
#                at the sink byte for byte with its envelope
#   dots         dot-stuffing undone (RFC 5321 §4.5.2): lines ".", "..", ".x", "...", " ." arrive
#                as the caller meant them, and exactly as `postie -i` delivers the same message
#   big          a 600 KB message whose lines start with dots at every offset across the
#                64 KiB input buffer: byte for byte
#   bare-lf      a caller that ends every line with LF alone (commands and data): understood;
#                the message arrives with CRLF line ends
#   pipelined    MAIL, two RCPTs and DATA in one write (RFC 2920), then the data, the dot and
#                QUIT in one write: every reply, in order
#   blast        a whole session with two messages, RSET and NOOP in one single write: no byte
#                lost, every reply in order, both messages delivered
#   two          two messages in one session, the second from the null sender <>, with an RSET
#                that drops a half-built transaction in between
#   helo         HELO instead of EHLO
#   many-rcpts   1001 recipients pipelined: the 1001st gets 452 4.5.3, the message goes to 1000
#   file-input   standard input a regular file (not a pipe)
#   stderr-is-stdout  `postie -bs 2>&1`: a failed message's error does not land in the
#                conversation (only reply lines on the channel), and the reply still says it
#   smuggling    SEC-30 (CVE-2023-51764): a CRLF caller's body holding "LF.LF", "LF.CRLF" or
#                "CRLF.LF" and then a second envelope: one message, with the would-be second
#                transaction inside it as text; nothing sent from the forged sender

import os
import subprocess

from bslib import Bs, Test, by_msgid, greet, message, sink_data, stuff

EXPECTED_CAPS = ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES']


def symfony(t, s):
    bs = Bs(t)
    g, ehlo = greet(bs, '[127.0.0.1]')
    t.ok(g[0] == 220 and g[1][0].endswith(' postie ESMTP'), 'symfony: greeting 220 HOST postie '
         'ESMTP', g)
    t.ok(ehlo[0] == 250 and ehlo[1][1:] == EXPECTED_CAPS,
         'symfony: EHLO lists PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES', ehlo)
    msg = message('symfony', body='Hello from Symfony.\r\n')
    r = [bs.cmd('MAIL FROM:<app@example.test>'), bs.cmd('RCPT TO:<user@example.net>'),
         bs.cmd('DATA')]
    t.ok([x[0] for x in r] == [250, 250, 354], 'symfony: MAIL 250, RCPT 250, DATA 354', r)
    bs.send(stuff(msg))
    end = bs.reply()
    t.ok(end[0] == 250 and end[1][0].startswith('2.0.0 '), 'symfony: 250 2.0.0 to the dot', end)
    q = bs.cmd('QUIT')
    t.ok(q[0] == 221, 'symfony: QUIT 221', q)
    rc, err = bs.finish()
    t.ok(rc == 0 and err == '', 'symfony: exit 0, nothing on stderr', (rc, err))
    got = by_msgid(s, 'symfony')
    t.ok(len(got) == 1 and got[0]['mail_from'] == 'app@example.test'
         and got[0]['rcpts'] == ['user@example.net'],
         'symfony: one message at the sink, MAIL FROM and RCPT TO as given', got)
    if got:
        data = sink_data(s, got[0]['seq'])
        t.ok(data == msg.encode(), 'symfony: the message arrives byte for byte', data[:300])


def dots(t, s):
    body = ('first\r\n.\r\n..\r\n.leading dot\r\n...three\r\n .space then dot\r\n'
            '. dot then space\r\nx.\r\n.\r\nlast\r\n')
    msg = message('dots', body=body)
    bs = Bs(t)
    greet(bs)
    r = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('RCPT TO:<rcpt@example.test>'),
         bs.cmd('DATA')]
    wire = stuff(msg)
    t.ok('\r\n..\r\n...\r\n' in wire, 'dots: the caller dot-stuffs (.. and ... on the wire)')
    bs.send(wire)
    end = bs.reply()
    bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok([x[0] for x in r] == [250, 250, 354] and end[0] == 250 and rc == 0,
         'dots: accepted', (r, end, rc, err))
    got = by_msgid(s, 'dots')
    data = sink_data(s, got[0]['seq']) if got else b''
    t.ok(data == msg.encode(), 'dots: un-stuffed byte for byte at the sink', data)
    # The same message through an ordinary run: the same bytes.
    path = os.path.join(t.tmp, 'dots-again.eml')
    with open(path, 'wb') as f:
        f.write(msg.replace('<dots@', '<dots-again@').encode())
    n = t.run(['-i', 'rcpt@example.test'], stdin=path)
    again = by_msgid(s, 'dots-again')
    data2 = sink_data(s, again[0]['seq']) if again else b''
    t.ok(n.rc == 0 and data2.replace(b'<dots-again@', b'<dots@') == data,
         'dots: identical to what `postie -i` delivers for the same message', (n, data2))


def big(t, s):
    lines = []
    size = 0
    i = 0
    while size < 600 * 1024:
        # Lengths 0..96 cycling, so line starts (and dots) fall at every buffer offset.
        n = i % 97
        line = ('.' if i % 3 == 0 else '') + ('%d:' % i + 'x' * n)[:n]
        if i % 11 == 0:
            line = '.'
        lines.append(line)
        size += len(line) + 2
        i += 1
    msg = message('big', body='\r\n'.join(lines) + '\r\n')
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
    r = bs.replies(3)
    bs.send(stuff(msg) + 'QUIT\r\n')
    end = bs.replies(2)
    rc, err = bs.finish()
    t.ok([x[0] for x in r + end] == [250, 250, 354, 250, 221] and rc == 0,
         'big: accepted, QUIT answered', (r, end, rc, err))
    got = by_msgid(s, 'big')
    data = sink_data(s, got[0]['seq']) if got else b''
    t.ok(data == msg.encode(), 'big: %d bytes, %d lines, byte for byte' % (len(msg), len(lines)),
         (len(data), len(msg)))


def bare_lf(t, s):
    bs = Bs(t)
    g = bs.reply()
    bs.send('EHLO lf.example.test\n')
    e = bs.reply()
    bs.send('MAIL FROM:<sender@example.test>\nRCPT TO:<rcpt@example.test>\nDATA\n')
    r = bs.replies(3)
    msg = message('bare-lf', body='one\r\n.dot\r\ntwo\r\n')
    wire = stuff(msg).replace('\r\n', '\n')
    bs.send(wire + 'QUIT\n')
    end = bs.replies(2)
    rc, err = bs.finish()
    t.ok(g[0] == 220 and e[0] == 250 and [x[0] for x in r + end] == [250, 250, 354, 250, 221]
         and rc == 0, 'bare-lf: every command understood', (g, e, r, end, rc, err))
    got = by_msgid(s, 'bare-lf')
    data = sink_data(s, got[0]['seq']) if got else b''
    t.ok(data == msg.encode(), 'bare-lf: the message arrives with CRLF, dots undone', data)


def pipelined(t, s):
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<p1@example.test>\r\n'
            'RCPT TO:<p2@example.test>\r\nDATA\r\n')
    r = bs.replies(4)
    t.ok([x[0] for x in r] == [250, 250, 250, 354], 'pipelined: MAIL RCPT RCPT DATA in one write: '
         '250 250 250 354', r)
    msg = message('pipelined')
    bs.send(stuff(msg) + 'QUIT\r\n')
    end = bs.replies(2)
    rc, err = bs.finish()
    t.ok([x[0] for x in end] == [250, 221] and rc == 0, 'pipelined: the data, the dot and QUIT '
         'in one write: 250 221', (end, rc, err))
    got = by_msgid(s, 'pipelined')
    t.ok(len(got) == 1 and got[0]['rcpts'] == ['p1@example.test', 'p2@example.test'],
         'pipelined: delivered once to both', got)


def blast(t, s):
    m1 = message('blast-1', body='.one\r\n')
    m2 = message('blast-2', body='two\r\n.\r\n')
    script = ('EHLO blast.example.test\r\n'
              'MAIL FROM:<b1@example.test>\r\nRCPT TO:<r1@example.test>\r\nDATA\r\n'
              + stuff(m1)
              + 'RSET\r\nNOOP\r\n'
              'MAIL FROM:<b2@example.test>\r\nRCPT TO:<r2@example.test>\r\n'
              'RCPT TO:<r3@example.test>\r\nDATA\r\n'
              + stuff(m2)
              + 'QUIT\r\n')
    bs = Bs(t)
    bs.send(script)
    r = bs.replies(14)
    rest = bs.rest()
    rc, err = bs.finish()
    want = [220, 250, 250, 250, 354, 250, 250, 250, 250, 250, 250, 354, 250, 221]
    t.ok([x[0] for x in r] == want and rest == b'' and rc == 0,
         'blast: a whole session in one write: every reply in order, then the end', (r, rest))
    a, b = by_msgid(s, 'blast-1'), by_msgid(s, 'blast-2')
    t.ok(len(a) == 1 and a[0]['mail_from'] == 'b1@example.test'
         and a[0]['rcpts'] == ['r1@example.test'] and sink_data(s, a[0]['seq']) == m1.encode(),
         'blast: the first message, envelope and bytes', a)
    t.ok(len(b) == 1 and b[0]['mail_from'] == 'b2@example.test'
         and b[0]['rcpts'] == ['r2@example.test', 'r3@example.test']
         and sink_data(s, b[0]['seq']) == m2.encode(),
         'blast: the second message, envelope and bytes', b)


def two(t, s):
    bs = Bs(t)
    greet(bs)
    r1 = [bs.cmd('MAIL FROM:<first@example.test>'), bs.cmd('RCPT TO:<a@example.test>'),
          bs.cmd('DATA')]
    bs.send(stuff(message('two-1')))
    e1 = bs.reply()
    # Half a transaction, then RSET: nothing of it may reach the second message.
    half = [bs.cmd('MAIL FROM:<dropped@example.test>'), bs.cmd('RCPT TO:<dropped@example.test>'),
            bs.cmd('RSET')]
    r2 = [bs.cmd('MAIL FROM:<>'), bs.cmd('RCPT TO:<b@example.test>'), bs.cmd('DATA')]
    bs.send(stuff(message('two-2')))
    e2 = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok([x[0] for x in r1 + [e1] + half + r2 + [e2, q]]
         == [250, 250, 354, 250, 250, 250, 250, 250, 250, 354, 250, 221] and rc == 0,
         'two: two messages, an RSET between', (r1, e1, half, r2, e2, q, err))
    a, b = by_msgid(s, 'two-1'), by_msgid(s, 'two-2')
    t.ok(len(a) == 1 and a[0]['mail_from'] == 'first@example.test'
         and a[0]['rcpts'] == ['a@example.test'], 'two: the first as sent', a)
    t.ok(len(b) == 1 and b[0]['mail_from'] == '' and b[0]['rcpts'] == ['b@example.test'],
         'two: the second from the null sender <>, to b only (RSET dropped the rest)', b)


def helo(t, s):
    bs = Bs(t)
    g = bs.reply()
    h = bs.cmd('HELO old.example.test')
    r = [bs.cmd('MAIL FROM:<sender@example.test>'), bs.cmd('RCPT TO:<rcpt@example.test>'),
         bs.cmd('DATA')]
    bs.send(stuff(message('helo')))
    e = bs.reply()
    q = bs.cmd('QUIT')
    rc, err = bs.finish()
    t.ok(g[0] == 220 and h[0] == 250 and len(h[1]) == 1, 'helo: HELO gets a one-line 250', h)
    t.ok([x[0] for x in r + [e, q]] == [250, 250, 354, 250, 221] and len(by_msgid(s, 'helo')) == 1,
         'helo: and the message goes', (r, e, q, err))


def many_rcpts(t, s):
    bs = Bs(t)
    greet(bs)
    addrs = ['m%04d@example.test' % i for i in range(1001)]
    bs.send('MAIL FROM:<sender@example.test>\r\n'
            + ''.join('RCPT TO:<%s>\r\n' % a for a in addrs) + 'DATA\r\n')
    r = bs.replies(1003)
    codes = [x[0] for x in r]
    t.ok(codes[:1001] == [250] * 1001 and codes[1001] == 452 and '4.5.3' in r[1001][1][0]
         and codes[1002] == 354, 'many-rcpts: 1000 accepted, the 1001st 452 4.5.3, DATA 354',
         (codes[995:], r[1001]))
    bs.send(stuff(message('many')) + 'QUIT\r\n')
    end = bs.replies(2)
    rc, err = bs.finish()
    got = by_msgid(s, 'many')
    t.ok([x[0] for x in end] == [250, 221] and len(got) == 1 and got[0]['rcpts'] == addrs[:1000],
         'many-rcpts: delivered once to the 1000', (end, len(got) and len(got[0]['rcpts']), err))


def file_input(t, s):
    path = os.path.join(t.tmp, 'session.txt')
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write('EHLO file.example.test\r\nMAIL FROM:<sender@example.test>\r\n'
                'RCPT TO:<rcpt@example.test>\r\nDATA\r\n' + stuff(message('file')) + 'QUIT\r\n')
    with open(path, 'rb') as fin:
        p = subprocess.run(t.argv(['-bs']), stdin=fin, capture_output=True, env=t.env, timeout=30)
    codes = [int(x[:3]) for x in p.stdout.split(b'\r\n') if x[3:4] == b' ']
    t.ok(p.returncode == 0 and codes == [220, 250, 250, 250, 354, 250, 221]
         and len(by_msgid(s, 'file')) == 1, 'file-input: a session read from a regular file',
         (p.returncode, p.stdout, p.stderr))


def stderr_is_stdout(t, s):
    session = ('EHLO e.example.test\r\nMAIL FROM:<sender@example.test>\r\n'
               'RCPT TO:<rcpt@example.test>\r\nDATA\r\n'
               'Subject: nul\r\n\r\nbad \x00 byte\r\n.\r\nQUIT\r\n')
    p = subprocess.run(t.argv(['-bs']), input=session.encode('latin-1'),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=t.env, timeout=30)
    lines = [x for x in p.stdout.split(b'\r\n') if x]
    t.ok(p.returncode == 0 and lines and all(x[:3].isdigit() and x[3:4] in (b' ', b'-')
                                             for x in lines),
         'stderr-is-stdout: only reply lines on the channel', p.stdout)
    codes = [int(x[:3]) for x in lines if x[3:4] == b' ']
    t.ok(codes[-2:-1] and codes[-2] >= 500 and codes[-1] == 221,
         'stderr-is-stdout: the failure is in the reply to the dot', p.stdout)


def smuggling(t, s):
    for i, end in enumerate(('\n.\n', '\n.\r\n', '\r\n.\n')):
        mid = 'smuggle%d' % i
        forged = ('MAIL FROM:<ceo@example.test>\r\nRCPT TO:<victim@evil.example>\r\nDATA\r\n'
                  'Message-ID: <forged%d@example.test>\r\n\r\nforged\r\n' % i)
        bs = Bs(t)
        greet(bs)
        r = [bs.cmd('MAIL FROM:<app@example.test>'), bs.cmd('RCPT TO:<user@example.net>'),
             bs.cmd('DATA')]
        msg = message(mid, body='user text' + end + forged)
        bs.send(msg + '.\r\n')
        done = bs.reply()
        q = bs.cmd('QUIT')
        rc, err = bs.finish()
        got = by_msgid(s, mid)
        forged_got = [m for m in list(s.messages) if m['mail_from'] == 'ceo@example.test']
        t.ok([x[0] for x in r] == [250, 250, 354] and done[0] == 250 and q[0] == 221
             and rc == 0, 'smuggling %r: one message accepted, QUIT answered' % end,
             (r, done, q, rc, err))
        t.ok(len(got) == 1 and got[0]['mail_from'] == 'app@example.test'
             and got[0]['rcpts'] == ['user@example.net'] and not forged_got,
             'smuggling %r: one transaction from the caller, none from the forged sender'
             % end, (got, forged_got))
        data = sink_data(s, got[0]['seq']) if got else b''
        t.ok(b'RCPT TO:<victim@evil.example>' in data,
             'smuggling %r: the would-be commands are text of the message' % end, data[-300:])


def main():
    t = Test('serve-conversation')
    s = t.sink()
    t.profile(s.port)
    for f in (symfony, dots, big, bare_lf, pipelined, blast, two, helo, many_rcpts, file_input,
              smuggling, stderr_is_stdout):
        f(t, s)
    t.finish()


if __name__ == '__main__':
    main()
