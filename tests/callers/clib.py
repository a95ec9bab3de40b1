# clib.py: what the callers tests (issue 3) share. Each test runs one real program from
# Debian's packages with postie as its sendmail, and checks the message where it lands: the
# sink of tests/lib/fakesmtp.py on 127.0.0.1. The temp dir, environment (tests/lib/
# postietest.py: private HOME and XDG dirs, TZ=UTC, LC_ALL=C.UTF-8) and TAP lines are the
# shared ones.
#
# Per test, in a private temp dir:
#   home/                     HOME; home/.config is XDG_CONFIG_HOME
#   home/.config/postie/config  the profile (0600): the sink, tls off, queue off,
#                             from sender@example.test (a test adds lines: maildomain)
#   prefix/libexec/sendmail   a symlink to the postie under test (so argv[0] is "sendmail",
#                             as when installed)
#   prefix/sbin/sendmail      what the programs are told to run: a small Python script that
#                             records the call (argv, stdin, stdout, stderr, exit status,
#                             HOME/USER/LOGNAME) under calls/, points XDG_CONFIG_HOME,
#                             XDG_STATE_HOME and XDG_CACHE_HOME at the private dirs (sudo runs
#                             its mailer with HOME=/ and nothing else) and runs
#                             prefix/libexec/sendmail with the same argv and the same stdin bytes
#   sink/                     the sink's records (msg-NNNN.eml, log.jsonl)
# The system's /usr/sbin/sendmail is never used or changed.
#
# A script is run as `python3 SCRIPT POSTIE_BINARY` and exits 0 (every check passed), 1 (a
# check failed) or 77 (the program under test is not installed: tests/callers/install-deps.sh
# installs it). POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir.

import atexit
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import fakesmtp  # noqa: E402  (the path is set just above)
import postietest  # noqa: E402

WRAPPER = r'''#!@PYTHON@
# Written by tests/callers/clib.py: records one call of "sendmail" and runs postie as sendmail
# with the same arguments, passing standard input, output and error through as they come (an
# SMTP dialogue over -bs works through it). When postie exits, so does this, at once: a caller
# waiting for end of file on postie's output gets it.
import os, subprocess, sys, tempfile, threading, time

d = tempfile.mkdtemp(prefix='%020d.' % time.time_ns(), dir='@CALLS@')


def record(name, data):
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


record('argv', b''.join(os.fsencode(a) + b'\0' for a in sys.argv[1:]))
record('env', ''.join('%s=%s\n' % (k, os.environ.get(k, '')) for k in ('HOME', 'USER', 'LOGNAME'))
       .encode())
env = dict(os.environ, XDG_CONFIG_HOME='@CONFIG@', XDG_STATE_HOME='@STATE@',
           XDG_CACHE_HOME='@CACHE@')
p = subprocess.Popen(['@REAL@'] + sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=env)


def pump(src, dst, name):
    with open(os.path.join(d, name), 'wb', buffering=0) as rec:
        while True:
            try:
                b = os.read(src, 65536)
            except OSError:  # e.g. no standard input at all
                break
            if not b:
                break
            rec.write(b)
            try:
                while b:
                    b = b[os.write(dst, b):]
            except OSError:
                break
    if name == 'stdin':
        p.stdin.close()


t_in = threading.Thread(target=pump, args=(0, p.stdin.fileno(), 'stdin'), daemon=True)
t_out = threading.Thread(target=pump, args=(p.stdout.fileno(), 1, 'stdout'))
t_err = threading.Thread(target=pump, args=(p.stderr.fileno(), 2, 'stderr'))
for t in (t_in, t_out, t_err):
    t.start()
rc = p.wait()
t_out.join()
t_err.join()
record('rc', b'%d\n' % rc)
record('done', b'')
os._exit(rc if rc >= 0 else 128 - rc)
'''


class Call:
    """One recorded run of prefix/sbin/sendmail."""

    def __init__(self, d):
        self.dir = d

        def read(name):
            try:
                with open(os.path.join(d, name), 'rb') as f:
                    return f.read()
            except FileNotFoundError:
                return b''

        self.argv = [a.decode('utf-8', 'replace') for a in read('argv').split(b'\0')[:-1]]
        self.stdin = read('stdin')
        self.stdout = read('stdout')
        self.stderr = read('stderr').decode('utf-8', 'replace')
        self.env = read('env').decode('utf-8', 'replace')
        rc = read('rc').strip()
        self.rc = int(rc) if rc.isdigit() else None

    def __repr__(self):
        return 'sendmail %s: exit %s; stderr: %s' % (' '.join(self.argv), self.rc,
                                                      self.stderr.strip()[:600])


class Message:
    """A message as the sink recorded it, with its envelope."""

    def __init__(self, rec, raw):
        self.mail_from = rec['mail_from']
        self.rcpts = rec['rcpts']
        self.raw = raw
        head, sep, body = raw.partition(b'\r\n\r\n')
        self.head = head + b'\r\n' if sep else head
        self.body = body
        self.fields = []  # (name lower-case, value unfolded, as text)
        for line in re.split(rb'\r\n(?![ \t])', head):
            name, colon, value = line.partition(b':')
            if colon:
                v = re.sub(rb'\r\n([ \t])', rb'\1', value).strip()
                self.fields.append((name.strip().lower().decode('ascii', 'replace'),
                                    v.decode('utf-8', 'replace')))

    def header(self, name):
        """Every value of header NAME, unfolded."""
        return [v for n, v in self.fields if n == name.lower()]

    def one(self, name):
        h = self.header(name)
        return h[0] if len(h) == 1 else None

    def __repr__(self):
        return 'MAIL FROM:<%s> RCPT %s\n%s' % (self.mail_from, self.rcpts,
                                               self.raw[:1500].decode('utf-8', 'replace'))


class Recording(fakesmtp.SinkConnection):
    """The sink's connection, keeping each command line as received (MAIL parameters such as
    BODY=8BITMIME are not in the sink's own log)."""

    def command(self, line):
        with self.sink.lock:
            self.sink.lines.append((self.no, line))
        return super().command(line)


class RecordingSink(fakesmtp.Sink):
    connection_class = Recording


class Test(postietest.Tap):
    """One callers test: ok()/note() (TAP) come from postietest.Tap."""

    def __init__(self, name, programs=(), profile=''):
        if len(sys.argv) < 2:
            sys.exit('usage: %s POSTIE_BINARY' % sys.argv[0])
        super().__init__(name)
        self.postie = os.path.abspath(sys.argv[1])
        for p in programs:
            if shutil.which(p) is None:
                self.skip_all('%s is not installed (run tests/callers/install-deps.sh)' % p)
        self.tmpdir = postietest.TempDir('callers-%s' % name)
        self.tmp = self.tmpdir.path
        os.chmod(self.tmp, 0o755)  # sudo's mailer and others may run as another user
        self.home = os.path.join(self.tmp, 'home')
        self.config = os.path.join(self.home, '.config')
        self.state = os.path.join(self.home, '.local', 'state')
        self.cache = os.path.join(self.home, '.cache')
        self.calls_dir = os.path.join(self.tmp, 'calls')
        for d in (self.config, self.state, self.cache, self.calls_dir,
                  os.path.join(self.config, 'postie'), os.path.join(self.tmp, 'prefix', 'sbin'),
                  os.path.join(self.tmp, 'prefix', 'libexec')):
            os.makedirs(d, exist_ok=True)
        self.env = postietest.private_env(self.home, drop_prefixes=('GIT_', 'MAIL'))
        assert (self.env['XDG_CONFIG_HOME'], self.env['XDG_STATE_HOME'],
                self.env['XDG_CACHE_HOME']) == (self.config, self.state, self.cache)
        self.sink = RecordingSink(os.path.join(self.tmp, 'sink'), deadline=300)
        self.sink.lines = []
        atexit.register(self.sink.stop)
        self.sendmail = self.install()
        self.profile(profile)
        print('# %s: temp dir %s, sink on 127.0.0.1:%d' % (name, self.tmp, self.sink.port))

    # ---- set-up ----------------------------------------------------------------------

    def install(self):
        """postie as sendmail in the test prefix; the recording script's path returned."""
        real = os.path.join(self.tmp, 'prefix', 'libexec', 'sendmail')
        os.symlink(self.postie, real)
        text = WRAPPER
        for k, v in (('CALLS', self.calls_dir), ('CONFIG', self.config), ('STATE', self.state),
                     ('CACHE', self.cache), ('REAL', real), ('PYTHON', sys.executable)):
            if "'" in v:
                sys.exit('clib: a quote in the temp path %s' % v)
            text = text.replace('@%s@' % k, v)
        path = os.path.join(self.tmp, 'prefix', 'sbin', 'sendmail')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def profile(self, extra=''):
        """The user profile (0600) pointing at the sink."""
        path = os.path.join(self.config, 'postie', 'config')
        text = ('# callers test %s\n'
                'defaults\ntls off\nqueue off\nqueue_dir %s\n\n'
                'account default\nhost 127.0.0.1\nport %d\nfrom sender@example.test\n%s'
                % (self.name, os.path.join(self.tmp, 'queue'), self.sink.port, extra))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    # ---- running -------------------------------------------------------------------

    def run(self, argv, input=b'', env=None, timeout=120, cwd=None):
        e = dict(self.env)
        e.update(env or {})
        try:
            r = subprocess.run(argv, input=input, capture_output=True, env=e, timeout=timeout,
                               cwd=cwd or self.tmp)
        except subprocess.TimeoutExpired as x:
            r = subprocess.CompletedProcess(argv, 'timeout', x.stdout or b'', x.stderr or b'')
        r.out = r.stdout.decode('utf-8', 'replace') if r.stdout else ''
        r.err = r.stderr.decode('utf-8', 'replace') if r.stderr else ''
        return r

    def calls(self):
        """Every finished call of prefix/sbin/sendmail so far, oldest first."""
        out = []
        for x in sorted(os.listdir(self.calls_dir)):
            d = os.path.join(self.calls_dir, x)
            if os.path.exists(os.path.join(d, 'done')):
                out.append(Call(d))
        return out

    def wait_calls(self, n, timeout=60.0):
        """Wait for N finished calls (a program may leave its sendmail running behind it)."""
        end = time.monotonic() + timeout
        while len(self.calls()) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.calls()

    def messages(self):
        out = []
        with self.sink.lock:
            recs = list(self.sink.messages)
        for rec in recs:
            with open(os.path.join(self.sink.dir, 'msg-%04d.eml' % rec['seq']), 'rb') as f:
                out.append(Message(rec, f.read()))
        return out

    def mail_lines(self):
        """The MAIL commands the sink received, as sent."""
        with self.sink.lock:
            return [ln for _, ln in self.sink.lines if ln[:5].upper() == 'MAIL ']

    # ---- checks --------------------------------------------------------------------

    def check_call(self, call, argv, what, dialogue=False):
        """The recorded call had exactly ARGV, and postie exited 0 and said nothing (a caller
        such as cron mails or logs whatever its sendmail prints); with DIALOGUE (-bs) its
        standard output is the SMTP dialogue, and only standard error must be empty."""
        self.ok(call is not None and call.argv == argv, '%s: sendmail argv is %s' % (what, argv),
                call)
        good = self.ok(call is not None and call.rc == 0, '%s: postie exits 0' % what, call)
        self.ok(call is not None and call.stderr == '' and (dialogue or call.stdout == b''),
                '%s: postie prints nothing%s' % (what, ' on stderr' if dialogue else ''), call)
        return good

    def check_wire(self, m, what):
        """What every message must look like on the wire, whoever wrote it: CRLF only (SEC-26,
        SEC-27), no line over 998 octets (SEC-29), From, Date and Message-ID exactly once
        (added when the caller left them out: DESIGN.md), no Bcc (SEC-23)."""
        lines = m.raw.split(b'\r\n')
        self.ok(b'\n' not in m.raw.replace(b'\r\n', b'') and
                b'\r' not in m.raw.replace(b'\r\n', b''),
                '%s: every line ends in CRLF (no bare LF or CR)' % what, m)
        self.ok(all(len(x) <= 998 for x in lines), '%s: no line over 998 octets' % what)
        for h in ('from', 'date', 'message-id'):
            self.ok(len(m.header(h)) == 1, '%s: exactly one %s header' % (what, h),
                    m.head.decode('utf-8', 'replace'))
        self.ok(not m.header('bcc'), '%s: no Bcc header' % what, m.head.decode('utf-8', 'replace'))

    def finish(self):
        self.sink.stop()
        status = self.plan()
        self.tmpdir.end(self.failed, ' (calls/, sink/)')
        sys.exit(status)


def crlf(text):
    """TEXT (str with LF line ends) as the CRLF bytes the wire carries."""
    return text.encode('utf-8').replace(b'\n', b'\r\n')
