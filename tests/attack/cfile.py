#!/usr/bin/env python3
# cfile.py POSTIE SOURCE: SEC-41 for a profile the attacker wrote. The caller writes a
# private profile of its own (mode 0600, owned by the user, outside the user's config
# directory) whose account has the victim's name, host and user but the attacker's port and
# pin, and runs `postie -C THAT-FILE`. Secrets looked up by account, host or user are bound
# to the user's own profile: ~/.netrc (netrc), $CREDENTIALS_DIRECTORY/postie.ACCOUNT
# (credentials), the keyring (keyring) and the OAuth token cache (oauth-cache) must not serve
# it: exit 78 before connecting, nothing secret at the attacker, secret-tool not asked.
# Controls: the victim's own run, and `-C` naming the user's own profile, both deliver.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402
from alib import SECRETS, VICTIM_USER  # noqa: E402
from sec41 import lines_of, victim_setup  # noqa: E402

RULE = 'SEC-41'
CASES = ('netrc', 'credentials', 'keyring', 'oauth-cache')


def main():
    t = alib.Test('cfile', CASES)
    source = t.case
    secret = SECRETS[source]
    victim = t.victim_server()
    log = victim_setup(t, source, victim.port)

    r = t.run(['rcpt@example.test'], stdin=t.message('victim control'))
    t.ok(r.rc == 0 and secret in victim.text(),
         'control: the victim\'s own run delivers with the %s secret' % source, r)
    if source != 'oauth-cache':
        # -C naming the user's own profile is the user's profile (the token command of
        # oauth-cache runs only once, so this control is for the other sources).
        before = victim.connections
        r = t.run(['-C', t.user_profile, 'rcpt@example.test'],
                  stdin=t.message('victim control with -C'))
        t.ok(r.rc == 0 and victim.connections == before + 1,
             'control: -C naming the user\'s own profile still uses the %s secret' % source,
             r)

    evil = t.evil_server('evil-starttls')
    lines = ['account default', 'host localhost', 'port %d' % evil.port,
             'tls_fingerprint %s' % t.evil_pin, 'from victim@example.test',
             'user %s' % VICTIM_USER, 'timeout 10']
    if source == 'oauth-cache':
        # The same command line as the victim's profile: the cache is keyed by host, user
        # and command, and must also be by profile file.
        lines += ['auth xoauth2', 'oauth2_token_command %s' % os.path.join(t.bin, 'oauthonce')]
    evil_profile = t.write(os.path.join(t.tmp, 'attacker', 'postie.conf'),
                           '\n'.join(lines) + '\n', 0o600)
    before_log = lines_of(log) if log else 0
    before_victim = victim.connections
    r = t.run(['-C', evil_profile, 'rcpt@example.test'], stdin=t.message('attacker -C'))
    what = '-C attacker profile (victim\'s account name and host, attacker\'s port and pin), ' \
        '%s secret' % source
    t.exit_is(RULE, what, r, 78)
    t.no_connection(RULE, what)
    t.ok(victim.connections == before_victim,
         '%s: %s: no connection to the victim\'s server' % (RULE, what))
    if source == 'keyring':
        t.ok(lines_of(log) == before_log, '%s: %s: secret-tool was not asked' % (RULE, what),
             'secret-tool ran %d time(s)' % (lines_of(log) - before_log))
    t.no_leak(RULE, what)
    t.finish()


if __name__ == '__main__':
    main()
