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
};

/* hpcm_proc.flags and hpcm_exec_event.flags */
enum {
	HPCM_F_EXITED = 1 << 0, /* exit record was lost: user space reaps the entry */
	HPCM_F_PATH_TRUNCATED = 1 << 1, /* resolved path deeper or longer than the buffer */
};

/* Per-CPU counters in the "stats" array, indexed by these. */
enum hpcm_stat {
	HPCM_STAT_EXEC = 0,
	HPCM_STAT_EXIT,
	HPCM_STAT_FORK, /* unused since CPU time comes from the scheduler's accounting */
	HPCM_STAT_DROP_EXEC, /* ring buffer full: exec record not written */
	HPCM_STAT_DROP_EXIT, /* ring buffer full: exit record not written (entry kept, flagged) */
	HPCM_STAT_PROCS_FULL, /* procs map full: a lost exit's final counters not kept either */
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
	char comm[HPCM_COMM_LEN];
	char filename[HPCM_FILENAME_LEN];
	/* Components of the executable's path from the file up to the root, each NUL-terminated:
	 * "true\0bin\0usr\0" is /usr/bin/true. Walked across mounts, so it is the real file
	 * whatever name, symlink or relative path was used to run it. */
	char path[HPCM_PATH_BUF + HPCM_NAME_LEN];
};

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

#ifndef __VMLINUX_H__
_Static_assert(sizeof(struct hpcm_proc) == 48, "hpcm_proc layout");
_Static_assert(sizeof(struct hpcm_task_rec) == 64, "hpcm_task_rec layout");
_Static_assert(sizeof(struct hpcm_exec_event) ==
		       64 + HPCM_COMM_LEN + HPCM_FILENAME_LEN + HPCM_PATH_BUF + HPCM_NAME_LEN,
	       "hpcm_exec_event layout");
_Static_assert(sizeof(struct hpcm_exit_event) == 64 + HPCM_COMM_LEN, "hpcm_exit_event layout");
#endif

#endif
