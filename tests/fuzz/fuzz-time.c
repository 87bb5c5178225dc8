/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: lib/time-parse.c, which reads what operators type after --since, --until,
 * --from and --to. Every input is read in local time (Europe/Berlin, with its DST changes) and
 * UTC, as a lower and an upper bound. Checked: the result is 0, -EINVAL or -ERANGE; an
 * accepted time is within 1970..9999 and reads back the same from "@SECONDS.USEC"; the end
 * of a day is never before its start. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "time-parse.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 2025-01-02T10:30:00Z */
	const uint64_t now = 1735813800ULL * 1000000ULL;
	char *s = strndup((const char *)data, size);

	if (!s)
		abort();
	for (unsigned utc = 0; utc <= TIME_PARSE_UTC; utc += TIME_PARSE_UTC) {
		uint64_t start = 0, end = 0, again = 0;
		int r = time_parse(s, now, utc, &start);
		int e = time_parse(s, now, utc | TIME_PARSE_END_OF_DAY, &end);
		char at[64];

		if ((r != 0 && r != -EINVAL && r != -ERANGE) ||
		    (e != 0 && e != -EINVAL && e != -ERANGE))
			abort();
		if (r < 0)
			continue;
		if (start > TIME_PARSE_MAX_USEC || (e == 0 && end < start))
			abort();
		snprintf(at, sizeof(at), "@%" PRIu64 ".%06" PRIu64, start / 1000000,
			 start % 1000000);
		if (time_parse(at, now, utc, &again) != 0 || again != start)
			abort();
	}
	free(s);
	return 0;
}
