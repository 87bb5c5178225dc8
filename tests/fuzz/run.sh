#!/bin/bash
# Every libFuzzer target for a bounded time each (FUZZ_TIME seconds, default 8: the make check
# budget; make fuzz runs longer), starting from its seed corpus (tests/fuzz/corpus/TARGET, with
# the regression inputs of every crash found, plus for the licence parser the examples, the
# bad-licence corpus and the threshold registry) and its dictionary where it has one. New
# inputs go to a temporary directory. Any crash, sanitizer report, leak or timeout fails; the
# number of inputs each target executed is printed.
# usage: tests/fuzz/run.sh [BUILD_DIR] [TARGET...]
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

cd "$TOP" || exit 1
targets=("${@:2}")
[ ${#targets[@]} -gt 0 ] ||
	targets=(license config decode netlink bus report store origin gpu-record gpu-elf time)
time=${FUZZ_TIME:-8}
built=0
for t in "${targets[@]}"; do
	fuzz=$BUILD/tests/fuzz-$t
	if [ ! -x "$fuzz" ]; then
		# Where libFuzzer is installed, a target that was not built is a build bug.
		if command -v clang >/dev/null && dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
			check "fuzz-$t: built (clang and libclang-rt-14-dev are installed)" false
		else
			ok "fuzz-$t # SKIP $fuzz not built (needs clang and libclang-rt-14-dev)"
		fi
		continue
	fi
	built=$((built + 1))
	mkdir -p "$T/$t/corpus" "$T/$t/seed" "$T/$t/art"
	[ -d "tests/fuzz/corpus/$t" ] && cp "tests/fuzz/corpus/$t"/* "$T/$t/seed/"
	[ "$t" = license ] &&
		cp examples/licenses/*.yaml tests/licenses/bad/*.yaml data/thresholds.yaml "$T/$t/seed/"
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	"$fuzz" -max_total_time="$time" -timeout=10 -rss_limit_mb=1024 -max_len=8192 "${dict[@]}" \
		-artifact_prefix="$T/$t/art/" "$T/$t/corpus" "$T/$t/seed" >"$T/$t.log" 2>&1
	rc=$?
	diag "fuzz-$t: $(grep -E '^#[0-9]+.*(DONE|pulse)|Done' "$T/$t.log" | tail -2 | tr '\n' ' ')"
	if [ "$rc" != 0 ]; then
		diag "$(tail -40 "$T/$t.log")"
		for a in "$T/$t/art"/*; do
			[ -e "$a" ] && diag "artifact $(basename "$a"): $(base64 -w0 "$a" | head -c 400)"
		done
	fi
	check "fuzz-$t: libFuzzer ran ${time}s: no crash, no leak, no UB, no timeout" test "$rc" = 0
	check "fuzz-$t: it executed inputs" grep -q "Done [0-9]* runs" "$T/$t.log"
done
[ "$built" -gt 0 ] || skip_all "no fuzz target built (needs clang and libclang-rt-14-dev)"
tap_done
