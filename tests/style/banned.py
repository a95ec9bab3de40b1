#!/usr/bin/env python3
# banned.py SOURCE_ROOT: no call of a function the project does not use, in src/ and cmd/
# (code only: comments and string literals are not searched). Fails listing file:line.
#   strcpy strcat sprintf vsprintf   unbounded writes: snprintf/vsnprintf, buf_* or memcpy
#                                    with a known length instead
#   gets                             unbounded read: fgets / getline
#   atoi                             no error report: strtol/strtoul with end and errno
# Prints TAP.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylelib  # noqa: E402

BANNED = ('strcpy', 'strcat', 'sprintf', 'vsprintf', 'gets', 'atoi')
WORD = re.compile(r'\b(%s)\b' % '|'.join(BANNED))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    files = stylelib.c_files(root, ('src', 'cmd'))
    hits = []
    for name in files:
        with open(os.path.join(root, name), encoding='utf-8', errors='replace') as f:
            code = stylelib.code_only(f.read())
        for lineno, line in enumerate(code.split('\n'), 1):
            for m in WORD.finditer(line):
                hits.append('%s:%d: %s' % (name, lineno, m.group(1)))
    print('%s 1 - no %s in src/ and cmd/ (%d files)' % ('not ok' if hits else 'ok',
                                                         ', '.join(BANNED), len(files)))
    for h in hits:
        print('#   ' + h)
    print('1..1')
    return 1 if hits or not files else 0


if __name__ == '__main__':
    sys.exit(main())
