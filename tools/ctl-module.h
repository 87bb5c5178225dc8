/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl: the kernel module's view of the node (its accelerator inventory). */
#pragma once

#include <stdbool.h>

#include "json-doc.h"

/* Print the accelerators hpcmeter.ko sees on standard output, as a table (legend: header and
 * footer) or as JSON. A module that is not loaded is -ENOENT with a message on stderr, or with
 * absent_ok a line saying so and 0. */
int ctl_module_inventory(enum json_mode json, bool legend, bool absent_ok);

/* The columns of that table (for --columns). */
struct table;
extern const struct table ctl_module_columns;
