/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl: the kernel module's view of the node (its accelerator inventory). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Print the accelerators hpcmeter.ko sees, as a table (legend: header and footer) or as JSON
 * (json: 0 off, 1 short, 2 pretty). -ENOENT when the module is not loaded (message printed). */
int ctl_module_inventory(FILE *f, int json, bool legend);
