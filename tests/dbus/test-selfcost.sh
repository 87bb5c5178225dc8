#!/bin/bash
# The meter's own cost on the node: with bpf_stats = yes, status shows BPF program runs and run
# time that grow with the work metered (exec and exit programs, the task iterator); with the
# default, "off" and no figures. And how long the last reading took.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

start_bus
mkdir -p "$T/licenses"
printf 'bpf_stats = yes\n' >"$T/conf"
start_daemon --config "$T/conf" --licenses "$T/licenses" --interval 1
st() { "$HPCMETERCTL" status --json | json "d.get('$1')"; }
check "status says BPF statistics are on" test "$(st bpf_stats)" = on
runs0=$(st bpf_run_count)
for _ in $(seq 50); do /bin/true; done
wait_readings
runs1=$(st bpf_run_count)
ns1=$(st bpf_run_time_ns)
diag "BPF program runs $runs0 -> $runs1, run time $ns1 ns"
check "50 execs and exits later the programs ran at least 100 times more" test $((runs1 - runs0)) -ge 100
check "and their run time is counted" test "$ns1" -gt 0
check "the last reading's duration is reported" test "$(st last_collect_duration_usec)" -gt 0
"$HPCMETERCTL" status >"$T/status.txt"
check "status shows them to a human" grep -q "BPF program runs" "$T/status.txt"
stop_daemon

start_daemon --licenses "$T/licenses" --interval 1
check "by default BPF statistics are off, with no figures" \
	test "$(st bpf_stats) $(st bpf_run_count)" = "off None"
tap_done
