#!/usr/bin/env python3
# doctor.py POSTIE
#
# postie --check (src/doctor.c) against the real Postfix + Dovecot SASL of server.sh, started
# for this test alone in its own temp dir and stopped at the end. The Postfix lets the login
# alice send only as alice@postie.test (reject_sender_login_mismatch), so a refused sender can
# be provoked. One account per case, each in the user's own profile:
#   good       STARTTLS, password_file: every step ok, exit 0, nothing delivered (the
#              maildirs stay empty, the session's counters show no DATA or BDAT)
#   smtps      implicit TLS, passwordeval: exit 0
#   wrongpw    a wrong password: exit 77, the AUTH line says so and where it came from
#   wrongport  a closed loopback port: exit 75 (temporary), the connect line says nothing
#              listens there
#   untrusted  no trust file for the test CA (the system store): exit 69, the TLS line says
#              what to set, and no AUTH reached the server
#   refused    a sender alice does not own: exit 67 (Postfix refuses it at RCPT, as a send
#              would see it), the envelope line says to check `from`
#   soon       the same server with a certificate that expires in 5 days: exit 0 and a warning
# No line of any output, -v included, holds the password (SEC-13).
# Exit: 0 passed, 1 failed, 77 skipped (not root, or postfix/dovecot/certtool missing).
# POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir (tests/lib/postietest.py).
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postfixtest  # noqa: E402  (the path is set just above)
import postietest  # noqa: E402

SERVER = postfixtest.SERVER
PASSWORD = 's3cret pass'
WRONG = 's3cret past'


def closed_port():
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def postfix_set(srv, settings, tap):
    """postconf -e SETTINGS, then reload this DIR's Postfix and wait for its log to say so."""
    etc = os.path.join(srv, 'etc')
    maillog = os.path.join(srv, 'maillog')
    before = open(maillog, encoding='utf-8', errors='replace').read().count('reload --')
    subprocess.run(['postconf', '-c', etc, '-e'] + settings, check=True)
    subprocess.run(['postfix', '-c', etc, 'reload'], check=True, capture_output=True)
    for _ in range(100):
        if open(maillog, encoding='utf-8', errors='replace').read().count('reload --') > before:
            time.sleep(0.5)  # the old smtpd processes finish leaving
            return True
        time.sleep(0.1)
    tap.note('no reload in %s after 10 s' % maillog)
    return False


def soon_cert(srv, days):
    """A server certificate by the test CA over server-key.pem that expires in DAYS days."""
    certs = os.path.join(srv, 'certs')
    tmpl = os.path.join(certs, 'soon.tmpl')
    with open(tmpl, 'w', encoding='ascii') as f:
        f.write('cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                'expiration_days = %d\ntls_www_server\nsigning_key\nencryption_key\n' % days)
    out = os.path.join(certs, 'soon.pem')
    subprocess.run(['certtool', '--generate-certificate',
                    '--load-privkey', os.path.join(certs, 'server-key.pem'),
                    '--load-ca-certificate', os.path.join(certs, 'ca.pem'),
                    '--load-ca-privkey', os.path.join(certs, 'ca-key.pem'),
                    '--template', tmpl, '--outfile', out], check=True, capture_output=True)
    return out


def write_profile(cfgdir, home, env, wrongport):
    pwfile = os.path.join(home, 'password')
    with open(pwfile, 'w', encoding='ascii') as f:
        f.write(PASSWORD + '\n')
    os.chmod(pwfile, 0o600)
    text = '''defaults
host 127.0.0.1
tls_trust_file {ca}
user alice
from alice@postie.test

account good
port {sub}
password_file {pw}

account smtps
port {smtps}
tls_starttls off
passwordeval cat {pw}

account wrongpw
port {sub}
password "{wrong}"

account wrongport
port {closed}
password_file {pw}

account untrusted
port {sub}
tls_trust_file system
password_file {pw}

account refused
port {sub}
from bob@postie.test
password_file {pw}

account default : good
'''.format(ca=env['CA_FILE'], sub=env['SUBMISSION_PORT'], smtps=env['SMTPS_PORT'],
           pw=pwfile, wrong=WRONG, closed=wrongport)
    path = os.path.join(cfgdir, 'config')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='ascii') as f:
        f.write(text)


def check(postie, penv, args):
    r = subprocess.run([postie, '--check'] + args, env=penv, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')


def lines_of(out, mark):
    return [line for line in out.splitlines() if line.startswith(mark)]


def no_secret(tap, name, out, err):
    tap.ok(PASSWORD not in out and PASSWORD not in err and WRONG not in out and
           WRONG not in err, '%s: the password is in no output (SEC-13)' % name, out + err)


def expect_failure(tap, name, got, status, step_re, text_res):
    """Exit STATUS, one error line whose step matches STEP_RE and holds every TEXT_RES."""
    rc, out, err = got
    tap.ok(rc == status, '%s: exit %d' % (name, status), 'exit %d\n%s%s' % (rc, out, err))
    errors = lines_of(out, 'error    ')
    tap.ok(len(errors) == 1 and re.match(r'error    ' + step_re, errors[0]),
           '%s: one error line, at the step %s' % (name, step_re), out)
    for t in text_res:
        tap.ok(errors and re.search(t, errors[0]), '%s: the error says %s' % (name, t), out)
    tap.ok(out.rstrip('\n').splitlines()[-1].startswith('result   failed at '),
           '%s: the last line is the result' % name, out)
    no_secret(tap, name, out, err)


def mail_count(root):
    n = 0
    for _, _, files in os.walk(root):
        n += len(files)
    return n


def run(postie, work, tap):
    srv = os.path.join(work, 'srv')
    home = os.path.join(work, 'home')
    r = subprocess.run([SERVER, 'start', srv], capture_output=True, text=True)
    if r.returncode != 0:
        tap.ok(False, 'server.sh start', r.stdout + r.stderr)
        return
    env = postfixtest.read_env(srv)
    tap.ok(postfix_set(srv, ['smtpd_sender_login_maps=inline:{ alice@postie.test=alice }',
                             'smtpd_sender_restrictions=reject_sender_login_mismatch'], tap),
           'postfix reloaded with a sender login map')
    penv = postietest.private_env(home)
    cfgdir = os.path.join(penv['XDG_CONFIG_HOME'], 'postie')
    os.makedirs(cfgdir, exist_ok=True)
    write_profile(cfgdir, home, env, closed_port())
    outputs = {}

    rc, out, err = got = check(postie, penv, ['-a', 'good'])
    outputs['good'] = got
    tap.ok(rc == 0, 'good: exit 0', 'exit %d\n%s%s' % (rc, out, err))
    marks = [line.split(' ', 1)[0] for line in out.splitlines()]
    tap.ok(marks and all(m == 'ok' for m in marks[:-1]) and marks[-1] == 'result',
           'good: every step ok, then the result', out)
    for want in [r'^ok       profile .*/postie/config \(0600, yours\): 6 accounts$',
                 r'^ok       secret: password_file .* gave a password$',
                 r'^ok       resolve 127\.0\.0\.1: 1 address',
                 r'^ok       connect 127\.0\.0\.1 \[127\.0\.0\.1\]:%s \(STARTTLS\): 220 '
                 % env['SUBMISSION_PORT'],
                 r'^ok       TLS: TLS1\.[23] .*certificate for localhost.* by postie test CA, '
                 r'expires \d{4}-\d\d-\d\d; verified against tls_trust_file ',
                 r'^ok       AUTH [A-Z0-9-]+ as alice: accepted$',
                 r'^ok       MAIL FROM:<alice@postie\.test> / RCPT TO:<alice@postie\.test>: '
                 r'250 / 250; RSET, nothing sent$',
                 r'^result   ok: account good can send$']:
        tap.ok(re.search(want, out, re.M), 'good: a line like %s' % want, out)
    no_secret(tap, 'good', out, err)
    rc, out, err = check(postie, penv, ['-a', 'good', '-v'])
    tap.ok(rc == 0 and 'AUTH' in err, 'good -v: exit 0, the transcript on stderr', err)
    no_secret(tap, 'good -v', out, err)

    rc, out, err = got = check(postie, penv, ['-a', 'smtps'])
    tap.ok(rc == 0 and '(implicit TLS)' in out and 'passwordeval ran and gave a password' in out,
           'smtps: implicit TLS and passwordeval, exit 0', 'exit %d\n%s%s' % (rc, out, err))
    no_secret(tap, 'smtps', out, err)

    outputs['wrong password'] = got = check(postie, penv, ['-a', 'wrongpw'])
    expect_failure(tap, 'wrongpw', got, 77, r'AUTH [A-Z0-9-]+ as alice: ',
                   [r'535', r'check `user` and the password', r'`password` in .*/config'])
    outputs['wrong port'] = got = check(postie, penv, ['-a', 'wrongport'])
    expect_failure(tap, 'wrongport', got, 75, r'connect 127\.0\.0\.1 port \d+: ',
                   [r'Connection refused', r'nothing listens there', r'check `port`'])
    auths_before = auth_count(env['MAILLOG'])
    outputs['untrusted certificate'] = got = check(postie, penv, ['-a', 'untrusted'])
    expect_failure(tap, 'untrusted', got, 69, r'TLS: ',
                   [r'issuer unknown', r'tls_trust_file'])
    tap.ok(auth_count(env['MAILLOG']) == auths_before,
           'untrusted: no AUTH reached the server it does not trust')
    outputs['refused sender'] = got = check(postie, penv, ['-a', 'refused'])
    expect_failure(tap, 'refused', got, 67,
                   r'MAIL FROM:<bob@postie\.test> / RCPT TO:<bob@postie\.test>: ',
                   [r'5\.7\.1', r'not owned by user alice', r'check `from`'])

    time.sleep(1)
    tap.ok(mail_count(env['MAIL_ROOT']) == 0, 'nothing was delivered: the maildirs are empty',
           subprocess.run(['find', env['MAIL_ROOT']], capture_output=True, text=True).stdout)
    log = open(env['MAILLOG'], encoding='utf-8', errors='replace').read()
    sessions = re.findall(r'disconnect from .* (ehlo=.*)$', log, re.M)
    tap.ok(sessions and not any('data=' in s or 'bdat=' in s for s in sessions),
           'no session sent DATA or BDAT (%d sessions)' % len(sessions), '\n'.join(sessions))
    tap.ok(any('auth=1 mail=1 rcpt=1 rset=1 quit=1' in s for s in sessions),
           'a session went AUTH, MAIL, RCPT, RSET, QUIT', '\n'.join(sessions))

    soon = soon_cert(srv, 5)
    key = os.path.join(srv, 'certs', 'server-key.pem')
    tap.ok(postfix_set(srv, ['smtpd_tls_chain_files=%s, %s' % (key, soon)], tap),
           'postfix reloaded with a certificate that expires in 5 days')
    rc, out, err = got = check(postie, penv, [])
    outputs['certificate expiring soon (default account)'] = got
    tap.ok(rc == 0, 'soon: exit 0 (a warning is no failure)', 'exit %d\n%s%s' % (rc, out, err))
    tap.ok(re.search(r"^warning  TLS: the server's certificate expires in [45] days \(", out,
                     re.M), 'soon: the warning says when the certificate expires', out)
    tap.ok(re.search(r'^result   ok: account good can send \(1 warning above\)$', out, re.M),
           'soon: the result counts the warning', out)

    for what, (rc, out, err) in outputs.items():
        tap.note('--- postie --check, %s: exit %d\n%s' % (what, rc, out.rstrip('\n')))


def auth_count(maillog):
    log = open(maillog, encoding='utf-8', errors='replace').read()
    return len(re.findall(r'sasl_username=|SASL [A-Z0-9-]+ authentication failed', log))


def main():
    if len(sys.argv) != 2:
        print('usage: doctor.py POSTIE', file=sys.stderr)
        return 64
    postie = os.path.abspath(sys.argv[1])
    postfixtest.need_postfix()
    return postfixtest.run_scenario('interop-doctor', run, postie)


if __name__ == '__main__':
    sys.exit(main())
