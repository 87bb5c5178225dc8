#!/bin/bash
# Licences across the cluster for real: PostgreSQL started by the test, two node daemons (each
# metering its own cgroup subtree, on its own bus) burning known CPU time in Slurm-shaped job
# cgroups, and hpcmeterd --cluster as the evaluator on a bus of its own. Each node under a cap
# but the two over it together; one job on both nodes over its per-job cap; a project of two
# jobs (their wckey) over its cap; a licence bound to one node (under); a licence naming a
# node that is not enrolled. Violations on the evaluator's bus name the nodes and their
# shares, are chained in its ledger and reach the store. A total first provisional, then
# final. The store down and up again: the evaluator's totals equal the nodes' ledgers
# exactly (nothing counted twice). A node whose key changed: its refused checkpoints raise a
# violation.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pg-lib.sh"
echo "TAP version 13"
[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups, initdb as postgres)"
[ -n "$CG2" ] || skip_all "no cgroup2 mount"
BURN=$BUILD/tests/burn

start_pg
DB=$(pg_conninfo postgres)
"$HPCMETERCTL" cluster init --database "$DB" >/dev/null
for n in n1 n2 ev; do
	node_key $n
	extra=()
	[ $n = ev ] && extra=(--evaluator)
	"$HPCMETERCTL" cluster enroll --database "$DB" --node $n \
		--key "$T/$n/state/report-key.pub.pem" "${extra[@]}" >>"$T/enroll.out" 2>&1
done
check "two nodes and the evaluator enrolled" test "$(psql_as postgres "SELECT count(*) FROM hpcm.nodes")" = 3

lic() { # lic ID CAP [DESTINATION]
	cat >"$T/ev/licenses/$1.yaml" <<EOY
license:
  id: $1
  regime: internal
  valid: { from: 2020-01-01, until: 2099-12-31 }
${3:+  destination:
    hostnames: [$3]
}  caps:
    - $2
EOY
}
mkdir -p "$T/ev/licenses"
lic L-TOTAL "{ id: total, metric: cpu_seconds, scope: license, period: validity, limit: 5 }"
lic L-JOB "{ id: per-job, metric: cpu_seconds, scope: job, period: run, limit: 2.5 }"
lic L-PROJ "{ id: training, metric: cpu_seconds, scope: project, period: validity, limit: 2.5 }"
lic L-SUBSET "{ id: total, metric: cpu_seconds, scope: license, period: validity, limit: 5 }" n1
lic L-UNKNOWN "{ id: total, metric: cpu_seconds, scope: license, period: validity, limit: 1e9 }" "n1, n9"
# The nodes hold L-TOTAL too: on its own share each stays under it.
for n in n1 n2; do mkdir -p "$T/$n/licenses" && cp "$T/ev/licenses/L-TOTAL.yaml" "$T/$n/licenses/"; done

start_node n1 --interval 1
start_node n2 --interval 1
# The evaluator: no meter; reads the store, ships its own ledger as node "ev".
start_bus ev
NODE_BUS[ev]=$BUS_ADDRESS
# (its own checkpoints every minute, the default: cluster usage over every node leaves the
# evaluator's chain, which carries no usage, out of finality)
DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDRESS "$HPCMETERD" --cluster \
	--state-dir "$T/ev/state" --licenses "$T/ev/licenses" --node-name ev --interval 2 \
	--cluster-database "$(pg_conninfo ev)" >>"$T/ev/hpcmeterd.log" 2>&1 &
NODE_PID[ev]=$!
_pids+=("${NODE_PID[ev]}")
ev_up() { node_ctl ev status >/dev/null 2>&1; }
check "hpcmeterd --cluster comes up on its bus" wait_for ev_up
check "the evaluator meters nothing (no BPF program attached)" test -z "$(node_status ev attach_mode)"
diag "evaluator: $(node_status ev cluster_evaluator)"

# Jobs: 77 on both nodes; 81 on n1 and 82 on n2, both of project llm-a (their wckey).
for n in n1 n2; do mkdir -p "$CG2$CG_TOP/$n/job_77" "$CG2$CG_TOP/$n/job_8x"; done
node_ctl n1 job start 81 --set user=root --set uid=0 --set wckey=llm-a >/dev/null
node_ctl n2 job start 82 --set user=root --set uid=0 --set wckey=llm-a >/dev/null
rmdir "$CG2$CG_TOP/n1/job_8x" "$CG2$CG_TOP/n2/job_8x"
mkdir -p "$CG2$CG_TOP/n1/job_81" "$CG2$CG_TOP/n2/job_82"
burn_in() { sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" "$3"' _ "$CG2$CG_TOP/$1" "$BURN" "$2"; }
burn_in n1/job_77 1500 &
p1=$!
burn_in n2/job_77 1500 &
p2=$!
# Job 81's program in an audit session of its own (pam_loginuid's): n1 ships a session record
# (table sessions), which the evaluator reads past.
sh -c 'echo 0 >/proc/self/loginuid && echo $$ >"$1/cgroup.procs" && exec "$2" "$3"' _ \
	"$CG2$CG_TOP/n1/job_81" "$BURN" 1500 &
p3=$!
burn_in n2/job_82 1500 &
p4=$!
wait $p1 $p2 $p3 $p4
check "the workloads burned their CPU time" true

violation() { # violation LICENCE KIND: the evaluator has one
	node_ctl ev violations --json=short | python3 -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(v['license_id'] == '$1' and v['kind'] == '$2' for v in d) else 1)"
}
detail() { node_ctl ev violations --json=short | python3 -c "
import json, sys
for v in json.load(sys.stdin):
    if v['license_id'] == '$1' and v['kind'] == '$2': print(v['detail'])"; }
check "together over the cap: the evaluator raises L-TOTAL" wait_for violation L-TOTAL cap-exceeded
d=$(detail L-TOTAL cap-exceeded)
diag "$d"
check "... naming both nodes and their shares" grep -q "nodes: n1 [0-9.]*, n2 [0-9.]*" <<<"$d"
check "each node alone stays under it (no violation on n1)" \
	test "$(node_ctl n1 violations --json=short | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0
check "a job on two nodes over its per-job cap: L-JOB for job 77" wait_for violation L-JOB cap-exceeded
d=$(detail L-JOB cap-exceeded)
diag "$d"
check "... for job 77 across n1 and n2" grep -q "job 77.*nodes: n1 .*, n2 " <<<"$d"
check "a project of two jobs over its cap: L-PROJ for llm-a" wait_for violation L-PROJ cap-exceeded
d=$(detail L-PROJ cap-exceeded)
diag "$d"
check "... project llm-a across n1 and n2" grep -q "project llm-a.*nodes: n1 .*, n2 " <<<"$d"
no_subset() { ! violation L-SUBSET cap-exceeded; }
check "a licence bound to n1 alone counts n1 only: L-SUBSET stays under" no_subset
check "a licence naming a node that is not enrolled: a violation" wait_for violation L-UNKNOWN cluster-unknown-node
diag "$(detail L-UNKNOWN cluster-unknown-node)"
node_ctl ev license explain L-TOTAL >"$T/explain.out" 2>&1
diag "$(cat "$T/explain.out")"
check "explain says the result across 2 nodes and that it is certain" grep -q "across 2 nodes, certain" "$T/explain.out"

# The evaluator's violations are chained in its ledger and reach the store as its records.
in_store() { [ "$(psql_as postgres "SELECT count(*) FROM hpcm.records WHERE node = 'ev' AND tbl = 'violations'")" -ge 4 ]; }
check "the evaluator's violations reach the store, chained" wait_for in_store
"$HPCMETERCTL" cluster verify --database "$DB" --node ev >"$T/verify.out"
check "... and verify with the evaluator's key" test $? = 0
diag "$(cat "$T/verify.out")"

# ---- provisional, then final ----
now=$(date +%s)
"$HPCMETERCTL" cluster usage --state-dir "$T/ev/state" --by node --until "@$now" --json=short >"$T/u.json"
check "a total up to now is provisional first" test "$(json "d['final']" <"$T/u.json")" = False
check "... waiting for the nodes, not the evaluator ($(json "d['pending_nodes']" <"$T/u.json"))" \
	test -z "$(json "[p for p in d['pending_nodes'].split(', ') if p not in ('n1', 'n2')]" <"$T/u.json" | tr -d '[]')"
diag "$(cat "$T/u.json")"
final() {
	"$HPCMETERCTL" cluster usage --state-dir "$T/ev/state" --by node --until "@$now" --json=short |
		json "d['final']" | grep -q True
}
check "... then final, once both nodes' checkpoints passed its end" wait_for 180 final

# ---- one signed report for the licence ----
"$HPCMETERCTL" report --cluster --license L-TOTAL --from 2020-01-01 --to 2099-12-31 \
	--state-dir "$T/ev/state" --output "$T/cluster-report.json" 2>"$T/report.err"
check "report --cluster writes the report and its signature" test $? = 0 -a -s "$T/cluster-report.json.sig"
diag "$(cat "$T/report.err")"
check "... per node (n1, n2) and in total" python3 -c "
import json, sys
d = json.load(open('$T/cluster-report.json'))
nodes = {n['node']: n for n in d['nodes']}
ok = set(nodes) == {'n1', 'n2'} and abs(d['total']['cpu_seconds'] - sum(n['cpu_seconds'] for n in nodes.values())) < 1e-6
ok = ok and all(n['chain_seq'] > 0 and len(n['chain_hash']) == 64 and n['checkpoint_usec'] > 0 for n in nodes.values())
sys.exit(0 if ok else 1)"
check "... which stock openssl verifies with the evaluator's enrolled key" \
	openssl pkeyutl -verify -pubin -inkey "$T/ev/state/report-key.pub.pem" -rawin \
	-in "$T/cluster-report.json" -sigfile "$T/cluster-report.json.sig"
"$HPCMETERCTL" report --cluster --license L-NONE --from 2020-01-01 --to 2099-12-31 \
	--state-dir "$T/ev/state" --output "$T/none.json" 2>/dev/null
check "report --cluster of a licence the evaluator does not have: exit 5" test $? = 5

# ---- the store down, then up: nothing counted twice ----
pg_stop
check "store down: the evaluator says it cannot read it" wait_for sh -c \
	"DBUS_SYSTEM_BUS_ADDRESS='${NODE_BUS[ev]}' '$HPCMETERCTL' status --json | grep -q '\"cluster_evaluator\":\"cannot connect'"
burn_in n1/job_77 500
declare -A target
for n in n1 n2; do target[$n]=$(ledger_head $n); done
pg_start_again
caught_up() { # the evaluator has read what the nodes had written when the store came back
	for n in n1 n2; do
		[ "$(ledger_sql "$T/ev/state/cluster.sqlite" "SELECT seq FROM nodes WHERE name = '$n'")" -ge "${target[$n]}" ] || return 1
	done
}
check "store up again: the evaluator reads on" wait_for 120 caught_up
# (to the end of the century: this machine's clock may be stepped by other suites meanwhile)
"$HPCMETERCTL" cluster usage --state-dir "$T/ev/state" --by node --until 2099-12-31 --json=short >"$T/u.json"
for n in n1 n2; do
	ev=$(json "[r['cpu_seconds'] for r in d['rows'] if r['subject'] == '$n'][0]" <"$T/u.json")
	h=$(ledger_sql "$T/ev/state/cluster.sqlite" "SELECT seq FROM nodes WHERE name = '$n'")
	led=$(ledger_sql "$T/$n/state/ledger.sqlite" "SELECT COALESCE(SUM(u.cpu_ns), 0) / 1e9 FROM usage u JOIN chain c ON c.tbl = 'usage' AND c.row = u.rowid WHERE c.seq <= $h")
	check "$n: the evaluator's CPU total equals the node's ledger ($ev s, $led s)" \
		python3 -c "import sys; sys.exit(abs($ev - $led) > 1e-6)"
done
s=$(psql_as postgres "SELECT COALESCE(max(seq), 0) FROM hpcm.records WHERE node = 'n1' AND tbl = 'sessions'")
check "n1's login session is in the store ($s), and the evaluator read past it" test "$s" -gt 0 -a \
	"$(ledger_sql "$T/ev/state/cluster.sqlite" "SELECT seq FROM nodes WHERE name = 'n1'")" -ge "$s"

# ---- a node's clock ahead: a checkpoint of n1's, signed with its key, ten minutes ahead ----
# n1 is stopped first: running, it checkpoints every 5 s, and a checkpoint of its own after the
# one copied here would make this one "go back" (refused) rather than ahead.
stop_node n1
IFS='|' read -r cts cseq chash civ ccpu cgpu ckey <<<"$(psql_as postgres "SELECT time_usec, head_seq,
	encode(head_hash, 'hex'), intervals, cpu_ns, gpu_ns, key_id FROM hpcm.checkpoints WHERE
	node = 'n1' ORDER BY head_seq DESC, time_usec DESC LIMIT 1")"
ahead=$(($(date +%s) * 1000000 + 600000000))
printf 'hpcmeter checkpoint 1\nnode n1\ntime_usec %s\nhead_seq %s\nhead_hash %s\nintervals %s\ncpu_ns %s\ngpu_ns %s\nkey_id %s\n' \
	"$ahead" "$cseq" "$chash" "$civ" "$ccpu" "$cgpu" "$ckey" >"$T/ahead.txt"
openssl pkeyutl -sign -inkey "$T/n1/state/report-key.pem" -rawin -in "$T/ahead.txt" -out "$T/ahead.sig"
psql_as n1 "INSERT INTO hpcm.checkpoints (node, time_usec, head_seq, head_hash, intervals, cpu_ns,
	gpu_ns, key_id, signature) VALUES ('n1', $ahead, $cseq, decode('$chash', 'hex'), $civ, $ccpu,
	$cgpu, '$ckey', decode('$(od -An -tx1 -v "$T/ahead.sig" | tr -d ' \n')', 'hex'))" >/dev/null
skewed() { violation L-TOTAL cluster-clock-skew; }
check "a node whose clock is ahead of the store's: a violation" wait_for skewed
diag "$(detail L-TOTAL cluster-clock-skew)"

# ---- a node whose key changed ----
stop_node n2
openssl genpkey -algorithm ed25519 -out "$T/n2/state/report-key.pem" 2>/dev/null
start_node n2 --interval 1
rekeyed() { detail L-TOTAL cluster-node-refused | grep -q "^node n2: "; }
check "a node whose key changed: its refused checkpoints are a violation (naming n2)" wait_for 120 rekeyed
diag "$(detail L-TOTAL cluster-node-refused)"
tap_done
