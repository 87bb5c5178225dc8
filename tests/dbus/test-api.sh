#!/bin/bash
# The D-Bus API member by member, on a private system-like bus with the shipped policy:
# - every method with bad arguments (wrong types, missing or extra arguments, absurd ranges,
#   unknown ids and keys) gets a named D-Bus error, and the daemon keeps running;
# - a violation raised, cleared and acknowledged is seen as signals with their sequence numbers
#   and as PropertiesChanged of LastViolationSeq and ActiveViolations;
# - GetUsageFiltered filters by job, account (from JobStarted), uid, user, licence and time;
# - GetReport's sealed file holds what hpcmeterctl report writes for the same period (one
#   generator): the same bytes but for the generation time and the ledger head it was built
#   at, both signed, the second naming the first; the signature GetReport returns is the
#   detached Ed25519 signature of the file's bytes, which stock openssl verifies.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v gdbus >/dev/null || skip_all "no gdbus"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/bin"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: API-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
cp /bin/true "$T/bin/hpcm-api-$$"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || { echo "Bail out! no cgroup2 mount"; exit 1; }
JOBCG=$CGMNT/hpcmeter-api-$$/slurm/uid_0/job_4244/step_0
mkdir -p "$JOBCG"
on_cleanup "rmdir '$JOBCG' '$CGMNT/hpcmeter-api-$$/slurm/uid_0/job_4244' '$CGMNT/hpcmeter-api-$$/slurm/uid_0' '$CGMNT/hpcmeter-api-$$/slurm' '$CGMNT/hpcmeter-api-$$' 2>/dev/null"

start_bus
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" "type='signal',sender='org.hpcmeter1'" \
	>"$T/signals" 2>"$T/monitor.err" &
_pids+=($!)
start_daemon --licenses "$T/licenses" --interval 1
# The monitor is subscribed once it has seen the daemon's first per-interval signal.
check "the monitor sees PropertiesChanged of LastCollectUSec each interval" \
	wait_for grep -q '"LastCollectUSec"' "$T/signals"

B=(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS")
GD=(gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.hpcmeter1 --object-path /org/hpcmeter1 --method)
# ds IFACE.MEMBER ARGS...: any signature (dbus-send), the error name printed.
ds() { dbus-send --system --print-reply --dest=org.hpcmeter1 /org/hpcmeter1 "org.hpcmeter1.$1" "${@:2}" 2>&1; }
# err NAME DESCRIPTION CALLER ARGS...: the call fails with the D-Bus error NAME.
err() {
	local name=$1 desc=$2 out
	shift 2
	out=$("$@" 2>&1)
	if grep -q "$name" <<<"$out"; then ok "$desc: $name"; else not_ok "$desc: $name"; diag "$out"; fi
}
IA=org.freedesktop.DBus.Error.InvalidArgs

# 1. Wrong types, missing and extra arguments, for every method (sd-bus checks the signature
# against the vtable).
for m in Meter.GetStatus Meter.GetInventory Meter.GetMetrics Licenses.ListLicenses Licenses.Reload; do
	err $IA "$m with an argument" ds "$m" string:x
done
for m in Meter.GetUsage Meter.GetGpuUsage Meter.ListGaps Meter.ListJobs Violations.ListViolations \
	Violations.ListClearedViolations Violations.ListThresholdEvents Violations.ListAcknowledgements; do
	err $IA "$m with a string for its t" ds "$m" string:x
	err $IA "$m with no argument" ds "$m"
done
err $IA "GetUsageBetween with one argument" ds Meter.GetUsageBetween uint64:1
err $IA "GetUsageFiltered with a{ss}" ds Meter.GetUsageFiltered dict:string:string:job,1
err $IA "ExplainLicense with a number" ds Licenses.ExplainLicense uint64:1
err $IA "AcknowledgeViolation with (s, s)" ds Violations.AcknowledgeViolation string:1 string:x
err $IA "GetReport with (s, t, t)" ds Licenses.GetReport string:API-1 uint64:0 uint64:1
err $IA "JobStarted with a string only" ds Meter.JobStarted string:42
err $IA "RecordReport with no arguments" ds Licenses.RecordReport
err org.freedesktop.DBus.Error.UnknownMethod "the old interface org.hpcmeter1.Manager is gone" ds Manager.GetStatus
err org.freedesktop.DBus.Error.UnknownMethod "an unknown method" ds Meter.GetNothing
err org.freedesktop.DBus.Error.UnknownProperty "an unknown property" \
	dbus-send --system --print-reply --dest=org.hpcmeter1 /org/hpcmeter1 \
	org.freedesktop.DBus.Properties.Get string:org.hpcmeter1.Meter string:Nothing
err org.freedesktop.DBus.Error.PropertyReadOnly "setting a property" "${GD[@]}" \
	org.freedesktop.DBus.Properties.Set "'org.hpcmeter1.Meter'" "'IntervalUSec'" "<uint64 1>"

# 2. Values: absurd ranges, unknown ids and keys.
err $IA "GetUsageBetween with to before from" "${GD[@]}" org.hpcmeter1.Meter.GetUsageBetween 5 4
F() { "${GD[@]}" org.hpcmeter1.Meter.GetUsageFiltered "$1"; }
err $IA "GetUsageFiltered: an unknown key" F "{'jobb': <'1'>}"
err $IA "GetUsageFiltered: uid as a string" F "{'uid': <'0'>}"
err $IA "GetUsageFiltered: from_usec as int32" F "{'from_usec': <int32 1>}"
err $IA "GetUsageFiltered: an empty job" F "{'job': <''>}"
err $IA "GetUsageFiltered: a user of 300 bytes" F "{'user': <'$(printf 'u%.0s' {1..300})'>}"
err $IA "GetUsageFiltered: to_usec before from_usec" F "{'from_usec': <uint64 10>, 'to_usec': <uint64 9>}"
err $IA "GetUsageFiltered: from_usec past the year 9999" F "{'from_usec': <uint64 18446744073709551615>}"
err org.hpcmeter1.Error.NoSuchLicense "GetUsageFiltered: a licence not loaded" F "{'license': <'NOPE-9'>}"
err org.hpcmeter1.Error.NoSuchLicense "ExplainLicense of a licence not loaded" \
	"${GD[@]}" org.hpcmeter1.Licenses.ExplainLicense "'NOPE-9'"
R() { "${GD[@]}" org.hpcmeter1.Licenses.GetReport "$@"; }
err $IA "GetReport: an unknown format" R "'API-1'" 0 1 "'pdf'"
err $IA "GetReport: to before from" R "'API-1'" 10 9 "'json'"
err $IA "GetReport: to past the year 9999" R "'API-1'" 0 18446744073709551615 "'json'"
err $IA "GetReport: an empty licence id" R "''" 0 1 "'json'"
err org.hpcmeter1.Error.NoSuchLicense "GetReport: a licence never loaded" R "'NOPE-9'" 0 1000000 "'table'"
err $IA "RecordReport: a SHA-256 that is not one" \
	"${GD[@]}" org.hpcmeter1.Licenses.RecordReport "'API-1'" 0 1 "'json'" "'abc'"
err $IA "JobStarted: a job id that is not one" "${GD[@]}" org.hpcmeter1.Meter.JobStarted "'x1'" "{}"
err $IA "JobStarted: an unknown info key" "${GD[@]}" org.hpcmeter1.Meter.JobStarted "'1'" "{'acount': <'a'>}"
A() { "${GD[@]}" org.hpcmeter1.Violations.AcknowledgeViolation "$@"; }
err org.hpcmeter1.Error.NoSuchViolation "AcknowledgeViolation of #0" A 0 "'x'"
err org.hpcmeter1.Error.NoSuchViolation "AcknowledgeViolation of #18446744073709551615" A 18446744073709551615 "'x'"
err $IA "AcknowledgeViolation with a control character in the note" A 1 "'a$(printf '\001')b'"
err $IA "AcknowledgeViolation with a note of 5000 bytes" A 1 "'$(printf 'n%.0s' {1..5000})'"
check "the daemon is still running after all of that" kill -0 "$DAEMON_PID"
check "and answers" sh -c "'$HPCMETERCTL' status --json >/dev/null"
# (ListViolations and the other lists take any since: a number past the end lists nothing.)
check "ListViolations since 2^64-1 is empty" \
	test "$("${B[@]}" call org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Violations ListViolations t 18446744073709551615)" = "a(ttssuusssss) 0"

# 3. A violation: the signal with its seq, the properties that changed with it.
prop() { "${B[@]}" get-property org.hpcmeter1 /org/hpcmeter1 "org.hpcmeter1.$1" "$2" | awk '{ print $2 }'; }
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/bin/hpcm-api-$$"
myseq() { "${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Violations ListViolations t 0 |
	json "[v[0] for v in d['data'][0] if v[7].endswith('/hpcm-api-$$')]" | grep -o '[0-9]\+' | head -1; }
raised() { [ -n "$(myseq)" ]; }
check "the violation of hpcm-api-$$ is raised" wait_for raised
SEQ=$(myseq)
diag "violation #$SEQ"
signalled() { grep -A1 "member=$1" "$T/signals" | grep -q "uint64 $SEQ\$"; }
check "ViolationRaised #$SEQ was signalled" wait_for signalled ViolationRaised
# PropertiesChanged (org.hpcmeter1.Violations, {LastViolationSeq: t, ...}) after it.
changed() {
	awk -v iface="$1" -v prop="$2" '
		/member=PropertiesChanged/ { pc = 1; want = 0; next }
		/^signal / { pc = 0 }
		pc && $0 ~ "string \"" iface "\"" { want = 1 }
		want && $0 ~ "string \"" prop "\"" { getline; print $NF }' "$T/signals"
}
at_least() { changed org.hpcmeter1.Violations "$1" | awk -v n="$2" '$1 >= n { f = 1 } END { exit !f }'; }
check "PropertiesChanged of LastViolationSeq carried a value >= $SEQ" wait_for at_least LastViolationSeq "$SEQ"
check "PropertiesChanged of ActiveViolations carried a count >= 1" wait_for at_least ActiveViolations 1
diag "ActiveViolations changes seen: $(changed org.hpcmeter1.Violations ActiveViolations | tr '\n' ' ')"
check "the LastViolationSeq property is at least #$SEQ" test "$(prop Violations LastViolationSeq)" -ge "$SEQ"
# The process has exited: its violation clears at the next interval.
check "ViolationCleared #$SEQ was signalled" wait_for signalled ViolationCleared
# ... and ActiveViolations changed after it: a PropertiesChanged naming it follows the signal.
changed_after_clear() {
	awk -v seq="$SEQ" '
		/member=ViolationCleared/ { getline; if ($NF == seq) c = 1; next }
		c && /string "ActiveViolations"/ { f = 1 }
		END { exit !f }' "$T/signals"
}
check "ActiveViolations changed when it cleared" wait_for changed_after_clear

# 4. Acknowledging it: root only (test-policy.sh), recorded, signalled, listed, once.
check "AcknowledgeViolation #$SEQ as root" "${GD[@]}" org.hpcmeter1.Violations.AcknowledgeViolation "$SEQ" "'checked by test-api'"
acked() { grep -A4 'member=ViolationAcknowledged' "$T/signals" | grep -q 'checked by test-api'; }
check "ViolationAcknowledged #$SEQ was signalled with the note" wait_for acked
check "ViolationAcknowledged carries seq #$SEQ" signalled ViolationAcknowledged
check "ListAcknowledgements lists it (seq, uid 0, note)" \
	test "$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Violations ListAcknowledgements t 0 |
		json "[(a[0], a[2], a[3]) for a in d['data'][0]]")" = "[($SEQ, 0, 'checked by test-api')]"
check "and since #$SEQ it lists nothing" \
	test "$("${B[@]}" call org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Violations ListAcknowledgements t "$SEQ")" = "a(ttus) 0"
err org.hpcmeter1.Error.AlreadyAcknowledged "a second AcknowledgeViolation #$SEQ" A "$SEQ" "'again'"
q() { python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$T/state/ledger.sqlite?mode=ro', uri=True, timeout=10); print(c.execute(sys.argv[1]).fetchall())" "$1"; }
check "the ledger has one acknowledgement of #$SEQ, by uid 0, with the note" \
	test "$(q "select seq, uid, note from violation_acks")" = "[($SEQ, 0, 'checked by test-api')]"

# 5. GetUsageFiltered: a job announced with an account, burning CPU in its Slurm-like cgroup.
check "JobStarted 4244 with account acct-api" "${GD[@]}" org.hpcmeter1.Meter.JobStarted "'4244'" \
	"{'account': <'acct-api'>, 'user': <'root'>, 'uid': <uint32 0>}"
sh -c "echo \$\$ > '$JOBCG/cgroup.procs' && exec '$BUILD/tests/burn' 200"
U() { "${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageFiltered a{sv} "$@" |
	json "sorted(set((r[1], r[2]) for r in d['data'][0]))"; }
has_job() { [ "$(U 1 job s 4244)" = "[('4244', 0)]" ]; }
check "filter job=4244: the job's rows only" wait_for has_job
check "filter account=acct-api: the same rows" test "$(U 1 account s acct-api)" = "[('4244', 0)]"
check "filter account=none-such: nothing" test "$(U 1 account s none-such)" = "[]"
check "filter uid=65534 and job=4244: nothing" test "$(U 2 uid u 65534 job s 4244)" = "[]"
ROOT_UIDS=$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageFiltered a{sv} 1 user s root | json "sorted(set(r[2] for r in d['data'][0]))")
check "filter user=root: every row is uid 0" test "$ROOT_UIDS" = "[0]"
T0=$(prop Meter LastCollectUSec)
T0_AT="@${T0%??????}.${T0: -6}" # @SECONDS.USEC: the same microsecond
later() { [ "$(prop Meter LastCollectUSec)" -gt "$((T0 + 1500000))" ]; }
wait_for later
JB=$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageBetween tt 0 "$T0")
JF=$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageFiltered a{sv} 1 to_usec t "$T0")
check "filter to_usec=T alone: what GetUsageBetween(0, T) returns" test "$JB" = "$JF"
JL=$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageFiltered a{sv} 2 to_usec t "$T0" license s API-1)
check "filter license=API-1 (valid 2020..2099) and to_usec=T: the same" test "$JB" = "$JL"
check "filter from_usec=T to_usec=T+1: what GetUsageBetween(T, T+1) returns" \
	test "$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageBetween tt "$T0" "$((T0 + 1))")" = \
	"$("${B[@]}" call --json=short org.hpcmeter1 /org/hpcmeter1 org.hpcmeter1.Meter GetUsageFiltered a{sv} 2 from_usec t "$T0" to_usec t "$((T0 + 1))")"

# 6. GetReport: the CLI's report, through a sealed memfd.
mask() { sed -E -e 's/generated [^ ]+ by/generated - by/' -e 's/chain head record .*/chain head record -/' \
	-e 's/^  "generated(_usec)?":.*/  "generated\1":-/' -e 's/^  "ledger":\{.*/  "ledger":-/' "$1"; }
check "GetReport(table) answers with a sealed file of the size it says" \
	sh -c "'$BUILD/tests/report-fd' API-1 0 '$T0' table >'$T/bus.txt' 2>'$T/bus.err'"
check "and no signature: a table is not signed" grep -q ' signature 0$' "$T/bus.err"
"$HPCMETERCTL" report --license API-1 --from @0 --to "$T0_AT" --format table --state-dir "$T/state" >"$T/cli.txt"
check "the table is the one hpcmeterctl report writes (but for generation time and ledger head)" \
	diff -u <(mask "$T/cli.txt") <(mask "$T/bus.txt")
check "and has the job's CPU time" grep -q "4244" "$T/bus.txt"
check "GetReport(json) answers" sh -c "'$BUILD/tests/report-fd' API-1 0 '$T0' json '$T/bus.json.sig' >'$T/bus.json' 2>'$T/bus.err'"
SHA=$(awk '{ print $4 }' "$T/bus.err")
check "with the report's SHA-256 and its 64-byte signature" \
	test "$SHA $(stat -c %s "$T/bus.json.sig")" = "$(sha256sum "$T/bus.json" | cut -d' ' -f1) 64"
"$HPCMETERCTL" report public-key --state-dir "$T/state" >"$T/pub.pem"
check "the signature verifies with stock openssl and the public key" \
	openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in "$T/bus.json" -sigfile "$T/bus.json.sig"
"$HPCMETERCTL" report --license API-1 --from @0 --to "$T0_AT" --format json --state-dir "$T/state" -o "$T/cli.json"
check "the JSON report is the one hpcmeterctl report writes (but for time, ledger head, signature)" \
	diff -u <(mask "$T/cli.json") <(mask "$T/bus.json")
check "both verify with the node's public key (FILE.sig beside each), and the CLI's names the daemon's before it" \
	"$HPCMETERCTL" report verify --state-dir "$T/state" "$T/bus.json" "$T/cli.json"
check "the daemon recorded its report in the ledger with the SHA-256 it returned" \
	test "$(q "select format, sha256 from reports where sha256 = '$SHA'")" = "[('json', '$SHA')]"
check "the daemon is still running" kill -0 "$DAEMON_PID"
# (Under AddressSanitizer a leak makes this exit non-zero.)
check "hpcmeterd exits 0 on SIGTERM" stop_daemon
tap_done
