// SPDX-License-Identifier: GPL-2.0-only
/* Read queries over the ledger's tables for the evaluator (see ledger-query.h). */
#include "ledger-query.h"

#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Where each metric comes from: a table of per-interval rows shaped like "usage"
 * (interval_id, job, uid, user, ...), the column, and its scale to the metric's unit. A new
 * meter adds its rows here. A metric without a row, or whose table this ledger does not have
 * (no GPU meter has written to it), has no source and its caps say so instead of reading as
 * zero. The gpu_usage rows follow the GPU meter's table (gpu_ns, tpp_seconds, ...). */
static const struct metric_source {
	const char *metric;
	const char *table;
	const char *column;
	double scale;
} metric_sources[] = {
	{ "cpu_seconds", "usage", "cpu_ns", 1e-9 },
	{ "gpu_seconds", "gpu_usage", "gpu_ns", 1e-9 },
	{ "tpp_seconds", "gpu_usage", "tpp_seconds", 1 },
	{ "ops_upper", "gpu_usage", "ops_upper", 1 },
	{ "launches", "gpu_usage", "launches", 1 },
	{ "threads_launched", "gpu_usage", "threads_launched", 1 },
	{ "bytes_alloc", "gpu_usage", "bytes_alloc", 1 },
	{ "bytes_h2d", "gpu_usage", "bytes_h2d", 1 },
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

/* One pass over the usage of intervals with id in (after_id, before_id) and end in
 * (from_usec, to_usec]: fn(key, display, value) per subject. */
static int scan_usage(sqlite3 *db, const struct metric_source *src, enum license_cap_scope scope,
		      int64_t after_id, int64_t before_id, uint64_t from_usec, uint64_t to_usec,
		      int (*fn)(const char *key, const char *display, double value, void *ud),
		      void *ud)
{
	const char *key, *display, *where;
	char sql[2560];
	sqlite3_stmt *st;
	int rc, r = 0;

	switch (scope) {
	case LICENSE_SCOPE_JOB:
		key = display = "u.job";
		where = " AND u.job <> ''";
		break;
	case LICENSE_SCOPE_USER:
		/* By uid: a renamed user stays one subject; the name is the latest one seen. */
		key = "u.uid";
		display = "MAX(u.user) || ' (uid ' || u.uid || ')'";
		where = "";
		break;
	case LICENSE_SCOPE_LICENSE:
		key = display = "''";
		where = "";
		break;
	case LICENSE_SCOPE_ACCOUNT:
		/* The account the batch system announced for the job (the latest run of that job
		 * id that started before the interval ended); usage outside announced jobs has
		 * none and counts for no account. */
		key = display =
			"(SELECT a.account FROM jobs_announced a WHERE a.job = u.job"
			" AND a.start_usec <= i.end_usec ORDER BY a.start_usec DESC, a.id DESC"
			" LIMIT 1)";
		where = " AND u.job <> ''";
		break;
	case LICENSE_SCOPE_PROJECT:
		/* The project the job declared (license_job_project(): its wckey, else the
		 * comment's "project=NAME"), from the latest run announced before the interval
		 * ended; usage outside a declared project counts for none. */
		key = display =
			"(SELECT CASE WHEN a.wckey <> '' THEN a.wckey WHEN a.comment LIKE"
			" 'project=%' THEN substr(a.comment, 9, CASE WHEN instr(replace(replace("
			"substr(a.comment, 9), char(9), ' '), ',', ' '), ' ') > 0 THEN instr("
			"replace(replace(substr(a.comment, 9), char(9), ' '), ',', ' '), ' ') - 1"
			" ELSE length(a.comment) END) ELSE '' END FROM jobs_announced a WHERE a.job ="
			" u.job AND a.start_usec <="
			" i.end_usec ORDER BY a.start_usec DESC, a.id DESC LIMIT 1)";
		where = " AND u.job <> ''";
		break;
	default:
		return -EOPNOTSUPP;
	}
	/* An interval counts in the period that contains its end. */
	snprintf(sql, sizeof(sql),
		 "SELECT %s, %s, SUM(u.%s) FROM %s u JOIN intervals i ON i.id = u.interval_id"
		 " WHERE i.id > ? AND i.id < ? AND i.end_usec > ? AND i.end_usec <= ?%s"
		 " GROUP BY %s HAVING COUNT(*) > 0",
		 key, display, src->column, src->table, where, key);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK && strstr(sqlite3_errmsg(db), "no such table"))
		return -EOPNOTSUPP; /* no meter of this metric has written to this ledger */
	if (rc != SQLITE_OK)
		return sqlite_to_errno(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, before_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)from_usec);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *k = sqlite3_column_text(st, 0),
				    *d = sqlite3_column_text(st, 1);

		if ((scope == LICENSE_SCOPE_ACCOUNT || scope == LICENSE_SCOPE_PROJECT) &&
		    (!k || !*k))
			continue; /* a job the batch system did not announce: no account, project */
		r = fn(k ? (const char *)k : "", d ? (const char *)d : "",
		       sqlite3_column_double(st, 2) * src->scale, ud);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_to_errno(rc);
	sqlite3_finalize(st);
	return r;
}

int usage_subject_uid(const char *subject, uint32_t *ret)
{
	/* scan_usage()'s display of LICENSE_SCOPE_USER: the name may hold anything, the uid is
	 * the last parenthesis. */
	const char *p = strrchr(subject, '(');
	unsigned long uid;
	char *end;

	if (!p || strncmp(p, "(uid ", 5) != 0 || !isdigit((unsigned char)p[5]))
		return -EINVAL;
	errno = 0;
	uid = strtoul(p + 5, &end, 10);
	if (errno || uid > UINT32_MAX || strcmp(end, ")") != 0)
		return -EINVAL;
	*ret = (uint32_t)uid;
	return 0;
}

struct direct {
	int (*fn)(const char *subject, double value, void *ud);
	void *ud;
};

static int direct_row(const char *key, const char *display, double value, void *ud)
{
	struct direct *d = ud;

	return d->fn(display, value, d->ud);
}

int ledger_query_usage(void *userdata, const char *metric, enum license_cap_scope scope,
		       uint64_t from_usec, uint64_t to_usec,
		       int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	const struct metric_source *src = source_find(metric);
	struct direct d = { fn, ud };

	if (!src)
		return -EOPNOTSUPP;
	return scan_usage(userdata, src, scope, 0, INT64_MAX, from_usec, to_usec, direct_row, &d);
}

/* ---- the incremental cache ---- */

#define CACHE_IDLE_USEC (3600 * UINT64_C(1000000))

struct subject_sum {
	char *key;
	char *display;
	double value;
};

struct cache_entry {
	struct cache_entry *next;
	const struct metric_source *src;
	enum license_cap_scope scope;
	uint64_t from_usec, to_usec; /* counted so far: intervals ending in (from, to] */
	int64_t last_id; /* every interval with id <= last_id is counted, outside the period,
			  * or pending */
	int64_t *pending; /* intervals that ended after to_usec when read (a clock set back) */
	size_t n_pending;
	uint64_t used_usec; /* last use, for forgetting entries of past periods */
	void *sums; /* tsearch tree of struct subject_sum by key */
};

struct usage_cache {
	sqlite3 *db;
	struct cache_entry *entries;
};

static int sum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct subject_sum *)a)->key, ((const struct subject_sum *)b)->key);
}

static void sum_free(void *p)
{
	struct subject_sum *s = p;

	free(s->key);
	free(s->display);
	free(s);
}

static void entry_reset(struct cache_entry *e)
{
	tdestroy(e->sums, sum_free);
	e->sums = NULL;
	e->last_id = 0;
	e->to_usec = 0;
	free(e->pending);
	e->pending = NULL;
	e->n_pending = 0;
}

static void entry_free(struct cache_entry *e)
{
	entry_reset(e);
	free(e);
}

int usage_cache_new(sqlite3 *db, struct usage_cache **ret)
{
	struct usage_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->db = db;
	*ret = c;
	return 0;
}

void usage_cache_free(struct usage_cache *c)
{
	if (!c)
		return;
	while (c->entries) {
		struct cache_entry *e = c->entries;

		c->entries = e->next;
		entry_free(e);
	}
	free(c);
}

static int add_row(const char *key, const char *display, double value, void *ud)
{
	struct cache_entry *e = ud;
	struct subject_sum k = { .key = (char *)key }, *s, **node;
	char *d;

	node = tfind(&k, &e->sums, sum_cmp);
	if (node) {
		s = *node;
		s->value += value;
		if (!streq(s->display, display) && (d = strdup(display))) {
			free(s->display);
			s->display = d;
		}
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->key = strdup(key)) || !(s->display = strdup(display))) {
		if (s)
			sum_free(s);
		return -ENOMEM;
	}
	s->value = value;
	if (!tsearch(s, &e->sums, sum_cmp)) {
		sum_free(s);
		return -ENOMEM;
	}
	return 0;
}

/* An integer from a query with up to two integer parameters; -1 when NULL or no row. */
static int query_id(sqlite3 *db, const char *sql, int n, int64_t a, int64_t b, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sqlite_to_errno(rc);
	if (n > 0)
		sqlite3_bind_int64(st, 1, a);
	if (n > 1)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	*ret = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ?
		       sqlite3_column_int64(st, 0) :
		       -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_to_errno(rc);
}

/* Reads what is new since the last call: the intervals added since (those that end after
 * to_usec wait in pending, so that a clock set back neither loses nor blocks them), and the
 * pending ones whose end has now passed. */
static int update_entry(sqlite3 *db, struct cache_entry *e, uint64_t to_usec)
{
	sqlite3_stmt *st;
	int64_t max_id;
	size_t kept = 0;
	int rc, r;

	r = query_id(db, "SELECT MAX(id) FROM intervals", 0, 0, 0, &max_id);
	if (r < 0)
		return r;
	if (max_id > e->last_id) {
		rc = sqlite3_prepare_v2(db,
					"SELECT id FROM intervals WHERE id > ? AND id <= ?"
					" AND end_usec > ?",
					-1, &st, NULL);
		if (rc != SQLITE_OK)
			return sqlite_to_errno(rc);
		sqlite3_bind_int64(st, 1, e->last_id);
		sqlite3_bind_int64(st, 2, max_id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)to_usec);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t *p = reallocarray(e->pending, e->n_pending + 1, sizeof(*p));

			if (!p) {
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			e->pending = p;
			e->pending[e->n_pending++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sqlite_to_errno(rc);
		r = scan_usage(db, e->src, e->scope, e->last_id, max_id + 1, e->from_usec, to_usec,
			       add_row, e);
		if (r < 0)
			return r;
		e->last_id = max_id;
	}
	/* Pending intervals: counted once their end is within (from, to]. Those read in this
	 * very call end after to_usec and stay. */
	for (size_t i = 0; i < e->n_pending; i++) {
		int64_t id = e->pending[i], end = -1;

		r = query_id(db, "SELECT end_usec FROM intervals WHERE id = ?", 1, id, 0, &end);
		if (r < 0)
			return r;
		if (end > (int64_t)to_usec) {
			e->pending[kept++] = id;
			continue;
		}
		r = scan_usage(db, e->src, e->scope, id - 1, id + 1, e->from_usec, to_usec, add_row,
			       e);
		if (r < 0)
			return r;
	}
	e->n_pending = kept;
	e->to_usec = to_usec;
	return 0;
}

struct visit_ctx {
	int (*fn)(const char *subject, double value, void *ud);
	void *ud;
	int r;
};

static void visit_sum(const void *node, VISIT which, void *closure)
{
	struct visit_ctx *v = closure;
	const struct subject_sum *s = *(const struct subject_sum *const *)node;

	if ((which == postorder || which == leaf) && v->r >= 0)
		v->r = v->fn(s->display, s->value, v->ud);
}

int usage_cache_query(void *userdata, const char *metric, enum license_cap_scope scope,
		      uint64_t from_usec, uint64_t to_usec,
		      int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	struct usage_cache *c = userdata;
	const struct metric_source *src = source_find(metric);
	struct cache_entry *e, **pe;
	struct visit_ctx v = { fn, ud, 0 };
	struct timespec ts;
	uint64_t now;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (!src)
		return -EOPNOTSUPP;
	if (scope != LICENSE_SCOPE_JOB && scope != LICENSE_SCOPE_USER &&
	    scope != LICENSE_SCOPE_LICENSE && scope != LICENSE_SCOPE_ACCOUNT &&
	    scope != LICENSE_SCOPE_PROJECT)
		return -EOPNOTSUPP;
	/* Forget the sums of periods nobody asked about for an hour. */
	for (pe = &c->entries; (e = *pe);) {
		if (now - e->used_usec > CACHE_IDLE_USEC) {
			*pe = e->next;
			entry_free(e);
		} else {
			pe = &e->next;
		}
	}
	for (e = c->entries; e; e = e->next)
		if (e->src == src && e->scope == scope && e->from_usec == from_usec)
			break;
	if (e && to_usec < e->to_usec)
		entry_reset(e); /* asked about an earlier moment than before: count afresh */
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->src = src;
		e->scope = scope;
		e->from_usec = from_usec;
		e->next = c->entries;
		c->entries = e;
	}
	e->used_usec = now;

	r = update_entry(c->db, e, to_usec);
	if (r < 0) {
		/* A partial batch must not be counted twice: start this entry again. */
		entry_reset(e);
		return r;
	}
	twalk_r(e->sums, visit_sum, &v);
	return v.r < 0 ? v.r : 0;
}

int ledger_query_execs(sqlite3 *db, uint64_t since_usec,
		       int (*fn)(uint64_t time_usec, uint32_t pid, uint32_t uid, const char *exe,
				 const char *cgroup, uint64_t count, void *ud),
		       void *ud)
{
	/* Execs are counted per interval and executable from schema version 5 on
	 * (process_counts); the single rows of process_events are those of earlier versions and
	 * of process_records = all. The evidence rows (process_evidence) are counted already. */
	static const char both[] =
		"SELECT i.start_usec, 0, c.uid, c.executable, c.cgroup, c.execs"
		" FROM process_counts c JOIN intervals i ON i.id = c.interval_id"
		" WHERE c.execs > 0 AND i.end_usec > ?1"
		" UNION ALL SELECT time_usec, pid, uid, executable, cgroup, 1 FROM process_events"
		" WHERE event = 'exec' AND time_usec >= ?1 ORDER BY 1";
	static const char old[] = "SELECT time_usec, pid, uid, executable, cgroup, 1"
				  " FROM process_events WHERE event = 'exec' AND time_usec >= ?1"
				  " ORDER BY id";
	sqlite3_stmt *st;
	int rc, r = 0;

	/* A ledger the daemon has not migrated yet (read-only here) has no process_counts. */
	rc = sqlite3_prepare_v2(db, both, -1, &st, NULL);
	if (rc != SQLITE_OK)
		rc = sqlite3_prepare_v2(db, old, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_to_errno(rc);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *exe = sqlite3_column_text(st, 3),
				    *cg = sqlite3_column_text(st, 4);

		r = fn(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		       sqlite3_column_int64(st, 2), exe ? (const char *)exe : "",
		       cg ? (const char *)cg : "", sqlite3_column_int64(st, 5), ud);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_to_errno(rc);
	sqlite3_finalize(st);
	return r;
}
