#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make run: build the gpumirror + vgpu kernel, boot it in QEMU (TCG) with a
# busybox initramfs, run the workloads and benchmarks, print the table and
# keep results/results.json and results/scaling.svg.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/tree.py overlay
tree=$(scripts/tree.py where | sed -n 2p)
kb=$top/build/run
res=$top/results
mkdir -p "$kb" "$res"

echo "  BUILD   $kb (bzImage)"
scripts/runkernel.sh build bzImage

# The userspace workloads: static binaries in /workloads.
for w in b6-migrate b7-fault; do
	echo "  CC      $w"
	gcc -static -O2 -Wall -pthread -I"$tree" -idirafter "$tree/include/uapi" \
		-o "$kb/$w" "tools/run/$w.c"
done
scripts/mkinitramfs.sh "$kb/initramfs.cpio.gz" tools/run/init \
	"$kb/b6-migrate:workloads/b6-migrate" \
	"$kb/b7-fault:workloads/b7-fault"

scripts/runkernel.sh boot "$kb/initramfs.cpio.gz" "$res/console.log"

scripts/results.py "$res/console.log" "$res"
