# shellcheck shell=bash
# PostgreSQL for the cluster tests, started by the test itself: initdb into the test's
# temporary directory as the postgres user (initdb refuses root), a Unix socket only (no TCP),
# stopped on every exit path. Source after tests/lib.sh.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# start_pg [EXTRA SERVER OPTIONS]: PG_DIR (data and socket), PG_HOST (the socket directory).
start_pg() {
	[ -x "$PG_BIN/initdb" ] || skip_all "PostgreSQL is not installed (apt-get install postgresql)"
	PG_DIR=$T/pg
	PG_HOST=$PG_DIR
	mkdir -p "$PG_DIR"
	chown postgres "$PG_DIR"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
		>"$T/initdb.log" 2>&1 || { echo "Bail out! initdb failed"; sed 's/^/# /' "$T/initdb.log"; exit 1; }
	PG_OPTS="-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c fsync=off $*"
	pg_start_again
	on_cleanup pg_stop
	runuser -u postgres -- "$PG_BIN/createdb" -h "$PG_HOST" hpcm
}

# pg_start_again: start the server once more (after pg_stop), same data and options.
pg_start_again() {
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 60 \
		-o "$PG_OPTS" start >/dev/null ||
		{ echo "Bail out! PostgreSQL did not start"; sed 's/^/# /' "$PG_DIR/pg.log"; exit 1; }
}

pg_stop() {
	[ -f "$PG_DIR/data/postmaster.pid" ] || return 0
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 60 -m fast stop >/dev/null
}

# psql_as ROLE SQL: one query, unaligned, tuples only.
psql_as() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_HOST" -U "$1" -d hpcm -c "$2"
}

# The conninfo of the store, as ROLE.
pg_conninfo() { echo "host=$PG_HOST dbname=hpcm user=$1"; }

# ---- node daemons: several hpcmeterd on one machine, each a node of the cluster ----
# Each has its own private bus, state directory, pinned maps (a directory of its own on the
# test's bpffs) and cgroup v2 subtree (--cgroup-root): it meters only what runs there.

CG2=$(cgroup2_mount)
CG_TOP=/hpcm-cluster-$$

# node_key NAME: the node's Ed25519 key in its state directory, made before its first start
# (the daemon would make one itself), so that it can be enrolled first.
node_key() {
	mkdir -p "$T/$1/state"
	chmod 750 "$T/$1/state"
	openssl genpkey -algorithm ed25519 -out "$T/$1/state/report-key.pem" 2>/dev/null
	chmod 600 "$T/$1/state/report-key.pem"
	openssl pkey -in "$T/$1/state/report-key.pem" -pubout -out "$T/$1/state/report-key.pub.pem"
}

# node_cgroup NAME: the node's cgroup subtree (made once, removed at the end).
node_cgroup() {
	if [ ! -d "$CG2$CG_TOP" ]; then
		mkdir "$CG2$CG_TOP"
		on_cleanup cgroups_cleanup
	fi
	mkdir -p "$CG2$CG_TOP/$1"
}

# The processes first (a cgroup with members cannot be removed), then the cgroups.
cgroups_cleanup() {
	local p
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	# Deepest first (job cgroups inside the nodes'); a process that has not quite exited
	# keeps its cgroup a moment longer.
	_rm_cgroups() {
		find "$CG2$CG_TOP" -depth -type d -exec rmdir {} \; 2>/dev/null
		[ ! -d "$CG2$CG_TOP" ]
	}
	wait_for _rm_cgroups
}

# start_node NAME [HPCMETERD ARGS...]: hpcmeterd as node NAME, shipping to the store as role
# NAME (unless the args say otherwise); its pid in NODE_PID[NAME], its bus in NODE_BUS[NAME].
declare -A NODE_PID NODE_BUS
start_node() {
	local name=$1
	shift
	bpffs_init
	node_cgroup "$name"
	[ -n "${NODE_BUS[$name]:-}" ] || { start_bus "$name"; NODE_BUS[$name]=$BUS_ADDRESS; }
	mkdir -p "$T/$name/licenses"
	# Checkpoints every CHECKPOINT_INTERVAL seconds (5 by default, not the daemon's 60): the
	# evaluator's totals turn final once each node's checkpoint has passed their end.
	printf 'checkpoint_interval = %s\n' "${CHECKPOINT_INTERVAL:-5}" >"$T/$name.conf"
	DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$name]} "$HPCMETERD" --config "$T/$name.conf" \
		--state-dir "$T/$name/state" \
		--licenses "$T/$name/licenses" --bpf-pin-dir "${BPF_PIN_DIR:+$BPF_PIN_DIR-$name}" \
		--gpu-mode off --node-name "$name" --cgroup-root "$CG_TOP/$name" \
		--cluster-database "$(pg_conninfo "$name")" "$@" >>"$T/$name/hpcmeterd.log" 2>&1 &
	NODE_PID[$name]=$!
	_pids+=("${NODE_PID[$name]}")
	if ! wait_for node_ctl "$name" status >/dev/null 2>&1; then
		echo "Bail out! node $name did not come up on its bus"
		sed 's/^/# /' "$T/$name/hpcmeterd.log"
		exit 1
	fi
}

stop_node() {
	kill -TERM "${NODE_PID[$1]}" 2>/dev/null
	wait "${NODE_PID[$1]}"
}

# node_ctl NAME ARGS...: hpcmeterctl against node NAME's daemon.
node_ctl() {
	local name=$1
	shift
	DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$name]} "$HPCMETERCTL" "$@"
}

# node_status NAME KEY: one key of the node's status.
node_status() {
	node_ctl "$1" status --json | json "d.get('$2', '')"
}

# run_in NAME CMD...: CMD in node NAME's cgroup, in the background; its pid in RUN_PID.
run_in() {
	local name=$1
	shift
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$CG2$CG_TOP/$name" "$@" &
	RUN_PID=$!
	_pids+=("$RUN_PID")
}

# The node's records in the store, and its chain head in its own ledger.
store_seq() { psql_as postgres "SELECT COALESCE(max(seq), 0) FROM hpcm.records WHERE node = '$1'"; }
ledger_head() { ledger_sql "$T/$1/state/ledger.sqlite" "SELECT COALESCE(MAX(seq), 0) FROM chain"; }
