#!/usr/bin/env python3
# fakesmtp.py: THE fake SMTP server of the Python test suites (standard library only). One
# module, these modes:
#
#   the scripted server   one connection, every reply from a script (tests/proto/*.case's
#                         <server> section; tests/proto/README.md documents the language),
#                         everything the client sent recorded in files. Run as a program:
#                           fakesmtp.py --script FILE --certs DIR --out DIR [...]
#                         Used by tests/proto (run.py) and tests/secret (fakeoauth.py).
#   the sink              any number of connections, every accepted message recorded with its
#                         envelope; it can refuse, reject and hold at any step, take any
#                         certificate (STARTTLS or implicit TLS, a client certificate asked
#                         for), offer any AUTH mechanism, answer from a small script, and it
#                         logs every byte and decoded base64 word it gets. Imported
#                         (Sink(dir, **behaviour)) by tests/queue, tests/serve, tests/callers
#                         and tests/attack (its victims' and attackers' servers), or run as a
#                         program:
#                           fakesmtp.py sink DIR [--hold STEP ...]
#   the SOCKS5 proxy      Socks5Proxy(name, mode): forwards, diverts or refuses, and logs what
#                         it is asked and every byte it gets (tests/attack).
#
# ==== the scripted server ====
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
# The script language is documented in tests/proto/README.md. Also:
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
import binascii
import json
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


def server_context(cert, key, client_ca=None, require=False):
    """A server TLS context with CERT and KEY (PEM paths); with CLIENT_CA it asks for a
    client certificate of that CA (REQUIRE: the handshake fails without one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


def peer_cn(sock):
    """The commonName of the client certificate SOCK verified, or None."""
    try:
        peer = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
    except (ValueError, ssl.SSLError):
        peer = None
    cn = [v for rdn in (peer or {}).get('subject', ()) for k, v in rdn if k == 'commonName']
    return cn[0] if cn else None


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
        # A certificate NAME.pem over a key of its own comes with NAME-key.pem.
        key = os.path.join(self.certs, self.script.cert + '-key.pem')
        if not os.path.exists(key):
            key = os.path.join(self.certs, 'server-key.pem')
        ctx = server_context(os.path.join(self.certs, self.script.cert + '.pem'), key,
                             os.path.join(self.certs, 'ca.pem') if self.script.client_cert
                             else None, self.script.client_cert == 'require')
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
            client = ' client=%s' % (peer_cn(self.sock) or 'none')
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
        ver, methods = socks5_greeting(take)
        self.rec.write('socks.txt', 'GREETING version %d methods %s\n'
                       % (ver, ','.join(str(m) for m in methods)))
        if ver != 5 or 0 not in methods:
            self.send(b'\x05\xff')
            self.close()
            raise Closed()
        self.send(b'\x05\x00')
        ver, cmd, kind, addr, port = socks5_request(take)
        self.rec.write('socks.txt', 'CONNECT %s %s:%d (version %d, command %d)\n'
                       % (kind, addr, port, ver, cmd))
        code = self.script.socks5
        self.send(socks5_reply(code))
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

    def sasl_response(self, prompt):
        """Send PROMPT (a 334 line) and return the client's response line, recorded as a
        command ("(sasl)" in segments.txt and order.txt)."""
        self.run_reply([prompt])
        resp, bare = self.readline()
        self.rec.command(resp, bare)
        self.rec.item('(sasl)', self.line_arrival)
        return resp.decode('latin-1')

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

        if mech == 'PLAIN':
            resp = initial
            if resp is None:
                resp = self.sasl_response('334 ')
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
                u = self.sasl_response('334 VXNlcm5hbWU6')
            if u == '*':
                self.run_reply(['501 5.0.0 authentication cancelled'])
                return
            p = self.sasl_response('334 UGFzc3dvcmQ6')
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
            resp = initial if initial is not None else self.sasl_response('334 ')
            dec = b64(resp) if resp != '=' else b''
            cn = peer_cn(self.sock)
            self.rec.write('auth.txt', 'EXTERNAL cert=%s authzid=%s\n'
                           % (cn or 'none', text(dec) if dec is not None else '?'))
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




# ==== the many-connection servers: the sink and the SOCKS5 proxy ====
#
# Both listen on 127.0.0.1 (an ephemeral port unless one is given) or on a unix socket
# (unix=PATH), serve any number of connections at once (one thread each), count them
# (connections), and stop by themselves after `deadline` seconds (default 60) or at stop().
# listening=False binds the port but refuses every connection (a stopped server) until
# listen(). wait_idle() waits until every connection so far has ended, so what they recorded
# is complete.
#
# ---- the sink ----
#
# It records every message it accepts (the final 2xx was decided) with its envelope:
# DIR/msg-NNNN.eml holds the message as received (dot-stuffing undone), DIR/log.jsonl one
# JSON line per message (seq, conn, mode, mail_from, rcpts, size, message_id). Counting
# Message-IDs in that log finds every duplicate.
#
# What it can be told to do (Sink(...) keywords, or the flags of the command line):
#   chunking     offer CHUNKING (RFC 3030) beside PIPELINING, so postie sends BDAT
#   pipelining   offer PIPELINING (default on)
#   size=N       offer SIZE N (RFC 1870)
#   hostname     its name in the greeting and the EHLO reply (default sink.test)
#   refuse=N     answer refuse_reply (default 451 4.3.0; a 5xx works too) to the first N
#                transactions (-1: to all), at refuse_at: 'mail', 'rcpt' (every RCPT of the
#                transaction), 'data' (the DATA command) or 'dot' (the end of the data)
#   reject       addresses whose RCPT is answered 550 5.1.1
#   rcpt_reply   {address: reply}: the reply to RCPT of that address (e.g. a 452)
#   certs=DIR    TLS with DIR/server.pem and DIR/server-key.pem (tests/gencerts.sh); or
#   cert, key    TLS with that certificate and key (PEM paths);
#   client_ca    with TLS: ask for a client certificate of that CA (its commonName is noted
#                in `decoded` as CLIENT-CERT:NAME)
#   tls_mode     with TLS: 'starttls' (default: STARTTLS offered, AUTH only after it) or
#                'implicit' (TLS from the first byte, RFC 8314)
#   auth         the SASL mechanisms offered (default PLAIN with TLS, none without); any
#                credentials are accepted (LOGIN asks for user and password, a mechanism
#                without an initial response gets one 334)
#   script       {KEY: [lines]}: replaces the reply to KEY, a verb (EHLO for EHLO, HELO and
#                LHLO) or GREETING, DOT (the end of DATA), BDAT (a chunk), LAST (BDAT LAST);
#                KEY#N (N counts KEY on the connection) goes before KEY. A line is a reply
#                line, or `!raw TEXT` (sent as it is, after the escapes of tests/proto's
#                language), `!close` (hang up) or `!hang` (say nothing more). A message whose
#                end of data is answered by the script is recorded all the same.
#   hold=STEP    stop at STEP of transaction hold_txn (1-based, counted per connection) of
#                the first connection that gets there: write DIR/reached-STEP, set the
#                event, and from then on say nothing (keep reading until the client goes):
#                  greeting    connected, no greeting sent
#                  mail        MAIL received, not answered
#                  rcpt        the first RCPT received, not answered
#                  data-mid    part of the message data received, not its end
#                  dot         the end of the data received, the message NOT accepted and
#                              no reply (the server did not take it)
#                  dot-commit  the end of the data received and the message accepted
#                              (recorded), but the reply never sent (it was lost)
#                  reply       the 2xx to the end of the data sent; nothing after it is
#                              answered (the next MAIL, or QUIT)
#                  quit        QUIT received, not answered
#                A hold happens once; later connections are served normally.
#
# What it saw: messages (as in log.jsonl; bodies() gives their data), sessions (per
# connection, the command verbs in order: RSETs and QUITs can be counted), commands (every
# line received outside message data, SASL responses too, all connections), raw (every byte
# received, after TLS), decoded (every base64 word of those lines, decoded, and the client
# certificates), text() (raw and decoded as one string to search), the events
# reached[STEP], sent['refused'] and sent['accepted'] (set once such a reply has been
# written: a test can kill postie while it records the outcome). configure(...) changes any
# of the behaviour above for what comes next.
#
#   python3 fakesmtp.py sink DIR [--port N] [--chunking] [--refuse N --refuse-at dot] [--reject A]
#       [--hold STEP --hold-txn N] [--certs DIR] [--deadline S]
# prints the port on its first line of output, then serves; it stops when DIR/stop appears.
#
# ---- the SOCKS5 proxy ----
#
# Socks5Proxy(name, mode): RFC 1928, no authentication; it records each request (requests:
# "CONNECT HOST:PORT") and every byte the client sends (raw; text() has both), then
# 'forward's to the requested destination when it is a loopback name, 'divert's to DIVERT
# (host, port) whatever was asked, or 'refuse's (reply 5, connection refused). The scripted
# server's `socks5 N` front parses the same requests (socks5_greeting, socks5_request).


STEPS = ('greeting', 'mail', 'rcpt', 'data-mid', 'dot', 'dot-commit', 'reply', 'quit')
REFUSE_AT = ('mail', 'rcpt', 'data', 'dot')
DATA_READ = 1024      # message data is read in small pieces, so a hold can fall inside it
LINE_MAX = 4096       # a command line longer than this closes the connection
IO_POLL = 0.2         # how often a waiting thread looks whether the server is stopping
MSGID_RE = re.compile(rb'^message-id:[ \t]*(<[^>\r\n]*>)', re.I | re.M)


class Hang(Exception):
    """A hold was reached: stop answering."""


class Gone(Exception):
    """The client closed the connection, the server hung up, or it is stopping."""


def decode_words(line):
    """Every word of LINE that is base64 (4 characters or more), decoded (latin-1)."""
    out = []
    for w in re.split(r'[ \t]+', line.strip()):
        if len(w) < 4 or not re.fullmatch(r'[A-Za-z0-9+/]+=*', w):
            continue
        try:
            raw = base64.b64decode(w + '=' * (-len(w) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        out.append(raw.decode('latin-1'))
    return out


def drain(sock, limit=2.0):
    """Wait (briefly) until no connection waits in listening SOCK's backlog: one a client
    made just before it exited is then accepted and counted."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            ready, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return
        if not ready:
            return
        time.sleep(0.01)


def socks5_greeting(take):
    """RFC 1928 §3: the client's greeting, read with TAKE(n) -> bytes: (version, methods)."""
    ver, nmethods = take(2)
    return ver, take(nmethods)


def socks5_request(take):
    """RFC 1928 §4: the client's request: (version, command, kind, address, port), kind
    'ipv4', 'ipv6', 'domain' or 'atypN' (address '?': one this parser does not know)."""
    ver, cmd, _, atyp = take(4)
    if atyp == 1:
        kind, addr = 'ipv4', socket.inet_ntop(socket.AF_INET, take(4))
    elif atyp == 4:
        kind, addr = 'ipv6', socket.inet_ntop(socket.AF_INET6, take(16))
    elif atyp == 3:
        kind, addr = 'domain', take(take(1)[0]).decode('latin-1')
    else:
        kind, addr = 'atyp%d' % atyp, '?'
    return ver, cmd, kind, addr, int.from_bytes(take(2), 'big')


def socks5_reply(code):
    """RFC 1928 §6: the reply with CODE (0 succeeded, 5 connection refused), bound 0.0.0.0:0."""
    return bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])


class Listener:
    """What the sink and the proxy share (see above): the socket, the accept loop with one
    thread per connection (handle(conn, number) in a subclass), the deadline, stop() and
    wait_idle(). A subclass sets its own attributes before it calls __init__ (which may
    start listening)."""

    def __init__(self, name, port=0, unix=None, listening=True, deadline=60.0):
        self.name = name
        self.unix = unix
        self.deadline = deadline
        self.lock = threading.Lock()
        self.connections = 0
        self.stopping = threading.Event()
        self.threads = []
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Bound but not listening: a connection is refused, as by a stopped server.
            self.sock.bind(('127.0.0.1', port))
            self.port = self.sock.getsockname()[1]
        self.listening = False
        self.timer = threading.Timer(deadline, self.stop)
        self.timer.daemon = True
        self.timer.start()
        if listening:
            self.listen()

    def listen(self):
        """Start accepting connections (until then every connect is refused)."""
        if self.listening:
            return
        self.listening = True
        self.sock.listen(256)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        self.sock.settimeout(IO_POLL)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.connections += 1
                n = self.connections
                self.opened(n)
            t = threading.Thread(target=self.handle, args=(conn, n), daemon=True)
            self.threads = [x for x in self.threads if x.is_alive()] + [t]
            t.start()

    def opened(self, number):
        """Connection NUMBER was accepted (called with the lock held)."""

    def handle(self, conn, number):
        raise NotImplementedError

    def wait_idle(self, timeout=10.0):
        """Wait until every connection so far has ended: what it recorded is complete, and
        what a killed client left in flight is answered under the old configuration, before
        a test changes it."""
        if self.listening and not self.stopping.is_set():
            drain(self.sock)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            threads = list(self.threads)
            if not any(t.ident is None or t.is_alive() for t in threads):
                return True
            for t in threads:
                if t.ident is None:
                    time.sleep(0.001)  # appended by accept_loop, about to start
                else:
                    t.join(max(0.0, end - time.monotonic()))
        return False

    def stop(self):
        self.stopping.set()
        self.timer.cancel()
        try:
            self.sock.close()
        except OSError:
            pass
        if self.unix:
            try:
                os.unlink(self.unix)
            except OSError:
                pass
        for t in list(self.threads):
            if t.ident is not None and t is not threading.current_thread():
                t.join(2.0)


class Sink(Listener):
    """The sink (see above). A subclass may serve with its own SinkConnection subclass."""

    connection_class = None   # SinkConnection (set below it); a subclass may name its own

    def __init__(self, directory, port=0, listening=True, chunking=False, pipelining=True,
                 refuse=0, refuse_at='dot', refuse_reply='451 4.3.0 sink: try again later',
                 reject=(), rcpt_reply=None, certs=None, hold=None, hold_txn=1, deadline=60.0,
                 name=None, unix=None, cert=None, key=None, client_ca=None,
                 tls_mode='starttls', auth=None, size=None, hostname='sink.test', script=None):
        if hold is not None and hold not in STEPS:
            raise ValueError('unknown hold step %r' % hold)
        if refuse_at not in REFUSE_AT:
            raise ValueError('unknown refuse_at %r' % refuse_at)
        if tls_mode not in ('starttls', 'implicit'):
            raise ValueError('unknown tls_mode %r' % tls_mode)
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.chunking = chunking
        self.pipelining = pipelining
        self.size = size
        self.hostname = hostname
        self.refuse = refuse
        self.refuse_at = refuse_at
        self.refuse_reply = refuse_reply
        self.reject = {a.lower() for a in reject}
        self.rcpt_reply = {k.lower(): v for k, v in (rcpt_reply or {}).items()}
        self.hold = hold
        self.hold_txn = hold_txn
        self.script = dict(script or {})
        if certs:
            cert, key = os.path.join(certs, 'server.pem'), os.path.join(certs, 'server-key.pem')
        self.tls = server_context(cert, key, client_ca) if cert else None
        self.tls_mode = tls_mode if self.tls else None
        self.auth = tuple(auth) if auth is not None else (('PLAIN',) if self.tls else ())
        self.messages = []        # accepted messages: dicts as in log.jsonl
        self.unaccepted = 0       # ends of data received and not accepted (hold 'dot', 4xx)
        self.sessions = []        # per connection: the command verbs received, in order
        self.commands = []        # every line received outside message data, in order
        self.raw = bytearray()    # every byte received, after TLS
        self.decoded = []         # base64 words of those lines, decoded; client certificates
        self.refused = 0
        self.reached = {s: threading.Event() for s in STEPS}
        # Set when a refusal (refuse_reply) or an acceptance (the 2xx to the end of the data)
        # has been written to a client: a test can then kill postie while it records it.
        self.sent = {'refused': threading.Event(), 'accepted': threading.Event()}
        super().__init__(name or os.path.basename(directory), port=port, unix=unix,
                         listening=listening, deadline=deadline)

    # ---- control -------------------------------------------------------------------

    def configure(self, **kw):
        """Change behaviour for what comes next (hold, refuse, reject, script, ...)."""
        with self.lock:
            for k, v in kw.items():
                if k == 'reject':
                    v = {a.lower() for a in v}
                if k == 'rcpt_reply':
                    v = {a.lower(): r for a, r in v.items()}
                if not hasattr(self, k):
                    raise AttributeError(k)
                setattr(self, k, v)
            if 'refuse' in kw:
                self.refused = 0
            if 'hold' in kw:
                for ev in self.reached.values():
                    ev.clear()
            for ev in self.sent.values():
                ev.clear()

    def wait_reached(self, step, timeout=10.0):
        return self.reached[step].wait(timeout)

    # ---- what it saw ---------------------------------------------------------------

    def count_by_msgid(self):
        counts = {}
        with self.lock:
            for m in self.messages:
                counts[m['message_id']] = counts.get(m['message_id'], 0) + 1
        return counts

    def bodies(self):
        """The data of every recorded message, in order (msg-NNNN.eml)."""
        with self.lock:
            seqs = [m['seq'] for m in self.messages]
        out = []
        for seq in seqs:
            with open(os.path.join(self.dir, 'msg-%04d.eml' % seq), 'rb') as f:
                out.append(f.read())
        return out

    def text(self):
        """Everything this server received, and what it decoded, as one string to search."""
        with self.lock:
            return self.raw.decode('latin-1') + '\n' + '\n'.join(self.decoded)

    # ---- serving -------------------------------------------------------------------

    def opened(self, number):
        self.sessions.append([])

    def handle(self, conn, number):
        self.connection_class(self, conn, number).serve()

    def received(self, data):
        with self.lock:
            self.raw += data

    def heard(self, number, line, verb=None):
        """Connection NUMBER sent LINE (a command: VERB, or a SASL response)."""
        with self.lock:
            self.commands.append(line)
            self.decoded.extend(decode_words(line))
            if verb is not None:
                self.sessions[number - 1].append(verb)

    def learnt(self, text):
        with self.lock:
            self.decoded.append(text)

    def take_hold(self, step, txn):
        """True when this connection must stop at STEP now (a hold happens once)."""
        with self.lock:
            if self.hold != step or (txn is not None and txn != self.hold_txn):
                return False
            self.hold = None
        with open(os.path.join(self.dir, 'reached-' + step), 'w', encoding='ascii') as f:
            f.write('%s\n' % time.time())
        self.reached[step].set()
        return True

    def take_refuse(self, at):
        with self.lock:
            if self.refuse_at != at or (self.refuse >= 0 and self.refused >= self.refuse):
                return False
            self.refused += 1
            return True

    def accept(self, conn_no, mode, mail_from, rcpts, data):
        m = MSGID_RE.search(data.split(b'\r\n\r\n', 1)[0])
        with self.lock:
            seq = len(self.messages) + 1
            rec = {
                'seq': seq, 'conn': conn_no, 'mode': mode, 'mail_from': mail_from,
                'rcpts': list(rcpts), 'size': len(data),
                'message_id': m.group(1).decode('utf-8', 'replace') if m else None,
                'time': time.time(),
            }
            with open(os.path.join(self.dir, 'msg-%04d.eml' % seq), 'wb') as f:
                f.write(data)
            with open(os.path.join(self.dir, 'log.jsonl'), 'a', encoding='utf-8') as f:
                f.write(json.dumps(rec) + '\n')
            self.messages.append(rec)
        return seq


class SinkConnection:
    """One connection to the sink: the dialogue (RFC 5321 with PIPELINING, CHUNKING,
    STARTTLS and AUTH), the sink's holds, refusals and script. command(line) handles one
    command line: a subclass may wrap it."""

    def __init__(self, sink, sock, number):
        self.sink = sink
        self.sock = sock
        self.no = number
        self.buf = bytearray()
        self.txn = 0
        self.counts = {}   # replies per script key on this connection
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpts = []
        self.bdat = None   # message bytes gathered by BDAT, or None
        self.refusing = None  # refuse_at 'rcpt': whether this transaction's RCPTs are refused

    # ---- bytes ---------------------------------------------------------------------

    def recv(self, n):
        while True:
            if self.sink.stopping.is_set():
                raise Gone()
            try:
                b = self.sock.recv(n)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                raise Gone()
            if not b:
                raise Gone()
            self.sink.received(b)
            self.buf += b
            return

    def send(self, data):
        """Send DATA: a reply line (str, CRLF added) or bytes as they are."""
        if isinstance(data, str):
            data = data.encode('utf-8') + b'\r\n'
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError):
            raise Gone()

    def line(self):
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out.rstrip(b'\r\n').decode('utf-8', 'replace')
            if len(self.buf) > LINE_MAX:
                raise Gone()
            self.recv(4096)

    def sasl_line(self):
        """One response line of a SASL exchange, recorded (and decoded) like a command."""
        line = self.line()
        self.sink.heard(self.no, line)
        return line

    def hold(self, step, txn=None):
        if self.sink.take_hold(step, txn):
            raise Hang()

    def hang(self):
        """Say nothing more; read and drop whatever comes until the client goes."""
        try:
            while True:
                self.buf.clear()
                self.recv(4096)
        except Gone:
            pass

    def answer(self, key, default):
        """Send the reply to KEY: the sink's script for it, else DEFAULT (the lines). Returns
        the code of the first reply line sent, or None."""
        self.counts[key] = self.counts.get(key, 0) + 1
        script = self.sink.script
        lines = script.get('%s#%d' % (key, self.counts[key]), script.get(key, default))
        code = None
        for x in lines:
            if x == '!close':
                raise Gone()
            if x == '!hang':
                raise Hang()
            if x.startswith('!raw '):
                self.send(unescape(x[5:])[0])
                continue
            code = code or x[:3]
            self.send(x)
        return code

    def start_tls(self):
        try:
            self.sock.settimeout(10)
            self.sock = self.sink.tls.wrap_socket(self.sock, server_side=True)
            self.sock.settimeout(IO_POLL)
        except (OSError, ssl.SSLError):
            raise Gone()
        cn = peer_cn(self.sock)
        if cn:
            self.sink.learnt('CLIENT-CERT:%s' % cn)

    # ---- the session ---------------------------------------------------------------

    def serve(self):
        self.sock.settimeout(IO_POLL)
        if self.sock.family != socket.AF_UNIX:
            # Each reply goes out at once: without this, Nagle's algorithm holds the second
            # of two pipelined replies for the client's delayed ACK (40 ms a transaction).
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.sink.tls_mode == 'implicit':
                self.start_tls()
            self.hold('greeting')
            self.answer('GREETING', ['220 %s ESMTP postie test sink' % self.sink.hostname])
            while self.command(self.line()):
                pass
        except Hang:
            self.hang()
        except Gone:
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def caps(self):
        caps = ['8BITMIME', 'ENHANCEDSTATUSCODES']
        if self.sink.size:
            caps.append('SIZE %d' % self.sink.size)
        if self.sink.pipelining:
            caps.append('PIPELINING')
        if self.sink.chunking:
            caps.append('CHUNKING')
        if self.sink.tls_mode == 'starttls' and not isinstance(self.sock, ssl.SSLSocket):
            caps.append('STARTTLS')
        elif self.sink.auth:
            caps.append('AUTH ' + ' '.join(self.sink.auth))
        return caps

    # The handler of each verb: do_NAME(verb, arg), True to go on; do_other for the rest.
    VERBS = {'EHLO': 'hello', 'HELO': 'hello', 'LHLO': 'hello', 'STARTTLS': 'starttls',
             'AUTH': 'auth', 'MAIL': 'mail', 'RCPT': 'rcpt', 'DATA': 'data', 'BDAT': 'bdat',
             'RSET': 'rset', 'QUIT': 'quit'}

    def command(self, line):
        """Handle one command LINE; False: the connection ends."""
        verb, _, arg = line.partition(' ')
        verb = verb.upper()
        self.sink.heard(self.no, line, verb)
        return getattr(self, 'do_' + self.VERBS.get(verb, 'other'))(verb, arg)

    def do_hello(self, verb, arg):
        self.reset()
        lines = [self.sink.hostname] + (self.caps() if verb != 'HELO' else [])
        self.answer('EHLO', ['250%s%s' % ('-' if i < len(lines) - 1 else ' ', c)
                             for i, c in enumerate(lines)])
        return True

    def do_starttls(self, verb, arg):
        if self.sink.tls_mode != 'starttls' or isinstance(self.sock, ssl.SSLSocket):
            return self.do_other(verb, arg)
        if self.buf:
            self.send('501 5.5.1 data after STARTTLS')
            return False
        if self.answer('STARTTLS', ['220 2.0.0 go ahead']) == '220':
            self.start_tls()
            self.reset()
        return True

    def do_auth(self, verb, arg):
        words = arg.split()
        mech = words[0].upper() if words else ''
        if mech == 'LOGIN':
            if len(words) < 2:
                self.send('334 VXNlcm5hbWU6')
                self.sasl_line()
            self.send('334 UGFzc3dvcmQ6')
            self.sasl_line()
        elif len(words) < 2:
            self.send('334 ')
            self.sasl_line()
        self.answer('AUTH', ['235 2.7.0 ok'])
        return True

    def do_mail(self, verb, arg):
        if self.mail_from is not None:
            # As Postfix: a transaction in progress needs RSET (or its end) first.
            self.send('503 5.5.1 Error: nested MAIL command')
            return True
        self.txn += 1
        self.reset()
        self.hold('mail', self.txn)
        if self.sink.take_refuse('mail'):
            self.refused()
            return True
        m = re.match(r'(?i)FROM:<([^>]*)>', arg)
        if not m:
            self.send('501 5.5.4 syntax')
        elif (self.answer('MAIL', ['250 2.1.0 ok']) or '').startswith('2'):
            self.mail_from = m.group(1)
        return True

    def do_rcpt(self, verb, arg):
        if self.mail_from is None:
            self.send('503 5.5.1 MAIL first')
            return True
        if not self.rcpts:
            self.hold('rcpt', self.txn)
        m = re.match(r'(?i)TO:<([^>]*)>', arg)
        if not m:
            self.send('501 5.5.4 syntax')
        elif m.group(1).lower() in self.sink.reject:
            self.send('550 5.1.1 <%s>: no such user here' % m.group(1))
        elif m.group(1).lower() in self.sink.rcpt_reply:
            self.send(self.sink.rcpt_reply[m.group(1).lower()])
        elif self.refuse_rcpt():
            self.refused()
        elif (self.answer('RCPT', ['250 2.1.5 ok']) or '').startswith('2'):
            self.rcpts.append(m.group(1))
        return True

    def do_data(self, verb, arg):
        if not self.rcpts:
            self.send('554 5.5.1 no valid recipients')
        elif self.sink.take_refuse('data'):
            self.refused()
        elif self.answer('DATA', ['354 go ahead']) == '354':
            self.end_of_data('DATA', self.read_data())
        return True

    def do_rset(self, verb, arg):
        self.reset()
        self.answer('RSET', ['250 2.0.0 ok'])
        return True

    def do_quit(self, verb, arg):
        self.hold('quit')
        self.answer('QUIT', ['221 2.0.0 bye'])
        return False

    def do_other(self, verb, arg):
        """NOOP, and every verb the sink does not know."""
        self.answer(verb, ['250 2.0.0 ok'] if verb == 'NOOP' else
                    ['500 5.5.2 unknown command'])
        return True

    def refuse_rcpt(self):
        if self.refusing is None:
            self.refusing = self.sink.take_refuse('rcpt')
        return self.refusing

    def refused(self):
        self.send(self.sink.refuse_reply)
        self.sink.sent['refused'].set()

    def read_data(self):
        """Message data up to the line of '.', dot-stuffing undone (RFC 5321 4.5.2)."""
        data = bytearray()
        while True:
            seen = len(data)
            data += self.buf
            self.buf.clear()
            if data.startswith(b'.\r\n'):
                self.buf += data[3:]
                return b''
            end = data.find(b'\r\n.\r\n', max(0, seen - 4))
            if end >= 0:
                self.buf += data[end + 5:]
                return re.sub(rb'(^|\r\n)\.', rb'\1', bytes(data[:end + 2]))
            if data:
                self.hold('data-mid', self.txn)
            self.recv(DATA_READ)

    def do_bdat(self, verb, arg):
        m = re.fullmatch(r'(\d+)( +LAST)?', arg.strip(), re.I)
        if not m:
            self.send('501 5.5.4 BDAT syntax')
            return False
        n = int(m.group(1))
        last = m.group(2) is not None
        chunk = bytearray()
        while len(chunk) < n:
            if not self.buf:
                if chunk or self.bdat:
                    self.hold('data-mid', self.txn)
                self.recv(min(DATA_READ, n - len(chunk)))
            take = self.buf[:n - len(chunk)]
            del self.buf[:len(take)]
            chunk += take
        if not self.rcpts:
            self.send('554 5.5.1 no valid recipients')
            self.reset()
            return True
        if self.bdat is None:
            self.bdat = bytearray()
        self.bdat += chunk
        if not last:
            self.answer('BDAT', ['250 2.0.0 %d octets received' % n])
            return True
        self.end_of_data('BDAT', bytes(self.bdat))
        return True

    def end_of_data(self, mode, data):
        if self.sink.take_hold('dot', self.txn):
            with self.sink.lock:
                self.sink.unaccepted += 1
            raise Hang()
        if self.sink.take_refuse('dot'):
            with self.sink.lock:
                self.sink.unaccepted += 1
            self.refused()
            self.reset()
            return
        seq = self.sink.accept(self.no, mode, self.mail_from, self.rcpts, data)
        self.hold('dot-commit', self.txn)
        key = 'DOT' if mode == 'DATA' else 'LAST'
        if (self.answer(key, ['250 2.0.0 accepted as SINK%d' % seq]) or '').startswith('2'):
            self.sink.sent['accepted'].set()
        self.reset()
        self.hold('reply', self.txn)


Sink.connection_class = SinkConnection


class Socks5Proxy(Listener):
    """The SOCKS5 proxy (see above)."""

    LOOPBACK = ('localhost', '127.0.0.1', '::1')

    def __init__(self, name, mode='forward', divert=None, deadline=60.0):
        if mode not in ('forward', 'divert', 'refuse'):
            raise ValueError('unknown proxy mode %r' % mode)
        self.mode = mode
        self.divert = divert
        self.raw = bytearray()
        self.requests = []
        super().__init__(name, deadline=deadline)

    def text(self):
        with self.lock:
            return self.raw.decode('latin-1') + '\n' + '\n'.join(self.requests)

    def read(self, c, n):
        """N bytes from the client C, recorded."""
        out = bytearray()
        while len(out) < n:
            b = c.recv(n - len(out))
            if not b:
                raise Gone()
            with self.lock:
                self.raw += b
            out += b
        return bytes(out)

    def upstream(self, host, port):
        """The connection to where the request goes, or None (refused)."""
        if self.mode == 'divert':
            target = self.divert
        elif self.mode == 'forward' and host in self.LOOPBACK:
            target = ('127.0.0.1' if host != '::1' else '::1', port)
        else:
            return None
        try:
            return socket.create_connection(target, timeout=5)
        except OSError:
            return None

    def handle(self, c, number):
        c.settimeout(5)
        up = None
        try:
            socks5_greeting(lambda n: self.read(c, n))
            c.sendall(b'\x05\x00')
            _, _, _, host, port = socks5_request(lambda n: self.read(c, n))
            with self.lock:
                self.requests.append('CONNECT %s:%d' % (host, port))
            up = self.upstream(host, port)
            c.sendall(socks5_reply(0 if up is not None else 5))
            if up is not None:
                self.relay(c, up)
        except (Gone, OSError, ValueError):
            pass
        finally:
            for s in (c, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def relay(self, c, up):
        """Bytes both ways until either side ends; those from the client are recorded."""
        def pump(src, dst, record):
            src.settimeout(IO_POLL)
            try:
                while not self.stopping.is_set():
                    try:
                        b = src.recv(65536)
                    except socket.timeout:
                        continue
                    if not b:
                        break
                    if record:
                        with self.lock:
                            self.raw += b
                    dst.sendall(b)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=pump, args=(up, c, False), daemon=True)
        t.start()
        pump(c, up, True)
        t.join(self.deadline)


# ==== the programs ====


def main():
    """The scripted server (one connection)."""
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



def sink_main(argv):
    ap = argparse.ArgumentParser(prog='fakesmtp.py sink',
                                 description='the SMTP sink (any number of connections)')
    ap.add_argument('dir')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--chunking', action='store_true')
    ap.add_argument('--no-pipelining', action='store_true')
    ap.add_argument('--refuse', type=int, default=0)
    ap.add_argument('--refuse-at', default='dot', choices=REFUSE_AT)
    ap.add_argument('--reject', action='append', default=[])
    ap.add_argument('--hold', choices=STEPS)
    ap.add_argument('--hold-txn', type=int, default=1)
    ap.add_argument('--certs')
    ap.add_argument('--deadline', type=float, default=60.0)
    a = ap.parse_args(argv)
    sink = Sink(a.dir, port=a.port, chunking=a.chunking, pipelining=not a.no_pipelining,
                refuse=a.refuse, refuse_at=a.refuse_at, reject=a.reject, hold=a.hold,
                hold_txn=a.hold_txn, certs=a.certs, deadline=a.deadline)
    print(sink.port, flush=True)
    stop = os.path.join(a.dir, 'stop')
    while not sink.stopping.is_set() and not os.path.exists(stop):
        time.sleep(0.1)
    sink.stop()
    print('%d messages accepted, %d connections' % (len(sink.messages), sink.connections))


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'sink':
        sys.exit(sink_main(sys.argv[2:]))
    sys.exit(main())
