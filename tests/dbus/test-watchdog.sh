#!/bin/bash
# sd_notify as systemd sees it, without systemd: hpcmeterd's messages on a NOTIFY_SOCKET we
# listen on. READY=1 at start; with WATCHDOG_USEC set, WATCHDOG=1 from its event loop at
# half the period, and none while the process is stopped (the pings prove the loop runs, not
# some thread beside it); STOPPING=1 at the end.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

start_bus
mkdir -p "$T/licenses"
start_notify_listener
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 start_daemon --licenses "$T/licenses" --interval 5

wait_for grep -q " READY=1" "$T/notify.log"
check "READY=1 is sent" grep -q " READY=1" "$T/notify.log"
count() { grep -c " WATCHDOG=1" "$T/notify.log"; }
pinged() { [ "$(count)" -ge "$1" ]; }
wait_for pinged 3
n=$(count)
check "WATCHDOG=1 is sent at half the 1 s period ($n pings)" pinged 3

kill -STOP "$DAEMON_PID"
wait_for is_stopped "$DAEMON_PID"
notify_sync # every ping sent before the stop is counted
before=$(count)
sleep 2 # stopped for two watchdog periods: a loop that ran would ping four times
notify_sync
after=$(count)
kill -CONT "$DAEMON_PID"
check "no WATCHDOG=1 while the daemon is stopped ($before -> $after)" test "$before" = "$after"
wait_for pinged $((after + 2))
check "pings resume when it runs again" pinged $((after + 2))

stop_daemon
check "STOPPING=1 is sent at a stop" grep -q " STOPPING=1" "$T/notify.log"

# Without WATCHDOG_USEC there are no pings (no systemd watchdog asked for one), however long
# the loop runs: two readings of one second.
: >"$T/notify.log"
NOTIFY_SOCKET=$T/notify start_daemon --licenses "$T/licenses" --interval 1
wait_for grep -q " READY=1" "$T/notify.log"
wait_readings 2
notify_sync
check "no WATCHDOG_USEC, no pings" test "$(count)" = 0
tap_done
