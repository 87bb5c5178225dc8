// SPDX-License-Identifier: GPL-2.0-only
/* The ledger's records beyond the spine's: gaps, licence events, meter states, inventory,
 * metrics, jobs, the heartbeat, counter baselines and the retention roll-up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger-internal.h"
#include "util.h"

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

static int db_err(struct ledger *l, const char *what)
{
	log_error("ledger %s: %s: %s", ledger_path(l), what, sqlite3_errmsg(ledger_db(l)));
	return sqlite3_errcode(ledger_db(l)) == SQLITE_FULL ? -ENOSPC : -EIO;
}

int ledger_add_gap(struct ledger *l, struct gap *g)
{
	uint64_t *last = ledger_gap_id_ptr(l), id = *last + 1;
	int r;

	r = ledger_insert(l,
			  "INSERT INTO gaps (id, cause, start_usec, end_usec, boot_id, detail,"
			  " bound_cpu_ns, bound_devices, bound, policy)"
			  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  "itiittiitt", id, g->cause, g->start_usec, g->end_usec, g->boot_id,
			  g->detail, g->bound_cpu_ns, (uint64_t)g->bound_devices, g->bound,
			  g->policy);
	if (r == 0)
		r = ledger_commit(l);
	*last = g->id = id;
	return r;
}

int ledger_list_gaps(struct ledger *l, uint64_t since_id,
		     int (*fn)(const struct gap *g, void *userdata), void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(ledger_db(l),
			       "SELECT id, cause, start_usec, end_usec, boot_id, detail,"
			       " bound_cpu_ns, bound_devices, bound, policy FROM gaps WHERE id > ?"
			       " ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare gaps");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gap g = {
			.id = sqlite3_column_int64(st, 0),
			.cause = col_text(st, 1),
			.start_usec = sqlite3_column_int64(st, 2),
			.end_usec = sqlite3_column_int64(st, 3),
			.boot_id = col_text(st, 4),
			.detail = col_text(st, 5),
			.bound_cpu_ns = sqlite3_column_int64(st, 6),
			.bound_devices = sqlite3_column_int64(st, 7),
			.bound = col_text(st, 8),
			.policy = col_text(st, 9),
		};
		r = fn(&g, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(l, "select gaps");
	sqlite3_finalize(st);
	return r;
}

int ledger_add_license_event(struct ledger *l, uint64_t time_usec, const char *event,
			     const char *license_id, const char *file, const char *sha256)
{
	return ledger_insert(l,
			     "INSERT INTO licenses (time_usec, event, license_id, file, sha256)"
			     " VALUES (?, ?, ?, ?, ?)",
			     "itttt", time_usec, event, license_id, file, sha256);
}

int ledger_add_meter_state(struct ledger *l, uint64_t time_usec, const char *meter,
			   const char *state, const char *detail)
{
	return ledger_insert(l,
			     "INSERT INTO meter_states (time_usec, meter, state, detail)"
			     " VALUES (?, ?, ?, ?)",
			     "ittt", time_usec, meter, state, detail);
}

int ledger_add_inventory(struct ledger *l, uint64_t time_usec, const char *source,
			 const char *snapshot_json)
{
	return ledger_insert(l,
			     "INSERT INTO inventory (time_usec, source, snapshot) VALUES (?, ?, ?)",
			     "itt", time_usec, source, snapshot_json);
}

int ledger_add_metric(struct ledger *l, int64_t interval_id, const char *job, const char *account,
		      uint32_t uid, const char *metric, double value)
{
	return ledger_insert(l,
			     "INSERT INTO usage_metrics (interval_id, job, account, uid, metric,"
			     " value) VALUES (?, ?, ?, ?, ?, ?)",
			     "ittitd", (uint64_t)interval_id, job, account, (uint64_t)uid, metric,
			     value);
}

int ledger_note_job(struct ledger *l, const char *job, const char *cgroup, uint32_t uid,
		    const char *user, const char *account, uint64_t first_usec)
{
	return ledger_insert(l,
			     "INSERT OR IGNORE INTO jobs (job, cgroup, uid, user, account,"
			     " first_usec) VALUES (?, ?, ?, ?, ?, ?)",
			     "ttitti", job, cgroup, (uint64_t)uid, user, account, first_usec);
}

int ledger_write_heartbeat(struct ledger *l, const struct heartbeat *hb)
{
	char v[160];

	snprintf(v, sizeof(v), "%s %llu %llu %d", hb->boot_id[0] ? hb->boot_id : "-",
		 (unsigned long long)hb->boottime_usec, (unsigned long long)hb->realtime_usec,
		 hb->clean_stop);
	return ledger_insert(l, "INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)",
			     "t", v);
}

int ledger_read_heartbeat(struct ledger *l, struct heartbeat *hb)
{
	sqlite3_stmt *st;
	unsigned long long bt, rt;
	int clean, rc, r = -ENOENT;

	memset(hb, 0, sizeof(*hb));
	if (sqlite3_prepare_v2(ledger_db(l), "SELECT value FROM meta WHERE key = 'heartbeat'", -1,
			       &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare heartbeat");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sscanf(col_text(st, 0), "%63s %llu %llu %d", hb->boot_id, &bt, &rt, &clean) ==
		    4) {
			hb->boottime_usec = bt;
			hb->realtime_usec = rt;
			hb->clean_stop = clean;
			if (streq(hb->boot_id, "-"))
				hb->boot_id[0] = '\0';
			r = 0;
		} else {
			log_warning("ledger %s: malformed heartbeat \"%s\" ignored", ledger_path(l),
				    col_text(st, 0));
		}
	} else if (rc != SQLITE_DONE) {
		r = db_err(l, "read heartbeat");
	}
	sqlite3_finalize(st);
	return r;
}

int ledger_clear_baselines(struct ledger *l)
{
	return ledger_insert(l, "DELETE FROM baselines", "");
}

int ledger_add_baseline(struct ledger *l, uint32_t tgid, uint64_t start_ns, uint64_t cpu_ns)
{
	return ledger_insert(l,
			     "INSERT OR REPLACE INTO baselines (tgid, start_ns, cpu_ns)"
			     " VALUES (?, ?, ?)",
			     "iii", (uint64_t)tgid, start_ns, cpu_ns);
}

int ledger_load_baselines(struct ledger *l,
			  int (*fn)(uint32_t tgid, uint64_t start_ns, uint64_t cpu_ns, void *ud),
			  void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(ledger_db(l), "SELECT tgid, start_ns, cpu_ns FROM baselines", -1,
			       &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare baselines");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		       sqlite3_column_int64(st, 2), userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(l, "select baselines");
	sqlite3_finalize(st);
	return r;
}

/* Intervals that a roll-up replaces: ended before the cut, and no other metric refers to them
 * (those stay until usage_metrics and gpu_usage roll up too). */
#define ROLLUP_SET                                                               \
	"SELECT id FROM intervals WHERE end_usec < ?1 AND id < ?3 AND id NOT IN" \
	" (SELECT interval_id FROM usage_metrics) AND id NOT IN"                 \
	" (SELECT interval_id FROM gpu_usage)"

static int rollup_digest(struct ledger *l, uint64_t before_usec, int64_t below_id,
			 uint64_t *entries, char hex[2 * CHAIN_HASH_LEN + 1])
{
	sqlite3_stmt *st;
	uint8_t digest[CHAIN_HASH_LEN];
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (sqlite3_prepare_v2(
		    ledger_db(l),
		    "SELECT hash FROM chain WHERE rollup IS NULL AND ((tbl = 'intervals' AND row IN"
		    " (" ROLLUP_SET ")) OR (tbl = 'usage' AND row IN (SELECT rowid FROM usage"
		    " WHERE interval_id IN (" ROLLUP_SET ")))) ORDER BY seq",
		    -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare roll-up");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before_usec);
	sqlite3_bind_int64(st, 3, below_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n + CHAIN_HASH_LEN > cap) {
			unsigned char *b;

			cap = cap ? cap * 2 : 64 * CHAIN_HASH_LEN;
			b = realloc(buf, cap);
			if (!b) {
				free(buf);
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			buf = b;
		}
		if (sqlite3_column_bytes(st, 0) == CHAIN_HASH_LEN)
			memcpy(buf + n, sqlite3_column_blob(st, 0), CHAIN_HASH_LEN);
		else
			memset(buf + n, 0, CHAIN_HASH_LEN);
		n += CHAIN_HASH_LEN;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(buf);
		return db_err(l, "roll-up digest");
	}
	chain_sha256(buf ? buf : (unsigned char *)"", n, digest);
	free(buf);
	chain_hex(digest, sizeof(digest), hex);
	*entries = n / CHAIN_HASH_LEN;
	return 0;
}

struct daily {
	char day[16];
	char *cgroup, *job, *user;
	uint64_t uid, cpu_ns, intervals;
};

int ledger_rollup(struct ledger *l, uint64_t before_usec, uint64_t *ret_intervals)
{
	return ledger_rollup_below(l, before_usec, INT64_MAX, ret_intervals);
}

int ledger_rollup_below(struct ledger *l, uint64_t before_usec, int64_t below_id,
			uint64_t *ret_intervals)
{
	sqlite3 *db = ledger_db(l);
	char hex[2 * CHAIN_HASH_LEN + 1];
	uint64_t entries = 0, rollup_id = 0, n_intervals = 0, seq;
	struct daily *d = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r;

	*ret_intervals = 0;
	/* Start from a committed state: the roll-up is one transaction of its own. */
	r = ledger_commit(l);
	if (r < 0 || ledger_degraded(l, NULL, NULL))
		return r < 0 ? r : -ENOSPC;
	r = rollup_digest(l, before_usec, below_id, &entries, hex);
	if (r < 0 || entries == 0)
		return r;
	if (sqlite3_prepare_v2(db,
			       "SELECT strftime('%Y-%m-%d', i.start_usec / 1000000, 'unixepoch'),"
			       " u.cgroup, u.job, u.uid, MAX(u.user), SUM(u.cpu_ns),"
			       " COUNT(DISTINCT i.id) FROM usage u JOIN intervals i"
			       " ON i.id = u.interval_id WHERE i.id IN (" ROLLUP_SET ")"
			       " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare daily");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before_usec);
	sqlite3_bind_int64(st, 3, below_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct daily *x = realloc(d, (cap = cap ? 2 * cap : 64) * sizeof(*x));

			if (!x) {
				r = -ENOMEM;
				break;
			}
			d = x;
		}
		snprintf(d[n].day, sizeof(d[n].day), "%s", col_text(st, 0));
		d[n].cgroup = strdup(col_text(st, 1));
		d[n].job = strdup(col_text(st, 2));
		d[n].uid = sqlite3_column_int64(st, 3);
		d[n].user = strdup(col_text(st, 4));
		d[n].cpu_ns = sqlite3_column_int64(st, 5);
		d[n].intervals = sqlite3_column_int64(st, 6);
		n++;
		if (!d[n - 1].cgroup || !d[n - 1].job || !d[n - 1].user) {
			r = -ENOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(l, "select daily");
	if (r == 0) {
		sqlite3_stmt *q;

		if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(id), 0) + 1 FROM rollups", -1, &q,
				       NULL) != SQLITE_OK)
			r = db_err(l, "rollup id");
		else if (sqlite3_step(q) == SQLITE_ROW)
			rollup_id = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		if (sqlite3_prepare_v2(db, ROLLUP_SET, -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, (sqlite3_int64)before_usec);
			sqlite3_bind_int64(q, 3, below_id);
			while (sqlite3_step(q) == SQLITE_ROW)
				n_intervals++;
			sqlite3_finalize(q);
		}
	}
	/* The roll-up record first: its chain entry is the one the replaced entries name. */
	seq = ledger_chain_head(l)->seq + 1;
	if (r == 0)
		r = ledger_insert(
			l,
			"INSERT INTO rollups (id, time_usec, before_usec, entries, digest)"
			" VALUES (?, ?, ?, ?, ?)",
			"iiiit", rollup_id, now_realtime_usec(), before_usec, entries, hex);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = ledger_insert(l,
				  "INSERT INTO usage_daily (rollup_id, day, cgroup, job, uid, user,"
				  " cpu_ns, intervals) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				  "itttitii", rollup_id, d[i].day, d[i].cgroup, d[i].job, d[i].uid,
				  d[i].user, d[i].cpu_ns, d[i].intervals);
	if (r == 0)
		r = ledger_insert(l,
				  "UPDATE chain SET rollup = ?2 WHERE rollup IS NULL AND"
				  " ((tbl = 'intervals' AND row IN (" ROLLUP_SET ")) OR"
				  " (tbl = 'usage' AND row IN (SELECT rowid FROM usage WHERE"
				  " interval_id IN (" ROLLUP_SET "))))",
				  "iii", before_usec, seq, (uint64_t)below_id);
	if (r == 0)
		r = ledger_insert(l, "DELETE FROM usage WHERE interval_id IN (" ROLLUP_SET ")",
				  "iii", before_usec, (uint64_t)0, (uint64_t)below_id);
	if (r == 0)
		r = ledger_insert(l, "DELETE FROM intervals WHERE id IN (" ROLLUP_SET ")", "iii",
				  before_usec, (uint64_t)0, (uint64_t)below_id);
	if (r == 0)
		r = ledger_commit(l);
	for (size_t i = 0; i < n; i++) {
		free(d[i].cgroup);
		free(d[i].job);
		free(d[i].user);
	}
	free(d);
	if (r == 0)
		*ret_intervals = n_intervals;
	return r;
}

int ledger_add_report(struct ledger *l, uint64_t time_usec, const char *license_id,
		      uint64_t from_usec, uint64_t to_usec, const char *format, const char *sha256,
		      uint64_t *ret_id)
{
	const struct chain_head *h = ledger_chain_head(l);
	char hex[2 * CHAIN_HASH_LEN + 1];
	int r;

	chain_hex(h->hash, sizeof(h->hash), hex);
	r = ledger_insert(l,
			  "INSERT INTO reports (time_usec, license_id, from_usec, to_usec, format,"
			  " sha256, chain_seq, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			  "itiittit", time_usec, license_id, from_usec, to_usec, format, sha256,
			  h->seq, hex);
	if (r == 0)
		r = ledger_commit(l);
	if (r == 0)
		*ret_id = sqlite3_last_insert_rowid(ledger_db(l));
	return r;
}

/* ---- shipping to the cluster's store: its position, state and not a record ---- */

int ledger_read_ship_state(struct ledger *l, struct ship_state *s)
{
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	memset(s, 0, sizeof(*s));
	if (sqlite3_prepare_v2(
		    ledger_db(l),
		    "SELECT store_id, acked_seq, intervals, cpu_ns, gpu_ns FROM ship_state"
		    " WHERE id = 1",
		    -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare ship state");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(s->store_id, sizeof(s->store_id), "%s", col_text(st, 0));
		s->acked_seq = sqlite3_column_int64(st, 1);
		s->totals_intervals = sqlite3_column_int64(st, 2);
		s->totals_cpu_ns = sqlite3_column_int64(st, 3);
		s->totals_gpu_ns = sqlite3_column_int64(st, 4);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_err(l, "read ship state");
	}
	sqlite3_finalize(st);
	return r;
}

int ledger_write_ship_state(struct ledger *l, const struct ship_state *s)
{
	return ledger_insert(
		l,
		"INSERT OR REPLACE INTO ship_state (id, store_id, acked_seq, intervals,"
		" cpu_ns, gpu_ns) VALUES (1, ?, ?, ?, ?, ?)",
		"tiiii", s->store_id, s->acked_seq, s->totals_intervals, s->totals_cpu_ns,
		s->totals_gpu_ns);
}

int ledger_read_entries(struct ledger *l, uint64_t after_seq, size_t limit,
			int (*fn)(const struct chain_entry *e, void *userdata), void *userdata)
{
	/* Committed entries only: what a rollback could still take back is not shipped. */
	return chain_read_entries(ledger_db(l), after_seq, ledger_chain_head(l)->seq, limit, fn,
				  userdata);
}

int ledger_first_interval_after(struct ledger *l, uint64_t seq, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc;

	/* An interval's usage rows come after it in the chain: the first entry after seq that
	 * is an interval or a usage row names the first interval not wholly acknowledged. */
	if (sqlite3_prepare_v2(ledger_db(l),
			       "SELECT COALESCE(MIN(CASE c.tbl WHEN 'intervals' THEN c.row"
			       " ELSE u.interval_id END), 9223372036854775807) FROM chain c"
			       " LEFT JOIN usage u ON c.tbl = 'usage' AND u.rowid = c.row"
			       " WHERE c.seq > ? AND c.tbl IN ('intervals', 'usage')"
			       " AND c.rollup IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare first interval");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_err(l, "first interval");
}

int ledger_interval_end_at(struct ledger *l, uint64_t seq, uint64_t *ret)
{
	sqlite3_stmt *st;
	int rc;

	*ret = 0;
	if (sqlite3_prepare_v2(ledger_db(l),
			       "SELECT i.end_usec FROM chain c JOIN intervals i ON c.tbl ="
			       " 'intervals' AND i.id = c.row WHERE c.seq <= ?"
			       " ORDER BY c.seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(l, "prepare interval end");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(l, "interval end");
}
