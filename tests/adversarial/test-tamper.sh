#!/bin/bash
# Evasion, part 3: root against the meter. Real attempts: detach each of the daemon's BPF
# links and replace their programs with no-ops through bpf(2) (tests/adversarial/bpf-tamper.py);
# the kernel refuses for the tracepoint links, and a replaced task iterator opens a
# probe-detached gap. Stop the daemon and run a prohibited program meanwhile: a daemon-stopped
# gap with its bound, and the program, still running at the restart, is caught. Set the wall
# clock back while the daemon runs and while it is down: a clock-jump tamper violation, and the
# downtime gap is measured on CLOCK_BOOTTIME. The host clock is restored exactly (from the
# realtime-boottime offset taken before), also on a failure.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, clock_settime)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
NOOP=$BUILD/tests/noop-iter.bpf.o
[ -r "$NOOP" ] || skip_all "build $NOOP first (make check)"
command -v bpftool >/dev/null || skip_all "no bpftool"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cp "$BUILD/tests/burn" "$T/bin/hpcm-evil" || { echo "Bail out! build $BUILD/tests/burn first"; exit 1; }
printf 'hpcm-evil %s\n' "$T" >>"$T/bin/hpcm-evil"
cat >"$T/licenses/tamper.yaml" <<EOY
license:
  id: TAMPER-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-evil*"]
    prohibited_executable_sha256: [$(sha256sum "$T/bin/hpcm-evil" | cut -d' ' -f1)]
EOY
LEDGER=$T/state/ledger.sqlite
q() { ledger_sql "$LEDGER" "$1"; }
links() { # TYPE-REGEX: the daemon's BPF links of that type, from its own file descriptors
	for f in /proc/"$DAEMON_PID"/fdinfo/*; do
		grep -Eq "^link_type:[[:space:]]*($1)\$" "$f" 2>/dev/null && awk '/^link_id:/ { print $2 }' "$f"
	done | sort -un
}
caught() { "$HPCMETERCTL" violations --json | json "any(v['kind'] == 'prohibited-executable' and v['executable'] == '$KPREFIX$1' for v in d)" | grep -q True; }
gaps() { q "SELECT COUNT(*) FROM gaps WHERE cause = '$1'"; }

start_bus
start_daemon --licenses "$T/licenses" --interval 1

# 1. Detach every link of the meter (BPF_LINK_DETACH, what `bpftool link detach` does).
all=$(links '.*')
tp=$(links 'raw_tracepoint|tracing|perf')
check "the daemon holds BPF links ($(wc -w <<<"$all") of them)" test -n "$tp"
tests/adversarial/bpf-tamper.py detach $all >"$T/detach.out"
diag "$(tr '\n' ' ' <"$T/detach.out")"
check "detach: the kernel refuses it for every link (EOPNOTSUPP)" \
	test "$(grep -vc ' ENOTSUP$' "$T/detach.out")" = 0
# 2. Replace the tracepoint programs with a no-op (BPF_LINK_UPDATE).
tests/adversarial/bpf-tamper.py update $tp >"$T/update.out"
diag "$(tr '\n' ' ' <"$T/update.out")"
check "replace: the kernel refuses it for every tracepoint link (EINVAL)" \
	test "$(grep -vc ' EINVAL$' "$T/update.out")" = 0
cp "$T/bin/hpcm-evil" "$T/bin/after-detach"
"$T/bin/after-detach" 50
check "metering goes on: a prohibited program run after the attempts is caught" \
	wait_for caught "$T/bin/after-detach"
check "and no gap was opened" test "$(gaps probe-detached)" = 0

# 3. An iterator's link does take another program: root replaces the one the CPU meter reads
# from with an iterator that reports nothing (CPU time of living processes would vanish), and
# the GPU meter's reading of held devices with one that finds none.
bpftool prog loadall "$NOOP" "$_bpffs/noop" ||
	{ echo "Bail out! cannot load $NOOP"; exit 1; }
iter_links() { # TARGET: the daemon's iterator links over that target, oldest first
	for id in $(links iter); do
		bpftool link show id "$id" -j | json "d.get('target_name')" | grep -qx "$1" && echo "$id"
	done
}
reading=$(iter_links task | tail -1)
tests/adversarial/bpf-tamper.py update --prog "$_bpffs/noop/noop_task" "$reading" >"$T/iter.out"
check "replace the CPU meter's reading iterator: the kernel allows it ($(cat "$T/iter.out"))" \
	test "$(cat "$T/iter.out")" = "$reading ok"
detached() { [ "$(gaps probe-detached)" -ge 1 ]; }
check "the daemon notices: a probe-detached gap is recorded" wait_for detached
check "  naming the replaced program" test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'probe-detached' AND detail LIKE '%1 BPF programs of the CPU meter not attached (or replaced)%'")" -ge 1
check "  and status shows it open" test "$("$HPCMETERCTL" status --json | json "d['gaps_open']")" -ge 1
check "  with a CPU bound of cores × duration" test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'probe-detached' AND bound_cpu_ns != (end_usec - start_usec) * 1000 * $(getconf _NPROCESSORS_CONF)")" = 0

# 4. Stop the daemon; run a renamed prohibited program while it is away: a short one (never
# seen: covered by the gap's bound) and a long one (still running at the restart: it waits
# after its first 50 ms until the test has seen it caught).
stop_daemon
check "hpcmeterd stopped (SIGTERM)" test $? = 0
cp "$T/bin/hpcm-evil" "$T/bin/while-down-short"
cp "$T/bin/hpcm-evil" "$T/bin/while-down-long"
"$T/bin/while-down-short" 50
"$T/bin/while-down-long" --park "$T/long-parked" "$T/long-go" 50 50 &
LONG=$!
_pids+=("$LONG")
wait_file "$T/long-parked"
start_daemon --licenses "$T/licenses" --interval 1
n_gaps() { [ "$(gaps "$1")" = "$2" ]; }
check "the restart records a daemon-stopped gap" wait_for n_gaps daemon-stopped 1
check "  bounded by cores × the time it was down" test "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'daemon-stopped' AND bound_cpu_ns = (end_usec - start_usec) * 1000 * $(getconf _NPROCESSORS_CONF) AND end_usec > start_usec")" = 1
check "the prohibited program still running at the restart is caught (its SHA-256)" \
	wait_for caught "$T/bin/while-down-long"
touch "$T/long-go"
wait "$LONG"

# The GPU meter's reading of held devices, replaced under the restarted daemon.
held=$(iter_links task_file)
tests/adversarial/bpf-tamper.py update --prog "$_bpffs/noop/noop_task_file" "$held" >"$T/held.out"
check "replace the GPU meter's reading of held devices: the kernel allows it ($(cat "$T/held.out"))" \
	test "$(cat "$T/held.out")" = "$held ok"
gpu_replaced() { [ "$(q "SELECT COUNT(*) FROM gaps WHERE cause = 'probe-detached' AND detail LIKE '%, 1 of the GPU meter replaced'")" -ge 1 ]; }
check "the daemon notices: a probe-detached gap names the GPU meter" wait_for gpu_replaced

# 5. The wall clock set back 300 s under the running daemon, then put right again.
OFFSET=$(python3 -c 'import time; print(repr(time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_BOOTTIME)))')
clock_restore() {
	python3 -c 'import sys, time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_BOOTTIME) + float(sys.argv[1]))' "$OFFSET"
}
clock_back() {
	python3 -c 'import time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) - 300)'
}
on_cleanup clock_restore
jumps() { q "SELECT COUNT(*) FROM violations WHERE kind = 'clock-jump' AND detail LIKE '%$1 by 30%$2%'"; }
has_jump() { [ "$(jumps "$1" "$2")" -ge 1 ]; }
clock_back
check "clock set back 300 s: a clock-jump tamper violation" wait_for has_jump back "between two readings"
clock_restore
check "clock put right: a clock-jump forward violation" wait_for has_jump forward "between two readings"
skew=$(python3 -c "import time; print(abs(time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_BOOTTIME) - $OFFSET) < 0.01)")
check "the host clock is back where it was (within 10 ms)" test "$skew" = True
check "intervals never end before they start" test "$(q "SELECT COUNT(*) FROM intervals WHERE end_usec < start_usec")" = 0

# 6. The clock set back while the daemon is down: before, the heartbeat lay "in the future"
# and no gap was recorded at all.
down_from=$(date +%s%6N) # before the stop: its last heartbeat starts the gap
stop_daemon
clock_back
start_daemon --licenses "$T/licenses" --interval 1
clock_restore
down_for=$(($(date +%s%6N) - down_from))
check "clock set back while down: a clock-jump violation at the restart" wait_for has_jump back "while hpcmeterd was down"
check "the daemon-stopped gap is still recorded" wait_for n_gaps daemon-stopped 2
len=$(q "SELECT end_usec - start_usec FROM gaps WHERE cause = 'daemon-stopped' ORDER BY id DESC LIMIT 1")
check "  lasting the time it was down by CLOCK_BOOTTIME ($len µs, at most $down_for)" \
	test "$len" -gt 0 -a "$len" -le "$down_for"
"$HPCMETERCTL" violations --json >"$T/violations.json"
diag "$(json "'\n'.join('%s %s: %s' % (v['seq'], v['kind'], v['detail']) for v in d if v['kind'] == 'clock-jump')" <"$T/violations.json")"
check "the ledger's chain verifies after all of it" "$HPCMETERCTL" ledger verify --state-dir "$T/state"
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
