#!/bin/bash
# examples/monitoring/ stays true: the alert rules pass `promtool check rules` and their unit
# tests (`promtool test rules`); the Grafana dashboard is valid JSON of a dashboard's shape
# (unique panel ids, positions on the 24-column grid, every query on the data source
# variable), its queries are valid PromQL (promtool, Grafana's variables replaced), and
# dashboard and rules name only metric families hpcmeterd(8) documents, covering usage per
# hpc_job, violations, gaps, licence expiry and cap ratios.
. "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null || skip_all "no promtool (apt-get install prometheus)"
echo "TAP version 13"

M=$TOP/examples/monitoring
RULES=$M/hpcmeter-alerts.yml
DASH=$M/hpcmeter-dashboard.json

promtool check rules "$RULES" >"$T/check.out" 2>&1
check "promtool check rules accepts hpcmeter-alerts.yml" test $? = 0
diag "$(cat "$T/check.out")"
(cd "$M" && promtool test rules hpcmeter-alerts.test.yml) >"$T/test.out" 2>&1
rc=$?
[ $rc = 0 ] || diag "$(cat "$T/test.out")"
check "promtool test rules: every alert fires when it should, with its text" test $rc = 0
check "the rules alert at cap ratios 0.8 and 0.95" sh -c "
	grep -q 'expr: hpcmeter_license_cap_highest_usage_ratio >= 0.8\$' '$RULES' &&
	grep -q 'expr: hpcmeter_license_cap_highest_usage_ratio >= 0.95\$' '$RULES'"
check "the rules alert on a licence ending within 30 days" \
	grep -q 'expr: 0 < hpcmeter_license_valid_until_seconds - time() < 30 \* 86400$' "$RULES"

python3 -m json.tool "$DASH" >/dev/null
check "the dashboard is valid JSON" test $? = 0

# The families hpcmeterd(8) documents (its METRICS list), as the Prometheus text names them.
sed -n '/^## METRICS/,/^## /p' "$TOP/docs/hpcmeterd.8.md" |
	grep -o '^- `hpcmeter_[a-z_]*`' | sed 's/^- //; s/`//g' | sort -u >"$T/documented"
check "hpcmeterd(8) documents the families (found $(wc -l <"$T/documented"))" \
	test "$(wc -l <"$T/documented")" -ge 10

check "the dashboard has a dashboard's shape" python3 - "$DASH" <<'EOPY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                  ("templating", dict)):
    if not isinstance(d.get(key), kind):
        bad.append("top-level %s is not a %s" % (key, kind.__name__))
names = [v.get("name") for v in d.get("templating", {}).get("list", [])]
if "datasource" not in names:
    bad.append("no datasource variable")
ids = set()
for p in d.get("panels", []):
    pid, g = p.get("id"), p.get("gridPos", {})
    if pid in ids:
        bad.append("panel id %s twice" % pid)
    ids.add(pid)
    if not p.get("type") or not p.get("title"):
        bad.append("panel %s without type or title" % pid)
    if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24:
        bad.append("panel %s: gridPos %s off the 24-column grid" % (pid, g))
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        bad.append("panel %s not on the datasource variable" % pid)
    refs = [t.get("refId") for t in p.get("targets", [])]
    if not refs or len(set(refs)) != len(refs):
        bad.append("panel %s: no targets or refIds twice" % pid)
    for t in p.get("targets", []):
        if not t.get("expr") or t.get("datasource", {}).get("uid") != "${datasource}":
            bad.append("panel %s target %s: no expr or another data source" % (pid, t.get("refId")))
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
EOPY

# Each query as a recording rule, Grafana's variables replaced: promtool parses the PromQL.
python3 - "$DASH" >"$T/dash-rules.yml" <<'EOPY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
n = 0
for p in d["panels"]:
    for t in p.get("targets", []):
        e = (t["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
             .replace("$instance", ".*"))
        n += 1
        print("      - record: dashboard:query:%d\n        expr: %s" % (n, json.dumps(e)))
EOPY
promtool check rules "$T/dash-rules.yml" >"$T/dash-check.out" 2>&1
rc=$?
[ $rc = 0 ] || diag "$(cat "$T/dash-check.out")"
check "every dashboard query is valid PromQL ($(grep -c 'record:' "$T/dash-rules.yml") queries)" test $rc = 0

# Metric names used, against the documented ones (counters by their _total sample name).
grep -o 'hpcmeter_[a-z_]*' "$DASH" | sort -u >"$T/dash-names"
grep -v '^ *#' "$RULES" | grep -o 'hpcmeter_[a-z_]*' | sort -u >"$T/rule-names"
check "the dashboard names only documented families" \
	sh -c "comm -23 '$T/dash-names' '$T/documented' | tee '$T/undoc' | grep -q . && exit 1 || exit 0"
[ -s "$T/undoc" ] && diag "$(cat "$T/undoc")"
check "the rules name only documented families" \
	sh -c "comm -23 '$T/rule-names' '$T/documented' | tee '$T/undoc' | grep -q . && exit 1 || exit 0"
[ -s "$T/undoc" ] && diag "$(cat "$T/undoc")"
for f in hpcmeter_cpu_seconds_total hpcmeter_gpu_seconds_total hpcmeter_violations_total \
	hpcmeter_gaps_total hpcmeter_license_valid_until_seconds \
	hpcmeter_license_cap_highest_usage_ratio hpcmeter_license_cap_usage_ratio; do
	check "the dashboard shows $f" grep -qx "$f" "$T/dash-names"
done
check "the usage panels are by hpc_job" \
	test "$(grep -c 'sum by (hpc_job) (rate(hpcmeter_[cg]pu_seconds_total' "$DASH")" = 2
for f in hpcmeter_violations_total hpcmeter_meter_up hpcmeter_gaps_total \
	hpcmeter_license_valid_until_seconds hpcmeter_license_cap_highest_usage_ratio; do
	check "the rules alert on $f" grep -qx "$f" "$T/rule-names"
done
tap_done
