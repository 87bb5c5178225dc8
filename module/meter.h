/* SPDX-License-Identifier: GPL-2.0 */
/* The in-kernel meter: per-cgroup usage from the scheduler tracepoints. */
#ifndef HPCMETER_METER_H
#define HPCMETER_METER_H

#include <linux/types.h>

struct hpcm_usage {
	u64 cgroup_id;
	u64 on_cpu_ns;
	u64 execs;
	u64 forks;
	u64 exits;
};

int hpcm_meter_init(unsigned int capacity);
void hpcm_meter_exit(void);

u32 hpcm_meter_probes(void);
u32 hpcm_meter_probe_failures(void);
u32 hpcm_meter_entries(void);
u32 hpcm_meter_capacity(void);
u64 hpcm_meter_overflow(void);
u64 hpcm_meter_gen(void);
u64 hpcm_meter_reclaimed(void);
void hpcm_meter_set_reclaim_after(unsigned int seconds);

/* The first entry at table index *pos or later; *pos is left on it. */
bool hpcm_meter_read(unsigned long *pos, struct hpcm_usage *u);
bool hpcm_meter_lookup(u64 cgroup_id, struct hpcm_usage *u);

#endif /* HPCMETER_METER_H */
