/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon's view of the kernel module's meter: a second, independent count of CPU time per
 * cgroup, compared each interval with the BPF meter's; a divergence or a module that goes away
 * is a tamper violation. The daemon works without the module (status says "absent"). */
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
/* Comparisons made: (cgroup, interval) pairs where a meter saw more than the floor. */
uint64_t kmeter_checks(const struct kmeter *k);

/* Whether two meters' CPU time for one cgroup in one interval disagree: by more than
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
