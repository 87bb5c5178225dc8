// SPDX-License-Identifier: GPL-2.0-only
/* The audit walk over the cluster's store (hpcmeterctl cluster verify): every node's chain from
 * its first record, each hash recomputed from the record's content and the previous hash, each
 * row replaced by a retention roll-up accounted for by its roll-up record, and every checkpoint
 * checked against the chain (head hash, running totals) and its Ed25519 signature against the
 * node's enrolled key. What the database's superuser changed shows as the first record or
 * checkpoint that does not match. Reads in binary format; every cell is checked. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"
#include "store-verify.h"
#include "util.h"

#define CHUNK 20000
#define CHUNK_SQL "20000"

struct key {
	char id[65];
	EVP_PKEY *pkey;
};

struct rollup_acc {
	uint64_t rollup_seq, entries;
	EVP_MD_CTX *ctx;
	bool done;
};

struct walk {
	PGconn *c;
	struct store_verify_node *v;
	struct key *keys;
	size_t n_keys;
	struct rollup_acc *acc;
	size_t n_acc;
	/* checkpoints in head_seq order */
	struct store_checkpoint *cps;
	size_t n_cps, next_cp;
	struct store_totals totals;
	uint64_t seq;
	uint8_t hash[CHAIN_HASH_LEN];
};

static void bad(struct store_verify_node *v, const char *what, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void bad(struct store_verify_node *v, const char *what, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (v->broken)
		return;
	v->broken = true;
	snprintf(v->bad_what, sizeof(v->bad_what), "%s", what);
	v->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

static int db_fail(struct walk *w, PGresult *res, const char *what)
{
	snprintf(w->v->error, sizeof(w->v->error), "%s: %s", what, store_error_line(w->c, res));
	PQclear(res);
	return -EIO;
}

static int load_keys(struct walk *w)
{
	const char *values[1] = { w->v->node };
	PGresult *res = PQexecParams(w->c,
				     "SELECT key_id, public_key FROM hpcm.node_keys WHERE node = $1"
				     " ORDER BY id",
				     1, NULL, values, NULL, NULL, 0);

	if (store_reply_shape(res, PGRES_TUPLES_OK, -1, 2) < 0)
		return db_fail(w, res, "reading the node's keys");
	w->keys = calloc(PQntuples(res) + 1, sizeof(*w->keys));
	if (!w->keys) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id, *pem;
		BIO *bio;
		EVP_PKEY *k;

		if (store_value_text(res, i, 0, 64, &id) < 0 ||
		    store_value_text(res, i, 1, 16384, &pem) < 0)
			continue;
		bio = BIO_new_mem_buf(pem, -1);
		k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		if (!k)
			continue; /* a key that does not parse verifies nothing */
		snprintf(w->keys[w->n_keys].id, sizeof(w->keys[w->n_keys].id), "%s", id);
		w->keys[w->n_keys++].pkey = k;
	}
	PQclear(res);
	return 0;
}

static EVP_PKEY *key_find(struct walk *w, const char *id)
{
	for (size_t i = 0; i < w->n_keys; i++)
		if (streq(w->keys[i].id, id))
			return w->keys[i].pkey;
	return NULL;
}

static int load_checkpoints(struct walk *w)
{
	const char *values[1] = { w->v->node };
	PGresult *res = PQexecParams(w->c,
				     "SELECT time_usec, head_seq, head_hash, intervals, cpu_ns,"
				     " gpu_ns, key_id, signature FROM hpcm.checkpoints"
				     " WHERE node = $1 ORDER BY head_seq, time_usec",
				     1, NULL, values, NULL, NULL, 1);
	int n;

	if (store_reply_shape(res, PGRES_TUPLES_OK, -1, 8) < 0)
		return db_fail(w, res, "reading the node's checkpoints");
	n = PQntuples(res);
	w->cps = calloc(n + 1, sizeof(*w->cps));
	if (!w->cps) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct store_checkpoint *cp = &w->cps[i];
		const uint8_t *hash, *sig, *id;
		size_t id_len;

		snprintf(cp->node, sizeof(cp->node), "%s", w->v->node);
		if (store_bin_u64(res, i, 0, INT64_MAX, &cp->time_usec) < 0 ||
		    store_bin_u64(res, i, 1, INT64_MAX, &cp->head_seq) < 0 ||
		    store_bin_bytes(res, i, 2, CHAIN_HASH_LEN, &hash, NULL) < 0 ||
		    store_bin_u64(res, i, 3, INT64_MAX, &cp->totals.intervals) < 0 ||
		    store_bin_u64(res, i, 4, INT64_MAX, &cp->totals.cpu_ns) < 0 ||
		    store_bin_u64(res, i, 5, INT64_MAX, &cp->totals.gpu_ns) < 0 ||
		    store_bin_bytes(res, i, 6, 0, &id, &id_len) < 0 || id_len > 64 ||
		    store_bin_bytes(res, i, 7, 64, &sig, NULL) < 0) {
			bad(w->v, "checkpoint", 0, "checkpoint %d of the node cannot be read",
			    i + 1);
			break;
		}
		memcpy(cp->head_hash, hash, CHAIN_HASH_LEN);
		memcpy(cp->key_id, id, id_len);
		cp->key_id[id_len] = '\0';
		memcpy(cp->signature, sig, 64);
		w->n_cps++;
	}
	PQclear(res);
	w->v->checkpoints = w->n_cps;
	return 0;
}

/* Checkpoints whose head is the record just verified (seq w->seq; 0 before any). */
static void check_checkpoints(struct walk *w)
{
	while (!w->v->broken && w->next_cp < w->n_cps && w->cps[w->next_cp].head_seq <= w->seq) {
		struct store_checkpoint *cp = &w->cps[w->next_cp++];
		EVP_PKEY *k = key_find(w, cp->key_id);

		if (cp->head_seq != w->seq)
			bad(w->v, "checkpoint", cp->head_seq,
			    "checkpoint at %" PRIu64 " names a record the walk did not reach",
			    cp->time_usec);
		else if (!k)
			bad(w->v, "checkpoint", cp->head_seq,
			    "checkpoint at time %" PRIu64
			    " is signed by key %.16s..., not enrolled",
			    cp->time_usec, cp->key_id);
		else if (store_checkpoint_verify(cp, k) < 0)
			bad(w->v, "checkpoint", cp->head_seq,
			    "checkpoint at time %" PRIu64 ": the signature does not verify",
			    cp->time_usec);
		else if (memcmp(cp->head_hash, w->hash, CHAIN_HASH_LEN) != 0)
			bad(w->v, "checkpoint", cp->head_seq,
			    "checkpoint at time %" PRIu64 ": signed head hash differs from record"
			    " %" PRIu64 "'s",
			    cp->time_usec, cp->head_seq);
		else if (cp->totals.intervals != w->totals.intervals ||
			 cp->totals.cpu_ns != w->totals.cpu_ns ||
			 cp->totals.gpu_ns != w->totals.gpu_ns)
			bad(w->v, "checkpoint", cp->head_seq,
			    "checkpoint at time %" PRIu64 ": signed totals differ from the records'"
			    " (cpu_ns %" PRIu64 " signed, %" PRIu64 " in the records)",
			    cp->time_usec, cp->totals.cpu_ns, w->totals.cpu_ns);
		else
			w->v->last_checkpoint_usec = cp->time_usec;
	}
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
	if (!a->ctx || !EVP_DigestInit_ex(a->ctx, EVP_sha256(), NULL))
		return NULL;
	w->n_acc++;
	return a;
}

/* A roll-up record (table rollups: id, time_usec, before_usec, entries, digest): the entries
 * it replaced, and the SHA-256 of their hashes, must match the rows without content. */
static void check_rollup(struct walk *w, uint64_t seq, const struct store_record *rec)
{
	struct rollup_acc *a = acc_get(w, seq, false);
	uint8_t digest[CHAIN_HASH_LEN];
	char hex[2 * CHAIN_HASH_LEN + 1];
	unsigned int n = CHAIN_HASH_LEN;
	int64_t entries;

	if (a)
		EVP_DigestFinal_ex(a->ctx, digest, &n);
	else
		chain_sha256("", 0, digest);
	chain_hex(digest, sizeof(digest), hex);
	if (store_record_int(rec, 3, &entries) < 0 || rec->ncols < 5 ||
	    rec->v[4].type != SQLITE_TEXT || rec->v[4].len != 2 * CHAIN_HASH_LEN ||
	    memcmp(rec->v[4].s, hex, 2 * CHAIN_HASH_LEN) != 0 ||
	    (uint64_t)entries != (a ? a->entries : 0))
		bad(w->v, "record", seq,
		    "roll-up record does not match the %" PRIu64 " records it replaced",
		    a ? a->entries : 0);
	if (a)
		a->done = true;
}

static void check_row(struct walk *w, const PGresult *res, int i)
{
	uint64_t seq, row_id, rollup = 0;
	const uint8_t *prev, *hash, *body = NULL, *tbl;
	size_t body_len = 0, tbl_len;
	uint8_t h[CHAIN_HASH_LEN];
	struct store_record rec;
	int r;

	if (store_bin_u64(res, i, 0, INT64_MAX, &seq) < 0 ||
	    store_bin_bytes(res, i, 1, CHAIN_HASH_LEN, &prev, NULL) < 0 ||
	    store_bin_bytes(res, i, 2, CHAIN_HASH_LEN, &hash, NULL) < 0 ||
	    store_bin_bytes(res, i, 3, 0, &tbl, &tbl_len) < 0 ||
	    store_bin_u64(res, i, 4, UINT64_MAX, &row_id) < 0) {
		bad(w->v, "record", w->seq + 1, "record after %" PRIu64 " cannot be read", w->seq);
		return;
	}
	r = store_bin_bytes(res, i, 5, 0, &body, &body_len);
	if (r == -ENODATA)
		body = NULL;
	else if (r < 0) {
		bad(w->v, "record", seq, "record %" PRIu64 ": its content cannot be read", seq);
		return;
	}
	r = store_bin_u64(res, i, 6, INT64_MAX, &rollup);
	if (r < 0 && r != -ENODATA) {
		bad(w->v, "record", seq, "record %" PRIu64 ": its roll-up cannot be read", seq);
		return;
	}
	if (seq != w->seq + 1) {
		bad(w->v, "record", w->seq + 1,
		    "record %" PRIu64 " is missing (next is %" PRIu64 ")", w->seq + 1, seq);
		return;
	}
	if (memcmp(prev, w->hash, CHAIN_HASH_LEN) != 0) {
		bad(w->v, "record", seq,
		    "record %" PRIu64 ": its previous hash is not record %" PRIu64 "'s", seq,
		    w->seq);
		return;
	}
	if (body) {
		chain_entry_hash(prev, seq, body, body_len, h);
		if (memcmp(h, hash, CHAIN_HASH_LEN) != 0) {
			bad(w->v, "record", seq,
			    "record %" PRIu64 ": content does not match the stored hash", seq);
			return;
		}
		if (store_record_decode(body, body_len, &rec) < 0 || strlen(rec.table) != tbl_len ||
		    memcmp(rec.table, tbl, tbl_len) != 0 || (uint64_t)rec.rowid != row_id) {
			bad(w->v, "record", seq,
			    "record %" PRIu64 ": its table or row differs from its content", seq);
			return;
		}
		store_totals_add(&w->totals, body, body_len);
		if (streq(rec.table, "rollups"))
			check_rollup(w, seq, &rec);
	} else {
		struct rollup_acc *a;

		if (rollup <= seq) {
			bad(w->v, "record", seq,
			    "record %" PRIu64 " has no content and no later roll-up", seq);
			return;
		}
		a = acc_get(w, rollup, true);
		if (!a) {
			bad(w->v, "record", seq, "out of memory");
			return;
		}
		if (a->done) {
			bad(w->v, "record", seq,
			    "record %" PRIu64 " claims a roll-up that was already complete", seq);
			return;
		}
		EVP_DigestUpdate(a->ctx, hash, CHAIN_HASH_LEN);
		a->entries++;
		w->v->rolled_up++;
	}
	w->seq = seq;
	memcpy(w->hash, hash, CHAIN_HASH_LEN);
	w->v->records++;
	check_checkpoints(w);
}

static void walk_done(struct walk *w)
{
	for (size_t i = 0; i < w->n_keys; i++)
		EVP_PKEY_free(w->keys[i].pkey);
	free(w->keys);
	for (size_t i = 0; i < w->n_acc; i++)
		EVP_MD_CTX_free(w->acc[i].ctx);
	free(w->acc);
	free(w->cps);
}

int store_verify_node(PGconn *c, struct store_verify_node *v,
		      void (*progress)(uint64_t done, void *ud), void *ud)
{
	struct walk w = { .c = c, .v = v };
	int r;

	r = load_keys(&w);
	if (r == 0)
		r = load_checkpoints(&w);
	if (r < 0 || v->broken)
		goto out;
	check_checkpoints(&w); /* checkpoints at 0: before any record */
	while (!v->broken) {
		char after[24];
		const char *values[2] = { v->node, after };
		PGresult *res;
		int n;

		snprintf(after, sizeof(after), "%" PRIu64, w.seq);
		res = PQexecParams(c,
				   "SELECT seq, prev, hash, convert_to(tbl, 'UTF8'), row_id, body,"
				   " rollup FROM hpcm.records WHERE node = $1 AND seq > $2::bigint"
				   " ORDER BY seq LIMIT " CHUNK_SQL,
				   2, NULL, values, NULL, NULL, 1);
		if (store_reply_shape(res, PGRES_TUPLES_OK, -1, 7) < 0) {
			r = db_fail(&w, res, "reading the node's records");
			goto out;
		}
		n = PQntuples(res);
		for (int i = 0; i < n && !v->broken; i++)
			check_row(&w, res, i);
		PQclear(res);
		if (progress)
			progress(v->records, ud);
		if (n < CHUNK)
			break;
	}
	if (!v->broken && w.next_cp < w.n_cps)
		bad(v, "checkpoint", w.cps[w.next_cp].head_seq,
		    "checkpoint names record %" PRIu64 ", beyond the last record stored (%" PRIu64
		    ")",
		    w.cps[w.next_cp].head_seq, w.seq);
	for (size_t i = 0; !v->broken && i < w.n_acc; i++)
		if (!w.acc[i].done)
			bad(v, "record", w.acc[i].rollup_seq,
			    "roll-up record %" PRIu64 ", named by records without content, is"
			    " missing",
			    w.acc[i].rollup_seq);
	v->head_seq = w.seq;
	memcpy(v->head_hash, w.hash, CHAIN_HASH_LEN);
	v->totals = w.totals;
out:
	walk_done(&w);
	return r;
}

int store_verify_nodes(PGconn *c, char ***ret, size_t *n, char *err, size_t size)
{
	PGresult *res = PQexec(c, "SELECT name FROM hpcm.nodes UNION SELECT DISTINCT node"
				  " FROM hpcm.records ORDER BY 1");
	char **names;

	if (store_reply_shape(res, PGRES_TUPLES_OK, -1, 1) < 0) {
		snprintf(err, size, "reading the nodes: %s", store_error_line(c, res));
		PQclear(res);
		return -EIO;
	}
	names = calloc(PQntuples(res) + 1, sizeof(*names));
	if (!names) {
		PQclear(res);
		return -ENOMEM;
	}
	*n = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *s;

		if (store_value_text(res, i, 0, 63, &s) < 0 || !(names[*n] = strdup(s)))
			continue;
		(*n)++;
	}
	PQclear(res);
	*ret = names;
	return 0;
}
