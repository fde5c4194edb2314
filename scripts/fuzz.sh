#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# fuzz.sh: `make fuzz` - long runs of vgpu's two fuzzers in the selftest
# kernel, one boot per seed: SEEDS="1 2 3" OPS=100000 FUZZ_SECONDS=1800. OPS is
# the coherence fuzzer's op count and the uapi fuzzer's call count; each
# stops at OPS or FUZZ_SECONDS, whichever comes first. The log scan applies.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/tree.py overlay >/dev/null
fail=0
for seed in ${SEEDS:-1}; do
	log=$top/build/check/fuzz-$seed.console
	SELFTEST_ONLY="vgpu-uapi-fuzz vgpu-coherence-fuzz" \
	FUZZ_ARGS="$seed ${OPS:-100000} ${FUZZ_SECONDS:-1800}" \
	SELFTEST_TIMEOUT=$(( 3 * ${FUZZ_SECONDS:-1800} + 600 )) \
	SELFTEST_LOG=$log scripts/selftest.sh >"$log.out" 2>&1 || true
	grep -E '^SELFTEST vgpu|^  FUZZ|^  FAILED|kernel-log' "$log.out"
	grep -qE '^SELFTEST vgpu-.* fail=[1-9]|kernel-log reports=[1-9]' \
		"$log.out" && fail=1
done
exit $fail
