#!/bin/bash
# The aggregated ledger against the ledger of single records, on one workload. The same
# workload (in a Slurm-like job, as nobody: /bin/true 30 times, burn twice, a prohibited
# program, a program run through a symlink) runs under hpcmeterd with process_records = all (a
# record per exec and per exit, as before schema 5) and under the default (counts per interval
# and executable, single records as evidence). Both ledgers must give the same answers: the
# execs a draft licence is simulated against and its findings (license simulate), the CPU time
# of the job (what caps and reports count), the executables that ran in the job, and the
# violation with its process.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, setpriv)"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
chmod 755 "$T/bin"
cat >"$T/licenses/node.yaml" <<'EOY'
license:
  id: AGG-NODE-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-agg-bad"]
EOY
# The draft: nobody may not use the node, and burn is prohibited.
cat >"$T/draft.yaml" <<'EOY'
license:
  id: AGG-DRAFT-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
  end_use:
    prohibited_executables: ["*/burn"]
EOY
cp "$BUILD/tests/burn" "$T/bin/burn"
cp /bin/true "$T/bin/hpcm-agg-bad"
ln -s /bin/true "$T/bin/alias-true"
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
start_bus
since=$(date -u +%F)

# run MODE JOB: the workload under a daemon with process_records = MODE, in job JOB.
run() {
	local mode=$1 job=$2 cg=$CGMNT/hpcm-agg-$$/slurm/uid_65534/job_$2/step_0 pid
	mkdir -p "$cg"
	printf 'process_records = %s\n' "$mode" >"$T/$mode.conf"
	rm -rf "$T/state"
	start_daemon --config "$T/$mode.conf" --licenses "$T/licenses" --interval 1 \
		--gpu-mode off
	sh -c "echo \$\$ >'$cg/cgroup.procs' && exec $NOBODY sh -c '
		for i in \$(seq 30); do /bin/true; done
		\"$T/bin/burn\" 150; \"$T/bin/burn\" 150
		\"$T/bin/alias-true\"
		\"$T/bin/hpcm-agg-bad\"'"
	# Everything the workload did is in: its violation is signalled (an exec and a commit)
	# and a reading after its last process (the intervals of its CPU time).
	wait_for sh -c "'$HPCMETERCTL' violations --json | grep -q hpcm-agg-bad"
	local c0
	c0=$("$HPCMETERCTL" status --json | json "d['collections']")
	wait_for sh -c "[ \$('$HPCMETERCTL' status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"collections\"])') -ge $((c0 + 2)) ]"
	stop_daemon
	rm -rf "$T/$mode"
	mv "$T/state" "$T/$mode"
	find "$CGMNT/hpcm-agg-$$" -depth -type d -exec rmdir {} + 2>/dev/null
}
JOB_ALL=$((810000 + $$ % 100000))
JOB_AGG=$((JOB_ALL + 100000))
run all "$JOB_ALL"
run aggregate "$JOB_AGG"
check "the single-record ledger has every exec as a row of process_events" \
	test "$(ledger_sql "$T/all/ledger.sqlite" "SELECT COUNT(*) FROM process_events
		WHERE event = 'exec' AND cgroup LIKE '%job_$JOB_ALL/%'")" -ge 34 \
		-a "$(ledger_sql "$T/all/ledger.sqlite" "SELECT COUNT(*) FROM process_counts")" = 0
check "the aggregated ledger has no row of process_events" \
	test "$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT COUNT(*) FROM process_events")" = 0

# The same answers from both.
# execs: per executable, in the job (the job ids differ: compare without them).
execs_all=$(ledger_sql "$T/all/ledger.sqlite" "SELECT executable || '=' || COUNT(*)
	FROM process_events WHERE event = 'exec' AND cgroup LIKE '%job_$JOB_ALL/%'
	GROUP BY executable ORDER BY executable")
execs_agg=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT executable || '=' || SUM(execs)
	FROM process_counts WHERE job = '$JOB_AGG' AND execs > 0
	GROUP BY executable ORDER BY executable")
diag "execs per executable: $(tr '\n' ' ' <<<"$execs_agg")"
check "the execs per executable in the job are the same" test "$execs_all" = "$execs_agg"
first_agg=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT executable FROM process_evidence
	WHERE event = 'exec' AND job = '$JOB_AGG' ORDER BY executable" | tr '\n' ' ')
ran_all=$(ledger_sql "$T/all/ledger.sqlite" "SELECT DISTINCT executable FROM process_events
	WHERE event = 'exec' AND cgroup LIKE '%job_$JOB_ALL/%' ORDER BY executable" | tr '\n' ' ')
diag "on record in the job: $first_agg"
check "the executables that ran in the job are each on record (first-in-job)" \
	test "$first_agg" = "$ran_all"

# CPU time of the job (the usage rows: what caps and reports count). Two runs: the 30 short
# processes' start-up costs differ from run to run by more than any bound worth checking, the
# two burns' 300 ms do not. Each job holds at least what burn burned, and burn's CPU is the same
# in both (its exits' CPU in the single records, its counts in the aggregated ledger).
cpu_all=$(ledger_sql "$T/all/ledger.sqlite" "SELECT SUM(cpu_ns) FROM usage WHERE job = '$JOB_ALL'")
cpu_agg=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT SUM(cpu_ns) FROM usage WHERE job = '$JOB_AGG'")
burn_all=$(ledger_sql "$T/all/ledger.sqlite" "SELECT SUM(x.cpu_ns) FROM process_events e
	JOIN process_events x ON x.pid = e.pid AND x.event = 'exit' AND x.time_usec >= e.time_usec
	WHERE e.event = 'exec' AND e.executable LIKE '%/bin/burn' AND e.cgroup LIKE '%job_$JOB_ALL/%'")
burn_agg=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT SUM(cpu_ns) FROM process_counts
	WHERE job = '$JOB_AGG' AND executable LIKE '%/bin/burn'")
diag "job CPU: $cpu_all ns (single records), $cpu_agg ns (aggregated); burn's: $burn_all ns, $burn_agg ns"
check "each job's CPU time holds the 300 ms burn burned" \
	test "${cpu_all:-0}" -ge 300000000 -a "${cpu_agg:-0}" -ge 300000000
check "burn's CPU time agrees between the two runs (within 10 %)" \
	python3 -c "import sys; a, b = ${burn_all:-0}, ${burn_agg:-0}; sys.exit(0 if a and b and abs(a - b) <= 0.1 * max(a, b) else 1)"
cpu_exes=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT SUM(cpu_ns) FROM process_counts WHERE job = '$JOB_AGG'")
check "the aggregated CPU per executable adds up to the job's usage ($cpu_exes of $cpu_agg ns)" \
	test "$cpu_exes" = "$cpu_agg"

# license simulate: the same execs and findings from both ledgers.
sim() {
	"$HPCMETERCTL" --json=short license simulate "$T/draft.yaml" --since "$since" \
		--state-dir "$T/$1" | json "(d['execs'] >= 34, sorted(set((f['kind'], f['detail']) for f in d['findings'] if f['level'] == 0)))"
}
sim_all=$(sim all)
sim_agg=$(sim aggregate)
diag "simulate: $sim_agg"
check "license simulate finds the same violations in both ledgers" test "$sim_all" = "$sim_agg"
both_found() { grep -q 'prohibited-executable' <<<"$sim_agg" && grep -q 'unpermitted-user' <<<"$sim_agg"; }
check "  among them the prohibited burn and the user nobody" both_found
n_all=$("$HPCMETERCTL" --json=short license simulate "$T/draft.yaml" --since "$since" --state-dir "$T/all" | json "d['execs']")
n_agg=$("$HPCMETERCTL" --json=short license simulate "$T/draft.yaml" --since "$since" --state-dir "$T/aggregate" | json "d['execs']")
diag "simulate counts $n_all execs (single records) and $n_agg (aggregated): the node's own processes differ between runs"
check "  and counts every exec of the workload in each (at least 34)" test "$n_all" -ge 34 -a "$n_agg" -ge 34

# The violation and its process.
check "the violation is the same in both" \
	test "$(ledger_sql "$T/all/ledger.sqlite" "SELECT kind || ' ' || license_id || ' ' || uid FROM violations")" = \
	"$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT kind || ' ' || license_id || ' ' || uid FROM violations")"
pid=$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT pid FROM violations")
check "its process is on record with its exec and exit in the aggregated ledger" \
	test "$(ledger_sql "$T/aggregate/ledger.sqlite" "SELECT COUNT(*) FROM processes WHERE pid = $pid AND exit_usec > 0")" = 1
check_ledger_sound "$T/aggregate"
check_ledger_sound "$T/all"
tap_done
