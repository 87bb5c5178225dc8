#!/bin/bash
# Evasion, part 1: a prohibited program run under another name. Each case is a real attempt on
# the real kernel with hpcmeterd on a private bus; the test checks what hpcmeterd recorded.
# The licence prohibits the program by path glob (end_use.prohibited_executables) and by
# content (end_use.prohibited_executable_sha256). Caught: the program itself, renamed, copied,
# hard-linked, through a symlink, from a shell wrapper, from a memfd (fexecve), a prohibited
# script run by its name, renamed, or relative, a copy run through the dynamic loader (held
# across a reading). Bounded (not caught by these terms, CPU time still metered to its uid and
# cgroup): a script given to the interpreter as an argument. See docs/RELIABILITY.md, Evasion.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

# The prohibited program: the burn workload with a trailer that makes its content unique.
mkdir -p "$T/bin" "$T/elsewhere" "$T/licenses"
cp "$BUILD/tests/burn" "$T/bin/hpcm-evil" || { echo "Bail out! build $BUILD/tests/burn first (make check)"; exit 1; }
printf 'hpcm-evil %s\n' "$T" >>"$T/bin/hpcm-evil"
EVIL_SHA=$(sha256sum "$T/bin/hpcm-evil" | cut -d' ' -f1)
# A prohibited script: its interpreter is innocent, its content is not. Given a gate file in
# HPCM_GATE, it runs until the test creates it.
cat >"$T/bin/hpcm-evil.py" <<EOPY
#!/usr/bin/python3
# hpcm-evil script $T
import os, time
while time.process_time() < 0.3:
    pass
gate = os.environ.get("HPCM_GATE")
while gate and not os.path.exists(gate):
    time.sleep(0.05)
EOPY
chmod 755 "$T/bin/hpcm-evil.py"
SCRIPT_SHA=$(sha256sum "$T/bin/hpcm-evil.py" | cut -d' ' -f1)
cat >"$T/licenses/evade.yaml" <<EOY
license:
  id: EVADE-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-evil*"]
    prohibited_executable_sha256: [$EVIL_SHA, $SCRIPT_SHA]
EOY

# A cgroup per case that must be bounded: its CPU time is what the meter must still see.
CG=$CGMNT/hpcm-adv-exec-$$
mkdir "$CG"
on_cleanup "for d in '$CG'/*/ '$CG'; do rmdir \"\$d\" 2>/dev/null; done"

start_bus
start_daemon --licenses "$T/licenses" --interval 1

# caught EXECUTABLE TERM: a prohibited-executable violation for that executable, from that
# licence term (the glob's or the digest's wording).
caught() {
	"$HPCMETERCTL" violations --json 2>/dev/null | python3 -c '
import json, sys
exe, term = sys.argv[1], sys.argv[2]
words = {"glob": "matches prohibited pattern", "sha256": "prohibited SHA-256"}[term]
sys.exit(0 if any(v["kind"] == "prohibited-executable" and v["executable"] == exe and
                  words in v["detail"] and v["license_id"] == "EVADE-1"
                  for v in json.load(sys.stdin)) else 1)' "$1" "$2"
}
# in_cgroup NAME CMD...: run CMD in a cgroup of its own under this test's, wait for it.
in_cgroup() {
	local name=$1
	shift
	mkdir -p "$CG/$name"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$name" "$@"
}
cg_cpu() {
	"$HPCMETERCTL" usage --json | python3 -c '
import json, sys
print(sum(u["cpu_ns"] for u in json.load(sys.stdin) if u["cgroup"].endswith(sys.argv[1])))' "$1"
}
bounded() { [ "$(cg_cpu "/hpcm-adv-exec-$$/$1")" -ge "$2" ]; }

# 1. The program itself: the path glob.
"$T/bin/hpcm-evil" 50
check "the prohibited program by its own name is caught (glob)" \
	wait_for caught "$KPREFIX$T/bin/hpcm-evil" glob

# 2. Renamed: the glob no longer matches, the content does.
mv "$T/bin/hpcm-evil" "$T/bin/solver"
"$T/bin/solver" 50
check "renamed, it is caught by its SHA-256" wait_for caught "$KPREFIX$T/bin/solver" sha256

# 3. Copied elsewhere under another name; run from the copy after the original is gone.
cp "$T/bin/solver" "$T/elsewhere/a.out"
"$T/elsewhere/a.out" 50
check "a copy is caught by its SHA-256" wait_for caught "$KPREFIX$T/elsewhere/a.out" sha256

# 4. A hard link: the kernel's path is the link's own name, the content is the same.
ln "$T/bin/solver" "$T/elsewhere/hardlink"
"$T/elsewhere/hardlink" 50
check "a hard link is caught by its SHA-256" wait_for caught "$KPREFIX$T/elsewhere/hardlink" sha256

# 5. A symlink named like a harmless tool: the executable is the real file.
cp "$T/bin/solver" "$T/bin/hpcm-evil-linked"
ln -s "$T/bin/hpcm-evil-linked" "$T/elsewhere/python-helper"
"$T/elsewhere/python-helper" 50
check "through a symlink, the real path is what is recorded and caught" \
	wait_for caught "$KPREFIX$T/bin/hpcm-evil-linked" glob
check "  and the name it was run by is in the violation" \
	sh -c "'$HPCMETERCTL' violations --json | grep -q 'run as $T/elsewhere/python-helper'"

# 6. A shell wrapper that runs it as a child under yet another name.
cp "$T/bin/solver" "$T/elsewhere/worker"
printf '#!/bin/sh\n"%s" 50\nexit 0\n' "$T/elsewhere/worker" >"$T/elsewhere/run.sh"
chmod 755 "$T/elsewhere/run.sh"
"$T/elsewhere/run.sh"
check "run by a shell wrapper, the child is caught by its SHA-256" \
	wait_for caught "$KPREFIX$T/elsewhere/worker" sha256

# ... and one that replaces itself with it (exec without a fork: the same process).
cp "$T/bin/solver" "$T/elsewhere/execd"
sh -c "exec '$T/elsewhere/execd' 50"
check "a wrapper that execs it in its own process: caught by its SHA-256" \
	wait_for caught "$KPREFIX$T/elsewhere/execd" sha256

# 7. memfd_create + fexecve: no file name at all.
python3 - "$T/bin/solver" <<'EOPY'
import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.memfd_create("innocent", 0)
os.write(fd, data)
pid = os.fork()
if pid == 0:
    os.execve(fd, ["innocent", "300"], {})
os.waitpid(pid, 0)
EOPY
memfd_caught() {
	"$HPCMETERCTL" violations --json | python3 -c '
import json, sys
sys.exit(0 if any(v["kind"] == "prohibited-executable" and "memfd:innocent" in v["executable"]
                  and "prohibited SHA-256" in v["detail"] for v in json.load(sys.stdin)) else 1)'
}
check "run from a memfd with fexecve, it is caught by its SHA-256 (executable /memfd:...)" \
	wait_for memfd_caught

# 8. A prohibited script run by its name: the executable is the interpreter, the name it was
# run by matches the glob.
"$T/bin/hpcm-evil.py"
py_caught() {
	"$HPCMETERCTL" violations --json | python3 -c '
import json, sys
run, words = sys.argv[1], sys.argv[2]
sys.exit(0 if any(v["kind"] == "prohibited-executable" and "python3" in v["executable"] and
                  "run as " + run in v["detail"] and words in v["detail"]
                  for v in json.load(sys.stdin)) else 1)' "$1" "$2"
}
check "a prohibited script run by its name is caught (interpreter, run as the script)" \
	wait_for py_caught "$T/bin/hpcm-evil.py" "matches prohibited pattern"

# 9. The script renamed: its own content is prohibited.
cp "$T/bin/hpcm-evil.py" "$T/elsewhere/analysis.py"
"$T/elsewhere/analysis.py"
check "the script renamed is caught by the SHA-256 of the script" \
	wait_for py_caught "$T/elsewhere/analysis.py" "the script it runs has the prohibited SHA-256"

# 10. ... and run by a relative name from its directory. The daemon finds the script in the
# process's working directory (/proc/PID/cwd), so only while it runs: it runs until the test
# has seen its violation.
cp "$T/bin/hpcm-evil.py" "$T/elsewhere/rel.py"
on_cleanup "touch '$T/gate-rel'"
# (not bash's exec builtin: it would execve() the absolute path)
(cd "$T/elsewhere" && HPCM_GATE="$T/gate-rel" ./rel.py) &
rel_pid=$!
check "run by a relative name, the script is found in its working directory and caught" \
	wait_for py_caught "./rel.py" "the script it runs has the prohibited SHA-256"
touch "$T/gate-rel"
wait "$rel_pid"

# 11. The copy run through the dynamic loader: the kernel executes ld.so, which maps the
# program; no exec of it. The daemon looks at what a loader process maps at each reading: the
# program, held across a reading (it burns 0.5 s, then waits until the test has seen it caught,
# then burns 1 s more), is caught by its digest.
LDSO=$(readelf -l /bin/true | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
ldso_exe=$(readlink -f "$LDSO")
in_cgroup ldso "$LDSO" "$T/elsewhere/a.out" --park "$T/ldso-parked" "$T/ldso-go" 500 1000 &
LDSO_PID=$!
_pids+=("$LDSO_PID")
wait_file "$T/ldso-parked"
ldso_caught() {
	"$HPCMETERCTL" violations --json | python3 -c '
import json, sys
exe, prog = sys.argv[1], sys.argv[2]
sys.exit(0 if any(v["kind"] == "prohibited-executable" and v["executable"] == exe and
                  "the program it maps, " + prog + ", has the prohibited SHA-256" in v["detail"]
                  for v in json.load(sys.stdin)) else 1)' "$KPREFIX$ldso_exe" "$T/elsewhere/a.out"
}
check "through the dynamic loader: the program it maps is caught by its SHA-256" \
	wait_for ldso_caught
touch "$T/ldso-go"
wait "$LDSO_PID"
check "  and its CPU time is metered to its cgroup" wait_for bounded ldso 1400000000

# 12. Bounded: the script as the interpreter's argument. The exec record has the interpreter
# and the name it was run by (python3), not its argv.
in_cgroup pyarg python3 "$T/elsewhere/analysis.py"
check "a script passed to the interpreter: its CPU time is still metered to its cgroup" \
	wait_for bounded pyarg 250000000

"$HPCMETERCTL" violations --json >"$T/violations.json"
diag "$(json "'\n'.join('%s %s: %s' % (v['seq'], v['executable'], v['detail']) for v in d)" <"$T/violations.json")"
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
