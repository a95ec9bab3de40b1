#!/usr/bin/env python3
# smtpsink.py: a small SMTP server for the queue tests, Python standard library only.
#
# It listens on 127.0.0.1 (an ephemeral port unless one is given), serves any number of
# connections at once (one thread each), and records every message it accepts (the final
# 2xx was decided) with its envelope: DIR/msg-NNNN.eml holds the message as received (dot-
# stuffing undone), DIR/log.jsonl one JSON line per message (seq, conn, mode, mail_from,
# rcpts, size, message_id). Counting Message-IDs in that log finds every duplicate.
#
# What it can be told to do (Sink(...) keywords, or the flags of the command line):
#   chunking     offer CHUNKING (RFC 3030) beside PIPELINING, so postie sends BDAT
#   pipelining   offer PIPELINING (default on)
#   listening    False: bind the port but refuse every connection (a stopped server) until
#                listen() is called
#   refuse=N     answer refuse_reply (default 451 4.3.0; a 5xx works too) to the first N
#                transactions (-1: to all), at refuse_at: 'mail', 'rcpt' (every RCPT of the
#                transaction), 'data' (the DATA command) or 'dot' (the end of the data)
#   reject       addresses whose RCPT is answered 550 5.1.1
#   rcpt_reply   {address: reply}: the reply to RCPT of that address (e.g. a 452)
#   certs=DIR    offer STARTTLS with DIR/server.pem and DIR/server-key.pem (tests/gencerts.sh),
#                and AUTH PLAIN (any credentials are accepted)
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
# What it saw: messages (as in log.jsonl), sessions (per connection, the command verbs in
# order: RSETs and QUITs can be counted), the events reached[STEP], sent['refused'] and
# sent['accepted'] (set once such a reply has been written: a test can kill postie while it
# records the outcome). configure(...) changes any of the above for what comes next.
#
# The server stops by itself after `deadline` seconds (default 60), or when stop() is
# called, or (command line) when DIR/stop appears.
#
#   python3 smtpsink.py DIR [--port N] [--chunking] [--refuse N --refuse-at dot] [--reject A]
#       [--hold STEP --hold-txn N] [--certs DIR] [--deadline S]
# prints the port on its first line of output, then serves.

import argparse
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

STEPS = ('greeting', 'mail', 'rcpt', 'data-mid', 'dot', 'dot-commit', 'reply', 'quit')
REFUSE_AT = ('mail', 'rcpt', 'data', 'dot')
DATA_READ = 1024      # message data is read in small pieces, so a hold can fall inside it
LINE_MAX = 4096       # a command line longer than this closes the connection
MSGID_RE = re.compile(rb'^message-id:[ \t]*(<[^>\r\n]*>)', re.I | re.M)


class Hang(Exception):
    """A hold was reached: stop answering."""


class Gone(Exception):
    """The client closed the connection, or the sink is stopping."""


class Sink:
    def __init__(self, directory, port=0, listening=True, chunking=False, pipelining=True,
                 refuse=0, refuse_at='dot', refuse_reply='451 4.3.0 sink: try again later',
                 reject=(), rcpt_reply=None, certs=None, hold=None, hold_txn=1, deadline=60.0):
        if hold is not None and hold not in STEPS:
            raise ValueError('unknown hold step %r' % hold)
        if refuse_at not in REFUSE_AT:
            raise ValueError('unknown refuse_at %r' % refuse_at)
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.chunking = chunking
        self.pipelining = pipelining
        self.refuse = refuse
        self.refuse_at = refuse_at
        self.refuse_reply = refuse_reply
        self.reject = {a.lower() for a in reject}
        self.rcpt_reply = {k.lower(): v for k, v in (rcpt_reply or {}).items()}
        self.hold = hold
        self.hold_txn = hold_txn
        self.tls = None
        if certs:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(os.path.join(certs, 'server.pem'),
                                     os.path.join(certs, 'server-key.pem'))
        self.lock = threading.Lock()
        self.messages = []        # accepted messages: dicts as in log.jsonl
        self.unaccepted = 0       # ends of data received and not accepted (hold 'dot', 4xx)
        self.connections = 0
        self.sessions = []        # per connection: the command verbs received, in order
        self.refused = 0
        self.reached = {s: threading.Event() for s in STEPS}
        # Set when a refusal (refuse_reply) or an acceptance (the 2xx to the end of the data)
        # has been written to a client: a test can then kill postie while it records it.
        self.sent = {'refused': threading.Event(), 'accepted': threading.Event()}
        self.stopping = threading.Event()
        self.threads = []
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

    # ---- control -------------------------------------------------------------------

    def listen(self):
        """Start accepting connections (until then every connect is refused)."""
        if self.listening:
            return
        self.listening = True
        self.sock.listen(256)
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def configure(self, **kw):
        """Change behaviour for what comes next (hold, refuse, reject, ...)."""
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

    def wait_idle(self, timeout=10.0):
        """Wait until every connection so far has ended: what a killed client left in flight
        is answered under the old configuration, before a test changes it."""
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

    def wait_reached(self, step, timeout=10.0):
        return self.reached[step].wait(timeout)

    def stop(self):
        self.stopping.set()
        self.timer.cancel()
        try:
            self.sock.close()
        except OSError:
            pass
        for t in list(self.threads):
            t.join(2.0)

    def count_by_msgid(self):
        counts = {}
        with self.lock:
            for m in self.messages:
                counts[m['message_id']] = counts.get(m['message_id'], 0) + 1
        return counts

    # ---- serving -------------------------------------------------------------------

    def accept_loop(self):
        self.sock.settimeout(0.2)
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
                self.sessions.append([])
            t = threading.Thread(target=Connection(self, conn, n).serve, daemon=True)
            self.threads = [x for x in self.threads if x.is_alive()] + [t]
            t.start()

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


class Connection:
    def __init__(self, sink, sock, number):
        self.sink = sink
        self.sock = sock
        self.no = number
        self.buf = bytearray()
        self.txn = 0
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
            self.buf += b
            return

    def send(self, text):
        try:
            self.sock.sendall(text.encode('utf-8') + b'\r\n')
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

    # ---- the session ---------------------------------------------------------------

    def serve(self):
        self.sock.settimeout(0.2)
        # Each reply goes out at once: without this, Nagle's algorithm holds the second of
        # two pipelined replies for the client's delayed ACK (40 ms a transaction).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.hold('greeting')
            self.send('220 sink.test ESMTP postie queue-test sink')
            while True:
                if not self.command(self.line()):
                    break
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
        if self.sink.pipelining:
            caps.append('PIPELINING')
        if self.sink.chunking:
            caps.append('CHUNKING')
        if self.sink.tls is not None:
            caps.append('AUTH PLAIN' if isinstance(self.sock, ssl.SSLSocket) else 'STARTTLS')
        return caps

    def command(self, line):
        verb, _, arg = line.partition(' ')
        verb = verb.upper()
        with self.sink.lock:
            self.sink.sessions[self.no - 1].append(verb)
        if verb in ('EHLO', 'HELO'):
            self.reset()
            caps = self.caps() if verb == 'EHLO' else []
            lines = ['sink.test'] + caps
            for i, c in enumerate(lines):
                self.send('250%s%s' % ('-' if i < len(lines) - 1 else ' ', c))
        elif verb == 'STARTTLS' and self.sink.tls is not None:
            if self.buf:
                self.send('501 5.5.1 data after STARTTLS')
                return False
            self.send('220 2.0.0 go ahead')
            try:
                self.sock.settimeout(10)
                self.sock = self.sink.tls.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(0.2)
            except (OSError, ssl.SSLError):
                raise Gone()
            self.reset()
        elif verb == 'AUTH':
            if arg.upper().strip() == 'PLAIN':
                self.send('334 ')
                self.line()
            self.send('235 2.7.0 ok')
        elif verb == 'MAIL':
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
                return True
            self.mail_from = m.group(1)
            self.send('250 2.1.0 ok')
        elif verb == 'RCPT':
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
            else:
                self.rcpts.append(m.group(1))
                self.send('250 2.1.5 ok')
        elif verb == 'DATA':
            if not self.rcpts:
                self.send('554 5.5.1 no valid recipients')
                return True
            if self.sink.take_refuse('data'):
                self.refused()
                return True
            self.send('354 go ahead')
            self.end_of_data('DATA', self.read_data())
        elif verb == 'BDAT':
            return self.bdat_command(arg)
        elif verb == 'RSET':
            self.reset()
            self.send('250 2.0.0 ok')
        elif verb == 'NOOP':
            self.send('250 2.0.0 ok')
        elif verb == 'QUIT':
            self.hold('quit')
            self.send('221 2.0.0 bye')
            return False
        else:
            self.send('500 5.5.2 unknown command')
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

    def bdat_command(self, arg):
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
            self.send('250 2.0.0 %d octets received' % n)
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
        self.send('250 2.0.0 accepted as SINK%d' % seq)
        self.sink.sent['accepted'].set()
        self.reset()
        self.hold('reply', self.txn)


def main():
    ap = argparse.ArgumentParser(description='a small SMTP sink for the queue tests')
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
    a = ap.parse_args()
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
    sys.exit(main())
