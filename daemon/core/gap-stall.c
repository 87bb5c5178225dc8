// SPDX-License-Identifier: GPL-2.0-only
/* A stalled event loop is a metering gap: the process stopped (SIGSTOP, a debugger), starved
 * of CPU, or blocked in a system call. The kernel's counters go on meanwhile, but nothing is
 * checked live, the ring buffer is not drained (and may overflow), and systemd's watchdog
 * sees no ping. A tick every half watchdog period (of 5 s without one) notices when the loop has
 * not run for longer than that period (by CLOCK_MONOTONIC, which stands still while the node is
 * suspended, so a suspend is no stall) and records a "daemon-stalled" gap over that time. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "manager.h"
#include "util.h"

/* Without systemd's watchdog: a loop that did not run for this long has stalled. */
#define STALL_DEFAULT_USEC (5 * USEC_PER_SEC)

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
	uint64_t elapsed = mono - m->stall_last_mono;
	char detail[256];

	/* The tick comes every half threshold: a loop that did not run for longer than the
	 * threshold has stalled (a timer that late means the loop was not running). */
	if (elapsed > m->stall_threshold_usec) {
		snprintf(
			detail, sizeof(detail),
			"the event loop did not run for %.3f s by CLOCK_MONOTONIC (stopped, "
			"starved or blocked; threshold %.1f s): kernel counters went on, but nothing "
			"was checked live",
			elapsed / 1e6, m->stall_threshold_usec / 1e6);
		manager_gap_record(m, "daemon-stalled", real > elapsed ? real - elapsed : 0, real,
				   detail);
	}
	m->stall_last_mono = mono;
	sd_event_source_set_time(s, usec + m->stall_threshold_usec / 2);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int manager_stall_start(struct manager *m)
{
	uint64_t wd = 0;
	int r;

	/* Under systemd's watchdog, a stall is what it would kill us for. */
	m->stall_threshold_usec = STALL_DEFAULT_USEC;
	if (sd_watchdog_enabled(0, &wd) > 0 && wd > 0)
		m->stall_threshold_usec = wd > USEC_PER_SEC ? wd :
							      USEC_PER_SEC; /* ticks >= 0.5 s */
	m->stall_last_mono = now_monotonic_usec();
	r = sd_event_add_time_relative(m->event, &m->stall_source, CLOCK_MONOTONIC,
				       m->stall_threshold_usec / 2, 0, on_tick, m);
	if (r < 0)
		log_error("cannot watch the event loop for stalls: %s", strerror(-r));
	return r;
}

void manager_stall_stop(struct manager *m)
{
	m->stall_source = sd_event_source_unref(m->stall_source);
}
