/* SPDX-License-Identifier: GPL-2.0-only */
/* The GPU meter's ring-buffer records (bpf/hpcmeter_bpf.h), validated and decoded: a runtime
 * library opened by name, a process's first GPU activity, a file mapped executable. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpcmeter_bpf.h"

/* A file as the kernel identifies it, dev in user space's encoding (makedev()). */
struct gpu_file_id {
	dev_t dev;
	ino_t ino;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

struct gpu_record {
	uint32_t type; /* HPCM_EV_GPU_LIB, HPCM_EV_GPU_FIRST or HPCM_EV_GPU_MAP */
	uint32_t tgid;
	/* HPCM_EV_GPU_LIB: the path passed to open(), terminated */
	char path[HPCM_GPU_PATH_LEN];
	/* HPCM_EV_GPU_MAP */
	struct gpu_file_id id;
	struct hpcm_file_id kernel_id; /* as the BPF map "gpu_files_seen" keys it */
	uint32_t flags;
	uint64_t vm_start, vm_end, ts_ns;
};

/* Validate one record (size, type, fields) and decode it into ret. Returns its type, or
 * -EBADMSG for a record that is not one of ours: wrong size for its type, unknown type, a
 * mapping that is empty, not page-aligned or past the user address space, unknown flags. */
int gpu_record_decode(const void *data, size_t size, struct gpu_record *ret);
/* "/proc/PID/map_files/START-END" of a mapping record: the mapped file whatever its name, mount
 * namespace, or whether it was deleted or is a memfd. */
int gpu_record_map_files(const struct gpu_record *r, char *buf, size_t len);
