#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Find kernel reports in a console log: WARN, BUG, lockdep, KASAN, UBSAN,
kmemleak (the scan's summary and the objects it lists), DMA-API debug, RCU
stalls, soft lockups, hung tasks, panics, also when one starts in the
middle of a line. A KUnit case that passed while one of these was printed
did not pass. A log that is missing or empty is an error too: the run that
should have written it did not.

  logscan.py LOG...       print each report's first line; exit 1 if any
                          (up to a "@@CANARY" line, if the log has one)
  logscan.py --canary LOG the part after "@@CANARY": exit 0 only if the
                          scan found each canary (WARN, lockdep, kmemleak,
                          DMA-API) there
  logscan.py --selftest   check the patterns against known report lines
"""

import re
import sys

# At the start of a line (after a timestamp, a caller id or a kselftest '#').
ANCHORED = re.compile(r'''
    ^(?:\[\s*[0-9.]+\]\s*)?(?:\[\s*T?C?[0-9]+\]\s*)?(?:\s*\#\s*)?
    (?: Oops
      | ={10,}\s*$
    )''', re.X)

# Anywhere in a line: a report may start after userspace output that did
# not end its line, or after a subsystem prefix ("watchdog: BUG: ...").
ANYWHERE = re.compile(r'''
    (?: WARNING:\s
      | \bBUG:\s
      | UBSAN:\s
      | Oops:\s
      | Kernel\ panic
      | kernel\ BUG\ at
      | -+\[\ cut\ here\ \]-+
      | INFO:\ (?:possible|lockdep|task\ .*blocked|trying\ to\ register|rcu)
      | rcu:\ INFO:
      | detected\ stalls?\ on\ CPUs
      | self-detected\ stall
      | blocked\ for\ more\ than\ [0-9]+\ seconds
      | kmemleak:\ [0-9]+\ new\ suspected
      | unreferenced\ object\ 0x
      | DMA-API:\ \S+\ \S+:\s
      | DMA-API:\ debugging\ out\ of\ memory
      | DMA-API:\ cacheline\ tracking\ ENOMEM
      | general\ protection\ fault
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
    # what the selftest init prints from /sys/kernel/debug/kmemleak
    'unreferenced object 0xffff888004a1c000 (size 64):',
    '[   22.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:',
    '[   22.0] rcu: INFO: rcu_preempt self-detected stall on CPU',
    '[   22.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:42]',
    '[  123.0] INFO: task vgpu-tests:99 blocked for more than 30 seconds.',
    '[    5.0] DMA-API: vgpu vgpu.0: device driver frees DMA memory with different size [device address=0x1000] [map size=4096 bytes] [unmap size=8192 bytes]',
    '[    5.0] DMA-API: debugging out of memory - disabling',
    # a report after userspace output that did not end its line
    '#  RUN           svm.fault_chunk_sizes ...[   12.5] WARNING: CPU: 1 PID: 77 at lib/gpumirror/fault.c:1 f',
    'ok 3 foo[    4.0] BUG: KASAN: use-after-free in bar',
]
SAMPLES_GOOD = [
    '[    1.0]     ok 1 gm_init_fini',
    '[    1.0] # gm_attach: pass:6 fail:0 skip:0 total:6',
    '[    1.0] KTAP version 1',
    '[    1.0] gpumirror: WARNINGS are counted',
    '[    0.5] DMA-API: preallocated 65536 debug entries',
    '[    0.5] DMA-API: debugging enabled by kernel config',
    '[    0.9] kmemleak: Kernel memory leak detector initialized (mem pool available: 15739)',
    '[    0.1] rcu: Hierarchical RCU implementation.',
]


def scan(lines):
    return [l.rstrip() for l in lines
            if ANCHORED.search(l) or ANYWHERE.search(l)]


# The marker goes through printk (/dev/kmsg), so it may carry a timestamp.
CANARY_MARK = re.compile(r'^(?:\[\s*[0-9.]+\]\s*)?@@CANARY\s*$')

# What each canary of drivers/gpu/vgpu/vgpu_canary.c makes the scan find.
CANARIES = [
    ('warn', re.compile(r'WARNING: CPU: .* at drivers/gpu/vgpu/vgpu_canary\.c')),
    ('lockdep', re.compile(r'WARNING: possible circular locking dependency')),
    ('leak', re.compile(r'unreferenced object 0x[0-9a-f]+ \(size 128\)')),
    ('dma', re.compile(r'DMA-API: \S+ \S+: device driver frees DMA memory with different size')),
]

# Other lines of those same reports; any other report after the marker is
# a real one that surfaced late, and fails the check.
CANARY_OTHER = re.compile(r'''
    -+\[\ cut\ here\ \]-+
  | ^(?:\[\s*[0-9.]+\]\s*)?={10,}\s*$
  | WARNING:\ CPU:\ .*\ at\ kernel/dma/debug\.c
  | DMA-API:\ Mapped\ at:
  | kmemleak:\ [0-9]+\ new\ suspected
  ''', re.X)


def read_log(path):
    try:
        with open(path, errors='replace') as f:
            lines = f.readlines()
    except OSError as e:
        print('  REPORT  %s: %s' % (path, e.strerror))
        sys.exit(2)
    if not lines:
        print('  REPORT  %s: empty log' % path)
        sys.exit(2)
    return lines


def split_canary(lines):
    for i, l in enumerate(lines):
        if CANARY_MARK.search(l.rstrip('\r\n')):
            return lines[:i], lines[i + 1:]
    return lines, None


def canary(path):
    _, after = split_canary(read_log(path))
    if after is None:
        print('canary: no %s marker in %s' % (CANARY_MARK, path))
        sys.exit(1)
    found = scan(after)
    seen = [name for name, pat in CANARIES
            if any(pat.search(l) for l in found)]
    other = [l for l in found
             if not CANARY_OTHER.search(l) and
             not any(pat.search(l) for _, pat in CANARIES)]
    print('canary: %d/%d seen by the scan (%s), %d other report(s)' %
          (len(seen), len(CANARIES),
           ' '.join(n + ('' if n in seen else ' MISSED')
                    for n, _ in CANARIES), len(other)))
    for l in other:
        print('  REPORT  %s' % l)
    sys.exit(0 if len(seen) == len(CANARIES) and not other else 1)


def main():
    if sys.argv[1:] == ['--selftest']:
        bad = [s for s in SAMPLES_BAD if not scan([s])]
        good = [s for s in SAMPLES_GOOD if scan([s])]
        for s in bad:
            print('logscan selftest: missed: %s' % s)
        for s in good:
            print('logscan selftest: false report: %s' % s)
        sys.exit(1 if bad or good else 0)
    if sys.argv[1:2] == ['--canary'] and len(sys.argv) == 3:
        canary(sys.argv[2])
    found = []
    for path in sys.argv[1:]:
        found += scan(split_canary(read_log(path))[0])
    for l in found:
        print('  REPORT  %s' % l)
    sys.exit(1 if found else 0)


if __name__ == '__main__':
    main()
