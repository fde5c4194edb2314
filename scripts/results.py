#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""results.py CONSOLE.LOG OUTDIR: turn the `make run` console log into a
table on stdout, OUTDIR/results.json and OUTDIR/scaling.svg.

Exit status 1 if the run did not finish, a benchmark failed or the kernel
printed a report (WARN, BUG, lockdep, KASAN, ...)."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logscan  # noqa: E402


def ratio(a, b):
    return a / b if b else float('nan')


def med(v):
    """The median of a [min, median, max] spread, or a lone number (the
    logs of older runs)."""
    if v is None:
        return float('nan')
    return v[1] if isinstance(v, list) else v


def us_spread(v, fmt='%.0f', scale=1e3):
    """A spread of ns as min/median/max in us (or one number)."""
    if isinstance(v, list):
        return '/'.join(fmt % (x / scale) for x in v) if v else '-'
    return fmt % (v / scale)


def ms_spread(v):
    return us_spread(v, '%.1f', 1e6)


def b3_dma(r):
    """B3's DMA time per device, or '-' where the walk alone measured
    longer than the whole map (THP: noise, see the README)."""
    if 'walk_ns' not in r:
        return '-'
    d = (med(r['one_object_ns']) - med(r['walk_ns'])) / r['devices']
    return '%.1f' % (d / 1e6) if d >= 0 else '-'


def table(title, head, rows):
    print('\n' + title)
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = '  '.join('%*s' % (w[i], h) for i, h in enumerate(head))
    print(line)
    print('-' * len(line))
    for r in rows:
        print('  '.join('%*s' % (w[i], c) for i, c in enumerate(r)))


def report(res):
    b1 = [r for r in res if r['bench'] == 'B1']
    if b1:
        table('B1  K scattered segments, create + fault + map for write, 1 '
              'device: one object vs K objects vs one wide notifier with a '
              'sequence, walk and valid flag per segment (the rejected '
              'series\' shape); min / median / max of 6 interleaved runs, '
              'ratios of the medians',
              ['K', 'seg KiB', 'gap KiB', 'one obj us', 'K objs us',
               'wide us', 'K objs / one', 'wide / one'],
              [[r['segments'], r['seg_kib'], r.get('gap_kib', 4),
                us_spread(r['one_object_ns']),
                us_spread(r['separate_objects_ns']),
                us_spread(r.get('wide_notifier_ns', [])),
                '%.2fx' % ratio(med(r['separate_objects_ns']),
                                med(r['one_object_ns'])),
                '%.2fx' % ratio(med(r.get('wide_notifier_ns')),
                                med(r['one_object_ns']))
                if 'wide_notifier_ns' in r else '-']
               for r in b1])
    b1s = [r for r in res if r['bench'] == 'B1s']
    if b1s:
        table('B1s K one-page slices a page apart, faulted for write under '
              'one sequence: one hmm_range_fault_slices() call vs K '
              'hmm_range_fault() calls (min / median / max of 5, '
              'interleaved)',
              ['K', 'slices us', 'K calls us', 'speedup'],
              [[r['segments'],
                '/'.join('%.0f' % (x / 1e3) for x in r['slices_ns']),
                '/'.join('%.0f' % (x / 1e3) for x in r['calls_ns']),
                '%.2fx' % ratio(r['calls_ns'][1], r['slices_ns'][1])]
               for r in b1s])
    b2 = [r for r in res if r['bench'] == 'B2']
    if b2:
        table('B2  unrelated munmap/mmap churn in the holes of a 64-segment '
              'object', ['notifier', 'faults', 'retries', 'busy',
                         'churn ops', 'us/fault'],
              [[r['mode'], r['faults'], r['retries'], r['busy'],
                r['churn_ops'], '%.1f' % (r['ns_per_fault'] / 1e3)]
               for r in b2])
    b2c = [r for r in res if r['bench'] == 'B2c']
    if b2c:
        table('B2c K one-page segments mapped while a thread invalidates a '
              'share of them per ms (events on single pages): time until '
              'all K are mapped and valid at once (min / median / max), '
              'maps that gave up with EBUSY (not in the times), failed '
              'tries (object: tries of the whole map; wide: segments); one '
              'object (one sequence and one commit; a retry walks the '
              'segments an event hit) vs '
              'the rejected series\' shape (one shared sequence read per '
              'segment and a valid flag per segment: only the invalidated '
              'ones again)',
              ['K', 'churn %/ms', 'events/ms', 'impl', 'faults', 'EBUSY',
               'retries', 'done ms'],
              [[r['segments'], '%g' % (r['permille_per_ms'] / 10.0),
                '%.2f' % ratio(r['events'] * 1e6, r['elapsed_ns']),
                r['impl'], r['faults'], r['busy'],
                r['retries'], ms_spread(r['done_ns'])]
               for r in b2c])
    b3 = [r for r in res if r['bench'] == 'B3']
    if b3:
        table('B3  N devices mirroring one 64 MiB range: one object vs N '
              'objects (min / median / max of 6 interleaved runs; walk = '
              'the walk alone, a DEVMEM map that DMA-maps nothing; DMA/dev = '
              '(one obj - walk) / N, of the medians)',
              ['backing', 'N', 'walks', 'one obj ms', 'walks', 'N objs ms',
               'walk ms', 'DMA/dev ms', 'ratio'],
              [[r['backing'], r['devices'], r['one_object_walks'],
                ms_spread(r['one_object_ns']), r['separate_walks'],
                ms_spread(r['separate_ns']),
                ms_spread(r.get('walk_ns', [])),
                b3_dma(r),
                '%.2fx' % ratio(med(r['separate_ns']),
                                med(r['one_object_ns']))]
               for r in b3])

    b4 = [r for r in res if r['bench'] == 'B4']
    if b4:
        table('B4  one invalidation event, N devices, modelled TLB latency L '
              '(min / median / max of 15 events; x L and the ratio of the '
              'medians)',
              ['N', 'L us', 'two-pass us', 'x L', 'serial us', 'x L',
               'serial/two-pass'],
              [[r['devices'], '%.0f' % (r['tlb_latency_ns'] / 1e3),
                us_spread(r['two_pass_ns'], '%.1f'),
                '%.2f' % ratio(med(r['two_pass_ns']), r['tlb_latency_ns']),
                us_spread(r['serial_ns'], '%.1f'),
                '%.2f' % ratio(med(r['serial_ns']), r['tlb_latency_ns']),
                '%.2fx' % ratio(med(r['serial_ns']), med(r['two_pass_ns']))]
               for r in b4])
    b5 = [r for r in res if r['bench'] == 'B5']
    if b5:
        base = b5[0]
        table('B5  callback cost vs segments under one notifier (event on '
              'one segment)', ['segments', 'valid set us', 'stale set us',
                               'hole us', 'stale vs first row'],
              [[r['segments'], '%.1f' % (r['valid_set_ns'] / 1e3),
                '%.1f' % (r['stale_set_ns'] / 1e3),
                '%.1f' % (r['hole_ns'] / 1e3),
                '%.2fx' % ratio(r['stale_set_ns'], base['stale_set_ns'])]
               for r in b5])


def report_b8(res):
    b8 = [r for r in res if r['bench'] == 'B8']
    if not b8:
        return
    n = b8[0]['lookups']

    def per(v, k):
        return '/'.join('%.0f' % (x / k) for x in v)

    table('B8  attribute tree (interval tree, the library) vs a maple tree of '
          'the same ranges set in random order: ns per set and per lookup '
          'with the run end (%d random lookups), min/median/max of 5 '
          'interleaved runs; bytes per range' % n,
          ['ranges', 'tree set', 'maple set', 'tree get', 'maple get',
           'get tree/maple', 'tree B/range', 'maple B/range'],
          [[r['ranges'], per(r['tree_set_ns'], r['ranges']),
            per(r['maple_set_ns'], r['ranges']),
            per(r['tree_get_ns'], n), per(r['maple_get_ns'], n),
            '%.2f' % ratio(r['tree_get_ns'][1], r['maple_get_ns'][1]),
            r['tree_node_bytes'],
            '%.0f' % (r['maple_entry_bytes'] + ratio(
                r['maple_leaves'] * r['maple_node_bytes'], r['ranges']))]
           for r in b8])

# drm_gpusvm's footprint for the same range, one device (one drm_gpusvm per
# GPU VM), from its structures' sizes on x86_64 without debug options (it
# is not in the 6.12 tree, so nothing here can measure it): Xe's range
# (struct xe_svm_range: struct drm_gpusvm_range, 120 bytes, and Xe's
# fields, 144 bytes) in kmalloc-192, and the range's array of one
# struct drm_pagemap_addr (16 bytes) per page, kvmalloc()ed for every page
# of the range; its notifiers (kmalloc-256, one per 512 MiB window) left
# out. A second device mirrors the same memory with ranges of its own.
GPUSVM_RANGE_BYTES = 192
GPUSVM_ADDR_BYTES = 16


def kmalloc_bucket(n):
    """The size kmalloc() rounds @n bytes up to (x86_64, no debug): a slab
    size up to 8 KiB, then a power-of-two number of pages."""
    for b in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096,
              8192):
        if n <= b:
            return b
    b = 8192
    while b < n:
        b *= 2
    return b


def report_b9(res):
    b9 = [r for r in res if r['bench'] == 'B9']
    if not b9:
        return
    rows = []
    for r in b9:
        n = r['pages']
        gpusvm = (GPUSVM_RANGE_BYTES +
                  kmalloc_bucket(GPUSVM_ADDR_BYTES * n)) / n
        rows.append(['%d KiB' % r['chunk_kib'], n,
                     '%.1f' % (r['one_device_bytes'] / n),
                     '%.1f' % ((r['two_devices_bytes'] -
                                r['one_device_bytes']) / n),
                     '%.1f' % (r['two_devices_bytes'] / n / 2),
                     '%.1f' % gpusvm])
    table('B9  kernel memory per mirrored 4K page per device: a fault-mode '
          'range mapped for one vgpu, then a second (every allocation as the '
          'allocator rounds it), against drm_gpusvm\'s range and DMA '
          'address array for the same range from its structures\' sizes '
          '(Xe; one set of ranges per device, notifiers left out)',
          ['range', 'pages', 'B/page 1 dev', 'B/page 2nd dev',
           'B/page/dev at 2', 'drm_gpusvm B/page/dev'], rows)


def report_b6(res):
    b6 = [r for r in res if r['bench'] == 'B6']
    if not b6:
        return
    ref = {r['op']: r['ms'] for r in b6 if r['impl'] == 'test_hmm'}
    mc = [r['ms'] for r in b6 if r['impl'] == 'memcpy']
    table('B6  migration of %d MiB (min / median / max of 5): speed vs '
          'lib/test_hmm on the same operation, and share of a memcpy of the '
          'same bytes (of the medians)' % b6[0]['mib'],
          ['impl', 'op', 'ms', 'GiB/s', 'vs test_hmm', 'of memcpy'],
          [[r['impl'], r['op'],
            '/'.join('%.1f' % x for x in r['ms_spread'])
            if 'ms_spread' in r else '%.1f' % r['ms'], '%.2f' % r['gib_s'],
            '%.2fx' % ratio(ref[r['op']], r['ms']) if r['op'] in ref and
            r['impl'] != 'test_hmm' else '-',
            '%.2f' % ratio(mc[0], r['ms']) if mc else '-']
           for r in b6])
    race = [r for r in res if r['bench'] == 'B6race']
    if race:
        table('B6  two threads migrating the same %d MiB to two vgpus at once: '
              'of two owners, and peers (min/median/max of %d; data checked '
              'after each)' % (race[0]['mib'], race[0]['reps']),
              ['vgpus', 'ms', 'calls EBUSY', 'retried for write',
               'busy (kernel)', 'pages to each', 'of them from the peer'],
              [['%d / %d' % tuple(r.get('vgpus', (0, 1))),
                '/'.join('%.1f' % x for x in r['ms']),
                '%d/%d' % (r['ebusy'], 2 * r['reps']),
                r['races'], r['busy'],
                '%d / %d' % tuple(r['to_dev']),
                '%d / %d' % tuple(r.get('from_peer', (0, 0)))]
               for r in race])


def spread(v):
    return '/'.join('%.1f' % x for x in v)


def b7_median(r, key):
    """The median @key time ('fault_us' or 'refault_us') of a B7 arm, or
    None if it is too small to divide by: under 0.5 us, or under 5% of the
    first access (the access then costs what a mapped one does, and the
    difference is noise)."""
    if len(r.get(key, [])) != 3:
        return None
    t, first = r[key][1], r['first_us'][1]
    return t if t >= max(0.5, 0.05 * first) else None


def b7_ratio(ref, r, key):
    a, b = b7_median(ref, key), b7_median(r, key)
    if a is None or b is None:
        return 'n/a (within noise)'
    return '%.2fx' % (a / b)


def report_b7(res):
    b7 = [r for r in res if r['bench'] == 'B7' and 'chunk' in r]
    if b7:
        ref = {r['chunk']: r for r in b7 if r['impl'] == 'test_hmm'}
        table('B7  GPU fault service time per chunk (min / median / max over '
              '64 chunks, the two arms interleaved chunk by chunk; fault = '
              'first access - second access of the same chunk; refault = '
              'the access after an mprotect() round trip - the second; '
              'ratios of the medians)',
              ['impl', 'chunk', 'first us', 'mapped us', 'fault us',
               'refault us', 'test_hmm fault / this',
               'test_hmm refault / this'],
              [[r['impl'], r['chunk'], spread(r['first_us']),
                spread(r['hit_us']), spread(r['fault_us']),
                spread(r.get('refault_us', []))] +
               ([b7_ratio(ref[r['chunk']], r, 'fault_us'),
                 b7_ratio(ref[r['chunk']], r, 'refault_us')]
                if r['chunk'] in ref and r['impl'] != 'test_hmm'
                else ['-', '-'])
               for r in b7])
    rs = [r for r in res if r['bench'] == 'B7' and r.get('op') == 'restore']
    if rs:
        table('B7  no-fault vgpu: restore after an invalidation (mprotect '
              'of a prefetched 2 MiB range)',
              ['restores', 'suspended us (kernel)', 'access waited us'],
              [[r['restores'], '%.1f' % r['kernel_us'],
                '%.1f' % r['user_wait_us']] for r in rs])
    pm = [r for r in res
          if r['bench'] == 'B7' and r.get('op') == 'partial_munmap']
    if pm:
        table('B7  no-fault vgpu: partial munmap (one 4K page out of a mapped '
              '2 MiB range; the rest restored, the hole refused)',
              ['rounds', 'restores', 'suspended us (kernel)',
               'access waited us', 'hole reads refused'],
              [[r['rounds'], r['restores'], '%.1f' % r['kernel_us'],
                '%.1f' % r['user_wait_us'],
                '%d/%d' % (r['hole_reads_refused'], r['rounds'])]
               for r in pm])


def write_series(f, title, rows, x, baseline):
    """One gnuplot data block: x against baseline / one_object_ns (their
    medians)."""
    f.write('# %s\n' % title)
    for r in rows:
        f.write('%d %f\n' % (r[x], ratio(med(r[baseline]),
                                         med(r['one_object_ns']))))
    f.write('\n\n')


def plot(res, outdir):
    b1 = [r for r in res if r['bench'] == 'B1']
    b3 = [r for r in res if r['bench'] == 'B3']
    if not b1 and not b3:
        return
    data = os.path.join(outdir, 'scaling.dat')
    with open(data, 'w') as f:
        for kib in sorted({r['seg_kib'] for r in b1}):
            write_series(f, 'B1 seg_kib=%d' % kib,
                         [r for r in b1 if r['seg_kib'] == kib and
                          r.get('gap_kib', 4) == 4], 'segments',
                         'separate_objects_ns')
        for backing in ('anon-thp', 'shmem-4k'):
            write_series(f, 'B3 %s' % backing,
                         [r for r in b3 if r['backing'] == backing],
                         'devices', 'separate_ns')
    gp = '''set terminal svg size 900,420 dynamic
set output '%s'
set multiplot layout 1,2
set title 'B1: K objects / one object (medians, 4 KiB gaps)'
set logscale x 2
set xlabel 'segments K'
set ylabel 'speedup'
set key left top
plot '%s' index 0 with linespoints title '4 KiB segments', \\
     '%s' index 1 with linespoints title '64 KiB segments'
unset logscale x
set title 'B3: N objects / one object, 64 MiB'
set xlabel 'devices N'
plot '%s' index 2 with linespoints title 'THP-backed', \\
     '%s' index 3 with linespoints title '4 KiB pages (shmem)'
unset multiplot
''' % (os.path.join(outdir, 'scaling.svg'), data, data, data, data)
    subprocess.run(['gnuplot'], input=gp.encode(), check=False)


def main():
    log, outdir = sys.argv[1], sys.argv[2]
    lines = open(log, errors='replace').read().splitlines()
    res, errors, ended = [], [], False
    for l in lines:
        if '@@RESULT ' in l:
            res.append(json.loads(l.split('@@RESULT ', 1)[1]))
        elif '@@ERROR ' in l:
            errors.append(l.split('@@ERROR ', 1)[1])
        elif '@@END' in l:
            ended = True
    reports = logscan.scan(lines)
    with open(os.path.join(outdir, 'results.json'), 'w') as f:
        json.dump({'results': res, 'errors': errors, 'finished': ended,
                   'kernel_reports': reports}, f, indent=1)
    report(res)
    report_b6(res)
    report_b7(res)
    report_b8(res)
    report_b9(res)
    plot(res, outdir)
    print('\nresults: %s/results.json, %s/scaling.svg' % (outdir, outdir))
    for e in errors:
        print('run: benchmark %s failed' % e)
    for r in reports:
        print('run: kernel report: %s' % r)
    if not ended:
        print('run: the VM did not finish; see %s' % log)
    sys.exit(0 if ended and not errors and not reports else 1)


if __name__ == '__main__':
    main()
