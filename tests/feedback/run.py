#!/usr/bin/env python3
# run.py POSTIE: what postie tells its user about a send (issue #12, "Feedback on big sends"
# and "Messages that lead somewhere"), where a protocol case cannot look: a terminal.
#
#   progress   a 3 MB message with stderr on a pseudo-terminal: the progress line appears
#              (from a pipe: once 1 MiB has gone, without a total; from a regular file: with
#              "of 3.0 MiB"), is redrawn from the line's start, never ends a line, and is
#              blanked at the end; with DATA and with CHUNKING
#   quiet      the same message with stderr a pipe: no progress line; a small message on the
#              terminal: nothing written; -v on the terminal: the transcript, no progress line
#   reached    a delivery notes the server in $XDG_STATE_HOME/postie/reached; a refused
#              connection to a port reached before does not say "never reached", one to
#              another port does
#   version    --version: postie's, GnuTLS's, libidn2's and popt's versions, the paths
#
# Standard library only; the sink (tests/lib/fakesmtp.py) listens on loopback and stops by
# itself. Runs in well under a minute; no check depends on timing.

import os
import pty
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import fakesmtp  # noqa: E402
from postietest import Tap, TempDir, private_env  # noqa: E402

HEADER = ('From: Sender <sender@example.test>\nTo: rcpt@example.test\n'
          'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <%s@example.test>\n'
          'Subject: %s\n\n')
LINE = b'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij\n'


def message(tag, lines):
    return HEADER.replace('%s', tag).encode() + LINE * lines


class Env:
    def __init__(self, postie, tmp):
        self.postie = postie
        self.tmp = tmp
        self.home = os.path.join(tmp, 'home')
        self.env = private_env(self.home)
        self.profile = os.path.join(self.env['XDG_CONFIG_HOME'], 'postie', 'config')
        os.makedirs(os.path.dirname(self.profile), exist_ok=True)

    def use_port(self, port, extra=''):
        with open(self.profile, 'w') as f:
            f.write('account default\nhost 127.0.0.1\nport %d\ntls off\n'
                    'from sender@example.test\n%s' % (port, extra))
        os.chmod(self.profile, 0o600)

    def run(self, data, args=(), tty=False, from_file=False):
        """Run postie with DATA; stderr on a pseudo-terminal (TTY) or a pipe. Returns
        (status, stderr bytes)."""
        argv = [self.postie] + list(args) + ['rcpt@example.test']
        stdin = subprocess.PIPE
        if from_file:
            path = os.path.join(self.tmp, 'message.eml')
            with open(path, 'wb') as f:
                f.write(data)
            stdin = open(path, 'rb')
        if not tty:
            p = subprocess.run(argv, input=None if from_file else data, stdin=None if not
                               from_file else stdin, capture_output=True, env=self.env,
                               timeout=60)
            if from_file:
                stdin.close()
            return p.returncode, p.stderr
        master, slave = pty.openpty()
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=slave,
                             env=self.env)
        os.close(slave)
        if from_file:
            stdin.close()
        got = bytearray()

        def reader():
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every writer of the terminal has gone
                    return
                if not chunk:
                    return
                got.extend(chunk)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        if not from_file:
            try:
                p.stdin.write(data)
                p.stdin.close()
            except BrokenPipeError:
                pass
        p.wait(timeout=60)
        th.join(timeout=10)
        os.close(master)
        return p.returncode, bytes(got)


def check_progress(t, what, status, out, total):
    t.ok(status == 0, '%s: delivered' % what, (status, out))
    t.ok(b'\rpostie: ' in out, '%s: the progress line appears' % what, out[-400:])
    draws = [d for d in out.split(b'\r') if d.startswith(b'postie: ')]
    # The rate (", N MiB/s") needs a millisecond gone: a draw right at the start has none.
    want = b' of 3.' if total else b' MiB'
    t.ok(draws and all(want in d and b' to 127.0.0.1 [127.0.0.1]:' in d for d in draws),
         '%s: each draw says how much%s and where' %
         (what, ' of the total' if total else ''), draws[:3])
    t.ok(b'\n' not in out, '%s: never a line end (nothing else was said)' % what, out[-400:])
    t.ok(re.search(rb'\r +\r$', out) is not None, '%s: blanked at the end' % what, out[-200:])


def test_progress(t, postie, tmp):
    e = Env(postie, tmp)
    big = message('big', 40000)  # about 3.3 MB
    for chunking in (False, True):
        sink = fakesmtp.Sink(os.path.join(tmp, 'sink-%d' % chunking), chunking=chunking)
        e.use_port(sink.port)
        kind = 'BDAT' if chunking else 'DATA'
        status, out = e.run(big, tty=True)
        check_progress(t, '%s, a pipe on a terminal' % kind, status, out, total=False)
        status, out = e.run(big, tty=True, from_file=True)
        check_progress(t, '%s, a file on a terminal' % kind, status, out, total=True)
        status, err = e.run(big)
        t.ok(status == 0 and err == b'', '%s, stderr a pipe: no progress line, nothing said'
             % kind, err[-400:])
        status, out = e.run(message('small', 100), tty=True)
        t.ok(status == 0 and out == b'', '%s, a small message on a terminal: nothing' % kind,
             out)
        status, out = e.run(big, args=['-v'], tty=True)
        t.ok(status == 0 and b'--> MAIL FROM' in out and b'\rpostie: ' not in out.replace(
            b'\r\n', b'\n'), '%s, -v on a terminal: the transcript, no progress line' % kind,
            out[-400:])
        sink.wait_idle()
        t.ok(len(sink.messages) == 5, '%s: the sink took all 5 messages' % kind,
             len(sink.messages))
        sink.stop()


def test_reached(t, postie, tmp):
    e = Env(postie, tmp)
    sink = fakesmtp.Sink(os.path.join(tmp, 'sink'))
    port = sink.port
    e.use_port(port)
    status, err = e.run(message('first', 3))
    state = os.path.join(e.env['XDG_STATE_HOME'], 'postie', 'reached')
    try:
        with open(state) as f:
            lines = f.read().splitlines()
    except OSError as x:
        lines = [str(x)]
    t.ok(status == 0 and lines == ['127.0.0.1 %d' % port],
         'a delivery notes the server in the state file', (status, err, lines))
    sink.stop()
    # The same port, bound and not listening (a server that is down): once the stopped
    # sink's socket is really gone.
    down = None
    end = time.monotonic() + 10
    while down is None and time.monotonic() < end:
        try:
            down = fakesmtp.Sink(os.path.join(tmp, 'down'), port=port, listening=False)
        except OSError:
            time.sleep(0.05)
    status, err = e.run(message('down', 3))
    t.ok(status == 0 and b'queued as' in err and b'nothing listens' in err and
         b'never reached' not in err, 'the port reached before refuses: queued, no '
         '"never reached"', err)
    if down:
        down.stop()
    closed = fakesmtp.Sink(os.path.join(tmp, 'closed'), listening=False)
    e.use_port(closed.port)
    status, err = e.run(message('wrong', 3))
    t.ok(status == 0 and b'queued as' in err and b'postie has never reached 127.0.0.1 on '
         b'this port' in err, 'another port refuses: queued, "never reached"', err)
    closed.stop()


def test_version(t, postie, tmp):
    e = Env(postie, tmp)
    p = subprocess.run([postie, '--version'], capture_output=True, env=e.env, text=True,
                       timeout=30)
    lines = p.stdout.splitlines()
    home = e.home
    want = [
        r'postie [0-9]+\.[0-9]+\.[0-9]+',
        r'GnuTLS: [0-9]+\.[0-9]+\.[0-9]+ \(built with [0-9.]+\)',
        r'libidn2: [0-9]+\.[0-9]+\.[0-9]+ \(built with [0-9.]+\)',
        r'popt: [0-9]+\.[0-9]+(\.[0-9]+)? \(built with\)',
        r'system profile: /.*postie\.conf',
        r'user profile: %s/\.config/postie/config \(\$XDG_CONFIG_HOME/postie/config\)' %
        re.escape(home),
        r'queue: %s/\.local/state/postie/queue \(\$XDG_STATE_HOME/postie/queue\)' %
        re.escape(home),
        r'TLS session cache: %s/\.cache/postie/tls .*' % re.escape(home),
        r'servers reached: %s/\.local/state/postie/reached .*' % re.escape(home),
        r'setgid group: .+',
        r'TLS: .*TLS 1\.2 and 1\.3.*',
        r'IDN: .*libidn2.*',
        r'SASL: .*SCRAM-SHA-256-PLUS.*',
        r'passwords: .*secret-tool.*',
        r'SMTP: .*CHUNKING.*',
    ]
    t.ok(p.returncode == 0 and p.stderr == '', '--version: exit 0, nothing on stderr', p)
    for i, pat in enumerate(want):
        got = lines[i] if i < len(lines) else '(missing)'
        t.ok(re.fullmatch(pat, got) is not None, '--version line %d: %s' % (i + 1, pat), got)
    t.ok(len(lines) == len(want), '--version: %d lines' % len(want), p.stdout)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: run.py POSTIE TEST (progress, reached, version)')
    postie, name = os.path.abspath(sys.argv[1]), sys.argv[2]
    tests = {'progress': test_progress, 'reached': test_reached, 'version': test_version}
    t = Tap('feedback-' + name)
    tmp = TempDir('feedback-' + name)
    try:
        tests[name](t, postie, tmp.path)
    finally:
        rc = t.plan()
        tmp.end(rc != 0)
    sys.exit(rc)


if __name__ == '__main__':
    main()
