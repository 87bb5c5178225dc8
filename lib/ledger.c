// SPDX-License-Identifier: GPL-2.0-only
/* SQLite ledger. The schema is versioned with PRAGMA user_version so later versions migrate. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ledger-internal.h"
#include "ledger-migrate.h"
#include "ledger.h"
#include "util.h"

/* Records accepted while the disk is full (or the database cannot be written) stay here, in
 * order, and are written when a commit succeeds again: at most this many. */
#define LEDGER_MAX_PENDING 1000000
/* While degraded, a commit is tried at most this often. */
#define LEDGER_RETRY_USEC (1 * USEC_PER_SEC)
/* How long a write waits for another process's lock (WAL: only another writer holds one) before
 * the records wait in memory; while degraded, the retries do not wait at all, so that a lock
 * held for long does not stall the event loop. */
#define LEDGER_BUSY_MS 1000

#define OP_MAX_ARGS 16

/* One insert, kept until the transaction that holds it commits. */
struct op {
	const char *sql; /* static */
	char table[32];
	char types[OP_MAX_ARGS + 1];
	union {
		uint64_t i;
		double d;
		char *s;
	} arg[OP_MAX_ARGS];
};

struct ledger {
	sqlite3 *db;
	char path[PATH_MAX];
	bool in_tx;
	uint64_t last_violation_seq;
	uint64_t last_gap_id;
	uint64_t last_threshold_seq;
	uint64_t last_job_row;
	uint64_t last_session_row;
	int64_t last_interval_id;
	struct chain_head chain, chain_committed;
	struct stmt_cache stmts; /* the inserts and the chain's statements, prepared once */
	/* Inserts since the last successful commit. */
	struct op *ops;
	size_t n_ops, cap_ops;
	bool degraded;
	int degraded_error;
	uint64_t retry_after_usec;
	uint64_t pending_dropped;
};

static int sql_err(struct ledger *l, int rc, const char *what)
{
	log_error("ledger %s: %s: %s", l->path, what, sqlite3_errmsg(l->db));
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static int exec_sql(struct ledger *l, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(l->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("ledger %s: %s", l->path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sql_err(l, rc, "exec");
	}
	return 0;
}

static void ops_clear(struct ledger *l)
{
	for (size_t i = 0; i < l->n_ops; i++)
		for (int a = 0; l->ops[i].types[a]; a++)
			if (l->ops[i].types[a] == 't')
				free(l->ops[i].arg[a].s);
	l->n_ops = 0;
}

/* Execute one insert and chain the row it wrote. */
static int op_exec(struct ledger *l, const struct op *op)
{
	sqlite3_stmt *st;
	int rc = SQLITE_ERROR, r;

	st = stmt_cache_get(&l->stmts, l->db, op->sql, op->sql, &rc);
	if (!st)
		return sql_err(l, rc, "prepare");
	for (int i = 0; op->types[i]; i++) {
		switch (op->types[i]) {
		case 't':
			sqlite3_bind_text(st, i + 1, op->arg[i].s, -1, SQLITE_STATIC);
			break;
		case 'd':
			sqlite3_bind_double(st, i + 1, op->arg[i].d);
			break;
		default:
			sqlite3_bind_int64(st, i + 1, (sqlite3_int64)op->arg[i].i);
			break;
		}
	}
	rc = sqlite3_step(st);
	stmt_cache_release(&l->stmts, st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		/* It can never be written (a bug, not the disk): retrying would hold everything
		 * after it in memory for ever. */
		log_error("ledger %s: record dropped: %s: %s", l->path, op->sql,
			  sqlite3_errmsg(l->db));
		return 0;
	}
	if (rc != SQLITE_DONE)
		return sql_err(l, rc, "insert");
	/* INSERT OR IGNORE that ignored: nothing new to chain. */
	if (!op->table[0] || sqlite3_changes(l->db) == 0)
		return 0;
	r = chain_append(l->db, &l->stmts, &l->chain, op->table, sqlite3_last_insert_rowid(l->db));
	return r;
}

static int begin(struct ledger *l)
{
	int r;

	if (l->in_tx)
		return 0;
	r = exec_sql(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	l->in_tx = true;
	/* What a failed commit left: write it first, in its order. */
	for (size_t i = 0; i < l->n_ops; i++) {
		r = op_exec(l, &l->ops[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static void enter_degraded(struct ledger *l, int error)
{
	if (!l->degraded)
		log_error("ledger %s cannot be written (%s): keeping records in memory until it "
			  "can",
			  l->path, strerror(-error));
	l->degraded = true;
	l->degraded_error = error;
	sqlite3_busy_timeout(l->db, 0);
	l->retry_after_usec = now_realtime_usec() + LEDGER_RETRY_USEC;
}

static void rollback(struct ledger *l)
{
	if (l->in_tx)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	l->in_tx = false;
	l->chain = l->chain_committed;
}

int ledger_commit(struct ledger *l)
{
	int r;

	if (!l->in_tx) {
		/* Degraded: records wait in memory; try again now and then. */
		if (!l->degraded || l->n_ops == 0 || now_realtime_usec() < l->retry_after_usec)
			return 0;
		r = begin(l);
		if (r < 0) {
			rollback(l);
			enter_degraded(l, r);
			return 0;
		}
	}
	r = exec_sql(l, "COMMIT");
	if (r < 0) {
		rollback(l);
		enter_degraded(l, r);
		/* Nothing is lost: the records are kept and written with the next commit. */
		return 0;
	}
	l->in_tx = false;
	l->chain_committed = l->chain;
	ops_clear(l);
	if (l->degraded) {
		log_notice("ledger %s writable again: records kept in memory written", l->path);
		l->degraded = false;
		l->degraded_error = 0;
		sqlite3_busy_timeout(l->db, LEDGER_BUSY_MS);
	}
	return 0;
}

bool ledger_dirty(const struct ledger *l)
{
	return l->in_tx || (l->degraded && l->n_ops > 0);
}

bool ledger_degraded(const struct ledger *l, int *error, size_t *pending)
{
	if (error)
		*error = l->degraded_error;
	if (pending)
		*pending = l->n_ops;
	return l->degraded;
}

const struct chain_head *ledger_chain_head(const struct ledger *l)
{
	return &l->chain_committed;
}

sqlite3 *ledger_db(struct ledger *l)
{
	return l->db;
}

uint64_t *ledger_gap_id_ptr(struct ledger *l)
{
	return &l->last_gap_id;
}

uint64_t *ledger_session_id_ptr(struct ledger *l)
{
	return &l->last_session_row;
}

uint64_t ledger_last_gap_id(const struct ledger *l)
{
	return l->last_gap_id;
}

static int query_u64(struct ledger *l, const char *sql, uint64_t *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_err(l, rc, sql);
	rc = sqlite3_step(st);
	*ret = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_err(l, rc, sql);
}

static int migrate(struct ledger *l)
{
	return ledger_migrate(l->db, l->path, 0, &l->chain);
}

int ledger_open(const char *dir, struct ledger **ret, char *err, size_t err_size)
{
	struct ledger *l;
	int rc, r;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create state directory %s: %s", dir,
			 strerror(errno));
		return -errno;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (snprintf(l->path, sizeof(l->path), "%s/%s", dir, LEDGER_FILE) >= (int)sizeof(l->path)) {
		free(l);
		snprintf(err, err_size, "state directory path too long");
		return -ENAMETOOLONG;
	}
	rc = sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_size, "cannot open %s: %s", l->path,
			 l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(l->db, LEDGER_BUSY_MS);
	/* WAL: readers never block the writer. synchronous=FULL: a committed violation survives
	 * power loss; the daemon commits once per loop iteration, so the cost stays small. */
	r = exec_sql(l, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
	if (r == 0)
		r = migrate(l);
	if (r == 0)
		r = ledger_gpu_schema(l);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(seq), 0) FROM violations",
			      &l->last_violation_seq);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(id), 0) FROM intervals",
			      (uint64_t *)&l->last_interval_id);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(id), 0) FROM gaps", &l->last_gap_id);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(seq), 0) FROM threshold_events",
			      &l->last_threshold_seq);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(id), 0) FROM jobs_announced",
			      &l->last_job_row);
	if (r == 0)
		r = query_u64(l, "SELECT COALESCE(MAX(id), 0) FROM sessions", &l->last_session_row);
	if (r == 0)
		r = chain_load_head(l->db, &l->chain);
	l->chain_committed = l->chain;
	if (r < 0) {
		snprintf(err, err_size, "cannot initialize ledger %s: %s", l->path,
			 sqlite3_errmsg(l->db));
		goto fail;
	}
	*ret = l;
	return 0;
fail:
	stmt_cache_clear(&l->stmts);
	sqlite3_close(l->db);
	free(l);
	return r;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	if (l->degraded)
		l->retry_after_usec = 0;
	ledger_commit(l);
	if (l->n_ops)
		log_error("ledger %s: %zu records could not be written before stopping", l->path,
			  l->n_ops);
	ops_clear(l);
	free(l->ops);
	stmt_cache_clear(&l->stmts);
	sqlite3_close(l->db);
	free(l);
}

const char *ledger_path(const struct ledger *l)
{
	return l->path;
}

uint64_t ledger_last_violation_seq(const struct ledger *l)
{
	return l->last_violation_seq;
}

int ledger_count_violations(struct ledger *l, uint64_t *ret)
{
	return query_u64(l, "SELECT COUNT(*) FROM violations", ret);
}

/* State that each interval rewrites (counter baselines, the heartbeat) is not a record: while
 * degraded, a newer copy replaces the kept older ones, so that a long outage does not pile them
 * up. Called with the newest op just appended. */
static bool state_of(const struct op *op, const char **kind)
{
	if (strstr(op->sql, " baselines")) {
		*kind = "baselines";
		return true;
	}
	if (strstr(op->sql, "INTO meta (key, value) VALUES ('heartbeat'")) {
		*kind = "heartbeat";
		return true;
	}
	if (strstr(op->sql, "INTO ship_state ")) {
		*kind = "ship_state";
		return true;
	}
	return false;
}

static void supersede(struct ledger *l)
{
	const struct op *last = &l->ops[l->n_ops - 1];
	const char *kind, *k;
	size_t w = 0;

	/* A new heartbeat, or a new set of baselines (it starts with their DELETE). */
	if (!state_of(last, &kind) || (streq(kind, "baselines") && !strstr(last->sql, "DELETE")))
		return;
	for (size_t i = 0; i < l->n_ops - 1; i++) {
		struct op *op = &l->ops[i];

		if (state_of(op, &k) && streq(k, kind)) {
			for (int a = 0; op->types[a]; a++)
				if (op->types[a] == 't')
					free(op->arg[a].s);
			continue;
		}
		l->ops[w++] = *op;
	}
	l->ops[w++] = l->ops[l->n_ops - 1];
	l->n_ops = w;
}

/* Bind helpers: "t" = text, "i" = int64 (uint64 stored as int64), "d" = double, one char per
 * argument. The table named after "INSERT [OR IGNORE] INTO" is chained when it is a chained one.
 * While the ledger is degraded the insert is only kept in memory (and 0 returned). */
int ledger_insertv(struct ledger *l, const char *sql, const char *types, va_list ap)
{
	struct op *op;
	const char *t;
	size_t n;
	int r;

	if (strlen(types) > OP_MAX_ARGS)
		return -E2BIG;
	if (l->n_ops >= LEDGER_MAX_PENDING) {
		if (l->pending_dropped++ == 0)
			log_error("ledger %s: %d records waiting in memory: dropping more", l->path,
				  LEDGER_MAX_PENDING);
		return -ENOSPC;
	}
	if (l->n_ops == l->cap_ops) {
		size_t cap = l->cap_ops ? l->cap_ops * 2 : 256;
		struct op *o = realloc(l->ops, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		l->ops = o;
		l->cap_ops = cap;
	}
	op = &l->ops[l->n_ops];
	memset(op, 0, sizeof(*op));
	op->sql = sql;
	t = strstr(sql, "INTO ");
	if (t) {
		t += 5;
		n = strcspn(t, " (");
		if (n < sizeof(op->table)) {
			memcpy(op->table, t, n);
			if (!chain_table_known(op->table))
				op->table[0] = '\0';
		}
	}
	for (int i = 0; types[i]; i++) {
		op->types[i] = types[i];
		if (types[i] == 't') {
			const char *s = va_arg(ap, const char *);

			op->arg[i].s = strdup(s ? s : "");
			if (!op->arg[i].s) {
				op->types[i] = '\0';
				for (int k = 0; k < i; k++)
					if (op->types[k] == 't')
						free(op->arg[k].s);
				return -ENOMEM;
			}
		} else if (types[i] == 'd') {
			op->arg[i].d = va_arg(ap, double);
		} else {
			op->arg[i].i = va_arg(ap, uint64_t);
		}
	}
	l->n_ops++;
	if (l->degraded && !l->in_tx) {
		supersede(l);
		return 0;
	}
	/* A transaction that begins replays every kept insert, this one included. */
	r = l->in_tx ? op_exec(l, op) : begin(l);
	if (r < 0) {
		/* Kept: the next commit writes it with everything since the last good one. */
		rollback(l);
		enter_degraded(l, r);
	}
	return 0;
}

int ledger_insert(struct ledger *l, const char *sql, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = ledger_insertv(l, sql, types, ap);
	va_end(ap);
	return r;
}

#define run_insert ledger_insert

int ledger_add_interval(struct ledger *l, uint64_t start_usec, uint64_t end_usec, int64_t *ret_id)
{
	/* The id is chosen here, not by SQLite: an interval kept in memory while the disk is full
	 * has its id before it is written, and its usage rows name it. */
	int64_t id = l->last_interval_id + 1;
	int r = run_insert(l, "INSERT INTO intervals (id, start_usec, end_usec) VALUES (?, ?, ?)",
			   "iii", (uint64_t)id, start_usec, end_usec);

	if (r == 0)
		*ret_id = l->last_interval_id = id;
	return r;
}

int ledger_add_usage(struct ledger *l, int64_t interval_id, const char *cgroup, uint64_t cgroup_id,
		     const char *job, uint32_t uid, const char *user, uint64_t cpu_ns)
{
	return run_insert(
		l,
		"INSERT INTO usage (interval_id, cgroup, cgroup_id, job, uid, user, cpu_ns)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)",
		"itititi", (uint64_t)interval_id, cgroup, cgroup_id, job, (uint64_t)uid, user,
		cpu_ns);
}

int ledger_add_exec(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t ppid, uint32_t uid,
		    const char *executable, const char *cgroup)
{
	return run_insert(
		l,
		"INSERT INTO process_events (time_usec, event, pid, ppid, uid, executable, cgroup)"
		" VALUES (?, 'exec', ?, ?, ?, ?, ?)",
		"iiiitt", time_usec, (uint64_t)pid, (uint64_t)ppid, (uint64_t)uid, executable,
		cgroup);
}

int ledger_add_exit(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t exit_code,
		    uint64_t cpu_ns)
{
	return run_insert(l,
			  "INSERT INTO process_events (time_usec, event, pid, exit_code, cpu_ns)"
			  " VALUES (?, 'exit', ?, ?, ?)",
			  "iiii", time_usec, (uint64_t)pid, (uint64_t)exit_code, cpu_ns);
}

int ledger_add_process_count(struct ledger *l, int64_t interval_id, const struct process_count *c)
{
	return run_insert(
		l,
		"INSERT INTO process_counts (interval_id, cgroup, job, uid, user, executable,"
		" exe_sha256, execs, exits, cpu_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"ittitttiii", (uint64_t)interval_id, c->cgroup, c->job, (uint64_t)c->uid, c->user,
		c->executable, c->exe_sha256, c->execs, c->exits, c->cpu_ns);
}

int ledger_add_evidence_exec(struct ledger *l, const struct process_evidence *e)
{
	return run_insert(
		l,
		"INSERT INTO process_evidence (time_usec, event, reason, pid, ppid, uid,"
		" executable, exe_sha256, cgroup, job) VALUES (?, 'exec', ?, ?, ?, ?, ?, ?,"
		" ?, ?)",
		"itiiitttt", e->time_usec, e->reason, (uint64_t)e->pid, (uint64_t)e->ppid,
		(uint64_t)e->uid, e->executable, e->exe_sha256, e->cgroup, e->job);
}

int ledger_add_evidence_exit(struct ledger *l, uint64_t time_usec, const char *reason, uint32_t pid,
			     uint32_t exit_code, uint64_t cpu_ns)
{
	return run_insert(l,
			  "INSERT INTO process_evidence (time_usec, event, reason, pid, exit_code,"
			  " cpu_ns) VALUES (?, 'exit', ?, ?, ?, ?)",
			  "itiii", time_usec, reason, (uint64_t)pid, (uint64_t)exit_code, cpu_ns);
}

int ledger_add_violation(struct ledger *l, struct violation *v)
{
	uint64_t seq = l->last_violation_seq + 1;
	int r;

	r = run_insert(l,
		       "INSERT INTO violations (seq, time_usec, kind, license_id, pid, uid, user,"
		       " executable, cgroup, job, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       "iittiittttt", seq, v->time_usec, v->kind, v->license_id, (uint64_t)v->pid,
		       (uint64_t)v->uid, v->user, v->executable, v->cgroup, v->job, v->detail);
	if (r == 0)
		r = ledger_commit(l);
	/* The number is taken even when storing failed: the violation is still announced, and
	 * its number must not be given to another one. */
	l->last_violation_seq = v->seq = seq;
	return r;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

int ledger_list_violations(struct ledger *l, uint64_t since_seq,
			   int (*fn)(const struct violation *v, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(
		l->db,
		"SELECT seq, time_usec, kind, license_id, pid, uid, user, executable,"
		" cgroup, job, detail FROM violations WHERE seq > ? ORDER BY seq",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct violation v = {
			.seq = sqlite3_column_int64(st, 0),
			.time_usec = sqlite3_column_int64(st, 1),
			.kind = col_text(st, 2),
			.license_id = col_text(st, 3),
			.pid = sqlite3_column_int64(st, 4),
			.uid = sqlite3_column_int64(st, 5),
			.user = col_text(st, 6),
			.executable = col_text(st, 7),
			.cgroup = col_text(st, 8),
			.job = col_text(st, 9),
			.detail = col_text(st, 10),
		};
		r = fn(&v, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select violations");
	sqlite3_finalize(st);
	return r;
}

int ledger_list_usage(struct ledger *l, uint64_t since_usec,
		      int (*fn)(const struct usage_row *u, void *userdata), void *userdata)
{
	return ledger_list_usage_between(l, since_usec, UINT64_MAX, fn, userdata);
}

int ledger_list_usage_between(struct ledger *l, uint64_t from_usec, uint64_t to_usec,
			      int (*fn)(const struct usage_row *u, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(l->db,
				"SELECT u.cgroup, u.job, u.uid, MAX(u.user), SUM(u.cpu_ns),"
				" MIN(i.start_usec), MAX(i.end_usec) FROM usage u"
				" JOIN intervals i ON i.id = u.interval_id"
				" WHERE i.end_usec > ?1 AND i.start_usec < ?2"
				" GROUP BY u.cgroup, u.job, u.uid ORDER BY SUM(u.cpu_ns) DESC",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, from_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)from_usec);
	sqlite3_bind_int64(st, 2, to_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct usage_row u = {
			.cgroup = col_text(st, 0),
			.job = col_text(st, 1),
			.uid = sqlite3_column_int64(st, 2),
			.user = col_text(st, 3),
			.cpu_ns = sqlite3_column_int64(st, 4),
			.first_usec = sqlite3_column_int64(st, 5),
			.last_usec = sqlite3_column_int64(st, 6),
		};
		r = fn(&u, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select usage");
	sqlite3_finalize(st);
	return r;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

int ledger_store_job(struct ledger *l, struct job_info *j)
{
	/* Append-only: the first row of a run, then one row per change (its end included) naming
	 * the run's first row. The id is chosen here, so that a row kept in memory while the disk
	 * is full has its run id already. */
	uint64_t id = ++l->last_job_row;
	int r;

	r = run_insert(l,
		       "INSERT INTO jobs_announced (id, job, scheduler, user, uid, account,"
		       " partition, wckey, comment, gpus, nodes, start_usec, end_usec, run_id)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0))",
		       "itttittttttiii", id, j->id, or_empty(j->scheduler), or_empty(j->user),
		       (uint64_t)j->uid, or_empty(j->account), or_empty(j->partition),
		       or_empty(j->wckey), or_empty(j->comment), or_empty(j->gpus),
		       or_empty(j->nodes), j->start_usec, j->end_usec, (uint64_t)j->row);
	if (r < 0)
		return r;
	if (!j->row)
		j->row = (int64_t)id;
	return ledger_commit(l);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	return strdup(col_text(st, i));
}

int ledger_list_jobs(struct ledger *l, uint64_t since_usec,
		     int (*fn)(const struct job_info *j, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(l->db,
				"SELECT COALESCE(run_id, id), job, scheduler, user, uid, account,"
				" partition, wckey, comment, gpus, nodes, start_usec, end_usec"
				" FROM jobs_announced WHERE id IN (SELECT MAX(id) FROM"
				" jobs_announced GROUP BY COALESCE(run_id, id))"
				" AND (end_usec = 0 OR end_usec >= ?)"
				" ORDER BY start_usec, COALESCE(run_id, id)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, since_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)since_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct job_info j = {
			.row = sqlite3_column_int64(st, 0),
			.scheduler = dup_col(st, 2),
			.user = dup_col(st, 3),
			.uid = sqlite3_column_int64(st, 4),
			.account = dup_col(st, 5),
			.partition = dup_col(st, 6),
			.wckey = dup_col(st, 7),
			.comment = dup_col(st, 8),
			.gpus = dup_col(st, 9),
			.nodes = dup_col(st, 10),
			.start_usec = sqlite3_column_int64(st, 11),
			.end_usec = sqlite3_column_int64(st, 12),
		};
		snprintf(j.id, sizeof(j.id), "%s", col_text(st, 1));
		if (!j.scheduler || !j.user || !j.account || !j.partition || !j.wckey ||
		    !j.comment || !j.gpus || !j.nodes)
			r = -ENOMEM;
		else
			r = fn(&j, userdata);
		job_info_clear(&j);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select jobs");
	sqlite3_finalize(st);
	return r;
}

/* ---- GPU usage per interval (issue 3): one table of its own, created by one step. ---- */

static const char schema_gpu[] =
	"CREATE TABLE IF NOT EXISTS gpu_usage (interval_id INTEGER NOT NULL"
	" REFERENCES intervals(id), cgroup TEXT NOT NULL, cgroup_id INTEGER NOT NULL,"
	" job TEXT NOT NULL, uid INTEGER NOT NULL, user TEXT NOT NULL, gpu_ns INTEGER NOT NULL,"
	" tpp_seconds REAL NOT NULL, ops_upper REAL NOT NULL, ops_lower REAL NOT NULL,"
	" launches INTEGER NOT NULL, threads_launched INTEGER NOT NULL,"
	" graph_launches INTEGER NOT NULL, bytes_alloc INTEGER NOT NULL,"
	" bytes_h2d INTEGER NOT NULL, dev_opens INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS gpu_usage_interval ON gpu_usage(interval_id);";

int ledger_gpu_schema(struct ledger *l)
{
	return exec_sql(l, schema_gpu);
}

int ledger_add_gpu_usage(struct ledger *l, int64_t interval_id, const struct gpu_usage_row *u)
{
	/* Through the one insert path: chained, and kept in memory while the disk is full. */
	return run_insert(l,
			  "INSERT INTO gpu_usage (interval_id, cgroup, cgroup_id, job, uid,"
			  " user, gpu_ns, tpp_seconds, ops_upper, ops_lower, launches,"
			  " threads_launched, graph_launches, bytes_alloc, bytes_h2d,"
			  " dev_opens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  "itititidddiiiiii", (uint64_t)interval_id, u->cgroup, u->cgroup_id,
			  u->job, (uint64_t)u->uid, u->user, u->gpu_ns, u->tpp_seconds,
			  u->ops_upper, u->ops_lower, u->launches, u->threads_launched,
			  u->graph_launches, u->bytes_alloc, u->bytes_h2d, u->dev_opens);
}

int ledger_list_gpu_usage(struct ledger *l, uint64_t since_usec,
			  int (*fn)(const struct gpu_usage_row *u, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(
		l->db,
		"SELECT g.cgroup, g.job, g.uid, MAX(g.user), SUM(g.gpu_ns), SUM(g.tpp_seconds),"
		" SUM(g.ops_upper), SUM(g.ops_lower), SUM(g.launches), SUM(g.threads_launched),"
		" SUM(g.graph_launches), SUM(g.bytes_alloc), SUM(g.bytes_h2d), SUM(g.dev_opens),"
		" MIN(i.start_usec), MAX(i.end_usec), MAX(g.cgroup_id) FROM gpu_usage g"
		" JOIN intervals i ON i.id = g.interval_id WHERE i.end_usec > ?"
		" GROUP BY g.cgroup, g.job, g.uid ORDER BY SUM(g.gpu_ns) DESC",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gpu_usage_row u = {
			.cgroup = col_text(st, 0),
			.job = col_text(st, 1),
			.uid = sqlite3_column_int64(st, 2),
			.user = col_text(st, 3),
			.gpu_ns = sqlite3_column_int64(st, 4),
			.tpp_seconds = sqlite3_column_double(st, 5),
			.ops_upper = sqlite3_column_double(st, 6),
			.ops_lower = sqlite3_column_double(st, 7),
			.launches = sqlite3_column_int64(st, 8),
			.threads_launched = sqlite3_column_int64(st, 9),
			.graph_launches = sqlite3_column_int64(st, 10),
			.bytes_alloc = sqlite3_column_int64(st, 11),
			.bytes_h2d = sqlite3_column_int64(st, 12),
			.dev_opens = sqlite3_column_int64(st, 13),
			.first_usec = sqlite3_column_int64(st, 14),
			.last_usec = sqlite3_column_int64(st, 15),
			.cgroup_id = sqlite3_column_int64(st, 16),
		};
		r = fn(&u, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select gpu_usage");
	sqlite3_finalize(st);
	return r;
}

/* ---- violation lifecycle (licence evaluator) ----
 * The evidence a violation was raised with (violation_lifecycle), when it cleared
 * (violation_clears), who acknowledged it (violation_acks), and the threshold-approach events
 * (their own sequence, so monitors can back-fill ThresholdApproaching). All append-only and
 * chained; migration step 4 makes the tables. */

int ledger_set_violation_evidence(struct ledger *l, uint64_t seq, const char *key, const char *term,
				  const char *subject, double measured, double limit)
{
	/* Once per violation: a second call for the same seq changes nothing. A NaN (no value)
	 * is stored as NULL by SQLite. */
	return run_insert(l,
			  "INSERT OR IGNORE INTO violation_lifecycle (seq, key, term, subject,"
			  " measured, limit_value) VALUES (?, ?, ?, ?, ?, ?)",
			  "itttdd", seq, key, term ? term : "", subject ? subject : "", measured,
			  limit);
}

int ledger_clear_violation(struct ledger *l, uint64_t seq, uint64_t time_usec)
{
	/* A violation clears once; a second clear of the same seq writes nothing. Committed
	 * before ViolationCleared is signalled, like the violation before ViolationRaised. */
	int r = run_insert(l,
			   "INSERT INTO violation_clears (seq, time_usec) SELECT ?1, ?2"
			   " WHERE NOT EXISTS (SELECT 1 FROM violation_clears WHERE seq = ?1)",
			   "ii", seq, time_usec);

	return r < 0 ? r : ledger_commit(l);
}

int ledger_list_open_violations(struct ledger *l,
				int (*fn)(uint64_t seq, const char *key, void *userdata),
				void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(l->db,
				"SELECT v.seq, v.key FROM violation_lifecycle v WHERE NOT EXISTS"
				" (SELECT 1 FROM violation_clears c WHERE c.seq = v.seq)"
				" ORDER BY v.seq",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn(sqlite3_column_int64(st, 0), col_text(st, 1), userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select open violations");
	sqlite3_finalize(st);
	return r;
}

int ledger_list_cleared_violations(struct ledger *l, uint64_t since_usec,
				   int (*fn)(uint64_t seq, uint64_t cleared_usec, const char *key,
					     void *userdata),
				   void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(l->db,
				"SELECT c.seq, c.time_usec, v.key FROM violation_clears c"
				" JOIN violation_lifecycle v ON v.seq = c.seq"
				" WHERE c.time_usec > ? ORDER BY c.time_usec, c.seq",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, since_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)since_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), col_text(st, 2),
		       userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select cleared violations");
	sqlite3_finalize(st);
	return r;
}

int ledger_acknowledge_violation(struct ledger *l, uint64_t seq, uint64_t time_usec, uint32_t uid,
				 const char *note)
{
	int r;

	if (!note)
		note = "";
	if (seq == 0 || seq > l->last_violation_seq)
		return -ENOENT;
	/* Every seq up to the last one given out is a violation (one kept in memory while the
	 * disk is full included). Acknowledging again adds a record: notes accumulate. */
	r = run_insert(l,
		       "INSERT INTO violation_acks (seq, time_usec, uid, note) VALUES (?, ?, ?, ?)",
		       "iiit", seq, time_usec, (uint64_t)uid, note);
	return r < 0 ? r : ledger_commit(l);
}

int ledger_list_acks(struct ledger *l, uint64_t since_seq,
		     int (*fn)(const struct violation_ack *a, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(l->db,
				"SELECT id, seq, time_usec, uid, note FROM violation_acks"
				" WHERE seq > ? ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, since_seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)since_seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct violation_ack a = {
			.id = sqlite3_column_int64(st, 0),
			.seq = sqlite3_column_int64(st, 1),
			.time_usec = sqlite3_column_int64(st, 2),
			.uid = sqlite3_column_int64(st, 3),
			.note = col_text(st, 4),
		};
		r = fn(&a, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select acknowledgements");
	sqlite3_finalize(st);
	return r;
}

int ledger_add_threshold_event(struct ledger *l, struct threshold_event *e)
{
	/* The seq is chosen here (a row kept in memory while the disk is full has its own), and
	 * the record committed before ThresholdApproaching is signalled. */
	int r;

	e->seq = ++l->last_threshold_seq;
	r = run_insert(l,
		       "INSERT INTO threshold_events (seq, time_usec, license_id, term,"
		       " subject, level, measured, limit_value, detail)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       "iitttiddt", e->seq, e->time_usec, e->license_id, e->term, e->subject,
		       (uint64_t)e->level, e->measured, e->limit, e->detail);
	return r < 0 ? r : ledger_commit(l);
}

int ledger_list_threshold_events(struct ledger *l, uint64_t since_seq,
				 int (*fn)(const struct threshold_event *e, void *userdata),
				 void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(
		l->db,
		"SELECT seq, time_usec, license_id, term, subject, level, measured,"
		" limit_value, detail FROM threshold_events WHERE seq > ? ORDER BY seq",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_err(l, rc, "prepare");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct threshold_event e = {
			.seq = sqlite3_column_int64(st, 0),
			.time_usec = sqlite3_column_int64(st, 1),
			.license_id = col_text(st, 2),
			.term = col_text(st, 3),
			.subject = col_text(st, 4),
			.level = sqlite3_column_int64(st, 5),
			.measured = sqlite3_column_double(st, 6),
			.limit = sqlite3_column_double(st, 7),
			.detail = col_text(st, 8),
		};
		r = fn(&e, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(l, rc, "select threshold events");
	sqlite3_finalize(st);
	return r;
}
