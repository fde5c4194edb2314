#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages gpumirror's tooling needs, only those missing.
set -euo pipefail

pkgs=(linux-source-6.12 qemu-system-x86 build-essential flex bison bc
      libelf-dev libssl-dev cpio python3 sparse gnuplot-nox busybox-static
      xz-utils kmod rsync git perl gcc-aarch64-linux-gnu patch diffutils)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]} (run as root to install)" >&2
	exit 1
fi
echo "  APT     ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
