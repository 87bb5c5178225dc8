#!/bin/bash
# End to end on a private system-like bus: hpcmeterd meters this machine with a licence that
# permits one user; a process of another user and a prohibited executable must each raise a
# violation that `hpcmeterctl monitor --json` receives as a signal and `hpcmeterctl violations
# --json` lists with the right uid, executable, licence, cgroup and Slurm job.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

OK_USER=hpcmtest-ok
if ! id "$OK_USER" >/dev/null 2>&1; then
	useradd --no-create-home --shell /usr/sbin/nologin "$OK_USER" ||
		{ echo "Bail out! cannot create user $OK_USER"; exit 1; }
	on_cleanup "userdel $OK_USER"
fi

mkdir -p "$T/licenses" "$T/bin/sub"
cat >"$T/licenses/test.yaml" <<EOY
license:
  id: TEST-LIC-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals:
    users: [root, $OK_USER]
  end_use:
    prohibited_executables: ["*/hpcm-prohibited-*"]
EOY
cp "$BUILD/tests/burn" "$T/bin/burn"
cp /bin/true "$T/bin/hpcm-prohibited-tool"
cp /bin/true "$T/bin/sub/hpcm-prohibited-renamed"
ln -s sub/hpcm-prohibited-renamed "$T/bin/innocent-name"

# A cgroup laid out like a Slurm job's, so attribution must find job 4242.
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || { echo "Bail out! no cgroup2 mount"; exit 1; }
JOBCG=$CGMNT/hpcmeter-test-$$/slurm/uid_65534/job_4242/step_0
mkdir -p "$JOBCG"
on_cleanup "rmdir -p --ignore-fail-on-non-empty '$JOBCG' 2>/dev/null; rmdir '$JOBCG' '$CGMNT/hpcmeter-test-$$/slurm/uid_65534/job_4242' '$CGMNT/hpcmeter-test-$$/slurm/uid_65534' '$CGMNT/hpcmeter-test-$$/slurm' '$CGMNT/hpcmeter-test-$$' 2>/dev/null"

# 0. A process of a non-permitted user that started before the daemon and stays idle: the
# daemon must find it at start, not wait for it to be scheduled.
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 120 &
SLEEPER=$!
_pids+=("$SLEEPER")
SLEEP_EXE=$(readlink -f "$(command -v sleep)")

start_bus
start_daemon --licenses "$T/licenses" --interval 1
ok "hpcmeterd owns org.hpcmeter1 on the private bus with the shipped policy"
"$HPCMETERCTL" violations --json >"$T/early.json"
check "an idle process of nobody that predates the daemon is violation #1" \
	test "$(json "[(v['seq'], v['pid'], v['executable'], v['kind']) for v in d]" <"$T/early.json")" = \
	"[(1, $SLEEPER, '$SLEEP_EXE', 'unpermitted-user')]"
kill "$SLEEPER"

"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>"$T/monitor.err" &
MON=$!
_pids+=("$MON")
check "the monitor has subscribed to the signal" wait_subscribed "$MON"

# 1. A user who is not a principal runs something, inside the "Slurm job" cgroup.
sh -c "echo \$\$ > '$JOBCG/cgroup.procs' && exec setpriv --reuid=nobody --regid=nogroup --clear-groups '$T/bin/burn' 300" &&
	ok "a process of nobody ran in $JOBCG" || not_ok "a process of nobody ran in $JOBCG"

has_violation() { grep -q "\"kind\":\"$1\".*\"uid\":$2," "$T/monitor.out" 2>/dev/null; }
check "monitor --json received the unpermitted-user signal" wait_for 10 has_violation unpermitted-user 65534

line=$(grep '"kind":"unpermitted-user"' "$T/monitor.out" | head -1)
diag "$line"
field() { json "d['$1']" <<<"$line"; }
check "signal: licence TEST-LIC-1" test "$(field license_id)" = TEST-LIC-1
check "signal: uid 65534, user nobody" test "$(field uid)/$(field user)" = 65534/nobody
check "signal: executable is the real path of burn" test "$(field executable)" = "$KPREFIX$T/bin/burn"
check "signal: Slurm job 4242 from the cgroup path" test "$(field job)" = 4242
check "signal: cgroup path" test "$(field cgroup)" = "${JOBCG#"$CGMNT"}"

# 2. A permitted user (uid >= uid_min) raises nothing.
setpriv --reuid="$OK_USER" --regid=nogroup --clear-groups /bin/true

# 3. A prohibited executable, run by root (prohibited programs apply to every uid).
"$T/bin/hpcm-prohibited-tool"
check "monitor received the prohibited-executable signal" wait_for 10 grep -q "hpcm-prohibited-tool" "$T/monitor.out"
# ... and under an innocent name through a symlink: the real file is what counts.
"$T/bin/innocent-name"
check "a prohibited program run through a symlink is caught by its real path" \
	wait_for 10 grep -q "sub/hpcm-prohibited-renamed" "$T/monitor.out"

"$HPCMETERCTL" violations --json >"$T/violations.json"
check "violations --json is valid JSON" python3 -m json.tool "$T/violations.json" /dev/null
diag "$(cat "$T/violations.json")"
count() { json "len([v for v in d if $1])" <"$T/violations.json"; }
check "violations lists the unpermitted user with uid, executable and licence" \
	test "$(count "v['kind']=='unpermitted-user' and v['uid']==65534 and v['executable']=='$KPREFIX$T/bin/burn' and v['license_id']=='TEST-LIC-1' and v['job']=='4242'")" = 1
check "violations lists the prohibited executable" \
	test "$(count "v['kind']=='prohibited-executable' and v['uid']==0 and v['executable']=='$KPREFIX$T/bin/hpcm-prohibited-tool' and v['license_id']=='TEST-LIC-1'")" = 1
check "violations lists the symlinked prohibited executable by its real path" \
	test "$(count "v['kind']=='prohibited-executable' and v['executable']=='$KPREFIX$T/bin/sub/hpcm-prohibited-renamed'")" = 1
check "the permitted user raised nothing" test "$(count "v['user']=='$OK_USER'")" = 0
check "root raised no principal violation (system accounts are exempt)" \
	test "$(count "v['kind']=='unpermitted-user' and v['uid']==0")" = 0
check "sequence numbers are 1..N in order" \
	test "$(json "[v['seq'] for v in d] == list(range(1, len(d)+1))" <"$T/violations.json")" = True
check "monitor printed exactly what violations lists after it started" \
	test "$(json "[v['seq'] for v in d if v['seq'] > 1]" <"$T/violations.json")" = \
	"$(python3 -c "import json,sys; print([json.loads(l)['seq'] for l in open('$T/monitor.out')])")"

# 4. The burned CPU shows up as usage of the job, within 5 % of the kernel's own count.
has_usage() { "$HPCMETERCTL" usage --json | json "sum(u['cpu_ns'] for u in d if u['job']=='4242')" >"$T/job_ns" && [ "$(cat "$T/job_ns")" -gt 0 ]; }
check "usage has CPU time for job 4242" wait_for 10 has_usage
"$HPCMETERCTL" usage --json >"$T/usage.json"
check "usage row of job 4242 is user nobody in the job's cgroup" \
	test "$(json "[(u['user'],u['cgroup']) for u in d if u['job']=='4242'] == [('nobody','${JOBCG#"$CGMNT"}')]" <"$T/usage.json")" = True
ns=$(cat "$T/job_ns")
check "job 4242 used 0.3 s of CPU (metered $ns ns)" test "$ns" -ge 285000000 -a "$ns" -le 360000000

# 5. Status is honest and the daemon stops cleanly, keeping everything.
"$HPCMETERCTL" status --json >"$T/status.json"
check "status reports the violations and no licence errors" \
	test "$(json "(d['last_violation_seq'], d['license_errors'], d['licenses_active'])" <"$T/status.json")" = "(4, 0, 1)"
check "status reports no ring-buffer drops" test "$(json "d['ringbuf_drops']" <"$T/status.json")" = 0
check "hpcmeterd exits 0 on SIGTERM" stop_daemon
check "the ledger keeps the violations after a stop" \
	test "$(python3 -c "import sqlite3; print(sqlite3.connect('$T/state/ledger.sqlite').execute('select count(*) from violations').fetchone()[0])")" = 4

# 6. A restart continues the sequence: monitors can back-fill from the last seq they saw.
start_daemon --licenses "$T/licenses" --interval 1
setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true
has_seq5() { "$HPCMETERCTL" violations --json --after-seq 4 | json "[v['seq'] for v in d]" | grep -q '^\[5\]$'; }
check "after a restart the next violation is #5 and --after-seq 4 returns only it" wait_for 10 has_seq5
check "the monitor kept receiving across the daemon restart (#5)" wait_for 10 grep -q '"seq":5,' "$T/monitor.out"
# A monitor asked for the violations since a time back-fills those raised from then on only.
t5=$("$HPCMETERCTL" violations --json --after-seq 4 | json "d[0]['time_usec']")
"$HPCMETERCTL" monitor --json --since "@${t5%??????}.${t5: -6}" >"$T/monitor-since.out" 2>/dev/null &
MON_SINCE=$!
check "monitor --since TIME back-fills the violation raised at TIME (#5)" \
	wait_for 10 grep -q '"seq":5,' "$T/monitor-since.out"
check "  and none raised before it (#1 to #4)" sh -c "! grep -q '\"seq\":[1-4],' '$T/monitor-since.out'"
kill "$MON_SINCE"
wait "$MON_SINCE" 2>/dev/null

# 7. A name that is not valid UTF-8 cannot keep a violation off the bus: the bytes are escaped.
BADNAME=$T/bin/hpcm-prohibited-$'\xff\xfe'bad
cp /bin/true "$BADNAME"
"$BADNAME"
check "a prohibited program with an invalid UTF-8 name reaches the monitor, escaped" \
	wait_for 10 grep -qF 'hpcm-prohibited-\\xff\\xfebad' "$T/monitor.out"
check "and violations lists it as #6" \
	test "$("$HPCMETERCTL" violations --json --after-seq 5 | json "[(v['seq'], v['executable'].endswith(r'hpcm-prohibited-\xff\xfebad')) for v in d]")" = "[(6, True)]"
check "the table shows those bytes as the text \\xff\\xfe, never raw" \
	sh -c "'$HPCMETERCTL' violations --after-seq 5 | grep -qF 'hpcm-prohibited-\\xff\\xfebad'"

tap_done
