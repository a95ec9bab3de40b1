#!/usr/bin/env python3
# complete.py SHELL COMPLETION_FILE POSTIE: the shell completion of contrib/completions/ for
# SHELL (bash, zsh or fish), as meson builds it, driven in that shell in a private HOME.
#
#   bash  the file loads in `bash --norc` and `complete -p postie` names its function; the
#         function is called with COMP_WORDS/COMP_CWORD as bash sets them
#   zsh   `zsh -n`; then a real zsh in a pseudo-terminal (zsh/zpty) with the file on its fpath
#         and compinit, where TAB runs it; compadd is wrapped to record the matches
#   fish  `fish --no-execute`; then `complete --do-complete LINE` in `fish --no-config`
#
# The same cases for each: flags (--qu), fixed values (-b, --tls=), account names from the
# user's profile and from -C FILE, queue ids (-qI, --queue-delete, --queue-retry) from a real
# queue made by POSTIE (entries waiting and failed) and from a fake postie that prints
# Postfix's mailq layout; sendmail is completed when it is a link to postie, mailq (a link to
# something else) is not. A profile with eval and passwordeval lines that would create a
# marker file: completing never creates it (and ids are not listed while a profile that
# loading would run has an eval line). zsh or fish not installed: that test is skipped.
#
#   meson test -C build --suite completions -v
#   python3 tests/completions/complete.py bash build/contrib/completions/postie build/cmd/postie

import os
import shutil
import socket
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)

TIMEOUT = 60
# Postfix's layout (another helper may move mailq to it): an id with '*' (active) or '!'
# (held), then size, arrival time, sender; recipients and reasons indented below.
FAKE_IDS = ['20240614101530.123456-4242-00a1b2c3', '20240614101531.000001-4243-ffffffff']
FAKE_MAILQ = '''-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
%s*     1234 Fri Jun 14 10:15:30  a@example.test
                                         r@example.test

%s!       99 Fri Jun 14 10:15:31  b@example.test
  (connect to 127.0.0.1[127.0.0.1]:25: Connection refused)
                                         r2@example.test
20240614-not-an-id        12 Fri Jun 14 10:15:31  c@example.test

-- 2 Kbytes in 2 Requests.
''' % tuple(FAKE_IDS)


class Env:
    """The private HOME: profiles, a queue, bin/ with postie, sendmail and mailq."""

    def __init__(self, t, postie):
        self.t = t
        self.tmpdir = postietest.TempDir('completions')
        self.tmp = self.tmpdir.path
        self.home = os.path.join(self.tmp, 'home')
        self.env = postietest.private_env(self.home)
        self.bin = os.path.join(self.tmp, 'bin')
        self.fakebin = os.path.join(self.tmp, 'fakebin')
        self.qdir = os.path.join(self.tmp, 'q')
        self.marker = os.path.join(self.tmp, 'MARKER')
        os.makedirs(self.bin)
        os.makedirs(self.fakebin)
        os.symlink(postie, os.path.join(self.bin, 'postie'))
        os.symlink('postie', os.path.join(self.bin, 'sendmail'))
        os.symlink(shutil.which('true') or '/bin/true', os.path.join(self.bin, 'mailq'))
        self.env['PATH'] = self.bin + os.pathsep + self.env.get('PATH', '/usr/bin:/bin')
        # A port that refuses connections: bound, not listening, for the whole test.
        self.refuser = socket.socket()
        self.refuser.bind(('127.0.0.1', 0))
        port = self.refuser.getsockname()[1]
        cfg = os.path.join(self.env['XDG_CONFIG_HOME'], 'postie')
        os.makedirs(cfg, exist_ok=True)
        self.profile = os.path.join(cfg, 'config')
        # postie.conf(5): comments, blanks and tabs, a quoted name, CR LF, inheritance,
        # "account default : NAME".
        self.write(self.profile, (
            'defaults\ntls off\nfrom a@example.test\n'
            '# account commented\n'
            'account work\nhost 127.0.0.1\nport %d\nqueue_dir %s\n'
            '  account\t"home"\nhost 127.0.0.1\n'
            'account private : work\r\n'
            'account default : work\n') % (port, self.qdir))
        self.other = os.path.join(self.tmp, 'other.conf')
        self.write(self.other, (
            'account alpha\nhost 127.0.0.1\n'
            'eval touch %s\n'
            'passwordeval touch %s\n'
            'account beta : alpha\n') % (self.marker, self.marker))
        self.write(os.path.join(self.fakebin, 'postie'),
                   '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\ncat <<"EOF"\n%sEOF\n'
                   % (os.path.join(self.tmp, 'fake-args'), FAKE_MAILQ), mode=0o755)

    @staticmethod
    def write(path, text, mode=0o600):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
        os.chmod(path, mode)

    def postie(self, args, stdin=b''):
        return subprocess.run([os.path.join(self.bin, 'postie')] + args, input=stdin,
                              capture_output=True, env=self.env, timeout=TIMEOUT)

    def make_queue(self):
        """Three entries (connection refused), one of them moved to failed/ (mailq marks it
        '!'); their ids."""
        msg = b'From: a@example.test\nSubject: completion test\n\nhello\n'
        for _ in range(3):
            r = self.postie(['r@example.test'], msg)
            if r.returncode != 0 or b'queued as' not in r.stderr:
                self.t.ok(False, 'postie queues a message', r)
                return []
        ids = sorted(os.listdir(os.path.join(self.qdir, 'queue')))
        os.makedirs(os.path.join(self.qdir, 'failed'), exist_ok=True)
        os.rename(os.path.join(self.qdir, 'queue', ids[0]),
                  os.path.join(self.qdir, 'failed', ids[0]))
        q = self.postie(['-bp']).stdout.decode()
        self.t.note('the queue:\n' + q)
        self.t.ok(ids[0] + '!' in q and all(i in q for i in ids),
                  'three entries queued, one failed (marked "!")', q)
        return ids

    def end(self):
        self.refuser.close()
        self.tmpdir.end(self.t.failed)


# ---- the shells ------------------------------------------------------------------------------

BASH_DRIVER = r'''
source "$1" || exit 3
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
# the function registered for the command, as bash would find it
spec=$(complete -p -- "$1" 2>/dev/null) || exit 0
func=${spec#*-F }
func=${func%% *}
"$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def bash_words(line):
    """COMP_WORDS as bash makes them for LINE with the default COMP_WORDBREAKS: "=" is a word
    of its own ("--tls=o" is "--tls" "=" "o"); a trailing blank starts an empty word."""
    words = []
    for w in line.split():
        if w.startswith('--') and '=' in w:
            name, _, value = w.partition('=')
            words += [name, '='] + ([value] if value else [])
        else:
            words.append(w)
    if line.endswith(' '):
        words.append('')
    return words


class Shell:
    def __init__(self, name, env, comp):
        self.name, self.e, self.comp = name, env, comp

    def run(self, argv, env=None, stdin=None):
        return subprocess.run(argv, capture_output=True, env=env or self.e.env, timeout=TIMEOUT,
                              input=stdin, cwd=self.e.tmp)


class Bash(Shell):
    def complete(self, line, env=None):
        r = self.run(['bash', '--norc', '-c', BASH_DRIVER, 'drive', self.comp] +
                     bash_words(line), env)
        return [x for x in r.stdout.decode().split('\n') if x], r

    def load_checks(self, t):
        r = self.run(['bash', '--norc', '-c', 'source "$1" && complete -p postie sendmail; '
                      'complete -p mailq', 'load', self.comp])
        out = r.stdout.decode()
        t.ok('complete -F _postie postie\n' in out, 'bash: complete -p postie names _postie', r)
        t.ok('complete -F _postie sendmail\n' in out,
             'bash: sendmail (a link to postie) is completed too', r)
        t.ok('mailq' not in out, 'bash: mailq (a link to something else) is not', r)


class Zsh(Shell):
    # zcomplete.zsh: the matches zsh offers for a line (see that file)
    def complete(self, line, env=None):
        out = os.path.join(self.e.tmp, 'zsh-matches')
        if os.path.exists(out):
            os.unlink(out)
        r = self.run(['zsh', '-f', os.path.join(HERE, 'zcomplete.zsh'), self.fpath, line, out],
                     env)
        try:
            with open(out, encoding='utf-8') as f:
                got = [x for x in f.read().split('\n') if x]
        except FileNotFoundError:
            got = []
        return got, r

    def load_checks(self, t):
        self.fpath = os.path.join(self.e.tmp, 'zfunc')
        os.makedirs(self.fpath, exist_ok=True)
        shutil.copy(self.comp, os.path.join(self.fpath, '_postie'))
        zdot = os.path.join(self.e.tmp, 'zdotdir')
        os.makedirs(zdot, exist_ok=True)
        env = dict(self.e.env, ZDOTDIR=zdot)
        r = self.run(['zsh', '-c', 'fpath=("$1" $fpath); autoload -U compinit; '
                      'compinit -u -d "$2"; print -r -- ${_comps[postie]} ${_comps[sendmail]} '
                      '${_comps[mailq]}; autoload +X _postie && which _postie >/dev/null && '
                      'print loaded', 'load', self.fpath, os.path.join(zdot, 'zcompdump')], env)
        out = r.stdout.decode()
        t.ok(out.startswith('_postie _postie _postie\n') and 'loaded' in out,
             'zsh: compinit finds _postie for postie, sendmail and mailq; it loads', r)


class Fish(Shell):
    def complete(self, line, env=None):
        r = self.run(['fish', '--no-config', '-c', 'source $argv[1]; and complete --do-complete '
                      '$argv[2]', self.comp, line], env)
        got = [x.split('\t')[0] for x in r.stdout.decode().split('\n') if x]
        return got, r

    def load_checks(self, t):
        r = self.run(['fish', '--no-config', '-c', 'source $argv[1]', self.comp])
        t.ok(r.returncode == 0 and not r.stderr, 'fish: the file loads without a message', r)


def syntax_check(t, name, comp):
    argv = {'bash': ['bash', '-n', comp], 'zsh': ['zsh', '-n', comp],
            'fish': ['fish', '--no-execute', comp]}[name]
    r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT)
    t.ok(r.returncode == 0 and not r.stderr, '%s: syntax (%s)' % (name, ' '.join(argv[:-1])), r)


# ---- the cases ---------------------------------------------------------------------------------

def values(got, line, pre=None):
    """The matches as values: without the current word's "--NAME=" or PRE ("-qI", "-b"): fish
    (and bash without "=" in COMP_WORDBREAKS) give whole words, bash's default and zsh the
    value."""
    cur = '' if line.endswith(' ') else line.split()[-1]
    if pre is None:
        pre = cur[:cur.index('=') + 1] if cur.startswith('--') and '=' in cur else ''
    out = set()
    for g in got:
        if pre and g.startswith(pre):
            g = g[len(pre):]
        out.add(g)
    return out


def check(t, sh, line, want, what, env=None, pre=None, ignore=()):
    got, r = sh.complete(line, env)
    have = values(got, line, pre) - set(ignore)
    good = have == set(want)
    t.ok(good, '%s: %s %r -> %s' % (sh.name, what, line, ' '.join(sorted(want)) or 'nothing'),
         'got: %s\nstdout: %s\nstderr: %s' % (sorted(have), r.stdout.decode()[-2000:],
                                              r.stderr.decode()[-2000:]))
    return good


def run_cases(t, sh, e, ids):
    q_selectors = ('', 'I', 'R', '-qR', '-q')
    check(t, sh, 'postie --qu', ['--queue-delete', '--queue-retry'], 'long options')
    check(t, sh, 'postie --serv', ['--serverinfo'], 'long options')
    check(t, sh, 'postie --tls=', ['on', 'off'], 'an optional value after "="')
    check(t, sh, 'postie --set-date-header=', ['auto', 'off'], 'the values of')
    check(t, sh, 'postie -b', ['m', 'p', 's', 'v', 'i'], 'the modes', pre='-b')
    accounts = ['work', 'home', 'private', 'default']
    check(t, sh, 'postie -a ', accounts, 'the user profile\'s accounts')
    check(t, sh, 'postie --account=', accounts, 'the user profile\'s accounts')
    check(t, sh, 'postie -a w', ['work'], 'an account name begun')
    check(t, sh, 'postie -C %s -a ' % e.other, ['alpha', 'beta'], '-C FILE\'s accounts')
    check(t, sh, 'postie --file=%s --account=' % e.other, ['alpha', 'beta'],
          '--file=FILE\'s accounts')
    t.ok(not os.path.exists(e.marker), '%s: no eval or passwordeval line ran' % sh.name)

    # queue ids: the real postie's mailq, then the fake's Postfix layout
    if ids:
        check(t, sh, 'postie --queue-delete ', ids, 'the queue ids (waiting and failed)')
        check(t, sh, 'postie --queue-retry %s ' % ids[0], ids, 'more queue ids')
        check(t, sh, 'postie -qI', ids, '-qI and the ids', pre='-qI', ignore=q_selectors)
        check(t, sh, 'postie -a work --queue-delete ', ids, 'the ids of the account\'s queue')
        check(t, sh, 'sendmail --queue-delete ', ids, 'sendmail, a link to postie:')
    check(t, sh, 'mailq --qu', [], 'mailq, a link to something else: nothing of postie\'s')
    fake = dict(e.env, PATH=e.fakebin + os.pathsep + e.env['PATH'])
    args = os.path.join(e.tmp, 'fake-args')
    if os.path.exists(args):
        os.unlink(args)
    check(t, sh, 'postie --queue-retry ', FAKE_IDS, 'ids from Postfix\'s layout', env=fake)
    check(t, sh, 'postie -C %s -a alpha --queue-delete ' % e.profile, FAKE_IDS,
          'ids with the line\'s -C and -a', env=fake)
    try:
        with open(args, encoding='utf-8') as f:
            calls = f.read().split('\n')
    except FileNotFoundError:
        calls = []
    t.ok(calls[:1] == ['-bp'] and ('-C %s -a alpha -bp' % e.profile) in calls,
         '%s: the listing is "postie -bp", with the line\'s -C and -a' % sh.name, calls)

    # A user's profile that loading runs: postie -bp would run its eval; completion must not.
    with open(e.profile, 'a', encoding='utf-8') as f:
        f.write('eval touch %s\npasswordeval touch %s\n' % (e.marker, e.marker))
    check(t, sh, 'postie -a ', accounts, 'accounts from a profile with eval lines')
    check(t, sh, 'postie --queue-delete ', [], 'no ids while the profile has an eval line')
    check(t, sh, 'postie -qI', [], 'no ids while the profile has an eval line', pre='-qI',
          ignore=q_selectors)
    t.ok(not os.path.exists(e.marker), '%s: the profile\'s eval and passwordeval did not run'
         % sh.name)
    # The control: postie itself runs the eval line (so the check above means something).
    e.postie(['-bp'])
    t.note('control: postie -bp %s the eval line' %
           ('ran' if os.path.exists(e.marker) else 'did not run'))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ('bash', 'zsh', 'fish'):
        sys.exit('usage: %s bash|zsh|fish COMPLETION_FILE POSTIE' % sys.argv[0])
    name, comp, postie = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    t = postietest.Tap('completions-' + name)
    if not shutil.which(name):
        t.skip_all('%s is not installed (tests/install-deps.sh installs it)' % name)
    if name == 'zsh':
        r = subprocess.run(['zsh', '-fc', 'zmodload zsh/zpty'], capture_output=True)
        if r.returncode != 0:
            t.skip_all('zsh has no zsh/zpty module')
    syntax_check(t, name, comp)
    e = Env(t, postie)
    try:
        sh = {'bash': Bash, 'zsh': Zsh, 'fish': Fish}[name](name, e, comp)
        sh.load_checks(t)
        ids = e.make_queue()
        run_cases(t, sh, e, ids)
    finally:
        e.end()
    sys.exit(t.plan())


if __name__ == '__main__':
    main()
