#!/usr/bin/env python3
# layers.py SOURCE_ROOT: src/ is layered, and the order of `src_files` in src/meson.build IS
# the layering, bottom first. A module X (src/X.c and src/X.h) may include only the headers
# of modules listed before it, its own, and config.h; so no two modules include each other,
# directly or around a circle. Prints TAP, with every violation as
#     src/X.c:LINE: X includes Y, which is above it
# Checks: every src/*.c is in src_files (else it has no place); every header a module
# includes names a listed module; the order holds; and, apart from the order, the include
# graph has no circle (each circle printed). A header P_int.h is internal to the group of
# modules P and P_* (they share it, nobody else may include it); it is not a layer.
import os
import re
import sys

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
ALLOWED = {'config'}


def src_order(root):
    """The module names of `src_files = files(...)` in src/meson.build, in order."""
    with open(os.path.join(root, 'src', 'meson.build'), encoding='utf-8') as f:
        text = f.read()
    m = re.search(r'^src_files\s*=\s*files\((.*?)\)', text, re.S | re.M)
    if not m:
        raise SystemExit('layers.py: no `src_files = files(...)` in src/meson.build')
    body = re.sub(r'#[^\n]*', '', m.group(1))
    return [os.path.splitext(n)[0] for n in re.findall(r"'([^']+)'", body)]


def includes(path):
    """[(line, module)] of every #include "Y.h" in PATH (Y without the folder and .h)."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    out = []
    for m in INCLUDE.finditer(text):
        line = text.count('\n', 0, m.start()) + 1
        out.append((line, os.path.splitext(os.path.basename(m.group(1)))[0]))
    return out


def circles(graph):
    """The strongly connected components of GRAPH with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(n, what, bad):
    print('%s %d - %s' % ('not ok' if bad else 'ok', n, what))
    for b in bad:
        print('#   ' + b)
    return bool(bad)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    order = src_order(root)
    rank = {m: i for i, m in enumerate(order)}
    src = os.path.join(root, 'src')
    names = sorted(f for f in os.listdir(src) if f.endswith(('.c', '.h')))
    print('# the layers, bottom first: ' + ' '.join(order))

    unlisted = sorted({os.path.splitext(f)[0] for f in names if f.endswith('.c')} - set(rank))
    unlisted_msgs = ['src/%s.c is not in src_files (src/meson.build)' % m for m in unlisted]

    unknown, upward, graph = [], [], {}
    for f in names:
        x = os.path.splitext(f)[0]
        for line, y in includes(os.path.join(src, f)):
            if y == x or y in ALLOWED:
                continue
            if y.endswith('_int'):
                group = y[:-len('_int')]
                if x != group and not x.startswith(group + '_') and x != y:
                    unknown.append('src/%s:%d: %s includes %s, internal to %s and %s_*'
                                   % (f, line, x, y, group, group))
                continue
            graph.setdefault(x, set()).add(y)
            where = 'src/%s:%d' % (f, line)
            if y not in rank:
                unknown.append('%s: %s includes %s, which is not a module in src_files'
                               % (where, x, y))
            elif x not in rank:
                continue  # reported above: X has no place yet
            elif rank[y] > rank[x]:
                upward.append('%s: %s includes %s, which is above it' % (where, x, y))
    loops = ['circle: ' + ' <-> '.join(c) for c in circles(graph)]

    failed = 0
    failed += check(1, 'every src/*.c is a module in src_files', unlisted_msgs)
    failed += check(2, 'every included header of src/ names a module in src_files', unknown)
    failed += check(3, 'every module includes only modules listed before it (%d violations)'
                    % len(upward), upward)
    failed += check(4, 'no include circle among the modules of src/', loops)
    print('1..4')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
