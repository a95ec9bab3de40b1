#!/usr/bin/env python3
"""Helper servers for bench/run, on loopback only, each stopping by itself.

  servers.py relay --target PORT [--port 0] [--delay-ms 25] [--lifetime 900]
      A TCP relay that adds DELAY-MS in each direction (2 x DELAY-MS of round-trip time):
      every chunk read from one side is written to the other side DELAY-MS after it was
      read, in order. The connection to the target is made DELAY-MS after the client's
      connection is accepted, so the server's greeting reaches the client one full round
      trip after connect() returned, as on a real network (the TCP handshake itself is not
      delayed: the kernel completes it). End of stream is passed on after the delay too.

  servers.py sink [--port 0] [--lifetime 900]
      A minimal SMTP sink (EHLO, PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that reads
      in 1 MiB pieces and throws the message away: a server that is not the bottleneck for
      a 100 MB message (Postfix's smtp-sink reads in small pieces and is).

Each prints "PORT" on a line of its own once it listens, then serves until LIFETIME seconds
have passed (then exits whatever is going on). Only 127.0.0.1 is used.
"""
import argparse
import collections
import os
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(64)
    s.settimeout(0.5)
    return s


def nodelay(s):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def serve(lsock, handler, lifetime):
    """Accept until LIFETIME passes; one thread per connection; then exit the process."""
    end = time.monotonic() + lifetime
    print(lsock.getsockname()[1], flush=True)
    while time.monotonic() < end:
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        c.settimeout(None)
        threading.Thread(target=handler, args=(c,), daemon=True).start()
    os._exit(0)


# ---- relay ---------------------------------------------------------------------------------

class Pipe:
    """One direction: a reader stamps each chunk, a writer sends it DELAY seconds later."""

    def __init__(self, delay):
        self.delay = delay
        self.q = collections.deque()
        self.cv = threading.Condition()

    def put(self, data):
        with self.cv:
            self.q.append((time.monotonic() + self.delay, data))
            self.cv.notify()

    def get(self):
        with self.cv:
            while not self.q:
                self.cv.wait()
            due, data = self.q.popleft()
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)
        return data


def pump_in(src, pipe):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        pipe.put(data)
        if not data:
            return


def pump_out(pipe, get_dst, done):
    dst = None
    try:
        while True:
            data = pipe.get()
            if dst is None:
                dst = get_dst()
            if dst is None:
                return
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            dst.sendall(data)
    except OSError:
        pass
    finally:
        done.release()


def relay_handler(target, delay):
    def handle(client):
        nodelay(client)
        up_ready = threading.Event()
        box = {}

        def connect_up():
            # The client's final ACK travels for DELAY before the server sees the connection.
            time.sleep(delay)
            try:
                u = socket.create_connection((HOST, target))
                nodelay(u)
                box["up"] = u
            except OSError:
                box["up"] = None
            up_ready.set()

        def get_up():
            up_ready.wait()
            return box["up"]

        to_server, to_client = Pipe(delay), Pipe(delay)
        done = threading.Semaphore(0)
        threading.Thread(target=connect_up, daemon=True).start()
        threading.Thread(target=pump_in, args=(client, to_server), daemon=True).start()
        threading.Thread(target=pump_out, args=(to_server, get_up, done), daemon=True).start()

        def server_side():
            u = get_up()
            if u is None:
                to_client.put(b"")
                return
            pump_in(u, to_client)

        threading.Thread(target=server_side, daemon=True).start()
        threading.Thread(target=pump_out, args=(to_client, lambda: client, done),
                         daemon=True).start()
        done.acquire()
        done.acquire()
        for s in (client, box.get("up")):
            if s is not None:
                s.close()

    return handle


# ---- sink ----------------------------------------------------------------------------------

EHLO_REPLY = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
END = b"\r\n.\r\n"


def sink_handler(c):
    nodelay(c)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    pending = b""          # command bytes not yet ending in LF
    out = []
    try:
        c.sendall(b"220 bench-sink ESMTP\r\n")
        while True:
            n = c.recv_into(buf)
            if n == 0:
                return
            data = pending + bytes(view[:n]) if pending else bytes(view[:n])
            pending = b""
            pos = 0
            quit_now = False
            while pos < len(data):
                lf = data.find(b"\n", pos)
                if lf < 0:
                    pending = data[pos:]
                    break
                line = data[pos:lf].rstrip(b"\r").upper()
                pos = lf + 1
                if line.startswith(b"EHLO") or line.startswith(b"HELO"):
                    out.append(EHLO_REPLY)
                elif line.startswith(b"MAIL") or line.startswith(b"RCPT"):
                    out.append(b"250 2.0.0 Ok\r\n")
                elif line.startswith(b"RSET") or line.startswith(b"NOOP"):
                    out.append(b"250 2.0.0 Ok\r\n")
                elif line.startswith(b"QUIT"):
                    out.append(b"221 2.0.0 Bye\r\n")
                    quit_now = True
                    break
                elif line == b"DATA":
                    c.sendall(b"".join(out) + b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    out = []
                    # The rest of this read and what follows is message data.
                    rest = data[pos:]
                    pos = len(data)
                    tail = skip_data(c, buf, view, b"\r\n" + rest)
                    out.append(b"250 2.0.0 Ok: discarded\r\n")
                    data = tail
                    pos = 0
                else:
                    out.append(b"502 5.5.2 Error: command not recognized\r\n")
            if out:
                c.sendall(b"".join(out))
                out = []
            if quit_now:
                return
    except OSError:
        return
    finally:
        c.close()


def skip_data(c, buf, view, first):
    """Read message data until CRLF.CRLF; return the bytes after it (pipelined commands).

    FIRST starts with the CRLF that ended the DATA line, which may begin the terminator.
    """
    i = first.find(END)
    if i >= 0:
        return first[i + len(END):]
    tail = first[-4:]
    while True:
        n = c.recv_into(buf)
        if n == 0:
            raise OSError("connection closed in DATA")
        # A terminator that straddles the previous piece and this one (never wholly inside
        # the 4-byte tail or head) comes before any inside this piece.
        head = bytes(view[:min(n, 4)])
        j = (tail + head).find(END)
        if j >= 0:
            return bytes(view[j + len(END) - len(tail):n])
        i = buf.find(END, 0, n)
        if i >= 0:
            return bytes(view[i + len(END):n])
        tail = bytes(view[n - 4:n]) if n >= 4 else (tail + head)[-4:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--target", type=int, required=True)
    r.add_argument("--port", type=int, default=0)
    r.add_argument("--delay-ms", type=float, default=25.0)
    r.add_argument("--lifetime", type=float, default=900.0)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--lifetime", type=float, default=900.0)
    a = ap.parse_args()
    if a.cmd == "relay":
        serve(listen(a.port), relay_handler(a.target, a.delay_ms / 1000.0), a.lifetime)
    else:
        serve(listen(a.port), sink_handler, a.lifetime)


if __name__ == "__main__":
    sys.exit(main())
