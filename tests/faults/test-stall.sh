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
python3 - "$T/notify" "$T/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        data = s.recv(4096).decode(errors="replace")
        for line in data.splitlines():
            log.write("%.3f %s\n" % (time.monotonic(), line))
PY
_pids+=($!)
wait_for 5 test -S "$T/notify"
count() { grep -c " WATCHDOG=1" "$T/notify.log"; }
pinged() { [ "$(count)" -ge "$1" ]; }
covering() { q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-stalled' AND start_usec <= $1 AND end_usec >= $2"; }

start_bus
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 start_daemon --licenses "$T/licenses" --interval 1
wait_for 10 pinged 3
check "the watchdog is pinged" pinged 3

# Stopped for three watchdog periods, while a process of ours burns 1 s of CPU.
stop_at=$(now_usec)
kill -STOP "$DAEMON_PID"
sh -c "echo \$\$ >'$CGMNT/$CG/cgroup.procs' && exec '$BUILD/tests/burn' 1000"
sleep 0.3 # a ping in flight when the process stopped may still land
before=$(count)
sleep 2
after=$(count)
cont_at=$(now_usec)
kill -CONT "$DAEMON_PID"
check "no ping while stopped past the watchdog period ($before -> $after)" test "$before" = "$after"
check "pings resume after SIGCONT, without help" wait_for 10 pinged $((after + 2))
check "the stop became a daemon-stalled gap covering it" \
	wait_for 10 test "$(covering "$stop_at" "$cont_at")" = 1
diag "$(q "SELECT id, (end_usec - start_usec) / 1e6, detail FROM gaps WHERE cause = 'daemon-stalled'")"
check "the daemon answers on the bus" sh -c "'$HPCMETERCTL' status >/dev/null"

# Without a watchdog the loop must stall for 5 s.
stop_daemon
start_daemon --licenses "$T/licenses" --interval 1
sleep 1.2
stop2=$(now_usec)
kill -STOP "$DAEMON_PID"
sleep 7
cont2=$(now_usec)
kill -CONT "$DAEMON_PID"
check "without a watchdog, a 7 s stop is a daemon-stalled gap too" \
	wait_for 10 test "$(covering "$stop2" "$cont2")" = 1
sleep 1.5
stop_daemon

check "the 1 s burned while the daemon was stopped is in the ledger" \
	test "$(q "SELECT SUM(cpu_ns) >= 990000000 FROM usage WHERE cgroup LIKE '%$CG%'")" = 1
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
