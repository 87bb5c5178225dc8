#!/bin/bash
# End to end on a private bus: a cap on the CPU seconds of one user is crossed by a real
# CPU-burning process. ThresholdApproaching (80 %, then 95 %) must arrive before the
# cap-exceeded ViolationRaised; raising the limit and reloading clears it (ViolationCleared);
# a broken licence file on reload never replaces the good licence; license explain and
# license simulate read the same ledger.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv, useradd)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v dbus-monitor >/dev/null || skip_all "no dbus-monitor"
echo "TAP version 13"

# A Slurm-like job cgroup of our own: everything else on this machine (other tests, builds)
# is metered too, so the cap is on this one job.
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || { echo "Bail out! no cgroup2 mount"; exit 1; }
JOB=7$$
TOPCG=$CGMNT/hpcmeter-caps-$$
JOBCG=$TOPCG/slurm/uid_65534/job_$JOB/step_0
mkdir -p "$JOBCG"
on_cleanup "rmdir '$JOBCG' '$TOPCG/slurm/uid_65534/job_$JOB' '$TOPCG/slurm/uid_65534' '$TOPCG/slurm' '$TOPCG' 2>/dev/null"

mkdir -p "$T/licenses"
write_license() {
	cat >"$T/licenses/cap.yaml" <<EOY
license:
  id: CAP-TEST-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-forbidden-*"]
  caps:
    - { id: cpu-job, metric: cpu_seconds, scope: job, period: run, limit: $1 }
EOY
}
write_license 1.0

start_bus
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
	"type='signal',sender='org.hpcmeter1',interface='org.hpcmeter1.Violations'" >"$T/signals" 2>"$T/monitor.err" &
_pids+=($!)
wait_monitoring "$T/signals"
start_daemon --licenses "$T/licenses" --interval 1

# 1.5 s of CPU in the job: more than the 1.0 s cap.
sh -c "echo \$\$ > '$JOBCG/cgroup.procs' && exec '$BUILD/tests/burn' 1500" &&
	ok "the workload burned 1.5 s of CPU in job $JOB" || not_ok "the workload ran"

raised() { grep -q '"cap-exceeded"' "$T/signals"; }
check "a cap-exceeded violation is signalled" wait_for raised
# Order of the members in the monitor's log: approaches, then the violation.
order=$(awk '/member=ThresholdApproaching/ { print "approach" } /member=ViolationRaised/ { print "violation" }' "$T/signals" | tr '\n' ' ')
diag "signals: $order"
check "ThresholdApproaching came twice before ViolationRaised" test "$order" = "approach approach violation "
levels=$(awk '/member=ThresholdApproaching/ { a = 1; n = 0; next } a && /uint32/ { print $2; a = 0 }' "$T/signals" | tr '\n' ' ')
check "the approaches are at 80 % and then 95 %" test "$levels" = "80 95 "

"$HPCMETERCTL" violations --json >"$T/v.json"
diag "$(cat "$T/v.json")"
check "violations lists exactly one cap-exceeded, for the job, on CAP-TEST-1" \
	test "$(json "[(v['kind'], v['license_id'], v['job']) for v in d if v['kind'] == 'cap-exceeded']" <"$T/v.json")" = \
	"[('cap-exceeded', 'CAP-TEST-1', '$JOB')]"
check "its detail has the measured value and the limit" \
	grep -q "cpu_seconds of job $JOB: 1\.[0-9]* s exceeds the limit 1 s" "$T/v.json"
wait_readings 2
check "it is raised once, not at every interval" \
	test "$("$HPCMETERCTL" violations --json | json "len([v for v in d if v['kind'] == 'cap-exceeded'])")" = 1
events=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --json=short call org.hpcmeter1 /org/hpcmeter1 \
	org.hpcmeter1.Violations ListThresholdEvents t 0)
check "ListThresholdEvents back-fills the two approaches" \
	test "$(json "[(e[0], e[5]) for e in d['data'][0]]" <<<"$events")" = "[(1, 80), (2, 95)]"

out=$("$HPCMETERCTL" license explain CAP-TEST-1)
diag "$out"
check "license explain shows the cap violated with its figures" \
	grep -Eq "caps.cpu-job +violated +cpu_seconds per job per run at most 1 s .*: 1\.[0-9]+ s \(1[0-9.]+ %\) for $JOB" <<<"$out"
check "license explain of an unknown id fails" sh -c "! '$HPCMETERCTL' license explain NOPE 2>/dev/null"

# A draft licence with a looser cap, simulated against the recorded ledger: no violation.
cat >"$T/draft.yaml" <<EOY
license:
  id: DRAFT-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  caps: [{ id: c, metric: cpu_seconds, scope: job, period: validity, limit: 1e6 }]
EOY
"$HPCMETERCTL" license simulate "$T/draft.yaml" --since 2020-01-01 --state-dir "$T/state" >"$T/sim.out"
check "license simulate of a loose draft: exit 0, no violation" test $? = 0
sed -i 's/limit: 1e6/limit: 1.2/' "$T/draft.yaml"
"$HPCMETERCTL" license simulate "$T/draft.yaml" --since 2020-01-01 --state-dir "$T/state" >"$T/sim.out"
rc=$?
diag "$(cat "$T/sim.out")"
check "a tight draft: exit 1 and the job's cap exceeded" \
	test "$rc" = 1 -a -n "$(grep "VIOLATION  cap-exceeded: cpu_seconds of job $JOB: " "$T/sim.out")"
check "simulate did not load the draft" \
	test "$("$HPCMETERCTL" licenses --json | json "[l['id'] for l in d]")" = "['CAP-TEST-1']"

# A process violation stays open while the process runs and clears when it exits; the next
# run raises it again.
mkdir -p "$T/bin"
cp "$(command -v sleep)" "$T/bin/hpcm-forbidden-$$"
"$T/bin/hpcm-forbidden-$$" infinity &
FORBIDDEN=$!
_pids+=("$FORBIDDEN")
pseq() { "$HPCMETERCTL" violations --json | json "[v['seq'] for v in d if v['kind'] == 'prohibited-executable']"; }
check "the prohibited executable raises a violation" wait_for sh -c "'$HPCMETERCTL' violations --json | grep -q prohibited-executable"
first=$(pseq)
wait_readings 2
check "it stays open (one violation, not cleared) while the process runs" \
	test "$(pseq)" = "$first" -a -z "$(grep -A3 'member=ViolationCleared' "$T/signals" | grep 'hpcm-forbidden')"
kill "$FORBIDDEN"
wait "$FORBIDDEN" 2>/dev/null
cleared_forbidden() { grep -A3 'member=ViolationCleared' "$T/signals" | grep -q "hpcm-forbidden-$$"; }
check "ViolationCleared when the process has exited" wait_for cleared_forbidden
"$T/bin/hpcm-forbidden-$$" 0
again() { [ "$(pseq | json "len(d)")" = 2 ]; }
check "running it again raises a new violation" wait_for again

# Raise the limit and reload: the condition has ended, the violation clears.
write_license 1000
check "reload with a higher limit" "$HPCMETERCTL" reload
check "ViolationCleared is signalled" wait_for grep -q "member=ViolationCleared" "$T/signals"
check "the ledger records when each cleared (the cap and the first process)" \
	test "$(python3 -c "import sqlite3; print(sorted(set(r[0] for r in sqlite3.connect('$T/state/ledger.sqlite').execute('select term from violation_lifecycle v join violation_clears c on c.seq = v.seq'))))")" = "['caps.cpu-job', 'prohibited-executable']"

# A broken file on reload never replaces the good licence loaded from it.
echo "license: { id: CAP-TEST-1, valid: { from: 2020-01-01" >"$T/licenses/cap.yaml"
check "reload with a broken file still succeeds" "$HPCMETERCTL" reload
"$HPCMETERCTL" licenses --json >"$T/l.json"
diag "$(cat "$T/l.json")"
check "the licence stays active, with the file's error shown" \
	test "$(json "[(l['id'], l['state'], 'YAML syntax error' in l['error']) for l in d]" <"$T/l.json")" = \
	"[('CAP-TEST-1', 'active', True)]"
check "status counts the rejected file" test "$("$HPCMETERCTL" status --json | json "d['license_errors']")" = 1
check "the daemon logged that it kept the licence" grep -q "keeping licence CAP-TEST-1 as loaded before" "$T/hpcmeterd.log"
# Across a restart, an open process violation whose process still runs stays open: not
# raised again, not cleared.
write_license 1000
"$T/bin/hpcm-forbidden-$$" infinity &
SURVIVOR=$!
_pids+=("$SURVIVOR")
n_forbidden() { "$HPCMETERCTL" violations --json | json "len([v for v in d if v['kind'] == 'prohibited-executable'])"; }
three() { [ "$(n_forbidden)" = 3 ]; }
check "a long-running prohibited process raises its violation" wait_for three
survivor_seq=$("$HPCMETERCTL" violations --json | json "[v['seq'] for v in d if v['pid'] == $SURVIVOR][0]")
check "hpcmeterd exits 0 on SIGTERM" stop_daemon
start_daemon --licenses "$T/licenses" --interval 1
wait_readings 2
check "after a restart the running process raised nothing new" test "$(n_forbidden)" = 3
cleared_seq() { awk '/member=ViolationCleared/ { getline; print $2 }' "$T/signals" | grep -qx "$1"; }
check "and its violation #$survivor_seq was not cleared" sh -c "! awk '/member=ViolationCleared/ { getline; print \$2 }' '$T/signals' | grep -qx '$survivor_seq'"
kill "$SURVIVOR"
check "it clears once the process exits" wait_for cleared_seq "$survivor_seq"
cleared=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --json=short call org.hpcmeter1 /org/hpcmeter1 \
	org.hpcmeter1.Violations ListClearedViolations t 0)
check "ListClearedViolations back-fills the clears, the survivor's last" \
	test "$(json "[c[0] for c in d['data'][0]][-1] == $survivor_seq and len(d['data'][0]) >= 3" <<<"$cleared")" = True
check "hpcmeterd exits 0 on SIGTERM" stop_daemon
tap_done
