#!/bin/bash
# Evasion, part 2: leaving the job. A job is a cgroup laid out like Slurm's
# (.../job_N/step_0) announced by JobStarted/JobEnded, as the prolog and epilog do. Real
# attempts: a double fork that leaves the job's process tree, a move to another cgroup (by an
# unprivileged user: refused by the kernel; by root: the time after the move follows the
# process), a setsid/nohup process that outlives its job. Checked in the usage the daemon
# wrote (hpcmeterctl usage --json and the ledger): every CPU second lands on the cgroup and
# uid it ran under, so attribution follows cgroups, not process trees.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, setpriv)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/run"
chmod 777 "$T/run" # nobody's marker files
cp "$BUILD/tests/burn" "$T/burn" || { echo "Bail out! build $BUILD/tests/burn first (make check)"; exit 1; }
cat >"$T/licenses/escape.yaml" <<'EOY'
license:
  id: ESCAPE-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
EOY
TOPCG=$CGMNT/hpcm-adv-esc-$$
JOB1=$((700000 + $$ % 100000))
JOB2=$((JOB1 + 100000))
JOBCG1=$TOPCG/slurm/uid_65534/job_$JOB1/step_0
JOBCG2=$TOPCG/slurm/uid_65534/job_$JOB2/step_0
OTHER=$TOPCG/elsewhere
mkdir -p "$JOBCG1" "$JOBCG2" "$OTHER"
on_cleanup "find '$TOPCG' -depth -type d -exec rmdir {} + 2>/dev/null"
LEDGER=$T/state/ledger.sqlite
q() { ledger_sql "$LEDGER" "$1"; }
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
# cpu WHERE: CPU time in the ledger's usage rows that match the SQL condition.
cpu() { q "SELECT COALESCE(SUM(cpu_ns), 0) FROM usage WHERE $1"; }
at_least() { [ "$(cpu "$1")" -ge "$2" ]; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1
"$HPCMETERCTL" job start "$JOB1" --set user=nobody --set uid=65534 &&
	"$HPCMETERCTL" job start "$JOB2" --set user=nobody --set uid=65534
check "two jobs announced (JobStarted)" test $? = 0

# 1. Double fork: the job's shell starts a subshell that starts burn in the background and
# exits; burn is reparented to init, out of the job's process tree, still in its cgroup.
sh -c "echo \$\$ >'$JOBCG1/cgroup.procs' && exec $NOBODY sh -c '( \"$T/burn\" 400; touch \"$T/run/a\" ) & exit 0'"
check "double fork: the job's shell has exited, the grandchild runs on" wait_for test -e "$T/run/a"
check "its 0.4 s of CPU are the job's (cgroup job_$JOB1, uid 65534)" \
	wait_for at_least "job = '$JOB1' AND uid = 65534" 380000000
ppid=$(q "SELECT ppid FROM process_records WHERE event = 'exec' AND executable LIKE '%/burn' AND cgroup LIKE '%job_$JOB1/%' LIMIT 1")
diag "burn's parent at exec: pid $ppid (the subshell that exited right after)"

# 2. Leaving the cgroup. An unprivileged process cannot move itself out of its job: the
# kernel requires write access to the common ancestor's cgroup.procs.
sh -c "echo \$\$ >'$JOBCG1/cgroup.procs' && exec $NOBODY sh -c 'echo \$\$ >\"$OTHER/cgroup.procs\"'" 2>/dev/null
check "an unprivileged process cannot move itself to another cgroup (EACCES)" test $? != 0
# Root moves one (a compromised prolog, an administrator): the time after the move is metered
# where it ran, under the same uid; nothing is lost between the two. burn parks after its
# first 0.4 s (in the job) until the test has moved it, then burns 0.8 s more (elsewhere).
sh -c "echo \$\$ >'$JOBCG1/cgroup.procs' && exec $NOBODY '$T/burn' --park '$T/run/b-parked' '$T/run/b-go' 400 800" &
MOVER=$!
_pids+=("$MOVER")
check "a process of the job has burned 0.4 s and waits" wait_file "$T/run/b-parked"
echo "$MOVER" >"$OTHER/cgroup.procs"
check "root moved the running process to $OTHER" \
	grep -q "hpcm-adv-esc-$$/elsewhere" "/proc/$MOVER/cgroup"
touch "$T/run/b-go"
wait "$MOVER"
check "  it ran to its end there" test $? = 0
wait_readings # all of it is in the ledger
# Held to the kernel's own count for each cgroup (cpu.stat): the job's has the double fork's
# 0.4 s and this one's 0.4 s before the move, the other one its 0.8 s after it.
job=$(cpu "job = '$JOB1'") job_kernel=$(cgroup2_cpu_ns "$JOBCG1")
else=$(cpu "cgroup LIKE '%hpcm-adv-esc-$$/elsewhere'") else_kernel=$(cgroup2_cpu_ns "$OTHER")
check "  the time before the move stays on the job ($job ns; the kernel's count for its cgroup: $job_kernel ns, within 1 %)" \
	within "$job" "$job_kernel" 1
check "  after the move, its time is metered to the cgroup it moved to ($else ns; the kernel's: $else_kernel ns, within 1 %)" \
	within "$else" "$else_kernel" 1
total() { [ $(($(cpu "job = '$JOB1' AND uid = 65534") + $(cpu "cgroup LIKE '%hpcm-adv-esc-$$/elsewhere' AND uid = 65534"))) -ge 1550000000 ]; }
check "  and job + elsewhere hold all of it (0.4 s + 1.2 s, uid 65534)" wait_for total

# 3. setsid + nohup: a process that outlives its job. The epilog announces the end (JobEnded);
# the process goes on in the job's cgroup (without proctrack/cgroup nothing kills it).
# It waits for the job's end, then burns 1 s.
sh -c "echo \$\$ >'$JOBCG2/cgroup.procs' || exit 1; $NOBODY setsid nohup sh -c 'while [ ! -e \"$T/run/go\" ]; do sleep 0.05; done; \"$T/burn\" 1000; touch \"$T/run/c\"' >/dev/null 2>&1 & exit 0"
"$HPCMETERCTL" job end "$JOB2" --set user=nobody --set uid=65534
check "the job's end is announced while its process runs on (JobEnded)" test $? = 0
end_usec=$("$HPCMETERCTL" jobs --json | json "[j['end_usec'] for j in d if j['job'] == '$JOB2'][0]")
check "the job is recorded as ended" test "${end_usec:-0}" -gt 0
touch "$T/run/go"
wait_for test -e "$T/run/c"
AFTER="FROM usage u JOIN intervals i ON i.id = u.interval_id WHERE u.job = '$JOB2' AND u.uid = 65534 AND i.end_usec > $end_usec"
after_end() { [ "$(q "SELECT COALESCE(SUM(u.cpu_ns), 0) $AFTER")" -ge 950000000 ]; }
check "its 1 s after the job's end is recorded under the job id and uid (ledger)" wait_for after_end
diag "$(q "SELECT 'job $JOB2 after its end: ' || SUM(u.cpu_ns) || ' ns in ' || COUNT(*) || ' usage rows' $AFTER")"

check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
