#!/bin/bash
# The licence parser under libFuzzer for a bounded time (FUZZ_TIME seconds, default 30: the
# make check budget; make fuzz runs longer), starting from the seed corpus: the examples,
# the bad-licence corpus and the threshold registry. New inputs go to a temporary directory.
# Any crash, sanitizer report or leak fails the test.
# usage: tests/fuzz/run.sh [BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

FUZZ=$BUILD/tests/fuzz-license
[ -x "$FUZZ" ] || skip_all "$FUZZ not built (needs clang and libclang-rt-14-dev)"
cd "$TOP" || exit 1
mkdir -p "$T/corpus" "$T/seed"
cp examples/licenses/*.yaml tests/licenses/bad/*.yaml data/thresholds.yaml "$T/seed/"
time=${FUZZ_TIME:-30}
"$FUZZ" -max_total_time="$time" -timeout=10 -rss_limit_mb=1024 -max_len=8192 \
	-dict=tests/fuzz/license.dict -artifact_prefix="$T/" "$T/corpus" "$T/seed" \
	>"$T/fuzz.log" 2>&1
rc=$?
diag "$(grep -E '^#[0-9]+.*(DONE|pulse)|stat::|Done' "$T/fuzz.log" | tail -3)"
if [ "$rc" != 0 ]; then
	diag "$(tail -40 "$T/fuzz.log")"
	for a in "$T"/crash-* "$T"/leak-* "$T"/timeout-* "$T"/oom-*; do
		[ -e "$a" ] && diag "artifact $(basename "$a"): $(base64 -w0 "$a" | head -c 400)"
	done
fi
check "libFuzzer ran ${time}s over the licence and registry parsers: no crash, no leak" test "$rc" = 0
check "it executed inputs" grep -q "Done [0-9]* runs" "$T/fuzz.log"
tap_done
