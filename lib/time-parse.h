/* SPDX-License-Identifier: GPL-2.0-only */
/* Times given on the command line (--since, --until, --from, --to), read the way journalctl
 * and sacct users write them: one parser for every option of every command that takes a time.
 *
 *   2026-12-05                    midnight at the start of that day
 *   2026-12-05 10:00[:SS[.FRAC]]  (or with a "T" for the space: ISO 8601)
 *   10:00[:SS]                    that time today
 *   ... followed by Z, UTC, +01:00, +0100 or -05 (optionally after a space): in that zone;
 *                                 without one, in local time (TZ), or UTC with TIME_PARSE_UTC
 *   now, today, yesterday, tomorrow
 *   -1h, +2d, -30min, -1h30min, "1h ago"   relative to now (units: us ms s min h d w M y and
 *                                 their long names; "m" is minutes, "M" months)
 *   @1735689600[.5]               seconds since the epoch, with an optional fraction
 *
 * Bare numbers are not times (a sequence number is not a date). */
#pragma once

#include <stdint.h>

/* The forms, for error messages and --help. */
#define TIME_PARSE_FORMS                                                                     \
	"YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", ISO 8601 (2026-12-05T10:00:00+01:00), now, " \
	"today, yesterday, -1h/-7d/-30min or @EPOCH"

enum time_parse_flags {
	/* A form without a zone (and today, yesterday, tomorrow) is UTC, not local time. */
	TIME_PARSE_UTC = 1 << 0,
	/* A day (YYYY-MM-DD, today, yesterday, tomorrow) means its end, the next midnight: an
	 * upper bound that includes that whole day. */
	TIME_PARSE_END_OF_DAY = 1 << 1,
};

/* The latest time accepted, 9999-12-31T23:59:59Z, in microseconds since the epoch. */
#define TIME_PARSE_MAX_USEC (253402300799ULL * 1000000ULL)

/* s as CLOCK_REALTIME microseconds since the epoch in *ret_usec; relative forms count from
 * now_usec. -EINVAL when s is not a time, -ERANGE when it is one before 1970 or after 9999
 * (or a span that overflows). *ret_usec is set only on success. */
int time_parse(const char *s, uint64_t now_usec, unsigned flags, uint64_t *ret_usec);
