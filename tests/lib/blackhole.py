"""A private network where an IPv6 address swallows every packet (issue #14, RFC 8305).

Used by tests/eyeballs/run.py and bench/blackhole. As root, `reexec()` runs the calling
script again inside new network and mount namespaces (`unshare --net --mount`); there,
`setup(hosts)` builds:

- lo up (127.0.0.1, ::1);
- a veth pair v0/v1, both up; v0 has 2001:db8:1::2/64 and 10.200.0.2/24, so that
  getaddrinfo's AI_ADDRCONFIG sees both families configured;
- a route 2001:db8::/48 via v0 and a permanent neighbour entry for HOLE (2001:db8::1) with a
  MAC address no interface has: the SYN leaves on v0, v1 drops it (not its address), and no
  answer and no error ever comes back, as from a host whose IPv6 path black-holes. (A
  `blackhole` route would not do: connect() fails at once with EINVAL.)
- /etc/hosts replaced, in this mount namespace only, by a bind-mounted private file.

Nothing outside the namespaces changes; they end with the process.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HOLE = '2001:db8::1'
MARK = 'POSTIE_BLACKHOLE_NS'


def why_not():
    """The reason the namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return 'not root (needs network and mount namespaces)'
    for tool in ('unshare', 'ip', 'mount'):
        if not shutil.which(tool):
            return 'no %s' % tool
    r = subprocess.run(['unshare', '--net', '--mount', '--', 'ip', 'link', 'add', 'v0', 'type',
                        'veth', 'peer', 'name', 'v1'], capture_output=True, text=True)
    if r.returncode != 0:
        return 'cannot make a namespace with a veth pair: %s' % r.stderr.strip()
    return None


def inside():
    return os.environ.get(MARK) == '1'


def reexec():
    """Outside: run this script again in the namespaces and exit with its status."""
    env = dict(os.environ, **{MARK: '1'})
    r = subprocess.run(['unshare', '--net', '--mount', '--', sys.executable] + sys.argv,
                       env=env)
    sys.exit(r.returncode)


def _ip(*args):
    subprocess.run(['ip'] + list(args), check=True, capture_output=True)


def setup(hosts):
    """Inside: the network above, and /etc/hosts holding HOSTS (name -> list of addresses).
    Raises subprocess.CalledProcessError when a step fails."""
    if not inside():
        raise RuntimeError('blackhole.setup outside the namespaces')
    _ip('link', 'set', 'lo', 'up')
    _ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1')
    _ip('link', 'set', 'v0', 'up')
    _ip('link', 'set', 'v1', 'up')
    _ip('addr', 'add', '2001:db8:1::2/64', 'dev', 'v0', 'nodad')
    _ip('addr', 'add', '10.200.0.2/24', 'dev', 'v0')
    _ip('-6', 'route', 'add', '2001:db8::/48', 'dev', 'v0')
    _ip('-6', 'neigh', 'add', HOLE, 'lladdr', '02:00:00:00:00:01', 'dev', 'v0', 'nud',
        'permanent')
    fd, path = tempfile.mkstemp(prefix='postie-hosts-')
    with os.fdopen(fd, 'w') as f:
        f.write('127.0.0.1 localhost\n::1 localhost ip6-localhost\n')
        for name, addrs in hosts.items():
            for a in addrs:
                f.write('%s %s\n' % (a, name))
    os.chmod(path, 0o644)
    subprocess.run(['mount', '--bind', path, '/etc/hosts'], check=True, capture_output=True)
    os.unlink(path)  # the mount keeps the file


def active_opens():
    """TCP connections this namespace has started (SYNs sent, both families): /proc/net/snmp
    Tcp ActiveOpens."""
    with open('/proc/net/snmp') as f:
        rows = [line.split() for line in f if line.startswith('Tcp:')]
    return int(rows[1][rows[0].index('ActiveOpens')])
