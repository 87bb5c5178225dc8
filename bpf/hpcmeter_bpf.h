/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Types shared by the BPF programs and user space: fixed-width fields, explicit padding. */
#ifndef HPCMETER_BPF_H
#define HPCMETER_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HPCM_COMM_LEN 16
#define HPCM_FILENAME_LEN 256 /* the path as passed to execve(), truncated */
#define HPCM_NAME_LEN 256 /* longest path component copied (NAME_MAX + 1) */
#define HPCM_PATH_BUF 1024 /* components of the resolved executable path */
#define HPCM_PATH_DEPTH 32 /* deepest path walked; deeper paths are flagged truncated */
#define HPCM_MAX_PROCS 65536 /* processes tracked at once */

/* The cgroup v1 hierarchy the meter follows beside cgroup v2 (rodata "v1_controller"): on
 * hybrid hosts Slurm's cgroup/v1 plugin puts jobs in v1 hierarchies only. */
enum hpcm_v1_controller {
	HPCM_V1_NONE = 0,
	HPCM_V1_FREEZER = 1,
	HPCM_V1_CPUACCT = 2,
	HPCM_V1_MEMORY = 3,
};

/* Record types in the ring buffer. */
enum hpcm_event_type {
	HPCM_EV_EXEC = 1,
	HPCM_EV_EXIT = 2,
	HPCM_EV_MOVE = 3,
	HPCM_EV_TAIL = 4,
};

/* hpcm_proc.flags, hpcm_exec_event.flags and hpcm_move_event.flags */
enum {
	HPCM_F_EXITED = 1 << 0, /* exit record was lost: user space reaps the entry */
	HPCM_F_PATH_TRUNCATED = 1 << 1, /* resolved path deeper or longer than the buffer */
	HPCM_F_CPU_PARTIAL = 1 << 2, /* more threads than walked: cpu_ns is not the total */
};

#define HPCM_MOVE_THREADS 256 /* threads of a moved process whose time is summed */

/* Per-CPU counters in the "stats" array, indexed by these. */
enum hpcm_stat {
	HPCM_STAT_EXEC = 0,
	HPCM_STAT_EXIT,
	HPCM_STAT_FORK, /* unused since CPU time comes from the scheduler's accounting */
	HPCM_STAT_DROP_EXEC, /* ring buffer full: exec record not written */
	HPCM_STAT_DROP_EXIT, /* ring buffer full: exit record not written (entry kept, flagged) */
	HPCM_STAT_PROCS_FULL, /* procs map full: a lost exit's final counters not kept either */
	HPCM_STAT_MOVE, /* processes moved to another cgroup (followed hierarchies) */
	HPCM_STAT_DROP_MOVE, /* ring buffer full: move record not written */
	HPCM_STAT_TAIL, /* exit tails of at least HPCM_TAIL_MIN_NS recorded */
	HPCM_STAT_DROP_TAIL, /* ring buffer full: tail record not written */
	HPCM_STAT_EXITING_FULL, /* "exiting" map full: a process's tail not followed */
	HPCM_STAT_MAX,
};

/* A process and its counters: what user space gets per process at each reading (summed from
 * the task iterator's records), and the value of the "procs" hash map (keyed by tgid) that
 * keeps the final counters of processes whose exit record was lost. */
struct hpcm_proc {
	__u64 cpu_ns; /* on-CPU time of all its threads, living and exited (the scheduler's) */
	__u64 cgroup_id; /* cgroup v2 id */
	__u64 start_ns; /* the group leader's start, CLOCK_BOOTTIME: tells pid reuse apart */
	__u64 cgroup_v1_id; /* id in the followed v1 hierarchy, 0 when none */
	__u32 uid; /* real uid */
	__u32 gid;
	__u32 ppid;
	__u32 flags;
};

/* One live user-space thread, as the "dump_task" iterator writes it. */
struct hpcm_task_rec {
	__u32 tgid;
	__u32 tid;
	__u64 runtime_ns; /* this thread's on-CPU time (se.sum_exec_runtime) */
	__u64 dead_ns; /* the process's exited threads (signal->sum_sched_runtime) */
	__u64 start_ns; /* the group leader's start, CLOCK_BOOTTIME */
	__u64 cgroup_id;
	__u64 cgroup_v1_id;
	__u32 uid;
	__u32 gid;
	__u32 ppid;
	__u32 pad;
};

struct hpcm_event_hdr {
	__u32 type; /* enum hpcm_event_type */
	__u32 tgid;
};

struct hpcm_exec_event {
	struct hpcm_event_hdr hdr;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 flags;
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id;
	__u64 start_ns;
	__u64 cgroup_v1_id;
	__u32 path_len; /* bytes used in path[] */
	__u32 path_depth;
	/* The audit session (pam_loginuid sets both at login; HPCM_AUDIT_UNSET when there is
	 * none, or the kernel has no CONFIG_AUDIT): the key to where the work came from. */
	__u32 loginuid;
	__u32 sessionid;
	char comm[HPCM_COMM_LEN];
	char filename[HPCM_FILENAME_LEN];
	/* Components of the executable's path from the file up to the root, each NUL-terminated:
	 * "true\0bin\0usr\0" is /usr/bin/true. Walked across mounts, so it is the real file
	 * whatever name, symlink or relative path was used to run it. */
	char path[HPCM_PATH_BUF + HPCM_NAME_LEN];
};

/* loginuid and sessionid of a task outside any login session ((uid_t)-1, AUDIT_SID_UNSET). */
#define HPCM_AUDIT_UNSET 0xffffffffu

struct hpcm_exit_event {
	struct hpcm_event_hdr hdr;
	__u32 ppid;
	__u32 uid;
	__u32 exit_code;
	__u32 pad;
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id;
	__u64 start_ns;
	__u64 cpu_ns; /* final on-CPU time of the process */
	__u64 cgroup_v1_id;
	char comm[HPCM_COMM_LEN];
};

/* A process moved to another cgroup of a hierarchy the meter follows (cgroup v2, the followed
 * v1 one), written once the move is done: its time up to the move belongs where it was. */
struct hpcm_move_event {
	struct hpcm_event_hdr hdr;
	__u32 uid; /* real uid */
	__u32 flags; /* HPCM_F_CPU_PARTIAL */
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 start_ns; /* the group leader's start */
	__u64 cpu_ns; /* on-CPU time of the process at the move, all threads */
	__u64 cgroup_id; /* where it is now */
	__u64 cgroup_v1_id;
	/* Its parent's cgroups at the move: where fork put a process not yet seen otherwise. */
	__u64 parent_cgroup_id;
	__u64 parent_cgroup_v1_id;
};

/* A process between its exit tracepoint and its leader's release (reaped by its parent): the
 * value of the "exiting" hash map (keyed by tgid), what its exit record said. */
struct hpcm_exiting {
	__u64 cpu_ns;
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 cgroup_v1_id;
	__u32 uid;
	__u32 pad;
};

/* Smallest exit tail written as a record: below it, the time is left out (microseconds per
 * process on real hardware, and a record per process would double the exit traffic). */
#define HPCM_TAIL_MIN_NS 100000ull

/* What a process ran after its exit record, known when its group leader is freed (after its
 * parent reaped it): closing its files (a GPU context, RDMA memory registrations), notifying
 * its parent, and the time of a leader that exited before its last thread. Charged to the
 * cgroups and uid of the exit record. */
struct hpcm_tail_event {
	struct hpcm_event_hdr hdr; /* type HPCM_EV_TAIL */
	__u32 uid;
	__u32 pad;
	__u64 start_ns;
	__u64 cpu_ns; /* on-CPU time after the exit record */
	__u64 cgroup_id;
	__u64 cgroup_v1_id;
};

/* ---- GPU meter (bpf/gpu.bpf.c) ---- */

#define HPCM_GPU_MAX_PROCS 16384 /* processes with GPU activity tracked at once */
#define HPCM_GPU_PATH_LEN 256 /* path of an opened device or runtime library, truncated */
#define HPCM_GPU_MAX_PROBES 64 /* probe definitions (attach cookie indexes a counter) */
#define HPCM_GPU_MAX_DEVS 64 /* device indexes kept in hpcm_gpu_proc.dev_mask */
#define HPCM_GPU_MAX_DEV_NODES 512 /* accelerator device numbers known ("accel_devs") */

/* Ring-buffer records of the GPU meter. */
#define HPCM_EV_GPU_LIB 16
#define HPCM_EV_GPU_FIRST 17 /* a process's first GPU activity: just the header */
#define HPCM_EV_GPU_MAP 18 /* a file mapped executable, the first time its identity is seen */
#define HPCM_GPU_MAX_FILES 16384 /* file identities whose executable mapping was reported */

/* hpcm_gpu_proc.kinds: what the process used. */
enum {
	HPCM_GPU_K_CUDA = 1 << 0,
	HPCM_GPU_K_HIP = 1 << 1,
	HPCM_GPU_K_OPENCL = 1 << 2,
	HPCM_GPU_K_ZE = 1 << 3,
	HPCM_GPU_K_DEV_NVIDIA = 1 << 4, /* /dev/nvidia*, /dev/nvidia-caps/ */
	HPCM_GPU_K_DEV_KFD = 1 << 5, /* /dev/kfd */
	HPCM_GPU_K_DEV_DRI = 1 << 6, /* /dev/dri/renderD* */
	HPCM_GPU_K_DEV_ACCEL = 1 << 7, /* /dev/accel/ */
	/* Found holding an accelerator device file by the per-interval reading (opened by a
	 * name the open filter does not know: relative, a symlink, openat2, io_uring, passed
	 * over a socket). */
	HPCM_GPU_K_DEV_HELD = 1 << 8,
};

/* Per-CPU counters in the GPU meter's "gstats" array. */
enum hpcm_gpu_stat {
	HPCM_GSTAT_PROCS_FULL = 0, /* gpu_procs map full: activity of a process not counted */
	HPCM_GSTAT_ARG_FAULT, /* a launch argument could not be read (threads not added) */
	HPCM_GSTAT_LIB_OPEN, /* opens of a runtime library name seen */
	HPCM_GSTAT_DROP_LIB, /* ring buffer full: library-open record not written */
	HPCM_GSTAT_DEV_OPEN, /* successful opens of an accelerator device node */
	HPCM_GSTAT_DROP_FIRST, /* ring buffer full: first-activity record not written */
	HPCM_GSTAT_MAP_NEW, /* executable mappings of a file identity not reported before */
	HPCM_GSTAT_DROP_MAP, /* ring buffer full: mapping record not written */
	HPCM_GSTAT_MAX,
};

/* Value of the "gpu_procs" hash map, keyed by tgid (__u32). Counters are added atomically. */
struct hpcm_gpu_proc {
	__u64 launches; /* kernel launches (detailed mode) */
	__u64 threads; /* grid x block summed over launches (work items for OpenCL) */
	__u64 graph_launches;
	__u64 allocs;
	__u64 bytes_alloc;
	__u64 h2d_copies; /* detailed mode */
	__u64 bytes_h2d;
	__u64 ctx_calls; /* context create/retain/destroy */
	__u64 module_loads;
	__u64 dev_opens; /* successful opens of accelerator device nodes */
	__u64 first_ns; /* CLOCK_BOOTTIME of the first GPU activity seen */
	__u64 exit_ns; /* CLOCK_BOOTTIME of the exit of its last thread, 0 while it runs */
	__u64 cgroup_id; /* at the first activity */
	__u64 dev_mask; /* bit i: device index i opened (/dev/nvidiaI, renderD(128+I), accelI) */
	__u32 uid;
	__u32 kinds; /* HPCM_GPU_K_* */
	__u64 cgroup_v1_id; /* in the followed v1 hierarchy, at the first activity; 0 when none */
};

/* Runtime library opened by a process: user space attaches to the file if it is new. */
struct hpcm_gpu_lib_event {
	struct hpcm_event_hdr hdr; /* type HPCM_EV_GPU_LIB */
	char path[HPCM_GPU_PATH_LEN]; /* as passed to open(), maybe relative to the cwd */
};

/* A file's identity as the mapping hook keys it in "gpu_files_seen": its inode (the kernel's
 * address of it, which the hook reaches without following the superblock), inode number and
 * modification time (a file rewritten in place is new). User space gets the device with it. */
struct hpcm_file_id {
	__u64 inode;
	__u64 ino;
	__s64 mtime_sec;
	__u32 mtime_nsec;
	__u32 pad;
};

/* hpcm_gpu_map_event.flags */
enum {
	HPCM_GPU_MAP_MPROTECT = 1 << 0, /* made executable by mprotect(2), not mapped so */
};

/* A process mapped a file executable, the first time the meter saw that file identity (until
 * the identity falls out of the LRU map "gpu_files_seen"): user space reads the file through
 * /proc/PID/map_files/START-END (whatever its name, mount namespace, or if it was deleted or
 * is a memfd) and attaches to it if it is an accelerator runtime. */
struct hpcm_gpu_map_event {
	struct hpcm_event_hdr hdr; /* type HPCM_EV_GPU_MAP */
	struct hpcm_file_id id;
	__u32 dev; /* the kernel's encoding, major << 20 | minor */
	__u32 flags;
	__u64 vm_start; /* the mapping, as the process has it */
	__u64 vm_end;
	__u64 ts_ns; /* CLOCK_BOOTTIME of the mapping */
};

#ifndef __VMLINUX_H__
_Static_assert(sizeof(struct hpcm_proc) == 48, "hpcm_proc layout");
_Static_assert(sizeof(struct hpcm_task_rec) == 64, "hpcm_task_rec layout");
_Static_assert(sizeof(struct hpcm_exec_event) ==
		       72 + HPCM_COMM_LEN + HPCM_FILENAME_LEN + HPCM_PATH_BUF + HPCM_NAME_LEN,
	       "hpcm_exec_event layout");
_Static_assert(sizeof(struct hpcm_exit_event) == 64 + HPCM_COMM_LEN, "hpcm_exit_event layout");
_Static_assert(sizeof(struct hpcm_move_event) == 72, "hpcm_move_event layout");
_Static_assert(sizeof(struct hpcm_exiting) == 40, "hpcm_exiting layout");
_Static_assert(sizeof(struct hpcm_tail_event) == 48, "hpcm_tail_event layout");
_Static_assert(sizeof(struct hpcm_gpu_proc) == 128, "hpcm_gpu_proc layout");
_Static_assert(sizeof(struct hpcm_gpu_lib_event) == 8 + HPCM_GPU_PATH_LEN,
	       "hpcm_gpu_lib_event layout");
_Static_assert(sizeof(struct hpcm_file_id) == 32, "hpcm_file_id layout");
_Static_assert(sizeof(struct hpcm_gpu_map_event) == 72, "hpcm_gpu_map_event layout");
#endif

#endif
