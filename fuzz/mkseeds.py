#!/usr/bin/env python3
# mkseeds.py: write the seed corpus fuzz/corpus/TARGET/NAME (fuzz/README.md). The seeds
# come from the protocol test cases (tests/proto/*.case: server scripts, profiles, messages),
# from RFC examples (RFC 5321, 5322 Appendix A, 6749 §5.1/5.2) and from the edges the unit
# tests name. Run it again after adding cases; it rewrites only its own files (mk-*) and
# leaves the seeds someone added by hand and what fuzz/run minimised alone.
#   python3 fuzz/mkseeds.py
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, 'corpus')
MAX_SEED = 8192  # bytes; larger seeds slow libFuzzer's mutations down for nothing


def write(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED and target != 'reply':
        data = data[:MAX_SEED]
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, 'mk-' + name), 'wb') as f:
        f.write(data)


def cases():
    d = os.path.join(ROOT, 'tests', 'proto')
    for n in sorted(os.listdir(d)):
        if not n.endswith('.case'):
            continue
        with open(os.path.join(d, n), encoding='utf-8', errors='replace') as f:
            text = f.read()
        sections = {}
        for m in re.finditer(r'^<([a-z0-9-]+)([^>\n]*)>\n(.*?)^</\1>$', text, re.S | re.M):
            sections.setdefault(m.group(1), []).append((m.group(2), m.group(3)))
        yield n, sections


def unescape(s):
    return re.sub(r'\\(r|n|t|0|x[0-9a-fA-F]{2}|\\)', lambda m: {
        'r': '\r', 'n': '\n', 't': '\t', '0': '\0', '\\': '\\'}.get(
        m.group(1), None) or chr(int(m.group(1)[1:], 16)), s)


def subst(s):
    return (s.replace('@PORT@', '2525').replace('@TMP@', '/tmp/x').replace('@HOME@', '/home/u')
            .replace('@CA@', '/tmp/x/ca.pem').replace('@CERTS@', '/tmp/x/certs')
            .replace('@PROFILE@', '/tmp/x/profile'))


# ---- reply: what servers say -----------------------------------------------------------

def reply_seeds(all_cases):
    seen = set()
    for name, s in all_cases:
        for _, server in s.get('server', []):
            lines = []
            for line in server.split('\n'):
                if line.startswith('caps '):
                    caps = [c.strip() for c in line[5:].split(',') if c.strip()]
                    ehlo = ['250-mail.example.test'] + ['250-' + c for c in caps[:-1]]
                    ehlo.append('250 ' + caps[-1] if caps else '250 mail.example.test')
                    if len(caps) == 0:
                        ehlo = ['250 mail.example.test']
                    lines += ehlo
                elif re.match(r'^[0-9]{3}[ -]', line):
                    lines.append(line)
            if not lines:
                continue
            data = '220 mail.example.test ESMTP\r\n' + '\r\n'.join(lines) + '\r\n'
            if data not in seen:
                seen.add(data)
                write('reply', unescape(data))
    fixed = [
        '220 mail.example.test ESMTP Postfix\r\n',
        '220-first line\r\n220-second\r\n220 last\r\n',
        '250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN '
        'SCRAM-SHA-256\r\n250-AUTH=PLAIN LOGIN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n'
        '250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n',
        '250-x\nsize 99999999999999999999999999\n250-auth xoauth2 oauthbearer\n250 pipelining\n',
        '334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n',
        '354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Xz\r\n221 2.0.0 Bye\r\n',
        '250 ok\r\n250-continued\r\n251 mismatched\r\n',
        '550 5.1.1 <a@b>: Recipient address rejected\r\n',
        '421 4.3.2 Service not available\r\n',
        '25\r\n', '2500\r\n', '250\r\n', '250-\r\n250 \r\n', '250\tTAB\r\n',
        '250 text with \x01 control\r\n', '\r\n', '999 nope\r\n', '250-' + 'x' * 3000 + '\r\n',
        ''.join('250-line %d\r\n' % i for i in range(101)) + '250 end\r\n',
        '220 ok\r\n250-a\r\n250-b',
    ]
    for f in fixed:
        write('reply', f)
    # A malformed last line that ends exactly at the end of the 64 KiB read buffer (issue
    # 10, bug 5: it was quoted with %.60s as if NUL-terminated).
    head = '220 ok\r\n'
    filler = ''
    while len(head) + len(filler) < 65536 - 2100:
        filler += '250-' + 'y' * 1000 + '\r\n'
    tail = 65536 - len(head) - len(filler) - 1
    data = head + filler + 'Z' * (tail) + '\n'
    assert len(data) == 65536
    write('reply', data, 'bufend-malformed')


# ---- addr: address lists and envelope addresses ----------------------------------------

ADDRS = [
    # RFC 5322 Appendix A
    'John Doe <jdoe@machine.example>',
    'Mary Smith <mary@example.net>',
    '"Joe Q. Public" <john.q.public@example.com>',
    'Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>',
    '<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
    'A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;',
    'Undisclosed recipients:;',
    'Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>',
    'Chris Jones <c@(Chris\'s host.)public.example>',
    'Joe Q. Public <john.q.public@example.com>',
    'Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example',
    'John Doe <jdoe@machine(comment).  example>',
    '"Mary Smith: Personal Account" <smith@home.example>',
    # RFC 5321 forms, IDN, literals, edges
    '"quoted local"@example.com', '"a\\"b"@example.com', 'user@[192.0.2.1]',
    'user@[IPv6:2001:db8::1]', 'J\xf6rg <j\xf6rg@b\xfccher.example>', 'x@xn--bcher-kva.example',
    'root', '<>', '', '-oQ/tmp/ -X/var/www/x.php@example.com', 'a@b@c', 'a@', '@b',
    'a\r\nRCPT TO:<b@evil>@x', 'a@b\tc', '(comment only)', 'group: ;', 'a@b, , , c@d',
    '=?UTF-8?B?SsO2cmc=?= <jorg@example.com>', '"unterminated@example.com',
    'a@' + 'l' * 63 + '.' + 'm' * 63 + '.example', 'a' * 65 + '@example.com',
    'To: a@x\rRCPT TO:<b@y>',
]


def addr_seeds(all_cases):
    for a in ADDRS:
        write('addr', a.encode('utf-8'))
    for name, s in all_cases:
        for _, stdin in s.get('stdin', []):
            for line in stdin.split('\n'):
                m = re.match(r'^(?:To|Cc|Bcc|From|Resent-To):(.*)$', line, re.I)
                if m:
                    write('addr', m.group(1).strip())


# ---- header and dot: messages ------------------------------------------------------------

MESSAGES = [
    # RFC 5322 A.1.1
    'From: John Doe <jdoe@machine.example>\r\nTo: Mary Smith <mary@example.net>\r\n'
    'Subject: Saying Hello\r\nDate: Fri, 21 Nov 1997 09:55:06 -0600\r\n'
    'Message-ID: <1234@local.machine.example>\r\n\r\nThis is a message just to say hello.\r\n'
    'So, "Hello".\r\n',
    # A.3 (resent)
    'Resent-From: Mary Smith <mary@example.net>\nResent-To: Jane Brown <j-brown@other.example>\n'
    'Resent-Date: Mon, 24 Nov 1997 14:22:01 -0800\nResent-Message-ID: <78910@example.net>\n'
    'From: John Doe <jdoe@machine.example>\nTo: Mary Smith <mary@example.net>\n'
    'Subject: Saying Hello\n\nThis is a message just to say hello.\n',
    # A.5 (white space and comments), folding, obsolete "Bcc :"
    'From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n'
    'To:A Group(Some people)\r\n     :Chris Jones <c@(Chris\'s host.)public.example>,\r\n'
    '         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)'
    '\r\nCc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n'
    'Bcc : secret@example.com\r\nDate: Thu,\r\n      13\r\n        Feb\r\n          1969\r\n'
    '      23:32\r\n               -0330 (Newfoundland Time)\r\nMessage-ID:              '
    '<testabcd.1234@silly.test>\r\n\r\nTesting.\r\n',
    'To: root, cron\nCc: list\nBcc: hidden@example.com\nSubject: aliases\n\nbody\n',
    'To: a@x\rRCPT TO:<b@y>\nSubject: bare CR\n\nbody\n',
    'Subject: no end',
    'Subject: x\n\n.\n..\n.x\n\r\n\r\r\n',
    'Not a header line\nTo: a@b\n\nbody',
    '\r\n\r\nbody after an empty header',
    'X-Long: ' + 'a' * 1200 + '\nTo: a@b\n\n',
    'From: "J\xc3\xb6rg" <j@example.com>\nSubject: =?UTF-8?Q?caf=C3=A9?=\n\nbody\n',
    'To: a@b\nX: \0nul\n\n',
]

BODIES = [
    '', '.', '.\n', '.\r\n', '..\r\n', 'a\n.\nb\n', 'a\r\n.\r\nb', 'a\r.\rb', '\r\r\n',
    'line\nlast', 'x\r', '.x\n.\n', 'abc\0def\n', '\n\n\n', '\xff\xfe8bit\r\n',
    'first\r\n.\r\n..\r\n.leading dot\r\n...three\r\n .space then dot\r\n. dot then space\r\n'
    'x.\r\n.\r\nlast\r\n',
    'smuggle\n.\nMAIL FROM:<evil@x>\r\n.\r\n', 'a' * 40 + '\n' + '.' + 'b' * 300 + '\r\n',
    'yes\n' * 300,
]


def shape(text):
    """Text with every run of letters and digits as 'a': cases that differ only in names
    and numbers give one seed."""
    return re.sub(r'[A-Za-z0-9._/@-]+', 'a', text)


def header_seeds(all_cases):
    shapes = set()
    for i, m in enumerate(MESSAGES):
        data = m.encode('utf-8')
        for flags in (0x00, 0x01, 0x05, 0x22, 0x5c, 0x9b):
            write('header', bytes([flags]) + data)
    for name, s in all_cases:
        for attrs, stdin in s.get('stdin', []):
            if (attrs, shape(stdin)) in shapes:
                continue
            shapes.add((attrs, shape(stdin)))
            data = stdin
            if 'escapes' in attrs:
                data = unescape(data)
            if 'crlf' in attrs:
                data = data.replace('\n', '\r\n')
            data = re.sub(r'%repeat\[(\d+) x (.*?)\]%', lambda m: m.group(2) * min(
                int(m.group(1)), 50), data, flags=re.S)
            raw = data.encode('utf-8', errors='replace')[:MAX_SEED - 2]
            flags = int(hashlib.sha1(raw).hexdigest()[:2], 16)
            write('header', bytes([flags]) + raw)
            write('dot', bytes([flags & 3, flags]) + raw[:2048])


def dot_seeds():
    for b in BODIES:
        for mode in range(4):
            write('dot', bytes([mode, 0x5a]) + b.encode('latin-1'))


# ---- profile, aliases, envelope, netrc, oauth ---------------------------------------------

PROFILES = [
    'defaults\ntls_trust_file system\n\naccount work\nhost smtp.example.com\nfrom me@example.com\n'
    'user me@example.com\npasswordeval pass show mail/work\n\naccount home\nhost mail.example.org\n'
    'port 465\ntls_starttls off\nfrom me@example.org\nuser me\npassword "correct horse battery '
    'staple"\n\naccount default : work\n',
    'account a\nhost h\nport 465 587 2525\ntls_fingerprint sha256//' + 'A' * 43 + '=\n'
    'account b : a\nproxy_host 127.0.0.1\nproxy_port 1080\naccount default : b\n',
    'account x\r\nhost h\r\nsocket ~/s\r\nprotocol lmtp\r\nauth off\r\n',
    'defaults\nlogfile ~/log\nsyslog LOG_MAIL\naliases ~/aliases\nmaildomain example.org\n'
    'account default\nhost h\nfrom %U@%H\ndsn_notify success,failure\ndsn_return hdrs\n'
    'set_from_header on\nundisclosed_recipients on\nremove_bcc_headers off\n',
    'account default\nhost h\neval echo host evil\n',
    'account default\nhost "quoted host"\nuser "a\\"b"\npassword ""\n',
    'tls off\naccount default\n',
    'account default\nhost h\ntls_min_version tlsv1_3\ntls_priorities NORMAL\n'
    'oauth2_token_command get-token\nauth xoauth2\ntls_cert_file ~/c.pem\ntls_key_file ~/k.pem\n',
]
OVERRIDES = [
    'port=2525\nhost=evil.example\ntls_fingerprint=' + 'ab' * 32 + '\n',
    'proxy_host=127.0.0.1\nproxy_port=9050\nsocket=/tmp/s\nsource_ip=127.0.0.1\n',
    'keepbcc\nremove_bcc_headers=off\nlogfile=/tmp/x\npasswordeval=cat /etc/passwd\n'
    'aliases=/etc/shadow\ntls_trust_file=/tmp/ca\ntls=off\ntls_starttls=off\n',
    'tls_certcheck=off\ntls_host_override=b\xc3\xbccher.example\nprotocol=lmtp\nauth=off\n',
]

ALIASES = [
    '# msmtp aliases\nroot: admin@example.com\ncron: root, ops@example.net\n'
    'list: a@example.org, b@example.org, root\ndefault: catchall@example.org\n',
    'a: b\nb: c\nc: a\n', 'a: b\nb: c\nc: d@example.com\r\n', 'x: "quoted name" <q@example.com>\n',
    'bad line\n', ': empty\n', 'a@b: c\n', 'a: \n', 'dup: x@y\ndup: z@y\n',
    'root: root\n', 'default: root\nroot: admin\n',
    ''.join('a%d: a%d\n' % (i, i + 1) for i in range(20)),
]

ENVELOPE = ('postie-queue 1\naccount default\nprofile /home/u/.config/postie/config\n'
            'sender me@example.com\nmail-params RET=HDRS ENVID=abc+2Bdef\nignore-dots no\n'
            'size 1234\nqueued 1718359200\nattempts 2\nlast-attempt 1718359260\n'
            'next-attempt 1718359380\nlast-reply 451 4.3.0 try later\nrcpt a@example.net\n'
            'rcpt-params NOTIFY=FAILURE ORCPT=rfc822;a@example.net\nrcpt-reply 451 later\n'
            'rcpt b@example.net\nrcpt-state failed\nrcpt-reply 550 no\nx-future-key value\nend\n')
ENVELOPES = [
    ENVELOPE,
    'postie-queue 1\naccount a\nsender \nignore-dots yes\nsize 0\nqueued 0\nattempts 0\n'
    'next-attempt 0\nrcpt r\nend\n',
    'postie-queue 2\naccount a\nend\n', ENVELOPE.replace('end\n', ''),
    ENVELOPE.replace('size 1234', 'size 99999999999999999999'),
    ENVELOPE + 'trailing\n', 'postie-queue 1\nrcpt-state failed\nend\n',
    ENVELOPE.replace('attempts 2', 'attempts 2\nattempts 3'),
]

NETRC = [
    'machine mail.example.com login me password secret\n',
    'machine h\r\n\tlogin u\r\n\tpassword p\r\n',
    'default login me password d\nmachine mail.example.com password m\n',
    'macdef init\ncd /\n\nmachine h login u password good\n',
    '# comment\nmachine "mail.example.com" login "me" password "a b\\"c\\\\d\\n\\te"\n',
    'machine "" login "" password empty-host\n', 'machine h password "abc', 'machine',
    'machine h login u account x port 587 password p # trailing\n',
    'machine MAIL.EXAMPLE.COM password upper\ndefault password fallback\n',
]

OAUTH = [
    'ya29.a0AfH6SMBx-token_value~+/==\n', 'tok 3599\n', 'tok\n3600\n\n', '  tok  ',
    '{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer","scope":"https://mail.'
    'google.com/"}',
    '{"access_token": "abc", "expires_in": "3600", "id_token": {"nested": [1, 2, {"x": null}]}}',
    '{"error":"invalid_grant","error_description":"Token has been expired or revoked."}',
    '{"access_token":"a\\u0001b"}', '{"access_token":"x","access_token":"y"}',
    '{"expires_in":1.5,"access_token":"x"}', '{}', '{"a":' * 20 + '1' + '}' * 20,
    'tok 12345678901', 'to\x01k', '',
]


SERVE = [
    'EHLO client.example\r\nMAIL FROM:<app@example.test>\r\nRCPT TO:<user@example.net>\r\n'
    'DATA\r\nFrom: app@example.test\r\nTo: user@example.net\r\nSubject: hi\r\n\r\nHello.\r\n..dot\r\n'
    '.\r\nQUIT\r\n',
    'HELO x\nMAIL FROM:<>\nRCPT TO:<a@b>\nDATA\nSubject: bare LF\n\nbody\n.\nQUIT\n',
    'EHLO x\r\nMAIL FROM:<a@b> BODY=8BITMIME SIZE=100 SMTPUTF8\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>'
    '\r\nDATA\r\nSubject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@x>\r\n.\r\nRSET\r\nNOOP\r\nVRFY x\r\n'
    'HELP\r\nEXPN x\r\nSTARTTLS\r\nQUIT\r\n',
    'EHLO x\r\nMAIL FROM:<@route,@r2:a@b>\r\nRCPT TO:<-oQ@x>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n'
    'RCPT TO:<"q\\"x"@d>\r\nDATA extra\r\nDATA\r\nTo: c@d\r\n\r\n',
    'MAIL FROM:<a@b>\r\nEHLO\r\nBOGUS\r\n' + 'X' * 600 + '\r\nQUIT\r\n',
    'EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nTo: c@d\rRCPT TO:<e@f>\r\n\r\n.\r\n',
]


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def sasl_seeds():
    offered = 'SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN CRAM-MD5 XOAUTH2 ' \
        'OAUTHBEARER EXTERNAL'
    # RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256): user "user", "pencil".
    sha1 = [b64('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'),
            b64('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')]
    sha256 = [b64('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,'
                  'i=4096'), b64('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')]
    seeds = [
        (3, 'SCRAM-SHA-1', sha1), (4, 'SCRAM-SHA-256', sha256), (0x14, offered, sha256),
        (3, 'SCRAM-SHA-1', [b64('e=invalid-proof')]),
        (3, 'SCRAM-SHA-1', [b64('r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0')]),
        (3, 'SCRAM-SHA-1', [b64('m=ext,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=1')]),
        (0x46, offered, [b64('r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096')]),
        (0, 'PLAIN LOGIN', []), (0x08, 'PLAIN', ['']), (1, 'LOGIN', [b64('Username:'),
                                                                     b64('Password:'), '']),
        # RFC 2195 §2
        (2, 'CRAM-MD5', [b64('<1896.697170952@postoffice.reston.mci.net>')]),
        (7, 'XOAUTH2', [b64('{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}')]),
        (8, 'OAUTHBEARER', [b64('{"status":"invalid_token","scope":"a b","openid-configuration":'
                                '"https://example.com/.well-known/openid-configuration"}')]),
        (0x89, 'EXTERNAL', ['']), (0x29, 'EXTERNAL PLAIN', ['', '']),
        (3, 'scram-sha-1 plain', ['not base64!']), (0, '', []),
    ]
    for flags, off, challenges in seeds:
        write('sasl', bytes([flags]) + ('\n'.join([off] + challenges)).encode())


def session_seeds():
    def script(flags, *turns):
        write('session', bytes([flags]) + '\n\n'.join(turns).encode() + b'\n')
    g = '220 mail.example.test ESMTP'
    ehlo = '250-mail.example.test\n250 PIPELINING'
    chunking = '250-mail.example.test\n250-PIPELINING\n250 CHUNKING'
    script(0x00, g, ehlo, '250 2.1.0 ok', '250 2.1.5 ok', '354 go', '250 2.0.0 queued',
           '221 bye')
    script(0x40, g, ehlo, '250 ok', '250 ok', '354 go', '250 queued', '221 bye')
    script(0x20, g, chunking, '250 ok', '250 ok', '250 chunk', '250 done', '221 bye')
    script(0x68, g, chunking, '250 ok', '250 ok', '250 ok', '250 chunk', '250 done', '221 bye')
    # issue 10, bug 11: CHUNKING and PIPELINING, the first of two recipients refused, close
    script(0x28, g, chunking, '250 ok', '550 5.1.1 alice: no such user')
    script(0x28, g, chunking, '550 5.7.1 no mail from you')
    # issue 10, bug 3: 221 (or another 2xx) instead of 250 to the end of the data
    script(0x00, g, ehlo, '250 ok', '250 ok', '354 go', '221 closing')
    script(0x40, g, ehlo, '250 ok', '250 ok', '354 go', '252 maybe', '221 bye')
    script(0x60, g, chunking, '250 ok', '250 ok', '250 chunk', '221 closing')
    # LMTP: one reply per recipient after the data
    script(0x09, '220 lmtp ready', '250-lmtp\n250 PIPELINING', '250 ok', '250 ok', '250 ok',
           '354 go', '250 a ok\n452 b later')
    script(0x04, g, '250-x\n250-AUTH PLAIN LOGIN\n250 PIPELINING', '235 ok', '250 ok',
           '250 ok', '354 go', '250 queued')
    script(0x04, g, '250-x\n250 AUTH LOGIN', '334 VXNlcm5hbWU6', '334 UGFzc3dvcmQ6',
           '535 5.7.8 bad')
    script(0x04, g, '250-x\n250 AUTH SCRAM-SHA-1', '334 ' + b64(
        'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'),
        '334 ' + b64('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='), '235 ok', '250 ok', '250 ok', '354 go',
        '250 queued')
    script(0x02, g, '502 no EHLO', '250 helo', '250 ok', '250 ok', '354 go', '250 queued')
    script(0x90, g, ehlo, '250 ok', '250 ok', '250 ok', '354 go', '250 one', '250 reset',
           '250 ok', '250 ok', '250 ok', '354 go', '250 two', '221 bye')
    script(0x00, '421 go away')
    script(0x00, g, '250-x\n250-SIZE 10\n250 8BITMIME', '552 too big')
    script(0x00, g, ehlo, '250 ok', '250 ok', '354 go', '250 queued\n250 unasked')
    script(0x00, g + '\n250 unasked greeting extra', ehlo)


DKIM_BODIES = [
    b'B : Y\t\r\n\tZ  \r\n C \r\nD \t E\r\n\r\n\r\n',
    b'Subject:  a   b \n\nbody  \t\n \n\n',
    b'X:\r\n\r\nno final line end  ',
    b'From: a@b\n.dot\n..two\n.\n\xc3\xbc \xa0\n\r\n',
    b'',
]


# ---- dns_txt: DNS answers and DKIM key records ------------------------------------------

DKIM_RECORDS = [
    b'v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=',
    b'  v = DKIM1 ;\tk=ed25519;\r\n p=11qYAYKxCrfVS/7Ty WQHOg7hcvPapiMlrwIaaPcHURo= ; ',
    b'v=DKIM1; k=rsa; h=sha1:sha256; s=email; t=y; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC',
    b'v=DKIM1; p=',
    b'v=spf1 -all',
]


def dns_answer(records, rcode=0, owner=b'\xc0\x0c'):
    """An answer to sel._domainkey.example.test TXT holding RECORDS (lists of strings)."""
    q = b''.join(bytes([len(x)]) + x for x in b'sel._domainkey.example.test'.split(b'.'))
    out = bytes([0x12, 0x34, 0x81, 0x80 | rcode, 0, 1, 0, len(records), 0, 0, 0, 0])
    out += q + b'\0\0\x10\0\x01'
    for strings in records:
        data = b''.join(bytes([len(s)]) + s for s in strings)
        out += owner + b'\0\x10\0\x01\0\0\x01\x2c' + bytes([len(data) >> 8, len(data) & 255])
        out += data
    return out


def dns_txt_seeds():
    for r in DKIM_RECORDS:
        write('dns_txt', r)
        write('dns_txt', dns_answer([[r]]))
    rsa = b'v=DKIM1; k=rsa; p=' + b'A' * 392
    write('dns_txt', dns_answer([[rsa[:255], rsa[255:]]]))
    write('dns_txt', dns_answer([[b'one'], [b'two', b''], [b'']]))
    write('dns_txt', dns_answer([], rcode=3))
    write('dns_txt', dns_answer([], rcode=2))
    write('dns_txt', dns_answer([[b'loop']], owner=b'\xc0\x2d'))


def main():
    all_cases = list(cases())
    reply_seeds(all_cases)
    addr_seeds(all_cases)
    header_seeds(all_cases)
    dot_seeds()
    for body in DKIM_BODIES:
        for cut in (0, 3):
            write('dkim_canon', bytes([cut]) + body)
    shapes = set()
    for name, s in all_cases:
        for _, prof in s.get('profile', []):
            if shape(prof) in shapes:
                continue
            shapes.add(shape(prof))
            write('profile', b'\x00' + subst(prof).encode())
            write('profile', b'\x01' + subst(prof).encode())
        for attrs, f in s.get('file-aliases', []):
            write('aliases', subst(f))
        for attrs, f in s.get('file-netrc', []):
            write('netrc', subst(f))
    for i, p in enumerate(PROFILES):
        for flags in (0, 1):
            write('profile', bytes([flags]) + p.encode())
        for o in OVERRIDES:
            write('profile', b'\x03' + p.encode() + b'\0' + o.encode())
    for a in ALIASES:
        write('aliases', a)
    for e in ENVELOPES:
        write('envelope', e)
    for n in NETRC:
        write('netrc', n)
    for o in OAUTH:
        write('oauth', o)
    for s in SERVE:
        write('serve', s)
    sasl_seeds()
    session_seeds()
    dns_txt_seeds()


if __name__ == '__main__':
    sys.exit(main())
