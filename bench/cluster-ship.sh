#!/bin/bash
# One node's shipping cost at steady state, measured on the real daemon: PostgreSQL started
# here (as the tests do), hpcmeterd as a node shipping to it at the default 10 s interval, with
# programs running in its cgroup, for DURATION seconds (default 300). The daemon counts the
# CPU time of its shipping handlers (status key cluster_ship_cpu_usec: thread CPU time around
# every handler of the store's connection and timers); printed per wall second beside the
# daemon's whole CPU time (/proc/PID/stat), as a share of one core. Takes the test suite's
# machine-wide lock (a daemon sees every process). usage: bench/cluster-ship.sh BUILD [DURATION]
BUILD=${1:-build}
DURATION=${2:-300}
exec 9>>"${HPCMETER_TEST_LOCK:-/tmp/hpcmeter-tests.lock}"
flock 9
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
. "$(dirname "$0")/../tests/cluster/pg-lib.sh"
start_pg
DB=$(pg_conninfo postgres)
"$HPCMETERCTL" cluster init --database "$DB" >/dev/null
node_key b1
"$HPCMETERCTL" cluster enroll --database "$DB" --node b1 --key "$T/b1/state/report-key.pub.pem" >/dev/null
start_node b1 --interval 10
run_in b1 sh -c 'while :; do /bin/true; sleep 1; done'
wait_for 60 sh -c "[ \"\$(psql -X -A -t -h '$PG_HOST' -U postgres -d hpcm -c 'SELECT count(*) FROM hpcm.checkpoints')\" -ge 1 ]"
pid=${NODE_PID[b1]}
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
s0=$(node_status b1 cluster_ship_cpu_usec)
r0=$(node_status b1 cluster_records_shipped)
c0=$(cpu_of)
t0=$(date +%s.%N)
sleep "$DURATION"
s1=$(node_status b1 cluster_ship_cpu_usec)
r1=$(node_status b1 cluster_records_shipped)
c1=$(cpu_of)
t1=$(date +%s.%N)
python3 - "$s0" "$s1" "$r0" "$r1" "$c0" "$c1" "$ticks" "$t0" "$t1" "$(node_status b1 cluster_checkpoints)" <<'EOPY'
import sys
s0, s1, r0, r1, c0, c1, hz = (float(x) for x in sys.argv[1:8])
t0, t1, cps = float(sys.argv[8]), float(sys.argv[9]), sys.argv[10]
wall = t1 - t0
ship = (s1 - s0) / 1e6
daemon = (c1 - c0) / hz
print(f"one node shipping, {wall:.0f} s at the 10 s interval: {r1 - r0:.0f} records, checkpoints so far {cps}")
print(f"  shipping CPU {ship * 1e3:.1f} ms = {ship / wall * 100:.4f} % of a core;"
      f" the whole daemon {daemon * 1e3:.0f} ms = {daemon / wall * 100:.3f} % (ratio {ship / daemon if daemon else 0:.3f})")
EOPY
