/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl verbs that read the ledger and the node key directly (ledger verify, report,
 * report verify, report public-key) or take their own options (metrics). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Is verb one of these? */
bool ctl_ext_handles(const char *verb);
/* argv[0] is the verb. Returns the exit status. */
int ctl_ext_main(int argc, char **argv);

/* ctl-ledger.c, for ctl-report.c */
int ctl_open_ledger(const char *state_dir, sqlite3 **ret);
bool ctl_progress_wanted(void);
void ctl_progress(const char *what, uint64_t done, uint64_t total);
void ctl_progress_end(void);

/* ctl-report.c */
int ctl_report(int argc, char **argv);
int ctl_report_verify(int argc, char **argv);
