# stylelib.py: what the style tests share: the tracked C files of the tree, and C source with
# its comments and literals blanked out (line numbers kept).
import os
import re
import subprocess

C_DIRS = ('src', 'cmd', 'tests', 'fuzz')


def c_files(root, dirs=C_DIRS):
    """The .c and .h files under DIRS of ROOT, relative to ROOT, sorted: those git tracks when
    ROOT is a git checkout, else every one found (a release tarball)."""
    try:
        r = subprocess.run(['git', '-C', root, 'ls-files', '-z', '--'] + list(dirs),
                           capture_output=True, timeout=60)
        if r.returncode == 0 and r.stdout:
            names = [n for n in r.stdout.decode().split('\0') if n.endswith(('.c', '.h'))]
            return sorted(n for n in names if os.path.exists(os.path.join(root, n)))
    except OSError:
        pass
    out = []
    for d in dirs:
        for base, subdirs, files in os.walk(os.path.join(root, d)):
            subdirs[:] = [s for s in subdirs if not s.startswith('.')]
            out += [os.path.relpath(os.path.join(base, f), root)
                    for f in files if f.endswith(('.c', '.h'))]
    return sorted(out)


_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def code_only(text):
    """TEXT with every comment, string literal and character literal replaced by spaces
    (newlines kept, so line numbers stay). An #include "x.h" keeps its name: the preprocessor
    line is left alone."""
    def blank(m):
        return re.sub(r'[^\n]', ' ', m.group(0))
    out = []
    for line_block in re.split(r'(^[ \t]*#[ \t]*include[^\n]*$)', text, flags=re.M):
        if re.match(r'[ \t]*#[ \t]*include', line_block):
            out.append(line_block)
        else:
            out.append(_TOKEN.sub(blank, line_block))
    return ''.join(out)
