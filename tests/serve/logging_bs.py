#!/usr/bin/env python3
# logging_bs.py POSTIE: the account's logfile (msmtp's line, src/maillog.c) for messages that
# came in over -bs.
#   dash     `logfile -` under -bs: the log line must not reach the SMTP conversation on
#            standard output (every line there is a reply); it goes to stderr instead
#   file     `logfile FILE` with `logfile_time_format %s`: one line per message, appended,
#            mode 0600; msmtp's fields in order (host tls auth from recipients mailsize ...
#            exitcode), then msgid and port; a refused message has exitcode=EX_TEMPFAIL and
#            errormsg quoting the server; a -bs caller's CR or LF can never split a line

import os
import re
import stat

from bslib import Bs, Test, greet, message, stuff

REPLY = re.compile(rb'^[2-5][0-9][0-9][ -][^\r\n]*\r\n$')


def session(t, prof, mids):
    bs = Bs(t, profile=prof)
    greet(bs)
    ends = []
    for mid in mids:
        bs.send('MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n')
        bs.replies(3)
        bs.send(stuff(message(mid)))
        ends.append(bs.reply())
    bs.send('QUIT\r\n')
    bs.reply()
    rc, err = bs.finish()
    return bs, ends, rc, err


def dash(t):
    s = t.sink('sink-dash')
    prof = t.profile(s.port, extra='logfile -\n', path=os.path.join(t.tmp, 'profile-dash'),
                     qdir=os.path.join(t.tmp, 'q-dash'))
    bs, ends, rc, err = session(t, prof, ['log-dash'])
    lines = bs.received + ([bs.buf] if bs.buf else [])
    t.ok(ends[0][0] == 250 and rc == 0, 'dash: delivered', (ends, rc, err))
    t.ok(len(lines) == 11 and all(REPLY.match(x) for x in lines),
         'dash: standard output holds the 11 SMTP replies and nothing else', lines)
    t.ok(re.search(r'host=127\.0\.0\.1 tls=off auth=off from=sender@example\.test '
                   r'recipients=rcpt@example\.test .*exitcode=EX_OK msgid=<log-dash@example\.test>',
                   err) is not None, 'dash: the log line went to stderr', err)


def logfile(t):
    s = t.sink('sink-file', refuse=1, refuse_at='dot')
    path = os.path.join(t.tmp, 'mail.log')
    prof = t.profile(s.port, extra='queue off\nlogfile %s\nlogfile_time_format %%s\n' % path,
                     path=os.path.join(t.tmp, 'profile-file'), qdir=os.path.join(t.tmp, 'q-file'))
    bs, ends, rc, err = session(t, prof, ['log-1', 'log-2'])
    t.ok([x[0] for x in ends] == [451, 250] and rc == 0, 'file: the first refused (451), the '
         'second delivered', (ends, err))
    try:
        with open(path, 'rb') as f:
            text = f.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as x:
        text, mode = b'', str(x)
    lines = text.decode('utf-8', 'replace').split('\n')
    t.ok(len(lines) == 3 and lines[2] == '' and mode == 0o600,
         'file: two lines, the log file mode 0600', (lines, mode))
    if len(lines) == 3:
        a, b = lines[0], lines[1]
        t.ok(re.fullmatch(r"\d+ host=127\.0\.0\.1 tls=off auth=off from=sender@example\.test "
                          r"recipients=rcpt@example\.test (smtpstatus=451 )?"
                          r"errormsg='[^']*451 4\.3\.0 sink: try again later[^']*' "
                          r"exitcode=EX_TEMPFAIL msgid=<log-1@example\.test> port=\d+", a)
             is not None, 'file: the refused one, msmtp\'s fields, errormsg, EX_TEMPFAIL', a)
        t.ok(re.fullmatch(r"\d+ host=127\.0\.0\.1 tls=off auth=off from=sender@example\.test "
                          r"recipients=rcpt@example\.test mailsize=\d+ "
                          r"(smtpstatus=250 smtpmsg='250 [^']*' )?"
                          r"exitcode=EX_OK msgid=<log-2@example\.test> port=%d" % s.port, b)
             is not None, 'file: the delivered one, mailsize, EX_OK, msgid, port', b)


def main():
    t = Test('serve-logging')
    dash(t)
    logfile(t)
    t.finish()


if __name__ == '__main__':
    main()
