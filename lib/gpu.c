// SPDX-License-Identifier: GPL-2.0-only
/* Loads the GPU meter skeleton, finds the runtime libraries processes map, and attaches the
 * driver entry points to each distinct file (device and inode), whatever its path or name:
 * system directories, containers, Python wheels, private copies, renamed, deleted or memfd
 * copies. A file is a runtime by what it exports (gpu_runtime_of_elf()), told by the kernel at
 * the first executable mapping of each file identity and read through /proc/PID/map_files;
 * opens of a runtime's usual file name are a first look, before the mapping. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gpu.h"
#include "bpfutil.h"
#include "gpu-elf.h"
#include "gpu-entry.h"
#include "gpu-record.h"
#include "gpu.skel.h"
#include "util.h"

enum prog_kind {
	P_LAUNCH_REGS,
	P_LAUNCH_CFG,
	P_LAUNCH_DIM3,
	P_LAUNCH_CL,
	P_LAUNCH_ZE,
	P_ZE_GROUP_SIZE,
	P_GRAPH,
	P_ALLOC2,
	P_ALLOC3,
	P_H2D3,
	P_CTX,
	P_MODULE,
};

struct probe_def {
	const char *symbol;
	enum gpu_runtime runtime;
	enum prog_kind prog;
	bool per_launch; /* detailed mode only */
};

/* The driver entry points. Launches and copies are on the per-launch path (detailed mode);
 * the rest is rare and always attached. Names absent from a given copy are skipped. */
static const struct probe_def probes[] = {
	{ "cuLaunchKernel", GPU_RT_CUDA, P_LAUNCH_REGS, true },
	{ "cuLaunchKernel_ptsz", GPU_RT_CUDA, P_LAUNCH_REGS, true },
	{ "cuLaunchCooperativeKernel", GPU_RT_CUDA, P_LAUNCH_REGS, true },
	{ "cuLaunchCooperativeKernel_ptsz", GPU_RT_CUDA, P_LAUNCH_REGS, true },
	{ "cuLaunchKernelEx", GPU_RT_CUDA, P_LAUNCH_CFG, true },
	{ "cuLaunchKernelEx_ptsz", GPU_RT_CUDA, P_LAUNCH_CFG, true },
	{ "cuMemcpyHtoD_v2", GPU_RT_CUDA, P_H2D3, true },
	{ "cuMemcpyHtoD_v2_ptds", GPU_RT_CUDA, P_H2D3, true },
	{ "cuMemcpyHtoDAsync_v2", GPU_RT_CUDA, P_H2D3, true },
	{ "cuMemcpyHtoDAsync_v2_ptsz", GPU_RT_CUDA, P_H2D3, true },
	{ "cuGraphLaunch", GPU_RT_CUDA, P_GRAPH, false },
	{ "cuGraphLaunch_ptsz", GPU_RT_CUDA, P_GRAPH, false },
	{ "cuMemAlloc_v2", GPU_RT_CUDA, P_ALLOC2, false },
	{ "cuMemAllocAsync", GPU_RT_CUDA, P_ALLOC2, false },
	{ "cuMemAllocAsync_ptsz", GPU_RT_CUDA, P_ALLOC2, false },
	{ "cuCtxCreate_v2", GPU_RT_CUDA, P_CTX, false },
	{ "cuCtxCreate_v3", GPU_RT_CUDA, P_CTX, false },
	{ "cuCtxCreate_v4", GPU_RT_CUDA, P_CTX, false },
	{ "cuDevicePrimaryCtxRetain", GPU_RT_CUDA, P_CTX, false },
	{ "cuDevicePrimaryCtxRelease_v2", GPU_RT_CUDA, P_CTX, false },
	{ "cuCtxDestroy_v2", GPU_RT_CUDA, P_CTX, false },
	{ "cuModuleLoad", GPU_RT_CUDA, P_MODULE, false },
	{ "cuModuleLoadData", GPU_RT_CUDA, P_MODULE, false },
	{ "cuModuleLoadDataEx", GPU_RT_CUDA, P_MODULE, false },
	{ "cuModuleLoadFatBinary", GPU_RT_CUDA, P_MODULE, false },
	{ "cuLibraryLoadData", GPU_RT_CUDA, P_MODULE, false },
	{ "hipLaunchKernel", GPU_RT_HIP, P_LAUNCH_DIM3, true },
	{ "hipLaunchKernel_spt", GPU_RT_HIP, P_LAUNCH_DIM3, true },
	{ "hipExtLaunchKernel", GPU_RT_HIP, P_LAUNCH_DIM3, true },
	{ "hipLaunchCooperativeKernel", GPU_RT_HIP, P_LAUNCH_DIM3, true },
	{ "hipLaunchCooperativeKernel_spt", GPU_RT_HIP, P_LAUNCH_DIM3, true },
	{ "hipModuleLaunchKernel", GPU_RT_HIP, P_LAUNCH_REGS, true },
	{ "hipGraphLaunch", GPU_RT_HIP, P_GRAPH, false },
	{ "hipMalloc", GPU_RT_HIP, P_ALLOC2, false },
	{ "hipCtxCreate", GPU_RT_HIP, P_CTX, false },
	{ "hipModuleLoad", GPU_RT_HIP, P_MODULE, false },
	{ "hipModuleLoadData", GPU_RT_HIP, P_MODULE, false },
	{ "clEnqueueNDRangeKernel", GPU_RT_OPENCL, P_LAUNCH_CL, true },
	{ "clCreateBuffer", GPU_RT_OPENCL, P_ALLOC3, false },
	{ "clCreateContext", GPU_RT_OPENCL, P_CTX, false },
	{ "clBuildProgram", GPU_RT_OPENCL, P_MODULE, false },
	{ "zeCommandListAppendLaunchKernel", GPU_RT_ZE, P_LAUNCH_ZE, true },
	{ "zeCommandListAppendLaunchCooperativeKernel", GPU_RT_ZE, P_LAUNCH_ZE, true },
	{ "zeKernelSetGroupSize", GPU_RT_ZE, P_ZE_GROUP_SIZE, true },
	{ "zeMemAllocDevice", GPU_RT_ZE, P_ALLOC3, false },
	{ "zeContextCreate", GPU_RT_ZE, P_CTX, false },
	{ "zeModuleCreate", GPU_RT_ZE, P_MODULE, false },
};

#define N_PROBES ARRAY_SIZE(probes)
_Static_assert(ARRAY_SIZE(probes) <= HPCM_GPU_MAX_PROBES, "probe table larger than the map");

/* The runtimes: the file names that make an open(2) worth a first look, the SONAMEs they carry
 * (a renamed copy keeps its SONAME), and the kind bit of hpcm_gpu_proc.kinds. What a file is
 * comes from its content (runtime_of_elf()), never from its name alone. */
static const struct {
	const char *prefix;
	enum gpu_runtime runtime;
	uint32_t kind;
} lib_names[] = {
	{ "libcuda.so", GPU_RT_CUDA, HPCM_GPU_K_CUDA },
	{ "libamdhip64.so", GPU_RT_HIP, HPCM_GPU_K_HIP },
	{ "libOpenCL.so", GPU_RT_OPENCL, HPCM_GPU_K_OPENCL },
	{ "libze_loader.so", GPU_RT_ZE, HPCM_GPU_K_ZE },
};

/* One uprobe on a library file: which definition, where. */
struct lib_probe {
	uint32_t def; /* index in probes[] */
	uint64_t offset; /* the function's entry in the file */
	uint32_t skip; /* the probe is this many bytes past it (gpu_entry_place()) */
	bool emulated; /* on an instruction the kernel emulates */
	struct bpf_link *link;
};

struct lib_slot {
	struct gpu_lib info;
	struct lib_probe *probes;
	size_t n_probes;
	uint64_t attach_ns; /* CLOCK_BOOTTIME when its probes were in place */
	bool late_told; /* its probe-late window was reported */
};

/* What a file identity (device, inode, mtime) is: read once, whatever the path or the
 * process it comes through. */
struct ident {
	struct gpu_file_id id;
	int runtime; /* enum gpu_runtime, or -1: not a runtime */
};

struct gpu {
	struct gpu_bpf *skel;
	struct ring_buffer *rb;
	enum gpu_mode mode;
	bool probes_at_entry; /* gpu_set_probes_at_entry(): the benchmarks' "before" */
	struct bpf_link *tp_links[11];
	struct bpf_link *held_iter; /* the reading of open accelerator device files */
	bool devs_full_warned;
	struct lib_slot *libs[GPU_MAX_LIBS];
	size_t n_libs;
	uint64_t bad_records;
	bool full_warned;
	void *idents; /* tsearch tree of struct ident */
	size_t n_idents;
	bool idents_full_warned;
	uint64_t files_read; /* ELF files read to tell what they are */
	uint64_t map_lost_seen; /* HPCM_GSTAT_DROP_MAP accounted by a rescan */
	/* Told of a process's first GPU activity (HPCM_EV_GPU_FIRST). */
	void (*first_use)(uint32_t tgid, void *userdata);
	void *first_use_ud;
	/* Told of the window between a runtime's mapping and its probes. */
	void (*probe_late)(const struct gpu_probe_late *pl, void *userdata);
	void *probe_late_ud;
};

#define GPU_MAX_IDENTS 65536

static int sum_percpu(int fd, uint32_t key, uint64_t *ret);

const char *gpu_runtime_name(enum gpu_runtime rt)
{
	static const char *const names[] = { "cuda", "hip", "opencl", "level-zero" };

	return rt < GPU_RT_MAX ? names[rt] : "?";
}

int gpu_runtime_of_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(lib_names); i++)
		if (strncmp(name, lib_names[i].prefix, strlen(lib_names[i].prefix)) == 0)
			return lib_names[i].runtime;
	return -ENOENT;
}

static uint32_t runtime_kind(enum gpu_runtime rt)
{
	for (size_t i = 0; i < ARRAY_SIZE(lib_names); i++)
		if (lib_names[i].runtime == rt)
			return lib_names[i].kind;
	return 0;
}

/* The kinds bits of runtime calls: the rest of hpcm_gpu_proc.kinds is device use. */
static uint32_t runtime_kinds_all(void)
{
	uint32_t k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(lib_names); i++)
		k |= lib_names[i].kind;
	return k;
}

int gpu_runtime_of_elf(const struct gpu_elf *e)
{
	const char *soname = gpu_elf_soname(e);
	struct gpu_elf_func f;

	/* Exporting a runtime's launch entry points makes a file that runtime, whatever it is
	 * called: a copy renamed, its SONAME edited, unpacked by a launcher. */
	for (size_t i = 0; i < N_PROBES; i++)
		if (probes[i].per_launch && gpu_elf_funcs(e, probes[i].symbol, &f, 1))
			return probes[i].runtime;
	/* Its SONAME and any of its entry points: a build of the runtime without the launch path
	 * we know (the rare calls are still counted). */
	for (size_t i = 0; i < N_PROBES; i++)
		if (gpu_runtime_of_name(soname) == (int)probes[i].runtime &&
		    gpu_elf_funcs(e, probes[i].symbol, &f, 1))
			return probes[i].runtime;
	return -ENOENT;
}

static int ident_cmp(const void *a, const void *b)
{
	const struct gpu_file_id *x = &((const struct ident *)a)->id,
				 *y = &((const struct ident *)b)->id;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->mtime_sec != y->mtime_sec)
		return x->mtime_sec < y->mtime_sec ? -1 : 1;
	return x->mtime_nsec < y->mtime_nsec ? -1 : x->mtime_nsec > y->mtime_nsec;
}

static struct ident *ident_find(struct gpu *g, const struct gpu_file_id *id)
{
	struct ident key = { .id = *id };
	void *node = tfind(&key, &g->idents, ident_cmp);

	return node ? *(struct ident **)node : NULL;
}

static void ident_add(struct gpu *g, const struct gpu_file_id *id, int runtime)
{
	struct ident *n;

	if (g->n_idents >= GPU_MAX_IDENTS) {
		/* Past this, files are read again at each new mapping: slower, never wrong. */
		if (!g->idents_full_warned)
			log_warning("GPU meter: more than %d executable files seen; not cached",
				    GPU_MAX_IDENTS);
		g->idents_full_warned = true;
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->id = *id;
	n->runtime = runtime;
	if (tsearch(n, &g->idents, ident_cmp) == NULL) {
		free(n);
		return;
	}
	g->n_idents++;
}

static struct gpu_file_id id_of_stat(const struct stat *st)
{
	return (struct gpu_file_id){
		.dev = st->st_dev,
		.ino = st->st_ino,
		.mtime_sec = st->st_mtim.tv_sec,
		.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
	};
}

static struct bpf_program *prog_of(struct gpu *g, enum prog_kind k)
{
	switch (k) {
	case P_LAUNCH_REGS:
		return g->skel->progs.gpu_launch_regs;
	case P_LAUNCH_CFG:
		return g->skel->progs.gpu_launch_cfg;
	case P_LAUNCH_DIM3:
		return g->skel->progs.gpu_launch_dim3;
	case P_LAUNCH_CL:
		return g->skel->progs.gpu_launch_cl;
	case P_LAUNCH_ZE:
		return g->skel->progs.gpu_launch_ze;
	case P_ZE_GROUP_SIZE:
		return g->skel->progs.gpu_ze_group_size;
	case P_GRAPH:
		return g->skel->progs.gpu_graph;
	case P_ALLOC2:
		return g->skel->progs.gpu_alloc_arg2;
	case P_ALLOC3:
		return g->skel->progs.gpu_alloc_arg3;
	case P_H2D3:
		return g->skel->progs.gpu_h2d_arg3;
	case P_CTX:
		return g->skel->progs.gpu_ctx;
	case P_MODULE:
		return g->skel->progs.gpu_module;
	}
	return NULL;
}

static struct lib_slot *find_lib(struct gpu *g, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < g->n_libs; i++)
		if (g->libs[i]->info.dev == dev && g->libs[i]->info.ino == ino)
			return g->libs[i];
	return NULL;
}

static bool offset_probed(const struct lib_slot *s, uint64_t offset)
{
	for (size_t i = 0; i < s->n_probes; i++)
		if (s->probes[i].offset == offset)
			return true;
	return false;
}

static bool is_entry(void *ctx, uint64_t addr)
{
	return gpu_elf_is_entry(ctx, addr);
}

/* The argument registers each program reads (bpf/gpu.bpf.c): the probe may sit after
 * instructions that write the others. */
static unsigned args_read(enum prog_kind k)
{
	switch (k) {
	case P_LAUNCH_REGS: /* grid, block; the 7th argument on the stack */
		return GPU_ENTRY_ARG(2) | GPU_ENTRY_ARG(3) | GPU_ENTRY_ARG(4) | GPU_ENTRY_ARG(5) |
		       GPU_ENTRY_ARG(6);
	case P_LAUNCH_CFG:
		return GPU_ENTRY_ARG(1);
	case P_LAUNCH_DIM3:
		return GPU_ENTRY_ARG(2) | GPU_ENTRY_ARG(3) | GPU_ENTRY_ARG(4) | GPU_ENTRY_ARG(5);
	case P_LAUNCH_CL:
		return GPU_ENTRY_ARG(3) | GPU_ENTRY_ARG(5);
	case P_LAUNCH_ZE:
		return GPU_ENTRY_ARG(2) | GPU_ENTRY_ARG(3);
	case P_ZE_GROUP_SIZE:
		return GPU_ENTRY_ARG(1) | GPU_ENTRY_ARG(2) | GPU_ENTRY_ARG(3) | GPU_ENTRY_ARG(4);
	case P_ALLOC2:
		return GPU_ENTRY_ARG(2);
	case P_ALLOC3:
	case P_H2D3:
		return GPU_ENTRY_ARG(3);
	case P_GRAPH:
	case P_CTX:
	case P_MODULE:
		return 0;
	}
	return GPU_ENTRY_ARGS_ALL;
}

/* Where on f the probe goes: past a single-stepped first instruction where that is safe. */
static void place(struct gpu *g, const struct gpu_elf *e, const struct gpu_elf_func *f,
		  unsigned args, struct lib_probe *p)
{
	uint8_t code[4096];
	size_t want = f->size && f->size < sizeof(code) ? f->size : sizeof(code);
	ssize_t n = gpu_elf_read(e, f->offset, code, want);
	struct gpu_entry_place pl;

	p->skip = 0;
	p->emulated = false;
	if (n <= 0 ||
	    gpu_entry_place(code, (size_t)n, f->addr, f->size, args, is_entry, (void *)e, &pl) <
		    0 ||
	    !pl.emulated)
		return;
	if (pl.offset == 0) {
		p->emulated = true;
		return;
	}
	if (g->probes_at_entry)
		return; /* at the entry, single-stepped */
	p->skip = pl.offset;
	p->emulated = true;
	log_debug("GPU probe on %s at +%u (%s), past \"%s\", which the kernel single-steps",
		  f->name, pl.offset, pl.at, pl.first);
}

/* Attach every entry point of the library's runtime that the file exports, by file offset:
 * each symbol version of a name, and one probe per address (an alias is the same code, and two
 * probes on it would count each call twice). */
static int attach_lib(struct gpu *g, struct lib_slot *s, const struct gpu_elf *e)
{
	for (size_t i = 0; i < N_PROBES; i++) {
		struct gpu_elf_func f[8];
		size_t n;

		if (probes[i].runtime != s->info.runtime ||
		    (probes[i].per_launch && g->mode != GPU_MODE_DETAILED))
			continue;
		n = gpu_elf_funcs(e, probes[i].symbol, f, ARRAY_SIZE(f));
		for (size_t k = 0; k < n && k < ARRAY_SIZE(f); k++) {
			LIBBPF_OPTS(bpf_uprobe_opts, opts,
				    .bpf_cookie = i | (uint64_t)runtime_kind(probes[i].runtime)
							      << 16);
			struct lib_probe *p;

			if (offset_probed(s, f[k].offset))
				continue;
			p = realloc(s->probes, (s->n_probes + 1) * sizeof(*p));
			if (!p)
				return -ENOMEM;
			s->probes = p;
			p = &s->probes[s->n_probes];
			*p = (struct lib_probe){ .def = (uint32_t)i, .offset = f[k].offset };
			place(g, e, &f[k], args_read(probes[i].prog), p);
			p->link = bpf_program__attach_uprobe_opts(prog_of(g, probes[i].prog), -1,
								  s->info.attach_path,
								  f[k].offset + p->skip, &opts);
			if (!p->link && p->skip) {
				/* The kernel refused that instruction: the entry, as always. */
				log_warning("cannot attach to %s in %s at +%u: %s; at its entry",
					    probes[i].symbol, s->info.path, p->skip,
					    strerror(errno));
				p->skip = 0;
				p->emulated = false;
				p->link = bpf_program__attach_uprobe_opts(
					prog_of(g, probes[i].prog), -1, s->info.attach_path,
					f[k].offset, &opts);
			}
			if (!p->link) {
				int r = -errno;

				log_warning("cannot attach to %s in %s: %s", probes[i].symbol,
					    s->info.path, strerror(-r));
				s->info.error = r;
				continue;
			}
			s->n_probes++;
			s->info.probes++;
			s->info.launch_probes += probes[i].per_launch;
			s->info.moved += p->skip > 0;
			s->info.single_stepped += !p->emulated;
		}
	}
	return 0;
}

static void tell_late(struct gpu *g, struct lib_slot *s, uint32_t pid, uint64_t map_ns)
{
	struct gpu_probe_late pl = {
		.pid = pid,
		.runtime = s->info.runtime,
		.path = s->info.path,
		.map_ns = map_ns,
		.attach_ns = s->attach_ns,
	};

	if (s->late_told || !map_ns || map_ns >= s->attach_ns)
		return;
	s->late_told = true;
	if (g->probe_late)
		g->probe_late(&pl, g->probe_late_ud);
}

/* The file open at fd, which process pid maps or opened (shown as path, reached by the kernel
 * through attach_path): tell what it is, once per identity, and attach if it is a runtime. */
static int examine(struct gpu *g, uint32_t pid, int fd, const char *path, const char *attach_path,
		   uint64_t map_ns)
{
	_cleanup_free_ struct lib_slot *s = NULL;
	struct gpu_elf *e = NULL;
	struct gpu_file_id id;
	struct ident *known;
	struct stat st;
	int rt, r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	id = id_of_stat(&st);
	known = ident_find(g, &id);
	if (known && known->runtime < 0)
		return 0;
	struct lib_slot *attached = find_lib(g, st.st_dev, st.st_ino);

	if (attached) {
		tell_late(g, attached, pid, map_ns);
		return 0;
	}
	r = gpu_elf_open(fd, &e);
	g->files_read++;
	if (r < 0) {
		/* Not ELF, or unreadable as ELF: nothing to probe, and never read again. */
		if (r == -ENOEXEC || r == -EINVAL)
			ident_add(g, &id, -1);
		return r == -ENOEXEC || r == -EINVAL ? 0 : r;
	}
	rt = gpu_runtime_of_elf(e);
	if (!known)
		ident_add(g, &id, rt < 0 ? -1 : rt);
	if (rt < 0) {
		gpu_elf_free(e);
		return 0;
	}
	if (g->n_libs == GPU_MAX_LIBS) {
		if (!g->full_warned)
			log_warning("more than %d runtime library files: %s not metered",
				    GPU_MAX_LIBS, path);
		g->full_warned = true;
		gpu_elf_free(e);
		return -ENOSPC;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		gpu_elf_free(e);
		return -ENOMEM;
	}
	s->info.dev = st.st_dev;
	s->info.ino = st.st_ino;
	s->info.runtime = rt;
	s->info.pid = pid;
	snprintf(s->info.path, sizeof(s->info.path), "%s", path);
	snprintf(s->info.attach_path, sizeof(s->info.attach_path), "%s", attach_path);
	snprintf(s->info.soname, sizeof(s->info.soname), "%s", gpu_elf_soname(e));
	r = attach_lib(g, s, e);
	gpu_elf_free(e);
	if (r < 0) {
		for (size_t i = 0; i < s->n_probes; i++)
			bpf_link__destroy(s->probes[i].link);
		free(s->probes);
		return r;
	}
	s->attach_ns = now_boottime_nsec();
	log_info("GPU runtime %s: %s (SONAME %s, pid %u): %u entry points attached, %u on the "
		 "launch path, %u past a single-stepped first instruction, %u single-stepped",
		 gpu_runtime_name(rt), path, s->info.soname[0] ? s->info.soname : "none", pid,
		 s->info.probes, s->info.launch_probes, s->info.moved, s->info.single_stepped);
	tell_late(g, s, pid, map_ns);
	g->libs[g->n_libs++] = TAKE_PTR(s);
	return 1;
}

/* Attach to the runtime library that process pid sees at path, unless that file is known. */
static int consider(struct gpu *g, uint32_t pid, const char *path)
{
	char attach[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat mine, st;

	if (snprintf(attach, sizeof(attach), "/proc/%u/root%s", pid, path) >= (int)sizeof(attach))
		return -ENAMETOOLONG;
	fd = open(attach, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH || errno == ENOTDIR ? 0 : -errno;
	/* The same file in our own namespace: attach by its plain path. */
	if (fstat(fd, &st) == 0 && stat(path, &mine) == 0 && mine.st_dev == st.st_dev &&
	    mine.st_ino == st.st_ino)
		snprintf(attach, sizeof(attach), "%s", path);
	return examine(g, pid, fd, path, attach, 0);
}

int gpu_consider_path(struct gpu *g, uint32_t pid, const char *path)
{
	char buf[PATH_MAX + 64], cwd[PATH_MAX];
	char link[64];
	ssize_t n;

	if (path[0] == '/')
		return consider(g, pid, path);
	/* Relative to the process's working directory, as it sees it. */
	snprintf(link, sizeof(link), "/proc/%u/cwd", pid);
	n = readlink(link, cwd, sizeof(cwd) - 1);
	if (n <= 0)
		return 0;
	cwd[n] = '\0';
	if (snprintf(buf, sizeof(buf), "%s/%s", streq(cwd, "/") ? "" : cwd, path) >=
	    (int)sizeof(buf))
		return -ENAMETOOLONG;
	return consider(g, pid, buf);
}

/* A mapping of process pid, reached through /proc/PID/map_files/START-END: the file itself,
 * whatever its name, its mount namespace, or whether it was deleted or is a memfd. */
static int consider_mapping(struct gpu *g, uint32_t pid, const char *map_files, uint64_t map_ns)
{
	char shown[PATH_MAX];
	_cleanup_close_ int fd = open(map_files, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -errno;
	/* How the process names it: its path, "/memfd:NAME (deleted)", "PATH (deleted)". */
	n = readlink(map_files, shown, sizeof(shown) - 1);
	if (n <= 0)
		snprintf(shown, sizeof(shown), "%s", map_files);
	else
		shown[n] = '\0';
	return examine(g, pid, fd, shown, map_files, map_ns);
}

int gpu_scan_pid(struct gpu *g, uint32_t pid)
{
	char file[64], line[PATH_MAX + 256];
	_cleanup_fclose_ FILE *f = NULL;
	dev_t last_dev = 0;
	ino_t last_ino = 0;
	int found = 0;

	snprintf(file, sizeof(file), "/proc/%u/maps", pid);
	f = fopen(file, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	/* "start-end perms offset major:minor inode   path": the executable mappings of files */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, ino;
		unsigned maj, min;
		char perms[8], mf[96];
		struct lib_slot *s;
		int r;

		if (sscanf(line, "%llx-%llx %7s %*x %x:%x %llu", &start, &end, perms, &maj, &min,
			   &ino) != 6 ||
		    !ino || perms[2] != 'x')
			continue;
		if (makedev(maj, min) == last_dev && ino == last_ino)
			continue;
		last_dev = makedev(maj, min);
		last_ino = ino;
		s = find_lib(g, last_dev, last_ino);
		if (s)
			continue;
		snprintf(mf, sizeof(mf), "/proc/%u/map_files/%llx-%llx", pid, start, end);
		r = consider_mapping(g, pid, mf, 0);
		if (r > 0)
			found++;
	}
	return found;
}

int gpu_scan_all(struct gpu *g)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		int r;

		if (*end || pid == 0 || pid > UINT32_MAX)
			continue;
		r = gpu_scan_pid(g, (uint32_t)pid);
		if (r > 0)
			found += r;
	}
	closedir(d);
	return found;
}

/* A mapping gone before it could be read (the process exited or unmapped it). If the process
 * used an accelerator, the file may have been a runtime whose calls escaped: told as a window
 * from the mapping to the process's exit (or now). A process that never touched a device
 * cannot have launched work on one. */
static void unread(struct gpu *g, const struct gpu_record *rec)
{
	struct hpcm_gpu_proc p;
	struct gpu_probe_late pl = {
		.pid = rec->tgid,
		.runtime = GPU_RT_MAX,
		.path = "(not read: the mapping was gone)",
		.map_ns = rec->ts_ns,
		.unread = true,
	};

	if (gpu_lookup_proc(g, rec->tgid, &p) < 0 || !(p.kinds & ~runtime_kinds_all()))
		return;
	pl.attach_ns = p.exit_ns ? p.exit_ns : now_boottime_nsec();
	if (pl.attach_ns > pl.map_ns && g->probe_late)
		g->probe_late(&pl, g->probe_late_ud);
}

/* A file mapped executable for the first time: read it through the mapping. If it cannot be
 * read (the process unmapped it or exited), forget its identity in the kernel's map so that the
 * next mapping of the file reports it again. */
static void on_map(struct gpu *g, const struct gpu_record *rec)
{
	struct ident *known = ident_find(g, &rec->id);
	char mf[96];
	int r;

	if (known && known->runtime < 0)
		return;
	if (gpu_record_map_files(rec, mf, sizeof(mf)) < 0)
		return;
	r = consider_mapping(g, rec->tgid, mf, rec->ts_ns);
	if (r == -ENOENT || r == -ESRCH || r == -EACCES || r == -EPERM) {
		bpf_map_delete_elem(bpf_map__fd(g->skel->maps.gpu_files_seen), &rec->kernel_id);
		unread(g, rec);
	} else if (r < 0 && r != -ENOSPC) {
		log_debug("GPU meter: cannot read %s: %s", mf, strerror(-r));
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct gpu *g = ctx;
	struct gpu_record rec;

	switch (gpu_record_decode(data, size, &rec)) {
	case HPCM_EV_GPU_FIRST:
		if (g->first_use)
			g->first_use(rec.tgid, g->first_use_ud);
		break;
	case HPCM_EV_GPU_LIB:
		gpu_consider_path(g, rec.tgid, rec.path);
		break;
	case HPCM_EV_GPU_MAP:
		on_map(g, &rec);
		break;
	default:
		g->bad_records++;
		break;
	}
	return 0;
}

static bool tp_optional(struct gpu *g, const struct bpf_program *p)
{
	return p == g->skel->progs.gpu_enter_open || p == g->skel->progs.gpu_exit_open ||
	       p == g->skel->progs.gpu_enter_pkey_mprotect ||
	       p == g->skel->progs.gpu_exit_pkey_mprotect;
}

static int attach_tracepoints(struct gpu *g)
{
	struct bpf_program *tps[] = {
		g->skel->progs.gpu_enter_openat,
		g->skel->progs.gpu_exit_openat,
		g->skel->progs.gpu_enter_open,
		g->skel->progs.gpu_exit_open,
		g->skel->progs.gpu_exit,
		g->skel->progs.gpu_enter_mmap,
		g->skel->progs.gpu_exit_mmap,
		g->skel->progs.gpu_enter_mprotect,
		g->skel->progs.gpu_exit_mprotect,
		g->skel->progs.gpu_enter_pkey_mprotect,
		g->skel->progs.gpu_exit_pkey_mprotect,
	};

	_Static_assert(ARRAY_SIZE(tps) == ARRAY_SIZE(g->tp_links), "tracepoint links");
	for (size_t i = 0; i < ARRAY_SIZE(tps); i++) {
		if (!bpf_program__autoload(tps[i]))
			continue;
		g->tp_links[i] = bpf_program__attach(tps[i]);
		if (!g->tp_links[i]) {
			int r = -errno;

			/* open(2) does not exist on arm64: openat is enough there. */
			if (tp_optional(g, tps[i]))
				continue;
			log_error("cannot attach %s: %s", bpf_program__name(tps[i]), strerror(-r));
			return r;
		}
	}
	return 0;
}

int gpu_open(enum gpu_mode mode, struct gpu **ret)
{
	return gpu_open_v1(mode, HPCM_V1_NONE, ret);
}

int gpu_open_v1(enum gpu_mode mode, enum hpcm_v1_controller v1, struct gpu **ret)
{
	struct gpu *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->mode = mode;
	g->skel = gpu_bpf__open();
	if (!g->skel) {
		r = -errno;
		goto fail;
	}
	/* No open(2) on some architectures: a tracepoint that does not exist must not fail the
	 * load, so those two load only where tracefs lists them. */
	if (access("/sys/kernel/tracing/events/syscalls/sys_enter_open", F_OK) < 0) {
		bpf_program__set_autoload(g->skel->progs.gpu_enter_open, false);
		bpf_program__set_autoload(g->skel->progs.gpu_exit_open, false);
	}
	if (access("/sys/kernel/tracing/events/syscalls/sys_enter_pkey_mprotect", F_OK) < 0) {
		bpf_program__set_autoload(g->skel->progs.gpu_enter_pkey_mprotect, false);
		bpf_program__set_autoload(g->skel->progs.gpu_exit_pkey_mprotect, false);
	}
	g->skel->rodata->v1_controller = v1;
	r = gpu_bpf__load(g->skel);
	if (r < 0) {
		log_error("cannot load the BPF GPU meter: %s", strerror(-r));
		goto fail;
	}
	r = attach_tracepoints(g);
	if (r < 0)
		goto fail;
	g->held_iter = bpf_program__attach_iter(g->skel->progs.gpu_dev_held, NULL);
	if (!g->held_iter)
		log_warning("GPU meter: no reading of open device files (%s): only opens by a "
			    "/dev path are counted",
			    strerror(errno));
	g->rb = ring_buffer__new(bpf_map__fd(g->skel->maps.gpu_events), on_record, g, NULL);
	if (!g->rb) {
		r = -errno;
		goto fail;
	}
	*ret = g;
	return 0;
fail:
	gpu_free(g);
	return r;
}

int gpu_prog_stats(struct gpu *g, uint64_t *run_cnt, uint64_t *run_time_ns)
{
	return bpf_object_prog_stats(g->skel->obj, run_cnt, run_time_ns);
}

int gpu_prog_stats_of(struct gpu *g, const char *name, uint64_t *run_cnt, uint64_t *run_time_ns)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(g->skel->obj, name);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (!prog || bpf_program__fd(prog) < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) < 0)
		return -errno;
	*run_cnt = info.run_cnt;
	*run_time_ns = info.run_time_ns;
	return 0;
}

void gpu_free(struct gpu *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_libs; i++) {
		for (size_t p = 0; p < g->libs[i]->n_probes; p++)
			bpf_link__destroy(g->libs[i]->probes[p].link);
		free(g->libs[i]->probes);
		free(g->libs[i]);
	}
	tdestroy(g->idents, free);
	for (size_t i = 0; i < ARRAY_SIZE(g->tp_links); i++)
		bpf_link__destroy(g->tp_links[i]);
	bpf_link__destroy(g->held_iter);
	ring_buffer__free(g->rb);
	gpu_bpf__destroy(g->skel);
	free(g);
}

enum gpu_mode gpu_get_mode(const struct gpu *g)
{
	return g->mode;
}

int gpu_ring_fd(const struct gpu *g)
{
	return ring_buffer__epoll_fd(g->rb);
}

void gpu_set_first_use(struct gpu *g, void (*fn)(uint32_t tgid, void *userdata), void *userdata)
{
	g->first_use = fn;
	g->first_use_ud = userdata;
}

void gpu_set_probe_late(struct gpu *g, void (*fn)(const struct gpu_probe_late *pl, void *userdata),
			void *userdata)
{
	g->probe_late = fn;
	g->probe_late_ud = userdata;
}

int gpu_rescan_after_losses(struct gpu *g)
{
	uint64_t lost;
	int r;

	r = sum_percpu(bpf_map__fd(g->skel->maps.gstats), HPCM_GSTAT_DROP_MAP, &lost);
	if (r < 0 || lost == g->map_lost_seen)
		return r < 0 ? r : 0;
	/* A lost mapping record could be any process's: look at every process's mappings once. */
	log_warning("GPU meter: %llu executable-mapping records lost (ring buffer full): "
		    "rescanning every process's mappings",
		    (unsigned long long)(lost - g->map_lost_seen));
	g->map_lost_seen = lost;
	return gpu_scan_all(g);
}

size_t gpu_n_files_known(const struct gpu *g, uint64_t *files_read)
{
	if (files_read)
		*files_read = g->files_read;
	return g->n_idents;
}

int gpu_consume(struct gpu *g)
{
	return ring_buffer__consume(g->rb);
}

size_t gpu_n_libs(const struct gpu *g)
{
	return g->n_libs;
}

const struct gpu_lib *gpu_lib_get(const struct gpu *g, size_t i)
{
	return i < g->n_libs ? &g->libs[i]->info : NULL;
}

void gpu_set_probes_at_entry(struct gpu *g, bool at_entry)
{
	g->probes_at_entry = at_entry;
}

int gpu_lib_probe_get(const struct gpu *g, size_t lib, size_t i, struct gpu_lib_probe *ret)
{
	const struct lib_probe *p;

	if (lib >= g->n_libs || i >= g->libs[lib]->n_probes)
		return -ERANGE;
	p = &g->libs[lib]->probes[i];
	*ret = (struct gpu_lib_probe){
		.symbol = probes[p->def].symbol,
		.entry = p->offset,
		.skip = p->skip,
		.emulated = p->emulated,
	};
	return 0;
}

size_t gpu_n_probes(void)
{
	return N_PROBES;
}

static int sum_percpu(int fd, uint32_t key, uint64_t *ret)
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;

	uint64_t vals[ncpu];

	if (bpf_map_lookup_elem(fd, &key, vals) < 0)
		return -errno;
	*ret = 0;
	for (int c = 0; c < ncpu; c++)
		*ret += vals[c];
	return 0;
}

int gpu_probe_get(struct gpu *g, size_t i, struct gpu_probe_info *ret)
{
	if (i >= N_PROBES)
		return -ERANGE;
	*ret = (struct gpu_probe_info){
		.symbol = probes[i].symbol,
		.runtime = probes[i].runtime,
		.per_launch = probes[i].per_launch,
	};
	if (!g)
		return 0;
	for (size_t l = 0; l < g->n_libs; l++)
		for (size_t p = 0; p < g->libs[l]->n_probes; p++)
			ret->attached += g->libs[l]->probes[p].def == i;
	return sum_percpu(bpf_map__fd(g->skel->maps.probe_hits), (uint32_t)i, &ret->hits);
}

unsigned gpu_probes_attached(const struct gpu *g, unsigned *launch_probes)
{
	unsigned n = 0, l = 0;

	for (size_t i = 0; i < g->n_libs; i++) {
		n += g->libs[i]->info.probes;
		l += g->libs[i]->info.launch_probes;
	}
	if (launch_probes)
		*launch_probes = l;
	return n;
}

int gpu_read_stats(struct gpu *g, struct gpu_stats *ret)
{
	int fd = bpf_map__fd(g->skel->maps.gstats);

	memset(ret, 0, sizeof(*ret));
	for (uint32_t i = 0; i < HPCM_GSTAT_MAX; i++) {
		int r = sum_percpu(fd, i, &ret->counter[i]);

		if (r < 0)
			return r;
	}
	ret->bad_records = g->bad_records;
	return 0;
}

struct proc_walk {
	int (*fn)(uint32_t tgid, const struct hpcm_gpu_proc *p, void *userdata);
	void *userdata;
};

static int proc_one(uint32_t tgid, const void *value, void *userdata)
{
	const struct proc_walk *w = userdata;

	return w->fn(tgid, value, w->userdata);
}

int gpu_foreach_proc(struct gpu *g,
		     int (*fn)(uint32_t tgid, const struct hpcm_gpu_proc *p, void *userdata),
		     void *userdata)
{
	struct proc_walk w = { .fn = fn, .userdata = userdata };

	return bpf_map_walk_u32(bpf_map__fd(g->skel->maps.gpu_procs), sizeof(struct hpcm_gpu_proc),
				proc_one, &w);
}

int gpu_lookup_proc(struct gpu *g, uint32_t tgid, struct hpcm_gpu_proc *ret)
{
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gpu_procs), &tgid, ret) < 0)
		return -errno;
	return 0;
}

int gpu_reap(struct gpu *g, uint32_t tgid)
{
	if (bpf_map_delete_elem(bpf_map__fd(g->skel->maps.gpu_procs), &tgid) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Digits at s (at most 3), or DEV_NO_INDEX: as number_at() in bpf/gpu.bpf.c. */
#define DEV_NO_INDEX 0xff
static uint32_t number_at(const char *s)
{
	uint32_t v = 0, i;

	for (i = 0; i < 3 && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (s[i] - '0');
	return i ? v : DEV_NO_INDEX;
}

uint32_t gpu_classify_dev(const char *path)
{
	uint32_t idx;

	if (strncmp(path, "/dev/nvidia", 11) == 0)
		return HPCM_GPU_K_DEV_NVIDIA | number_at(path + 11) << 8;
	if (streq(path, "/dev/kfd"))
		return HPCM_GPU_K_DEV_KFD | DEV_NO_INDEX << 8;
	if (strncmp(path, "/dev/dri/renderD", 16) == 0) {
		idx = number_at(path + 16);
		idx = idx != DEV_NO_INDEX && idx >= 128 ? idx - 128 : DEV_NO_INDEX;
		return HPCM_GPU_K_DEV_DRI | idx << 8;
	}
	if (strncmp(path, "/dev/accel/", 11) == 0) {
		idx = strncmp(path + 11, "accel", 5) == 0 ? number_at(path + 16) : DEV_NO_INDEX;
		return HPCM_GPU_K_DEV_ACCEL | idx << 8;
	}
	return 0;
}

/* The accelerator nodes under /dev by their device numbers: whatever name or mount a process
 * reaches one by, the file it holds has these numbers (unprivileged users cannot make nodes). */
int gpu_scan_devices(struct gpu *g)
{
	static const char *const dirs[] = { "/dev", "/dev/dri", "/dev/accel", "/dev/nvidia-caps" };
	int fd = bpf_map__fd(g->skel->maps.accel_devs), n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[PATH_MAX];
			struct stat st;
			uint32_t kind, key;

			if (de->d_type != DT_CHR && de->d_type != DT_UNKNOWN)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			kind = gpu_classify_dev(path);
			if (!kind || stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
				continue;
			key = major(st.st_rdev) << 20 | minor(st.st_rdev);
			if (bpf_map_update_elem(fd, &key, &kind, BPF_ANY) == 0)
				n++;
			else if (!g->devs_full_warned) {
				g->devs_full_warned = true;
				log_warning("GPU meter: cannot record device %s: %m", path);
			}
		}
		if (d)
			closedir(d);
	}
	return n;
}

int gpu_read_held(struct gpu *g)
{
	_cleanup_close_ int fd = -1;
	char buf[64];
	ssize_t n;

	if (!g->held_iter)
		return -EOPNOTSUPP;
	fd = bpf_iter_create(bpf_link__fd(g->held_iter));
	if (fd < 0)
		return -errno;
	/* EAGAIN: the kernel stops a read() after a million objects that wrote nothing (a node
	 * with more open files than that); the next read() goes on from there. */
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
	return 0;
}

static bool link_runs_ours(struct bpf_link *link, const __u32 *ids, size_t n)
{
	struct bpf_link_info li = {};
	__u32 len = sizeof(li);

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &len) < 0)
		return true; /* cannot tell: not counted */
	for (size_t i = 0; i < n; i++)
		if (ids[i] == li.prog_id)
			return true;
	return false;
}

unsigned gpu_links_replaced(struct gpu *g)
{
	__u32 ids[64];
	size_t n = 0;
	unsigned replaced = 0;
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, g->skel->obj)
	{
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(pi);

		if (n < ARRAY_SIZE(ids) && bpf_program__fd(prog) >= 0 &&
		    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pi, &len) == 0)
			ids[n++] = pi.id;
	}
	for (size_t i = 0; i < ARRAY_SIZE(g->tp_links); i++)
		replaced += g->tp_links[i] && !link_runs_ours(g->tp_links[i], ids, n);
	replaced += g->held_iter && !link_runs_ours(g->held_iter, ids, n);
	for (size_t l = 0; l < g->n_libs; l++)
		for (size_t p = 0; p < g->libs[l]->n_probes; p++)
			replaced += !link_runs_ours(g->libs[l]->probes[p].link, ids, n);
	return replaced;
}
