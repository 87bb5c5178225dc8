#!/bin/bash
# The state directory's file system turns read-only under the daemon, as ext4 does on an error
# with errors=remount-ro: an ext4 image (no journal) on a loop device, and its
# trigger_fs_error. Every write, through the descriptors the daemon holds too, then fails with
# EROFS. The daemon does not crash or stop metering: the ledger is degraded (SQLite says "disk
# I/O error"; status and metrics), records wait in memory, violations are still raised and
# signalled. ext4 does not let such a file system be made writable again while mounted, so
# the operator's way back is: stop the daemon, unmount, fsck, mount, start. Then nothing that
# was committed before the error is lost, the chain verifies, and the time whose records were
# only in memory is a daemon-down gap, bounded like any other.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, mount)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v mkfs.ext4 >/dev/null || skip_all "no mkfs.ext4"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin" "$T/state"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: RO-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-while-ro"]
EOY
cp /bin/true "$T/bin/hpcm-while-ro"
truncate -s 64M "$T/state.img"
mkfs.ext4 -q -O ^has_journal "$T/state.img" || skip_all "mkfs.ext4 failed"
mount -o loop,errors=remount-ro "$T/state.img" "$T/state" || skip_all "cannot mount a loop device"
on_cleanup "umount '$T/state' 2>/dev/null"
DEV=$(findmnt -no SOURCE "$T/state")
TRIGGER=/sys/fs/ext4/${DEV##*/}/trigger_fs_error
[ -w "$TRIGGER" ] || skip_all "no $TRIGGER"
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
now_usec() { date +%s%6N; }
state() { "$HPCMETERCTL" status --json | json "d['ledger_state']"; }
collections() { "$HPCMETERCTL" status --json | json "d['collections']"; }
collections_above() { [ "$(collections)" -gt "$1" ]; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1
wait_readings # an interval is committed
check "the ledger starts writable" test "$(state)" = ok
# What is committed now (one snapshot), then the file system error.
snap=$(q "SELECT seq || ':' || hex(hash) || ':' || (SELECT COUNT(*) FROM chain) FROM chain ORDER BY seq DESC LIMIT 1")
head=${snap%:*}
n0=${snap##*:}
echo "hpcmeter fault test" >"$TRIGGER"
error_at=$(now_usec)
check "the file system is read-only now" sh -c "! touch '$T/state/probe' 2>/dev/null"
"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>&1 &
MON=$!
_pids+=("$MON")
wait_subscribed "$MON"
"$T/bin/hpcm-while-ro"
# SQLite reports a write that failed with EROFS as a disk I/O error (SQLITE_IOERR_WRITE).
check "the daemon says the ledger is degraded" \
	wait_for sh -c "'$HPCMETERCTL' status --json | grep -q '\"ledger_state\":\"degraded: '"
diag "ledger_state: $(state)"
diag "$(grep -m3 -E "ledger.*(error|cannot)" "$T/hpcmeterd.log")"
check "and the metrics" sh -c "'$HPCMETERCTL' metrics | grep -q '^hpcmeter_ledger_degraded 1$'"
check "a violation is still raised and signalled" wait_for grep -q 'hpcm-while-ro' "$T/monitor.out"
c0=$(collections)
check "it keeps metering: collections go on" wait_for collections_above $((c0 + 2))
check "the daemon is running" kill -0 "$DAEMON_PID"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
check "it stops cleanly on SIGTERM, read-only or not" test $? = 0

# The operator's way back.
umount "$T/state"
e2fsck -fy "$T/state.img" >"$T/fsck.out" 2>&1
diag "e2fsck: exit $?"
mount -o loop,errors=remount-ro "$T/state.img" "$T/state"
start_daemon --licenses "$T/licenses" --interval 1
check "started again on the repaired file system, the ledger is writable" test "$(state)" = ok
wait_readings
stop_daemon
check_committed_kept "$T/state" "$head" "$n0" "before the error"
check "a daemon-down gap covers the read-only time" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-down' AND start_usec <= $error_at AND end_usec >= $error_at")" = 1
diag "$(q "SELECT cause, (end_usec - start_usec) / 1e6, detail FROM gaps")"
check_ledger_sound "$T/state"
tap_done
