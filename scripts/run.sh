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

echo "  QEMU    2 vCPUs, 2 GiB, TCG (console: $res/console.log)"
timeout 1800 qemu-system-x86_64 -nodefaults -nographic -no-reboot \
	-accel tcg -m 2048 -smp 2 -bios qboot.rom \
	-kernel "$kb/arch/x86/boot/bzImage" -initrd "$kb/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 ignore_loglevel vgpu.ndevs=8 vgpu.peer=1,0,0,1 vgpu.nofault_mask=0x80 transparent_hugepage=always" \
	-serial stdio >"$res/console.log" 2>&1 || true

scripts/results.py "$res/console.log" "$res"
