#!/usr/bin/env python3
# length.py SOURCE_ROOT: the file and function sizes of src/ and cmd/.
#   - no function over 80 lines (from the line with its name to its closing brace) unless
#     the comment just above it gives the reason in a sentence that starts "Long:";
#   - no file in src/ over 900 lines.
# One TAP check per file; a failure lists what is too long.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylelib  # noqa: E402

FUNCTION_MAX = 80
FILE_MAX = 900
NAME = re.compile(r'^([a-z_][a-z0-9_]*)\(')


def comment_above(lines, i):
    """The comment lines that end just above line I (the return type line is I)."""
    out = []
    j = i - 1
    while j >= 0 and (lines[j].startswith((' *', '/*', '//')) or lines[j].rstrip().endswith('*/')):
        out.append(lines[j])
        j -= 1
    return out


def problems(path, text):
    lines = text.split('\n')
    found = []
    if path.startswith('src/') and len(lines) - 1 > FILE_MAX:
        found.append('%s has %d lines (at most %d)' % (path, len(lines) - 1, FILE_MAX))
    start = None
    for i, line in enumerate(lines):
        if start is None and NAME.match(line):
            start = i
        elif start is not None and line.startswith('}'):
            n = i - start + 1
            # the definition's return type stands on the line above its name (STYLE)
            if n > FUNCTION_MAX and not any('Long:' in c for c in comment_above(lines, start - 1)):
                found.append('%s:%d: %s is %d lines (at most %d without a "Long:" comment)'
                             % (path, start + 1, NAME.match(lines[start]).group(1), n,
                                FUNCTION_MAX))
            start = None
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    files = [f for f in stylelib.c_files(root, ('src', 'cmd')) if f.endswith('.c')]
    print('1..%d' % len(files))
    bad = 0
    for k, name in enumerate(files, 1):
        with open(os.path.join(root, name), encoding='utf-8', errors='replace') as f:
            found = problems(name, f.read())
        print('%s %d - %s' % ('not ok' if found else 'ok', k, name))
        for x in found:
            print('#   ' + x)
        bad += bool(found)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
