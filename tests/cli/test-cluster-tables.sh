#!/bin/bash
# hpcmeterctl cluster usage follows hpcmeterctl's conventions: --since/--until in the one time
# syntax (--from/--to as aliases; UTC days, as report), a bad time named with the forms
# accepted, -o table|json|csv, --columns, --no-legend, and names that are not ASCII aligned in
# display cells. The evaluator's cluster.sqlite is made here with the library's own schema
# (lib/cluster-usage.c) and known rows; no daemon, no PostgreSQL.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"
command -v sqlite3 >/dev/null || skip_all "needs sqlite3"
export TZ=UTC LC_ALL=C NO_COLOR=1

S=$T/state
mkdir -p "$S"
python3 - "$TOP/lib/cluster-usage.c" >"$T/schema.sql" <<'EOF'
import re, sys
s = open(sys.argv[1]).read()
m = re.search(r'static const char mirror_schema\[\] =(.*?);\n', s, re.S)
body = re.sub(r'/\*.*?\*/', '', m.group(1), flags=re.S)
print(''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)))
EOF
# n1's last checkpoint covers up to 2025-02-01, n2's up to 2025-01-15 (UTC); usage of four
# users, one of them with a quote and a comma in the name (CSV quoting).
d() { echo $(($(date -ud "$1" +%s) * 1000000)); }
sqlite3 "$S/cluster.sqlite" >/dev/null <<EOF
$(cat "$T/schema.sql")
PRAGMA journal_mode=DELETE;
INSERT INTO nodes (name, seq, checkpoint_seq, checkpoint_usec) VALUES
	('n1', 2, 2, $(d 2025-02-01)), ('n2', 2, 2, $(d 2025-01-15));
INSERT INTO usage (node, seq, end_usec, job, uid, user, cpu_ns, gpu_ns, ops_upper) VALUES
	('n1', 1, $(d 2025-01-02T10:00Z), '101', 1003, 'jörg-müller', 3600000000000, 0, 1e15),
	('n1', 2, $(d 2025-01-02T11:00Z), '102', 1004, '田中', 7200000000000, 1800000000000, 2e15),
	('n2', 1, $(d 2025-01-03T10:00Z), '201', 1000, 'alice', 60000000000, 0, 0),
	('n2', 2, $(d 2025-01-20T10:00Z), '202', 1005, 'x"y,z', 1500000000, 0, 0);
EOF
check "the fixture is made" test -s "$S/cluster.sqlite"

cu() { "$HPCMETERCTL" cluster usage --state-dir "$S" "$@"; }
# same NAME COMMAND...: standard output is exactly what follows on standard input
same() {
	local name=$1
	shift
	cat >"$T/want"
	"$@" >"$T/got" 2>"$T/err"
	if cmp -s "$T/want" "$T/got"; then
		ok "$name"
	else
		not_ok "$name"
		diag "$(diff -u "$T/want" "$T/got"; cat "$T/err")"
	fi
}

same "by user, the first ten days (UTC; --until includes that day): a table, final" \
	cu --by user --since 2025-01-01 --until 2025-01-10 <<'EOF'
USER          CPU    GPU  OPS(UPPER)
alice        1min      0           0
jörg-müller    1h      0       1e+15
田中           2h  30min       2e+15
final: every node's checkpoint is past the end
EOF
check "in that table, every CPU column ends in the same display cell" python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
ends = {w(l[:l.index(c) + len(c)]) for l in open(sys.argv[1], encoding="utf-8")
        for c in ("CPU", "1min", "1h", "2h") if c in l.split()}
sys.exit(0 if len(ends) == 1 else 1)' "$T/got"
cp "$T/got" "$T/by-user"
same "--from/--to say what --since/--until say" \
	cu --by user --from 2025-01-01 --to 2025-01-10 <"$T/by-user"
same "the same in another TZ: days without a zone are UTC" \
	env TZ=Asia/Tokyo "$HPCMETERCTL" cluster usage --state-dir "$S" --by user \
	--since 2025-01-01 --until 2025-01-10 <"$T/by-user"
same "-o csv: RFC 4180 quoting, n2's late row included, no legend line" \
	cu --by user --since "2025-01-01 00:00" --until 2025-01-31T00:00:00Z -o csv <<'EOF'
USER,CPU,GPU,OPS(UPPER)
alice,1min,0,0
jörg-müller,1h,0,1e+15
"x""y,z",1.5s,0,0
田中,2h,30min,2e+15
EOF
same "a table up to the end of January: provisional, n2's checkpoint is behind" \
	cu --by node --since @1735689600 --until 2025-01-31 --columns=ops,node --no-legend <<'EOF'
3e+15  n1
    0  n2
provisional: n2
EOF
cu --by node --since 2025-01-01 --until 2025-01-31 --json=short >"$T/u.json"
check "--json: from_usec and to_usec are the UTC days' bounds" \
	test "$(json "d['from_usec'], d['to_usec'], d['final']" <"$T/u.json")" = \
	"$(d 2025-01-01) $(d 2025-02-01) False"
check "-o json is --json" test "$(cu --by node --since 2025-01-01 --until 2025-01-31 -o json)" = \
	"$(cat "$T/u.json")"
check "--since -50y and now (relative and named times) take everything" \
	test "$(cu --by node --since -50y --until now --json=short | json "len(d['rows'])")" = 2

# usage errors: exit 2, one line naming the option and the forms, and the hint
bad() {
	local want=$1
	shift
	"$HPCMETERCTL" cluster "$@" >/dev/null 2>"$T/err"
	# shellcheck disable=SC2181 # the status of the command just run
	[ $? = 2 ] && [ "$(head -1 "$T/err")" = "$want" ] && grep -q "^Try " "$T/err"
}
check "a bad --since: exit 2, the option, the value and the forms accepted" \
	bad 'hpcmeterctl: cluster usage: --since "2025-13-01": not a time; expected YYYY-MM-DD, "YYYY-MM-DD HH:MM[:SS]", ISO 8601 (2026-12-05T10:00:00+01:00), now, today, yesterday, -1h/-7d/-30min or @EPOCH' \
	usage --state-dir "$S" --since 2025-13-01
check "a bad --to names --to" \
	bad 'hpcmeterctl: cluster usage: --to "soon": not a time; expected YYYY-MM-DD, "YYYY-MM-DD HH:MM[:SS]", ISO 8601 (2026-12-05T10:00:00+01:00), now, today, yesterday, -1h/-7d/-30min or @EPOCH' \
	usage --state-dir "$S" --to soon
check "@USEC (the old form) is out of range, and says @ is seconds now" \
	bad 'hpcmeterctl: cluster usage: --until "@1738368000000000": out of range (1970 to 9999); @EPOCH is in seconds (@SECONDS.USEC for microseconds)' \
	usage --state-dir "$S" --until @1738368000000000
check "--until before --since" \
	bad 'hpcmeterctl: cluster usage: --until must be after --since' \
	usage --state-dir "$S" --since 2025-02-01 --until 2025-01-01
check "an unknown column names the valid ones" \
	bad 'hpcmeterctl: cluster usage: unknown column "bogus" in --columns (valid: USER, CPU, GPU, OPS(UPPER))' \
	usage --state-dir "$S" --by user --columns bogus
check "-o xml" bad "hpcmeterctl: unknown output format 'xml' (expected table, json or csv)" \
	usage --state-dir "$S" -o xml
check "--since applies to usage only" \
	bad "hpcmeterctl: cluster status: --since applies to 'cluster usage' only" \
	status --database "dbname=none" --since today
check "-o csv does not apply to verify (no table)" \
	bad "hpcmeterctl: cluster verify: -o csv applies to 'cluster status' and 'cluster usage' (it prints no table)" \
	verify --database "dbname=none" -o csv
tap_done
