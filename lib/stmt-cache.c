// SPDX-License-Identifier: GPL-2.0-only
/* Prepared SQLite statements kept per connection (see stmt-cache.h). */
#include <stdbool.h>
#include <stddef.h>

#include "stmt-cache.h"

static bool kept(const struct stmt_cache *c, sqlite3_stmt *st)
{
	for (unsigned i = 0; c && i < c->n; i++)
		if (c->e[i].st == st)
			return true;
	return false;
}

sqlite3_stmt *stmt_cache_get(struct stmt_cache *c, sqlite3 *db, const void *key, const char *sql,
			     int *ret_rc)
{
	sqlite3_stmt *st = NULL;
	int rc;

	for (unsigned i = 0; c && i < c->n; i++)
		if (c->e[i].key == key) {
			sqlite3_reset(c->e[i].st);
			sqlite3_clear_bindings(c->e[i].st);
			return c->e[i].st;
		}
	rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		*ret_rc = rc;
		return NULL;
	}
	if (c && c->n < STMT_CACHE_MAX) {
		c->e[c->n].key = key;
		c->e[c->n].st = st;
		c->n++;
	}
	return st;
}

void stmt_cache_release(struct stmt_cache *c, sqlite3_stmt *st)
{
	if (!st)
		return;
	if (kept(c, st))
		sqlite3_reset(st);
	else
		sqlite3_finalize(st);
}

void stmt_cache_clear(struct stmt_cache *c)
{
	for (unsigned i = 0; i < c->n; i++)
		sqlite3_finalize(c->e[i].st);
	c->n = 0;
}
