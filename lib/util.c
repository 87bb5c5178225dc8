// SPDX-License-Identifier: GPL-2.0-only
/* Logging to stderr (journal-aware) and clocks. */
#include <errno.h>
#include <time.h>

#include "util.h"

static int max_level = LOG_LVL_INFO;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_msg(int level, const char *fmt, ...)
{
	static int journal = -1;
	va_list ap;

	if (level > max_level)
		return;
	/* Under systemd stderr goes to the journal, which reads the "<N>" priority prefix. */
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		fprintf(stderr, "<%d>", level);
	else
		fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
static size_t utf8_sequence_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_sequence_len(p);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

char *utf8_escape_invalid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(strlen(s) * 4 + 1), *o = out;

	if (!out)
		return NULL;
	while (*p) {
		size_t n = utf8_sequence_len(p);

		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			o += sprintf(o, "\\x%02x", *p++);
		}
	}
	*o = '\0';
	return out;
}

static uint64_t clock_nsec(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t now_realtime_usec(void)
{
	return clock_nsec(CLOCK_REALTIME) / NSEC_PER_USEC;
}

uint64_t now_boottime_nsec(void)
{
	return clock_nsec(CLOCK_BOOTTIME);
}
