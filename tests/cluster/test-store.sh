#!/bin/bash
# The cluster's store for real: PostgreSQL started by the test (initdb as the postgres user,
# a Unix socket only), two hpcmeterd as two nodes on this machine (each metering its own
# cgroup v2 subtree, on its own bus), real processes burning CPU. The store stopped for 30 s
# under load and started again: every record arrives, the totals are exact. Resends skipped,
# a fork refused, a node that is not enrolled refused (and the refusal recorded), a
# superuser's edit found by cluster verify, a restarted node resuming where it stopped, the
# store's disk full and the node's: a clear state, metering on, nothing lost. A wrong
# conninfo and a schema from a newer version: a clear error, metering on.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pg-lib.sh"
echo "TAP version 13"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, initdb as postgres)"
[ -n "$CG2" ] || skip_all "no cgroup2 mount"
BURN=$BUILD/tests/burn

start_pg
DB=$(pg_conninfo postgres)
"$HPCMETERCTL" cluster init --database "$DB" >"$T/init.out" 2>&1
check "cluster init creates the schema" grep -q "created the store's schema, version" "$T/init.out"
"$HPCMETERCTL" cluster init --database "$DB" >"$T/init.out" 2>&1
check "cluster init again: nothing to do" grep -q "at version .* already" "$T/init.out"
for n in n1 n2; do
	node_key $n
	"$HPCMETERCTL" cluster enroll --database "$DB" --node $n \
		--key "$T/$n/state/report-key.pub.pem" >>"$T/enroll.out" 2>&1
done
check "two nodes enrolled" test "$(psql_as postgres "SELECT count(*) FROM hpcm.nodes")" = 2

# n2's state on a small file system of its own: its disk is filled later.
mkdir -p "$T/n2/state.tmpfs"
mount -t tmpfs -o size=48m tmpfs "$T/n2/state.tmpfs"
on_cleanup "umount -l $T/n2/state.tmpfs"
mv "$T/n2/state"/* "$T/n2/state.tmpfs/"
rmdir "$T/n2/state"
ln -s "$T/n2/state.tmpfs" "$T/n2/state"

start_node n1 --interval 1
start_node n2 --interval 1
caught_up() { [ "$(node_status "$1" cluster)" = connected ] && [ "$(node_status "$1" cluster_behind)" = 0 ]; }
checkpointed() { [ "$(psql_as postgres "SELECT count(*) FROM hpcm.checkpoints WHERE node = '$1'")" -ge "${2:-1}" ]; }
check "n1 ships its records and a checkpoint" wait_for checkpointed n1
check "n2 ships its records and a checkpoint" wait_for checkpointed n2
node_ctl n1 status >"$T/status.out"
check "hpcmeterctl status: the cluster store is connected" grep -q "Cluster store: connected" "$T/status.out"

# Load: each node burns CPU in its own cgroup, n1 also runs programs.
run_in n1 "$BURN" 60000
BURN1=$RUN_PID
run_in n2 "$BURN" 60000
BURN2=$RUN_PID
# n1's programs run in an audit session of their own (as pam_loginuid would set it): a
# session is a chained record (table sessions) and ships like every other.
run_in n1 sh -c 'echo 0 >/proc/self/loginuid && while :; do /bin/true; sleep 0.05; done'
LOOP1=$RUN_PID
has_usage() { [ "$(psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = '$1' AND tbl = 'usage'")" -ge 3 ]; }
check "n1's usage reaches the store" wait_for has_usage n1
check "n2's usage reaches the store" wait_for has_usage n2
store_sessions() { psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = '$1' AND tbl = 'sessions' AND position(convert_to('audit:', 'UTF8') IN body) > 0"; }
has_session() { [ "$(store_sessions n1)" -ge "${1:-1}" ]; }
check "n1's login session (table sessions) reaches the store" wait_for has_session
check "each node meters only its own cgroup subtree" test "$(psql_as postgres \
	"SELECT count(*) FROM hpcm.records WHERE tbl = 'usage' AND ((node = 'n1' AND position(convert_to('$CG_TOP/n2', 'UTF8') IN body) > 0) OR (node = 'n2' AND position(convert_to('$CG_TOP/n1', 'UTF8') IN body) > 0))")" = 0

# ---- n2's own disk full (early: its WAL has yet to grow) ----
dd if=/dev/zero of="$T/n2/state.tmpfs/fill" bs=1M count=64 2>/dev/null
degraded() { node_status n2 ledger_state | grep -q degraded; }
check "n2's disk full: its ledger keeps records in memory" wait_for degraded
held=$(store_seq n2)
rm -f "$T/n2/state.tmpfs/fill"
# The records held in memory are written at the ledger's next attempt: wait for the ledger to
# say so, then for the store to have everything it wrote by then.
healthy() { [ "$(node_status n2 ledger_state)" = ok ]; }
wait_for healthy
h2=$(ledger_head n2)
shipped() { [ "$(store_seq n2)" -ge "$h2" ]; }
check "space again on n2: its records are written and shipped (ledger $h2)" wait_for 120 shipped
check "n2's records of the full disk arrived (store $held -> $(store_seq n2))" test "$h2" -gt "$held"

# ---- the store stopped for 30 s under load ----
# 30 s as the issue has it: several checkpoints' worth of records pile up in the outboxes and
# the reconnection's back-off has grown to its ceiling when the store comes back.
before1=$(store_seq n1)
pg_stop
behind() { node_status "$1" cluster | grep -q "^behind [0-9]* records"; }
check "store down: n1 says it is behind and why" wait_for behind n1
diag "n1: $(node_status n1 cluster)"
c0=$(node_status n1 collections)
sleep 30
check "store down: metering went on (collections $c0 -> $(node_status n1 collections))" \
	test "$(node_status n1 collections)" -gt $((c0 + 10))
pg_start_again
check "store up again: n1 catches up" wait_for 120 caught_up n1
check "store up again: n2 catches up" wait_for 120 caught_up n2
check "the records of the outage arrived ($before1 -> $(store_seq n1))" \
	test "$(store_seq n1)" -gt $((before1 + 20))

# ---- the store's disk full ----
mkdir -p "$T/pgspace"
mount -t tmpfs -o size=6m tmpfs "$T/pgspace"
on_cleanup "umount -l $T/pgspace"
chown postgres "$T/pgspace"
psql_as postgres "CREATE TABLESPACE small LOCATION '$T/pgspace'" >/dev/null
psql_as postgres "ALTER TABLE hpcm.records SET TABLESPACE small; ALTER INDEX hpcm.records_pkey SET TABLESPACE small" >/dev/null
psql_as postgres "CREATE TABLE public.filler (x text) TABLESPACE small" >/dev/null
psql_as postgres "ALTER TABLE public.filler ALTER x SET STORAGE plain; INSERT INTO public.filler SELECT repeat('x', 1500) FROM generate_series(1, 100000)" >/dev/null 2>&1
full() { node_status n1 cluster | grep -q "behind .*could not extend\|behind .*No space"; }
check "the store's disk full: n1 is behind, with the store's error" wait_for full
diag "n1: $(node_status n1 cluster)"
psql_as postgres "DROP TABLE public.filler" >/dev/null
check "space again on the store: n1 catches up" wait_for 120 caught_up n1

# ---- a node restarted resumes where it stopped ----
kill "$LOOP1"
stop_node n1
h1=$(ledger_head n1)
s1=$(store_seq n1)
diag "n1 stopped at ledger record $h1, the store had $s1"
start_node n1 --interval 1
resumed() { [ "$(store_seq n1)" -ge "$h1" ]; }
check "n1 restarted: the records written at its stop arrive" wait_for resumed
check "n1 restarted: it did not start over" grep -q "continuing there\|records to send" "$T/n1/hpcmeterd.log"
check "n1's session ended: its end reaches the store too" wait_for has_session 2

# ---- every record arrived, the totals are exact ----
kill "$BURN1" "$BURN2" 2>/dev/null
"$HPCMETERCTL" cluster verify --database "$DB" --json=short >"$T/verify.json"
rc=$?
check "cluster verify: every chain and checkpoint verifies" test "$rc" = 0
for n in n1 n2; do
	h=$(json "[x for x in d if x['node'] == '$n'][0]['head_seq']" <"$T/verify.json")
	cpu=$(json "[x for x in d if x['node'] == '$n'][0]['cpu_ns']" <"$T/verify.json")
	hash=$(json "[x for x in d if x['node'] == '$n'][0]['head_hash']" <"$T/verify.json")
	db=$T/$n/state/ledger.sqlite
	check "$n: records 1..$h in the store are the ledger's (head hash)" \
		test "$(ledger_sql "$db" "SELECT lower(hex(hash)) FROM chain WHERE seq = $h")" = "$hash"
	local_cpu=$(ledger_sql "$db" "SELECT COALESCE(SUM(u.cpu_ns), 0) FROM usage u JOIN chain c ON c.tbl = 'usage' AND c.row = u.rowid WHERE c.seq <= $h")
	check "$n: CPU time in the store equals the ledger's, exactly ($cpu ns)" test "$cpu" = "$local_cpu" -a "$cpu" -gt 0
	check "$n: no record missing in the store" test "$(psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = '$n' AND seq <= $h")" = "$h"
done
diag "$(cat "$T/verify.json")"

# ---- a resend is harmless ----
n_before=$(psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = 'n1'")
r_before=$(psql_as postgres "SELECT count(*) FROM hpcm.refusals")
out=$(psql -X -q -A -t -h "$PG_HOST" -U n1 -d hpcm -c "INSERT INTO hpcm.records SELECT * FROM hpcm.records WHERE node = 'n1' AND seq <= 10" 2>&1)
check "a resend by the node's role is skipped without error ($out)" test $? = 0
check "a resend adds no row and no refusal" test "$(psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = 'n1'")" -ge "$n_before" -a "$(psql_as postgres "SELECT count(*) FROM hpcm.refusals")" = "$r_before"
psql -X -q -A -t -h "$PG_HOST" -U n1 -d hpcm -c "INSERT INTO hpcm.records SELECT * FROM hpcm.records WHERE node = 'n1' AND seq <= 10 ON CONFLICT (node, seq) DO NOTHING" >/dev/null 2>&1
check "a resend with ON CONFLICT as the node sends it is skipped" test $? = 0

# ---- a fork is refused, and the refusal recorded ----
psql_as n1 "INSERT INTO hpcm.records (node, seq, prev, hash, tbl, row_id, body) SELECT node, seq, prev, sha256(hash), tbl, row_id, body FROM hpcm.records WHERE node = 'n1' AND seq = 3" >/dev/null 2>&1
check "another record 3 of n1 is refused (a fork)" test "$(psql_as postgres "SELECT count(*) FROM hpcm.refusals WHERE node = 'n1' AND seq = 3 AND reason LIKE '%a fork%'")" = 1
stop_node n2
s2=$(store_seq n2)
psql_as n2 "INSERT INTO hpcm.records (node, seq, prev, hash, tbl, row_id, body) SELECT node, seq + 1, sha256(prev), hash, tbl, row_id, body FROM hpcm.records WHERE node = 'n2' AND seq = $s2" >/dev/null 2>&1
check "a record of n2 that does not continue its chain is refused (a fork)" \
	test "$(psql_as postgres "SELECT count(*) FROM hpcm.refusals WHERE node = 'n2' AND reason LIKE '%previous hash differs (a fork)%'")" = 1
check "the refused record is not stored" test "$(store_seq n2)" = "$s2"
psql_as n2 "UPDATE hpcm.records SET body = NULL WHERE node = 'n2'" >/dev/null 2>&1
check "a node cannot change its records (no UPDATE granted)" test $? != 0
psql_as n2 "DELETE FROM hpcm.records WHERE node = 'n1'" >/dev/null 2>&1
check "a node cannot delete records" test $? != 0
psql_as n2 "INSERT INTO hpcm.records SELECT 'n2', seq + 100000, prev, hash, tbl, row_id, body, rollup FROM hpcm.records WHERE node = 'n1' LIMIT 1" >/dev/null 2>&1
check "a node cannot even read another node's rows (row-level security)" \
	test "$(psql_as n2 "SELECT count(*) FROM hpcm.records WHERE node = 'n1'")" = 0
psql_as postgres "DELETE FROM hpcm.refusals" >/dev/null 2>&1
check "nobody deletes a refusal, not even the owner (append-only)" test $? != 0

# ---- a node that is not enrolled: refused, recorded ----
node_key n3
start_node n3 --interval 1 --cluster-database "$(pg_conninfo n1)"
notenrolled() { node_status n3 cluster | grep -q "refused: .*enrolled as node n1, not n3"; }
check "n3 (with n1's role, not enrolled): status says refused, and why" wait_for notenrolled
diag "n3: $(node_status n3 cluster)"
check "the store recorded n3's refusal" \
	test "$(psql_as postgres "SELECT count(*) FROM hpcm.refusals WHERE node = 'n3'")" -ge 1
check "n3 has no record in the store" test "$(store_seq n3)" = 0
"$HPCMETERCTL" cluster status --database "$DB" >"$T/cstatus.out"
check "cluster status lists n3 as not enrolled, with its refusal" grep -q "n3 (not enrolled).*enrolled as node n1" "$T/cstatus.out"
check "cluster status -o csv --columns: n3's row, its refusals counted" sh -c \
	"'$HPCMETERCTL' cluster status --database '$DB' -o csv --columns=node,refused --no-legend |
		grep -q '^n3 (not enrolled),[1-9]'"
diag "$(cat "$T/cstatus.out")"
stop_node n3

# ---- bad input: a wrong conninfo, a schema from a newer version ----
node_key n4
start_node n4 --interval 1 --cluster-database "host=$T/nowhere dbname=hpcm user=n4"
unreachable() { node_status n4 cluster | grep -q "^behind [0-9]* records: .*nowhere"; }
check "a wrong conninfo: a clear error in status" wait_for unreachable
diag "n4: $(node_status n4 cluster)"
c0=$(node_status n4 collections)
more_collections() { [ "$(node_status "$1" collections)" -gt "$2" ]; }
check "a wrong conninfo: metering goes on" wait_for more_collections n4 $((c0 + 2))
stop_node n4
psql_as postgres "INSERT INTO hpcm.schema_version (version, what) VALUES (99, 'from the future')" >/dev/null
start_node n2 --interval 1
newer() { node_status n2 cluster | grep -q "refused: the store's schema version 99 is newer"; }
check "a store of a newer schema: refused with a clear error" wait_for newer
diag "n2: $(node_status n2 cluster)"
"$HPCMETERCTL" cluster init --database "$DB" >"$T/init.out" 2>&1
check "cluster init refuses to touch a newer schema" grep -q "newer than this hpcmeter" "$T/init.out"

# ---- a superuser's edit is found ----
k=$(psql_as postgres "SELECT min(seq) FROM hpcm.records WHERE node = 'n1' AND tbl = 'usage'")
psql_as postgres "ALTER TABLE hpcm.records DISABLE TRIGGER append_only; UPDATE hpcm.records SET body = set_byte(body, octet_length(body) - 1, get_byte(body, octet_length(body) - 1) # 1) WHERE node = 'n1' AND seq = $k" >/dev/null
"$HPCMETERCTL" cluster verify --database "$DB" >"$T/verify.out"
rc=$?
check "a superuser's changed byte: cluster verify exits 1" test "$rc" = 1
check "... and names n1's record $k" grep -q "node n1: BROKEN at record $k:" "$T/verify.out"
diag "$(cat "$T/verify.out")"
psql_as postgres "UPDATE hpcm.records SET hash = sha256(prev || int8send(seq) || body) WHERE node = 'n1' AND seq = $k" >/dev/null
"$HPCMETERCTL" cluster verify --database "$DB" --node n1 >"$T/verify.out"
check "the changed record with its hash recomputed: the next record names it" grep -q "BROKEN at record $((k + 1)): .*previous hash" "$T/verify.out"
diag "$(cat "$T/verify.out")"
tap_done
