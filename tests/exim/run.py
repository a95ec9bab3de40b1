#!/usr/bin/env python3
# run.py POSTIE SCENARIO...|all, run.py --list, run.py --check-list NAME...
#
# AUTH EXTERNAL (RFC 4422 Appendix A, RFC 4954) with a TLS client certificate, against a real
# Exim that asks for one.
# Also early pipelining (PIPECONNECT), and DKIM signing checked by dkimpy on the files exim
# delivered (the dkim scenario; exim's own DKIM check is off: dkim_disable_verify).
#
# Debian's exim4-daemon-heavy conflicts with the postfix package the other interop tests
# need, so it is not installed: `apt-get download` fetches the .deb once into a cache
# (/var/cache/postie-tests/exim, or $EXIM_CACHE), `dpkg -x` unpacks it there, and every
# scenario copies the binary (without its setuid bit) into a folder of its own, writes a
# minimal configuration and runs `exim -C CONFIG -bdf -oX PORTS` as the Debian-exim user
# (created as a system user when missing: the binary looks that name up before it reads any
# configuration, and with -C it does not keep root anyway). Exim listens on 127.0.0.1 only,
# STARTTLS on one port and implicit TLS on another, requests a client certificate and
# verifies it against the test CA; its `external` authenticator accepts the certificate whose
# subject is CN=postie test client. Mail goes into a private maildir, nowhere else. Exim is
# stopped by its PID.
# The libraries exim needs and this system lacks (ldd) are installed with apt-get: they are
# ordinary libraries that conflict with nothing.
#
# Exit: 0 passed, 1 failed, 77 skipped: not root, or the packages cannot be had.
# POSTIE_TEST_KEEP=1 (or =fail) keeps the work folder (tests/lib/postietest.py); EXIM_VERBOSE=1 prints postie's stderr and exim's log.
import fcntl
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)
import dkimtest  # noqa: E402

GENCERTS = postietest.GENCERTS
CACHE = os.environ.get('EXIM_CACHE', '/var/cache/postie-tests/exim')
EXIM_USER = 'Debian-exim'  # the name compiled into Debian's binary (EXIM_USER=ref:...)
SUBJECT = 'CN=postie test client'
TLS12 = 'NORMAL:-VERS-ALL:+VERS-TLS1.2'

MESSAGE = (b'From: Sender <sender@example.test>\n'
           b'To: rcpt@example.test\n'
           b'Date: Mon, 01 Jan 2024 00:00:00 +0000\n'
           b'Message-ID: <exim-external@example.test>\n'
           b'Subject: EXTERNAL\n'
           b'\n'
           b'Hello through a client certificate.\n'
           b'.a line that starts with a dot\n')

# Each scenario: how exim asks for a certificate ('try': requested, EXTERNAL offered only
# when one was verified; 'require': the handshake needs one), what postie's profile says,
# and what must come of it. cert: 'client' (by the test CA, the accepted subject),
# 'mallory' (by the test CA, another subject), 'foreign' (by a CA exim does not know), None.
SCENARIOS = {
    'starttls': dict(verify='try', cert='client', exit=0, delivered=True),
    'implicit': dict(verify='try', cert='client', implicit=True, exit=0, delivered=True),
    'tls12': dict(verify='try', cert='client', profile=['tls_priorities ' + TLS12], exit=0,
                  delivered=True, tls='TLS1.2'),
    'require-cert': dict(verify='require', cert='client', exit=0, delivered=True),
    # no certificate for EXTERNAL: refused with a message that names tls_cert_file
    'no-cert': dict(verify='try', cert=None, exit=None, delivered=False,
                    stderr=[r'^postie: .*(tls_cert_file|certificate)']),
    # exim requires a certificate and postie has none (nor does it authenticate): the
    # handshake fails, and postie says what to set
    'no-cert-required': dict(verify='require', cert=None, auth=False, exit=69,
                             delivered=False, stderr=[r'^postie: .*tls_cert_file']),
    'no-cert-required-tls12': dict(verify='require', cert=None, auth=False, exit=69,
                                   profile=['tls_priorities ' + TLS12], delivered=False,
                                   stderr=[r'^postie: .*tls_cert_file']),
    # a certificate exim cannot verify: no EXTERNAL on offer
    'foreign-cert': dict(verify='try', cert='foreign', exit=69, delivered=False,
                         stderr=[r'^postie: .*(AUTH|EXTERNAL)']),
    # a verified certificate of somebody exim does not accept: 535
    'wrong-subject': dict(verify='try', cert='mallory', exit=77, delivered=False,
                          stderr=[r'^postie: .*535']),
    # Early pipelining (PIPECONNECT, draft-harris-early-pipe): exim advertises it to
    # 127.0.0.1 (pipelining_connect_advertise_hosts); postie runs twice with one home: the
    # first session caches the EHLO reply, the second sends EHLO before the greeting, and
    # both messages land byte-exact. Plain (no TLS, no AUTH: exim takes mail from loopback
    # here), STARTTLS + AUTH EXTERNAL, implicit TLS + AUTH EXTERNAL.
    'pipeconnect-plain': dict(verify='try', cert=None, auth=False, plain=True,
                              pipeconnect=True, exit=0, delivered=True),
    'pipeconnect-starttls': dict(verify='try', cert='client', pipeconnect=True, exit=0,
                                 delivered=True),
    'pipeconnect-implicit': dict(verify='try', cert='client', implicit=True,
                                 pipeconnect=True, exit=0, delivered=True),
    # the second run meets an exim restarted on the same ports without PIPECONNECT: the
    # cache is stale; postie still delivers and removes the entry
    'pipeconnect-withdrawn': dict(verify='try', cert=None, auth=False, plain=True,
                                  pipeconnect=True, withdrawn=True, exit=0, delivered=True),
    # DKIM signing (issue 14): every edge case of tests/lib/dkimtest.py, signed with an
    # Ed25519 and an RSA-2048 key, sent with STARTTLS + AUTH EXTERNAL (BDAT: exim offers
    # CHUNKING); dkimpy, not exim, verifies each delivered file, and fails it with one body
    # byte changed.
    'dkim': dict(verify='try', cert='client', dkim=True, exit=0, delivered=True),
}
DKIM_SELECTORS = {'ed25519': 'ed', 'rsa': 'rsa'}


Failed = postietest.Failed


class Skip(Exception):
    pass


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, **kw)


# ---- getting exim ---------------------------------------------------------------------------

def installed(pkg):
    r = sh(['dpkg-query', '-W', '-f=${Status}', pkg])
    return r.returncode == 0 and b'install ok installed' in r.stdout


def missing_libs(binary):
    r = sh(['ldd', binary])
    return [l.split()[0] for l in r.stdout.decode(errors='replace').splitlines()
            if 'not found' in l]


def install_libs(deb, binary):
    """Install the library packages the .deb depends on that are missing (ldd says which)."""
    if not missing_libs(binary):
        return
    dep = sh(['dpkg-deb', '-f', deb, 'Depends']).stdout.decode()
    pkgs = []
    for alt in dep.split(','):
        name = alt.split('|')[0].strip().split(' ')[0].split(':')[0]
        if name.startswith('lib') and not installed(name):
            pkgs.append(name)
    print('# exim needs %s; installing %s' % (' '.join(missing_libs(binary)), ' '.join(pkgs)))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    r = sh(['apt-get', '-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q',
            '--no-install-recommends'] + pkgs, env=env)
    if r.returncode != 0:
        raise Skip('cannot install the libraries exim needs (%s): %s' % (
            ' '.join(pkgs), r.stderr.decode(errors='replace').strip()[-300:]))
    still = missing_libs(binary)
    if still:
        raise Failed('exim still lacks %s after installing %s' % (still, pkgs))


def get_exim():
    """The unpacked exim binary from the cache, downloaded and unpacked on first use."""
    os.makedirs(CACHE, mode=0o755, exist_ok=True)
    with open(os.path.join(CACHE, 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # scenarios run in parallel; one downloads
        debs = sorted(glob.glob(os.path.join(CACHE, 'exim4-daemon-heavy_*.deb')))
        if not debs:
            dl = tempfile.mkdtemp(prefix='dl.', dir=CACHE)
            try:
                os.chmod(dl, 0o755)
                try:  # apt fetches as _apt when it can write there
                    shutil.chown(dl, user='_apt')
                except (LookupError, OSError):
                    pass
                r = sh(['apt-get', 'download', 'exim4-daemon-heavy'], cwd=dl)
                got = glob.glob(os.path.join(dl, 'exim4-daemon-heavy_*.deb'))
                if r.returncode != 0 or not got:
                    raise Skip('apt-get download exim4-daemon-heavy failed: %s' % (
                        r.stderr.decode(errors='replace').strip()[-300:]))
                dest = os.path.join(CACHE, os.path.basename(got[0]))
                os.rename(got[0], dest)
                os.chown(dest, 0, 0)
                debs = [dest]
            finally:
                shutil.rmtree(dl, ignore_errors=True)
        deb = debs[-1]
        tree = deb[:-len('.deb')]
        if not os.path.isdir(tree):
            tmp = tree + '.tmp'
            shutil.rmtree(tmp, ignore_errors=True)
            r = sh(['dpkg', '-x', deb, tmp])
            if r.returncode != 0:
                raise Failed('dpkg -x %s: %s' % (deb, r.stderr.decode(errors='replace')))
            os.rename(tmp, tree)
        binary = os.path.join(tree, 'usr', 'sbin', 'exim4')
        if not os.path.exists(binary):
            raise Failed('%s has no usr/sbin/exim4' % deb)
        install_libs(deb, binary)
        return binary


def ensure_user():
    r = sh(['getent', 'passwd', EXIM_USER])
    if r.returncode == 0:
        return
    print('# creating the system user %s (what exim4-base would create)' % EXIM_USER)
    r = sh(['useradd', '--system', '--user-group', '--no-create-home', '--home-dir',
            '/nonexistent', '--shell', '/usr/sbin/nologin', EXIM_USER])
    if r.returncode != 0 and sh(['getent', 'passwd', EXIM_USER]).returncode != 0:
        raise Failed('useradd %s: %s' % (EXIM_USER, r.stderr.decode(errors='replace')))


# ---- certificates -----------------------------------------------------------------------------

def certtool(*args, cwd):
    r = sh(['certtool'] + list(args), cwd=cwd)
    if r.returncode != 0:
        raise Failed('certtool %s: %s' % (' '.join(args), r.stderr.decode(errors='replace')))


def client_cert(d, name, cn, ca, ca_key):
    """NAME.pem and NAME-key.pem in D: a TLS client certificate for CN, signed by CA."""
    certtool('--generate-privkey', '--key-type=ecdsa', '--outfile', name + '-key.pem', cwd=d)
    with open(os.path.join(d, name + '.tmpl'), 'w') as f:
        f.write('cn = "%s"\nexpiration_days = 3650\ntls_www_client\nsigning_key\n' % cn)
    certtool('--generate-certificate', '--load-privkey', name + '-key.pem',
             '--load-ca-certificate', ca, '--load-ca-privkey', ca_key,
             '--template', name + '.tmpl', '--outfile', name + '.pem', cwd=d)


def make_certs(work):
    certs = os.path.join(work, 'certs')
    r = sh(['sh', GENCERTS, certs])
    if r.returncode != 0:
        raise Failed('gencerts.sh failed: ' + r.stderr.decode(errors='replace'))
    ca, ca_key = os.path.join(certs, 'ca.pem'), os.path.join(certs, 'ca-key.pem')
    extra = os.path.join(work, 'extra')
    os.makedirs(extra)
    # gencerts.sh's client certificate when it has one (CN "postie test client")
    if os.path.exists(os.path.join(certs, 'client.pem')):
        shutil.copy(os.path.join(certs, 'client.pem'), extra)
        shutil.copy(os.path.join(certs, 'client-key.pem'), extra)
    else:
        client_cert(extra, 'client', 'postie test client', ca, ca_key)
    client_cert(extra, 'mallory', 'mallory', ca, ca_key)
    certtool('--generate-privkey', '--key-type=ecdsa', '--outfile', 'other-ca-key.pem', cwd=extra)
    with open(os.path.join(extra, 'other-ca.tmpl'), 'w') as f:
        f.write('cn = "another CA"\nca\ncert_signing_key\nexpiration_days = 3650\n')
    certtool('--generate-self-signed', '--load-privkey', 'other-ca-key.pem', '--template',
             'other-ca.tmpl', '--outfile', 'other-ca.pem', cwd=extra)
    client_cert(extra, 'foreign', 'postie test client', 'other-ca.pem', 'other-ca-key.pem')
    for f in os.listdir(extra):
        os.chmod(os.path.join(extra, f), 0o600)
    return certs, extra


# ---- exim -------------------------------------------------------------------------------------

def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


CONFIG = r'''# A minimal Exim for postie's EXTERNAL test: loopback only, one maildir, nothing else.
exim_path = @DIR@/exim
exim_user = @USER@
exim_group = @USER@
primary_hostname = localhost
spool_directory = @DIR@/spool
log_file_path = @DIR@/log/%slog
pid_file_path = @DIR@/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = @PORT@:@TLS_PORT@
tls_on_connect_ports = @TLS_PORT@
host_lookup =
rfc1413_hosts =
keep_environment =
tls_advertise_hosts = *
pipelining_connect_advertise_hosts = @PIPECONNECT@
tls_certificate = @DIR@/server.pem
tls_privatekey = @DIR@/server-key.pem
tls_verify_certificates = @DIR@/ca.pem
@VERIFY@ = *
auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}
acl_smtp_rcpt = acl_rcpt
log_selector = +tls_peerdn +tls_certificate_verified +received_recipients

begin acl
acl_rcpt:
  # exim checks no DKIM signature (it would ask the DNS; dkimpy is the tests' verifier)
  warn control = dkim_disable_verify
@OPEN@  accept authenticated = *
  deny message = authentication required

begin routers
all:
  driver = accept
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = @DIR@/maildir
  maildir_format = true
  create_directory = true
  user = @USER@
  group = @USER@

begin authenticators
# RFC 4422 App. A: the identity comes from the verified certificate, never from the client's
# word; $auth1 is the authzid the client sent (none), $auth2 the certificate's subject.
ext:
  driver = external
  public_name = EXTERNAL
  server_advertise_condition = ${if eq{$tls_in_certificate_verified}{1}}
  server_param2 = ${certextract{subject}{$tls_in_peercert}}
  server_condition = ${if and{{eq{$auth1}{}}{eq{$auth2}{@SUBJECT@}}}}
  server_set_id = $auth2
'''


class Exim:
    def __init__(self, binary, work, certs, verify, pipeconnect=False, open_relay=False,
                 ports=None, name='exim'):
        self.dir = os.path.join(work, name)
        d = self.dir
        for sub in ('', 'spool', 'log', 'maildir'):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.copy(binary, os.path.join(d, 'exim'))
        os.chmod(os.path.join(d, 'exim'), 0o755)  # no setuid: it runs as its user only
        for f in ('server.pem', 'server-key.pem', 'ca.pem'):
            shutil.copy(os.path.join(certs, f), d)
        self.port, self.tls_port = ports or free_ports(2)
        with open(os.path.join(d, 'exim.conf'), 'w') as f:
            conf = CONFIG
            for k, v in (('@DIR@', d), ('@USER@', EXIM_USER), ('@PORT@', str(self.port)),
                         ('@TLS_PORT@', str(self.tls_port)), ('@SUBJECT@', SUBJECT),
                         ('@PIPECONNECT@', '127.0.0.1' if pipeconnect else ''),
                         ('@OPEN@', '  accept hosts = 127.0.0.1\n' if open_relay else ''),
                         ('@VERIFY@', 'tls_verify_hosts' if verify == 'require'
                          else 'tls_try_verify_hosts')):
                conf = conf.replace(k, v)
            f.write(conf)
        os.chmod(os.path.join(d, 'exim.conf'), 0o644)
        for root, dirs, files in os.walk(d):
            for n in dirs + files:
                shutil.chown(os.path.join(root, n), EXIM_USER, EXIM_USER)
        os.chmod(os.path.join(d, 'server-key.pem'), 0o600)
        os.chown(os.path.join(d, 'exim.conf'), 0, 0)  # exim wants its config owned by root
        self.out = open(os.path.join(work, name + '.stderr'), 'wb')
        self.proc = subprocess.Popen(
            ['setpriv', '--reuid=' + EXIM_USER, '--regid=' + EXIM_USER, '--clear-groups',
             os.path.join(d, 'exim'), '-C', os.path.join(d, 'exim.conf'), '-bdf',
             '-oX', '%d:%d' % (self.port, self.tls_port)],
            stdout=self.out, stderr=subprocess.STDOUT, cwd=d)
        # Ready when it accepts a connection (not a timing assertion: a deadline for start-up).
        end = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise Failed('exim exited with %d: %s' % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise Failed('exim did not listen within 30 s: %s' % self.log())
                time.sleep(0.1)

    def log(self):
        text = ''
        for name in ('mainlog', 'rejectlog', 'paniclog'):
            p = os.path.join(self.dir, 'log', name)
            if os.path.exists(p):
                text += '## %s\n%s' % (name, open(p, errors='replace').read())
        p = self.out.name
        return text + '## exim stderr\n' + open(p, errors='replace').read()

    def mainlog(self):
        p = os.path.join(self.dir, 'log', 'mainlog')
        return open(p, errors='replace').read() if os.path.exists(p) else ''

    def delivered(self):
        return sorted(glob.glob(os.path.join(self.dir, 'maildir', 'new', '*')))

    def wait_delivery(self):
        """Exim delivers after it has answered; wait for its "Completed" (deadline 30 s)."""
        end = time.monotonic() + 30
        while 'Completed' not in self.mainlog() and time.monotonic() < end:
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def strip_received(data):
    """Exim's own header on top: "Received:" and its continuation lines."""
    lines = data.split(b'\n')
    if not lines[0].startswith(b'Received:'):
        return data
    i = 1
    while i < len(lines) and lines[i][:1] in (b' ', b'\t'):
        i += 1
    return b'\n'.join(lines[i:])


def profile_lines(sc, exim, certs, extra):
    implicit = sc.get('implicit', False)
    lines = ['account default', 'host 127.0.0.1',
             'port %d' % (exim.tls_port if implicit else exim.port)]
    if sc.get('plain'):
        lines.append('tls off')
    else:
        lines += ['tls on', 'tls_starttls ' + ('off' if implicit else 'on'),
                  'tls_trust_file ' + os.path.join(certs, 'ca.pem')]
    lines += ['from sender@example.test', 'queue off', 'timeout 30']
    if sc.get('auth', True):
        lines.append('auth external')
    if sc['cert']:
        lines += ['tls_cert_file ' + os.path.join(extra, sc['cert'] + '.pem'),
                  'tls_key_file ' + os.path.join(extra, sc['cert'] + '-key.pem')]
    return lines + sc.get('profile', [])


def run_pipeconnect(postie, binary, sc, work):
    """Two runs of postie with one home against an exim that offers PIPECONNECT."""
    certs, extra = make_certs(work)
    exim = Exim(binary, work, certs, sc['verify'], pipeconnect=True,
                open_relay=not sc.get('auth', True))
    runs = []
    try:
        profile = os.path.join(work, 'home', '.config', 'postie', 'profile')
        os.makedirs(os.path.dirname(profile), exist_ok=True)
        with open(profile, 'w') as f:
            f.write('\n'.join(profile_lines(sc, exim, certs, extra)) + '\n')
        os.chmod(profile, 0o600)
        env = postietest.private_env(os.path.join(work, 'home'))
        for i in range(2):
            if i == 1 and sc.get('withdrawn'):
                # the same ports, no PIPECONNECT: what an admin's change looks like
                files0, log0 = exim.delivered(), exim.log()
                exim.wait_delivery()
                exim.stop()
                exim = Exim(binary, work, certs, sc['verify'], open_relay=True,
                            ports=(exim.port, exim.tls_port), name='exim2')
            try:
                runs.append(subprocess.run([postie, '-v', '-C', profile, 'rcpt@example.test'],
                                           input=MESSAGE, capture_output=True, env=env,
                                           timeout=90))
            except subprocess.TimeoutExpired:
                raise Failed('postie did not finish within 90 s')
        want = 1 if sc.get('withdrawn') else 2
        end = time.monotonic() + 30
        while exim.mainlog().count('Completed') < want and time.monotonic() < end:
            time.sleep(0.1)
        files = exim.delivered()
        log = exim.log()
        if sc.get('withdrawn'):
            files, log = files0 + files, log0 + log
    finally:
        exim.stop()
    err = [r.stderr.decode('utf-8', 'replace') for r in runs]
    if sc.get('withdrawn'):
        return check_withdrawn(runs, err, files, log, work)
    if os.environ.get('EXIM_VERBOSE'):
        print('# first run:\n%s# second run:\n%s%s' % (err[0], err[1], log))
    fails = []
    for i, r in enumerate(runs):
        if r.returncode != 0:
            fails.append('run %d: exit status %d' % (i + 1, r.returncode))
    # exim's EHLO reply names the keyword (PIPECONNECT; X_PIPE_CONNECT before 4.94)
    if not re.search(r'^<-- 250[- ](X_PIPE_CONNECT|PIPECONNECT)', err[0], re.M):
        fails.append('exim did not offer PIPECONNECT')
    if 'offers PIPECONNECT; its EHLO reply is cached' not in err[0]:
        fails.append('the first run did not cache the EHLO reply')
    if 'EHLO goes before the greeting' in err[0]:
        fails.append('the first run sent EHLO early (no cache yet)')
    if 'EHLO goes before the greeting' not in err[1]:
        fails.append('the second run did not send EHLO early')
    if 'the EHLO reply matches the cached one' not in err[1]:
        fails.append('the second run did not find the cached reply matching')
    if 'connecting again' in err[1] or 'differs from the cached' in err[1]:
        fails.append('the second run fell back')
    # the early EHLO is the first line postie sent, before the greeting came in
    lines = [l for l in err[1].splitlines() if l.startswith(('-->', '<--'))]
    if not lines or not lines[0].startswith('--> EHLO'):
        fails.append('the second run did not start with EHLO: %r' % lines[:2])
    # with STARTTLS, STARTTLS goes right behind it ("EHLO,STARTTLS"), and exim takes it
    starttls = not sc.get('plain') and not sc.get('implicit')
    if starttls and [l.split()[:2] for l in lines[:3]] != [['-->', 'EHLO'], ['-->', 'STARTTLS'],
                                                           ['<--', '220']]:
        fails.append('the second run did not send EHLO and STARTTLS before the greeting: %r'
                     % lines[:3])
    if not starttls and 'STARTTLS goes behind it' in err[1]:
        fails.append('STARTTLS went early without STARTTLS')
    if sc.get('auth', True):
        for i in range(2):
            if not re.search(r'^postie: authenticated with EXTERNAL$', err[i], re.M):
                fails.append('run %d did not authenticate with EXTERNAL' % (i + 1))
    if len(files) != 2:
        fails.append('%d messages in the maildir, expected 2' % len(files))
    for f in files:
        got = strip_received(open(f, 'rb').read())
        if got != MESSAGE:
            fails.append('the message landed changed: %r' % got)
    if fails:
        raise Failed('; '.join(fails) + '\n# first run:\n' + err[0] + '# second run:\n'
                     + err[1] + log)


def check_withdrawn(runs, err, files, log, work):
    """The second run met a stale cache: delivered all the same, the entry removed."""
    fails = []
    for i, r in enumerate(runs):
        if r.returncode != 0:
            fails.append('run %d: exit status %d' % (i + 1, r.returncode))
    if 'EHLO goes before the greeting' not in err[1]:
        fails.append('the second run did not try EHLO early')
    if not re.search(r'no longer offers PIPECONNECT|connecting again without it', err[1]):
        fails.append('the second run did not see the stale cache')
    if glob.glob(os.path.join(work, 'home', '.cache', 'postie', 'ehlo', '*')):
        fails.append('the stale cache entry is still there')
    if len(files) != 2:
        fails.append('%d messages in the maildirs, expected 2' % len(files))
    for f in files:
        if strip_received(open(f, 'rb').read()) != MESSAGE:
            fails.append('a message landed changed')
    if fails:
        raise Failed('; '.join(fails) + '\n# first run:\n' + err[0] + '# second run:\n'
                     + err[1] + log)


def send_signed(postie, exim, profile, env):
    """Each dkimtest edge case signed with each key, one at a time, each waited for in the
    maildir: [(label, kind, From domain, postie's result, the delivered file's bytes)]."""
    out = []
    for kind in DKIM_SELECTORS:
        for name, text, args, extra in dkimtest.EDGES:
            with open(profile + '.' + kind) as f, open(profile, 'w') as g:
                g.write(f.read() + extra)
            before = set(exim.delivered())
            t0 = time.monotonic()
            try:
                r = subprocess.run([postie, '-v', '-C', profile] + args + ['rcpt@example.test'],
                                   input=text.encode('utf-8'), capture_output=True, env=env,
                                   timeout=90)
            except subprocess.TimeoutExpired:
                raise Failed('%s %s: postie did not finish within 90 s' % (kind, name))
            postietest.wait_for(lambda: r.returncode != 0 or set(exim.delivered()) - before,
                                timeout=30, step=0.02)
            if os.environ.get('EXIM_VERBOSE'):
                print('# %s %s: exit %d after %.2f s' % (kind, name, r.returncode,
                                                         time.monotonic() - t0))
            new = sorted(set(exim.delivered()) - before)
            data = open(new[0], 'rb').read() if len(new) == 1 else None
            out.append(('%s %s' % (kind, name), kind,
                        'example.test' if 'From:' in text else 'sender.example', r, data))
    return out


def run_dkim(postie, binary, sc, work):
    """Signed messages through exim, each delivered file verified by dkimpy."""
    certs, extra = make_certs(work)
    keys = os.path.join(work, 'keys')
    os.makedirs(keys, mode=0o700)
    exim = Exim(binary, work, certs, sc['verify'])
    try:
        profile = os.path.join(work, 'home', '.config', 'postie', 'profile')
        os.makedirs(os.path.dirname(profile), exist_ok=True)
        records = {}
        for kind, sel in DKIM_SELECTORS.items():
            path, records[kind] = dkimtest.make_key(keys, kind)
            lines = profile_lines(sc, exim, certs, extra)
            lines = [l for l in lines if not l.startswith('from ')]
            lines += ['from sender@sender.example', 'dkim_key ' + path, 'dkim_selector ' + sel]
            for p in (profile, profile + '.' + kind):
                with open(p, 'w') as f:
                    f.write('\n'.join(lines) + '\n')
                os.chmod(p, 0o600)
        got = send_signed(postie, exim, profile, postietest.private_env(
            os.path.join(work, 'home')))
        log = exim.log()
    finally:
        exim.stop()
    fails = []
    for label, kind, domain, r, data in got:
        err = r.stderr.decode('utf-8', 'replace')
        if r.returncode != 0 or data is None:
            fails.append('%s: exit %d, %s delivered\n%s' % (label, r.returncode,
                         'one file' if data else 'no single file', err[-2000:]))
            continue
        lines = data.split(b'\n')
        sig = next((i for i, x in enumerate(lines) if x.startswith(b'DKIM-Signature: ')), -1)
        if not (lines[0].startswith(b'Received: from ') and sig > 0 and
                re.search(rb'\(Exim 4\.\d+\)', b'\n'.join(lines[:sig]))):
            fails.append('%s: exim\'s Received: is not above the signature: %r'
                         % (label, data[:600]))
        if not re.search(r'^--> BDAT \d+ LAST', err, re.M):
            fails.append('%s: the message did not go by BDAT' % label)
        if not dkimtest.verify(data, records[kind], DKIM_SELECTORS[kind], domain):
            fails.append('%s: dkimpy does not verify the delivered file: %r'
                         % (label, data[:1500]))
        if dkimtest.verify(dkimtest.tamper_body(data), records[kind], DKIM_SELECTORS[kind],
                           domain, say=lambda x: None):
            fails.append('%s: the delivered file with a body byte changed still verifies'
                         % label)
    if os.environ.get('EXIM_VERBOSE'):
        print('# %d signed messages delivered and checked\n%s' % (len(got), log))
    if fails:
        raise Failed('; '.join(fails) + '\n' + log[-3000:])


def run_scenario(postie, binary, name, sc, work):
    if sc.get('pipeconnect'):
        return run_pipeconnect(postie, binary, sc, work)
    if sc.get('dkim'):
        return run_dkim(postie, binary, sc, work)
    certs, extra = make_certs(work)
    exim = Exim(binary, work, certs, sc['verify'])
    try:
        lines = profile_lines(sc, exim, certs, extra)
        # In the user's config folder: a profile -C names elsewhere may not name key files
        # (SEC-43).
        profile = os.path.join(work, 'home', '.config', 'postie', 'profile')
        os.makedirs(os.path.dirname(profile), exist_ok=True)
        with open(profile, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(profile, 0o600)
        env = postietest.private_env(os.path.join(work, 'home'))
        try:
            proc = subprocess.run([postie, '-v', '-C', profile, 'rcpt@example.test'],
                                  input=MESSAGE, capture_output=True, env=env, timeout=90)
        except subprocess.TimeoutExpired:
            raise Failed('postie did not finish within 90 s')
        if sc['delivered']:
            exim.wait_delivery()
        mainlog = exim.mainlog()
        files = exim.delivered()
        log = exim.log()
    finally:
        exim.stop()

    stderr = proc.stderr.decode('utf-8', 'replace')
    if os.environ.get('EXIM_VERBOSE'):
        print('# postie exit %d, stderr:\n%s%s' % (proc.returncode, stderr, log))
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    if sc['exit'] is None:
        check(proc.returncode not in (0, 75), 'exit status %d, expected a permanent failure'
              % proc.returncode)
    else:
        check(proc.returncode == sc['exit'],
              'exit status %d, expected %d' % (proc.returncode, sc['exit']))
    for pat in sc.get('stderr', []):
        check(re.search(pat, stderr, re.M), 'stderr does not match %r' % pat)
    if sc['delivered']:
        check(re.search(r'^--> AUTH EXTERNAL( |$)', stderr, re.M),
              'no "AUTH EXTERNAL" in the -v transcript')
        check(re.search(r'^postie: authenticated with EXTERNAL$', stderr, re.M),
              'postie does not say it authenticated with EXTERNAL')
        # exim's record: the certificate was verified and EXTERNAL named its subject
        check(re.search(r' <= sender@example\.test .* CV=yes .*A=ext:%s ' % re.escape(SUBJECT),
                        mainlog), 'exim did not log an EXTERNAL login as %s' % SUBJECT)
        if 'tls' in sc:
            check(re.search(r' <= .* X=%s:' % re.escape(sc['tls']), mainlog),
                  'exim did not log %s' % sc['tls'])
        check(len(files) == 1, '%d messages in the maildir, expected 1' % len(files))
        if len(files) == 1:
            got = strip_received(open(files[0], 'rb').read())
            check(got == MESSAGE, 'the message landed changed: %r' % got)
    else:
        check(not files, 'a message was delivered')
        check(' <= ' not in mainlog, 'exim accepted a message')
        check(not re.search(r'^--> (MAIL|BDAT|DATA)', stderr, re.M), 'postie sent a message')
    if fails:
        raise Failed('; '.join(fails) + '\n# postie stderr:\n' + stderr + log)


def main():
    if sys.argv[1:] == ['--list']:
        print('\n'.join(SCENARIOS))
        return 0
    if sys.argv[1:2] == ['--check-list']:
        # meson.build registers one test per scenario: the two lists must agree
        listed = sys.argv[2:]
        if sorted(listed) != sorted(SCENARIOS):
            print('FAIL: tests/exim/meson.build lists %s, run.py has %s' % (
                sorted(listed), sorted(SCENARIOS)))
            return 1
        print('ok %d scenarios listed' % len(listed))
        return 0
    if len(sys.argv) < 3:
        print('usage: run.py POSTIE SCENARIO...|all\nscenarios: ' + ' '.join(SCENARIOS),
              file=sys.stderr)
        return 64
    postie = os.path.abspath(sys.argv[1])
    names = list(SCENARIOS) if sys.argv[2:] == ['all'] else sys.argv[2:]
    for n in names:
        if n not in SCENARIOS:
            print('run.py: unknown scenario %s' % n, file=sys.stderr)
            return 64
    try:
        if os.geteuid() != 0:
            raise Skip('needs root (to fetch exim with apt and run it as %s)' % EXIM_USER)
        for tool in ('apt-get', 'dpkg', 'certtool', 'setpriv', 'ldd'):
            if shutil.which(tool) is None:
                raise Skip('%s is not installed' % tool)
        if 'dkim' in names:
            dkimtest.system_python()  # dkimpy is a Debian package: a pyenv Python lacks it
            if dkimtest.dkim is None:
                if names == ['dkim']:
                    raise Skip('python3-dkim is not installed (tests/install-deps.sh)')
                print('# dkim left out: python3-dkim is not installed')
                names.remove('dkim')
        binary = get_exim()
        ensure_user()
    except Skip as e:
        print('SKIP: %s' % e)
        return 77
    except Failed as e:
        print('FAIL: %s' % e)
        return 1
    # exim runs as another user in work/exim
    return postietest.run_named(
        'exim', names, lambda n, work: run_scenario(postie, binary, n, SCENARIOS[n], work),
        mode=0o755)


if __name__ == '__main__':
    sys.exit(main())
