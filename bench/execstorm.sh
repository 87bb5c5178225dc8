#!/bin/bash
# Exec/exit storm: hpcmeterd on a private bus, then a tiny static program spawned at rising
# rates for a fixed time each. For each rate: the rate reached, the exec and exit records the
# daemon received against the processes spawned, the records the kernel could not write (ring
# buffer full), the daemon's CPU over the storm (its on-CPU time from /proc/PID/schedstat, in
# nanoseconds), per process spawned and as a share of one core, and that per-process cost as a
# ratio of what one spawn + exit itself cost (the spawner's and its children's CPU time, in the
# same run). Prints a markdown table. Not a test: figures go to docs/PERFORMANCE.md.
# usage: bench/execstorm.sh [BUILD_DIR] [SECONDS] [RATE...]   (as root)
#   HPCMETERD_ARGS: more options for hpcmeterd (--config FILE, ...)
BUILD=${1:-build}
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
secs=${2:-5}
shift 2 2>/dev/null
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 2000 5000 10000 20000)

start_bus
mkdir -p "$T/licenses" "$T/bin"
# A prohibited program run in the middle of each storm: how long until its violation is raised.
cat >"$T/licenses/storm.yaml" <<'EOY'
license:
  id: STORM-BENCH-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-storm-bad-*"]
EOY
# shellcheck disable=SC2086 # options
start_daemon --licenses "${LICENSES:-$T/licenses}" --interval 1 --gpu-mode off ${HPCMETERD_ARGS:-}
st() { "$HPCMETERCTL" status --json | json "d.get('$1')"; }
oncpu() { awk '{ print $1 }' "/proc/$DAEMON_PID/schedstat"; }

# The daemon's own CPU without a storm (its readings, the node's other processes), per second:
# subtracted from each storm's to give the cost of the storm's processes alone ("net").
sleep 1.5
i0=$(oncpu) t0=$(date +%s.%N)
sleep "$((secs + 3))"
i1=$(oncpu) t1=$(date +%s.%N)
idle_ns_per_s=$(python3 -c "print(($i1 - $i0) / ($t1 - $t0))")

echo "| target rate /s | reached /s | spawned | exec records | exit records | records lost | daemon CPU (% of one core) | daemon CPU per process (µs) | spawn + exit CPU per process (µs) | ratio | net per process (µs) | net ratio | violation raised after (ms) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for rate in "${rates[@]}"; do
	sleep 1.5 # a reading between rounds
	e0=$(st exec_events) x0=$(st exit_events) d0=$(st ringbuf_drops) c0=$(oncpu)
	t0=$(date +%s.%N)
	cp /bin/true "$T/bin/hpcm-storm-bad-$rate"
	(sleep "$(python3 -c "print($secs / 2)")" && "$T/bin/hpcm-storm-bad-$rate") &
	bad=$!
	out=$("$BUILD/bench/spawn" "$rate" "$secs" "$BUILD/bench/tiny")
	wait "$bad"
	sleep 2.5 # the daemon's readings after the storm
	t1=$(date +%s.%N)
	e1=$(st exec_events) x1=$(st exit_events) d1=$(st ringbuf_drops) c1=$(oncpu)
	n=$(sed -n 's/^spawned \([0-9]*\) .*/\1/p' <<<"$out")
	reached=$(sed -n 's|^spawned .*: \([0-9]*\)/s$|\1|p' <<<"$out")
	spawn_us=$(sed -n 's/^cpu per process \([0-9.]*\) us$/\1/p' <<<"$out")
	read -r share per ratio net netratio < <(python3 -c "
cpu = ($c1 - $c0) / 1e9
net = max(0.0, cpu - $idle_ns_per_s / 1e9 * ($t1 - $t0)) / $n * 1e6
print('%.2f %.1f %.4f %.1f %.4f' % (100.0 * cpu / ($t1 - $t0), cpu / $n * 1e6,
      cpu / $n * 1e6 / $spawn_us, net, net / $spawn_us))")
	# From the exec (the kernel's timestamp, on its record of its own) to the violation.
	lat=$(ledger_sql "$T/state/ledger.sqlite" "SELECT printf('%.1f', (v.time_usec - p.time_usec) / 1000.0)
		FROM violations v JOIN process_records p ON p.pid = v.pid AND p.event = 'exec'
		WHERE v.executable LIKE '%/hpcm-storm-bad-$rate' LIMIT 1")
	echo "| $rate | $reached | $n | $((e1 - e0)) | $((x1 - x0)) | $((d1 - d0)) | $share | $per | $spawn_us | $ratio | $net | $netratio | ${lat:-none} |"
done
echo
echo "$secs s per rate; exec/exit records count every process on the node (the spawner and"
echo "the status calls too); the daemon's CPU over the storm and the 2.5 s after it (its readings"
echo "included), divided by the processes spawned; net: less what it used in as long without a"
echo "storm ($(python3 -c "print('%.2f' % ($idle_ns_per_s / 1e7))") % of one core)."
