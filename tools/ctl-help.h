/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl VERB --help: each command's own usage, options, exit status and examples. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Print the help of verb; false when the verb has none here (ledger, report and metrics print
 * their own). */
bool ctl_verb_help(const char *verb);
/* The "Exit status:" section, the same for every command. */
void ctl_help_exit_status(FILE *f);
