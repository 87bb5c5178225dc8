#!/bin/bash
# Time zone and DST changes under a running daemon. It runs in a mount namespace of its own
# whose /etc/localtime the test replaces while it runs (Pacific/Kiritimati, +14, then
# America/Santiago, which had a DST change), with TZ unset, so glibc follows that file. The
# ledger is UTC microseconds and the daemon reads local time only in a licence's own zone:
# nothing changes. Intervals stay contiguous and on the UTC clock, no gap opens, the daemon
# keeps running. Reports name days in UTC whatever the TZ of the hpcmeterctl that asks, so the
# same --from/--to gives the same period under three zones, and the signed report verifies.
# (Calendar periods at DST edges in a licence's zone: tests/unit/test-evaluate.c.)
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, mount namespaces)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
command -v unshare >/dev/null && command -v nsenter >/dev/null || skip_all "no unshare/nsenter"
Z=/usr/share/zoneinfo
[ -f $Z/Pacific/Kiritimati ] && [ -f $Z/America/Santiago ] || skip_all "no tzdata"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: TZ-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }
now_usec() { date +%s%6N; }
intervals() { q "SELECT COUNT(*) FROM intervals"; }
intervals_above() { [ "$(intervals)" -gt "$1" ]; }
# The daemon in a private mount namespace, /etc/localtime bound to a zone of the test's.
cp $Z/Pacific/Kiritimati "$T/localtime"
cat >"$T/hpcmeterd-ns" <<EOS
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "$T/localtime" /etc/localtime && exec "$BUILD/hpcmeterd" "\$@"' hpcmeterd "\$@"
EOS
chmod 755 "$T/hpcmeterd-ns"

start_bus
HPCMETERD=$T/hpcmeterd-ns
TZ_SAVED=${TZ-}
unset TZ
start_daemon --licenses "$T/licenses" --interval 1
check "the daemon's local time is Kiritimati (+14)" \
	test "$(nsenter -t "$DAEMON_PID" -m date +%z)" = "+1400"
i0=$(intervals)
wait_for intervals_above $((i0 + 2))
# The zone changes under it: another file bound over /etc/localtime, in its namespace.
cp $Z/America/Santiago "$T/localtime2"
nsenter -t "$DAEMON_PID" -m mount --bind "$T/localtime2" /etc/localtime
check "its local time is Santiago now" \
	test "$(nsenter -t "$DAEMON_PID" -m date +%z)" = "$(TZ=America/Santiago date +%z)"
i1=$(intervals)
check "it meters on after the change" wait_for intervals_above $((i1 + 2))
before=$(now_usec)
wait_readings # it ends an interval after $before
last=$(q "SELECT MAX(end_usec) FROM intervals")
after=$(now_usec)
check "intervals are on the UTC clock (the last ended at $last, between $before and $after)" \
	test "$last" -ge "$before" -a "$last" -le "$after"
check "the daemon is running" kill -0 "$DAEMON_PID"
[ -n "$TZ_SAVED" ] && export TZ=$TZ_SAVED
check "no interval is missing: each starts where the one before ended" \
	test "$(q "SELECT COUNT(*) FROM intervals a WHERE a.id > (SELECT MIN(id) FROM intervals)
		AND NOT EXISTS (SELECT 1 FROM intervals b WHERE b.id = a.id - 1 AND b.end_usec = a.start_usec)")" = 0
check "no gap opened" test "$(q "SELECT COUNT(*) FROM gaps WHERE cause != 'daemon-stalled'")" = 0

# Reports: the same days under three zones of the CLI, one a DST day in Santiago.
today=$(date -u +%F)
periods=()
for zone in UTC Pacific/Kiritimati America/Santiago; do
	TZ=$zone "$HPCMETERCTL" report --state-dir "$T/state" --license TZ-1 --from 2024-09-08 \
		--to "$today" --format json --output "$T/report-${zone//\//-}.json" ||
		not_ok "report under TZ=$zone"
	periods+=("$(json "d['period']" <"$T/report-${zone//\//-}.json")")
done
diag "${periods[0]}"
check "the report's period is the same under TZ=UTC, Kiritimati and Santiago" \
	test "${periods[0]}" = "${periods[1]}" -a "${periods[0]}" = "${periods[2]}"
check "and it is UTC days: from 2024-09-08T00:00:00Z" \
	test "$(json "d['period']['from_usec']" <"$T/report-America-Santiago.json")" = "$(date -ud 2024-09-08 +%s)000000"
check "the report made under Santiago's zone verifies" sh -c \
	"'$HPCMETERCTL' report verify --state-dir '$T/state' '$T/report-America-Santiago.json' >/dev/null"
check "the three reports are recorded in the ledger" \
	test "$(q "SELECT COUNT(*) FROM reports")" = 3
stop_daemon
"$HPCMETERCTL" ledger verify --state-dir "$T/state" >"$T/verify.out"
rc=$?
diag "$(cat "$T/verify.out")"
check "the chain verifies" test "$rc" = 0
tap_done
