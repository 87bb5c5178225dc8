/* SPDX-License-Identifier: GPL-2.0-only */
/* Minimal TAP output for the C unit tests. */
#pragma once

#include <stdio.h>

static int tap_n, tap_failed;

/* How long a test waits, at most, for what it awaits (a ring-buffer record, a marker file):
 * generous, as in tests/lib.sh, for a 2-core VM whose cores are kept busy and an ASan build;
 * a wait ends as soon as its condition holds, so the bound costs nothing when things work. */
#define TAP_WAIT_MS (120 * 1000)

/* cond is evaluated once (it may have side effects); the line is flushed at once, so that
 * output stays in order when a test forks. */
#define TAP_CHECK(cond, ...)                                        \
	do {                                                        \
		int tap_ok_ = !!(cond);                             \
		tap_n++;                                            \
		if (!tap_ok_)                                       \
			tap_failed++;                               \
		printf("%sok %d - ", tap_ok_ ? "" : "not ", tap_n); \
		printf(__VA_ARGS__);                                \
		printf("\n");                                       \
		fflush(stdout);                                     \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
