#!/bin/bash
# Evasion, part 4: accelerator use past the runtime probes. The GPU meter's runtime cases are
# real attempts in tests/bpf/test-gpu.c already (a private copy of libcuda at an odd path, a
# copy inside a new mount namespace, dlopen after the meter started, a runtime mapped before
# it); here, with hpcmeterd on a private bus and a fake accelerator node (/dev/nvidiaN with
# /dev/full's numbers): a statically linked program that opens the device itself, no runtime
# library at all, is still metered by its device opens (GPU-seconds, device index, cgroup,
# uid). Known limit, checked so that it stays documented: the device-open filter matches the
# path given to open(), so opening the same node by a relative path or through a symlink is
# not counted; the CPU time of such a process is. See docs/RELIABILITY.md, Evasion.
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

# 1. A statically linked program (no libcuda, nothing for a uprobe) holding the device for
# 0.5 s while it burns a little CPU.
in_cgroup static "$STATIC" sh -c "exec 3<'$DEV'; i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done; sleep 0.5"
check "static program, no runtime: its device open is counted" wait_for 10 equals static gpu_dev_opens 1
check "  and it is charged GPU-seconds" wait_for 10 positive static gpu_seconds
check "  and CPU time, to its cgroup and uid" wait_for 10 positive static cpu_ns
gpu_rows=$("$HPCMETERCTL" usage --json | json "[(u['uid'], u['gpu_dev_opens']) for u in d if u['cgroup'].endswith('hpcm-adv-gpu-$$/static') and u.get('gpu_dev_opens')]")
check "  under uid 65534" test "$gpu_rows" = "[(65534, 1)]"

# 2. The same device by a path the filter does not know: relative, then through a symlink.
ln -s "$DEV" "$T/gpu-link"
in_cgroup relative "$STATIC" sh -c "cd /dev && exec 3<'${DEV#/dev/}'; i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done"
in_cgroup symlink "$STATIC" sh -c "exec 3<'$T/gpu-link'; i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done"
check "opened by a relative path: its CPU time is still metered" wait_for 10 positive relative cpu_ns
check "opened through a symlink: its CPU time is still metered" wait_for 10 positive symlink cpu_ns
# A whole interval after both ended is in the ledger: whatever device use was counted is too.
ended=$(date +%s%6N)
later() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
sys.exit(0 if c.execute("SELECT COUNT(*) FROM intervals WHERE start_usec > ?", (int(sys.argv[2]),)).fetchone()[0] else 1)' "$T/state/ledger.sqlite" "$ended"
}
check "an interval after both ended was written" wait_for 10 later
check "known limit: the relative-path open is not counted as device use" equals relative gpu_dev_opens 0
check "known limit: the symlinked open is not counted as device use" equals symlink gpu_dev_opens 0
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
