#!/usr/bin/env python3
# tests/system/sglib.py: what the system tests share (issue 11, SEC-45): the throw-away group
# and users, the private setgid install, the sinks, running as a user, and the one TAP stream
# (tap) that every scenario module of setgid.py reports into.

import grp
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import fakesmtp  # noqa: E402
import postietest  # noqa: E402

SYS_USER = 'sysuser'
SYS_SECRET = 'Sys-Secret-PW45'
FILE_SECRET = 'Sys-FileSecret-PF45'
OWN_USER = 'ownuser'
OWN_SECRET = 'Own-Secret-OW45'
TOOLS = ('useradd', 'groupadd', 'userdel', 'groupdel', 'setpriv', 'certtool', 'meson', 'ninja')

tap = postietest.Tap('system-setgid')
if os.environ.get('POSTIE_TEST_SHOW'):
    # Every check's detail, also of the checks that passed (to see why they passed).
    _ok = tap.ok

    def _show(cond, what, detail=None, max_lines=None):
        if cond and detail is not None:
            postietest.Tap.note('%s:\n%s' % (what, detail))
        return _ok(cond, what, detail, max_lines)

    tap.ok = _show


def run(argv, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('timeout', 600)
    return subprocess.run(argv, **kw)


def message(n):
    return ('From: Someone <someone@example.test>\nTo: rcpt@example.test\n'
            'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <setgid-%d@example.test>\n'
            'Subject: setgid %d\n\nHello %d.\n' % (n, n, n)).encode()


def crlf(b):
    return b.replace(b'\n', b'\r\n')


class World:
    """The group, the users, the build and the sinks; end() removes what it made."""

    def __init__(self, src, workdir):
        self.src = src
        suffix = secrets.token_hex(3)
        self.group = 'postie-t' + suffix
        self.users = ['pt1' + suffix, 'pt2' + suffix]
        self.made_users = []
        self.made_group = False
        self.dir = tempfile.mkdtemp(prefix='setgid-', dir=workdir)
        os.chmod(self.dir, 0o755)
        self.sinks = []

    def end(self, failed):
        for s in self.sinks:
            s.stop()
        for u in self.made_users:
            run(['userdel', u])
            run(['groupdel', u])
        if self.made_group:
            run(['groupdel', self.group])
        if postietest.keep_temp(failed):
            print('# kept %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def make_accounts(self):
        r = run(['groupadd', '--system', self.group])
        if r.returncode != 0:
            raise RuntimeError('groupadd: %s' % r.stderr.decode(errors='replace'))
        self.made_group = True
        self.home2 = os.path.join(self.dir, 'home2')
        for u, home in ((self.users[0], '/nonexistent'), (self.users[1], self.home2)):
            r = run(['useradd', '--system', '--no-create-home', '--user-group', '--home-dir',
                     home, '--shell', '/usr/sbin/nologin', u])
            if r.returncode != 0:
                raise RuntimeError('useradd: %s' % r.stderr.decode(errors='replace'))
            self.made_users.append(u)

    def build(self, tag='', options=()):
        """Build and install a setgid postie into DIR/prefixTAG (meson OPTIONS added)."""
        self.prefix = os.path.join(self.dir, 'prefix' + tag)
        bdir = os.path.join(self.dir, 'build' + tag)
        steps = [['meson', 'setup', '--prefix=' + self.prefix,
                  '--sysconfdir=' + os.path.join(self.prefix, 'etc'),
                  '-Dsystem-group=' + self.group, '-Dtests=false', '-Dman-pages=disabled',
                  '-Dsystem-spool=' + os.path.join(self.prefix, 'var', 'spool', 'postie')] +
                 list(options) + [bdir, self.src],
                 ['ninja', '-C', bdir],
                 ['meson', 'install', '-C', bdir, '--no-rebuild']]
        for argv in steps:
            r = run(argv)
            if r.returncode != 0:
                raise RuntimeError('%s: %s%s' % (' '.join(argv[:2]),
                                                 r.stdout.decode(errors='replace')[-2000:],
                                                 r.stderr.decode(errors='replace')[-2000:]))
        self.install_out = r.stdout.decode(errors='replace')
        self.postie = os.path.join(self.prefix, 'sbin', 'postie')
        self.spool = os.path.join(self.prefix, 'var', 'spool', 'postie')
        self.sysconf = os.path.join(self.prefix, 'etc', 'postie.conf')
        os.makedirs(os.path.dirname(self.sysconf), mode=0o755, exist_ok=True)

    def certs(self):
        self.certdir = os.path.join(self.dir, 'certs')
        r = postietest.gencerts(self.certdir)
        if r.returncode != 0:
            raise RuntimeError('gencerts: %s' % r.stderr.decode(errors='replace'))
        os.chmod(self.certdir, 0o755)
        self.ca = os.path.join(self.certdir, 'ca.pem')
        os.chmod(self.ca, 0o644)

    def sink(self, name):
        s = fakesmtp.Sink(os.path.join(self.dir, 'sinks', name), certs=self.certdir,
                          auth=('PLAIN',), hostname='sink.test', deadline=300.0)
        self.sinks.append(s)
        return s

    def group_file(self, path, text, mode=0o640):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chown(path, 0, grp.getgrnam(self.group).gr_gid)
        os.chmod(path, mode)

    def system_profile(self, port, extra=''):
        pwfile = os.path.join(self.prefix, 'etc', 'postie.password')
        self.pwfile = pwfile
        self.group_file(pwfile, FILE_SECRET + '\n')
        self.group_file(self.sysconf, (
            'defaults\ntls on\ntls_starttls on\ntls_trust_file %s\n'
            'account system\nhost localhost\nport %d\nfrom system@example.test\n'
            'auth plain\nuser %s\npassword %s\n'
            'account pf\nhost localhost\nport %d\nfrom pf@example.test\n'
            'auth plain\nuser pfuser\npassword_file %s\n'
            '%s'
            'account default : system\n'
            % (self.ca, port, SYS_USER, SYS_SECRET, port, pwfile, extra)))

    def own_profile(self, user, cfgdir, text):
        pw = pwd.getpwnam(user)
        os.makedirs(os.path.join(cfgdir, 'postie'), exist_ok=True)
        for d in (cfgdir, os.path.join(cfgdir, 'postie')):
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(d, 0o700)
        path = os.path.join(cfgdir, 'postie', 'config')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o600)
        return path

    def as_user(self, user, argv, stdin=b'', env=None, home='/nonexistent', popen=False,
                with_group=False):
        """Run ARGV (the installed postie when it starts with '-' or is empty) as USER, with
        a minimal environment (HOME=HOME) plus ENV; WITH_GROUP: the system group among its
        groups too."""
        pw = pwd.getpwnam(user)
        if not argv or argv[0].startswith('-') or '@' in argv[0]:
            argv = [self.postie] + argv
        e = {'HOME': home, 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C.UTF-8',
             'TZ': 'UTC'}
        e.update(env or {})
        groups = (['--groups', str(grp.getgrnam(self.group).gr_gid)] if with_group
                  else ['--clear-groups'])
        full = ['setpriv', '--reuid', str(pw.pw_uid), '--regid', str(pw.pw_gid)] + groups + \
            ['--'] + argv
        if popen:
            return subprocess.Popen(full, env=e, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return run(full, input=stdin, env=e, timeout=60)


def out(r):
    return (r.stdout + b'\n' + r.stderr).decode('utf-8', 'replace')


def no_secret(text):
    return SYS_SECRET not in text and FILE_SECRET not in text


def spool_entries(w, sub='queue'):
    d = os.path.join(w.spool, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []
