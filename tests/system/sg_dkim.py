# tests/system/sg_dkim.py: a dkim_key in the system profile (issue 14 x SEC-45). The key is a
# secret like the password_file: root:GROUP 0640, opened with the group for the system
# profile's account only. A user sends through that account and the message arrives signed
# (verified by dkimpy, Debian's python3-dkim, with the public key from a DNS stub); the same
# key named in the user's own profile, or with -C, is opened with the user's rights: EACCES,
# 78, nothing sent; a key the group may write is refused (SEC-45's rule for the system
# profile's files) without the group's rights ever reading it for the caller.
#
# Called by setgid.py: run(w, sysink) with the World of sglib.

import base64
import os
import pwd
import shutil
import subprocess

from sglib import message, no_secret, out, tap

SELECTOR = 'sgsel'
DOMAIN = 'example.test'

# dkimpy runs in Debian's python3 (a Python from elsewhere may lack it): the message on
# standard input, the DNS record in argv; exit 0 when the signature verifies.
VERIFY = r'''
import sys, dkim
rec = sys.argv[1].encode()
def dns(name, timeout=5):
    return rec if name.rstrip(b'.') == b'%s._domainkey.%s' % (sys.argv[2].encode(),
                                                             sys.argv[3].encode()) else None
sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns) else 1)
'''


def verifier():
    """/usr/bin/python3 when it has dkimpy, else None."""
    py = '/usr/bin/python3'
    if not os.path.exists(py):
        return None
    r = subprocess.run([py, '-c', 'import dkim'], capture_output=True)
    return py if r.returncode == 0 else None


def verifies(py, msg, record):
    r = subprocess.run([py, '-c', VERIFY, record, SELECTOR, DOMAIN], input=msg,
                       capture_output=True, timeout=60)
    return r.returncode == 0


def make_key(w):
    """An Ed25519 key root:GROUP 0640 beside the system profile, and its DNS record
    (the line postie.conf(5) documents)."""
    path = os.path.join(w.prefix, 'etc', 'postie-dkim.pem')
    subprocess.run(['certtool', '--generate-privkey', '--key-type=ed25519', '--outfile', path],
                   check=True, capture_output=True)
    der = subprocess.run(['certtool', '--load-privkey', path, '--pubkey-info', '--outder'],
                         check=True, capture_output=True).stdout
    with open(path, encoding='ascii') as f:
        w.group_file(path, f.read())
    return path, 'v=DKIM1; k=ed25519; p=%s' % base64.b64encode(der[-32:]).decode()


def sent_since(sysink, n):
    return sysink.bodies()[n:]


def check_doctor_gives_up(w, sysink, user):
    """--check of a system account without AUTH: the group is given up before the server is
    reached (SEC-45), as with AUTH once the secret is read: Gid of the check held at MAIL."""
    ugid = pwd.getpwnam(user).pw_gid
    sysink.wait_idle()
    sysink.configure(refuse=0, hold='mail')
    p = w.as_user(user, ['--check', '-a', 'noauth'], popen=True)
    try:
        reached = sysink.wait_reached('mail', 20.0)
        gids = None
        with open('/proc/%d/status' % p.pid, encoding='ascii') as f:
            for line in f:
                if line.startswith('Gid:'):
                    gids = tuple(int(x) for x in line.split()[1:5])
    finally:
        p.kill()
        o, e = p.communicate()
        sysink.wait_idle()
        sysink.configure(hold=None)
    tap.ok(reached and gids == (ugid,) * 4,
           'doctor: a user\'s --check of a system account without AUTH holds no group by the '
           'time it talks to the server (Gid real, effective, saved, fs all the user\'s)',
           'reached %s, Gid %s, user\'s %d; %s' % (reached, gids, ugid,
                                                  (o + e).decode(errors='replace')))


def run(w, sysink):
    py = verifier()
    if not py or not shutil.which('certtool'):
        tap.ok(True, 'dkim: # SKIP dkimpy (python3-dkim) or certtool missing')
        return
    u1 = w.users[0]
    key, record = make_key(w)
    signed = ('account signed : system\nfrom system@example.test\ndkim_key %s\n'
              'dkim_selector %s\naccount noauth : system\nauth off\n' % (key, SELECTOR))
    w.system_profile(sysink.port, extra=signed)
    try:
        n = len(sysink.bodies())
        r = w.as_user(u1, ['-a', 'signed', 'rcpt@example.test'], stdin=message(90))
        got = sent_since(sysink, n)
        ok = r.returncode == 0 and len(got) == 1 and got[0].startswith(b'DKIM-Signature:')
        tap.ok(ok and verifies(py, got[0], record),
               'dkim: a user sends through the system account with a dkim_key root:group 0640: '
               'signed, and dkimpy verifies it', out(r))
        tap.ok(ok and not verifies(py, got[0].replace(b'Hello 90.', b'Hello 91.'), record),
               'dkim: control: the same message with its body changed does not verify')
        # --check loads the system key with the group too (before it gives the group up).
        r = w.as_user(u1, ['--check', '-a', 'signed'])
        tap.ok('\nok       DKIM: Ed25519 key %s' % key in '\n' + out(r) and
               '"%s"' % record in out(r) and no_secret(out(r)),
               'dkim: the user\'s --check of the system account loads its key and prints the '
               'record to publish, no secret', out(r))
        check_doctor_gives_up(w, sysink, u1)
        # The same key through the caller's own rights: the user's own profile, and -C.
        cfg = os.path.join(w.dir, 'dkim-own')
        os.makedirs(cfg, exist_ok=True)
        os.chmod(cfg, 0o755)
        own = w.own_profile(u1, cfg, (
            'account default\nhost localhost\nport %d\ntls on\ntls_starttls on\n'
            'tls_trust_file %s\nfrom u@example.test\nauth off\ndkim_key %s\n'
            'dkim_selector %s\n' % (sysink.port, w.ca, key, SELECTOR)))
        # With -C (a file outside the config folder) SEC-43 refuses the command first.
        for how, args, env, why in (
                ('its own profile: opened with the user\'s rights, EACCES', [],
                 {'XDG_CONFIG_HOME': cfg}, 'Permission denied'),
                ('a profile -C names: not taken from it (SEC-43)', ['-C', own], {}, 'SEC-43')):
            n = len(sysink.bodies())
            r = w.as_user(u1, args + ['rcpt@example.test'], stdin=message(92), env=env)
            tap.ok(r.returncode == 78 and why in out(r) and not sent_since(sysink, n),
                   'dkim: the system key named in %s; 78, nothing sent' % how, out(r))
        # SEC-45: a key the group may write is no secret of root's: refused.
        os.chmod(key, 0o660)
        n = len(sysink.bodies())
        r = w.as_user(u1, ['-a', 'signed', 'rcpt@example.test'], stdin=message(93))
        tap.ok(r.returncode == 78 and 'chmod 640' in out(r) and not sent_since(sysink, n),
               'dkim: a system dkim_key the group may write (0660): refused, 78, nothing sent',
               out(r))
    finally:
        os.chmod(key, 0o640)
        w.system_profile(sysink.port)
