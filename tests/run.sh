#!/bin/bash
# Run the whole suite: unit, BPF on the real kernel, D-Bus end to end (and the module under
# qemu when its prerequisites are present). Prints each test's TAP, then a summary line
# "N passed, N failed, N skipped" counting TAP assertions. Exit status 1 if anything failed.
# usage: tests/run.sh [BUILD_DIR] [TEST...]
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
export BUILD
# Run from "make check", the tests must not inherit make's jobserver: a make they start
# (the module's kbuild) would warn "jobserver unavailable" and fail the W=1 build check.
unset MAKEFLAGS MFLAGS MAKELEVEL
# The tests use the tools scripts/install-deps.sh installs from Debian (python3 with its
# Debian modules, psql, Slurm's commands): the system's directories come before whatever a
# user's PATH puts first (a pyenv shim runs a shell script and forks ~40 times per python3,
# 0.4 s each here, and its Python lacks python3-prometheus-client).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

ALL=(
	"$BUILD/tests/test-license"
	"$BUILD/tests/test-evaluate"
	"$BUILD/tests/test-config"
	"$BUILD/tests/test-decode"
	"$BUILD/tests/test-gpu-entry"
	"$BUILD/tests/test-util"
	"$BUILD/tests/test-json"
	"$BUILD/tests/test-ctl-format"
	"$BUILD/tests/test-time-parse"
	"$BUILD/tests/test-kmeter"
	"$BUILD/tests/test-core"
	"$BUILD/tests/test-ledger"
	"$BUILD/tests/test-cluster-usage"
	"$BUILD/tests/test-origin"
	"$BUILD/tests/test-workload"
	"$BUILD/tests/test-mounts"
	"$BUILD/tests/test-cgroup-v1 $BUILD/tests/burn"
	"$BUILD/tests/test-inventory data/accelerators.yaml"
	"$BUILD/tests/test-sched $BUILD/tests/burn"
	"$BUILD/tests/test-gpu $BUILD/tests/gpu-fake $BUILD/tests/gpu-load"
	"$BUILD/tests/test-gpu-real $BUILD/gpu-real $BUILD/tests/gpu-real-load $BUILD/tests/gpu-cl-run"
	"tests/licenses/test-bad-corpus.sh"
	"tests/fuzz/run.sh"
	"tests/dbus/test-violations.sh"
	"tests/dbus/test-remote-access.sh"
	"tests/dbus/test-caps.sh"
	"tests/dbus/test-bad-input.sh"
	"tests/dbus/test-policy.sh"
	"tests/dbus/test-losses.sh"
	"tests/dbus/test-contract.sh"
	"tests/dbus/test-api.sh"
	"tests/dbus/test-crash.sh"
	"tests/dbus/test-ledger.sh"
	"tests/dbus/test-metrics.sh"
	"tests/dbus/test-full-disk.sh"
	"tests/dbus/test-baseline.sh"
	"tests/dbus/test-watchdog.sh"
	"tests/dbus/test-selfcost.sh"
	"tests/dbus/test-monitor-restart.sh"
	"tests/dbus/test-monitor-bus-restart.sh"
	"tests/dbus/test-pager.sh"
	"tests/golden/test-golden.sh"
	"tests/cli/test-exit-codes.sh"
	"tests/cli/test-help.sh"
	"tests/cli/test-cluster-tables.sh"
	"tests/examples/test-monitoring.sh"
	"tests/cli/test-report-verify.sh"
	"tests/dbus/test-gap-policy.sh"
	"tests/dbus/test-gpu.sh"
	"tests/faults/test-stall.sh"
	"tests/faults/test-oom.sh"
	"tests/faults/test-bus-restart.sh"
	"tests/faults/test-readonly.sh"
	"tests/faults/test-sqlite-locked.sh"
	"tests/faults/test-license-swap.sh"
	"tests/faults/test-timezone.sh"
	"tests/dbus/test-flood.sh"
	"tests/dbus/test-storm.sh"
	"tests/dbus/test-aggregate.sh"
	"tests/cluster/test-store.sh"
	"tests/cluster/test-evaluate.sh"
	"tests/adversarial/test-exec-evasion.sh"
	"tests/adversarial/test-digest-worker.sh"
	"tests/adversarial/test-escape.sh"
	"tests/adversarial/test-move.sh"
	"tests/adversarial/test-tamper.sh"
	"tests/adversarial/test-gpu-evasion.sh"
	"tests/adversarial/test-gpu-copies.sh"
	"tests/install/test-install.sh"
	"tests/install/test-completion.sh"
	"tests/package/test-rpmspec.sh"
	"tests/package/test-man.sh"
	"tests/slurm/test-slurm.sh"
	"tests/slurm/test-slurm-remote.sh"
)
ALL+=("tests/module/test-genl-fuzz.sh" "tests/module/run.sh" "tests/module/dkms.sh")
[ $# -gt 0 ] && ALL=("$@")

# One test at a time on this machine: the tests share what a machine has once (the BPF
# programs see every process, Slurm's ports, /dev/nvidia6x, the wall clock that test-tamper
# steps), so two suites run side by side (two checkouts, two users) would see each other's
# processes. Each test takes this lock for its run; another suite waits its turn.
LOCK=${HPCMETER_TEST_LOCK:-/tmp/hpcmeter-tests.lock}
exec 9>>"$LOCK"

passed=0 failed=0 skipped=0
failed_tests=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "${ALL[@]}"; do
	echo "=== $t"
	if ! flock -n 9; then
		echo "    # waiting for another suite's test to finish ($LOCK)"
		flock 9
	fi
	start=$(date +%s)
	# A bound for a test that hangs, generous: the longest, the module's under qemu, takes
	# about 5 min on a 2-core host whose cores are kept busy (make check-stress).
	# shellcheck disable=SC2086 # a test is a command line
	timeout --kill-after=10 1200 $t >"$out" 2>&1 9>&-
	rc=$?
	flock -u 9
	sed 's/^/    /' "$out"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	s=$(grep -Ec '^ok .*# (SKIP|skip)' "$out")
	p=$((p - s))
	if [ "$rc" = 77 ]; then
		s=$((s + 1))
		echo "--- $t: skipped ($(grep -m1 -o 'SKIP.*' "$out"))"
	elif [ "$rc" != 0 ] || [ "$f" != 0 ] || [ "$p" = 0 ]; then
		# A crash or a bail-out counts even when no assertion said "not ok".
		[ "$f" = 0 ] && f=1
		failed_tests+=("$t")
		echo "--- $t: FAILED (exit $rc, $f failed) in $(($(date +%s) - start)) s"
	else
		echo "--- $t: $p passed in $(($(date +%s) - start)) s"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done
echo
[ ${#failed_tests[@]} -gt 0 ] && echo "failed: ${failed_tests[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
