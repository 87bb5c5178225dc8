// SPDX-License-Identifier: GPL-2.0-only
/* Decodes the GPU meter's ring-buffer records with every field checked before use: a record is
 * kernel output, but the daemon never trusts a size, a string or an address it did not check
 * (fuzzed by tests/fuzz/fuzz-gpu-record.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "gpu-record.h"

#define PAGE_MASK_4K 0xfffULL
/* Above every user address on x86-64 and arm64, with 5-level page tables too. */
#define USER_ADDR_END (1ULL << 57)
#define KNOWN_MAP_FLAGS HPCM_GPU_MAP_MPROTECT

int gpu_record_decode(const void *data, size_t size, struct gpu_record *ret)
{
	const struct hpcm_event_hdr *h = data;

	if (size < sizeof(*h))
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->type = h->type;
	ret->tgid = h->tgid;
	switch (h->type) {
	case HPCM_EV_GPU_FIRST:
		return size == sizeof(*h) ? HPCM_EV_GPU_FIRST : -EBADMSG;
	case HPCM_EV_GPU_LIB: {
		const struct hpcm_gpu_lib_event *e = data;

		if (size != sizeof(*e))
			return -EBADMSG;
		memcpy(ret->path, e->path, sizeof(ret->path));
		ret->path[sizeof(ret->path) - 1] = '\0';
		return HPCM_EV_GPU_LIB;
	}
	case HPCM_EV_GPU_MAP: {
		const struct hpcm_gpu_map_event *e = data;

		if (size != sizeof(*e) || e->flags & ~KNOWN_MAP_FLAGS || e->vm_start >= e->vm_end ||
		    e->vm_end > USER_ADDR_END || (e->vm_start & PAGE_MASK_4K) ||
		    (e->vm_end & PAGE_MASK_4K) || e->id.mtime_nsec >= 1000000000u)
			return -EBADMSG;
		ret->kernel_id = e->id;
		ret->id = (struct gpu_file_id){
			.dev = makedev(e->dev >> 20, e->dev & 0xfffff),
			.ino = e->id.ino,
			.mtime_sec = e->id.mtime_sec,
			.mtime_nsec = e->id.mtime_nsec,
		};
		ret->flags = e->flags;
		ret->vm_start = e->vm_start;
		ret->vm_end = e->vm_end;
		ret->ts_ns = e->ts_ns;
		return HPCM_EV_GPU_MAP;
	}
	}
	return -EBADMSG;
}

int gpu_record_map_files(const struct gpu_record *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/%u/map_files/%llx-%llx", r->tgid,
			 (unsigned long long)r->vm_start, (unsigned long long)r->vm_end);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
