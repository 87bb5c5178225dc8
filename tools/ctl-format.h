/* SPDX-License-Identifier: GPL-2.0-only */
/* Human units for tables: durations ("1h 2min 3.5s") and sizes ("1.5 GiB"). JSON keeps the raw
 * numbers; these are for reading only. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FORMAT_SPAN_MAX 64
#define FORMAT_BYTES_MAX 32

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
