// SPDX-License-Identifier: GPL-2.0-only
/* CPU meter: on-CPU time per process from the scheduler tracepoints, aggregated in kernel maps;
 * exec and exit records (rare events) through a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hpcmeter_bpf.h"

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HPCM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hpcm_proc);
} procs SEC(".maps");

/* When the task now on this CPU was switched in (bpf_ktime_get_ns), 0 = unknown. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} oncpu_since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HPCM_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* user space may resize it before load */
} events SEC(".maps");

/* Set by user space before load: which v1 hierarchy to follow (enum hpcm_v1_controller). */
const volatile __u32 v1_controller = HPCM_V1_NONE;

/* The subsystem id of the followed v1 controller in this kernel, or -1. */
static __always_inline int v1_ssid(void)
{
	switch (v1_controller) {
	case HPCM_V1_FREEZER:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, freezer_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, freezer_cgrp_id);
		return -1;
	case HPCM_V1_CPUACCT:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpuacct_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, cpuacct_cgrp_id);
		return -1;
	case HPCM_V1_MEMORY:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		return -1;
	default:
		return -1;
	}
}

/* The id (kernfs inode number) of task's cgroup in the followed v1 hierarchy; 0 when none.
 * Only on rare paths (birth, exec): four dependent reads. */
static __always_inline __u64 task_v1_cgroup_id(struct task_struct *task)
{
	int ssid = v1_ssid();
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cset;

	if (ssid < 0 || ssid >= 64)
		return 0;
	cset = BPF_CORE_READ(task, cgroups);
	if (!cset || bpf_core_read(&css, sizeof(css), &cset->subsys[ssid]) || !css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* Find the entry of process tgid; create it (task is one of its threads, running now) if asked. */
static __always_inline struct hpcm_proc *proc_get(__u32 tgid, struct task_struct *task,
						  bool may_create)
{
	struct hpcm_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p || !may_create)
		return p;

	struct hpcm_proc init = {
		.start_ns = bpf_ktime_get_boot_ns(),
		.cgroup_id = bpf_get_current_cgroup_id(),
		.ppid = BPF_CORE_READ(task, real_parent, tgid),
		.cgroup_v1_id = task_v1_cgroup_id(task),
	};
	__u64 ugid = bpf_get_current_uid_gid();

	init.uid = (__u32)ugid;
	init.gid = ugid >> 32;
	if (bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&procs, &tgid)) {
		stat_inc(HPCM_STAT_PROCS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&procs, &tgid);
}

/* Charge the time since the current task was switched in to its process, and restart the
 * clock. Runs in the context of the task being charged (current == prev), so the helpers
 * about "current" describe it: no probe reads on the hot path, only on a map miss. */
static __always_inline void charge_current(struct task_struct *task, __u64 now)
{
	__u32 key = 0, tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *since = bpf_map_lookup_elem(&oncpu_since, &key);
	struct hpcm_proc *p;

	if (!since)
		return;
	__u64 start = *since;

	*since = now;
	if (!start || tgid == 0)
		return;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p) {
		__u32 flags = BPF_CORE_READ(task, flags);

		/* Kernel threads are not metered; an exiting process whose entry is gone must
		 * not come back. */
		if (flags & (PF_KTHREAD | PF_EXITING))
			return;
		p = proc_get(tgid, task, true);
		if (!p)
			return;
	}
	__sync_fetch_and_add(&p->cpu_ns, now - start);

	__u64 cgid = bpf_get_current_cgroup_id();
	__u32 uid = (__u32)bpf_get_current_uid_gid();

	if (p->cgroup_id != cgid)
		p->cgroup_id = cgid;
	if (p->uid != uid)
		p->uid = uid;
}

static __always_inline int on_switch(struct task_struct *prev)
{
	charge_current(prev, bpf_ktime_get_ns());
	return 0;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, pid);
	__u32 tgid = BPF_CORE_READ(child, tgid);

	if (pid != tgid) /* a new thread, not a new process */
		return 0;
	if (BPF_CORE_READ(child, flags) & PF_KTHREAD)
		return 0;
	stat_inc(HPCM_STAT_FORK);
	/* Runs in the parent: its cgroup and credentials are the child's at birth. */
	proc_get(tgid, child, true);
	return 0;
}

/* Resolve the path of file by walking dentries up to the root, crossing mounts. The offset and
 * depth live in the record, not in registers: the verifier then sees one state per iteration
 * instead of one per path shape, which keeps the 32-step walk verifiable. */
static __always_inline void read_file_path(struct hpcm_exec_event *e, struct file *file)
{
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);

	e->path_len = 0;
	e->path_depth = 0;
	e->flags |= HPCM_F_PATH_TRUNCATED; /* until the walk reaches the root */
	for (int i = 0; i < HPCM_PATH_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt_parent == mnt || !mnt_parent) {
				e->flags &= ~HPCM_F_PATH_TRUNCATED;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = (void *)mnt + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		__u32 off = e->path_len;

		if (off >= HPCM_PATH_BUF)
			break;
		long n = bpf_probe_read_kernel_str(&e->path[off & (HPCM_PATH_BUF - 1)],
						   HPCM_NAME_LEN,
						   BPF_CORE_READ(dentry, d_name.name));
		if (n <= 0)
			break;
		e->path_len = off + n;
		e->path_depth += 1;
		dentry = parent;
	}
}

static __always_inline int on_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct hpcm_proc *p = proc_get(tgid, task, true);
	struct hpcm_exec_event *e;
	__u64 ugid;

	stat_inc(HPCM_STAT_EXEC);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(HPCM_STAT_DROP_EXEC);
		return 0;
	}
	ugid = bpf_get_current_uid_gid();
	e->hdr.type = HPCM_EV_EXEC;
	e->hdr.tgid = tgid;
	e->ppid = ppid;
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->flags = 0;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->start_ns = p ? p->start_ns : 0;
	e->cgroup_v1_id = task_v1_cgroup_id(task);
	if (p)
		p->cgroup_v1_id = e->cgroup_v1_id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	read_file_path(e, BPF_CORE_READ(bprm, file));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct hpcm_exit_event *e;
	struct hpcm_proc *p;

	/* The exiting thread's last slice: after this point its time is not charged. */
	charge_current(task, bpf_ktime_get_ns());
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads of the process live on */

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	stat_inc(HPCM_STAT_EXIT);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* Keep the entry: user space reads the final count from the map and reaps it. */
		stat_inc(HPCM_STAT_DROP_EXIT);
		p->flags |= HPCM_F_EXITED;
		return 0;
	}
	e->hdr.type = HPCM_EV_EXIT;
	e->hdr.tgid = tgid;
	e->ppid = p->ppid;
	e->uid = p->uid;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = p->cgroup_id;
	e->start_ns = p->start_ns;
	e->cpu_ns = p->cpu_ns;
	e->cgroup_v1_id = p->cgroup_v1_id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_map_delete_elem(&procs, &tgid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A task moved to another cgroup (written to cgroup.procs or tasks, by Slurm's stepd, systemd,
 * a container runtime or the user). Runs in the mover's context. Rare: no hot-path cost. Only
 * moves within the followed v1 hierarchy update the entry; v2 moves are seen at the next
 * switch. */
static __always_inline int on_attach(struct cgroup *dst, struct task_struct *task)
{
	int ssid = v1_ssid();
	__u32 tgid;
	struct hpcm_proc *p;

	if (ssid < 0 || ssid >= 64)
		return 0;
	if (!(BPF_CORE_READ(dst, root, subsys_mask) & (1ULL << ssid)))
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		p->cgroup_v1_id = BPF_CORE_READ(dst, kn, id);
	return 0;
}

/* BTF-typed tracepoints (preferred: cheaper argument access); raw tracepoints as the fallback
 * for kernels where tp_btf does not load. User space enables one set. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(sched_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec_btf, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(task, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(sched_exec_raw, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(task, bprm);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit_btf, struct task_struct *task)
{
	return on_exit(task);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(sched_exit_raw, struct task_struct *task)
{
	return on_exit(task);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_attach_btf, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	return on_attach(dst, task);
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(cgroup_attach_raw, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	return on_attach(dst, task);
}
