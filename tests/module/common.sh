# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Shared by the module tests: TAP output and the kernel they target. Source it.
# KVER: the newest Debian amd64 kernel with headers, never `uname -r` (the host's own kernel
# may have no headers). A missing prerequisite skips the whole test (exit 77).

set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /'; } # diagnostics from standard input
skip_all() { echo "1..0 # SKIP $*"; exit 77; }
finish() { echo "1..$n"; [ "$failed" -eq 0 ]; exit $?; }
bail() { echo "Bail out! $*"; exit 1; }

KVER=$(for d in /lib/modules/*-amd64; do [ -d "$d" ] && echo "${d##*/}"; done | sort -V | tail -n 1)
{ [ -n "$KVER" ] && [ -d "/lib/modules/$KVER/build" ]; } ||
	skip_all "no /lib/modules/*-amd64/build (apt-get install linux-headers-amd64)"
