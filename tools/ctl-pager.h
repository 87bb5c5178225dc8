/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's pager: long output goes through less (or $HPCMETER_PAGER, $PAGER) when
 * standard output is a terminal, as systemctl does. */
#pragma once

#include <stdbool.h>

/* Start the pager unless disabled (no_pager, not a terminal, HPCMETER_PAGER or PAGER empty or
 * "cat"); standard output then goes to it. Failure to start it is not an error. */
void pager_open(bool no_pager);
/* Flush, let the pager see the end of the output, and wait for the user to leave it. */
void pager_close(void);
