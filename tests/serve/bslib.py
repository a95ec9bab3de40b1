# bslib.py: what the -bs tests share. The temp dir, profiles, the sink and the checks come
# from tests/queue/qlib.py (on top of tests/lib; imported, not copied); this file adds the caller's side of the
# conversation: postie -bs started with pipes on its standard input and output, lines
# written to it, and its replies read back and parsed (RFC 5321 §4.2: "NNN-" continues a
# reply, "NNN " ends it).
#
# A test script is run as
#     python3 SCRIPT POSTIE_BINARY
# and exits 0 (pass), 1 (fail) or 77 (skip). POSTIE_TEST_KEEP=1 keeps the temp dir.

import os
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'queue'))

from qlib import Test, wait_for  # noqa: E402,F401  (the path is set just above)

# Only a safety net, so a broken postie cannot hang the suite: never an assertion on time.
WAIT = 30.0


class Gone(Exception):
    """postie closed its standard output (or the safety net ran out)."""


class Bs:
    """One postie -bs process and the caller's end of its conversation."""

    def __init__(self, t, args=(), profile=None, env=None):
        self.t = t
        n = len(t.children)
        self.err_path = os.path.join(t.tmp, 'bs%d.err' % n)
        self.err_file = open(self.err_path, 'wb+')
        self.p = subprocess.Popen(t.argv(['-bs'] + list(args), profile),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err_file, env=env or t.env)
        t.children.append(self.p)
        self.buf = b''
        self.transcript = []
        self.received = []  # every line postie wrote, as bytes

    # ---- bytes -------------------------------------------------------------------------

    def send(self, data):
        """Write DATA (bytes or str) to postie's standard input in one write."""
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.transcript.append('C: %r' % data[:200])
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except BrokenPipeError:
            raise Gone()

    def close_input(self):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass

    def line(self):
        fd = self.p.stdout.fileno()
        end = time.monotonic() + WAIT
        while b'\n' not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise Gone()
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise Gone()
            self.buf += chunk
        i = self.buf.index(b'\n')
        out, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        self.transcript.append('S: %r' % out)
        self.received.append(out)
        return out

    def reply(self):
        """The next reply: (code, [text of each line]). Every line must end in CRLF and
        carry the same code; (None, [why]) when postie sent something else or went away."""
        lines = []
        try:
            while True:
                raw = self.line()
                if not raw.endswith(b'\r\n') or len(raw) < 6 or raw[3:4] not in (b' ', b'-'):
                    return None, ['malformed reply line %r' % raw]
                code = raw[:3].decode('ascii', 'replace')
                if lines and code != lines[0][0]:
                    return None, ['mixed codes in one reply: %r' % raw]
                lines.append((code, raw[4:-2].decode('utf-8', 'replace')))
                if raw[3:4] == b' ':
                    return int(code), [x[1] for x in lines]
        except Gone:
            return None, ['no reply (postie closed its output)']

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        """Send one command line (CRLF added) and read its reply."""
        self.send(line + '\r\n')
        return self.reply()

    def rest(self):
        """Everything postie writes until it closes its output."""
        out = self.buf
        self.buf = b''
        fd = self.p.stdout.fileno()
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], end - time.monotonic())
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
        return out

    def finish(self):
        """Close postie's input, wait for it: (exit status, stderr text)."""
        self.close_input()
        try:
            rc = self.p.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.err_file.seek(0)
        return rc, self.err_file.read().decode('utf-8', 'replace')

    def stderr(self):
        self.err_file.flush()
        self.err_file.seek(0)
        return self.err_file.read().decode('utf-8', 'replace')

    def show(self):
        return '\n'.join(self.transcript[-40:])


def message(mid, body='Hello.\r\n', headers=''):
    """A complete message (From, To, Subject, Date, Message-ID: postie adds nothing), CRLF
    line ends, not dot-stuffed."""
    return ('From: Sender <sender@example.test>\r\n'
            'To: rcpt@example.test\r\n'
            'Subject: -bs test %s\r\n'
            'Date: Fri, 14 Jun 2024 10:15:30 +0000\r\n'
            'Message-ID: <%s@example.test>\r\n'
            '%s'
            '\r\n' % (mid, mid, headers)) + body


def stuff(text):
    """Dot-stuff TEXT (RFC 5321 §4.5.2) and add the end of the data."""
    lines = text.split('\r\n')
    out = '\r\n'.join(('.' + x) if x.startswith('.') else x for x in lines)
    if not out.endswith('\r\n'):
        out += '\r\n'
    return out + '.\r\n'


def greet(bs, ehlo='client.example.test'):
    """Read the greeting and say EHLO: (greeting reply, EHLO reply)."""
    return bs.reply(), bs.cmd('EHLO ' + ehlo)


def sink_data(s, seq):
    """The bytes of the sink's message number SEQ (1-based)."""
    with open(os.path.join(s.dir, 'msg-%04d.eml' % seq), 'rb') as f:
        return f.read()


def by_msgid(s, mid):
    """The sink's records of Message-ID <MID@example.test>."""
    return [m for m in list(s.messages) if m['message_id'] == '<%s@example.test>' % mid]
