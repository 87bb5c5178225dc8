#!/bin/bash
# The shipped bus policy on a private system-like bus: root may do everything; a member of
# group hpcmeter may read and receive signals but not reload; any other user is refused
# calls with a clear error and receives no violation signals.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

# The policy names the group: it must exist when the bus reads its configuration.
if ! getent group hpcmeter >/dev/null; then
	groupadd --system hpcmeter || { echo "Bail out! cannot create group hpcmeter"; exit 1; }
	on_cleanup "groupdel hpcmeter"
fi
mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: POLICY-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
start_bus
start_daemon --licenses "$T/licenses" --interval 1

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_reader() { setpriv --reuid=nobody --regid=nogroup --groups="$(getent group hpcmeter | cut -d: -f3)" "$@"; }

out=$(as_nobody "$HPCMETERCTL" status 2>&1); rc=$?
diag "$out"
check "nobody: status refused (exit 4: access denied)" test "$rc" = 4
check "nobody: the error says the bus policy denied access" grep -q "access denied by the bus policy" <<<"$out"
out=$(as_nobody "$HPCMETERCTL" violations 2>&1); rc=$?
check "nobody: violations refused (exit 4)" test "$rc" = 4
out=$(as_reader "$HPCMETERCTL" status --json 2>&1); rc=$?
check "group hpcmeter: status works" test "$rc" = 0
check "group hpcmeter: violations works" sh -c "$(declare -f as_reader); as_reader '$HPCMETERCTL' violations --json >/dev/null"
check "group hpcmeter: license explain works" sh -c "$(declare -f as_reader); as_reader '$HPCMETERCTL' license explain POLICY-1 >/dev/null"
check "group hpcmeter: usage works (CPU and GPU rows)" sh -c "$(declare -f as_reader); as_reader '$HPCMETERCTL' usage --json >/dev/null"
check "group hpcmeter: inventory works" sh -c "$(declare -f as_reader); as_reader '$HPCMETERCTL' inventory --json >/dev/null"
# Every reading member of the three interfaces, as a member of the group and as nobody.
B="busctl --address=$DBUS_SYSTEM_BUS_ADDRESS"
for m in "Violations ListThresholdEvents t 0" "Violations ListClearedViolations t 0" \
	"Violations ListViolations t 0" "Violations ListAcknowledgements t 0" \
	"Meter GetStatus" "Meter GetGpuUsage t 0" "Meter GetInventory" "Meter ListJobs t 0" \
	"Meter GetUsage t 0" "Meter GetUsageBetween tt 0 1" "Meter GetUsageFiltered a{sv} 1 uid u 0" \
	"Meter ListGaps t 0" "Meter GetMetrics" "Licenses ListLicenses" \
	"Licenses ExplainLicense s POLICY-1"; do
	what=${m#* }
	# shellcheck disable=SC2086 # interface, method name and arguments
	check "group hpcmeter: ${what%% *} works" as_reader $B call org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.$m
	# shellcheck disable=SC2086
	check "nobody: ${what%% *} refused" sh -c "$(declare -f as_nobody); ! as_nobody $B call org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.$m 2>/dev/null"
done
for p in "Meter MeterStates" "Meter LastCollectUSec" "Violations ActiveViolations" \
	"Violations LastViolationSeq" "Licenses LicenseErrors"; do
	# shellcheck disable=SC2086
	check "group hpcmeter: property ${p#* } readable" as_reader $B get-property org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.$p
	# shellcheck disable=SC2086
	check "nobody: property ${p#* } refused" sh -c "$(declare -f as_nobody); ! as_nobody $B get-property org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.$p 2>/dev/null"
done
out=$(as_reader "$HPCMETERCTL" reload 2>&1); rc=$?
diag "$out"
check "group hpcmeter: reload refused (exit 4)" test "$rc" = 4
check "root: reload works" "$HPCMETERCTL" reload
out=$(as_nobody busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.hpcmeter1 /org/hpcmeter1 \
	org.hpcmeter1.Licenses Reload 2>&1); rc=$?
check "nobody: Reload through busctl refused" test "$rc" != 0

# The root-only members: the group member and nobody get AccessDenied by name (gdbus prints
# it), root gets through the policy (then an answer or the daemon's own error, never
# AccessDenied).
GD=(gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.hpcmeter1 --object-path /org/hpcmeter1 --method)
for m in "Licenses.Reload" "Violations.AcknowledgeViolation 1 'note'" \
	"Meter.JobStarted '4242' {}" "Meter.JobEnded '4242' {}" \
	"Licenses.GetReport 'POLICY-1' 0 1 'table'" "Licenses.RecordReport 'POLICY-1' 0 1 'json' '00'"; do
	# shellcheck disable=SC2086 # method and GVariant arguments, quotes and all
	out=$(as_reader "${GD[@]}" org.hpcmeter1.$m 2>&1)
	check "group hpcmeter: ${m%% *} is AccessDenied" grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out"
	# shellcheck disable=SC2086
	out=$(as_nobody "${GD[@]}" org.hpcmeter1.$m 2>&1)
	check "nobody: ${m%% *} is AccessDenied" grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out"
	# shellcheck disable=SC2086
	out=$("${GD[@]}" org.hpcmeter1.$m 2>&1)
	diag "root: $m: $out"
	check "root: ${m%% *} passes the policy" test -z "$(grep AccessDenied <<<"$out")"
done

# setpriv execs the monitor: $! is the monitor's own pid.
setpriv --reuid=nobody --regid=nogroup --clear-groups "$HPCMETERCTL" monitor --json >"$T/nobody.out" 2>&1 &
MON_NOBODY=$!
_pids+=("$MON_NOBODY")
setpriv --reuid=nobody --regid=nogroup --groups="$(getent group hpcmeter | cut -d: -f3)" \
	"$HPCMETERCTL" monitor --json >"$T/reader.out" 2>&1 &
MON_READER=$!
_pids+=("$MON_READER")
check "nobody's monitor has subscribed (the bus lets anyone add a match rule)" wait_subscribed "$MON_NOBODY"
check "the group member's monitor has subscribed" wait_subscribed "$MON_READER"
setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true
check "group hpcmeter: monitor receives the violation" wait_for grep -q POLICY-1 "$T/reader.out"
sleep 0.5 # the time a wrongly delivered signal would have to show (it cannot fail this check)
check "nobody: monitor receives no violation signal" test -z "$(grep POLICY-1 "$T/nobody.out")"
# The bus going away (dbus-daemon restarted) does not stop the daemon: it meters on and
# reconnects (tests/faults/test-bus-restart.sh brings the bus back and checks the return).
last_end() { python3 -c "import sqlite3; print(sqlite3.connect('$T/state/ledger.sqlite').execute('select max(end_usec) from intervals').fetchone()[0])"; }
ended_after() { [ "$(last_end)" -ge "$1" ]; }
killed_at=$(($(date +%s%N) / 1000))
kill "${_pids[0]}" # the dbus-daemon, started first
check "it says in its log that it lost the bus" \
	wait_for grep -q "lost the connection to the system bus" "$T/hpcmeterd.log"
check "it writes intervals after the bus went" wait_for ended_after "$killed_at"
check "hpcmeterd keeps running without the bus" kill -0 "$DAEMON_PID"

tap_done
