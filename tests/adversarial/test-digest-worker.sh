#!/bin/bash
# Evasion, the digest's cost: hpcmeterd hashes a large program (end_use.
# prohibited_executable_sha256) in a worker thread, never in its event loop. The program is
# served from a FUSE file (gatefs) whose reads past its head wait until the test opens a gate,
# so the digest is held pending for as long as the test wants, on any machine and under any
# load: no timing is assumed. Proven: the daemon answers on the bus while the digest is
# pending (its loop is not held by the read); the violation comes when the digest is back,
# also for a process that exited meanwhile; a process that exec'd another program meanwhile
# is caught for the program it ran, and its new program is not given that digest; a stop with
# one digest being read and one queued ends cleanly (the worker joined, under ASan no leak).
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, FUSE)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$BUILD/tests/gatefs" ] || { echo "Bail out! build $BUILD/tests/gatefs first (make check)"; exit 1; }
echo "TAP version 13"

# The prohibited program: a shell, made unique and padded past the daemon's in-line limit
# (exehash.h EXEHASH_SYNC_MAX, 1 MiB) with zeros after its ELF image (which never reads them).
mkdir -p "$T/licenses" "$T/mnt"
cp /bin/sh "$T/big"
printf 'hpcm-digest-worker %s\n' "$T" >>"$T/big"
truncate -s 16M "$T/big"
BIG_SHA=$(sha256sum "$T/big" | cut -d' ' -f1)
cat >"$T/licenses/digest.yaml" <<EOY
license:
  id: DIGEST-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executable_sha256: [$BIG_SHA]
EOY

start_bus
# Every exec and exit a record of its own (process_records = all): the test follows each
# process's exec and exit through the ledger.
echo "process_records = all" >"$T/all.conf"
start_daemon --config "$T/all.conf" --licenses "$T/licenses" --interval 1

# Reads past 4 MiB wait for $T/gate; cleanup opens it first, so that the daemon can stop.
"$BUILD/tests/gatefs" "$T/big" $((4 << 20)) "$T/gate" "$T/mnt" >>"$T/gatefs.log" 2>&1 &
GATEFS=$!
on_cleanup "touch '$T/gate'; umount -l '$T/mnt' 2>/dev/null; kill $GATEFS 2>/dev/null; wait $GATEFS 2>/dev/null"
wait_for test -e "$T/mnt/prog" || { echo "Bail out! gatefs did not mount"; cat "$T/gatefs.log"; exit 1; }
PROG=$T/mnt/prog
AS_UID="setpriv --clear-groups --reuid"

status() { "$HPCMETERCTL" status --json | json "d['$1']"; }
# caught PID EXECUTABLE: the digest's violation for that process and executable.
caught() {
	"$HPCMETERCTL" violations --json 2>/dev/null | python3 -c '
import json, sys
pid, exe = int(sys.argv[1]), sys.argv[2]
sys.exit(0 if any(v["kind"] == "prohibited-executable" and v["pid"] == pid and
                  v["executable"] == exe and "prohibited SHA-256" in v["detail"]
                  for v in json.load(sys.stdin)) else 1)' "$1" "$2"
}
digest_violations() {
	"$HPCMETERCTL" violations --json 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for v in json.load(sys.stdin) if "prohibited SHA-256" in v["detail"]))'
}
# in_ledger EVENT PID: the daemon has handled that exec or exit record (it is in the ledger,
# committed after the loop's turn that handled it: an exec's evaluation, an exit's removal).
in_ledger() {
	python3 - "$(status ledger)" "$1" "$2" <<'EOPY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
n = db.execute("SELECT COUNT(*) FROM process_events WHERE event = ? AND pid = ?",
               (sys.argv[2], int(sys.argv[3]))).fetchone()[0]
sys.exit(0 if n else 1)
EOPY
}
stopped() { grep -q '^State:.*stopped' "/proc/$1/status" 2>/dev/null; }
# pending FILE N: the daemon answers (its loop is not held) with N digests of FILE pending. Each
# digest waiting for the worker, or being read by it, keeps a descriptor of its file: that
# counts this test's digests alone. (The daemon also hashes the large programs others exec on
# the node, a compiler or another suite; while the gate holds the worker they queue behind it:
# status' digests_pending counts them too, so it only has to be at least N.)
pending() {
	[ "$(find "/proc/$DAEMON_PID/fd" -type l -lname "$1" 2>/dev/null | wc -l)" = "$2" ] &&
		[ "$(status digests_pending)" -ge "$2" ]
}


# 1. Run it: it stops itself at once, alive. Its digest is held at the gate.
"$PROG" -c 'kill -STOP $$' &
P1=$!
on_cleanup "kill -9 $P1 2>/dev/null"
check "with the large program's digest pending, the daemon answers on the bus (loop not held)" \
	wait_for pending "$PROG" 1
check "  and no digest violation is raised before the digest is known" \
	test "$(digest_violations)" = 0

# 2. Another process (another uid: a violation of its own) execs it and, once the daemon has
# handled that exec (its digest pending), replaces itself with another program.
$AS_UID=65534 --regid=65534 "$PROG" -c "kill -STOP \$\$; exec /bin/sh -c 'kill -STOP \$\$'" &
P2=$!
on_cleanup "kill -9 $P2 2>/dev/null"
check "a second process of the same file runs while the first one's digest is pending" \
	wait_for stopped $P2
check "  the daemon has handled its exec" wait_for in_ledger exec $P2
check "  it waits for the same digest (one in flight)" wait_for pending "$PROG" 1
kill -CONT $P2
check "  it execs another program while its digest is pending" \
	wait_for sh -c "[ \"\$(readlink /proc/$P2/exe)\" != '$PROG' ] && grep -q '^State:.*stopped' /proc/$P2/status"

# 3. The first one is killed and its exit recorded while its digest is still pending.
kill -9 $P1
wait $P1 2>/dev/null
check "the first process exited and the daemon has its exit" wait_for in_ledger exit $P1
check "  its digest is still pending" wait_for pending "$PROG" 1

# 4. Open the gate: the digest is computed, and both execs are caught as at their exec.
touch "$T/gate"
check "the process that exited before its digest was known is caught" \
	wait_for caught $P1 "$KPREFIX$PROG"
check "the process that exec'd another program meanwhile is caught for the program it ran" \
	wait_for caught $P2 "$KPREFIX$PROG"
check "  the digest is no longer pending" wait_for pending "$PROG" 0
check "  its new program (a shell) is not given that digest: two digest violations in all" \
	test "$(digest_violations)" = 2
kill -9 $P2
wait $P2 2>/dev/null

# 5. Cached now: a new process of the same file (a third uid) is caught, the digest at once.
$AS_UID=1 --regid=1 "$PROG" -c 'exit 0' &
P3=$!
wait $P3
check "a later run of the same file is caught" wait_for caught $P3 "$KPREFIX$PROG"
check "  and nothing is left pending" wait_for pending "$PROG" 0

"$HPCMETERCTL" violations --json >"$T/violations.json"
diag "$(json "'\n'.join('%s pid %s %s: %s' % (v['seq'], v['pid'], v['executable'], v['detail']) for v in d)" <"$T/violations.json")"
check "the daemon is still running" kill -0 "$DAEMON_PID"

# 6. A stop while the worker is held: a second daemon with one digest being read (prog2: the
# same content, another inode, none of it cached yet, held at the gate) and another file
# queued behind it. The loop ends; the worker stops between two reads once the gate opens, and
# the queued descriptor is closed. Exit status 0 (with ASan: no leak, no error).
stop_daemon
rm -f "$T/gate"
start_daemon --config "$T/all.conf" --licenses "$T/licenses" --interval 1
"$T/mnt/prog2" -c 'kill -STOP $$' &
P4=$!
on_cleanup "kill -9 $P4 2>/dev/null"
check "a second daemon holds a digest at the gate" wait_for pending "$T/mnt/prog2" 1
cp "$T/big" "$T/big-copy" # a third identity, on the test's file system: queued behind it
"$T/big-copy" -c 'exit 0'
queued() { pending "$T/big-copy" 1 && pending "$T/mnt/prog2" 1 && [ "$(status digests_pending)" -ge 2 ]; }
check "  and another one queued behind it" wait_for queued
kill -TERM "$DAEMON_PID"
# The bus name goes before the worker is stopped: from then on the loop is over.
wait_for sh -c "! '$HPCMETERCTL' status >/dev/null 2>&1"
touch "$T/gate"
wait "$DAEMON_PID"
check "stopped with a digest held at the gate, the daemon exits 0 once the read returns" \
	test $? = 0
tap_done
