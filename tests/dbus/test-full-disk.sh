#!/bin/bash
# A state directory on a small tmpfs that fills up: the daemon keeps metering in memory, says
# the ledger is degraded (status, the LedgerState property, metrics), still raises and signals
# violations, and writes everything when space returns: no interval missing, the violation and
# the usage there, the chain verifies, the database intact.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, mount)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/state"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: FULL-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
# Room for the ledger to start (SQLite's WAL grows to 4 MiB before a checkpoint); then filled.
mount -t tmpfs -o size=16m tmpfs "$T/state" || skip_all "cannot mount a tmpfs"
on_cleanup "umount -l '$T/state'"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
CG=hpcmeter-full-$$
mkdir "$CGMNT/$CG"
on_cleanup "rmdir '$CGMNT/$CG'"
cp "$BUILD/tests/burn" "$T/burn-while-full"
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
state() { "$HPCMETERCTL" status --json | json "d['ledger_state']"; }
collections() { "$HPCMETERCTL" status --json | json "d['collections']"; }
collections_above() { [ "$(collections)" -gt "$1" ]; }
writable() { [ "$(state)" = ok ]; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1
# The meters' states on the bus: MeterStateChanged (with its seq) and the MeterStates property.
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" "type='signal',sender='org.hpcmeter1'" \
	>"$T/signals" 2>&1 &
_pids+=($!)
wait_for grep -q '"LastCollectUSec"' "$T/signals" # subscribed: it sees each interval's
wait_readings
check "the ledger starts writable" test "$(state)" = ok
meter_state() { grep -A4 'member=MeterStateChanged' "$T/signals" | grep -A1 '"ledger"' | grep -q "\"$1\""; }

# Fill the file system, then make the daemon write: an exec storm and a violation.
dd if=/dev/zero of="$T/state/fill" bs=64k 2>/dev/null
(while :; do /bin/true; done) &
STORM=$!
_pids+=("$STORM")
check "with the disk full the daemon says the ledger is degraded" \
	wait_for sh -c "'$HPCMETERCTL' status --json | grep -q '\"ledger_state\":\"degraded: No space left on device'"
diag "ledger_state: $(state)"
check "the LedgerState property says so too" sh -c "
	busctl --address='$DBUS_SYSTEM_BUS_ADDRESS' get-property org.hpcmeter1 /org/hpcmeter1 \
		org.hpcmeter1.Meter LedgerState | grep -q degraded"
check "and the metrics" sh -c "'$HPCMETERCTL' metrics | grep -q '^hpcmeter_ledger_degraded 1$'"
check "MeterStateChanged signalled ledger degraded" wait_for meter_state degraded
check "the MeterStates property says ledger degraded" sh -c "
	busctl --address='$DBUS_SYSTEM_BUS_ADDRESS' get-property org.hpcmeter1 /org/hpcmeter1 \
		org.hpcmeter1.Meter MeterStates | grep -q '\"ledger\" \"degraded\"'"
check "PropertiesChanged named MeterStates" grep -q '"MeterStates"' "$T/signals"
kill "$STORM"
wait "$STORM" 2>/dev/null
c0=$(collections)
chmod 755 "$T/burn-while-full"
"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>&1 &
MON=$!
_pids+=("$MON")
wait_subscribed "$MON"
sh -c "echo \$\$ >'$CGMNT/$CG/cgroup.procs' && exec setpriv --reuid=nobody --regid=nogroup --clear-groups '$T/burn-while-full' 500"
check "it keeps metering: collections go on" wait_for collections_above $((c0 + 2))
check "a violation is still raised and signalled while the disk is full" \
	wait_for grep -q 'burn-while-full' "$T/monitor.out"
check "the daemon is running" kill -0 "$DAEMON_PID"

# Space returns.
rm -f "$T/state/fill"
check "when space returns the ledger is writable again" wait_for writable
check "MeterStateChanged signalled ledger ok" wait_for meter_state ok
seqs=$(awk '/member=MeterStateChanged/ { getline; print $2 }' "$T/signals" | tr '\n' ' ')
diag "MeterStateChanged seqs: $seqs"
check "MeterStateChanged sequence numbers count up from 1" \
	test "$seqs" = "$(seq -s ' ' 1 "$(wc -w <<<"$seqs")") "
wait_readings
stop_daemon
check "the violation raised while full is in the ledger" \
	test "$(q "SELECT COUNT(*) FROM violations WHERE executable = '$T/burn-while-full'")" = 1
metered=$(q "SELECT COALESCE(SUM(cpu_ns), 0) FROM usage WHERE cgroup LIKE '%$CG%'")
kernel=$(cgroup2_cpu_ns "$CGMNT/$CG")
check "the 0.5 s burned while full is in the ledger ($metered ns; the kernel's count for its cgroup: $kernel ns, within 1 %)" \
	within "$metered" "$kernel" 1
check "no interval is missing: each starts where the one before ended" \
	test "$(q "SELECT COUNT(*) FROM intervals a WHERE a.id > (SELECT MIN(id) FROM intervals)
		AND NOT EXISTS (SELECT 1 FROM intervals b WHERE b.id = a.id - 1 AND b.end_usec = a.start_usec)")" = 0
check "the degraded state and its end are meter-state records" \
	test "$(q "SELECT group_concat(state) FROM meter_states WHERE meter = 'ledger'")" = "degraded,ok"
check_ledger_sound "$T/state"
tap_done
