#!/bin/bash
# A licence's measurement.gap_policy: "violation" makes every metering gap a violation of that
# licence (here the gap of a daemon stopped and started again), with the gap's bound; without
# it a gap is only counted at the maximum rate.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/strict.yaml" <<'EOY'
license:
  id: GAP-STRICT-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  measurement: { gap_policy: violation }
EOY
cat >"$T/licenses/lenient.yaml" <<'EOY'
license:
  id: GAP-LENIENT-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
EOY
start_bus
start_daemon --licenses "$T/licenses" --interval 1
wait_readings
stop_daemon
sleep 1 # the fault: the daemon is down for a second, a gap
start_daemon --licenses "$T/licenses" --interval 1
gap_violations() {
	"$HPCMETERCTL" violations --json | json "[(v['license_id'], v['kind']) for v in d if v['kind'] == 'metering-gap']"
}
has_gap_violation() { gap_violations | grep -q GAP-STRICT-1; }
wait_for has_gap_violation
check "the gap of the restart is a violation of the licence whose gap policy says so" \
	test "$(gap_violations)" = "[('GAP-STRICT-1', 'metering-gap')]"
"$HPCMETERCTL" violations --json | json "[v['detail'] for v in d if v['kind'] == 'metering-gap'][0]" >"$T/detail"
diag "$(cat "$T/detail")"
check "it names the gap and its cause" grep -q "metering gap #[0-9]* (daemon-stopped" "$T/detail"
lenient_gap() { gap_violations | grep -q GAP-LENIENT-1; }
check "the other licence counts it at the maximum rate: no violation of its own" \
	test "$(lenient_gap && echo yes || echo no)" = no
"$HPCMETERCTL" status --json >"$T/status.json"
bound=$(python3 -c "
import json, sqlite3
db = sqlite3.connect('file:$T/state/ledger.sqlite?mode=ro', uri=True)
print(db.execute(\"SELECT bound FROM gaps WHERE cause = 'daemon-stopped' ORDER BY id DESC LIMIT 1\").fetchone()[0])")
diag "bound: $bound"
check "the gap's bound names cores, devices and the peak figures" \
	python3 -c "import json,sys; b = json.loads(sys.argv[1]); sys.exit(0 if {'cpu_seconds','devices','tpp_seconds','ops_upper'} <= set(b) else 1)" "$bound"
tap_done
