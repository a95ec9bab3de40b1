#!/usr/bin/env python3
"""Count a client's waits for the server from its strace output.

  waits.py TRACE PORT [--rtt-ms 200]

TRACE comes from
  strace -f -tt -T -s 64 -e trace=network,read,write,readv,writev,poll,ppoll,select,pselect6,close
run on the client while it talks to 127.0.0.1:PORT through bench/servers.py relay with
RTT-MS of round-trip time. bench/README.md defines the count; in short:

  wait   the client receives server data that arrives at least 3/4 of a round trip after
         the first byte it sent since its previous wait (the connect() counts as sending:
         the greeting answers it). Data already under way when the client sent something
         arrives within a few ms through the relay and is not a wait, so a write that asks
         nothing (TLS 1.3's ChangeCipherSpec, or the Finished that travels with EHLO) never
         adds one.
  naive  the plain turn count: server data read after the client has sent anything since
         the previous server data, whatever the timing (what the issue's msmtp figures of
         5 / 10 / 8 count: it also counts the TLS ChangeCipherSpec write as a turn).
"""
import argparse
import re
import sys

LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+):(\d+):(\d+\.\d+) (.*)$")
CALL = re.compile(r"^(\w+)\((.*)\) = (-?\d+|\?)(?: (.*?))? <(\d+\.\d+)>$", re.S)
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
CONNECT = re.compile(r"^(\d+), \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\)")
FIRST_FD = re.compile(r"^(\d+)")

SENDS = {"write", "writev", "send", "sendto", "sendmsg", "sendmmsg"}
RECVS = {"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg"}


def parse(path):
    """The completed system calls: (pid, start seconds, name, args, ret, duration)."""
    calls = []
    pending = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, hh, mm, ss, body = m.groups()
            t = int(hh) * 3600 + int(mm) * 60 + float(ss)
            if body.endswith("<unfinished ...>"):
                pending[pid] = (t, body[: -len("<unfinished ...>")].rstrip())
                continue
            r = RESUMED.match(body)
            if r:
                if pid not in pending:
                    continue
                t, head = pending.pop(pid)
                body = head + r.group(2)
            c = CALL.match(body)
            if not c:
                continue
            name, args, ret, _detail, dur = c.groups()
            calls.append((pid, t, name, args, int(ret) if ret != "?" else -1, float(dur)))
    return calls


def preview(name, args):
    """A short description of what a send carried: the text, or the TLS record type."""
    m = re.search(r'"((?:[^"\\]|\\.)*)"', args)
    if not m:
        return "?"
    s = m.group(1)
    if s.startswith("\\26\\3"):
        return "TLS handshake"
    if s.startswith("\\24\\3"):
        return "TLS ChangeCipherSpec"
    if s.startswith("\\27\\3"):
        return "TLS data"
    if s.startswith("\\25\\3"):
        return "TLS alert"
    s = s.replace("\\r\\n", " | ").rstrip(" |")
    return s[:60]


def analyse(path, port, rtt_ms):
    """Waits, naive turns and one line per wait, for the connection to 127.0.0.1:PORT."""
    threshold = 0.75 * rtt_ms / 1000.0
    fd = None
    pending = None          # time of the first byte sent since the previous wait
    asked = []              # what was sent since the previous wait
    naive_flag = False
    res = {"waits": 0, "naive": 0, "turns": [], "found": False, "sent_calls": 0,
           "sent_bytes": 0}
    for pid, t, name, args, ret, dur in parse(path):
        if name == "connect":
            m = CONNECT.match(args)
            if m and int(m.group(2)) == port:
                fd = int(m.group(1))
                res["found"] = True
                pending = t
                asked = ["connect"]
                naive_flag = True
            continue
        if fd is None:
            continue
        m = FIRST_FD.match(args)
        if not m or int(m.group(1)) != fd:
            continue
        if name == "close":
            fd = None
            continue
        if name in SENDS and ret > 0:
            res["sent_calls"] += 1
            res["sent_bytes"] += ret
            if pending is None:
                pending = t
            naive_flag = True
            asked.append("%s (%d B)" % (preview(name, args), ret))
        elif name in RECVS and ret > 0 and "MSG_PEEK" not in args:
            end = t + dur
            if naive_flag:
                res["naive"] += 1
                naive_flag = False
            if pending is not None and end - pending >= threshold:
                res["waits"] += 1
                res["turns"].append({
                    "n": res["waits"],
                    "asked": asked,
                    "waited_ms": (end - pending) * 1000.0,
                    "first_reply": preview(name, args),
                })
                pending = None
                asked = []
    return res


def stalls(path, port, min_ms=20.0):
    """Blocking calls on the connection to 127.0.0.1:PORT that took at least MIN_MS.

    On loopback a server answers in well under a millisecond, so a client blocked for 20 ms
    or more is waiting for something else: a delayed ACK that Nagle's algorithm waits for
    (on either side), or the server's own work. Each stall says what the client had sent
    last and how many bytes the server data read just before it held."""
    fd = None
    last_sent = "connect"
    last_read = 0
    out = []
    for pid, t, name, args, ret, dur in parse(path):
        if name == "connect":
            m = CONNECT.match(args)
            if m and int(m.group(2)) == port:
                fd = int(m.group(1))
            continue
        if fd is None:
            continue
        if name in ("poll", "ppoll", "select", "pselect6"):
            fds = [int(x) for x in re.findall(r"fd=(\d+)", args)]
            ours = fd in fds if fds else name in ("select", "pselect6")
        else:
            m = FIRST_FD.match(args)
            ours = bool(m) and int(m.group(1)) == fd
        if not ours:
            continue
        if name == "close":
            fd = None
            continue
        if dur * 1000.0 >= min_ms and (name in RECVS or name in ("poll", "ppoll", "select",
                                                                  "pselect6")):
            out.append({"ms": dur * 1000.0, "call": name, "after": last_sent,
                        "prev_read": last_read})
        if name in SENDS and ret > 0:
            last_sent = "%s (%d B)" % (preview(name, args), ret)
        elif name in RECVS and ret > 0 and "MSG_PEEK" not in args:
            last_read = ret
        elif name in SENDS and dur * 1000.0 >= min_ms:
            out.append({"ms": dur * 1000.0, "call": name, "after": last_sent,
                        "prev_read": last_read})
    return out


def describe(res):
    """Lines: one per wait, what the client had sent and how long the answer took."""
    out = []
    for turn in res["turns"]:
        asked = turn["asked"]
        shown = "; ".join(asked[:4]) + ("; ... %d more sends" % (len(asked) - 4)
                                        if len(asked) > 4 else "")
        out.append("%2d. %6.0f ms after: %s" % (turn["n"], turn["waited_ms"], shown))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("port", type=int)
    ap.add_argument("--rtt-ms", type=float, default=200.0)
    a = ap.parse_args()
    res = analyse(a.trace, a.port, a.rtt_ms)
    if not res["found"]:
        print("no connect() to port %d in %s" % (a.port, a.trace), file=sys.stderr)
        return 1
    print("waits %d (naive turns %d), %d sends, %d bytes" % (
        res["waits"], res["naive"], res["sent_calls"], res["sent_bytes"]))
    for line in describe(res):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
