#!/usr/bin/env python3
# sec41.py POSTIE SOURCE: SEC-41, a secret is only offered where the user's profile sends it
# (issue 10, bug 1). SOURCE is where the victim's secret lives: password, passwordeval,
# password_file, netrc, credentials ($CREDENTIALS_DIRECTORY/postie.ACCOUNT), keyring (a fake
# secret-tool in PATH and a session bus address), oauth (oauth2_token_command with auth
# oauthbearer), oauth-cache (a token cached by an earlier run, auth xoauth2, the command now
# failing), client-key (tls_cert_file/tls_key_file).
#
# First the victim's own run delivers to the victim's server with that secret (so the source
# works and the test can fail). Then the attacker adds route options to argv, one set per
# route: each must exit 64 before connecting anywhere and before consulting the source, and
# no attacker server or proxy may see any secret. With --auth=off the run may go, secretless.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402
from alib import SECRETS, VICTIM_USER  # noqa: E402

RULE = 'SEC-41'


def victim_setup(t, source, vport):
    """Write the user's own profile and the secret's source; returns (profile, marker log)
    where the marker log grows each time the source's command runs (or None)."""
    lines = ['account default', 'host localhost', 'port %d' % vport, 'tls on',
             'tls_starttls on', 'tls_trust_file %s' % t.ca, 'from victim@example.test',
             'timeout 10']
    if source != 'client-key':
        lines.append('user %s' % VICTIM_USER)
    log = None
    secret = SECRETS[source]
    if source == 'password':
        lines.append('password %s' % secret)
    elif source == 'passwordeval':
        log = os.path.join(t.tmp, 'passwordeval.log')
        cmd = t.script('pweval', 'echo ran >> %s\nprintf "%%s\\n" %s\n' % (log, secret))
        lines.append('passwordeval %s' % cmd)
    elif source == 'password_file':
        lines.append('password_file %s' % t.write(os.path.join(t.tmp, 'secrets', 'pw'),
                                                   secret + '\n'))
    elif source == 'netrc':
        t.write(os.path.join(t.home, '.netrc'), 'machine localhost login %s password %s\n'
                % (VICTIM_USER, secret))
    elif source == 'credentials':
        d = os.path.join(t.tmp, 'credentials')
        t.write(os.path.join(d, 'postie.default'), secret + '\n')
        t.env['CREDENTIALS_DIRECTORY'] = d
    elif source == 'keyring':
        log = os.path.join(t.tmp, 'secret-tool.log')
        t.script('secret-tool', 'echo "$*" >> %s\n'
                 'if [ "$*" = "lookup host localhost service smtp user %s" ]; then\n'
                 '\tprintf "%%s\\n" %s\n\texit 0\nfi\nexit 1\n' % (log, VICTIM_USER, secret))
        t.env['DBUS_SESSION_BUS_ADDRESS'] = 'unix:path=%s/no-bus' % t.tmp
    elif source == 'oauth':
        log = os.path.join(t.tmp, 'oauthcmd.log')
        cmd = t.script('oauthcmd', 'echo ran >> %s\nprintf "%%s\\n" %s\n' % (log, secret))
        lines += ['auth oauthbearer', 'oauth2_token_command %s' % cmd]
    elif source == 'oauth-cache':
        # The token comes once, with a lifetime (so it is cached); later runs of the command
        # fail: only the cache can hand the token to anyone after the victim's run.
        log = os.path.join(t.tmp, 'oauthonce.log')
        used = os.path.join(t.tmp, 'oauthonce.used')
        cmd = t.script('oauthonce', 'echo ran >> %s\nif [ -e %s ]; then exit 1; fi\n'
                       ': > %s\nprintf "%%s 3600\\n" %s\n' % (log, used, used, secret))
        lines += ['auth xoauth2', 'oauth2_token_command %s' % cmd]
    elif source == 'client-key':
        lines += ['tls_cert_file %s' % os.path.join(t.certs, 'client.pem'),
                  'tls_key_file %s' % os.path.join(t.certs, 'client-key.pem')]
    else:
        sys.exit('unknown source %r' % source)
    t.write(t.user_profile, '\n'.join(lines) + '\n')
    return log


def lines_of(path):
    try:
        with open(path, encoding='utf-8') as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def routes(t, victim):
    """(name, args maker, what may happen) for every route option an attacker could add.
    The maker starts the attacker servers the route needs and returns argv options."""
    pin = '--tls-fingerprint=' + t.evil_pin

    def port_pin():
        e = t.evil_server('evil-starttls')
        return ['--port=%d' % e.port, pin]

    def port():
        e = t.evil_server('evil-starttls')
        return ['--port=%d' % e.port]

    def host_user():
        e = t.evil_server('evil-starttls')
        return ['--host=localhost', '--user=%s' % VICTIM_USER, '--port=%d' % e.port, pin,
                '-f', 'victim@example.test']

    def host_user_127():
        e = t.evil_server('evil-starttls')
        return ['--host=127.0.0.1', '--user=%s' % VICTIM_USER, '--port=%d' % e.port,
                '--tls-certcheck=off', '-f', 'victim@example.test']

    def proxy_pin():
        e = t.evil_server('evil-starttls')
        p = t.evil_proxy('evil-socks5-divert', mode='divert', divert=('127.0.0.1', e.port))
        return ['--proxy-host=127.0.0.1', '--proxy-port=%d' % p.port, pin]

    def proxy():
        p = t.evil_proxy('evil-socks5-forward', mode='forward')
        return ['--proxy-host=127.0.0.1', '--proxy-port=%d' % p.port]

    def socket_pin():
        u = t.evil_server('evil-unix', unix=True)
        return ['--socket=%s' % u.unix, pin]

    def socket_():
        u = t.evil_server('evil-unix', unix=True)
        return ['--socket=%s' % u.unix]

    def certcheck_off():
        e = t.evil_server('evil-starttls')
        return ['--port=%d' % e.port, '--tls-certcheck=off']

    def tls_off():
        e = t.evil_server('evil-plain', mode='plain')
        return ['--port=%d' % e.port, '--tls=off']

    def starttls_off():
        e = t.evil_server('evil-implicit', mode='implicit')
        return ['--port=%d' % e.port, '--tls-starttls=off', pin]

    def auth_off():
        e = t.evil_server('evil-starttls')
        return ['--port=%d' % e.port, pin, '--auth=off']

    return [
        ('--port + --tls-fingerprint', port_pin, 'refused'),
        ('--port', port, 'refused'),
        ('--host=localhost --user (account from argv)', host_user, 'refused'),
        ('--host=127.0.0.1 --user --tls-certcheck=off', host_user_127, 'refused'),
        ('--proxy-host/--proxy-port (diverting) + --tls-fingerprint', proxy_pin, 'refused'),
        ('--proxy-host/--proxy-port (forwarding)', proxy, 'refused'),
        ('--socket + --tls-fingerprint', socket_pin, 'refused'),
        ('--socket', socket_, 'refused'),
        ('--tls-fingerprint alone', lambda: [pin], 'refused'),
        ('--port + --tls-certcheck=off', certcheck_off, 'refused'),
        ('--port + --tls=off', tls_off, 'refused'),
        ('--port + --tls-starttls=off + --tls-fingerprint', starttls_off, 'refused'),
        ('--tls-starttls=off alone', lambda: ['--tls-starttls=off'], 'refused'),
        ('--source-ip', lambda: ['--source-ip=127.0.0.1'], 'refused'),
        ('--tls-host-override', lambda: ['--tls-host-override=localhost'], 'refused'),
        ('--tls-priorities', lambda: ['--tls-priorities=NORMAL'], 'refused'),
        ('--protocol=lmtp', lambda: ['--protocol=lmtp'], 'refused'),
        ('--tls-trust-file=system', lambda: ['--tls-trust-file=system'], 'refused'),
        ('--port + --tls-fingerprint + --auth=off', auth_off, 'secretless'),
    ]


def main():
    t = alib.Test('sec41', SECRETS)
    source = t.case
    secret = SECRETS[source]
    victim = t.victim_server()
    log = victim_setup(t, source, victim.port)

    # The victim's own run: the source works and its secret reaches the victim's server.
    r = t.run(['rcpt@example.test'], stdin=t.message('victim control'))
    t.ok(r.rc == 0, 'control: the victim\'s own run delivers with the %s secret' % source, r)
    t.ok(secret in victim.text(), 'control: the victim\'s server got the %s secret' % source,
         'the victim server saw: %s' % victim.text()[-1500:])
    if source == 'oauth-cache':
        cache = os.path.join(t.home, '.cache', 'postie', 'oauth2', 'default')
        t.ok(os.path.exists(cache), 'control: the OAuth token was cached at %s' % cache)

    for name, make, expect in routes(t, victim):
        t.fresh_attackers()
        before_victim = victim.connections
        before_log = lines_of(log) if log else 0
        args = make()
        r = t.run(args + ['rcpt@example.test'], stdin=t.message('attacker ' + name))
        what = '%s secret, attacker adds %s' % (source, name)
        if expect == 'refused':
            if t.exit_is(RULE, what, r, 64):
                t.ok('define an account' in r.err,
                     '%s: %s: the refusal says to define an account in the profile'
                     % (RULE, what), r)
            t.no_connection(RULE, what)
            t.ok(victim.connections == before_victim,
                 '%s: %s: refused before connecting (no connection to the victim\'s server '
                 'either)' % (RULE, what),
                 'the victim\'s server got %d connection(s)' % (victim.connections -
                                                               before_victim))
            if log:
                t.ok(lines_of(log) == before_log,
                     '%s: %s: the %s source was not consulted' % (RULE, what, source),
                     'its command ran %d time(s)' % (lines_of(log) - before_log))
        else:
            t.exit_is(RULE, what, r, (0, 64))
            auth = [c for a in t.attackers if hasattr(a, 'commands') for c in a.commands
                    if c.upper().startswith('AUTH')]
            t.ok(not auth, '%s: %s: no AUTH command reached the attacker' % (RULE, what),
                 'AUTH commands: %s' % auth)
        t.no_leak(RULE, what)
    t.finish()


if __name__ == '__main__':
    main()
