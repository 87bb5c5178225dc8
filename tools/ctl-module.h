/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl: the kernel module's view of the node (its accelerator inventory). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Print the accelerators hpcmeter.ko sees, as a table (legend: header and footer) or as JSON
 * (json: 0 off, 1 short, 2 pretty). A module that is not loaded is -ENOENT with a message on
 * stderr, or with absent_ok a line saying so on f and 0. */
int ctl_module_inventory(FILE *f, int json, bool legend, bool absent_ok);
