// SPDX-License-Identifier: GPL-2.0-only
/* A licence's usage over a period, from the ledger, signed with the node's Ed25519 key: the one
 * report generator, for hpcmeterctl report (tools/ctl-report.c) and hpcmeterd's GetReport.
 *
 * Signed bytes: the whole report, exactly as written. The signature is detached (64 raw bytes
 * beside it), so that anyone can check it with a stock tool (openssl pkeyutl -verify -rawin).
 * JSON is written through json-c with one member, and one record of each list, per line. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attribute.h"
#include "csv.h"
#include "json-doc.h"
#include "ledger-chain.h"
#include "ledger.h"
#include "report.h"
#include "sign.h"
#include "util.h"

#define DAY_USEC (86400 * USEC_PER_SEC)

struct job_row {
	char *job, *cgroup, *user, *account;
	uint32_t uid;
	uint64_t cpu_ns, first_usec, last_usec;
};

struct sum_row {
	char *key; /* user or account */
	uint32_t uid;
	uint64_t cpu_ns;
	size_t jobs;
};

struct report {
	sqlite3 *db;
	const char *license_id;
	uint64_t from_usec, to_usec;
	enum format fmt;
	FILE *f;
	struct job_row *jobs;
	size_t n_jobs;
	struct sum_row *users, *accounts;
	size_t n_users, n_accounts;
	uint64_t total_cpu_ns, n_violations, n_gaps, gap_bound_cpu_ns;
	char key_id[65];
	char prev_sha[65];
	uint64_t chain_seq;
	char chain_head[2 * CHAIN_HASH_LEN + 1];
	void (*progress)(const char *what, uint64_t done, uint64_t total);
	const char *phase;
	uint64_t steps;
	struct json_object *doc; /* FMT_JSON: the report's object, built section by section */
	int json_error; /* the first failure to build it (-ENOMEM) */
};

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

static int progress_handler(void *userdata)
{
	struct report *r = userdata;

	r->progress(r->phase, ++r->steps, 0);
	return 0;
}

static void phase(struct report *r, const char *what)
{
	r->phase = what;
	if (r->progress)
		r->progress(what, r->steps, 0);
}

/* ---- output helpers ---- */

/* Nanoseconds as seconds with all nine decimals, exactly (never through a double). */
static const char *seconds_text(uint64_t ns, char buf[32])
{
	snprintf(buf, 32, "%" PRIu64 ".%09" PRIu64, ns / (uint64_t)NSEC_PER_SEC,
		 ns % (uint64_t)NSEC_PER_SEC);
	return buf;
}

static struct json_object *json_seconds(uint64_t ns)
{
	char buf[32];

	return json_new_number_text((double)ns / (double)NSEC_PER_SEC, seconds_text(ns, buf));
}

/* Remember the first failure to build the JSON document; building goes on, the result is
 * dropped. */
static void jcheck(struct report *r, int rc)
{
	if (rc < 0 && !r->json_error)
		r->json_error = rc;
}

/* A new array under key in o (NULL when that failed: jcheck() has it). */
static struct json_object *jarray(struct report *r, struct json_object *o, const char *key)
{
	struct json_object *a;
	int rc;

	if (!o)
		return NULL;
	a = json_object_new_array();
	rc = json_add(o, key, a);

	jcheck(r, rc);
	return rc < 0 ? NULL : a;
}

/* A new object under key in o, or NULL. */
static struct json_object *jobject(struct report *r, struct json_object *o, const char *key)
{
	struct json_object *v;
	int rc;

	if (!o)
		return NULL;
	v = json_object_new_object();
	rc = json_add(o, key, v);
	jcheck(r, rc);
	return rc < 0 ? NULL : v;
}

/* A new object appended to array a, or NULL. */
static struct json_object *jrow(struct report *r, struct json_object *a)
{
	struct json_object *o;

	if (!a)
		return NULL;
	o = json_object_new_object();
	if (json_append(a, o) < 0) {
		jcheck(r, -ENOMEM);
		return NULL;
	}
	return o;
}

static void jstr(struct report *r, struct json_object *o, const char *key, const char *s)
{
	if (o)
		jcheck(r, json_add_string(o, key, s));
}

static void jint(struct report *r, struct json_object *o, const char *key, int64_t v)
{
	if (o)
		jcheck(r, json_add_int(o, key, v));
}

static void juint(struct report *r, struct json_object *o, const char *key, uint64_t v)
{
	if (o)
		jcheck(r, json_add_uint(o, key, v));
}

static void jsec(struct report *r, struct json_object *o, const char *key, uint64_t ns)
{
	if (o)
		jcheck(r, json_add(o, key, json_seconds(ns)));
}

static const char *iso(uint64_t usec, char buf[32])
{
	time_t t = usec / USEC_PER_SEC;
	struct tm tm;

	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return buf;
}

/* ---- reading the ledger ---- */

static int db_error(struct report *r, const char *what)
{
	log_error("cannot read %s from the ledger: %s", what, sqlite3_errmsg(r->db));
	return -EIO;
}

static struct sum_row *sum_add(struct sum_row **rows, size_t *n, const char *key, uint32_t uid,
			       uint64_t cpu_ns)
{
	struct sum_row *s;

	for (size_t i = 0; i < *n; i++)
		if (streq((*rows)[i].key, key) && (*rows)[i].uid == uid) {
			(*rows)[i].cpu_ns += cpu_ns;
			(*rows)[i].jobs++;
			return &(*rows)[i];
		}
	s = realloc(*rows, (*n + 1) * sizeof(*s));
	if (!s)
		return NULL;
	*rows = s;
	s = &s[(*n)++];
	*s = (struct sum_row){ .key = strdup(key), .uid = uid, .cpu_ns = cpu_ns, .jobs = 1 };
	return s->key ? s : NULL;
}

/* Usage is summed per (job, cgroup, uid) in a hash table while scanning: SQLite's GROUP BY
 * sorts millions of rows, which costs several times the scan. */
struct agg {
	struct job_row **slots;
	size_t n_slots;
	struct report *r;
	size_t cap;
};

struct job_acc {
	int64_t min_interval, max_interval; /* of the per-interval rows, 0: none */
};

static uint64_t row_hash(const char *job, const char *cgroup, uint32_t uid)
{
	uint64_t h = 1469598103934665603ULL ^ uid;

	for (const char *p = job; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = cgroup; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static struct job_acc *accs; /* parallel to r->jobs */

static int agg_grow(struct agg *a)
{
	size_t n = a->n_slots ? a->n_slots * 2 : 4096;
	struct job_row **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_slots; i++) {
		struct job_row *j = a->slots[i];
		size_t k;

		if (!j)
			continue;
		for (k = row_hash(j->job, j->cgroup, j->uid) & (n - 1); slots[k];
		     k = (k + 1) & (n - 1))
			;
		slots[k] = j;
	}
	free(a->slots);
	a->slots = slots;
	a->n_slots = n;
	return 0;
}

/* The entry of (job, cgroup, uid), created when new. Entries live in r->jobs, which may move:
 * the table is rebuilt from it after a move. */
static ssize_t agg_find(struct agg *a, const char *job, const char *cgroup, uint32_t uid,
			const char *user)
{
	struct report *r = a->r;
	size_t k;

	if (!a->n_slots || r->n_jobs * 2 >= a->n_slots) {
		if (agg_grow(a) < 0)
			return -ENOMEM;
	}
	for (k = row_hash(job, cgroup, uid) & (a->n_slots - 1); a->slots[k];
	     k = (k + 1) & (a->n_slots - 1)) {
		struct job_row *j = a->slots[k];

		if (j->uid == uid && streq(j->job, job) && streq(j->cgroup, cgroup))
			return j - r->jobs;
	}
	if (r->n_jobs == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;
		struct job_row *jobs = realloc(r->jobs, cap * sizeof(*jobs));
		struct job_acc *ac = realloc(accs, cap * sizeof(*ac));

		if (!jobs || !ac) {
			if (jobs)
				r->jobs = jobs;
			if (ac)
				accs = ac;
			return -ENOMEM;
		}
		r->jobs = jobs;
		accs = ac;
		a->cap = cap;
		/* Pointers into the old array: rebuild. */
		memset(a->slots, 0, a->n_slots * sizeof(*a->slots));
		for (size_t i = 0; i < r->n_jobs; i++) {
			struct job_row *j = &r->jobs[i];

			for (k = row_hash(j->job, j->cgroup, j->uid) & (a->n_slots - 1);
			     a->slots[k]; k = (k + 1) & (a->n_slots - 1))
				;
			a->slots[k] = j;
		}
		for (k = row_hash(job, cgroup, uid) & (a->n_slots - 1); a->slots[k];
		     k = (k + 1) & (a->n_slots - 1))
			;
	}
	struct job_row *j = &r->jobs[r->n_jobs];

	*j = (struct job_row){ .job = strdup(job),
			       .cgroup = strdup(cgroup),
			       .user = strdup(user),
			       .uid = uid,
			       .first_usec = UINT64_MAX };
	accs[r->n_jobs] = (struct job_acc){ 0 };
	if (!j->job || !j->cgroup || !j->user) {
		free(j->job);
		free(j->cgroup);
		free(j->user);
		return -ENOMEM;
	}
	a->slots[k] = j;
	return r->n_jobs++;
}

static int job_cmp(const void *x, const void *y)
{
	const struct job_row *a = x, *b = y;
	int c = strcmp(a->job, b->job);

	if (!c)
		c = strcmp(a->cgroup, b->cgroup);
	if (!c)
		c = a->uid < b->uid ? -1 : a->uid > b->uid;
	return c;
}

static int64_t query_i64(struct report *r, const char *sql, int64_t arg1, int64_t arg2)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, arg1);
	sqlite3_bind_int64(st, 2, arg2);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int read_jobs(struct report *r)
{
	struct agg a = { .r = r };
	sqlite3_stmt *st;
	int64_t lo, hi, total;
	int rc, ret = 0;

	phase(r, "reading usage");
	/* The intervals of the period are a range of ids (they are written in time order). */
	lo = query_i64(r, "SELECT MIN(id) FROM intervals WHERE end_usec > ?1 AND start_usec < ?2",
		       (int64_t)r->from_usec, (int64_t)r->to_usec);
	hi = query_i64(r, "SELECT MAX(id) FROM intervals WHERE end_usec > ?1 AND start_usec < ?2",
		       (int64_t)r->from_usec, (int64_t)r->to_usec);
	total = query_i64(r, "SELECT COUNT(*) FROM intervals", 0, 0);
	if (lo > 0 && hi >= lo) {
		/* Most of the ledger: one pass over the table beats an index walk. */
		rc = sqlite3_prepare_v2(
			r->db,
			(hi - lo) * 4 > total ?
				"SELECT u.interval_id, u.job, u.cgroup, u.uid, u.user,"
				" u.cpu_ns FROM usage u WHERE +u.interval_id BETWEEN ?1 AND ?2" :
				"SELECT u.interval_id, u.job, u.cgroup, u.uid, u.user,"
				" u.cpu_ns FROM usage u WHERE u.interval_id BETWEEN ?1 AND ?2",
			-1, &st, NULL);
		if (rc != SQLITE_OK)
			return db_error(r, "usage");
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, hi);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t iid = sqlite3_column_int64(st, 0);
			ssize_t i = agg_find(&a, col(st, 1), col(st, 2),
					     sqlite3_column_int64(st, 3), col(st, 4));

			if (i < 0) {
				ret = -ENOMEM;
				break;
			}
			r->jobs[i].cpu_ns += sqlite3_column_int64(st, 5);
			if (!accs[i].min_interval || iid < accs[i].min_interval)
				accs[i].min_interval = iid;
			if (iid > accs[i].max_interval)
				accs[i].max_interval = iid;
		}
		sqlite3_finalize(st);
		if (ret == 0 && rc != SQLITE_DONE)
			ret = db_error(r, "usage");
	}
	/* Days that retention rolled up. */
	if (ret == 0) {
		rc = sqlite3_prepare_v2(
			r->db,
			"SELECT job, cgroup, uid, user, cpu_ns,"
			" CAST((julianday(day) - 2440587.5) * 86400 AS INTEGER) * 1000000"
			" FROM usage_daily WHERE day >= strftime('%Y-%m-%d', ?1 / 1000000, 'unixepoch')"
			" AND day < strftime('%Y-%m-%d', (?2 + 86399999999) / 1000000, 'unixepoch')",
			-1, &st, NULL);
		if (rc != SQLITE_OK)
			return db_error(r, "daily usage");
		sqlite3_bind_int64(st, 1, (sqlite3_int64)r->from_usec);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			ssize_t i = agg_find(&a, col(st, 0), col(st, 1),
					     sqlite3_column_int64(st, 2), col(st, 3));
			uint64_t day = sqlite3_column_int64(st, 5);

			if (i < 0) {
				ret = -ENOMEM;
				break;
			}
			r->jobs[i].cpu_ns += sqlite3_column_int64(st, 4);
			if (day < r->jobs[i].first_usec)
				r->jobs[i].first_usec = day;
			if (day + DAY_USEC > r->jobs[i].last_usec)
				r->jobs[i].last_usec = day + DAY_USEC;
		}
		sqlite3_finalize(st);
		if (ret == 0 && rc != SQLITE_DONE)
			ret = db_error(r, "daily usage");
	}
	free(a.slots);
	if (ret < 0)
		return ret;
	/* First and last use from the intervals' times. */
	rc = sqlite3_prepare_v2(r->db, "SELECT start_usec, end_usec FROM intervals WHERE id = ?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "intervals");
	for (size_t i = 0; i < r->n_jobs; i++) {
		struct job_row *j = &r->jobs[i];

		if (accs[i].min_interval) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, accs[i].min_interval);
			if (sqlite3_step(st) == SQLITE_ROW &&
			    (uint64_t)sqlite3_column_int64(st, 0) < j->first_usec)
				j->first_usec = sqlite3_column_int64(st, 0);
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, accs[i].max_interval);
			if (sqlite3_step(st) == SQLITE_ROW &&
			    (uint64_t)sqlite3_column_int64(st, 1) > j->last_usec)
				j->last_usec = sqlite3_column_int64(st, 1);
		}
		if (j->first_usec == UINT64_MAX)
			j->first_usec = 0;
	}
	sqlite3_finalize(st);
	free(accs);
	accs = NULL;
	if (r->n_jobs) /* qsort() of NULL is undefined, even of 0 elements */
		qsort(r->jobs, r->n_jobs, sizeof(*r->jobs), job_cmp);

	/* The account of each job, where the scheduler told it (the prolog's announcement). */
	rc = sqlite3_prepare_v2(
		r->db,
		"SELECT account FROM jobs WHERE job = ?1 AND cgroup = ?2 AND uid = ?3"
		" AND account != '' UNION ALL SELECT account FROM jobs_announced"
		" WHERE job = ?1 AND account != '' LIMIT 1",
		-1, &st, NULL);
	if (rc != SQLITE_OK) /* a ledger without jobs_announced */
		rc = sqlite3_prepare_v2(
			r->db,
			"SELECT account FROM jobs WHERE job = ?1 AND cgroup = ?2 AND uid = ?3", -1,
			&st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "jobs");
	for (size_t i = 0; i < r->n_jobs; i++) {
		struct job_row *j = &r->jobs[i];

		if (!j->job || !j->cgroup || !j->user)
			return -ENOMEM;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, j->job, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->cgroup, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, j->uid);
		j->account = strdup(sqlite3_step(st) == SQLITE_ROW ? col(st, 0) : "");
		if (!j->account)
			return -ENOMEM;
		r->total_cpu_ns += j->cpu_ns;
		if (!sum_add(&r->users, &r->n_users, j->user, j->uid, j->cpu_ns) ||
		    !sum_add(&r->accounts, &r->n_accounts, j->account, 0, j->cpu_ns))
			return -ENOMEM;
	}
	sqlite3_finalize(st);
	return 0;
}

static int read_license(struct report *r, struct json_object *events, char *first_sha, size_t size)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	rc = sqlite3_prepare_v2(r->db,
				"SELECT time_usec, event, file, sha256 FROM licenses"
				" WHERE license_id = ? AND time_usec < ? ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "licences");
	sqlite3_bind_text(st, 1, r->license_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
	first_sha[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char t[32];

		if (!n++)
			snprintf(first_sha, size, "%s", col(st, 3));
		if (r->fmt == FMT_JSON) {
			struct json_object *o = jrow(r, events);

			jint(r, o, "time_usec", sqlite3_column_int64(st, 0));
			jstr(r, o, "time", iso(sqlite3_column_int64(st, 0), t));
			jstr(r, o, "event", col(st, 1));
			jstr(r, o, "file", col(st, 2));
			jstr(r, o, "sha256", col(st, 3));
		} else if (r->fmt == FMT_CSV) {
			fprintf(r->f, "license_event,%lld,%s,",
				(long long)sqlite3_column_int64(st, 0), col(st, 1));
			csv_field(r->f, col(st, 2));
			fprintf(r->f, ",%s\n", col(st, 3));
		} else {
			fprintf(r->f, "  %s  %-9s %s  %s\n", iso(sqlite3_column_int64(st, 0), t),
				col(st, 1), col(st, 3), col(st, 2));
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : db_error(r, "licences");
}

static int meta(struct report *r, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	int rc;

	out[0] = '\0';
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(r, "meta");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, size, "%s", col(st, 0));
	sqlite3_finalize(st);
	return 0;
}

/* ---- sections ---- */

static void emit_jobs(struct report *r)
{
	struct json_object *rows = r->fmt == FMT_JSON ? jarray(r, r->doc, "jobs") : NULL;
	char a[32], b[32], sec[32];

	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct job_row *j = &r->jobs[i];

		if (r->fmt == FMT_JSON) {
			struct json_object *o = jrow(r, rows);

			jstr(r, o, "job", j->job);
			jstr(r, o, "cgroup", j->cgroup);
			juint(r, o, "uid", j->uid);
			jstr(r, o, "user", j->user);
			jstr(r, o, "account", j->account);
			jsec(r, o, "cpu_seconds", j->cpu_ns);
			juint(r, o, "first_usec", j->first_usec);
			juint(r, o, "last_usec", j->last_usec);
		} else if (r->fmt == FMT_CSV) {
			fputs("job,", r->f);
			csv_field(r->f, j->job);
			fputc(',', r->f);
			csv_field(r->f, j->cgroup);
			fprintf(r->f, ",%u,", j->uid);
			csv_field(r->f, j->user);
			fputc(',', r->f);
			csv_field(r->f, j->account);
			fprintf(r->f, ",%s,%llu,%llu\n", seconds_text(j->cpu_ns, sec),
				(unsigned long long)j->first_usec,
				(unsigned long long)j->last_usec);
		} else {
			fprintf(r->f, "  %-10s %-8s %-12s %14.3f  %s .. %s  %s\n",
				j->job[0] ? j->job : "-", j->user, j->account[0] ? j->account : "-",
				j->cpu_ns / 1e9, iso(j->first_usec, a), iso(j->last_usec, b),
				j->cgroup);
		}
	}
}

/* What ran in each job: execs per executable (and SHA-256 where the daemon took it), with the
 * CPU time its processes used where the ledger counts it (schema 5 on: process_counts; the
 * single exec records of earlier ledgers give the count only). */
struct exe_row {
	char job[32];
	char *exe, *sha;
	uint64_t execs, cpu_ns;
	bool cpu_known;
};

static int exe_cmp(const void *x, const void *y)
{
	const struct exe_row *a = x, *b = y;
	int c = strcmp(a->job, b->job);

	if (c)
		return c;
	c = strcmp(a->exe, b->exe);
	return c ? c : strcmp(a->sha, b->sha);
}

#define EXECUTABLES_SQL                                                                \
	"SELECT 1, c.job, c.executable, c.exe_sha256, SUM(c.execs), SUM(c.cpu_ns)"     \
	" FROM process_counts c JOIN intervals i ON i.id = c.interval_id"              \
	" WHERE i.end_usec > ?1 AND i.start_usec < ?2"                                 \
	" GROUP BY c.job, c.executable, c.exe_sha256"                                  \
	" HAVING SUM(c.execs) > 0 OR SUM(c.cpu_ns) > 0"                                \
	" UNION ALL SELECT 0, cgroup, executable, '', COUNT(*), 0 FROM process_events" \
	" WHERE event = 'exec' AND time_usec >= ?1 AND time_usec < ?2 GROUP BY cgroup, executable"
/* A ledger before schema 5 has no process_counts. */
#define EXECUTABLES_OLD_SQL                                                 \
	"SELECT 0, cgroup, executable, '', COUNT(*), 0 FROM process_events" \
	" WHERE event = 'exec' AND time_usec >= ?1 AND time_usec < ?2 GROUP BY cgroup, executable"

static int emit_executables(struct report *r)
{
	struct json_object *list = r->fmt == FMT_JSON ? jarray(r, r->doc, "executables") : NULL;
	struct exe_row *rows = NULL;
	size_t n = 0, cap = 0, out = 0;
	sqlite3_stmt *st;
	char sec[32];
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(r->db, EXECUTABLES_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		rc = sqlite3_prepare_v2(r->db, EXECUTABLES_OLD_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "executables");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->from_usec);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct exe_row *e;

		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			e = reallocarray(rows, cap, sizeof(*rows));
			if (!e) {
				ret = -ENOMEM;
				break;
			}
			rows = e;
		}
		e = &rows[n];
		*e = (struct exe_row){
			.execs = sqlite3_column_int64(st, 4),
			.cpu_ns = sqlite3_column_int64(st, 5),
			.cpu_known = sqlite3_column_int(st, 0) == 1,
		};
		if (e->cpu_known)
			snprintf(e->job, sizeof(e->job), "%s", col(st, 1));
		else /* the single records name the cgroup: its Slurm job */
			slurm_job_from_cgroup(col(st, 1), e->job, sizeof(e->job));
		e->exe = strdup(col(st, 2));
		e->sha = strdup(col(st, 3));
		if (!e->exe || !e->sha) {
			free(e->exe);
			free(e->sha);
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (ret == 0 && rc != SQLITE_DONE)
		ret = db_error(r, "executables");
	if (n)
		qsort(rows, n, sizeof(*rows), exe_cmp);
	/* One row per (job, executable, digest): both sources, and cgroups of one job, merged. */
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (out && exe_cmp(&rows[out - 1], &rows[i]) == 0) {
			rows[out - 1].execs += rows[i].execs;
			rows[out - 1].cpu_ns += rows[i].cpu_ns;
			rows[out - 1].cpu_known |= rows[i].cpu_known;
			free(rows[i].exe);
			free(rows[i].sha);
			continue;
		}
		rows[out++] = rows[i];
	}
	if (ret < 0)
		out = n;
	for (size_t i = 0; ret == 0 && i < out; i++) {
		const struct exe_row *e = &rows[i];

		if (r->fmt == FMT_JSON) {
			struct json_object *o = jrow(r, list);

			jstr(r, o, "job", e->job);
			jstr(r, o, "executable", e->exe);
			jstr(r, o, "exe_sha256", e->sha);
			juint(r, o, "execs", e->execs);
			if (e->cpu_known)
				jsec(r, o, "cpu_seconds", e->cpu_ns);
			else
				jcheck(r, json_add_null(o, "cpu_seconds"));
		} else if (r->fmt == FMT_CSV) {
			fputs("executable,", r->f);
			csv_field(r->f, e->job);
			fputc(',', r->f);
			csv_field(r->f, e->exe);
			fprintf(r->f, ",%s,%llu,%s\n", e->sha, (unsigned long long)e->execs,
				e->cpu_known ? seconds_text(e->cpu_ns, sec) : "");
		} else {
			fprintf(r->f, "  %-10s %8llu execs  %s%s%s\n", e->job[0] ? e->job : "-",
				(unsigned long long)e->execs, e->exe, e->sha[0] ? "  sha256:" : "",
				e->sha);
		}
	}
	for (size_t i = 0; i < out; i++) {
		free(rows[i].exe);
		free(rows[i].sha);
	}
	free(rows);
	if (ret == 0 && out == 0 && r->fmt == FMT_TABLE)
		fputs("  (no exec recorded)\n", r->f);
	return ret;
}

/* kind: "user" or "account"; the JSON list is named kind + "s" */
static void emit_sums(struct report *r, const struct sum_row *rows, size_t n, const char *kind)
{
	struct json_object *list = NULL;
	char sec[32];

	if (r->fmt == FMT_JSON)
		list = jarray(r, r->doc, streq(kind, "user") ? "users" : "accounts");
	for (size_t i = 0; i < n; i++) {
		if (r->fmt == FMT_JSON) {
			struct json_object *o = jrow(r, list);

			jstr(r, o, kind, rows[i].key);
			if (streq(kind, "user"))
				juint(r, o, "uid", rows[i].uid);
			juint(r, o, "jobs", rows[i].jobs);
			jsec(r, o, "cpu_seconds", rows[i].cpu_ns);
		} else if (r->fmt == FMT_CSV) {
			fprintf(r->f, "%s,", kind);
			csv_field(r->f, rows[i].key);
			fprintf(r->f, ",%u,%zu,%s\n", rows[i].uid, rows[i].jobs,
				seconds_text(rows[i].cpu_ns, sec));
		} else {
			fprintf(r->f, "  %-20s %6zu jobs %14.3f CPU seconds\n",
				rows[i].key[0] ? rows[i].key : "(unknown)", rows[i].jobs,
				rows[i].cpu_ns / 1e9);
		}
	}
}

static int emit_metrics(struct report *r)
{
	struct json_object *list = r->fmt == FMT_JSON ? jarray(r, r->doc, "metrics") : NULL;
	char num[JSON_DOUBLE_MAX];
	sqlite3_stmt *st;
	int rc, n = 0;

	/* Metrics of other meters (usage_metrics) and the GPU meter's columns, as rows. */
	rc = sqlite3_prepare_v2(
		r->db,
		"SELECT job, account, uid, metric, SUM(value) FROM ("
		" SELECT m.job AS job, m.account AS account, m.uid AS uid, m.metric AS metric,"
		"  m.value AS value FROM usage_metrics m JOIN intervals i ON i.id = m.interval_id"
		"  WHERE i.end_usec > ?1 AND i.start_usec < ?2"
		" UNION ALL"
		" SELECT g.job, '', g.uid, k.column1, CASE k.column1"
		"  WHEN 'gpu_seconds' THEN g.gpu_ns / 1e9 WHEN 'tpp_seconds' THEN g.tpp_seconds"
		"  WHEN 'ops_upper' THEN g.ops_upper WHEN 'ops_lower' THEN g.ops_lower"
		"  WHEN 'launches' THEN g.launches WHEN 'threads_launched' THEN g.threads_launched"
		"  WHEN 'graph_launches' THEN g.graph_launches WHEN 'bytes_alloc' THEN g.bytes_alloc"
		"  WHEN 'bytes_h2d' THEN g.bytes_h2d ELSE g.dev_opens END"
		"  FROM gpu_usage g JOIN intervals i ON i.id = g.interval_id,"
		"  (VALUES ('gpu_seconds'), ('tpp_seconds'), ('ops_upper'), ('ops_lower'),"
		"   ('launches'), ('threads_launched'), ('graph_launches'), ('bytes_alloc'),"
		"   ('bytes_h2d'), ('dev_opens')) k"
		"  WHERE i.end_usec > ?1 AND i.start_usec < ?2)"
		" GROUP BY 1, 2, 3, 4 HAVING SUM(value) != 0 ORDER BY 1, 2, 3, 4",
		-1, &st, NULL);
	if (rc != SQLITE_OK) /* a ledger without gpu_usage */
		rc = sqlite3_prepare_v2(
			r->db,
			"SELECT m.job, m.account, m.uid, m.metric, SUM(m.value)"
			" FROM usage_metrics m JOIN intervals i ON i.id = m.interval_id"
			" WHERE i.end_usec > ? AND i.start_usec < ?"
			" GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
			-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "metrics");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->from_usec);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->fmt == FMT_JSON) {
			struct json_object *o = jrow(r, list);

			jstr(r, o, "job", col(st, 0));
			jstr(r, o, "account", col(st, 1));
			jint(r, o, "uid", sqlite3_column_int64(st, 2));
			jstr(r, o, "metric", col(st, 3));
			if (o)
				jcheck(r,
				       json_add_double(o, "value", sqlite3_column_double(st, 4)));
		} else if (r->fmt == FMT_CSV) {
			fputs("metric,", r->f);
			csv_field(r->f, col(st, 0));
			fputc(',', r->f);
			csv_field(r->f, col(st, 1));
			fprintf(r->f, ",%lld,", (long long)sqlite3_column_int64(st, 2));
			csv_field(r->f, col(st, 3));
			fprintf(r->f, ",%s\n", json_double_text(sqlite3_column_double(st, 4), num));
		} else {
			fprintf(r->f, "  %-10s %-12s %-20s %.6g\n", col(st, 0), col(st, 1),
				col(st, 3), sqlite3_column_double(st, 4));
			n++;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : db_error(r, "metrics");
}

/* The row st is on: a JSON object of its ncols columns named names (integers as numbers, the
 * rest as strings) appended to list, or a CSV line of them tagged kind. */
static void emit_record(struct report *r, sqlite3_stmt *st, const char *kind,
			const char *const *names, int ncols, struct json_object *list)
{
	if (r->fmt == FMT_JSON) {
		struct json_object *o = jrow(r, list);

		for (int i = 0; i < ncols; i++)
			if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
				jint(r, o, names[i], sqlite3_column_int64(st, i));
			else
				jstr(r, o, names[i], col(st, i));
		return;
	}
	fputs(kind, r->f);
	for (int i = 0; i < ncols; i++) {
		fputc(',', r->f);
		csv_field(r->f, col(st, i));
	}
	fputc('\n', r->f);
}

static int emit_violations(struct report *r)
{
	struct json_object *list = r->fmt == FMT_JSON ? jarray(r, r->doc, "violations") : NULL;
	sqlite3_stmt *st;
	int rc;
	char t[32];

	rc = sqlite3_prepare_v2(
		r->db,
		"SELECT seq, time_usec, kind, pid, uid, user, executable, cgroup, job,"
		" detail FROM violations WHERE license_id = ? AND time_usec >= ?"
		" AND time_usec < ? ORDER BY seq",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "violations");
	sqlite3_bind_text(st, 1, r->license_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->from_usec);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		static const char *const names[] = {
			"seq",	"time_usec",  "kind",	"pid", "uid",
			"user", "executable", "cgroup", "job", "detail"
		};

		if (r->fmt != FMT_TABLE) {
			emit_record(r, st, "violation", names, ARRAY_SIZE(names), list);
		} else {
			fprintf(r->f, "  #%-5s %s %-22s uid %-6s %s: %s\n", col(st, 0),
				iso(sqlite3_column_int64(st, 1), t), col(st, 2), col(st, 4),
				col(st, 6), col(st, 9));
		}
		r->n_violations++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(r, "violations");
}

static int emit_gaps(struct report *r)
{
	struct json_object *list = r->fmt == FMT_JSON ? jarray(r, r->doc, "gaps") : NULL;
	sqlite3_stmt *st;
	int rc;
	char a[32], b[32];

	rc = sqlite3_prepare_v2(
		r->db,
		"SELECT id, cause, start_usec, end_usec, boot_id, detail, bound_cpu_ns,"
		" bound_devices, bound, policy FROM gaps WHERE end_usec > ?"
		" AND start_usec < ? ORDER BY id",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(r, "gaps");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->from_usec);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		static const char *const names[] = { "id",	     "cause",	      "start_usec",
						     "end_usec",     "boot_id",	      "detail",
						     "bound_cpu_ns", "bound_devices", "bound",
						     "policy" };

		r->gap_bound_cpu_ns += sqlite3_column_int64(st, 6);
		if (r->fmt != FMT_TABLE) {
			emit_record(r, st, "gap", names, ARRAY_SIZE(names), list);
		} else {
			fprintf(r->f,
				"  #%-5s %-15s %s .. %s  bound %.1f CPU s, %s devices (%s): %s\n",
				col(st, 0), col(st, 1), iso(sqlite3_column_int64(st, 2), a),
				iso(sqlite3_column_int64(st, 3), b),
				sqlite3_column_int64(st, 6) / 1e9, col(st, 7), col(st, 9),
				col(st, 5));
		}
		r->n_gaps++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(r, "gaps");
}

static int emit_rows(struct report *r, const char *sql, const char *kind, int ncols,
		     const char *const *names, struct json_object *list)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(r, kind);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->from_usec);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->to_usec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->fmt != FMT_TABLE) {
			emit_record(r, st, kind, names, ncols, list);
		} else {
			fputs(" ", r->f);
			for (int i = 0; i < ncols; i++)
				fprintf(r->f, " %s", col(st, i));
			fputc('\n', r->f);
		}
		n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : db_error(r, kind);
}

static const char *const meter_state_cols[] = { "time_usec", "meter", "state", "detail" };
#define METER_STATES_SQL                                                                    \
	"SELECT time_usec, meter, state, detail FROM meter_states WHERE time_usec < ?2 AND" \
	" time_usec >= COALESCE((SELECT MAX(time_usec) FROM meter_states WHERE"             \
	" time_usec <= ?1), 0) ORDER BY id"
static const char *const inventory_cols[] = { "time_usec", "source", "snapshot" };
#define INVENTORY_SQL                                                                          \
	"SELECT time_usec, source, snapshot FROM inventory WHERE time_usec < ?2 AND"           \
	" time_usec >= COALESCE((SELECT MAX(time_usec) FROM inventory WHERE time_usec <= ?1)," \
	" 0) ORDER BY id"

static void machine_id(char *out, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/machine-id", "re");

	out[0] = '\0';
	if (f && fgets(out, size, f))
		out[strcspn(out, "\n")] = '\0';
}

/* The report's body (everything that is signed). */
static int build(struct report *r, char *license_sha, size_t sha_size)
{
	char host[256] = "", mid[128], created[256], from[32], to[32], now[32];
	uint64_t gen = now_realtime_usec();
	struct json_object *o = NULL, *list = NULL; /* FMT_JSON: the member being filled */
	char sec[32], sec2[32];
	int n, k;

	gethostname(host, sizeof(host) - 1);
	machine_id(mid, sizeof(mid));
	meta(r, "SELECT value FROM meta WHERE key = 'created_by'", created, sizeof(created));
	iso(r->from_usec, from);
	iso(r->to_usec, to);
	iso(gen, now);
	/* Read everything in one transaction: one consistent view of the ledger. */
	sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
	{
		struct chain_head h;

		if (chain_load_head(r->db, &h) < 0)
			return -EIO;
		r->chain_seq = h.seq;
		chain_hex(h.hash, sizeof(h.hash), r->chain_head);
	}
	meta(r, "SELECT sha256 FROM reports ORDER BY id DESC LIMIT 1", r->prev_sha,
	     sizeof(r->prev_sha));
	n = read_jobs(r);
	if (n < 0)
		return n;

	switch (r->fmt) {
	case FMT_JSON:
		juint(r, r->doc, "hpcmeter_report", 1);
		juint(r, r->doc, "generated_usec", gen);
		jstr(r, r->doc, "generated", now);
		o = jobject(r, r->doc, "period");
		juint(r, o, "from_usec", r->from_usec);
		juint(r, o, "to_usec", r->to_usec);
		jstr(r, o, "from", from);
		jstr(r, o, "to", to);
		o = jobject(r, r->doc, "node");
		jstr(r, o, "hostname", host);
		jstr(r, o, "machine_id", mid);
		jstr(r, o, "report_key_id", r->key_id);
		o = jobject(r, r->doc, "meter_versions");
		jstr(r, o, "hpcmeterctl", HPCMETER_VERSION);
		jstr(r, o, "ledger_created_by", created);
		list = jarray(r, o, "meter_states");
		break;
	case FMT_CSV:
		fprintf(r->f, "#hpcmeter_report,1\n");
		fprintf(r->f,
			"report,generated_usec,%llu\nreport,from_usec,%llu\nreport,to_usec,%llu\n",
			(unsigned long long)gen, (unsigned long long)r->from_usec,
			(unsigned long long)r->to_usec);
		fputs("report,hostname,", r->f);
		csv_field(r->f, host);
		fputs("\nreport,machine_id,", r->f);
		csv_field(r->f, mid);
		fprintf(r->f,
			"\nreport,report_key_id,%s\nreport,hpcmeterctl," HPCMETER_VERSION "\n",
			r->key_id);
		fputs("report,ledger_created_by,", r->f);
		csv_field(r->f, created);
		fputc('\n', r->f);
		break;
	case FMT_TABLE:
		fprintf(r->f, "Usage report for licence %s, %s .. %s (UTC)\n", r->license_id, from,
			to);
		fprintf(r->f, "Node %s (machine id %s), generated %s by hpcmeterctl %s\n", host,
			mid, now, HPCMETER_VERSION);
		fprintf(r->f, "Ledger created by %s; chain head record %llu %s\n", created,
			(unsigned long long)r->chain_seq, r->chain_head);
		fputs("\nMeter states:\n", r->f);
		break;
	}
	phase(r, "reading meter states");
	if (emit_rows(r, METER_STATES_SQL, "meter_state", 4, meter_state_cols, list) < 0)
		return -EIO;
	if (r->fmt == FMT_JSON) {
		o = jobject(r, r->doc, "license");
		jstr(r, o, "id", r->license_id);
		list = jarray(r, o, "events");
	} else if (r->fmt == FMT_CSV)
		fputs("license,id,", r->f), csv_field(r->f, r->license_id), fputc('\n', r->f);
	else
		fprintf(r->f, "\nLicence %s, files as loaded:\n", r->license_id);
	k = read_license(r, list, license_sha, sha_size);
	if (k < 0)
		return k;
	if (k == 0) {
		log_error("licence %s was never loaded by hpcmeterd on this node before %s",
			  r->license_id, to);
		return -ENOENT;
	}
	switch (r->fmt) {
	case FMT_JSON:
		o = jobject(r, r->doc, "ledger");
		juint(r, o, "chain_seq", r->chain_seq);
		jstr(r, o, "chain_head", r->chain_head);
		jstr(r, o, "previous_report_sha256", r->prev_sha);
		list = jarray(r, r->doc, "inventory");
		break;
	case FMT_CSV:
		fprintf(r->f,
			"ledger,chain_seq,%llu\nledger,chain_head,%s\nreport,previous_report_sha256,%s\n",
			(unsigned long long)r->chain_seq, r->chain_head, r->prev_sha);
		break;
	case FMT_TABLE:
		fputs("\nInventory:\n", r->f);
		break;
	}
	phase(r, "reading inventory");
	k = emit_rows(r, INVENTORY_SQL, "inventory", 3, inventory_cols, list);
	if (k < 0)
		return k;
	if (k == 0 && r->fmt == FMT_TABLE)
		fputs("  (no inventory snapshot recorded)\n", r->f);
	if (r->fmt == FMT_TABLE)
		fputs("\nJobs (CPU seconds):\n", r->f);
	emit_jobs(r);
	if (r->fmt == FMT_TABLE)
		fputs("\nExecutables run, per job:\n", r->f);
	phase(r, "reading executables");
	k = emit_executables(r);
	if (k < 0)
		return k;
	if (r->fmt == FMT_TABLE)
		fputs("\nUsers:\n", r->f);
	emit_sums(r, r->users, r->n_users, "user");
	if (r->fmt == FMT_TABLE)
		fputs("\nAccounts:\n", r->f);
	emit_sums(r, r->accounts, r->n_accounts, "account");
	if (r->fmt == FMT_TABLE)
		fputs("\nOther metrics:\n", r->f);
	phase(r, "reading metrics");
	if (emit_metrics(r) < 0)
		return -EIO;
	if (r->fmt == FMT_TABLE)
		fputs("\nViolations:\n", r->f);
	phase(r, "reading violations");
	if (emit_violations(r) < 0)
		return -EIO;
	if (r->fmt == FMT_TABLE)
		fputs("\nMetering gaps:\n", r->f);
	phase(r, "reading gaps");
	if (emit_gaps(r) < 0)
		return -EIO;
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
	switch (r->fmt) {
	case FMT_JSON:
		o = jobject(r, r->doc, "totals");
		jsec(r, o, "cpu_seconds", r->total_cpu_ns);
		juint(r, o, "jobs", r->n_jobs);
		juint(r, o, "users", r->n_users);
		juint(r, o, "accounts", r->n_accounts);
		juint(r, o, "violations", r->n_violations);
		juint(r, o, "gaps", r->n_gaps);
		jsec(r, o, "gap_bound_cpu_seconds", r->gap_bound_cpu_ns);
		break;
	case FMT_CSV:
		fprintf(r->f,
			"total,cpu_seconds,%s\ntotal,jobs,%zu\ntotal,violations,%llu\n"
			"total,gaps,%llu\ntotal,gap_bound_cpu_seconds,%s\n",
			seconds_text(r->total_cpu_ns, sec), r->n_jobs,
			(unsigned long long)r->n_violations, (unsigned long long)r->n_gaps,
			seconds_text(r->gap_bound_cpu_ns, sec2));
		break;
	case FMT_TABLE:
		fprintf(r->f,
			"\nTotal: %.3f CPU seconds in %zu jobs of %zu users; %llu violations; %llu gaps "
			"(worst case %.3f CPU seconds unmetered)\n"
			"(A table is not signed: use --format json or csv for a signed report.)\n",
			r->total_cpu_ns / 1e9, r->n_jobs, r->n_users,
			(unsigned long long)r->n_violations, (unsigned long long)r->n_gaps,
			r->gap_bound_cpu_ns / 1e9);
		break;
	}
	return 0;
}

static void report_free(struct report *r)
{
	json_object_put(r->doc);
	r->doc = NULL;
	for (size_t i = 0; i < r->n_jobs; i++) {
		free(r->jobs[i].job);
		free(r->jobs[i].cgroup);
		free(r->jobs[i].user);
		free(r->jobs[i].account);
	}
	free(r->jobs);
	for (size_t i = 0; i < r->n_users; i++)
		free(r->users[i].key);
	for (size_t i = 0; i < r->n_accounts; i++)
		free(r->accounts[i].key);
	free(r->users);
	free(r->accounts);
}

int report_render(const struct report_args *a, char **ret, size_t *ret_len, char sha256[65],
		  uint8_t signature[SIGN_LEN])
{
	struct report r = {
		.db = a->db,
		.license_id = a->license_id,
		.from_usec = a->from_usec,
		.to_usec = a->to_usec,
		.fmt = a->fmt,
		.progress = a->progress,
	};
	char license_sha[80] = "";
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int c;

	sha256[0] = '\0';
	if (r.fmt != FMT_TABLE) {
		if (!a->key)
			return -EINVAL;
		sign_key_id(a->key, r.key_id);
	}
	if (r.fmt == FMT_JSON && !(r.doc = json_object_new_object()))
		return -ENOMEM;
	if (r.progress)
		sqlite3_progress_handler(r.db, 1000000, progress_handler, &r);
	r.f = open_memstream(&body, &len);
	if (!r.f) {
		report_free(&r);
		return -ENOMEM;
	}
	c = build(&r, license_sha, sizeof(license_sha));
	if (c >= 0 && r.json_error)
		c = r.json_error;
	/* JSON: the object built, one member and one record per line */
	if (c >= 0 && r.fmt == FMT_JSON)
		c = json_dump_rows(r.f, r.doc, JSON_PRETTY);
	if (fclose(r.f) != 0 && c >= 0)
		c = -ENOMEM;
	if (r.progress)
		sqlite3_progress_handler(r.db, 0, NULL, NULL);
	report_free(&r);
	if (c < 0)
		return c;
	if (r.fmt != FMT_TABLE) {
		uint8_t digest[CHAIN_HASH_LEN];

		/* the whole file: what an auditor's openssl checks, byte for byte */
		if (sign_data(a->key, body, len, signature) < 0) {
			log_error("signing the report failed");
			return -EIO;
		}
		chain_sha256(body, len, digest);
		chain_hex(digest, sizeof(digest), sha256);
	}
	*ret = TAKE_PTR(body);
	*ret_len = len;
	return 0;
}
