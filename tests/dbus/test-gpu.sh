#!/bin/bash
# The GPU meter end to end: hpcmeterd in detailed mode on a private bus; a program drives the
# fake runtimes (tests/gpu-fake) and opens a device node named like /dev/nvidiaN. The daemon
# must attach to the libraries the program opens, and the interval's usage (ledger, GetGpuUsage,
# hpcmeterctl usage --json) must carry the exact launch, thread, allocation and copy counts,
# device opens and GPU-seconds. Status and inventory show the mode and the libraries; light mode
# attaches nothing on the launch path.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
FAKE=$BUILD/tests/gpu-fake
LOAD=$BUILD/tests/gpu-load
[ -x "$LOAD" ] || skip_all "build $LOAD first (make check)"
echo "TAP version 13"

DEV=/dev/nvidia62hpcmtest$$
mknod "$DEV" c 1 3 || skip_all "cannot create $DEV"
on_cleanup "rm -f $DEV"
mkdir -p "$T/licenses" "$T/lib"
cp "$FAKE"/lib* "$T/lib/"

echo "accelerators_file = $TOP/data/accelerators.yaml" >"$T/hpcmeterd.conf"

"$HPCMETERD" --gpu-mode heavy >/dev/null 2>"$T/err"
rc=$?
check "--gpu-mode heavy is a usage error (exit 2)" test "$rc" = 2
check "and names the valid modes" grep -q 'invalid --gpu-mode "heavy": expected light, detailed or off' "$T/err"
echo "gpu_mode = heavy" >"$T/bad.conf"
"$HPCMETERD" --config "$T/bad.conf" >/dev/null 2>"$T/err"
rc=$?
check "gpu_mode = heavy in the config file: exit 1 naming file, line and key" \
	sh -c "test $rc = 1 && grep -q 'bad.conf:1: gpu_mode: invalid value' '$T/err'"

start_bus
start_daemon --config "$T/hpcmeterd.conf" --licenses "$T/licenses" --interval 1 \
	--gpu-mode detailed

"$HPCMETERCTL" status >"$T/status.txt"
check "status shows the GPU mode" grep -q "gpu_mode: detailed" "$T/status.txt"
check "status shows launches are counted" grep -q "gpu_launch_counts: counted" "$T/status.txt"

# The program loads the libraries, says "ready" and waits for a line on its stdin.
mkfifo "$T/in" "$T/out"
LD_LIBRARY_PATH=$T/lib "$LOAD" -C libcuda.so.1 -H libamdhip64.so -O libOpenCL.so.1 \
	-Z libze_loader.so.1 -n 100 -t 1 -c 3 -d "$DEV" -w <"$T/in" >"$T/out" &
LOAD_PID=$!
_pids+=("$LOAD_PID")
exec 7>"$T/in" 8<"$T/out"
read -r -t "$WAIT_SECONDS" line <&8
check "the load program is ready" test "$line" = ready
attached() {
	"$HPCMETERCTL" inventory --json >"$T/inv.json" &&
		[ "$(json "sum(1 for l in d['libraries'] if '$T/lib/' in l)" <"$T/inv.json")" = 4 ]
}
check "the daemon attached to the four runtime libraries the program opened" wait_for attached
check "inventory lists probes on the launch path" \
	test "$(json "d['launch_probes']" <"$T/inv.json")" -gt 0
"$HPCMETERCTL" status >"$T/status.txt"
check "status lists the attached libraries, with their SONAME" \
	grep -q "^  cuda $T/lib/libcuda.so.1 (SONAME libcuda.so.1, pid" "$T/status.txt"
check "status hides no list as an opaque value" sh -c "! grep -q 'value of type' '$T/status.txt'"
"$HPCMETERCTL" status --json >"$T/status.json"
check "status --json has the GPU keys" \
	test "$(json "d['gpu_mode'] + ' ' + d['gpu_meter']" <"$T/status.json")" = "detailed on"
echo go >&7
exec 7>&-
wait "$LOAD_PID"
check "the load program ran" test $? = 0
read -r _ child <&8 || true
exec 8<&-

# 2 workers (main + 1 thread) x 100 iterations + the child's 3, 6 launches each.
sum() { "$HPCMETERCTL" usage --json | json "sum(u.get('$1', 0) for u in d)"; }
counted() { [ "$(sum launches)" = $(((2 * 100 + 3) * 6)) ]; }
check "usage has the exact launch count (1218)" wait_for counted
check "threads launched: $(((2 * 100 + 3) * 4904))" test "$(sum threads_launched)" = $(((2 * 100 + 3) * 4904))
check "bytes host-to-device: $(((2 * 100 + 3) * 4096))" test "$(sum bytes_h2d)" = $(((2 * 100 + 3) * 4096))
check "bytes allocated: $((3 * 1124352))" test "$(sum bytes_alloc)" = $((3 * 1124352))
check "graph launches: 9" test "$(sum graph_launches)" = 9
check "device opens: 3" test "$(sum gpu_dev_opens)" = 3
check "GPU-seconds counted" python3 -c "import sys; sys.exit(0 if float('$(sum gpu_seconds)') > 0 else 1)"
check "the human usage view has a GPU table" sh -c "'$HPCMETERCTL' usage | grep -q GPU-TIME"
"$HPCMETERCTL" inventory >"$T/inv.txt"
diag "$(cat "$T/inv.txt")"
diag "$("$HPCMETERCTL" usage)"
check "inventory (table) names the libraries" grep -q "$T/lib/libcuda.so.1" "$T/inv.txt"
check "inventory says whether NVML is there" grep -Eq "NVML (absent|present)" "$T/inv.txt"
check "inventory names the version of the models data file" \
	grep -q "Models data $(sed -n 's/^version: "\(.*\)"/\1/p' "$TOP/data/accelerators.yaml")" "$T/inv.txt"
check "hpcmeterd (detailed mode) exits 0 on SIGTERM" stop_daemon

# Light mode: the libraries mapped by a running process are found by the scan at start, with
# no probe on the launch path.
LD_LIBRARY_PATH=$T/lib "$LOAD" -C libcuda.so.1 -n 1 -t 0 -c 0 -w <"$T/in" >"$T/out" &
LOAD_PID=$!
_pids+=("$LOAD_PID")
exec 7>"$T/in" 8<"$T/out"
read -r -t "$WAIT_SECONDS" line <&8
start_daemon --licenses "$T/licenses" --interval 1
"$HPCMETERCTL" inventory --json >"$T/inv.json"
check "light mode: the running process's libcuda is found" \
	test "$(json "sum(1 for l in d['libraries'] if '$T/lib/libcuda' in l)" <"$T/inv.json")" = 1
check "light mode: probes attached" test "$(json "d['probes_attached']" <"$T/inv.json")" -gt 0
check "light mode: none on the launch path" test "$(json "d['launch_probes']" <"$T/inv.json")" = 0
"$HPCMETERCTL" status >"$T/status.txt"
check "status says launches are not counted in light mode" \
	grep -q "gpu_launch_counts: not counted (light mode" "$T/status.txt"
echo go >&7
exec 7>&- 8<&-
wait "$LOAD_PID"
check "hpcmeterd (light mode) exits 0 on SIGTERM" stop_daemon

# A licence cap on kernel launches: not evaluated in light mode (never met with a zero), and
# status says how many such terms the node cannot count; evaluated in detailed mode.
cat >"$T/licenses/launch-cap.yaml" <<'LIC'
license:
  id: LAUNCH-CAP-1
  regime: internal
  type: internal-policy
  valid: { from: 2026-01-01, until: 2030-12-31 }
  caps:
    - { id: launch-day, metric: launches, scope: user, period: day, limit: 1000000 }
LIC
start_daemon --licenses "$T/licenses" --interval 1 --gpu-mode light
check "light mode: status counts one licence term it cannot count" \
	test "$("$HPCMETERCTL" status --json | json "d['gpu_terms_uncounted']")" = 1
"$HPCMETERCTL" license explain LAUNCH-CAP-1 >"$T/explain.txt" 2>&1
diag "$(grep launch-day "$T/explain.txt")"
check "light mode: the launch cap is not evaluated" grep -q "caps.launch-day.*not-evaluated" "$T/explain.txt"
stop_daemon
start_daemon --licenses "$T/licenses" --interval 1 --gpu-mode detailed
check "detailed mode: no uncounted term" \
	test "$("$HPCMETERCTL" status --json | json "d['gpu_terms_uncounted']")" = 0
evaluated() {
	"$HPCMETERCTL" license explain LAUNCH-CAP-1 >"$T/explain.txt" 2>&1 &&
		grep -q "caps.launch-day *ok" "$T/explain.txt"
}
check "detailed mode: the launch cap is evaluated" wait_for evaluated
diag "$(grep launch-day "$T/explain.txt")"
stop_daemon
tap_done
