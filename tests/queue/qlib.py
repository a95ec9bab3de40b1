# qlib.py: what the queue tests share, on top of tests/lib (postietest.py: the private temp
# dir, HOME and XDG dirs, locale, certificates, TAP lines; fakesmtp.py: the sink): the
# queue_dir and the profile, running and killing postie, reading the queue directory. A test
# script is run as
#     python3 SCRIPT POSTIE_BINARY
# and exits 0 (pass), 1 (fail) or 77 (skip). POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir
# (else it is removed, also after a failure).

import atexit
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)
from postietest import table, wait_for  # noqa: E402,F401  (the queue tests import them here)
from fakesmtp import Sink  # noqa: E402

SUBDIRS = ('tmp', 'queue', 'failed', 'corrupt')


class Result:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs

    def __repr__(self):
        return 'exit %s after %.2fs; stderr: %s' % (self.rc, self.secs, self.err.strip()[:600])


class Test(postietest.Tap):
    """One queue test: ok()/todo()/note() (TAP) and finish() come from postietest.Tap."""

    def __init__(self, name, root=False):
        if len(sys.argv) < 2:
            sys.exit('usage: %s POSTIE_BINARY' % sys.argv[0])
        super().__init__(name)
        self.postie = os.path.abspath(sys.argv[1])
        if root and os.geteuid() != 0:
            self.skip_all('%s needs root' % name)
        self.tmpdir = postietest.TempDir('queue-%s' % name)
        self.tmp = self.tmpdir.path
        self.home = os.path.join(self.tmp, 'home')
        self.qdir = os.path.join(self.tmp, 'q')
        self.env = postietest.private_env(self.home)
        self.children = []
        self.sinks = []
        self.certs = None
        atexit.register(self.reap)  # also when a test dies of an exception
        print('# %s: temp dir %s' % (name, self.tmp))

    def reap(self):
        """Kill (by pid) every process this test started that still runs; stop the sinks."""
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in self.sinks:
            s.stop()

    def finish(self):
        self.reap()
        status = self.plan()
        self.tmpdir.end(self.failed, ' (queue, sink records, stderr files)')
        sys.exit(status)

    # ---- set-up ----------------------------------------------------------------------

    def sink(self, name='sink', **kw):
        s = Sink(os.path.join(self.tmp, name), **kw)
        self.sinks.append(s)
        return s

    def make_certs(self):
        """The test certificates (tests/gencerts.sh); None when certtool is missing."""
        if not postietest.have_certtool():
            return None
        d = os.path.join(self.tmp, 'certs')
        r = postietest.gencerts(d)
        if r.returncode != 0:
            return None
        self.certs = d
        return d

    def profile(self, port, extra='', qdir=None, path=None, account='default'):
        """A profile for one account on the sink; written 0600, its path returned."""
        # In the user's config folder: a profile -C names elsewhere is a caller's, and may
        # not set queue_dir (SEC-43).
        cfg = os.path.join(self.home, '.config', 'postie')
        os.makedirs(cfg, exist_ok=True)
        path = os.path.join(cfg, os.path.basename(path or 'profile'))
        text = ('account %s\nhost 127.0.0.1\nport %d\ntls off\nfrom sender@example.test\n'
                'queue_dir %s\n%s' % (account, port, qdir or self.qdir, extra))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        self.profile_path = path
        return path

    def message(self, mid, size=300, name=None):
        """A message file with Message-ID <MID@example.test> and about SIZE bytes of body."""
        path = os.path.join(self.tmp, name or ('in-%s.txt' % mid))
        body = []
        n = 0
        i = 0
        while n < size:
            line = 'line %06d of message %s, some words to fill it up.\n' % (i, mid)
            if i % 7 == 3:
                line = '.' + line  # dot-stuffing on the way, undone by the sink
            body.append(line)
            n += len(line)
            i += 1
        with open(path, 'w', encoding='utf-8') as f:
            f.write('From: Sender <sender@example.test>\nTo: rcpt@example.test\n'
                    'Subject: queue test %s\nMessage-ID: <%s@example.test>\n\n' % (mid, mid))
            f.write(''.join(body))
        return path

    # ---- running postie ----------------------------------------------------------------

    def argv(self, args, profile=None):
        return [self.postie, '-C', profile or self.profile_path] + list(args)

    def run(self, args, stdin=None, timeout=30, profile=None):
        t0 = time.monotonic()
        fin = open(stdin, 'rb') if stdin else subprocess.DEVNULL
        try:
            r = subprocess.run(self.argv(args, profile), stdin=fin, capture_output=True,
                               env=self.env, timeout=timeout)
        finally:
            if stdin:
                fin.close()
        return Result(r.returncode, r.stdout.decode('utf-8', 'replace'),
                      r.stderr.decode('utf-8', 'replace'), time.monotonic() - t0)

    def send(self, mid, rcpts=('rcpt@example.test',), size=300, args=(), **kw):
        return self.run(list(args) + list(rcpts), stdin=self.message(mid, size), **kw)

    def flush(self, args=(), **kw):
        return self.run(['-q'] + list(args), **kw)

    def mailq(self, **kw):
        return self.run(['-bp'], **kw)

    def spawn(self, args, stdin=None, profile=None):
        """Start postie; stdin is a file path, or PIPE."""
        if stdin == subprocess.PIPE:
            fin = subprocess.PIPE
        else:
            fin = open(stdin, 'rb') if stdin else subprocess.DEVNULL
        n = len(self.children)
        out = open(os.path.join(self.tmp, 'child%d.out' % n), 'wb+')
        err = open(os.path.join(self.tmp, 'child%d.err' % n), 'wb+')
        p = subprocess.Popen(self.argv(args, profile), stdin=fin, stdout=out, stderr=err,
                             env=self.env)
        p.err_file = err
        if fin not in (subprocess.PIPE, subprocess.DEVNULL):
            fin.close()
        self.children.append(p)
        return p

    def kill9(self, p):
        """SIGKILL one postie we started, and reap it. True when it was still running."""
        alive = p.poll() is None
        if alive:
            os.kill(p.pid, signal.SIGKILL)
        p.wait()
        return alive

    @staticmethod
    def child_stderr(p):
        p.err_file.seek(0)
        return p.err_file.read().decode('utf-8', 'replace')

    # ---- the queue directory -------------------------------------------------------------

    def ids(self, sub, qdir=None):
        d = os.path.join(qdir or self.qdir, sub)
        try:
            return sorted(x for x in os.listdir(d) if not x.startswith('.'))
        except FileNotFoundError:
            return []

    def state(self, qdir=None):
        return {s: len(self.ids(s, qdir)) for s in SUBDIRS}

    def envelope(self, sub, qid, qdir=None):
        with open(os.path.join(qdir or self.qdir, sub, qid, 'envelope'), encoding='utf-8') as f:
            return f.read()

    def make_due(self, qdir=None):
        """Set every waiting entry's next-attempt to 0 (the format is documented in
        src/queue.h), as if its backoff had passed."""
        for qid in self.ids('queue', qdir):
            d = os.path.join(qdir or self.qdir, 'queue', qid)
            with open(os.path.join(d, 'envelope'), encoding='utf-8') as f:
                lines = f.read().split('\n')
            lines = ['next-attempt 0' if x.startswith('next-attempt ') else x for x in lines]
            with open(os.path.join(d, 'envelope.tmp'), 'w', encoding='utf-8') as f:
                f.write('\n'.join(lines))
            os.rename(os.path.join(d, 'envelope.tmp'), os.path.join(d, 'envelope'))


def mailq_blocks(text):
    """Parse `postie -bp` (Postfix's layout, see queue_list in src/queue.h) into one dict per
    entry: id, failed (the '!'), size, arrival, sender, rcpts [(address, its reason or None)]
    and lines (the block's lines as printed). Raises ValueError on a line out of place."""
    blocks, cur, reason = [], None, None
    lines = text.split('\n')
    for i, line in enumerate(lines):
        if line.startswith('-Queue ID-') or line.startswith('-- ') or line == '' \
                or line == 'Mail queue is empty':
            cur, reason = None if line == '' else cur, None if line == '' else reason
            continue
        if line[0] not in ' (':
            head = line.split(None, 3)
            if len(head) < 4 and '(' not in line:
                raise ValueError('entry line %r' % line)
            cur = {'id': head[0].rstrip('!'), 'failed': head[0].endswith('!'),
                   'size': head[1], 'arrival': line[49:61], 'sender': line[62:],
                   'rcpts': [], 'lines': [line]}
            blocks.append(cur)
            reason = None
            continue
        if cur is None:
            raise ValueError('line outside a block: %r' % line)
        cur['lines'].append(line)
        if line.startswith('('):
            reason = line[1:]
        elif line.startswith(' ') and line[1:2] != ' ' and reason is not None:
            reason += ' ' + line[1:]  # a reason folded at 80 columns
        elif line.startswith(' ' * 40):
            cur['rcpts'].append((line[40:], reason[:-1] if reason else None))
        elif not line.startswith('  '):  # -v's details are indented by two
            raise ValueError('line %r' % line)
    return blocks
