#!/usr/bin/env python3
# tests/trust/run.py POSTIE TRUST-COMPARE MKCHAINS: the trust store read for one chain
# (src/tls_anchor.c) is exactly as strict as the whole store. Prints TAP.
#   1. GnuTLS's verdict on each chain with the whole bundle and with the CAs tls_anchor_add
#      picks (trust-compare): equal status bits, the verdict the case expects, and the path
#      taken (some CAs picked, or the whole bundle when none can be).
#   2. postie end to end against tests/lib/fakesmtp.py sending each chain: the exit status and
#      the message with a bundle the scan reads and with the same CAs in blocks it leaves to
#      GnuTLS (labelled "X509 CERTIFICATE": the whole store, as before) are the same.
# Certificates come from mkchains.sh (certtool); without certtool the test is skipped.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import postietest  # noqa: E402  (the path is set just above)

FAKESMTP = os.path.join(postietest.LIB, 'fakesmtp.py')

# chain, bundle, host, verdict (True: trusted), path ('some': CAs picked; 'all': whole file)
CASES = [
    ('normal', 'A', 'localhost', True, 'some', 'leaf + intermediate, root in the bundle'),
    ('withroot', 'A', 'localhost', True, 'some', 'the server sends its root too'),
    ('crossB', 'B', 'localhost', True, 'some', 'cross-signed intermediate, its B root trusted'),
    ('crossB', 'A', 'localhost', False, 'all', 'cross-signed intermediate by B, only A trusted'),
    ('crosschain', 'A', 'localhost', True, 'some', 'B by A cross-certificate sent, A trusted'),
    ('crosschain', 'B', 'localhost', None, 'some', 'B by A cross-certificate sent, B trusted'),
    ('expint', 'A', 'localhost', False, 'some', 'expired intermediate'),
    ('nc', 'A', 'localhost', False, 'some', 'name constraints of the intermediate violated'),
    ('normal', 'unknown', 'localhost', False, 'all', 'unknown root'),
    ('normal', 'many', 'localhost', True, 'some', 'the system bundle, 40 unrelated CAs, and A'),
    ('normal', 'decoy', 'localhost', False, 'some', "root A's name over another key only"),
    ('normal', 'decoy-and-A', 'localhost', True, 'some', 'that decoy and the real root A'),
    ('self', 'self', 'localhost', True, 'some', 'a self-signed server certificate trusted'),
    ('self', 'A', 'localhost', False, 'all', 'a self-signed server certificate not trusted'),
    ('normal', 'A', 'other.example', False, 'some', 'a name the certificate is not for'),
    ('normal', 'leaf', 'localhost', None, 'some', 'the server certificate itself in the bundle'),
    ('normal', 'many-x509', 'localhost', True, 'all', 'blocks the scan leaves to GnuTLS'),
]

# postie end to end: chain, bundle, the bundle of the same CAs read whole, exit, stderr match
E2E = [
    ('normal', 'many', 'many-x509', 0, None),
    ('normal', 'A', 'A-x509', 0, None),
    ('withroot', 'A', 'A-x509', 0, None),
    ('crosschain', 'A', 'A-x509', 0, None),
    ('expint', 'A', 'A-x509', 69, r'expired'),
    ('nc', 'A', 'A-x509', 69, r"constraints violated"),
    ('crossB', 'A', 'A-x509', 69, r'issuer unknown'),
    ('normal', 'decoy', None, 69, r'bad signature|issuer unknown'),
]


def compare(tap, exe, certs):
    for chain, bundle, host, want, path, what in CASES:
        r = subprocess.run([exe, os.path.join(certs, 'bundle-%s.pem' % bundle),
                            os.path.join(certs, chain + '.pem'), host],
                           capture_output=True, text=True, timeout=60)
        m = re.match(r'full=(\S+) lazy=(\S+) added=(-?\d+)', r.stdout)
        if not tap.ok(r.returncode == 0 and m, '%s: trust-compare runs' % what,
                      r.stdout + r.stderr):
            continue
        full, lazy, added = m.group(1), m.group(2), int(m.group(3))
        tap.ok(full == lazy and full != 'error',
               '%s: the same verdict with the picked CAs as with the whole bundle (%s)'
               % (what, full), 'full=%s lazy=%s' % (full, lazy))
        if want is not None:
            tap.ok((full == '0x0') == want, '%s: %s' % (what, 'trusted' if want else 'refused'),
                   'status %s' % full)
        picked = added > 0
        tap.ok(picked == (path == 'some'), '%s: %s' % (
            what, 'only the CAs it needs (%d)' % added if path == 'some'
            else 'the whole bundle, as before'), 'added=%d' % added)


def system_roots(tap, exe):
    """Each CA of the system bundle sent alone: the same verdict with GnuTLS's system trust
    and with what the scan picks (FILE NULL: -Dsystem-trust-file), and each one picked."""
    r = subprocess.run([exe, '--system'], capture_output=True, text=True, timeout=120)
    if r.returncode == 77:
        tap.note('no system trust file: the system-store checks are not made')
        return
    m = re.search(r'roots=(\d+) same=(\d+) picked=(\d+)', r.stdout)
    if not tap.ok(r.returncode == 0 and m, 'trust-compare --system runs', r.stdout + r.stderr):
        return
    n, same, picked = (int(x) for x in m.groups())
    tap.ok(n > 0 and same == n, 'system store: each of its %d CAs sent alone gets the same '
           'verdict from the CAs picked as from GnuTLS\'s system trust' % n, r.stdout)
    tap.ok(picked == n, 'system store: the scan finds each CA by its name (%d of %d)'
           % (picked, n), r.stdout)


def start_server(tmp, certs, chain, n):
    script = os.path.join(tmp, 'script-%d' % n)
    out = os.path.join(tmp, 'out-%d' % n)
    os.makedirs(out)
    with open(script, 'w') as f:
        f.write('cert %s\ncaps-plain STARTTLS\ncaps-tls 8BITMIME\n' % chain)
    for _ in range(20):
        p = subprocess.Popen([sys.executable, FAKESMTP, '--script', script, '--certs', certs,
                              '--out', out], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        first = p.stdout.readline().decode()
        if not first.startswith('BUSY'):
            break
        p.wait()
    m = re.match(r'PORT (\d+)', first)
    if not m:
        p.kill()
        p.wait()
        return None, None
    return p, m.group(1)


def send(postie, tmp, certs, chain, bundle, env, n):
    server, port = start_server(tmp, certs, chain, n)
    if not server:
        return None
    prof = os.path.join(tmp, 'profile-%d' % n)
    with open(prof, 'w') as f:
        f.write('account default\nhost 127.0.0.1\nport %s\ntls on\ntls_starttls on\n'
                'tls_trust_file %s\nfrom sender@example.test\n'
                % (port, os.path.join(certs, 'bundle-%s.pem' % bundle)))
    os.chmod(prof, 0o600)
    msg = b'From: sender@example.test\nTo: rcpt@example.test\nSubject: t\n\nhello\n'
    try:
        r = subprocess.run([postie, '-C', prof, 'rcpt@example.test'], input=msg,
                           capture_output=True, env=env, timeout=30)
    finally:
        try:
            server.wait(timeout=25)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    err = r.stderr.decode(errors='replace')
    return r.returncode, err


def end_to_end(tap, postie, tmp, certs, env):
    n = 0
    for chain, bundle, whole, code, pattern in E2E:
        what = 'postie, chain %s, bundle %s' % (chain, bundle)
        n += 1
        got = send(postie, tmp, certs, chain, bundle, env, n)
        if not tap.ok(got is not None, '%s: the server starts' % what):
            continue
        rc, err = got
        tap.ok(rc == code, '%s: exit %d' % (what, code), 'exit %d\n%s' % (rc, err))
        if pattern:
            tap.ok(re.search(pattern, err), '%s: says /%s/' % (what, pattern), err)
        if whole:
            n += 1
            got2 = send(postie, tmp, certs, chain, whole, env, n)
            tap.ok(got2 is not None and got2[0] == rc and got2[1] == err,
                   '%s: the same exit and message as with the whole bundle' % what,
                   'picked: %d %s\nwhole: %s' % (rc, err, got2))
    # A block GnuTLS cannot read, in a bundle: the whole-store load refuses the file, the
    # scan never hands it to GnuTLS when it is not a candidate. Shows the scan ran.
    n += 1
    got = send(postie, tmp, certs, 'normal', 'skeleton', env, n)
    tap.ok(got is not None and got[0] == 0,
           'postie, a bundle with an unreadable unrelated block: delivered (only the CAs the '
           'chain needs were read)', got)


def main():
    postie, exe, mkchains = sys.argv[1:4]
    tap = postietest.Tap('trust')
    if not postietest.have_certtool():
        tap.skip_all('no certtool')
    tmpdir = postietest.TempDir('trust')
    tmp = tmpdir.path
    try:
        certs = os.path.join(tmp, 'certs')
        r = subprocess.run(['sh', mkchains, certs], capture_output=True, text=True,
                           timeout=300)
        if tap.ok(r.returncode == 0, 'mkchains.sh makes the chains', r.stderr):
            env = postietest.private_env(os.path.join(tmp, 'home'))
            compare(tap, exe, certs)
            system_roots(tap, exe)
            end_to_end(tap, postie, tmp, certs, env)
    finally:
        tmpdir.end(tap.failed > 0)
    return tap.plan()


if __name__ == '__main__':
    sys.exit(main())
