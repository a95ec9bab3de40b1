#!/usr/bin/env python3
# tests/system/setgid.py: issue 11's first slice end to end (SEC-45). A setgid postie is
# built and installed into a private prefix under the build dir (meson install sets the mode:
# the test runs as root), with a system profile root:GROUP 0640 that holds the system
# account's password; two throw-away system users send mail with it, and try to get at it.
#
#   python3 tests/system/setgid.py SOURCE_DIR WORK_DIR
#
# Skipped (77) when not root or without useradd/groupadd/setpriv/certtool/meson/ninja. The
# group and the users (random names) are removed at the end whatever happens; POSTIE_TEST_KEEP
# keeps the work folder.

import grp
import os
import pwd
import shutil
import signal
import stat
import sys
import time
import traceback

import sg_admin
import sg_dkim
import sg_attacks
import sg_queue
import sg_share
from sglib import (FILE_SECRET, OWN_SECRET, OWN_USER, SYS_SECRET, SYS_USER, TOOLS, World,
                   crlf, message, no_secret, out, spool_entries, tap)


def check_install(w):
    st = os.stat(w.postie)
    gid = grp.getgrnam(w.group).gr_gid
    tap.ok(stat.S_IMODE(st.st_mode) == 0o2755 and st.st_gid == gid,
           'meson install as root: postie is %s mode 2755' % w.group,
           'mode %04o gid %d; install said:\n%s' % (stat.S_IMODE(st.st_mode), st.st_gid,
                                                    w.install_out))


def check_units(w):
    """meson install with the group installs the system queue's units (root's postie -q of
    this very install) beside the user units."""
    want = 'ExecStart=%s -q' % w.postie
    found = {}
    for kind, name in (('system', 'postie-queue.service'), ('system', 'postie-queue.timer'),
                       ('user', 'postie-flush.service'), ('user', 'postie-flush.timer')):
        path = os.path.join(w.prefix, 'lib', 'systemd', kind, name)
        found[name] = open(path, encoding='utf-8').read() if os.path.exists(path) else None
    services = [found['postie-queue.service'], found['postie-flush.service']]
    tap.ok(all(v is not None for v in found.values()) and
           all(want in v.splitlines() for v in services),
           'meson install: the system queue\'s units (lib/systemd/system/postie-queue.*) and '
           'the user units, running the installed postie', repr(found))


def check_php(w, sysink):
    """PHP's mail() (sendmail_path "postie -t -i") as www-data (HOME=/var/www, no profile of
    its own; a throwaway user where there is no www-data): the system account sends it."""
    if not shutil.which('php'):
        tap.ok(True, 'PHP mail() through the system account # SKIP no php')
        return
    try:
        user = pwd.getpwnam('www-data').pw_name  # Debian's web server user (base-passwd)
    except KeyError:
        user = w.users[0]
    n = len(sysink.bodies())
    code = ('exit(mail("rcpt@example.test", "from php", "Hello from PHP.\\n", '
            '"From: php@example.test") ? 0 : 1);')
    r = w.as_user(user, ['php', '-n', '-d', 'sendmail_path=%s -t -i' % w.postie, '-r', code],
                  home='/var/www')
    bodies = sysink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and b'Hello from PHP.' in bodies[-1] and
           b'Subject: from php' in bodies[-1] and
           '\0%s\0%s' % (SYS_USER, SYS_SECRET) in sysink.text(),
           'PHP mail() (-t -i) as %s: sent with the system account' % user, out(r))


def check_send(w, sysink, ownsink):
    u1, u2 = w.users
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(1))
    bodies = sysink.bodies()
    tap.ok(r.returncode == 0 and bodies and bodies[-1] == crlf(message(1)),
           'a user without a profile sends with the system account: the message arrives '
           'byte-exact', out(r))
    tap.ok('\0%s\0%s' % (SYS_USER, SYS_SECRET) in sysink.text(),
           'with the system account\'s AUTH PLAIN', out(r))
    n_sys = len(sysink.bodies())
    w.own_profile(u2, os.path.join(w.home2, '.config'), (
        'account default\nhost localhost\nport %d\ntls on\ntls_starttls on\n'
        'tls_trust_file %s\nfrom own@example.test\nauth plain\nuser %s\npassword %s\n'
        % (ownsink.port, w.ca, OWN_USER, OWN_SECRET)))
    os.chown(w.home2, pwd.getpwnam(u2).pw_uid, pwd.getpwnam(u2).pw_gid)
    os.chmod(w.home2, 0o700)
    r = w.as_user(u2, ['rcpt@example.test'], stdin=message(2), home=w.home2)
    own = ownsink.bodies()
    tap.ok(r.returncode == 0 and own and own[-1] == crlf(message(2)) and
           len(sysink.bodies()) == n_sys and '\0%s\0%s' % (OWN_USER, OWN_SECRET)
           in ownsink.text(), 'a user with its own profile uses its own account', out(r))
    r = w.as_user(u1, ['-a', 'pf', 'rcpt@example.test'], stdin=message(3))
    tap.ok(r.returncode == 0 and '\0pfuser\0%s' % FILE_SECRET in sysink.text(),
           'the system profile\'s password_file (root:GROUP 0640) is read with the group',
           out(r))


def check_commands(w, sysink, evil):
    """SEC-45: a setgid postie's system profile runs no command. With eval, a user's PATH
    (a fake echo) would make the system account's line, e.g. a host of the user's."""
    u1 = w.users[0]
    fake = os.path.join(w.dir, 'fakebin')
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, 'echo'), 'w', encoding='ascii') as f:
        f.write('#!/bin/sh\nprintf "port %d\\n"\n' % evil.port)
    os.chmod(os.path.join(fake, 'echo'), 0o755)
    os.chmod(fake, 0o755)
    for what, extra in (('eval', 'account ev\nhost localhost\nfrom ev@example.test\n'
                                 'auth plain\nuser evuser\npassword %s\neval echo port 1\n'
                                 % SYS_SECRET),
                        ('passwordeval', 'account ev\nhost localhost\nport %d\n'
                                         'from ev@example.test\nauth plain\nuser evuser\n'
                                         'passwordeval cat %s\n' % (sysink.port, w.pwfile))):
        w.system_profile(sysink.port, extra)
        n = len(sysink.bodies())
        r = w.as_user(u1, ['-a', 'ev', 'rcpt@example.test'], stdin=message(4),
                      env={'PATH': fake + ':/usr/sbin:/usr/bin:/sbin:/bin'})
        tap.ok(r.returncode != 0 and no_secret(out(r)) and 'system profile' in out(r) and
               not evil.bodies() and no_secret(evil.text()) and len(sysink.bodies()) == n,
               'a system profile with %s: refused for a user (nothing runs, nothing sent)'
               % what, out(r))
        r = w.as_user('root', ['-P', '-a', 'ev', 'rcpt@example.test'], stdin=message(4))
        tap.ok(r.returncode != 0 and 'runs no command' in out(r),
               'a system profile with %s: root is told it runs no command' % what, out(r))
    w.system_profile(sysink.port)


def check_attempts(w, sysink, evil):
    u1 = w.users[0]
    r = w.as_user(u1, ['cat', w.sysconf])
    tap.ok(r.returncode != 0 and no_secret(out(r)), 'the user cannot read the system profile')
    r = w.as_user(u1, ['cat', w.pwfile])
    tap.ok(r.returncode != 0 and no_secret(out(r)), 'nor its password_file')
    for args, what in ((['-C', w.sysconf, 'rcpt@example.test'], '-C naming it'),
                       (['-C', w.sysconf, '-P', 'rcpt@example.test'], '-C naming it, -P'),
                       (['-C', w.sysconf, '-v', 'rcpt@example.test'], '-C naming it, -v')):
        n = len(sysink.bodies())
        r = w.as_user(u1, args, stdin=message(5))
        tap.ok(r.returncode != 0 and no_secret(out(r)) and len(sysink.bodies()) == n,
               '%s: refused (opened with the caller\'s rights), no secret' % what, out(r))
    r = w.as_user(u1, ['-P', 'rcpt@example.test'], stdin=message(6))
    tap.ok(r.returncode == 0 and 'password = *' in out(r) and no_secret(out(r)),
           '--pretend shows the system account without its password', out(r))
    r = w.as_user(u1, ['-v', 'rcpt@example.test'], stdin=message(7))
    tap.ok(r.returncode == 0 and no_secret(out(r)), '-v: the transcript hides AUTH', out(r))
    r = w.as_user(u1, ['--serverinfo'])
    tap.ok(no_secret(out(r)), '--serverinfo shows no secret', out(r))
    n = len(sysink.bodies())
    r = w.as_user(u1, ['--check'])
    tap.ok(r.returncode == 0 and 'result   ok' in out(r) and no_secret(out(r)) and
           'password_file' not in out(r) and len(sysink.bodies()) == n,
           '--check: the system account\'s real login works for a user, shows no secret nor '
           'where it is kept, sends nothing', out(r))
    # The environment cannot move the system files or load code.
    prio = os.path.join(w.dir, 'prio')
    with open(prio, 'w', encoding='ascii') as f:
        f.write('[overrides]\ndisabled-version = tls1.2\ndisabled-version = tls1.3\n')
    os.chmod(prio, 0o644)
    n = len(sysink.bodies())
    # SSLKEYLOGFILE: TLS secrets written there would open the AUTH exchange to the user.
    keylog_dir = os.path.join(w.dir, 'keylog')
    os.makedirs(keylog_dir, exist_ok=True)
    os.chmod(keylog_dir, 0o1777)
    keylog = os.path.join(keylog_dir, 'keys')
    r = w.as_user(u1, ['-v', 'rcpt@example.test'], stdin=message(8), env={
        'LD_PRELOAD': '/nonexistent/evil.so', 'LD_LIBRARY_PATH': w.dir,
        'GNUTLS_SYSTEM_PRIORITY_FILE': prio, 'GNUTLS_DEBUG_LEVEL': '99',
        'GNUTLS_KEYLOGFILE': keylog, 'SSLKEYLOGFILE': keylog,
        'LOCALEDIR': w.dir, 'NLSPATH': w.dir + '/%N'})
    tap.ok(r.returncode == 0 and len(sysink.bodies()) == n + 1 and no_secret(out(r)) and
           not os.path.exists(keylog),
           'LD_*, GNUTLS_* (debug, priority file, key log), SSLKEYLOGFILE, LOCALEDIR, NLSPATH: '
           'no effect, no secret, no key log', out(r))
    cfg = os.path.join(w.dir, 'u1cfg')
    w.own_profile(u1, cfg, 'account system\nhost localhost\nport %d\nfrom x@example.test\n'
                  'tls on\ntls_starttls on\ntls_trust_file %s\nauth plain\nuser %s\n'
                  % (evil.port, w.ca, SYS_USER))
    r = w.as_user(u1, ['-a', 'system', 'rcpt@example.test'], stdin=message(9),
                  env={'XDG_CONFIG_HOME': cfg})
    tap.ok(no_secret(evil.text()) and no_secret(out(r)),
           'XDG_CONFIG_HOME: the user\'s own "account system" toward another server never '
           'gets the system password', out(r))
    shutil.rmtree(cfg)
    # A logfile in the user's own profile never opens with the group.
    logf = os.path.join(w.prefix, 'etc', 'group.log')
    w.group_file(logf, '', 0o660)
    cfg = os.path.join(w.dir, 'u1log')
    w.own_profile(u1, cfg, 'account default\nhost localhost\nport %d\ntls on\n'
                  'tls_starttls on\ntls_trust_file %s\nfrom own@example.test\nauth off\n'
                  'logfile %s\n' % (evil.port, w.ca, logf))
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(10), env={'XDG_CONFIG_HOME': cfg})
    tap.ok(os.path.getsize(logf) == 0, 'a logfile root:GROUP 0660 is not written (no group '
           'rights)', out(r))


def check_caches(w, sysink):
    """SEC-45: no cache of the system account's under the caller's home (a TLS session's
    secrets, an OAuth token); the caller's own account still has its TLS session cache."""
    u1, u2 = w.users
    home1 = os.path.join(w.dir, 'home1')
    os.makedirs(home1, exist_ok=True)
    pw = pwd.getpwnam(u1)
    os.chown(home1, pw.pw_uid, pw.pw_gid)
    os.chmod(home1, 0o700)
    n = len(sysink.bodies())
    for k in range(2):
        r = w.as_user(u1, ['rcpt@example.test'], stdin=message(30 + k), home=home1)
    cached = []
    for base, _, files in os.walk(os.path.join(home1, '.cache')):
        cached += [os.path.join(base, f) for f in files]
    tap.ok(r.returncode == 0 and len(sysink.bodies()) == n + 2 and not cached,
           'the system account leaves no cache in the caller\'s home (TLS session, OAuth '
           'token)', '%s %s' % (cached, out(r)))
    own = os.path.join(w.home2, '.cache', 'postie', 'tls')
    tap.ok(os.path.isdir(own) and os.listdir(own),
           'the caller\'s own account keeps its TLS session cache (control)',
           str(os.listdir(own) if os.path.isdir(own) else 'no %s' % own))


def check_dumpable(w):
    """Non-dumpable: /proc/PID/status belongs to root while postie waits for its message."""
    p = w.as_user(w.users[0], ['rcpt@example.test'], popen=True)
    owner = None
    try:
        for _ in range(50):
            time.sleep(0.1)
            try:
                with open('/proc/%d/cmdline' % p.pid, 'rb') as f:
                    if w.postie.encode() not in f.read():
                        continue
                owner = os.stat('/proc/%d/status' % p.pid).st_uid
                break
            except OSError:
                break
    finally:
        p.kill()
        p.communicate()
    tap.ok(owner == 0, 'postie is not dumpable (/proc/PID/status is root\'s): no core file',
           'owner %r' % owner)


def check_syntax_error(w, port):
    w.system_profile(port, extra='account broken\nport %s\n' % SYS_SECRET)
    r = w.as_user(w.users[0], ['rcpt@example.test'], stdin=message(11))
    tap.ok(r.returncode != 0 and no_secret(out(r)) and 'system profile' in out(r),
           'a syntax error in the system profile is not quoted to a user', out(r))
    w.system_profile(port)


def check_unsafe_profile(w, port):
    """A system profile that its group or a user may write holds no secret and runs no
    command for a setgid postie: root is told what to run, a user only that it is wrong."""
    u1 = w.users[0]
    gid = grp.getgrnam(w.group).gr_gid
    for owner, mode, what in ((0, 0o660, 'root:GROUP 0660'),
                              (pwd.getpwnam(u1).pw_uid, 0o640, 'a user\'s, 0640')):
        w.system_profile(port)
        os.chown(w.sysconf, owner, gid)
        os.chmod(w.sysconf, mode)
        r = w.as_user(u1, ['-a', 'pf', 'rcpt@example.test'], stdin=message(12))
        tap.ok(r.returncode != 0 and no_secret(out(r)) and 'system profile' in out(r),
               'system profile %s: its password and password_file are refused' % what, out(r))
        r = w.as_user('root', ['-P', 'rcpt@example.test'], stdin=message(12))
        tap.ok(r.returncode != 0 and 'chmod 640' in out(r) and no_secret(out(r)),
               'system profile %s: root is told what to run' % what, out(r))
    w.system_profile(port)


def check_tilde(w, sysink):
    """'~' in the system profile of a setgid postie is refused: it would be the caller's home,
    and the file is opened with the group. The attempt: a user's HOME holds a link `pw` to
    the group's password_file, and the system profile says `password_file ~/pw`."""
    u = w.users[1]
    pw = pwd.getpwnam(u)
    home = os.path.join(w.dir, 'tilde-home')
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o700)
    link = os.path.join(home, 'pw')
    if not os.path.lexists(link):
        os.symlink(w.pwfile, link)
        os.lchown(link, pw.pw_uid, pw.pw_gid)
    w.system_profile(sysink.port, extra='account tilde : pf\npassword_file ~/pw\n')
    try:
        with sysink.lock:
            seen = len(sysink.decoded)
        r = w.as_user(u, ['-a', 'tilde', 'rcpt@example.test'], stdin=message(14), home=home)
        with sysink.lock:
            got = '\n'.join(sysink.decoded[seen:])
        tap.ok(r.returncode == 78 and FILE_SECRET not in got and no_secret(out(r)),
               '~ in the system profile (password_file ~/pw, the user\'s HOME holding a link '
               'to the group\'s file): refused, 78, nothing read with the group, nothing sent',
               'exit %d: %s | server got: %s' % (r.returncode, out(r), got[-300:]))
        r = w.as_user('root', ['-P', '-a', 'tilde'])
        tap.ok(r.returncode == 78 and "'~' in command 'password_file'" in out(r),
               '~ in the system profile: root is told to write the whole path', out(r))
        # A file the caller's own rights open keeps msmtp's '~': the caller's own log.
        log = os.path.join(home, 'postie.log')
        w.system_profile(sysink.port, extra='account tildelog : system\nlogfile ~/postie.log\n')
        r = w.as_user(u, ['-a', 'tildelog', 'rcpt@example.test'], stdin=message(15), home=home)
        tap.ok(r.returncode == 0 and os.path.exists(log) and os.stat(log).st_uid == pw.pw_uid,
               '~ in the system profile\'s logfile: the caller\'s own log in its home', out(r))
    finally:
        w.system_profile(sysink.port)


def check_spool_install(w):
    gid = grp.getgrnam(w.group).gr_gid
    bad = []
    for sub in ('', 'tmp', 'queue', 'failed', 'corrupt'):
        st = os.stat(os.path.join(w.spool, sub))
        if st.st_uid != 0 or st.st_gid != gid or stat.S_IMODE(st.st_mode) != 0o1770:
            bad.append('%s: uid %d gid %d mode %04o' % (sub or '.', st.st_uid, st.st_gid,
                                                        stat.S_IMODE(st.st_mode)))
    tap.ok(not bad, 'meson install as root: the system queue and its folders are root:%s '
           'mode 1770' % w.group, '\n'.join(bad) + '\n' + w.install_out)


def check_system_queue(w, sysink):
    """Issue 11: the system spool. A user's message for the system account waits there, the
    user's own; another user (even holding the group) cannot read, remove or list it, nor
    flush it; root's postie -q (the system timer) delivers it."""
    u1, u2 = w.users
    pw1 = pwd.getpwnam(u1)
    before = set(spool_entries(w))
    sysink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(40))
    new = sorted(set(spool_entries(w)) - before)
    entry = os.path.join(w.spool, 'queue', new[0]) if len(new) == 1 else None
    owned = False
    if entry:
        st, sm = os.stat(entry), os.stat(os.path.join(entry, 'message'))
        owned = (st.st_uid == sm.st_uid == pw1.pw_uid and stat.S_IMODE(st.st_mode) == 0o700
                 and stat.S_IMODE(sm.st_mode) == 0o600)
    tap.ok(r.returncode == 0 and owned,
           'a temporary failure queues the user\'s message in the system queue: exit 0, an '
           'entry of the user\'s own (0700, message 0600)', '%s %s' % (new, out(r)))
    if not entry:
        return
    msgfile = os.path.join(entry, 'message')
    r = w.as_user(u2, ['cat', msgfile], with_group=True)
    tap.ok(r.returncode != 0 and b'Hello 40' not in r.stdout,
           'another user, even holding the group, cannot read it', out(r))
    r = w.as_user(u2, ['sh', '-c', 'rm -f "$1/message"; rm -rf "$1"; mv "$1" "$1.x"; exit 0',
                       'sh', entry], with_group=True)
    tap.ok(os.path.isfile(msgfile) and not os.path.exists(entry + '.x'),
           'nor remove or rename it (sticky, 0700)', out(r))
    r = w.as_user(u2, ['-bp'])
    r1 = w.as_user(u1, ['-bp'])
    tap.ok(new[0] not in out(r) and new[0] in out(r1),
           'mailq as another user does not list it (its owner\'s does)',
           'other:\n%s\nowner:\n%s' % (out(r), out(r1)))
    sysink.configure(refuse=0)
    n = len(sysink.bodies())
    r = w.as_user(u2, ['-q'])
    tap.ok(len(sysink.bodies()) == n and os.path.isfile(msgfile),
           'postie -q as another user does not send it', out(r))
    r = w.as_user('root', ['-q'])
    bodies = sysink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and bodies[-1] == crlf(message(40)) and
           not os.path.exists(entry),
           'postie -q as root (the system timer) delivers it byte-exact; the entry is gone',
           out(r))


def check_root_retry(w, sysink):
    """Root's postie -q that fails again rewrites the envelope: it stays the owner's, whose
    own postie -q then delivers it."""
    u1 = w.users[0]
    before = set(spool_entries(w))
    sysink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
    r = w.as_user(u1, ['rcpt@example.test'], stdin=message(42))
    new = sorted(set(spool_entries(w)) - before)
    r = w.as_user('root', ['-q'])
    entry = os.path.join(w.spool, 'queue', new[0]) if len(new) == 1 else '/nonexistent'
    env = os.path.join(entry, 'envelope')
    uid = os.stat(env).st_uid if os.path.exists(env) else None
    with open(env, encoding='utf-8') if uid is not None else open(os.devnull) as f:
        attempts = 'attempts 2' in f.read()
    tap.ok(uid == pwd.getpwnam(u1).pw_uid and attempts,
           'root\'s failed retry leaves the envelope its owner\'s', '%s uid %r %s' % (
               new, uid, out(r)))
    sysink.configure(refuse=0)
    n = len(sysink.bodies())
    r = w.as_user(u1, ['-q'])
    bodies = sysink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and bodies[-1] == crlf(message(42)) and
           not os.path.exists(entry), 'the owner\'s postie -q then delivers it', out(r))


def check_kill9(w, sysink):
    """A postie killed (-9) mid-transaction leaves its copy in the system queue's tmp/, its
    owner's: another user's postie -q leaves it alone, root's recovers and delivers it."""
    u1, u2 = w.users
    before = set(spool_entries(w, 'tmp'))
    sysink.configure(refuse=0, hold='dot')
    p = w.as_user(u1, ['rcpt@example.test'], popen=True)
    p.stdin.write(message(43))
    p.stdin.close()
    reached = sysink.wait_reached('dot', 20)
    p.kill()
    p.wait()
    left = sorted(set(spool_entries(w, 'tmp')) - before)
    entry = os.path.join(w.spool, 'tmp', left[0]) if len(left) == 1 else '/nonexistent'
    owner = os.stat(entry).st_uid if os.path.exists(entry) else None
    tap.ok(reached and owner == pwd.getpwnam(u1).pw_uid,
           'kill -9 mid-transaction: the copy stays in the system queue\'s tmp/, its owner\'s',
           '%s %r' % (left, owner))
    n = len(sysink.bodies())
    r = w.as_user(u2, ['-q'])
    tap.ok(len(sysink.bodies()) == n and os.path.exists(entry),
           'another user\'s postie -q leaves it alone', out(r))
    r = w.as_user('root', ['-q'])
    bodies = sysink.bodies()
    tap.ok(r.returncode == 0 and len(bodies) == n + 1 and bodies[-1] == crlf(message(43)) and
           not os.path.exists(entry) and left[0] not in spool_entries(w),
           'root\'s postie -q recovers it and delivers it once, byte-exact', out(r))


def check_spool_missing(w, sysink):
    """postie never makes the system queue: without it a temporary failure is 75, and the
    message says what root runs."""
    off = w.spool + '.off'
    os.rename(w.spool, off)
    try:
        sysink.configure(refuse=-1, refuse_at='mail', refuse_reply='451 4.3.0 sink: not now')
        r = w.as_user(w.users[0], ['rcpt@example.test'], stdin=message(41))
        sysink.configure(refuse=0)
        tap.ok(r.returncode == 75 and 'install -d -o root' in out(r) and
               not os.path.exists(w.spool),
               'without the system queue: not made by postie, exit 75, root is told what to '
               'run', out(r))
    finally:
        os.rename(off, w.spool)


def main():
    if len(sys.argv) != 3:
        print('usage: setgid.py SOURCE_DIR WORK_DIR', file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        tap.skip_all('not root')
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        tap.skip_all('missing: %s' % ' '.join(missing))
    os.umask(0o022)
    # meson's timeout sends SIGTERM: end through the finally below, which removes the users.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # A run started in the background by a shell without job control (`cmd &` in a script)
    # inherits SIGINT and SIGQUIT ignored (POSIX), and so would every postie it starts: the
    # attempts that send them (sg_attacks' core files) need what a user's own shell gives.
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    w = World(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    failed = True
    try:
        w.make_accounts()
        w.build()
        w.certs()
        sysink, ownsink, evil = w.sink('system'), w.sink('own'), w.sink('evil')
        w.system_profile(sysink.port)
        check_install(w)
        check_units(w)
        check_send(w, sysink, ownsink)
        check_php(w, sysink)
        check_commands(w, sysink, evil)
        check_attempts(w, sysink, evil)
        check_caches(w, sysink)
        check_dumpable(w)
        check_syntax_error(w, sysink.port)
        check_unsafe_profile(w, sysink.port)
        check_tilde(w, sysink)
        check_spool_install(w)
        check_system_queue(w, sysink)
        check_root_retry(w, sysink)
        sg_admin.run(w, sysink)
        sg_dkim.run(w, sysink)
        check_kill9(w, sysink)
        sg_queue.run(w, sysink)
        check_spool_missing(w, sysink)
        sg_share.run(w, sysink, ownsink)
        sg_attacks.run(w, sysink, evil)
        failed = tap.failed > 0
    except Exception:  # noqa: BLE001  (any failure ends the test, cleaned up)
        tap.ok(False, 'the scenario ran', traceback.format_exc())
    finally:
        w.end(failed)
    return tap.plan()


if __name__ == '__main__':
    sys.exit(main())
