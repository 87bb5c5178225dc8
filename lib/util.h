/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers shared by the daemon and the tools: cleanup attributes, logging, time. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HPCMETER_VERSION
#define HPCMETER_VERSION "0.1.0"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define USEC_PER_SEC 1000000ULL
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_SEC 1000000000ULL
/* uid of a violation that concerns no process (a licence out of its validity): in the ledger,
 * on the bus and in the CLI. */
#define HPCMETER_UID_NONE UINT32_MAX

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                     \
	({                              \
		__typeof__(p) _p = (p); \
		(p) = NULL;             \
		_p;                     \
	})

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Syslog levels, as sd-daemon's "<N>" prefixes. */
enum {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7
};

void log_set_max_level(int level);
int log_get_max_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A copy of s that is valid UTF-8, as D-Bus strings must be: each byte that is not part of a
 * valid sequence becomes "\xNN". Paths and names from the kernel are arbitrary bytes, and one
 * invalid byte must not keep a violation off the bus. NULL when out of memory. */
char *utf8_escape_invalid(const char *s);
/* Is s valid UTF-8 throughout (what utf8_escape_invalid() would leave as it is)? */
bool utf8_valid(const char *s);

/* CLOCK_REALTIME and CLOCK_BOOTTIME in microseconds / nanoseconds. */
uint64_t now_realtime_usec(void);
uint64_t now_boottime_nsec(void);
