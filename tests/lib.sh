# shellcheck shell=bash
# Shared helpers of the shell tests: TAP output, a private system-like D-Bus with the shipped
# policy, and hpcmeterd started on it. Source it; set BUILD (the build directory) first.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
# Executable paths come from the kernel, walked to the root of the mount namespace: a suite
# run inside a chroot sets this to the chroot's path so the expected paths match.
KPREFIX=${HPCMETER_TEST_PATH_PREFIX:-}
HPCMETERD=$BUILD/hpcmeterd
HPCMETERCTL=$BUILD/hpcmeterctl
# The threshold registry of the source tree, not an installed one.
export HPCMETER_THRESHOLDS=${HPCMETER_THRESHOLDS:-$TOP/data/thresholds.yaml}

_tap_n=0
_tap_failed=0

ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
diag() { sed 's/^/# /' <<<"$*"; }
tap_done() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
}
skip_all() { echo "1..0 # SKIP $*"; exit 77; }

# How long a test waits, at most, for what it awaits (a file, a ledger row, a signal, a process
# state). Generous on purpose: on a 2-core VM whose cores are kept busy, in an ASan build, the
# daemon's start or one of its readings can take many seconds; a wait returns as soon as its
# condition holds, so the bound costs nothing when things work. HPCMETER_TEST_WAIT overrides.
WAIT_SECONDS=${HPCMETER_TEST_WAIT:-120}

# wait_for [SECONDS] COMMAND...: poll every 0.1 s until COMMAND succeeds, for at most SECONDS
# (WAIT_SECONDS when not given). When the time is up it says what it waited for (a TAP
# comment) and fails.
wait_for() {
	local bound=$WAIT_SECONDS deadline
	case $1 in [0-9]*) bound=$1 && shift ;; esac
	deadline=$(($(date +%s) + bound))
	until "$@"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "# timed out after $bound s waiting for: $*"
			return 1
		fi
		sleep 0.1
	done
}

# wait_file FILE: until FILE exists (a marker a workload writes, tests/bpf/burn.c --park).
wait_file() { wait_for test -e "$1"; }
# is_stopped PID: the process is stopped (SIGSTOP has taken effect, not only been sent).
is_stopped() { grep -q '^State:.*(stopped)' "/proc/$1/status" 2>/dev/null; }
# wait_exec PID EXE: until process PID runs EXE (its exec is done: a process started in the
# background may still be its wrapper, setpriv or sh, for a while).
runs_exe() { [ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$2")" ]; }
wait_exec() { wait_for runs_exe "$1" "$2"; }

T=$(mktemp -d /tmp/hpcmeter-test.XXXXXX)
chmod 755 "$T" # unprivileged test processes run programs from here
_pids=()
_cleanups=()
on_cleanup() { _cleanups+=("$*"); }
cleanup() {
	local p c
	for ((c = ${#_cleanups[@]} - 1; c >= 0; c--)); do eval "${_cleanups[$c]}" || true; done
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	[ "${_bpffs:-none}" = none ] || umount "$_bpffs"
	rm -rf "$T"
}
trap cleanup EXIT

# Start a private bus shaped like the system bus, with the shipped policy file included.
# start_bus NAME: one more private bus of that name, for a test with several daemons (the name
# org.hpcmeter1 is owned once per bus): its address in BUS_ADDRESS, DBUS_SYSTEM_BUS_ADDRESS
# left as it is.
start_bus() {
	local name=${1:-system} conf=$T/bus.conf
	[ $# -gt 0 ] && conf=$T/$name-bus.conf
	sed -e "s|@SOCK@|$T/${name}_bus_socket|" -e "s|@POLICY@|$TOP/daemon/org.hpcmeter1.conf|" \
		"$TOP/tests/dbus/bus.conf.in" >"$conf"
	_bus_run "$name" "$conf"
	BUS_ADDRESS="unix:path=$T/${name}_bus_socket"
	[ $# -gt 0 ] || export DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDRESS
}
_bus_run() {
	local name=${1:-system} conf=${2:-$T/bus.conf}
	rm -f "$T/bus.addr" "$T/${name}_bus_socket"
	dbus-daemon --config-file="$conf" --nofork --nopidfile --print-address=3 \
		3>"$T/bus.addr" 2>>"$T/bus.log" &
	BUS_PID=$!
	_pids+=("$BUS_PID")
	wait_for test -s "$T/bus.addr" || { echo "Bail out! dbus-daemon did not start"; cat "$T/bus.log"; exit 1; }
}

# restart_bus: stop the private dbus-daemon and start a new one on the same socket address
# (every connection closes, as when the system's dbus-daemon restarts).
restart_bus() {
	kill -TERM "$BUS_PID" 2>/dev/null
	wait "$BUS_PID" 2>/dev/null
	_bus_run
}

# ledger_sql DB SQL: the rows of a read-only query of a ledger, one per line, columns joined
# by "|", NULL as empty (python3's sqlite3: no sqlite3 CLI needed).
ledger_sql() {
	python3 - "$1" "$2" <<'EOPY'
import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
for row in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
EOPY
}

# check_ledger_sound STATE_DIR: SQLite's integrity check passes and the hash chain verifies
# (hpcmeterctl ledger verify).
check_ledger_sound() {
	local rc
	check "the database is intact (integrity_check)" \
		test "$(ledger_sql "$1/ledger.sqlite" "PRAGMA integrity_check")" = ok
	"$HPCMETERCTL" ledger verify --state-dir "$1" >"$T/verify.out"
	rc=$?
	diag "$(cat "$T/verify.out")"
	check "the chain verifies" test "$rc" = 0
}

# check_committed_kept STATE_DIR SEQ:HASH N WHEN: the chain's head taken WHEN (a fault) is
# there unchanged, and so are the N records committed up to it.
check_committed_kept() {
	local db=$1/ledger.sqlite seq=${2%%:*}
	check "the record that was the chain's head $4 is there, unchanged" \
		test "$(ledger_sql "$db" "SELECT seq || ':' || hex(hash) FROM chain WHERE seq = $seq")" = "$2"
	check "all $3 records committed $4 are there" \
		test "$(ledger_sql "$db" "SELECT COUNT(*) FROM chain WHERE seq <= $seq")" = "$3"
}

# A bpf file system of this test's own (each mount is a separate instance): pinned maps of
# parallel tests never meet. Sets BPF_PIN_DIR, empty when bpffs cannot be mounted (then nothing
# is pinned). Call it in the test's shell, not in $(...).
bpffs_init() {
	if [ -z "${_bpffs:-}" ]; then
		mkdir -p "$T/bpffs"
		if mount -t bpf bpf "$T/bpffs" 2>/dev/null; then
			_bpffs=$T/bpffs
		else
			_bpffs=none
		fi
	fi
	BPF_PIN_DIR=
	[ "$_bpffs" = none ] || BPF_PIN_DIR=$_bpffs/pins
}

# start_daemon ARGS...: hpcmeterd on the private bus, log in $T/hpcmeterd.log, pid in DAEMON_PID.
start_daemon() {
	bpffs_init
	"$HPCMETERD" --state-dir "$T/state" --bpf-pin-dir "$BPF_PIN_DIR" "$@" >>"$T/hpcmeterd.log" 2>&1 &
	DAEMON_PID=$!
	_pids+=("$DAEMON_PID")
	if ! wait_for daemon_answers; then
		echo "Bail out! hpcmeterd did not come up on the bus"
		sed 's/^/# /' "$T/hpcmeterd.log"
		exit 1
	fi
}
daemon_answers() { "$HPCMETERCTL" status >/dev/null 2>&1; }

# daemon_readings: how many readings the daemon has made. It answers between two readings,
# never during one, so each reading counted is complete: collected, written, evaluated.
daemon_readings() { "$HPCMETERCTL" status --json 2>/dev/null | json "d['collections']" 2>/dev/null; }
daemon_readings_reach() { [ "$(daemon_readings)" -ge "$1" ] 2>/dev/null; }
# wait_readings [N]: until the daemon has made N (default 1) whole readings that began after
# this call: what a process did before it (an exec, its exit, its CPU time) is in the usage
# and the ledger, and the licence terms were evaluated on it.
wait_readings() {
	local n0
	n0=$(daemon_readings)
	[ -n "$n0" ] || { echo "# the daemon does not answer: cannot count its readings"; return 1; }
	wait_for daemon_readings_reach $((n0 + ${1:-1}))
}

# wait_subscribed PID: until the bus client with that pid has installed a match rule (so a
# monitor started in the background cannot miss the signal a test is about to cause).
wait_subscribed() {
	local name
	_subscribed() {
		name=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" list --no-legend 2>/dev/null |
			awk -v pid="$1" '$1 ~ /^:/ && $2 == pid { print $1; exit }')
		[ -n "$name" ] &&
			busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.freedesktop.DBus /org/freedesktop/DBus \
				org.freedesktop.DBus.Debug.Stats GetConnectionStats s "$name" 2>/dev/null |
			grep -Eq '"MatchRules" u [1-9]'
	}
	wait_for _subscribed "$1"
}

# start_notify_listener: a NOTIFY_SOCKET at $T/notify, as systemd would offer, whose
# messages go to $T/notify.log, one a line after the (monotonic) time they came.
start_notify_listener() {
	python3 - "$T/notify" "$T/notify.log" <<'EOPY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        data = s.recv(4096).decode(errors="replace")
        for line in data.splitlines():
            log.write("%.3f %s\n" % (time.monotonic(), line))
EOPY
	_pids+=($!)
	wait_for test -S "$T/notify"
}
# notify_sync: until the listener has logged every message sent to it before this call: one
# of our own, sent now, queues behind them and is logged after them.
notify_sync() {
	_notify_marks=$((${_notify_marks:-0} + 1))
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), sys.argv[1])' \
		"$T/notify" "HPCMETER_TEST_MARK=$_notify_marks"
	wait_for grep -q " HPCMETER_TEST_MARK=$_notify_marks\$" "$T/notify.log"
}

# wait_monitoring FILE: until the dbus-monitor writing FILE has become a monitor (the bus
# takes its unique name away then: NameLost), so that it cannot miss a signal sent from now on.
wait_monitoring() { wait_for grep -q 'member=NameLost' "$1"; }

stop_daemon() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
}

# json EXPR < JSON: evaluate a Python expression over the parsed document "d" and print it.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A cgroup v2 directory for this test (hybrid hosts mount cgroup2 at /sys/fs/cgroup/unified).
cgroup2_mount() { awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo; }
# cgroup2_cpu_ns DIR: the kernel's own count of the CPU time run in that cgroup v2 directory
# (cpu.stat, there without the cpu controller), in ns. A workload started as
# sh -c "echo \$\$ >DIR/cgroup.procs && exec PROGRAM" runs its shell's start outside DIR, so
# this is the figure to hold the meter to, not what the program burned by its own clock.
cgroup2_cpu_ns() { awk '$1 == "usage_usec" { print $2 * 1000 }' "$1/cpu.stat"; }
# within A B PCT: A is within PCT % of B.
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d * 100 <= b * p) }'; }
