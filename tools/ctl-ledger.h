/* SPDX-License-Identifier: GPL-2.0-only */
/* What hpcmeterctl's offline verbs share (ctl-ledger.c): the ledger opened read-only, and a
 * progress line on a terminal. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* STATE_DIR/ledger.sqlite, read-only; errors logged. */
int ctl_open_ledger(const char *state_dir, sqlite3 **ret);
/* Is standard error a terminal, where progress is shown? */
bool ctl_progress_wanted(void);
/* "\rWHAT: 42% (N of M)", or "\rWHAT: N" without a total. */
void ctl_progress(const char *what, uint64_t done, uint64_t total);
/* Clear the progress line. */
void ctl_progress_end(void);
