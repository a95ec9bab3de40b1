#!/usr/bin/env python3
# cron.py POSTIE: what Debian's cron (3.0pl1-162, Debian 12) runs to mail a job's output.
#
# The real daemon is not driven: it runs only /usr/sbin/sendmail (compiled in), from the
# system crontabs, at minute boundaries. Its exact command and message are replicated
# instead, as found in the package's /usr/sbin/cron (format strings
# "%s -FCronDaemon -i -B8BITMIME -oem  %s" run through popen, so the argv below, and
# "From: %s" (default "root (Cron Daemon)"), "To: %s", "Subject: Cron <%s@%s> %s%s",
# "MIME-Version: 1.0", "Content-Type: text/plain; charset=%s",
# "Content-Transfer-Encoding: 8bit", "X-Cron-Env: <%s>", written with LF line ends).
#   argv: sendmail -FCronDaemon -i -B8BITMIME -oem USER    (USER: the crontab's owner or
#         MAILTO; a bare local name here)
# Checks: postie accepts every flag, qualifies the bare recipient with the profile's
# maildomain (user@example.test), declares BODY=8BITMIME for the 8-bit body (RFC 6152; the
# sink offers 8BITMIME), keeps cron's From (perhaps qualified; no second From from -F), the
# body byte-exact with its "." line (-i), and exits 0 silently (cron logs a non-zero status).

from clib import Test, crlf

ARGV = ['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'alice']
HEAD = ('From: root (Cron Daemon)\n'
        'To: alice\n'
        'Subject: Cron <alice@buildhost> /home/alice/bin/backup --nightly\n'
        'MIME-Version: 1.0\n'
        'Content-Type: text/plain; charset=UTF-8\n'
        'Content-Transfer-Encoding: 8bit\n'
        'X-Cron-Env: <SHELL=/bin/sh>\n'
        'X-Cron-Env: <HOME=/home/alice>\n'
        'X-Cron-Env: <PATH=/usr/bin:/bin>\n'
        'X-Cron-Env: <LOGNAME=alice>\n'
        '\n')
BODY = ('backup: 3 files copied to /srv/backup\n'
        'Grüße aus dem Keller — 8-bit text, as cron passes it on\n'
        '.\n'
        'backup: done\n')


def main():
    t = Test('cron', profile='maildomain example.test\n')
    r = t.run([t.sendmail] + ARGV, input=(HEAD + BODY).encode('utf-8'),
              env={'HOME': t.home, 'LOGNAME': 'alice', 'SHELL': '/bin/sh'})
    calls = t.calls()
    c = calls[0] if calls else None
    t.note('postie: exit %s%s' % (r.returncode, (', stderr: ' + r.err.strip()) if r.err else ''))
    t.check_call(c, ARGV, 'cron')
    msgs = t.messages()
    t.ok(len(msgs) == 1, 'one message at the sink', msgs)
    if msgs:
        m = msgs[0]
        t.ok(m.rcpts == ['alice@example.test'],
             'RCPT TO:<alice@example.test>: the bare name qualified by maildomain', m)
        t.ok(m.mail_from == 'sender@example.test', 'MAIL FROM is the profile\'s from', m)
        mail = t.mail_lines()
        t.ok(len(mail) == 1 and 'BODY=8BITMIME' in mail[0].upper(),
             'MAIL FROM carries BODY=8BITMIME (-B8BITMIME, an 8-bit body)', mail)
        # A bare local name in a header may be qualified too (as sendmail and Postfix do),
        # but cron's From stays the only one: -F names an added From, and none is added.
        t.ok(m.header('from') in (['root (Cron Daemon)'], ['root@example.test (Cron Daemon)']),
             'cron\'s From kept (maybe qualified), no second From for -FCronDaemon',
             m.header('from'))
        t.ok(m.one('subject') == 'Cron <alice@buildhost> /home/alice/bin/backup --nightly',
             'Subject kept', m)
        t.ok(m.header('x-cron-env') == ['<SHELL=/bin/sh>', '<HOME=/home/alice>',
                                        '<PATH=/usr/bin:/bin>', '<LOGNAME=alice>'],
             'the four X-Cron-Env headers kept, in order', m)
        t.ok(m.one('content-type') == 'text/plain; charset=UTF-8', 'Content-Type kept', m)
        t.ok(m.body == crlf(BODY), 'body byte-exact (UTF-8, the "." line kept), CRLF', m)
        t.check_wire(m, 'cron')
    t.finish()


if __name__ == '__main__':
    main()
