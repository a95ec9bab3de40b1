#!/usr/bin/env python3
# docrefs.py SOURCE_ROOT: the code that SECURITY.md and HACKING.md name still exists.
#   - SECURITY.md, one TAP check per rule SEC-n: in its "Enforced in:" item, every backticked
#     `src/NAME.c`, `src/NAME.h` or `cmd/NAME.c` exists, and every backticked identifier listed
#     after it (up to the next file or a ';'; words in parentheses are notes and not checked)
#     occurs as a word in that file's code, comments, literals and #include lines left out (a
#     function, a static, a macro, a table or a member: occurrence is enough), but for a
#     function that another src/ or cmd/ .c file defines and this one only calls (it moved).
#     In its "Tested by:" item, every number after "tests/proto" (and each of a range
#     NNN-MMM) has a tests/proto/NNN-*.case, and every tests/... or fuzz/... path exists.
#   - HACKING.md (when present), one check: every backticked src/ or cmd/ file exists, the
#     identifiers listed after one as above occur in it, a backticked `table[]` or `struct name`
#     just before "in `src/F`" or "(`src/F`)" occurs in F, and every tests/ or fuzz/ path
#     exists (but for a pattern such as fuzz/NAME.c).
# Also fails when SECURITY.md's rules are not SEC-1 to SEC-N in order. Prints TAP.
import glob
import os
import re
import sys

FILE = re.compile(r'^(?:src/[A-Za-z0-9_]+\.[ch]|cmd/[A-Za-z0-9_]+\.c)$')
IDENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# a backticked span, or one of the characters that matter between them
TOKEN = re.compile(r'`([^`\n]*)`|([();])')
RULE = re.compile(r'^- \*\*SEC-(\d+)\*\*', re.M)
ITEM = re.compile(r'^  - ', re.M)
PATH = re.compile(r'(?<![\w/.-])((?:tests|fuzz)/[A-Za-z0-9_./-]*)')
PROTO = re.compile(r'tests/proto((?:\s+\d{3}(?:-\d{3})?)+)')
# a backticked table or struct just before the file that holds it (HACKING.md)
NAMED_IN = re.compile(r'`(?:struct ([A-Za-z_]\w*)|([A-Za-z_]\w*)\[\])`\s+(?:in\s+|\()'
                      r'`((?:src|cmd)/[A-Za-z0-9_]+\.[ch])`')

# comments, string and character literals and #include lines blanked: a name in a comment,
# a message or a header's name does not count
_C_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[^\n]*$', re.M)


def code_of(text):
    def blank(m):
        return re.sub(r'[^\n]', ' ', m.group(0))
    return _INCLUDE.sub('', _C_TOKEN.sub(blank, text))


class Tree:
    """The files of the source tree, read once."""

    def __init__(self, root):
        self.root = root
        self.code = {}
        self.sources = None

    def exists(self, rel):
        return os.path.exists(os.path.join(self.root, rel))

    def has_word(self, rel, word):
        if rel not in self.code:
            with open(os.path.join(self.root, rel), encoding='utf-8', errors='replace') as f:
                self.code[rel] = code_of(f.read())
        return re.search(r'\b%s\b' % re.escape(word), self.code[rel]) is not None

    def defines(self, rel, word):
        """Whether REL defines function WORD: its name starts a line (STYLE puts the return
        type on the line above) and an opening parenthesis follows."""
        self.has_word(rel, word)
        return re.search(r'^%s\(' % re.escape(word), self.code[rel], re.M) is not None

    def definers(self, word):
        """The .c files of src/ and cmd/ that define function WORD."""
        if self.sources is None:
            self.sources = sorted(os.path.relpath(f, self.root) for d in ('src', 'cmd')
                                  for f in glob.glob(os.path.join(self.root, d, '*.c')))
        return [rel for rel in self.sources if self.defines(rel, word)]

    def proto_case(self, number):
        return bool(glob.glob(os.path.join(self.root, 'tests', 'proto', '%03d-*.case' % number)))


def code_refs(text):
    """(file, [identifiers]) for each backticked file in TEXT, in order, with the backticked
    identifiers listed after it outside parentheses, up to the next file or ';'."""
    refs = []
    current = None
    depth = 0
    for m in TOKEN.finditer(text):
        span, char = m.group(1), m.group(2)
        if char == '(':
            depth += 1
        elif char == ')':
            depth = max(0, depth - 1)
        elif char == ';':
            current, depth = None, 0
        elif FILE.match(span):
            current = (span, [])
            refs.append(current)
        elif current is not None and depth == 0 and IDENT.match(span):
            current[1].append(span)
    return refs


def check_code(tree, text, where):
    problems = []
    for name, idents in code_refs(text):
        if not tree.exists(name):
            problems.append('%s: %s does not exist%s' % (
                where, name, ' (names %s)' % ', '.join(idents) if idents else ''))
            continue
        for ident in idents:
            if not tree.has_word(name, ident):
                problems.append('%s: %s has no %s' % (where, name, ident))
            elif name.endswith('.c') and not tree.defines(name, ident):
                # only called there: the function moved and the document kept the caller
                elsewhere = tree.definers(ident)
                if elsewhere:
                    problems.append('%s: %s only uses %s, defined in %s'
                                    % (where, name, ident, ', '.join(elsewhere)))
    return problems


def check_paths(tree, text, where):
    problems = []
    for m in PATH.finditer(text):
        path = m.group(1).rstrip('.,')
        if not tree.exists(path):
            problems.append('%s: %s does not exist' % (where, path))
    return problems


def check_tests(tree, text, where):
    problems = check_paths(tree, text, where)
    for m in PROTO.finditer(text):
        for item in m.group(1).split():
            first, _, last = item.partition('-')
            lo, hi = int(first), int(last or first)
            if hi < lo:
                problems.append('%s: tests/proto %s is not a range' % (where, item))
                continue
            for n in range(lo, hi + 1):
                if not tree.proto_case(n):
                    problems.append('%s: tests/proto %03d has no tests/proto/%03d-*.case'
                                    % (where, n, n))
    return problems


def items(block):
    """The sub-items ("  - ...") of one rule's BLOCK, each with its continuation lines."""
    starts = [m.start() for m in ITEM.finditer(block)]
    return [block[a:b] for a, b in zip(starts, starts[1:] + [len(block)])]


def rules(text):
    """(number, block) for each "- **SEC-n**" of TEXT, the block running to the next rule or
    heading."""
    found = list(RULE.finditer(text))
    out = []
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        heading = re.search(r'^#', text[m.end():end], re.M)
        if heading:
            end = m.end() + heading.start()
        out.append((int(m.group(1)), text[m.start():end]))
    return out


def rule_problems(tree, number, block):
    where = 'SEC-%d' % number
    enforced = [i for i in items(block) if i.startswith('  - Enforced in:')]
    tested = [i for i in items(block) if i.startswith('  - Tested by:')]
    problems = []
    if not enforced:
        problems.append('%s: no "Enforced in:" item' % where)
    if not tested:
        problems.append('%s: no "Tested by:" item' % where)
    for item in enforced:
        problems += check_code(tree, item, where)
    for item in tested:
        problems += check_tests(tree, item, where)
    return problems


def hacking_problems(tree, text):
    where = 'HACKING.md'
    problems = check_code(tree, text, where)
    for m in NAMED_IN.finditer(text):
        name, rel = m.group(1) or m.group(2), m.group(3)
        if tree.exists(rel) and not tree.has_word(rel, name):
            problems.append('%s: %s has no %s' % (where, rel, name))
    # a path with NAME in it (fuzz/NAME.c) is a pattern, not a file
    problems += [p for p in check_paths(tree, text, where) if 'NAME' not in p]
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    tree = Tree(root)
    with open(os.path.join(root, 'SECURITY.md'), encoding='utf-8') as f:
        security = f.read()
    checks = []
    found = rules(security)
    numbers = [n for n, _ in found]
    order = [] if numbers == list(range(1, len(numbers) + 1)) else [
        'SECURITY.md: the rules are %s, not SEC-1 to SEC-%d in order'
        % (', '.join('SEC-%d' % n for n in numbers), len(numbers))]
    checks.append(('SECURITY.md has rules SEC-1 to SEC-%d in order' % len(numbers),
                   order + ([] if numbers else ['SECURITY.md: no rule found'])))
    for number, block in found:
        checks.append(('SEC-%d: the code and tests SECURITY.md names exist' % number,
                       rule_problems(tree, number, block)))
    hacking = os.path.join(root, 'HACKING.md')
    if os.path.exists(hacking):
        with open(hacking, encoding='utf-8') as f:
            checks.append(('HACKING.md: the files, tables and functions it names exist',
                           hacking_problems(tree, f.read())))
    failed = 0
    for i, (description, problems) in enumerate(checks, 1):
        print('%s %d - %s' % ('not ok' if problems else 'ok', i, description))
        for p in problems:
            print('#   ' + p)
        failed += bool(problems)
    print('1..%d' % len(checks))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
