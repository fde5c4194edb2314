#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check: every test of gpumirror, ending with "N passed, N failed".
#
# Each KUnit case counts as one test; each other check (kernel log scan,
# checkpatch, kernel-doc, sparse, the patch series, the log scanner's own
# test) counts as one more.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$top/build/check
mkdir -p "$out"
jobs=${JOBS:-$(nproc)}
pass=0
fail=0

result() {	# name status [detail]
	if [ "$2" = 0 ]; then
		pass=$((pass + 1)); echo "  PASS    $1${3:+ ($3)}"
	else
		fail=$((fail + 1)); echo "  FAIL    $1${3:+ ($3)}"
	fi
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit $?
}

scripts/deps.sh || { result deps 1; finish; }
scripts/tree.py overlay || { result overlay 1; finish; }
tree=$(scripts/tree.py where | sed -n 2p)

# --- KUnit in QEMU ----------------------------------------------------------
# run_kunit NAME BUILD_DIR KUNITCONFIG...: every case counts as one test,
# and a WARN, lockdep splat, KASAN or UBSAN report in the kernel log fails
# the run even when every case passed.
run_kunit() {
	local name=$1 kbuild=$2 log=$out/$1.out summary krc kpass kfail k
	local kconfigs=()
	shift 2
	for k in "$@"; do
		echo "  KUNIT   $k (log: $log)"
		kconfigs+=(--kunitconfig="$k")
	done
	# Only this run's log may pass the scan below.
	rm -f "$kbuild/test.log"
	python3 "$tree/tools/testing/kunit/kunit.py" run --arch=x86_64 \
		"${kconfigs[@]}" --build_dir="$kbuild" --jobs="$jobs" \
		--timeout=1800 --qemu_args="-smp 2 -m 2048" \
		--kernel_args=ignore_loglevel \
		--kernel_args=rcupdate.rcu_cpu_stall_timeout=60 \
		--kernel_args=watchdog_thresh=30 >"$log" 2>&1
	krc=$?
	summary=$(grep -a "Testing complete\." "$log" | tail -n 1)
	if [[ $summary =~ passed:\ ([0-9]+) ]]; then
		kpass=${BASH_REMATCH[1]}
		kfail=0
		for what in failed crashed skipped errors; do
			[[ $summary =~ $what:\ ([0-9]+) ]] &&
				kfail=$((kfail + ${BASH_REMATCH[1]}))
		done
		grep -a -E "^\[[0-9:]+\] +\[(FAILED|CRASHED|SKIPPED)\]" "$log"
		echo "  KUNIT   $name: $summary"
		pass=$((pass + kpass)); fail=$((fail + kfail))
		[ "$krc" = 0 ] || [ "$kfail" != 0 ] ||
			result "$name-kunit.py" "$krc" "exit code"
	else
		tail -n 30 "$log"
		result "$name" 1 "no results"
	fi
	if [ -f "$kbuild/test.log" ]; then
		scripts/logscan.py "$kbuild/test.log"
		result "$name-kernel-log-clean" $? \
			"WARN/BUG/lockdep/KASAN/UBSAN in test.log"
	else
		result "$name-kernel-log-clean" 1 "no test.log"
	fi
}

# One kernel for the core suites and the amdgpu glue's: amdgpu + amdkfd +
# the glue (display core off) under the core suites' debug options, which
# is both the real build of the glue and the QEMU run of its suite.
kbuild=$top/build/kunit
start=$(date +%s)
run_kunit kunit "$kbuild" "$tree/$(scripts/tree.py map kunit/.kunitconfig)" \
	"$tree/$(scripts/tree.py map drivers-glue/amdgpu/.kunitconfig)"
echo "  KUNIT   build + run took $(( $(date +%s) - start )) s"
scripts/logscan.py --selftest
result logscan-selftest $?

# --- userspace selftests in QEMU: hmm-tests and vgpu's own ----------------
# Every test of the harness counts; a skipped one counts as failed (nothing
# here may be skipped), and so does a kernel report in the console log.
echo "  SELFTEST hmm-tests and vgpu's selftests (log: $out/selftest.console)"
SELFTEST_LOG=$out/selftest.console scripts/selftest.sh >"$out/selftest.out" 2>&1
src=$?
grep '^SELFTEST\|^  QEMU\|^  FUZZ\|^  INJECT\|^  FAILED' "$out/selftest.out"
stseen=0
while read -r _ t p f s _; do
	p=${p#pass=}; f=${f#fail=}; s=${s#skip=}
	pass=$((pass + p)); fail=$((fail + f + s)); stseen=$((stseen + 1))
	[ "$s" = 0 ] || echo "  FAIL    $t: $s skipped"
done < <(grep -E '^SELFTEST [^ ]+ pass=' "$out/selftest.out")
[ "$src" = 0 ] && [ "$stseen" -ge 4 ] ||
	{ tail -n 30 "$out/selftest.out"; result selftest-run 1 "script failed"; }
n=$(sed -n 's/^SELFTEST kernel-log reports=//p' "$out/selftest.out")
if [ "${n:-1}" != 0 ]; then
	for l in "$out"/selftest*.console; do
		[ -e "$l" ] && scripts/logscan.py "$l"
	done
fi
result selftest-kernel-log-clean "${n:-1}" \
	"WARN/BUG/lockdep/KASAN/kmemleak/DMA-API in the selftest consoles"
# The boot ends with canaries: the scan that found nothing above must find
# each of them, or it proves nothing.
canary=$(scripts/logscan.py --canary "$out/selftest.console")
crc=$?
echo "$canary" | sed -n 's/^  REPORT/  REPORT/p'
result selftest-canary "$crc" "$(echo "$canary" | sed -n 's/^canary: //p')"

# --- static checks on the project's sources ---------------------------------
mapfile -t csrc < <(git ls-files --cached --others --exclude-standard \
	-- '*.c' '*.h' | grep -v '^tools/' | sort)

perl "$tree/scripts/checkpatch.pl" --no-tree --strict --terse \
	--ignore FILE_PATH_CHANGES -f "${csrc[@]}" >"$out/checkpatch.out" 2>&1
# the core-mm changes are diffs against upstream files: check them as patches
mapfile -t diffs < <(awk '$1 == "diff" { print $2 }' scripts/paths)
# (on stdin: given the path of a diff inside a git tree, checkpatch reads it
# as a source file, not as a patch)
for d in "${diffs[@]}"; do
	perl "$tree/scripts/checkpatch.pl" --no-tree --strict --terse \
		--no-signoff --ignore FILE_PATH_CHANGES,COMMIT_MESSAGE - \
		<"$d" 2>&1 | sed "s|^-:|$d:|" >>"$out/checkpatch.out"
done
n=$(grep -cE ': (ERROR|WARNING|CHECK):' "$out/checkpatch.out")
[ "$n" = 0 ] || grep -E ': (ERROR|WARNING|CHECK):' "$out/checkpatch.out"
result checkpatch-strict "$n" "$n findings"

"$tree/scripts/kernel-doc" -none -Wall "${csrc[@]}" >"$out/kernel-doc.out" 2>&1
n=$(grep -cE 'warning|error' "$out/kernel-doc.out")
[ "$n" = 0 ] || cat "$out/kernel-doc.out"
result kernel-doc "$n" "$n warnings"

# sparse (and W=1) over every object of ours, in the KUnit build (already
# configured); every project .c file must have been checked.
dirs=$(scripts/tree.py map lib/ kunit/ drivers-glue/vgpu/ | tr '\n' ' ')
glue=$(git ls-files --cached --others --exclude-standard -- \
	'drivers-glue/amdgpu/*.c' | while read -r f; do
		scripts/tree.py map "${f%.c}.o"
	done | tr '\n' ' ')
# amdgpu's own files that call the glue (the paths table's hooks)
hooked=$(awk '$1 == "hook" && $2 ~ /^drivers\/gpu\/drm\/amd\/.*\.c$/ {
	print $2 }' scripts/paths | sort -u)
glue="$glue $(echo "$hooked" | sed 's/\.c$/.o/' | tr '\n' ' ')"
# the upstream C files the core-mm diffs change or add
diffed=$(scripts/tree.py diffed | grep '\.c$' | sort -u)
glue="$glue $(echo "$diffed" | sed 's/\.c$/.o/' | tr '\n' ' ')"
{
	make -C "$tree" O="$kbuild" ARCH=x86_64 C=2 W=1 -j"$jobs" $dirs &&
	make -C "$tree" O="$kbuild" ARCH=x86_64 C=2 W=1 -j"$jobs" $glue
} >"$out/sparse.out" 2>&1
rc=$?
# Only our files and the amdgpu files we add calls to count: amdgpu's own
# headers are not ours to fix. In the upstream files the core-mm diffs
# patch, only the lines they add or change count (mm/hmm.c has context
# imbalance warnings of its own).
hooked_re=$(echo "$hooked" | sed 's/\./\\./g' | paste -sd'|')
ours="(lib/gpumirror/|include/linux/gpumirror\\.h|drivers/gpu/vgpu/|amdgpu_gpumirror|$hooked_re)"
n=$(grep -cE "$ours[^ :]*:[0-9]+:([0-9]+:)? (warning|error):" "$out/sparse.out")
scripts/tree.py added-lines >"$out/added-lines"
m=$(grep -oE "^$tree/[^ :]+:[0-9]+:([0-9]+:)? (warning|error):" \
	"$out/sparse.out" | sed -E "s|^$tree/||; s|^([^:]+:[0-9]+):.*|\\1|" |
	grep -cxF -f "$out/added-lines")
n=$((n + m))
unchecked=$(for f in "${csrc[@]}"; do
	case $f in *.c) ;; *) continue ;; esac
	up=$(scripts/tree.py map "$f")
	grep -qE "^ +CHECK +.*/$up\$" "$out/sparse.out" || echo "$f"
done)
[ "$n" = 0 ] && [ "$rc" = 0 ] && [ -z "$unchecked" ] || cat "$out/sparse.out"
[ -z "$unchecked" ] || echo "  not checked by sparse:" $unchecked
[ "$rc" = 0 ] && [ -z "$unchecked" ] || n=$((n + 1))
result sparse-and-W=1 "$n" "$n warnings"

# our objects in the `make run` kernel (no KUnit, no debug options), W=1
scripts/runkernel.sh config >/dev/null &&
	scripts/runkernel.sh build W=1 $dirs >"$out/build-run.out" 2>&1
rc=$?
n=$(grep -cE '(warning|error):' "$out/build-run.out")
[ "$n" = 0 ] && [ "$rc" = 0 ] || cat "$out/build-run.out"
[ "$rc" = 0 ] || n=$((n + 1))
result build-run-config "$n" "$n warnings, W=1"

# the library and the amdgpu glue for arm64 with 64K pages, W=1
scripts/cross-arm64.sh >"$out/cross-arm64.out" 2>&1
rc=$?
[ "$rc" = 0 ] || cat "$out/cross-arm64.out"
result cross-arm64-64K "$rc" "$(tail -1 "$out/cross-arm64.out")"

# --- the upstream patch series ----------------------------------------------
scripts/tree.py patches "$out/patches" >/dev/null &&
	scripts/tree.py verify-patches "$out/patches"
result patch-series $?
# each patch as a maintainer's checkpatch sees it, hooks and stages included
n=0
for p in "$out"/patches/0*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	scripts/checkpatch-patch.sh "$tree/scripts/checkpatch.pl" "$p" ||
		n=$((n + 1))
done
result patch-series-checkpatch-strict "$n" "$n patch(es) with findings"

finish
