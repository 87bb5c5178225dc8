// SPDX-License-Identifier: GPL-2.0-only
/* The rule that turns two meters' readings into a tamper violation (kmeter.h). The meters
 * themselves are compared for real in the qemu guest (tests/module/run.sh). */
#include <stdint.h>

#include "kmeter.h"
#include "tap.h"

#define MS 1000000ull
#define S 1000000000ull

int main(void)
{
	printf("TAP version 13\n");
	TAP_CHECK(!kmeter_diverges(0, 0, 10, 100 * MS), "nothing on either side agrees");
	TAP_CHECK(!kmeter_diverges(5 * S, 5 * S, 10, 100 * MS), "equal readings agree");
	TAP_CHECK(!kmeter_diverges(1000 * MS, 905 * MS, 10, 100 * MS),
		  "9.5 %% apart is within a 10 %% tolerance");
	TAP_CHECK(kmeter_diverges(1000 * MS, 850 * MS, 10, 100 * MS),
		  "15 %% apart is outside a 10 %% tolerance");
	TAP_CHECK(kmeter_diverges(850 * MS, 1000 * MS, 10, 100 * MS),
		  "the rule is symmetric (the module may be the one that reads more)");
	TAP_CHECK(!kmeter_diverges(90 * MS, 0, 10, 100 * MS),
		  "a difference below the floor never diverges, even 100 %%");
	TAP_CHECK(kmeter_diverges(2 * S, 0, 10, 100 * MS),
		  "a cgroup the module did not see at all diverges");
	TAP_CHECK(kmeter_diverges(0, 2 * S, 10, 100 * MS),
		  "time only the module saw (hidden from BPF) diverges");
	TAP_CHECK(!kmeter_diverges(1000 * MS, 800 * MS, 25, 100 * MS),
		  "the tolerance is configurable");
	TAP_CHECK(kmeter_diverges(UINT64_MAX, UINT64_MAX / 2, 10, 100 * MS),
		  "no overflow at the top of the range");
	TAP_CHECK(!kmeter_diverges(UINT64_MAX, UINT64_MAX - 1000 * MS, 1, 100 * MS),
		  "large equal-ish values agree");
	return tap_done();
}
