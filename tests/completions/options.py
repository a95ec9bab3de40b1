#!/usr/bin/env python3
# options.py SOURCE_ROOT: every flag of src/cli.c's popt tables (sendmail_flags[]: its long
# names and short letters; longopts[]: msmtp's long options) is offered by each completion
# file of contrib/completions, so that a new flag without its completion fails here. What a
# file must hold for a flag:
#   postie.bash  the word --NAME or -X
#   _postie      --NAME or -X in an _arguments spec
#   postie.fish  "-l NAME" or "-s X" (or "NAME:" in the spec list of the optional values)
# Flags the files offer that cli.c does not have yet are listed (a note, not a failure: the
# flags of other branches, --check, --queue-delete, --queue-retry, come in with their merge).

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

import postietest  # noqa: E402  (the path is set just above)


def table(text, name):
    """The body of the C array NAME[] = { ... };"""
    m = re.search(r'\b%s\[\]\s*=\s*\{(.*?)\n\};' % re.escape(name), text, re.S)
    return m.group(1) if m else ''


def flags(cli):
    longs, shorts = set(), set()
    body = table(cli, 'sendmail_flags')
    for m in re.finditer(r'\{\s*(NULL|"([^"]+)")\s*,\s*\'(.|\\0)\'', body):
        if m.group(2):
            longs.add(m.group(2))
        if m.group(3) != '\\0':
            shorts.add(m.group(3))
    for m in re.finditer(r'\{\s*"([^"]+)"\s*,\s*(true|false)\s*\}', table(cli, 'longopts')):
        longs.add(m.group(1))
    return longs, shorts


def patterns(kind, flag, long):
    e = re.escape(flag)
    if kind == 'fish':
        return [r'-l %s(?![\w-])' % e, r'"%s:' % e] if long else [r'-s %s(?!\w)' % e]
    return [r'(?<![\w-])--%s(?![\w-])' % e] if long else [r'(?<![\w-])-%s(?!\w)' % e]


def offered(kind, text):
    """The flags a completion file names (for the note on flags cli.c lacks)."""
    if kind == 'fish':
        return set(re.findall(r'^complete -c postie .*?-l ([\w-]+)', text, re.M)) | set(
            re.findall(r'^\s+"([\w-]+):', text, re.M))
    return set(re.findall(r'(?<![\w-])--([a-z][\w-]+)', text))


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: %s SOURCE_ROOT' % sys.argv[0])
    root = sys.argv[1]
    t = postietest.Tap('completions-options')
    with open(os.path.join(root, 'src', 'cli.c'), encoding='utf-8') as f:
        longs, shorts = flags(f.read())
    t.ok(len(longs) > 40 and len(shorts) > 25,
         'src/cli.c: the popt tables parse (%d long options, %d short flags)'
         % (len(longs), len(shorts)))
    for kind, name in (('bash', 'postie.bash'), ('zsh', '_postie'), ('fish', 'postie.fish')):
        path = os.path.join(root, 'contrib', 'completions', name)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        missing = ['--' + x for x in sorted(longs)
                   if not any(re.search(p, text) for p in patterns(kind, x, True))]
        missing += ['-' + x for x in sorted(shorts)
                    if not any(re.search(p, text) for p in patterns(kind, x, False))]
        t.ok(not missing, '%s: every flag of src/cli.c is completed' % name,
             'missing: ' + ' '.join(missing))
        extra = sorted(offered(kind, text) - longs)
        if extra:
            t.note('%s offers long options src/cli.c does not have (yet): %s'
                   % (name, ' '.join(extra)))
    sys.exit(t.plan())


if __name__ == '__main__':
    main()
