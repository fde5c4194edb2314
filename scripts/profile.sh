#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make profile: where the kernel's time goes in the fault and mapping paths.
# Builds the `make run` kernel with perf events and symbols (build/profile),
# a static perf from the tree's tools/perf (build/perf), boots it in QEMU
# (TCG) and samples each workload of tools/profile/init with cpu-clock call
# graphs; scripts/profile.py then prints, per workload, the share of the
# samples below its root function that each function takes, with and
# without its callees. Results in results/profile.txt and
# results/profile-console.log.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/tree.py overlay
tree=$(scripts/tree.py where | sed -n 2p)
kb=$top/build/profile
pb=$top/build/perf
res=$top/results
mkdir -p "$kb" "$pb" "$res"

echo "  BUILD   $kb (bzImage)"
KERNEL=profile scripts/runkernel.sh build bzImage

# perf without any optional library, linked statically for the initramfs.
echo "  BUILD   $pb/perf"
make -s -C "$tree/tools/perf" -f Makefile.perf O="$pb" LDFLAGS=-static \
	NO_LIBPYTHON=1 NO_LIBPERL=1 NO_LIBTRACEEVENT=1 NO_JEVENTS=1 \
	NO_LIBDW=1 NO_LIBUNWIND=1 NO_SLANG=1 NO_GTK2=1 NO_LIBNUMA=1 \
	NO_LIBAUDIT=1 NO_LIBBPF=1 NO_BPF_SKEL=1 NO_LIBCAP=1 \
	NO_LIBBABELTRACE=1 NO_LIBZSTD=1 NO_LIBLZMA=1 NO_LIBCRYPTO=1 \
	NO_LIBDEBUGINFOD=1 NO_SDT=1 NO_LIBELF=1 -j"$(nproc)" "$pb/perf" \
	>"$pb/build.log" 2>&1 || { tail -20 "$pb/build.log"; exit 1; }

echo "  CC      fault4k"
gcc -static -O2 -Wall -I"$tree" -idirafter "$tree/include/uapi" \
	-o "$kb/fault4k" tools/profile/fault4k.c
scripts/mkinitramfs.sh "$kb/initramfs.cpio.gz" tools/profile/init \
	"$kb/fault4k:workloads/fault4k" "$pb/perf:workloads/perf" \
	"tools/profile/fold.awk:workloads/fold.awk" \
	"tools/profile/leaf.awk:workloads/leaf.awk"

# nokaslr: vmlinux disassembles the sampled addresses.
KERNEL=profile scripts/runkernel.sh boot "$kb/initramfs.cpio.gz" \
	"$res/profile-console.log" nokaslr

scripts/profile.py "$res/profile-console.log" "$kb/vmlinux" | tee "$res/profile.txt"
