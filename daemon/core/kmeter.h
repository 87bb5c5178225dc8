/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon's view of the kernel module's meter: a second, independent count of CPU time per
 * cgroup, compared with the BPF meter's over the last few intervals; a divergence or a module
 * that goes away is a tamper violation. The daemon works without the module (status says
 * "absent"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct manager;
struct kmeter;

/* Never fails for a missing module: that is a state, not an error. */
int kmeter_new(struct manager *m, struct kmeter **ret);
void kmeter_free(struct kmeter *k);

/* The BPF meter's CPU time for a cgroup in the interval being closed (called per row). */
void kmeter_add_bpf(struct kmeter *k, uint64_t cgroup_id, uint64_t cpu_ns);
/* Read the module's usage and compare it with what kmeter_add_bpf() gave since last time. */
void kmeter_collect(struct kmeter *k);

/* "absent" (never seen since start), "attached", "gone" (was attached, now missing). */
const char *kmeter_state(const struct kmeter *k);
const char *kmeter_version(const struct kmeter *k);
uint64_t kmeter_divergences(const struct kmeter *k);
/* Comparisons made: (cgroup, window) pairs where a meter saw more than the floor. */
uint64_t kmeter_checks(const struct kmeter *k);

/* Whether two meters' CPU time for one cgroup over one window disagree: by more than
 * tolerance_pct of the larger, and by more than floor_ns (so idle cgroups never alarm). */
static inline bool kmeter_diverges(uint64_t bpf_ns, uint64_t module_ns, unsigned tolerance_pct,
				   uint64_t floor_ns)
{
	uint64_t hi = bpf_ns > module_ns ? bpf_ns : module_ns;
	uint64_t diff = bpf_ns > module_ns ? bpf_ns - module_ns : module_ns - bpf_ns;

	if (diff <= floor_ns)
		return false;
	/* diff > hi * pct / 100, in floating point: no overflow for any time */
	return (double)diff * 100.0 > (double)hi * tolerance_pct;
}

/* One cgroup's last intervals as both meters saw them, summed. One interval alone is not
 * compared: the module charges a slice when its task leaves the CPU, the BPF meter reads the
 * scheduler's total at its reading, so the slices running at the two readings that close an
 * interval fall on either side of it. That error is the same at the edges of a window of any
 * length, while the time it is measured against grows with the window; a meter that misses
 * time misses more of it the longer the window. */
struct kmeter_window {
	uint64_t *ring; /* cap pairs: BPF, module */
	unsigned cap, n, next;
	uint64_t bpf_sum, module_sum;
};

static inline void kmeter_window_init(struct kmeter_window *w, uint64_t *ring, unsigned cap)
{
	*w = (struct kmeter_window){ .ring = ring, .cap = cap ? cap : 1 };
}

static inline uint64_t kmeter_add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* The next interval: the oldest leaves a full window. The sums are made again from the ring
 * (at most CONFIG_MAX_KMETER_WINDOW pairs), saturating: a module's counter is input, and a
 * wrapped sum would look small. */
static inline void kmeter_window_push(struct kmeter_window *w, uint64_t bpf_ns, uint64_t module_ns)
{
	w->ring[2 * w->next] = bpf_ns;
	w->ring[2 * w->next + 1] = module_ns;
	w->next = (w->next + 1) % w->cap;
	if (w->n < w->cap)
		w->n++;
	w->bpf_sum = w->module_sum = 0;
	for (unsigned i = 0; i < w->n; i++) {
		w->bpf_sum = kmeter_add_sat(w->bpf_sum, w->ring[2 * i]);
		w->module_sum = kmeter_add_sat(w->module_sum, w->ring[2 * i + 1]);
	}
}

static inline bool kmeter_window_full(const struct kmeter_window *w)
{
	return w->n == w->cap;
}
