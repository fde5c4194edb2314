#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""profile.py CONSOLE [VMLINUX]: the folded stacks of `make profile`'s
console as tables. Per workload: the samples below its root function; each
function's share of them with its callees (incl) and without (self); then
the root's callees to a depth of three, those above 1.5%; then, with
VMLINUX, the instructions of the library and vgpu that the most samples
ended in, disassembled. Exits non-zero if a workload failed or left no
sample below its root."""

import collections
import re
import subprocess
import sys


FOLDED = re.compile(r'^\d+ \S+$')
LEAF = re.compile(r'^\d+ [0-9a-f]+ \S+$')


def sections(path):
    """Yield (name, root, folded lines, leaf lines, failed) per @@PROFILE
    section; a section the console ends in (the VM died in it) failed.
    Lines of the kernel log in between are skipped."""
    cur, pattern = None, FOLDED
    for line in open(path, errors='replace'):
        line = line.rstrip('\r\n')
        if line.startswith('@@PROFILE '):
            if cur:
                cur[4] = True
                yield tuple(cur)
            _, name, root = line.split()
            cur = [name, root, [], [], False]
            lines, pattern = cur[2], FOLDED
        elif cur and line.startswith('@@LEAVES '):
            lines, pattern = cur[3], LEAF
        elif cur and line.startswith('@@ERROR '):
            cur[4] = True
        elif cur and line.startswith('@@ENDPROFILE '):
            yield tuple(cur)
            cur = None
        elif cur and pattern.match(line):
            lines.append(line)
    if cur:
        cur[4] = True
        yield tuple(cur)


def finished(path):
    """Did the VM get through every workload (@@END)?"""
    return any(line.startswith('@@END') and
               not line.startswith('@@ENDPROFILE')
               for line in open(path, errors='replace'))


def disassemble(vmlinux, ip):
    """The instruction at @ip in @vmlinux, as objdump prints it."""
    out = subprocess.run(['objdump', '-d', '--no-show-raw-insn',
                          '--start-address=0x%x' % ip,
                          '--stop-address=0x%x' % (ip + 16), vmlinux],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith('%x:' % ip):
            return line.split(':', 1)[1].strip()
    return '?'


def report_leaves(leaves, total, vmlinux):
    """The ten hottest leaf instructions of the library and vgpu."""
    hot = []
    for line in leaves:
        count, ip, sym = line.split()
        hot.append((int(count), int(ip, 16), sym))
    hot.sort(reverse=True)
    if not hot or not total:
        return
    print('   hottest instructions of the library and vgpu (of all samples '
          'of the workload)')
    for count, ip, sym in hot[:10]:
        print('%6.1f%%  %s %x: %s' % (100 * count / total, sym, ip,
                                      disassemble(vmlinux, ip)
                                      if vmlinux else ''))


def report(name, root, folded, leaves, vmlinux):
    total = 0
    incl, self_ = collections.Counter(), collections.Counter()
    edges = collections.Counter()
    other = 0
    for line in folded:
        count, stack = line.split(None, 1)
        count = int(count)
        if stack == 'OTHER':
            other += count
            continue
        frames = stack.split(';')
        total += count
        for f in set(frames):
            incl[f] += count
        self_[frames[-1]] += count
        for depth in range(1, 4):
            if len(frames) > depth:
                edges[tuple(frames[1:depth + 1])] += count
    print('== %s: %d samples below %s (%d elsewhere)' %
          (name, total, root, other))
    if not total:
        return False
    print('   incl    self  function')
    for f, c in incl.most_common(30):
        print('%6.1f%% %6.1f%%  %s' % (100 * c / total,
                                       100 * self_[f] / total, f))
    print('   callees of %s (incl, above 1.5%%)' % root)
    for path, c in sorted(edges.items()):
        if c / total > 0.015:
            print('%6.1f%%  %s%s' % (100 * c / total, '  ' * (len(path) - 1),
                                     path[-1]))
    report_leaves(leaves, total + other, vmlinux)
    print()
    return True


def main():
    ok, seen = True, 0
    vmlinux = sys.argv[2] if len(sys.argv) > 2 else None
    for name, root, folded, leaves, failed in sections(sys.argv[1]):
        seen += 1
        ok &= report(name, root, folded, leaves, vmlinux) and not failed
        if failed:
            print('== %s: the workload failed' % name)
    if not seen:
        print('no profile in %s' % sys.argv[1])
    if not finished(sys.argv[1]):
        print('the VM did not finish; see %s' % sys.argv[1])
        ok = False
    return 0 if ok and seen else 1


if __name__ == '__main__':
    sys.exit(main())
