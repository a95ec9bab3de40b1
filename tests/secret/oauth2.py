#!/usr/bin/env python3
# oauth2.py POSTIE: oauth2_token_command end to end, several runs sharing one HOME (so one
# token cache), each against a fresh fake server (fakeoauth.py). Prints TAP.
#
#   1. no cache: the command runs once, its token goes out as AUTH XOAUTH2;
#   2. a second run: the token comes from the cache, the command does not run;
#   3. the server refuses the cached token: postie forgets it, runs the command once more
#      and logs in with the new token on the same connection;
#   4. the new token is cached in turn;
#   5. the server refuses the cached token and the new one: exit 77, no MAIL, nothing
#      left in the cache;
#   6. OAUTHBEARER (RFC 7628) when the server offers it;
#   7. a failing command: exit 78 before any connection, the command not quoted.
# Tokens never appear on stderr, even with -v (SEC-13).

import base64
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

FAKE = os.path.join(HERE, 'fakeoauth.py')
TAP = postietest.Tap('oauth2')


def ok(cond, what):
    return TAP.ok(cond, what.replace('\n', ' | '))


def diag(text):
    for line in text.splitlines():
        print('#   ' + line)


class Run:
    def __init__(self, tmp, postie):
        self.tmp, self.postie, self.k = tmp, postie, 0
        self.home = os.path.join(tmp, 'home')
        self.env = postietest.private_env(self.home)
        self.certs = os.path.join(tmp, 'certs')
        postietest.gencerts(self.certs).check_returncode()
        self.cmd = os.path.join(tmp, 'tokcmd')
        with open(self.cmd, 'w') as f:
            f.write('#!/bin/sh\n'
                    'n=$(cat "$0.count" 2>/dev/null || echo 0)\n'
                    'n=$((n + 1))\n'
                    'echo $n > "$0.count"\n'
                    '[ -e "$0.fail" ] && exit 3\n'
                    'printf "tok-%s\\n3600\\n" $n\n')
        os.chmod(self.cmd, 0o700)

    def runs(self):
        try:
            with open(self.cmd + '.count') as f:
                return int(f.read())
        except OSError:
            return 0

    def __call__(self, server):
        """One postie run against a new server with the script SERVER. Returns the exit
        status, stderr, the server's auth.txt and commands.txt lines, and its connections."""
        self.k += 1
        out = os.path.join(self.tmp, 'server%d' % self.k)
        os.makedirs(out)
        script = os.path.join(self.tmp, 'script%d' % self.k)
        with open(script, 'w') as f:
            f.write(server)
        srv = subprocess.Popen([sys.executable, FAKE, '--script', script, '--certs',
                                self.certs, '--out', out], stdout=subprocess.PIPE,
                               stderr=open(os.path.join(out, 'stderr'), 'wb'))
        port = int(srv.stdout.readline().split()[1])
        # In the user's config folder: a profile -C names elsewhere runs no command (SEC-43).
        profile = os.path.join(self.home, '.config', 'postie', 'profile')
        os.makedirs(os.path.dirname(profile), exist_ok=True)
        with open(profile, 'w') as f:
            f.write('account default\nhost 127.0.0.1\nport %d\ntls on\ntls_starttls on\n'
                    'tls_trust_file %s\nfrom sender@example.test\nuser alice\n'
                    'oauth2_token_command %s\n' % (port, os.path.join(self.certs, 'ca.pem'),
                                                   self.cmd))
        os.chmod(profile, 0o600)
        p = subprocess.run([self.postie, '-C', profile, '-v', 'rcpt@example.test'],
                           input=b'Subject: oauth2\n\nHello.\n', capture_output=True,
                           env=self.env,
                           timeout=30)
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
        srv.stdout.close()

        def lines(name):
            try:
                with open(os.path.join(out, name), encoding='utf-8') as f:
                    return f.read().splitlines()
            except OSError:
                return []
        stderr = p.stderr.decode('utf-8', 'replace')
        return p.returncode, stderr, lines('auth.txt'), lines('commands.txt'), \
            ''.join(lines('connections')).strip()


def xoauth2(user, token):
    return 'AUTH XOAUTH2 ' + base64.b64encode(
        ('user=%s\x01auth=Bearer %s\x01\x01' % (user, token)).encode()).decode()


def main():
    if len(sys.argv) != 2:
        print('usage: oauth2.py POSTIE', file=sys.stderr)
        return 2
    if not postietest.have_certtool():
        print('1..0 # SKIP certtool (GnuTLS) not installed')
        return 0
    tmpdir = postietest.TempDir('oauth2')
    tmp = tmpdir.path
    try:
        run = Run(tmp, os.path.abspath(sys.argv[1]))
        xo = 'caps-plain STARTTLS\ncaps-tls AUTH XOAUTH2, PIPELINING\n'
        cache = os.path.join(run.home, '.cache', 'postie', 'oauth2', 'default')

        st, err, auth, cmds, _ = run(xo + 'auth-creds alice tok-1\n')
        ok(st == 0, 'first run delivers (exit %d)' % st) or diag(err)
        ok(run.runs() == 1, 'first run: the command ran once (%d)' % run.runs())
        ok(auth == ['XOAUTH2 user=alice token=tok-1'], 'first run: its token went out (%s)'
           % auth)
        ok(xoauth2('alice', 'tok-1') in cmds, 'the AUTH XOAUTH2 line is Google\'s format')
        ok('tok-1' not in err and 'AUTH XOAUTH2 <redacted>' in err,
           'first run: the token is not on stderr, the transcript redacts it')
        ok(os.path.exists(cache) and (os.stat(cache).st_mode & 0o777) == 0o600,
           'the token is cached in ~/.cache/postie/oauth2/default, mode 0600')

        st, err, auth, cmds, _ = run(xo + 'auth-creds alice tok-1\n')
        ok(st == 0, 'second run delivers (exit %d)' % st) or diag(err)
        ok(run.runs() == 1, 'second run: the command did not run, the cache served (%d)'
           % run.runs())
        ok(auth == ['XOAUTH2 user=alice token=tok-1'], 'second run: the cached token (%s)'
           % auth)

        st, err, auth, cmds, conns = run(xo + 'auth-creds alice tok-2\n')
        ok(st == 0, 'cached token refused: delivered with a new one (exit %d)' % st) or \
            diag(err)
        ok(run.runs() == 2, 'the command ran once more (%d)' % run.runs())
        ok(auth == ['XOAUTH2 user=alice token=tok-1', 'XOAUTH2 user=alice token=tok-2'],
           'the old token, then the new one (%s)' % auth)
        ok(conns == '1', 'on the same connection')
        ok('tok-' not in err, 'no token on stderr')

        st, err, auth, cmds, _ = run(xo + 'auth-creds alice tok-2\n')
        ok(st == 0 and run.runs() == 2 and auth == ['XOAUTH2 user=alice token=tok-2'],
           'the new token was cached (exit %d, %d runs, %s)' % (st, run.runs(), auth))

        st, err, auth, cmds, _ = run(xo + 'auth-creds alice never\n')
        ok(st == 77, 'cached and new token refused: exit 77 (%d)' % st) or diag(err)
        ok(run.runs() == 3 and len(auth) == 2, 'one refresh, two attempts, no more (%d, %s)'
           % (run.runs(), auth))
        ok(not any(c.startswith(('MAIL', 'RCPT', 'DATA')) for c in cmds), 'no MAIL after 535')
        ok('tok-' not in err, 'no token on stderr')
        ok(not os.path.exists(cache), 'no refused token stays cached')

        st, err, auth, cmds, _ = run('caps-plain STARTTLS\n'
                                     'caps-tls AUTH OAUTHBEARER XOAUTH2, PIPELINING\n')
        ok(st == 0 and len(auth) == 1 and auth[0].startswith('OAUTHBEARER user=alice token='),
           'OAUTHBEARER when offered (exit %d, %s)' % (st, auth)) or diag(err)

        if os.path.exists(cache):
            os.unlink(cache)
        open(run.cmd + '.fail', 'w').close()
        before = run.runs()
        st, err, auth, cmds, conns = run(xo)
        ok(st == 78 and run.runs() == before + 1, 'a failing command: exit 78 (%d)' % st)
        ok(conns == '0', 'and no connection (%s)' % conns)
        ok('oauth2_token_command' in err and 'exited with status 3' in err and
           run.cmd not in err, 'the message names the account, not the command (%s)'
           % err.strip())
    finally:
        tmpdir.end(TAP.failed or sys.exc_info()[0] is not None)
    return TAP.plan()


if __name__ == '__main__':
    sys.exit(main())
