#!/bin/bash
# Another process holds the ledger's write lock: the sqlite3 CLI in BEGIN EXCLUSIVE for 8 s,
# while processes exec and a violation is raised. The daemon does not crash or stop metering:
# its ledger is degraded while locked (status, the metrics), the records wait in memory, and
# when the lock is released they are written, in order: no interval missing, the violation
# there, the chain verifies.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v sqlite3 >/dev/null || skip_all "no sqlite3 command"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: LOCKED-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-while-locked"]
EOY
cp /bin/true "$T/bin/hpcm-while-locked"
LEDGER=$T/state/ledger.sqlite
q() { ledger_sql "$LEDGER" "$1"; }
state() { "$HPCMETERCTL" status --json | json "d['ledger_state']"; }
collections() { "$HPCMETERCTL" status --json | json "d['collections']"; }
collections_above() { [ "$(collections)" -gt "$1" ]; }
writable() { [ "$(state)" = ok ]; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1
wait_readings # an interval is committed
check "the ledger starts writable" test "$(state)" = ok
n_before=$(q "SELECT COUNT(*) FROM chain")

# The lock: the sqlite3 CLI holds BEGIN EXCLUSIVE until we tell it to commit. In WAL mode
# SQLite may answer BUSY at once, without its busy timeout, when the daemon commits at that
# moment: with .bail on the CLI then exits, and we try again.
mkfifo "$T/cli.in"
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	sqlite3 "$LEDGER" <"$T/cli.in" >"$T/cli.out" 2>&1 &
	CLI=$!
	exec 7>"$T/cli.in"
	printf '.bail on\n.timeout 20000\nBEGIN EXCLUSIVE;\nSELECT '"'"'lock-held'"'"';\n' >&7
	# (not "locked": SQLite's "database is locked" has that word)
	wait_for sh -c "grep -qx lock-held '$T/cli.out' || ! kill -0 $CLI 2>/dev/null"
	grep -qx lock-held "$T/cli.out" && break
	diag "attempt $attempt: $(cat "$T/cli.out")"
	exec 7>&-
	wait "$CLI" 2>/dev/null
done
_pids+=("$CLI")
check "the sqlite3 CLI holds the exclusive lock" grep -qx lock-held "$T/cli.out"
(while :; do /bin/true; done) &
STORM=$!
_pids+=("$STORM")
"$T/bin/hpcm-while-locked"
check "while locked the daemon says the ledger is degraded" \
	wait_for sh -c "'$HPCMETERCTL' status --json | grep -q '\"ledger_state\":\"degraded: Device or resource busy'"
diag "ledger_state: $(state)"
check "and the metrics" sh -c "'$HPCMETERCTL' metrics | grep -q '^hpcmeter_ledger_degraded 1$'"
c0=$(collections)
check "it keeps metering while locked: collections go on" wait_for collections_above $((c0 + 2))
check "the daemon is running" kill -0 "$DAEMON_PID"
kill "$STORM"
wait "$STORM" 2>/dev/null
# Release: the CLI commits and ends.
printf 'COMMIT;\n' >&7
exec 7>&-
wait "$CLI"
check "when the lock is released the ledger is writable again" wait_for writable
wait_readings
stop_daemon
diag "$(grep -E 'ledger' "$T/hpcmeterd.log" | sort | uniq -c | head)"
check "the records kept in memory were written: more than before the lock" \
	test "$(q "SELECT COUNT(*) FROM chain")" -gt "$n_before"
check "the violation raised while locked is in the ledger" \
	test "$(q "SELECT COUNT(*) FROM violations WHERE executable = '$T/bin/hpcm-while-locked'")" = 1
check "no interval is missing: each starts where the one before ended" \
	test "$(q "SELECT COUNT(*) FROM intervals a WHERE a.id > (SELECT MIN(id) FROM intervals)
		AND NOT EXISTS (SELECT 1 FROM intervals b WHERE b.id = a.id - 1 AND b.end_usec = a.start_usec)")" = 0
check "the degraded state and its end are meter-state records" \
	test "$(q "SELECT group_concat(state) FROM meter_states WHERE meter = 'ledger'")" = "degraded,ok"
check_ledger_sound "$T/state"
tap_done
