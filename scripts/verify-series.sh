#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# verify-series.sh [DIR]: the full check of `make patches` output, for
# upstream submission: copy the pristine tree, commit it to a fresh git
# repository, `git am` the series and build it with the gpumirror options
# (the `make run` configuration). Slow (a full kernel build): run it before
# sending a series; `make check` runs the quick form (tree.py
# verify-patches).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
series=$(cd "${1:-patches}" && pwd)
pristine=$(scripts/tree.py where | sed -n 1p)
work=$top/build/verify-series
rm -rf "$work"
echo "  COPY    $pristine -> $work/linux"
mkdir -p "$work"
cp -a --reflink=auto "$pristine" "$work/linux"
cd "$work/linux"
export GIT_AUTHOR_NAME=verify GIT_AUTHOR_EMAIL=verify@localhost
export GIT_COMMITTER_NAME=verify GIT_COMMITTER_EMAIL=verify@localhost
git -c init.defaultBranch=master init -q
# -f: Debian's .gitignore ignores everything at the top level.
git add -A -f
git commit -q -m pristine
echo "  GIT AM  $(ls "$series"/0*.patch | grep -vc 0000-) patch(es)"
git am -q $(ls "$series"/0*.patch | grep -v 0000-cover-letter)
echo "  BUILD   allnoconfig + scripts/run.config"
make -s O="$work/build" ARCH=x86_64 \
	KCONFIG_ALLCONFIG="$top/scripts/run.config" allnoconfig
make -s O="$work/build" ARCH=x86_64 -j"$(nproc)" bzImage
grep -q '^CONFIG_GPUMIRROR=y' "$work/build/.config"
echo "  OK      the series applies to the pristine tree and builds"
