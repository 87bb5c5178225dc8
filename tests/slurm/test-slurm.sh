#!/bin/bash
# Job attribution against a real Slurm (munge + slurmctld + slurmd started here, cgroup/v1 on
# this hybrid host): a batch job's CPU time lands on its job id, step and user; the shipped
# prolog and epilog announce its account, end-use comment and GPUs; a process that lives less
# than a millisecond inside a job is attributed to it; two concurrent jobs each get their own
# (fake) GPU.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm-lib.sh"
echo "TAP version 13"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, Slurm daemons)"
missing=$(slurm_prereqs) || skip_all "Slurm test needs $missing (scripts/install-deps.sh)"

start_bus
mkdir -p "$T/licenses"
# The node's licence: jobs must run under account physics and declare a climate end use.
cat >"$T/licenses/slurm-test.yaml" <<'LIC'
license:
  id: SLURM-TEST-1
  regime: internal
  type: internal-policy
  valid: { from: 2026-01-01, until: 2030-12-31 }
  principals: { users: [root, nobody], accounts: [physics] }
  end_use:
    permitted: [climate-research]
    job_declaration_required: true
    declarations:
      - { from: comment, match: "enduse:climate*", end_use: climate-research }
LIC
start_daemon --licenses "$T/licenses" --interval 1 --cgroup-v1 freezer

# The shipped prolog and epilog, pointed at the built hpcmeterctl; slurmd gives them a bare
# environment, so the bus address comes from a wrapper, as /etc/default would on a node.
for s in prolog epilog; do
	sed "s|@BINDIR@|$BUILD|" "$TOP/slurm/$s.in" >"$T/$s"
	printf '#!/bin/sh\nexport DBUS_SYSTEM_BUS_ADDRESS=%s\nexec %s\n' \
		"$DBUS_SYSTEM_BUS_ADDRESS" "$T/$s" >"$T/$s-wrapper"
	chmod 755 "$T/$s" "$T/$s-wrapper"
done
# Two fake GPUs the GPU meter recognises by name (/dev/nvidiaN opens count as device N) and
# that open without a driver: /dev/full and /dev/zero's numbers (1:7, 1:5), which jobs seldom
# need. Slurm's devices cgroup (ConstrainDevices=yes) then lets a job open its own only.
for n in 60 61; do
	[ ! -e /dev/nvidia$n ] || skip_all "/dev/nvidia$n exists on this host"
done
mknod /dev/nvidia60 c 1 7 && mknod /dev/nvidia61 c 1 5
on_cleanup "rm -f /dev/nvidia60 /dev/nvidia61"
SLURM_EXTRA_CONF="Prolog=$T/prolog-wrapper
Epilog=$T/epilog-wrapper"
slurm_up "/dev/nvidia[60-61]" || exit 1
diag "Slurm up: node $SLURM_NODE"
cp "$BUILD/tests/burn" "$T/burn"
chmod 755 "$T/burn"

# 1. A batch job of an unprivileged user under account "physics", burning 1.5 s of CPU.
job=$(cd /tmp && runuser -u nobody -- sbatch --parsable -A physics --comment "enduse:climate" \
	-o /dev/null --wrap "$T/burn 1500")
check "sbatch as nobody gives a job id ($job)" test -n "$job"
wait_for job_gone "$job"
check "the job ran to its end" job_gone "$job"

jobs_json() { "$HPCMETERCTL" jobs --since @0 --json; }
ended() { jobs_json | json "[j for j in d if j['job']=='$1' and j['end_usec']>0]" | grep -q job; }
wait_for ended "$job"
jobs_json >"$T/jobs.json"
check "the prolog announced the job with its account" \
	test "$(json "[j['account'] for j in d if j['job']=='$job'][0]" <"$T/jobs.json")" = physics
check "... its end-use comment" \
	test "$(json "[j['comment'] for j in d if j['job']=='$job'][0]" <"$T/jobs.json")" = enduse:climate
check "... its user and uid" \
	test "$(json "[(j['user'], j['uid']) for j in d if j['job']=='$job'][0]" <"$T/jobs.json")" = "('nobody', 65534)"
check "... and the epilog its end" ended "$job"

# Usage lands on the job, in its batch step, as user nobody: the CPU time the workload burned,
# within 5 %. (The ledger is written every interval; wait for a reading after the job's end.)
step_cpu() {
	"$HPCMETERCTL" usage --json | json "sum(u['cpu_ns'] for u in d if u['job']=='$job' and '/job_$job/step_batch' in u['cgroup'] and u['uid']==65534)"
}
wait_readings
got=$(step_cpu)
diag "job $job step batch: $got ns of CPU (burned 1.5 s)"
check "the job's batch step is charged 1.5 s within 5 % ($got ns)" \
	python3 -c "import sys; sys.exit(0 if abs($got - 1.5e9) <= 0.05 * 1.5e9 else 1)"
"$HPCMETERCTL" usage --json >"$T/usage.json"
diag "job rows: $(json "sorted(set((u['step'], u['account'], u['uid'], u['cgroup'], u['cpu_ns']) for u in d if u['job'] == '$job'))" <"$T/usage.json")"
check "its cgroup is the v1 freezer path of the job" \
	grep -q "\"freezer:/slurm_$SLURM_NODE/uid_65534/job_$job/step_batch" "$T/usage.json"
# The task runs a moment as the user in the job's own cgroup before slurmstepd moves it into
# the step's: that moment (a move record) stays on the job, with no step.
check "usage --json rows carry the job's step and account (batch; the job itself before the move)" \
	test "$(json "{('batch', 'physics')} <= set((u['step'], u['account']) for u in d if u['job'] == '$job' and u['uid'] == 65534) <= {('batch', 'physics'), ('', 'physics')}" <"$T/usage.json")" = True
"$HPCMETERCTL" usage --by account --json >"$T/by-account.json"
check "usage --by account puts it on physics" \
	test "$(json "[a['cpu_ns'] for a in d if a['account']=='physics'][0] > 1.4e9" <"$T/by-account.json")" = True
"$HPCMETERCTL" usage --by job --json >"$T/by-job.json"
check "usage --by job shows job $job with its user and account" \
	test "$(json "[(a['user'], a['account']) for a in d if a['job']=='$job'][0]" <"$T/by-job.json")" = "('nobody(65534)', 'physics')"

"$HPCMETERCTL" usage --by license --json >"$T/by-license.json"
check "usage --by license counts the job's time under the node's licence" \
	test "$(json "[l['cpu_ns'] > 1.4e9 for l in d if l['license'] == 'SLURM-TEST-1']" <"$T/by-license.json")" = "[True]"
"$HPCMETERCTL" usage --by license >"$T/by-license.txt"
check "usage --by license prints a table" grep -q "^SLURM-TEST-1 *active" "$T/by-license.txt"

# 2. A process that execs and exits within a millisecond inside a job step. The job lives on
# until the test has seen the exec: its step's cgroup, which names the job, must still be there
# when the daemon reads the record (on a busy node that can be after a short job's end).
job2=$(cd /tmp && sbatch --parsable -A physics --comment enduse:climate -o /dev/null \
	--wrap "/bin/true; while [ ! -e '$T/gate-b' ]; do sleep 0.1; done")
on_cleanup "touch '$T/gate-b'"
exec_cgroup() {
	python3 - "$T/state/ledger.sqlite" "$job2" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT cgroup FROM process_records WHERE event='exec' AND executable LIKE '%/true'"
                  " AND cgroup LIKE ?", ("%%/job_%s/%%" % sys.argv[2],)).fetchall()
print(rows[0][0] if rows else "")
PY
}
has_exec() { [ -n "$(exec_cgroup)" ]; }
wait_for has_exec
cg=$(exec_cgroup)
touch "$T/gate-b"
wait_for job_gone "$job2"
check "/bin/true, a process of well under a millisecond, is attributed to job $job2 ($cg)" \
	test -n "$cg"
diag "$(python3 - "$T/state/ledger.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for pid, t0 in db.execute("SELECT pid, time_usec FROM process_records WHERE event='exec' AND executable LIKE '%/true'"):
    for (t1,) in db.execute("SELECT time_usec FROM process_records WHERE event='exit' AND pid=? AND time_usec>=?", (pid, t0)):
        print("/bin/true pid %d lived %d us from exec to exit" % (pid, t1 - t0))
        break
PY
)"

# 3. Two concurrent jobs, one fake GPU each (ConstrainDevices=yes): each is told its own, and
# each opens both device nodes; only its own opens (Slurm's devices cgroup), and the GPU meter
# charges that one open to the job. Each job waits for the test's gates: it opens the devices
# once the test has seen both jobs announced (gate-gpu-open), says so (done.JOBID), and ends
# when the test has read what it checks (gate-gpu-end).
cat >"$T/gpujob.sh" <<'JOB'
#!/bin/sh
while [ ! -e "@T@/gate-gpu-open" ]; do sleep 0.1; done
for d in /dev/nvidia60 /dev/nvidia61; do (: <"$d") 2>/dev/null && echo "$d" >>"@T@/opened.$SLURM_JOB_ID"; done
touch "@T@/done.$SLURM_JOB_ID"
while [ ! -e "@T@/gate-gpu-end" ]; do sleep 0.1; done
JOB
sed -i "s|@T@|$T|" "$T/gpujob.sh"
chmod 755 "$T/gpujob.sh"
on_cleanup "touch '$T/gate-gpu-open' '$T/gate-gpu-end'"
ja=$(cd /tmp && sbatch --parsable -A physics --comment enduse:climate --gres=gpu:1 -o /dev/null \
	"$T/gpujob.sh")
jb=$(cd /tmp && sbatch --parsable -A physics --comment enduse:climate --gres=gpu:1 -o /dev/null \
	"$T/gpujob.sh")
# Slurm reports a job RUNNING while its prolog may still be announcing it to the daemon: wait
# for the announcement itself.
announced() { jobs_json | json "[j for j in d if j['job']=='$1' and j['end_usec']==0]" | grep -q job; }
wait_for announced "$ja"
wait_for announced "$jb"
jobs_json >"$T/jobs2.json"
ga=$(json "[j['gpus'] for j in d if j['job']=='$ja'][0]" <"$T/jobs2.json")
gb=$(json "[j['gpus'] for j in d if j['job']=='$jb'][0]" <"$T/jobs2.json")
diag "job $ja GPUs '$ga', job $jb GPUs '$gb'"
check "each concurrent job is announced with one GPU of its own (GPUs $ga and $gb)" \
	test "$(printf '%s\n%s\n' "$ga" "$gb" | sort | tr '\n' ' ')" = "0 1 "
touch "$T/gate-gpu-open"
wait_for test -e "$T/done.$ja"
wait_for test -e "$T/done.$jb"
touch "$T/gate-gpu-end"
wait_for job_gone "$ja"
wait_for job_gone "$jb"
wait_readings # a reading after the jobs' ends
diag "job $ja opened: $(cat "$T/opened.$ja" 2>/dev/null) job $jb opened: $(cat "$T/opened.$jb" 2>/dev/null)"
check "Slurm let each job open its own device only" \
	test "$(cat "$T/opened.$ja" "$T/opened.$jb" 2>/dev/null | sort | tr '\n' ' ')" = "/dev/nvidia60 /dev/nvidia61 " -a \
	"$(wc -l <"$T/opened.$ja") $(wc -l <"$T/opened.$jb")" = "1 1"
"$HPCMETERCTL" usage --json >"$T/usage-gpu.json"
opens() { json "sum(u.get('gpu_dev_opens', 0) for u in d if u['job'] == '$1')" <"$T/usage-gpu.json"; }
check "the GPU meter charges one device open to job $ja and one to job $jb" \
	test "$(opens "$ja") $(opens "$jb")" = "1 1"

# 4. Licence terms on jobs, checked when the job starts (the prolog's announcement): a job under
# an account the licence does not permit, and one that declares no end use.
"$HPCMETERCTL" violations --json >"$T/v0.json"
check "the jobs so far, all permitted and declared, raised no violation" \
	test "$(json "len([v for v in d if v['job']])" <"$T/v0.json")" = 0
# Each runs until the test has seen its violation (its gate file).
jc=$(cd /tmp && sbatch --parsable -A chemistry --comment enduse:climate -o /dev/null \
	--wrap "while [ ! -e '$T/gate-c' ]; do sleep 0.1; done")
jd=$(cd /tmp && sbatch --parsable -A physics -o /dev/null \
	--wrap "while [ ! -e '$T/gate-d' ]; do sleep 0.1; done")
on_cleanup "touch '$T/gate-c' '$T/gate-d'"
violation_of() {
	"$HPCMETERCTL" violations --json |
		json "[v['kind'] for v in d if v['job'] == '$1' and v['license_id'] == 'SLURM-TEST-1']"
}
has_violation() { violation_of "$1" | grep -q "$2"; }
wait_for has_violation "$jc" unpermitted-account
check "job $jc under account chemistry raises unpermitted-account while it runs" \
	sh -c "[ \"\$(squeue -h -j $jc -o %T)\" = RUNNING ] || [ \"\$(squeue -h -j $jc -o %T)\" = CONFIGURING ]"
check "... and only that" test "$(violation_of "$jc")" = "['unpermitted-account']"
wait_for has_violation "$jd" undeclared-end-use
check "job $jd without an end-use declaration raises undeclared-end-use" \
	test "$(violation_of "$jd")" = "['undeclared-end-use']"
"$HPCMETERCTL" license explain SLURM-TEST-1 >"$T/explain.txt" 2>&1
diag "$(grep -i job "$T/explain.txt")"
touch "$T/gate-c" "$T/gate-d"
wait_for job_gone "$jc"
wait_for job_gone "$jd"

# 5. Announcements are validated: a bad job id and an unknown key are refused.
"$HPCMETERCTL" job start 12x 2>/dev/null
check "job start refuses a non-numeric job id (usage error)" test $? = 2
out=$("$HPCMETERCTL" job start 99999 --set colour=blue 2>&1)
check "JobStarted refuses an unknown key, naming it" grep -q "colour" <<<"$out"
out=$("$HPCMETERCTL" job start 99999 --set gpus=all 2>&1)
check "JobStarted refuses a malformed GPU list" grep -q "gpus" <<<"$out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$HPCMETERCTL" job start 5 2>&1)
check "an unprivileged caller cannot announce jobs" grep -qi "denied" <<<"$out"
diag "$out"

# 6. Jobs running when the daemon restarts keep their announcement: job $je holds a GPU and
# runs until the test has looked (gate-e).
je=$(cd /tmp && sbatch --parsable -A physics --comment enduse:climate --gres=gpu:1 -o /dev/null \
	--wrap "while [ ! -e '$T/gate-e' ]; do sleep 0.1; done")
on_cleanup "touch '$T/gate-e'"
wait_for announced "$je"
ge=$(jobs_json | json "[j['gpus'] for j in d if j['job']=='$je'][0]")
stop_daemon
start_daemon --licenses "$T/licenses" --interval 1 --cgroup-v1 freezer
running_gpus() { "$HPCMETERCTL" jobs --json | json "[j['gpus'] for j in d if j['job']=='$1' and j['end_usec']==0]"; }
check "after a restart, running job $je is still listed with its GPU ('$ge')" \
	test -n "$ge" -a "$(running_gpus "$je")" = "['$ge']"
touch "$T/gate-e"
wait_for job_gone "$je"

tap_done
