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
kbuild=$top/build/kunit
echo "  KUNIT   $tree/lib/gpumirror/tests/.kunitconfig (log: $out/kunit.out)"
python3 "$tree/tools/testing/kunit/kunit.py" run --arch=x86_64 \
	--kunitconfig="$tree/lib/gpumirror/tests/.kunitconfig" \
	--build_dir="$kbuild" --jobs="$jobs" --timeout=1800 \
	--qemu_args="-smp 2 -m 2048" >"$out/kunit.out" 2>&1
krc=$?
summary=$(grep -a "Testing complete\." "$out/kunit.out" | tail -n 1)
if [[ $summary =~ passed:\ ([0-9]+) ]]; then
	kpass=${BASH_REMATCH[1]}
	[[ $summary =~ failed:\ ([0-9]+) ]] && kfail=${BASH_REMATCH[1]} || kfail=0
	[[ $summary =~ crashed:\ ([0-9]+) ]] && kfail=$((kfail + ${BASH_REMATCH[1]}))
	[[ $summary =~ skipped:\ ([0-9]+) ]] && kfail=$((kfail + ${BASH_REMATCH[1]}))
	[[ $summary =~ errors:\ ([0-9]+) ]] && kfail=$((kfail + ${BASH_REMATCH[1]}))
	grep -a -E "^\[[0-9:]+\] +\[(FAILED|CRASHED|SKIPPED)\]" "$out/kunit.out"
	echo "  KUNIT   $summary"
	pass=$((pass + kpass)); fail=$((fail + kfail))
	[ "$krc" = 0 ] || [ "$kfail" != 0 ] || result kunit.py "$krc" "exit code"
else
	tail -n 30 "$out/kunit.out"
	result kunit 1 "no results"
fi

# A WARN, lockdep splat, KASAN or UBSAN report fails the run even when
# every case passed.
if [ -f "$kbuild/test.log" ]; then
	scripts/logscan.py "$kbuild/test.log"
	result kernel-log-clean $? "WARN/BUG/lockdep/KASAN/UBSAN in test.log"
else
	result kernel-log-clean 1 "no test.log"
fi
scripts/logscan.py --selftest
result logscan-selftest $?

# --- static checks on the project's sources ---------------------------------
mapfile -t csrc < <(git ls-files --cached --others --exclude-standard \
	-- '*.c' '*.h' | grep -v '^tools/' | sort)

perl "$tree/scripts/checkpatch.pl" --no-tree --strict --terse \
	--ignore FILE_PATH_CHANGES -f "${csrc[@]}" >"$out/checkpatch.out" 2>&1
n=$(grep -cE ': (ERROR|WARNING|CHECK):' "$out/checkpatch.out")
[ "$n" = 0 ] || grep -E ': (ERROR|WARNING|CHECK):' "$out/checkpatch.out"
result checkpatch-strict "$n" "$n findings"

"$tree/scripts/kernel-doc" -none -Wall "${csrc[@]}" >"$out/kernel-doc.out" 2>&1
n=$(grep -cE 'warning|error' "$out/kernel-doc.out")
[ "$n" = 0 ] || cat "$out/kernel-doc.out"
result kernel-doc "$n" "$n warnings"

# sparse over every object of ours, in the KUnit build (already configured);
# every project .c file must have been checked.
dirs=$(scripts/tree.py map lib/ kunit/ drivers-glue/vgpu/ | tr '\n' ' ')
make -C "$tree" O="$kbuild" ARCH=x86_64 C=2 W=1 -j"$jobs" $dirs \
	>"$out/sparse.out" 2>&1
rc=$?
n=$(grep -cE '(warning|error):' "$out/sparse.out")
unchecked=$(for f in "${csrc[@]}"; do
	case $f in *.c) ;; *) continue ;; esac
	up=$(scripts/tree.py map "$f")
	grep -qE "^ +CHECK +.*/$up\$" "$out/sparse.out" || echo "$f"
done)
[ "$n" = 0 ] && [ "$rc" = 0 ] && [ -z "$unchecked" ] || cat "$out/sparse.out"
[ -z "$unchecked" ] || echo "  not checked by sparse:" $unchecked
[ "$rc" = 0 ] && [ -z "$unchecked" ] || n=$((n + 1))
result sparse "$n" "$n warnings"

# our objects in the `make run` kernel (no KUnit, no debug options), W=1
scripts/runkernel.sh config >/dev/null &&
	scripts/runkernel.sh build W=1 $dirs >"$out/build-run.out" 2>&1
rc=$?
n=$(grep -cE '(warning|error):' "$out/build-run.out")
[ "$n" = 0 ] && [ "$rc" = 0 ] || cat "$out/build-run.out"
[ "$rc" = 0 ] || n=$((n + 1))
result build-run-config "$n" "$n warnings, W=1"

# --- the upstream patch series ----------------------------------------------
scripts/tree.py patches "$out/patches" >/dev/null &&
	scripts/tree.py verify-patches "$out/patches"
result patch-series $?

finish
