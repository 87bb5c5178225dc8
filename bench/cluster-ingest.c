// SPDX-License-Identifier: GPL-2.0-only
/* The cluster's store under N nodes: each synthetic node's ledger is written through the
 * daemon's own ledger code (hash-chained SQLite: DAYS days of 10-second intervals, each with
 * two usage rows and a GPU usage row, as a busy node writes them), the node is enrolled with an
 * Ed25519 key of its own and a login role, then every node ships its ledger to the store through
 * lib/store.c, as hpcmeterd does: one batch (one INSERT, one transaction) per minute of records
 * followed by a signed checkpoint (the steady state), THREADS nodes at a time, each on a
 * connection as its own role, through the store's triggers and row-level security. Prints the
 * records ingested per second, the client's CPU per node-minute (what one node's shipping
 * costs at steady state), then cluster verify's walk over every node (records per second).
 * usage: cluster-ingest CONNINFO NODES DAYS [THREADS] [BATCH_INTERVALS]
 *   CONNINFO as the store's owner (roles are made; nodes connect with "user=NODE" added);
 *   BATCH_INTERVALS: intervals per batch (default 6: a minute, as the daemon ships them live;
 *   larger: the catch-up after an outage, up to 125 intervals = 500 records). */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ledger-internal.h"
#include "ledger.h"
#include "sign.h"
#include "store-verify.h"
#include "store.h"
#include "util.h"

#define RECORDS_PER_INTERVAL 4

struct node {
	char name[32];
	char dir[128];
	EVP_PKEY *key;
	uint64_t records;
};

static const char *conninfo;
static struct node *nodes;
static unsigned n_nodes, days, batch_intervals = 6;
static unsigned next_node;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t total_records, total_checkpoints;
static double total_cpu_s;
static int failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int take(void)
{
	int i;

	pthread_mutex_lock(&lock);
	i = next_node < n_nodes ? (int)next_node++ : -1;
	pthread_mutex_unlock(&lock);
	return i;
}

/* A node's ledger, written through the ledger's own code (one commit per hour of intervals:
 * the daemon commits each interval, which only costs more fsyncs). */
static int generate(struct node *n, unsigned idx)
{
	const uint64_t start = UINT64_C(1767225600) * 1000000, step = 10 * UINT64_C(1000000);
	char err[256];
	struct ledger *l;
	int64_t id;
	int r = 0;

	snprintf(n->name, sizeof(n->name), "bench-n%04u", idx);
	if (ledger_open(n->dir, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EIO;
	}
	sqlite3_exec(ledger_db(l), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	for (uint64_t i = 0; r == 0 && i < (uint64_t)days * 8640; i++) {
		char job[2][16], cg[2][64];
		struct gpu_usage_row g = { .cgroup = cg[0],
					   .cgroup_id = 100,
					   .job = job[0],
					   .uid = 1000,
					   .user = "alice",
					   .gpu_ns = 8 * step * 1000,
					   .tpp_seconds = 8 * 10.0 * 15832,
					   .ops_upper = 8 * 10 * 1e15 };

		for (int k = 0; k < 2; k++) {
			snprintf(job[k], sizeof(job[k]), "%" PRIu64, 1000 + i / 360 * 2 + k);
			snprintf(cg[k], sizeof(cg[k]), "/slurm/uid_%d/job_%s/step_0", 1000 + k,
				 job[k]);
		}
		r = ledger_add_interval(l, start + i * step, start + (i + 1) * step, &id);
		for (int k = 0; r == 0 && k < 2; k++)
			r = ledger_add_usage(l, id, cg[k], 100 + k, job[k], 1000 + k,
					     k ? "bob" : "alice", 9000000000ULL + i % 1000);
		if (r == 0)
			r = ledger_add_gpu_usage(l, id, &g);
		if (r == 0 && i % 360 == 359)
			r = ledger_commit(l);
	}
	if (r == 0)
		r = ledger_commit(l);
	n->records = ledger_chain_head(l)->seq;
	ledger_close(l);
	return r;
}

static void *generate_thread(void *arg)
{
	int i;

	while ((i = take()) >= 0)
		if (generate(&nodes[i], i) < 0)
			failed = 1;
	return NULL;
}

static PGresult *wait_reply(PGconn *c)
{
	PGresult *res, *first = NULL;

	while ((res = PQgetResult(c))) {
		if (!first)
			first = res;
		else
			PQclear(res);
	}
	return first;
}

struct ship_ctx {
	struct store_batch *b;
	uint64_t limit;
};

static int add(const struct chain_entry *e, void *ud)
{
	return store_batch_add(ud, e);
}

/* One node's ledger into the store, as the daemon ships it. */
static int ship(struct node *n, uint64_t *ret_checkpoints)
{
	char ci[1024], err[512];
	struct store_batch b;
	struct store_totals tot = {};
	struct ledger *l;
	uint64_t acked = 0, ins, seq;
	uint8_t hash[CHAIN_HASH_LEN] = {};
	PGconn *c;
	int r = 0;

	snprintf(ci, sizeof(ci), "%s user=%s", conninfo, n->name);
	if (store_connect(ci, "cluster-ingest", &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", n->name, err);
		return -EIO;
	}
	if (ledger_open(n->dir, &l, err, sizeof(err)) < 0) {
		PQfinish(c);
		return -EIO;
	}
	store_batch_init(&b, n->name);
	while (r == 0 && acked < n->records) {
		struct store_checkpoint cp = {};
		struct store_totals t;
		PGresult *res;

		store_batch_clear(&b);
		r = ledger_read_entries(l, acked, batch_intervals * RECORDS_PER_INTERVAL, add, &b);
		if (r <= 0)
			break;
		r = store_batch_send(c, &b);
		res = r == 0 ? wait_reply(c) : NULL;
		if (r < 0 || store_batch_reply(res, &b, &ins, &seq) < 0 ||
		    seq != store_batch_last(&b)) {
			fprintf(stderr, "%s: batch after %" PRIu64 " not taken: %s\n", n->name,
				acked, store_error_line(c, res));
			PQclear(res);
			r = -EIO;
			break;
		}
		PQclear(res);
		store_batch_totals(&b, seq, &t);
		tot.intervals += t.intervals;
		tot.cpu_ns += t.cpu_ns;
		tot.gpu_ns += t.gpu_ns;
		store_batch_hash(&b, seq, hash);
		acked = seq;
		/* The checkpoint of that minute, signed. */
		snprintf(cp.node, sizeof(cp.node), "%s", n->name);
		cp.time_usec = UINT64_C(1767225600) * 1000000 + tot.intervals * 10000000;
		cp.head_seq = acked;
		memcpy(cp.head_hash, hash, CHAIN_HASH_LEN);
		cp.totals = tot;
		if (store_checkpoint_sign(&cp, n->key) < 0 || store_checkpoint_send(c, &cp) < 0) {
			r = -EIO;
			break;
		}
		res = wait_reply(c);
		if (store_checkpoint_reply(res) != 1) {
			fprintf(stderr, "%s: checkpoint not taken: %s\n", n->name,
				store_error_line(c, res));
			r = -EIO;
		}
		PQclear(res);
		(*ret_checkpoints)++;
	}
	store_batch_free(&b);
	ledger_close(l);
	PQfinish(c);
	return r < 0 ? r : 0;
}

static void *ship_thread(void *arg)
{
	double cpu0 = thread_cpu_s();
	uint64_t records = 0, checkpoints = 0;
	int i;

	while ((i = take()) >= 0) {
		if (ship(&nodes[i], &checkpoints) < 0)
			failed = 1;
		records += nodes[i].records;
	}
	pthread_mutex_lock(&lock);
	total_records += records;
	total_checkpoints += checkpoints;
	total_cpu_s += thread_cpu_s() - cpu0;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int exec_ok(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
			 PQresultStatus(res) == PGRES_TUPLES_OK);

	if (!ok)
		fprintf(stderr, "%s: %s\n", sql, store_error_line(c, res));
	PQclear(res);
	return ok ? 0 : -EIO;
}

static int enroll(PGconn *c, struct node *n)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	char sql[1024], id[65], *pem = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	const char *values[3];
	PGresult *res;
	long len;
	int r;

	if (!ctx || !bio || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &n->key) <= 0 ||
	    !PEM_write_bio_PUBKEY(bio, n->key) || sign_key_id(n->key, id) < 0) {
		EVP_PKEY_CTX_free(ctx);
		BIO_free(bio);
		return -EIO;
	}
	EVP_PKEY_CTX_free(ctx);
	len = BIO_get_mem_data(bio, &pem);
	snprintf(sql, sizeof(sql),
		 "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN"
		 " CREATE ROLE \"%s\" LOGIN IN ROLE hpcm_node; END IF; END $$",
		 n->name, n->name);
	r = exec_ok(c, sql);
	values[0] = n->name;
	values[1] = id;
	if (r == 0) {
		res = PQexecParams(
			c, "INSERT INTO hpcm.nodes (name, role) VALUES ($1::text, $1::text::name)",
			1, NULL, values, NULL, NULL, 0);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
		if (r < 0)
			fprintf(stderr, "enroll %s: %s\n", n->name, store_error_line(c, res));
		PQclear(res);
	}
	if (r == 0) {
		char *text = strndup(pem, len);

		values[2] = text;
		res = PQexecParams(c,
				   "INSERT INTO hpcm.node_keys (node, key_id, public_key)"
				   " VALUES ($1, $2, $3)",
				   3, NULL, values, NULL, NULL, 0);
		r = text && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
		PQclear(res);
		free(text);
	}
	BIO_free(bio);
	return r;
}

int main(int argc, char **argv)
{
	unsigned threads;
	char top[] = "/var/tmp/bench-cluster.XXXXXX", err[512], cmd[160];
	pthread_t tid[64];
	double t0, gen_s, ingest_s, verify_s, cpu_per_node_minute;
	uint64_t verified = 0, minutes;
	PGconn *c;
	int from, to;

	if (argc < 4) {
		fprintf(stderr, "usage: cluster-ingest CONNINFO NODES DAYS [THREADS] "
				"[BATCH_INTERVALS]\n");
		return 2;
	}
	conninfo = argv[1];
	n_nodes = atoi(argv[2]);
	days = atoi(argv[3]);
	threads = argc > 4 ? atoi(argv[4]) : 4;
	if (argc > 5)
		batch_intervals = atoi(argv[5]);
	if (!n_nodes || !days || !threads || threads > 64 || !batch_intervals ||
	    batch_intervals * RECORDS_PER_INTERVAL > STORE_BATCH_MAX) {
		fprintf(stderr, "cluster-ingest: bad arguments\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	if (!mkdtemp(top))
		return 1;
	nodes = calloc(n_nodes, sizeof(*nodes));
	if (!nodes || store_connect(conninfo, "cluster-ingest", &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "cluster-ingest: %s\n", err);
		return 1;
	}
	exec_ok(c, "SET client_min_messages = warning");
	if (store_migrate(c, &from, &to, err, sizeof(err)) < 0) {
		fprintf(stderr, "cluster-ingest: %s\n", err);
		return 1;
	}
	for (unsigned i = 0; i < n_nodes; i++)
		snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%04u", top, i);

	printf("cluster store: %u nodes x %u days of 10 s intervals (%u records per interval),"
	       " %u connections at a time, batches of %u intervals\n",
	       n_nodes, days, RECORDS_PER_INTERVAL, threads, batch_intervals);
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, generate_thread, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	gen_s = now_s() - t0;
	for (unsigned i = 0; !failed && i < n_nodes; i++)
		if (enroll(c, &nodes[i]) < 0)
			failed = 1;
	if (failed)
		goto out;
	printf("  ledgers written through the ledger code: %.1f s\n", gen_s);

	next_node = 0;
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, ship_thread, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	ingest_s = now_s() - t0;
	if (failed)
		goto out;
	minutes = (uint64_t)n_nodes * days * 1440;
	cpu_per_node_minute = total_cpu_s / minutes;
	printf("  ingest: %" PRIu64 " records and %" PRIu64 " signed checkpoints in %.1f s:"
	       " %.0f records/s\n",
	       total_records, total_checkpoints, ingest_s, total_records / ingest_s);
	printf("  a node's shipping (client CPU: ledger read, encoding, libpq, signing): %.1f ms"
	       " per node-minute = %.4f %% of a core at steady state\n",
	       cpu_per_node_minute * 1e3, cpu_per_node_minute / 60 * 100);

	exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	t0 = now_s();
	for (unsigned i = 0; i < n_nodes; i++) {
		struct store_verify_node v = {};

		snprintf(v.node, sizeof(v.node), "%s", nodes[i].name);
		if (store_verify_node(c, &v, NULL, NULL) < 0 || v.broken) {
			fprintf(stderr, "verify %s: %s%s\n", v.node, v.error, v.reason);
			failed = 1;
		}
		verified += v.records;
	}
	verify_s = now_s() - t0;
	exec_ok(c, "COMMIT");
	printf("  cluster verify: %" PRIu64 " records and every checkpoint in %.1f s: %.0f"
	       " records/s\n",
	       verified, verify_s, verified / verify_s);
out:
	PQfinish(c);
	for (unsigned i = 0; i < n_nodes; i++)
		EVP_PKEY_free(nodes[i].key);
	free(nodes);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
	return failed;
}
