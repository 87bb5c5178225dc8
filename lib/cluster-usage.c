// SPDX-License-Identifier: GPL-2.0-only
/* The cluster evaluator's view of the store (see cluster-usage.h): ingest and check as records
 * arrive, usage per scope over a set of nodes, shares, finality. The local file is a cache of
 * the store, never a record: what it holds is derived from verified records only. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <search.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-usage.h"
#include "ledger-chain.h"
#include "store.h"
#include "util.h"

#define CHUNK 5000
#define CHUNK_SQL "5000"

/* Sums kept between evaluations: each call reads only the rows ingested since the last one
 * (the evaluator asks every interval; a month of a hundred nodes is tens of millions of rows).
 * Dropped, and summed afresh, when a row of the period ended after the time asked (a clock
 * ahead), when a job was announced since (accounts and projects are read through the jobs), or
 * after an hour unused. */
struct sum {
	char *key;
	double value;
};

struct qcache {
	struct qcache *next;
	char *sig; /* metric, scope, from, nodes */
	int64_t last_id, jobs_id;
	uint64_t to_usec, used_usec;
	void *sums; /* tsearch tree of struct sum by key */
	size_t n_sums;
};

struct cluster_usage {
	sqlite3 *db;
	char path[4096];
	bool readonly;
	struct qcache *cache;
};

static const char mirror_schema[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY,"
	" enrolled INTEGER NOT NULL DEFAULT 1, seq INTEGER NOT NULL DEFAULT 0,"
	" hash BLOB NOT NULL DEFAULT (zeroblob(32)), checkpoint_seq INTEGER NOT NULL DEFAULT 0,"
	" checkpoint_usec INTEGER NOT NULL DEFAULT 0,"
	" checkpoint_received_usec INTEGER NOT NULL DEFAULT 0,"
	" skew_usec INTEGER NOT NULL DEFAULT 0, max_cpu_rate_ppm INTEGER NOT NULL DEFAULT 0,"
	" broken TEXT NOT NULL DEFAULT '', refused TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS intervals (node TEXT NOT NULL, id INTEGER NOT NULL,"
	" start_usec INTEGER NOT NULL, end_usec INTEGER NOT NULL, PRIMARY KEY (node, id));"
	"CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY, node TEXT NOT NULL,"
	" seq INTEGER NOT NULL, end_usec INTEGER NOT NULL, job TEXT NOT NULL,"
	" uid INTEGER NOT NULL, user TEXT NOT NULL, cpu_ns INTEGER NOT NULL DEFAULT 0,"
	" gpu_ns INTEGER NOT NULL DEFAULT 0, tpp_seconds REAL NOT NULL DEFAULT 0,"
	" ops_upper REAL NOT NULL DEFAULT 0, launches INTEGER NOT NULL DEFAULT 0,"
	" threads_launched INTEGER NOT NULL DEFAULT 0, bytes_alloc INTEGER NOT NULL DEFAULT 0,"
	" bytes_h2d INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS usage_end ON usage(end_usec);"
	"CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, node TEXT NOT NULL,"
	" job TEXT NOT NULL, account TEXT NOT NULL, project TEXT NOT NULL,"
	" start_usec INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS jobs_job ON jobs(job, start_usec);"
	/* Per node and hour (by each interval's end, rounded up to the hour): the report of a
	 * month sums 720 rows per node rather than 8,640 intervals. */
	"CREATE TABLE IF NOT EXISTS usage_hour (node TEXT NOT NULL, hour_usec INTEGER NOT NULL,"
	" cpu_ns INTEGER NOT NULL, gpu_ns INTEGER NOT NULL, tpp_seconds REAL NOT NULL,"
	" ops_upper REAL NOT NULL, PRIMARY KEY (node, hour_usec));"
	/* The nodes each licence covers, as the evaluator last decided (for reports). */
	"CREATE TABLE IF NOT EXISTS coverage (license TEXT NOT NULL, node TEXT NOT NULL,"
	" PRIMARY KEY (license, node));"
	/* The evaluator's own node name: its chain is in the store too, but carries no usage. */
	"CREATE TABLE IF NOT EXISTS evaluator (id INTEGER PRIMARY KEY CHECK (id = 1),"
	" name TEXT NOT NULL);";

static int sql_fail(struct cluster_usage *cu, char *err, size_t size, const char *what)
{
	snprintf(err, size, "%s %s: %s", cu->path, what, sqlite3_errmsg(cu->db));
	return -EIO;
}

int cluster_usage_open(const char *path, bool readonly, struct cluster_usage **ret, char *err,
		       size_t size)
{
	struct cluster_usage *cu = calloc(1, sizeof(*cu));
	char *msg = NULL;
	int rc;

	if (!cu)
		return -ENOMEM;
	snprintf(cu->path, sizeof(cu->path), "%s", path);
	cu->readonly = readonly;
	rc = sqlite3_open_v2(
		path, &cu->db,
		readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, size, "cannot open %s: %s", path,
			 cu->db ? sqlite3_errmsg(cu->db) : sqlite3_errstr(rc));
		cluster_usage_close(cu);
		return -ENOENT;
	}
	sqlite3_busy_timeout(cu->db, 5000);
	if (!readonly && sqlite3_exec(cu->db, mirror_schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, size, "%s: %s", path, msg ? msg : "cannot create the schema");
		sqlite3_free(msg);
		cluster_usage_close(cu);
		return -EIO;
	}
	/* A cache: rebuilt from the store when lost, so no fsync per commit. */
	sqlite3_exec(cu->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	*ret = cu;
	return 0;
}

static void sum_free(void *p)
{
	struct sum *s = p;

	free(s->key);
	free(s);
}

static void qcache_free(struct qcache *q)
{
	tdestroy(q->sums, sum_free);
	free(q->sig);
	free(q);
}

void cluster_usage_close(struct cluster_usage *cu)
{
	if (!cu)
		return;
	while (cu->cache) {
		struct qcache *q = cu->cache;

		cu->cache = q->next;
		qcache_free(q);
	}
	sqlite3_close(cu->db);
	free(cu);
}

/* ---- ingestion ---- */

struct node_state {
	char name[64];
	uint64_t seq, checkpoint_seq, checkpoint_usec, received_usec, max_rate_ppm;
	int64_t skew_usec;
	uint8_t hash[CHAIN_HASH_LEN];
	char broken[320];
	char refused[320]; /* the store refused its last checkpoint: why */
	struct store_totals totals;
};

static void broken(struct node_state *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void broken(struct node_state *n, const char *fmt, ...)
{
	va_list ap;

	if (n->broken[0])
		return;
	va_start(ap, fmt);
	vsnprintf(n->broken, sizeof(n->broken), fmt, ap);
	va_end(ap);
}

static int load_node(struct cluster_usage *cu, struct node_state *n)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(cu->db,
			       "SELECT seq, hash, checkpoint_seq, checkpoint_usec,"
			       " checkpoint_received_usec, skew_usec, max_cpu_rate_ppm, broken,"
			       " refused FROM nodes WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n->seq = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) == CHAIN_HASH_LEN)
			memcpy(n->hash, sqlite3_column_blob(st, 1), CHAIN_HASH_LEN);
		n->checkpoint_seq = sqlite3_column_int64(st, 2);
		n->checkpoint_usec = sqlite3_column_int64(st, 3);
		n->received_usec = sqlite3_column_int64(st, 4);
		n->skew_usec = sqlite3_column_int64(st, 5);
		n->max_rate_ppm = sqlite3_column_int64(st, 6);
		snprintf(n->broken, sizeof(n->broken), "%s",
			 (const char *)sqlite3_column_text(st, 7) ?: "");
		snprintf(n->refused, sizeof(n->refused), "%s",
			 (const char *)sqlite3_column_text(st, 8) ?: "");
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

static int save_node(struct cluster_usage *cu, const struct node_state *n)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(
		    cu->db,
		    "INSERT OR REPLACE INTO nodes (name, enrolled, seq, hash,"
		    " checkpoint_seq, checkpoint_usec, checkpoint_received_usec,"
		    " skew_usec, max_cpu_rate_ppm, broken, refused) VALUES (?, 1, ?, ?, ?,"
		    " ?, ?, ?, ?, ?, ?)",
		    -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)n->seq);
	sqlite3_bind_blob(st, 3, n->hash, CHAIN_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)n->checkpoint_seq);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n->checkpoint_usec);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)n->received_usec);
	sqlite3_bind_int64(st, 7, n->skew_usec);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)n->max_rate_ppm);
	sqlite3_bind_text(st, 9, n->broken, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, n->refused, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int64_t col_int(const struct store_record *r, uint32_t i)
{
	int64_t v = 0;

	store_record_int(r, i, &v);
	return v;
}

static double col_real(const struct store_record *r, uint32_t i)
{
	if (i >= r->ncols)
		return 0;
	if (r->v[i].type == SQLITE_FLOAT)
		return r->v[i].d;
	if (r->v[i].type == SQLITE_INTEGER)
		return (double)r->v[i].i;
	return 0;
}

/* Column i as text into buf (NUL bytes and all, bounded). */
static const char *col_str(const struct store_record *r, uint32_t i, char *buf, size_t size)
{
	size_t n;

	buf[0] = '\0';
	if (i >= r->ncols || (r->v[i].type != SQLITE_TEXT && r->v[i].type != SQLITE_BLOB))
		return buf;
	n = r->v[i].len < size - 1 ? r->v[i].len : size - 1;
	memcpy(buf, r->v[i].s, n);
	buf[n] = '\0';
	return buf;
}

struct ingest {
	struct cluster_usage *cu;
	sqlite3_stmt *ins_interval, *get_interval, *ins_usage, *ins_job, *ins_hour;
};

#define HOUR_USEC (3600 * UINT64_C(1000000))

static int interval_of(struct ingest *in, const char *node, int64_t id, int64_t *start,
		       int64_t *end)
{
	int rc;

	sqlite3_reset(in->get_interval);
	sqlite3_bind_text(in->get_interval, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(in->get_interval, 2, id);
	rc = sqlite3_step(in->get_interval);
	if (rc != SQLITE_ROW)
		return -ENOENT;
	*start = sqlite3_column_int64(in->get_interval, 0);
	*end = sqlite3_column_int64(in->get_interval, 1);
	return 0;
}

/* One verified record's usage into the cache (tables intervals, usage, gpu_usage,
 * jobs_announced; others carry no usage). */
static int take_record(struct ingest *in, struct node_state *n, uint64_t seq,
		       const struct store_record *r)
{
	char job[64], user[128], account[128], wckey[128], comment[256], project[128];
	int64_t start = 0, end = 0;
	sqlite3_stmt *st;

	if (streq(r->table, "intervals")) {
		st = in->ins_interval;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, col_int(r, 0));
		sqlite3_bind_int64(st, 3, col_int(r, 1));
		sqlite3_bind_int64(st, 4, col_int(r, 2));
		return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	}
	if (streq(r->table, "usage") || streq(r->table, "gpu_usage")) {
		bool gpu = streq(r->table, "gpu_usage");

		if (interval_of(in, n->name, col_int(r, 1), &start, &end) < 0)
			return 0; /* its interval was rolled up before it was shipped */
		st = in->ins_usage;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 3, end);
		sqlite3_bind_text(st, 4, col_str(r, 4, job, sizeof(job)), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, col_int(r, 5));
		sqlite3_bind_text(st, 6, col_str(r, 6, user, sizeof(user)), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, gpu ? 0 : col_int(r, 7));
		sqlite3_bind_int64(st, 8, gpu ? col_int(r, 7) : 0);
		sqlite3_bind_double(st, 9, gpu ? col_real(r, 8) : 0);
		sqlite3_bind_double(st, 10, gpu ? col_real(r, 9) : 0);
		sqlite3_bind_int64(st, 11, gpu ? col_int(r, 11) : 0);
		sqlite3_bind_int64(st, 12, gpu ? col_int(r, 12) : 0);
		sqlite3_bind_int64(st, 13, gpu ? col_int(r, 14) : 0);
		sqlite3_bind_int64(st, 14, gpu ? col_int(r, 15) : 0);
		st = in->ins_hour;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2,
				   (sqlite3_int64)((end + HOUR_USEC - 1) / HOUR_USEC * HOUR_USEC));
		sqlite3_bind_int64(st, 3, gpu ? 0 : col_int(r, 7));
		sqlite3_bind_int64(st, 4, gpu ? col_int(r, 7) : 0);
		sqlite3_bind_double(st, 5, gpu ? col_real(r, 8) : 0);
		sqlite3_bind_double(st, 6, gpu ? col_real(r, 9) : 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -EIO;
		st = in->ins_usage;
		if (!gpu && end > start) {
			uint64_t ppm = (uint64_t)col_int(r, 7) * 1000 / (uint64_t)(end - start);

			if (ppm > n->max_rate_ppm)
				n->max_rate_ppm = ppm;
		}
		return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	}
	if (streq(r->table, "jobs_announced")) {
		/* id, job, scheduler, user, uid, account, partition, wckey, comment, gpus, nodes,
		 * start_usec, end_usec, run_id */
		license_job_project(col_str(r, 7, wckey, sizeof(wckey)),
				    col_str(r, 8, comment, sizeof(comment)), project,
				    sizeof(project));
		st = in->ins_job;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, col_str(r, 1, job, sizeof(job)), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, col_str(r, 5, account, sizeof(account)), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, project, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, col_int(r, 11));
		return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	}
	return 0;
}

static PGresult *pg_query(PGconn *c, const char *sql, int n, const char *const *values, int binary,
			  int cols, char *err, size_t size)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, values, NULL, NULL, binary);

	if (store_reply_shape(res, PGRES_TUPLES_OK, -1, cols) < 0) {
		snprintf(err, size, "the store: %s", store_error_line(c, res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Records after n->seq, checked link by link, into the cache. */
static int ingest_records(struct ingest *in, PGconn *c, struct node_state *n, uint64_t max,
			  uint64_t *count, char *err, size_t size)
{
	while (!n->broken[0] && max > 0) {
		char after[24];
		const char *values[2] = { n->name, after };
		PGresult *res;
		int rows;

		snprintf(after, sizeof(after), "%" PRIu64, n->seq);
		res = pg_query(
			c,
			"SELECT seq, prev, hash, body, rollup FROM hpcm.records"
			" WHERE node = $1 AND seq > $2::bigint ORDER BY seq LIMIT " CHUNK_SQL,
			2, values, 1, 5, err, size);
		if (!res)
			return -EIO;
		rows = PQntuples(res);
		sqlite3_exec(in->cu->db, "BEGIN", NULL, NULL, NULL);
		for (int i = 0; i < rows && !n->broken[0] && max > 0; i++) {
			const uint8_t *prev, *hash, *body = NULL;
			size_t body_len = 0;
			uint64_t seq, rollup = 0;
			uint8_t h[CHAIN_HASH_LEN];
			struct store_record rec;
			int r;

			if (store_bin_u64(res, i, 0, INT64_MAX, &seq) < 0 ||
			    store_bin_bytes(res, i, 1, CHAIN_HASH_LEN, &prev, NULL) < 0 ||
			    store_bin_bytes(res, i, 2, CHAIN_HASH_LEN, &hash, NULL) < 0) {
				broken(n, "record after %" PRIu64 " cannot be read", n->seq);
				break;
			}
			r = store_bin_bytes(res, i, 3, 0, &body, &body_len);
			if (r < 0 && r != -ENODATA) {
				broken(n, "record %" PRIu64 ": its content cannot be read", seq);
				break;
			}
			if (r == -ENODATA)
				body = NULL;
			store_bin_u64(res, i, 4, INT64_MAX, &rollup);
			if (seq != n->seq + 1) {
				broken(n, "record %" PRIu64 " is missing", n->seq + 1);
				break;
			}
			if (memcmp(prev, n->hash, CHAIN_HASH_LEN) != 0) {
				broken(n, "record %" PRIu64 " does not continue record %" PRIu64,
				       seq, n->seq);
				break;
			}
			if (body) {
				chain_entry_hash(prev, seq, body, body_len, h);
				if (memcmp(h, hash, CHAIN_HASH_LEN) != 0 ||
				    store_record_decode(body, body_len, &rec) < 0) {
					broken(n, "record %" PRIu64 " does not match its hash",
					       seq);
					break;
				}
				store_totals_add(&n->totals, body, body_len);
				if (take_record(in, n, seq, &rec) < 0) {
					sqlite3_exec(in->cu->db, "ROLLBACK", NULL, NULL, NULL);
					PQclear(res);
					return sql_fail(in->cu, err, size, "insert");
				}
			} else if (rollup <= seq) {
				broken(n, "record %" PRIu64 " has no content", seq);
				break;
			}
			n->seq = seq;
			memcpy(n->hash, hash, CHAIN_HASH_LEN);
			(*count)++;
			max--;
		}
		PQclear(res);
		if (save_node(in->cu, n) < 0 ||
		    sqlite3_exec(in->cu->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_exec(in->cu->db, "ROLLBACK", NULL, NULL, NULL);
			return sql_fail(in->cu, err, size, "commit");
		}
		if (rows < CHUNK)
			break;
	}
	return 0;
}

/* Checkpoints whose head the cache has reached: signed by an enrolled key, naming the hash
 * the chain has there. The last one that verifies says how far the node is covered. */
static int ingest_checkpoints(PGconn *c, struct node_state *n, char *err, size_t size)
{
	char upto[24], after[24];
	const char *values[3] = { n->name, upto, after };
	PGresult *res, *keys;
	int rows;

	snprintf(upto, sizeof(upto), "%" PRIu64, n->seq);
	snprintf(after, sizeof(after), "%" PRIu64, n->checkpoint_usec);
	keys = pg_query(c, "SELECT key_id, public_key FROM hpcm.node_keys WHERE node = $1", 1,
			values, 0, 2, err, size);
	if (!keys)
		return -EIO;
	res = pg_query(c,
		       "SELECT c.time_usec, c.head_seq, c.head_hash, c.intervals, c.cpu_ns,"
		       " c.gpu_ns, convert_to(c.key_id, 'UTF8'), c.signature,"
		       " (extract(epoch FROM c.received_at) * 1000000)::int8, r.hash"
		       " FROM hpcm.checkpoints c LEFT JOIN hpcm.records r ON r.node = c.node"
		       " AND r.seq = c.head_seq WHERE c.node = $1 AND c.head_seq <= $2::bigint"
		       " AND c.time_usec > $3::bigint ORDER BY c.time_usec",
		       3, values, 1, 10, err, size);
	if (!res) {
		PQclear(keys);
		return -EIO;
	}
	rows = PQntuples(res);
	for (int i = 0; i < rows && !n->broken[0]; i++) {
		struct store_checkpoint cp = {};
		const uint8_t *hh, *sig, *id, *rh = NULL;
		size_t id_len;
		uint64_t received;
		EVP_PKEY *key = NULL;

		snprintf(cp.node, sizeof(cp.node), "%s", n->name);
		if (store_bin_u64(res, i, 0, INT64_MAX, &cp.time_usec) < 0 ||
		    store_bin_u64(res, i, 1, INT64_MAX, &cp.head_seq) < 0 ||
		    store_bin_bytes(res, i, 2, CHAIN_HASH_LEN, &hh, NULL) < 0 ||
		    store_bin_u64(res, i, 3, INT64_MAX, &cp.totals.intervals) < 0 ||
		    store_bin_u64(res, i, 4, INT64_MAX, &cp.totals.cpu_ns) < 0 ||
		    store_bin_u64(res, i, 5, INT64_MAX, &cp.totals.gpu_ns) < 0 ||
		    store_bin_bytes(res, i, 6, 0, &id, &id_len) < 0 || id_len != 64 ||
		    store_bin_bytes(res, i, 7, 64, &sig, NULL) < 0 ||
		    store_bin_u64(res, i, 8, INT64_MAX, &received) < 0) {
			broken(n, "a checkpoint cannot be read");
			break;
		}
		if (cp.head_seq && store_bin_bytes(res, i, 9, CHAIN_HASH_LEN, &rh, NULL) < 0) {
			broken(n, "checkpoint at %" PRIu64 " names a record the store lacks",
			       cp.head_seq);
			break;
		}
		memcpy(cp.head_hash, hh, CHAIN_HASH_LEN);
		memcpy(cp.key_id, id, 64);
		memcpy(cp.signature, sig, 64);
		for (int k = 0; k < PQntuples(keys) && !key; k++) {
			const char *kid, *pem;
			BIO *bio;

			if (store_value_text(keys, k, 0, 64, &kid) < 0 || !streq(kid, cp.key_id) ||
			    store_value_text(keys, k, 1, 16384, &pem) < 0)
				continue;
			bio = BIO_new_mem_buf(pem, -1);
			key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
			BIO_free(bio);
		}
		if (!key) {
			broken(n, "checkpoint at time %" PRIu64 " is signed by a key not enrolled",
			       cp.time_usec);
		} else if (store_checkpoint_verify(&cp, key) < 0) {
			broken(n, "checkpoint at time %" PRIu64 ": its signature does not verify",
			       cp.time_usec);
		} else if (cp.head_seq && memcmp(rh, cp.head_hash, CHAIN_HASH_LEN) != 0) {
			broken(n,
			       "checkpoint at time %" PRIu64 " names another head than the chain",
			       cp.time_usec);
		} else {
			n->checkpoint_seq = cp.head_seq;
			n->checkpoint_usec = cp.time_usec;
			n->received_usec = received;
			n->skew_usec = cp.time_usec > received + CLUSTER_SKEW_USEC ?
					       (int64_t)(cp.time_usec - received) :
					       0;
		}
		EVP_PKEY_free(key);
	}
	PQclear(res);
	PQclear(keys);
	/* A checkpoint the store refused since the last one that verified (a key that changed,
	 * a head that goes back): said until a checkpoint verifies again. */
	snprintf(after, sizeof(after), "%" PRIu64, n->received_usec);
	res = pg_query(c,
		       "SELECT reason FROM hpcm.refusals WHERE node = $1 AND what = 'checkpoint'"
		       " AND time > to_timestamp($2::bigint / 1e6) ORDER BY id DESC LIMIT 1",
		       2, (const char *const[]){ n->name, after }, 0, 1, err, size);
	if (!res)
		return -EIO;
	n->refused[0] = '\0';
	if (PQntuples(res) == 1) {
		const char *why;

		if (store_value_text(res, 0, 0, sizeof(n->refused) - 1, &why) == 0)
			snprintf(n->refused, sizeof(n->refused), "%s", why);
	}
	PQclear(res);
	return 0;
}

int cluster_usage_ingest(struct cluster_usage *cu, PGconn *c, uint64_t max_records,
			 uint64_t *ret_records, char *err, size_t size)
{
	struct ingest in = { .cu = cu };
	PGresult *names;
	int r = 0;

	*ret_records = 0;
	names = pg_query(c, "SELECT name FROM hpcm.nodes ORDER BY name", 0, NULL, 0, 1, err, size);
	if (!names)
		return -EIO;
	if (sqlite3_prepare_v2(cu->db,
			       "INSERT OR REPLACE INTO intervals (node, id, start_usec, end_usec)"
			       " VALUES (?, ?, ?, ?)",
			       -1, &in.ins_interval, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		    cu->db, "SELECT start_usec, end_usec FROM intervals WHERE node = ? AND id = ?",
		    -1, &in.get_interval, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(cu->db,
			       "INSERT INTO usage (node, seq, end_usec, job, uid, user, cpu_ns,"
			       " gpu_ns, tpp_seconds, ops_upper, launches, threads_launched,"
			       " bytes_alloc, bytes_h2d) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			       " ?, ?)",
			       -1, &in.ins_usage, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(cu->db,
			       "INSERT INTO jobs (node, job, account, project, start_usec)"
			       " VALUES (?, ?, ?, ?, ?)",
			       -1, &in.ins_job, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(cu->db,
			       "INSERT INTO usage_hour VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			       " ON CONFLICT (node, hour_usec) DO UPDATE SET"
			       " cpu_ns = cpu_ns + ?3, gpu_ns = gpu_ns + ?4,"
			       " tpp_seconds = tpp_seconds + ?5, ops_upper = ops_upper + ?6",
			       -1, &in.ins_hour, NULL) != SQLITE_OK) {
		r = sql_fail(cu, err, size, "prepare");
		goto out;
	}
	for (int i = 0; r == 0 && i < PQntuples(names); i++) {
		struct node_state n = {};
		const char *name;

		if (store_value_text(names, i, 0, sizeof(n.name) - 1, &name) < 0)
			continue;
		strcpy(n.name, name);
		r = load_node(cu, &n);
		if (r < 0) {
			r = sql_fail(cu, err, size, "read node");
			break;
		}
		if (n.broken[0])
			continue; /* its chain broke: nothing after it counts */
		r = ingest_records(&in, c, &n, max_records, ret_records, err, size);
		if (r == 0)
			r = ingest_checkpoints(c, &n, err, size);
		if (r == 0 && save_node(cu, &n) < 0)
			r = sql_fail(cu, err, size, "save node");
	}
out:
	sqlite3_finalize(in.ins_interval);
	sqlite3_finalize(in.get_interval);
	sqlite3_finalize(in.ins_usage);
	sqlite3_finalize(in.ins_job);
	sqlite3_finalize(in.ins_hour);
	PQclear(names);
	return r;
}

int cluster_usage_nodes(struct cluster_usage *cu, int (*fn)(const struct cluster_node *n, void *ud),
			void *ud)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(cu->db,
			       "SELECT name, enrolled, seq, checkpoint_seq, checkpoint_usec,"
			       " checkpoint_received_usec, skew_usec, max_cpu_rate_ppm, broken,"
			       " refused, hash FROM nodes ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cluster_node n = {
			.name = (const char *)sqlite3_column_text(st, 0),
			.enrolled = sqlite3_column_int(st, 1),
			.seq = sqlite3_column_int64(st, 2),
			.checkpoint_seq = sqlite3_column_int64(st, 3),
			.checkpoint_usec = sqlite3_column_int64(st, 4),
			.checkpoint_received_usec = sqlite3_column_int64(st, 5),
			.skew_usec = sqlite3_column_int64(st, 6),
			.max_cpu_rate_ppm = sqlite3_column_int64(st, 7),
			.broken = (const char *)sqlite3_column_text(st, 8),
			.refused = (const char *)sqlite3_column_text(st, 9),
			.hash = sqlite3_column_blob(st, 10),
		};

		if (!n.name || !n.broken || !n.refused || !n.hash ||
		    sqlite3_column_bytes(st, 10) != CHAIN_HASH_LEN)
			continue;
		r = fn(&n, ud);
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	return r < 0 ? r : rc == SQLITE_DONE ? 0 : -EIO;
}

/* ---- questions ---- */

static const struct {
	const char *metric, *expr;
} columns[] = {
	{ "cpu_seconds", "u.cpu_ns * 1e-9" }, { "gpu_seconds", "u.gpu_ns * 1e-9" },
	{ "tpp_seconds", "u.tpp_seconds" },   { "ops_upper", "u.ops_upper" },
	{ "launches", "u.launches" },	      { "threads_launched", "u.threads_launched" },
	{ "bytes_alloc", "u.bytes_alloc" },   { "bytes_h2d", "u.bytes_h2d" },
};

static const char *scope_key(enum license_cap_scope scope)
{
	switch ((int)scope) {
	case LICENSE_SCOPE_JOB:
		return "u.job";
	case LICENSE_SCOPE_USER:
		/* By name: a user's uid may differ from node to node. */
		return "u.user";
	case LICENSE_SCOPE_ACCOUNT:
		return "(SELECT j.account FROM jobs j WHERE j.job = u.job AND j.start_usec <="
		       " u.end_usec ORDER BY j.start_usec DESC, j.id DESC LIMIT 1)";
	case LICENSE_SCOPE_PROJECT:
		return "(SELECT j.project FROM jobs j WHERE j.job = u.job AND j.start_usec <="
		       " u.end_usec ORDER BY j.start_usec DESC, j.id DESC LIMIT 1)";
	case LICENSE_SCOPE_LICENSE:
		return "''";
	case CLUSTER_SCOPE_NODE:
		return "u.node";
	default:
		return NULL;
	}
}

/* "SELECT KEY, SUM(EXPR) ... WHERE ... AND node IN (...)" for the scope and nodes. */
static int prepare_sum(struct cluster_usage *cu, const struct cluster_nodes *nodes,
		       const char *metric, const char *key, const char *extra, sqlite3_stmt **ret)
{
	const char *expr = NULL;
	char *sql = NULL, *in = NULL;
	size_t in_len = 0;
	FILE *f;
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		if (streq(columns[i].metric, metric))
			expr = columns[i].expr;
	if (!expr)
		return -EOPNOTSUPP;
	f = open_memstream(&in, &in_len);
	if (!f)
		return -ENOMEM;
	if (nodes && nodes->names) {
		fputs(" AND u.node IN (", f);
		for (size_t i = 0; i < nodes->n; i++)
			fprintf(f, "%s?%zu", i ? ", " : "", i + 10);
		fputs(nodes->n ? ")" : "NULL)", f);
	}
	fclose(f);
	if (asprintf(&sql,
		     "SELECT %s AS k, SUM(%s) FROM usage u WHERE u.end_usec > ?1 AND u.end_usec <="
		     " ?2%s%s GROUP BY k",
		     key, expr, in ? in : "", extra) < 0)
		sql = NULL;
	free(in);
	if (!sql)
		return -ENOMEM;
	rc = sqlite3_prepare_v2(cu->db, sql, -1, ret, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return -EIO;
	for (size_t i = 0; nodes && nodes->names && i < nodes->n; i++)
		sqlite3_bind_text(*ret, (int)i + 10, nodes->names[i], -1, SQLITE_STATIC);
	return 0;
}

static bool node_covered(const struct cluster_nodes *nodes, const char *name)
{
	if (!nodes || !nodes->names)
		return true;
	for (size_t i = 0; i < nodes->n; i++)
		if (streq(nodes->names[i], name))
			return true;
	return false;
}

struct silence {
	const struct cluster_nodes *nodes;
	uint64_t from, to;
	double cpu_seconds;
};

/* A silent node's time in (from, to], since its last checkpoint, at its highest CPU rate. */
static int silence_add(const struct cluster_node *n, void *ud)
{
	struct silence *s = ud;
	uint64_t start, end;

	if (!node_covered(s->nodes, n->name) || !n->checkpoint_usec ||
	    s->nodes->now_usec < n->checkpoint_received_usec + CLUSTER_SILENT_USEC)
		return 0;
	start = n->checkpoint_usec > s->from ? n->checkpoint_usec : s->from;
	end = s->nodes->now_usec < s->to ? s->nodes->now_usec : s->to;
	if (end > start)
		s->cpu_seconds += (end - start) / 1e6 * n->max_cpu_rate_ppm / 1e6;
	return 0;
}

static int sum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sum *)a)->key, ((const struct sum *)b)->key);
}

static int sum_add(struct qcache *q, const char *key, double v)
{
	struct sum k = { .key = (char *)key }, *s;
	void *node = tfind(&k, &q->sums, sum_cmp);

	if (node) {
		(*(struct sum **)node)->value += v;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->key = strdup(key)) || !tsearch(s, &q->sums, sum_cmp)) {
		if (s)
			free(s->key);
		free(s);
		return -ENOMEM;
	}
	s->value = v;
	q->n_sums++;
	return 0;
}

static int64_t max_id(struct cluster_usage *cu, const char *table)
{
	char sql[64];
	sqlite3_stmt *st;
	int64_t v = 0;

	snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(id), 0) FROM %s", table);
	if (sqlite3_prepare_v2(cu->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Rows with id in (after, upto] and end in (from, to] into q's sums; *ahead: some of those
 * ids ended after to. */
static int scan_into(struct cluster_usage *cu, const struct cluster_nodes *nodes,
		     const char *metric, enum license_cap_scope scope, uint64_t from, uint64_t to,
		     int64_t after, int64_t upto, struct qcache *q, bool *ahead)
{
	sqlite3_stmt *st;
	int rc, r;

	r = prepare_sum(cu, nodes, metric, scope_key(scope), " AND u.id > ?3 AND u.id <= ?4", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, from > INT64_MAX ? INT64_MAX : (sqlite3_int64)from);
	sqlite3_bind_int64(st, 2, to > INT64_MAX ? INT64_MAX : (sqlite3_int64)to);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int64(st, 4, upto);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);

		if (scope != LICENSE_SCOPE_LICENSE && (!k || !*k))
			continue; /* not in a job, or a job without account or project */
		r = sum_add(q, k ? k : "", sqlite3_column_double(st, 1));
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return -EIO;
	/* A row of the period that ended after to (a node's clock ahead) is not counted yet:
	 * such a period is summed afresh next time. */
	if (sqlite3_prepare_v2(
		    cu->db, "SELECT 1 FROM usage WHERE id > ? AND id <= ? AND end_usec > ? LIMIT 1",
		    -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	sqlite3_bind_int64(st, 3, to > INT64_MAX ? INT64_MAX : (sqlite3_int64)to);
	*ahead = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return 0;
}

struct emit {
	int (*fn)(const char *subject, double value, void *ud);
	void *ud;
	double extra; /* added to the licence's row */
	bool license_seen;
	int r;
};

static void emit_visit(const void *node, VISIT which, void *closure)
{
	const struct sum *s = *(const struct sum *const *)node;
	struct emit *e = closure;

	if ((which != postorder && which != leaf) || e->r < 0)
		return;
	if (!s->key[0]) {
		e->license_seen = true;
		e->r = e->fn("", s->value + e->extra, e->ud);
		return;
	}
	e->r = e->fn(s->key, s->value, e->ud);
}

int cluster_usage_query(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			const char *metric, enum license_cap_scope scope, uint64_t from_usec,
			uint64_t to_usec, int (*fn)(const char *subject, double value, void *ud),
			void *ud)
{
	struct emit e = { .fn = fn, .ud = ud };
	struct qcache *q, **pq;
	char *sig = NULL;
	int64_t last, jobs;
	uint64_t now = now_realtime_usec();
	bool ahead = false;
	size_t len = 0;
	FILE *f;
	int r;

	if (!scope_key(scope))
		return -EOPNOTSUPP;
	last = max_id(cu, "usage");
	jobs = max_id(cu, "jobs");
	if (last < 0 || jobs < 0)
		return -EIO;
	f = open_memstream(&sig, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s|%d|%" PRIu64 "|", metric, (int)scope, from_usec);
	for (size_t i = 0; nodes && nodes->names && i < nodes->n; i++)
		fprintf(f, "%s,", nodes->names[i]);
	fprintf(f, "%s", nodes && nodes->names ? "" : "*");
	fclose(f);
	if (!sig)
		return -ENOMEM;
	for (pq = &cu->cache; (q = *pq);) {
		bool stale = now - q->used_usec > 3600 * UINT64_C(1000000);
		bool mine = streq(q->sig, sig);

		if (stale || (mine && (to_usec < q->to_usec || ((scope == LICENSE_SCOPE_ACCOUNT ||
								 scope == LICENSE_SCOPE_PROJECT) &&
								jobs != q->jobs_id)))) {
			*pq = q->next;
			qcache_free(q);
			continue;
		}
		if (mine)
			break;
		pq = &q->next;
	}
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q) {
			free(sig);
			return -ENOMEM;
		}
		q->sig = TAKE_PTR(sig);
		q->next = cu->cache;
		cu->cache = q;
	}
	free(sig);
	/* Rows already counted were in (from, old to]; new rows: (from, to]. Rows counted stay
	 * counted as to grows (an interval's end does not change). */
	r = scan_into(cu, nodes, metric, scope, from_usec, to_usec, q->last_id, last, q, &ahead);
	if (r < 0) {
		for (pq = &cu->cache; *pq; pq = &(*pq)->next)
			if (*pq == q) {
				*pq = q->next;
				qcache_free(q);
				break;
			}
		return r;
	}
	q->last_id = last;
	q->jobs_id = jobs;
	q->to_usec = to_usec;
	q->used_usec = now;
	if (scope == LICENSE_SCOPE_LICENSE && nodes && nodes->count_silence &&
	    streq(metric, "cpu_seconds")) {
		struct silence s = { .nodes = nodes, .from = from_usec, .to = to_usec };

		cluster_usage_nodes(cu, silence_add, &s);
		e.extra = s.cpu_seconds;
	}
	twalk_r(q->sums, emit_visit, &e);
	if (e.r == 0 && !e.license_seen && e.extra > 0)
		e.r = fn("", e.extra, ud);
	if (ahead) {
		/* Sum this period afresh next time. */
		for (pq = &cu->cache; *pq; pq = &(*pq)->next)
			if (*pq == q) {
				*pq = q->next;
				qcache_free(q);
				break;
			}
	}
	return e.r;
}

int cluster_usage_shares(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			 const char *metric, enum license_cap_scope scope, const char *subject,
			 uint64_t from_usec, uint64_t to_usec,
			 int (*fn)(const char *node, double value, void *ud), void *ud)
{
	const char *key = scope_key(scope);
	char extra[1024];
	sqlite3_stmt *st;
	int rc, r;

	if (!key)
		return -EOPNOTSUPP;
	/* Grouped by node, for the subject's rows only. */
	snprintf(extra, sizeof(extra), " AND %s = ?3", key);
	r = prepare_sum(cu, nodes, metric, "u.node", extra, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, from_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)from_usec);
	sqlite3_bind_int64(st, 2, to_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)to_usec);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn((const char *)sqlite3_column_text(st, 0) ?: "", sqlite3_column_double(st, 1),
		       ud);
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	return r < 0 ? r : rc == SQLITE_DONE ? 0 : -EIO;
}

int cluster_usage_set_evaluator(struct cluster_usage *cu, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(cu->db, "INSERT OR REPLACE INTO evaluator (id, name) VALUES (1, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* The evaluator's node name into buf ("" when none was recorded). */
static void evaluator_name(struct cluster_usage *cu, char *buf, size_t size)
{
	sqlite3_stmt *st;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(cu->db, "SELECT name FROM evaluator WHERE id = 1", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

struct final_ctx {
	const struct cluster_nodes *nodes;
	uint64_t to;
	bool final;
	char *pending;
	size_t size, len;
	char evaluator[256]; /* skipped; "" when the caller names the nodes */
};

static int final_node(const struct cluster_node *n, void *ud)
{
	struct final_ctx *x = ud;

	if (!node_covered(x->nodes, n->name) || n->checkpoint_usec >= x->to)
		return 0;
	if (x->evaluator[0] && streq(n->name, x->evaluator))
		return 0;
	x->final = false;
	if (x->len < x->size) {
		int w = snprintf(x->pending + x->len, x->size - x->len, "%s%s", x->len ? ", " : "",
				 n->name);

		x->len += w > 0 ? (size_t)w : 0;
	}
	return 0;
}

bool cluster_usage_final(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			 uint64_t to_usec, char *pending, size_t size)
{
	struct final_ctx x = { nodes, to_usec, true, pending, size, 0, "" };

	if (size)
		pending[0] = '\0';
	if (!nodes || !nodes->names)
		evaluator_name(cu, x.evaluator, sizeof(x.evaluator));
	if (cluster_usage_nodes(cu, final_node, &x) < 0)
		return false;
	return x.final;
}

int cluster_usage_set_coverage(struct cluster_usage *cu, const char *license_id,
			       const char *const *names, size_t n)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	int r = 0;

	sqlite3_exec(cu->db, "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(cu->db, "DELETE FROM coverage WHERE license = ?", -1, &del, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(cu->db, "INSERT OR IGNORE INTO coverage VALUES (?, ?)", -1, &ins,
			       NULL) != SQLITE_OK)
		r = -EIO;
	if (r == 0) {
		sqlite3_bind_text(del, 1, license_id, -1, SQLITE_STATIC);
		r = sqlite3_step(del) == SQLITE_DONE ? 0 : -EIO;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, license_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, names[i], -1, SQLITE_STATIC);
		r = sqlite3_step(ins) == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_exec(cu->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int cluster_usage_coverage(struct cluster_usage *cu, const char *license_id,
			   int (*fn)(const char *node, void *ud), void *ud)
{
	sqlite3_stmt *st;
	int rc, r = 0, n = 0;

	if (sqlite3_prepare_v2(cu->db, "SELECT node FROM coverage WHERE license = ? ORDER BY node",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, license_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn((const char *)sqlite3_column_text(st, 0) ?: "", ud);
		n++;
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return r;
	return rc == SQLITE_DONE ? (n ? 0 : -ENOENT) : -EIO;
}

int cluster_usage_node_totals(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			      uint64_t from_usec, uint64_t to_usec,
			      int (*fn)(const char *node, const double totals[4], void *ud),
			      void *ud)
{
	bool hourly = from_usec % HOUR_USEC == 0 && to_usec % HOUR_USEC == 0;
	sqlite3_stmt *st;
	int rc, r = 0;

	/* One pass for the four metrics; whole hours from the hourly sums (the report of a month
	 * of a hundred nodes reads 72,000 rows, not 26 million). */
	if (sqlite3_prepare_v2(cu->db,
			       hourly ? "SELECT node, SUM(cpu_ns) * 1e-9, SUM(gpu_ns) * 1e-9,"
					" SUM(tpp_seconds), SUM(ops_upper) FROM usage_hour"
					" WHERE hour_usec > ? AND hour_usec <= ? GROUP BY node" :
					"SELECT node, SUM(cpu_ns) * 1e-9, SUM(gpu_ns) * 1e-9,"
					" SUM(tpp_seconds), SUM(ops_upper) FROM usage WHERE"
					" end_usec > ? AND end_usec <= ? GROUP BY node",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, from_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)from_usec);
	sqlite3_bind_int64(st, 2, to_usec > INT64_MAX ? INT64_MAX : (sqlite3_int64)to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		double t[4];

		if (!node || !node_covered(nodes, node))
			continue;
		for (int i = 0; i < 4; i++)
			t[i] = sqlite3_column_double(st, 1 + i);
		r = fn(node, t, ud);
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	return r < 0 ? r : rc == SQLITE_DONE ? 0 : -EIO;
}
