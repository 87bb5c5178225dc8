/* SPDX-License-Identifier: GPL-2.0-only */
/* What the CPU meter's benchmarks share: the configurations they alternate (no meter, the
 * meter's tp_btf programs, its raw_tp fallback, through the daemon's own meter_open()), and
 * the table of medians they print. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "meter.h"

#define BENCH_MAX_REPS 64

struct bench_config {
	const char *name;
	int attach; /* enum meter_attach; -1: no meter; below: the benchmark's own */
};

#define BENCH_NO_METER     \
	{                  \
		"none", -1 \
	}
#define BENCH_TP_BTF                                   \
	{                                              \
		"BPF meter, tp_btf", METER_ATTACH_AUTO \
	}
#define BENCH_RAW_TP                                     \
	{                                                \
		"BPF meter, raw_tp", METER_ATTACH_RAW_TP \
	}

static inline int bench_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Sort each row's runs and print min / median / max, and the added amount and the ratio of
 * the medians against the first row, as a Markdown table, with that many decimals; a row
 * whose median is 0 did not run. v[row][run]. */
static inline void bench_table(const struct bench_config *cfg, int rows, double v[][BENCH_MAX_REPS],
			       int reps, const char *what, const char *unit, int decimals)
{
	int d = decimals;

	for (int c = 0; c < rows; c++)
		qsort(v[c], reps, sizeof(double), bench_cmp);
	printf("| meter | %s (min / median / max) | added (medians) | ratio |\n"
	       "| --- | --- | --- | --- |\n",
	       what);
	for (int c = 0; c < rows; c++) {
		double med = v[c][reps / 2], base = v[0][reps / 2];

		if (med == 0) {
			printf("| %s | not run | | |\n", cfg[c].name);
			continue;
		}
		printf("| %s | %.*f / %.*f / %.*f | %.*f %s | %.3f |\n", cfg[c].name, d, v[c][0], d,
		       med, d, v[c][reps - 1], d, med - base, unit, med / base);
	}
}
