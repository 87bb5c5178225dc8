// SPDX-License-Identifier: GPL-2.0-only
/* The statements a node sends to the cluster's store and the checks of their replies (see
 * store.h): connecting, the version and hello queries, a batch of records as one INSERT (one
 * transaction; a resend is skipped by the store), signed checkpoints. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"
#include "store.h"
#include "util.h"

bool store_node_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63 || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

void store_conn_params(const char *conninfo, const char *application, const char *keys[4],
		       const char *values[4])
{
	/* Defaults first: what conninfo (expanded from dbname) sets comes later and wins. */
	keys[0] = "connect_timeout";
	values[0] = "10";
	keys[1] = "application_name";
	values[1] = application;
	keys[2] = "dbname";
	values[2] = conninfo;
	keys[3] = NULL;
	values[3] = NULL;
}

const char *store_error_line(PGconn *c, const PGresult *res)
{
	static char line[512];
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (!msg || !*msg)
		msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = c ? PQerrorMessage(c) : NULL;
	if (!msg || !*msg)
		msg = "no reply from the database";
	snprintf(line, sizeof(line), "%s", msg);
	/* libpq's messages end with a newline and may have several lines: one line. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = *(p + 1) ? ' ' : '\0';
	return line;
}

int store_connect(const char *conninfo, const char *application, PGconn **ret, char *err,
		  size_t size)
{
	const char *keys[4], *values[4];
	PGconn *c;

	store_conn_params(conninfo, application, keys, values);
	c = PQconnectdbParams(keys, values, 1);
	if (!c) {
		snprintf(err, size, "out of memory");
		return -ENOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, size, "cannot connect to the store: %s", store_error_line(c, NULL));
		PQfinish(c);
		return -ECONNREFUSED;
	}
	*ret = c;
	return 0;
}

int store_reply_shape(const PGresult *res, ExecStatusType status, int rows, int cols)
{
	if (!res || PQresultStatus(res) != status)
		return -EIO;
	if (status == PGRES_TUPLES_OK &&
	    ((rows >= 0 && PQntuples(res) != rows) || (cols >= 0 && PQnfields(res) != cols)))
		return -EBADMSG;
	return 0;
}

static int cell(const PGresult *res, int row, int col, bool binary, const char **ret)
{
	if (!res || row < 0 || col < 0 || row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQfformat(res, col) != (binary ? 1 : 0))
		return -EBADMSG;
	if (PQgetisnull(res, row, col))
		return -ENODATA;
	*ret = PQgetvalue(res, row, col);
	return 0;
}

int store_value_u64(const PGresult *res, int row, int col, uint64_t max, uint64_t *ret)
{
	const char *s;
	char *end;
	unsigned long long v;
	int r = cell(res, row, col, false, &s);

	if (r < 0)
		return r;
	if (!isdigit((unsigned char)s[0]) || strlen(s) > 20)
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int store_value_int(const PGresult *res, int row, int col, int min, int max, int *ret)
{
	const char *s;
	char *end;
	long v;
	int r = cell(res, row, col, false, &s);

	if (r < 0)
		return r;
	if (!*s || strlen(s) > 12)
		return -EBADMSG;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EBADMSG;
	*ret = (int)v;
	return 0;
}

int store_value_text(const PGresult *res, int row, int col, size_t max_len, const char **ret)
{
	const char *s;
	int r = cell(res, row, col, false, &s);

	if (r < 0)
		return r;
	if ((size_t)PQgetlength(res, row, col) > max_len ||
	    strlen(s) != (size_t)PQgetlength(res, row, col))
		return -EBADMSG;
	*ret = s;
	return 0;
}

int store_bin_u64(const PGresult *res, int row, int col, uint64_t max, uint64_t *ret)
{
	const char *s;
	uint64_t v = 0;
	int r = cell(res, row, col, true, &s);

	if (r < 0)
		return r;
	if (PQgetlength(res, row, col) != 8)
		return -EBADMSG;
	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)s[i];
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int store_bin_bytes(const PGresult *res, int row, int col, size_t len, const uint8_t **ret,
		    size_t *ret_len)
{
	const char *s;
	int r = cell(res, row, col, true, &s);

	if (r < 0)
		return r;
	if (len && (size_t)PQgetlength(res, row, col) != len)
		return -EBADMSG;
	*ret = (const uint8_t *)s;
	if (ret_len)
		*ret_len = PQgetlength(res, row, col);
	return 0;
}

/* ---- batches of records ---- */

struct store_row {
	uint64_t seq_num;
	char seq[24], rowid[24], rollup[24];
	uint8_t prev[CHAIN_HASH_LEN], hash[CHAIN_HASH_LEN];
	char *tbl;
	uint8_t *body;
	size_t body_len;
	struct store_totals add;
};

#define ROW_PARAMS 7

void store_batch_init(struct store_batch *b, const char *node)
{
	*b = (struct store_batch){};
	snprintf(b->node, sizeof(b->node), "%s", node);
}

static void batch_free_built(struct store_batch *b)
{
	free(b->sql);
	free(b->values);
	free(b->lengths);
	free(b->formats);
	b->sql = NULL;
	b->values = NULL;
	b->lengths = b->formats = NULL;
}

void store_batch_clear(struct store_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->rows[i].tbl);
		free(b->rows[i].body);
	}
	b->n = 0;
	batch_free_built(b);
}

void store_batch_free(struct store_batch *b)
{
	store_batch_clear(b);
	free(b->rows);
	b->rows = NULL;
}

int store_batch_add(struct store_batch *b, const struct chain_entry *e)
{
	struct store_row *row;

	if (b->n >= STORE_BATCH_MAX)
		return -E2BIG;
	if (!b->rows) {
		b->rows = calloc(STORE_BATCH_MAX, sizeof(*b->rows));
		if (!b->rows)
			return -ENOMEM;
	}
	row = &b->rows[b->n];
	*row = (struct store_row){ .seq_num = e->seq };
	snprintf(row->seq, sizeof(row->seq), "%" PRIu64, e->seq);
	snprintf(row->rowid, sizeof(row->rowid), "%" PRId64, e->rowid);
	snprintf(row->rollup, sizeof(row->rollup), "%" PRIu64, e->rollup);
	memcpy(row->prev, e->prev, CHAIN_HASH_LEN);
	memcpy(row->hash, e->hash, CHAIN_HASH_LEN);
	row->tbl = strdup(e->table);
	if (!row->tbl)
		return -ENOMEM;
	if (e->body) {
		row->body = malloc(e->body_len ? e->body_len : 1);
		if (!row->body) {
			free(row->tbl);
			return -ENOMEM;
		}
		memcpy(row->body, e->body, e->body_len);
		row->body_len = e->body_len;
		store_totals_add(&row->add, e->body, e->body_len);
	}
	b->n++;
	return 0;
}

uint64_t store_batch_first(const struct store_batch *b)
{
	return b->n ? b->rows[0].seq_num : 0;
}

uint64_t store_batch_last(const struct store_batch *b)
{
	return b->n ? b->rows[b->n - 1].seq_num : 0;
}

void store_batch_hash(const struct store_batch *b, uint64_t seq, uint8_t out[CHAIN_HASH_LEN])
{
	for (size_t i = 0; i < b->n; i++)
		if (b->rows[i].seq_num == seq)
			memcpy(out, b->rows[i].hash, CHAIN_HASH_LEN);
}

void store_batch_totals(const struct store_batch *b, uint64_t upto_seq, struct store_totals *t)
{
	*t = (struct store_totals){};
	for (size_t i = 0; i < b->n && b->rows[i].seq_num <= upto_seq; i++) {
		t->intervals += b->rows[i].add.intervals;
		t->cpu_ns += b->rows[i].add.cpu_ns;
		t->gpu_ns += b->rows[i].add.gpu_ns;
	}
}

static int batch_build(struct store_batch *b)
{
	size_t n_params = 1 + ROW_PARAMS * b->n, len = 0, cap;
	char *sql;

	batch_free_built(b);
	cap = 512 + b->n * 128;
	sql = malloc(cap);
	b->values = calloc(n_params, sizeof(*b->values));
	b->lengths = calloc(n_params, sizeof(*b->lengths));
	b->formats = calloc(n_params, sizeof(*b->formats));
	if (!sql || !b->values || !b->lengths || !b->formats) {
		free(sql);
		batch_free_built(b);
		return -ENOMEM;
	}
	len += snprintf(sql + len, cap - len,
			"WITH ins AS (INSERT INTO hpcm.records (node, seq, prev, hash, tbl,"
			" row_id, body, rollup) VALUES ");
	b->values[0] = b->node;
	for (size_t i = 0; i < b->n; i++) {
		struct store_row *row = &b->rows[i];
		size_t p = 1 + ROW_PARAMS * i;

		len += snprintf(sql + len, cap - len,
				"%s($1, $%zu::bigint, $%zu::bytea, $%zu::bytea, $%zu::text,"
				" $%zu::bigint, $%zu::bytea, $%zu::bigint)",
				i ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7);
		b->values[p] = row->seq;
		b->values[p + 1] = (const char *)row->prev;
		b->lengths[p + 1] = CHAIN_HASH_LEN;
		b->formats[p + 1] = 1;
		b->values[p + 2] = (const char *)row->hash;
		b->lengths[p + 2] = CHAIN_HASH_LEN;
		b->formats[p + 2] = 1;
		b->values[p + 3] = row->tbl;
		b->values[p + 4] = row->rowid;
		b->values[p + 5] = (const char *)row->body; /* NULL: a rolled-up row */
		b->lengths[p + 5] = row->body_len;
		b->formats[p + 5] = 1;
		b->values[p + 6] = row->body ? NULL : row->rollup;
	}
	snprintf(sql + len, cap - len,
		 " ON CONFLICT (node, seq) DO NOTHING RETURNING seq)"
		 " SELECT (SELECT count(*) FROM ins), GREATEST((SELECT max(seq) FROM ins),"
		 " (SELECT max(seq) FROM hpcm.records WHERE node = $1), 0)");
	b->sql = sql;
	return 0;
}

int store_batch_send(PGconn *c, struct store_batch *b)
{
	int r;

	if (b->n == 0)
		return -ENODATA;
	r = batch_build(b);
	if (r < 0)
		return r;
	return PQsendQueryParams(c, b->sql, 1 + ROW_PARAMS * b->n, NULL, b->values, b->lengths,
				 b->formats, 0) ?
		       0 :
		       -EIO;
}

int store_batch_reply(const PGresult *res, const struct store_batch *b, uint64_t *ret_inserted,
		      uint64_t *ret_store_seq)
{
	int r = store_reply_shape(res, PGRES_TUPLES_OK, 1, 2);

	if (r < 0)
		return r;
	r = store_value_u64(res, 0, 0, b->n, ret_inserted);
	if (r == 0)
		r = store_value_u64(res, 0, 1, INT64_MAX, ret_store_seq);
	return r < 0 ? -EBADMSG : 0;
}

/* ---- connecting ---- */

int store_send_version(PGconn *c)
{
	return PQsendQueryParams(c, "SELECT COALESCE(max(version), 0) FROM hpcm.schema_version", 0,
				 NULL, NULL, NULL, NULL, 0) ?
		       0 :
		       -EIO;
}

int store_version_reply(const PGresult *res, int *ret)
{
	int r = store_reply_shape(res, PGRES_TUPLES_OK, 1, 1);

	return r < 0 ? r : store_value_int(res, 0, 0, 0, 1000000, ret);
}

int store_send_hello(PGconn *c, const char *node)
{
	const char *values[1] = { node };

	return PQsendQueryParams(c,
				 "SELECT (SELECT id::text FROM hpcm.store LIMIT 1), hpcm.my_node(),"
				 " (SELECT COALESCE(max(seq), 0) FROM hpcm.records"
				 " WHERE node = $1)",
				 1, NULL, values, NULL, NULL, 0) ?
		       0 :
		       -EIO;
}

int store_hello_reply(const PGresult *res, struct store_hello *h)
{
	const char *s;
	int r = store_reply_shape(res, PGRES_TUPLES_OK, 1, 3);

	*h = (struct store_hello){};
	if (r < 0)
		return r;
	r = store_value_text(res, 0, 0, sizeof(h->store_id) - 1, &s);
	if (r < 0)
		return -EBADMSG;
	strcpy(h->store_id, s);
	r = store_value_text(res, 0, 1, sizeof(h->enrolled_as) - 1, &s);
	if (r == 0)
		strcpy(h->enrolled_as, s);
	else if (r != -ENODATA)
		return -EBADMSG;
	r = store_value_u64(res, 0, 2, INT64_MAX, &h->store_seq);
	return r < 0 ? -EBADMSG : 0;
}

int store_send_refusal_query(PGconn *c, const char *node)
{
	const char *values[1] = { node };

	return PQsendQueryParams(c,
				 "SELECT reason FROM hpcm.refusals WHERE node = $1"
				 " ORDER BY id DESC LIMIT 1",
				 1, NULL, values, NULL, NULL, 0) ?
		       0 :
		       -EIO;
}

int store_refusal_reply(const PGresult *res, char *reason, size_t size)
{
	const char *s;
	int r = store_reply_shape(res, PGRES_TUPLES_OK, -1, 1);

	reason[0] = '\0';
	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		return 0;
	if (PQntuples(res) != 1 || store_value_text(res, 0, 0, 4096, &s) < 0)
		return -EBADMSG;
	snprintf(reason, size, "%s", s);
	return 0;
}

/* ---- checkpoints ---- */

int store_checkpoint_message(const struct store_checkpoint *c, char *buf, size_t size)
{
	char hex[2 * CHAIN_HASH_LEN + 1];
	int n;

	chain_hex(c->head_hash, CHAIN_HASH_LEN, hex);
	n = snprintf(buf, size,
		     "hpcmeter checkpoint 1\nnode %s\ntime_usec %" PRIu64 "\nhead_seq %" PRIu64
		     "\nhead_hash %s\nintervals %" PRIu64 "\ncpu_ns %" PRIu64 "\ngpu_ns %" PRIu64
		     "\nkey_id %s\n",
		     c->node, c->time_usec, c->head_seq, hex, c->totals.intervals, c->totals.cpu_ns,
		     c->totals.gpu_ns, c->key_id);
	return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

int store_checkpoint_sign(struct store_checkpoint *c, EVP_PKEY *key)
{
	char msg[1024];
	int n;

	if (sign_key_id(key, c->key_id) < 0)
		return -EINVAL;
	n = store_checkpoint_message(c, msg, sizeof(msg));
	if (n < 0)
		return n;
	return sign_data(key, msg, n, c->signature);
}

int store_checkpoint_verify(const struct store_checkpoint *c, EVP_PKEY *key)
{
	char msg[1024];
	int n = store_checkpoint_message(c, msg, sizeof(msg));

	if (n < 0)
		return -EBADMSG;
	return sign_verify(key, msg, n, c->signature);
}

int store_checkpoint_send(PGconn *c, const struct store_checkpoint *cp)
{
	char time_s[24], seq_s[24], iv_s[24], cpu_s[24], gpu_s[24];
	const char *values[9] = { cp->node, time_s, seq_s,	(const char *)cp->head_hash, iv_s,
				  cpu_s,    gpu_s,  cp->key_id, (const char *)cp->signature };
	int lengths[9] = { [3] = CHAIN_HASH_LEN, [8] = 64 };
	int formats[9] = { [3] = 1, [8] = 1 };

	snprintf(time_s, sizeof(time_s), "%" PRIu64, cp->time_usec);
	snprintf(seq_s, sizeof(seq_s), "%" PRIu64, cp->head_seq);
	snprintf(iv_s, sizeof(iv_s), "%" PRIu64, cp->totals.intervals);
	snprintf(cpu_s, sizeof(cpu_s), "%" PRIu64, cp->totals.cpu_ns);
	snprintf(gpu_s, sizeof(gpu_s), "%" PRIu64, cp->totals.gpu_ns);
	return PQsendQueryParams(c,
				 "INSERT INTO hpcm.checkpoints (node, time_usec, head_seq,"
				 " head_hash, intervals, cpu_ns, gpu_ns, key_id, signature)"
				 " VALUES ($1, $2::bigint, $3::bigint, $4::bytea, $5::bigint,"
				 " $6::bigint, $7::bigint, $8, $9::bytea)"
				 " ON CONFLICT (node, time_usec) DO NOTHING RETURNING 1",
				 9, NULL, values, lengths, formats, 0) ?
		       0 :
		       -EIO;
}

int store_checkpoint_reply(const PGresult *res)
{
	int r = store_reply_shape(res, PGRES_TUPLES_OK, -1, 1);

	if (r < 0)
		return r;
	return PQntuples(res) == 1 ? 1 : PQntuples(res) == 0 ? 0 : -EBADMSG;
}
