#!/bin/bash
# An exec storm against the aggregated ledger (schema 5): thousands of tiny processes, counted
# per interval and executable (process_counts), every one of them; a prohibited program started
# in the middle of the storm still raises its violation and is kept as a record of its own
# (process_evidence, with its exit), and so is the first exec of the tiny program in its job;
# nothing is lost (ring buffer, ledger chain).
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
[ -x "$BUILD/bench/spawn" ] && [ -x "$BUILD/bench/tiny" ] ||
	skip_all "build $BUILD/bench/spawn and $BUILD/bench/tiny first (make check)"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cat >"$T/licenses/storm.yaml" <<'EOY'
license:
  id: STORM-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-storm-bad"]
EOY
# The storm runs in a Slurm-like job cgroup of its own: its counts are told apart from the rest
# of the node's processes by that cgroup.
JOB=$((800000 + $$ % 100000))
JOBCG=$CGMNT/hpcm-storm-$$/slurm/uid_0/job_$JOB/step_0
mkdir -p "$JOBCG"
on_cleanup "find '$CGMNT/hpcm-storm-$$' -depth -type d -exec rmdir {} + 2>/dev/null"
cp "$BUILD/bench/tiny" "$T/bin/tiny"
cp /bin/true "$T/bin/hpcm-storm-bad"
LEDGER=$T/state/ledger.sqlite
q() { ledger_sql "$LEDGER" "$1"; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1 --gpu-mode off
"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>&1 &
MON=$!
_pids+=("$MON")
wait_subscribed "$MON" || { echo "Bail out! the monitor did not subscribe"; exit 1; }

# The storm: as many as the machine manages (up to 2,000/s), in the job's cgroup, until the
# test stops it; the prohibited program in its middle, once the daemon has counted some of it
# (a committed interval), and the storm goes on until the violation is signalled.
sh -c "echo \$\$ >'$JOBCG/cgroup.procs' && exec '$BUILD/bench/spawn' 2000 0 '$T/bin/tiny'" \
	>"$T/spawn.out" &
STORM=$!
_pids+=("$STORM")
storm_counted() {
	[ "$(q "SELECT COALESCE(SUM(execs), 0) FROM process_counts
		WHERE executable = '$KPREFIX$T/bin/tiny'")" -gt 0 ]
}
check "the daemon counts the storm while it runs" wait_for storm_counted
sh -c "echo \$\$ >'$JOBCG/cgroup.procs' && exec '$T/bin/hpcm-storm-bad'"
check "the prohibited program run during the storm is signalled" \
	wait_for grep -q 'hpcm-storm-bad' "$T/monitor.out"
kill -TERM "$STORM"
wait "$STORM"
check "the storm ran until it was stopped" test $? = 0
n=$(sed -n 's/^spawned \([0-9]*\) .*/\1/p' "$T/spawn.out")
diag "$(cat "$T/spawn.out")"

# Every exec and every exit of the storm is counted, in the job, once the intervals are in.
counted() {
	[ "$(q "SELECT COALESCE(SUM(execs), 0) || ' ' || COALESCE(SUM(exits), 0) FROM process_counts
		WHERE executable = '$KPREFIX$T/bin/tiny' AND job = '$JOB'")" = "$n $n" ]
}
check "all $n execs and exits of the storm are counted in job $JOB (process_counts)" \
	wait_for counted
diag "$(q "SELECT COUNT(*) || ' rows of process_counts for ' || SUM(execs) || ' execs' FROM process_counts WHERE executable = '$KPREFIX$T/bin/tiny'")"
check "no record was lost (ringbuf_drops 0)" \
	test "$("$HPCMETERCTL" status --json | json "d['ringbuf_drops']")" = 0
check "the first exec of the storm's program in the job is a record of its own" \
	test "$(q "SELECT COUNT(*) FROM process_evidence WHERE event = 'exec' AND reason = 'first-in-job'
		AND executable = '$KPREFIX$T/bin/tiny' AND job = '$JOB'")" = 1
check "the rest are counted only: one record, not $n" \
	test "$(q "SELECT COUNT(*) FROM process_records WHERE executable = '$KPREFIX$T/bin/tiny'")" = 1
bad_pid=$(q "SELECT pid FROM violations WHERE executable = '$KPREFIX$T/bin/hpcm-storm-bad'")
check "the violating process is a record of its own, exec and exit, reason violation" \
	test "$(q "SELECT group_concat(event || ':' || reason, ' ') FROM process_evidence
		WHERE pid = ${bad_pid:-0} ORDER BY id")" = "exec:violation exit:violation"
stop_daemon
check_ledger_sound "$T/state"
tap_done
