// SPDX-License-Identifier: GPL-2.0-only
/* A stalled event loop is a metering gap: the process stopped (SIGSTOP, a debugger), starved
 * of CPU, or blocked in a system call. The kernel's counters go on meanwhile, but nothing is
 * checked live, the ring buffer is not drained (and may overflow), and systemd's watchdog
 * sees no ping. A tick every half watchdog period (of 5 s without one) notices when the loop has
 * not run for longer than that period (by CLOCK_MONOTONIC, which stands still while the node is
 * suspended, so a suspend is no stall) and records a "daemon-stalled" gap over that time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "manager.h"
#include "util.h"

/* Without systemd's watchdog: a loop that did not run for this long has stalled. */
#define STALL_DEFAULT_USEC (5 * USEC_PER_SEC)

struct stall {
	sd_event_source *source; /* the loop's own tick */
	uint64_t last_mono, threshold_usec;
};

static uint64_t now_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t mono = now_monotonic_usec(), real = now_realtime_usec();
	uint64_t elapsed = mono - m->stall->last_mono;
	char detail[256];

	/* The tick comes every half threshold: a loop that did not run for longer than the
	 * threshold has stalled (a timer that late means the loop was not running). */
	if (elapsed > m->stall->threshold_usec) {
		snprintf(
			detail, sizeof(detail),
			"the event loop did not run for %.3f s by CLOCK_MONOTONIC (stopped, "
			"starved or blocked; threshold %.1f s): kernel counters went on, but nothing "
			"was checked live",
			elapsed / 1e6, m->stall->threshold_usec / 1e6);
		manager_gap_record(m, "daemon-stalled", real > elapsed ? real - elapsed : 0, real,
				   detail);
	}
	m->stall->last_mono = mono;
	sd_event_source_set_time(s, usec + m->stall->threshold_usec / 2);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int manager_stall_start(struct manager *m)
{
	uint64_t wd = 0;
	int r;

	m->stall = calloc(1, sizeof(*m->stall));
	if (!m->stall)
		return -ENOMEM;
	/* Under systemd's watchdog, a stall is what it would kill us for. */
	m->stall->threshold_usec = STALL_DEFAULT_USEC;
	if (sd_watchdog_enabled(0, &wd) > 0 && wd > 0)
		m->stall->threshold_usec = wd > USEC_PER_SEC ? wd :
							       USEC_PER_SEC; /* ticks >= 0.5 s */
	m->stall->last_mono = now_monotonic_usec();
	r = sd_event_add_time_relative(m->event, &m->stall->source, CLOCK_MONOTONIC,
				       m->stall->threshold_usec / 2, 0, on_tick, m);
	if (r < 0)
		log_error("cannot watch the event loop for stalls: %s", strerror(-r));
	return r;
}

void manager_stall_stop(struct manager *m)
{
	if (!m->stall)
		return;
	sd_event_source_unref(m->stall->source);
	free(m->stall);
	m->stall = NULL;
}
