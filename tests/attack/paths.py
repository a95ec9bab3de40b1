#!/usr/bin/env python3
# paths.py POSTIE CASE: what a caller's profile can reach, by where it lies (SEC-41, SEC-42,
# SEC-43; found by review after the first cut of issue 10). Each case has its own temp HOME
# and XDG_CONFIG_HOME; a marker file shows whether a profile's eval ran.
#   msmtprc         the caller creates ~/.msmtprc (the user has no msmtp) with an eval: beside a
#                   postie profile it is not the user's (SEC-43), named with -C or not, and
#                   its eval never runs; without one (SEC-47) it is read as the user's only
#                   when nobody else can have written it, so one group may write, or in a
#                   folder others may write, never runs; an empty postie profile turns the
#                   fallback off
#   symlinked-config  the user's profile is a link to ~/postierc; a caller's file elsewhere
#                   in $HOME is still not in the user's config folder: its eval never runs;
#                   -C naming the user's profile itself (the link) still works
#   lifetime        a caller's profile cannot set queue_lifetime (it would expire the user's
#                   queued mail into failed/ through a flush)
#   bcc             a caller's profile cannot keep Bcc (remove_bcc_headers off) nor let -f
#                   change a pinned sender (allow_from_override on)
#   fifo            a caller's profile may name TLS trust and CRL files, but a FIFO there
#                   (or any file that is not a regular one) is refused at once, not waited on
#   crowd           a caller plants nine queued entries for account "default" through its
#                   own profile; the user's due entry still goes out behind the user's next
#                   message, and the caller's entries are not touched by the user's flush

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import fakesmtp  # noqa: E402  (the path is set just above)
import postietest  # noqa: E402

CASES = ('msmtprc', 'symlinked-config', 'lifetime', 'bcc', 'crowd', 'fifo')


class T(postietest.Tap):
    """One case: ok() (TAP) comes from postietest.Tap, the temp dir and the environment
    from postietest too (POSTIE_TEST_KEEP=1 or =fail keeps the temp dir)."""

    def __init__(self, postie, case):
        super().__init__('attack-paths-' + case)
        self.postie = os.path.abspath(postie)
        self.case = case
        self.tmpdir = postietest.TempDir('attack-paths')
        self.tmp = self.tmpdir.path
        self.home = os.path.join(self.tmp, 'home')
        self.cfg = os.path.join(self.home, '.config', 'postie')
        os.makedirs(self.cfg, mode=0o700)
        os.chmod(os.path.join(self.home, '.config'), 0o700)
        self.env = postietest.private_env(self.home)

    def write(self, path, text, mode=0o600):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run(self, args, stdin=b'Subject: t\n\nhello\n'):
        return subprocess.run([self.postie] + args, input=stdin, capture_output=True,
                              env=self.env, timeout=30)

    def ok(self, cond, what, detail=None):
        return super().ok(cond, what, detail, max_lines=20)

    def finish(self):
        status = self.plan()
        self.tmpdir.end(self.failed)
        sys.exit(status)

    def queue(self):
        d = os.path.join(self.home, '.local', 'state', 'postie', 'queue', 'queue')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def failed_dir(self):
        d = os.path.join(self.home, '.local', 'state', 'postie', 'queue', 'failed')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


def show(r):
    return 'exit %d\n%s' % (r.returncode, r.stderr.decode(errors='replace'))


def msmtprc(t):
    mark = os.path.join(t.tmp, 'ran-msmtprc')
    own = t.write(os.path.join(t.cfg, 'config'), 'account default\nhost 127.0.0.1\n')
    text = 'account default\nhost 127.0.0.1\neval touch %s\n' % mark
    rc = t.write(os.path.join(t.home, '.msmtprc'), text)
    r = t.run(['-C', rc, '-P'])
    t.ok(r.returncode == 78 and not os.path.exists(mark),
         'SEC-43: beside a postie profile, a ~/.msmtprc the caller created is not the '
         'user\'s: its eval never runs', show(r))
    link = os.path.join(t.tmp, 'up', 'link.conf')
    os.makedirs(os.path.dirname(link))
    os.symlink(rc, link)
    r = t.run(['-C', link, '-P'])
    t.ok(r.returncode == 78 and not os.path.exists(mark),
         'SEC-43: nor through a link to it', show(r))
    r = t.run(['-P'])
    t.ok(r.returncode == 0 and not os.path.exists(mark),
         'SEC-47: without -C the postie profile is read, ~/.msmtprc is not', show(r))

    # No postie profile: msmtp's is read in its place only when nobody else can have
    # written it (SEC-47); one its group may write, or in a folder others may write, is
    # refused before its eval could run.
    os.unlink(own)
    t.write(rc, text, mode=0o620)
    r = t.run(['-P'])
    t.ok(r.returncode == 78 and b'SEC-47' in r.stderr and not os.path.exists(mark),
         'SEC-47: a ~/.msmtprc its group may write is refused, its eval never runs', show(r))
    t.write(rc, text)
    os.chmod(t.home, 0o777)
    r = t.run(['-P'])
    os.chmod(t.home, 0o700)
    t.ok(r.returncode == 78 and b'SEC-47' in r.stderr and not os.path.exists(mark),
         'SEC-47: a ~/.msmtprc in a home others may write is refused', show(r))
    shared = os.path.join(t.tmp, 'shared')
    os.makedirs(shared)
    os.chmod(shared, 0o1777)
    t.write(os.path.join(shared, 'rc'), text)
    os.unlink(rc)
    os.symlink(os.path.join(shared, 'rc'), rc)
    r = t.run(['-P'])
    t.ok(r.returncode == 78 and b'SEC-47' in r.stderr and not os.path.exists(mark),
         'SEC-47: a ~/.msmtprc linked into a folder others may write is refused', show(r))
    # Any postie profile, even an empty one, turns the fallback off.
    os.unlink(rc)
    t.write(rc, text)
    t.write(own, '')
    r = t.run(['-P'])
    t.ok(r.returncode == 78 and not os.path.exists(mark),
         'SEC-47: an empty postie profile turns the fallback off', show(r))


def symlinked_config(t):
    mark = os.path.join(t.tmp, 'ran-symlinked')
    real = t.write(os.path.join(t.home, 'postierc'),
                   'account default\nhost 127.0.0.1\nfrom me@example.test\n'
                   'eval echo domain own.example\n')
    os.symlink(real, os.path.join(t.cfg, 'config'))
    evil = t.write(os.path.join(t.home, 'public_html', 'uploads', 'evil.conf'),
                   'account default\nhost 127.0.0.1\neval touch %s\n' % mark)
    r = t.run(['-C', evil, '-P'])
    t.ok(r.returncode == 78 and not os.path.exists(mark),
         'SEC-43: with ~/.config/postie/config a link into $HOME, a caller\'s file in $HOME '
         'is still not the user\'s: its eval never runs', show(r))
    r = t.run(['-C', os.path.join(t.cfg, 'config'), '-P'])
    t.ok(r.returncode == 0 and b'own.example' in r.stdout,
         'control: -C naming the user\'s profile (the link) is the user\'s own', show(r))
    r = t.run(['-P'])
    t.ok(r.returncode == 0 and b'own.example' in r.stdout,
         'control: the user\'s profile through the link, without -C', show(r))


def lifetime(t):
    evil = t.write(os.path.join(t.tmp, 'up', 'evil.conf'),
                   'account default\nhost 127.0.0.1\ntls off\nqueue_lifetime 1s\n')
    r = t.run(['-C', evil, '-q'])
    t.ok(r.returncode == 78 and b'queue_lifetime' in r.stderr,
         'SEC-43: a caller\'s profile cannot set queue_lifetime', show(r))


def bcc(t):
    for line, word in (('remove_bcc_headers off', 'remove_bcc_headers'),
                       ('allow_from_override on', 'allow_from_override'),
                       ('set_from_header off', 'set_from_header')):
        evil = t.write(os.path.join(t.tmp, 'up', 'evil.conf'),
                       'account default\nhost 127.0.0.1\ntls off\nfrom a@example.test\n%s\n'
                       % line)
        r = t.run(['-C', evil, '-t'], stdin=b'To: a@example.test\nBcc: b@example.test\n\nx\n')
        t.ok(r.returncode == 78 and word.encode() in r.stderr,
             'SEC-43: a caller\'s profile cannot say "%s"' % line, show(r))


def crowd(t):
    # A port that refuses (bound, not listening): everything queues. The sink behind `up`
    # accepts everything (tests/lib/fakesmtp.py).
    down_port = fakesmtp.Sink(os.path.join(t.tmp, 'down'), listening=False).port
    up = fakesmtp.Sink(os.path.join(t.tmp, 'up-sink'))
    own = t.write(os.path.join(t.cfg, 'config'),
                  'account default\nhost 127.0.0.1\nport %d\ntls off\nfrom me@example.test\n'
                  % down_port)
    evil = t.write(os.path.join(t.tmp, 'up', 'evil.conf'),
                   'account default\nhost 127.0.0.1\nport %d\ntls off\n'
                   'from caller@example.test\n' % down_port)
    for i in range(9):
        r = t.run(['-C', evil, 'x%d@example.test' % i],
                  stdin=b'Subject: planted %d\n\nplanted\n' % i)
    planted = t.queue()
    t.ok(len(planted) == 9, 'the caller planted nine entries for account "default"', planted)
    time.sleep(1.1)  # the user's entry is the newest: the caller's come first in the queue
    r = t.run(['victim@example.test'], stdin=b'Subject: own-queued\n\nmine\n')
    t.ok(r.returncode == 0 and len(t.queue()) == 10, 'the user\'s message is queued', show(r))
    for name in t.queue():
        env = os.path.join(t.home, '.local', 'state', 'postie', 'queue', 'queue', name,
                           'envelope')
        text = open(env, encoding='utf-8').read()
        text = '\n'.join('next-attempt 0' if ln.startswith('next-attempt ') else ln
                         for ln in text.split('\n'))
        with open(env, 'w', encoding='utf-8') as f:
            f.write(text)
    t.write(own, 'account default\nhost 127.0.0.1\nport %d\ntls off\nfrom me@example.test\n'
            % up.port)
    r = t.run(['second@example.test'], stdin=b'Subject: own-now\n\nnow\n')
    time.sleep(0.3)
    got = b''.join(up.bodies())
    t.ok(r.returncode == 0 and b'own-now' in got and b'own-queued' in got,
         'SEC-42: the user\'s due entry goes out behind the user\'s message, whatever the '
         'caller planted', show(r) + '\n' + got.decode(errors='replace'))
    t.ok(b'planted' not in got, 'SEC-42: none of the caller\'s entries went out', got)
    r = t.run(['-q'])
    time.sleep(0.3)
    got = b''.join(up.bodies())
    t.ok(b'planted' not in got and len(t.queue()) == 9 and not t.failed_dir(),
         'SEC-42: the user\'s flush leaves the caller\'s entries alone', show(r))


def fifo(t):
    f = os.path.join(t.tmp, 'up', 'fifo')
    os.makedirs(os.path.dirname(f))
    os.mkfifo(f)
    for cmd in ('tls_trust_file', 'tls_crl_file'):
        evil = t.write(os.path.join(t.tmp, 'up', 'evil.conf'),
                       'account default\nhost 127.0.0.1\nport 1\nfrom a@example.test\n'
                       '%s %s\n' % (cmd, f))
        start = time.time()
        try:
            r = t.run(['-C', evil, 'rcpt@example.test'])
        except subprocess.TimeoutExpired:
            t.ok(False, 'SEC-34: %s naming a FIFO: postie waited on it for 30 s' % cmd)
            continue
        if cmd == 'tls_crl_file':
            t.ok(r.returncode == 78 and b'not a regular file' in r.stderr
                 and time.time() - start < 10,
                 'SEC-34: %s naming a FIFO is refused at once (78)' % cmd, show(r))
        else:
            # The trust file is read only when a certificate needs checking (here the
            # connection is refused first): the run must just not wait on the FIFO.
            t.ok(time.time() - start < 10, 'SEC-34: %s naming a FIFO: no wait' % cmd, show(r))


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        sys.exit('usage: paths.py POSTIE CASE (one of %s)' % ', '.join(CASES))
    t = T(sys.argv[1], sys.argv[2])
    globals()[sys.argv[2].replace('-', '_')](t)
    t.finish()


main()
