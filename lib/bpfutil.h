/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers shared by the BPF meters' loaders (CPU and GPU). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct bpf_object;

/* Call fn for every entry of a hash map with 32-bit keys and values of value_size bytes, in
 * batches: bucket by bucket, so entries deleted meanwhile (exits) cannot make the walk restart
 * or repeat as get_next_key would. Returns fn's first negative value, 0, or -errno. */
int bpf_map_walk_u32(int fd, size_t value_size,
		     int (*fn)(uint32_t key, const void *value, void *userdata), void *userdata);

/* Run count and run time of the object's loaded programs, added to *run_cnt and *run_time_ns
 * (the kernel counts them only while BPF statistics are enabled: bpf_enable_stats()). */
int bpf_object_prog_stats(struct bpf_object *obj, uint64_t *run_cnt, uint64_t *run_time_ns);
