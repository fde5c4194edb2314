#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# runkernel.sh config|build [make args...]: the `make run` kernel in
# build/run, configured from allnoconfig + scripts/run.config (again whenever
# the fragment changes; every option of it must take).
# runkernel.sh boot INITRD CONSOLE [kernel args...]: boot it in QEMU (TCG,
# 2 vCPUs, 2 GiB) with the vgpus of the benchmarks, the console to CONSOLE. With KERNEL=selftest:
# the selftest kernel, build/selftest from scripts/selftest.config; with
# KERNEL=profile: build/profile from scripts/run.config and
# scripts/profile.config together.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tree=$(scripts/tree.py where | sed -n 2p)
name=${KERNEL:-run}
kb=$top/build/$name
mkdir -p "$kb"
frag=scripts/$name.config
if [ "$name" = profile ]; then
	frag=build/profile/want.config
	cat scripts/run.config scripts/profile.config >"$frag"
fi
what=$1
shift

if [ "$what" = boot ]; then
	initrd=$1 console=$2
	shift 2
	echo "  QEMU    2 vCPUs, 2 GiB, TCG (console: $console)"
	timeout 1800 qemu-system-x86_64 -nodefaults -nographic -no-reboot \
		-accel tcg -m 2048 -smp 2 -bios qboot.rom \
		-kernel "$kb/arch/x86/boot/bzImage" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 ignore_loglevel vgpu.ndevs=8 vgpu.peer=1,0,0,1 vgpu.nofault_mask=0x80 transparent_hugepage=always $*" \
		-serial stdio >"$console" 2>&1 || true
	exit 0
fi

if ! cmp -s "$frag" "$kb/.frag.config"; then
	echo "  CONFIG  allnoconfig + $frag"
	make -s -C "$tree" O="$kb" ARCH=x86_64 \
		KCONFIG_ALLCONFIG="$top/$frag" allnoconfig
	missing=$(grep -E '^CONFIG_' "$frag" |
		while read -r opt; do
			grep -qx "$opt" "$kb/.config" || echo "$opt"
		done)
	if [ -n "$missing" ]; then
		echo "runkernel: options that did not take: $missing" >&2
		exit 1
	fi
	cp "$frag" "$kb/.frag.config"
fi
[ "$what" = config ] && exit 0
make -s -C "$tree" O="$kb" ARCH=x86_64 -j"${JOBS:-$(nproc)}" "$@"
