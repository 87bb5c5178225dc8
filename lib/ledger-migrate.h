/* SPDX-License-Identifier: GPL-2.0-only */
/* The ledger's schema versions (PRAGMA user_version) and the steps between them. */
#pragma once

#include <sqlite3.h>

#include "ledger-chain.h"

/* The version this build writes: the number of the last migration step. */
int ledger_schema_version(void);

/* Bring db from its user_version up to target (0 or above ledger_schema_version(): the latest),
 * one transaction per step, chaining rows through head. -EPROTONOSUPPORT when the database is
 * newer than this build. */
int ledger_migrate(sqlite3 *db, const char *path, int target, struct chain_head *head);
