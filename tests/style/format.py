#!/usr/bin/env python3
# format.py SOURCE_ROOT: every tracked .c and .h of src/ cmd/ tests/ fuzz/ is as the repo's
# .clang-format wants it: `clang-format --dry-run -Werror FILE` is clean. One TAP check per
# file. clang-format-14 (the version .clang-format is written for; Debian 12's) is preferred,
# else clang-format; without either the test is skipped (exit 77; tests/install-deps.sh
# installs it). Fix a failure with `clang-format -i FILE`.
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylelib  # noqa: E402


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    tool = shutil.which('clang-format-14') or shutil.which('clang-format')
    if tool is None:
        print('1..0 # SKIP clang-format is not installed (tests/install-deps.sh installs it)')
        return 77
    version = subprocess.run([tool, '--version'], capture_output=True, text=True).stdout
    print('# %s: %s' % (tool, version.strip()))
    files = stylelib.c_files(root)
    failed = 0
    for i, name in enumerate(files, 1):
        r = subprocess.run([tool, '--dry-run', '-Werror', name], cwd=root,
                           capture_output=True, text=True, timeout=120)
        good = r.returncode == 0
        print('%s %d - %s' % ('ok' if good else 'not ok', i, name))
        if not good:
            failed += 1
            lines = (r.stderr or r.stdout).splitlines()
            for line in lines[:12]:
                print('#   ' + line)
            if len(lines) > 12:
                print('#   ... (%d more lines; clang-format -i %s)' % (len(lines) - 12, name))
    print('1..%d' % len(files))
    if failed:
        print('# %d of %d files need clang-format -i' % (failed, len(files)))
    return 1 if failed or not files else 0


if __name__ == '__main__':
    sys.exit(main())
