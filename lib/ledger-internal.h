/* SPDX-License-Identifier: GPL-2.0-only */
/* For the ledger's own files (ledger-*.c): the database handle and the insert that chains and
 * survives a full disk. Not for the rest of the daemon. */
#pragma once

#include <sqlite3.h>
#include <stdarg.h>

#include "ledger-chain.h"
#include "ledger.h"

sqlite3 *ledger_db(struct ledger *l);

/* Insert one row (types: one char per argument, "t" text, "i" uint64, "d" double), chaining it
 * when its table is chained. Inside the transaction ledger_commit() ends. */
int ledger_insert(struct ledger *l, const char *sql, const char *types, ...);
int ledger_insertv(struct ledger *l, const char *sql, const char *types, va_list ap);

/* The last gap id given out (ledger-records.c assigns them). */
uint64_t *ledger_gap_id_ptr(struct ledger *l);
/* The last sessions row id given out (ledger-sessions.c assigns them). */
uint64_t *ledger_session_id_ptr(struct ledger *l);
