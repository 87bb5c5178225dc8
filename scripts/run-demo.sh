#!/bin/bash
# The main job, for a first look: hpcmeterd meters this machine against examples/licenses and
# every violation is printed as it happens (through the D-Bus signal, by hpcmeterctl monitor).
# Uses the system bus when hpcmeter's bus policy is installed there (make install), otherwise
# a private bus shaped like it. Ctrl-C stops everything.
# usage: scripts/run-demo.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RUN=$BUILD/run
LICENSES=${HPCMETER_LICENSES:-$PWD/examples/licenses}
# Licence caps may name entries of the threshold registry: use the source tree's.
export HPCMETER_THRESHOLDS=${HPCMETER_THRESHOLDS:-$PWD/data/thresholds.yaml}

if [ "$(id -u)" != 0 ]; then
	echo "run-demo.sh: run as root (hpcmeterd loads eBPF programs)" >&2
	exit 1
fi
mkdir -p "$RUN"
pids=()
cleanup() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	echo
	echo "Stopped. Ledger: $RUN/state/ledger.sqlite   Daemon log: $RUN/hpcmeterd.log"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

policy_installed() {
	[ -S /run/dbus/system_bus_socket ] &&
		{ [ -e /etc/dbus-1/system.d/org.hpcmeter1.conf ] || [ -e /usr/share/dbus-1/system.d/org.hpcmeter1.conf ]; }
}
if policy_installed; then
	echo "Using the system bus."
	unset DBUS_SYSTEM_BUS_ADDRESS
else
	sed -e "s|@SOCK@|$PWD/$RUN/system_bus_socket|" -e "s|@POLICY@|$PWD/daemon/org.hpcmeter1.conf|" \
		tests/dbus/bus.conf.in >"$RUN/bus.conf"
	rm -f "$RUN/bus.addr"
	dbus-daemon --config-file="$RUN/bus.conf" --nofork --nopidfile --print-address=3 \
		3>"$RUN/bus.addr" 2>"$RUN/bus.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$RUN/bus.addr" ] && break; sleep 0.1; done
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$PWD/$RUN/system_bus_socket"
	echo "No system bus with hpcmeter's policy: using a private bus."
	echo "In another shell:  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
fi

# The tree's data files, and no pinned maps: a demo must not reuse (or leave) the maps of an
# hpcmeterd installed on this node.
printf 'accelerators_file = %s\nbpf_pin_dir =\n' "$PWD/data/accelerators.yaml" >"$RUN/hpcmeterd.conf"
"$BUILD/hpcmeterd" --config "$PWD/$RUN/hpcmeterd.conf" --licenses "$LICENSES" \
	--state-dir "$PWD/$RUN/state" >"$RUN/hpcmeterd.log" 2>&1 &
daemon=$!
pids+=("$daemon")
for _ in $(seq 200); do
	"$BUILD/hpcmeterctl" status >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { cat "$RUN/hpcmeterd.log"; exit 1; }
	sleep 0.1
done
"$BUILD/hpcmeterctl" status
echo
echo "Watching for violations (Ctrl-C to stop). To see one, run a program as a user the"
echo "example licences do not permit:  setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true"
echo "Then: $BUILD/hpcmeterctl violations | usage | status"
echo
"$BUILD/hpcmeterctl" monitor --after-seq 0 &
pids+=($!)
wait "$daemon"
echo "hpcmeterd exited by itself; the end of its log:"
tail -n 20 "$RUN/hpcmeterd.log"
exit 1
