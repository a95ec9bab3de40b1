#!/usr/bin/env python3
# dkim_postfix.py POSTIE (not dkim.py: a script's own name would shadow the dkim module)
#
# DKIM signing (issue 14) through the real Postfix + Dovecot SASL of server.sh, started for
# this test alone in its own temp dir and stopped at the end; checked by the independent
# verifier, Debian's python3-dkim (dkimpy), on the file Postfix delivered into the maildir
# (LF lines, its Return-Path:, Delivered-To: and Received: on top), the public key handed to
# dkimpy by a DNS stub. The keys come from certtool the way postie.conf(5) documents
# (tests/lib/dkimtest.py).
#   keys        Ed25519 (selector "ed") and RSA-2048 (selector "rsa"), d= the From domain
#               (postie.test where postie adds From from `from alice@postie.test`)
#   transports  STARTTLS + AUTH on the submission port, where Postfix offers CHUNKING: BDAT;
#               implicit TLS + AUTH on the smtps port, where this test has Postfix drop
#               CHUNKING from its EHLO reply (postconf -P smtpd_discard_ehlo_keywords, a
#               setting of that service alone): DATA. postie has no switch of its own to
#               send DATA to a server that offers CHUNKING and PIPELINING.
#   messages    every edge case of dkimtest.EDGES, for each key and transport: LF and CRLF
#               input, trailing WSP, empty lines at the end, folded fields, an 8-bit body,
#               lines starting with '.' (with -i, and the "." line that ends the input), no
#               final newline, no body, a body past 1 MiB, From/Date/Message-ID added and Bcc
#               removed, a dkim_headers list, queue off. The recipient is named on the
#               command line (no -t), one address per message, so each lands in its own
#               maildir.
# For each message: postie exits 0; one file is delivered; Postfix's Received: (with ESMTPSA)
# is above the signature; a=, d=, s= are the configured ones; dkimpy verifies the file as
# delivered; and the same file with one body byte changed fails (the negative control that
# shows the verifier checks). Postfix's log shows BDAT on every submission session and DATA
# on every smtps session.
# Exit: 0 passed, 1 failed, 77 skipped (not root; postfix, dovecot, certtool or python3-dkim
# missing). POSTIE_TEST_KEEP=1 (or =fail) keeps the temp dir (tests/lib/postietest.py).
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postfixtest  # noqa: E402  (the path is set just above)
import postietest  # noqa: E402
import dkimtest  # noqa: E402

SERVER = postfixtest.SERVER
PASSWORD = 's3cret pass'
DOMAIN = 'example.test'
SELECTORS = {'ed25519': 'ed', 'rsa': 'rsa'}
KINDS = ('ed25519', 'rsa')
MODES = ('bdat', 'data')
RECORDS = {}  # kind: its DNS TXT record, made by run()


def drop_chunking(srv, port, tap):
    """The smtps service (127.0.0.1:PORT) stops offering CHUNKING; reload, wait for the log."""
    etc = os.path.join(srv, 'etc')
    maillog = os.path.join(srv, 'maillog')

    def reloads():
        with open(maillog, encoding='utf-8', errors='replace') as f:
            return f.read().count('reload --')
    before = reloads()
    subprocess.run(['postconf', '-c', etc, '-P',
                    '127.0.0.1:%s/inet/smtpd_discard_ehlo_keywords=chunking' % port],
                   check=True)
    subprocess.run(['postfix', '-c', etc, 'reload'], check=True, capture_output=True)
    if postietest.wait_for(lambda: reloads() > before, timeout=10, step=0.1):
        time.sleep(0.5)  # the old smtpd processes finish leaving
        return True
    tap.note('no reload in %s after 10 s' % maillog)
    return False


def write_profile(path, env, pwfile, queue_dir, mode, key, selector, extra):
    port = env['SUBMISSION_PORT'] if mode == 'bdat' else env['SMTPS_PORT']
    text = ('account default\nhost 127.0.0.1\nport %s\ntls on\ntls_starttls %s\n'
            'tls_trust_file %s\nauth on\nuser alice\npassword_file %s\n'
            'from alice@postie.test\nqueue_dir %s\ndkim_key %s\ndkim_selector %s\n%s'
            % (port, 'on' if mode == 'bdat' else 'off', env['CA_FILE'], pwfile, queue_dir,
               key, selector, extra))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(text)


def delivered(root, rcpt):
    box = os.path.join(root, rcpt, 'new')
    try:
        return sorted(os.path.join(box, n) for n in os.listdir(box))
    except FileNotFoundError:
        return []


def check_message(tap, label, data, kind, name, domain):
    """The checks on one delivered file."""
    lines = data.split(b'\n')
    sig = next((i for i, x in enumerate(lines) if x.lower().startswith(b'dkim-signature:')),
               None)
    rec = next((i for i, x in enumerate(lines) if x.startswith(b'Received: ')), None)
    head = b'\n'.join(lines[:sig or 0])
    tap.ok(sig is not None and rec is not None and rec < sig and
           re.search(rb'by mx\.postie\.test \(Postfix\) with ESMTPSA', head),
           '%s: Postfix\'s Received: (ESMTPSA) sits above the signature' % label, data[:800])
    tags = dkimtest.signature_tags(data)
    want_a = 'ed25519-sha256' if kind == 'ed25519' else 'rsa-sha256'
    tap.ok(tags.get('a') == want_a and tags.get('c') == 'relaxed/relaxed' and
           tags.get('d') == domain and tags.get('s') == SELECTORS[kind],
           '%s: a=%s c=relaxed/relaxed d=%s s=%s' % (label, want_a, domain, SELECTORS[kind]),
           tags)
    tap.ok(dkimtest.verify(data, RECORDS[kind], SELECTORS[kind], domain),
           '%s: dkimpy verifies the delivered file' % label, data[:1500])
    tap.ok(not dkimtest.verify(dkimtest.tamper_body(data), RECORDS[kind], SELECTORS[kind],
                               domain, say=lambda x: None),
           '%s: the delivered file with one body byte changed fails' % label)
    body = data.partition(b'\n\n')[2]
    if name == 'big':
        tap.ok(len(body) > 1024 * 1024, '%s: the body past 1 MiB arrived whole (%d octets)'
               % (label, len(body)), len(body))
    if name == '8bit':
        tap.ok('Grüße — ünïcödé\n\xa0non'.encode('utf-8') in body,
               '%s: the 8-bit body arrived as sent (no conversion)' % label, body)
    if name == 'dots-i':
        tap.ok(body == b'.leading dot\n..two\n.\nafter\n',
               '%s: the lines starting with "." arrived unstuffed' % label, body)
    if name == 'dots-end':
        tap.ok(body == b'.leading dot\n..two\n', '%s: the message ended at the "." line'
               % label, body)
    if name == 'trailing-wsp':
        tap.ok(b'body  \t\n' in body, '%s: the trailing WSP arrived (Postfix kept it)' % label,
               body)


def run(postie, work, tap):
    srv = os.path.join(work, 'srv')
    home = os.path.join(work, 'home')
    r = subprocess.run([SERVER, 'start', srv], capture_output=True, text=True)
    if not tap.ok(r.returncode == 0, 'server.sh start', r.stdout + r.stderr):
        return
    env = postfixtest.read_env(srv)
    if not tap.ok(drop_chunking(srv, env['SMTPS_PORT'], tap),
                  'postfix reloaded with CHUNKING dropped on the smtps port'):
        return
    penv = postietest.private_env(home)
    cfgdir = os.path.join(penv['XDG_CONFIG_HOME'], 'postie')
    os.makedirs(cfgdir, exist_ok=True)
    keys = os.path.join(home, 'keys')
    os.makedirs(keys, mode=0o700)
    paths = {}
    for kind in KINDS:
        paths[kind], RECORDS[kind] = dkimtest.make_key(keys, kind)
    pwfile = os.path.join(home, 'password')
    with open(pwfile, 'w', encoding='ascii') as f:
        f.write(PASSWORD + '\n')
    os.chmod(pwfile, 0o600)
    profile = os.path.join(cfgdir, 'config')

    sent = []
    t0 = time.monotonic()
    for kind in KINDS:
        for mode in MODES:
            for name, text, args, extra in dkimtest.EDGES:
                rcpt = '%s-%s-%s@%s' % (name, kind, mode, DOMAIN)
                label = '%s %s %s' % (kind, mode.upper(), name)
                write_profile(profile, env, pwfile, os.path.join(work, 'queue'), mode,
                              paths[kind], SELECTORS[kind], extra)
                r = subprocess.run([postie] + args + [rcpt], input=text.encode('utf-8'),
                                   env=penv, capture_output=True, timeout=60)
                if tap.ok(r.returncode == 0, '%s: sent (exit %d)' % (label, r.returncode),
                          r.stderr.decode('utf-8', 'replace')):
                    domain = DOMAIN if 'From:' in text else 'postie.test'  # added by postie
                    sent.append((label, rcpt, kind, name, domain))
    tap.note('%d messages sent in %.1f s' % (len(sent), time.monotonic() - t0))

    root = env['MAIL_ROOT']
    postietest.wait_for(lambda: all(delivered(root, s[1]) for s in sent), timeout=30,
                        step=0.1)
    for label, rcpt, kind, name, domain in sent:
        files = delivered(root, rcpt)
        if not tap.ok(len(files) == 1, '%s: one file delivered' % label, files):
            continue
        with open(files[0], 'rb') as f:
            check_message(tap, label, f.read(), kind, name, domain)

    with open(env['MAILLOG'], encoding='utf-8', errors='replace') as f:
        log = f.read()
    per = {}
    for svc, counts in re.findall(r'postfix/(submissions?)/smtpd\[\d+\]: disconnect from '
                                  r'.* (ehlo=.*)$', log, re.M):
        per.setdefault(svc, []).append(counts)
    n = len(dkimtest.EDGES) * len(KINDS)
    sub, smtps = per.get('submission', []), per.get('submissions', [])
    tap.ok(len(sub) == n and all(' bdat=' in c and ' data=' not in c for c in sub),
           'Postfix logged %d submission sessions, each with BDAT and no DATA' % n,
           '\n'.join(sub))
    tap.ok(len(smtps) == n and all(' data=1 ' in c and ' bdat=' not in c for c in smtps),
           'Postfix logged %d smtps sessions, each with DATA and no BDAT' % n,
           '\n'.join(smtps))


def main():
    if len(sys.argv) != 2:
        print('usage: dkim_postfix.py POSTIE', file=sys.stderr)
        return 64
    postie = os.path.abspath(sys.argv[1])
    postfixtest.need_postfix()
    dkimtest.system_python()  # dkimpy is a Debian package: a pyenv Python lacks it
    if dkimtest.dkim is None:
        postietest.Tap.skip_all('python3-dkim is not installed (tests/install-deps.sh)')
    return postfixtest.run_scenario('interop-dkim', run, postie)


if __name__ == '__main__':
    sys.exit(main())
