// SPDX-License-Identifier: GPL-2.0-only
/* The cluster evaluator's sums (lib/cluster-usage.c) over a cache filled by the test as the
 * ingest fills it: a job across a UTC month boundary (each month counts what ended in it, the
 * run counts all), the incremental sums equal a fresh scan as intervals arrive (and a node
 * whose clock is ahead), finality from the nodes' checkpoints, a silent node counted at its
 * highest rate, node shares, and a cap across two nodes through the evaluator (TAP). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster-usage.h"
#include "evaluate.h"
#include "license.h"
#include "tap.h"
#include "util.h"

#define USEC UINT64_C(1000000)
#define T_2026_01_31_2359_50 UINT64_C(1769903990)
#define T_2026_02_01 UINT64_C(1769904000)
#define T_2026_01_01 UINT64_C(1767225600)

static sqlite3 *db;
static struct cluster_usage *cu;
static char dir[] = "/tmp/test-cluster-usage.XXXXXX";

static void row(const char *node, uint64_t end_sec, const char *job, const char *user,
		double cpu_seconds)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO usage (node, seq, end_usec, job, uid, user, cpu_ns) VALUES ('%s', 0,"
		 " %llu, '%s', 1000, '%s', %.0f)",
		 node, (unsigned long long)(end_sec * USEC), job, user, cpu_seconds * 1e9);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		printf("Bail out! %s\n", sqlite3_errmsg(db));
		exit(1);
	}
}

static void node(const char *name, uint64_t checkpoint_sec, uint64_t received_sec,
		 uint64_t rate_ppm)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO nodes (name, checkpoint_usec, checkpoint_received_usec,"
		 " max_cpu_rate_ppm) VALUES ('%s', %llu, %llu, %llu)",
		 name, (unsigned long long)(checkpoint_sec * USEC),
		 (unsigned long long)(received_sec * USEC), (unsigned long long)rate_ppm);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
}

struct got {
	char text[512];
	size_t len;
};

static int collect(const char *subject, double value, void *ud)
{
	struct got *g = ud;

	g->len += snprintf(g->text + g->len, sizeof(g->text) - g->len, "%s=%.6g;",
			   subject[0] ? subject : "-", value);
	return 0;
}

static const char *sums(const struct cluster_nodes *nodes, enum license_cap_scope scope,
			uint64_t from_sec, uint64_t to_sec)
{
	static struct got g;

	g = (struct got){};
	if (cluster_usage_query(cu, nodes, "cpu_seconds", scope, from_sec * USEC, to_sec * USEC,
				collect, &g) < 0)
		return "error";
	return g.text;
}

/* The same sums from a second connection: no cache. */
static const char *fresh(const struct cluster_nodes *nodes, enum license_cap_scope scope,
			 uint64_t from_sec, uint64_t to_sec)
{
	static struct got g;
	struct cluster_usage *other;
	char path[128], err[256];

	g = (struct got){};
	snprintf(path, sizeof(path), "%s/%s", dir, CLUSTER_USAGE_FILE);
	if (cluster_usage_open(path, true, &other, err, sizeof(err)) < 0)
		return "error";
	cluster_usage_query(other, nodes, "cpu_seconds", scope, from_sec * USEC, to_sec * USEC,
			    collect, &g);
	cluster_usage_close(other);
	return g.text;
}

static int nodes_usage(void *userdata, const char *metric, enum license_cap_scope scope,
		       uint64_t from, uint64_t to,
		       int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	return cluster_usage_query(cu, userdata, metric, scope, from, to, fn, ud);
}

int main(void)
{
	const char *both[] = { "n1", "n2" }, *one[] = { "n1" };
	struct cluster_nodes all = { .names = both, .n = 2 }, n1 = { .names = one, .n = 1 };
	char path[128], err[256], pending[128], cmd[160];
	struct license_error lerr;
	struct license *l = NULL;
	struct eval_result res = {};
	FILE *f;

	if (!mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/%s", dir, CLUSTER_USAGE_FILE);
	if (cluster_usage_open(path, false, &cu, err, sizeof(err)) < 0 ||
	    sqlite3_open(path, &db) != SQLITE_OK) {
		printf("Bail out! %s\n", err);
		return 1;
	}

	/* Job 7 on n1 and n2 across 2026-02-01 00:00 UTC: n1's interval ending at 23:59:50 is
	 * January's, n2's ending at 00:00:05 February's. */
	row("n1", T_2026_01_31_2359_50, "7", "alice", 4);
	row("n2", T_2026_02_01 + 5, "7", "alice", 6);
	row("n1", T_2026_02_01 + 10, "7", "alice", 5);
	row("n2", T_2026_02_01 + 20, "7", "alice", 5);
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_JOB, T_2026_01_01, T_2026_02_01), "7=4;"),
		  "January counts what ended in January: %s",
		  sums(&all, LICENSE_SCOPE_JOB, T_2026_01_01, T_2026_02_01));
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_JOB, T_2026_02_01, T_2026_02_01 + 60), "7=16;"),
		  "February counts the rest of the job on both nodes: %s",
		  sums(&all, LICENSE_SCOPE_JOB, T_2026_02_01, T_2026_02_01 + 60));
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_JOB, 0, T_2026_02_01 + 60), "7=20;"),
		  "the run counts the whole job across the boundary and the nodes");
	TAP_CHECK(streq(sums(&n1, LICENSE_SCOPE_JOB, 0, T_2026_02_01 + 60), "7=9;"),
		  "a licence covering n1 only counts n1's share");

	/* Incremental sums: new rows, then a row of a clock ahead (its end after "now"). */
	row("n1", T_2026_02_01 + 30, "8", "bob", 1);
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 60),
			fresh(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 60)),
		  "the kept sums equal a fresh scan after new rows");
	row("n2", T_2026_02_01 + 3600, "8", "bob", 2); /* n2's clock an hour ahead */
	sums(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 70);
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 4000),
			fresh(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 4000)) &&
			  strstr(sums(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 4000), "bob=3;"),
		  "a row ahead of the time asked counts once that time comes: %s",
		  sums(&all, LICENSE_SCOPE_USER, 0, T_2026_02_01 + 4000));

	/* Finality: both nodes' checkpoints past the end. */
	node("n1", T_2026_02_01 + 100, T_2026_02_01 + 101, 500000);
	node("n2", T_2026_02_01 - 100, T_2026_02_01 - 99, 500000);
	TAP_CHECK(!cluster_usage_final(cu, &all, T_2026_02_01 * USEC, pending, sizeof(pending)) &&
			  streq(pending, "n2"),
		  "January provisional while n2's checkpoint has not passed its end (waits for"
		  " %s)",
		  pending);
	node("n2", T_2026_02_01 + 50, T_2026_02_01 + 51, 500000);
	TAP_CHECK(cluster_usage_final(cu, &all, T_2026_02_01 * USEC, pending, sizeof(pending)),
		  "January final once every node's checkpoint passed its end");
	/* Asked about every node (hpcmeterctl cluster usage): the evaluator's own chain, with
	 * no usage, is left out of finality; another node behind is not. */
	node("ev", T_2026_02_01 - 100, T_2026_02_01 - 99, 0);
	TAP_CHECK(!cluster_usage_final(cu, NULL, T_2026_02_01 * USEC, pending, sizeof(pending)) &&
			  streq(pending, "ev"),
		  "every node: a node behind keeps it provisional (waits for %s)", pending);
	TAP_CHECK(cluster_usage_set_evaluator(cu, "ev") == 0 &&
			  cluster_usage_final(cu, NULL, T_2026_02_01 * USEC, pending,
					      sizeof(pending)),
		  "every node: final without the evaluator's own checkpoint (pending '%s')",
		  pending);
	sqlite3_exec(db, "DELETE FROM nodes WHERE name = 'ev'", NULL, NULL, NULL);

	/* A silent node (last checkpoint received 10 minutes before now) at its highest rate,
	 * half a core: 600 s x 0.5 = 300 s more for the licence. */
	all.now_usec = (T_2026_02_01 + 50 + 600) * USEC;
	all.count_silence = true;
	node("n1", T_2026_02_01 + 50, T_2026_02_01 + 50 + 550, 500000); /* n1 recent */
	TAP_CHECK(streq(sums(&all, LICENSE_SCOPE_LICENSE, 0, T_2026_02_01 + 650), "-=321;"),
		  "a silent node's time counts at its highest rate: %s",
		  sums(&all, LICENSE_SCOPE_LICENSE, 0, T_2026_02_01 + 650));
	all.count_silence = false;

	/* A cap over both nodes through the evaluator: each under, together over. */
	snprintf(path, sizeof(path), "%s/l.yaml", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("license:\n  id: L-1\n  regime: internal\n"
		      "  valid: { from: 2026-01-01, until: 2026-12-31 }\n"
		      "  caps:\n    - { id: m, metric: cpu_seconds, scope: job, period: calendar-month,"
		      " limit: 12 }\n",
		      f);
		fclose(f);
	}
	TAP_CHECK(license_parse_file(path, &l, &lerr) == 0, "licence parses");
	if (l) {
		struct eval_input in = { .now = (int64_t)T_2026_02_01 + 60,
					 .hostname = "evaluator",
					 .usage = nodes_usage,
					 .usage_userdata = &all };
		bool found = false;

		TAP_CHECK(evaluate_license_caps(l, &in, &res) == 0, "caps evaluated");
		for (size_t i = 0; i < res.n_findings; i++)
			found |= streq(res.findings[i].kind, "cap-exceeded") &&
				 streq(res.findings[i].subject, "7") &&
				 fabs(res.findings[i].measured - 16) < 1e-9;
		TAP_CHECK(found,
			  "job 7's February across n1 and n2 (16 s) is over the cap of 12 s");
		eval_result_done(&res);
		in.usage_userdata = &n1;
		memset(&res, 0, sizeof(res));
		evaluate_license_caps(l, &in, &res);
		found = false;
		for (size_t i = 0; i < res.n_findings; i++)
			found |= streq(res.findings[i].kind, "cap-exceeded");
		TAP_CHECK(!found, "n1's share alone (5 s in February) is under it");
		eval_result_done(&res);
		license_free(l);
	}
	sqlite3_close(db);
	cluster_usage_close(cu);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tap_done();
}
