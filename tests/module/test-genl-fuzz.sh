#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module's netlink fuzzer (tests/module/genl-fuzz.c) on the host, where there is no
# module: it builds statically (as the guest needs it), its options are checked, it says so
# when the family is missing, and its message generator runs under AddressSanitizer and UBSan
# (dry run) without a report. The fuzzing itself runs in the qemu guest (tests/module/run.sh).
# usage: tests/module/test-genl-fuzz.sh [BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"
command -v cc >/dev/null || skip_all "no cc"
F=$T/genl-fuzz
src=$TOP/tests/module/genl-fuzz.c
check "genl-fuzz builds statically" cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -static \
	-D_GNU_SOURCE -I"$TOP/module/uapi" "$src" -o "$F"
rc_is() { # rc_is WANT ARGS...
	local want=$1
	shift
	"$F" "$@" >"$T/out" 2>&1
	[ $? = "$want" ]
}
check "-h prints the usage and exits 0" sh -c "'$F' -h | grep -q '^usage: genl-fuzz -s SECONDS'"
check "no -s is a usage error (2)" rc_is 2
check "-s 0 is refused (2)" rc_is 2 -s 0
check "-s 3601 is refused (2)" rc_is 2 -s 3601
said() { grep -q "$1" "$T/out"; }
check "-s abc is refused (2) with a message" eval "rc_is 2 -s abc && said \"expected 1..3600 seconds, not 'abc'\""
check "-n 0 is refused (2)" rc_is 2 -s 1 -n 0
check "a stray argument is refused (2)" rc_is 2 -s 1 extra
check "an unknown option is refused (2)" rc_is 2 -s 1 -x
if [ -e /sys/module/hpcmeter ]; then
	ok "no family on the host # SKIP hpcmeter is loaded here"
else
	check "without the module: exit 3, family not registered" rc_is 3 -s 1
	check "... as nobody too" rc_is 3 -s 1 -u
fi
if command -v clang >/dev/null; then
	check "genl-fuzz builds with AddressSanitizer and UBSan" clang -O1 -g -fsanitize=address,undefined \
		-fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter -Werror -D_GNU_SOURCE \
		-I"$TOP/module/uapi" "$src" -o "$F-asan"
	for seed in 1 2; do
		"$F-asan" -s 2 -r "$seed" -D >"$T/dry.out" 2>&1
		rc=$?
		diag "$(cat "$T/dry.out")"
		check "the generator, seed $seed, 2 s dry run: no sanitizer report" \
			sh -c "[ $rc = 0 ] && grep -Eq '^dry run: [1-9][0-9]* messages' '$T/dry.out'"
	done
else
	ok "sanitizer dry run # SKIP no clang"
fi
tap_done
