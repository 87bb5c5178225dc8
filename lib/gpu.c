// SPDX-License-Identifier: GPL-2.0-only
/* Loads the GPU meter skeleton, finds the runtime libraries processes map, and attaches the
 * driver entry points to each distinct file (device and inode), whatever its path: system
 * directories, containers (through /proc/PID/root), Python wheels, private copies. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gpu.h"
#include "bpfutil.h"
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
	{ "hipExtLaunchKernel", GPU_RT_HIP, P_LAUNCH_DIM3, true },
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
	{ "zeKernelSetGroupSize", GPU_RT_ZE, P_ZE_GROUP_SIZE, true },
	{ "zeMemAllocDevice", GPU_RT_ZE, P_ALLOC3, false },
	{ "zeContextCreate", GPU_RT_ZE, P_CTX, false },
	{ "zeModuleCreate", GPU_RT_ZE, P_MODULE, false },
};

#define N_PROBES ARRAY_SIZE(probes)
_Static_assert(ARRAY_SIZE(probes) <= HPCM_GPU_MAX_PROBES, "probe table larger than the map");

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

struct lib_slot {
	struct gpu_lib info;
	struct bpf_link *links[N_PROBES];
};

struct gpu {
	struct gpu_bpf *skel;
	struct ring_buffer *rb;
	enum gpu_mode mode;
	struct bpf_link *tp_links[5];
	struct bpf_link *held_iter; /* the reading of open accelerator device files */
	bool devs_full_warned;
	struct lib_slot *libs[GPU_MAX_LIBS];
	size_t n_libs;
	uint64_t bad_records;
	bool full_warned;
	/* Told of a process's first GPU activity (HPCM_EV_GPU_FIRST). */
	void (*first_use)(uint32_t tgid, void *userdata);
	void *first_use_ud;
};

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

/* Which probe definitions name a function this ELF file defines (dynamic or static symbol
 * table), so that absent names are skipped quietly instead of failing in libbpf. */
static int elf_defined_probes(const char *path, enum gpu_runtime rt, bool present[N_PROBES])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	Elf *e;
	int found = 0;

	memset(present, 0, N_PROBES * sizeof(present[0]));
	if (fd < 0)
		return -errno;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e)
		return -EINVAL;
	if (elf_kind(e) != ELF_K_ELF) {
		elf_end(e);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !sh.sh_entsize)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;
			int type;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			type = GELF_ST_TYPE(sym.st_info);
			if (type != STT_FUNC && type != STT_GNU_IFUNC)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			for (size_t p = 0; p < N_PROBES; p++)
				if (probes[p].runtime == rt && !present[p] &&
				    streq(probes[p].symbol, name)) {
					present[p] = true;
					found++;
				}
		}
	}
	elf_end(e);
	return found;
}

static struct lib_slot *find_lib(struct gpu *g, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < g->n_libs; i++)
		if (g->libs[i]->info.dev == dev && g->libs[i]->info.ino == ino)
			return g->libs[i];
	return NULL;
}

static int attach_lib(struct gpu *g, struct lib_slot *s)
{
	bool present[N_PROBES];
	int r = elf_defined_probes(s->info.attach_path, s->info.runtime, present);

	if (r < 0)
		return r;
	for (size_t i = 0; i < N_PROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = probes[i].symbol,
			    .bpf_cookie = i | (uint64_t)runtime_kind(probes[i].runtime) << 16);

		if (!present[i] || (probes[i].per_launch && g->mode != GPU_MODE_DETAILED))
			continue;
		s->links[i] = bpf_program__attach_uprobe_opts(prog_of(g, probes[i].prog), -1,
							      s->info.attach_path, 0, &opts);
		if (!s->links[i]) {
			r = -errno;
			log_warning("cannot attach to %s in %s: %s", probes[i].symbol, s->info.path,
				    strerror(-r));
			s->info.error = r;
			continue;
		}
		s->info.probes++;
		s->info.launch_probes += probes[i].per_launch;
	}
	return 0;
}

/* Attach to the runtime library that process pid sees at path, unless that file is known. */
static int consider(struct gpu *g, uint32_t pid, const char *path)
{
	const char *base = strrchr(path, '/');
	_cleanup_free_ struct lib_slot *s = NULL;
	struct stat st, mine;
	int rt, r;

	if (!base)
		return 0;
	rt = gpu_runtime_of_name(base + 1);
	if (rt < 0)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (snprintf(s->info.attach_path, sizeof(s->info.attach_path), "/proc/%u/root%s", pid,
		     path) >= (int)sizeof(s->info.attach_path))
		return -ENAMETOOLONG;
	if (stat(s->info.attach_path, &st) < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	if (!S_ISREG(st.st_mode) || find_lib(g, st.st_dev, st.st_ino))
		return 0;
	if (g->n_libs == GPU_MAX_LIBS) {
		if (!g->full_warned)
			log_warning("more than %d runtime library files: %s not metered",
				    GPU_MAX_LIBS, path);
		g->full_warned = true;
		return -ENOSPC;
	}
	s->info.dev = st.st_dev;
	s->info.ino = st.st_ino;
	s->info.runtime = rt;
	s->info.pid = pid;
	snprintf(s->info.path, sizeof(s->info.path), "%s", path);
	/* The same file in our own namespace: attach by its plain path. */
	if (stat(path, &mine) == 0 && mine.st_dev == st.st_dev && mine.st_ino == st.st_ino)
		snprintf(s->info.attach_path, sizeof(s->info.attach_path), "%s", path);
	r = attach_lib(g, s);
	if (r == -ENOEXEC || r == -EINVAL) {
		/* Named like a runtime but not an ELF file: nothing to probe. Remember it anyway
		 * so that it is not read again. */
		s->info.error = r;
	} else if (r < 0) {
		log_warning("cannot read %s: %s", s->info.attach_path, strerror(-r));
		return r;
	}
	log_info("GPU runtime %s: %s (pid %u): %u entry points attached, %u on the launch path",
		 gpu_runtime_name(rt), path, pid, s->info.probes, s->info.launch_probes);
	g->libs[g->n_libs++] = TAKE_PTR(s);
	return 1;
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

int gpu_scan_pid(struct gpu *g, uint32_t pid)
{
	char file[64], line[PATH_MAX + 256], last[PATH_MAX] = "";
	_cleanup_fclose_ FILE *f = NULL;
	int found = 0;

	snprintf(file, sizeof(file), "/proc/%u/maps", pid);
	f = fopen(file, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	/* "start-end perms offset dev inode   path" */
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/'), *base;
		int r;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strstr(path, " (deleted)"))
			continue;
		base = strrchr(path, '/');
		if (gpu_runtime_of_name(base + 1) < 0 || streq(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		r = consider(g, pid, path);
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

static int on_record(void *ctx, void *data, size_t size)
{
	struct gpu *g = ctx;
	const struct hpcm_gpu_lib_event *e = data;
	const struct hpcm_event_hdr *h = data;
	char path[HPCM_GPU_PATH_LEN];

	if (size == sizeof(*h) && h->type == HPCM_EV_GPU_FIRST) {
		if (g->first_use)
			g->first_use(h->tgid, g->first_use_ud);
		return 0;
	}
	if (size != sizeof(*e) || e->hdr.type != HPCM_EV_GPU_LIB) {
		g->bad_records++;
		return 0;
	}
	memcpy(path, e->path, sizeof(path));
	path[sizeof(path) - 1] = '\0';
	gpu_consider_path(g, e->hdr.tgid, path);
	return 0;
}

static int attach_tracepoints(struct gpu *g)
{
	struct bpf_program *tps[] = {
		g->skel->progs.gpu_enter_openat, g->skel->progs.gpu_exit_openat,
		g->skel->progs.gpu_enter_open,	 g->skel->progs.gpu_exit_open,
		g->skel->progs.gpu_exit,
	};

	_Static_assert(ARRAY_SIZE(tps) == ARRAY_SIZE(g->tp_links), "tracepoint links");
	for (size_t i = 0; i < ARRAY_SIZE(tps); i++) {
		g->tp_links[i] = bpf_program__attach(tps[i]);
		if (!g->tp_links[i]) {
			int r = -errno;

			/* open(2) does not exist on arm64: openat is enough there. */
			if (tps[i] == g->skel->progs.gpu_enter_open ||
			    tps[i] == g->skel->progs.gpu_exit_open)
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

void gpu_free(struct gpu *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_libs; i++) {
		for (size_t p = 0; p < N_PROBES; p++)
			bpf_link__destroy(g->libs[i]->links[p]);
		free(g->libs[i]);
	}
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
	for (size_t l = 0; l < g->n_libs; l++)
		ret->attached += g->libs[l]->links[i] != NULL;
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
		for (size_t p = 0; p < N_PROBES; p++)
			replaced += g->libs[l]->links[p] &&
				    !link_runs_ours(g->libs[l]->links[p], ids, n);
	return replaced;
}
