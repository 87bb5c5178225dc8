#!/bin/bash
# SIGSTOP for longer than the watchdog. There is no systemd here (PID 1 is not systemd), so
# the test plays its part: it listens on NOTIFY_SOCKET with WATCHDOG_USEC set, as systemd would
# with WatchdogSec=, and sees the pings stop while the daemon is stopped (systemd would kill it
# there and restart it: that is the kill -9 case, tests/dbus/test-crash.sh). Here the process
# is continued instead: the pings resume, and the time the loop did not run is a
# "daemon-stalled" gap that covers the stop. Usage burned during the stop is in the ledger
# (the kernel counted it), no interval is missing, the chain verifies. Then the same without a
# watchdog (the 5 s default threshold).
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: STALL-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
CG=hpcmeter-stall-$$
mkdir "$CGMNT/$CG"
on_cleanup "rmdir '$CGMNT/$CG'"
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
now_usec() { date +%s%6N; }
start_notify_listener
count() { grep -c " WATCHDOG=1" "$T/notify.log"; }
pinged() { [ "$(count)" -ge "$1" ]; }
covering() { q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-stalled' AND start_usec <= $1 AND end_usec >= $2"; }

start_bus
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 start_daemon --licenses "$T/licenses" --interval 1
wait_for pinged 3
check "the watchdog is pinged" pinged 3

# Stopped for three watchdog periods, while a process of ours burns 1 s of CPU.
stop_at=$(now_usec)
kill -STOP "$DAEMON_PID"
wait_for is_stopped "$DAEMON_PID"
notify_sync # every ping sent before the stop is counted
before=$(count)
sh -c "echo \$\$ >'$CGMNT/$CG/cgroup.procs' && exec '$BUILD/tests/burn' 1000"
sleep 2 # the stop lasts past the watchdog period (1 s), however fast the burn was
notify_sync
after=$(count)
cont_at=$(now_usec)
kill -CONT "$DAEMON_PID"
check "no ping while stopped past the watchdog period ($before -> $after)" test "$before" = "$after"
check "pings resume after SIGCONT, without help" wait_for pinged $((after + 2))
covered() { [ "$(covering "$1" "$2")" = 1 ]; }
check "the stop became a daemon-stalled gap covering it" wait_for covered "$stop_at" "$cont_at"
diag "$(q "SELECT id, (end_usec - start_usec) / 1e6, detail FROM gaps WHERE cause = 'daemon-stalled'")"
check "the daemon answers on the bus" sh -c "'$HPCMETERCTL' status >/dev/null"

# Without a watchdog the loop must stall for 5 s.
stop_daemon
start_daemon --licenses "$T/licenses" --interval 1
wait_readings
stop2=$(now_usec)
kill -STOP "$DAEMON_PID"
sleep 7 # the fault: a stop past the 5 s threshold
cont2=$(now_usec)
kill -CONT "$DAEMON_PID"
check "without a watchdog, a 7 s stop is a daemon-stalled gap too" \
	wait_for covered "$stop2" "$cont2"
wait_readings
stop_daemon

metered=$(q "SELECT COALESCE(SUM(cpu_ns), 0) FROM usage WHERE cgroup LIKE '%$CG%'")
kernel=$(cgroup2_cpu_ns "$CGMNT/$CG")
check "the 1 s burned while the daemon was stopped is in the ledger ($metered ns; the kernel's count for its cgroup: $kernel ns, within 1 %)" \
	within "$metered" "$kernel" 1
check "no interval is missing within each run" \
	test "$(q "SELECT COUNT(*) FROM intervals a WHERE a.id > (SELECT MIN(id) FROM intervals)
		AND NOT EXISTS (SELECT 1 FROM intervals b WHERE b.id = a.id - 1 AND b.end_usec = a.start_usec)
		AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.cause = 'daemon-stopped' AND g.end_usec >= a.start_usec
			AND g.start_usec <= a.start_usec)")" = 0
"$HPCMETERCTL" ledger verify --state-dir "$T/state" >"$T/verify.out"
rc=$?
diag "$(cat "$T/verify.out")"
check "the chain verifies" test "$rc" = 0
tap_done
