#!/bin/bash
# Usage before the meter is not charged, usage after is: a process that burns CPU before the
# daemon's start and after it is charged only what it burns from the start on (the scheduler's
# counter at the first reading is its baseline), and a process that starts later is charged in
# full.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

start_bus
mkdir -p "$T/licenses"
cp "$BUILD/tests/burn" "$T/burn"
chmod 755 "$T/burn"
# a cgroup of its own, so that other tests' processes of nobody do not count here
CG=/hpcmeter-test-baseline-$$
mkdir "$(cgroup2_mount)$CG" || { echo "Bail out! cannot create a cgroup"; exit 1; }
on_cleanup "rmdir '$(cgroup2_mount)$CG'"
# in-cg COMMAND...: run COMMAND in that cgroup, as the same process (so $! is COMMAND's pid)
printf '#!/bin/sh\necho $$ > "%s/cgroup.procs" && exec "$@"\n' "$(cgroup2_mount)$CG" >"$T/in-cg"
chmod 755 "$T/in-cg"
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; } # utime+stime, ticks of 10 ms

# The early process burns 0.6 s, waits (asleep) while the daemon starts, then burns 1.4 s more.
mkdir -m 777 "$T/run"
"$T/in-cg" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$T/burn" --park "$T/run/parked" "$T/run/go" 600 1400 &
early=$!
_pids+=("$early")
wait_file "$T/run/parked"
before=$(cpu_s "$early")
start_daemon --licenses "$T/licenses" --interval 1
after=$(cpu_s "$early")
diag "the early process had burned $before s before the daemon started, $after s once it was up"
touch "$T/run/go"
wait "$early"
# a process that starts once the daemon runs: charged in full
"$T/in-cg" setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/burn" 700 1
wait_readings # all of both is in the usage once a reading after their ends is made
charged() {
	"$HPCMETERCTL" usage --json | json "sum(u['cpu_ns'] for u in d if u['uid'] == 65534 and u['cgroup'] == '$CG') / 1e9"
}
got=$(charged)
diag "charged to nobody: $got s (2.0 s burned by the early process, 0.7 s by the late one)"
check "the early process is charged from the meter's start on, the late one in full" \
	python3 -c "import sys; lo = 2.0 - $after + 0.7 - 0.05; hi = 2.0 - $before + 0.7 + 0.05; print('# expected %.2f..%.2f' % (lo, hi)); sys.exit(0 if lo <= $got <= hi else 1)"
tap_done
