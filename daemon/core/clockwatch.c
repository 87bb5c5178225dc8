// SPDX-License-Identifier: GPL-2.0-only
/* The wall clock against CLOCK_BOOTTIME: a step of CLOCK_REALTIME (root setting the clock back
 * to move usage into another period, or past a licence's end) is a "clock-jump" tamper
 * violation, and the interval in flight is carried over to the new time scale so that no
 * interval ends before it starts. Usage itself is measured on CLOCK_BOOTTIME and is not lost. */
#include <stdio.h>
#include <stdlib.h>

#include "manager.h"
#include "util.h"

int64_t clock_jump_usec(int64_t real_elapsed_usec, int64_t boot_elapsed_usec)
{
	int64_t jump = real_elapsed_usec - boot_elapsed_usec;

	return llabs(jump) > CLOCK_JUMP_TOLERANCE_USEC ? jump : 0;
}

void manager_clock_jumped(struct manager *m, int64_t jump_usec, const char *when)
{
	char detail[256];
	struct violation v = {
		.time_usec = now_realtime_usec(),
		.kind = "clock-jump",
		.license_id = "",
		.uid = HPCMETER_UID_NONE,
		.user = "",
		.executable = "",
		.cgroup = "",
		.job = "",
		.detail = detail,
	};

	snprintf(detail, sizeof(detail),
		 "CLOCK_REALTIME was set %s by %.3f s against CLOCK_BOOTTIME %s; usage is "
		 "measured on CLOCK_BOOTTIME, its timestamps follow the new wall clock",
		 jump_usec < 0 ? "back" : "forward", llabs(jump_usec) / 1e6, when);
	manager_record_violation(m, &v);
}

void manager_clock_check(struct manager *m)
{
	int64_t offset =
		(int64_t)now_realtime_usec() - (int64_t)(now_boottime_nsec() / NSEC_PER_USEC);
	/* The offset between the clocks is constant but for NTP's slewing (at most 500 ppm). */
	int64_t jump = clock_jump_usec(offset - interval_clock_offset_usec(m), 0);

	if (!jump)
		return;
	manager_clock_jumped(m, jump, "between two readings");
	/* What was measured since the last reading, on the new scale: intervals keep their
	 * length and order, and open gap conditions their start. */
	interval_clock_shift(m, jump);
	manager_gaps_clock_shift(m, jump);
}
