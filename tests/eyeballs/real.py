#!/usr/bin/env python3
# real.py POSTIE: Happy Eyeballs (issue #14, RFC 8305) against the real Postfix + Dovecot SASL
# of tests/interop/server.sh, as root, in the private network and mount namespaces of
# tests/lib/blackhole.py: dual.test resolves to 2001:db8::1, whose packets vanish, and to
# 127.0.0.1, where Postfix listens (started inside the namespaces, so only there). Every send
# is STARTTLS + AUTH as alice, the certificate verified against the test CA for the name
# dual.test (a certificate made for that name by the test CA: no trust setting is relaxed).
#
#   any family   delivered byte-exact into Postfix's maildir, well inside the 30 s connect
#                timeout, IPv6 tried first (two TCP opens: the SYN into the hole, then
#                127.0.0.1), over TLS with AUTH (Postfix's log says so)
#   -4           delivered with one TCP open: IPv6 is not tried at all
#   -6           the hole only: EX_TEMPFAIL at the 2 s timeout, one TCP open, nothing
#                delivered
#   --check      resolves and connects with the family the send would use: the resolve line
#                names it (-4: one address, 127.0.0.1, one TCP open; -6: the hole, EX_TEMPFAIL)
#   Exim         the real Exim of tests/exim (its cached Debian binary and configuration, a
#                certificate for dual.test): STARTTLS + AUTH EXTERNAL, any family delivered
#                byte-exact with IPv6 tried first (2 TCP opens), -4 with one. Left out, with a
#                note, where tests/exim would skip (the binary cannot be had).
#
# TCP opens are counted as run.py counts them (/proc/net/snmp of the namespace); the one time
# bound is "under a third of the timeout". Skips (77) where its siblings skip: not root, no
# namespaces (run.py), or no postfix/dovecot/certtool (tests/interop). Standard library only;
# Postfix and Dovecot are stopped at the end (server.sh stop), and the namespaces end with
# the test.

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import blackhole  # noqa: E402
import postfixtest  # noqa: E402
from postietest import Tap, TempDir, private_env, wait_for  # noqa: E402

SERVER = postfixtest.SERVER
GENCERTS = os.path.join(HERE, '..', 'gencerts.sh')
HOSTS = {'dual.test': [blackhole.HOLE, '127.0.0.1']}
PASSWORD = 's3cret pass'
NO_EXIM = 'POSTIE_EYEBALLS_NO_EXIM'  # set (to the reason) when Exim cannot be had


def exim_module():
    """tests/exim/run.py as a module (its Exim class, its cached binary)."""
    spec = importlib.util.spec_from_file_location(
        'eximrun', os.path.join(HERE, '..', 'exim', 'run.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def exim_ready():
    """Outside the namespaces (apt may need the network): the Exim binary fetched and its
    user made, as tests/exim does; else NO_EXIM says why."""
    try:
        ex = exim_module()
        for tool in ('apt-get', 'dpkg', 'setpriv', 'ldd'):
            if shutil.which(tool) is None:
                raise ex.Skip('%s is not installed' % tool)
        ex.get_exim()
        ex.ensure_user()
    except Exception as err:  # Skip, Failed, or anything else: the Exim part is left out
        os.environ[NO_EXIM] = str(err) or type(err).__name__


def message(rcpt):
    """A complete message (nothing for postie to add), with a line starting with a dot."""
    return ('From: Alice <alice@example.org>\nTo: %s\nSubject: eyeballs to Postfix\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <%s@postie.test>\n\n'
            'Hello over the family that connected first.\n.a line with a dot\n'
            % (rcpt, rcpt.split('@')[0])).encode()


def dual_certs(certs):
    """The test certificates (gencerts.sh), with server.pem replaced by one for dual.test by
    the test CA over the same key: server.sh start finds the directory complete and keeps
    it (gencerts.sh stops at once when fingerprints.txt is there)."""
    subprocess.run(['sh', GENCERTS, certs], check=True, capture_output=True)
    tmpl = os.path.join(certs, 'dual.tmpl')
    with open(tmpl, 'w', encoding='ascii') as f:
        f.write('cn = "dual.test"\ndns_name = "dual.test"\nexpiration_days = 30\n'
                'tls_www_server\nsigning_key\nencryption_key\n')
    subprocess.run(['certtool', '--generate-certificate',
                    '--load-privkey', os.path.join(certs, 'server-key.pem'),
                    '--load-ca-certificate', os.path.join(certs, 'ca.pem'),
                    '--load-ca-privkey', os.path.join(certs, 'ca-key.pem'),
                    '--template', tmpl, '--outfile', os.path.join(certs, 'server.pem')],
                   check=True, capture_output=True)


def strip_trace(data):
    """The delivered bytes after Postfix's own leading Return-Path:, Delivered-To: and
    Received: fields (with their continuation lines), as run.sh's strip_trace."""
    lines = data.split(b'\n')
    i = 0
    while i < len(lines) and re.match(rb'(Return-Path|Delivered-To|Received):', lines[i]):
        i += 1
        while i < len(lines) and lines[i][:1] in (b' ', b'\t'):
            i += 1
    return b'\n'.join(lines[i:])


def maildir(root, rcpt):
    box = os.path.join(root, rcpt, 'new')
    return sorted(os.path.join(box, n) for n in os.listdir(box)) if os.path.isdir(box) else []


class Env:
    def __init__(self, postie, tmp, srv):
        self.postie = postie
        self.srv = srv
        self.home = os.path.join(tmp, 'home')
        self.env = private_env(self.home)
        self.profile = os.path.join(self.env['XDG_CONFIG_HOME'], 'postie', 'config')
        os.makedirs(os.path.dirname(self.profile), exist_ok=True)

    def write_profile(self, timeout):
        fd = os.open(self.profile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='ascii') as f:
            f.write('account default\nhost dual.test\nport %s\ntls on\ntls_starttls on\n'
                    'tls_trust_file %s\nauth on\nuser alice\npassword "%s"\n'
                    'from alice@example.org\nqueue off\ntimeout %d\n'
                    % (self.srv['SUBMISSION_PORT'], self.srv['CA_FILE'], PASSWORD, timeout))

    def run(self, args, timeout, stdin=b''):
        """postie ARGS; returns (status, stdout, stderr, seconds, TCP opens)."""
        self.write_profile(timeout)
        opens = blackhole.active_opens()
        t0 = time.monotonic()
        p = subprocess.run([self.postie] + list(args), input=stdin, capture_output=True,
                           env=self.env, timeout=120)
        took = time.monotonic() - t0
        return (p.returncode, p.stdout.decode(errors='replace'),
                p.stderr.decode(errors='replace'), took, blackhole.active_opens() - opens)


def delivered(t, srv, rcpt, want, what):
    """One message reached RCPT's maildir, and it is WANT's bytes."""
    wait_for(lambda: len(maildir(srv['MAIL_ROOT'], rcpt)) >= 1, timeout=20, step=0.05)
    files = maildir(srv['MAIL_ROOT'], rcpt)
    got = b''
    if len(files) == 1:
        with open(files[0], 'rb') as f:
            got = strip_trace(f.read())
    t.ok(len(files) == 1 and got == want, '%s: delivered byte-exact into the maildir' % what,
         'files %r\ngot  %r\nwant %r' % (files, got, want))


def sends(t, e, srv, maillog):
    rcpt = 'any@example.org'
    rc, _, err, took, opens = e.run(['-v', rcpt], 30, message(rcpt))
    t.note('any family, IPv6 black-holed, timeout 30 s: %.3f s, %d TCP opens' % (took, opens))
    t.ok(rc == 0, 'any family: exit 0', err)
    t.ok(took < 10, 'any family: done in %.2f s, under a third of the timeout' % took, err)
    t.ok(opens == 2, 'any family: IPv6 tried first, then IPv4 (2 TCP opens, got %d)' % opens, err)
    t.ok('connected to dual.test [127.0.0.1]:%s' % srv['SUBMISSION_PORT'] in err,
         'any family: -v names the IPv4 address', err)
    t.ok(re.search(r'^--> STARTTLS', err, re.M) and re.search(r'^--> AUTH ', err, re.M),
         'any family: STARTTLS, then AUTH (the -v transcript)', err)
    delivered(t, srv, rcpt, message(rcpt), 'any family')
    log = open(maillog, encoding='utf-8', errors='replace').read()
    t.ok(re.search(r'postfix/submission/smtpd.*TLS connection established from', log) and
         re.search(r'postfix/submission/smtpd.*sasl_username=alice$', log, re.M),
         "any family: Postfix's log has the TLS session and alice's login", log[-3000:])

    rcpt = 'v4@example.org'
    rc, _, err, took, opens = e.run(['-v', '-4', rcpt], 30, message(rcpt))
    t.note('-4: %.3f s, %d TCP opens' % (took, opens))
    t.ok(rc == 0 and opens == 1, '-4: exit 0, IPv6 never tried (1 TCP open, got %d)' % opens, err)
    delivered(t, srv, rcpt, message(rcpt), '-4')

    rcpt = 'v6@example.org'
    rc, _, err, took, opens = e.run(['-v', '-6', rcpt], 2, message(rcpt))
    t.note('-6: %.3f s, %d TCP opens' % (took, opens))
    t.ok(rc == 75 and 'connect to dual.test [%s]:%s: timed out' % (
        blackhole.HOLE, srv['SUBMISSION_PORT']) in err,
        '-6: the hole only: EX_TEMPFAIL, "timed out" at the address', err)
    t.ok(opens == 1 and took >= 1.5, '-6: one TCP open, no IPv4 (%d, %.2f s)' % (opens, took),
         err)
    time.sleep(0.5)
    t.ok(not maildir(srv['MAIL_ROOT'], rcpt), '-6: nothing delivered')


def checks(t, e, srv):
    """postie --check: the resolve and connect steps with the send's family."""
    rc, out, err, took, opens = e.run(['--check'], 30)
    t.note('--check, any family: %.3f s, %d TCP opens\n%s' % (took, opens, out))
    t.ok(rc == 0 and re.search(r'^ok       resolve dual\.test: 2 addresses, first '
                               r'2001:db8::1$', out, re.M),
         '--check: exit 0, the resolve line counts both families', out + err)
    t.ok(opens == 2 and took < 10 and re.search(
        r'^ok       connect dual\.test \[127\.0\.0\.1\]:\d+ \(STARTTLS\)', out, re.M),
        '--check: IPv6 first, connected over IPv4 (%d TCP opens, %.2f s)' % (opens, took), out)
    t.ok(re.search(r'^ok       TLS: .*certificate for dual\.test', out, re.M) and
         re.search(r'^ok       AUTH [A-Z0-9-]+ as alice: accepted$', out, re.M),
         '--check: TLS verified for dual.test, AUTH accepted', out)

    rc, out, err, took, opens = e.run(['--check', '-4'], 30)
    t.note('--check -4: %.3f s, %d TCP opens\n%s' % (took, opens, out))
    t.ok(rc == 0 and re.search(r'^ok       resolve dual\.test \(IPv4 only\): 1 address, first '
                               r'127\.0\.0\.1$', out, re.M),
         '--check -4: exit 0, the resolve line names IPv4 and its one address', out + err)
    t.ok(opens == 1, '--check -4: one TCP open (got %d)' % opens, out)

    rc, out, err, took, opens = e.run(['--check', '-6'], 2)
    t.note('--check -6: %.3f s, %d TCP opens\n%s' % (took, opens, out))
    t.ok(rc == 75 and re.search(r'^ok       resolve dual\.test \(IPv6 only\): 1 address, first '
                                r'2001:db8::1$', out, re.M) and
         re.search(r'^error    connect dual\.test port \d+: .*timed out', out, re.M),
         '--check -6: the resolve line names IPv6, the connect times out: EX_TEMPFAIL',
         out + err)
    t.ok(opens == 1, '--check -6: one TCP open, no IPv4 (got %d)' % opens, out)


def exim_sends(t, postie, tmp):
    """STARTTLS + AUTH EXTERNAL to the real Exim on dual.test: any family and -4."""
    if os.environ.get(NO_EXIM):
        t.note('Exim left out: %s' % os.environ[NO_EXIM])
        return
    ex = exim_module()
    work = os.path.join(tmp, 'exim-work')
    dual_certs(os.path.join(work, 'certs'))
    certs, extra = ex.make_certs(work)  # gencerts.sh keeps the directory: dual.test's server.pem
    exim = ex.Exim(ex.get_exim(), work, certs, 'try')
    try:
        e = Env(postie, tmp, {})
        for n, (args, want) in enumerate(((['-v'], 2), (['-v', '-4'], 1))):
            with open(e.profile, 'w', encoding='ascii') as f:
                f.write('account default\nhost dual.test\nport %d\ntls on\ntls_starttls on\n'
                        'tls_trust_file %s\nauth external\ntls_cert_file %s\n'
                        'tls_key_file %s\nfrom sender@example.test\nqueue off\ntimeout 30\n'
                        % (exim.port, os.path.join(certs, 'ca.pem'),
                           os.path.join(extra, 'client.pem'),
                           os.path.join(extra, 'client-key.pem')))
            os.chmod(e.profile, 0o600)
            rcpt = 'exim%d@example.org' % n
            opens = blackhole.active_opens()
            t0 = time.monotonic()
            p = subprocess.run([postie] + args + [rcpt], input=message(rcpt),
                               capture_output=True, env=e.env, timeout=120)
            took, opens = time.monotonic() - t0, blackhole.active_opens() - opens
            err = p.stderr.decode(errors='replace')
            what = 'Exim, %s' % (' '.join(args[1:]) or 'any family')
            t.note('%s: %.3f s, %d TCP opens' % (what, took, opens))
            t.ok(p.returncode == 0 and took < 10 and opens == want and
                 re.search(r'^--> AUTH EXTERNAL', err, re.M),
                 '%s: STARTTLS + AUTH EXTERNAL, exit 0 in %.2f s, %d TCP opens (want %d)'
                 % (what, took, opens, want), err)
            wait_for(lambda: len(exim.delivered()) > n, timeout=20, step=0.05)
            got = [ex.strip_received(open(f, 'rb').read()) for f in exim.delivered()]
            t.ok(message(rcpt) in got, '%s: delivered byte-exact into the maildir' % what,
                 '%r\n%s' % (got, exim.log()[-2000:]))
    finally:
        exim.stop()


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: real.py POSTIE')
    postie = os.path.abspath(sys.argv[1])
    if not blackhole.inside():
        reason = blackhole.why_not()
        if reason:
            Tap.skip_all(reason)
        os.environ['PATH'] = os.environ.get('PATH', '') + ':/usr/sbin:/sbin'
        for p in ('postfix', 'dovecot', 'certtool'):
            if not shutil.which(p):
                Tap.skip_all('%s not installed (tests/interop/install-deps.sh)' % p)
        exim_ready()
        blackhole.reexec()
    t = Tap('eyeballs-real')
    tmp = TempDir('eyeballs-real')
    os.chmod(tmp.path, 0o755)  # Postfix and its pipe work inside it as other users
    srvdir = os.path.join(tmp.path, 'srv')
    try:
        blackhole.setup(HOSTS)
        dual_certs(os.path.join(srvdir, 'certs'))
        r = subprocess.run([SERVER, 'start', srvdir], capture_output=True, text=True)
        if t.ok(r.returncode == 0, 'server.sh start inside the namespaces', r.stdout + r.stderr):
            srv = postfixtest.read_env(srvdir)
            e = Env(postie, tmp.path, srv)
            sends(t, e, srv, srv['MAILLOG'])
            checks(t, e, srv)
        exim_sends(t, postie, tmp.path)
    finally:
        subprocess.run([SERVER, 'stop', srvdir], capture_output=True)
        rc = t.plan()
        tmp.end(rc != 0)
    sys.exit(rc)


if __name__ == '__main__':
    main()
