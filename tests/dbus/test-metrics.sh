#!/bin/bash
# The metrics as Prometheus and OpenMetrics consumers read them, from a real hpcmeterd on a
# private bus: the --metrics-file text passes `promtool check metrics` and Prometheus' own
# text parser (python3-prometheus-client), GetMetrics's text the OpenMetrics parser; a
# Slurm-like job's CPU and GPU seconds under the label hpc_job (never job, which Prometheus
# sets itself); the build, each licence's validity as timestamps, and the usage ratio of each
# cap per subject and at its highest, checked against the licence and the ledger; the job's
# series, and its cap's ratio, dropped once it has had no usage for metrics_series_grace.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, mknod)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v promtool >/dev/null || skip_all "no promtool (apt-get install prometheus)"
# Debian's python3 (an interpreter earlier in PATH may not see Debian's modules)
PY=/usr/bin/python3
"$PY" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
	skip_all "no python3-prometheus-client"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

# A Slurm-like job of our own (cgroup v2 layout of cgroup/v1's names), and a fake accelerator
# node (/dev/nvidiaN with /dev/full's numbers) that the job holds: GPU-seconds without a GPU.
JOB=9$$
TOPCG=$CGMNT/hpcmeter-metrics-$$
JOBCG=$TOPCG/slurm/uid_65534/job_$JOB/step_0
mkdir -p "$JOBCG"
on_cleanup "rmdir '$JOBCG' '$TOPCG/slurm/uid_65534/job_$JOB' '$TOPCG/slurm/uid_65534' '$TOPCG/slurm' '$TOPCG' 2>/dev/null"
DEV=/dev/nvidia$((40 + $$ % 20))hpcmmet$$
mknod -m 666 "$DEV" c 1 7 || skip_all "cannot create $DEV"
on_cleanup "rm -f '$DEV'"
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"

LIMIT_JOB=50
LIMIT_USER=1000000
mkdir -p "$T/licenses"
cat >"$T/licenses/metrics.yaml" <<EOY
license:
  id: METRICS-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  caps:
    - { id: cpu-job, metric: cpu_seconds, scope: job, period: run, limit: $LIMIT_JOB }
    - { id: cpu-user, metric: cpu_seconds, scope: user, period: validity, limit: $LIMIT_USER }
    - { id: cpu-node, metric: cpu_seconds, scope: license, period: day, limit: 1e9 }
EOY
cat >"$T/hpcmeterd.conf" <<EOC
accelerators_file = $TOP/data/accelerators.yaml
metrics_series_grace = 2
EOC

start_bus
start_daemon --config "$T/hpcmeterd.conf" --licenses "$T/licenses" --interval 1 \
	--metrics-file "$T/metrics.prom"

# The job: opens the device, burns 600 ms of CPU, then holds the device (GPU-seconds every
# interval: its series stay) without using the CPU until the test writes to $T/go; all as
# nobody in the job's cgroup.
mkfifo -m 666 "$T/go"
cat >"$T/job.sh" <<EOSH
exec 3<"$DEV" || exit 1
"$BUILD/tests/burn" 600 || exit 1
read -r _ <"$T/go"
EOSH
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$JOBCG" $NOBODY sh "$T/job.sh" &
JOB_PID=$!
_pids+=("$JOB_PID")

# sample FILE NAME LABELS...: the value of the sample NAME with exactly those labels (k=v,
# Python's OpenMetrics parser); nothing when absent.
sample() {
	"$PY" - "$@" <<'EOPY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
want = dict(a.split("=", 1) for a in sys.argv[3:])
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == sys.argv[2] and s.labels == want:
            print(repr(float(s.value)))
EOPY
}
om() { "$HPCMETERCTL" metrics >"$T/m.om.new" && mv "$T/m.om.new" "$T/m.om"; }
JOBL=(hpc_job="$JOB" user=nobody uid=65534)
# both CPU (its 600 ms) and GPU seconds of the job are in
job_metered() {
	om && [ -n "$(sample "$T/m.om" hpcmeter_gpu_seconds_total "${JOBL[@]}")" ] &&
		"$PY" -c "import sys; sys.exit(0 if $(sample "$T/m.om" hpcmeter_cpu_seconds_total "${JOBL[@]}" || echo 0) >= 0.55 else 1)"
}
check "the job's CPU seconds (>= 0.55 s) and GPU seconds appear under hpc_job=$JOB" \
	wait_for job_metered
cp "$T/m.om" "$T/job.om"
cp "$T/metrics.prom" "$T/job.prom"
diag "$(grep -E "hpc_job=\"$JOB\"|^hpcmeter_build|^hpcmeter_license" "$T/job.om")"

# The formats, by the consumers' own tools.
promtool check metrics <"$T/job.prom" >"$T/promtool.out" 2>&1
rc=$?
diag "$(cat "$T/promtool.out")"
check "promtool check metrics accepts the --metrics-file text, no lint problem" \
	test $rc = 0 -a ! -s "$T/promtool.out"
check "Prometheus' text parser reads the file; counters and gauges typed" "$PY" - "$T/job.prom" <<'EOPY'
import sys
from prometheus_client.parser import text_string_to_metric_families
types = {f.name: f.type for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = {"hpcmeter_cpu_seconds": "counter", "hpcmeter_gpu_seconds": "counter",
        "hpcmeter_build_info": "gauge", "hpcmeter_license_valid_until_seconds": "gauge",
        "hpcmeter_license_cap_usage_ratio": "gauge", "hpcmeter_violations": "counter"}
bad = {k: types.get(k) for k in want if types.get(k) != want[k]}
print("# wrong or missing:", bad) if bad else None
sys.exit(1 if bad else 0)
EOPY
check "the OpenMetrics parser reads GetMetrics's text (UNIT, info, # EOF)" "$PY" - "$T/job.om" <<'EOPY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = {"hpcmeter_cpu_seconds": ("counter", "seconds"), "hpcmeter_gpu_seconds": ("counter", "seconds"),
        "hpcmeter_build": ("info", ""), "hpcmeter_license_valid_from_seconds": ("gauge", "seconds"),
        "hpcmeter_license_valid_until_seconds": ("gauge", "seconds"),
        "hpcmeter_license_cap_usage_ratio": ("gauge", "ratio"),
        "hpcmeter_license_cap_highest_usage_ratio": ("gauge", "ratio")}
bad = {k: (fams[k].type, fams[k].unit) if k in fams else None for k in want
       if k not in fams or (fams[k].type, fams[k].unit) != want[k]}
print("# wrong or missing:", bad) if bad else None
sys.exit(1 if bad else 0)
EOPY
# hpcmeterd(8)'s METRICS list names exactly the families in the file.
sed -n '/^## METRICS/,/^## /p' "$TOP/docs/hpcmeterd.8.md" |
	grep -o '^- `hpcmeter_[a-z_]*`' | sed 's/^- //; s/`//g' | sort -u >"$T/documented"
sed -n 's/^# TYPE \(hpcmeter_[a-z_]*\) .*/\1/p' "$T/job.prom" | sort -u >"$T/exported"
diff "$T/documented" "$T/exported" >"$T/doc.diff"
rc=$?
[ $rc = 0 ] || diag "$(cat "$T/doc.diff")"
check "hpcmeterd(8), METRICS, documents every family in the file and no other" test $rc = 0
check "no sample has a label named job (Prometheus would rename it exported_job)" \
	sh -c "! grep -Eq '[{,]job=' '$T/job.om' '$T/job.prom'"
check "the file has the job's series too" grep -q "^hpcmeter_cpu_seconds_total{hpc_job=\"$JOB\",user=\"nobody\",uid=\"65534\"} " "$T/job.prom"
gpu=$(sample "$T/job.om" hpcmeter_gpu_seconds_total "${JOBL[@]}")
check "GPU seconds of the job are positive ($gpu)" "$PY" -c "import sys; sys.exit(0 if $gpu > 0 else 1)"

version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
check "hpcmeter_build_info names version $version and the ledger schema" \
	grep -Eq "^hpcmeter_build_info\{version=\"$version\",ledger_schema=\"[0-9]+\",compiler=\"[^\"]+\"\} 1$" "$T/job.om"
check "valid_from is 2020-01-01T00:00:00Z" \
	test "$(sample "$T/job.om" hpcmeter_license_valid_from_seconds license_id=METRICS-1)" = \
	"$(date -u -d 2020-01-01 +%s).0"
check "valid_until is the end of 2099-12-31 UTC" \
	test "$(sample "$T/job.om" hpcmeter_license_valid_until_seconds license_id=METRICS-1)" = \
	"$(date -u -d 2100-01-01 +%s).0"
check "the licence is active" test "$(sample "$T/job.om" hpcmeter_license_active license_id=METRICS-1)" = 1.0

# Cap ratios, the job's CPU time all in (it waits now): the job's (run) equals its CPU
# seconds in the ledger over the limit, and so does the user's (validity) for uid 65534.
CAPL=(license_id=METRICS-1 metric=cpu_seconds)
ratio_is() { # ratio_is CAP SCOPE PERIOD SUBJECT SQL-SUM LIMIT: the metric equals SUM/LIMIT
	local got want
	om
	got=$(sample "$T/m.om" hpcmeter_license_cap_usage_ratio "${CAPL[@]}" cap="$1" scope="$2" \
		period="$3" subject="$4")
	want=$(ledger_sql "$T/state/ledger.sqlite" "SELECT $5 FROM usage")
	[ -n "$got" ] && "$PY" -c "import sys; sys.exit(0 if abs($got - $want / 1e9 / $6) < 1e-9 else 1)"
}
check "the job's cap ratio is its CPU seconds in the ledger / $LIMIT_JOB" \
	wait_for ratio_is cpu-job job run "$JOB" "SUM(CASE WHEN job = '$JOB' THEN cpu_ns END)" "$LIMIT_JOB"
check "the user's cap ratio is uid 65534's CPU seconds in the ledger / $LIMIT_USER" \
	wait_for ratio_is cpu-user user validity "nobody (uid 65534)" \
	"SUM(CASE WHEN uid = 65534 THEN cpu_ns END)" "$LIMIT_USER"
highest=$(sample "$T/m.om" hpcmeter_license_cap_highest_usage_ratio "${CAPL[@]}" cap=cpu-job scope=job period=run)
jobratio=$(sample "$T/m.om" hpcmeter_license_cap_usage_ratio "${CAPL[@]}" cap=cpu-job scope=job period=run subject="$JOB")
check "the cap's highest ratio is at least the job's ($highest >= $jobratio)" \
	"$PY" -c "import sys; sys.exit(0 if $highest >= $jobratio > 0 else 1)"
node=$(sample "$T/m.om" hpcmeter_license_cap_usage_ratio "${CAPL[@]}" cap=cpu-node scope=license period=day subject=)
check "a cap on the whole licence has one series, subject \"\" ($node)" \
	"$PY" -c "import sys; sys.exit(0 if 0 < $node < 1 else 1)"

# The grace: the job ends; with no usage for 2 s (2 intervals) its series go, its cap ratio
# with them; the cap's highest ratio stays.
echo go >"$T/go"
wait "$JOB_PID"
check "the job ran (device held, CPU burned) in job $JOB" test $? = 0
job_gone() { om && ! grep -q "hpc_job=\"$JOB\"" "$T/m.om"; }
check "the ended job's CPU and GPU series are dropped after metrics_series_grace" wait_for job_gone
check "and its cap ratio series" sh -c "! grep -q 'subject=\"$JOB\"' '$T/m.om'"
check "the cap's highest ratio is still there" \
	test -n "$(sample "$T/m.om" hpcmeter_license_cap_highest_usage_ratio "${CAPL[@]}" cap=cpu-job scope=job period=run)"
check "and the file drops them too" wait_for sh -c "! grep -q 'hpc_job=\"$JOB\"' '$T/metrics.prom'"
check "what still runs keeps its series (root outside jobs)" \
	grep -q '^hpcmeter_cpu_seconds_total{hpc_job="",user="root",uid="0"} ' "$T/m.om"
check "the text after the drop still passes promtool" sh -c "promtool check metrics <'$T/metrics.prom'"
check "hpcmeterd stops cleanly" stop_daemon
tap_done
