#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Extract the kselftest headers (kselftest.h, kselftest_harness.h) from Debian's
# linux-source-6.1 package into DIR, downloading the .deb with apt-get into DIR/cache.
# Nothing of the kernel source is kept in the repository; DIR is a build directory.
# usage: tests/module/kselftest-headers.sh DIR      (prints DIR/include on success)
# Exit 0 on success, 1 on failure, 77 when the package cannot be had (no apt-get, offline).
set -euo pipefail

DIR=${1:?usage: kselftest-headers.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
INC=$DIR/include
if [ -r "$INC/kselftest_harness.h" ] && [ -r "$INC/kselftest.h" ]; then
	echo "$INC"
	exit 0
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
	echo "kselftest-headers.sh: needs apt-get and dpkg-deb" >&2
	exit 77
}
mkdir -p "$DIR/cache" "$INC"
cd "$DIR/cache"
deb=$(ls linux-source-6.1_*_all.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$deb" ]; then
	# apt's sandbox user cannot write into a root-owned mktemp-like dir; this one is ours.
	# Package lists may be missing or stale (a fresh CI image): update them once and retry.
	if ! apt-get download -q linux-source-6.1 >download.log 2>&1 &&
		! { apt-get update -qq >>download.log 2>&1 &&
			apt-get download -q linux-source-6.1 >>download.log 2>&1; }; then
		echo "kselftest-headers.sh: apt-get download linux-source-6.1 failed:" >&2
		tail -n 5 download.log >&2
		exit 77
	fi
	deb=$(ls linux-source-6.1_*_all.deb | tail -n 1)
fi
tmp=$(mktemp -d "$DIR/cache/extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/src/linux-source-6.1.tar.xz
tar -xJf "$tmp/usr/src/linux-source-6.1.tar.xz" -C "$tmp" \
	linux-source-6.1/tools/testing/selftests/kselftest.h \
	linux-source-6.1/tools/testing/selftests/kselftest_harness.h
cp "$tmp/linux-source-6.1/tools/testing/selftests/kselftest.h" \
	"$tmp/linux-source-6.1/tools/testing/selftests/kselftest_harness.h" "$INC/"
echo "${deb#linux-source-6.1_}" | sed 's/_all.deb$//' >"$INC/VERSION"
# The 139 MB .deb is not needed once the two headers are out.
rm -f "$deb"
echo "$INC"
