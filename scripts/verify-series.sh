#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# verify-series.sh [DIR]: every prefix of the `make patches` series, as a
# maintainer applying it one patch at a time would see it (make
# verify-series; slow: a KUnit kernel built once per patch, incrementally).
#
# Copies the pristine tree into a fresh git repository, then for each patch
# in order: checkpatch --strict on the patch, `git am`, a KUnit kernel build
# with the .kunitconfig files the tree has at that point (the mm suites'
# options alone before the library exists), and a boot per KUnit suite the
# patch adds (`tree.py suites`), whose log must be free of kernel reports;
# the vgpu selftests are compiled at their own patch. The KUnit build
# directory starts empty, so no object of an earlier run can pass for a
# prefix's. Prints one "SERIES <N> <patch> ..." line per patch and ends with
# "N passed, N failed" like make check.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
series=$(cd "${1:-patches}" && pwd)
pristine=$(scripts/tree.py where | sed -n 1p)
work=$top/build/verify-series
src=$work/linux
kbuild=$work/kunit
log=$work/log
jobs=$(nproc)
pass=0 fail=0

rm -rf "$src" "$log" "$kbuild"
mkdir -p "$work" "$log"
echo "  COPY    $pristine -> $src"
export GIT_AUTHOR_NAME=verify GIT_AUTHOR_EMAIL=verify@localhost
export GIT_COMMITTER_NAME=verify GIT_COMMITTER_EMAIL=verify@localhost
# -f: Debian's .gitignore ignores everything at the top level.
cp -a --reflink=auto "$pristine" "$src" &&
	git -C "$src" -c init.defaultBranch=master init -q &&
	git -C "$src" config gc.auto 0 &&
	git -C "$src" add -A -f &&
	git -C "$src" commit -q -m pristine ||
	{ echo "verify-series.sh: cannot set up $src" >&2; exit 1; }

# The mm suites' options, for the prefixes before lib/gpumirror has its own
# .kunitconfig: each only once the series defines it.
base_kunitconfig() {
	echo CONFIG_KUNIT=y
	grep -qs '^config MMU_NOTIFIER_KUNIT_TEST' "$src/mm/Kconfig" &&
		echo CONFIG_MMU_NOTIFIER_KUNIT_TEST=y
	grep -qs '^config HMM_KUNIT_TEST' "$src/mm/Kconfig" &&
		echo CONFIG_HMM_KUNIT_TEST=y
	return 0
}

# check NAME OK DETAIL: one result line.
check() {
	if [ "$2" = 0 ]; then
		pass=$((pass + 1)); echo "SERIES $1 ok $3"
	else
		fail=$((fail + 1)); echo "SERIES $1 FAILED $3"
	fi
}

kunit() {
	python3 "$src/tools/testing/kunit/kunit.py" "$@" --arch=x86_64 \
		--build_dir="$kbuild" "${kconfigs[@]}"
}

patches=($(ls "$series"/0*.patch | grep -v 0000-cover-letter))
[ "${#patches[@]}" -gt 0 ] || { echo "verify-series.sh: no patches in $series" >&2; exit 1; }
scripts/tree.py suites >"$work/suites"
[ "$(wc -l <"$work/suites")" = "${#patches[@]}" ] || {
	echo "verify-series.sh: $series is not the series of scripts/series" >&2
	exit 1
}

i=0
for p in "${patches[@]}"; do
	i=$((i + 1))
	read -r _ name suites < <(sed -n "${i}p" "$work/suites")
	tag="$i/${#patches[@]} $name"

	scripts/checkpatch-patch.sh "$src/scripts/checkpatch.pl" "$p" \
		>"$log/$i-checkpatch.out"
	rc=$?
	check "$tag checkpatch" "$rc" "(scripts/checkpatch-patch.sh)"
	[ "$rc" = 0 ] || head -n 20 "$log/$i-checkpatch.out"

	if ! git -C "$src" am -q "$p" >"$log/$i-am.out" 2>&1; then
		check "$tag git-am" 1 "(does not apply)"
		cat "$log/$i-am.out"
		break
	fi

	kconfigs=()
	base_kunitconfig >"$work/base.kunitconfig"
	kconfigs+=(--kunitconfig="$work/base.kunitconfig")
	for k in lib/gpumirror/tests/.kunitconfig \
		 drivers/gpu/drm/amd/amdgpu/.kunitconfig; do
		[ -f "$src/$k" ] && kconfigs+=(--kunitconfig="$src/$k")
	done
	echo "  BUILD   $tag (log: $log/$i-build.out)"
	kunit build --jobs="$jobs" >"$log/$i-build.out" 2>&1
	rc=$?
	check "$tag build" "$rc" "(KUnit kernel)"
	[ "$rc" = 0 ] || { tail -n 30 "$log/$i-build.out"; break; }

	if [ "$name" = vgpu-selftests ]; then
		sel=$src/tools/testing/selftests
		rc=0
		for c in "$sel"/vgpu/*.c; do
			gcc -static -O2 -Wall -pthread -D_GNU_SOURCE \
				-I"$src" -I"$sel" -idirafter "$src/include/uapi" \
				-o "$work/$(basename "$c" .c)" "$c" \
				>>"$log/$i-selftests.out" 2>&1 || rc=1
		done
		check "$tag selftests" "$rc" "(tools/testing/selftests/vgpu compiled)"
		[ "$rc" = 0 ] || tail -n 30 "$log/$i-selftests.out"
	fi

	for s in $suites; do
		echo "  KUNIT   $tag: $s"
		rm -f "$kbuild/test.log"
		kunit exec --timeout=1800 --qemu_args="-smp 2 -m 2048" \
			--kernel_args=ignore_loglevel \
			--kernel_args=rcupdate.rcu_cpu_stall_timeout=60 \
			--kernel_args=watchdog_thresh=30 "$s" \
			>"$log/$i-$s.out" 2>&1
		rc=$?
		summary=$(grep -a "Testing complete\." "$log/$i-$s.out" | tail -n 1)
		[[ $summary =~ passed:\ [1-9] ]] &&
			! [[ $summary =~ (failed|crashed|skipped|errors) ]] ||
			rc=1
		check "$tag suite $s" "$rc" "(${summary#*Testing complete. })"
		[ "$rc" = 0 ] || tail -n 30 "$log/$i-$s.out"
		scripts/logscan.py "$kbuild/test.log" >"$log/$i-$s.reports"
		reports=$(wc -l <"$log/$i-$s.reports")
		[ -f "$kbuild/test.log" ] || reports=1
		check "$tag suite $s kernel-log" "$reports" "($reports reports)"
		head -n 20 "$log/$i-$s.reports"
	done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
