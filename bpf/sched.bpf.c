// SPDX-License-Identifier: GPL-2.0-only
/* CPU meter. On-CPU time is the scheduler's own per-task accounting (se.sum_exec_runtime,
 * signal->sum_sched_runtime), read where it is final (process exit), where a process moves to
 * another cgroup, and by a task iterator that user space runs once per interval: no program
 * runs on the context-switch path at all. Exec, exit and move records (rare events) go
 * through a ring buffer; the exit record carries the process's final CPU time, cgroups and
 * owner, the move record its CPU time at the move. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hpcmeter_bpf.h"

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

char LICENSE[] SEC("license") = "GPL";

/* Processes whose exit record could not be written (ring buffer full): their final counters,
 * flagged HPCM_F_EXITED, until user space reads and deletes them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HPCM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hpcm_proc);
} procs SEC(".maps");

/* Processes past their exit record, until their group leader is freed (sched_process_free):
 * what the exit record said, to find what ran after it. Not pinned: a restarted daemon loses
 * the tails of the zombies of the moment, never a stale entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HPCM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hpcm_exiting);
} exiting SEC(".maps");

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
/* Set by user space before load: wake the reader only once this many bytes wait in "events"
 * (it drains them on a timer of its own too); 0 wakes it at every record. An exec storm then
 * costs the reader a few wake-ups per second instead of two per process. */
const volatile __u64 wakeup_bytes = 0;

/* The newest audit session an exec record was written for: the first record of a newer one
 * (kernel session ids only grow) wakes the reader at once, so that the session's origin is
 * looked up while its login process (sshd) still lives. */
__u32 newest_session = 0;

#include "task_cgroup.bpf.h"

static __always_inline __u64 submit_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
									       BPF_RB_NO_WAKEUP;
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* The process's identity and counters as the scheduler keeps them; task is any of its threads.
 * start_ns is the group leader's start (CLOCK_BOOTTIME): it tells a reused pid apart. */
static __always_inline __u64 task_start_ns(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* CPU time of the whole process: its exited threads (folded into signal) plus this thread.
 * At the last thread's exit this is the final figure. */
static __always_inline __u64 process_exit_runtime(struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, sum_sched_runtime) +
	       BPF_CORE_READ(task, se.sum_exec_runtime);
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
		/* A file of no directory (a memfd): its own name is all the path there is. */
		bool pseudo = dentry == parent && dentry != mnt_root;

		if (!pseudo && (dentry == mnt_root || dentry == parent)) {
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
		if (pseudo) {
			e->flags &= ~HPCM_F_PATH_TRUNCATED;
			break;
		}
		dentry = parent;
	}
}

/* The task's audit session: loginuid and sessionid exist only with CONFIG_AUDIT. */
static __always_inline void task_session(struct task_struct *task, __u32 *loginuid,
					 __u32 *sessionid)
{
	*loginuid = HPCM_AUDIT_UNSET;
	*sessionid = HPCM_AUDIT_UNSET;
	if (bpf_core_field_exists(task->loginuid)) {
		*loginuid = BPF_CORE_READ(task, loginuid.val);
		*sessionid = BPF_CORE_READ(task, sessionid);
	}
}

static __always_inline int on_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
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
	e->start_ns = task_start_ns(task);
	e->cgroup_v1_id = task_v1_cgroup_id(task);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	read_file_path(e, BPF_CORE_READ(bprm, file));
	task_session(task, &e->loginuid, &e->sessionid);
	if (e->sessionid != HPCM_AUDIT_UNSET && e->sessionid > newest_session) {
		newest_session = e->sessionid;
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		return 0;
	}
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct hpcm_exit_event *e;
	__u64 ugid;

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads of the process live on */

	stat_inc(HPCM_STAT_EXIT);
	ugid = bpf_get_current_uid_gid();
	struct hpcm_exiting x = {
		.cpu_ns = process_exit_runtime(task),
		.start_ns = task_start_ns(task),
		.cgroup_id = task_cgroup_id(task),
		.cgroup_v1_id = task_v1_cgroup_id(task),
		.uid = (__u32)ugid,
	};

	/* Followed until its leader is freed: what runs after this record is its tail. */
	if (bpf_map_update_elem(&exiting, &tgid, &x, BPF_ANY))
		stat_inc(HPCM_STAT_EXITING_FULL);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* Keep the final counters in the map: user space reads and deletes them. */
		struct hpcm_proc p = {
			.cpu_ns = x.cpu_ns,
			.cgroup_id = x.cgroup_id,
			.start_ns = x.start_ns,
			.cgroup_v1_id = x.cgroup_v1_id,
			.uid = (__u32)ugid,
			.gid = ugid >> 32,
			.ppid = BPF_CORE_READ(task, real_parent, tgid),
			.flags = HPCM_F_EXITED,
		};

		stat_inc(HPCM_STAT_DROP_EXIT);
		if (bpf_map_update_elem(&procs, &tgid, &p, BPF_ANY))
			stat_inc(HPCM_STAT_PROCS_FULL);
		return 0;
	}
	e->hdr.type = HPCM_EV_EXIT;
	e->hdr.tgid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)ugid;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = x.cgroup_id;
	e->start_ns = x.start_ns;
	e->cpu_ns = x.cpu_ns;
	e->cgroup_v1_id = x.cgroup_v1_id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* A task freed (sched_process_free: after its release and an RCU grace period). The group
 * leader is released last, once its parent reaped it, and its release adds its own time to
 * signal->sum_sched_runtime, which then holds the whole process's final time: what ran after
 * the exit record is the difference. Runs once per exited thread; only a leader with an exit
 * record behind it goes past the first lookup. */
static __always_inline int on_free(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct hpcm_tail_event *e;
	struct hpcm_exiting *x;
	__u64 final;

	if (BPF_CORE_READ(task, pid) != tgid)
		return 0; /* a thread other than the leader */
	x = bpf_map_lookup_elem(&exiting, &tgid);
	if (!x)
		return 0;
	final = BPF_CORE_READ(task, signal, sum_sched_runtime);
	if (x->start_ns == task_start_ns(task) && final >= x->cpu_ns + HPCM_TAIL_MIN_NS) {
		stat_inc(HPCM_STAT_TAIL);
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->hdr.type = HPCM_EV_TAIL;
			e->hdr.tgid = tgid;
			e->uid = x->uid;
			e->pad = 0;
			e->start_ns = x->start_ns;
			e->cpu_ns = final - x->cpu_ns;
			e->cgroup_id = x->cgroup_id;
			e->cgroup_v1_id = x->cgroup_v1_id;
			bpf_ringbuf_submit(e, submit_flags());
		} else {
			stat_inc(HPCM_STAT_DROP_TAIL);
		}
	}
	bpf_map_delete_elem(&exiting, &tgid);
	return 0;
}

/* A process moved to another cgroup (cgroup_attach_task fires once the move is done, for the
 * leader, with the threadgroup flag of a cgroup.procs write). Moves happen when jobs and
 * services are set up, not on a hot path; each one of a followed hierarchy is a record with the
 * process's CPU time at that moment, so that its time before the move is charged to the
 * cgroup it left. The threads are summed as the iterator does (at most HPCM_MOVE_THREADS). */
static __always_inline int on_move(struct cgroup *dst, struct task_struct *task, bool threadgroup)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct list_head *head, *pos;
	struct hpcm_move_event *e;
	__u64 dst_id = BPF_CORE_READ(dst, kn, id), cg, cg1, cpu;
	__u32 flags = HPCM_F_CPU_PARTIAL;
	int i;

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	/* One thread of several (cgroup.threads): the process as a whole did not move. */
	if (!threadgroup && BPF_CORE_READ(sig, nr_threads) != 1)
		return 0;
	cg = task_cgroup_id(task);
	cg1 = task_v1_cgroup_id(task);
	if (dst_id != cg && dst_id != cg1)
		return 0; /* a hierarchy the meter does not follow */
	cpu = BPF_CORE_READ(sig, sum_sched_runtime);
	head = (void *)sig + bpf_core_field_offset(struct signal_struct, thread_head);
	pos = BPF_CORE_READ(sig, thread_head.next);
	for (i = 0; i < HPCM_MOVE_THREADS; i++) {
		struct task_struct *t;

		if (!pos || pos == head) {
			flags = 0;
			break;
		}
		t = (void *)pos - bpf_core_field_offset(struct task_struct, thread_node);
		if (!(BPF_CORE_READ(t, flags) & PF_EXITING))
			cpu += BPF_CORE_READ(t, se.sum_exec_runtime);
		pos = BPF_CORE_READ(pos, next);
	}

	stat_inc(HPCM_STAT_MOVE);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* Not lost: the time goes, as before the move was seen, to the new cgroup. */
		stat_inc(HPCM_STAT_DROP_MOVE);
		return 0;
	}
	e->hdr.type = HPCM_EV_MOVE;
	e->hdr.tgid = BPF_CORE_READ(task, tgid);
	e->uid = BPF_CORE_READ(task, real_cred, uid.val);
	e->flags = flags;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->start_ns = task_start_ns(task);
	e->cpu_ns = cpu;
	e->cgroup_id = cg;
	e->cgroup_v1_id = cg1;
	e->parent_cgroup_id = parent ? task_cgroup_id(parent) : 0;
	e->parent_cgroup_v1_id = parent ? task_v1_cgroup_id(parent) : 0;
	/* With the default wakeup: a record left without one would also keep the exec and exit
	 * records behind it from waking the daemon (the ring buffer wakes its reader only when
	 * that reader had caught up). */
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* The per-interval reading: one record per live user-space thread, written to the iterator's
 * seq_file (user space sums them per process). Threads past the exit tracepoint are skipped:
 * their process's figure went out in its exit record. */
SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct hpcm_task_rec r;
	__u32 flags;

	if (!task)
		return 0;
	flags = BPF_CORE_READ(task, flags);
	if (flags & (PF_KTHREAD | PF_EXITING))
		return 0;
	r.tgid = BPF_CORE_READ(task, tgid);
	r.tid = BPF_CORE_READ(task, pid);
	r.runtime_ns = BPF_CORE_READ(task, se.sum_exec_runtime);
	r.dead_ns = BPF_CORE_READ(task, signal, sum_sched_runtime);
	r.start_ns = task_start_ns(task);
	r.cgroup_id = task_cgroup_id(task);
	r.cgroup_v1_id = task_v1_cgroup_id(task);
	r.uid = BPF_CORE_READ(task, real_cred, uid.val);
	r.gid = BPF_CORE_READ(task, real_cred, gid.val);
	r.ppid = BPF_CORE_READ(task, real_parent, tgid);
	r.pad = 0;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/* BTF-typed tracepoints (preferred: cheaper argument access); raw tracepoints as the fallback
 * for kernels where tp_btf does not load. User space enables one set. */
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

SEC("tp_btf/sched_process_free")
int BPF_PROG(sched_free_btf, struct task_struct *task)
{
	return on_free(task);
}

SEC("raw_tp/sched_process_free")
int BPF_PROG(sched_free_raw, struct task_struct *task)
{
	return on_free(task);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_move_btf, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	return on_move(dst, task, threadgroup);
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(cgroup_move_raw, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	return on_move(dst, task, threadgroup);
}
