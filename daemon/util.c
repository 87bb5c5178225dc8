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
