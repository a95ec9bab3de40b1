#!/usr/bin/env python3
# eof.py POSTIE: how a -bs conversation ends without QUIT, and when standard output fails.
#   after-greeting  the caller closes its end at once: exit 0, nothing on stderr
#   after-message   a message accepted (250), then the end of input without QUIT: exit 0, the
#                   message delivered once
#   in-transaction  the input ends after RCPT: exit 0, nothing sent
#   in-data         the input ends inside the data: exit 0, nothing sent, a warning on stderr
#                   (the caller never had a 250)
#   mid-line        the input ends inside a command line: the partial command is not run
#   dot-no-crlf     the input ends right after "." (no line end): not the end of the data,
#                   nothing sent
#   stdout-closed   the caller closed postie's standard output: exit 74 (EX_IOERR), the reason
#                   on stderr

import subprocess

from bslib import Bs, Test, by_msgid, greet, message, stuff


def after_greeting(t, s):
    bs = Bs(t)
    g = bs.reply()
    rc, err = bs.finish()
    t.ok(g[0] == 220 and rc == 0 and err == '', 'after-greeting: exit 0, quiet', (g, rc, err))


def after_message(t, s):
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
    r = bs.replies(3)
    bs.send(stuff(message('eof-after')))
    end = bs.reply()
    rest_before = bs.buf
    rc, err = bs.finish()
    t.ok([x[0] for x in r] == [250, 250, 354] and end[0] == 250 and rest_before == b''
         and rc == 0, 'after-message: 250, then EOF without QUIT: exit 0', (r, end, rc, err))
    t.ok(len(by_msgid(s, 'eof-after')) == 1, 'after-message: delivered once')


def in_transaction(t, s):
    n = len(s.messages)
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\n')
    r = bs.replies(2)
    rc, err = bs.finish()
    t.ok([x[0] for x in r] == [250, 250] and rc == 0 and len(s.messages) == n,
         'in-transaction: EOF after RCPT: exit 0, nothing sent', (r, rc, err))


def in_data(t, s):
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
    bs.replies(3)
    bs.send(message('eof-in-data') + 'more of the body, and then nothing\r\n')
    bs.close_input()
    rest = bs.rest()
    rc, err = bs.finish()
    t.ok(rc == 0 and rest == b'' and len(by_msgid(s, 'eof-in-data')) == 0,
         'in-data: EOF inside the data: exit 0, no reply, nothing sent', (rc, rest))
    t.ok('ended inside DATA' in err and 'not sent' in err, 'in-data: a warning says the message '
         'was not sent', err)


def mid_line(t, s):
    n = len(s.messages)
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
    bs.replies(3)
    bs.send(stuff(message('eof-mid-line')))
    end = bs.reply()
    bs.send('MAIL FROM:<sender@exam')
    bs.close_input()
    rest = bs.rest()
    rc, _ = bs.finish()
    t.ok(end[0] == 250 and rest == b'' and rc == 0 and len(s.messages) == n + 1,
         'mid-line: a command cut by EOF is not run (no reply), exit 0', (end, rest, rc))


def dot_no_crlf(t, s):
    bs = Bs(t)
    greet(bs)
    bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
    bs.replies(3)
    bs.send(message('eof-dot') + '.')
    bs.close_input()
    rest = bs.rest()
    rc, err = bs.finish()
    t.ok(rest == b'' and rc == 0 and len(by_msgid(s, 'eof-dot')) == 0,
         'dot-no-crlf: "." then EOF is not the end of the data: nothing sent', (rest, rc, err))


def stdout_closed(t, s):
    p = subprocess.Popen(t.argv(['-bs']), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=t.env)
    t.children.append(p)
    p.stdout.close()  # the caller stops reading before the greeting
    try:
        out, err = p.communicate(b'EHLO x\r\nQUIT\r\n', timeout=30)
    except (BrokenPipeError, ValueError):
        err = p.stderr.read()
        p.wait(30)
    err = err.decode('utf-8', 'replace')
    t.ok(p.returncode == 74 and 'standard output' in err,
         'stdout-closed: exit 74 (EX_IOERR) saying standard output', (p.returncode, err))


def main():
    t = Test('serve-eof')
    s = t.sink()
    t.profile(s.port)
    for f in (after_greeting, after_message, in_transaction, in_data, mid_line, dot_no_crlf,
              stdout_closed):
        f(t, s)
    t.finish()


if __name__ == '__main__':
    main()
