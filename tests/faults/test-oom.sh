#!/bin/bash
# The kernel's OOM killer ends the daemon: it runs in a memory cgroup of its own, whose limit
# is then lowered to what it uses, so that its next allocations cannot be charged (with no
# swap to push to) and the kernel OOM-kills it (memory.events / memory.oom_control count the
# kill). Restarted (as Restart=on-failure would), the daemon finds every record committed
# before the kill, a daemon-down gap covers the time it was away, the chain verifies.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: OOM-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
# A memory cgroup: cgroup v2's memory controller when it is enabled, else the v1 hierarchy.
CG2=$(cgroup2_mount)
MEMV1=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
MEMCG=
if [ -n "$CG2" ] && grep -qw memory "$CG2/cgroup.subtree_control" 2>/dev/null; then
	MEMCG=$CG2/hpcmeter-oom-$$
	mkdir "$MEMCG"
	echo 0 >"$MEMCG/memory.swap.max" 2>/dev/null
	usage() { cat "$MEMCG/memory.current"; }
	set_limit() { echo "$1" >"$MEMCG/memory.max"; }
	oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$MEMCG/memory.events"; }
elif [ -n "$MEMV1" ]; then
	MEMCG=$MEMV1/hpcmeter-oom-$$
	mkdir "$MEMCG"
	echo 0 >"$MEMCG/memory.swappiness"
	usage() { cat "$MEMCG/memory.usage_in_bytes"; }
	set_limit() { echo "$1" >"$MEMCG/memory.limit_in_bytes"; }
	oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$MEMCG/memory.oom_control"; }
else
	skip_all "no memory cgroup controller"
fi
on_cleanup "rmdir '$MEMCG'"
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
now_usec() { date +%s%6N; }
# The daemon, started in the memory cgroup (the same pid: exec).
cat >"$T/hpcmeterd-in-memcg" <<EOS
#!/bin/sh
echo \$\$ >'$MEMCG/cgroup.procs' && exec '$BUILD/hpcmeterd' "\$@"
EOS
chmod 755 "$T/hpcmeterd-in-memcg"

start_bus
HPCMETERD=$T/hpcmeterd-in-memcg
start_daemon --licenses "$T/licenses" --interval 1
check "the daemon runs in its memory cgroup" grep -qx "$DAEMON_PID" "$MEMCG/cgroup.procs"
wait_readings # an interval is committed
# An exec storm: the daemon allocates for each new process.
(while :; do /bin/true; done) &
STORM=$!
_pids+=("$STORM")
wait_readings # with the storm's records
# The head of the chain and the number of records, as committed now (one snapshot).
snap=$(q "SELECT seq || ':' || hex(hash) || ':' || (SELECT COUNT(*) FROM chain) FROM chain ORDER BY seq DESC LIMIT 1")
head=${snap%:*}
n0=${snap##*:}
kills0=$(oom_kills)
diag "the daemon's cgroup uses $(usage) bytes"
# Lower the limit step by step to what it uses: the kernel reclaims what it can, then kills.
# (Killed, the daemon is gone or a zombie until the wait below: kill -0 may still succeed.)
lowered() {
	[ -e "/proc/$DAEMON_PID" ] || return 0
	grep -q '^State:.*zombie' "/proc/$DAEMON_PID/status" 2>/dev/null && return 0
	set_limit $(($(usage) / 4096 * 4096 - 65536)) 2>/dev/null
	return 1
}
if wait_for lowered; then
	wait "$DAEMON_PID" 2>/dev/null
	status=$?
else
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	status="alive after $WAIT_SECONDS s"
fi
dead_at=$(now_usec)
kill "$STORM"
wait "$STORM" 2>/dev/null
diag "the daemon ended with status $status; oom_kill $kills0 -> $(oom_kills)"
check "the kernel's OOM killer killed the daemon (SIGKILL)" test "$status" = 137
check "the memory cgroup counts the OOM kill" test "$(oom_kills)" -gt "$kills0"
set_limit max 2>/dev/null || set_limit -1

# Restarted, as Restart=on-failure would.
HPCMETERD=$BUILD/hpcmeterd
start_daemon --licenses "$T/licenses" --interval 1
wait_readings
stop_daemon
check_committed_kept "$T/state" "$head" "$n0" "before the kill"
check "a daemon-down gap covers the time it was away" \
	test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-down' AND start_usec <= $dead_at AND end_usec >= $dead_at")" = 1
diag "$(q "SELECT cause, (end_usec - start_usec) / 1e6, detail FROM gaps")"
check_ledger_sound "$T/state"
tap_done
