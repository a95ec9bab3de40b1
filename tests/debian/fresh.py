#!/usr/bin/env python3
# fresh.py SOURCE_ROOT: issue 11's "done when", end to end. A fresh Debian 12 with postie-mta
# installed delivers mail from root, from an ordinary user's cron job and from www-data's PHP
# through one relay account whose secret no non-root user can read; the system queue holds
# and flushes. Prints TAP. As root:
#
#   1. contrib/mkdeb builds the .debs (as tests/debian/build.sh does, without the compiler
#      and sanitizer settings of the build that runs this suite).
#   2. A fresh bookworm root: `debootstrap --variant=minbase bookworm`. Its result is cached as
#      a tarball in CACHE (root only, 0700) and reused while younger than a day, so the second
#      run of the suite (CI runs every suite in a gcc and an ASan build) and later ones skip
#      the download (about 30 s, 200 MB). proc is mounted in the root; every mount under the
#      test's temp dir is unmounted at the end, also on failure or SIGTERM.
#   3. apt-get installs the two .debs with cron and php-cli in one go, as an administrator
#      would (policy-rc.d says 101: no service starts by itself).
#   4. What the postinst made (the group, the statoverride, the links, the system queue),
#      then /etc/postie.conf root:postie 0640: one account on the private Postfix + Dovecot
#      SASL of tests/interop/server.sh (host side, loopback; the chroot shares the network),
#      STARTTLS with the test CA, AUTH PLAIN as alice.
#   5. Deliveries, each found in Postfix's maildir and in its log (sasl_username=alice, the
#      envelope sender of the caller): root's `sendmail -t`; the output of an ordinary user's
#      crontab line, mailed by the root's own cron daemon (it runs `/usr/sbin/sendmail
#      -FCronDaemon -i -B8BITMIME -oem MAILTO` as the user); PHP's mail() run as www-data
#      (php.ini's default sendmail_path, `sendmail -t -i`).
#   6. The user and www-data cannot read the secret: not with cat, not with -C, not with -P
#      (password = *), and cannot list the system queue.
#   7. With Postfix stopped the user's and www-data's messages are queued (exit 0, "queued
#      as"); root's mailq lists both, each user's only its own; Postfix starts again and the
#      ExecStart of the packaged system unit postie-queue.service (`postie -q`; the postinst
#      enables its timer), run as root, sends both;
#      the queue is empty after.
#
# Exit: 0 passed, 1 failed, 77 skipped (not root, or debootstrap, dpkg-buildpackage, the
# Build-Depends, postfix, dovecot or certtool missing: tests/install-deps.sh installs them).
# Needs deb.debian.org (Debian's archive) for debootstrap and apt-get. The temp dir (the
# root, the server, the .debs) goes at the end; POSTIE_TEST_KEEP=1 (or =fail) keeps it (the
# mounts and processes still go).
import fcntl
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

SERVER = os.path.join(HERE, '..', 'interop', 'server.sh')
MIRROR = 'http://deb.debian.org/debian'
SUITE = 'bookworm'
CACHE = '/var/cache/postie-tests/debian-fresh'
CACHE_TAR = os.path.join(CACHE, SUITE + '-minbase.tar')
CACHE_AGE = 86400  # seconds: a root older than a day is made again (security updates)
SECRET = 's3cret pass'  # alice's, server.sh's Dovecot
DOMAIN = 'fresh.postie.test'  # the profile's "from %U@DOMAIN": the caller shows in MAIL FROM
CRON_WAIT = 100  # seconds: cron starts the job at the next full minute, then mails
# what the package build must not see of the build that runs this suite
BUILD_UNSET = ('CC', 'CXX', 'CFLAGS', 'CPPFLAGS', 'CXXFLAGS', 'LDFLAGS', 'ASAN_OPTIONS',
               'UBSAN_OPTIONS', 'DEB_BUILD_OPTIONS', 'DEB_BUILD_PROFILES', 'MAKEFLAGS',
               'MFLAGS')
TOOLS = ('debootstrap', 'dpkg-buildpackage', 'dpkg-checkbuilddeps', 'postfix', 'dovecot',
         'certtool', 'chroot', 'tar', 'mount', 'umount')

CHROOT = '/usr/sbin/chroot'  # by path: the environments of run_in() have no sbin in PATH
tap = postietest.Tap('debian-fresh')
TOKEN = secrets.token_hex(4)  # in every recipient and body: this run's mail only


def sh(argv, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('timeout', 600)
    return subprocess.run(argv, **kw)


def out(r):
    """A CompletedProcess's status, stdout and stderr as one text (for details)."""
    return 'exit %s\n%s%s' % (r.returncode, r.stdout.decode(errors='replace'),
                              r.stderr.decode(errors='replace'))


def mounts_under(path):
    """The mount points under PATH (or PATH itself), deepest first (/proc/self/mountinfo)."""
    found = []
    prefix = path.rstrip('/') + '/'
    with open('/proc/self/mountinfo', encoding='utf-8', errors='replace') as f:
        for line in f:
            mp = line.split()[4].replace('\\040', ' ')
            if mp == path or mp.startswith(prefix):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def processes_in(root):
    """The processes whose root directory is ROOT (started by the test, e.g. cron's jobs)."""
    pids = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if os.readlink('/proc/%s/root' % p) == root:
                    pids.append(int(p))
            except OSError:
                pass
    return pids


def listening(port):
    """Something listens on 127.0.0.1:PORT (read from /proc: no probe in Postfix's log)."""
    with open('/proc/net/tcp', encoding='ascii') as f:
        return any(l.split()[1].endswith(':%04X' % port) and l.split()[3] == '0A'
                   for l in f.readlines()[1:])


class Fresh:
    def __init__(self, src):
        self.src = src
        self.tmp = postietest.TempDir('debian-fresh')
        os.chmod(self.tmp.path, 0o755)  # Postfix and its pipe (user nobody) work in srv/
        self.root = os.path.join(self.tmp.path, 'root')
        self.srv = os.path.join(self.tmp.path, 'srv')
        self.debs = os.path.join(self.tmp.path, 'debs')
        self.env = postietest.private_env(os.path.join(self.tmp.path, 'home'))
        self.cron = None
        self.server_env = {}
        self.user = 'pt' + secrets.token_hex(3)  # made inside the root only

    # ---- running things inside the root ------------------------------------------------

    def env_of(self, who):
        """A minimal environment for WHO, as a login, cron or a daemon would give it."""
        e = {'LC_ALL': 'C.UTF-8', 'TZ': 'UTC'}
        if who == 'root':
            e.update(PATH='/usr/sbin:/usr/bin:/sbin:/bin', HOME='/root', USER='root',
                     LOGNAME='root')
        elif who == 'www-data':
            e.update(PATH='/usr/bin:/bin')  # a daemon's cleared environment: no HOME, no USER
        else:
            e.update(PATH='/usr/bin:/bin', HOME='/home/' + who, USER=who, LOGNAME=who,
                     SHELL='/bin/sh')
        return e

    def run_in(self, who, argv, stdin=b'', timeout=120, env=None):
        """ARGV inside the root as WHO (root, www-data or the user; its own group only)."""
        cmd = [CHROOT]
        if who != 'root':
            cmd.append('--userspec=%s:%s' % (who, who))
        return sh(cmd + [self.root] + argv, input=stdin, timeout=timeout,
                  env=env or self.env_of(who))

    # ---- steps -------------------------------------------------------------------------

    def build(self):
        env = {k: v for k, v in self.env.items() if k not in BUILD_UNSET}
        env['TMPDIR'] = self.tmp.path
        r = sh([os.path.join(self.src, 'contrib', 'mkdeb'), self.debs], env=env, timeout=1200)
        self.main_deb = sorted(f for f in os.listdir(self.debs) if f.startswith('postie_')
                               and f.endswith('.deb')) if os.path.isdir(self.debs) else []
        self.mta_deb = sorted(f for f in os.listdir(self.debs) if f.startswith('postie-mta_')
                              and f.endswith('.deb')) if os.path.isdir(self.debs) else []
        ok = r.returncode == 0 and len(self.main_deb) == 1 and len(self.mta_deb) == 1
        log = '\n'.join(out(r).splitlines()[-40:])
        return tap.ok(ok, 'contrib/mkdeb builds postie and postie-mta', log)

    def make_root(self):
        """The fresh root: from CACHE_TAR when younger than CACHE_AGE, else debootstrap."""
        os.makedirs(os.path.dirname(CACHE), mode=0o700, exist_ok=True)
        os.makedirs(CACHE, mode=0o700, exist_ok=True)
        os.chmod(CACHE, 0o700)
        os.mkdir(self.root, 0o755)
        with open(os.path.join(CACHE, 'lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another run of the suite may be making it
            try:
                age = time.time() - os.stat(CACHE_TAR).st_mtime
            except FileNotFoundError:
                age = None
            if age is not None and age < CACHE_AGE:
                # --numeric-owner: the root's users are not the host's
                r = sh(['tar', '--numeric-owner', '-C', self.root, '-xpf', CACHE_TAR])
                postietest.Tap.note('the root comes from %s (%d min old)'
                                    % (CACHE_TAR, age // 60))
                return tap.ok(r.returncode == 0, 'a fresh %s root (cached debootstrap)' % SUITE,
                              out(r))
            t = time.monotonic()
            r = sh(['debootstrap', '--variant=minbase', SUITE, self.root, MIRROR],
                   timeout=1200)
            postietest.Tap.note('debootstrap: %.0f s' % (time.monotonic() - t))
            if r.returncode == 0:
                part = CACHE_TAR + '.part'
                c = sh(['tar', '--numeric-owner', '-C', self.root, '-cf', part, '.'])
                if c.returncode == 0:
                    os.chmod(part, 0o600)
                    os.replace(part, CACHE_TAR)
                else:
                    postietest.Tap.note('not cached: ' + out(c))
            return tap.ok(r.returncode == 0,
                          'debootstrap --variant=minbase %s makes a fresh root' % SUITE,
                          '\n'.join(out(r).splitlines()[-30:]))

    def install(self):
        shutil.copy('/etc/resolv.conf', os.path.join(self.root, 'etc', 'resolv.conf'))
        policy = os.path.join(self.root, 'usr', 'sbin', 'policy-rc.d')
        with open(policy, 'w') as f:
            f.write('#!/bin/sh\n# no service starts by itself in this test root\nexit 101\n')
        os.chmod(policy, 0o755)
        proc = os.path.join(self.root, 'proc')
        r = sh(['mount', '-t', 'proc', 'proc', proc])
        if not tap.ok(r.returncode == 0, 'proc is mounted in the root', out(r)):
            return False
        os.makedirs(os.path.join(self.root, 'tmp', 'debs'))
        for f in self.main_deb + self.mta_deb:
            shutil.copy(os.path.join(self.debs, f), os.path.join(self.root, 'tmp', 'debs'))
        env = dict(self.env_of('root'), DEBIAN_FRONTEND='noninteractive')
        r = self.run_in('root', ['apt-get', 'update', '-q'], env=env, timeout=600)
        if r.returncode == 0:
            r = self.run_in('root', ['apt-get', 'install', '-y', '-q',
                                     '/tmp/debs/' + self.main_deb[0],
                                     '/tmp/debs/' + self.mta_deb[0], 'cron', 'php-cli'],
                            env=env, timeout=900)
        self.apt_log = out(r)
        lines = self.apt_log.splitlines()
        postietest.Tap.note('apt-get: %s' % ' '.join(
            l for l in lines if l.startswith(('Need to get', 'After this'))))
        return tap.ok(r.returncode == 0, 'apt-get installs postie, postie-mta, cron and php-cli '
                      'in the fresh root', '\n'.join(lines[-40:]))

    def check_package(self):
        r = self.run_in('root', ['dpkg-query', '-W', '-f',
                                 '${db:Status-Abbrev} ${Package} ${Provides}\n'])
        mtas = sorted(l.split()[1] for l in r.stdout.decode().splitlines()
                      if l.startswith('ii') and 'mail-transport-agent' in l)
        tap.ok(mtas == ['postie-mta'], 'postie-mta is the one mail-transport-agent installed '
               '(cron\'s Recommends: default-mta | mail-transport-agent took no other)',
               'installed MTAs: %s\n%s' % (mtas, out(r)))
        # the default tls_trust_file is the system's store: a relay with a public
        # certificate needs ca-certificates, which minbase has not
        bundle = os.path.join(self.root, 'etc/ssl/certs/ca-certificates.crt')
        tap.ok(os.path.isfile(bundle) and os.path.getsize(bundle) > 0,
               'the system trust store is installed with postie (ca-certificates), for a '
               'relay without tls_trust_file', '%s missing' % bundle)

        r = self.run_in('root', ['getent', 'group', 'postie'])
        f = r.stdout.decode().strip().split(':')
        tap.ok(r.returncode == 0 and len(f) == 4 and 0 < int(f[2] or 0) < 1000,
               'the postinst made the system group postie', out(r))
        r = self.run_in('root', ['stat', '-c', '%U:%G %a', '/usr/sbin/postie'])
        so = self.run_in('root', ['dpkg-statoverride', '--list', '/usr/sbin/postie'])
        tap.ok(r.stdout.decode().strip() == 'root:postie 2755'
               and so.stdout.decode().split() == ['root', 'postie', '2755', '/usr/sbin/postie'],
               '/usr/sbin/postie is root:postie 2755 (dpkg-statoverride)', out(r) + out(so))
        links = ['/usr/sbin/sendmail', '/usr/lib/sendmail', '/usr/bin/mailq',
                 '/usr/bin/newaliases']
        r = self.run_in('root', ['readlink', '-f'] + links)
        tap.ok(r.stdout.decode().split() == ['/usr/sbin/postie'] * 4,
               'sendmail, /usr/lib/sendmail, mailq and newaliases are postie', out(r))
        spool = ['/var/spool/postie'] + ['/var/spool/postie/' + d
                                         for d in ('tmp', 'queue', 'failed', 'corrupt')]
        r = self.run_in('root', ['stat', '-c', '%U:%G %a %F'] + spool)
        tap.ok(r.stdout.decode().splitlines() == ['root:postie 1770 directory'] * 5,
               'the system queue /var/spool/postie and its tmp queue failed corrupt are '
               'root:postie 1770', out(r))
        flush = os.path.join(self.root, 'lib/systemd/system/postie-queue.service')
        self.flush_argv = []
        if os.path.exists(flush):
            with open(flush, encoding='utf-8') as f:
                for line in f:
                    if line.startswith('ExecStart='):
                        self.flush_argv = shlex.split(line.split('=', 1)[1])
        tap.ok(self.flush_argv[:1] == ['/usr/sbin/postie'],
               'the packaged system unit postie-queue.service runs %s'
               % ' '.join(self.flush_argv), 'no ExecStart=/usr/sbin/postie in %s' % flush)
        wants = os.path.join(self.root, 'etc/systemd/system/timers.target.wants/'
                             'postie-queue.timer')
        tap.ok(os.path.islink(wants) and os.readlink(wants).endswith('/postie-queue.timer'),
               'the postinst enabled postie-queue.timer (timers.target.wants)',
               '%s: %s' % (wants, os.readlink(wants) if os.path.islink(wants) else 'missing'))

    def start_server(self):
        r = sh(['bash', SERVER, 'start', self.srv], env=self.env, timeout=300)
        if r.returncode == 0:
            with open(os.path.join(self.srv, 'env'), encoding='ascii') as f:
                for line in f:
                    k, _, v = line.strip().partition('=')
                    self.server_env[k] = v
            self.port = int(self.server_env['SUBMISSION_PORT'])
        return tap.ok(r.returncode == 0, 'the private Postfix + Dovecot SASL (server.sh) starts',
                      out(r))

    def configure(self):
        """/etc/postie.conf as an administrator writes it, and an ordinary user."""
        ca = os.path.join(self.root, 'etc', 'postie-relay-ca.pem')
        shutil.copy(self.server_env['CA_FILE'], ca)
        os.chmod(ca, 0o644)
        conf = os.path.join(self.root, 'etc', 'postie.conf')
        with open(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as f:
            f.write('# the company relay, for every user, cron job and daemon\n'
                    'account relay\n'
                    'host 127.0.0.1\n'
                    'port %d\n'
                    'tls on\n'
                    'tls_starttls on\n'
                    'tls_trust_file /etc/postie-relay-ca.pem\n'
                    'auth plain\n'
                    'user alice\n'
                    'password "%s"\n'
                    'from %%U@%s\n'
                    '\n'
                    'account default : relay\n' % (self.port, SECRET, DOMAIN))
        r1 = self.run_in('root', ['chown', 'root:postie', '/etc/postie.conf'])
        r2 = self.run_in('root', ['chmod', '0640', '/etc/postie.conf'])
        r3 = self.run_in('root', ['useradd', '-m', '-s', '/bin/sh', self.user])
        r4 = self.run_in(self.user, ['id'])
        ids = r4.stdout.decode()
        tap.ok(all(r.returncode == 0 for r in (r1, r2, r3, r4))
               and re.match(r'uid=(\d{4,})\(%s\) gid=\d+\(%s\) groups=\d+\(%s\)$'
                            % (self.user, self.user, self.user), ids.strip()) is not None,
               '/etc/postie.conf root:postie 0640, and an ordinary user %s (no group but '
               'its own)' % self.user, out(r1) + out(r2) + out(r3) + out(r4))
        r = self.run_in('www-data', ['id'])
        tap.ok(r.stdout.decode().strip() == 'uid=33(www-data) gid=33(www-data) '
               'groups=33(www-data)', 'www-data runs with its own group only', out(r))

    # ---- the mail --------------------------------------------------------------------------

    def mails(self, rcpt):
        box = os.path.join(self.server_env['MAIL_ROOT'], rcpt, 'new')
        return sorted(os.path.join(box, f) for f in os.listdir(box)) \
            if os.path.isdir(box) else []

    def wait_mail(self, rcpt, seconds=20, first=False):
        """The one message RCPT received (the first of them when FIRST; None after SECONDS
        without), Postfix's trace fields cut."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.mails(rcpt):
            time.sleep(0.2)
        got = self.mails(rcpt)
        if len(got) != 1 and not (first and got):
            return None
        with open(got[0], 'rb') as f:
            data = f.read()
        # Postfix's Return-Path:, Delivered-To: and Received: (with its folded lines) on top
        lines = data.split(b'\n')
        i = 0
        while i < len(lines) and (lines[i].startswith((b'Return-Path:', b'Delivered-To:',
                                                       b'Received:', b'\t', b' '))):
            i += 1
        return b'\n'.join(lines[i:])

    def log_of(self, rcpt):
        """Postfix's log lines about the message delivered to RCPT (by its queue id)."""
        try:
            with open(self.server_env['MAILLOG'], encoding='utf-8', errors='replace') as f:
                log = f.read().splitlines()
        except OSError:
            return []
        ids = {m.group(1) for l in log
               for m in [re.search(r': ([0-9A-F]+): to=<%s>,.*status=sent' % re.escape(rcpt),
                                   l)] if m}
        return [l for l in log for q in ids if ': %s: ' % q in l]

    def check_auth(self, rcpt, sender, who):
        # postlogd may write the lines a moment after the maildir has the message
        end = time.monotonic() + 10
        while True:
            lines = self.log_of(rcpt)
            auth = any(re.search(r': client=.*, sasl_method=PLAIN, sasl_username=alice$', l)
                       for l in lines)
            frm = any(re.search(r': from=<%s>,' % re.escape(sender), l) for l in lines)
            if auth and frm or time.monotonic() > end:
                break
            time.sleep(0.2)
        tap.ok(auth and frm, '%s: Postfix logs sasl_username=alice and from=<%s>'
               % (who, sender), '\n'.join(lines) or 'no log line for %s' % rcpt)

    def from_root(self):
        rcpt = 'root-%s@example.org' % TOKEN
        msg = ('From: Root <root@%s>\nTo: %s\nSubject: fresh root %s\n'
               'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <root-%s@%s>\n\n'
               'Hello from root, %s.\n' % (DOMAIN, rcpt, TOKEN, TOKEN, DOMAIN, TOKEN)).encode()
        r = self.run_in('root', ['/usr/sbin/sendmail', '-t'], stdin=msg)
        tap.ok(r.returncode == 0 and not r.stdout and not r.stderr,
               'root: sendmail -t exits 0, silent', out(r))
        got = self.wait_mail(rcpt)
        tap.ok(got == msg, 'root: the message arrives byte for byte', 'got %r\nwant %r'
               % (got, msg))
        self.check_auth(rcpt, 'root@' + DOMAIN, 'root')

    def start_cron(self):
        rcpt = 'cron-%s@example.org' % TOKEN
        crontab = os.path.join(self.root, 'tmp', 'crontab')
        with open(crontab, 'w') as f:
            f.write('MAILTO=%s\n* * * * * echo hello-from-cron-%s\n' % (rcpt, TOKEN))
        os.chmod(crontab, 0o644)
        r = self.run_in('root', ['crontab', '-u', self.user, '/tmp/crontab'])
        # The root's own cron daemon, as systemd starts it on Debian 12: cron.service's
        # ExecStart (cron -f $EXTRA_OPTS, none by default) in the environment of a system
        # service without User=: PATH and LANG, no HOME (the daemon's environment is its
        # mailer's: see home_root below). The test stops it by its PID.
        argv = []
        unit = os.path.join(self.root, 'lib/systemd/system/cron.service')
        if os.path.exists(unit):
            with open(unit, encoding='utf-8') as f:
                for line in f:
                    if line.startswith('ExecStart='):
                        argv = [a for a in shlex.split(line.split('=', 1)[1])
                                if a != '$EXTRA_OPTS']
        cron_log = open(os.path.join(self.tmp.path, 'cron.log'), 'wb')
        if argv[:2] == ['/usr/sbin/cron', '-f']:
            self.cron = subprocess.Popen(
                [CHROOT, self.root] + argv, stdin=subprocess.DEVNULL, stdout=cron_log,
                stderr=subprocess.STDOUT,
                env={'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                     'LANG': 'C.UTF-8'})
            time.sleep(1)
        cron_log.close()
        running = self.cron is not None and self.cron.poll() is None
        tap.ok(r.returncode == 0 and running,
               '%s\'s crontab is installed and the root\'s cron runs (%s)'
               % (self.user, ' '.join(argv)),
               out(r) + 'cron.service ExecStart: %s, cron: %s'
               % (argv, self.cron and self.cron.poll()))
        self.cron_started = time.monotonic()
        return rcpt

    def from_cron(self, rcpt):
        # the first: when the checks before this took over a minute, cron has mailed twice
        got = self.wait_mail(rcpt, max(1, CRON_WAIT - (time.monotonic() - self.cron_started)),
                             first=True)
        want_subject = ('\nSubject: Cron <%s@' % self.user).encode()
        body = ('\n\nhello-from-cron-%s\n' % TOKEN).encode()
        tap.ok(got is not None and want_subject in got and got.endswith(body),
               'cron: the output of %s\'s job arrives (Subject: Cron <%s@...>, the echo as '
               'body)' % (self.user, self.user), 'got %r (cron: %s)' % (got, self.cron_log()))
        self.check_auth(rcpt, '%s@%s' % (self.user, DOMAIN), 'cron')

    def home_root(self):
        """Cron started from root's shell (service cron start under sysvinit, a container)
        runs its mailer as the user with root's HOME: a HOME of another user's is not the
        caller's (io_home), so postie uses the user's passwd home and, without a profile
        there, the system account. Before that fix it failed on
        /root/.config/postie/config (EACCES) and the mail was lost."""
        rcpt = 'home-root-%s@example.org' % TOKEN
        msg = ('To: %s\nSubject: home-root %s\n\nroot\'s HOME, %s.\n'
               % (rcpt, TOKEN, TOKEN)).encode()
        env = dict(self.env_of('root'), PATH='/usr/bin:/bin')
        # the argv of Debian's cron for its mail (strings of /usr/sbin/cron)
        r = self.run_in(self.user, ['/usr/sbin/sendmail', '-FCronDaemon', '-i', '-B8BITMIME',
                                    '-oem', rcpt], stdin=msg, env=env)
        tap.ok(r.returncode == 0 and self.wait_mail(rcpt, 10) is not None,
               '%s with HOME=/root (cron started from a root shell): cron\'s sendmail '
               'uses the system account' % self.user, out(r))

    def cron_log(self):
        try:
            with open(os.path.join(self.tmp.path, 'cron.log'), encoding='utf-8',
                      errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def php_mail(self, rcpt, subject, body):
        code = ('var_dump(mail(%s, %s, %s));' % tuple("'%s'" % s for s in (rcpt, subject, body)))
        return self.run_in('www-data', ['php', '-r', code])

    def from_php(self):
        rcpt = 'php-%s@example.org' % TOKEN
        r = self.php_mail(rcpt, 'php ' + TOKEN, 'Hello from PHP, %s.' % TOKEN)
        tap.ok(r.returncode == 0 and r.stdout == b'bool(true)\n' and not r.stderr,
               'www-data: PHP\'s mail() returns true', out(r))
        got = self.wait_mail(rcpt)
        tap.ok(got is not None and ('\nSubject: php %s\n' % TOKEN).encode() in b'\n' + got
               and got.endswith(('\n\nHello from PHP, %s.\n' % TOKEN).encode()),
               'www-data: the message arrives (Subject, body)', repr(got))
        self.check_auth(rcpt, 'www-data@' + DOMAIN, 'www-data')

    def no_secret(self, who):
        r = self.run_in(who, ['cat', '/etc/postie.conf'])
        tap.ok(r.returncode != 0 and SECRET.encode() not in r.stdout + r.stderr,
               '%s: cat /etc/postie.conf is refused' % who, out(r))
        r = self.run_in(who, ['/usr/sbin/sendmail', '-C', '/etc/postie.conf', '-P',
                              'x@example.org'])
        tap.ok(r.returncode != 0 and SECRET.encode() not in r.stdout + r.stderr
               and b'/etc/postie.conf' in r.stderr,
               '%s: sendmail -C /etc/postie.conf -P fails, no secret shown' % who, out(r))
        r = self.run_in(who, ['/usr/sbin/sendmail', '-P', 'x@example.org'])
        text = r.stdout.decode()
        tap.ok(r.returncode == 0 and SECRET not in text + r.stderr.decode()
               and re.search(r'^password = \*$', text, re.M)
               and re.search(r'^user = alice$', text, re.M)
               and re.search(r'^port = %d$' % self.port, text, re.M),
               '%s: sendmail -P shows the system account with password = *' % who, out(r))
        r = self.run_in(who, ['ls', '-a', '/var/spool/postie', '/var/spool/postie/queue'])
        tap.ok(r.returncode != 0 and not r.stdout,
               '%s: the system queue cannot be listed' % who, out(r))

    # ---- the system queue -------------------------------------------------------------------

    def postfix(self, what):
        return sh(['postfix', '-c', os.path.join(self.srv, 'etc'), what], env=self.env)

    def queue(self):
        r = self.postfix('stop')
        end = time.monotonic() + 20
        while listening(self.port) and time.monotonic() < end:
            time.sleep(0.2)
        if not tap.ok(r.returncode == 0 and not listening(self.port),
                      'Postfix stops (nothing listens on the submission port)', out(r)):
            return
        q_user = 'q-user-%s@example.org' % TOKEN
        q_php = 'q-php-%s@example.org' % TOKEN
        msg = ('Subject: queued %s\n\nWaiting for the relay, %s.\n' % (TOKEN, TOKEN)).encode()
        r = self.run_in(self.user, ['/usr/sbin/sendmail', '-i', q_user], stdin=msg)
        m = re.search(rb'^postie: queued as (\S+):', r.stderr, re.M)
        id_user = m.group(1).decode() if m else '(none)'
        tap.ok(r.returncode == 0 and m is not None,
               '%s: with the relay down sendmail exits 0, "queued as"' % self.user, out(r))
        r = self.php_mail(q_php, 'queued php ' + TOKEN, 'PHP waits, %s.' % TOKEN)
        m = re.search(rb'^postie: queued as (\S+):', r.stderr, re.M)
        id_php = m.group(1).decode() if m else '(none)'
        tap.ok(r.returncode == 0 and r.stdout == b'bool(true)\n' and m is not None,
               'www-data: with the relay down mail() returns true, "queued as"', out(r))

        r = self.run_in('root', ['mailq'])
        text = r.stdout.decode()
        tap.ok(r.returncode == 0 and id_user in text and id_php in text
               and q_user in text and q_php in text,
               'root: mailq lists both queued messages', out(r))
        r = self.run_in(self.user, ['mailq'])
        tap.ok(r.returncode == 0 and id_user in r.stdout.decode()
               and id_php not in r.stdout.decode(),
               '%s: mailq lists its own message, not www-data\'s' % self.user, out(r))
        r = self.run_in('www-data', ['mailq'])
        tap.ok(r.returncode == 0 and id_php in r.stdout.decode()
               and id_user not in r.stdout.decode(),
               'www-data: mailq lists its own message, not %s\'s' % self.user, out(r))
        r = self.run_in('www-data', ['cat', '/var/spool/postie/queue/%s/message' % id_user])
        tap.ok(r.returncode != 0 and b'Waiting for the relay' not in r.stdout,
               'www-data cannot read %s\'s queued message' % self.user, out(r))
        tap.ok(not self.mails(q_user) and not self.mails(q_php), 'nothing was delivered yet')

        r = self.postfix('start')
        end = time.monotonic() + 20
        while not listening(self.port) and time.monotonic() < end:
            time.sleep(0.2)
        if not tap.ok(r.returncode == 0 and listening(self.port), 'Postfix starts again',
                      out(r)):
            return
        r = self.run_in('root', self.flush_argv)
        tap.ok(r.returncode == 0, 'root: %s (postie-queue.service) exits 0'
               % ' '.join(self.flush_argv), out(r))
        got_user = self.wait_mail(q_user)
        got_php = self.wait_mail(q_php)
        tap.ok(got_user is not None and got_user.endswith(b'\n\n' + msg.split(b'\n\n', 1)[1]),
               '%s\'s queued message arrives' % self.user, repr(got_user))
        tap.ok(got_php is not None and got_php.endswith(('\n\nPHP waits, %s.\n' % TOKEN)
                                                        .encode()),
               'www-data\'s queued message arrives', repr(got_php))
        self.check_auth(q_user, '%s@%s' % (self.user, DOMAIN), 'queued, %s' % self.user)
        self.check_auth(q_php, 'www-data@' + DOMAIN, 'queued, www-data')
        r = self.run_in('root', ['mailq'])
        left = sorted(os.listdir(os.path.join(self.root, 'var/spool/postie/queue')))
        tap.ok(r.returncode == 0 and 'Mail queue is empty' in r.stdout.decode() and not left,
               'the system queue is empty after the flush', out(r) + 'entries: %s' % left)

    # ---- the end ----------------------------------------------------------------------------

    def stop_cron(self):
        if self.cron is None:
            return
        if self.cron.poll() is None:
            self.cron.terminate()
            try:
                self.cron.wait(10)
            except subprocess.TimeoutExpired:
                self.cron.kill()
                self.cron.wait()
        self.cron = None

    def end(self):
        """Stop what runs, unmount what is mounted, remove the temp dir; True when clean."""
        clean = True
        self.stop_cron()
        if os.path.isdir(self.srv):
            sh(['bash', SERVER, 'stop', self.srv], env=self.env, timeout=120)
        # what cron or a test command left running in the root was started by this test
        end = time.monotonic() + 10
        while processes_in(self.root) and time.monotonic() < end:
            time.sleep(0.2)
        for pid in processes_in(self.root):
            postietest.Tap.note('killing %d, left in the root' % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for mp in mounts_under(self.tmp.path):
            if sh(['umount', mp]).returncode != 0:
                sh(['umount', '-l', mp])
        if processes_in(self.root):
            clean = False
            postietest.Tap.note('still running in the root: %s' % processes_in(self.root))
        if self.server_env and listening(self.port):
            clean = False
            postietest.Tap.note('the server still listens on %d' % self.port)
        left = mounts_under(self.tmp.path)
        if left:
            # never remove a tree with something mounted in it
            postietest.Tap.note('still mounted, %s kept: %s' % (self.tmp.path, left))
            return False
        self.tmp.end(tap.failed > 0)
        return clean


def main():
    if len(sys.argv) != 2:
        print('usage: fresh.py SOURCE_ROOT', file=sys.stderr)
        return 64
    src = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        postietest.Tap.skip_all('needs root (debootstrap, chroot, Postfix)')
    os.environ['PATH'] = os.environ.get('PATH', '/usr/bin:/bin') + ':/usr/sbin:/sbin'
    global CHROOT
    CHROOT = shutil.which('chroot') or CHROOT
    for t in TOOLS:
        if shutil.which(t) is None:
            postietest.Tap.skip_all('%s is not installed (tests/install-deps.sh)' % t)
    r = sh(['dpkg-checkbuilddeps', os.path.join(src, 'contrib', 'debian', 'control')])
    if r.returncode != 0:
        postietest.Tap.skip_all('Build-Depends not installed (tests/install-deps.sh): %s'
                                % ' '.join(out(r).split()))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # meson's timeout: clean up too
    t0 = time.monotonic()
    w = Fresh(src)
    try:
        if w.build() and w.make_root() and w.install():
            w.check_package()
            if w.start_server():
                w.configure()
                cron_rcpt = w.start_cron()  # its job runs at the next full minute
                w.from_root()
                w.from_php()
                for who in (w.user, 'www-data'):
                    w.no_secret(who)
                w.home_root()
                w.from_cron(cron_rcpt)
                w.stop_cron()  # before the queue part: no more cron mail from here on
                w.queue()
    finally:
        mounted_before = mounts_under(w.tmp.path)
        clean = w.end()
        tap.ok(clean, 'the end: cron and the server stopped, nothing left mounted (was: %s)'
               % (' '.join(mounted_before) or 'nothing'))
        postietest.Tap.note('total %.0f s' % (time.monotonic() - t0))
    return tap.plan()


if __name__ == '__main__':
    sys.exit(main())
