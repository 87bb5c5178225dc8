#!/bin/bash
# hpcmeterctl's exit status and error line for each kind of failure, as --help and
# hpcmeterctl(1) document them: 2 bad argument, 3 hpcmeterd not running (no daemon on the bus,
# or no bus at all), 4 access denied by the bus policy, 5 unknown id, 1 any other failure.
# Each failure says what failed in one line on standard error (a usage error adds "Try ...").
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (hpcmeterd loads BPF; setpriv)"
echo "TAP version 13"

# expect STATUS LINES DESCRIPTION COMMAND...: exit STATUS, exactly LINES lines on stderr
expect() {
	local want=$1 lines=$2 desc=$3 rc n
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	n=$(grep -c . "$T/err")
	if [ "$rc" = "$want" ] && [ "$n" = "$lines" ]; then
		ok "$desc: exit $want, $lines line(s) on stderr"
	else
		not_ok "$desc: exit $want (got $rc), $lines line(s) on stderr (got $n)"
		diag "$(cat "$T/err")"
	fi
}
ctl() { "$HPCMETERCTL" "$@"; }

# 2: bad arguments, before anything is asked of the bus
expect 2 2 "unknown command" ctl frobnicate
expect 2 2 "unknown option" ctl status --frobnicate
expect 2 2 "malformed --since" ctl violations --since=-1
expect 2 2 "--since that is not a time" ctl usage --since tomorrowish
check "  the line names the command, the option, the value and the forms" grep -qx \
	'hpcmeterctl: usage: --since "tomorrowish": not a time; expected YYYY-MM-DD, "YYYY-MM-DD HH:MM\[:SS\]", ISO 8601 (2026-12-05T10:00:00+01:00), now, today, yesterday, -1h/-7d/-30min or @EPOCH' \
	"$T/err"
expect 2 2 "--until that is not a time" ctl jobs --until "2025-02-30"
expect 2 2 "a bare number is not a time where no sequence number is taken" ctl usage --since 40
expect 2 2 "--since out of range" ctl violations --since 1969-12-31
expect 2 2 "license simulate --since that is not a time" ctl license simulate x.yaml --since 2025
expect 2 2 "report --from that is not a time" ctl report --license X --from soon --to today
check "  the line names report's option" grep -q 'report: --from "soon": not a time' "$T/err"
expect 2 2 "report: @EPOCH is seconds, not microseconds" ctl report --license X \
	--since @0 --until @1735689600000000
check "  the line says so" grep -q "@EPOCH is in seconds" "$T/err"
expect 2 2 "report: --until before --since" ctl report --license X --since 2025-02-01 --until 2025-01-01
expect 2 2 "malformed --after-seq" ctl violations --after-seq=yesterday
expect 2 2 "--by with a bad key" ctl usage --by host
expect 2 2 "--until before --since" ctl usage --since @10 --until @5
expect 2 2 "--until-usec before --since-usec (deprecated)" ctl usage --since-usec 10 --until-usec 5
expect 2 2 "an option that does not apply" ctl licenses --since 3
expect 2 2 "--until does not apply to monitor" ctl monitor --until now
expect 2 2 "--after-seq does not apply to usage" ctl usage --after-seq 3
expect 2 2 "an unknown output format" ctl violations -o yaml
expect 2 2 "-o csv for a command without a table" ctl status -o csv
expect 2 2 "-o csv for license check" ctl license check x.yaml --output=csv
expect 2 2 "--columns without names" ctl violations --columns=,
expect 2 2 "--columns with JSON" ctl violations --json --columns=seq
expect 2 2 "--columns for a command without a table" ctl reload --columns=seq
expect 2 2 "job with a malformed id" ctl job start 12x
expect 2 2 "unknown --json mode" ctl status --json=yaml
expect 2 2 "metrics with an argument" ctl metrics extra
expect 2 2 "report without --license" ctl report --from 2025-01-01 --to 2025-01-31
grep -q "Try 'hpcmeterctl" "$T/err"
check "a usage error ends with a Try ... --help line" grep -q "Try 'hpcmeterctl" "$T/err"

# 3: no bus at all
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-such-socket"
expect 3 1 "status without a bus" ctl status
expect 3 1 "violations without a bus" ctl violations
expect 3 1 "metrics without a bus" ctl metrics
grep -q "cannot connect to the system bus" "$T/err"
check "the line says the bus cannot be reached" grep -q "cannot connect to the system bus" "$T/err"

# 3: a bus, no daemon
start_bus
for v in status violations usage jobs licenses reload "license explain X" "inventory" gaps \
	"acknowledge 1 x"; do
	# shellcheck disable=SC2086 # a verb with its arguments
	expect 3 1 "$v without hpcmeterd" ctl $v
done
expect 3 1 "metrics without hpcmeterd" ctl metrics
check "the line names hpcmeterd and the bus name" \
	grep -q "cannot reach hpcmeterd (org.hpcmeter1)" "$T/err"
expect 3 1 "metrics --address to no bus" ctl metrics --address="unix:path=$T/none"

mkdir -p "$T/licenses"
cat >"$T/licenses/l.yaml" <<'EOY'
license:
  id: EXIT-LIC-1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
  end_use:
    prohibited_executables: ["*/hpcm-exit-never-runs"]
EOY
start_daemon --licenses "$T/licenses" --interval 3600
expect 0 0 "status with hpcmeterd" ctl status

# 4: access denied (nobody, outside group hpcmeter)
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
expect 4 1 "status as nobody" as_nobody "$HPCMETERCTL" status
check "the line says the bus policy denied access" grep -q "access denied by the bus policy" "$T/err"
expect 4 1 "violations as nobody" as_nobody "$HPCMETERCTL" violations --json
expect 4 1 "reload as nobody" as_nobody "$HPCMETERCTL" reload
expect 4 1 "metrics as nobody" as_nobody "$HPCMETERCTL" metrics
expect 4 1 "job start as nobody" as_nobody "$HPCMETERCTL" job start 77
expect 4 1 "acknowledge as nobody" as_nobody "$HPCMETERCTL" acknowledge 1 "a note"
expect 4 1 "gaps as nobody" as_nobody "$HPCMETERCTL" gaps

# 5: unknown id
expect 5 1 "acknowledge of a violation that does not exist" ctl acknowledge 12345 "a note"
expect 5 1 "license explain of a licence not loaded" ctl license explain NO-SUCH-LICENSE
check "the line names the id" grep -q "NO-SUCH-LICENSE" "$T/err"
expect 0 0 "license explain of the loaded one" ctl license explain EXIT-LIC-1
expect 5 1 "report of a licence never loaded" ctl report --state-dir "$T/state" \
	--license NO-SUCH-LICENSE --from 2025-01-01 --to 2025-01-31 --format table

# 1: other failures
printf 'license:\n  id: X\n  regime: internal\n  valid: { from: 2020-01-01, untill: 2099-12-31 }\n' >"$T/bad.yaml"
expect 1 1 "license check of a bad file" ctl license check "$T/bad.yaml"
expect 1 1 "ledger verify of a missing ledger" ctl ledger verify --state-dir "$T/nowhere"
tap_done
