#!/bin/bash
# Evasion, part 4: accelerator use past the runtime probes. The GPU meter's runtime cases are
# real attempts in tests/bpf/test-gpu.c already (a private copy of libcuda at an odd path, a
# copy inside a new mount namespace, dlopen after the meter started, a runtime mapped before
# it); here, with hpcmeterd on a private bus and a fake accelerator node (/dev/nvidiaN with
# /dev/full's numbers): a statically linked program that opens the device itself, no runtime
# library at all, is still metered by its device opens (GPU-seconds, device index, cgroup,
# uid). The same node opened by a name the open filter (which matches the path given to
# open()) does not know is found by the per-interval reading of open device files, by its
# device numbers: relative, through a symlink, bind-mounted elsewhere in a new mount namespace.
# What stays bounded (a device held for less than one interval under such a name) is in
# docs/RELIABILITY.md, Evasion.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, mknod, cgroups)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
STATIC=$(command -v busybox)
[ -n "$STATIC" ] && file -L "$STATIC" | grep -q 'statically linked' ||
	skip_all "needs a statically linked busybox (busybox-static)"
echo "TAP version 13"

IDX=$((40 + $$ % 20))
DEV=/dev/nvidia${IDX}hpcmadv$$
mknod -m 666 "$DEV" c 1 7 || skip_all "cannot create $DEV"
on_cleanup "rm -f '$DEV'"
mkdir -p "$T/licenses"
echo "accelerators_file = $TOP/data/accelerators.yaml" >"$T/hpcmeterd.conf"
CG=$CGMNT/hpcm-adv-gpu-$$
mkdir "$CG"
on_cleanup "for d in '$CG'/*/ '$CG'; do rmdir \"\$d\" 2>/dev/null; done"
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"

start_bus
start_daemon --config "$T/hpcmeterd.conf" --licenses "$T/licenses" --interval 1

# in_cgroup NAME CMD...: run CMD as nobody in a cgroup of its own, wait for it.
in_cgroup() {
	local name=$1
	shift
	mkdir -p "$CG/$name"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$name" $NOBODY "$@"
}
# field NAME KEY: the sum of a usage field over the rows of that cgroup.
field() {
	"$HPCMETERCTL" usage --json | python3 -c '
import json, sys
print(sum(u.get(sys.argv[2], 0) for u in json.load(sys.stdin)
          if u["cgroup"].endswith("/hpcm-adv-gpu-" + sys.argv[3] + "/" + sys.argv[1])))' "$1" "$2" "$$"
}
positive() { python3 -c "import sys; sys.exit(0 if float('$(field "$1" "$2")') > 0 else 1)"; }
equals() { [ "$(field "$1" "$2")" = "$3" ]; }

# hold.sh PATH SECONDS: open PATH, burn a little CPU, keep it open SECONDS.
cat >"$T/hold.sh" <<'EOSH'
exec 3<"$1" || exit 1
i=0
while [ $i -lt 20000 ]; do i=$((i + 1)); done
sleep "$2"
EOSH
# hold-until.sh PATH GATE: the same, kept open until GATE exists.
cat >"$T/hold-until.sh" <<'EOSH'
exec 3<"$1" || exit 1
i=0
while [ $i -lt 20000 ]; do i=$((i + 1)); done
while [ ! -e "$2" ]; do sleep 0.1; done
EOSH

# 1. A statically linked program (no libcuda, nothing for a uprobe) holding the device for
# 0.5 s.
in_cgroup static "$STATIC" sh "$T/hold.sh" "$DEV" 0.5
check "static program, no runtime: its device open is counted" wait_for equals static gpu_dev_opens 1
check "  and it is charged GPU-seconds" wait_for positive static gpu_seconds
check "  and CPU time, to its cgroup and uid" wait_for positive static cpu_ns
gpu_rows=$("$HPCMETERCTL" usage --json | json "[(u['uid'], u['gpu_dev_opens']) for u in d if u['cgroup'].endswith('hpcm-adv-gpu-$$/static') and u.get('gpu_dev_opens')]")
check "  under uid 65534" test "$gpu_rows" = "[(65534, 1)]"

# 2. The same device by a path the open filter does not know: relative, through a symlink,
# bind-mounted at another path in a new mount namespace (a container's view). Each holds it
# across readings, until the test has seen it charged: the reading of open device files finds
# it by its device numbers. Not an open the filter saw (no device open counted), but
# GPU-seconds.
ln -s "$DEV" "$T/gpu-link"
: >"$T/gpu-bind"
GATE=$T/held-long-enough
holders=()
(cd /dev && in_cgroup relative "$STATIC" sh "$T/hold-until.sh" "${DEV#/dev/}" "$GATE") &
holders+=($!)
in_cgroup symlink "$STATIC" sh "$T/hold-until.sh" "$T/gpu-link" "$GATE" &
holders+=($!)
mkdir -p "$CG/container"
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec unshare -m sh -c "mount --make-rprivate / && mount --bind \"\$1\" \"\$2\" && shift 2 && exec \"\$@\"" sh "$@"' \
	sh "$CG/container" "$DEV" "$T/gpu-bind" $NOBODY "$STATIC" sh "$T/hold-until.sh" "$T/gpu-bind" "$GATE" &
holders+=($!)
_pids+=("${holders[@]}")
for c in relative symlink container; do
	check "opened $c: GPU-seconds are charged to its cgroup while it holds the device" \
		wait_for positive $c gpu_seconds
done
touch "$GATE"
wait "${holders[@]}"
for c in relative symlink container; do
	check "opened $c: its CPU time is charged to its cgroup" wait_for positive $c cpu_ns
done
held_rows=$("$HPCMETERCTL" usage --json | json "sorted((u['cgroup'].rsplit('/', 1)[1], u['uid'], u['gpu_dev_opens']) for u in d if 'hpcm-adv-gpu-$$/' in u['cgroup'] and u.get('gpu_seconds'))")
check "  under uid 65534; only the /dev path open was counted as an open" \
	test "$held_rows" = "[('container', 65534, 0), ('relative', 65534, 0), ('static', 65534, 1), ('symlink', 65534, 0)]"
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
