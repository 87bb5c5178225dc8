// SPDX-License-Identifier: GPL-2.0-only
/* The command line's one time parser (see time-parse.h). Strict: every byte is accounted for,
 * fields have their exact number of digits and are range-checked before the C library sees
 * them, so that a typo is an error rather than some other time. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "time-parse.h"

#define USEC_PER_SEC 1000000ULL
#define MAX_SEC 253402300799LL /* 9999-12-31T23:59:59Z */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Exactly n digits at *p; advances *p past them. */
static bool take_digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

/* An optional ".F" of 1 to 9 digits at *p, as microseconds (digits past the sixth dropped). */
static bool take_fraction(const char **p, uint64_t *ret_usec)
{
	uint64_t v = 0;
	int n = 0;

	*ret_usec = 0;
	if (**p != '.')
		return true;
	for ((*p)++; is_digit(**p); (*p)++, n++) {
		if (n >= 9)
			return false;
		if (n < 6)
			v = v * 10 + (uint64_t)(**p - '0');
	}
	if (n == 0)
		return false;
	for (; n < 6; n++)
		v *= 10;
	*ret_usec = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Seconds since the epoch of a broken-down time, in local time or UTC. mktime() normalizes
 * fields out of range (tm_mday + 1 at the end of a month) and a local time that does not
 * exist (skipped by a DST change) to the same wall-clock distance after the change. */
static int tm_to_sec(struct tm *tm, bool utc, int64_t *ret)
{
	time_t t;

	tm->tm_isdst = -1;
	t = utc ? timegm(tm) : mktime(tm);
	if (t < 0 || t > MAX_SEC)
		return -ERANGE;
	*ret = t;
	return 0;
}

/* Midnight at the start of the day now_sec is in, plus days. */
static int day_start(int64_t now_sec, int days, bool utc, int64_t *ret)
{
	time_t now = (time_t)now_sec;
	struct tm tm;

	if (!(utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm)))
		return -ERANGE;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	return tm_to_sec(&tm, utc, ret);
}

/* A zone at *p ("Z", "UTC", "+HH:MM", "+HHMM", "+HH", after an optional space) as seconds
 * east of UTC; false when *p is not exactly one zone. */
static bool take_zone(const char *p, long *ret_offset)
{
	int h, m = 0;
	int sign;

	if (*p == ' ')
		p++;
	if (strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "UTC") == 0) {
		*ret_offset = 0;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!take_digits(&p, 2, &h))
		return false;
	if (*p == ':')
		p++;
	if (*p && !take_digits(&p, 2, &m))
		return false;
	if (*p || h > 23 || m > 59)
		return false;
	*ret_offset = sign * (h * 3600L + m * 60L);
	return true;
}

/* A point in time written as a date and/or a time of day. */
static int parse_absolute(const char *s, int64_t now_sec, unsigned flags, uint64_t *ret_usec)
{
	bool utc = flags & TIME_PARSE_UTC, have_time = false;
	int year, month, day, hour = 0, min = 0, sec = 0;
	uint64_t frac_usec = 0;
	const char *p = s;
	long offset = 0;
	bool zoned = false;
	struct tm tm = {};
	int64_t t;
	int r;

	if (take_digits(&p, 4, &year) && *p == '-') {
		p++;
		if (!take_digits(&p, 2, &month) || *p++ != '-' || !take_digits(&p, 2, &day))
			return -EINVAL;
		if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
			return -EINVAL;
		if (*p == 'T' || (*p == ' ' && is_digit(p[1]))) {
			p++;
			have_time = true;
		} else if (*p) {
			return -EINVAL;
		}
	} else {
		/* HH:MM[:SS] alone: today */
		time_t now = (time_t)now_sec;

		p = s;
		if (!(utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm)))
			return -ERANGE;
		year = tm.tm_year + 1900;
		month = tm.tm_mon + 1;
		day = tm.tm_mday;
		have_time = true;
	}
	if (have_time) {
		if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &min))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &sec) || !take_fraction(&p, &frac_usec))
				return -EINVAL;
		}
		if (hour > 23 || min > 59 || sec > 59)
			return -EINVAL;
		if (*p) {
			if (!take_zone(p, &offset))
				return -EINVAL;
			zoned = true;
		}
	}
	if (year < 1970)
		return -ERANGE;

	tm = (struct tm){ .tm_year = year - 1900,
			  .tm_mon = month - 1,
			  .tm_mday = day + (!have_time && (flags & TIME_PARSE_END_OF_DAY) ? 1 : 0),
			  .tm_hour = hour,
			  .tm_min = min,
			  .tm_sec = sec };
	r = tm_to_sec(&tm, utc || zoned, &t);
	if (r < 0)
		return r;
	t -= offset;
	if (t < 0 || t > MAX_SEC)
		return -ERANGE;
	*ret_usec = (uint64_t)t * USEC_PER_SEC + frac_usec;
	return 0;
}

/* "@SECONDS[.FRACTION]" */
static int parse_epoch(const char *s, uint64_t *ret_usec)
{
	const char *p = s + 1;
	uint64_t sec = 0, frac_usec;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		if (sec > (uint64_t)MAX_SEC)
			return -ERANGE; /* keep reading would overflow; it is too late already */
		sec = sec * 10 + (uint64_t)(*p - '0');
	}
	if (!take_fraction(&p, &frac_usec) || *p)
		return -EINVAL;
	if (sec > (uint64_t)MAX_SEC)
		return -ERANGE;
	*ret_usec = sec * USEC_PER_SEC + frac_usec;
	return 0;
}

static const struct {
	const char *name;
	uint64_t usec;
} units[] = {
	{ "us", 1 },
	{ "usec", 1 },
	{ "ms", 1000 },
	{ "msec", 1000 },
	{ "s", USEC_PER_SEC },
	{ "sec", USEC_PER_SEC },
	{ "second", USEC_PER_SEC },
	{ "seconds", USEC_PER_SEC },
	{ "m", 60 * USEC_PER_SEC },
	{ "min", 60 * USEC_PER_SEC },
	{ "minute", 60 * USEC_PER_SEC },
	{ "minutes", 60 * USEC_PER_SEC },
	{ "h", 3600 * USEC_PER_SEC },
	{ "hr", 3600 * USEC_PER_SEC },
	{ "hour", 3600 * USEC_PER_SEC },
	{ "hours", 3600 * USEC_PER_SEC },
	{ "d", 86400 * USEC_PER_SEC },
	{ "day", 86400 * USEC_PER_SEC },
	{ "days", 86400 * USEC_PER_SEC },
	{ "w", 7 * 86400 * USEC_PER_SEC },
	{ "week", 7 * 86400 * USEC_PER_SEC },
	{ "weeks", 7 * 86400 * USEC_PER_SEC },
	/* as systemd counts them: a month is 30.44 days, a year 365.25 days */
	{ "M", 2629800 * USEC_PER_SEC },
	{ "month", 2629800 * USEC_PER_SEC },
	{ "months", 2629800 * USEC_PER_SEC },
	{ "y", 31557600 * USEC_PER_SEC },
	{ "year", 31557600 * USEC_PER_SEC },
	{ "years", 31557600 * USEC_PER_SEC },
};

/* A span "1h30min", "2 days", "1.5h": numbers each followed by a unit, spaces between allowed,
 * from p to end. */
static int parse_span(const char *p, const char *end, uint64_t *ret_usec)
{
	uint64_t total = 0;
	bool any = false;

	while (p < end) {
		uint64_t n = 0, frac = 0, frac_div = 1, unit = 0, v;
		size_t len = 0;

		if (*p == ' ') {
			p++;
			continue;
		}
		if (!is_digit(*p))
			return -EINVAL;
		for (; p < end && is_digit(*p); p++) {
			if (n > UINT64_MAX / 10)
				return -ERANGE;
			n = n * 10 + (uint64_t)(*p - '0');
		}
		if (p < end && *p == '.') {
			int digits = 0;

			for (p++; p < end && is_digit(*p); p++, digits++)
				if (digits < 9) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					frac_div *= 10;
				}
			if (digits == 0)
				return -EINVAL;
		}
		while (p < end && *p == ' ')
			p++;
		while (p + len < end && is_alpha(p[len]))
			len++;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == len && strncmp(units[i].name, p, len) == 0)
				unit = units[i].usec;
		if (!unit)
			return -EINVAL;
		p += len;
		/* frac < frac_div <= 10^9: neither product below can overflow */
		if (__builtin_mul_overflow(n, unit, &v) ||
		    __builtin_add_overflow(
			    v, unit / frac_div * frac + unit % frac_div * frac / frac_div, &v) ||
		    __builtin_add_overflow(total, v, &total))
			return -ERANGE;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret_usec = total;
	return 0;
}

/* "-SPAN", "+SPAN" or "SPAN ago", from now. */
static int parse_relative(const char *s, uint64_t now_usec, uint64_t *ret_usec)
{
	size_t len = strlen(s);
	uint64_t span, t;
	bool back;
	int r;

	if (s[0] == '-' || s[0] == '+') {
		back = s[0] == '-';
		if (!is_digit(s[1]))
			return -EINVAL;
		r = parse_span(s + 1, s + len, &span);
	} else if (len > 4 && strcmp(s + len - 4, " ago") == 0 && is_digit(s[0])) {
		back = true;
		r = parse_span(s, s + len - 4, &span);
	} else {
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (back ? span > now_usec : __builtin_add_overflow(now_usec, span, &t))
		return -ERANGE;
	t = back ? now_usec - span : now_usec + span;
	if (t > TIME_PARSE_MAX_USEC)
		return -ERANGE;
	*ret_usec = t;
	return 0;
}

int time_parse(const char *s, uint64_t now_usec, unsigned flags, uint64_t *ret_usec)
{
	static const struct {
		const char *word;
		int days;
	} days[] = { { "today", 0 }, { "yesterday", -1 }, { "tomorrow", 1 } };
	int64_t now_sec = (int64_t)(now_usec / USEC_PER_SEC), t;
	bool utc = flags & TIME_PARSE_UTC;
	size_t len;
	int r;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*ret_usec = now_usec;
		return 0;
	}
	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++)
		if (strcmp(s, days[i].word) == 0) {
			r = day_start(now_sec,
				      days[i].days + (flags & TIME_PARSE_END_OF_DAY ? 1 : 0), utc,
				      &t);
			if (r < 0)
				return r;
			*ret_usec = (uint64_t)t * USEC_PER_SEC;
			return 0;
		}
	if (s[0] == '@')
		return parse_epoch(s, ret_usec);
	len = strlen(s);
	if (s[0] == '-' || s[0] == '+' || (len > 4 && strcmp(s + len - 4, " ago") == 0))
		return parse_relative(s, now_usec, ret_usec);
	if (!is_digit(s[0]))
		return -EINVAL;
	return parse_absolute(s, now_sec, flags, ret_usec);
}
