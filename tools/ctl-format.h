/* SPDX-License-Identifier: GPL-2.0-only */
/* Human units for tables: durations ("1h 2min 3.5s"), sizes ("1.5 GiB") and times (local
 * ISO-8601 with the offset, UTC dates). JSON keeps the raw numbers; these are for reading only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FORMAT_SPAN_MAX 64
#define FORMAT_BYTES_MAX 32
#define FORMAT_TIMESTAMP_MAX 64
#define FORMAT_TIMESPAN_MAX 64
#define FORMAT_TIMESTAMP_RELATIVE_MAX (FORMAT_TIMESTAMP_MAX + FORMAT_TIMESPAN_MAX + 16)
#define USEC_PER_MSEC UINT64_C(1000)

/* A duration in microseconds, largest unit first (d, h, min, s), then the seconds with a
 * fraction down to accuracy_usec (a power of ten from 1 to 1000000), trailing zeros dropped:
 * 3723500000 -> "1h 2min 3.5s". Below one second: "250ms", "12us"; 0 -> "0". Rounded to the
 * nearest accuracy_usec. Returns buf. */
const char *format_span(char *buf, size_t size, uint64_t usec, uint64_t accuracy_usec);

/* Nanoseconds of CPU or GPU time, as format_span with millisecond accuracy. */
const char *format_span_ns(char *buf, size_t size, uint64_t nsec);

/* A size in bytes with IEC units, one decimal, truncated (never rounded up into the next
 * unit): 512 -> "512 B", 1536 -> "1.5 KiB", 1073741824 -> "1 GiB". Returns buf. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);

/* Local ISO-8601 with the UTC offset, e.g. 2026-03-01T14:05:09+01:00; "never" for 0. */
const char *format_timestamp_local(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);
/* UTC ISO-8601, e.g. 2026-03-01T13:05:09Z; false when the time cannot be shown. */
bool format_timestamp_utc(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);
/* "2026-03-01T14:05:09+01:00 (3h 2min ago)", or "(in ...)"; "never" for 0. */
const char *format_timestamp_relative(char buf[static FORMAT_TIMESTAMP_RELATIVE_MAX],
				      uint64_t usec);
/* A UTC date (seconds since the epoch), e.g. 2026-03-01. */
const char *format_date_utc(char buf[static FORMAT_TIMESTAMP_MAX], int64_t sec);
/* A licence's validity bound (microseconds) as its UTC date; "-" for 0 (none). */
const char *format_validity_date(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);
/* "1d 2h 3min 4s", "10s", "250ms": whole seconds from a minute on. */
const char *format_timespan(char buf[static FORMAT_TIMESPAN_MAX], uint64_t usec);
