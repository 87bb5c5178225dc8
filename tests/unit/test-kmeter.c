// SPDX-License-Identifier: GPL-2.0-only
/* The rule that turns two meters' readings into a tamper violation, and the window of intervals
 * it is applied to (kmeter.h). The meters themselves are compared for real in the qemu guest
 * (tests/module/run.sh). */
#include <stdint.h>
#include <stdlib.h>

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

	/* The window. A steady 0.8 CPU-seconds per 1 s interval; the module charges each slice
	 * when it leaves the CPU, so what ran before a reading and had not yet left the CPU falls
	 * in the next interval (the lag, 0 to 0.15 s, as measured in the guest under ASAN). */
	static const uint64_t lag[] = { 0, 150 * MS, 0, 120 * MS, 10 * MS, 150 * MS, 0, 0 };
	uint64_t ring[2 * 5];
	struct kmeter_window w;
	bool one_diverges = false, window_diverges = false;

	kmeter_window_init(&w, ring, 5);
	for (size_t i = 1; i < sizeof(lag) / sizeof(lag[0]); i++) {
		uint64_t bpf = 800 * MS, module = 800 * MS + lag[i - 1] - lag[i];

		one_diverges |= kmeter_diverges(bpf, module, 10, 100 * MS);
		kmeter_window_push(&w, bpf, module);
		if (kmeter_window_full(&w))
			window_diverges |= kmeter_diverges(w.bpf_sum, w.module_sum, 10, 100 * MS);
	}
	TAP_CHECK(one_diverges, "a slice that straddles a reading makes one interval diverge");
	TAP_CHECK(!window_diverges, "over a window of 5 intervals the same meters agree");
	TAP_CHECK(w.n == 5 && w.bpf_sum == 4000 * MS,
		  "a full window holds its last 5 intervals (%u, %llu ns)", w.n,
		  (unsigned long long)w.bpf_sum);

	/* A module that misses a fifth of the time misses it in every window. */
	kmeter_window_init(&w, ring, 5);
	window_diverges = false;
	for (int i = 0; i < 5; i++) {
		kmeter_window_push(&w, 1000 * MS, 800 * MS);
		TAP_CHECK(kmeter_window_full(&w) == (i == 4),
			  "window full after 5, not before (%d)", i + 1);
	}
	TAP_CHECK(kmeter_diverges(w.bpf_sum, w.module_sum, 10, 100 * MS),
		  "a meter 20 %% short diverges over the window (%llu vs %llu ns)",
		  (unsigned long long)w.bpf_sum, (unsigned long long)w.module_sum);
	/* Hidden from the module: nothing on its side, ever. */
	kmeter_window_init(&w, ring, 3);
	kmeter_window_push(&w, 300 * MS, 0);
	kmeter_window_push(&w, 0, 0);
	TAP_CHECK(!kmeter_window_full(&w) && kmeter_diverges(w.bpf_sum, w.module_sum, 10, 100 * MS),
		  "a cgroup's whole life, shorter than the window, compares on what it has");
	/* The window slides: old intervals leave it. */
	kmeter_window_init(&w, ring, 3);
	kmeter_window_push(&w, 5 * S, 0);
	for (int i = 0; i < 3; i++)
		kmeter_window_push(&w, 1 * S, 1 * S);
	TAP_CHECK(w.bpf_sum == 3 * S && w.module_sum == 3 * S &&
			  !kmeter_diverges(w.bpf_sum, w.module_sum, 10, 100 * MS),
		  "an interval 3 pushes old has left a window of 3");
	/* A window of one is the single-interval rule. */
	kmeter_window_init(&w, ring, 1);
	kmeter_window_push(&w, 1000 * MS, 850 * MS);
	TAP_CHECK(kmeter_window_full(&w) && w.bpf_sum == 1000 * MS && w.module_sum == 850 * MS,
		  "a window of one interval holds that interval");
	/* The module's counter is input: sums saturate, they never wrap to something small. */
	kmeter_window_init(&w, ring, 3);
	kmeter_window_push(&w, 1 * S, UINT64_MAX);
	kmeter_window_push(&w, 1 * S, UINT64_MAX);
	TAP_CHECK(w.module_sum == UINT64_MAX &&
			  kmeter_diverges(w.bpf_sum, w.module_sum, 10, 100 * MS),
		  "the sum of two huge module readings saturates and still diverges");
	kmeter_window_push(&w, 1 * S, 1 * S);
	kmeter_window_push(&w, 1 * S, 1 * S);
	kmeter_window_push(&w, 1 * S, 1 * S);
	TAP_CHECK(w.module_sum == 3 * S, "and leaves the window cleanly");
	kmeter_window_init(&w, ring, 0);
	TAP_CHECK(w.cap == 1, "a window of 0 intervals is taken as 1");
	return tap_done();
}
