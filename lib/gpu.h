/* SPDX-License-Identifier: GPL-2.0-only */
/* The GPU meter seen from user space: load bpf/gpu.bpf.c, find every copy of the accelerator
 * runtimes that processes map, attach the driver entry points by file, read the per-process
 * counters. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpu-mode.h"
#include "hpcmeter_bpf.h"

struct gpu;

enum gpu_runtime {
	GPU_RT_CUDA,
	GPU_RT_HIP,
	GPU_RT_OPENCL,
	GPU_RT_ZE,
	GPU_RT_MAX,
};

#define GPU_MAX_LIBS 64

/* One runtime library file the probes are attached to. */
struct gpu_lib {
	dev_t dev;
	ino_t ino;
	enum gpu_runtime runtime;
	char path[PATH_MAX]; /* as the process that mapped it sees it */
	char attach_path[PATH_MAX]; /* how the daemon reached it (/proc/PID/root/...) */
	uint32_t pid; /* the process it was found in */
	unsigned probes; /* entry points attached */
	unsigned launch_probes; /* of which on the per-launch path */
	int error; /* negative errno when attaching failed */
};

struct gpu_probe_info {
	const char *symbol;
	enum gpu_runtime runtime;
	bool per_launch; /* attached in detailed mode only */
	uint64_t hits; /* calls seen, all processes, since the meter started */
	unsigned attached; /* files it is attached to */
};

struct gpu_stats {
	uint64_t counter[HPCM_GSTAT_MAX];
	uint64_t bad_records;
};

const char *gpu_runtime_name(enum gpu_runtime rt);

/* Load and attach the device-open tracepoints; then gpu_scan_all() for the libraries. */
int gpu_open(enum gpu_mode mode, struct gpu **ret);
/* The same, recording each process's cgroup in one v1 hierarchy too (hybrid hosts). */
int gpu_open_v1(enum gpu_mode mode, enum hpcm_v1_controller v1, struct gpu **ret);
void gpu_free(struct gpu *g);
/* Run count and time of the GPU meter's programs (see meter_prog_stats()). */
int gpu_prog_stats(struct gpu *g, uint64_t *run_cnt, uint64_t *run_time_ns);
enum gpu_mode gpu_get_mode(const struct gpu *g);

/* Look at every process's mappings (at start) or one process's (after an exec) and attach to
 * runtime libraries not seen yet. Returns the number of new libraries or -errno. */
int gpu_scan_all(struct gpu *g);
int gpu_scan_pid(struct gpu *g, uint32_t pid);
/* Attach to the file a process opened by this name (relative paths: to its cwd). Returns 1 if
 * it is a new runtime library, 0 if known or not one, -errno on failure. */
int gpu_consider_path(struct gpu *g, uint32_t pid, const char *path);

/* The ring buffer of library-open records: poll this fd, then gpu_consume(). */
int gpu_ring_fd(const struct gpu *g);
int gpu_consume(struct gpu *g);
/* fn(tgid) at a process's first GPU activity (a device opened, a runtime called), from
 * gpu_consume(). */
void gpu_set_first_use(struct gpu *g, void (*fn)(uint32_t tgid, void *userdata), void *userdata);

size_t gpu_n_libs(const struct gpu *g);
const struct gpu_lib *gpu_lib_get(const struct gpu *g, size_t i);
size_t gpu_n_probes(void);
/* Definition i with its hits and attach count. */
int gpu_probe_get(struct gpu *g, size_t i, struct gpu_probe_info *ret);
/* Uprobes attached now, and how many of them are on the per-launch path. */
unsigned gpu_probes_attached(const struct gpu *g, unsigned *launch_probes);
int gpu_read_stats(struct gpu *g, struct gpu_stats *ret);

int gpu_foreach_proc(struct gpu *g,
		     int (*fn)(uint32_t tgid, const struct hpcm_gpu_proc *p, void *userdata),
		     void *userdata);
int gpu_lookup_proc(struct gpu *g, uint32_t tgid, struct hpcm_gpu_proc *ret);
/* Forget an exited process once its final counters are accounted. */
int gpu_reap(struct gpu *g, uint32_t tgid);

/* Record the device numbers of the accelerator nodes under /dev (returns how many), then,
 * each reading, find the processes that hold one open whatever name they opened it by. */
int gpu_scan_devices(struct gpu *g);
int gpu_read_held(struct gpu *g);
/* Links of the GPU meter that run a program not its own (BPF_LINK_UPDATE by root). */
unsigned gpu_links_replaced(struct gpu *g);
/* The kind and index of an accelerator node's path as the open filter classifies it
 * (HPCM_GPU_K_DEV_* | index << 8), 0 for any other path. */
uint32_t gpu_classify_dev(const char *path);

/* Which runtime a file name (last path component) belongs to, or -ENOENT. */
int gpu_runtime_of_name(const char *name);
