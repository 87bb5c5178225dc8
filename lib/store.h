/* SPDX-License-Identifier: GPL-2.0-only */
/* The cluster's store in PostgreSQL (libpq), shared by hpcmeterd (shipping, through libpq's
 * non-blocking calls), hpcmeterctl cluster and the benchmarks: the schema and its migrations
 * (store-schema.c), the statements a node sends and the checks of every reply (store.c), the
 * records' canonical content decoded (store-record.c), and the audit walk (store-verify.c).
 * Every reply of the database is external input: read through the store_value_*() checks. */
#pragma once

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger-chain.h"

/* ---- store-schema.c ---- */
int store_schema_version(void);
/* The store's schema version (0: none yet). */
int store_read_version(PGconn *c, int *ret, char *err, size_t size);
/* Create or migrate the schema (cluster init). */
int store_migrate(PGconn *c, int *ret_from, int *ret_to, char *err, size_t size);

/* ---- store.c: connections and replies ---- */
/* A node's name: what hpcm.nodes accepts (a host name: letters, digits, '.', '_', '-'). */
bool store_node_name_valid(const char *name);
/* Connect (blocking, for the CLI): conninfo as given, with a connect timeout of 10 s unless it
 * sets one. */
int store_connect(const char *conninfo, const char *application, PGconn **ret, char *err,
		  size_t size);
/* The keywords and values a connection starts from (also for PQconnectStartParams). */
void store_conn_params(const char *conninfo, const char *application, const char *keys[4],
		       const char *values[4]);
/* One line saying why a command or the connection failed. */
const char *store_error_line(PGconn *c, const PGresult *res);

/* Cells of a text-format reply, checked: -EBADMSG when out of shape or range, -ENODATA for
 * NULL. */
int store_value_int(const PGresult *res, int row, int col, int min, int max, int *ret);
int store_value_u64(const PGresult *res, int row, int col, uint64_t max, uint64_t *ret);
int store_value_text(const PGresult *res, int row, int col, size_t max_len, const char **ret);
/* Cells of a binary-format reply: an int8, or a bytea of a given length (len 0: any). */
int store_bin_u64(const PGresult *res, int row, int col, uint64_t max, uint64_t *ret);
int store_bin_bytes(const PGresult *res, int row, int col, size_t len, const uint8_t **ret,
		    size_t *ret_len);
/* A reply has this shape (status, at least/exactly rows, columns). */
int store_reply_shape(const PGresult *res, ExecStatusType status, int rows, int cols);

/* ---- running totals over a node's records ---- */
struct store_totals {
	uint64_t intervals; /* records of table intervals */
	uint64_t cpu_ns; /* usage.cpu_ns */
	uint64_t gpu_ns; /* gpu_usage.gpu_ns */
};
/* What one record's canonical content adds (a body that does not decode adds nothing and
 * returns -EBADMSG). */
int store_totals_add(struct store_totals *t, const uint8_t *body, size_t len);
int store_totals_sub(struct store_totals *t, const uint8_t *body, size_t len);

/* ---- shipping records: one INSERT per batch, one transaction ---- */
#define STORE_BATCH_MAX 500

struct store_row;
#define STORE_BATCH_ARRAYS 7
struct store_array {
	char *data;
	size_t len, cap;
};
struct store_batch {
	char node[64];
	struct store_row *rows;
	size_t n;
	/* the parameters: one binary array per column */
	struct store_array arrays[STORE_BATCH_ARRAYS];
};
void store_batch_init(struct store_batch *b, const char *node);
/* Empty it for the next batch; free: also its memory. */
void store_batch_clear(struct store_batch *b);
void store_batch_free(struct store_batch *b);
int store_batch_add(struct store_batch *b, const struct chain_entry *e);
uint64_t store_batch_first(const struct store_batch *b);
uint64_t store_batch_last(const struct store_batch *b);
/* Send it on c (PQsendQueryParams; non-blocking when c is). */
int store_batch_send(PGconn *c, struct store_batch *b);
/* The reply: the rows inserted now and the node's highest seq in the store after it. */
int store_batch_reply(const PGresult *res, const struct store_batch *b, uint64_t *ret_inserted,
		      uint64_t *ret_store_seq);
/* The hash of the batch's row seq (left unchanged when it has none). */
void store_batch_hash(const struct store_batch *b, uint64_t seq, uint8_t out[CHAIN_HASH_LEN]);
/* The totals of the batch's rows up to and including seq. */
void store_batch_totals(const struct store_batch *b, uint64_t upto_seq, struct store_totals *t);

/* ---- what a node asks when it connects ---- */
/* SELECT version: one row, one column. */
int store_send_version(PGconn *c);
int store_version_reply(const PGresult *res, int *ret);
/* The store's id, the node its role is enrolled as (NULL: none), the node's highest seq. */
int store_send_hello(PGconn *c, const char *node);
struct store_hello {
	char store_id[64];
	char enrolled_as[64]; /* "" when the role is not enrolled */
	uint64_t store_seq;
};
int store_hello_reply(const PGresult *res, struct store_hello *ret);
/* The latest refusal of the node's (as far as its role may read it). */
int store_send_refusal_query(PGconn *c, const char *node);
/* ret_reason "" when none. */
int store_refusal_reply(const PGresult *res, char *reason, size_t size);

/* ---- checkpoints, signed with the node's Ed25519 key ---- */
struct store_checkpoint {
	char node[64];
	uint64_t time_usec; /* the time covered: the end of the last interval in the chain */
	uint64_t head_seq;
	uint8_t head_hash[CHAIN_HASH_LEN];
	struct store_totals totals; /* over records 1..head_seq */
	char key_id[65]; /* SHA-256 of the public key's DER (sign_key_id) */
	uint8_t signature[64];
};
/* The exact text that is signed (an auditor can rebuild it: docs/cluster.md). */
int store_checkpoint_message(const struct store_checkpoint *c, char *buf, size_t size);
int store_checkpoint_sign(struct store_checkpoint *c, EVP_PKEY *key);
/* 0 when valid, -EBADMSG otherwise. */
int store_checkpoint_verify(const struct store_checkpoint *c, EVP_PKEY *key);
int store_checkpoint_send(PGconn *c, const struct store_checkpoint *cp);
/* 1 when stored, 0 when refused (or a duplicate). */
int store_checkpoint_reply(const PGresult *res);

/* ---- store-record.c: a record's canonical content ---- */
#define STORE_RECORD_MAX_COLS 32
struct store_value {
	uint8_t type; /* SQLite's: 1 integer, 2 float, 3 text, 4 blob, 5 null */
	int64_t i;
	double d;
	const uint8_t *s; /* text or blob bytes, inside the body, not NUL-terminated */
	uint32_t len;
};
struct store_record {
	char table[32];
	int64_t rowid;
	uint32_t ncols;
	struct store_value v[STORE_RECORD_MAX_COLS];
};
/* Decode body; -EBADMSG on any malformation (lengths, types, trailing bytes). */
int store_record_decode(const uint8_t *body, size_t len, struct store_record *r);
/* Column i as an integer (-EBADMSG when it is not one). */
int store_record_int(const struct store_record *r, uint32_t i, int64_t *ret);
