#!/usr/bin/env python3
# msmtp.py POSTIE: an msmtp user's profile, unchanged, delivers (issue 12). No postie profile
# and no -C: postie reads msmtp's profile as the user's own (SEC-47) and, msmtp's way, sends
# the password as the OAuth access token to a server that checks it (fakeoauth.py with
# `auth-creds USER TOKEN`). Prints TAP.
#
#   1. ~/.msmtprc, `auth xoauth2`, `passwordeval "echo TOKEN"`: delivered, XOAUTH2 with
#      that token; -v says which file was read; the token is never on stderr;
#   2. the same profile, a server that expects another token: exit 77, no MAIL;
#   3. $XDG_CONFIG_HOME/msmtp/config, `auth oauthbearer`, `password TOKEN`: delivered with
#      OAUTHBEARER;
#   4. a 451 to MAIL queues the message (bound to msmtp's file), `postie -q` later sends it
#      through the same msmtp profile;
#   5. SEC-47: the same ~/.msmtprc writable by its group is refused (78), its passwordeval
#      does not run, nothing connects.

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

FAKE = os.path.join(HERE, 'fakeoauth.py')
TAP = postietest.Tap('msmtp')
TOKEN = 'ya29.a0AfH6SM-msmtp_token'
USER = 'me@example.test'


def ok(cond, what):
    return TAP.ok(cond, what.replace('\n', ' | '))


def diag(text):
    for line in text.splitlines():
        print('#   ' + line)


class Runs:
    def __init__(self, tmp, postie):
        self.tmp, self.postie, self.k = tmp, postie, 0
        self.home = os.path.join(tmp, 'home')
        os.makedirs(self.home, mode=0o700)
        self.env = postietest.private_env(self.home)
        self.certs = os.path.join(tmp, 'certs')
        postietest.gencerts(self.certs).check_returncode()
        self.ca = os.path.join(self.certs, 'ca.pem')

    def server(self, script):
        """A fresh fakeoauth.py with SCRIPT: (process, port, its record folder)."""
        self.k += 1
        out = os.path.join(self.tmp, 'server%d' % self.k)
        os.makedirs(out)
        path = os.path.join(self.tmp, 'script%d' % self.k)
        with open(path, 'w') as f:
            f.write(script)
        srv = subprocess.Popen([sys.executable, FAKE, '--script', path, '--certs', self.certs,
                                '--out', out], stdout=subprocess.PIPE,
                               stderr=open(os.path.join(out, 'stderr'), 'wb'))
        return srv, int(srv.stdout.readline().split()[1]), out

    def write(self, rel, text, mode=0o600):
        path = os.path.join(self.home, rel)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run(self, args, script, profile_rel, profile, connects=True):
        """postie ARGS (no -C) against a server with SCRIPT, msmtp's profile PROFILE (its
        text with %(port)d, %(ca)s) at PROFILE_REL under HOME. Returns (status, stderr,
        auth.txt lines, commands.txt lines, data or None, connections). CONNECTS false: a
        run that should not connect; its server is stopped at once."""
        srv, port, out = self.server(script)
        self.write(profile_rel, profile % {'port': port, 'ca': self.ca},
                   getattr(self, 'mode', 0o600))
        p = subprocess.run([self.postie] + args, input=b'Subject: msmtp\n\nHello.\n',
                           capture_output=True, env=self.env, timeout=30)
        try:
            srv.wait(timeout=10 if connects else 0.2)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
        srv.stdout.close()

        def read(name):
            try:
                with open(os.path.join(out, name), encoding='utf-8', errors='replace') as f:
                    return f.read()
            except OSError:
                return None
        return (p.returncode, p.stderr.decode('utf-8', 'replace'),
                (read('auth.txt') or '').splitlines(), (read('commands.txt') or '').splitlines(),
                read('data1.bin'), (read('connections') or '').strip())


XOAUTH2_RC = ('# ~/.msmtprc as the msmtp + oama guides write it\n'
              'defaults\n'
              'auth on\n'
              'tls on\n'
              'tls_trust_file %(ca)s\n'
              'logfile ~/.msmtp.log\n'
              '\n'
              'account gmail\n'
              'host 127.0.0.1\n'
              'port %(port)d\n'
              'from ' + USER + '\n'
              'user ' + USER + '\n'
              'auth xoauth2\n'
              'passwordeval "echo ' + TOKEN + '"\n'
              '\n'
              'account default : gmail\n')

OAUTHBEARER_RC = ('account default\n'
                  'host 127.0.0.1\n'
                  'port %(port)d\n'
                  'tls on\n'
                  'tls_trust_file %(ca)s\n'
                  'from ' + USER + '\n'
                  'user ' + USER + '\n'
                  'auth oauthbearer\n'
                  'password ' + TOKEN + '\n')

XO = 'caps-plain STARTTLS\ncaps-tls AUTH XOAUTH2 OAUTHBEARER PLAIN, PIPELINING\n'


def check_xoauth2(r):
    st, err, auth, cmds, data, _ = r.run(['-v', 'rcpt@example.test'],
                                         XO + 'auth-creds %s %s\n' % (USER, TOKEN),
                                         '.msmtprc', XOAUTH2_RC)
    ok(st == 0, '~/.msmtprc, xoauth2 + passwordeval: delivered (exit %d)' % st) or diag(err)
    ok(auth == ['XOAUTH2 user=%s token=%s' % (USER, TOKEN)],
       'the password command\'s output went out as the XOAUTH2 token (%s)' % auth)
    ok(data is not None and 'Hello.' in data, 'the message arrived')
    ok("reading msmtp's %s/.msmtprc as yours" % r.home in err,
       '-v says msmtp\'s profile was read in place of postie\'s')
    ok(TOKEN not in err and 'AUTH XOAUTH2 <redacted>' in err,
       'SEC-13: the token is not on stderr, the transcript redacts it')
    ok(os.path.exists(os.path.join(r.home, '.msmtp.log')),
       'SEC-47: the fallback is the user\'s profile: its logfile is written')

    st, err, auth, cmds, data, _ = r.run(['rcpt@example.test'],
                                         XO + 'auth-creds %s other-token\n' % USER,
                                         '.msmtprc', XOAUTH2_RC)
    ok(st == 77, 'a server that expects another token: exit 77 (%d)' % st) or diag(err)
    ok(not any(c.startswith('MAIL') for c in cmds), 'no MAIL after the refusal')
    ok(TOKEN not in err, 'the token is not on stderr')
    os.unlink(os.path.join(r.home, '.msmtprc'))


def check_oauthbearer(r):
    st, err, auth, cmds, data, _ = r.run(['rcpt@example.test'],
                                         XO + 'auth-creds %s %s\n' % (USER, TOKEN),
                                         '.config/msmtp/config', OAUTHBEARER_RC)
    ok(st == 0, '$XDG_CONFIG_HOME/msmtp/config, oauthbearer + password: delivered (exit %d)'
       % st) or diag(err)
    ok(auth == ['OAUTHBEARER user=%s token=%s' % (USER, TOKEN)],
       'the password went out as the OAUTHBEARER token (%s)' % auth)
    os.unlink(os.path.join(r.home, '.config', 'msmtp', 'config'))


def check_queue(r):
    st, err, auth, cmds, data, _ = r.run(['rcpt@example.test'],
                                         XO + 'reply MAIL 451 4.3.0 try later\n',
                                         '.msmtprc', XOAUTH2_RC)
    ok(st == 0 and 'queued as' in err, 'a 451: queued (exit %d)' % st) or diag(err)
    st, err, auth, cmds, data, _ = r.run(['-q'], XO + 'auth-creds %s %s\n' % (USER, TOKEN),
                                         '.msmtprc', XOAUTH2_RC)
    ok(st == 0 and data is not None and 'Hello.' in data,
       'postie -q sends it through the same msmtp profile (exit %d)' % st) or diag(err)
    os.unlink(os.path.join(r.home, '.msmtprc'))


def check_refused(r):
    ran = os.path.join(r.tmp, 'ran')
    r.mode = 0o620
    st, err, auth, cmds, data, conns = r.run(
        ['rcpt@example.test'], XO, '.msmtprc',
        XOAUTH2_RC.replace('echo ' + TOKEN, 'touch ' + ran), connects=False)
    r.mode = 0o600
    ok(st == 78 and 'SEC-47' in err and 'group or others may write' in err,
       'SEC-47: ~/.msmtprc its group may write is refused (exit %d): %s' % (st, err.strip()))
    ok(not os.path.exists(ran), 'its passwordeval did not run')
    ok(conns == '0', 'nothing connected (%s)' % conns)


def main():
    if len(sys.argv) != 2:
        print('usage: msmtp.py POSTIE', file=sys.stderr)
        return 2
    if not postietest.have_certtool():
        print('1..0 # SKIP certtool (GnuTLS) not installed')
        return 0
    tmpdir = postietest.TempDir('msmtp')
    try:
        r = Runs(tmpdir.path, os.path.abspath(sys.argv[1]))
        check_xoauth2(r)
        check_oauthbearer(r)
        check_queue(r)
        check_refused(r)
    finally:
        tmpdir.end(TAP.failed or sys.exc_info()[0] is not None)
    return TAP.plan()


if __name__ == '__main__':
    sys.exit(main())
