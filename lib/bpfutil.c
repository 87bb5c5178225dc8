// SPDX-License-Identifier: GPL-2.0-only
/* Batched map walks and program statistics for the BPF meters. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfutil.h"
#include "util.h"

int bpf_map_walk_u32(int fd, size_t value_size,
		     int (*fn)(uint32_t key, const void *value, void *userdata), void *userdata)
{
	enum { CHUNK = 512 };
	_cleanup_free_ uint32_t *keys = malloc(CHUNK * sizeof(*keys));
	_cleanup_free_ char *vals = malloc(CHUNK * value_size);
	uint64_t batch = 0; /* opaque cursor; the hash map keeps a bucket index in it */
	bool first = true, done = false;

	if (!keys || !vals)
		return -ENOMEM;
	while (!done) {
		__u32 count = CHUNK;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					     NULL);

		if (r < 0) {
			if (errno != ENOENT)
				return -errno;
			done = true; /* the last batch, maybe not empty */
		}
		first = false;
		for (__u32 i = 0; i < count; i++) {
			r = fn(keys[i], vals + i * value_size, userdata);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int bpf_object_prog_stats(struct bpf_object *obj, uint64_t *run_cnt, uint64_t *run_time_ns)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0)
			continue; /* not loaded (the other attach mode's set) */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
			return -errno;
		*run_cnt += info.run_cnt;
		*run_time_ns += info.run_time_ns;
	}
	return 0;
}
