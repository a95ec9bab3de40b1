#!/usr/bin/env python3
# run.py POSTIE SCRAMPLUS CASE...|all, run.py --list, run.py --check-list NAME...
#
# postie against scramplus (scramplus.c), the project's own SMTP server with the server side
# of SCRAM-*-PLUS (RFC 5802, RFC 7677; channel bindings tls-exporter, RFC 9266, under TLS 1.3
# and tls-unique, RFC 5929, under TLS 1.2), because no server in Debian 12 offers -PLUS.
# One case per run (meson registers each); `all` runs them all. Every case checks real
# outcomes: postie's exit status and stderr (the -v transcript), the server's log (which
# mechanism, which gs2 header and binding type it saw, whether the proof and the binding
# matched, whether MAIL ever came), and the message as it landed, byte for byte.
#
# Exit: 0 passed, 1 failed, 77 skipped (no certtool for tests/gencerts.sh).
# PLUS_VERBOSE=1 prints postie's stderr and the server log; POSTIE_TEST_KEEP=1 (or =fail)
# keeps the temp dir (tests/lib/postietest.py: temp dir, environment, certificates).
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)
PASSWORD = 'Pa55-w0rd!x'
TLS12 = 'NORMAL:-VERS-ALL:+VERS-TLS1.2'

# The message: every header postie would otherwise add is there, so what lands must equal
# it with CRLF line ends; a line with a leading dot checks the dot-stuffing round trip.
MESSAGE = (b'From: Sender <sender@example.test>\n'
           b'To: rcpt@example.test\n'
           b'Date: Mon, 01 Jan 2024 00:00:00 +0000\n'
           b'Message-ID: <plus@example.test>\n'
           b'Subject: channel binding\n'
           b'\n'
           b'Hello over SCRAM-PLUS.\n'
           b'.a line that starts with a dot\n'
           b'..two dots\n'
           b'\xc3\xa9t\xc3\xa9 (UTF-8 body)\n')
LANDED = MESSAGE.replace(b'\n', b'\r\n')

# Each case: server options, profile lines, and what must be seen.
#   mech: the AUTH line in postie's -v transcript and in the server log
#   gs2: the gs2 header the server received (RFC 5802 §7: "p=TYPE,," / "n,," / "y,,")
#   result: 'ok' or the server's reason for failing ('channel-bindings-dont-match', ...)
#   tls: the version the server logged
#   exit: postie's exit status; delivered: whether the message must land (else no MAIL at
#   all may reach the server); stderr: regular expressions postie's stderr must match
CASES = {
    # postie chooses SCRAM-SHA-256-PLUS by itself, binding with tls-exporter under TLS 1.3
    'auto-starttls-tls13': dict(
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=0,
        delivered=True, stderr=[r'authenticated with SCRAM-SHA-256-PLUS']),
    'auto-implicit-tls13': dict(
        implicit=True,
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=0,
        delivered=True, stderr=[r'authenticated with SCRAM-SHA-256-PLUS']),
    # TLS 1.2 (forced by tls_priorities): tls-unique, with the extended master secret
    'auto-starttls-tls12': dict(
        profile=['tls_priorities ' + TLS12],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-unique,,', result='ok', tls='TLS1.2 ems', exit=0,
        delivered=True, stderr=[r'authenticated with SCRAM-SHA-256-PLUS']),
    'auto-implicit-tls12': dict(
        implicit=True, profile=['tls_priorities ' + TLS12],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-unique,,', result='ok', tls='TLS1.2 ems', exit=0,
        delivered=True),
    # the profile names the mechanism
    'sha1-plus-tls13': dict(
        profile=['auth scram-sha-1-plus'],
        mech='SCRAM-SHA-1-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=0,
        delivered=True, stderr=[r'authenticated with SCRAM-SHA-1-PLUS']),
    'sha1-plus-tls12': dict(
        profile=['auth scram-sha-1-plus', 'tls_priorities ' + TLS12],
        mech='SCRAM-SHA-1-PLUS', gs2='p=tls-unique,,', result='ok', tls='TLS1.2 ems', exit=0,
        delivered=True, stderr=[r'authenticated with SCRAM-SHA-1-PLUS']),
    'sha1-plus-only-offered': dict(
        server=['--mechs', 'SCRAM-SHA-1-PLUS SCRAM-SHA-1'],
        mech='SCRAM-SHA-1-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=0,
        delivered=True),
    # SCRAM without binding while -PLUS is offered: "n" (the client chose not to bind)
    'sha256-without-plus': dict(
        profile=['auth scram-sha-256'],
        mech='SCRAM-SHA-256', gs2='n,,', result='ok', tls='TLS1.3', exit=0, delivered=True),
    'plain-forced': dict(
        profile=['auth plain'],
        mech='PLAIN', gs2='-', result='ok', tls='TLS1.3', exit=0, delivered=True),
    'wrong-password': dict(
        password='not-the-password',
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='invalid-proof',
        tls='TLS1.3', exit=77, delivered=False),
    # RFC 5802 §5: a server that cannot show it knows the password is not trusted with
    # the message (SEC-17: exit 77, no MAIL)
    'fake-signature': dict(
        server=['--mode', 'bad-signature'],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=77,
        delivered=False, stderr=[r'^postie: .*signature']),
    'fake-signature-tls12': dict(
        server=['--mode', 'bad-signature'], profile=['tls_priorities ' + TLS12],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-unique,,', result='ok', tls='TLS1.2 ems',
        exit=77, delivered=False, stderr=[r'^postie: .*signature']),
    'fake-signature-sha1': dict(
        server=['--mode', 'bad-signature'], profile=['auth scram-sha-1-plus'],
        mech='SCRAM-SHA-1-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=77,
        delivered=False, stderr=[r'^postie: .*signature']),
    'no-signature': dict(
        server=['--mode', 'no-signature'],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='ok', tls='TLS1.3', exit=77,
        delivered=False, stderr=[r'^postie: .*signature']),
    'bad-nonce': dict(
        server=['--mode', 'bad-nonce'],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result=None, tls='TLS1.3', exit=77,
        delivered=False, stderr=[r'^postie: .*nonce']),
    # the server binds to another value than postie's session (a man in the middle holds
    # two TLS sessions): the exchange must fail
    'binding-mismatch-tls13': dict(
        server=['--mode', 'bad-binding'],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-exporter,,', result='channel-bindings-dont-match',
        tls='TLS1.3', exit=77, delivered=False, stderr=[r'channel-bindings-dont-match']),
    'binding-mismatch-tls12': dict(
        server=['--mode', 'bad-binding'], profile=['tls_priorities ' + TLS12],
        mech='SCRAM-SHA-256-PLUS', gs2='p=tls-unique,,', result='channel-bindings-dont-match',
        tls='TLS1.2 ems', exit=77, delivered=False),
    'binding-mismatch-sha1': dict(
        server=['--mode', 'bad-binding'], profile=['auth scram-sha-1-plus'],
        mech='SCRAM-SHA-1-PLUS', gs2='p=tls-exporter,,', result='channel-bindings-dont-match',
        tls='TLS1.3', exit=77, delivered=False),
    # RFC 5802 §6 downgrade: -PLUS removed from the list on the way; postie could bind, so
    # it says "y", and the server, which can bind, must fail the exchange
    'downgrade-sha256': dict(
        server=['--mechs', 'SCRAM-SHA-256 PLAIN'],
        mech='SCRAM-SHA-256', gs2='y,,', result='server-does-support-channel-binding',
        tls='TLS1.3', exit=77, delivered=False),
    'downgrade-sha1': dict(
        server=['--mechs', 'SCRAM-SHA-1'],
        mech='SCRAM-SHA-1', gs2='y,,', result='server-does-support-channel-binding',
        tls='TLS1.3', exit=77, delivered=False),
    'downgrade-tls12': dict(
        server=['--mechs', 'SCRAM-SHA-256'], profile=['tls_priorities ' + TLS12],
        mech='SCRAM-SHA-256', gs2='y,,', result='server-does-support-channel-binding',
        tls='TLS1.2 ems', exit=77, delivered=False),
    # the same "y" to a server that really cannot bind is fine (the counterpart of the above)
    'y-to-server-without-binding': dict(
        server=['--mechs', 'SCRAM-SHA-256 PLAIN', '--no-cb'],
        mech='SCRAM-SHA-256', gs2='y,,', result='ok', tls='TLS1.3', exit=0, delivered=True),
    # TLS 1.2 without the extended master secret (RFC 7627): tls-unique is not safe, so
    # postie has no binding: it uses SCRAM-SHA-256 with "n" ...
    'tls12-no-ems-auto': dict(
        server=['--priorities', 'NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_SESSION_HASH'],
        mech='SCRAM-SHA-256', gs2='n,,', result='ok', tls='TLS1.2', exit=0, delivered=True),
    # ... and refuses a -PLUS the profile names, before AUTH (78: the profile asks for what
    # this connection cannot give)
    'tls12-no-ems-plus-forced': dict(
        server=['--priorities', 'NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_SESSION_HASH'],
        profile=['auth scram-sha-256-plus'],
        mech=None, gs2=None, result=None, tls='TLS1.2', exit=78, delivered=False,
        stderr=[r'^postie: .*channel binding']),
}


Failed = postietest.Failed


def run_case(postie, scramplus, name, case, tmp):
    certs = os.path.join(tmp, 'certs')
    out = os.path.join(tmp, 'out')
    os.makedirs(out)
    gen = postietest.gencerts(certs)
    if gen.returncode != 0:
        raise Failed('gencerts.sh failed: ' + gen.stderr.decode(errors='replace'))

    argv = [scramplus, '--certs', certs, '--out', out, '--password', PASSWORD,
            '--timeout', '20'] + case.get('server', [])
    if case.get('implicit'):
        argv.append('--implicit')
    server = subprocess.Popen(argv, stdout=subprocess.PIPE,
                              stderr=open(os.path.join(tmp, 'server.stderr'), 'wb'))
    try:
        first = server.stdout.readline().decode()
        m = re.match(r'PORT (\d+)', first)
        if not m:
            raise Failed('scramplus did not start: %r %s' % (
                first, open(os.path.join(tmp, 'server.stderr'), errors='replace').read()))
        profile = os.path.join(tmp, 'profile')
        lines = ['account default', 'host 127.0.0.1', 'port ' + m.group(1), 'tls on',
                 'tls_starttls ' + ('off' if case.get('implicit') else 'on'),
                 'tls_trust_file ' + os.path.join(certs, 'ca.pem'),
                 'from sender@example.test', 'user alice',
                 'password ' + case.get('password', PASSWORD), 'queue off', 'timeout 20']
        lines += case.get('profile', [])
        with open(profile, 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(profile, 0o600)
        env = postietest.private_env(os.path.join(tmp, 'home'))
        try:
            proc = subprocess.run([postie, '-v', '-C', profile, 'rcpt@example.test'],
                                  input=MESSAGE, capture_output=True, env=env, timeout=60)
        except subprocess.TimeoutExpired:
            raise Failed('postie did not finish within 60 s')
        # postie has closed the connection: the server ends with it.
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Failed('scramplus did not end after the connection')
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()

    stderr = proc.stderr.decode('utf-8', 'replace')
    log = open(os.path.join(out, 'log'), encoding='utf-8', errors='replace').read()
    if os.environ.get('PLUS_VERBOSE'):
        print('# postie exit %d, stderr:\n%s# server log:\n%s' % (proc.returncode, stderr, log))
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    check(proc.returncode == case['exit'],
          'exit status %d, expected %d' % (proc.returncode, case['exit']))
    check(PASSWORD not in stderr and 'not-the-password' not in stderr,
          'the password appears on stderr (SEC-13)')
    tls = re.findall(r'^tls (.*)$', log, re.M)
    check(tls == [case['tls']], 'server TLS %r, expected %r' % (tls, case['tls']))
    if case['mech']:
        check(re.search(r'^--> AUTH %s( |$)' % re.escape(case['mech']), stderr, re.M),
              'no "AUTH %s" in the -v transcript' % case['mech'])
        check(re.search(r'^C: AUTH %s( |$)' % re.escape(case['mech']), log, re.M),
              'the server got no "AUTH %s"' % case['mech'])
    else:
        check(not re.search(r'^C: AUTH', log, re.M), 'AUTH was sent')
    if case['gs2'] is not None:
        auth = re.findall(r'^auth (\S+) gs2=(\S+) (?:cb=\S+ )?result=(\S+)(?: (.*))?$', log, re.M)
        check(len(auth) == 1, 'server auth records %r, expected one' % auth)
        if len(auth) == 1:
            mech, gs2, result, why = auth[0]
            check(gs2 == case['gs2'], 'gs2 header %r, expected %r' % (gs2, case['gs2']))
            got = 'ok' if result == 'ok' else why
            if case['result']:
                check(got == case['result'], 'server result %r, expected %r' % (
                    got, case['result']))
            if case['gs2'].startswith('p='):
                cbtype = case['gs2'][2:-2]
                check(re.search(r'^auth \S+ gs2=\S+ cb=%s result=ok' % cbtype, log, re.M)
                      or result != 'ok', 'the server did not check a %s binding' % cbtype)
    for pat in case.get('stderr', []):
        check(re.search(pat, stderr, re.M), 'stderr does not match %r' % pat)
    msg = os.path.join(out, 'message-1')
    if case['delivered']:
        check(os.path.exists(msg), 'no message landed')
        if os.path.exists(msg):
            got = open(msg, 'rb').read()
            check(got == LANDED, 'the message landed changed: %r' % got)
            env_ = open(os.path.join(out, 'envelope-1'), 'rb').read()
            # BODY=8BITMIME (RFC 6152) for the UTF-8 body when the server offers it
            check(re.fullmatch(rb'MAIL FROM:<sender@example\.test>( BODY=8BITMIME)?\n'
                               rb'RCPT TO:<rcpt@example\.test>\n', env_),
                  'envelope %r' % env_)
        check(re.search(r'^<-- 250 2\.0\.0 Ok: queued as 1$', stderr, re.M),
              'no final 250 in the transcript')
    else:
        check(not os.path.exists(msg), 'a message landed')
        check(not re.search(r'^C: (MAIL|RCPT|DATA)', log, re.M),
              'MAIL/RCPT/DATA reached the server after a failed authentication')
        check(not re.search(r'^--> MAIL', stderr, re.M), 'postie sent MAIL')
        check(re.search(r'^postie: ', stderr, re.M) and
              not re.search(r'authenticated with', stderr),
              'no error message, or postie says it authenticated')
    if fails:
        raise Failed('; '.join(fails) + '\n# postie stderr:\n' + stderr +
                     '# server log:\n' + log)


def main():
    if sys.argv[1:] == ['--list']:
        print('\n'.join(CASES))
        return 0
    if sys.argv[1:2] == ['--check-list']:
        # meson.build registers one test per case: the two lists must agree
        listed = sys.argv[2:]
        missing = [n for n in CASES if n not in listed]
        extra = [n for n in listed if n not in CASES]
        if missing or extra:
            print('FAIL: tests/plus/meson.build lacks %s; has unknown %s' % (missing, extra))
            return 1
        print('ok %d cases listed' % len(listed))
        return 0
    if len(sys.argv) < 4:
        print('usage: run.py POSTIE SCRAMPLUS CASE...|all\ncases: ' + ' '.join(CASES),
              file=sys.stderr)
        return 64
    postie, scramplus = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    names = list(CASES) if sys.argv[3:] == ['all'] else sys.argv[3:]
    for n in names:
        if n not in CASES:
            print('run.py: unknown case %s' % n, file=sys.stderr)
            return 64
    if not postietest.have_certtool():
        print('SKIP: certtool (GnuTLS) is not installed (tests/gencerts.sh needs it)')
        return 77
    return postietest.run_named(
        'plus', names, lambda n, work: run_case(postie, scramplus, n, CASES[n], work))


if __name__ == '__main__':
    sys.exit(main())
