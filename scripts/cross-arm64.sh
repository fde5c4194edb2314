#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Cross-build the library and the amdgpu glue (with the amdgpu files that
# call it) for arm64 with 64K pages, W=1: the glue's CPU-page and GPU-page
# indexing must hold when a CPU page is 16 GPU pages.
#
# Usage: scripts/cross-arm64.sh   (build dir: build/arm64)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/tree.py overlay >/dev/null
tree=$(scripts/tree.py where | sed -n 2p)
out=$PWD/build/arm64
mk=(make -C "$tree" O="$out" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
    -j"$(nproc)")

mkdir -p "$out"
"${mk[@]}" -s defconfig
"$tree/scripts/config" --file "$out/.config" \
	-d ARM64_4K_PAGES -e ARM64_64K_PAGES \
	-e PCI -e DRM -e DRM_AMDGPU -d DRM_AMD_DC -e HSA_AMD \
	-e MEMORY_HOTPLUG -e MEMORY_HOTREMOVE -e ZONE_DEVICE \
	-e DEVICE_PRIVATE -e HSA_AMD_SVM \
	-e DRM_AMDGPU_GPUMIRROR -d KUNIT
"${mk[@]}" -s olddefconfig
for o in ARM64_64K_PAGES DRM_AMDGPU HSA_AMD GPUMIRROR DRM_AMDGPU_GPUMIRROR; do
	grep -q "^CONFIG_$o=y" "$out/.config" || {
		echo "cross-arm64: CONFIG_$o did not stick" >&2
		exit 1
	}
done

objs=(lib/gpumirror/)
for f in drivers-glue/amdgpu/*.c; do
	case $f in *_test.c) continue ;; esac
	objs+=("$(scripts/tree.py map "${f%.c}.o")")
done
objs+=($(awk '$1 == "hook" && $2 ~ /^drivers\/gpu\/drm\/amd\/.*\.c$/ {
	sub(/\.c$/, ".o", $2); print $2 }' scripts/paths | sort -u))

"${mk[@]}" W=1 "${objs[@]}" 2>&1 | tee "$out/build.log"
ours='(lib/gpumirror/|include/linux/gpumirror\.h|amdgpu_gpumirror|amdgpu_(cs|drv|kms|vm)\.c)'
n=$(grep -cE "$ours[^ :]*:[0-9]+:([0-9]+:)? (warning|error):" \
	"$out/build.log" || true)
echo "cross-arm64: 64K pages, ${#objs[@]} targets, $n warnings"
[ "$n" = 0 ]
