# tests/lib/postfixtest.py: what the Python tests that run tests/interop/server.sh's real
# Postfix + Dovecot share: the script's path, its env file, the tools it needs (a skip, 77,
# without them or without root), and one scenario run with the server stopped whatever
# happens (tests/interop/doctor.py, tests/interop/dkim_postfix.py, tests/eyeballs/real.py).
import os
import shutil
import subprocess

import postietest

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop', 'server.sh')
TOOLS = ('postfix', 'dovecot', 'certtool', 'postconf')


def read_env(srv):
    """server.sh's NAME=VALUE lines (SRV/env): ports, the maildir, the mail log."""
    env = {}
    with open(os.path.join(srv, 'env'), encoding='ascii') as f:
        for line in f:
            k, _, v = line.strip().partition('=')
            env[k] = v
    return env


def need_postfix(tools=TOOLS):
    """Skip (77) unless root with TOOLS on PATH (the sbin folders added)."""
    if os.geteuid() != 0:
        postietest.Tap.skip_all('needs root (Postfix and Dovecot are started as root)')
    os.environ['PATH'] = os.environ.get('PATH', '') + ':/usr/sbin:/sbin'
    for p in tools:
        if not shutil.which(p):
            postietest.Tap.skip_all('%s not installed (tests/interop/install-deps.sh)' % p)


def run_scenario(name, run, postie):
    """RUN(postie, work, tap) with a Tap named NAME in a temp dir of its own that Postfix's
    users may enter; the server under WORK/srv is stopped after it. The exit status."""
    tap = postietest.Tap(name)
    tmp = postietest.TempDir(name)
    os.chmod(tmp.path, 0o755)  # Postfix and its pipe work inside it as other users
    try:
        run(postie, tmp.path, tap)
    finally:
        subprocess.run([SERVER, 'stop', os.path.join(tmp.path, 'srv')], capture_output=True)
        status = tap.plan()
        tmp.end(status != 0)
    return status
