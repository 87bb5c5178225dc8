#!/bin/bash
# Exec/exit storm: hpcmeterd on a private bus, then a tiny static program spawned at rising
# rates for a fixed time each. For each rate: the rate reached, the exec and exit records the
# daemon received against the processes spawned, the records the kernel could not write (ring
# buffer full), and the daemon's CPU share over the storm (its utime+stime from /proc). Prints
# a markdown table. Not a test: figures go to docs/PERFORMANCE.md.
# usage: bench/execstorm.sh [BUILD_DIR] [SECONDS] [RATE...]   (as root)
BUILD=${1:-build}
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
secs=${2:-5}
shift 2 2>/dev/null
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 2000 5000 10000 20000)

start_bus
mkdir -p "$T/licenses"
start_daemon --licenses "$T/licenses" --interval 1 --gpu-mode off
st() { "$HPCMETERCTL" status --json | json "d.get('$1')"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }
hz=$(getconf CLK_TCK)

echo "| target rate /s | reached /s | spawned | exec records | exit records | records lost | daemon CPU (% of one core) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for rate in "${rates[@]}"; do
	sleep 1.5 # a reading between rounds
	e0=$(st exec_events) x0=$(st exit_events) d0=$(st ringbuf_drops) c0=$(ticks)
	t0=$(date +%s.%N)
	out=$("$BUILD/bench/spawn" "$rate" "$secs" "$BUILD/bench/tiny")
	sleep 2.5 # the daemon's readings after the storm
	t1=$(date +%s.%N)
	e1=$(st exec_events) x1=$(st exit_events) d1=$(st ringbuf_drops) c1=$(ticks)
	n=$(sed -n 's/^spawned \([0-9]*\) .*/\1/p' <<<"$out")
	reached=$(sed -n 's|.*: \([0-9]*\)/s$|\1|p' <<<"$out")
	cpu=$(python3 -c "print('%.2f' % (100.0 * ($c1 - $c0) / $hz / ($t1 - $t0)))")
	echo "| $rate | $reached | $n | $((e1 - e0)) | $((x1 - x0)) | $((d1 - d0)) | $cpu |"
done
echo
echo "$secs s per rate; exec/exit records count every process on the node (the spawner and"
echo "the status calls too); CPU share over the storm and the 2.5 s after it."
