/* SPDX-License-Identifier: GPL-2.0-only */
/* The ledger's hash chain: every appended record gets an entry in table "chain" whose hash is
 * SHA-256 over the previous entry's hash and a canonical encoding of the record. Used by the
 * daemon (append) and by hpcmeterctl (verify, offline). */
#pragma once

#include <sqlite3.h>

#include "stmt-cache.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAIN_HASH_LEN 32

struct chain_head {
	uint64_t seq; /* 0: empty chain */
	uint8_t hash[CHAIN_HASH_LEN]; /* all zero for the empty chain */
};

/* The canonical content of a record: what its chain entry hashes after the previous hash and
 * the sequence number (str(table) || be64(rowid) || be32(ncols) || values), and what a node
 * ships to the cluster's store. */
struct chain_body {
	uint8_t *data;
	size_t len, cap;
};
void chain_body_free(struct chain_body *b);

/* hash(seq) = SHA-256(prev || be64(seq) || body). */
void chain_entry_hash(const uint8_t prev[CHAIN_HASH_LEN], uint64_t seq, const void *body,
		      size_t len, uint8_t out[CHAIN_HASH_LEN]);

/* One chain entry as it is shipped: body is NULL when the retention roll-up replaced the row
 * (rollup then names the roll-up record's seq). Valid during the callback only. */
struct chain_entry {
	uint64_t seq;
	const char *table;
	int64_t rowid;
	uint8_t prev[CHAIN_HASH_LEN];
	uint8_t hash[CHAIN_HASH_LEN];
	uint64_t rollup; /* 0: none */
	const uint8_t *body;
	size_t body_len;
};

/* fn over the entries after after_seq up to and including max_seq, at most limit of them, in
 * order. Returns the number visited, or -errno (fn's negative return stops the walk). */
int chain_read_entries(sqlite3 *db, uint64_t after_seq, uint64_t max_seq, size_t limit,
		       int (*fn)(const struct chain_entry *e, void *userdata), void *userdata);

/* Is this table's content chained? */
bool chain_table_known(const char *table);

/* Read the last entry (the head) of the chain. */
int chain_load_head(sqlite3 *db, struct chain_head *head);

/* Append the row rowid of table to the chain, advancing head. Runs inside the caller's
 * transaction. */
int chain_append(sqlite3 *db, struct stmt_cache *cache, struct chain_head *head, const char *table,
		 int64_t rowid);

/* Chain every row of the chained tables that has no chain entry yet, in table order then rowid
 * order (used by the migration that introduces the chain). */
int chain_adopt_unchained(sqlite3 *db, struct chain_head *head);

struct chain_verify {
	uint64_t entries; /* entries walked */
	uint64_t rolled_up; /* entries whose row was replaced by a roll-up */
	struct chain_head head; /* the last entry that verified */
	/* When broken: the first broken entry and why. */
	bool broken;
	uint64_t bad_seq;
	char bad_table[32];
	int64_t bad_row;
	char reason[256];
};

/* Walk the whole chain. Returns 0 (check v->broken) or -errno when the database cannot be read.
 * progress, when set, is called now and then with (entries done, entries total). */
int chain_verify(sqlite3 *db, struct chain_verify *v,
		 void (*progress)(uint64_t done, uint64_t total, void *userdata), void *userdata);

/* Hex helpers. out must have 2 * len + 1 bytes. */
void chain_hex(const uint8_t *in, size_t len, char *out);
int chain_unhex(const char *in, uint8_t *out, size_t len);

/* SHA-256 of a whole buffer. */
void chain_sha256(const void *data, size_t len, uint8_t out[CHAIN_HASH_LEN]);
