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
	uint64_t seq_num, rollup_num;
	int64_t rowid_num;
	uint8_t prev[CHAIN_HASH_LEN], hash[CHAIN_HASH_LEN];
	char *tbl;
	uint8_t *body;
	size_t body_len;
	struct store_totals add;
};

void store_batch_init(struct store_batch *b, const char *node)
{
	*b = (struct store_batch){};
	snprintf(b->node, sizeof(b->node), "%s", node);
}

static void batch_free_built(struct store_batch *b)
{
	for (int i = 0; i < STORE_BATCH_ARRAYS; i++) {
		free(b->arrays[i].data);
		b->arrays[i] = (struct store_array){};
	}
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
	*row = (struct store_row){ .seq_num = e->seq,
				   .rollup_num = e->rollup,
				   .rowid_num = e->rowid };
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

/* PostgreSQL's binary array format, one dimension: ndim, has-null flag, element type, length,
 * lower bound, then each element as be32(length) (-1: NULL) and its bytes. */
static int arr_put(struct store_array *a, const void *p, size_t len)
{
	if (a->len + len > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *d;

		while (cap < a->len + len)
			cap *= 2;
		d = realloc(a->data, cap);
		if (!d)
			return -ENOMEM;
		a->data = d;
		a->cap = cap;
	}
	memcpy(a->data + a->len, p, len);
	a->len += len;
	return 0;
}

static int arr_be32(struct store_array *a, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	return arr_put(a, x, sizeof(x));
}

static int arr_be64(struct store_array *a, uint64_t v)
{
	uint8_t x[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		x[i] = v & 0xff;
	return arr_put(a, x, sizeof(x));
}

static int arr_start(struct store_array *a, uint32_t oid, size_t n)
{
	a->len = 0;
	/* has-null: 1 (allowed; arrays without one read the same) */
	if (arr_be32(a, 1) < 0 || arr_be32(a, 1) < 0 || arr_be32(a, oid) < 0 ||
	    arr_be32(a, n) < 0 || arr_be32(a, 1) < 0)
		return -ENOMEM;
	return 0;
}

static int arr_elem(struct store_array *a, const void *p, size_t len)
{
	if (!p)
		return arr_be32(a, UINT32_MAX); /* -1: NULL */
	return arr_be32(a, len) < 0 ? -ENOMEM : arr_put(a, p, len);
}

static int arr_int8(struct store_array *a, bool null, uint64_t v)
{
	if (null)
		return arr_be32(a, UINT32_MAX);
	return arr_be32(a, 8) < 0 ? -ENOMEM : arr_be64(a, v);
}

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

enum { A_SEQ, A_PREV, A_HASH, A_TBL, A_ROW, A_BODY, A_ROLLUP };

/* The rows as arrays, one per column: the statement's text is the same for every batch. */
static int batch_build(struct store_batch *b)
{
	static const uint32_t oids[STORE_BATCH_ARRAYS] = { OID_INT8, OID_BYTEA, OID_BYTEA, OID_TEXT,
							   OID_INT8, OID_BYTEA, OID_INT8 };
	int r = 0;

	for (int i = 0; r == 0 && i < STORE_BATCH_ARRAYS; i++)
		r = arr_start(&b->arrays[i], oids[i], b->n);
	for (size_t i = 0; r == 0 && i < b->n; i++) {
		struct store_row *row = &b->rows[i];

		if ((r = arr_int8(&b->arrays[A_SEQ], false, row->seq_num)) < 0 ||
		    (r = arr_elem(&b->arrays[A_PREV], row->prev, CHAIN_HASH_LEN)) < 0 ||
		    (r = arr_elem(&b->arrays[A_HASH], row->hash, CHAIN_HASH_LEN)) < 0 ||
		    (r = arr_elem(&b->arrays[A_TBL], row->tbl, strlen(row->tbl))) < 0 ||
		    (r = arr_int8(&b->arrays[A_ROW], false, (uint64_t)row->rowid_num)) < 0 ||
		    (r = arr_elem(&b->arrays[A_BODY], row->body, row->body_len)) < 0)
			break;
		/* a rolled-up row (no body) names its roll-up */
		r = arr_int8(&b->arrays[A_ROLLUP], row->body != NULL, row->rollup_num);
	}
	return r;
}

int store_batch_send(PGconn *c, struct store_batch *b)
{
	const char *values[1 + STORE_BATCH_ARRAYS];
	int lengths[1 + STORE_BATCH_ARRAYS] = {}, formats[1 + STORE_BATCH_ARRAYS] = {};
	int r;

	if (b->n == 0)
		return -ENODATA;
	r = batch_build(b);
	if (r < 0)
		return r;
	values[0] = b->node;
	for (int i = 0; i < STORE_BATCH_ARRAYS; i++) {
		values[1 + i] = b->arrays[i].data;
		lengths[1 + i] = b->arrays[i].len;
		formats[1 + i] = 1;
	}
	/* In the batch's order (the store checks each row continues the one before). */
	return PQsendQueryParams(
		       c,
		       "WITH ins AS (INSERT INTO hpcm.records (node, seq, prev, hash, tbl, row_id,"
		       " body, rollup) SELECT $1, x.s, x.p, x.h, x.t, x.r, x.b, x.u FROM"
		       " unnest($2::int8[], $3::bytea[], $4::bytea[], $5::text[], $6::int8[],"
		       " $7::bytea[], $8::int8[]) WITH ORDINALITY AS x(s, p, h, t, r, b, u, o)"
		       " ORDER BY x.o ON CONFLICT (node, seq) DO NOTHING RETURNING seq)"
		       " SELECT (SELECT count(*) FROM ins), GREATEST((SELECT max(seq) FROM ins),"
		       " (SELECT max(seq) FROM hpcm.records WHERE node = $1), 0)",
		       1 + STORE_BATCH_ARRAYS, NULL, values, lengths, formats, 0) ?
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
