#!/usr/bin/env python3
# run.py POSTIE CASE: DKIM signing (issue 14), checked by an independent verifier: Debian's
# python3-dkim (dkimpy), with the public key handed to it by a DNS stub. The real postie
# sends to tests/lib/fakesmtp.py's sink, which records each message as received; dkimpy
# verifies what was recorded.
#   ed25519-data ed25519-bdat rsa-data rsa-bdat   every edge case below, one key type, DATA
#                     or BDAT (the sink offers CHUNKING): LF and CRLF input, trailing WSP and
#                     WSP runs, empty lines at the end, folded headers, an 8-bit body, lines
#                     starting with '.' (with -i, and without it: the "." line ends the
#                     message), no final newline, no body, a body past the read-ahead,
#                     From/Date/Message-ID added and Bcc removed before signing, a
#                     dkim_headers list, queue off. Each also with negative controls: the
#                     body, a signed field, or a second From changed after the fact fails.
#   queue             a 451 at the end of the data queues the message; `postie -q` sends the
#                     stored bytes, whose signature still verifies; and postie -bs signs.
#   dns               postie --check looks the DKIM record up (issue 14) through the system
#                     resolver, which asks a fake DNS server (tests/lib/fakedns.py) in private
#                     network and mount namespaces (root; else skipped): Ed25519 and RSA
#                     records that match (RSA's split into 255-byte character-strings, one
#                     cut anywhere with whitespace), NXDOMAIN, no TXT, another key, revoked,
#                     another type, two records, control bytes, malformed answers
#                     (truncated, a compression loop, huge lengths and counts), no answer
#                     (bounded at 2 s whatever resolv.conf asks): one ok line or a warning
#                     each, never an error.
#   refused           an RSA key under 2048 bits, a key others may read, a key that is no
#                     key, no dkim_selector, no From domain: each refused (exit 78 or 65)
#                     before any connection.
# The key pair comes from certtool, and the DNS record from the documented line
# (postie.conf(5), dkim_key): certtool --load-privkey KEY --pubkey-info --outder | base64
# (Ed25519: the last 32 bytes of it, RFC 8463 §4).
#   meson test -C build --suite dkim
#   /usr/bin/python3 tests/dkim/run.py build/cmd/postie ed25519-data

import os
import re
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import postietest  # noqa: E402
import dkimtest  # noqa: E402
from dkimtest import EDGES, split, signature_tags  # noqa: E402

# dkimpy is a Debian package: a Python from elsewhere (pyenv) may lack it.
dkimtest.system_python()

import fakedns  # noqa: E402
import fakesmtp  # noqa: E402

CASES = ('ed25519-data', 'ed25519-bdat', 'rsa-data', 'rsa-bdat', 'queue', 'refused', 'check',
         'dns')
DOMAIN = 'example.test'
SELECTOR = 'sel'


class Test(postietest.Tap):
    def __init__(self, case):
        super().__init__('dkim-' + case)
        self.postie = os.path.abspath(sys.argv[1])
        self.case = case
        if dkimtest.dkim is None:
            self.skip_all('python3-dkim is not installed (tests/install-deps.sh)')
        if shutil.which('certtool') is None:
            self.skip_all('certtool is not installed (gnutls-bin)')
        self.tmpdir = postietest.TempDir('dkim-%s' % case)
        self.tmp = self.tmpdir.path
        self.home = os.path.join(self.tmp, 'home')
        self.env = postietest.private_env(self.home)
        self.sink = fakesmtp.Sink(os.path.join(self.tmp, 'sink'), deadline=300,
                                  chunking=case.endswith('-bdat'))
        self.seen = 0

    def key(self, kind, bits=2048, mode=0o600):
        """A private key file (KIND ed25519 or rsa) and its DNS TXT record."""
        return dkimtest.make_key(self.tmp, kind, bits, mode)

    def profile(self, key, extra='', queue=True, selector=SELECTOR):
        path = os.path.join(self.env['XDG_CONFIG_HOME'], 'postie', 'config')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = ('defaults\ntls off\nqueue %s\nqueue_dir %s\n\n'
                'account default\nhost 127.0.0.1\nport %d\nfrom sender@example.test\n'
                'dkim_key %s\n%s%s'
                % ('on' if queue else 'off', os.path.join(self.tmp, 'queue'), self.sink.port,
                   key, 'dkim_selector %s\n' % selector if selector else '', extra))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def run(self, args, stdin):
        r = subprocess.run([self.postie] + args, input=stdin, capture_output=True,
                           env=self.env, timeout=120, cwd=self.tmp)
        r.err = r.stderr.decode('utf-8', 'replace')
        return r

    def received(self):
        """The messages the sink took since the last call, as bytes."""
        self.sink.wait_idle()
        out = []
        with self.sink.lock:
            recs = self.sink.messages[self.seen:]
            self.seen = len(self.sink.messages)
        for rec in recs:
            with open(os.path.join(self.sink.dir, 'msg-%04d.eml' % rec['seq']), 'rb') as f:
                out.append(f.read())
        return out

    def finish(self):
        self.sink.stop()
        status = self.plan()
        self.tmpdir.end(self.failed)
        sys.exit(status)


def verify(msg, record):
    return dkimtest.verify(msg, record, SELECTOR, DOMAIN)


def edges(t, kind):
    key, rec = t.key(kind)
    for name, text, args, extra in EDGES:
        t.profile(key, extra, queue=name != 'queue-off')
        r = t.run(['-t'] + args if 'To:' in text else args + ['r@example.test'],
                  text.encode('utf-8'))
        got = t.received()
        if not t.ok(r.returncode == 0 and len(got) == 1, '%s: sent (exit %s)' %
                    (name, r.returncode), r.err):
            continue
        m = got[0]
        t.ok(m.startswith(b'DKIM-Signature: '), '%s: the signature comes first' % name,
             m[:200])
        lines = split(m)[0].split(b'\r\n')
        sig = lines[:1] + [x for x in lines[1:] if x[:1] == b'\t'][:len(lines)]
        sig = sig[:next((i for i, x in enumerate(lines[1:], 1) if x[:1] != b'\t'), 1)]
        t.ok(len(sig) > 1 and all(len(x.expandtabs(8)) <= 78 for x in sig),
             '%s: the signature field is folded at 78 columns' % name, sig)
        tags = signature_tags(m)
        t.ok(tags.get('a') == ('ed25519-sha256' if kind == 'ed25519' else 'rsa-sha256') and
             tags.get('c') == 'relaxed/relaxed' and tags.get('d') == DOMAIN and
             tags.get('s') == SELECTOR, '%s: a=, c=, d=, s= as configured' % name, tags)
        h = tags.get('h', '').split(':')
        t.ok(h.count('from') == split(m)[0].lower().count(b'\r\nfrom:') + 1,
             '%s: From is oversigned (h= names it once more than present)' % name, tags)
        t.ok(verify(m, rec), '%s: dkimpy verifies the signature' % name, m[:1500])
        head, body = split(m)
        # Negative controls: the verifier really checks the body and the fields.
        t.ok(not verify(head + b'\r\n\r\n' + body + b'tampered\r\n', rec),
             '%s: a body with a line added fails' % name)
        bad = m.replace(b'\r\nSubject:', b'\r\nSubject: X', 1) if b'\r\nSubject:' in m \
            else None
        if bad is not None:
            t.ok(not verify(bad, rec), '%s: a changed Subject fails' % name)
        t.ok(not verify(head + b'\r\nFrom: evil@example.test\r\n\r\n' + body, rec),
             '%s: a second From added fails (oversigned)' % name)
        if name == 'dots-end':
            t.ok(b'not sent' not in m and b'\r\n..two\r\n' in m and b'\r\n.\r\n' not in m,
                 'dots-end: the message ends at the "." line, dots unstuffed', m[-200:])
        if name == 'dots-i':
            t.ok(b'\r\n.\r\nafter\r\n' in m, 'dots-i: the "." line is data with -i', m[-200:])
        if name == 'added-fields':
            t.ok(b'\r\nbcc:' not in head.lower() and 'date' in h and 'message-id' in h,
                 'added-fields: Bcc removed, the added Date and Message-ID signed', tags)
        if name == 'headers-list':
            t.ok(h == ['from', 'from', 'subject', 'x-mine'],
                 'headers-list: h= is dkim_headers, From oversigned', tags)
        if name == 'big':
            t.ok(len(body) > 3 * 1024 * 1024, 'big: the whole body was sent', len(body))
    with t.sink.lock:
        verbs = {c.split(b' ')[0].upper() if isinstance(c, bytes) else c.split(' ')[0].upper()
                 for c in t.sink.commands}
    bdat = t.case.endswith('-bdat')
    t.ok(('BDAT' in verbs) == bdat and ('DATA' in verbs) != bdat,
         'the messages went by %s' % ('BDAT' if bdat else 'DATA'), verbs)


def queue(t):
    key, rec = t.key('ed25519')
    t.profile(key)
    t.sink.configure(refuse=1, refuse_at='dot')
    r = t.run(['r@example.test'],
              b'From: a@example.test\nSubject: retry\n\nbody  \n\n')
    t.ok(r.returncode == 0 and 'queued as' in r.err, 'a 451 at the end queues the message',
         r.err)
    first = t.received()
    t.ok(not first, 'nothing delivered the first time')
    refused = [x for x in os.listdir(t.sink.dir) if x.endswith('.eml')]
    r = t.run(['-q'], b'')
    got = t.received()
    t.ok(r.returncode == 0 and len(got) == 1, 'postie -q sends the queued entry', r.err)
    if got:
        t.ok(got[0].startswith(b'DKIM-Signature: ') and got[0].count(b'DKIM-Signature:') == 1,
             'the queued message carries its signature, once', got[0][:300])
        t.ok(verify(got[0], rec), 'the queued signature verifies after the retry', got[0])
        # Not signed again at the flush: the refused first attempt carried the same b=.
        b = signature_tags(got[0]).get('b', '')
        with t.sink.lock:
            raw = bytes(t.sink.raw)
        first = raw.replace(b'\r\n\t', b'').count(b'b=' + b[:40].encode())
        t.ok(len(b) > 40 and first == 2,
             'the retry sent the very signature of the first attempt (stored, not re-signed)',
             first)
    t.note('sink files: %s' % refused)
    # -bs: the message arrives dot-stuffed over SMTP on stdin; it is signed as delivered.
    r = t.run(['-bs'], b'EHLO client.test\r\nMAIL FROM:<sender@example.test>\r\n'
              b'RCPT TO:<r@example.test>\r\nDATA\r\nFrom: a@example.test\r\n'
              b'Subject: bs\r\n\r\n..dotted\r\nbody\r\n.\r\nQUIT\r\n')
    got = t.received()
    t.ok(r.returncode == 0 and len(got) == 1, 'postie -bs delivers one message', r.err)
    if got:
        t.ok(got[0].startswith(b'DKIM-Signature: ') and b'\r\n.dotted\r\n' in got[0],
             '-bs: signed, the SMTP dot-stuffing undone before signing', got[0])
        t.ok(verify(got[0], rec), '-bs: the signature verifies', got[0])


def refused(t):
    msg = b'From: a@example.test\nSubject: x\n\nbody\n'
    weak, _ = t.key('rsa', bits=1024)
    cases = [('rsa-1024', weak, SELECTOR, 78, 'at least 2048')]
    open_key, _ = t.key('ed25519', mode=0o644)
    cases.append(('key-others-read', open_key, SELECTOR, 78, 'chmod 600'))
    junk = os.path.join(t.tmp, 'junk.pem')
    with open(junk, 'w') as f:
        f.write('-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n')
    os.chmod(junk, 0o600)
    cases.append(('not-a-key', junk, SELECTOR, 78, 'load dkim_key'))
    good, _ = t.key('ed25519', bits=1)
    cases.append(('no-selector', good, None, 78, 'no dkim_selector'))
    for name, key, selector, status, words in cases:
        t.profile(key, selector=selector if selector is None else SELECTOR)
        r = t.run(['r@example.test'], msg)
        t.ok(r.returncode == status and words in r.err,
             '%s: refused with exit %d saying "%s"' % (name, status, words),
             'exit %s: %s' % (r.returncode, r.err))
    # No From to take d= from (set_from_header off, none in the message): 65, nothing sent.
    t.profile(good, 'set_from_header off\n')
    r = t.run(['r@example.test'], b'Subject: no from\n\nbody\n')
    t.ok(r.returncode == 65 and 'From' in r.err,
         'no From field and no dkim_domain: refused with 65', 'exit %s: %s' % (r.returncode, r.err))
    named = t.profile(good)
    r = t.run(['--dkim-key=' + good, 'r@example.test'], msg)
    t.ok(r.returncode != 0, 'the command line cannot name a DKIM key', r.err)
    # SEC-43: a profile a caller wrote elsewhere must not make postie sign with the user's
    # key (a signing oracle for the user's domain).
    other = os.path.join(t.tmp, 'caller.conf')
    with open(named) as f, open(other, 'w') as g:
        g.write(''.join(x for x in f if not x.startswith('queue_dir')))
    os.chmod(other, 0o600)
    r = t.run(['-C', other, 'r@example.test'], msg)
    t.ok(r.returncode == 78 and "'dkim_key' is not taken from a profile that -C names" in r.err,
         'a profile -C names outside the config folder may not set dkim_key (SEC-43)', r.err)
    t.ok(t.sink.connections == 0, 'nothing connected to the server')


def check(t):
    """postie --check: the key loads as a send loads it, and the TXT record its line gives is
    the one that verifies what postie signs (the record dkimpy gets is the line's, not the
    certtool one); an unusable key or no selector fails the check as a send would fail."""
    msg = b'From: a@example.test\nSubject: x\n\nbody\n'
    for kind in ('ed25519', 'rsa'):
        key, rec = t.key(kind)
        t.profile(key)
        r = t.run(['--check'], b'')
        out = r.stdout.decode('utf-8', 'replace')
        m = re.search(r'^ok +DKIM: (\S+) key .*; publish %s\._domainkey\.(\S+) TXT "([^"]+)"$'
                      % SELECTOR, out, re.M)
        t.ok(r.returncode == 0 and m and m.group(1) == {'ed25519': 'Ed25519', 'rsa': 'RSA'}[kind] and
             m.group(2) == 'example.test',
             '%s: --check has a DKIM line naming the key type, selector and the From domain'
             % kind, out)
        t.ok(m and m.group(3).encode() == rec,
             '%s: the record --check prints is the one the documented certtool line makes'
             % kind, '%s\n%s' % (out, rec))
        r = t.run(['r@example.test'], msg)
        got = t.received()
        t.ok(m and r.returncode == 0 and len(got) == 1 and verify(got[0], m.group(3).encode()),
             '%s: with the record --check printed, dkimpy verifies what postie signs' % kind,
             r.err)
    junk = os.path.join(t.tmp, 'junk.pem')
    with open(junk, 'w') as f:
        f.write('-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n')
    os.chmod(junk, 0o600)
    good, _ = t.key('ed25519', bits=1)
    loose, _ = t.key('ed25519', bits=2, mode=0o644)
    for name, key, selector, words in (('not a key', junk, SELECTOR, 'load dkim_key'),
                                       ('others may read it', loose, SELECTOR, 'chmod 600'),
                                       ('no selector', good, None, 'no dkim_selector')):
        t.profile(key, selector=selector)
        r = t.run(['--check'], b'')
        out = r.stdout.decode('utf-8', 'replace')
        t.ok(r.returncode == 78 and re.search(r'^error +DKIM: .*%s' % re.escape(words), out,
                                              re.M) and 'failed at DKIM' in out,
             '--check, %s: "error DKIM" saying "%s", exit 78, as a send' % (name, words), out)
    t.ok(t.sink.connections == 4, 'two whole checks and two sends connected; a check that '
         'failed at DKIM connected nowhere', t.sink.connections)


def dns(t):
    """postie --check looks sel._domainkey.example.test up through the system resolver, which
    asks a fake DNS server of the test's (fakedns: private network and mount namespaces, a
    private /etc/resolv.conf), and compares what it finds with the key. Every outcome but a
    match is a warning, never an error: each check must still end "ok: account default can
    send" with exit 0, having connected to the sink."""
    name = '%s._domainkey.%s' % (SELECTOR, DOMAIN)
    ed, ed_rec = t.key('ed25519')
    rsa, rsa_rec = t.key('rsa')
    _, other_rec = dkimtest.make_key(t.tmp, 'ed25519', name='other.pem')
    resolv = fakedns.Resolv('nameserver 127.0.0.1\n')
    table = {}
    server = fakedns.Server(table, deadline=600)

    def check(what, key, answer, mark, words, limit=60):
        """--check with ANSWER at the name: its DKIM record line is MARK with WORDS (a
        regular expression), the run ends ok with exit 0. Returns (stdout, seconds)."""
        table.pop(name, None)
        if answer is not None:
            table[name] = answer
        t.profile(key)
        t0 = time.monotonic()
        try:
            r = subprocess.run([t.postie, '--check'], capture_output=True, env=t.env,
                               timeout=limit, cwd=t.tmp)
        except subprocess.TimeoutExpired:
            t.ok(False, '%s: --check ends within %d s' % (what, limit))
            return '', limit
        took = time.monotonic() - t0
        out = r.stdout.decode('utf-8', 'replace')
        m = re.search(r'^(ok|warning) +DKIM record %s: (.*)$' % re.escape(name), out, re.M)
        if m:
            t.note(m.group(0)[:300])
        t.ok(m and m.group(1) == mark and re.search(words, m.group(2)) and r.returncode == 0 and
             re.search(r'^result +ok: account default can send', out, re.M),
             '%s: "%s DKIM record %s: %s", exit 0' % (what, mark, name, words),
             '%s\n%s' % (out, r.stderr.decode('utf-8', 'replace')))
        return out, took

    p = ed_rec.split(b'p=')[1]
    pieces = fakedns.split(rsa_rec)
    t.ok(len(rsa_rec) > 255 and len(pieces) > 1,
         'the RSA record (%d bytes) takes %d character-strings' % (len(rsa_rec), len(pieces)))
    before = len(server.queries)
    check('Ed25519, the record --check prints', ed, [[ed_rec]], 'ok', '^matches the key$')
    t.ok((name, fakedns.TXT) in server.queries[before:],
         'postie asked the fake server for the TXT record of %s' % name, server.queries)
    check('RSA, the record in 255-byte character-strings', rsa, [pieces], 'ok',
          '^matches the key$')
    check('Ed25519, cut inside DKIM1, ed25519 and p=, whitespace around tags and in p=', ed,
          [[b' v=DK', b'IM1; k = ed', b'25519 ;', b'p=' + p[:7], b' \t' + p[7:20], b'',
            p[20:] + b' ;']], 'ok', '^matches the key$')
    check('no such name (NXDOMAIN)', ed, None, 'warning',
          '^no such name in the DNS; publish the record above')
    check('the name has no TXT record', ed, [], 'warning',
          '^no TXT record there; publish the record above')
    check('another key', ed, [[other_rec]], 'warning',
          '^p= is another ed25519 key; the DNS has "%s"' % re.escape(other_rec.decode()))
    check('revoked (p= empty)', ed, [[b'v=DKIM1; k=ed25519; p=']], 'warning',
          '^p= is empty: the key of this selector is revoked; .*publish the record above')
    check('another type: the RSA record for the Ed25519 key', ed, [pieces], 'warning',
          '^k=rsa, but the key is k=ed25519')
    check('two records, one of them the key', ed, [[ed_rec], [other_rec]], 'warning',
          'p= is another ed25519 key; .* among other TXT records')
    out, _ = check('terminal control bytes in the record', ed,
                   [[b'v=DKIM1; k=ed25519; n=\x1b[2J\x1b]0;owned\x07; p=' + p]], 'warning',
                   r'^not a DKIM key record: .*printable ASCII.*\\x1B\[2J\\x1B\]0;owned\\x07')
    t.ok('\x1b' not in out and '\x07' not in out,
         'the record\'s control bytes are shown escaped, none reaches the terminal', repr(out))

    # Malformed answers: the resolver hands them over; postie's parser refuses them.
    def own(q):
        return 12 + len(fakedns.parse_query(q)[4])
    hostile = [
        ('a truncated answer',
         lambda q: fakedns.reply(q, answers=[fakedns.record([ed_rec])])[:-20]),
        ('an owner name pointing to itself (a compression loop)',
         lambda q: fakedns.reply(q, answers=[fakedns.record(
             [ed_rec], owner=struct.pack('!H', 0xc000 | own(q)))])),
        ('RDLENGTH 65535',
         lambda q: fakedns.reply(q, answers=[fakedns.record([ed_rec], rdlen=0xffff)])),
        ('a character-string of 255 bytes in a record of 6',
         lambda q: fakedns.reply(q, answers=[fakedns.record([b'short'], rdlen=6)[:-6] +
                                             b'\xffshort'])),
        ('ANCOUNT 65535 with one record',
         lambda q: fakedns.reply(q, answers=[fakedns.record([ed_rec])], count=0xffff)),
    ]
    for what, fn in hostile:
        check(what, ed, fn, 'warning', '^could not look up: .*malformed')

    # No answer: the resolv.conf asks for 30 s and 5 attempts; postie's own bound (2 s, one
    # attempt) holds. Without it the check would wait 150 s (30 s with one attempt, 10 s with
    # the 2 s and 5 attempts); 8 s leaves room for a slow machine.
    resolv.write('nameserver 127.0.0.1\noptions timeout:30 attempts:5\n')
    _, took = check('the server does not answer', ed, 'silent', 'warning',
                    '^could not look up: no answer from the resolver')
    t.ok(took < 8, 'no answer: --check ended in %.1f s, under 8 s (30 s x 5 asked, 2 s x 1 '
         'taken)' % took)
    server.stop()
    resolv.close()


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        sys.exit('usage: run.py POSTIE {%s}' % '|'.join(CASES))
    case = sys.argv[2]
    if case == 'dns' and not fakedns.inside():
        why = fakedns.why_not()
        if why:
            postietest.Tap.skip_all('the dns case: %s' % why)
        fakedns.reexec()
    t = Test(case)
    if case == 'queue':
        queue(t)
    elif case == 'refused':
        refused(t)
    elif case == 'check':
        check(t)
    elif case == 'dns':
        dns(t)
    else:
        edges(t, case.split('-')[0])
    t.finish()


if __name__ == '__main__':
    main()
