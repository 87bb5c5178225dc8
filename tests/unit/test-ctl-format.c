// SPDX-License-Identifier: GPL-2.0-only
/* format_span() and format_bytes(): hpcmeterctl's human units in tables. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../tools/ctl-format.h"
#include "tap.h"

#define SEC UINT64_C(1000000)

static void span(uint64_t usec, uint64_t acc, const char *want)
{
	char buf[FORMAT_SPAN_MAX];

	format_span(buf, sizeof(buf), usec, acc);
	TAP_CHECK(strcmp(buf, want) == 0, "span %llu us (accuracy %llu us) -> \"%s\" (want \"%s\")",
		  (unsigned long long)usec, (unsigned long long)acc, buf, want);
}

static void bytes(uint64_t b, const char *want)
{
	char buf[FORMAT_BYTES_MAX];

	format_bytes(buf, sizeof(buf), b);
	TAP_CHECK(strcmp(buf, want) == 0, "bytes %llu -> \"%s\" (want \"%s\")",
		  (unsigned long long)b, buf, want);
}

int main(void)
{
	char small[8], ns[FORMAT_SPAN_MAX];

	printf("TAP version 13\n");
	span(0, 1, "0");
	span(1, 1, "1us");
	span(999, 1, "999us");
	span(250000, 1, "250ms");
	span(250400, 1000, "250ms");
	span(400, 1000, "0"); /* below the accuracy */
	span(SEC, 1, "1s");
	span(3 * SEC + 500000, 1000, "3.5s");
	span(3723 * SEC + 500000, 1000, "1h 2min 3.5s");
	span(3723 * SEC + 512345, 1000, "1h 2min 3.512s");
	span(3723 * SEC + 512345, 1, "1h 2min 3.512345s");
	span(3723 * SEC + 512345, SEC, "1h 2min 4s"); /* rounded to the second */
	span(3600 * SEC, 1000, "1h");
	span(3660 * SEC, 1000, "1h 1min");
	span(90061 * SEC, SEC, "1d 1h 1min 1s");
	span(59 * SEC + 999600, 1000, "1min"); /* rounding carries into the minutes */
	span(2 * 86400 * SEC + 5 * SEC, SEC, "2d 5s");
	span(UINT64_MAX, SEC, "213503982d 8h 1min 49s"); /* saturates at the top, no overflow */
	format_span(small, sizeof(small), 3723 * SEC, SEC);
	TAP_CHECK(strlen(small) == sizeof(small) - 1 && strncmp(small, "1h 2min", 7) == 0,
		  "a short buffer is cut, terminated: \"%s\"", small);
	format_span_ns(ns, sizeof(ns), UINT64_C(3723512345678));
	TAP_CHECK(strcmp(ns, "1h 2min 3.512s") == 0, "nanoseconds to milliseconds: \"%s\"", ns);
	format_span_ns(ns, sizeof(ns), 499);
	TAP_CHECK(strcmp(ns, "0") == 0, "499 ns is 0: \"%s\"", ns);

	bytes(0, "0 B");
	bytes(512, "512 B");
	bytes(1023, "1023 B");
	bytes(1024, "1 KiB");
	bytes(1536, "1.5 KiB");
	bytes(1024 * 1024 - 1, "1023.9 KiB"); /* truncated, never "1024.0 KiB" */
	bytes(UINT64_C(1) << 30, "1 GiB");
	bytes((UINT64_C(3) << 29), "1.5 GiB");
	bytes(UINT64_C(5) << 40, "5 TiB");
	bytes(UINT64_MAX, "15.9 EiB");
	return tap_done();
}
