# SPDX-License-Identifier: GPL-2.0
#
# gpumirror: what a user types. See README.md.

.PHONY: all check run profile fuzz cross patches verify-series tree deps clean distclean

all: check

## make check - all tests; the last line is "N passed, N failed"
check:
	@scripts/check.sh

## make fuzz - long fuzzer runs: SEEDS="1 2 3" OPS=100000 FUZZ_SECONDS=1800
fuzz: deps
	@scripts/fuzz.sh

## make cross - the library and the amdgpu glue for arm64, 64K pages, W=1
cross:
	@scripts/cross-arm64.sh

## make run - boot the gpumirror + vgpu kernel, run workloads and benchmarks
run:
	@scripts/run.sh

## make profile - sample the fault and mapping paths with perf in QEMU
profile:
	@scripts/profile.sh

## make patches - write the upstream series to patches/
patches: tree
	@scripts/tree.py patches patches
	@scripts/tree.py verify-patches patches

## make verify-series - every prefix of the series: checkpatch, git am,
## a KUnit build and the patch's own suites (slow: about 90 minutes)
verify-series: patches
	@scripts/verify-series.sh patches

## make tree - unpack the pristine tree and overlay the project onto a copy
tree: deps
	@scripts/tree.py overlay

deps:
	@scripts/deps.sh

## make clean - drop the build outputs, keep the unpacked trees
clean:
	rm -rf build/kunit build/run build/profile build/perf build/check build/arm64 build/verify-series patches results

distclean:
	rm -rf build patches results
