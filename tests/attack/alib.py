# alib.py: what the attack tests share (Python 3 standard library only).
#
# The threat (issue 10): a caller who controls postie's argv (PHP mail()'s fifth parameter,
# CVE-2016-10033) and can write files as the same user, but cannot read the user's secrets;
# and hostile servers. Each test builds a victim (a private temp HOME with the user's own
# profile in $XDG_CONFIG_HOME/postie/config, secrets in every source postie reads, a queue)
# and a legitimate server the victim's profile trusts (tests/gencerts.sh's CA), then plays
# the attacker with servers of its own:
#
#   Server    an SMTP server (TCP on 127.0.0.1 or a unix socket; plaintext, STARTTLS or
#             implicit TLS) with any certificate; it asks for a client certificate, offers
#             every AUTH mechanism, accepts everything unless a script says otherwise, and
#             logs every byte it receives (after TLS), every base64 word decoded (AUTH PLAIN,
#             LOGIN, XOAUTH2, OAUTHBEARER payloads), and the client certificate if one came.
#   Socks5    a SOCKS5 proxy (RFC 1928) that logs the request and every byte the client sends
#             and then forwards to the requested loopback destination, diverts to a server of
#             its own, or refuses.
#
# Every server listens on loopback only and stops by itself after its deadline. A check
# names the rule (SEC-n) and what leaked. A test script is run as
#     python3 SCRIPT POSTIE_BINARY CASE
# prints TAP-style lines and exits 0 (pass), 1 (fail) or 77 (skip: certtool missing).
# The temp dir, environment, certificates and TAP lines are tests/lib/postietest.py's;
# POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir.

import atexit
import base64
import binascii
import hashlib
import os
import re
import select
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

SERVER_DEADLINE = 60.0   # every server stops by itself after this many seconds
POSTIE_TIMEOUT = 20.0    # postie is killed after this many seconds
IO_TIMEOUT = 0.25        # socket poll interval of the servers' threads

# The victim's account and one unique, recognisable string per secret source. Every attacker
# log is searched for all of them in every test.
VICTIM_USER = 'victim'
SECRETS = {
    'password': 'S3cr3t-password-PW41',
    'passwordeval': 'S3cr3t-passwordeval-EV41',
    'password_file': 'S3cr3t-passwordfile-PF41',
    'netrc': 'S3cr3t-netrc-NR41',
    'credentials': 'S3cr3t-credentials-CR41',
    'keyring': 'S3cr3t-keyring-KR41',
    'oauth': 'S3cr3t-oauthcmd-OC41',
    'oauth-cache': 'S3cr3t-oauthcache-OK41',
    # A client key is not sent: its use shows as the client certificate the server got.
    'client-key': 'CLIENT-CERT:postie test client',
}
# Strings of the victim's queued message and of a Bcc: they must never reach an attacker.
VICTIM_MARK = 'VICTIM-QUEUED-BODY-Q42'
BCC_MARK = 'hidden-bcc-B43'


def pin_of(cert_pem_path):
    """The SHA-256 fingerprint of a PEM certificate, as --tls-fingerprint takes it."""
    with open(cert_pem_path, encoding='ascii') as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ':'.join(h[i:i + 2] for i in range(0, len(h), 2))


def decode_words(line):
    """Every word of LINE that is base64 of printable-ish text, decoded (latin-1)."""
    out = []
    for w in re.split(r'[ \t]+', line.strip()):
        if len(w) < 4 or not re.fullmatch(r'[A-Za-z0-9+/]+=*', w):
            continue
        try:
            raw = base64.b64decode(w + '=' * (-len(w) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        out.append(raw.decode('latin-1'))
    return out


def drain(sock, limit=2.0):
    """Wait (briefly) until no connection waits in SOCK's backlog: one a client made just
    before it exited is then accepted and counted."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            ready, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return
        if not ready:
            return
        time.sleep(0.01)


class Result:
    def __init__(self, argv, rc, out, err, secs, timed_out):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.secs, self.timed_out = secs, timed_out

    def __repr__(self):
        return 'argv %s\nexit %s after %.2fs%s\nstdout: %s\nstderr: %s' % (
            ' '.join(self.argv[1:]), self.rc, self.secs,
            ' (killed: timed out)' if self.timed_out else '', self.out.strip()[:300],
            self.err.strip()[:1500])


# ---- the SMTP server --------------------------------------------------------------------


class Closed(Exception):
    pass


class Server:
    """An SMTP server that logs everything. mode: 'starttls', 'implicit' or 'plain'.
    cert/key: its certificate (PEM paths); client_ca: ask for a client certificate of that CA.
    unix: a socket path to listen on instead of TCP. listening=False: bind only (a stopped
    server: connections are refused) until listen(). script: {'VERB' or 'VERB#n': [lines]}
    replaces the reply to that command (n counts per connection; VERB may be GREETING, EHLO,
    STARTTLS, AUTH, MAIL, RCPT, DATA, DOT (the end of DATA), BDAT, LAST (BDAT LAST), QUIT);
    a line '!close' hangs up, an empty list sends nothing."""

    def __init__(self, name, mode='starttls', cert=None, key=None, client_ca=None, unix=None,
                 listening=True, script=None, chunking=False, pipelining=True,
                 deadline=SERVER_DEADLINE):
        self.name = name
        self.mode = mode
        self.script = dict(script or {})
        self.chunking = chunking
        self.pipelining = pipelining
        self.tls = None
        if mode != 'plain':
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert, key)
            if client_ca:
                self.tls.verify_mode = ssl.CERT_OPTIONAL
                self.tls.load_verify_locations(client_ca)
        self.lock = threading.Lock()
        self.raw = bytearray()        # every byte received from clients, after TLS
        self.decoded = []             # base64 words decoded, client certificates seen
        self.connections = 0
        self.messages = []            # the message data of every end of data
        self.commands = []            # every command line, in order, all connections
        self.stopping = threading.Event()
        self.threads = []
        self.unix = unix
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(('127.0.0.1', 0))
            self.port = self.sock.getsockname()[1]
        self.listening = False
        self.timer = threading.Timer(deadline, self.stop)
        self.timer.daemon = True
        self.timer.start()
        if listening:
            self.listen()

    def listen(self):
        if self.listening:
            return
        self.listening = True
        self.sock.listen(16)
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stopping.set()
        self.timer.cancel()
        try:
            self.sock.close()
        except OSError:
            pass
        if self.unix:
            try:
                os.unlink(self.unix)
            except OSError:
                pass
        # The threads are daemons that see the flag within IO_TIMEOUT; nothing waits here.

    def accept_loop(self):
        self.sock.settimeout(IO_TIMEOUT)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=Session(self, conn).serve, daemon=True)
            self.threads.append(t)
            t.start()

    def wait_idle(self, timeout=5.0):
        """Wait until every session so far has ended (its log is complete)."""
        if self.listening and not self.stopping.is_set():
            drain(self.sock)
        end = time.monotonic() + timeout
        for t in list(self.threads[1:]):
            t.join(max(0.0, end - time.monotonic()))

    def text(self):
        """Everything this server saw, as one string to search for secrets."""
        with self.lock:
            return self.raw.decode('latin-1') + '\n' + '\n'.join(self.decoded)

    def log(self, data):
        with self.lock:
            self.raw += data


class Session:
    def __init__(self, server, sock):
        self.srv = server
        self.sock = sock
        self.buf = bytearray()
        self.counts = {}

    def recv(self):
        while True:
            if self.srv.stopping.is_set():
                raise Closed()
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                raise Closed()
            if not b:
                raise Closed()
            self.srv.log(b)
            self.buf += b
            return

    def send(self, text):
        try:
            self.sock.sendall(text.encode('utf-8') + b'\r\n')
        except (OSError, ssl.SSLError):
            raise Closed()

    def line(self):
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out.rstrip(b'\r\n').decode('latin-1')
            if len(self.buf) > 100000:
                raise Closed()
            self.recv()

    def exact(self, n):
        while len(self.buf) < n:
            self.recv()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def reply(self, verb, default):
        """Send the scripted reply for VERB (counted), else DEFAULT. False: hung up."""
        self.counts[verb] = self.counts.get(verb, 0) + 1
        key = '%s#%d' % (verb, self.counts[verb])
        lines = self.srv.script.get(key, self.srv.script.get(verb, default))
        for x in lines:
            if x == '!close':
                return False
            if x.startswith('!raw '):
                try:
                    self.sock.sendall(x[5:].encode('latin-1'))
                except OSError:
                    raise Closed()
                continue
            self.send(x)
        return True

    def start_tls(self):
        self.sock.settimeout(10)
        try:
            self.sock = self.srv.tls.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError):
            raise Closed()
        self.sock.settimeout(IO_TIMEOUT)
        try:
            cert = self.sock.getpeercert()
        except (ValueError, ssl.SSLError):
            cert = None
        if cert:
            cn = [v for rdn in cert.get('subject', ()) for (k, v) in rdn if k == 'commonName']
            with self.srv.lock:
                self.srv.decoded.append('CLIENT-CERT:%s' % (cn[0] if cn else '?'))

    def serve(self):
        self.sock.settimeout(IO_TIMEOUT)
        try:
            try:
                if self.srv.mode == 'implicit':
                    self.start_tls()
                if not self.reply('GREETING', ['220 evil.test ESMTP attack-test server']):
                    return
                while self.command(self.line()):
                    pass
            finally:
                try:
                    self.sock.close()
                except OSError:
                    pass
        except Closed:
            pass

    def caps(self):
        tls_now = isinstance(self.sock, ssl.SSLSocket)
        caps = ['8BITMIME', 'ENHANCEDSTATUSCODES', 'SIZE 10000000']
        if self.srv.pipelining:
            caps.append('PIPELINING')
        if self.srv.chunking:
            caps.append('CHUNKING')
        if self.srv.mode == 'starttls' and not tls_now:
            caps.append('STARTTLS')
        else:
            caps.append('AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER EXTERNAL')
        return caps

    def command(self, line):
        with self.srv.lock:
            self.srv.commands.append(line)
            self.srv.decoded.extend(decode_words(line))
        verb, _, arg = line.partition(' ')
        verb = verb.upper()
        if verb in ('EHLO', 'HELO', 'LHLO'):
            lines = ['evil.test'] + (self.caps() if verb != 'HELO' else [])
            default = ['250%s%s' % ('-' if i < len(lines) - 1 else ' ', c)
                       for i, c in enumerate(lines)]
            return self.reply('EHLO', default)
        if verb == 'STARTTLS' and self.srv.mode == 'starttls':
            if not self.reply('STARTTLS', ['220 2.0.0 go ahead']):
                return False
            self.start_tls()
            return True
        if verb == 'AUTH':
            words = arg.split()
            mech = words[0].upper() if words else ''
            if mech == 'LOGIN':
                if len(words) < 2:
                    self.send('334 VXNlcm5hbWU6')
                    self.sink_line()
                self.send('334 UGFzc3dvcmQ6')
                self.sink_line()
            elif len(words) < 2:
                self.send('334 ')
                self.sink_line()
            return self.reply('AUTH', ['235 2.7.0 ok'])
        if verb == 'MAIL':
            return self.reply('MAIL', ['250 2.1.0 ok'])
        if verb == 'RCPT':
            return self.reply('RCPT', ['250 2.1.5 ok'])
        if verb == 'DATA':
            if not self.reply('DATA', ['354 go ahead']):
                return False
            while True:
                if self.buf.startswith(b'.\r\n'):
                    data = b''
                    del self.buf[:3]
                    break
                end = self.buf.find(b'\r\n.\r\n')
                if end >= 0:
                    data = bytes(self.buf[:end + 2])
                    del self.buf[:end + 5]
                    break
                self.recv()
            with self.srv.lock:
                self.srv.messages.append(bytes(data))
            return self.reply('DOT', ['250 2.0.0 accepted'])
        if verb == 'BDAT':
            m = re.fullmatch(r'(\d+)( +LAST)?', arg.strip(), re.I)
            if not m:
                self.send('501 5.5.4 syntax')
                return False
            chunk = self.exact(int(m.group(1)))
            with self.srv.lock:
                self.srv.messages.append(chunk)
            if m.group(2):
                return self.reply('LAST', ['250 2.0.0 accepted'])
            return self.reply('BDAT', ['250 2.0.0 chunk ok'])
        if verb in ('RSET', 'NOOP'):
            return self.reply(verb, ['250 2.0.0 ok'])
        if verb == 'QUIT':
            self.reply('QUIT', ['221 2.0.0 bye'])
            return False
        return self.reply(verb, ['500 5.5.2 unknown command'])

    def sink_line(self):
        """One line of a SASL exchange: logged (and decoded) like a command."""
        line = self.line()
        with self.srv.lock:
            self.srv.commands.append(line)
            self.srv.decoded.extend(decode_words(line))


# ---- the SOCKS5 proxy -------------------------------------------------------------------


class Socks5:
    """A logging SOCKS5 proxy (RFC 1928, no authentication). mode 'forward': to the requested
    destination (loopback names only), 'divert': to DIVERT (host, port) whatever was asked,
    'refuse': answer 'connection refused' (reply 5)."""

    LOOPBACK = ('localhost', '127.0.0.1', '::1')

    def __init__(self, name, mode='forward', divert=None, deadline=SERVER_DEADLINE):
        self.name = name
        self.mode = mode
        self.divert = divert
        self.lock = threading.Lock()
        self.raw = bytearray()
        self.requests = []
        self.connections = 0
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.threads = []
        self.timer = threading.Timer(deadline, self.stop)
        self.timer.daemon = True
        self.timer.start()
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stopping.set()
        self.timer.cancel()
        try:
            self.sock.close()
        except OSError:
            pass

    def text(self):
        with self.lock:
            return self.raw.decode('latin-1') + '\n' + '\n'.join(self.requests)

    def accept_loop(self):
        self.sock.settimeout(IO_TIMEOUT)
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self.serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def wait_idle(self, timeout=5.0):
        if not self.stopping.is_set():
            drain(self.sock)
        end = time.monotonic() + timeout
        for t in list(self.threads[1:]):
            t.join(max(0.0, end - time.monotonic()))

    def read(self, c, n):
        out = bytearray()
        while len(out) < n:
            b = c.recv(n - len(out))
            if not b:
                raise Closed()
            with self.lock:
                self.raw += b
            out += b
        return bytes(out)

    def serve(self, c):
        c.settimeout(5)
        up = None
        try:
            ver, nm = self.read(c, 2)
            self.read(c, nm)
            c.sendall(b'\x05\x00')
            ver, cmd, _, atyp = self.read(c, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self.read(c, 4))
            elif atyp == 3:
                host = self.read(c, self.read(c, 1)[0]).decode('latin-1')
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, self.read(c, 16))
            else:
                raise Closed()
            port = int.from_bytes(self.read(c, 2), 'big')
            with self.lock:
                self.requests.append('CONNECT %s:%d' % (host, port))
            if self.mode == 'divert':
                target = self.divert
            elif self.mode == 'forward' and host in self.LOOPBACK:
                target = ('127.0.0.1' if host != '::1' else '::1', port)
            else:
                target = None
            if target is not None:
                try:
                    up = socket.create_connection(target, timeout=5)
                except OSError:
                    up = None
            if up is None:
                c.sendall(b'\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00')
                return
            c.sendall(b'\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00')
            self.relay(c, up)
        except (Closed, OSError, ValueError):
            pass
        finally:
            for s in (c, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def relay(self, c, up):
        def pump(src, dst, log):
            src.settimeout(IO_TIMEOUT)
            try:
                while not self.stopping.is_set():
                    try:
                        b = src.recv(65536)
                    except socket.timeout:
                        continue
                    if not b:
                        break
                    if log:
                        with self.lock:
                            self.raw += b
                    dst.sendall(b)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=pump, args=(up, c, False), daemon=True)
        t.start()
        pump(c, up, True)
        t.join(SERVER_DEADLINE)


# ---- a FIFO that tells whether postie opened it -----------------------------------------


class Fifo:
    """A FIFO at PATH. role 'writer': a thread waits to write CONTENT to whoever opens it for
    reading; role 'reader': a thread waits to read from whoever opens it for writing. opened
    tells whether anyone (postie) did. close() releases the thread."""

    def __init__(self, path, role='writer', content=b''):
        self.path = path
        self.role = role
        self.content = content
        self.opened = False
        self.closing = False
        self.got = b''
        os.mkfifo(path, 0o600)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            if self.role == 'writer':
                fd = os.open(self.path, os.O_WRONLY)
                if not self.closing:
                    self.opened = True
                    try:
                        os.write(fd, self.content)
                    except OSError:
                        pass
                os.close(fd)
            else:
                fd = os.open(self.path, os.O_RDONLY)
                if not self.closing:
                    self.opened = True
                    try:
                        self.got = os.read(fd, 65536)
                    except OSError:
                        pass
                os.close(fd)
        except OSError:
            pass

    def close(self):
        self.closing = True
        try:
            if self.role == 'writer':
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                time.sleep(0.05)
                os.close(fd)
            else:
                try:
                    fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                    os.close(fd)
                except OSError:
                    pass
        except OSError:
            pass
        self.t.join(2.0)


# ---- the test ---------------------------------------------------------------------------


class Test(postietest.Tap):
    """One attack test: ok()/note() (TAP) come from postietest.Tap."""

    def __init__(self, name):
        if len(sys.argv) < 2:
            sys.exit('usage: %s POSTIE_BINARY [CASE]' % sys.argv[0])
        self.postie = os.path.abspath(sys.argv[1])
        self.case = sys.argv[2] if len(sys.argv) > 2 else None
        super().__init__(name + ('-' + self.case if self.case else ''))
        if not postietest.have_certtool():
            self.skip_all('certtool (GnuTLS) is not installed')
        self.tmpdir = postietest.TempDir('attack-%s' % self.name)
        self.tmp = self.tmpdir.path
        self.home = os.path.join(self.tmp, 'home')
        self.bin = os.path.join(self.tmp, 'bin')
        self.qdir = os.path.join(self.home, '.local', 'state', 'postie', 'queue')
        for d in (self.home, os.path.join(self.home, '.config', 'postie'), self.bin):
            os.makedirs(d, exist_ok=True)
        self.user_profile = os.path.join(self.home, '.config', 'postie', 'config')
        self.env = postietest.private_env(self.home)
        self.env['PATH'] = self.bin + ':' + os.environ.get('PATH', '/usr/bin:/bin')
        self.servers = []
        self.attackers = []   # servers and proxies whose logs must hold no secret
        self.fifos = []
        atexit.register(self.cleanup)
        self.certs = self.make_certs()
        self.ca = os.path.join(self.certs, 'ca.pem')
        self.evil_cert, self.evil_key = self.make_evil_cert()
        self.evil_pin = pin_of(self.evil_cert)
        print('# %s: temp dir %s' % (self.name, self.tmp))

    # ---- checks ------------------------------------------------------------------------

    def no_leak(self, rule, what, extra=()):
        """No secret (nor the victim's queued message, nor a Bcc) in any attacker's log.
        One check per attacker log; the failure names every string that leaked."""
        strings = dict(('secret ' + k, v) for k, v in SECRETS.items())
        strings['the victim\'s queued message'] = VICTIM_MARK
        strings['the Bcc'] = BCC_MARK
        for k, v in extra:
            strings[k] = v
        allok = True
        for a in self.attackers:
            a_text = a.text()
            leaked = [k for k, v in strings.items() if v in a_text]
            allok &= self.ok(not leaked, '%s: %s: nothing secret reached attacker %s'
                             % (rule, what, a.name),
                             '%s LEAKED to %s: %s' % (rule, a.name, ', '.join(leaked)))
        return allok

    def no_connection(self, rule, what, servers=None):
        servers = self.attackers if servers is None else servers
        conns = ['%s: %d' % (s.name, s.connections) for s in servers if s.connections]
        return self.ok(not conns, '%s: %s: no connection to %s' % (
            rule, what, ', '.join(s.name for s in servers) or 'any attacker'),
            'connections: ' + ', '.join(conns))

    def exit_is(self, rule, what, r, want):
        wants = want if isinstance(want, (tuple, list, set)) else (want,)
        return self.ok(r.rc in wants and not r.timed_out, '%s: %s: exit %s' % (
            rule, what, '/'.join(str(w) for w in wants)), r)

    def reap(self):
        for f in self.fifos:
            f.close()
        self.fifos = []
        for s in self.servers:
            s.stop()
        self.servers = []

    def cleanup(self):
        """At exit, also after an exception (counted as a failure): stop the servers, remove
        the temp dir (or keep it: POSTIE_TEST_KEEP)."""
        self.reap()
        self.tmpdir.end(True)

    def finish(self):
        self.reap()
        status = self.plan()
        self.tmpdir.end(self.failed)
        sys.exit(status)

    # ---- certificates ------------------------------------------------------------------

    def make_certs(self):
        d = os.path.join(self.tmp, 'certs')
        r = postietest.gencerts(d)
        if r.returncode != 0:
            print('Bail out! gencerts.sh failed: %s' % r.stderr.decode(errors='replace'))
            sys.exit(1)
        return d

    def make_evil_cert(self):
        """The attacker's own key and self-signed certificate for localhost."""
        d = os.path.join(self.tmp, 'evil-certs')
        os.makedirs(d)
        key, cert, tmpl = (os.path.join(d, x) for x in ('key.pem', 'cert.pem', 'cert.tmpl'))
        with open(tmpl, 'w', encoding='ascii') as f:
            f.write('cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                    'expiration_days = 3650\ntls_www_server\nsigning_key\nencryption_key\n')
        for args in (['--generate-privkey', '--key-type=ecdsa', '--outfile', key],
                     ['--generate-self-signed', '--load-privkey', key, '--template', tmpl,
                      '--outfile', cert]):
            r = subprocess.run(['certtool'] + args, capture_output=True, timeout=60)
            if r.returncode != 0:
                print('Bail out! certtool failed: %s' % r.stderr.decode(errors='replace'))
                sys.exit(1)
        return cert, key

    # ---- servers -----------------------------------------------------------------------

    def victim_server(self, name='victim-server', **kw):
        """The victim's legitimate server: STARTTLS with the test CA's certificate."""
        kw.setdefault('mode', 'starttls')
        s = Server(name, cert=os.path.join(self.certs, 'server.pem'),
                   key=os.path.join(self.certs, 'server-key.pem'), client_ca=self.ca, **kw)
        self.servers.append(s)
        return s

    def evil_server(self, name, mode='starttls', unix=None, **kw):
        """An attacker's server with its own certificate (pinned by self.evil_pin)."""
        if unix is True:
            self.nsock = getattr(self, 'nsock', 0) + 1
            unix = os.path.join(self.tmp, '%s-%d.sock' % (name, self.nsock))
        s = Server(name, mode=mode, cert=self.evil_cert, key=self.evil_key, client_ca=self.ca,
                   unix=unix, **kw)
        self.servers.append(s)
        self.attackers.append(s)
        return s

    def evil_proxy(self, name, mode='forward', divert=None):
        p = Socks5(name, mode=mode, divert=divert)
        self.servers.append(p)
        self.attackers.append(p)
        return p

    def settle(self):
        """Let every server finish logging the sessions that ended."""
        for s in self.servers:
            s.wait_idle()

    def fresh_attackers(self):
        for a in self.attackers:
            a.stop()
            if a in self.servers:
                self.servers.remove(a)
        self.attackers = []

    # ---- files -------------------------------------------------------------------------

    def write(self, path, text, mode=0o600):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def script(self, name, text):
        return self.write(os.path.join(self.bin, name), '#!/bin/sh\n' + text, 0o755)

    def message(self, mark='attacker message', extra_headers='', to='rcpt@example.test'):
        return ('From: Someone <someone@example.test>\nTo: %s\n%sSubject: %s\n'
                'Message-ID: <%s@example.test>\n\n%s\nline two\n'
                % (to, extra_headers, mark, re.sub(r'[^A-Za-z0-9.-]', '-', mark), mark)
                ).encode('utf-8')

    # ---- running postie ----------------------------------------------------------------

    def run(self, args, stdin=b'', env=None, timeout=POSTIE_TIMEOUT):
        argv = [self.postie] + list(args)
        t0 = time.monotonic()
        timed_out = False
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env or self.env, cwd=self.tmp)
        try:
            out, err = p.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.kill()
            out, err = p.communicate()
        except BrokenPipeError:
            out, err = p.communicate()
        r = Result(argv, p.returncode, out.decode('utf-8', 'replace'),
                   err.decode('utf-8', 'replace'), time.monotonic() - t0, timed_out)
        self.settle()
        return r

    # ---- the queue ---------------------------------------------------------------------

    def queue_ids(self, qdir=None):
        d = os.path.join(qdir or self.qdir, 'queue')
        try:
            return sorted(x for x in os.listdir(d) if not x.startswith('.'))
        except FileNotFoundError:
            return []

    def make_due(self, qdir=None):
        """Every waiting entry due now (next-attempt 0; the format is in src/queue.h)."""
        for qid in self.queue_ids(qdir):
            p = os.path.join(qdir or self.qdir, 'queue', qid, 'envelope')
            with open(p, encoding='utf-8') as f:
                lines = f.read().split('\n')
            lines = ['next-attempt 0' if x.startswith('next-attempt ') else x for x in lines]
            with open(p + '.tmp', 'w', encoding='utf-8') as f:
                f.write('\n'.join(lines))
            os.rename(p + '.tmp', p)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)
