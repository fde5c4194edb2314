#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# runkernel.sh config|build [make args...]: the `make run` kernel in
# build/run, configured from allnoconfig + scripts/run.config (again whenever
# the fragment changes; every option of it must take). With KERNEL=selftest:
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
