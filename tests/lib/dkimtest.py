# dkimtest.py: what the DKIM tests share (tests/dkim against the fake sink, tests/interop/dkim.py
# against the real Postfix, tests/exim's dkim scenario against the real Exim).
#
#   dkim             Debian's python3-dkim (dkimpy), the independent verifier, or None when
#                    this Python lacks it; system_python() re-executes the running script with
#                    /usr/bin/python3 in that case (a pyenv Python has no Debian modules).
#   make_key         a private key with certtool and its DNS TXT record, made exactly as
#                    postie.conf(5) documents under dkim_key.
#   verify           dkimpy's verdict on the topmost DKIM-Signature, the public key handed to
#                    it by a DNS stub (no DNS is asked).
#   signature_tags   the tags of the first DKIM-Signature field.
#   tamper_body      the message with one body byte changed (a negative control).
#   EDGES            the canonicalisation edge cases every test sends.

import base64
import os
import re
import subprocess
import sys

try:
    import dkim
except ImportError:
    dkim = None

SYSTEM_PYTHON = '/usr/bin/python3'


def system_python():
    """Without dkimpy here, run this script again under /usr/bin/python3 (once)."""
    if dkim is None and os.path.exists(SYSTEM_PYTHON) and \
            os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
        sys.stdout.flush()
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)


def make_key(folder, kind, bits=2048, mode=0o600, name=None):
    """KIND ('ed25519' or 'rsa') key file in FOLDER and its TXT record (bytes), as documented:
    certtool --load-privkey KEY --pubkey-info --outder | base64 (Ed25519: its last 32 bytes,
    RFC 8463 §4)."""
    path = os.path.join(folder, name or '%s-%d.pem' % (kind, bits))
    args = ['certtool', '--generate-privkey', '--key-type=' + kind, '--outfile', path]
    if kind == 'rsa':
        args.append('--bits=%d' % bits)
    subprocess.run(args, check=True, capture_output=True)
    os.chmod(path, mode)
    der = subprocess.run(['certtool', '--load-privkey', path, '--pubkey-info', '--outder'],
                         check=True, capture_output=True).stdout
    if kind == 'ed25519':
        der = der[-32:]
    rec = 'v=DKIM1; k=%s; p=%s' % (kind, base64.b64encode(der).decode())
    return path, rec.encode()


def verify(msg, record, selector, domain, say=print):
    """dkimpy's verdict on MSG (CRLF or LF lines) when SELECTOR._domainkey.DOMAIN holds
    RECORD and no other name has one. A malformed signature is a failure (SAY tells why)."""
    names = {b'%s._domainkey.%s' % (selector.encode(), domain.encode())}
    names.add(next(iter(names)) + b'.')

    def dns(name, timeout=5):
        return record if name in names else None
    try:
        return dkim.verify(msg, dnsfunc=dns)
    except Exception as x:  # dkimpy raises on malformed signatures: a failure
        say('# dkimpy: %s' % x)
        return False


def crlf(msg):
    """MSG with every line ending CRLF (a maildir stores LF)."""
    return re.sub(rb'\r?\n', b'\r\n', msg)


def split(msg):
    """(header, body) of MSG with CRLF line ends."""
    head, _, body = msg.partition(b'\r\n\r\n')
    return head, body


def signature_tags(msg):
    """{tag: value, whitespace removed} of the first DKIM-Signature field of MSG."""
    head, _ = split(crlf(msg))
    fields = []
    for ln in head.split(b'\r\n'):
        if ln[:1] in (b' ', b'\t') and fields:
            fields[-1] += ln
        else:
            fields.append(ln)
    sig = [f for f in fields if f.lower().startswith(b'dkim-signature:')]
    if not sig:
        return {}
    tags = {}
    for part in sig[0].split(b':', 1)[1].split(b';'):
        if b'=' in part:
            k, v = part.split(b'=', 1)
            tags[k.strip().decode()] = b''.join(v.split()).decode()
    return tags


def tamper_body(msg):
    """MSG with one body byte changed: its first letter or digit flipped in case (a digit
    becomes another digit); an empty body gets one byte. Line ends are kept as they are."""
    m = re.search(rb'\r?\n\r?\n', msg)
    start = m.end() if m else len(msg)
    body = msg[start:]
    hit = re.search(rb'[A-Za-z0-9]', body)
    if hit is None:
        sep = b'' if m else b'\n' if msg.endswith(b'\n') else b'\n\n'
        return msg + sep + b'x'
    i = start + hit.start()
    c = msg[i:i + 1]
    new = c.swapcase() if c.isalpha() else b'%d' % ((int(c) + 1) % 10)
    return msg[:i] + new + msg[i + 1:]


BIG = ''.join('line %06d of a body past the read-ahead \t with  WSP  \n' % i
              for i in range(60000))

# (name, stdin, extra argv, extra profile lines): what the edge cases send. A test against a
# real server may drop the -t and name the recipient itself (Bcc is removed either way).
EDGES = [
    ('lf', 'From: a@example.test\nTo: r@example.test\nSubject: hi\n\nbody\nline 2\n', [], ''),
    ('crlf', 'From: a@example.test\r\nTo: r@example.test\r\nSubject: hi\r\n\r\nbody\r\n'
     'line 2\r\n', [], ''),
    ('trailing-wsp', 'From: a@example.test \nSubject:  spaced   out \t \n\nbody  \t\n'
     '  lead  and   runs\t\tof WSP \n \t \nend\n', [], ''),
    ('empty-lines-at-end', 'From: a@example.test\nSubject: e\n\nbody\n\n\n\r\n \n\n', [], ''),
    ('folded', 'From: a@example.test\nSubject: a folded\n\tsubject   line\n  and more\n'
     'To: r@example.test,\n    s@example.test\n\nbody\n', [], ''),
    ('8bit', 'From: a@example.test\nSubject: 8bit\nContent-Type: text/plain; charset=UTF-8\n'
     'Content-Transfer-Encoding: 8bit\n\nGrüße — ünïcödé\n\xa0non-breaking\n', [], ''),
    ('dots-i', 'From: a@example.test\nSubject: dots\n\n.leading dot\n..two\n.\nafter\n',
     ['-i'], ''),
    ('dots-end', 'From: a@example.test\nSubject: dots\n\n.leading dot\n..two\n.\nnot sent\n',
     [], ''),
    ('no-final-newline', 'From: a@example.test\nSubject: nn\n\nbody without  \nend', [], ''),
    ('no-body', 'From: a@example.test\nSubject: no body\n', [], ''),
    ('empty-body', 'From: a@example.test\nSubject: empty body\n\n', [], ''),
    ('big', 'From: a@example.test\nSubject: big\n\n' + BIG, [], ''),
    ('added-fields', 'To: r@example.test\nBcc: hidden@example.test\nSubject: added\n\nbody\n',
     [], ''),
    ('headers-list', 'From: a@example.test\nSubject: list\nX-Mine: signed\n\nbody\n', [],
     'dkim_headers from:subject:x-mine\n'),
    ('queue-off', 'From: a@example.test\nSubject: no queue\n\nbody\n', [], 'queue off\n'),
]
