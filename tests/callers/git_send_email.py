#!/usr/bin/env python3
# git_send_email.py POSTIE: `git send-email --sendmail-cmd=PATH` (git >= 2.33; Debian 12 has
# 2.39) with postie as the command, from a throwaway repository in the temp dir (no global or
# system git configuration is read).
#
# git send-email runs `PATH [-f SENDER] -i rcpt...` through the shell: every recipient on the
# command line, To/Cc in the headers (Cc folded over two lines), Bcc only on the command line.
#   1. a patch with lines that test the wire ("+." and "+.." lines, a " From " line, trailing
#      blanks, UTF-8): --to, --bcc, and the Cc that git collects from the commit's Cc: and
#      Signed-off-by: lines; --envelope-sender passes -f
#   2. the body lands byte-exact (LF for CRLF) as format-patch wrote it, and `git am` of the
#      landed message in a fresh clone gives the same tree as the original commit

import os

from clib import Test

TO = 'list@example.test'
BCC = 'hidden@example.test'
AUTHOR = 'Ann Author <ann@example.test>'
CC = 'Carl Cc <carl@example.test>'

FILE_BEFORE = 'first line\n'
FILE_AFTER = ('first line\n.\n..\n.leading dot\nFrom the start of a line\n'
              'trailing blanks   \n\ttab line\nnon-ASCII: Grüße, façade, 日本\n')
MESSAGE = ('callers: a patch through postie\n\n'
           'The body of the commit message.\n\n'
           'Cc: %s\nSigned-off-by: %s\n' % (CC, AUTHOR))


def main():
    t = Test('git-send-email', programs=['git'])
    t.env.update(GIT_CONFIG_NOSYSTEM='1', GIT_AUTHOR_NAME='Ann Author',
                 GIT_AUTHOR_EMAIL='ann@example.test', GIT_COMMITTER_NAME='Ann Author',
                 GIT_COMMITTER_EMAIL='ann@example.test',
                 GIT_AUTHOR_DATE='2024-01-02T03:04:05Z', GIT_COMMITTER_DATE='2024-01-02T03:04:05Z')
    usage = t.run(['git', 'send-email', '-h'])
    usage = usage.out + usage.err
    if 'is not a git command' in usage:
        print('1..0 # SKIP git send-email is not installed (Debian: git-email)')
        raise SystemExit(77)
    # --sendmail-cmd came with git 2.33; before it, --smtp-server took a program's path.
    option = '--sendmail-cmd' if '--sendmail-cmd' in usage else '--smtp-server'
    t.note('git send-email %s=%s' % (option, t.sendmail))

    repo = os.path.join(t.tmp, 'repo')
    git = ['git', '-C', repo]
    for argv in (['git', 'init', '-q', '-b', 'main', repo],
                 git + ['config', 'user.name', 'Ann Author'],
                 git + ['config', 'user.email', 'ann@example.test']):
        r = t.run(argv)
        if not t.ok(r.returncode == 0, 'setup: git %s' % argv[1 if argv[1] == 'init' else 3],
                    r.err):
            t.finish()
    with open(os.path.join(repo, 'file.txt'), 'w', encoding='utf-8') as f:
        f.write(FILE_BEFORE)
    t.run(git + ['add', 'file.txt'])
    t.run(git + ['commit', '-q', '-m', 'start'])
    with open(os.path.join(repo, 'file.txt'), 'w', encoding='utf-8') as f:
        f.write(FILE_AFTER)
    r = t.run(git + ['commit', '-q', '-a', '-F', '-'], input=MESSAGE.encode())
    t.ok(r.returncode == 0, 'setup: the commit to send', r.err)
    tree = t.run(git + ['rev-parse', 'HEAD^{tree}']).out.strip()
    out = os.path.join(t.tmp, 'patches')
    r = t.run(git + ['format-patch', '-q', '-1', '-o', out])
    patches = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if not t.ok(r.returncode == 0 and len(patches) == 1, 'setup: format-patch', r.err):
        t.finish()
    with open(os.path.join(out, patches[0]), 'rb') as f:
        patch = f.read()
    patch_body = patch.partition(b'\n\n')[2]

    # 1. Send it.
    r = t.run(git + ['send-email', '%s=%s' % (option, t.sendmail), '--to=%s' % TO,
                     '--bcc=%s' % BCC, '--envelope-sender=ann@example.test', '--confirm=never',
                     '--no-validate', '--quiet', os.path.join(out, patches[0])])
    t.ok(r.returncode == 0, 'git send-email exits 0', r.out + r.err)
    calls = t.wait_calls(1)
    c = calls[0] if calls else None
    rcpts = [TO, 'ann@example.test', 'carl@example.test', BCC]
    t.ok(c is not None and c.argv[:3] == ['-f', 'ann@example.test', '-i'] and
         sorted(c.argv[3:]) == sorted(rcpts), 'argv is -f SENDER -i and the four recipients', c)
    t.ok(c is not None and c.rc == 0, 'postie exits 0', c)
    t.ok(c is not None and c.stderr == '', 'postie prints nothing', c)
    msgs = t.messages()
    if not t.ok(len(msgs) == 1, 'one message at the sink', [c, msgs]):
        t.finish()
    m = msgs[0]
    t.ok(m.mail_from == 'ann@example.test', 'MAIL FROM:<ann@example.test> (--envelope-sender)', m)
    t.ok(sorted(m.rcpts) == sorted(rcpts), 'RCPT for To, both Cc and the Bcc', m)
    t.ok(m.one('to') == TO, 'To kept', m)
    cc = m.one('cc') or ''
    t.ok(cc.replace('\t', ' ') == '%s, %s' % (AUTHOR, CC) and b'\r\n\t' in m.head,
         'Cc kept with both names, its folding intact', m.head)
    t.ok(BCC.encode() not in m.raw, 'the Bcc address is nowhere in it', m)
    t.ok(m.one('subject') == '[PATCH] callers: a patch through postie', 'Subject kept', m)
    t.ok(m.one('from') == AUTHOR, 'From kept', m)
    t.ok(m.one('message-id') is not None and m.one('message-id') in c.stdin.decode('utf-8'),
         'git\'s Message-Id kept', m)
    t.ok(m.one('content-transfer-encoding') == '8bit', 'Content-Transfer-Encoding: 8bit kept', m)
    t.check_wire(m, 'patch')

    # 2. The patch itself.
    landed = m.body.replace(b'\r\n', b'\n')
    t.ok(landed == patch_body, 'the body is byte-exact the body format-patch wrote',
         _diff(patch_body, landed))
    t.ok(b'\r\n+.\r\n+..\r\n+.leading dot\r\n' in m.body,
         'the "+." and "+.." lines arrived un-stuffed', m.body[:600])
    clone = os.path.join(t.tmp, 'clone')
    r = t.run(['git', 'clone', '-q', repo, clone])
    t.run(['git', '-C', clone, 'reset', '-q', '--hard', 'HEAD~1'])
    mbox = os.path.join(t.tmp, 'landed.mbox')
    with open(mbox, 'wb') as f:
        f.write(b'From git-send-email Mon Sep 17 00:00:00 2001\n' + m.raw.replace(b'\r\n', b'\n'))
    r = t.run(['git', '-C', clone, 'am', '-q', mbox])
    t.ok(r.returncode == 0, 'git am takes the landed message', r.out + r.err)
    got = t.run(['git', '-C', clone, 'rev-parse', 'HEAD^{tree}']).out.strip()
    t.ok(got == tree and tree != '', 'git am gives the same tree as the original commit',
         '%s != %s' % (got, tree))
    t.finish()


def _diff(want, got):
    a, b = want.split(b'\n'), got.split(b'\n')
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            return 'line %d: wanted %r, got %r' % (i + 1, x, y)
    return 'same lines'


if __name__ == '__main__':
    main()
