#!/bin/bash
# End to end on a private system-like bus: hpcmeterd meters this machine with a licence that
# permits one user; a process of another user and a prohibited executable must each raise a
# violation that `hpcmeterctl monitor --json` receives as a signal and `hpcmeterctl violations
# --json` lists with the right uid, executable, licence, cgroup and Slurm job. The daemon meters
# the whole node: other users' processes (a busy node, another test suite) may raise violations
# of their own meanwhile, so the checks pick this test's by process and executable, and hold
# the sequence numbers to their order, not to fixed values.
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
# daemon must find it at start, not wait for it to be scheduled. It sleeps until killed.
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep infinity &
SLEEPER=$!
_pids+=("$SLEEPER")
SLEEP_EXE=$(readlink -f "$(command -v sleep)")
wait_exec "$SLEEPER" "$SLEEP_EXE"

start_bus
start_daemon --licenses "$T/licenses" --interval 1
ok "hpcmeterd owns org.hpcmeter1 on the private bus with the shipped policy"
"$HPCMETERCTL" violations --json >"$T/early.json"
check "an idle process of nobody that predates the daemon is a violation from its start" \
	test "$(json "[(v['pid'], v['executable'], v['kind']) for v in d if v['pid'] == $SLEEPER]" <"$T/early.json")" = \
	"[($SLEEPER, '$SLEEP_EXE', 'unpermitted-user')]"
kill "$SLEEPER"

"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>"$T/monitor.err" &
MON=$!
_pids+=("$MON")
check "the monitor has subscribed to the signal" wait_subscribed "$MON"

# 1. A user who is not a principal runs something, inside the "Slurm job" cgroup.
sh -c "echo \$\$ > '$JOBCG/cgroup.procs' && exec setpriv --reuid=nobody --regid=nogroup --clear-groups '$T/bin/burn' 300" &&
	ok "a process of nobody ran in $JOBCG" || not_ok "a process of nobody ran in $JOBCG"

burn_signals() {
	grep '"kind":"unpermitted-user"' "$T/monitor.out" 2>/dev/null | grep -F "\"executable\":\"$KPREFIX$T/bin/burn\""
}
burn_signalled() { [ -n "$(burn_signals)" ]; }
check "monitor --json received the unpermitted-user signal" wait_for burn_signalled

line=$(burn_signals | head -1)
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
check "monitor received the prohibited-executable signal" wait_for grep -q "hpcm-prohibited-tool" "$T/monitor.out"
# ... and under an innocent name through a symlink: the real file is what counts.
"$T/bin/innocent-name"
check "a prohibited program run through a symlink is caught by its real path" \
	wait_for grep -q "sub/hpcm-prohibited-renamed" "$T/monitor.out"

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
# From the first violation it printed (before this test's burn ran: it had subscribed) to the
# last one listed, the monitor printed what the list has, in order.
check "monitor printed exactly what violations lists after it started" python3 -c '
import json, sys
listed = [v["seq"] for v in json.load(open(sys.argv[1]))]
printed = [s for s in (json.loads(l)["seq"] for l in open(sys.argv[2])) if s <= max(listed)]
sys.exit(0 if printed and printed == [s for s in listed if s >= printed[0]] else 1)' \
	"$T/violations.json" "$T/monitor.out"

# 4. The burned CPU shows up as usage of the job, within 1 % of the kernel's own count for the
# job's cgroup: all of it once the daemon has made a reading after the process's exit.
wait_readings
has_usage() { "$HPCMETERCTL" usage --json | json "sum(u['cpu_ns'] for u in d if u['job']=='4242')" >"$T/job_ns" && [ "$(cat "$T/job_ns")" -gt 0 ]; }
check "usage has CPU time for job 4242" wait_for has_usage
"$HPCMETERCTL" usage --json >"$T/usage.json"
check "usage row of job 4242 is user nobody in the job's cgroup" \
	test "$(json "[(u['user'],u['cgroup']) for u in d if u['job']=='4242'] == [('nobody','${JOBCG#"$CGMNT"}')]" <"$T/usage.json")" = True
ns=$(cat "$T/job_ns")
kernel=$(cgroup2_cpu_ns "$JOBCG")
used_03() { [ "$kernel" -ge 250000000 ] && [ "$kernel" -le 360000000 ] && within "$ns" "$kernel" 1; }
check "job 4242 used 0.3 s of CPU (metered $ns ns; the kernel's count for its cgroup: $kernel ns, within 1 %)" \
	used_03

# 5. Status is honest and the daemon stops cleanly, keeping everything.
last_seq() { "$HPCMETERCTL" violations --json | json "max(v['seq'] for v in d)"; }
before=$(last_seq)
"$HPCMETERCTL" status --json >"$T/status.json"
after=$(last_seq)
check "status reports the last violation (#$before..#$after) and no licence errors" python3 -c "
import json, sys
d = json.load(open('$T/status.json'))
sys.exit(0 if $before <= d['last_violation_seq'] <= $after and
         (d['license_errors'], d['licenses_active']) == (0, 1) else 1)"
check "status reports no ring-buffer drops" test "$(json "d['ringbuf_drops']" <"$T/status.json")" = 0
check "hpcmeterd exits 0 on SIGTERM" stop_daemon
kept=$(ledger_sql "$T/state/ledger.sqlite" "SELECT COUNT(*) || ' ' || MAX(seq) FROM violations")
check "the ledger keeps the violations after a stop (${kept% *} of them, #1 to #${kept#* })" \
	test "${kept% *}" = "${kept#* }" -a "${kept% *}" -ge "$after"
last=${kept#* }

# 6. A restart continues the sequence: monitors can back-fill from the last seq they saw.
start_daemon --licenses "$T/licenses" --interval 1
cp /bin/true "$T/bin/nobody-true"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/bin/nobody-true"
# since_last: the seq of this test's violation listed after #$last, when the list goes on
# from #$last without a hole.
since_last() {
	"$HPCMETERCTL" violations --json --after-seq "$last" | python3 -c '
import json, sys
d = json.load(sys.stdin)
mine = [v["seq"] for v in d if v["executable"] == sys.argv[2] and v["uid"] == 65534]
ok = mine and [v["seq"] for v in d] == list(range(int(sys.argv[1]) + 1, int(sys.argv[1]) + 1 + len(d)))
print(mine[0] if ok else "")' "$last" "$KPREFIX$T/bin/nobody-true"
}
restarted() { [ -n "$(since_last)" ]; }
check "after a restart the sequence goes on from #$last, with this test's next violation" wait_for restarted
seq=$(since_last)
check "the monitor kept receiving across the daemon restart (#$seq)" wait_for grep -q "\"seq\":$seq," "$T/monitor.out"
# A monitor asked for the violations since a time back-fills those raised from then on only.
tseq=$("$HPCMETERCTL" violations --json --after-seq "$((seq - 1))" | json "d[0]['time_usec']")
"$HPCMETERCTL" monitor --json --since "@${tseq%??????}.${tseq: -6}" >"$T/monitor-since.out" 2>/dev/null &
MON_SINCE=$!
check "monitor --since TIME back-fills the violation raised at TIME (#$seq)" \
	wait_for grep -q "\"seq\":$seq," "$T/monitor-since.out"
before_seq() { python3 -c '
import json, sys
sys.exit(1 if any(json.loads(l).get("seq", 1 << 62) < int(sys.argv[2]) for l in open(sys.argv[1]) if l.strip()) else 0)' "$T/monitor-since.out" "$seq"; }
check "  and none raised before it" before_seq
kill "$MON_SINCE"
wait "$MON_SINCE" 2>/dev/null

# 7. A name that is not valid UTF-8 cannot keep a violation off the bus: the bytes are escaped.
BADNAME=$T/bin/hpcm-prohibited-$'\xff\xfe'bad
cp /bin/true "$BADNAME"
"$BADNAME"
check "a prohibited program with an invalid UTF-8 name reaches the monitor, escaped" \
	wait_for grep -qF 'hpcm-prohibited-\\xff\\xfebad' "$T/monitor.out"
check "and violations lists it, after #$seq" \
	test "$("$HPCMETERCTL" violations --json --after-seq "$seq" | json "len([v for v in d if v['executable'].endswith(r'hpcm-prohibited-\xff\xfebad')])")" = 1
check "the table shows those bytes as the text \\xff\\xfe, never raw" \
	sh -c "'$HPCMETERCTL' violations --after-seq $seq | grep -qF 'hpcm-prohibited-\\xff\\xfebad'"

tap_done
