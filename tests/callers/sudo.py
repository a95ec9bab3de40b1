#!/usr/bin/env python3
# sudo.py POSTIE: sudo's mailer (sudoers(5): mailerpath, mailerflags "-t", mailto "root",
# mailsub "*** SECURITY information for %h ***") with postie as mailerpath.
#
# The real sudo is driven when the test runs as root and may make a private mount namespace
# (unshare -m): there a private sudoers file is bind-mounted over /etc/sudoers, for that
# namespace only; the system's file is not changed and nothing else sees the mount. It says
#     Defaults mail_no_perms, mailerpath=PREFIX/sbin/sendmail, !syslog, logfile=TMP/sudo.log
#     root ALL=(nobody) /bin/true
# and `sudo -u nobody /bin/false`, a command not allowed, makes sudo mail root about it, once
# (mail_always would mail twice in sudo 1.9, for the command and for its exit status, and
# the count depends on the version). sudo runs the mailer as root with HOME=/ and a minimal
# environment and does not wait for it; the recording script points XDG_CONFIG_HOME at the
# private profile. Otherwise (not root, no namespaces) sudo's call is replicated: argv "-t"
# and the message sudo writes (To, From, Auto-Submitted, Subject, the log line);
# CALLERS_REPLICATE=1 asks for that path.
# Checks: argv is exactly "-t"; the bare "root" of To: becomes root@example.test (maildomain);
# the subject, Auto-Submitted and the log line arrive; postie exits 0 and prints nothing.

import os
import shutil
import socket
import subprocess

from clib import Test

HOST = socket.gethostname().split('.')[0]


def real_sudo(t):
    """Run sudo under a private sudoers: True, or None when it cannot be done."""
    if (os.geteuid() != 0 or shutil.which('unshare') is None or
            os.environ.get('CALLERS_REPLICATE')):
        return None
    probe = t.run(['unshare', '-m', 'true'])
    if probe.returncode != 0:
        t.note('unshare -m fails (%s): replicating sudo\'s call' % probe.err.strip())
        return None
    log = os.path.join(t.tmp, 'sudo.log')
    sudoers = os.path.join(t.tmp, 'sudoers')
    with open(sudoers, 'w', encoding='utf-8') as f:
        f.write('Defaults mail_no_perms\n'
                'Defaults mailerpath=%s\n'
                'Defaults !syslog\n'
                'Defaults logfile=%s\n'
                'Defaults !lecture\n'
                'root ALL=(nobody) /bin/true\n' % (t.sendmail, log))
    os.chmod(sudoers, 0o440)  # sudo refuses a sudoers file that others may write
    r = t.run(['unshare', '-m', 'sh', '-c',
               'mount --make-rprivate / && mount --bind "$1" /etc/sudoers && '
               'exec sudo -n -u nobody /bin/false', 'sh', sudoers])
    t.ok(r.returncode == 1 and 'not allowed' in r.err,
         'sudo refuses /bin/false under the private sudoers', r.out + r.err)
    try:
        with open(log, encoding='utf-8') as f:
            t.note('sudo.log: ' + f.read().strip())
    except FileNotFoundError:
        t.note('sudo wrote no log')
    return True


def replicated(t):
    """sudo's mailer call as sudoers writes it (send_mail() in its logging code)."""
    msg = ('To: root\nFrom: root\nAuto-Submitted: auto-generated\n'
           'Subject: *** SECURITY information for %s ***\n\n'
           '%s : Jan  2 03:04:05 : root : command not allowed ; PWD=/root ; USER=nobody ; '
           'COMMAND=/bin/false\n\n'
           % (HOST, HOST))
    # sudo's mailer environment: these four variables and nothing else.
    env = {'HOME': '/', 'USER': 'root', 'LOGNAME': 'root',
           'PATH': '/usr/bin:/bin:/usr/sbin:/sbin'}
    subprocess.run([t.sendmail, '-t'], input=msg.encode(), env=env, capture_output=True,
                   timeout=120)
    return True


def main():
    t = Test('sudo', programs=['sudo'], profile='maildomain example.test\n')
    if real_sudo(t) is None:
        t.note('not driving the real sudo (needs root and unshare -m): its call replicated')
        replicated(t)
    calls = t.wait_calls(1)
    t.ok(len(calls) == 1, 'postie ran once', calls)
    msgs = t.messages()
    t.ok(len(msgs) == len(calls), 'the mail at the sink', [calls, msgs])
    for i, c in enumerate(calls):
        what = 'mail %d' % (i + 1)
        t.check_call(c, ['-t'], what)
        t.note('%s: mailer environment: %s' % (what, c.env.strip().replace('\n', ' ')))
        m = next((x for x in msgs if x.body and x.body.replace(b'\r\n', b'\n') ==
                  c.stdin.partition(b'\n\n')[2]), None)
        if not t.ok(m is not None, '%s: at the sink with the body sudo wrote' % what,
                    [c.stdin, msgs]):
            continue
        t.ok(m.rcpts == ['root@example.test'],
             '%s: RCPT TO:<root@example.test>: To: root qualified by maildomain' % what, m)
        t.ok(m.one('subject') == '*** SECURITY information for %s ***' % HOST,
             '%s: Subject kept' % what, m)
        t.ok(m.one('auto-submitted') == 'auto-generated', '%s: Auto-Submitted kept' % what, m)
        t.ok(b'command not allowed' in m.body and b'COMMAND=/bin/false' in m.body,
             '%s: the log line in the body' % what, m)
        t.check_wire(m, what)
    t.finish()


if __name__ == '__main__':
    main()
