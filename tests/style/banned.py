#!/usr/bin/env python3
# banned.py SOURCE_ROOT: no call of a function the project does not use, in src/ and cmd/
# (code only: comments and string literals are not searched). Fails listing file:line.
#   strcpy strcat sprintf vsprintf   unbounded writes: snprintf/vsnprintf, buf_* or memcpy
#                                    with a known length instead
#   gets                             unbounded read: fgets / getline
#   atoi                             no error report: strtol/strtoul with end and errno
# And no assignment inside the condition of an if or while (STYLE: `if ((fd = open(..)) < 0)`
# becomes two statements; ++ and -- are not counted): the condition is read to its closing
# parenthesis, over lines.
# Prints TAP.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylelib  # noqa: E402

BANNED = ('strcpy', 'strcat', 'sprintf', 'vsprintf', 'gets', 'atoi')
WORD = re.compile(r'\b(%s)\b' % '|'.join(BANNED))


COND = re.compile(r'\b(if|while)\s*\(')
ASSIGN = re.compile(r'(?<![=!<>])=(?!=)')


def assignments(name, code):
    """file:line of each if/while condition in CODE that assigns (=, op=, ++, --)."""
    out = []
    for m in COND.finditer(code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {'(': 1, ')': -1}.get(code[i], 0)
            i += 1
        cond = code[m.end():i - 1]
        if ASSIGN.search(cond):
            out.append('%s:%d: an assignment inside the condition of %s'
                       % (name, code.count('\n', 0, m.start()) + 1, m.group(1)))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    files = stylelib.c_files(root, ('src', 'cmd'))
    hits, assigns = [], []
    for name in files:
        with open(os.path.join(root, name), encoding='utf-8', errors='replace') as f:
            code = stylelib.code_only(f.read())
        assigns += assignments(name, code)
        for lineno, line in enumerate(code.split('\n'), 1):
            for m in WORD.finditer(line):
                hits.append('%s:%d: %s' % (name, lineno, m.group(1)))
    print('%s 1 - no %s in src/ and cmd/ (%d files)' % ('not ok' if hits else 'ok',
                                                         ', '.join(BANNED), len(files)))
    for h in hits:
        print('#   ' + h)
    print('%s 2 - no assignment inside an if or while condition in src/ and cmd/' %
          ('not ok' if assigns else 'ok'))
    for h in assigns:
        print('#   ' + h)
    print('1..2')
    return 1 if hits or assigns or not files else 0


if __name__ == '__main__':
    sys.exit(main())
