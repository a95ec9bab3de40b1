#!/usr/bin/env python3
# cases_registered.py DIR NAME...: the proto cases meson registered (NAME..., one test each)
# are exactly the *.case files in DIR now, and DIR holds nothing else but the suite's own
# files. Fails (exit 1) naming each case file that is not in the build (added after the last
# `meson setup --reconfigure`), each registered case whose file is gone, and each stray file
# (a case misnamed, e.g. "050-x.cse", would otherwise never run). Prints TAP.
import os
import sys

OWN = {'README.md', 'meson.build', 'run.py', 'cases_registered.py'}


def main():
    if len(sys.argv) < 2:
        print('usage: cases_registered.py DIR NAME...', file=sys.stderr)
        return 2
    folder, registered = sys.argv[1], sys.argv[2:]
    files = sorted(os.listdir(folder))
    cases = [f[:-len('.case')] for f in files if f.endswith('.case')]
    stray = [f for f in files if not f.endswith('.case') and f not in OWN
             and not f.startswith('.') and f != '__pycache__']
    checks = [
        ('every .case file is a registered test (else: meson setup --reconfigure build)',
         sorted(set(cases) - set(registered))),
        ('every registered test has its .case file', sorted(set(registered) - set(cases))),
        ('no test is registered twice',
         sorted({r for r in registered if registered.count(r) > 1})),
        ('no stray file in tests/proto (a case must end in .case)', stray),
    ]
    failed = 0
    for i, (what, bad) in enumerate(checks, 1):
        print('%s %d - %s' % ('not ok' if bad else 'ok', i, what))
        for b in bad:
            print('#   %s' % b)
        failed += bool(bad)
    print('1..%d' % len(checks))
    print('# %d case files, %d registered tests' % (len(cases), len(registered)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
