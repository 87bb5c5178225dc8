#!/bin/bash
# Evasion, part 5: a CUDA driver library under another name, loaded late. hpcmeterd in detailed
# mode on a private bus; the fake libcuda of tests/gpu-fake (SONAME libcuda.so.1, the driver's
# entry points) copied to libfoo.so and dlopen'd by a program that started before, as a
# launcher that unpacks its own driver shim does: in the daemon's namespace; in a mount
# namespace of its own (a container image's copy, on a tmpfs the daemon cannot see); deleted
# once mapped (the daemon stopped meanwhile, so the file is gone when it looks); loaded from a
# memfd. Each is recognised by its content at its executable mapping and attached through
# /proc/PID/map_files: `hpcmeterctl inventory` lists it, and the launches made after the
# attach are counted exactly. The window between the mapping and the probes is a "probe-late"
# gap with a bound on the launches it could hold, never zero: launches made inside a long
# window (the daemon stopped) are not counted and the bound covers them; a process that
# mapped a file, used a device and exited before the daemon could read the file is a gap too.
# Also a loader of its own that maps the copy read-only and makes its code executable later.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, mount namespaces)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
FAKE=$BUILD/tests/gpu-fake/libcuda.so.1
LOAD=$BUILD/tests/gpu-load
[ -x "$LOAD" ] && [ -f "$FAKE" ] || skip_all "build $LOAD and $FAKE first (make check)"
echo "TAP version 13"

IDX=$((40 + $$ % 20))
DEV=/dev/nvidia${IDX}hpcmcopy$$
mknod -m 666 "$DEV" c 1 7 || skip_all "cannot create $DEV"
on_cleanup "rm -f '$DEV'"
mkdir -p "$T/licenses"
echo "accelerators_file = $TOP/data/accelerators.yaml" >"$T/hpcmeterd.conf"
CG=$CGMNT/hpcm-adv-copies-$$
mkdir "$CG"
on_cleanup "for d in '$CG'/*/ '$CG'; do rmdir \"\$d\" 2>/dev/null; done"
N=300 # iterations: 2 launches each (cuLaunchKernel 2304 threads, cuLaunchKernelEx 1024)

start_bus
start_daemon --config "$T/hpcmeterd.conf" --licenses "$T/licenses" --interval 1 \
	--gpu-mode detailed

# field NAME KEY: the sum of a usage field over the rows of that cgroup.
field() {
	"$HPCMETERCTL" usage --json | python3 -c '
import json, sys
print(sum(u.get(sys.argv[2], 0) for u in json.load(sys.stdin)
          if u["cgroup"].endswith("/hpcm-adv-copies-" + sys.argv[3] + "/" + sys.argv[1])))' "$1" "$2" "$$"
}
equals() { [ "$(field "$1" "$2")" = "$3" ]; }
# listed NEEDLE: inventory lists a cuda library whose path contains NEEDLE, with launch probes.
listed() {
	"$HPCMETERCTL" inventory --json >"$T/inv.json" &&
		python3 - "$1" "$T/inv.json" <<'EOPY'
import json, sys
d = json.load(open(sys.argv[2]))
sys.exit(0 if any(l.startswith("cuda ") and sys.argv[1] in l and "SONAME libcuda.so.1" in l
                  for l in d["libraries"]) else 1)
EOPY
}
# late_gap NEEDLE: the probe-late gaps whose detail contains NEEDLE, as "count launches_upper".
late_gap() {
	"$HPCMETERCTL" gaps --json | python3 -c '
import json, sys
g = [x for x in json.load(sys.stdin) if x["cause"] == "probe-late" and sys.argv[1] in x["detail"]]
print(len(g), sum(json.loads(x["bound"]).get("launches_upper", 0) for x in g))' "$1"
}
gap_found() { [ "$(late_gap "$1" | cut -d' ' -f1)" -ge 1 ]; }
gap_bounded() { [ "$(late_gap "$1" | cut -d' ' -f2)" -ge 1 ]; }

# start_load NAME [unshare] ARGS...: gpu-load in cgroup NAME with its stdin and stdout on fifos
# (fd 7 to it, fd 8 from it), loading nothing until the first line; reads "ready".
start_load() {
	local name=$1
	shift
	mkdir -p "$CG/$name"
	rm -f "$T/in" "$T/out"
	mkfifo "$T/in" "$T/out"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$name" "$@" \
		<"$T/in" >"$T/out" &
	LOAD_PID=$!
	_pids+=("$LOAD_PID")
	exec 7>"$T/in" 8<"$T/out"
	read -r -t 10 line <&8
	[ "$line" = ready ]
}
say() { echo go >&7; }
hear() { read -r -t 20 line <&8 && [ "$line" = "$1" ]; }
end_load() {
	exec 7>&-
	wait "$LOAD_PID"
	local rc=$?
	exec 8<&-
	return $rc
}

# Renamed, in the daemon's namespace: dlopen'd after the program started.
mkdir -p "$T/renamed"
cp "$FAKE" "$T/renamed/libfoo.so"
check "renamed: the program starts with nothing loaded" \
	start_load renamed "$LOAD" -C "$T/renamed/libfoo.so" -n $N -t 0 -c 0 -w -l
say
check "renamed: it dlopens libfoo.so late" hear loaded
check "renamed: the daemon recognises it as CUDA by its content (inventory)" \
	wait_for listed "$T/renamed/libfoo.so"
say
check "renamed: the program ran" end_load
check "renamed: its launches are counted exactly ($((2 * N)))" wait_for equals renamed launches $((2 * N))
check "  threads launched: $((N * 3328))" equals renamed threads_launched $((N * 3328))
check "  a probe-late gap names the copy, with a launch bound above 0" \
	wait_for gap_bounded "$T/renamed/libfoo.so"

# In a mount namespace of its own, on a tmpfs only it sees (a container image's copy).
mkdir -p "$T/ctr"
check "container: the program starts in its own mount namespace" \
	start_load container unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs tmpfs "$1" &&
		cp "$2" "$1/libfoo.so" && shift 2 && exec "$@"' sh "$T/ctr" "$FAKE" \
	"$LOAD" -C "$T/ctr/libfoo.so" -n $N -t 0 -c 0 -w -l
check "container: the daemon's namespace has no such file" test ! -e "$T/ctr/libfoo.so"
say
hear loaded
check "container: its copy is recognised and attached (through /proc/PID/map_files)" \
	wait_for listed "$T/ctr/libfoo.so"
say
end_load
check "container: its launches are counted exactly" wait_for equals container launches $((2 * N))

# Deleted once mapped, before the daemon could look: the daemon is stopped meanwhile.
mkdir -p "$T/del"
cp "$FAKE" "$T/del/libfoo.so"
start_load deleted "$LOAD" -C "$T/del/libfoo.so" -n $N -t 0 -c 0 -w -l -u
kill -STOP "$DAEMON_PID"
say
hear loaded
check "deleted: the copy was deleted before the daemon ran again" test ! -e "$T/del/libfoo.so"
kill -CONT "$DAEMON_PID"
check "deleted: it is recognised all the same, shown as deleted" \
	wait_for listed "$T/del/libfoo.so (deleted)"
say
end_load
check "deleted: its launches are counted exactly" wait_for equals deleted launches $((2 * N))

# From a memfd.
start_load memfd "$LOAD" -C "$FAKE" -n $N -t 0 -c 0 -w -l -m
say
hear loaded
check "memfd: the copy in a memfd is recognised" wait_for listed "/memfd:gpu-runtime"
say
end_load
check "memfd: its launches are counted exactly" wait_for equals memfd launches $((2 * N))

# A loader of its own: the copy mapped read-only, its code made executable with mprotect(2).
mkdir -p "$T/mp"
cp "$FAKE" "$T/mp/libfoo.so"
start_load mprotect "$LOAD" -C "$T/mp/libfoo.so" -n $N -t 0 -c 0 -w -l -P
say
hear loaded
check "mprotect: a copy mapped by hand and made executable later is recognised" \
	wait_for listed "$T/mp/libfoo.so"
say
end_load
check "mprotect: its launches are counted exactly" wait_for equals mprotect launches $((2 * N))

# Launches inside the window: the daemon stopped from before the mapping until after the
# calls. None is counted; the probe-late gap's bound covers them.
mkdir -p "$T/win"
cp "$FAKE" "$T/win/libwin.so"
start_load window "$LOAD" -C "$T/win/libwin.so" -n $N -t 0 -c 0 -w -l -e
kill -STOP "$DAEMON_PID"
say
hear loaded
say
read -r -t 20 line <&8 # "child PID"
check "window: the program made its launches while the daemon was stopped" hear done
kill -CONT "$DAEMON_PID"
check "window: the copy is attached once the daemon runs" wait_for listed "$T/win/libwin.so"
check "window: a probe-late gap names it" wait_for gap_found "$T/win/libwin.so"
read -r gaps bound < <(late_gap "$T/win/libwin.so")
counted=$(field window launches)
diag "window: $counted launches counted, probe-late bound $bound launches"
check "window: counted ($counted) + the gap's bound ($bound) >= the $((2 * N)) launches made" \
	test $((counted + bound)) -ge $((2 * N))
say
end_load

# Mapped, a device used, gone before the daemon could read the file: a gap all the same.
mkdir -p "$T/gone"
cp "$FAKE" "$T/gone/libgone.so"
start_load gone "$LOAD" -C "$T/gone/libgone.so" -d "$DEV" -n 50 -t 0 -c 0 -w -l
kill -STOP "$DAEMON_PID"
say
hear loaded
say
end_load
kill -CONT "$DAEMON_PID"
check "gone: a probe-late gap for the unread mapping of pid $LOAD_PID, an accelerator user" \
	wait_for gap_found "pid $LOAD_PID, an accelerator user"
"$HPCMETERCTL" gaps >"$T/gaps.txt"
diag "$(grep probe-late "$T/gaps.txt")"
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
