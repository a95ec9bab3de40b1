#!/usr/bin/env python3
# fakesmtp.py: a scripted fake SMTP server for the postie protocol tests.
#
# Serves ONE connection on 127.0.0.1 (and ::1 on the same port when it can),
# then exits. It always stops by itself: a hard overall deadline (20 s unless
# the script says otherwise) ends the process whatever the client does.
#
#   fakesmtp.py --script FILE --certs DIR --out DIR
#
# It prints "PORT <n>" on stdout once it listens, and records into --out:
#   commands.txt  every line the client sent outside DATA payloads, one per
#                 line, control characters as \xNN; "." marks an end of data
#   segments.txt  per read from the client: the verbs of the commands (and "."
#                 for an end of data) whose last byte came in that read
#   order.txt     the dialogue as the server saw it: "S CODE" per reply sent and
#                 "C VERB" per command, placed before the first reply that was
#                 sent after it had arrived (so pipelining shows)
#   data1.bin ..  each message, raw, as received: a DATA payload still
#                 dot-stuffed with the final ".\r\n"; the BDAT chunks of one
#                 transaction (RFC 3030) appended as they came, nothing removed
#   auth.txt      decoded SASL credentials ("PLAIN user=U pass=P", "LOGIN ...")
#   client.bin    every byte the client sent (TLS bytes after decryption)
#   events.txt    what the server did (TLS, drops, timeouts), for diagnosis
#   connections   the number of connections accepted (0 or 1)
#
# The script language is documented in README.md beside this file. Also:
#   lmtp           LMTP (RFC 2033): LHLO answered like EHLO, EHLO/HELO refused, and after
#                  the end of data one reply per accepted RCPT: `reply LMTP#i` for the i-th,
#                  else `reply LMTP`, else 250
#   socks5 [N]     a SOCKS5 front (RFC 1928) before SMTP: the CONNECT request is recorded
#                  in socks.txt and answered with reply code N (default 0: SMTP follows)
#   unix-socket    also listen on the --unix path (a local socket)
# and the options --bind ADDR --port N (listen there only) and --unix PATH. The client's
# address goes into the file `peer`.

import argparse
import base64
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import warnings

DEFAULT_REPLIES = {
    'GREETING': ['220 fake.test ESMTP postie-test-server'],
    'HELO': ['250 fake.test'],
    'STARTTLS': ['220 2.0.0 ready to start TLS'],
    'AUTH': ['235 2.7.0 authentication succeeded'],
    'MAIL': ['250 2.1.0 sender ok'],
    'RCPT': ['250 2.1.5 recipient ok'],
    'DATA': ['354 end data with <CR><LF>.<CR><LF>'],
    'DOT': ['250 2.0.0 queued as FAKE1'],
    'BDAT': ['250 2.0.0 chunk received'],
    'LAST': ['250 2.0.0 queued as FAKE1'],
    'RSET': ['250 2.0.0 ok'],
    'NOOP': ['250 2.0.0 ok'],
    'QUIT': ['221 2.0.0 bye', '!close'],
    'VRFY': ['502 5.5.1 not implemented'],
    'EXPN': ['502 5.5.1 not implemented'],
    'HELP': ['214 2.0.0 no help here'],
}
UNKNOWN_REPLY = ['500 5.5.2 command not recognized']


class Closed(Exception):
    """The connection is gone (client EOF, reset, or the script closed it)."""


def unescape(text):
    """Decode \\r \\n \\t \\0 \\xNN \\\\ in a script line; \\c at the end drops the CRLF.

    Returns (bytes, add_crlf)."""
    add_crlf = True
    if text.endswith('\\c') and not text.endswith('\\\\c'):
        text = text[:-2]
        add_crlf = False
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '\\' and i + 1 < len(text):
            nxt = text[i + 1]
            simple = {'r': b'\r', 'n': b'\n', 't': b'\t', '0': b'\0', '\\': b'\\'}
            if nxt in simple:
                out += simple[nxt]
                i += 2
                continue
            if nxt == 'x' and re.fullmatch(r'[0-9a-fA-F]{2}', text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out += ch.encode('utf-8')
        i += 1
    return bytes(out), add_crlf


def escape_line(raw):
    """Render client bytes as one printable line: controls and non-ASCII as \\xNN."""
    out = []
    for b in raw:
        if b == 0x5c:
            out.append('\\\\')
        elif 0x20 <= b < 0x7f:
            out.append(chr(b))
        else:
            out.append('\\x%02x' % b)
    return ''.join(out)


class Script:
    """The parsed <server> script."""

    def __init__(self, path):
        self.replies = {}          # (VERB, n or None) -> list of reply lines/actions
        self.delays = {}           # (VERB, n or None) -> seconds
        self.caps_plain = []
        self.caps_tls = []
        self.implicit_tls = False
        self.cert = 'server'
        self.tls_max = None
        self.client_cert = None    # 'require' or 'request': ask for a client certificate
        self.ehlo_name = 'fake.test'
        self.drop_data_after = None
        self.auth_creds = None
        self.deadline = 20.0
        self.lmtp = False           # LMTP (RFC 2033): LHLO, one reply per recipient after data
        self.socks5 = None          # SOCKS5 front (RFC 1928): the reply code to a CONNECT
        self.unix_socket = False    # also listen on the --unix path
        self.parse(path)

    def parse(self, path):
        with open(path, encoding='utf-8') as f:
            text = re.sub(r'%repeat\[(\d+) x (.*?)\]%', lambda m: m.group(2) * int(m.group(1)),
                          f.read())
            lines = text.split('\n')
        pending = None                      # reply list that indented lines extend
        for lineno, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            if line[0] in ' \t':
                if pending is None:
                    raise SystemExit('script line %d: continuation without a directive' % lineno)
                pending.append(line.strip())
                continue
            pending = None
            word, _, rest = line.partition(' ')
            rest = rest.strip()
            if word == 'greeting':
                pending = self.set_reply('GREETING', None, rest)
            elif word == 'reply':
                verb, n, text = self.verb_n(rest, lineno)
                pending = self.set_reply(verb, n, text)
            elif word == 'delay':
                verb, n, text = self.verb_n(rest, lineno)
                self.delays[(verb, n)] = float(text)
            elif word in ('caps', 'caps-plain', 'caps-tls'):
                caps = [c.strip() for c in rest.split(',') if c.strip()]
                if word in ('caps', 'caps-plain'):
                    self.caps_plain = caps
                if word in ('caps', 'caps-tls'):
                    self.caps_tls = caps
            elif word == 'implicit-tls':
                self.implicit_tls = True
            elif word == 'cert':
                self.cert = rest
            elif word == 'tls-max':
                self.tls_max = rest
            elif word == 'client-cert':
                if rest not in ('require', 'request'):
                    raise SystemExit('script line %d: client-cert require|request' % lineno)
                self.client_cert = rest
            elif word == 'ehlo-name':
                self.ehlo_name = rest
            elif word == 'drop-data-after':
                self.drop_data_after = int(rest)
            elif word == 'auth-creds':
                user, _, password = rest.partition(' ')
                self.auth_creds = (user, password)
            elif word == 'server-timeout':
                self.deadline = float(rest)
            elif word == 'lmtp':
                self.lmtp = True
            elif word == 'socks5':
                self.socks5 = int(rest) if rest else 0
            elif word == 'unix-socket':
                self.unix_socket = True
            else:
                raise SystemExit('script line %d: unknown directive %r' % (lineno, word))

    @staticmethod
    def verb_n(rest, lineno):
        """"VERB[#N] TEXT" -> (VERB, N or None, TEXT)."""
        word, _, text = rest.partition(' ')
        m = re.fullmatch(r'([A-Za-z]+)(?:#([0-9]+))?', word)
        if not m:
            raise SystemExit('script line %d: bad verb %r (VERB or VERB#N)' % (lineno, word))
        n = int(m.group(2)) if m.group(2) else None
        return m.group(1).upper(), n, text.strip()

    def set_reply(self, verb, n, text):
        reply = [text] if text else []
        self.replies[(verb, n)] = reply
        return reply

    def lookup(self, table, verb, n):
        if (verb, n) in table:
            return table[(verb, n)]
        return table.get((verb, None))


class Recorder:
    """Writes everything as it happens, so a killed server still leaves a record."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.files = {}
        self.lock = threading.Lock()
        self.data_index = 0
        self.segment = 0
        self.segment_items = {}
        self.order_cmds = {}       # replies sent before the command arrived -> [verb]
        self.order_replies = []    # reply codes in the order they were sent

    def _file(self, name, mode='a'):
        if name not in self.files:
            self.files[name] = open(os.path.join(self.outdir, name), mode + 'b')
        return self.files[name]

    def write(self, name, data):
        with self.lock:
            f = self._file(name)
            f.write(data if isinstance(data, bytes) else data.encode('utf-8'))
            f.flush()

    def event(self, text):
        self.write('events.txt', '%.3f %s\n' % (time.monotonic() - START, text))

    def command(self, raw_line, bare_lf):
        text = escape_line(raw_line)
        if bare_lf:
            text += ' [bare LF]'
        self.write('commands.txt', text + '\n')

    def item(self, verb, arrival, order=True):
        """Note VERB for segments.txt (and order.txt): ARRIVAL = (read, replies before it)."""
        seg, replies_before = arrival
        self.segment_items.setdefault(seg, []).append(verb)
        self.flush_segments()
        if order:
            self.order_cmds.setdefault(replies_before, []).append(verb)
            self.flush_order()

    def reply(self, code):
        self.order_replies.append(code)
        self.flush_order()

    def flush_order(self):
        lines = []
        for k in range(len(self.order_replies) + 1):
            lines += ['C ' + v for v in self.order_cmds.get(k, [])]
            if k < len(self.order_replies):
                lines.append('S ' + self.order_replies[k])
        with self.lock:
            with open(os.path.join(self.outdir, 'order.txt'), 'w', encoding='utf-8') as f:
                f.write(''.join(l + '\n' for l in lines))

    def flush_segments(self):
        with self.lock:
            path = os.path.join(self.outdir, 'segments.txt')
            with open(path, 'w', encoding='utf-8') as f:
                for seg in sorted(self.segment_items):
                    f.write(' '.join(self.segment_items[seg]) + '\n')

    def new_data(self):
        self.data_index += 1
        name = 'data%d.bin' % self.data_index
        self.write(name, b'')
        return name


START = time.monotonic()


class Session:
    def __init__(self, sock, script, certs, rec):
        self.sock = sock
        self.raw_sock = sock
        self.script = script
        self.certs = certs
        self.rec = rec
        self.buf = bytearray()
        self.tls = False
        self.counts = {}
        self.hung = False
        self.closed = False
        self.deadline = START + script.deadline
        # Where each received byte came from: bytes are counted from the start of the
        # connection; reads holds (count after the read, read number, replies sent before).
        self.received = 0
        self.consumed = 0          # the count of buf[0]
        self.reads = []
        self.replies = 0
        self.eof = False           # a poll saw the client's end; the next blocking read stops
        self.send_failed = False   # the client is gone: no more replies, keep reading
        self.line_arrival = (0, 0)
        self.bdat_name = None      # the data file of an open BDAT transaction
        self.bdat_total = 0
        self.bdat_chunk = 0
        self.accepted = 0          # RCPTs answered 2xx in this transaction (LMTP)

    # ---- I/O ----------------------------------------------------------------

    def note_read(self, data):
        self.rec.segment += 1
        self.rec.write('client.bin', data)
        self.buf += data
        self.received += len(data)
        self.reads.append((self.received, self.rec.segment, self.replies))

    def arrival(self, offset):
        """(read number, replies sent before that read) for the byte at OFFSET of buf."""
        pos = self.consumed + offset
        lo, hi = 0, len(self.reads) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.reads[mid][0] > pos:
                hi = mid
            else:
                lo = mid + 1
        if not self.reads:
            return (0, 0)
        return self.reads[lo][1:]

    def consume(self, n):
        del self.buf[:n]
        self.consumed += n

    def poll_more(self):
        """Before a reply: take in whatever the client has already sent, without waiting.

        So a command that was there before the reply went out is known to have been sent
        without waiting for it (order.txt). An end of the connection seen here is kept for
        the next blocking read."""
        for _ in range(16):
            if self.eof or self.closed:
                return
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                try:
                    ready, _, _ = select.select([self.sock], [], [], 0)
                except (OSError, ValueError):
                    return
                if not ready:
                    return
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return
            except (ConnectionError, ssl.SSLError, OSError) as e:
                self.rec.event('recv error: %s' % e)
                self.eof = True
                return
            if not data:
                self.rec.event('client closed the connection')
                self.eof = True
                return
            self.note_read(data)

    def recv_more(self):
        """Read one chunk from the client into the buffer; raise Closed at EOF."""
        while True:
            if self.eof:
                raise Closed()
            if time.monotonic() > self.deadline:
                self.rec.event('server deadline reached')
                raise Closed()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ssl.SSLWantReadError:
                continue
            except (ConnectionError, ssl.SSLError, OSError) as e:
                self.rec.event('recv error: %s' % e)
                raise Closed()
            if not data:
                self.rec.event('client closed the connection')
                raise Closed()
            self.note_read(data)
            return

    def send(self, data):
        """Send to the client. Once that fails (the client went away), replies are dropped
        but what the client sent before it went is still read and recorded: a command it
        had pipelined must show up even when the server could no longer answer."""
        if not data or self.send_failed:
            return
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.rec.event('send error: %s (replies stop; reading what is left)' % e)
            self.send_failed = True

    def readline(self):
        """Next client line without its terminator: (bytes, bare_lf)."""
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                line = bytes(self.buf[:i])
                self.line_arrival = self.arrival(i)
                self.consume(i + 1)
                if line.endswith(b'\r'):
                    return line[:-1], False
                return line, True
            if len(self.buf) > 1 << 20:
                line = bytes(self.buf)
                self.line_arrival = self.arrival(len(line) - 1)
                self.consume(len(line))
                return line, False
            self.recv_more()

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.rec.event('server closes the connection')
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- replies ------------------------------------------------------------

    def reply_for(self, verb, n):
        r = self.script.lookup(self.script.replies, verb, n)
        if r is not None:
            return r
        return None

    def run_reply(self, lines):
        """Send a reply script: text lines (+CRLF), and !actions.

        Text lines are collected and sent in one write when an action comes or
        at the end. Returns the reply code of the first text line (or None)."""
        code = None
        pending = bytearray()
        started = []

        def begin(head):
            if not started:
                # What the client sent before this reply went out came without waiting for it.
                self.poll_more()
                self.replies += 1
                self.rec.reply(escape_line(head[:3]))
                started.append(True)

        def out(data):
            begin(data)
            self.send(data)

        def flush():
            if pending:
                out(bytes(pending))
                pending.clear()

        for line in lines:
            if line.startswith('!'):
                word, _, arg = line[1:].partition(' ')
                if word == 'raw':
                    data, _ = unescape(arg)
                    pending += data
                    continue
                flush()
                if word in ('close', 'drop'):
                    self.close()
                    raise Closed()
                elif word == 'hang':
                    self.rec.event('script: hang (no more replies)')
                    self.hung = True
                    return code
                elif word == 'sleep':
                    time.sleep(float(arg))
                elif word == 'endless-line':
                    begin(b'250')
                    self.endless(b'250-' + b'x' * 4092, b'x' * 4096)
                elif word == 'endless-lines':
                    begin(b'250')
                    self.endless(b'', b'250-' + b'y' * 70 + b'\r\n')
                elif word == 'dribble':
                    secs, _, text = arg.partition(' ')
                    data, crlf = unescape(text)
                    if crlf:
                        data += b'\r\n'
                    if code is None:
                        code = data[:3].decode('latin-1')
                    begin(data)
                    for i in range(len(data)):
                        if self.send_failed:
                            break
                        self.send(data[i:i + 1])
                        time.sleep(float(secs))
                else:
                    raise SystemExit('unknown reply action !%s' % word)
                continue
            data, crlf = unescape(line)
            if crlf:
                data += b'\r\n'
            if code is None:
                code = data[:3].decode('latin-1')
            pending += data
        flush()
        return code

    def endless(self, first, more):
        self.rec.event('script: endless reply')
        self.send(first)
        while True:
            if time.monotonic() > self.deadline:
                raise Closed()
            try:
                self.sock.sendall(more)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError) as e:
                self.rec.event('endless reply ended: %s' % e)
                raise Closed()

    def ehlo_reply(self):
        caps = self.script.caps_tls if self.tls else self.script.caps_plain
        lines = [self.script.ehlo_name] + caps
        out = []
        for i, text in enumerate(lines):
            sep = ' ' if i == len(lines) - 1 else '-'
            out.append('250' + sep + text)
        return out

    # ---- TLS ------------------------------------------------------------------

    def start_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # A certificate NAME.pem over a key of its own comes with NAME-key.pem.
        key = os.path.join(self.certs, self.script.cert + '-key.pem')
        if not os.path.exists(key):
            key = os.path.join(self.certs, 'server-key.pem')
        ctx.load_cert_chain(os.path.join(self.certs, self.script.cert + '.pem'), key)
        if self.script.client_cert:
            ctx.verify_mode = (ssl.CERT_REQUIRED if self.script.client_cert == 'require'
                               else ssl.CERT_OPTIONAL)
            ctx.load_verify_locations(os.path.join(self.certs, 'ca.pem'))
        if self.script.tls_max:
            # Old protocol versions on purpose (SEC-10 tests); silence Python's deprecation note.
            warnings.filterwarnings('ignore', category=DeprecationWarning)
            ver = {'1.0': ssl.TLSVersion.TLSv1, '1.1': ssl.TLSVersion.TLSv1_1,
                   '1.2': ssl.TLSVersion.TLSv1_2, '1.3': ssl.TLSVersion.TLSv1_3}
            ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = ver[self.script.tls_max]
        if self.buf:
            self.rec.event('client sent %d bytes before the TLS handshake: %r'
                           % (len(self.buf), bytes(self.buf[:64])))
            self.consume(len(self.buf))
        try:
            self.sock.settimeout(max(1.0, self.deadline - time.monotonic()))
            self.sock = ctx.wrap_socket(self.raw_sock, server_side=True)
            self.sock.settimeout(0.5)
        except (ssl.SSLError, OSError) as e:
            self.rec.event('TLS handshake failed: %s' % e)
            self.rec.write('tls.txt', 'handshake failed\n')
            raise Closed()
        self.tls = True
        self.rec.event('TLS handshake done: %s %s' % (self.sock.version(), self.sock.cipher()[0]))
        client = ''
        if self.script.client_cert:
            # The client certificate, verified against ca.pem (getpeercert is empty without).
            peer = self.sock.getpeercert() or {}
            cn = [v for rdn in peer.get('subject', ()) for k, v in rdn if k == 'commonName']
            client = ' client=%s' % (cn[0] if cn else 'none')
        self.rec.write('tls.txt', 'handshake ok %s%s\n' % (self.sock.version(), client))

    # ---- the dialogue -----------------------------------------------------------

    def next_count(self, verb):
        self.counts[verb] = self.counts.get(verb, 0) + 1
        return self.counts[verb]

    def respond(self, verb, n, default):
        delay = self.script.lookup(self.script.delays, verb, n)
        if delay:
            time.sleep(delay)
        reply = self.reply_for(verb, n)
        if reply is None:
            reply = default
        return self.run_reply(reply)

    def socks5_front(self):
        """RFC 1928: the greeting (§3), then one CONNECT request (§4), recorded in socks.txt
        as "CONNECT domain NAME:PORT" (or ipv4/ipv6 ADDR:PORT); the reply code comes from the
        script (`socks5 N`); on success the SMTP dialogue follows on the same connection."""
        def take(n):
            while len(self.buf) < n:
                self.recv_more()
            data = bytes(self.buf[:n])
            self.consume(n)
            return data
        ver, nmethods = take(2)
        methods = take(nmethods)
        self.rec.write('socks.txt', 'GREETING version %d methods %s\n'
                       % (ver, ','.join(str(m) for m in methods)))
        if ver != 5 or 0 not in methods:
            self.send(b'\x05\xff')
            self.close()
            raise Closed()
        self.send(b'\x05\x00')
        ver, cmd, _, atyp = take(4)
        if atyp == 1:
            kind, addr = 'ipv4', socket.inet_ntop(socket.AF_INET, take(4))
        elif atyp == 4:
            kind, addr = 'ipv6', socket.inet_ntop(socket.AF_INET6, take(16))
        elif atyp == 3:
            kind, addr = 'domain', take(take(1)[0]).decode('latin-1')
        else:
            kind, addr = 'atyp%d' % atyp, '?'
        port = int.from_bytes(take(2), 'big')
        self.rec.write('socks.txt', 'CONNECT %s %s:%d (version %d, command %d)\n'
                       % (kind, addr, port, ver, cmd))
        code = self.script.socks5
        self.send(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        if code != 0:
            self.close()
            raise Closed()

    def serve(self):
        self.sock.settimeout(0.5)
        if self.script.socks5 is not None:
            self.socks5_front()
        if self.script.implicit_tls:
            self.start_tls()
        self.respond('GREETING', 1, DEFAULT_REPLIES['GREETING'])
        while True:
            line, bare_lf = self.readline()
            self.rec.command(line, bare_lf)
            verb = line.split(b' ', 1)[0].decode('latin-1').upper()
            # RFC 3030 §2: "BDAT" SP chunk-size [ SP "LAST" ]
            bdat = re.fullmatch(rb'BDAT ([0-9]{1,12})( LAST)?', line, re.I)
            item = verb if verb else '(empty)'
            if bdat and bdat.group(2):
                item = 'BDAT-LAST'
            self.rec.item(item, self.line_arrival)
            if self.hung:
                continue
            n = self.next_count(verb)
            if verb in ('MAIL', 'RSET') and self.bdat_name is not None:
                self.rec.event('%s ends a BDAT transaction that had no LAST chunk' % verb)
                self.bdat_name = None
            if verb == 'RCPT':
                code = self.respond(verb, n, DEFAULT_REPLIES['RCPT'])
                if code and code.startswith('2'):
                    self.accepted += 1
                continue
            if verb in ('MAIL', 'RSET'):
                self.accepted = 0
            if self.script.lmtp and verb in ('EHLO', 'HELO'):
                # RFC 2033 §4.1: an LMTP server knows LHLO only.
                self.respond(verb, n, ['500 5.5.1 this is LMTP: use LHLO'])
            elif verb == 'EHLO' or (verb == 'LHLO' and self.script.lmtp):
                self.respond(verb, n, self.ehlo_reply())
            elif verb == 'STARTTLS':
                code = self.respond('STARTTLS', n, DEFAULT_REPLIES['STARTTLS'])
                if code == '220' and not self.hung:
                    self.start_tls()
            elif verb == 'AUTH':
                self.auth(line, n)
            elif verb == 'DATA':
                self.poll_more()
                if self.buf:
                    # The client sent message data before it had our 354 (RFC 2920 §3.1).
                    self.rec.event('client sent %d bytes after DATA before the 354' % len(self.buf))
                    self.rec.item('+early-data', self.line_arrival, order=False)
                code = self.respond('DATA', n, DEFAULT_REPLIES['DATA'])
                if code == '354' and not self.hung:
                    self.data()
            elif verb == 'BDAT':
                if bdat:
                    self.chunk(n, int(bdat.group(1)), bool(bdat.group(2)))
                else:
                    self.rec.event('BDAT with bad syntax; its data (if any) reads as commands')
                    self.respond('BDAT', n, ['501 5.5.4 syntax: BDAT <size> [LAST]'])
            else:
                self.respond(verb, n, DEFAULT_REPLIES.get(verb, UNKNOWN_REPLY))

    def data(self):
        name = self.rec.new_data()
        payload = bytearray()
        limit = self.script.drop_data_after
        while True:
            if self.buf:
                take = bytes(self.buf)
                start = max(0, len(payload) - 4)
                payload += take
                end = -1
                if payload.startswith(b'.\r\n'):
                    end = 3
                else:
                    i = payload.find(b'\r\n.\r\n', start)
                    if i >= 0:
                        end = i + 5
                if end >= 0:
                    # Bytes after the terminator are the next commands: they stay in buf.
                    used = len(take) - (len(payload) - end)
                    self.rec.write(name, take[:used])
                    arrival = self.arrival(used - 1)
                    self.consume(used)
                    del payload[end:]
                    self.rec.command(b'.', False)
                    self.rec.item('.', arrival)
                    n = self.next_count('DOT')
                    self.rec.event('end of data %d (%d bytes)' % (self.rec.data_index, len(payload)))
                    if self.script.lmtp:
                        # RFC 2033 §4.2: one reply per accepted recipient, in order; each
                        # from `reply LMTP#i` (the i-th accepted recipient), else `reply
                        # LMTP`, else 250.
                        for i in range(1, self.accepted + 1):
                            self.respond('LMTP', i, ['250 2.0.0 delivered'])
                        self.accepted = 0
                        return
                    self.respond('DOT', n, DEFAULT_REPLIES['DOT'])
                    return
                self.rec.write(name, take)
                self.consume(len(take))
                if limit is not None and len(payload) >= limit:
                    self.rec.event('script: drop after %d data bytes' % len(payload))
                    self.close()
                    raise Closed()
            self.recv_more()

    def chunk(self, n, size, last):
        """BDAT n [LAST] (RFC 3030 §2): exactly SIZE octets follow the command line.

        They are counted, not parsed: any byte may come, a line that is just "." ends
        nothing, and the octets go to the data file unchanged. The first chunk of a
        transaction starts a new data file; LAST closes it. Replies: BDAT#N, then LAST (the
        LAST chunk), then BDAT, then the default."""
        if self.bdat_name is None:
            self.bdat_name = self.rec.new_data()
            self.bdat_total = 0
            self.bdat_chunk = 0
        self.bdat_chunk += 1
        limit = self.script.drop_data_after
        got = 0
        try:
            while True:
                if limit is not None and self.bdat_total >= limit:
                    self.rec.event('script: drop after %d data bytes (in chunk %d, %d of %d)'
                                   % (self.bdat_total, self.bdat_chunk, got, size))
                    self.close()
                    raise Closed()
                if got == size:
                    break
                if not self.buf:
                    self.recv_more()
                take = min(len(self.buf), size - got)
                if limit is not None:
                    take = min(take, limit - self.bdat_total)
                self.rec.write(self.bdat_name, bytes(self.buf[:take]))
                self.consume(take)
                got += take
                self.bdat_total += take
        except Closed:
            if not self.closed:
                self.rec.event('chunk %d ended early: %d of %d octets'
                               % (self.bdat_chunk, got, size))
            raise
        self.rec.event('chunk %d of data %d: %d octets%s (%d in all)'
                       % (self.bdat_chunk, self.rec.data_index, size, ' LAST' if last else '',
                          self.bdat_total))
        k = self.next_count('LAST') if last else None
        if last:
            self.bdat_name = None

        def pick(table, default):
            if ('BDAT', n) in table:
                return table[('BDAT', n)]
            if last:
                r = self.script.lookup(table, 'LAST', k)
                if r is not None:
                    return r
            return table.get(('BDAT', None), default)

        delay = pick(self.script.delays, None)
        if delay:
            time.sleep(delay)
        self.run_reply(pick(self.script.replies,
                            DEFAULT_REPLIES['LAST' if last else 'BDAT']))

    def auth(self, line, n):
        parts = line.decode('latin-1').split()
        mech = parts[1].upper() if len(parts) > 1 else ''
        initial = parts[2] if len(parts) > 2 else None

        def b64(text):
            try:
                return base64.b64decode(text.encode('latin-1'), validate=True)
            except ValueError:
                return None

        def text(raw):
            # Credentials are UTF-8 (RFC 4616); anything else shows as \xNN.
            return raw.decode('utf-8', 'backslashreplace')

        def continuation(prompt):
            self.run_reply([prompt])
            resp, bare = self.readline()
            self.rec.command(resp, bare)
            self.rec.item('(sasl)', self.line_arrival)
            return resp.decode('latin-1')

        if mech == 'PLAIN':
            resp = initial
            if resp is None:
                resp = continuation('334 ')
            if resp == '*':
                self.run_reply(['501 5.0.0 authentication cancelled'])
                return
            dec = b64(resp) if resp != '=' else b''
            if dec is None or dec.count(b'\0') != 2:
                self.rec.write('auth.txt', 'PLAIN undecodable %r\n' % resp)
                self.run_reply(['501 5.5.2 cannot decode response'])
                return
            authzid, user, password = dec.split(b'\0')
            user, password = text(user), text(password)
            rec = 'PLAIN '
            if authzid:
                rec += 'authzid=%s ' % escape_line(authzid)
            self.rec.write('auth.txt', rec + 'user=%s pass=%s\n' % (user, password))
        elif mech == 'LOGIN':
            if initial is not None:
                u = initial
            else:
                u = continuation('334 VXNlcm5hbWU6')
            if u == '*':
                self.run_reply(['501 5.0.0 authentication cancelled'])
                return
            p = continuation('334 UGFzc3dvcmQ6')
            if p == '*':
                self.run_reply(['501 5.0.0 authentication cancelled'])
                return
            du, dp = b64(u), b64(p)
            if du is None or dp is None:
                self.rec.write('auth.txt', 'LOGIN undecodable\n')
                self.run_reply(['501 5.5.2 cannot decode response'])
                return
            user, password = text(du), text(dp)
            self.rec.write('auth.txt', 'LOGIN user=%s pass=%s\n' % (user, password))
        elif mech == 'EXTERNAL':
            # RFC 4422 App. A: who we are comes from the TLS client certificate; the
            # response is the authzid ('=' for none). auth.txt: "EXTERNAL cert=CN authzid=Z".
            resp = initial if initial is not None else continuation('334 ')
            dec = b64(resp) if resp != '=' else b''
            peer = self.sock.getpeercert() if isinstance(self.sock, ssl.SSLSocket) else None
            cn = [v for rdn in (peer or {}).get('subject', ()) for k, v in rdn
                  if k == 'commonName']
            self.rec.write('auth.txt', 'EXTERNAL cert=%s authzid=%s\n'
                           % (cn[0] if cn else 'none', text(dec) if dec is not None else '?'))
            if not cn:
                self.run_reply(['535 5.7.8 no client certificate'])
                return
            self.respond('AUTH', n, DEFAULT_REPLIES['AUTH'])
            return
        else:
            self.rec.write('auth.txt', 'unsupported mechanism %s\n' % mech)
            self.run_reply(['504 5.5.4 mechanism not supported'])
            return
        if self.script.auth_creds and (user, password) != self.script.auth_creds:
            if self.reply_for('AUTH', n) is None:
                self.run_reply(['535 5.7.8 authentication credentials invalid'])
                return
        self.respond('AUTH', n, DEFAULT_REPLIES['AUTH'])


def listen(bind=None, port=0):
    """Listen on 127.0.0.1 (ephemeral port) and, if possible, ::1 on the same port; or on
    BIND:PORT only."""
    socks = []
    s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if bind:
        s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s4.bind((bind, port))
        s4.listen(4)
        return [s4], s4.getsockname()[1]
    s4.bind(('127.0.0.1', 0))
    s4.listen(4)
    socks.append(s4)
    port = s4.getsockname()[1]
    try:
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s6.bind(('::1', port))
        s6.listen(4)
        socks.append(s6)
    except OSError:
        pass
    return socks, port


def main():
    ap = argparse.ArgumentParser(description='scripted fake SMTP server (one connection)')
    ap.add_argument('--script', required=True)
    ap.add_argument('--certs', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--bind', help='listen on this address only')
    ap.add_argument('--port', type=int, default=0, help='with --bind: this port')
    ap.add_argument('--unix', help='with the unix-socket directive: listen on this path too')
    args = ap.parse_args()

    script = Script(args.script)
    rec = Recorder(args.out)
    for name in ('commands.txt', 'segments.txt', 'auth.txt', 'events.txt'):
        rec.write(name, b'')
    rec.write('connections', '0\n')

    def watchdog():
        rec.event('hard deadline: exiting')
        os._exit(3)
    timer = threading.Timer(script.deadline + 2.0, watchdog)
    timer.daemon = True
    timer.start()

    try:
        socks, port = listen(args.bind, args.port)
    except PermissionError as e:
        print('SKIP cannot listen on %s:%d: %s' % (args.bind, args.port, e), flush=True)
        return 0
    except OSError as e:
        print('BUSY cannot listen on %s:%d: %s' % (args.bind, args.port, e), flush=True)
        return 0
    if script.unix_socket:
        us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        us.bind(args.unix)
        us.listen(4)
        socks.append(us)
    print('PORT %d' % port, flush=True)

    conn = None
    while conn is None:
        left = START + script.deadline - time.monotonic()
        if left <= 0:
            rec.event('no connection before the deadline')
            return 0
        ready, _, _ = select.select(socks, [], [], min(left, 0.5))
        for s in ready:
            conn, peer = s.accept()
            break
    for s in socks:
        s.close()
    with open(os.path.join(args.out, 'connections'), 'w') as f:
        f.write('1\n')
    rec.event('accepted connection from %s' % (peer,))
    rec.write('peer', '%s\n' % (peer[0] if isinstance(peer, tuple) else 'unix:' + (peer or '')))
    session = Session(conn, script, args.certs, rec)
    try:
        session.serve()
    except Closed:
        pass
    finally:
        session.close()
        rec.event('done')
    return 0


if __name__ == '__main__':
    sys.exit(main())
