// SPDX-License-Identifier: GPL-2.0-only
/* Read queries over the ledger's tables for the evaluator (see ledger-query.h). */
#include "ledger-query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Where each metric comes from: a column of the usage table and its scale to the metric's
 * unit. A new meter (GPU time, launches) adds its row here; a metric without a row has no
 * source yet and its caps say so instead of reading as zero. */
static const struct metric_source {
	const char *metric;
	const char *column;
	double scale;
} metric_sources[] = {
	{ "cpu_seconds", "u.cpu_ns", 1e-9 },
};

static const struct metric_source *source_find(const char *metric)
{
	for (size_t i = 0; i < ARRAY_SIZE(metric_sources); i++)
		if (streq(metric_sources[i].metric, metric))
			return &metric_sources[i];
	return NULL;
}

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

int ledger_query_open_readonly(const char *path, sqlite3 **ret)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_close(db);
		return sqlite_to_errno(rc);
	}
	sqlite3_busy_timeout(db, 5000);
	*ret = db;
	return 0;
}

int ledger_query_usage(void *userdata, const char *metric, enum license_cap_scope scope,
		       uint64_t from_usec, uint64_t to_usec,
		       int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	sqlite3 *db = userdata;
	const struct metric_source *src = source_find(metric);
	const char *key, *where;
	char sql[512];
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!src)
		return -EOPNOTSUPP;
	switch (scope) {
	case LICENSE_SCOPE_JOB:
		key = "u.job";
		where = " AND u.job <> ''";
		break;
	case LICENSE_SCOPE_USER:
		/* By uid: a renamed user stays one subject; the name is the latest one seen. */
		key = "MAX(u.user) || ' (uid ' || u.uid || ')'";
		where = "";
		break;
	case LICENSE_SCOPE_LICENSE:
		key = "''";
		where = "";
		break;
	default:
		return -EOPNOTSUPP; /* accounts need the scheduler's job information */
	}
	/* An interval counts in the period that contains its end. */
	snprintf(sql, sizeof(sql),
		 "SELECT %s, SUM(%s) FROM usage u JOIN intervals i ON i.id = u.interval_id"
		 " WHERE i.end_usec > ? AND i.end_usec <= ?%s GROUP BY %s HAVING COUNT(*) > 0",
		 key, src->column, where,
		 scope == LICENSE_SCOPE_JOB  ? "u.job" :
		 scope == LICENSE_SCOPE_USER ? "u.uid" :
					       "NULL");
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_to_errno(rc);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)from_usec);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0);

		r = fn(s ? (const char *)s : "", sqlite3_column_double(st, 1) * src->scale, ud);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_to_errno(rc);
	sqlite3_finalize(st);
	return r;
}

int ledger_query_execs(sqlite3 *db, uint64_t since_usec,
		       int (*fn)(uint64_t time_usec, uint32_t pid, uint32_t uid, const char *exe,
				 const char *cgroup, void *ud),
		       void *ud)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(db,
				"SELECT time_usec, pid, uid, executable, cgroup FROM process_events"
				" WHERE event = 'exec' AND time_usec >= ? ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_to_errno(rc);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *exe = sqlite3_column_text(st, 3),
				    *cg = sqlite3_column_text(st, 4);

		r = fn(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		       sqlite3_column_int64(st, 2), exe ? (const char *)exe : "",
		       cg ? (const char *)cg : "", ud);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_to_errno(rc);
	sqlite3_finalize(st);
	return r;
}
