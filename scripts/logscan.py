#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Find kernel reports in a console log: WARN, BUG, lockdep, KASAN, UBSAN,
kmemleak, hung tasks, panics. A KUnit case that passed while one of these
was printed did not pass.

  logscan.py LOG...     print each report's first line; exit 1 if any
  logscan.py --selftest check the patterns against known report lines
"""

import re
import sys

REPORT = re.compile(r'''
    ^(?:\[\s*[0-9.]+\]\s*)?(?:\[\s*T?C?[0-9]+\]\s*)?(?:\s*\#\s*)?
    (?: WARNING:\s
      | BUG:\s
      | UBSAN:\s
      | Oops
      | Kernel\ panic
      | kernel\ BUG\ at
      | -+\[\ cut\ here\ \]-+
      | INFO:\ (?:possible|lockdep|task\ .*blocked|trying\ to\ register)
      | kmemleak:\ [0-9]+\ new\ suspected
      | general\ protection\ fault
      | ={10,}\s*$
    )''', re.X)

SAMPLES_BAD = [
    '[    1.234567] WARNING: CPU: 0 PID: 1 at lib/gpumirror/mirror.c:42 f+0x1/0x2',
    '[    2.000000] ------------[ cut here ]------------',
    'WARNING: possible circular locking dependency detected',
    '[    3.1] BUG: KASAN: slab-use-after-free in gpumirror_invalidate+0x1/0x2',
    '[    3.1] BUG: sleeping function called from invalid context at x.c:1',
    '[    3.1] UBSAN: shift-out-of-bounds in lib/gpumirror/pages.c:9:3',
    '[    3.1] INFO: possible recursive locking detected',
    '[    3.1] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)',
    '[    3.1] Kernel panic - not syncing: Fatal exception',
    '[    3.1] ==================================================================',
]
SAMPLES_GOOD = [
    '[    1.0]     ok 1 gm_init_fini',
    '[    1.0] # gm_attach: pass:6 fail:0 skip:0 total:6',
    '[    1.0] KTAP version 1',
    '[    1.0] gpumirror: WARNINGS are counted',
]


def scan(lines):
    return [l.rstrip() for l in lines if REPORT.search(l)]


def main():
    if sys.argv[1:] == ['--selftest']:
        bad = [s for s in SAMPLES_BAD if not scan([s])]
        good = [s for s in SAMPLES_GOOD if scan([s])]
        for s in bad:
            print('logscan selftest: missed: %s' % s)
        for s in good:
            print('logscan selftest: false report: %s' % s)
        sys.exit(1 if bad or good else 0)
    found = []
    for path in sys.argv[1:]:
        with open(path, errors='replace') as f:
            found += scan(f)
    for l in found:
        print('  REPORT  %s' % l)
    sys.exit(1 if found else 0)


if __name__ == '__main__':
    main()
