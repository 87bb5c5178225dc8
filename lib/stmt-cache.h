/* SPDX-License-Identifier: GPL-2.0-only */
/* Prepared SQLite statements kept for the life of a connection: the ledger's inserts are the
 * same few statements over and over, and preparing each one anew (parsing SQL) was most of
 * their cost. */
#pragma once

#include <sqlite3.h>

#define STMT_CACHE_MAX 64

struct stmt_cache {
	struct {
		const void *key;
		sqlite3_stmt *st;
	} e[STMT_CACHE_MAX];
	unsigned n;
};

/* The statement for key (a static SQL string, or any pointer that names one SQL text), prepared
 * on first use, reset and its bindings cleared: ready to bind. NULL with *ret_rc set when it
 * cannot be prepared. Without a cache (c NULL), or with a full one, the statement is prepared
 * without being kept, and stmt_cache_release() finalizes it. */
sqlite3_stmt *stmt_cache_get(struct stmt_cache *c, sqlite3 *db, const void *key, const char *sql,
			     int *ret_rc);
/* After use: a statement the cache keeps is reset; one it does not keep is finalized. */
void stmt_cache_release(struct stmt_cache *c, sqlite3_stmt *st);
/* Before the connection closes. */
void stmt_cache_clear(struct stmt_cache *c);
