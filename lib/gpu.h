/* SPDX-License-Identifier: GPL-2.0-only */
/* The GPU meter seen from user space: load bpf/gpu.bpf.c, find every copy of the accelerator
 * runtimes that processes map (by what the file exports, whatever it is called), attach the
 * driver entry points by file, read the per-process counters. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpu-elf.h"
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

/* The most kernel launches counted per second per accelerator in the bound of a window in which
 * launches escaped the probes ("probe-late"): an assumption, stated in hpcmeterd(8). The fastest
 * launch loop measured on the lent H100 (PyTorch, 64x64 matmuls) made one launch per 11.8 us;
 * one per microsecond is an order of magnitude above it. */
#define GPU_LAUNCH_RATE_MAX 1e6

/* One runtime library file the probes are attached to. */
struct gpu_lib {
	dev_t dev;
	ino_t ino;
	enum gpu_runtime runtime;
	char path[PATH_MAX]; /* as the process that mapped it sees it ("... (deleted)", memfd) */
	char attach_path[PATH_MAX]; /* how the daemon reached it (/proc/PID/map_files/...) */
	char soname[128]; /* DT_SONAME, "" when none */
	uint32_t pid; /* the process it was found in */
	unsigned probes; /* entry points attached */
	unsigned launch_probes; /* of which on the per-launch path */
	unsigned moved; /* of which placed past a first instruction the kernel single-steps */
	unsigned single_stepped; /* of which on an instruction the kernel single-steps */
	int error; /* negative errno when attaching failed */
};

/* One probe on a library file. */
struct gpu_lib_probe {
	const char *symbol; /* the probe definition's name (the first of its aliases) */
	uint64_t entry; /* the function's entry, file offset */
	uint32_t skip; /* the probe sits this many bytes past it */
	bool emulated; /* on an instruction the kernel emulates (one trap, not two) */
};

struct gpu_probe_info {
	const char *symbol;
	enum gpu_runtime runtime;
	bool per_launch; /* attached in detailed mode only */
	uint64_t hits; /* calls seen, all processes, since the meter started */
	unsigned attached; /* files it is attached to */
};

/* A runtime found mapped before its probes were attached: calls between map_ns and attach_ns
 * (CLOCK_BOOTTIME) were not counted. Or (unread) a file mapped executable by a process that
 * used an accelerator, which could not be read (the process exited or unmapped it first): it
 * may have been a runtime, whose calls from map_ns to attach_ns (then) were not counted. */
struct gpu_probe_late {
	uint32_t pid;
	enum gpu_runtime runtime; /* GPU_RT_MAX when unread */
	const char *path;
	uint64_t map_ns, attach_ns;
	bool unread;
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
/* The same for one program by name (gpu_exit_mmap...): for the benchmarks. */
int gpu_prog_stats_of(struct gpu *g, const char *name, uint64_t *run_cnt, uint64_t *run_time_ns);
enum gpu_mode gpu_get_mode(const struct gpu *g);

/* Look at every process's executable mappings (at start) or one process's and attach to the
 * runtime libraries among them not seen yet, each file read once per identity (device, inode,
 * mtime). Returns the number of new libraries or -errno. */
int gpu_scan_all(struct gpu *g);
int gpu_scan_pid(struct gpu *g, uint32_t pid);
/* Look at the file a process opened by this name (relative paths: to its cwd) and attach if it
 * is a runtime. Returns 1 if it is a new runtime library, 0 if known or not one, -errno. */
int gpu_consider_path(struct gpu *g, uint32_t pid, const char *path);

/* After executable-mapping records were lost (ring buffer full), gpu_scan_all() once; else
 * nothing. Returns what gpu_scan_all() returns, 0 when nothing was lost. */
int gpu_rescan_after_losses(struct gpu *g);

/* The ring buffer of library-open and mapping records: poll this fd, then gpu_consume(). */
int gpu_ring_fd(const struct gpu *g);
int gpu_consume(struct gpu *g);
/* fn(tgid) at a process's first GPU activity (a device opened, a runtime called), from
 * gpu_consume(). */
void gpu_set_first_use(struct gpu *g, void (*fn)(uint32_t tgid, void *userdata), void *userdata);

/* fn() when a runtime's probes were attached after a process had mapped it (the window's calls
 * were not counted), once per library file. */
void gpu_set_probe_late(struct gpu *g, void (*fn)(const struct gpu_probe_late *pl, void *userdata),
			void *userdata);

size_t gpu_n_libs(const struct gpu *g);
/* Probe i (up to gpu_lib_get()->probes) of library lib. */
int gpu_lib_probe_get(const struct gpu *g, size_t lib, size_t i, struct gpu_lib_probe *ret);
/* Put every probe at the function's entry, even where the kernel single-steps the instruction
 * there (the benchmarks' "before"); by default a probe moves past a single-stepped first
 * instruction when gpu_entry_place() finds that safe. Before the libraries are attached. */
void gpu_set_probes_at_entry(struct gpu *g, bool at_entry);
/* File identities whose verdict is cached; *files_read: ELF files read so far. */
size_t gpu_n_files_known(const struct gpu *g, uint64_t *files_read);
const struct gpu_lib *gpu_lib_get(const struct gpu *g, size_t i);
size_t gpu_n_probes(void);
/* Definition i with its hits and attach count (g NULL: the definition alone). */
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
/* Which runtime an ELF file is by its content: it exports that runtime's launch entry points,
 * or carries its SONAME and exports any of its entry points. -ENOENT: none. */
int gpu_runtime_of_elf(const struct gpu_elf *e);
