#!/bin/bash
# The suite with every core kept busy, the state a compute node lives in (make check-stress):
# stress-ng --cpu N (Debian's stress-ng), or N busy shell loops where it is missing, run beside
# tests/run.sh and stopped on every way out (the end, a failure, ^C). The output is
# tests/run.sh's, ending in its summary line "N passed, N failed, N skipped"; the exit status
# is its.
# usage: tests/stress.sh [BUILD_DIR] [TEST...]
set -u
cd "$(dirname "$0")/.." || exit 1
cpus=$(nproc)
load_pids=()

stop_load() {
	local p
	# Each load runs in a session of its own: its process group is its pid (stress-ng's
	# workers included).
	for p in "${load_pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
	for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null; done
	load_pids=()
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Should this script be killed outright (no trap runs), the load still ends: stress-ng after
# a day, a busy loop as soon as this script is gone.
if command -v stress-ng >/dev/null; then
	echo "# load: stress-ng --cpu $cpus"
	# (its own messages, such as the warning that it was stopped early, would follow the
	# summary line)
	setsid stress-ng --cpu "$cpus" --timeout 1d --quiet >/dev/null 2>&1 &
	load_pids+=($!)
else
	echo "# load: $cpus busy loops (no stress-ng)"
	for _ in $(seq "$cpus"); do
		setsid bash -c 'while kill -0 "$1" 2>/dev/null; do :; done' loop $$ &
		load_pids+=($!)
	done
fi

tests/run.sh "$@"
