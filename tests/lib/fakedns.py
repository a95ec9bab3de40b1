"""A fake DNS server on loopback, and a private network where the system resolver asks it.

Used by tests/dkim/run.py's `dns` case (issue 14: postie --check looks the DKIM record up).
glibc's resolver asks port 53 of the addresses in /etc/resolv.conf, so the test needs a port
53 of its own and a resolv.conf of its own: as root, `reexec()` runs the calling script again
inside new network and mount namespaces (`unshare --net --mount`, blackhole.py's); there, `setup(text)` puts
lo up and bind-mounts a private file over /etc/resolv.conf (in this mount namespace only),
and `Server(table)` answers on 127.0.0.1:53, UDP only.

The table maps a lower-case name (no final dot) to what the server does when asked for it:

    [[b'string', ...], ...]   NOERROR with one TXT record per list, each list the
                              character-strings of that record (at most 255 bytes each)
    []                        NOERROR with no answer (the name exists, it has no TXT)
    'silent'                  no reply at all (the resolver times out)
    a function                called with the query's bytes, returns the reply's bytes
                              (malformed replies: see reply() and record())

A name not in the table is NXDOMAIN. Every query is appended to `queries` as (name, type).
The server stops by itself after DEADLINE seconds, or at stop(). Standard library only.
Nothing outside the namespaces changes; they end with the process.
"""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import blackhole

TXT = 16


def why_not():
    """The reason the namespaces cannot be made here, or None."""
    missing = [x for x in ('unshare', 'ip', 'mount') if not shutil.which(x)]
    if os.geteuid() != 0 or missing:
        return 'no %s' % missing[0] if missing else \
            'not root (needs network and mount namespaces)'
    r = subprocess.run(['unshare', '--net', '--mount', '--', 'ip', 'link', 'set', 'lo', 'up'],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return 'cannot make network and mount namespaces: %s' % r.stderr.strip()
    return None


# The namespaces are blackhole.py's (network and mount), without its veth pair.
inside = blackhole.inside
reexec = blackhole.reexec


class Resolv:
    """Inside: lo up, and /etc/resolv.conf replaced by a private file holding TEXT; write()
    changes it (the file, never the real one). Raises CalledProcessError when a step fails."""

    def __init__(self, text):
        if not inside():
            raise RuntimeError('fakedns.Resolv outside the namespaces')
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True, capture_output=True)
        fd, self.path = tempfile.mkstemp(prefix='postie-resolv-')
        os.close(fd)
        self.write(text)
        os.chmod(self.path, 0o644)
        subprocess.run(['mount', '--bind', self.path, '/etc/resolv.conf'], check=True,
                       capture_output=True)

    def write(self, text):
        with open(self.path, 'w') as f:
            f.write(text)

    def close(self):
        os.unlink(self.path)


def parse_query(q):
    """(id, flags, name, type, the question's bytes) of the query Q, or None."""
    if len(q) < 12:
        return None
    qid, flags = struct.unpack('!HH', q[:4])
    pos, labels = 12, []
    while pos < len(q) and q[pos] != 0:
        n = q[pos]
        if n > 63 or pos + 1 + n > len(q):
            return None
        labels.append(q[pos + 1:pos + 1 + n])
        pos += 1 + n
    if pos + 5 > len(q):
        return None
    qtype = struct.unpack('!H', q[pos + 1:pos + 3])[0]
    name = b'.'.join(labels).decode('ascii', 'replace').lower()
    return qid, flags, name, qtype, q[12:pos + 5]


def reply(query, rcode=0, answers=(), count=None):
    """The reply to QUERY (bytes) with RCODE and the ANSWERS' bytes (each a whole record);
    COUNT overrides ANCOUNT."""
    qid, flags, _, _, question = parse_query(query)
    head = struct.pack('!HHHHHH', qid, 0x8080 | (flags & 0x0100) | rcode, 1,
                       len(answers) if count is None else count, 0, 0)
    return head + question + b''.join(answers)


def record(strings, owner=b'\xc0\x0c', rtype=TXT, rdlen=None):
    """A TXT record owned by OWNER (default: a pointer to the question's name) holding the
    character-strings STRINGS; RDLEN overrides the data's length."""
    data = b''.join(bytes([len(s)]) + s for s in strings)
    return owner + struct.pack('!HHIH', rtype, 1, 300, len(data) if rdlen is None else rdlen) \
        + data


def split(text, size=255):
    """TEXT cut into character-strings of at most SIZE bytes."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [b'']


class Server:
    def __init__(self, table, host='127.0.0.1', port=53, deadline=120):
        self.table = table
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.end = time.monotonic() + deadline
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def answer(self, q):
        parsed = parse_query(q)
        if parsed is None:
            return None
        _, _, name, qtype, _ = parsed
        self.queries.append((name, qtype))
        what = self.table.get(name.rstrip('.'))
        if what is None:
            return reply(q, rcode=3)
        if what == 'silent':
            return None
        if callable(what):
            return what(q)
        if qtype != TXT:
            return reply(q)
        return reply(q, answers=[record(r) for r in what])

    def serve(self):
        while not self.stopped and time.monotonic() < self.end:
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            r = self.answer(q)
            if r is not None:
                self.sock.sendto(r, peer)
        self.sock.close()

    def stop(self):
        self.stopped = True
        self.thread.join()
