#!/bin/bash
# The system bus restarts under the daemon (dbus-daemon stopped, started again on the same
# address), three times, the last one after a longer outage (the back-off). hpcmeterd does not
# exit: it meters on and writes its ledger while the bus is away, reconnects alone, owns its
# name again and answers; a violation raised while the bus was away is in the ledger, and one
# raised after the return is signalled. No interval is missing, the chain verifies, no gap.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: BUS-RESTART-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-busfault-*"]
EOY
for i in 1 2 3 4 5 6; do cp /bin/sleep "$T/bin/hpcm-busfault-$i"; done
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
intervals() { q "SELECT COUNT(*) FROM intervals"; }
intervals_above() { [ "$(intervals)" -gt "$1" ]; }
violations_of() { q "SELECT COUNT(*) FROM violations WHERE executable LIKE '%/$1'"; }
in_ledger() { [ "$(violations_of "$1")" -ge 1 ]; }
answers() { "$HPCMETERCTL" status >/dev/null 2>&1; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1
n=1
for outage in 0 0 4; do
	kill "$BUS_PID"
	wait "$BUS_PID" 2>/dev/null
	i0=$(intervals)
	# While the bus is away: a violation (ledger only), and the intervals go on.
	"$T/bin/hpcm-busfault-$n" 0.2
	check "restart $n: with the bus away the daemon keeps metering (intervals go on)" \
		wait_for intervals_above $((i0 + 1))
	check "restart $n: the violation raised with the bus away is in the ledger" \
		wait_for in_ledger "hpcm-busfault-$n"
	check "restart $n: the daemon is still running" kill -0 "$DAEMON_PID"
	[ "$outage" = 0 ] || sleep "$outage" # the fault: the bus stays away that long
	_bus_run # the bus again, on the same socket and configuration (tests/lib.sh)
	check "restart $n: it is back on the bus and answers, alone" wait_for answers
	n=$((n + 1))
	"$HPCMETERCTL" monitor --json >"$T/monitor-$n.out" 2>&1 &
	MON=$!
	_pids+=("$MON")
	wait_subscribed "$MON"
	"$T/bin/hpcm-busfault-$n" 0.2
	check "restart $((n - 1)): a violation raised after the return is signalled" \
		wait_for grep -q "hpcm-busfault-$n" "$T/monitor-$n.out"
	kill "$MON"
	n=$((n + 1))
done
check "the daemon's name has one owner, the daemon" test "$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" \
	status org.hpcmeter1 2>/dev/null | awk -F= '$1 == "PID" { print $2 }')" = "$DAEMON_PID"
stop_daemon
diag "$(grep -E 'system bus' "$T/hpcmeterd.log")"
check "each loss and each return of the bus is a meter-state record" \
	test "$(q "SELECT group_concat(state) FROM meter_states WHERE meter = 'bus'")" = \
	"disconnected,connected,disconnected,connected,disconnected,connected"
check "every violation is in the ledger once (6 programs, 6 violations)" \
	test "$(q "SELECT COUNT(*) FROM violations WHERE executable LIKE '%/hpcm-busfault-%'")" = 6
check "no interval is missing: each starts where the one before ended" \
	test "$(q "SELECT COUNT(*) FROM intervals a WHERE a.id > (SELECT MIN(id) FROM intervals)
		AND NOT EXISTS (SELECT 1 FROM intervals b WHERE b.id = a.id - 1 AND b.end_usec = a.start_usec)")" = 0
# (A loop starved for 5 s on a loaded machine would be a daemon-stalled gap, truthfully.)
check "metering never stopped: no gap" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE cause != 'daemon-stalled'")" = 0
"$HPCMETERCTL" ledger verify --state-dir "$T/state" >"$T/verify.out"
rc=$?
diag "$(cat "$T/verify.out")"
check "the chain verifies" test "$rc" = 0

# No bus at all when the daemon starts: it starts, meters, and is on the bus once there is one.
kill "$BUS_PID"
wait "$BUS_PID" 2>/dev/null
rm -rf "$T/state"
"$HPCMETERD" --state-dir "$T/state" --bpf-pin-dir "" --licenses "$T/licenses" --interval 1 \
	>>"$T/hpcmeterd.log" 2>&1 &
DAEMON_PID=$!
_pids+=("$DAEMON_PID")
ledger_there() { [ "$(intervals 2>/dev/null)" -gt 1 ] 2>/dev/null; }
check "started without a bus, the daemon meters (intervals in its ledger)" wait_for ledger_there
check "and keeps running" kill -0 "$DAEMON_PID"
_bus_run # the bus again, on the same socket and configuration (tests/lib.sh)
check "once the bus is there, it is on it and answers" wait_for answers
stop_daemon
check "its first bus state is the connection" \
	test "$(q "SELECT group_concat(state) FROM meter_states WHERE meter = 'bus'")" = connected
tap_done
