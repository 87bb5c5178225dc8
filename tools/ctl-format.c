// SPDX-License-Identifier: GPL-2.0-only
/* Human units for hpcmeterctl's tables (see ctl-format.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctl-format.h"

#define USEC_PER_SEC UINT64_C(1000000)

static size_t append(char *buf, size_t size, size_t n, const char *fmt, uint64_t v,
		     const char *suffix)
{
	int k;

	if (n >= size)
		return n;
	k = snprintf(buf + n, size - n, fmt, n ? " " : "", v, suffix);
	return k < 0 ? size : n + (size_t)k;
}

const char *format_span(char *buf, size_t size, uint64_t usec, uint64_t accuracy_usec)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} big[] = {
		{ "d", 86400 * USEC_PER_SEC },
		{ "h", 3600 * USEC_PER_SEC },
		{ "min", 60 * USEC_PER_SEC },
	};
	uint64_t acc = 1, sec, frac;
	unsigned digits = 6;
	size_t n = 0;

	if (size == 0)
		return buf;
	/* the accuracy as a power of ten: 1 us .. 1 s */
	while (acc < accuracy_usec && acc < USEC_PER_SEC) {
		acc *= 10;
		digits--;
	}
	if (usec > UINT64_MAX - acc / 2)
		usec = UINT64_MAX - acc / 2;
	usec = (usec + acc / 2) / acc * acc;
	buf[0] = '\0';
	if (usec == 0) {
		snprintf(buf, size, "0");
		return buf;
	}
	if (usec < USEC_PER_SEC) {
		if (usec % 1000 == 0)
			snprintf(buf, size, "%" PRIu64 "ms", usec / 1000);
		else
			snprintf(buf, size, "%" PRIu64 "us", usec);
		return buf;
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		if (usec < big[i].usec)
			continue;
		n = append(buf, size, n, "%s%" PRIu64 "%s", usec / big[i].usec, big[i].suffix);
		usec %= big[i].usec;
	}
	sec = usec / USEC_PER_SEC;
	frac = usec % USEC_PER_SEC;
	if (frac == 0) {
		if (sec > 0)
			append(buf, size, n, "%s%" PRIu64 "%s", sec, "s");
		return buf;
	}
	/* the fraction with its trailing zeros dropped */
	frac /= acc;
	while (digits > 0 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	if (n < size)
		snprintf(buf + n, size - n, "%s%" PRIu64 ".%0*" PRIu64 "s", n ? " " : "", sec,
			 (int)digits, frac);
	return buf;
}

const char *format_span_ns(char *buf, size_t size, uint64_t nsec)
{
	return format_span(buf, size, nsec / 1000 + (nsec % 1000 >= 500), 1000);
}

const char *format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1024;
	size_t i = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (i + 1 < sizeof(units) / sizeof(units[0]) && bytes / unit >= 1024) {
		unit *= 1024;
		i++;
	}
	{
		uint64_t whole = bytes / unit;
		/* tenths, truncated; 128-bit free: the remainder is below unit <= 2^60 */
		uint64_t tenths = (bytes % unit) / (unit / 10);

		if (tenths > 9)
			tenths = 9;
		if (tenths)
			snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", whole, tenths, units[i]);
		else
			snprintf(buf, size, "%" PRIu64 " %s", whole, units[i]);
	}
	return buf;
}

const char *format_timestamp_local(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;
	long off;
	size_t n;

	if (usec == 0)
		return "never";
	if (!localtime_r(&t, &tm) ||
	    (n = strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, FORMAT_TIMESTAMP_MAX, "@%" PRIu64, usec);
		return buf;
	}
	off = tm.tm_gmtoff / 60;
	snprintf(buf + n, FORMAT_TIMESTAMP_MAX - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		 labs(off) / 60, labs(off) % 60);
	return buf;
}

bool format_timestamp_utc(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	return gmtime_r(&t, &tm) &&
	       strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0;
}

const char *format_date_utc(char buf[static FORMAT_TIMESTAMP_MAX], int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, FORMAT_TIMESTAMP_MAX, "@%" PRIi64, sec);
	return buf;
}

const char *format_timespan(char buf[static FORMAT_TIMESPAN_MAX], uint64_t usec)
{
	return format_span(buf, FORMAT_TIMESPAN_MAX, usec,
			   usec >= 60 * USEC_PER_SEC ? USEC_PER_SEC : USEC_PER_MSEC);
}

/* (util.h's now_realtime_usec() would do, but this file links alone into test-ctl-format) */
static uint64_t now_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

const char *format_timestamp_relative(char buf[static FORMAT_TIMESTAMP_RELATIVE_MAX], uint64_t usec)
{
	char ts[FORMAT_TIMESTAMP_MAX], span[FORMAT_TIMESPAN_MAX];
	uint64_t now = now_usec();

	if (usec == 0)
		return "never";
	format_timestamp_local(ts, usec);
	if (now >= usec)
		snprintf(buf, FORMAT_TIMESTAMP_RELATIVE_MAX, "%s (%s ago)", ts,
			 format_timespan(span, now - usec));
	else
		snprintf(buf, FORMAT_TIMESTAMP_RELATIVE_MAX, "%s (in %s)", ts,
			 format_timespan(span, usec - now));
	return buf;
}

/* Licence validity is defined in whole UTC days, so it is shown as UTC dates. */
const char *format_validity_date(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	if (usec == 0)
		return "-";
	return format_date_utc(buf, (int64_t)(usec / USEC_PER_SEC));
}
