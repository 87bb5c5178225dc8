#!/bin/bash
# Scale of state: hpcmeterd's memory and the time of one reading (the task iterator,
# attribution, ledger write, licence evaluation) with 10, 1,000 and 10,000 live cgroups, each
# holding one sleeping process, and 100 licences loaded (each with caps, so the evaluator
# queries the ledger). Prints a markdown table. Not a test: figures go to docs/PERFORMANCE.md.
# usage: bench/scale.sh [BUILD_DIR] [N...]   (as root; default N: 10 1000 10000)
BUILD=${1:-build}
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
shift 2>/dev/null
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10 1000 10000)

start_bus
mkdir -p "$T/licenses"
for i in $(seq 100); do
	cat >"$T/licenses/lic-$i.yaml" <<LIC
license:
  id: SCALE-$i
  regime: internal
  type: internal-policy
  valid: { from: 2026-01-01, until: 2030-12-31 }
  principals: { users: [root, nobody] }
  end_use: { prohibited_executables: ["*/never-run-$i*"] }
  caps:
    - { id: cpu-user-day, metric: cpu_seconds, scope: user, period: day, limit: 1e9 }
    - { id: cpu-job-run, metric: cpu_seconds, scope: job, period: run, limit: 1e9 }
LIC
done
CG=$(cgroup2_mount)/hpcmeter-bench-scale-$$
mkdir "$CG"
# at the end: stop the sleepers, then remove their cgroups
on_cleanup "cat '$CG'/c*/cgroup.procs 2>/dev/null | xargs -r kill -9; sleep 1; for d in '$CG'/c*; do rmdir \"\$d\" 2>/dev/null; done; rmdir '$CG'"
st() { "$HPCMETERCTL" status --json | json "d.get('$1')"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status"; }

echo "| live cgroups (one process each) | licences | daemon RSS (MiB) | reading (ms, median of 5) | processes tracked |"
echo "| --- | --- | --- | --- | --- |"
made=0
for n in "${counts[@]}"; do
	# grow to n cgroups, each with one sleeping process in it
	while [ "$made" -lt "$n" ]; do
		mkdir "$CG/c$made"
		sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 100000' _ "$CG/c$made" \
			</dev/null >/dev/null 2>&1 &
		disown # stopped through their cgroups at the end, without a job report each
		made=$((made + 1))
	done
	if [ -z "${DAEMON_PID:-}" ]; then
		start_daemon --licenses "$T/licenses" --interval 1 --gpu-mode off
	fi
	sleep 3
	ms=()
	for _ in 1 2 3 4 5; do
		sleep 1.1
		ms+=("$(st last_collect_duration_usec)")
	done
	med=$(printf '%s\n' "${ms[@]}" | sort -n | sed -n 3p)
	printf '| %d | 100 | %.1f | %.1f | %s |\n' "$n" "$(echo "$(rss_kib) / 1024" | bc -l)" \
		"$(echo "$med / 1000" | bc -l)" "$(st processes_tracked)"
done
echo
echo "Each reading: interval 1 s; the daemon started with the first row's cgroups and kept"
echo "running while more were added."
