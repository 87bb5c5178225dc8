// SPDX-License-Identifier: GPL-2.0-only
/* GPU meter: uprobes on the driver entry points of the accelerator runtimes (CUDA driver, HIP,
 * OpenCL, Level Zero) and the opens of accelerator device nodes, counted per process in kernel
 * maps. No ring-buffer record per call: the only records are opens of a runtime library by
 * name, a process's first GPU activity, and the first executable mapping of each file identity,
 * so that user space can find a runtime by its content, whatever the file is called, and attach
 * to a copy it has not seen. User space chooses the entry points: in light mode none on the
 * per-launch path. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hpcmeter_bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HPCM_GPU_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hpcm_gpu_proc);
} gpu_procs SEC(".maps");

/* Hits per probe definition (the attach cookie's low 16 bits). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HPCM_GPU_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HPCM_GSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} gstats SEC(".maps");

/* Level Zero sets a kernel's group size apart from its launch: kernel handle -> x*y*z. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} ze_group_size SEC(".maps");

/* An accelerator device open in flight, from sys_enter to sys_exit: thread -> kind | index<<8. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} dev_open_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[HPCM_GPU_PATH_LEN]);
} path_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} gpu_events SEC(".maps");

/* File identities whose executable mapping went to user space: one record per identity (until
 * it is evicted, then one more; user space caches its verdict per identity). User space deletes
 * an identity it could not read, so that the next mapping reports it again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HPCM_GPU_MAX_FILES);
	__type(key, struct hpcm_file_id);
	__type(value, __u8);
} gpu_files_seen SEC(".maps");

/* A new file identity being mapped executable, from sys_enter to sys_exit (thread -> what
 * the exit needs): the identity, the address to look up (0: mmap's return value), flags. */
struct map_pending_val {
	struct hpcm_file_id id;
	__u64 addr;
	__u32 flags;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct map_pending_val);
} map_pending SEC(".maps");

/* The device numbers (kernel encoding, major << 20 | minor) of the accelerator nodes under
 * /dev, each with its kind and index as classify_dev() encodes them; filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HPCM_GPU_MAX_DEV_NODES);
	__type(key, __u32);
	__type(value, __u32);
} accel_devs SEC(".maps");

#define DEV_NO_INDEX 0xff

static __always_inline void gstat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&gstats, &idx);

	if (v)
		*v += 1;
}

/* Set by user space before load, as in sched.bpf.c: the v1 hierarchy followed. */
const volatile __u32 v1_controller = HPCM_V1_NONE;

#include "task_cgroup.bpf.h"

static __always_inline struct hpcm_gpu_proc *gproc_add(__u32 tgid, const struct hpcm_gpu_proc *init)
{
	struct hpcm_event_hdr *e;

	if (bpf_map_update_elem(&gpu_procs, &tgid, init, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&gpu_procs, &tgid))
			gstat_inc(HPCM_GSTAT_PROCS_FULL);
		return bpf_map_lookup_elem(&gpu_procs, &tgid);
	}
	/* Once per process: user space keeps it as a record of its own while it is alive. */
	e = bpf_ringbuf_reserve(&gpu_events, sizeof(*e), 0);
	if (e) {
		e->type = HPCM_EV_GPU_FIRST;
		e->tgid = tgid;
		bpf_ringbuf_submit(e, 0);
	} else {
		gstat_inc(HPCM_GSTAT_DROP_FIRST);
	}
	return bpf_map_lookup_elem(&gpu_procs, &tgid);
}

static __always_inline struct hpcm_gpu_proc *gproc_get(__u32 tgid)
{
	struct hpcm_gpu_proc *p = bpf_map_lookup_elem(&gpu_procs, &tgid);

	if (p)
		return p;

	struct hpcm_gpu_proc init = {
		.first_ns = bpf_ktime_get_boot_ns(),
		.cgroup_id = bpf_get_current_cgroup_id(),
		.cgroup_v1_id = task_v1_cgroup_id((struct task_struct *)bpf_get_current_task()),
		.uid = (__u32)bpf_get_current_uid_gid(),
	};

	return gproc_add(tgid, &init);
}

/* Count the hit of the probe behind this attach and return the process's entry. The cookie is
 * the probe's index | runtime kind << 16. */
static __always_inline struct hpcm_gpu_proc *hit(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 idx = cookie & 0xffff, kind = (cookie >> 16) & 0xff;
	__u64 *n = bpf_map_lookup_elem(&probe_hits, &idx);
	struct hpcm_gpu_proc *p;

	if (n)
		*n += 1;
	p = gproc_get(bpf_get_current_pid_tgid() >> 32);
	if (p && !(p->kinds & kind))
		p->kinds |= kind; /* racy but idempotent: bits are only ever set */
	return p;
}

static __always_inline void add_launch(struct hpcm_gpu_proc *p, __u64 threads)
{
	__sync_fetch_and_add(&p->launches, 1);
	if (threads)
		__sync_fetch_and_add(&p->threads, threads);
}

/* Arguments 6 and 7 of a function call: x86-64 passes the 6th in r9 and the 7th on the stack
 * (at [sp+8] on entry, above the return address); arm64 passes both in registers. */
#if defined(__TARGET_ARCH_x86)
static __always_inline __u64 arg6(struct pt_regs *ctx)
{
	return BPF_CORE_READ(ctx, r9);
}

static __always_inline int arg7(struct pt_regs *ctx, __u64 *v)
{
	return bpf_probe_read_user(v, sizeof(*v), (void *)(BPF_CORE_READ(ctx, sp) + 8));
}
#elif defined(__TARGET_ARCH_arm64)
static __always_inline __u64 arg6(struct pt_regs *ctx)
{
	return PT_REGS_PARM6(ctx);
}

static __always_inline int arg7(struct pt_regs *ctx, __u64 *v)
{
	*v = ((struct user_pt_regs *)ctx)->regs[6];
	return 0;
}
#else
#error "GPU meter: argument access for this architecture is not written"
#endif

/* cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, ...), its _ptsz and
 * cooperative variants, hipModuleLaunchKernel: same argument layout. */
SEC("uprobe")
int gpu_launch_regs(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);
	__u64 bz = 0;

	if (!p)
		return 0;
	if (arg7(ctx, &bz) < 0) {
		gstat_inc(HPCM_GSTAT_ARG_FAULT);
		add_launch(p, 0);
		return 0;
	}
	__u64 grid = (__u64)(__u32)PT_REGS_PARM2(ctx) * (__u32)PT_REGS_PARM3(ctx) *
		     (__u32)PT_REGS_PARM4(ctx);
	__u64 block = (__u64)(__u32)PT_REGS_PARM5(ctx) * (__u32)arg6(ctx) * (__u32)bz;

	add_launch(p, grid * block);
	return 0;
}

/* cuLaunchKernelEx(const CUlaunchConfig *config, ...): the config starts with gridDimX..Z,
 * blockDimX..Z as unsigned ints. */
SEC("uprobe")
int gpu_launch_cfg(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);
	__u32 d[6];

	if (!p)
		return 0;
	if (bpf_probe_read_user(d, sizeof(d), (void *)PT_REGS_PARM1(ctx)) < 0) {
		gstat_inc(HPCM_GSTAT_ARG_FAULT);
		add_launch(p, 0);
		return 0;
	}
	add_launch(p, (__u64)d[0] * d[1] * d[2] * ((__u64)d[3] * d[4] * d[5]));
	return 0;
}

/* hipLaunchKernel(const void *f, dim3 grid, dim3 block, ...) and hipExtLaunchKernel: a dim3
 * {x, y, z} by value travels in two registers, x | y << 32 and z. */
SEC("uprobe")
int gpu_launch_dim3(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (!p)
		return 0;
	__u64 gxy = PT_REGS_PARM2(ctx), bxy = PT_REGS_PARM4(ctx);
	__u64 grid = (__u64)(__u32)gxy * (__u32)(gxy >> 32) * (__u32)PT_REGS_PARM3(ctx);
	__u64 block = (__u64)(__u32)bxy * (__u32)(bxy >> 32) * (__u32)PT_REGS_PARM5(ctx);

	add_launch(p, grid * block);
	return 0;
}

/* clEnqueueNDRangeKernel(queue, kernel, work_dim, global_offset, global_size, local_size, ...):
 * threads are the work items, the product of global_size[0..work_dim). */
SEC("uprobe")
int gpu_launch_cl(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);
	__u32 dim;
	__u64 g[3] = { 1, 1, 1 };

	if (!p)
		return 0;
	void *global = (void *)PT_REGS_PARM5(ctx);
	long r = -1;

	dim = (__u32)PT_REGS_PARM3(ctx);
	if (dim == 1)
		r = bpf_probe_read_user(g, sizeof(__u64), global);
	else if (dim == 2)
		r = bpf_probe_read_user(g, 2 * sizeof(__u64), global);
	else if (dim == 3)
		r = bpf_probe_read_user(g, 3 * sizeof(__u64), global);
	if (r < 0) {
		gstat_inc(HPCM_GSTAT_ARG_FAULT);
		add_launch(p, 0);
		return 0;
	}
	add_launch(p, g[0] * g[1] * g[2]);
	return 0;
}

/* zeKernelSetGroupSize(hKernel, x, y, z) */
SEC("uprobe")
int gpu_ze_group_size(struct pt_regs *ctx)
{
	__u64 kernel = PT_REGS_PARM1(ctx);
	__u64 size = (__u64)(__u32)PT_REGS_PARM2(ctx) * (__u32)PT_REGS_PARM3(ctx) *
		     (__u32)PT_REGS_PARM4(ctx);

	hit(ctx);
	bpf_map_update_elem(&ze_group_size, &kernel, &size, BPF_ANY);
	return 0;
}

/* zeCommandListAppendLaunchKernel(list, hKernel, const ze_group_count_t *groups, ...) */
SEC("uprobe")
int gpu_launch_ze(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);
	__u64 kernel = PT_REGS_PARM2(ctx), *size;
	__u32 g[3];

	if (!p)
		return 0;
	if (bpf_probe_read_user(g, sizeof(g), (void *)PT_REGS_PARM3(ctx)) < 0) {
		gstat_inc(HPCM_GSTAT_ARG_FAULT);
		add_launch(p, 0);
		return 0;
	}
	size = bpf_map_lookup_elem(&ze_group_size, &kernel);
	/* Without a group size seen, threads are not known: count the launch only. */
	add_launch(p, size ? (__u64)g[0] * g[1] * g[2] * *size : 0);
	return 0;
}

SEC("uprobe")
int gpu_graph(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (p)
		__sync_fetch_and_add(&p->graph_launches, 1);
	return 0;
}

static __always_inline int count_alloc(struct pt_regs *ctx, __u64 bytes)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (p) {
		__sync_fetch_and_add(&p->allocs, 1);
		__sync_fetch_and_add(&p->bytes_alloc, bytes);
	}
	return 0;
}

/* cuMemAlloc_v2(dptr, bytes), cuMemAllocAsync(dptr, bytes, stream), hipMalloc(ptr, bytes) */
SEC("uprobe")
int gpu_alloc_arg2(struct pt_regs *ctx)
{
	return count_alloc(ctx, PT_REGS_PARM2(ctx));
}

/* clCreateBuffer(ctx, flags, bytes, ...), zeMemAllocDevice(ctx, desc, bytes, ...) */
SEC("uprobe")
int gpu_alloc_arg3(struct pt_regs *ctx)
{
	return count_alloc(ctx, PT_REGS_PARM3(ctx));
}

/* cuMemcpyHtoD_v2(dst, src, bytes), cuMemcpyHtoDAsync_v2(dst, src, bytes, stream) */
SEC("uprobe")
int gpu_h2d_arg3(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (p) {
		__sync_fetch_and_add(&p->h2d_copies, 1);
		__sync_fetch_and_add(&p->bytes_h2d, PT_REGS_PARM3(ctx));
	}
	return 0;
}

SEC("uprobe")
int gpu_ctx(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (p)
		__sync_fetch_and_add(&p->ctx_calls, 1);
	return 0;
}

SEC("uprobe")
int gpu_module(struct pt_regs *ctx)
{
	struct hpcm_gpu_proc *p = hit(ctx);

	if (p)
		__sync_fetch_and_add(&p->module_loads, 1);
	return 0;
}

/* ---- opens of device nodes and runtime libraries ---- */

static __always_inline bool prefix(const char *s, __u32 off, const char *pre, __u32 len)
{
	for (__u32 i = 0; i < 16; i++) {
		if (i >= len)
			return true;
		if (s[(off + i) & (HPCM_GPU_PATH_LEN - 1)] != pre[i])
			return false;
	}
	return true;
}

/* Decimal number at s[off..], at most 3 digits; DEV_NO_INDEX when there is none. */
static __always_inline __u32 number_at(const char *s, __u32 off)
{
	__u32 v = 0, i;

	for (i = 0; i < 3; i++) {
		char c = s[(off + i) & (HPCM_GPU_PATH_LEN - 1)];

		if (c < '0' || c > '9')
			break;
		v = v * 10 + (c - '0');
	}
	return i ? v : DEV_NO_INDEX;
}

/* The kind of accelerator device node at path (HPCM_GPU_K_DEV_*) | its index << 8, or 0. */
static __always_inline __u32 classify_dev(const char *s)
{
	__u32 idx;

	if (prefix(s, 0, "/dev/nvidia", 11)) {
		idx = number_at(s, 11);
		return HPCM_GPU_K_DEV_NVIDIA | idx << 8;
	}
	if (prefix(s, 0, "/dev/kfd", 9)) /* with the NUL: exactly /dev/kfd */
		return HPCM_GPU_K_DEV_KFD | DEV_NO_INDEX << 8;
	if (prefix(s, 0, "/dev/dri/renderD", 16)) {
		idx = number_at(s, 16);
		idx = idx != DEV_NO_INDEX && idx >= 128 ? idx - 128 : DEV_NO_INDEX;
		return HPCM_GPU_K_DEV_DRI | idx << 8;
	}
	if (prefix(s, 0, "/dev/accel/", 11)) {
		idx = prefix(s, 11, "accel", 5) ? number_at(s, 16) : DEV_NO_INDEX;
		return HPCM_GPU_K_DEV_ACCEL | idx << 8;
	}
	return 0;
}

/* Is the last path component of s (n bytes with the NUL) a runtime library's file name? */
static __always_inline bool is_runtime_lib(const char *s, long n)
{
	__u32 base = 0;

	/* Backwards from the end to the last '/': one exit, so the verifier walks it once. */
	for (__u32 i = 2; i <= HPCM_GPU_PATH_LEN; i++) {
		long pos = n - i;

		if (pos < 0)
			break;
		if (s[pos & (HPCM_GPU_PATH_LEN - 1)] == '/') {
			base = pos + 1;
			break;
		}
	}
	if (s[base & (HPCM_GPU_PATH_LEN - 1)] != 'l')
		return false;
	return prefix(s, base, "libcuda.so", 10) || prefix(s, base, "libamdhip64.so", 14) ||
	       prefix(s, base, "libOpenCL.so", 12) || prefix(s, base, "libze_loader.so", 15);
}

static __always_inline int on_open_enter(const char *filename)
{
	__u32 zero = 0, dev;
	char *s = bpf_map_lookup_elem(&path_buf, &zero);
	long n;

	if (!s)
		return 0;
	n = bpf_probe_read_user_str(s, HPCM_GPU_PATH_LEN, filename);
	if (n <= 0)
		return 0;
	if (s[0] == '/' && s[1] == 'd') {
		dev = classify_dev(s);
		if (dev) {
			__u64 tid = bpf_get_current_pid_tgid();

			bpf_map_update_elem(&dev_open_pending, &tid, &dev, BPF_ANY);
		}
		return 0;
	}
	if (!is_runtime_lib(s, n))
		return 0;
	gstat_inc(HPCM_GSTAT_LIB_OPEN);

	struct hpcm_gpu_lib_event *e = bpf_ringbuf_reserve(&gpu_events, sizeof(*e), 0);

	if (!e) {
		gstat_inc(HPCM_GSTAT_DROP_LIB);
		return 0;
	}
	e->hdr.type = HPCM_EV_GPU_LIB;
	e->hdr.tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_probe_read_kernel(e->path, sizeof(e->path), s);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int on_open_exit(long ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u32 *dev = bpf_map_lookup_elem(&dev_open_pending, &tid), d, idx;
	struct hpcm_gpu_proc *p;

	if (!dev)
		return 0;
	d = *dev;
	bpf_map_delete_elem(&dev_open_pending, &tid);
	if (ret < 0)
		return 0;
	gstat_inc(HPCM_GSTAT_DEV_OPEN);
	p = gproc_get(tid >> 32);
	if (!p)
		return 0;
	__sync_fetch_and_add(&p->dev_opens, 1);
	if (!(p->kinds & (d & 0xff)))
		p->kinds |= d & 0xff;
	idx = d >> 8;
	if (idx < HPCM_GPU_MAX_DEVS && !(p->dev_mask & (1ULL << idx)))
		p->dev_mask |= 1ULL << idx;
	return 0;
}

#define S_IFMT 00170000
#define S_IFCHR 0020000

/* The per-interval reading of open files: a process holding an accelerator device file is a
 * GPU user whatever name it opened it by. Its entry, when new, takes the task's identity (the
 * program runs in the reader's context) and the time of this reading as its first use. */
SEC("iter/task_file")
int gpu_dev_held(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct hpcm_gpu_proc *p;
	struct inode *inode;
	__u32 dev, *v, tgid, idx;

	if (!task || !file)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) != tgid)
		return 0; /* the threads share the leader's table */
	inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFCHR)
		return 0;
	dev = BPF_CORE_READ(inode, i_rdev);
	v = bpf_map_lookup_elem(&accel_devs, &dev);
	if (!v)
		return 0;
	p = bpf_map_lookup_elem(&gpu_procs, &tgid);
	if (!p) {
		struct hpcm_gpu_proc init = {
			.first_ns = bpf_ktime_get_boot_ns(),
			.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id),
			.cgroup_v1_id = task_v1_cgroup_id(task),
			.uid = BPF_CORE_READ(task, real_cred, uid.val),
		};

		p = gproc_add(tgid, &init);
		if (!p)
			return 0;
	}
	if ((p->kinds & ((*v & 0xff) | HPCM_GPU_K_DEV_HELD)) != ((*v & 0xff) | HPCM_GPU_K_DEV_HELD))
		p->kinds |= (*v & 0xff) | HPCM_GPU_K_DEV_HELD;
	idx = *v >> 8;
	if (idx < HPCM_GPU_MAX_DEVS && !(p->dev_mask & (1ULL << idx)))
		p->dev_mask |= 1ULL << idx;
	return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int gpu_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return on_open_enter((const char *)ctx->args[1]);
}

SEC("tp/syscalls/sys_exit_openat")
int gpu_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

SEC("tp/syscalls/sys_enter_open")
int gpu_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return on_open_enter((const char *)ctx->args[0]);
}

SEC("tp/syscalls/sys_exit_open")
int gpu_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx->ret);
}

/* ---- executable mappings of files: runtimes found by content ---- */

#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define VM_EXEC 0x00000004

/* The inode's modification time has moved between kernels: i_mtime (to 6.6), __i_mtime (6.7
 * to 6.10), i_mtime_sec and i_mtime_nsec (6.11 on). */
struct inode___i_mtime {
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___ii_mtime {
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

static __always_inline struct inode *file_id(struct file *file, struct hpcm_file_id *id)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	id->inode = (__u64)inode;
	id->ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		id->mtime_sec = BPF_CORE_READ(inode, i_mtime_sec);
		id->mtime_nsec = BPF_CORE_READ(inode, i_mtime_nsec);
	} else if (bpf_core_field_exists(((struct inode___ii_mtime *)inode)->__i_mtime)) {
		struct inode___ii_mtime *i = (void *)inode;

		id->mtime_sec = BPF_CORE_READ(i, __i_mtime.tv_sec);
		id->mtime_nsec = BPF_CORE_READ(i, __i_mtime.tv_nsec);
	} else {
		struct inode___i_mtime *i = (void *)inode;

		id->mtime_sec = BPF_CORE_READ(i, i_mtime.tv_sec);
		id->mtime_nsec = BPF_CORE_READ(i, i_mtime.tv_nsec);
	}
	return inode;
}

struct vma_found {
	struct hpcm_file_id id;
	__u64 start, end;
	__u32 dev;
	bool file, exec;
};

static long vma_file(struct task_struct *task, struct vm_area_struct *vma, struct vma_found *f)
{
	struct file *file = BPF_CORE_READ(vma, vm_file);
	struct inode *inode;

	if (!file)
		return 0;
	inode = file_id(file, &f->id);
	f->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	f->start = BPF_CORE_READ(vma, vm_start);
	f->end = BPF_CORE_READ(vma, vm_end);
	f->exec = BPF_CORE_READ(vma, vm_flags) & VM_EXEC;
	f->file = true;
	return 0;
}

/* A file identity on its way to being mapped executable: if it was not reported before, keep
 * it for the syscall's exit. Most executable mappings are of files seen before (every library
 * of every exec): for them this lookup is all the hook costs. */
static __always_inline void map_candidate(const struct hpcm_file_id *id, __u64 addr, __u32 flags)
{
	struct map_pending_val v = { .id = *id, .addr = addr, .flags = flags };
	__u64 tid;

	if (bpf_map_lookup_elem(&gpu_files_seen, id))
		return;
	tid = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&map_pending, &tid, &v, BPF_ANY);
}

/* mmap(addr, len, prot, flags, fd, off): an executable mapping of a file, the file taken from
 * the descriptor table. */
SEC("tp/syscalls/sys_enter_mmap")
int gpu_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task;
	struct fdtable *fdt;
	struct file *file = NULL;
	struct hpcm_file_id id = {};
	long fd = (long)ctx->args[4];

	if (!(ctx->args[2] & PROT_EXEC) || (ctx->args[3] & MAP_ANONYMOUS) || fd < 0)
		return 0;
	/* Direct loads through the task's BTF pointer: cheaper than a helper call each. */
	task = bpf_get_current_task_btf();
	fdt = task->files->fdt;
	if (fd >= fdt->max_fds)
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]) < 0 || !file)
		return 0;
	file_id(file, &id);
	map_candidate(&id, 0, 0);
	return 0;
}

/* mprotect(start, len, prot) and pkey_mprotect(start, len, prot, pkey): a file's mapping made
 * executable after it was mapped (a loader of its own that maps a file read-only first). */
static __always_inline int on_mprotect_enter(__u64 start, __u64 prot)
{
	struct vma_found f = {};

	if (!(prot & PROT_EXEC) || !start)
		return 0;
	if (bpf_find_vma(bpf_get_current_task_btf(), start, vma_file, &f, 0) < 0 || !f.file)
		return 0;
	map_candidate(&f.id, start, HPCM_GPU_MAP_MPROTECT);
	return 0;
}

SEC("tp/syscalls/sys_enter_mprotect")
int gpu_enter_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	return on_mprotect_enter(ctx->args[0], ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_pkey_mprotect")
int gpu_enter_pkey_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	return on_mprotect_enter(ctx->args[0], ctx->args[2]);
}

/* The syscall's exit for a new identity: the mapping as it is now (the address mmap returned,
 * or mprotect's start), one record, and the identity marked as reported. */
static __always_inline int on_map_exit(long ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct map_pending_val *pv = bpf_map_lookup_elem(&map_pending, &tid), v;
	struct hpcm_gpu_map_event *e;
	struct vma_found f = {};
	__u8 one = 1;

	if (!pv)
		return 0;
	v = *pv;
	bpf_map_delete_elem(&map_pending, &tid);
	if (ret < 0 && ret > -4096)
		return 0;
	if (bpf_find_vma(bpf_get_current_task_btf(), v.addr ? v.addr : (__u64)ret, vma_file, &f,
			 0) < 0 ||
	    !f.file || !f.exec)
		return 0;
	e = bpf_ringbuf_reserve(&gpu_events, sizeof(*e), 0);
	if (!e) {
		/* Not marked as seen: the next mapping of the file tries again. */
		gstat_inc(HPCM_GSTAT_DROP_MAP);
		return 0;
	}
	gstat_inc(HPCM_GSTAT_MAP_NEW);
	/* The identity the entry saw is the key (through the descriptor: an overlayfs file);
	 * user space reads the mapped file itself through /proc/PID/map_files. */
	bpf_map_update_elem(&gpu_files_seen, &v.id, &one, BPF_ANY);
	e->hdr.type = HPCM_EV_GPU_MAP;
	e->hdr.tgid = tid >> 32;
	e->id = v.id;
	e->dev = f.dev;
	e->flags = v.flags;
	e->vm_start = f.start;
	e->vm_end = f.end;
	e->ts_ns = bpf_ktime_get_boot_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_mmap")
int gpu_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	return on_map_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_mprotect")
int gpu_exit_mprotect(struct trace_event_raw_sys_exit *ctx)
{
	return on_map_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_pkey_mprotect")
int gpu_exit_pkey_mprotect(struct trace_event_raw_sys_exit *ctx)
{
	return on_map_exit(ctx->ret);
}

/* The end of a process's GPU lifetime: user space reads the final counters and reaps. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(gpu_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct hpcm_gpu_proc *p;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	p = bpf_map_lookup_elem(&gpu_procs, &tgid);
	if (p)
		p->exit_ns = bpf_ktime_get_boot_ns();
	return 0;
}
