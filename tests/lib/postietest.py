# postietest.py: what every Python test suite shares (standard library only).
#
#   the environment  private_env(home): the caller's environment without anything that
#                    would make postie read the real user's files or secrets (POSTIE*,
#                    XDG_*, CREDENTIALS_DIRECTORY, DBUS_SESSION_BUS_ADDRESS), with HOME and
#                    the XDG base directories inside the test's temp dir (at the places the
#                    XDG spec gives as defaults, so a test may name either), TZ=UTC and ONE
#                    locale for every suite: LOCALE (C.UTF-8). postie itself never calls
#                    setlocale(); the locale matters to the programs around it (mailx, git,
#                    PHP, Python's own I/O), and C.UTF-8 is the one they all handle.
#   the temp dir     TempDir(prefix): made at start, removed at the end unless
#                    POSTIE_TEST_KEEP says otherwise (keep_temp()):
#                        POSTIE_TEST_KEEP=1     keep it, always, and print where
#                        POSTIE_TEST_KEEP=fail  keep it when the test failed, and print where
#   certificates     gencerts(dir): tests/gencerts.sh into DIR (the CA, server, client ...);
#                    have_certtool() tells whether it can run.
#   TAP              Tap: ok/todo/note/skip_all/plan lines as meson's TAP parser reads them.
#
# A runner puts this folder on its path from its own location:
#     sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))

import os
import shutil
import subprocess
import sys
import tempfile
import time

LIB = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(LIB)
GENCERTS = os.path.join(TESTS, 'gencerts.sh')
LOCALE = 'C.UTF-8'
KEEP_VAR = 'POSTIE_TEST_KEEP'

# Variables that would let the real user's configuration, secrets or session reach a test.
DROPPED_PREFIXES = ('POSTIE', 'XDG_')
DROPPED = ('CREDENTIALS_DIRECTORY', 'DBUS_SESSION_BUS_ADDRESS')


def xdg_dirs(home):
    """The XDG base directories under HOME, at the spec's default places."""
    return {
        'XDG_CONFIG_HOME': os.path.join(home, '.config'),
        'XDG_STATE_HOME': os.path.join(home, '.local', 'state'),
        'XDG_CACHE_HOME': os.path.join(home, '.cache'),
        'XDG_DATA_HOME': os.path.join(home, '.local', 'share'),
    }


def private_env(home, drop_prefixes=(), base=None, make=True):
    """The environment for postie (and the programs that call it) with HOME=HOME.

    BASE (default os.environ) without POSTIE*, XDG_*, the credential and session variables
    and any DROP_PREFIXES; HOME, the XDG base directories under it, TZ=UTC,
    LC_ALL and LANG = LOCALE. HOME and XDG_CONFIG_HOME are made when MAKE; the other XDG
    dirs are left for postie to make, as on a fresh account."""
    base = os.environ if base is None else base
    drop = DROPPED_PREFIXES + tuple(drop_prefixes)
    env = {k: v for k, v in base.items() if not k.startswith(drop) and k not in DROPPED}
    env.update(xdg_dirs(home))
    env.update(HOME=home, TZ='UTC', LC_ALL=LOCALE, LANG=LOCALE)
    env.pop('LANGUAGE', None)
    if make:
        os.makedirs(env['XDG_CONFIG_HOME'], exist_ok=True)
    return env


def keep_temp(failed):
    """Whether POSTIE_TEST_KEEP asks to keep the temp dir of a test that FAILED or not."""
    v = os.environ.get(KEEP_VAR, '')
    if v in ('', '0'):
        return False
    if v == 'fail':
        return bool(failed)
    return True


class TempDir:
    """One test's private temp dir; end(failed) removes it or keeps it (POSTIE_TEST_KEEP)."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix='postie-%s-' % prefix)
        self.ended = False

    def end(self, failed, hint=''):
        """Keep or remove the dir; returns True when it was kept. Safe to call twice."""
        if self.ended:
            return os.path.exists(self.path)
        self.ended = True
        if keep_temp(failed):
            print('# kept %s' % self.path, flush=True)
            return True
        shutil.rmtree(self.path, ignore_errors=True)
        if failed:
            print('# %s=1 (or =fail) keeps the temp dir%s' % (KEEP_VAR, hint), flush=True)
        return False


class Failed(Exception):
    """A check of a scenario failed; the text says which and why."""


def run_named(label, names, run_one, mode=None):
    """Run RUN_ONE(name, folder) for each of NAMES, each in a private temp folder (MODE: its
    chmod, for a server that runs as another user); print "ok NAME" or "FAIL NAME: why" (a
    Failed exception). The exit status: 1 when any failed, else 0."""
    failed = 0
    for n in names:
        tmpdir = TempDir(label)
        if mode is not None:
            os.chmod(tmpdir.path, mode)
        good = False
        try:
            run_one(n, tmpdir.path)
            print('ok %s' % n)
            good = True
        except Failed as e:
            failed += 1
            print('FAIL %s: %s' % (n, e))
        finally:
            tmpdir.end(not good)
    return 1 if failed else 0


def have_certtool():
    return shutil.which('certtool') is not None


def gencerts(outdir, timeout=300):
    """tests/gencerts.sh OUTDIR; returns the CompletedProcess (returncode 0 on success)."""
    return subprocess.run(['sh', GENCERTS, outdir], capture_output=True, timeout=timeout)


def fingerprints(certdir):
    """gencerts.sh's fingerprints.txt: {name: sha256 hex, lower case, no colons}."""
    fps = {}
    with open(os.path.join(certdir, 'fingerprints.txt'), encoding='ascii') as f:
        for line in f:
            name, _, fp = line.strip().partition(' ')
            fps[name] = fp.replace(':', '').lower()
    return fps


def wait_for(pred, timeout=5.0, step=0.005):
    """Poll PRED until it holds or TIMEOUT seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def table(rows, header):
    """Rows of strings as an aligned text table (for the figures)."""
    w = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    out = ['  '.join(str(h).ljust(w[i]) for i, h in enumerate(header))]
    out.append('  '.join('-' * x for x in w))
    for r in rows:
        out.append('  '.join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    return '\n'.join(out)


class Tap:
    """TAP lines: one numbered check per ok(), the plan at the end (plan())."""

    def __init__(self, name=''):
        self.name = name
        self.n = 0
        self.failed = 0
        self.start = time.monotonic()

    def ok(self, cond, what, detail=None, max_lines=None):
        """One check; DETAIL (any object, shown by str) follows a failure as '#' lines."""
        self.n += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, what))
        if not cond:
            self.failed += 1
            if detail is not None:
                for line in str(detail).splitlines()[:max_lines]:
                    print('#   ' + line)
        sys.stdout.flush()
        return cond

    def todo(self, cond, what, detail=None):
        """A check of a known issue: reported, not failing the test (TAP TODO)."""
        self.n += 1
        print('%s %d - %s # TODO known issue' % ('ok' if cond else 'not ok', self.n, what))
        if not cond and detail is not None:
            for line in str(detail).splitlines():
                print('#   ' + line)
        sys.stdout.flush()
        return cond

    @staticmethod
    def note(text):
        for line in str(text).splitlines():
            print('# ' + line)
        sys.stdout.flush()

    @staticmethod
    def skip_all(reason, status=77):
        """Skip the whole test: a TAP plan of 0 with the reason, exit 77 (meson: SKIP)."""
        print('1..0 # SKIP %s' % reason, flush=True)
        sys.exit(status)

    def plan(self):
        """The closing plan and a summary line; returns the exit status (0 or 1)."""
        print('1..%d' % self.n)
        print('# %s: %d checks, %d failed, %.1fs' % (self.name, self.n, self.failed,
                                                      time.monotonic() - self.start))
        sys.stdout.flush()
        return 1 if self.failed else 0
