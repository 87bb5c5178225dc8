// SPDX-License-Identifier: GPL-2.0-only
/* The ledger on real SQLite: migrations from every earlier schema version with data, the hash
 * chain (verifies; a changed byte and a deleted row are found at the right entry), the roll-up
 * of old intervals (still verifies; a forged roll-up does not). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger-chain.h"
#include "ledger-internal.h"
#include "ledger-migrate.h"
#include "ledger.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/hpcmeter-ledger.XXXXXX";

/* Data as each older version wrote it, added at that version (a fixture at version N holds the
 * data of versions 1..N). Index = schema version. */
static const char *const fixture_sql[] = {
	[0] = NULL, /* an empty file: a ledger never opened */
	[1] = "INSERT INTO intervals VALUES (1, 1700000000000000, 1700000010000000);"
	      "INSERT INTO intervals VALUES (2, 1700000010000000, 1700000020000000);"
	      "INSERT INTO usage VALUES (1, '/job_7', 11, '7', 1000, 'alice', 5000000000);"
	      "INSERT INTO usage VALUES (2, '/job_7', 11, '7', 1000, 'alice', 7000000000);"
	      "INSERT INTO usage VALUES (2, '/user.slice', 12, '', 1001, 'bob', 1000);"
	      "INSERT INTO process_events (time_usec, event, pid, ppid, uid, executable, cgroup)"
	      " VALUES (1700000001000000, 'exec', 42, 1, 1000, '/bin/sim', '/job_7');"
	      "INSERT INTO process_events (time_usec, event, pid, exit_code, cpu_ns)"
	      " VALUES (1700000019000000, 'exit', 42, 0, 12000000000);"
	      "INSERT INTO violations VALUES (1, 1700000005000000, 'unpermitted-user', 'L-1',"
	      " 42, 1000, 'alice', '/bin/sim', '/job_7', '7', 'user alice is not a principal');",
	[2] = "INSERT INTO gaps (cause, start_usec, end_usec, boot_id, detail, bound_cpu_ns,"
	      " bound_devices, bound, policy) VALUES ('daemon-down', 1700000020000000,"
	      " 1700000030000000, 'b1', '', 20000000000, 0, '{}', 'max-rate');"
	      "INSERT INTO licenses (time_usec, event, license_id, file, sha256)"
	      " VALUES (1700000000000000, 'loaded', 'L-1', '/l.yaml', 'ab');",
	/* Up to v3 the lifecycle and job tables were made outside the migrations and changed in
	 * place: a clear set cleared_usec, a job's end rewrote its row. */
	[3] = "CREATE TABLE IF NOT EXISTS violation_lifecycle (seq INTEGER PRIMARY KEY,"
	      " key TEXT NOT NULL, term TEXT NOT NULL, subject TEXT NOT NULL, measured REAL,"
	      " limit_value REAL, cleared_usec INTEGER);"
	      "CREATE INDEX IF NOT EXISTS violation_lifecycle_open"
	      " ON violation_lifecycle(cleared_usec);"
	      "CREATE TABLE IF NOT EXISTS threshold_events (seq INTEGER PRIMARY KEY,"
	      " time_usec INTEGER NOT NULL, license_id TEXT NOT NULL, term TEXT NOT NULL,"
	      " subject TEXT NOT NULL, level INTEGER NOT NULL, measured REAL, limit_value REAL,"
	      " detail TEXT NOT NULL);"
	      "CREATE TABLE IF NOT EXISTS jobs_announced (id INTEGER PRIMARY KEY,"
	      " job TEXT NOT NULL, scheduler TEXT NOT NULL, user TEXT NOT NULL,"
	      " uid INTEGER NOT NULL, account TEXT NOT NULL, partition TEXT NOT NULL,"
	      " wckey TEXT NOT NULL, comment TEXT NOT NULL, gpus TEXT NOT NULL,"
	      " nodes TEXT NOT NULL, start_usec INTEGER NOT NULL,"
	      " end_usec INTEGER NOT NULL);"
	      "INSERT INTO violation_lifecycle VALUES (1, 'unpermitted-user|L-1|1000',"
	      " 'principals', 'alice', NULL, NULL, 1700000009000000);"
	      "INSERT INTO threshold_events VALUES (1, 1700000004000000, 'L-1', 'caps.cpu',"
	      " 'alice', 80, 8.0, 10.0, 'cpu at 80 %');"
	      "INSERT INTO jobs_announced VALUES (1, '7', 'slurm', 'alice', 1000, 'physics',"
	      " 'batch', '', '', '', 'n1', 1700000000500000, 1700000019500000);",
	[4] = "INSERT INTO violation_acks (seq, time_usec, uid, note)"
	      " VALUES (1, 1700000010000000, 0, 'seen by the operator');",
	[5] = "INSERT INTO process_counts (interval_id, cgroup, job, uid, user, executable,"
	      " exe_sha256, execs, exits, cpu_ns) VALUES (2, '/job_7', '7', 1000, 'alice',"
	      " '/bin/sim', '', 4, 4, 1000);"
	      "INSERT INTO process_evidence (time_usec, event, reason, pid, ppid, uid,"
	      " executable, exe_sha256, cgroup, job) VALUES (1700000011000000, 'exec',"
	      " 'violation', 44, 1, 1000, '/bin/x', '', '/job_7', '7');"
	      "INSERT INTO meter_states (time_usec, meter, state, detail)"
	      " VALUES (1700000030000000, 'bpf-cpu', 'attached', 'v5');",
	/* The shipping position is state, not chained. */
	[6] = "INSERT INTO ship_state VALUES (1, 's-6', 9, 2, 12000000000, 0);",
};

/* Chained records in the fixture at each version (all of its rows, chained by migration). */
static const int fixture_records[] = { 0, 8, 10, 14, 15, 18, 18 };

static int count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void mkdir_p(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	if (system(cmd) != 0)
		exit(2);
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	printf("# %s\n", msg);
	sqlite3_free(msg);
	return -EIO;
}

/* What the lifecycle and job lists returned. */
struct lifecycle_seen {
	int open, cleared, jobs, acks;
	uint64_t open_seq, cleared_usec, job_end;
	int64_t job_row;
	char note[64];
};

static int seen_open(uint64_t seq, const char *key, void *userdata)
{
	struct lifecycle_seen *s = userdata;

	s->open++;
	s->open_seq = seq;
	return 0;
}

static int seen_cleared(uint64_t seq, uint64_t cleared_usec, const char *key, void *userdata)
{
	struct lifecycle_seen *s = userdata;

	s->cleared++;
	s->cleared_usec = cleared_usec;
	return 0;
}

static int seen_job(const struct job_info *j, void *userdata)
{
	struct lifecycle_seen *s = userdata;

	s->jobs++;
	s->job_row = j->row;
	s->job_end = j->end_usec;
	return 0;
}

static int seen_ack(const struct violation_ack *a, void *userdata)
{
	struct lifecycle_seen *s = userdata;

	s->acks++;
	snprintf(s->note, sizeof(s->note), "%s", a->note);
	return 0;
}

static void verify(sqlite3 *db, struct chain_verify *v)
{
	if (chain_verify(db, v, NULL, NULL) < 0) {
		v->broken = true;
		snprintf(v->reason, sizeof(v->reason), "cannot read");
	}
}

struct sessions_seen {
	int n;
	int64_t row;
	char address[64], host[64];
};

static int seen_session(const struct session_record *s, void *userdata)
{
	struct sessions_seen *seen = userdata;

	seen->n++;
	seen->row = s->row;
	snprintf(seen->address, sizeof(seen->address), "%s", s->remote_address);
	snprintf(seen->host, sizeof(seen->host), "%s", s->remote_host);
	return 0;
}

/* A session's run: its start with a host name, its address once resolved, its end. */
static void check_sessions(struct ledger *l, int from)
{
	struct session_record s = { .session = "audit:b1:7",
				    .uid = 1000,
				    .user = "alice",
				    .remote_host = "login.example.org",
				    .address_state = "pending",
				    .service = "sshd",
				    .source = "utmp",
				    .start_usec = 1700000023000000 };
	struct sessions_seen seen = { 0 };
	int64_t first;
	int r;

	r = ledger_store_session(l, &s);
	first = s.row;
	s.remote_address = "192.0.2.9";
	s.address_state = "known";
	if (r == 0)
		r = ledger_store_session(l, &s);
	if (r == 0)
		r = ledger_commit(l);
	if (r == 0)
		r = ledger_list_open_sessions(l, seen_session, &seen);
	TAP_CHECK(r == 0 && first > 0 && s.row == first && seen.n == 1 && seen.row == first &&
			  strcmp(seen.address, "192.0.2.9") == 0 &&
			  strcmp(seen.host, "login.example.org") == 0,
		  "after v%d: a session stored, then its address: open, as its last row says",
		  from);
	s.end_usec = 1700000024000000;
	seen.n = 0;
	r = ledger_store_session(l, &s);
	if (r == 0)
		r = ledger_commit(l);
	if (r == 0)
		r = ledger_list_open_sessions(l, seen_session, &seen);
	TAP_CHECK(r == 0 && seen.n == 0 &&
			  count(ledger_db(l), "SELECT COUNT(*) FROM sessions WHERE run_id = (SELECT"
					      " MIN(id) FROM sessions)") == 2,
		  "after v%d: its end is a third row of the same run; no session open", from);
}

static void test_migrations(void)
{
	for (int from = 0; from < ledger_schema_version(); from++) {
		char dir[256], path[300], err[512];
		struct chain_head head = { 0 };
		struct ledger *l = NULL;
		struct chain_verify v;
		sqlite3 *db;
		int r;

		snprintf(dir, sizeof(dir), "%s/from-v%d", top, from);
		mkdir_p(dir);
		snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
		/* The older version's schema, built by its own (frozen) steps, then its data. */
		if (sqlite3_open(path, &db) != SQLITE_OK)
			exit(2);
		r = 0;
		for (int v = 1; r == 0 && v <= from; v++) {
			r = ledger_migrate(db, path, v, &head);
			if (r == 0 && v < (int)ARRAY_SIZE(fixture_sql) && fixture_sql[v])
				r = exec(db, fixture_sql[v]);
		}
		TAP_CHECK(r == 0 && count(db, "PRAGMA user_version") == from,
			  "fixture at schema version %d, with the data of each version up to it",
			  from);
		sqlite3_close(db);

		r = ledger_open(dir, &l, err, sizeof(err));
		TAP_CHECK(r == 0, "ledger at v%d opens and migrates (%s)", from, r ? err : "ok");
		if (r < 0)
			continue;
		db = ledger_db(l);
		TAP_CHECK(count(db, "PRAGMA user_version") == ledger_schema_version(),
			  "v%d migrated to the latest version %d", from, ledger_schema_version());
		if (from >= 1) {
			TAP_CHECK(count(db, "SELECT COUNT(*) FROM usage") == 3 &&
					  count(db, "SELECT SUM(cpu_ns) / 1000000 FROM usage"
						    " WHERE uid = 1000") == 12000,
				  "v%d usage rows kept", from);
			TAP_CHECK(count(db, "SELECT COUNT(*) FROM intervals") == 2 &&
					  count(db, "SELECT COUNT(*) FROM process_events") == 2 &&
					  count(db, "SELECT COUNT(*) FROM violations") == 1,
				  "v%d intervals, process events and violations kept", from);
			TAP_CHECK(ledger_last_violation_seq(l) == 1,
				  "violation numbering continues after v%d's", from);
			TAP_CHECK(count(db, "SELECT COUNT(*) FROM processes WHERE exit_usec > 0") ==
					  1,
				  "v%d process events readable as processes", from);
			TAP_CHECK(count(db, "SELECT COUNT(*) FROM process_records") ==
						  2 + (from >= 5) &&
					  count(db, "SELECT COUNT(*) FROM process_counts") ==
						  (from >= 5),
				  "v%d process events are single records, not counts; v5's counts "
				  "and evidence kept",
				  from);
		}
		TAP_CHECK(from < (int)ARRAY_SIZE(fixture_records) &&
				  count(db, "SELECT COUNT(*) FROM chain") == fixture_records[from],
			  "every row the v%d ledger had is in the chain (%d)", from,
			  count(db, "SELECT COUNT(*) FROM chain"));
		if (from >= 6) {
			struct ship_state st;

			TAP_CHECK(ledger_read_ship_state(l, &st) == 0 &&
					  streq(st.store_id, "s-6") && st.acked_seq == 9 &&
					  st.totals_cpu_ns == 12000000000ULL,
				  "v%d's shipping position kept", from);
		}
		if (from >= 2)
			TAP_CHECK(count(db, "SELECT COUNT(*) FROM gaps") == 1 &&
					  count(db, "SELECT COUNT(*) FROM licenses") == 1,
				  "v%d gaps and licence events kept", from);
		if (from >= 3) {
			struct lifecycle_seen seen = { 0 };
			struct threshold_event e = { .time_usec = 1700000040000000,
						     .license_id = "L-1",
						     .term = "caps.cpu",
						     .subject = "alice",
						     .level = 95,
						     .detail = "" };

			ledger_list_open_violations(l, seen_open, &seen);
			ledger_list_cleared_violations(l, 0, seen_cleared, &seen);
			ledger_list_jobs(l, 0, seen_job, &seen);
			TAP_CHECK(seen.open == 0 && seen.cleared == 1 &&
					  seen.cleared_usec == 1700000009000000 &&
					  count(db, "SELECT COUNT(*) FROM violation_lifecycle"
						    " WHERE cleared_usec IS NOT NULL") == 0,
				  "v%d's clear moved into a record of its own", from);
			TAP_CHECK(seen.jobs == 1 && seen.job_row == 1 &&
					  seen.job_end == 1700000019500000,
				  "v%d's ended job listed with its end and run", from);
			TAP_CHECK(ledger_add_threshold_event(l, &e) == 0 && e.seq == 2,
				  "threshold numbering continues after v%d's (%llu)", from,
				  (unsigned long long)e.seq);
		}
		/* New writes after a migration chain on. */
		int64_t id;
		r = ledger_add_interval(l, 1700000020000000, 1700000030000000, &id);
		if (r == 0)
			r = ledger_add_usage(l, id, "/job_8", 13, "8", 1000, "alice", 99);
		struct process_count pc = { .cgroup = "/job_8",
					    .job = "8",
					    .uid = 1000,
					    .user = "alice",
					    .executable = "/bin/sim",
					    .exe_sha256 = "",
					    .execs = 3,
					    .exits = 2,
					    .cpu_ns = 99 };
		struct process_evidence pe = { .time_usec = 1700000021000000,
					       .reason = "first-in-job",
					       .pid = 43,
					       .ppid = 1,
					       .uid = 1000,
					       .executable = "/bin/sim",
					       .exe_sha256 = "",
					       .cgroup = "/job_8",
					       .job = "8" };
		if (r == 0)
			r = ledger_add_process_count(l, id, &pc);
		if (r == 0)
			r = ledger_add_evidence_exec(l, &pe);
		if (r == 0)
			r = ledger_add_evidence_exit(l, 1700000022000000, "first-in-job", 43, 0,
						     99);
		if (r == 0)
			r = ledger_commit(l);
		TAP_CHECK(
			r == 0 && count(db, "SELECT COUNT(*) FROM processes WHERE pid = 43 AND"
					    " exit_usec = 1700000022000000") == 1,
			"after v%d: counts and evidence written, the evidence readable as processes",
			from);
		TAP_CHECK(r == 0 && id == (from >= 1 ? 3 : 1),
			  "new interval after v%d gets id %lld", from, (long long)id);
		check_sessions(l, from);
		verify(db, &v);
		TAP_CHECK(!v.broken &&
				  v.entries == (uint64_t)count(db, "SELECT COUNT(*) FROM chain"),
			  "chain of the migrated v%d ledger verifies (%llu entries) %s", from,
			  (unsigned long long)v.entries, v.reason);
		ledger_close(l);
		/* Opening again migrates nothing and changes nothing. */
		r = ledger_open(dir, &l, err, sizeof(err));
		TAP_CHECK(r == 0 && ledger_chain_head(l)->seq == v.head.seq,
			  "reopening the migrated v%d ledger keeps its chain head", from);
		if (r == 0)
			ledger_close(l);
	}
}

/* Copy the ledger (checkpointed) to a new directory, to tamper with the copy. */
static sqlite3 *tamper_copy(const char *src_dir, const char *name)
{
	char cmd[1024], path[512];
	sqlite3 *db;

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/%s && cp %s/%s %s/%s/", top, name, src_dir,
		 LEDGER_FILE, top, name);
	if (system(cmd) != 0)
		exit(2);
	snprintf(path, sizeof(path), "%s/%s/%s", top, name, LEDGER_FILE);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(2);
	return db;
}

static int chain_seq_of(sqlite3 *db, const char *table, long long row)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT seq FROM chain WHERE tbl = '%s' AND row = %lld", table,
		 row);
	return count(db, sql);
}

static void test_chain_and_rollup(void)
{
	char dir[256], err[512];
	struct ledger *l;
	struct chain_verify v;
	struct violation viol = { .time_usec = 1,
				  .kind = "k",
				  .license_id = "L",
				  .user = "u",
				  .executable = "/x",
				  .cgroup = "/",
				  .job = "",
				  .detail = "d" };
	struct gap g = { .cause = "daemon-down",
			 .start_usec = 5,
			 .end_usec = 9,
			 .boot_id = "b",
			 .detail = "",
			 .bound = "{}",
			 .policy = "max-rate" };
	uint64_t day = 86400ULL * USEC_PER_SEC, rolled;
	int seq, r = 0;
	sqlite3 *db;

	snprintf(dir, sizeof(dir), "%s/chain", top);
	if (ledger_open(dir, &l, err, sizeof(err)) < 0) {
		TAP_CHECK(0, "open %s", err);
		return;
	}
	/* Three days of intervals, two jobs, and records of every other kind in between. */
	for (int i = 0; r == 0 && i < 3 * 24; i++) {
		int64_t id;
		uint64_t t = 20000 * day + i * 3600 * USEC_PER_SEC;

		r = ledger_add_interval(l, t, t + 3600 * USEC_PER_SEC, &id);
		if (r == 0)
			r = ledger_add_usage(l, id, "/job_1", 1, "1", 1000, "alice", 1000 + i);
		if (r == 0)
			r = ledger_add_usage(l, id, "/job_2", 2, "2", 1001, "bob", 10);
		if (r == 0 && i % 24 == 5)
			r = ledger_add_violation(l, &viol);
		if (r == 0 && i % 24 == 6)
			r = ledger_add_gap(l, &g);
		if (r == 0 && i == 7)
			r = ledger_add_license_event(l, t, "loaded", "L", "/l.yaml", "00");
		if (r == 0 && i == 70) {
			struct gpu_usage_row g = { .cgroup = "/job_1",
						   .cgroup_id = 1,
						   .job = "1",
						   .uid = 1000,
						   .user = "alice",
						   .gpu_ns = 5000,
						   .tpp_seconds = 1.5,
						   .launches = 3 };

			r = ledger_add_gpu_usage(l, id, &g);
		}
		if (r == 0)
			r = ledger_commit(l);
	}
	TAP_CHECK(r == 0, "three days of records written");
	db = ledger_db(l);
	verify(db, &v);
	TAP_CHECK(!v.broken && v.entries > 3 * 24 * 3, "chain verifies (%llu entries)",
		  (unsigned long long)v.entries);
	ledger_close(l); /* checkpoints: the copies below hold everything */

	/* One byte of one usage row. */
	db = tamper_copy(dir, "byte");
	seq = chain_seq_of(db, "usage", 40);
	exec(db, "UPDATE usage SET user = 'blice' WHERE rowid = 40");
	verify(db, &v);
	TAP_CHECK(
		v.broken && v.bad_seq == (uint64_t)seq && streq(v.bad_table, "usage") &&
			v.bad_row == 40,
		"a changed byte in usage row 40 breaks the chain at its entry %d (got %llu %s/%lld: %s)",
		seq, (unsigned long long)v.bad_seq, v.bad_table, (long long)v.bad_row, v.reason);
	sqlite3_close(db);

	/* A counter changed by one. */
	db = tamper_copy(dir, "cpu");
	seq = chain_seq_of(db, "usage", 7);
	exec(db, "UPDATE usage SET cpu_ns = cpu_ns - 1 WHERE rowid = 7");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq,
		  "a CPU time lowered by 1 ns is found at entry %d", seq);
	sqlite3_close(db);

	/* One row deleted. */
	db = tamper_copy(dir, "delete");
	seq = chain_seq_of(db, "violations", 2);
	exec(db, "DELETE FROM violations WHERE seq = 2");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq && strstr(v.reason, "missing"),
		  "a deleted violation is found at its entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	/* The row and its chain entry deleted. */
	db = tamper_copy(dir, "delete-entry");
	seq = chain_seq_of(db, "gaps", 1);
	exec(db, "DELETE FROM gaps WHERE id = 1; DELETE FROM chain WHERE tbl = 'gaps' AND row = 1");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq,
		  "a deleted gap with its chain entry is found at entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	/* GPU usage is chained too. */
	db = tamper_copy(dir, "gpu");
	seq = chain_seq_of(db, "gpu_usage", 1);
	exec(db, "UPDATE gpu_usage SET launches = 2 WHERE rowid = 1");
	verify(db, &v);
	TAP_CHECK(seq > 0 && v.broken && v.bad_seq == (uint64_t)seq &&
			  streq(v.bad_table, "gpu_usage"),
		  "a changed GPU launch count is found at its entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	/* A row slipped in without a chain entry. */
	db = tamper_copy(dir, "insert");
	exec(db, "INSERT INTO usage VALUES (3, '/job_9', 9, '9', 0, 'root', 1)");
	verify(db, &v);
	TAP_CHECK(v.broken && streq(v.bad_table, "usage") && strstr(v.reason, "not in the chain"),
		  "a row inserted behind the daemon's back is found (%s)", v.reason);
	sqlite3_close(db);

	/* Retention: the first two days roll up into daily totals. */
	if (ledger_open(dir, &l, err, sizeof(err)) < 0)
		return;
	db = ledger_db(l);
	int before_sum = count(db, "SELECT SUM(cpu_ns) FROM usage WHERE uid = 1000");
	r = ledger_rollup(l, 20002 * day, &rolled);
	TAP_CHECK(r == 0 && rolled == 47, "roll-up replaced the intervals of two days (%llu)",
		  (unsigned long long)rolled);
	TAP_CHECK(count(db, "SELECT COUNT(*) FROM usage_daily") == 4 &&
			  count(db, "SELECT COUNT(*) FROM intervals") == 72 - 47,
		  "daily totals: two days × two jobs; the last day stays per interval");
	TAP_CHECK(count(db, "SELECT SUM(cpu_ns) FROM usage_daily WHERE uid = 1000") +
				  count(db, "SELECT SUM(cpu_ns) FROM usage WHERE uid = 1000") ==
			  before_sum,
		  "daily totals and the remaining intervals add up to what was there");
	verify(db, &v);
	TAP_CHECK(!v.broken && v.rolled_up == 47 * 3,
		  "the chain still verifies after the roll-up (%s)", v.reason);
	ledger_close(l);

	db = tamper_copy(dir, "rollup-forged");
	exec(db, "UPDATE usage_daily SET cpu_ns = 1 WHERE id = 1");
	verify(db, &v);
	TAP_CHECK(v.broken && streq(v.bad_table, "usage_daily"),
		  "a changed daily total breaks the chain (%s)", v.reason);
	sqlite3_close(db);

	db = tamper_copy(dir, "rollup-hidden");
	/* Delete a row that was not rolled up, claiming it was. */
	exec(db, "UPDATE chain SET rollup = (SELECT seq FROM chain WHERE tbl = 'rollups')"
		 " WHERE tbl = 'usage' AND row = (SELECT MAX(rowid) FROM usage);"
		 "DELETE FROM usage WHERE rowid = (SELECT MAX(rowid) FROM usage)");
	verify(db, &v);
	TAP_CHECK(v.broken, "a deleted row passed off as rolled up is found (%s)", v.reason);
	sqlite3_close(db);
}

/* The violation lifecycle, acknowledgements, threshold events and job announcements are
 * append-only records in the chain: a clear, an acknowledgement, a job's end are new rows, and
 * each is found when tampered with. */
static void test_lifecycle(void)
{
	struct violation viol = { .time_usec = 1,
				  .kind = "prohibited-executable",
				  .license_id = "L",
				  .user = "u",
				  .executable = "/x",
				  .cgroup = "/",
				  .job = "",
				  .detail = "d" };
	struct job_info j = { .id = "42", .uid = 1000, .start_usec = 100 };
	struct lifecycle_seen seen = { 0 };
	char dir[256], err[512];
	struct chain_verify v;
	struct ledger *l;
	sqlite3 *db;
	int r = 0, seq;

	snprintf(dir, sizeof(dir), "%s/lifecycle", top);
	if (ledger_open(dir, &l, err, sizeof(err)) < 0) {
		TAP_CHECK(0, "open %s", err);
		return;
	}
	for (int i = 0; r == 0 && i < 2; i++)
		r = ledger_add_violation(l, &viol);
	if (r == 0)
		r = ledger_set_violation_evidence(l, 1, "k1", "caps.cpu", "alice", 12.5, 10);
	if (r == 0)
		r = ledger_set_violation_evidence(l, 2, "k2", "principals", "bob", NAN, NAN);
	if (r == 0) /* a second call for the same violation changes nothing */
		r = ledger_set_violation_evidence(l, 1, "k1-again", "x", "y", 1, 1);
	if (r == 0)
		r = ledger_clear_violation(l, 1, 500);
	if (r == 0) /* cleared once */
		r = ledger_clear_violation(l, 1, 600);
	TAP_CHECK(r == 0, "violations, evidence and clears recorded");
	db = ledger_db(l);
	ledger_list_open_violations(l, seen_open, &seen);
	ledger_list_cleared_violations(l, 0, seen_cleared, &seen);
	TAP_CHECK(seen.open == 1 && seen.open_seq == 2 && seen.cleared == 1 &&
			  seen.cleared_usec == 500 &&
			  count(db, "SELECT COUNT(*) FROM violation_lifecycle WHERE key = 'k1'") ==
				  1,
		  "one open (#2), one cleared once at its first clear (#1), evidence kept as first "
		  "written");

	TAP_CHECK(ledger_acknowledge_violation(l, 2, 700, 0, "known: test job") == 0 &&
			  ledger_acknowledge_violation(l, 2, 800, 0, "second note") == 0,
		  "violation #2 acknowledged twice");
	TAP_CHECK(ledger_acknowledge_violation(l, 3, 700, 0, "") == -ENOENT &&
			  ledger_acknowledge_violation(l, 0, 700, 0, "") == -ENOENT,
		  "acknowledging a violation that does not exist: -ENOENT");
	ledger_list_acks(l, 0, seen_ack, &seen);
	TAP_CHECK(seen.acks == 2 && streq(seen.note, "second note"),
		  "both acknowledgements listed in order (%d)", seen.acks);

	r = ledger_store_job(l, &j);
	int64_t run = j.row;
	j.end_usec = 900;
	if (r == 0)
		r = ledger_store_job(l, &j); /* its end: a new row of the same run */
	TAP_CHECK(r == 0 && run > 0 && j.row == run &&
			  count(db, "SELECT COUNT(*) FROM jobs_announced") == 2,
		  "a job's start and end are two rows of one run (%lld)", (long long)run);
	struct job_info again = { .id = "42", .uid = 1000, .start_usec = 1000 };
	r = ledger_store_job(l, &again); /* the id seen again after its end: a new run */
	seen.jobs = 0;
	ledger_list_jobs(l, 0, seen_job, &seen);
	TAP_CHECK(r == 0 && again.row != run && seen.jobs == 2 && seen.job_row == again.row &&
			  seen.job_end == 0,
		  "a second run of job 42 is listed beside the first, running");
	seen.jobs = 0;
	ledger_list_jobs(l, 950, seen_job, &seen);
	TAP_CHECK(seen.jobs == 1, "the first run ended before the range: only the second listed");
	job_info_clear(&j);
	job_info_clear(&again);

	struct threshold_event e = { .time_usec = 5,
				     .license_id = "L",
				     .term = "caps.cpu",
				     .subject = "alice",
				     .level = 80,
				     .measured = 8,
				     .limit = 10,
				     .detail = "" };
	r = ledger_add_threshold_event(l, &e);
	TAP_CHECK(r == 0 && e.seq == 1 && ledger_add_threshold_event(l, &e) == 0 && e.seq == 2,
		  "threshold events numbered 1, 2");
	r = ledger_commit(l);
	verify(db, &v);
	TAP_CHECK(r == 0 && !v.broken &&
			  count(db,
				"SELECT COUNT(*) FROM chain WHERE tbl IN ('violation_lifecycle',"
				" 'violation_clears', 'violation_acks', 'threshold_events',"
				" 'jobs_announced')") == 2 + 1 + 2 + 2 + 3,
		  "the chain verifies and holds every lifecycle and job record (%s)", v.reason);
	ledger_close(l);

	db = tamper_copy(dir, "clear-deleted");
	seq = chain_seq_of(db, "violation_clears", 1);
	exec(db, "DELETE FROM violation_clears");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq,
		  "a deleted clear is found at its entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	db = tamper_copy(dir, "ack-changed");
	seq = chain_seq_of(db, "violation_acks", 1);
	exec(db, "UPDATE violation_acks SET note = 'nothing to see' WHERE id = 1");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq && streq(v.bad_table, "violation_acks"),
		  "a changed acknowledgement note is found at its entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	db = tamper_copy(dir, "job-end-changed");
	seq = chain_seq_of(db, "jobs_announced", 2);
	exec(db, "UPDATE jobs_announced SET end_usec = 0 WHERE id = 2");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq,
		  "a job's end rewritten as running is found at its entry %d (%s)", seq, v.reason);
	sqlite3_close(db);

	db = tamper_copy(dir, "evidence-changed");
	seq = chain_seq_of(db, "violation_lifecycle", 1);
	exec(db, "UPDATE violation_lifecycle SET measured = 9.5 WHERE seq = 1");
	verify(db, &v);
	TAP_CHECK(v.broken && v.bad_seq == (uint64_t)seq,
		  "a lowered measured value in the evidence is found at its entry %d (%s)", seq,
		  v.reason);
	sqlite3_close(db);
}

/* The ledger as the outbox of the cluster's store: committed entries read back with their
 * canonical content (the hash recomputes from it), the shipping position kept as state, and
 * retention that rolls up nothing the store has not acknowledged. */
struct outbox_seen {
	uint64_t n, first, last, bad_hash, rolled_up;
};

static int outbox_entry(const struct chain_entry *e, void *ud)
{
	struct outbox_seen *s = ud;
	uint8_t h[CHAIN_HASH_LEN];

	if (!s->n)
		s->first = e->seq;
	s->n++;
	s->last = e->seq;
	if (!e->body) {
		s->rolled_up += e->rollup > e->seq;
		return 0;
	}
	chain_entry_hash(e->prev, e->seq, e->body, e->body_len, h);
	s->bad_hash += memcmp(h, e->hash, CHAIN_HASH_LEN) != 0;
	return 0;
}

static void test_outbox(void)
{
	uint64_t day = 86400ULL * USEC_PER_SEC, rolled = 0;
	struct ship_state st = { .store_id = "s-1", .acked_seq = 7, .totals_cpu_ns = 42 }, back;
	struct outbox_seen seen = {};
	char dir[256], err[512];
	struct ledger *l;
	int64_t id, first;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/outbox", top);
	if (ledger_open(dir, &l, err, sizeof(err)) < 0) {
		TAP_CHECK(0, "open %s", err);
		return;
	}
	for (int i = 0; r == 0 && i < 48; i++) {
		r = ledger_add_interval(l, 20000 * day + i * 3600 * USEC_PER_SEC,
					20000 * day + (i + 1) * 3600 * USEC_PER_SEC, &id);
		if (r == 0)
			r = ledger_add_usage(l, id, "/job_1", 5, "1", 1000, "alice", 1000);
		if (r == 0)
			r = ledger_commit(l);
	}
	r = r ?: ledger_add_interval(l, 1, 2, &id); /* written, not committed */
	TAP_CHECK(ledger_read_entries(l, 0, 1000, outbox_entry, &seen) == 96 && seen.n == 96 &&
			  seen.bad_hash == 0,
		  "committed entries read back, each hash recomputed from its content (%llu)",
		  (unsigned long long)seen.n);
	seen = (struct outbox_seen){};
	TAP_CHECK(ledger_read_entries(l, 10, 5, outbox_entry, &seen) == 5 && seen.first == 11 &&
			  seen.last == 15 && seen.bad_hash == 0,
		  "a batch after a position: the previous hash links it");
	ledger_commit(l);
	TAP_CHECK(ledger_write_ship_state(l, &st) == 0 && ledger_commit(l) == 0 &&
			  ledger_read_ship_state(l, &back) == 0 && back.acked_seq == 7 &&
			  back.totals_cpu_ns == 42 && streq(back.store_id, "s-1"),
		  "the shipping position is kept");
	/* The store acknowledged the first 20 entries: 10 intervals and their usage. */
	r = ledger_first_interval_after(l, 20, &first);
	TAP_CHECK(r == 0 && first == 11, "the first interval not wholly acknowledged is 11 (%lld)",
		  (long long)first);
	r = ledger_rollup_below(l, 20002 * day, first, &rolled);
	TAP_CHECK(r == 0 && rolled == 10,
		  "retention rolls up only the acknowledged intervals (%llu of 48)",
		  (unsigned long long)rolled);
	seen = (struct outbox_seen){};
	ledger_read_entries(l, 0, 1000, outbox_entry, &seen);
	TAP_CHECK(seen.rolled_up == 20 && seen.bad_hash == 0,
		  "rolled-up entries are read without content, naming their roll-up (%llu)",
		  (unsigned long long)seen.rolled_up);
	ledger_close(l);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	test_migrations();
	test_chain_and_rollup();
	test_lifecycle();
	test_outbox();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
	return tap_done();
}
