#!/bin/bash
# hpcmeterctl monitor outlives a restart of hpcmeterd: it follows the daemon's name on the bus
# and, when a new daemon appears, back-fills by sequence number what that one recorded before
# it could signal (a daemon that starts raises the violations of the processes already running
# before it is on the bus). Every violation is printed exactly once.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: MON-LIC-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-monitor-forbidden*"]
EOY
cp /bin/sleep "$T/bin/hpcm-monitor-forbidden"
cp /bin/sleep "$T/bin/hpcm-monitor-forbidden-2" # another executable: a violation of its own
start_bus
start_daemon --licenses "$T/licenses" --interval 1

"$HPCMETERCTL" monitor --json >"$T/monitor.out" 2>"$T/monitor.err" &
MON=$!
_pids+=("$MON")
wait_subscribed "$MON" || { echo "Bail out! monitor did not subscribe"; exit 1; }
seqs() { json "[v['seq'] for v in map(__import__('json').loads, sys.stdin)]" 2>/dev/null; }
lines() { grep -c . "$T/monitor.out"; }

"$T/bin/hpcm-monitor-forbidden" 0.1 # violation #1, live
wait_for sh -c "[ \$(grep -c . '$T/monitor.out') -ge 1 ]"
check "the monitor prints a violation raised live" test "$(lines)" = 1

stop_daemon
# while no daemon runs: a forbidden process starts, and lives on (until the test ends)
"$T/bin/hpcm-monitor-forbidden" infinity &
_pids+=($!)
wait_exec $! "$T/bin/hpcm-monitor-forbidden"
start_daemon --licenses "$T/licenses" --interval 1 # raises #2 before it is on the bus
wait_for sh -c "[ \$(grep -c . '$T/monitor.out') -ge 2 ]"
check "after the restart the monitor back-fills what the new daemon raised at start" \
	test "$(lines)" = 2
"$T/bin/hpcm-monitor-forbidden-2" 0.1 # #3, live again
wait_for sh -c "[ \$(grep -c . '$T/monitor.out') -ge 3 ]"
wait_readings # a duplicate would come now, from a late signal
check "and goes on printing live violations" test "$(lines)" = 3
got=$(python3 -c "import json,sys; print([json.loads(l)['seq'] for l in open('$T/monitor.out')])")
want=$("$HPCMETERCTL" violations --json | json "[v['seq'] for v in d]")
diag "monitor printed $got; the ledger has $want"
check "every violation once, in order, as the ledger has them" test "$got" = "$want"
check "the monitor still runs" kill -0 "$MON"
diag "$(cat "$T/monitor.err")"
tap_done
