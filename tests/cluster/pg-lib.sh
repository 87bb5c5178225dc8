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
