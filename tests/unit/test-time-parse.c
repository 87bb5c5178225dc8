/* SPDX-License-Identifier: GPL-2.0-only */
/* lib/time-parse.c, the command line's one time parser: every form in UTC, in local time
 * (Europe/Berlin, across both DST changes; America/Santiago, whose midnight was skipped), with
 * TIME_PARSE_UTC and TIME_PARSE_END_OF_DAY, relative forms from a fixed "now", and the inputs
 * it must refuse (-EINVAL: not a time; -ERANGE: before 1970, after 9999, overflowing). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "time-parse.h"

#define S ((uint64_t)1000000)
/* 2025-01-02T10:30:00Z */
#define NOW (1735813800ULL * S)

static void zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void is(const char *s, unsigned flags, uint64_t want)
{
	uint64_t got = 0;
	int r = time_parse(s, NOW, flags, &got);

	TAP_CHECK(r == 0 && got == want,
		  "TZ=%s flags=%u \"%s\" = %" PRIu64 " (got %" PRIu64 ", %d)", getenv("TZ"), flags,
		  s, want, got, r);
}

static void refused(const char *s, unsigned flags, int want)
{
	uint64_t got = 4711;
	int r = time_parse(s, NOW, flags, &got);

	TAP_CHECK(r == want && got == 4711, "TZ=%s \"%s\" refused with %s (got %d)", getenv("TZ"),
		  s, want == -EINVAL ? "EINVAL" : "ERANGE", r);
}

int main(void)
{
	/* 2025-01-02T00:00:00Z */
	const uint64_t day = 1735776000ULL * S;

	zone("UTC");
	is("2025-01-02", 0, day);
	is("2025-01-02 08:00", 0, day + 8 * 3600 * S);
	is("2025-01-02 08:00:30", 0, day + (8 * 3600 + 30) * S);
	is("2025-01-02T08:00:30", 0, day + (8 * 3600 + 30) * S);
	is("2025-01-02T08:00:30.25", 0, day + (8 * 3600 + 30) * S + 250000);
	is("2025-01-02T08:00:30.123456789", 0, day + (8 * 3600 + 30) * S + 123456);
	is("2025-01-02T08:00:00Z", 0, day + 8 * 3600 * S);
	is("2025-01-02 08:00 UTC", 0, day + 8 * 3600 * S);
	is("2025-01-02T08:00:00+01:00", 0, day + 7 * 3600 * S);
	is("2025-01-02T08:00:00+0100", 0, day + 7 * 3600 * S);
	is("2025-01-02T08:00:00+01", 0, day + 7 * 3600 * S);
	is("2025-01-02 08:00 -05:30", 0, day + (13 * 3600 + 30 * 60) * S);
	is("2024-02-29", 0, 1709164800ULL * S);
	is("1970-01-01", 0, 0);
	is("9999-12-31 23:59:59", 0, TIME_PARSE_MAX_USEC);
	is("10:00", 0, day + 10 * 3600 * S);
	is("10:00:05", 0, day + (10 * 3600 + 5) * S);
	is("now", 0, NOW);
	is("today", 0, day);
	is("yesterday", 0, day - 86400 * S);
	is("tomorrow", 0, day + 86400 * S);
	is("@0", 0, 0);
	is("@1735689600", 0, 1735689600ULL * S);
	is("@1735689600.5", 0, 1735689600ULL * S + 500000);
	is("@1735689600.000001", 0, 1735689600ULL * S + 1);
	is("-1h", 0, NOW - 3600 * S);
	is("-7d", 0, NOW - 7 * 86400 * S);
	is("-30min", 0, NOW - 1800 * S);
	is("-30m", 0, NOW - 1800 * S);
	is("-1h30min", 0, NOW - 5400 * S);
	is("-1h 30min", 0, NOW - 5400 * S);
	is("-1.5h", 0, NOW - 5400 * S);
	is("-250ms", 0, NOW - 250000);
	is("-2 weeks", 0, NOW - 14 * 86400 * S);
	is("-1M", 0, NOW - 2629800 * S);
	is("-1y", 0, NOW - 31557600 * S);
	is("+2d", 0, NOW + 2 * 86400 * S);
	is("1h ago", 0, NOW - 3600 * S);
	is("3 days ago", 0, NOW - 3 * 86400 * S);
	/* a day as an upper bound includes that day; a time of day is a time */
	is("2025-01-31", TIME_PARSE_END_OF_DAY, 1738368000ULL * S);
	is("2024-12-31", TIME_PARSE_END_OF_DAY, day - 86400 * S);
	is("2025-01-31 10:00", TIME_PARSE_END_OF_DAY, (1738281600ULL + 36000) * S);
	is("yesterday", TIME_PARSE_END_OF_DAY, day);
	is("today", TIME_PARSE_END_OF_DAY, day + 86400 * S);
	is("now", TIME_PARSE_END_OF_DAY, NOW);

	/* local time: Berlin is UTC+1 in winter, UTC+2 in summer */
	zone("Europe/Berlin");
	is("2025-01-02", 0, day - 3600 * S);
	is("2025-01-02 08:00", 0, day + 7 * 3600 * S);
	is("2025-07-01 08:00", 0, 1751349600ULL * S);
	is("2025-01-02T08:00:00Z", 0, day + 8 * 3600 * S);
	is("2025-01-02T08:00:00+01:00", 0, day + 7 * 3600 * S);
	is("2025-01-02", TIME_PARSE_UTC, day);
	is("2025-01-02 08:00", TIME_PARSE_UTC, day + 8 * 3600 * S);
	is("today", 0, day - 3600 * S);
	is("today", TIME_PARSE_UTC, day);
	is("yesterday", 0, day - 25 * 3600 * S);
	/* 2025-03-30: clocks went from 02:00 to 03:00; the day has 23 hours */
	is("2025-03-30", TIME_PARSE_END_OF_DAY, (1743289200ULL + 23 * 3600) * S);
	is("2025-03-30 01:59:59", 0, (1743289200ULL + 2 * 3600 - 1) * S);
	is("2025-03-30 03:00", 0, (1743289200ULL + 2 * 3600) * S);
	/* 02:30 does not exist that day: it is read as the same distance after the change */
	is("2025-03-30 02:30", 0, (1743289200ULL + 2 * 3600 + 1800) * S);
	/* 2025-10-26: 03:00 CEST became 02:00 CET; the day has 25 hours */
	is("2025-10-26", TIME_PARSE_END_OF_DAY, (1761429600ULL + 25 * 3600) * S);
	is("-1h", 0, NOW - 3600 * S);
	is("@1735689600", 0, 1735689600ULL * S);
	{
		/* just after local midnight, "today" is the local day, not the UTC one */
		uint64_t got = 0;
		int r = time_parse("today", day - 1800 * S, 0, &got);

		TAP_CHECK(r == 0 && got == day - 3600 * S,
			  "Berlin 00:30 (UTC 23:30 the day before): today is the local day");
	}
	/* 2024-09-08: Santiago skipped midnight (00:00 -04 became 01:00 -03) */
	zone("America/Santiago");
	is("2024-09-08", 0, 1725768000ULL * S);
	is("2024-09-08", TIME_PARSE_UTC, 1725753600ULL * S);

	zone("UTC");
	refused("", 0, -EINVAL);
	refused("tomorrowish", 0, -EINVAL);
	refused("Today", 0, -EINVAL);
	refused("40", 0, -EINVAL);
	refused("2026", 0, -EINVAL);
	refused("-1", 0, -EINVAL);
	refused("-h", 0, -EINVAL);
	refused("-", 0, -EINVAL);
	refused("1h", 0, -EINVAL);
	refused("h ago", 0, -EINVAL);
	refused(" ago", 0, -EINVAL);
	refused("-1h ago", 0, -EINVAL);
	refused("-1 fortnight", 0, -EINVAL);
	refused("-1.h", 0, -EINVAL);
	refused("2025-13-01", 0, -EINVAL);
	refused("2025-00-10", 0, -EINVAL);
	refused("2025-02-29", 0, -EINVAL);
	refused("2025-01-32", 0, -EINVAL);
	refused("2025-1-2", 0, -EINVAL);
	refused("2025-01-02 24:00", 0, -EINVAL);
	refused("2025-01-02 10:60", 0, -EINVAL);
	refused("2025-01-02 10:00:60", 0, -EINVAL);
	refused("2025-01-02 10", 0, -EINVAL);
	refused("2025-01-02T10:00:00.", 0, -EINVAL);
	refused("2025-01-02T10:00:00.1234567890", 0, -EINVAL);
	refused("2025-01-02T10:00:00+25:00", 0, -EINVAL);
	refused("2025-01-02T10:00:00+01:60", 0, -EINVAL);
	refused("2025-01-02T10:00:00+1", 0, -EINVAL);
	refused("2025-01-02T10:00:00 ", 0, -EINVAL);
	refused("2025-01-02 ", 0, -EINVAL);
	refused("2025-01-02Z", 0, -EINVAL);
	refused(" 2025-01-02", 0, -EINVAL);
	refused("yesterday 10:00", 0, -EINVAL);
	refused("now ", 0, -EINVAL);
	refused("@", 0, -EINVAL);
	refused("@-1", 0, -EINVAL);
	refused("@1.", 0, -EINVAL);
	refused("@1e9", 0, -EINVAL);
	refused("@ 1", 0, -EINVAL);
	refused("1969-12-31", 0, -ERANGE);
	refused("1970-01-01T00:00:00+01:00", 0, -ERANGE);
	refused("9999-12-31", TIME_PARSE_END_OF_DAY, -ERANGE);
	refused("@1735689600000000", 0, -ERANGE);
	refused("@99999999999999999999999999", 0, -ERANGE);
	refused("-99999999y", 0, -ERANGE);
	refused("-999999999999999999999h", 0, -ERANGE);
	refused("+9999y", 0, -ERANGE);
	refused("-56y", 0, -ERANGE);

	/* every time read back from "@SECONDS.USEC" is the same time */
	{
		static const char *const forms[] = { "2025-01-02 08:00:30.5", "yesterday",
						     "-1h30min", "2024-02-29T23:59:59+14:00",
						     "10:00" };
		bool same = true;

		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			uint64_t a = 0, b = 1;
			char at[64];

			if (time_parse(forms[i], NOW, 0, &a) < 0) {
				same = false;
				continue;
			}
			snprintf(at, sizeof(at), "@%" PRIu64 ".%06" PRIu64, a / S, a % S);
			same &= time_parse(at, NOW, 0, &b) == 0 && a == b;
		}
		TAP_CHECK(same, "each time, written as @SECONDS.USEC, reads back the same");
	}
	return tap_done();
}
