// SPDX-License-Identifier: GPL-2.0-only
/* Cost of evaluating caps against the ledger: one ledger filled with DAYS days of 10-second
 * intervals, ROWS usage rows each (jobs and users rotating), then each kind of cap query
 * (scope job/user/license over the validity, and over the last day) timed REPEATS times,
 * alternating; prints min/median/max ms per query. The evaluator runs these once per cap at
 * every interval. Then the same through the incremental cache the daemon uses: the first
 * call (a full scan) and the following calls, one new interval each.
 * usage: cap-query [DAYS] [ROWS] [REPEATS]   (defaults 30, 4, 7) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger-query.h"
#include "ledger.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count(const char *subject, double value, void *ud)
{
	(void)subject;
	(void)value;
	(*(unsigned *)ud)++;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned days = argc > 1 ? atoi(argv[1]) : 30, rows = argc > 2 ? atoi(argv[2]) : 4,
		 repeats = argc > 3 ? atoi(argv[3]) : 7;
	char dir[] = "/tmp/bench-cap-query.XXXXXX", path[64], err[256], cmd[128];
	const uint64_t start = UINT64_C(1767225600) * 1000000, step = 10 * UINT64_C(1000000);
	const uint64_t n = (uint64_t)days * 8640;
	static const struct {
		const char *name;
		enum license_cap_scope scope;
		int last_day;
	} q[] = {
		{ "job, validity", LICENSE_SCOPE_JOB, 0 },
		{ "user, validity", LICENSE_SCOPE_USER, 0 },
		{ "license, validity", LICENSE_SCOPE_LICENSE, 0 },
		{ "user, last day", LICENSE_SCOPE_USER, 1 },
	};
	double t[4][64];
	struct ledger *l;
	sqlite3 *db;
	double t0;

	if (repeats > 64 || !mkdtemp(dir))
		return 1;
	if (ledger_open(dir, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	t0 = now_ms();
	for (uint64_t i = 0; i < n; i++) {
		int64_t id;
		char job[16], user[16];

		ledger_add_interval(l, start + i * step, start + (i + 1) * step, &id);
		for (unsigned r = 0; r < rows; r++) {
			snprintf(job, sizeof(job), "%llu",
				 (unsigned long long)(i / 360 * rows + r));
			snprintf(user, sizeof(user), "u%u", r);
			ledger_add_usage(l, id, "/job", 1, job, 1000 + r, user, 5000000000ULL);
		}
		if (i % 8640 == 8639)
			ledger_commit(l);
	}
	ledger_commit(l);
	printf("ledger: %u days of 10 s intervals, %u rows each: %llu usage rows, filled in %.0f ms\n",
	       days, rows, (unsigned long long)(n * rows), now_ms() - t0);
	snprintf(path, sizeof(path), "%s/ledger.sqlite", dir);
	if (ledger_query_open_readonly(path, &db) < 0)
		return 1;
	for (unsigned rep = 0; rep < repeats; rep++)
		for (size_t k = 0; k < 4; k++) {
			uint64_t end = start + n * step,
				 from = q[k].last_day ? end - 86400000000ULL : 0;
			unsigned subjects = 0;

			t0 = now_ms();
			ledger_query_usage(db, "cpu_seconds", q[k].scope, from, end, count,
					   &subjects);
			t[k][rep] = now_ms() - t0;
		}
	for (size_t k = 0; k < 4; k++) {
		qsort(t[k], repeats, sizeof(double), cmp);
		printf("full scan   %-18s min %8.1f  median %8.1f  max %8.1f ms\n", q[k].name,
		       t[k][0], t[k][repeats / 2], t[k][repeats - 1]);
	}

	/* What the daemon does: the cache, one new interval between two evaluations. */
	struct usage_cache *cache;
	uint64_t end = start + n * step;
	double first[4], inc[4][64];

	if (usage_cache_new(db, &cache) < 0)
		return 1;
	for (size_t k = 0; k < 4; k++) {
		unsigned subjects = 0;

		t0 = now_ms();
		usage_cache_query(cache, "cpu_seconds", q[k].scope,
				  q[k].last_day ? end - 86400000000ULL : 0, end, count, &subjects);
		first[k] = now_ms() - t0;
	}
	for (unsigned rep = 0; rep < repeats; rep++) {
		int64_t id;

		ledger_add_interval(l, end, end + step, &id);
		for (unsigned r = 0; r < rows; r++)
			ledger_add_usage(l, id, "/job", 1, "1", 1000 + r, "u", 5000000000ULL);
		ledger_commit(l);
		end += step;
		for (size_t k = 0; k < 4; k++) {
			unsigned subjects = 0;

			t0 = now_ms();
			usage_cache_query(cache, "cpu_seconds", q[k].scope,
					  q[k].last_day ? start + n * step - 86400000000ULL : 0,
					  end, count, &subjects);
			inc[k][rep] = now_ms() - t0;
		}
	}
	for (size_t k = 0; k < 4; k++) {
		qsort(inc[k], repeats, sizeof(double), cmp);
		printf("incremental %-18s first %8.1f ms, then per interval min %6.2f  median %6.2f  "
		       "max %6.2f ms (full/incremental medians: %.0f)\n",
		       q[k].name, first[k], inc[k][0], inc[k][repeats / 2], inc[k][repeats - 1],
		       t[k][repeats / 2] / inc[k][repeats / 2]);
	}
	usage_cache_free(cache);
	sqlite3_close(db);
	ledger_close(l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
