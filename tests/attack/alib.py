# alib.py: what the attack tests share (Python 3 standard library only).
#
# The threat (issue 10): a caller who controls postie's argv (PHP mail()'s fifth parameter,
# CVE-2016-10033) and can write files as the same user, but cannot read the user's secrets;
# and hostile servers. Each test builds a victim (a private temp HOME with the user's own
# profile in $XDG_CONFIG_HOME/postie/config, secrets in every source postie reads, a queue)
# and a legitimate server the victim's profile trusts (tests/gencerts.sh's CA), then plays
# the attacker with servers of its own:
#
#   servers   tests/lib/fakesmtp.py's sink (Test.server: TCP on 127.0.0.1 or a unix socket;
#             plaintext, STARTTLS or implicit TLS) with any certificate; it asks for a client
#             certificate, offers every AUTH mechanism, accepts everything unless a script
#             says otherwise, and logs every byte it receives (after TLS), every base64 word
#             decoded (AUTH PLAIN, LOGIN, XOAUTH2, OAUTHBEARER payloads), and the client
#             certificate if one came (Sink.text()).
#   proxies   fakesmtp.py's SOCKS5 proxy (RFC 1928) that logs the request and every byte the
#             client sends and then forwards to the requested loopback destination, diverts
#             to a server of its own, or refuses.
#
# Every server listens on loopback only and stops by itself after its deadline. A check
# names the rule (SEC-n) and what leaked. A test script is run as
#     python3 SCRIPT POSTIE_BINARY CASE
# prints TAP-style lines and exits 0 (pass), 1 (fail) or 77 (skip: certtool missing).
# The temp dir, environment, certificates and TAP lines are tests/lib/postietest.py's;
# POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir.

import atexit
import hashlib
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import fakesmtp  # noqa: E402  (the path is set just above)
import postietest  # noqa: E402

SERVER_DEADLINE = 60.0   # every server stops by itself after this many seconds
POSTIE_TIMEOUT = 20.0    # postie is killed after this many seconds
# What every attack server offers (so that any secret postie holds has a way out).
AUTH_ALL = ('PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL')

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


class Result:
    def __init__(self, argv, rc, out, err, secs, timed_out):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.secs, self.timed_out = secs, timed_out

    def __repr__(self):
        return 'argv %s\nexit %s after %.2fs%s\nstdout: %s\nstderr: %s' % (
            ' '.join(self.argv[1:]), self.rc, self.secs,
            ' (killed: timed out)' if self.timed_out else '', self.out.strip()[:300],
            self.err.strip()[:1500])


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

    def __init__(self, name, cases=None):
        """The test NAME run as `SCRIPT POSTIE_BINARY CASE`; CASE must be one of CASES."""
        if len(sys.argv) < 2:
            sys.exit('usage: %s POSTIE_BINARY [CASE]' % sys.argv[0])
        self.postie = os.path.abspath(sys.argv[1])
        self.case = sys.argv[2] if len(sys.argv) > 2 else None
        if cases is not None and self.case not in cases:
            sys.exit('usage: %s POSTIE CASE (one of %s)'
                     % (os.path.basename(sys.argv[0]), ', '.join(cases)))
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

    def server(self, name, mode='starttls', cert=None, key=None, **kw):
        """A fakesmtp sink that logs everything, its data in TMP/servers/N-NAME. mode:
        'starttls', 'implicit' or 'plain'; cert/key: its certificate (PEM paths); it asks for
        a client certificate of the test CA and offers every AUTH mechanism. Other keywords
        are the sink's: listening=False (bound, connections refused until listen()),
        script={'VERB' or 'VERB#n': [lines]} (replies replaced; '!close' hangs up),
        chunking, unix=PATH (listen there instead of TCP)."""
        self.nserver = getattr(self, 'nserver', 0) + 1
        d = os.path.join(self.tmp, 'servers', '%02d-%s' % (self.nserver, name))
        s = fakesmtp.Sink(d, name=name, cert=cert if mode != 'plain' else None, key=key,
                          client_ca=self.ca, tls_mode=mode if mode != 'plain' else 'starttls',
                          auth=AUTH_ALL, size=10000000, hostname='evil.test',
                          deadline=SERVER_DEADLINE, **kw)
        self.servers.append(s)
        return s

    def victim_server(self, name='victim-server', **kw):
        """The victim's legitimate server: STARTTLS with the test CA's certificate."""
        return self.server(name, cert=os.path.join(self.certs, 'server.pem'),
                           key=os.path.join(self.certs, 'server-key.pem'), **kw)

    def evil_server(self, name, mode='starttls', unix=None, **kw):
        """An attacker's server with its own certificate (pinned by self.evil_pin).
        unix=True: on a unix socket of its own in the temp dir."""
        if unix is True:
            self.nsock = getattr(self, 'nsock', 0) + 1
            unix = os.path.join(self.tmp, '%s-%d.sock' % (name, self.nsock))
        s = self.server(name, mode=mode, cert=self.evil_cert, key=self.evil_key, unix=unix,
                        **kw)
        self.attackers.append(s)
        return s

    def evil_proxy(self, name, mode='forward', divert=None):
        """An attacker's SOCKS5 proxy: 'forward', 'divert' (to DIVERT) or 'refuse'."""
        p = fakesmtp.Socks5Proxy(name, mode=mode, divert=divert, deadline=SERVER_DEADLINE)
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

    def victim_profile(self, port, more=''):
        """The text of the victim's profile: account default on localhost:PORT, trusting the
        test CA, then MORE."""
        return ('account default\nhost localhost\nport %d\ntls_trust_file %s\n'
                'from victim@example.test\n%s' % (port, self.ca, more))

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
