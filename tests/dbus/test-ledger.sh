#!/bin/bash
# The ledger end to end: gaps as records and MeteringGap signals (a stop, ring-buffer losses);
# hpcmeterctl ledger verify on a tampered copy (one byte of a usage row, one deleted row) names
# the right record; signed reports (JSON, CSV, FILE.sig beside each) verify offline with the
# public key alone, by hpcmeterctl and by stock openssl, and a
# changed byte, an appended line or a wrong order fails; metrics over D-Bus and in a file.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v dbus-monitor >/dev/null || skip_all "no dbus-monitor"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: LEDGER-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
S=$T/state
q() { # q DB SQL: a query (read-only unless the second word is write)
	python3 - "$@" <<'EOPY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
for row in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
c.commit()
EOPY
}

start_bus
start_daemon --licenses "$T/licenses" --interval 1 --metrics-file "$T/metrics.prom"
check "the report key is created at first start, private key 0600" \
	test "$(stat -c %a "$S/report-key.pem")" = 600
check "the public key is exportable" sh -c "'$HPCMETERCTL' report public-key --state-dir '$S' >'$T/pub.pem' && grep -q 'BEGIN PUBLIC KEY' '$T/pub.pem'"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD/tests/burn" 300
wait_readings # its usage is in the ledger

# A clean stop and a start: a daemon-stopped gap, signalled.
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
	"type='signal',interface='org.hpcmeter1.Meter',member='MeteringGap'" >"$T/monitor.out" 2>&1 &
MON=$!
_pids+=("$MON")
wait_monitoring "$T/monitor.out"
stop_daemon
start_daemon --licenses "$T/licenses" --interval 1 --metrics-file "$T/metrics.prom"
check "the restart sends a MeteringGap signal for the time the daemon was stopped" \
	wait_for grep -q '"daemon-stopped"' "$T/monitor.out"
busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --json=short call org.hpcmeter1 /org/hpcmeter1 \
	org.hpcmeter1.Meter ListGaps t 0 >"$T/gaps.json"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD/tests/burn" 100
check "ListGaps returns it with its bound" \
	test "$(json "[(g[1], g[6] > 0) for g in d['data'][0]]" <"$T/gaps.json")" = "[('daemon-stopped', True)]"

# Ring-buffer losses are a gap too.
kill -STOP "$DAEMON_PID"
for _ in $(seq 1500); do /bin/true; done
kill -CONT "$DAEMON_PID"
check "lost ring-buffer records open a ringbuf-drop gap" \
	wait_for grep -q '"ringbuf-drop"' "$T/monitor.out"

# Metrics.
"$HPCMETERCTL" metrics >"$T/metrics.om"
check "hpcmeterctl metrics: OpenMetrics with CPU seconds per job and user" \
	grep -Eq '^hpcmeter_cpu_seconds_total\{hpc_job="[^"]*",user="nobody",uid="65534"\} [0-9.]+$' "$T/metrics.om"
check "and gaps, drops, meter and ledger state, ending in # EOF" sh -c "
	grep -q '^hpcmeter_gaps_total [1-9]' '$T/metrics.om' &&
	grep -q '^hpcmeter_probe_drops_total{cause=\"exec-record\"} [1-9]' '$T/metrics.om' &&
	grep -q '^hpcmeter_ledger_degraded 0$' '$T/metrics.om' &&
	grep -q '^hpcmeter_license_active{license_id=\"LEDGER-1\"} 1$' '$T/metrics.om' &&
	test \"\$(tail -n1 '$T/metrics.om')\" = '# EOF'"
check "--metrics-file is written each interval in the Prometheus text format" sh -c "
	grep -q '^# TYPE hpcmeter_violations_total counter' '$T/metrics.prom' &&
	grep -q '^hpcmeter_cpu_seconds_total{' '$T/metrics.prom' && ! grep -q '^# EOF' '$T/metrics.prom'"
check "no temporary metrics file is left behind" test "$(ls "$T" | grep -c 'metrics.prom.tmp')" = 0

# Signed reports.
DAY=$(date -u +%Y-%m-%d)
R=(report --state-dir "$S" --license LEDGER-1 --from "$DAY" --to "$DAY")
"$HPCMETERCTL" "${R[@]}" --format json --output "$T/r1.json" 2>"$T/r1.err"
check "report --format json writes a report and its signature beside it" \
	test -s "$T/r1.json" -a "$(stat -c %s "$T/r1.json.sig")" = 64
diag "$(head -c 300 "$T/r1.json")"
check "the report is valid JSON with per-job, user, account and total usage" \
	test "$(json "(d['totals']['jobs'] == len(d['jobs']) > 0, abs(sum(j['cpu_seconds'] for j in d['jobs']) - d['totals']['cpu_seconds']) < 1e-6, len(d['users']) > 0, len(d['accounts']) > 0)" <"$T/r1.json")" = "(True, True, True, True)"
check "it names the licence file by its SHA-256, the gaps and the chain head" \
	test "$(json "(d['license']['events'][0]['sha256'], [g['cause'] for g in d['gaps']][:1], len(d['ledger']['chain_head']))" <"$T/r1.json")" = \
	"('$(sha256sum "$T/licenses/test.yaml" | cut -d' ' -f1)', ['daemon-stopped'], 64)"
check "report verify: the signature is valid with the public key alone" \
	sh -c "'$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r1.json' >/dev/null"
check "and with stock openssl, without hpcmeter" \
	openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in "$T/r1.json" -sigfile "$T/r1.json.sig"
sed 's/"cpu_seconds":\([0-9]\)/"cpu_seconds":9\1/' "$T/r1.json" >"$T/r1-changed.json"
cp "$T/r1.json.sig" "$T/r1-changed.json.sig"
check "a changed CPU time fails report verify" \
	sh -c "! '$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r1-changed.json' >'$T/v.out'"
diag "$(cat "$T/v.out")"
{ cat "$T/r1.json"; echo '{"extra":1}'; } >"$T/r1-appended.json"
cp "$T/r1.json.sig" "$T/r1-appended.json.sig"
check "a line appended to the report fails report verify" \
	sh -c "! '$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r1-appended.json' >/dev/null"
"$HPCMETERCTL" "${R[@]}" --format csv --output "$T/r2.csv"
check "a CSV report verifies" sh -c "'$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r2.csv' >/dev/null"
sed '0,/^job,/s/^job,/job,x/' "$T/r2.csv" >"$T/r2-changed.csv"
cp "$T/r2.csv.sig" "$T/r2-changed.csv.sig"
check "a changed CSV report fails" sh -c "! '$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r2-changed.csv' >/dev/null"
"$HPCMETERCTL" report verify --key "$T/pub.pem" "$T/r1.json" "$T/r2.csv" >"$T/v2.out"
rc=$?
diag "$(cat "$T/v2.out")"
check "reports in the order issued verify as a chain" test "$rc" = 0
check "in the wrong order they do not" \
	sh -c "! '$HPCMETERCTL' report verify --key '$T/pub.pem' '$T/r2.csv' '$T/r1.json' >/dev/null"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout >"$T/other.pem" 2>/dev/null
check "another key does not verify it" \
	sh -c "! '$HPCMETERCTL' report verify --key '$T/other.pem' '$T/r1.json' >/dev/null"
check "the daemon recorded both reports in the ledger" \
	test "$(q "$S/ledger.sqlite" "SELECT COUNT(*) FROM reports")" = 2
"$HPCMETERCTL" "${R[@]}" --format table >"$T/r.txt"
check "--format table prints a readable report" grep -q "^Total: .* CPU seconds" "$T/r.txt"
"$HPCMETERCTL" report --state-dir "$S" --license NOPE-1 --from "$DAY" --to "$DAY" \
	--output "$T/nope.json" 2>"$T/nope.err"
check "a licence never loaded is an error" grep -q "NOPE-1 was never loaded" "$T/nope.err"

# Tampering with the ledger.
stop_daemon
check "ledger verify: the ledger as written verifies" \
	sh -c "'$HPCMETERCTL' ledger verify --state-dir '$S' >/dev/null"
mkdir -p "$T/t1" "$T/t2"
cp "$S/ledger.sqlite" "$T/t1/"
cp "$S/ledger.sqlite" "$T/t2/"
row=$(q "$T/t1/ledger.sqlite" "SELECT rowid FROM usage WHERE uid = 65534 LIMIT 1")
seq=$(q "$T/t1/ledger.sqlite" "SELECT seq FROM chain WHERE tbl = 'usage' AND row = $row")
q "$T/t1/ledger.sqlite" "UPDATE usage SET user = 'mobody' WHERE rowid = $row" >/dev/null
"$HPCMETERCTL" ledger verify --state-dir "$T/t1" >"$T/t1.out"
rc=$?
diag "$(cat "$T/t1.out")"
check "one byte of usage row $row changed: ledger verify fails at its record $seq" \
	sh -c "test $rc = 1 && grep -q 'BROKEN at record $seq (usage row $row)' '$T/t1.out'"
row=$(q "$T/t2/ledger.sqlite" "SELECT MAX(id) FROM process_evidence")
seq=$(q "$T/t2/ledger.sqlite" "SELECT seq FROM chain WHERE tbl = 'process_evidence' AND row = $row")
q "$T/t2/ledger.sqlite" "DELETE FROM process_evidence WHERE id = $row" >/dev/null
"$HPCMETERCTL" ledger verify --state-dir "$T/t2" --json >"$T/t2.out"
rc=$?
check "one row deleted: ledger verify fails at its record $seq" \
	test "$rc/$(json "(d['verified'], d['broken_seq'], d['broken_table'])" <"$T/t2.out")" = "1/(False, $seq, 'process_evidence')"

# GPU usage and the scheduler's account reach the report (rows as the GPU meter and the Slurm
# prolog write them, on a copy).
mkdir -p "$T/t3"
cp "$S/ledger.sqlite" "$S/report-key.pem" "$T/t3/"
iid=$(q "$T/t3/ledger.sqlite" "SELECT MAX(id) FROM intervals")
q "$T/t3/ledger.sqlite" "INSERT INTO gpu_usage VALUES ($iid, '/job_5', 5, '5', 1000, 'alice',
	2000000000, 3.5, 1e15, 0, 7, 700, 0, 1024, 2048, 1)" >/dev/null
q "$T/t3/ledger.sqlite" "INSERT INTO usage VALUES ($iid, '/job_5', 5, '5', 1000, 'alice', 123)" >/dev/null
q "$T/t3/ledger.sqlite" "INSERT INTO jobs_announced (job, scheduler, user, uid, account, partition,
	wckey, comment, gpus, nodes, start_usec, end_usec) VALUES ('5', 'slurm', 'alice', 1000,
	'proj-x', 'gpu', '', '', '', '', 1, 0)" >/dev/null
"$HPCMETERCTL" report --state-dir "$T/t3" --license LEDGER-1 --from "$DAY" --to "$DAY" \
	--sig "$T/r3.json.sig" >"$T/r3.json" 2>/dev/null
check "GPU seconds, launches and the job's account are in the report" \
	test "$(json "([m['value'] for m in d['metrics'] if m['job'] == '5' and m['metric'] in ('gpu_seconds', 'launches')], [j['account'] for j in d['jobs'] if j['job'] == '5'])" <"$T/r3.json")" = "([2, 7], ['proj-x'])"
tap_done
