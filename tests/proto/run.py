#!/usr/bin/env python3
# run.py POSTIE_BINARY CASEFILE: run one protocol test case against the real binary.
#
# Makes a private temp dir (HOME and the XDG dirs inside it, so no real
# profile is read: tests/lib/postietest.py), generates the test certificates there with
# ../gencerts.sh, starts ../lib/fakesmtp.py with the case's <server> script, writes
# the case's <profile>, runs postie with <args> and <stdin>, and checks what
# the case expects. Prints "ok" or "FAIL" with the differences; exit 0 on
# pass, 1 on failure, 77 (skip) when the test tools are missing.
#
# The case format is described in README.md beside this file. Also (issue #3 network cases):
#   placeholders @HOST@ (the server's address), @SOCKET@ (a unix socket path the server
#     listens on when its script says unix-socket), @CLOSEDPORT@ (a port on 127.0.0.1 that
#     refuses connections), @SPYPORT@ (a port on 127.0.0.1 that only counts connections);
#   <server-listen> "loopback-random PORT": the server listens on PORT (e.g. 465) of a
#     random 127.x.y.z (@HOST@) instead; the case is skipped when PORT needs privileges;
#   checks <expect-spy> yes|no (whether anything connected to @SPYPORT@), <expect-socks>
#     (the SOCKS5 requests, socks.txt), <expect-peer> (the client address the server saw:
#     an IP address, or "unix:"), <expect-stdout-lines> (each line a substring of stdout,
#     or "=~ RE" searched, like <expect-stderr>).
#
# Environment:
#   POSTIE_TEST_KEEP=1 (or =fail)  keep the temp dir and print its path (for debugging)
#   PROTO_VERBOSE=1  print postie's stderr and the server record even on success

import difflib
import hashlib
import os
import random
import re
import shlex
import socket
import signal
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

FAKESMTP = os.path.join(postietest.LIB, 'fakesmtp.py')

CLIENT_TIMEOUT = 20.0        # postie is killed after this many seconds
REGEX_PREFIX = '=~ '           # a line of an expect section given as a regular expression
OPTIONAL_PREFIX = '=? '        # a line that may be absent
OPTIONAL_REGEX_PREFIX = '=?~ ' # a regular expression line that may be absent
STAR_PREFIX = '=*~ '           # a regular expression for any number of lines (0 or more)
PLUS_PREFIX = '=+~ '           # a regular expression for one or more lines


class CaseError(Exception):
    pass


def parse_case(path):
    """Sections <name attr attr=value>...</name>; anything outside them is a comment."""
    sections = {}
    cur = None
    with open(path, encoding='utf-8') as f:
        text = f.read()
    for lineno, line in enumerate(text.split('\n'), 1):
        if cur is None:
            m = re.fullmatch(r'<([a-z][a-z0-9-]*)((?:\s+[^>]*)?)>\s*', line)
            if m:
                attrs = {}
                for a in m.group(2).split():
                    k, _, v = a.partition('=')
                    attrs[k] = v if v else True
                cur = (m.group(1), attrs, [])
            continue
        if line.strip() == '</%s>' % cur[0]:
            if cur[0] in sections:
                raise CaseError('%s:%d: section <%s> given twice' % (path, lineno, cur[0]))
            sections[cur[0]] = (cur[1], cur[2])
            cur = None
            continue
        cur[2].append(line)
    if cur is not None:
        raise CaseError('%s: section <%s> is not closed' % (path, cur[0]))
    return sections


ESCAPES = {'r': b'\r', 'n': b'\n', 't': b'\t', '0': b'\0', '\\': b'\\'}


def unescape(text):
    """\\r \\n \\t \\0 \\xNN \\\\ -> bytes (sections with the 'escapes' attribute)."""
    out = []
    pos = 0
    for m in re.finditer(r'\\(x[0-9a-fA-F]{2}|[rnt0\\])', text):
        out.append(text[pos:m.start()].encode('utf-8'))
        code = m.group(1)
        out.append(bytes([int(code[1:], 16)]) if code[0] == 'x' else ESCAPES[code])
        pos = m.end()
    out.append(text[pos:].encode('utf-8'))
    return b''.join(out)


def expand_repeat(text):
    """%repeat[N x TEXT]% -> TEXT repeated N times."""
    return re.sub(r'%repeat\[(\d+) x (.*?)\]%', lambda m: m.group(2) * int(m.group(1)), text)


def section_bytes(attrs, lines, default_crlf=False):
    """Turn section lines into bytes according to the attributes.

    Every line ends with LF, or with CRLF when 'crlf' is set (or default_crlf
    and not 'raw'); 'escapes' decodes backslash escapes; 'nonewline' drops the
    last line end."""
    crlf = ('crlf' in attrs) or (default_crlf and 'raw' not in attrs)
    out = bytearray()
    for line in lines:
        line = expand_repeat(line)
        out += unescape(line) if 'escapes' in attrs else line.encode('utf-8')
        out += b'\r\n' if crlf else b'\n'
    if 'nonewline' in attrs and out:
        del out[-2 if crlf else -1:]
    return bytes(out)


class Runner:
    def __init__(self, binary, casefile):
        self.binary = os.path.abspath(binary)
        self.casefile = casefile
        self.name = os.path.basename(casefile)
        self.sections = parse_case(casefile)
        self.failures = []

    # ---- placeholders ----------------------------------------------------------

    def subst(self, text):
        def rep(m):
            key = m.group(1)
            if key in self.vars:
                return self.vars[key]
            if key.startswith('FPSHA1_') and key[7:] in self.fps:
                return self.sha1_fingerprint(key[7:])
            for prefix in ('FP_', 'FPC_', 'FPRE_'):
                if key.startswith(prefix) and key[len(prefix):] in self.fps:
                    fp = self.fps[key[len(prefix):]]
                    if prefix == 'FP_':
                        return fp
                    if prefix == 'FPC_':
                        return ':'.join(fp[i:i + 2] for i in range(0, len(fp), 2)).upper()
                    return '(?i:' + ':?'.join(fp[i:i + 2] for i in range(0, len(fp), 2)) + ')'
            raise CaseError('unknown placeholder @%s@' % key)
        return re.sub(r'@((?:FP|FPC|FPRE|FPSHA1)_[a-z0-9-]+|[A-Z][A-Z0-9_]*)@', rep, text)

    def lines(self, name):
        attrs, lines = self.sections[name]
        return attrs, [self.subst(l) for l in lines]

    # ---- running ---------------------------------------------------------------

    def sha1_fingerprint(self, name):
        path = os.path.join(self.vars['CERTS'], name + '.pem')
        with open(path, encoding='ascii') as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        fp = hashlib.sha1(der).hexdigest().upper()
        return ':'.join(fp[i:i + 2] for i in range(0, len(fp), 2))

    def run(self):
        if not postietest.have_certtool():
            print('SKIP %s: certtool (GnuTLS) not installed' % self.name)
            return 77
        if 'expect-exit' not in self.sections:
            raise CaseError('%s: no <expect-exit> section' % self.casefile)
        tmpdir = postietest.TempDir('proto')
        self.tmp = tmpdir.path
        status = 1
        try:
            status = self.run_in_tmp()
            return status
        finally:
            tmpdir.end(status not in (0, 77))

    def run_in_tmp(self):
        tmp = self.tmp
        home = os.path.join(tmp, 'home')
        certs = os.path.join(tmp, 'certs')
        out = os.path.join(tmp, 'server')
        os.makedirs(out, exist_ok=True)
        env = postietest.private_env(home)
        gen = postietest.gencerts(certs)
        if gen.returncode != 0:
            print('FAIL %s: gencerts.sh failed: %s' % (self.name, gen.stderr.decode(errors='replace')))
            return 1
        self.fps = postietest.fingerprints(certs)
        self.vars = {'CA': os.path.join(certs, 'ca.pem'), 'CERTS': certs, 'TMP': tmp,
                     'HOME': home, 'PORT': '0', 'HOST': '127.0.0.1',
                     'SOCKET': os.path.join(tmp, 'server.sock')}
        self.extra_ports()
        # @SPKI_SERVER@ and the like: "sha256//BASE64" pins from gencerts.sh's spki.txt.
        spki = os.path.join(certs, 'spki.txt')
        if os.path.exists(spki):
            with open(spki, encoding='ascii') as f:
                for line in f:
                    name, _, pin = line.strip().partition(' ')
                    self.vars['SPKI_' + name.upper().replace('-', '_')] = pin

        # The message first: a big one takes a moment to build, and the server's clock runs.
        stdin = b''
        if 'stdin' in self.sections:
            attrs, lines = self.lines('stdin')
            stdin = section_bytes(attrs, lines)
            if 'file' in attrs:
                # Standard input is a regular file, not a pipe: run_postie opens it.
                path = os.path.join(tmp, 'stdin.eml')
                with open(path, 'wb') as f:
                    f.write(stdin)
                stdin = path

        # The fake server.
        script = os.path.join(tmp, 'server.script')
        with open(script, 'w', encoding='utf-8') as f:
            if 'server' in self.sections:
                f.write('\n'.join(self.sections['server'][1]) + '\n')
        for attempt in range(20):
            server_argv = [sys.executable, FAKESMTP, '--script', script, '--certs', certs,
                           '--out', out, '--unix', self.vars['SOCKET']]
            if 'server-listen' in self.sections:
                # "loopback-random PORT": a fixed port (e.g. 465) on a random 127.x.y.z, so
                # parallel runs do not meet; skipped where the port needs privileges.
                _, lines = self.lines('server-listen')
                kind, lport = ' '.join(lines).split()
                self.vars['HOST'] = '127.%d.%d.%d' % (random.randint(1, 254),
                                                     random.randint(0, 255),
                                                     random.randint(1, 254))
                server_argv += ['--bind', self.vars['HOST'], '--port', lport]
            server = subprocess.Popen(server_argv, stdout=subprocess.PIPE,
                                      stderr=open(os.path.join(tmp, 'server.stderr'), 'wb'))
            first = server.stdout.readline().decode()
            if not first.startswith('BUSY'):
                break
            server.wait()
        if first.startswith('SKIP'):
            server.wait()
            print('SKIP %s: %s' % (self.name, first.strip()))
            return 77
        m = re.match(r'PORT (\d+)', first)
        if not m:
            server.kill()
            server.wait()
            print('FAIL %s: fake server did not start: %r' % (self.name, first))
            print(open(os.path.join(tmp, 'server.stderr'), errors='replace').read())
            return 1
        self.vars['PORT'] = m.group(1)

        # The profile.
        argv = [self.binary]
        if 'profile' in self.sections:
            attrs = self.sections['profile'][0]
            if attrs.get('at') == 'user':
                ppath = os.path.join(home, '.config', 'postie', 'config')
            elif attrs.get('at') == 'elsewhere':
                # A profile -C names outside the user's config folder (SEC-41, SEC-43).
                ppath = os.path.join(tmp, 'profile')
                argv += ['-C', ppath]
            else:
                # -C naming a file in the user's config folder: the user's own profile.
                ppath = os.path.join(home, '.config', 'postie', 'profile')
                argv += ['-C', ppath]
            os.makedirs(os.path.dirname(ppath), exist_ok=True)
            self.vars['PROFILE'] = ppath
            attrs, lines = self.lines('profile')
            with open(ppath, 'wb') as f:
                f.write(section_bytes(attrs, lines))
            os.chmod(ppath, int(attrs.get('mode', '0600'), 8))
            if 'uid' in attrs:
                # A profile owned by someone else (SEC-14): needs root to set up.
                if os.geteuid() != 0:
                    server.kill()
                    server.wait()
                    print('SKIP %s: needs root to give the profile another owner' % self.name)
                    return 77
                os.chown(ppath, int(attrs['uid']), -1)
        # <file-NAME path=PATH mode=0600>: one more file for the run (e.g. @HOME@/.netrc).
        for fname in sorted(k for k in self.sections if k.startswith('file-')):
            attrs, lines = self.lines(fname)
            fpath = self.subst(attrs['path'])
            os.makedirs(os.path.dirname(fpath), exist_ok=True)
            with open(fpath, 'wb') as f:
                f.write(section_bytes(attrs, lines))
            os.chmod(fpath, int(attrs.get('mode', '0600'), 8))
        if 'args' in self.sections:
            attrs, lines = self.lines('args')
            for a in shlex.split(expand_repeat(' '.join(lines))):
                argv.append(os.fsdecode(unescape(a)) if 'escapes' in attrs else a)
        sig = None
        if 'signal' in self.sections:
            _, lines = self.lines('signal')
            name, delay = ' '.join(lines).split()
            sig = (getattr(signal, 'SIG' + name.upper().replace('SIG', '')), float(delay))
        t0 = time.monotonic()
        timed_out = False
        try:
            status, stdout, stderr, timed_out = self.run_postie(argv, stdin, env, tmp, sig)
        except OSError as e:
            server.kill()
            server.wait()
            print('FAIL %s: cannot run %s: %s' % (self.name, self.binary, e))
            return 1
        elapsed = time.monotonic() - t0

        # Let the server see the end of the connection and finish its record. A server
        # that never got a connection would wait for its deadline: stop it after 1 s.
        end = time.monotonic() + 5
        while server.poll() is None and time.monotonic() < end:
            if time.monotonic() - t0 - elapsed > 1.0 and self.connections(out) == '0':
                break
            time.sleep(0.05)
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()

        self.argv, self.stdin, self.status = argv, stdin, status
        self.stdout, self.stderr, self.elapsed = stdout, stderr.decode('utf-8', 'replace'), elapsed
        self.out = out
        if timed_out:
            self.fail('postie did not finish within %.0f s (killed)' % CLIENT_TIMEOUT)
        self.check()
        return self.report()

    def extra_ports(self):
        """@CLOSEDPORT@: a port bound and not listening (a connection is refused);
        @SPYPORT@: a port that only counts connections (<expect-spy>)."""
        self.spied = 0
        self.closed_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.closed_sock.bind(('127.0.0.1', 0))
        self.vars['CLOSEDPORT'] = str(self.closed_sock.getsockname()[1])
        self.spy_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.spy_sock.bind(('127.0.0.1', 0))
        self.spy_sock.listen(4)
        self.vars['SPYPORT'] = str(self.spy_sock.getsockname()[1])

    def spy_count(self):
        """Connections that reached @SPYPORT@: the kernel completes them into the backlog,
        so they are counted here, after the run, without a thread."""
        self.spy_sock.setblocking(False)
        while True:
            try:
                c, _ = self.spy_sock.accept()
            except OSError:
                return self.spied
            self.spied += 1
            c.close()

    # ---- checks ----------------------------------------------------------------

    @staticmethod
    def run_postie(argv, stdin, env, cwd, sig):
        """Run postie; with sig = (signum, seconds), send it that signal after a delay. STDIN is
        the message's bytes (given through a pipe), or the path of a file to give instead."""
        stdin_file = open(stdin, 'rb') if isinstance(stdin, str) else None
        proc = subprocess.Popen(argv, stdin=stdin_file or subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd)
        if stdin_file:
            stdin_file.close()
            stdin = None
        timer = None
        if sig:
            timer = threading.Timer(sig[1], lambda: proc.poll() is None and proc.send_signal(sig[0]))
            timer.start()
        try:
            stdout, stderr = proc.communicate(stdin, timeout=CLIENT_TIMEOUT)
            return proc.returncode, stdout, stderr, False
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            return None, stdout, stderr, True
        finally:
            if timer:
                timer.cancel()

    @staticmethod
    def connections(out):
        try:
            with open(os.path.join(out, 'connections'), encoding='ascii') as f:
                return f.read().strip()
        except OSError:
            return '0'

    def fail(self, text):
        self.failures.append(text)

    def server_file(self, name, binary=False):
        path = os.path.join(self.out, name)
        if not os.path.exists(path):
            return None
        with open(path, 'rb') as f:
            data = f.read()
        return data if binary else data.decode('utf-8', 'replace')

    def check(self):
        s = self.sections
        # Exit status.
        _, lines = self.lines('expect-exit')
        want = ' '.join(lines).split()
        if self.status is not None and self.status < 0:
            if 'sig%d' % -self.status not in want:
                self.fail('postie was killed by signal %d, expected exit %s'
                          % (-self.status, ' or '.join(want)))
        elif self.status is not None and str(self.status) not in want:
            self.fail('exit status %s, expected %s' % (self.status, ' or '.join(want)))

        # Whether the client connected at all.
        conns = (self.server_file('connections') or '0').strip()
        if 'expect-connect' in s:
            _, lines = self.lines('expect-connect')
            want = ' '.join(lines).strip()
            if want == 'no' and conns != '0':
                self.fail('postie connected to the server, expected no connection')
            if want == 'yes' and conns == '0':
                self.fail('postie never connected to the server')

        commands = (self.server_file('commands.txt') or '').split('\n')[:-1]
        if 'expect-commands' in s:
            _, lines = self.lines('expect-commands')
            self.match_lines('commands the server received', lines, commands)

        if 'forbid-commands' in s:
            _, lines = self.lines('forbid-commands')
            for line in lines:
                if line.strip() and any(self.found(line, c) for c in commands):
                    self.fail('the server received a forbidden command matching %r' % line)

        if 'expect-time' in s:
            _, lines = self.lines('expect-time')
            limit = float(' '.join(lines).split()[0])
            if self.elapsed > limit:
                self.fail('postie took %.1f s, expected at most %.1f s' % (self.elapsed, limit))

        if 'expect-segments' in s:
            _, lines = self.lines('expect-segments')
            segs = (self.server_file('segments.txt') or '').split('\n')[:-1]
            self.match_subsequence(lines, segs)

        if 'expect-order' in s:
            _, lines = self.lines('expect-order')
            got = (self.server_file('order.txt') or '').split('\n')[:-1]
            self.match_lines('dialogue order (order.txt)', lines, got)

        if 'expect-auth' in s:
            _, lines = self.lines('expect-auth')
            got = (self.server_file('auth.txt') or '').split('\n')[:-1]
            self.match_lines('credentials the server decoded', lines, got)

        if 'expect-data' in s:
            attrs, lines = self.lines('expect-data')
            data = self.server_file('data1.bin', binary=True)
            if data is None:
                self.fail('the server received no message data (no DATA/354, no BDAT)')
            else:
                self.match_data(attrs, lines, data)
        if self.server_file('data2.bin', binary=True) is not None:
            self.fail('the server received a second message in one connection (SEC-30)')

        if 'expect-tls' in s:
            _, lines = self.lines('expect-tls')
            want = ' '.join(lines).strip()
            got = (self.server_file('tls.txt') or '').strip()
            if want == 'ok' and not got.startswith('handshake ok'):
                self.fail('TLS handshake did not complete (server: %r)' % got)
            if want == 'failed' and not got.startswith('handshake failed'):
                self.fail('TLS handshake was expected to fail (server: %r)' % got)
            # "ok client=CN": done, and the client certificate the server verified.
            if want.startswith('ok ') and not (got.startswith('handshake ok')
                                               and got.endswith(' ' + want[3:])):
                self.fail('TLS handshake: expected %r (server: %r)' % (want, got))

        if 'expect-stderr' in s:
            _, lines = self.lines('expect-stderr')
            for line in lines:
                if not line.strip():
                    continue
                if not self.found(line, self.stderr):
                    self.fail('stderr lacks %r' % line)
        if 'forbid-stderr' in s:
            _, lines = self.lines('forbid-stderr')
            for line in lines:
                if not line.strip():
                    continue
                if self.found(line, self.stderr):
                    self.fail('stderr contains forbidden %r' % line)
        if 'forbid-file' in s:
            _, lines = self.lines('forbid-file')
            for line in lines:
                if line.strip() and os.path.lexists(line.strip()):
                    self.fail('postie created %s' % line.strip())
        if 'expect-spy' in s:
            _, lines = self.lines('expect-spy')
            want = ' '.join(lines).strip()
            spied = self.spy_count()
            if want == 'no' and spied:
                self.fail('postie connected to @SPYPORT@ (%d times), expected not' % spied)
            if want == 'yes' and not spied:
                self.fail('postie never connected to @SPYPORT@')

        if 'expect-socks' in s:
            _, lines = self.lines('expect-socks')
            got = (self.server_file('socks.txt') or '').split('\n')[:-1]
            self.match_lines('SOCKS5 requests (socks.txt)', lines, got)

        if 'expect-peer' in s:
            _, lines = self.lines('expect-peer')
            got = (self.server_file('peer') or '').split('\n')[:-1]
            self.match_lines('the client address the server saw', lines, got)

        if 'expect-stdout-lines' in s:
            _, lines = self.lines('expect-stdout-lines')
            out = self.stdout.decode('utf-8', 'replace')
            for line in lines:
                if line.strip() and not self.found(line, out):
                    self.fail('stdout lacks %r' % line)

        if 'expect-stdout' in s:
            attrs, lines = self.lines('expect-stdout')
            want = section_bytes(attrs, lines)
            if self.stdout != want:
                self.fail('stdout is %r, expected %r' % (self.stdout, want))

    @staticmethod
    def found(pattern, text):
        if pattern.startswith(REGEX_PREFIX):
            return re.search(pattern[len(REGEX_PREFIX):], text, re.M) is not None
        return pattern in text

    @staticmethod
    def line_matches(want, got):
        """One expected line against one received line ('=~ ' regex, '=? '/'=?~ ' optional,
        '=*~ '/'=+~ ' repeated)."""
        for prefix in (OPTIONAL_REGEX_PREFIX, STAR_PREFIX, PLUS_PREFIX):
            if want.startswith(prefix):
                return re.fullmatch(want[len(prefix):], got) is not None
        if want.startswith(OPTIONAL_PREFIX):
            return want[len(OPTIONAL_PREFIX):] == got
        if want.startswith(REGEX_PREFIX):
            return re.fullmatch(want[len(REGEX_PREFIX):], got) is not None
        return want == got

    @staticmethod
    def optional(want):
        return want.startswith((OPTIONAL_PREFIX, OPTIONAL_REGEX_PREFIX, STAR_PREFIX))

    @staticmethod
    def repeated(want):
        return want.startswith((STAR_PREFIX, PLUS_PREFIX))

    def seq_matches(self, want, got):
        """Whole-sequence match where optional lines may match nothing and repeated ones
        ('=*~ ', '=+~ ') any number of lines."""
        memo = {}

        def m(i, j):
            if (i, j) in memo:
                return memo[(i, j)]
            if i == len(want):
                r = j == len(got)
            else:
                r = False
                if j < len(got) and self.line_matches(want[i], got[j]):
                    r = m(i + 1, j + 1)
                    if not r and self.repeated(want[i]):
                        # One more of the same: what is left of it may match nothing.
                        w = want[i]
                        if w.startswith(PLUS_PREFIX):
                            w = STAR_PREFIX + w[len(PLUS_PREFIX):]
                        r = m_rep(w, i + 1, j + 1)
                if not r and self.optional(want[i]):
                    r = m(i + 1, j)
            memo[(i, j)] = r
            return r

        def m_rep(w, i, j):
            # After one line matched a repeated pattern W: more lines of W, then want[i:].
            while True:
                if m(i, j):
                    return True
                if j < len(got) and self.line_matches(w, got[j]):
                    j += 1
                    continue
                return False
        return m(0, 0)

    def match_lines(self, what, want, got):
        if self.seq_matches(want, got):
            return
        # Show the pattern lines as the text they matched, so the diff is about real changes.
        shown = []
        j = 0
        for w in want:
            if j < len(got) and self.line_matches(w, got[j]):
                shown.append(got[j])
                j += 1
                while self.repeated(w) and j < len(got) and self.line_matches(w, got[j]):
                    shown.append(got[j])
                    j += 1
            elif self.optional(w):
                continue
            else:
                shown.append(w)
                j += 1
        diff = '\n'.join(difflib.unified_diff(shown, got, 'expected', 'received', lineterm=''))
        self.fail('%s differ:\n%s' % (what, diff))

    def match_subsequence(self, want, got):
        i = 0
        for w in want:
            while i < len(got) and got[i] != w:
                i += 1
            if i == len(got):
                self.fail('no read from the client held exactly the commands %r in order; '
                          'reads were:\n  %s' % (w, '\n  '.join(got)))
                return
            i += 1

    def match_data(self, attrs, lines, data):
        """Compare message data line by line (CRLF lines), '=~ ' lines as regexes."""
        regexy = (any(l.startswith((REGEX_PREFIX, OPTIONAL_PREFIX, OPTIONAL_REGEX_PREFIX,
                                    STAR_PREFIX, PLUS_PREFIX))
                      for l in lines) or 'anyorder-headers' in attrs)
        if not regexy:
            want = section_bytes(attrs, lines, default_crlf=True)
            if want != data:
                self.fail('message data differ:\n' + self.data_diff(want, data))
            return
        got = data.split(b'\r\n')
        if got and got[-1] == b'':
            got.pop()
        else:
            self.fail('message data do not end with CRLF: %r' % data[-20:])
        gotl = [g.decode('latin-1') for g in got]
        want = [unescape(l).decode('latin-1') if 'escapes' in attrs else expand_repeat(l)
                for l in lines]
        if 'anyorder-headers' in attrs:
            wh, wb = split_headers(want)
            gh, gb = split_headers(gotl)
            left = list(gh)
            unmatched = []
            for w in sorted(wh, key=lambda x: x.startswith(REGEX_PREFIX)):
                for j, g in enumerate(left):
                    if self.line_matches(w, g):
                        del left[j]
                        break
                else:
                    unmatched.append(w)
            if unmatched or left:
                self.fail('header section differs (any order):\n  expected, not found: %r\n'
                          '  received, not expected: %r' % (unmatched, left))
            self.match_lines('message body lines', wb, gb)
        else:
            self.match_lines('message data lines', want, gotl)

    @staticmethod
    def data_diff(want, got):
        w = [repr(l) for l in want.split(b'\n')]
        g = [repr(l) for l in got.split(b'\n')]
        diff = list(difflib.unified_diff(w, g, 'expected', 'received', lineterm=''))
        if len(diff) > 80:
            diff = diff[:80] + ['... (%d more diff lines)' % (len(diff) - 80)]
        return '\n'.join(diff)

    def report(self):
        verbose = os.environ.get('PROTO_VERBOSE')
        if not self.failures:
            print('ok %s (exit %s, %.1f s)' % (self.name, self.status, self.elapsed))
            if verbose:
                self.dump()
            return 0
        print('FAIL %s' % self.name)
        info = self.sections.get('info')
        if info:
            for l in info[1]:
                print('# ' + l)
        for f in self.failures:
            print('  - ' + f.replace('\n', '\n    '))
        self.dump()
        return 1

    def dump(self):
        print('  argv: %s' % ' '.join(shlex.quote(a) for a in self.argv))
        print('  exit: %s after %.1f s' % (self.status, self.elapsed))
        print('  stderr:')
        for l in self.stderr.split('\n')[-40:]:
            print('    | ' + l)
        print('  server record (commands.txt):')
        for l in (self.server_file('commands.txt') or '').split('\n')[:60]:
            if l:
                print('    | ' + l)
        print('  server events:')
        for l in (self.server_file('events.txt') or '').split('\n'):
            if l:
                print('    | ' + l)
        if 'expect-order' in self.sections:
            print('  server order.txt:')
            for l in (self.server_file('order.txt') or '').split('\n')[:80]:
                if l:
                    print('    | ' + l)
        data = self.server_file('data1.bin', binary=True)
        if data is not None:
            print('  data1.bin (%d bytes): %r' % (len(data), data[:600]))


def split_headers(lines):
    if '' in lines:
        i = lines.index('')
        return lines[:i], lines[i:]
    return lines, []


def main():
    if len(sys.argv) != 3:
        print('usage: run.py POSTIE_BINARY CASEFILE', file=sys.stderr)
        return 2
    try:
        return Runner(sys.argv[1], sys.argv[2]).run()
    except CaseError as e:
        print('FAIL (bad case) %s' % e)
        return 1


if __name__ == '__main__':
    sys.exit(main())
