#!/usr/bin/env python3
# notregular.py POSTIE CASE: SEC-41, only a regular file is a profile (issue 10, bug 8). A
# caller who controls argv but cannot write the user's profile feeds one through a pipe:
#   stdin   printf '...eval touch FILE\n' | postie -C /dev/stdin -P
#   fifo    the same through a FIFO the caller made (mode 0600, the user's)
#   dir     -C naming a directory
# Each must exit 78 saying "not a regular file", and the eval command must not run.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alib  # noqa: E402

RULE = 'SEC-41'
CASES = ('stdin', 'fifo', 'dir')


def main():
    t = alib.Test('notregular', CASES)
    case = t.case
    victim = t.victim_server()
    marker = os.path.join(t.tmp, 'eval-ran')
    text = t.victim_profile(victim.port, 'eval touch %s\n' % marker)
    what = '-C %s holding `eval touch FILE`' % {'stdin': '/dev/stdin (a pipe)',
                                               'fifo': 'a FIFO', 'dir': 'a directory'}[case]
    if case == 'stdin':
        r = t.run(['-C', '/dev/stdin', '-P'], stdin=text.encode())
    elif case == 'fifo':
        path = os.path.join(t.tmp, 'profile.fifo')
        t.fifos.append(alib.Fifo(path, 'writer', text.encode()))
        r = t.run(['-C', path, '-P'], timeout=10)
    else:
        path = os.path.join(t.tmp, 'profile.d')
        os.mkdir(path, 0o700)
        r = t.run(['-C', path, '-P'])
    t.exit_is(RULE, what, r, 78)
    t.ok('not a regular file' in r.err, '%s: %s: the error says "not a regular file"'
         % (RULE, what), r)
    t.ok(not os.path.exists(marker), '%s: %s: the eval command did not run' % (RULE, what),
         'EVAL RAN: %s was created' % marker)
    t.ok(victim.connections == 0, '%s: %s: nothing connected' % (RULE, what))
    t.finish()


if __name__ == '__main__':
    main()
