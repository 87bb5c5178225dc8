#!/bin/bash
# Golden tests of hpcmeterctl's output: a ledger seeded with known rows at fixed times
# (build/tests/seed-ledger, through the daemon's own ledger code), hpcmeterd started on it on
# a private bus, and the table and JSON output of the main verbs compared byte for byte with
# tests/golden/*.out. Values that truly vary (the test directory, the version, host and key
# identity, the chain head after the daemon's own records) are masked, each by name, in mask()
# and mask_report_*() below. UPDATE_GOLDEN=1 rewrites the files instead of comparing.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (hpcmeterd loads BPF)"
echo "TAP version 13"

GOLDEN=$TOP/tests/golden
export TZ=UTC LC_ALL=C NO_COLOR=1
# The seeded range: January 2025 (the rows are on 2025-01-02).
FROM=@1735689600 # 2025-01-01T00:00:00Z
TO=@1738368000   # 2025-02-01T00:00:00Z

mkdir -p "$T/licenses"
cat >"$T/licenses/golden.yaml" <<'EOY'
license:
  id: GOLDEN-LIC-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-golden-never-runs"]
EOY
"$BUILD/tests/seed-ledger" "$T/state" 2>/dev/null || { echo "Bail out! cannot seed the ledger"; exit 1; }

# mask: replace what varies between runs and machines, and nothing else.
mask() {
	sed -e "s|$T|@TMP@|g" \
		-e "s|hpcmeterctl $(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TOP/dkms.conf")|hpcmeterctl @VERSION@|g" \
		-e "s|hpcmeterd $(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TOP/dkms.conf")|hpcmeterd @VERSION@|g"
}
# mask_report_json: the members of a JSON report that depend on when and where it was made.
mask_report_json() {
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
d["generated_usec"] = d["generated"] = "@NOW@"
d["node"] = {k: "@NODE@" for k in d["node"]}
d["meter_versions"]["hpcmeterctl"] = "@VERSION@"
d["meter_versions"]["ledger_created_by"] = "@VERSION@"
d["ledger"]["chain_seq"] = d["ledger"]["chain_head"] = "@CHAIN@"
d["ledger"]["previous_report_sha256"] = "@CHAIN@"
print(json.dumps(d, indent=1, sort_keys=True))'
}
mask_report_table() {
	sed -E -e 's/^(Node ).*(, generated ).*( by hpcmeterctl ).*$/\1@NODE@\2@NOW@\3@VERSION@/' \
		-e 's/^(Ledger created by ).*(; chain head record ).*$/\1@VERSION@\2@CHAIN@/'
}

# golden NAME COMMAND...: run COMMAND, mask its standard output, compare with NAME.out; the
# command must exit $want_rc (default 0).
golden() {
	local name=$1 rc want=${want_rc:-0}
	shift
	"$@" >"$T/$name.raw" 2>"$T/$name.err"
	rc=$?
	mask <"$T/$name.raw" >"$T/$name.out"
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$T/$name.out" "$GOLDEN/$name.out"
		ok "$name: golden file written # SKIP UPDATE_GOLDEN=1"
		return
	fi
	if [ "$rc" = "$want" ] && diff -u "$GOLDEN/$name.out" "$T/$name.out" >"$T/$name.diff"; then
		ok "$name matches tests/golden/$name.out"
	else
		not_ok "$name matches tests/golden/$name.out (exit $rc)"
		diag "$(cat "$T/$name.err" "$T/$name.diff")"
	fi
}
report_json() { "$HPCMETERCTL" report --state-dir "$T/state" --sig "$T/golden.sig" "$@" | mask_report_json; }
report_table() { "$HPCMETERCTL" report --state-dir "$T/state" "$@" | mask_report_table; }
status_stable() {
	# the status keys that do not depend on the time, the host or the kernel
	"$HPCMETERCTL" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
keep = ["interval_usec", "violations", "last_violation_seq", "licenses_active", "license_errors",
        "license_terms_not_evaluated", "state_dir", "licenses_dir", "ledger", "licenses"]
print(json.dumps({k: d[k] for k in keep if k in d}, indent=1, sort_keys=True))'
}

# The seeded ledger itself, before any daemon wrote to it.
golden ledger-verify "$HPCMETERCTL" ledger verify --state-dir "$T/state"
golden ledger-verify.json "$HPCMETERCTL" ledger verify --state-dir "$T/state" --json
# A draft licence against the recorded execs (offline; the draft prohibits what job 102 ran).
cat >"$T/draft.yaml" <<'EOY'
license:
  id: GOLDEN-DRAFT-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["/opt/forbidden/*"]
EOY
sim() { "$HPCMETERCTL" license simulate "$T/draft.yaml" --since 2025-01-01 --state-dir "$T/state" "$@"; }
want_rc=1 golden license-simulate sim
want_rc=1 golden license-simulate.json sim --json=pretty

start_bus
# An interval of an hour: the daemon records no usage of its own while the test runs.
start_daemon --licenses "$T/licenses" --interval 3600

golden status.json status_stable
licenses_table() { "$HPCMETERCTL" licenses | sed -E 's/\([0-9]+ days from now\)/(@DAYS@ days from now)/'; }
golden licenses licenses_table
golden licenses.json "$HPCMETERCTL" licenses --json
golden license-explain "$HPCMETERCTL" license explain GOLDEN-LIC-1
golden license-explain.json "$HPCMETERCTL" license explain GOLDEN-LIC-1 --json=pretty
golden license-explain-no-legend "$HPCMETERCTL" license explain GOLDEN-LIC-1 --no-legend
golden violations "$HPCMETERCTL" violations
golden violations.json "$HPCMETERCTL" violations --json
golden violations-since "$HPCMETERCTL" violations --after-seq 1
"$HPCMETERCTL" violations --since 1 >"$T/since-seq.out" 2>"$T/since-seq.err"
check "violations --since 1 (a bare number, as before) is --after-seq 1, with a warning" \
	sh -c "cmp -s '$GOLDEN/violations-since.out' '$T/since-seq.out' && grep -q 'read as --after-seq 1' '$T/since-seq.err'"
# Times as journalctl reads them (TZ=UTC here): a date and a time, and another zone.
golden violations-since-time "$HPCMETERCTL" violations --since "2025-01-02 09:10" --until 2025-01-03
golden violations-tokyo env TZ=Asia/Tokyo "$HPCMETERCTL" violations --since "2025-01-02 18:00" \
	--until "2025-01-02T18:10"
check "violations --since -50y: every violation" \
	test "$("$HPCMETERCTL" violations --since -50y --json)" = "$("$HPCMETERCTL" violations --json)"
check "violations --since yesterday: none of 2025's" \
	test "$("$HPCMETERCTL" violations --since yesterday --json)" = "[]"
check "violations --since 2025-01-02T09:05:00Z includes the one raised then" \
	test "$("$HPCMETERCTL" violations --since 2025-01-02T09:05:00Z --until "@1735808700.000001" --json | json "[v['seq'] for v in d]")" = "[1]"
golden gaps "$HPCMETERCTL" gaps
golden gaps.json "$HPCMETERCTL" gaps --json=pretty
golden jobs "$HPCMETERCTL" jobs
golden jobs.json "$HPCMETERCTL" jobs --json=pretty
golden jobs-no-legend "$HPCMETERCTL" jobs --no-legend
# ended after 09:00 and started before 09:30 UTC (10:30 at +01:00): jobs 101 and 102, not 103
golden jobs-window "$HPCMETERCTL" jobs --since 2025-01-02T09:00:00Z --until "2025-01-02 10:30 +01:00"
# the gap ended at 09:42: none after 09:43 (the table's header, and no row)
golden gaps-none "$HPCMETERCTL" gaps --since "2025-01-02 09:43"
check "gaps --since 09:41 lists the gap that ended at 09:42" \
	test "$("$HPCMETERCTL" gaps --since "2025-01-02 09:41" --until "2025-01-02 09:41:00.000001" --json | json "[g['id'] for g in d]")" = "[1]"
golden usage "$HPCMETERCTL" usage --since $FROM --until $TO
golden usage.json "$HPCMETERCTL" usage --since $FROM --until $TO --json
for by in job user account license; do
	golden "usage-by-$by" "$HPCMETERCTL" usage --by $by --since $FROM --until $TO
	golden "usage-by-$by.json" "$HPCMETERCTL" usage --by $by --since $FROM --until $TO --json
done
# --since-usec and --until-usec, deprecated, still work
golden usage-account-physics "$HPCMETERCTL" usage --account physics --since-usec 1735689600000000 \
	--until-usec 1738368000000000
# the intervals of 2025-01-02 that start before 09:00: job 101 and carol's session
golden usage-by-user-morning "$HPCMETERCTL" usage --by user --since 2025-01-02 --until "2025-01-02 09:00"
golden usage-user-bob-by-job.json "$HPCMETERCTL" usage --user bob --by job --since $FROM --until $TO --json
golden usage-license.json "$HPCMETERCTL" usage --license GOLDEN-LIC-1 --since $FROM --until $TO --json=pretty
want_rc=5 golden usage-license-unknown "$HPCMETERCTL" usage --license NO-SUCH-LICENSE
golden usage-no-legend "$HPCMETERCTL" usage --by user --since $FROM --until $TO --no-legend
golden report-table report_table --license GOLDEN-LIC-1 --from 2025-01-01 --to 2025-01-31 --format table
golden report.json report_json --license GOLDEN-LIC-1 --since 2025-01-01 --until 2025-01-31 --format json
# a report's days are UTC under any TZ: the same report from Tokyo
TZ=Asia/Tokyo report_json --license GOLDEN-LIC-1 --since 2025-01-01 --until 2025-01-31 \
	--format json >"$T/report-tokyo.json"
check "report --since/--until name UTC days under TZ=Asia/Tokyo too" \
	cmp -s "$GOLDEN/report.json.out" "$T/report-tokyo.json"
# Names are bytes: valid UTF-8 is printed as it is, JSON or not; bytes that are not UTF-8 are
# escaped as the text \xNN in JSON, never written raw (the file names come from argv).
cp "$T/licenses/golden.yaml" "$T/g$(printf '\303\266')lden-$(printf '\346\227\245').yaml"
want_rc=1 golden license-check-utf8.json "$HPCMETERCTL" license check --json=pretty \
	"$T/g$(printf '\303\266')lden-$(printf '\346\227\245').yaml" "$T/missing-$(printf '\377\300').yaml"
check "license check --json wrote valid UTF-8 and JSON" python3 -c '
import json, sys
json.loads(open(sys.argv[1], encoding="utf-8", errors="strict").read())' "$T/license-check-utf8.json.raw"
# acknowledge: a seeded violation once (exit 0), twice (1), an unknown one (5)
golden acknowledge.json "$HPCMETERCTL" acknowledge 1 "golden test: seen" --json
"$HPCMETERCTL" acknowledge 1 "again" 2>"$T/ack.err"
check "acknowledging violation 1 again: exit 1, AlreadyAcknowledged" \
	test $? = 1 -a "$(grep -c . "$T/ack.err")" = 1
"$HPCMETERCTL" acknowledge 99 "none such" 2>"$T/ack.err"
check "acknowledging violation 99 (unknown): exit 5" test $? = 5 -a "$(grep -c . "$T/ack.err")" = 1
check "acknowledge 0 is a bad argument: exit 2" sh -c "'$HPCMETERCTL' acknowledge 0 x 2>/dev/null; test \$? = 2"

# Output formats: -o csv (RFC 4180: the table's cells, a header row unless --no-legend; usage's
# two tables one after the other), -o json as --json, --columns choosing and ordering columns.
golden violations-csv "$HPCMETERCTL" violations -o csv
golden violations-columns-csv "$HPCMETERCTL" violations --output=csv --columns=SEQ,executable,kind --no-legend
golden usage-csv "$HPCMETERCTL" usage --since $FROM --until $TO -o csv
golden license-explain-csv "$HPCMETERCTL" license explain GOLDEN-LIC-1 -o csv
golden jobs-columns "$HPCMETERCTL" jobs --columns=job,END,user,account
golden usage-by-job-columns "$HPCMETERCTL" usage --by job --since $FROM --until $TO --columns=cpu-time,job
check "violations -o json is violations --json" \
	test "$("$HPCMETERCTL" violations -o json)" = "$("$HPCMETERCTL" violations --json)"
check "-o table after --json: a table again" \
	cmp -s "$GOLDEN/violations.out" <("$HPCMETERCTL" violations --json -o table)
"$HPCMETERCTL" violations --columns=seq,bogus >/dev/null 2>"$T/col.err"
col_rc=$?
check "an unknown column is a usage error (exit 2) naming the valid ones" test "$col_rc" = 2
check "  hpcmeterctl: violations: unknown column \"bogus\" in --columns (valid: SEQ, ...)" grep -qx \
	'hpcmeterctl: violations: unknown column "bogus" in --columns (valid: SEQ, TIME, KIND, LICENSE, UID, USER, PID, EXECUTABLE, JOB)' \
	"$T/col.err"
# Names that are not ASCII keep the columns aligned: widths are display cells ("ö" is one,
# "田" two), also in the C locale of this test (hpcmeterctl reads names as UTF-8 there).
"$HPCMETERCTL" job start 4713 --set user=jörg-müller --set uid=1003 --set account=physik-ä \
	--set partition=gpu
"$HPCMETERCTL" job start 4714 --set user=田中 --set uid=1004 --set account=物理 --set partition=cpu
golden jobs-utf8 "$HPCMETERCTL" jobs --columns=job,user,account,partition
golden jobs-utf8-utf8-locale env LC_ALL=C.UTF-8 "$HPCMETERCTL" jobs --columns=job,user,account,partition
check "in jobs-utf8, every PARTITION starts in the same display column" python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
cols = {w(l[:l.index(p)]) for l in open(sys.argv[1], encoding="utf-8") for p in ("gpu", "cpu", "PARTITION") if p in l}
sys.exit(0 if len(cols) == 1 else 1)' "$GOLDEN/jobs-utf8.out"
# CSV quoting (RFC 4180) of names with a quote and a comma, beside names that are not ASCII
"$HPCMETERCTL" job start 4715 --set 'user=o"neil, jr' --set uid=1005 --set 'account=a,b'
golden jobs-csv-quoting "$HPCMETERCTL" jobs -o csv --columns=job,user,account
"$HPCMETERCTL" job end 4715
"$HPCMETERCTL" job end 4713
"$HPCMETERCTL" job end 4714

# Every command prints valid JSON with --json (short: one document on one line; pretty too).
"$HPCMETERCTL" report --state-dir "$T/state" --license GOLDEN-LIC-1 --from 2025-01-01 \
	--to 2025-01-31 --output "$T/r.json" 2>/dev/null
# json_ok short|pretty ARGS...: hpcmeterctl ARGS --json=MODE exits 0 and prints valid JSON, for
# short one document on one line
json_ok() {
	local mode=$1
	shift
	"$HPCMETERCTL" "$@" --json="$mode" >"$T/j.out" 2>"$T/j.err" || return 1
	python3 -c 'import json,sys; t=open(sys.argv[1]).read(); json.loads(t)
sys.exit(0 if sys.argv[2] != "short" or t.count("\n") == 1 else 1)' "$T/j.out" "$mode"
}
for cmd in "status" "violations" "usage" "usage --by job" "jobs" "licenses" "inventory" \
	"license explain GOLDEN-LIC-1" "license check $T/licenses/golden.yaml" "metrics" \
	"reload" "job start 4711" "job end 4711" "ledger verify --state-dir $T/state" \
	"report verify --state-dir $T/state $T/r.json" "report public-key --state-dir $T/state" \
	"gaps"; do
	# shellcheck disable=SC2086 # a command line
	check "${cmd/$T/@TMP@} --json=short: one document on one line" json_ok short $cmd
	# shellcheck disable=SC2086
	check "${cmd/$T/@TMP@} --json=pretty: valid JSON" json_ok pretty $cmd
done
check "acknowledge --json=pretty: valid JSON" json_ok pretty acknowledge 2 "golden test: pretty"
# -o json is --json for the commands with options of their own too
check "ledger verify -o json is ledger verify --json" \
	test "$("$HPCMETERCTL" ledger verify --state-dir "$T/state" -o json)" = \
	"$("$HPCMETERCTL" ledger verify --state-dir "$T/state" --json)"
check "metrics -o json: valid JSON, one document" sh -c \
	"'$HPCMETERCTL' metrics -o json | python3 -c 'import json,sys; json.load(sys.stdin)'"
check "report public-key --json names the key that signed the report" \
	test "$("$HPCMETERCTL" report public-key --state-dir "$T/state" --json | json "d['key_id']")" = \
	"$(json "d['node']['report_key_id']" <"$T/r.json")"

check "the ledger still verifies with the daemon's own records after it" \
	sh -c "'$HPCMETERCTL' ledger verify --state-dir '$T/state' >/dev/null"
tap_done
