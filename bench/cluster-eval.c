// SPDX-License-Identifier: GPL-2.0-only
/* The cluster evaluator's cost per interval: its usage cache (lib/cluster-usage.c, the
 * STATE_DIR/cluster.sqlite that hpcmeterd --cluster fills from verified records) holding NODES
 * nodes x DAYS days of 10-second intervals, ROWS usage rows per node and interval (jobs of 6
 * hours, each with an account and, every other one, a project), then what one evaluation asks
 * of it for a licence with five caps (job per run, user, account, project and licence per
 * calendar month, all over every node): first the full sums, then REPEATS times one more
 * interval of every node followed by the five queries (the incremental path, as each interval
 * runs). Then the cluster's report of a month (per node totals in one pass). Prints
 * min/median/max ms. The rows are written straight into the cache: reading them from the store
 * is the ingest measured by cluster-ingest.
 * usage: cluster-eval [NODES] [DAYS] [ROWS] [REPEATS]   (defaults 100, 30, 1, 20) */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster-usage.h"
#include "util.h"

#define STEP_USEC (10 * UINT64_C(1000000))
#define START_USEC (UINT64_C(1767225600) * 1000000) /* 2026-01-01 */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int count(const char *subject, double value, void *ud)
{
	(*(unsigned *)ud)++;
	return 0;
}

static int node_total(const char *node, const double t[4], void *ud)
{
	(*(unsigned *)ud)++;
	return 0;
}

static sqlite3_stmt *ins;

static void add_interval(unsigned nodes, unsigned rows, uint64_t i)
{
	for (unsigned n = 0; n < nodes; n++)
		for (unsigned k = 0; k < rows; k++) {
			char node[16], job[32], user[16];

			snprintf(node, sizeof(node), "n%04u", n);
			/* a job per node and row, six hours long */
			snprintf(job, sizeof(job), "%" PRIu64,
				 100000 + (i / 2160) * 1000 + n * 4 + k);
			snprintf(user, sizeof(user), "user%u", (n + k) % 50);
			sqlite3_reset(ins);
			sqlite3_bind_text(ins, 1, node, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 2, (sqlite3_int64)(i + 1));
			sqlite3_bind_int64(ins, 3,
					   (sqlite3_int64)(START_USEC + (i + 1) * STEP_USEC));
			sqlite3_bind_text(ins, 4, job, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 5, 1000 + (n + k) % 50);
			sqlite3_bind_text(ins, 6, user, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 7, 640 * STEP_USEC); /* 64 cores busy, ns */
			sqlite3_bind_int64(ins, 8, 8 * STEP_USEC * 1000);
			sqlite3_bind_double(ins, 9, 8 * 10.0 * 15832);
			sqlite3_bind_double(ins, 10, 8 * 10 * 1e15);
			sqlite3_step(ins);
		}
}

int main(int argc, char **argv)
{
	unsigned nodes = argc > 1 ? atoi(argv[1]) : 100, days = argc > 2 ? atoi(argv[2]) : 30,
		 rows = argc > 3 ? atoi(argv[3]) : 1, repeats = argc > 4 ? atoi(argv[4]) : 20;
	static const struct {
		const char *name;
		enum license_cap_scope scope;
		int month;
	} caps[] = {
		{ "job, run", LICENSE_SCOPE_JOB, 0 },
		{ "user, month", LICENSE_SCOPE_USER, 1 },
		{ "account, month", LICENSE_SCOPE_ACCOUNT, 1 },
		{ "project, validity", LICENSE_SCOPE_PROJECT, 0 },
		{ "license, month", LICENSE_SCOPE_LICENSE, 1 },
	};
	char dir[] = "/var/tmp/bench-cluster-eval.XXXXXX", path[128], err[512], cmd[160];
	uint64_t n = (uint64_t)days * 8640, month_start = START_USEC, to;
	struct cluster_usage *cu;
	double t0, t_fill, first[5], each[64], rep[8];
	unsigned subjects = 0;
	sqlite3 *db;

	if (!nodes || !days || !rows || !repeats || repeats > 64)
		return 2;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, CLUSTER_USAGE_FILE);
	if (cluster_usage_open(path, false, &cu, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO usage (node, seq, end_usec, job, uid, user, cpu_ns, gpu_ns,"
			   " tpp_seconds, ops_upper) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			   -1, &ins, NULL);
	printf("cluster evaluator: %u nodes x %u days of 10 s intervals, %u usage row(s) per node"
	       " and interval\n",
	       nodes, days, rows);
	t0 = now_ms();
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (uint64_t i = 0; i < n; i++)
		add_interval(nodes, rows, i);
	/* jobs: an account each, a project every other one */
	sqlite3_exec(db,
		     "INSERT INTO jobs (node, job, account, project, start_usec)"
		     " SELECT node, job, 'acct' || (CAST(job AS INTEGER) % 20),"
		     " CASE WHEN CAST(job AS INTEGER) % 2 = 0 THEN 'proj' ||"
		     " (CAST(job AS INTEGER) % 7) ELSE '' END, MIN(end_usec) - 10000000"
		     " FROM usage GROUP BY node, job",
		     NULL, NULL, NULL);
	/* the hourly sums the evaluator keeps as it ingests (one upsert per row) */
	sqlite3_exec(db,
		     "INSERT INTO usage_hour SELECT node, (end_usec + 3599999999) / 3600000000"
		     " * 3600000000, SUM(cpu_ns), SUM(gpu_ns), SUM(tpp_seconds), SUM(ops_upper)"
		     " FROM usage GROUP BY 1, 2",
		     NULL, NULL, NULL);
	for (unsigned k = 0; k < nodes; k++) {
		char sql[256];

		snprintf(sql, sizeof(sql),
			 "INSERT INTO nodes (name, seq, checkpoint_usec, checkpoint_received_usec)"
			 " VALUES ('n%04u', %" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
			 k, n, START_USEC + n * STEP_USEC, START_USEC + n * STEP_USEC);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	t_fill = now_ms() - t0;
	printf("  cache filled: %" PRIu64 " rows in %.1f s\n", n * nodes * rows, t_fill / 1e3);
	/* the month the data ends in */
	to = START_USEC + n * STEP_USEC;
	{
		time_t s = (time_t)(to / 1000000);
		struct tm tm;

		gmtime_r(&s, &tm);
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		month_start = (uint64_t)timegm(&tm) * 1000000;
	}
	for (size_t c = 0; c < ARRAY_SIZE(caps); c++) {
		t0 = now_ms();
		cluster_usage_query(cu, NULL, "ops_upper", caps[c].scope,
				    caps[c].month ? month_start : 0, to, count, &subjects);
		first[c] = now_ms() - t0;
	}
	for (unsigned k = 0; k < repeats; k++) {
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		add_interval(nodes, rows, n + k);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		to += STEP_USEC;
		t0 = now_ms();
		for (size_t c = 0; c < ARRAY_SIZE(caps); c++)
			cluster_usage_query(cu, NULL, "ops_upper", caps[c].scope,
					    caps[c].month ? month_start : 0, to, count, &subjects);
		each[k] = now_ms() - t0;
	}
	qsort(each, repeats, sizeof(each[0]), cmp);
	printf("  first evaluation (full sums):");
	for (size_t c = 0; c < ARRAY_SIZE(caps); c++)
		printf(" %s %.0f ms;", caps[c].name, first[c]);
	printf("\n  each interval after (one more interval of every node, five caps): min %.2f /"
	       " median %.2f / max %.2f ms\n",
	       each[0], each[repeats / 2], each[repeats - 1]);
	for (int k = 0; k < 3; k++) {
		unsigned got = 0;

		t0 = now_ms();
		cluster_usage_node_totals(cu, NULL, month_start, to / 3600000000 * 3600000000,
					  node_total, &got);
		rep[k] = now_ms() - t0;
	}
	qsort(rep, 3, sizeof(rep[0]), cmp);
	printf("  the cluster report's sums for the last month (per node, four metrics): min %.0f /"
	       " median %.0f / max %.0f ms\n",
	       rep[0], rep[1], rep[2]);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	cluster_usage_close(cu);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (getenv("BENCH_KEEP"))
		return printf("kept %s\n", dir) < 0;
	return system(cmd) != 0;
}
