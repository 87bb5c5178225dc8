// SPDX-License-Identifier: GPL-2.0-only
/* Schema migrations. Step N takes a database at user_version N-1 to N, inside one exclusive
 * transaction that also sets user_version. A step, once released, never changes: a database
 * written by any earlier build must migrate. Adding a step = one entry in steps[] (and a fixture
 * for its version in tests/unit/test-ledger.c). */
#include <errno.h>
#include <stdio.h>

#include "ledger-migrate.h"
#include "util.h"

/* Version 1: the spine. */
static const char schema_v1[] =
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE intervals (id INTEGER PRIMARY KEY, start_usec INTEGER NOT NULL,"
	" end_usec INTEGER NOT NULL);"
	"CREATE TABLE usage (interval_id INTEGER NOT NULL REFERENCES intervals(id),"
	" cgroup TEXT NOT NULL, cgroup_id INTEGER NOT NULL, job TEXT NOT NULL, uid INTEGER NOT NULL,"
	" user TEXT NOT NULL, cpu_ns INTEGER NOT NULL);"
	"CREATE INDEX usage_interval ON usage(interval_id);"
	"CREATE TABLE process_events (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" event TEXT NOT NULL CHECK (event IN ('exec','exit')), pid INTEGER NOT NULL,"
	" ppid INTEGER, uid INTEGER, executable TEXT, cgroup TEXT, exit_code INTEGER,"
	" cpu_ns INTEGER);"
	"CREATE TABLE violations (seq INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" kind TEXT NOT NULL, license_id TEXT NOT NULL, pid INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" user TEXT NOT NULL, executable TEXT NOT NULL, cgroup TEXT NOT NULL, job TEXT NOT NULL,"
	" detail TEXT NOT NULL);"
	"INSERT INTO meta VALUES ('created_by', 'hpcmeterd " HPCMETER_VERSION "');";

/* Version 2: the hash chain and the records of the ledger issue. */
static const char schema_v2[] =
	"CREATE TABLE chain (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, row INTEGER NOT NULL,"
	" hash BLOB NOT NULL, rollup INTEGER);"
	"CREATE UNIQUE INDEX chain_row ON chain(tbl, row);"
	"CREATE INDEX intervals_end ON intervals(end_usec);"
	"CREATE TABLE jobs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, cgroup TEXT NOT NULL,"
	" uid INTEGER NOT NULL, user TEXT NOT NULL, account TEXT NOT NULL,"
	" first_usec INTEGER NOT NULL, UNIQUE (job, cgroup, uid));"
	/* Metrics other than CPU time (usage.cpu_ns) per job and interval: GPU seconds, ... */
	"CREATE TABLE usage_metrics (id INTEGER PRIMARY KEY,"
	" interval_id INTEGER NOT NULL REFERENCES intervals(id), job TEXT NOT NULL,"
	" account TEXT NOT NULL, uid INTEGER NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL);"
	"CREATE INDEX usage_metrics_interval ON usage_metrics(interval_id);"
	"CREATE TABLE gaps (id INTEGER PRIMARY KEY, cause TEXT NOT NULL,"
	" start_usec INTEGER NOT NULL, end_usec INTEGER NOT NULL, boot_id TEXT NOT NULL,"
	" detail TEXT NOT NULL, bound_cpu_ns INTEGER NOT NULL, bound_devices INTEGER NOT NULL,"
	" bound TEXT NOT NULL, policy TEXT NOT NULL);"
	"CREATE TABLE licenses (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" event TEXT NOT NULL CHECK (event IN ('loaded','unloaded','rejected')),"
	" license_id TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL);"
	"CREATE TABLE meter_states (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" meter TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL);"
	"CREATE TABLE inventory (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" source TEXT NOT NULL, snapshot TEXT NOT NULL);"
	"CREATE TABLE reports (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" license_id TEXT NOT NULL, from_usec INTEGER NOT NULL, to_usec INTEGER NOT NULL,"
	" format TEXT NOT NULL, sha256 TEXT NOT NULL, chain_seq INTEGER NOT NULL,"
	" chain_hash TEXT NOT NULL);"
	"CREATE TABLE rollups (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" before_usec INTEGER NOT NULL, entries INTEGER NOT NULL, digest TEXT NOT NULL);"
	"CREATE TABLE usage_daily (id INTEGER PRIMARY KEY, rollup_id INTEGER NOT NULL"
	" REFERENCES rollups(id), day TEXT NOT NULL, cgroup TEXT NOT NULL, job TEXT NOT NULL,"
	" uid INTEGER NOT NULL, user TEXT NOT NULL, cpu_ns INTEGER NOT NULL,"
	" intervals INTEGER NOT NULL);"
	/* Not records but state: what the kernel counters said when the last interval was
	 * committed, so that a restarted daemon continues from pinned maps. */
	"CREATE TABLE baselines (tgid INTEGER PRIMARY KEY, start_ns INTEGER NOT NULL,"
	" cpu_ns INTEGER NOT NULL);"
	/* One row per process, from its exec and exit events. */
	"CREATE VIEW processes AS SELECT e.pid AS pid, e.time_usec AS exec_usec, e.ppid AS ppid,"
	" e.uid AS uid, e.executable AS executable, e.cgroup AS cgroup,"
	" (SELECT MIN(x.time_usec) FROM process_events x WHERE x.event = 'exit'"
	"  AND x.pid = e.pid AND x.time_usec >= e.time_usec) AS exit_usec"
	" FROM process_events e WHERE e.event = 'exec';";

static int exec_sql(sqlite3 *db, const char *path, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("ledger %s: migration: %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
	}
	return 0;
}

static int step_v1(sqlite3 *db, const char *path, struct chain_head *head)
{
	return exec_sql(db, path, schema_v1);
}

static int step_v2(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v2);

	/* The rows written before the chain existed enter it now, in table and row order. */
	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

/* Version 3: GPU usage per interval (the GPU meter's table, created here from now on; a ledger
 * that has it already keeps it), chained like the rest. */
static const char schema_v3[] =
	"CREATE TABLE IF NOT EXISTS gpu_usage (interval_id INTEGER NOT NULL"
	" REFERENCES intervals(id), cgroup TEXT NOT NULL, cgroup_id INTEGER NOT NULL,"
	" job TEXT NOT NULL, uid INTEGER NOT NULL, user TEXT NOT NULL, gpu_ns INTEGER NOT NULL,"
	" tpp_seconds REAL NOT NULL, ops_upper REAL NOT NULL, ops_lower REAL NOT NULL,"
	" launches INTEGER NOT NULL, threads_launched INTEGER NOT NULL,"
	" graph_launches INTEGER NOT NULL, bytes_alloc INTEGER NOT NULL,"
	" bytes_h2d INTEGER NOT NULL, dev_opens INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS gpu_usage_interval ON gpu_usage(interval_id);";

static int step_v3(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v3);

	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

/* Version 4: the violation lifecycle, threshold events and job announcements, chained and
 * append-only. What an earlier build changed in place becomes a record of its own: a clear is a
 * row of violation_clears (moved out of violation_lifecycle.cleared_usec), a job's end or a
 * changed announcement a new row of jobs_announced naming its run's first row in run_id (NULL
 * on the first row). Acknowledgements of violations get their table. */
static const char schema_v4[] =
	"CREATE TABLE IF NOT EXISTS violation_lifecycle (seq INTEGER PRIMARY KEY,"
	" key TEXT NOT NULL, term TEXT NOT NULL, subject TEXT NOT NULL, measured REAL,"
	" limit_value REAL, cleared_usec INTEGER);"
	"DROP INDEX IF EXISTS violation_lifecycle_open;"
	"CREATE TABLE IF NOT EXISTS threshold_events (seq INTEGER PRIMARY KEY,"
	" time_usec INTEGER NOT NULL, license_id TEXT NOT NULL, term TEXT NOT NULL,"
	" subject TEXT NOT NULL, level INTEGER NOT NULL, measured REAL, limit_value REAL,"
	" detail TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS jobs_announced (id INTEGER PRIMARY KEY,"
	" job TEXT NOT NULL, scheduler TEXT NOT NULL, user TEXT NOT NULL,"
	" uid INTEGER NOT NULL, account TEXT NOT NULL, partition TEXT NOT NULL,"
	" wckey TEXT NOT NULL, comment TEXT NOT NULL, gpus TEXT NOT NULL,"
	" nodes TEXT NOT NULL, start_usec INTEGER NOT NULL, end_usec INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS jobs_announced_job ON jobs_announced(job);"
	"ALTER TABLE jobs_announced ADD COLUMN run_id INTEGER;"
	"CREATE INDEX jobs_announced_run ON jobs_announced(run_id);"
	"CREATE TABLE violation_clears (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
	" time_usec INTEGER NOT NULL);"
	"CREATE INDEX violation_clears_seq ON violation_clears(seq);"
	"INSERT INTO violation_clears (seq, time_usec) SELECT seq, cleared_usec"
	" FROM violation_lifecycle WHERE cleared_usec IS NOT NULL ORDER BY cleared_usec, seq;"
	"UPDATE violation_lifecycle SET cleared_usec = NULL;"
	"CREATE TABLE violation_acks (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
	" time_usec INTEGER NOT NULL, uid INTEGER NOT NULL, note TEXT NOT NULL);"
	"CREATE INDEX violation_acks_seq ON violation_acks(seq);";

static int step_v4(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v4);

	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

/* Version 5: process events aggregated. Per interval and per (cgroup, uid, executable and its
 * SHA-256 where known): the execs, the exits and the CPU time of the processes that ran it.
 * Single rows are kept where they are evidence (a process that raised a violation, the first
 * exec of an executable in each job, a process that used an accelerator), with the reason;
 * process_events keeps the rows of earlier versions (and of process_records = all). The views
 * processes and process_records cover both kinds of single rows. */
static const char schema_v5[] =
	"CREATE TABLE process_counts (id INTEGER PRIMARY KEY,"
	" interval_id INTEGER NOT NULL REFERENCES intervals(id), cgroup TEXT NOT NULL,"
	" job TEXT NOT NULL, uid INTEGER NOT NULL, user TEXT NOT NULL, executable TEXT NOT NULL,"
	" exe_sha256 TEXT NOT NULL, execs INTEGER NOT NULL, exits INTEGER NOT NULL,"
	" cpu_ns INTEGER NOT NULL);"
	"CREATE INDEX process_counts_interval ON process_counts(interval_id);"
	"CREATE TABLE process_evidence (id INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL,"
	" event TEXT NOT NULL CHECK (event IN ('exec','exit')),"
	" reason TEXT NOT NULL CHECK (reason IN ('violation','first-in-job','accelerator')),"
	" pid INTEGER NOT NULL, ppid INTEGER, uid INTEGER, executable TEXT, exe_sha256 TEXT,"
	" cgroup TEXT, job TEXT, exit_code INTEGER, cpu_ns INTEGER);"
	"CREATE INDEX process_evidence_pid ON process_evidence(pid, time_usec);"
	"CREATE VIEW process_records AS"
	" SELECT time_usec, event, NULL AS reason, pid, ppid, uid, executable, cgroup, exit_code,"
	" cpu_ns FROM process_events UNION ALL"
	" SELECT time_usec, event, reason, pid, ppid, uid, executable, cgroup, exit_code, cpu_ns"
	" FROM process_evidence;"
	"DROP VIEW processes;"
	"CREATE VIEW processes AS SELECT e.pid AS pid, e.time_usec AS exec_usec, e.ppid AS ppid,"
	" e.uid AS uid, e.executable AS executable, e.cgroup AS cgroup,"
	" (SELECT MIN(x.time_usec) FROM process_records x WHERE x.event = 'exit'"
	"  AND x.pid = e.pid AND x.time_usec >= e.time_usec) AS exit_usec"
	" FROM process_records e WHERE e.event = 'exec';";

static int step_v5(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v5);

	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

/* Version 6: the position of shipping to the cluster's store (hpcmeterd's cluster_database):
 * state, not a record, so not chained (ledger_write_ship_state()). */
static const char schema_v6[] =
	"CREATE TABLE ship_state (id INTEGER PRIMARY KEY CHECK (id = 1), store_id TEXT NOT NULL,"
	" acked_seq INTEGER NOT NULL, intervals INTEGER NOT NULL, cpu_ns INTEGER NOT NULL,"
	" gpu_ns INTEGER NOT NULL);";

static int step_v6(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v6);

	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

/* Version 7: sessions, where the work came from: login sessions (the audit session's user, the
 * remote host and its address as far as it is known, the service, the source the origin came
 * from) and jobs submitted from another host. Append-only like the job announcements: the first
 * row of a session, then a row per change (the address resolved, the end) naming the first in
 * run_id. */
static const char schema_v7[] =
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, session TEXT NOT NULL,"
	" uid INTEGER NOT NULL, user TEXT NOT NULL, remote_host TEXT NOT NULL,"
	" remote_address TEXT NOT NULL, address_state TEXT NOT NULL, service TEXT NOT NULL,"
	" source TEXT NOT NULL, job TEXT NOT NULL, start_usec INTEGER NOT NULL,"
	" end_usec INTEGER NOT NULL, run_id INTEGER);"
	"CREATE INDEX sessions_run ON sessions(run_id);";

static int step_v7(sqlite3 *db, const char *path, struct chain_head *head)
{
	int r = exec_sql(db, path, schema_v7);

	if (r == 0)
		r = chain_adopt_unchained(db, head);
	return r;
}

static const struct step {
	const char *what;
	int (*run)(sqlite3 *db, const char *path, struct chain_head *head);
} steps[] = {
	{ "intervals, usage, process events, violations", step_v1 },
	{ "hash chain, jobs, gaps, licences, meter states, inventory, reports, roll-ups", step_v2 },
	{ "GPU usage per interval, chained", step_v3 },
	{ "violation lifecycle, threshold events, job announcements, acknowledgements: chained,"
	  " append-only",
	  step_v4 },
	{ "process events aggregated per interval and executable, single rows as evidence",
	  step_v5 },
	{ "the position of shipping to the cluster's store", step_v6 },
	{ "sessions: login sessions and remote job submissions with their remote hosts, chained",
	  step_v7 },
};

int ledger_schema_version(void)
{
	return ARRAY_SIZE(steps);
}

static int user_version(sqlite3 *db, int *ret)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	rc = sqlite3_step(st);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int ledger_migrate(sqlite3 *db, const char *path, int target, struct chain_head *head)
{
	int version, r;

	if (target <= 0 || target > ledger_schema_version())
		target = ledger_schema_version();
	r = user_version(db, &version);
	if (r < 0) {
		log_error("ledger %s: cannot read the schema version: %s", path,
			  sqlite3_errmsg(db));
		return r;
	}
	if (version > ledger_schema_version()) {
		log_error("ledger %s has schema version %d, newer than this hpcmeterd (%d)", path,
			  version, ledger_schema_version());
		return -EPROTONOSUPPORT;
	}
	while (version < target) {
		const struct step *s = &steps[version];
		struct chain_head saved = *head;
		char sql[64];

		r = exec_sql(db, path, "BEGIN EXCLUSIVE");
		if (r < 0)
			return r;
		if (version >= 2) /* the chain exists from version 2 on */
			r = chain_load_head(db, head);
		if (r == 0)
			r = s->run(db, path, head);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (r == 0)
			r = exec_sql(db, path, sql);
		if (r == 0)
			r = exec_sql(db, path, "COMMIT");
		if (r < 0) {
			exec_sql(db, path, "ROLLBACK");
			*head = saved;
			log_error("ledger %s: migration to version %d (%s) failed", path,
				  version + 1, s->what);
			return r;
		}
		if (version > 0)
			log_info("ledger %s migrated to schema version %d (%s)", path, version + 1,
				 s->what);
		version++;
	}
	return 0;
}
