#!/bin/bash
# Hostile D-Bus input against the daemon on a private bus with the shipped policy: a flood of
# FLOOD_RATE (10,000) calls a second for FLOOD_SECONDS (20) from an unprivileged client (user
# nobody in group hpcmeter, the readers' group: the calls reach the daemon) and from nobody
# without the group (the bus refuses them), strings up to and past the bus's 32 MiB message
# limit, variants nested up to and past D-Bus's depth limit of 64. The daemon must answer or
# refuse every call, keep metering on schedule (every interval present, each starting where
# the previous one ended, no gap recorded) and stay up. The intervals' spacing before and
# during the flood is printed (jitter: docs/RELIABILITY.md); it is not asserted.
# usage: tests/dbus/test-flood.sh [BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
FLOOD=$BUILD/tests/flood
[ -x "$FLOOD" ] || skip_all "$FLOOD not built"
command -v sqlite3 >/dev/null || skip_all "needs sqlite3"
secs=${FLOOD_SECONDS:-20}
rate=${FLOOD_RATE:-10000}

if ! getent group hpcmeter >/dev/null; then
	groupadd --system hpcmeter || { echo "Bail out! cannot create group hpcmeter"; exit 1; }
	on_cleanup "groupdel hpcmeter"
fi
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_reader() {
	setpriv --reuid=nobody --regid=nogroup --groups="$(getent group hpcmeter | cut -d: -f3)" "$@"
}
mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: FLOOD-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root, nobody] }
EOY
start_bus
start_daemon --licenses "$T/licenses" --interval 1
DB=$T/state/ledger.sqlite
sql() { sqlite3 -readonly "$DB" "$1"; }
now_usec() { date +%s%6N; }
intervals_after() { [ "$(sql "SELECT count(*) FROM intervals WHERE end_usec > $1")" -ge "$2" ]; }
gaps0=$(sql "SELECT count(*) FROM gaps")

# Spacing of the intervals that ended in (FROM, TO]: count, mean, largest deviation from 1 s.
spacing() {
	sql "SELECT end_usec FROM intervals WHERE end_usec > $1 AND end_usec <= $2 ORDER BY id" |
		awk 'NR > 1 { d = $1 - p; n++; s += d; e = d - 1000000; if (e < 0) e = -e;
			if (e > m) m = e } { p = $1 }
			END { if (n) printf "%d gaps between intervals, mean %.1f ms, worst %.1f ms off 1 s",
				n, s / n / 1000, m / 1000; else print "no intervals" }'
}

# 1. Before: the daemon's own rhythm.
b0=$(now_usec)
wait_for intervals_after "$b0" 6
b1=$(now_usec)
diag "before the flood: $(spacing "$b0" "$b1")"

# 2. nobody outside the readers' group: the bus refuses every call, the daemon never sees it.
as_nobody "$FLOOD" rate 10000 5 >"$T/nobody.out" 2>&1
diag "nobody: $(cat "$T/nobody.out")"
check "nobody's calls are all refused by the bus (AccessDenied), none answered" \
	grep -Eq '^sent ([1-9][0-9]*) replies 0 errors \1 .*AccessDenied' "$T/nobody.out"

# 3. A reader floods GetStatus for $secs s, then ListViolations (rows since 0) for 5 s.
# Intervals are counted by row id over CLOCK_MONOTONIC time (/proc/uptime), so that a clock
# set by someone else meanwhile cannot change the count.
last_id() { sql "SELECT coalesce(max(id), 0) FROM intervals"; }
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
id0=$(last_id)
m0=$(uptime_ms)
f0=$(now_usec)
as_reader "$FLOOD" rate "$rate" "$secs" >"$T/reader.out" 2>&1
f1=$(now_usec)
as_reader "$FLOOD" rate "$rate" 5 ListViolations >"$T/reader2.out" 2>&1
f2=$(now_usec)
m2=$(uptime_ms)
diag "reader, GetStatus: $(cat "$T/reader.out")"
diag "reader, ListViolations: $(cat "$T/reader2.out")"
diag "during the flood: $(spacing "$f0" "$f2")"
check "every GetStatus call of the flood was answered" \
	grep -Eq '^sent ([1-9][0-9]*) replies \1 errors 0 ' "$T/reader.out"
check "every ListViolations call was answered" \
	grep -Eq '^sent ([1-9][0-9]*) replies \1 errors 0 ' "$T/reader2.out"
# Every interval that fell due during the flood was written: one per second, at most one
# still in flight at each end.
want=$(((m2 - m0) / 1000 - 2))
got=$(($(last_id) - id0))
check "no interval missed during the flood ($got intervals in $((m2 - m0)) ms, want >= $want)" \
	test "$got" -ge "$want"

# 4. Oversized strings: under the bus's 32 MiB limit the daemon refuses them; past it the bus
# drops the sender. Deep variants: the announcement is refused (wrong type) up to the limit
# of 64 nested containers; past it the bus drops the sender.
for n in 1048576 30000000; do
	as_reader "$FLOOD" string "$n" >"$T/string.out" 2>&1
	check "a licence id of $n bytes is refused with InvalidArgs" \
		grep -q '^error org.freedesktop.DBus.Error.InvalidArgs' "$T/string.out"
done
as_reader "$FLOOD" string 40000000 >"$T/string.out" 2>&1
check "a 40 MB message is refused by the bus (the sender is disconnected)" \
	grep -Eq '^(error org.freedesktop.DBus.Error.Disconnected|failed)' "$T/string.out"
"$FLOOD" variant 2 >"$T/variant.out" 2>&1
check "a job announcement with v(v(s)) where s is due is refused with InvalidArgs" \
	grep -q '^error org.freedesktop.DBus.Error.InvalidArgs' "$T/variant.out"
"$FLOOD" variant 60 >"$T/variant.out" 2>&1
check "... and with 60 nested variants" \
	grep -q '^error org.freedesktop.DBus.Error.InvalidArgs' "$T/variant.out"
"$FLOOD" variant 100 >"$T/variant.out" 2>&1
check "100 nested variants are refused before the daemon (bus or sd-bus: $(cat "$T/variant.out"))" \
	grep -Eq '^(error org.freedesktop.DBus.Error.Disconnected|failed|unbuildable)' "$T/variant.out"

# 5. Metering went on: the daemon is up, every interval starts where the one before ended,
# and no gap was recorded.
e0=$(now_usec)
wait_for intervals_after "$e0" 1
check "the daemon is still running and answering" sh -c "\"$HPCMETERCTL\" status >/dev/null"
holes=$(sql "SELECT count(*) FROM intervals a JOIN intervals b ON b.id = (SELECT min(id) FROM intervals WHERE id > a.id) WHERE b.start_usec != a.end_usec")
check "every interval starts where the previous one ended ($holes holes)" test "$holes" = 0
check "no metering gap was recorded ($(sql "SELECT count(*) FROM gaps") gaps, $gaps0 at start)" \
	test "$(sql "SELECT count(*) FROM gaps")" = "$gaps0"
tap_done
