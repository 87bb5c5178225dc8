// SPDX-License-Identifier: GPL-2.0-only
/* The ledger's hash chain (see ledger-chain.h).
 *
 * Entry n of table chain is (seq n, table, rowid, hash) with
 *   hash(n) = SHA-256( hash(n-1) || be64(n) || str(table) || be64(rowid) || be32(ncols)
 *                      || value(col_1) || ... || value(col_k) )
 * hash(0) = 32 zero bytes, str(s) = be32(len) || bytes, and value() a type byte followed by
 * be64 for an integer, the IEEE-754 bits as be64 for a real, str() for text and blobs, nothing
 * for NULL. The columns of each table are fixed below; a new column in an old table stays out
 * of its hash, so a table that is added to the chain is one more entry in chain_tables[].
 *
 * Retention replaces old rows by daily totals: the chain entries stay (with their hashes, so
 * the links still verify) and name, in column rollup, the chain seq of the roll-up record; that
 * record holds the SHA-256 of the concatenated hashes of the entries it replaced. */
#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-chain.h"
#include "util.h"

static const struct chain_table {
	const char *name;
	const char *columns; /* the hashed columns, in order */
} chain_tables[] = {
	{ "intervals", "id, start_usec, end_usec" },
	{ "usage", "rowid, interval_id, cgroup, cgroup_id, job, uid, user, cpu_ns" },
	{ "process_events",
	  "id, time_usec, event, pid, ppid, uid, executable, cgroup, exit_code, cpu_ns" },
	{ "violations",
	  "seq, time_usec, kind, license_id, pid, uid, user, executable, cgroup, job, detail" },
	{ "jobs", "id, job, cgroup, uid, user, account, first_usec" },
	{ "usage_metrics", "id, interval_id, job, account, uid, metric, value" },
	{ "gaps", "id, cause, start_usec, end_usec, boot_id, detail, bound_cpu_ns, bound_devices, "
		  "bound, policy" },
	{ "licenses", "id, time_usec, event, license_id, file, sha256" },
	{ "meter_states", "id, time_usec, meter, state, detail" },
	{ "inventory", "id, time_usec, source, snapshot" },
	{ "reports",
	  "id, time_usec, license_id, from_usec, to_usec, format, sha256, chain_seq, chain_hash" },
	{ "rollups", "id, time_usec, before_usec, entries, digest" },
	{ "usage_daily", "id, rollup_id, day, cgroup, job, uid, user, cpu_ns, intervals" },
	{ "gpu_usage",
	  "rowid, interval_id, cgroup, cgroup_id, job, uid, user, gpu_ns, tpp_seconds, ops_upper, "
	  "ops_lower, launches, threads_launched, graph_launches, bytes_alloc, bytes_h2d, "
	  "dev_opens" },
	{ "violation_lifecycle", "seq, key, term, subject, measured, limit_value" },
	{ "violation_clears", "id, seq, time_usec" },
	{ "violation_acks", "id, seq, time_usec, uid, note" },
	{ "threshold_events",
	  "seq, time_usec, license_id, term, subject, level, measured, limit_value, detail" },
	{ "jobs_announced", "id, job, scheduler, user, uid, account, partition, wckey, comment, "
			    "gpus, nodes, start_usec, end_usec, run_id" },
	{ "process_counts",
	  "id, interval_id, cgroup, job, uid, user, executable, exe_sha256, execs, "
	  "exits, cpu_ns" },
	{ "process_evidence",
	  "id, time_usec, event, reason, pid, ppid, uid, executable, exe_sha256, "
	  "cgroup, job, exit_code, cpu_ns" },
	{ "sessions", "id, session, uid, user, remote_host, remote_address, address_state, "
		      "service, source, job, start_usec, end_usec, run_id" },
};

static const struct chain_table *find_table(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(chain_tables); i++)
		if (streq(chain_tables[i].name, name))
			return &chain_tables[i];
	return NULL;
}

bool chain_table_known(const char *table)
{
	return find_table(table) != NULL;
}

void chain_sha256(const void *data, size_t len, uint8_t out[CHAIN_HASH_LEN])
{
	unsigned int n = CHAIN_HASH_LEN;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void chain_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int chain_unhex(const char *in, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (!in[2 * i] || !in[2 * i + 1] || sscanf(in + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = v;
	}
	return in[2 * len] ? -EINVAL : 0;
}

/* The canonical content of a record, as it is hashed and shipped: appended to a growable
 * buffer. */
static int buf_put(struct chain_body *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;

		while (cap < b->len + len)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

static int buf_be64(struct chain_body *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		x[i] = v & 0xff;
	return buf_put(b, x, sizeof(x));
}

static int buf_be32(struct chain_body *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_put(b, x, sizeof(x));
}

static int buf_str(struct chain_body *b, const void *s, size_t len)
{
	int r = buf_be32(b, len);

	return r < 0 ? r : buf_put(b, s, len);
}

void chain_body_free(struct chain_body *b)
{
	free(b->data);
	*b = (struct chain_body){};
}

/* str(table) || be64(rowid) || be32(ncols) || value(col_1) || ... of the row st has just
 * stepped onto, into b (emptied first). */
static int encode_row(const char *table, int64_t rowid, sqlite3_stmt *st, struct chain_body *b)
{
	int ncols = sqlite3_column_count(st), r;

	b->len = 0;
	r = buf_str(b, table, strlen(table));
	if (r == 0)
		r = buf_be64(b, (uint64_t)rowid);
	if (r == 0)
		r = buf_be32(b, ncols);
	for (int i = 0; r == 0 && i < ncols; i++) {
		uint8_t type = sqlite3_column_type(st, i);
		double d;
		uint64_t bits;

		r = buf_put(b, &type, 1);
		if (r < 0)
			break;
		switch (type) {
		case SQLITE_INTEGER:
			r = buf_be64(b, (uint64_t)sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			d = sqlite3_column_double(st, i);
			memcpy(&bits, &d, sizeof(bits));
			r = buf_be64(b, bits);
			break;
		case SQLITE_TEXT:
			r = buf_str(b, sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
			break;
		case SQLITE_BLOB:
			r = buf_str(b, sqlite3_column_blob(st, i), sqlite3_column_bytes(st, i));
			break;
		default: /* NULL */
			break;
		}
	}
	return r;
}

void chain_entry_hash(const uint8_t prev[CHAIN_HASH_LEN], uint64_t seq, const void *body,
		      size_t len, uint8_t out[CHAIN_HASH_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = CHAIN_HASH_LEN;
	uint8_t be[8];

	for (int i = 7; i >= 0; i--, seq >>= 8)
		be[i] = seq & 0xff;
	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, prev, CHAIN_HASH_LEN) || !EVP_DigestUpdate(c, be, sizeof(be)) ||
	    !EVP_DigestUpdate(c, body, len) || !EVP_DigestFinal_ex(c, out, &n))
		memset(out, 0, CHAIN_HASH_LEN); /* matches no stored hash: the entry reads as bad */
	EVP_MD_CTX_free(c);
}

/* Hash entry (seq, table, rowid) whose row st has just stepped onto. */
static int hash_entry(const uint8_t prev[CHAIN_HASH_LEN], uint64_t seq, const char *table,
		      int64_t rowid, sqlite3_stmt *st, uint8_t out[CHAIN_HASH_LEN])
{
	struct chain_body b = {};
	int r = encode_row(table, rowid, st, &b);

	if (r == 0)
		chain_entry_hash(prev, seq, b.data, b.len, out);
	chain_body_free(&b);
	return r;
}

static int db_err(sqlite3 *db, const char *what)
{
	log_error("ledger chain: %s: %s", what, sqlite3_errmsg(db));
	return sqlite3_errcode(db) == SQLITE_FULL ? -ENOSPC : -EIO;
}

/* A statement reading the hashed columns of one row of a table. */
static int prepare_row(sqlite3 *db, const struct chain_table *t, sqlite3_stmt **ret)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid = ?", t->columns, t->name);
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK)
		return db_err(db, "prepare row");
	return 0;
}

static bool table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int chain_load_head(sqlite3 *db, struct chain_head *head)
{
	sqlite3_stmt *st;
	int rc;

	memset(head, 0, sizeof(*head));
	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(db, "prepare head");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		head->seq = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) == CHAIN_HASH_LEN)
			memcpy(head->hash, sqlite3_column_blob(st, 1), CHAIN_HASH_LEN);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(db, "read head");
}

int chain_append(sqlite3 *db, struct stmt_cache *cache, struct chain_head *head, const char *table,
		 int64_t rowid)
{
	static const char insert_sql[] =
		"INSERT INTO chain (seq, tbl, row, hash) VALUES (?, ?, ?, ?)";
	const struct chain_table *t = find_table(table);
	sqlite3_stmt *row = NULL, *ins = NULL;
	uint8_t hash[CHAIN_HASH_LEN];
	char sql[512];
	int r = 0, rc = SQLITE_ERROR;

	if (!t)
		return -EINVAL;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid = ?", t->columns, t->name);
	row = stmt_cache_get(cache, db, t, sql, &rc);
	if (!row)
		return db_err(db, "prepare row");
	sqlite3_bind_int64(row, 1, rowid);
	rc = sqlite3_step(row);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -ENOENT : db_err(db, "read row");
		goto out;
	}
	r = hash_entry(head->hash, head->seq + 1, table, rowid, row, hash);
	if (r < 0)
		goto out;
	ins = stmt_cache_get(cache, db, insert_sql, insert_sql, &rc);
	if (!ins) {
		r = db_err(db, "prepare chain insert");
		goto out;
	}
	sqlite3_bind_int64(ins, 1, (sqlite3_int64)(head->seq + 1));
	sqlite3_bind_text(ins, 2, table, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, rowid);
	sqlite3_bind_blob(ins, 4, hash, sizeof(hash), SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		r = db_err(db, "insert chain entry");
		goto out;
	}
	head->seq++;
	memcpy(head->hash, hash, sizeof(hash));
out:
	stmt_cache_release(cache, row);
	stmt_cache_release(cache, ins);
	return r;
}

int chain_adopt_unchained(sqlite3 *db, struct chain_head *head)
{
	for (size_t i = 0; i < ARRAY_SIZE(chain_tables); i++) {
		const char *name = chain_tables[i].name;
		char sql[256];
		sqlite3_stmt *st;
		int rc, r = 0;

		if (!table_exists(db, name))
			continue;

		snprintf(sql, sizeof(sql),
			 "SELECT rowid FROM %s WHERE rowid NOT IN"
			 " (SELECT row FROM chain WHERE tbl = '%s') ORDER BY rowid",
			 name, name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			return db_err(db, "prepare adopt");
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = chain_append(db, NULL, head, name, sqlite3_column_int64(st, 0));
			if (r < 0)
				break;
		}
		sqlite3_finalize(st);
		if (r < 0)
			return r;
		if (rc != SQLITE_DONE)
			return db_err(db, "adopt");
	}
	return 0;
}

int chain_read_entries(sqlite3 *db, uint64_t after_seq, uint64_t max_seq, size_t limit,
		       int (*fn)(const struct chain_entry *e, void *userdata), void *userdata)
{
	sqlite3_stmt *rows[ARRAY_SIZE(chain_tables)] = {};
	struct chain_body b = {};
	struct chain_entry e = {};
	sqlite3_stmt *st = NULL;
	int rc, r = 0, n = 0;

	if (after_seq > 0) {
		if (sqlite3_prepare_v2(db, "SELECT hash FROM chain WHERE seq = ?", -1, &st, NULL) !=
		    SQLITE_OK)
			return db_err(db, "prepare previous hash");
		sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CHAIN_HASH_LEN)
			memcpy(e.hash, sqlite3_column_blob(st, 0), CHAIN_HASH_LEN);
		else
			r = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT :
								    db_err(db, "read hash");
		sqlite3_finalize(st);
		st = NULL;
		if (r < 0)
			return r;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT seq, tbl, row, hash, rollup FROM chain WHERE seq > ?"
			       " AND seq <= ? ORDER BY seq LIMIT ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, "prepare entries");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
	sqlite3_bind_int64(st, 2, max_seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)max_seq);
	sqlite3_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(st, 1);
		const struct chain_table *t = table ? find_table(table) : NULL;
		sqlite3_stmt *row = NULL;

		memcpy(e.prev, e.hash, CHAIN_HASH_LEN);
		e.seq = sqlite3_column_int64(st, 0);
		e.table = table ? table : "";
		e.rowid = sqlite3_column_int64(st, 2);
		if (sqlite3_column_bytes(st, 3) != CHAIN_HASH_LEN ||
		    e.seq != after_seq + (uint64_t)n + 1) {
			r = -EBADMSG; /* a broken local chain: ledger verify says where */
			break;
		}
		memcpy(e.hash, sqlite3_column_blob(st, 3), CHAIN_HASH_LEN);
		e.rollup = sqlite3_column_int64(st, 4);
		e.body = NULL;
		e.body_len = 0;
		if (t && !e.rollup) {
			size_t i = t - chain_tables;

			if (!rows[i] && prepare_row(db, t, &rows[i]) < 0) {
				r = -EIO;
				break;
			}
			row = rows[i];
			sqlite3_reset(row);
			sqlite3_bind_int64(row, 1, e.rowid);
			rc = sqlite3_step(row);
			if (rc == SQLITE_ROW) {
				r = encode_row(e.table, e.rowid, row, &b);
				if (r < 0)
					break;
				e.body = b.data;
				e.body_len = b.len;
			} else if (rc != SQLITE_DONE) {
				r = db_err(db, "read row");
				break;
			}
		}
		n++;
		r = fn(&e, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(db, "read entries");
	sqlite3_finalize(st);
	for (size_t i = 0; i < ARRAY_SIZE(chain_tables); i++)
		sqlite3_finalize(rows[i]);
	chain_body_free(&b);
	return r < 0 ? r : n;
}

/* Digests of the roll-ups met in the walk, until their own entry comes. */
struct rollup_acc {
	uint64_t rollup_seq;
	uint64_t entries;
	EVP_MD_CTX *ctx;
};

struct walk {
	sqlite3 *db;
	sqlite3_stmt *rows[ARRAY_SIZE(chain_tables)];
	struct rollup_acc *acc;
	size_t n_acc;
};

static void walk_done(struct walk *w)
{
	for (size_t i = 0; i < ARRAY_SIZE(chain_tables); i++)
		sqlite3_finalize(w->rows[i]);
	for (size_t i = 0; i < w->n_acc; i++)
		EVP_MD_CTX_free(w->acc[i].ctx);
	free(w->acc);
}

static struct rollup_acc *acc_get(struct walk *w, uint64_t rollup_seq, bool create)
{
	struct rollup_acc *a;

	for (size_t i = 0; i < w->n_acc; i++)
		if (w->acc[i].rollup_seq == rollup_seq)
			return &w->acc[i];
	if (!create)
		return NULL;
	a = realloc(w->acc, (w->n_acc + 1) * sizeof(*a));
	if (!a)
		return NULL;
	w->acc = a;
	a = &w->acc[w->n_acc];
	*a = (struct rollup_acc){ .rollup_seq = rollup_seq, .ctx = EVP_MD_CTX_new() };
	if (!a->ctx)
		return NULL;
	EVP_DigestInit_ex(a->ctx, EVP_sha256(), NULL);
	w->n_acc++;
	return a;
}

static void broken(struct chain_verify *v, uint64_t seq, const char *table, int64_t row,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void broken(struct chain_verify *v, uint64_t seq, const char *table, int64_t row,
		   const char *fmt, ...)
{
	va_list ap;

	v->broken = true;
	v->bad_seq = seq;
	snprintf(v->bad_table, sizeof(v->bad_table), "%s", table);
	v->bad_row = row;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* The roll-up record at entry seq: its stored count and digest must match what was replaced. */
static int check_rollup(struct walk *w, struct chain_verify *v, uint64_t seq, sqlite3_stmt *row,
			int64_t rowid)
{
	struct rollup_acc *a = acc_get(w, seq, false);
	uint8_t digest[CHAIN_HASH_LEN] = { 0 };
	char hex[2 * CHAIN_HASH_LEN + 1];
	unsigned int n = CHAIN_HASH_LEN;
	uint64_t entries = sqlite3_column_int64(row, 3);
	const char *stored = (const char *)sqlite3_column_text(row, 4);

	if (a) {
		EVP_DigestFinal_ex(a->ctx, digest, &n);
		EVP_DigestInit_ex(a->ctx, EVP_sha256(), NULL);
	} else {
		chain_sha256("", 0, digest);
	}
	chain_hex(digest, sizeof(digest), hex);
	if ((a ? a->entries : 0) != entries || !stored || !streq(stored, hex))
		broken(v, seq, "rollups", rowid,
		       "roll-up record does not match the %llu entries it replaced (it claims %llu)",
		       (unsigned long long)(a ? a->entries : 0), (unsigned long long)entries);
	if (a)
		a->entries = UINT64_MAX; /* done: a later entry naming it is broken */
	return 0;
}

int chain_verify(sqlite3 *db, struct chain_verify *v,
		 void (*progress)(uint64_t done, uint64_t total, void *userdata), void *userdata)
{
	struct walk w = { .db = db };
	sqlite3_stmt *st = NULL;
	uint64_t total = 0, expect = 1;
	struct chain_head prev = { 0 };
	int rc = SQLITE_DONE, r = 0;

	memset(v, 0, sizeof(*v));
	if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM chain", -1, &st, NULL) != SQLITE_OK)
		return db_err(db, "count chain");
	if (sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	/* A table this ledger does not have yet (an older schema): no row may name it. */
	for (size_t i = 0; i < ARRAY_SIZE(chain_tables); i++)
		if (table_exists(db, chain_tables[i].name) &&
		    prepare_row(db, &chain_tables[i], &w.rows[i]) < 0) {
			r = -EIO;
			goto out;
		}
	if (sqlite3_prepare_v2(db, "SELECT seq, tbl, row, hash, rollup FROM chain ORDER BY seq", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(db, "prepare walk");
		goto out;
	}
	while (!v->broken && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = sqlite3_column_int64(st, 0);
		const char *table = (const char *)sqlite3_column_text(st, 1);
		int64_t rowid = sqlite3_column_int64(st, 2);
		const void *stored = sqlite3_column_blob(st, 3);
		bool is_rolled_up = sqlite3_column_type(st, 4) != SQLITE_NULL;
		uint64_t rollup = sqlite3_column_int64(st, 4);
		const struct chain_table *t = table ? find_table(table) : NULL;
		uint8_t hash[CHAIN_HASH_LEN];
		sqlite3_stmt *row;

		if (!table)
			table = "";
		if (seq != expect) {
			broken(v, expect, table, 0, "chain entry %llu is missing (next is %llu)",
			       (unsigned long long)expect, (unsigned long long)seq);
			break;
		}
		expect++;
		if (!t) {
			broken(v, seq, table, rowid, "unknown table \"%s\"", table);
			break;
		}
		if (sqlite3_column_bytes(st, 3) != CHAIN_HASH_LEN) {
			broken(v, seq, table, rowid, "stored hash has the wrong length");
			break;
		}
		row = w.rows[t - chain_tables];
		if (!row) {
			broken(v, seq, table, rowid, "table \"%s\" does not exist", table);
			break;
		}
		sqlite3_reset(row);
		sqlite3_bind_int64(row, 1, rowid);
		rc = sqlite3_step(row);
		if (rc == SQLITE_ROW) {
			r = hash_entry(prev.hash, seq, table, rowid, row, hash);
			if (r < 0)
				goto out;
			if (memcmp(hash, stored, CHAIN_HASH_LEN) != 0) {
				broken(v, seq, table, rowid,
				       "content or link does not match the stored hash");
				break;
			}
			if (streq(table, "rollups"))
				check_rollup(&w, v, seq, row, rowid);
		} else if (rc == SQLITE_DONE && is_rolled_up && rollup > seq) {
			struct rollup_acc *a = acc_get(&w, rollup, true);

			if (!a) {
				r = -ENOMEM;
				goto out;
			}
			if (a->entries == UINT64_MAX) {
				broken(v, seq, table, rowid,
				       "row claims a roll-up that was already complete");
				break;
			}
			EVP_DigestUpdate(a->ctx, stored, CHAIN_HASH_LEN);
			a->entries++;
			v->rolled_up++;
		} else if (rc == SQLITE_DONE) {
			broken(v, seq, table, rowid, "row %s/%lld is missing", table,
			       (long long)rowid);
			break;
		} else {
			r = db_err(db, "read row");
			goto out;
		}
		prev.seq = seq;
		memcpy(prev.hash, stored, CHAIN_HASH_LEN);
		v->entries++;
		if (progress && (v->entries & 0xffff) == 0)
			progress(v->entries, total, userdata);
	}
	if (!v->broken && rc != SQLITE_DONE) {
		r = db_err(db, "walk chain");
		goto out;
	}
	v->head = prev;
	for (size_t i = 0; !v->broken && i < w.n_acc; i++)
		if (w.acc[i].entries != UINT64_MAX)
			broken(v, w.acc[i].rollup_seq, "rollups", 0,
			       "roll-up record at entry %llu, named by replaced rows, is missing",
			       (unsigned long long)w.acc[i].rollup_seq);
	/* Rows nobody chained: inserted behind the daemon's back. */
	for (size_t i = 0; !v->broken && i < ARRAY_SIZE(chain_tables); i++) {
		const char *name = chain_tables[i].name;
		char sql[256];
		sqlite3_stmt *q;

		if (!w.rows[i])
			continue;

		snprintf(sql, sizeof(sql),
			 "SELECT rowid FROM %s WHERE rowid NOT IN"
			 " (SELECT row FROM chain WHERE tbl = '%s') ORDER BY rowid LIMIT 1",
			 name, name);
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			r = db_err(db, "prepare unchained");
			goto out;
		}
		if (sqlite3_step(q) == SQLITE_ROW)
			broken(v, 0, name, sqlite3_column_int64(q, 0),
			       "row %s/%lld is not in the chain", name,
			       (long long)sqlite3_column_int64(q, 0));
		sqlite3_finalize(q);
	}
	if (progress)
		progress(v->entries, total, userdata);
out:
	sqlite3_finalize(st);
	walk_done(&w);
	return r;
}
