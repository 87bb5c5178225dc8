#!/bin/bash
# The ledger survives the daemon: kill -9 in the middle of heavy writing, 20 times. After each
# restart every record committed before the kill is still there unchanged, the hash chain
# verifies, a daemon-down gap covers the time the daemon was away, and the counters continue:
# CPU time burned in the interval in flight is in the ledger after the restart, once (from the
# scheduler's own counter and the previous run's baseline; the maps pinned in bpffs are reused).
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, bpffs)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: CRASH-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
bpffs_init
[ -n "$BPF_PIN_DIR" ] || skip_all "cannot mount a bpf file system"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
CG=hpcmeter-crash-$$
mkdir "$CGMNT/$CG"
BURNER=
on_cleanup 'kill -9 $BURNER 2>/dev/null; wait $BURNER 2>/dev/null; rmdir "$CGMNT/$CG"'
LEDGER=$T/state/ledger.sqlite

# q SQL: query the ledger read-only (the daemon may be writing).
q() { ledger_sql "$LEDGER" "$1"; }
now_usec() { date +%s%6N; }
kill9() {
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
}
# burner SECONDS: a process in our cgroup that burns SECONDS of CPU, says so, then sleeps
# until it is killed.
burner() {
	rm -f "$T/burned"
	sh -c "echo \$\$ > '$CGMNT/$CG/cgroup.procs' && exec python3 -c '
import signal, time
while time.process_time() < $1: pass
open(\"$T/burned\", \"w\").close()
while True: signal.pause()'" &
	BURNER=$!
	_pids+=("$BURNER")
	wait_file "$T/burned" || { echo "Bail out! the burner did not burn $1 s"; exit 1; }
}
cg_cpu() { q "SELECT COALESCE(SUM(cpu_ns), 0) FROM usage WHERE cgroup LIKE '%$CG%'"; }

start_bus

# 1. The interval in flight: a long interval, 1.5 s burned in it, kill -9, restart.
start_daemon --licenses "$T/licenses" --interval 3600
burner 1.5
before=$(cg_cpu)
kill9
check "the counter maps are pinned in this test's own bpffs" test -e "$BPF_PIN_DIR/procs"
start_daemon --licenses "$T/licenses" --interval 3600
after=$(cg_cpu)
diag "CPU of the test cgroup in the ledger: $before ns before the kill, $after ns after the restart"
check "counters continue: the 1.5 s burned in the interval in flight is in the ledger, once" \
	test "$after" -ge $((before + 1400000000)) -a "$after" -le $((before + 1800000000))
check "status says the pinned maps were reused" \
	test "$("$HPCMETERCTL" status --json | json "d['maps_reused']")" = 1
kill "$BURNER"

# The same without pinned maps: the scheduler's counter of a living process and the baseline
# in the ledger are enough for it.
stop_daemon
start_daemon --licenses "$T/licenses" --interval 3600 --bpf-pin-dir ""
burner 1.5
before=$(cg_cpu)
kill9
start_daemon --licenses "$T/licenses" --interval 3600 --bpf-pin-dir ""
after=$(cg_cpu)
check "without pinned maps too: counted once ($before -> $after ns)" \
	test "$after" -ge $((before + 1400000000)) -a "$after" -le $((before + 1800000000))
check "and the maps were not reused" \
	test "$("$HPCMETERCTL" status --json | json "d['maps_reused']")" = 0
kill "$BURNER"
stop_daemon

# 2. Twenty kills in the middle of heavy writing: one-second intervals, an exec storm (process
# records), and a burner.
start_daemon --licenses "$T/licenses" --interval 1
(while :; do /bin/true; done) &
STORM=$!
_pids+=("$STORM")
burner 0.1
heads=()
kills=()
for i in $(seq 20); do
	# The kill comes at a random moment of the writing (the fault, not a wait: nothing is
	# asserted about what the daemon did by then).
	sleep "0.$((RANDOM % 6 + 3))"
	# The head of the chain as committed right now, then the kill.
	heads+=("$(q "SELECT seq || ':' || hex(hash) FROM chain ORDER BY seq DESC LIMIT 1")")
	kill9
	kills+=("$(now_usec)") # after its death: the gap runs from its last heartbeat to the restart
	start_daemon --licenses "$T/licenses" --interval 1
done
kill "$STORM"
kill "$BURNER"
wait_readings 2
stop_daemon
diag "$(q "SELECT COUNT(*) || ' chain records, ' || (SELECT COUNT(*) FROM process_records) || ' process records, ' || (SELECT COUNT(*) FROM intervals) || ' intervals' FROM chain")"

missing=0
for h in "${heads[@]}"; do
	seq=${h%%:*}
	got=$(q "SELECT seq || ':' || hex(hash) FROM chain WHERE seq = $seq")
	[ "$got" = "$h" ] || { missing=$((missing + 1)); diag "record $seq: was $h, now '$got'"; }
done
check "every record committed before each of the 20 kills is there, unchanged" test "$missing" = 0
"$HPCMETERCTL" ledger verify --state-dir "$T/state" >"$T/verify.out"
rc=$?
diag "$(cat "$T/verify.out")"
check "the chain verifies after 20 kills" test "$rc" = 0
check "the database is intact (integrity_check)" test "$(q "PRAGMA integrity_check")" = ok

uncovered=0
for k in "${kills[@]}"; do
	n=$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-down' AND start_usec <= $k AND end_usec >= $k")
	[ "$n" = 1 ] || { uncovered=$((uncovered + 1)); diag "kill at $k covered by $n gaps"; }
done
check "each kill is covered by exactly one daemon-down gap" test "$uncovered" = 0
check "22 daemon-down gaps in all (20 in the loop, 2 above)" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-down'")" = 22
check "each gap bounds the usage: cores × duration" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE bound_cpu_ns != (end_usec - start_usec) * 1000 * $(getconf _NPROCESSORS_CONF)")" = 0
check "the clean stops are daemon-stopped gaps, not crashes" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-stopped'")" = 2
tap_done
