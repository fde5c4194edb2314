#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# checkpatch-patch.sh CHECKPATCH PATCH: checkpatch --strict on one patch of
# the series, as make check and verify-series.sh run it. Prints the
# findings (or checkpatch's own failure) and exits 0 only when checkpatch
# exited 0 and found nothing.
#
# Ignored: FILE_PATH_CHANGES (MAINTAINERS is not ours to change);
# EMBEDDED_FILENAME, because amdgpu's Kconfig sources Kconfig.gpumirror,
# whose path begins with its own (the check matches a prefix); and, in a
# patch of userspace selftests only, ENOSYS: they test for system calls
# the kernel was built without, which is what it means.
set -uo pipefail

checkpatch=$1 patch=$2
ignore=FILE_PATH_CHANGES,EMBEDDED_FILENAME
grep '^+++ b/' "$patch" | grep -qv '^+++ b/tools/testing/' ||
	ignore+=,ENOSYS
out=$(perl "$checkpatch" --no-tree --strict --terse --ignore "$ignore" \
	"$patch" 2>&1)
rc=$?
findings=$(grep -E ': (ERROR|WARNING|CHECK):' <<<"$out")
[ "$rc" = 0 ] && [ -z "$findings" ] && exit 0
echo "${findings:-$(tail -n 5 <<<"$out")}"
exit 1
