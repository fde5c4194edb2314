#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# selftest.sh: the userspace selftests of `make check`, in QEMU.
#
# Builds the selftest kernel (scripts/selftest.config: vgpu, lib/test_hmm,
# lockdep, KASAN, kmemleak), the kernel's own hmm-tests (unmodified, from
# the tree) and vgpu's selftests, both static, packs them into an
# initramfs and boots it: 2 vCPUs, 3 GiB, transparent_hugepage=madvise,
# 4 huge pages, 512 MiB reserved at 1 GiB for the device-coherent vgpus 2
# and 3 and 512 MiB at 1.5 GiB for lib/test_hmm's device-coherent devices
# 2 and 3. hmm-tests runs twice: against lib/test_hmm (hmm-tests, on the
# patched core mm) and against vgpus 0-3 (hmm-tests-vgpu); the scenarios (vgpu-scenario-tests) get a second boot with two
# NUMA nodes, the bounce-buffer tests (vgpu-swiotlb-tests) a third with
# swiotlb=force and vgpu 0 behind a virtio-iommu. In the main boot the
# kernel runs the core KUnit suites first (kunit.enable=1: allnoconfig
# leaves them off by default), so the kmemleak scan at the end covers them
# too. vgpus 4 and 5 (device-private) are for vgpu's migration storm,
# vgpu 6 has no recoverable faults (no-fault mode).
#
# Prints one "SELFTEST <binary> pass=N fail=N skip=N seconds=N" line per
# binary, "SELFTEST kernel-log reports=N" (up to the canaries) and
# "SELFTEST canary: N/4 seen ..." (the vgpu canaries the boot ends with:
# a WARN, a lockdep cycle, a leak and a DMA-API misuse, each of which the
# scan must find, or its silence proves nothing); the console log is kept in
# build/check/selftest.console. Every boot logs every level (ignore_loglevel)
# so warnings reach the console and the scan.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tree=$(scripts/tree.py where | sed -n 2p)
kb=$top/build/selftest
bin=$kb/bin
log=${SELFTEST_LOG:-$top/build/check/selftest.console}
mkdir -p "$bin" "$(dirname "$log")"

echo "  BUILD   $kb (bzImage)"
KERNEL=selftest scripts/runkernel.sh config >/dev/null
KERNEL=selftest scripts/runkernel.sh build bzImage

cflags=(-static -O2 -Wall -pthread -D_GNU_SOURCE)
sel=$tree/tools/testing/selftests
echo "  CC      hmm-tests (tools/testing/selftests/mm/hmm-tests.c)"
gcc "${cflags[@]}" -I"$tree" -I"$sel" -o "$bin/hmm-tests" \
	"$sel/mm/hmm-tests.c"
# The same binary, which the initramfs's /init runs against the vgpus.
cp "$bin/hmm-tests" "$bin/hmm-tests-vgpu"
tests="vgpu-tests vgpu-migrate-tests vgpu-svm-tests vgpu-multi-tests"
tests+=" vgpu-inject-tests"
fuzzers="vgpu-uapi-fuzz vgpu-coherence-fuzz"
# The scenarios boot on their own, with two NUMA nodes (move_pages()), and
# the bounce-buffer tests with swiotlb=force.
numa_tests="vgpu-scenario-tests"
swiotlb_tests="vgpu-swiotlb-tests"
for t in $tests $fuzzers $numa_tests $swiotlb_tests; do
	echo "  CC      $t"
	gcc "${cflags[@]}" -I"$tree" -I"$sel" -idirafter "$tree/include/uapi" \
		-o "$bin/$t" "$sel/vgpu/$t.c"
done

# SELFTEST_ONLY picks binaries (make fuzz); FUZZ_ARGS go to the fuzzers.
# make check runs the fuzzers with their defaults (seeds 1-3, a minute).
# pick TESTS: those of TESTS that SELFTEST_ONLY names (all without it).
pick() {
	local t
	for t in ${SELFTEST_ONLY-$*}; do
		case " $* " in *" $t "*) echo "$t" ;; esac
	done
}
only=$(pick hmm-tests hmm-tests-vgpu $tests $fuzzers)
numa_only=$(pick $numa_tests)
swiotlb_only=$(pick $swiotlb_tests)
for t in ${SELFTEST_ONLY-}; do
	case " hmm-tests hmm-tests-vgpu $tests $fuzzers $numa_tests $swiotlb_tests " in
	*" $t "*) ;;
	*) echo "selftest.sh: no selftest named $t" >&2; exit 1 ;;
	esac
done
[ -n "$only$numa_only$swiotlb_only" ] ||
	{ echo "selftest.sh: SELFTEST_ONLY names no selftest" >&2; exit 1; }
# initrd OUT TESTS...: an initramfs running TESTS; the extra boots (no
# FUZZ_ARGS) skip the canaries, which the main boot's scan checks.
initrd() {
	local out=$1 t files=()
	shift
	for t in "$@"; do
		files+=("$bin/$t:selftests/$t")
	done
	if [ "$out" = "$kb/initramfs.cpio.gz" ]; then
		echo "${FUZZ_ARGS:-}" >"$bin/fuzz.args"
		[ -n "${FUZZ_ARGS:-}" ] && files+=("$bin/fuzz.args:etc/fuzz.args")
	else
		: >"$bin/no-canary"
		files+=("$bin/no-canary:etc/no-canary")
	fi
	scripts/mkinitramfs.sh "$out" tools/selftest/init "${files[@]}"
}
initrd "$kb/initramfs.cpio.gz" $only
[ -z "$numa_only" ] || initrd "$kb/initramfs-numa.cpio.gz" $numa_only
[ -z "$swiotlb_only" ] ||
	initrd "$kb/initramfs-swiotlb.cpio.gz" $swiotlb_only

# The stall and lockup detectors with room for TCG under KASAN and lockdep
# (RCU stalls after 60 s instead of 21, soft lockups after 60 s instead of
# 20); hung tasks after the default 120 s.
detectors="rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30"
# Seven vgpus: 0 and 4 peers, 1 and 5 peers, 2 and 3 device-coherent,
# 6 without recoverable faults.
vgpus="vgpu.ndevs=7 vgpu.nofault_mask=0x40 vgpu.peer=1,2,0,0,1,2"
vgpus+=" vgpu.coherent_addr=0,0,0x40000000,0x50000000"
# boot LOG INITRD KERNEL_ARGS [QEMU ARGS...]: one run of the selftest kernel.
# BOOT_MEM: the guest's MiB (2048).
boot() {
	local log=$1 initrd=$2 args=$3 mem=${BOOT_MEM:-2048} start
	shift 3
	rm -f "$log"
	echo "  QEMU    2 vCPUs, $mem MiB, TCG $args $* (console: $log)"
	start=$(date +%s)
	timeout "${SELFTEST_TIMEOUT:-2400}" qemu-system-x86_64 -nodefaults \
		-nographic -no-reboot -accel tcg -m "$mem" -smp 2 \
		-bios qboot.rom "$@" \
		-kernel "$kb/arch/x86/boot/bzImage" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 ignore_loglevel $detectors transparent_hugepage=madvise hugepages=4 memmap=512M\$0x40000000 $vgpus $args" \
		-serial stdio >"$log" 2>&1 || true
	echo "  QEMU    $(( $(date +%s) - start )) s"
}
logs=()
# lib/test_hmm's device-coherent devices 2 and 3 on 512 MiB at 1.5 GiB.
test_hmm='memmap=512M$0x60000000 test_hmm.spm_addr_dev0=0x60000000'
test_hmm+=' test_hmm.spm_addr_dev1=0x70000000'
[ -z "$only" ] || {
	BOOT_MEM=3072 boot "$log" "$kb/initramfs.cpio.gz" \
		"kunit.enable=1 $test_hmm"
	logs+=("$log")
}
# Two NUMA nodes of 1 GiB. Not for the others: a GPU fault racing
# migrations is ten times slower there under TCG (svm's storm test).
numa_log=${log%.console}-numa.console
[ -z "$numa_only" ] || {
	boot "$numa_log" "$kb/initramfs-numa.cpio.gz" "" \
		-object memory-backend-ram,id=m0,size=1G \
		-numa node,nodeid=0,memdev=m0 \
		-object memory-backend-ram,id=m1,size=1G \
		-numa node,nodeid=1,memdev=m1
	logs+=("$numa_log")
}
# Every direct DMA mapping through a bounce buffer; vgpu 0's through QEMU's
# edu PCI function behind a virtio-iommu (lazy, the default: an unmapped
# IOVA translates to nothing until the flush queue lets it be reused).
swiotlb_log=${log%.console}-swiotlb.console
[ -z "$swiotlb_only" ] || {
	boot "$swiotlb_log" "$kb/initramfs-swiotlb.cpio.gz" \
		"swiotlb=force vgpu.iommu_vgpu=0" \
		-device virtio-iommu-pci -device edu
	logs+=("$swiotlb_log")
}
# Each binary ran in one of the boots: read them as one.
all=$kb/selftest-all.console
cat /dev/null "${logs[@]}" >"$all"

# One line per binary from the kselftest harness's totals.
for t in $only $numa_only $swiotlb_only; do
	case $t in *-fuzz) continue ;; esac
	awk -v t="$t" '
		{ sub(/\r$/, "") }
		$0 ~ "^@@RUN " t "$" { on = 1; next }
		on && /^# Totals:/ { tot = $0 }
		on && $0 ~ "^@@EXIT " t " " {
			match($0, /seconds=[0-9]+/)
			secs = substr($0, RSTART + 8, RLENGTH - 8)
			on = 0
		}
		END {
			if (tot == "") { print "SELFTEST " t " pass=0 fail=1 skip=0 seconds=0 (no totals)"; exit }
			match(tot, /pass:[0-9]+/); p = substr(tot, RSTART + 5, RLENGTH - 5)
			match(tot, /fail:[0-9]+/); f = substr(tot, RSTART + 5, RLENGTH - 5)
			match(tot, /skip:[0-9]+/); s = substr(tot, RSTART + 5, RLENGTH - 5)
			match(tot, /error:[0-9]+/); e = substr(tot, RSTART + 6, RLENGTH - 6)
			print "SELFTEST " t " pass=" p " fail=" f + e " skip=" s " seconds=" secs
		}' "$all"
done
# The KUnit suites the kernel ran at boot, before the selftests (their
# leaks are in the kmemleak scan at the end).
[ -z "$only" ] || awk '
	{ sub(/\r$/, "") }
	/^@@BEGIN/ { exit }
	/^ *# [a-z0-9_]+: pass:[0-9]+ fail:[0-9]+ skip:[0-9]+ total:/ {
		n++
		match($0, /pass:[0-9]+/); p += substr($0, RSTART + 5, RLENGTH - 5)
		match($0, /fail:[0-9]+/); f += substr($0, RSTART + 5, RLENGTH - 5)
		match($0, /skip:[0-9]+/); s += substr($0, RSTART + 5, RLENGTH - 5)
	}
	/^not ok / { f++ }
	END {
		if (!n) { print "SELFTEST kunit-boot pass=0 fail=1 skip=0 seconds=0 (no suite ran)"; exit }
		print "SELFTEST kunit-boot pass=" p " fail=" f " skip=" s " seconds=0 (" n " suites)"
	}' "$log"
# A fuzzer passes when it exits 0; its FUZZ lines say what it did.
for t in $only; do
	case $t in *-fuzz) ;; *) continue ;; esac
	awk -v t="$t" '
		{ sub(/\r$/, "") }
		$0 ~ "^@@RUN " t "$" { on = 1; next }
		on && /^FUZZ / { print "  " $0 }
		on && $0 ~ "^@@EXIT " t " " {
			match($0, /rc=[0-9]+/); rc = substr($0, RSTART + 3, RLENGTH - 3)
			match($0, /seconds=[0-9]+/); secs = substr($0, RSTART + 8, RLENGTH - 8)
			on = 0; done = 1
		}
		END {
			if (!done) { print "SELFTEST " t " pass=0 fail=1 skip=0 seconds=0 (no exit)"; exit }
			print "SELFTEST " t " pass=" (rc == 0) " fail=" (rc != 0) " skip=0 seconds=" secs
		}' "$all"
done
# The sweep's totals: injection points reached per command, the restore
# worker's failures, sites reached.
sed -n 's/\r$//; s/^# INJECT \([a-z_]*:\|sites\)/  INJECT \1/p' "$all"
# Name what failed, so a CI log says which test to look at.
grep -E '^not ok |Test terminated|^# .*(Expected|: Test failed)|^# (VIOLATION|undocumented|child: .*->)' "$all" |
	sed 's/^/  FAILED  /' || true
reports=0
for l in "${logs[@]}"; do
	b=$(basename "$l" .console)
	grep -q '^@@END' "$l" ||
		echo "SELFTEST $b-boot pass=0 fail=1 skip=0 seconds=0 (no @@END)"
	# DMA-API debugging's count of the mappings left once every file closed.
	left=$(sed -n 's/\r$//; s/^@@DMA vgpu mappings left: //p' "$l")
	echo "SELFTEST $b-dma-api-leaks pass=$([ "$left" = 0 ] && echo 1 || echo 0) fail=$([ "$left" = 0 ] && echo 0 || echo 1) skip=0 seconds=0 (vgpu mappings left: ${left:-none reported})"
	reports=$((reports + $(scripts/logscan.py "$l" | wc -l || true)))
done
echo "SELFTEST kernel-log reports=$reports"
# The canaries after the tests: the scan must see every kind of report.
[ -z "$only" ] || echo "SELFTEST $(scripts/logscan.py --canary "$log")"
