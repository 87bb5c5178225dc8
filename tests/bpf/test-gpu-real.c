// SPDX-License-Identifier: GPL-2.0-only
/* The GPU meter against the vendors' real runtime libraries from Debian (tests/gpu-real/
 * fetch.sh unpacks them into BUILD/gpu-real/root, nothing installed): NVIDIA's libcuda R535,
 * AMD's HIP 5.2, the Level Zero loader 1.8 and the OpenCL ICD loader with pocl, on this machine
 * without a GPU. For each library:
 *   - symbol discovery on the real ELF file: recognised by its content (exports, SONAME), every
 *     entry point the meter knows found or known absent, the _v2/_v3, _ptsz, _ptds and _spt
 *     variants separate functions each probed, symbol versions (HIP's hip_4.2) read, no two
 *     probed names at one address (aliases are probed once: tests/bpf/test-gpu.c, the fake);
 *   - where each probe goes: on an instruction the kernel emulates, on every entry point of
 *     every library (R535's cmp and the loaders' RIP-relative movs are single-stepped: the
 *     probe moves to the jcc or push after them);
 *   - attach, and exact counts for every probed entry point, each called a different known
 *     number of times by gpu-real-load without a device: every call fails (an error code), and
 *     every call is counted, launches and their threads included: a launch is an attempt;
 *   - light mode in the same runs: nothing on the launch path, the rare calls counted.
 * Then OpenCL end to end on pocl's CPU device: gpu-cl-run builds two kernels and runs 25
 * launches over 4096 work items and 5 over 64 x 32; both meters loaded at once: detailed mode
 * counts 30 launches and 112,640 work items exactly, light mode 0, both the buffer, the
 * context and the build. Prints TAP.
 * usage: test-gpu-real BUILD/gpu-real BUILD/tests/gpu-real-load BUILD/tests/gpu-cl-run */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu.h"
#include "gpu-elf.h"
#include "gpu-entry.h"
#include "util.h"

#include "../unit/tap.h"

#define EQ(what, got, want)                                                              \
	TAP_CHECK((uint64_t)(got) == (uint64_t)(want), "%s: %llu (expected %llu)", what, \
		  (unsigned long long)(got), (unsigned long long)(want))

#define LIBDIR "/usr/lib/x86_64-linux-gnu"
#define MIB (1u << 20)

static const char *dir, *loader, *clrun;
static char root[PATH_MAX], libdir[PATH_MAX + 64], tmpdir[] = "/tmp/hpcm-gpu-real-XXXXXX";

/* What one call of an entry point adds, as gpu-real-load makes it. */
struct expect {
	const char *symbol;
	uint32_t threads; /* a launch of that many threads (0: not a launch) */
	uint32_t h2d_bytes, alloc_bytes;
	bool ctx, module, graph;
};

#define LAUNCH(s, t)                      \
	{                                 \
		.symbol = s, .threads = t \
	}
#define H2D(s)                                 \
	{                                      \
		.symbol = s, .h2d_bytes = 4096 \
	}
#define ALLOC(s)                                \
	{                                       \
		.symbol = s, .alloc_bytes = MIB \
	}
#define CTX(s)                           \
	{                                \
		.symbol = s, .ctx = true \
	}
#define MODULE(s)                           \
	{                                   \
		.symbol = s, .module = true \
	}
#define GRAPH(s)                           \
	{                                  \
		.symbol = s, .graph = true \
	}
#define END                    \
	{                      \
		.symbol = NULL \
	}

static const struct expect cuda_calls[] = {
	LAUNCH("cuLaunchKernel", 2304),
	LAUNCH("cuLaunchKernel_ptsz", 2304),
	LAUNCH("cuLaunchCooperativeKernel", 2304),
	LAUNCH("cuLaunchCooperativeKernel_ptsz", 2304),
	LAUNCH("cuLaunchKernelEx", 1024),
	LAUNCH("cuLaunchKernelEx_ptsz", 1024),
	H2D("cuMemcpyHtoD_v2"),
	H2D("cuMemcpyHtoD_v2_ptds"),
	H2D("cuMemcpyHtoDAsync_v2"),
	H2D("cuMemcpyHtoDAsync_v2_ptsz"),
	GRAPH("cuGraphLaunch"),
	GRAPH("cuGraphLaunch_ptsz"),
	ALLOC("cuMemAlloc_v2"),
	ALLOC("cuMemAllocAsync"),
	ALLOC("cuMemAllocAsync_ptsz"),
	CTX("cuCtxCreate_v2"),
	CTX("cuCtxCreate_v3"),
	CTX("cuDevicePrimaryCtxRetain"),
	CTX("cuDevicePrimaryCtxRelease_v2"),
	CTX("cuCtxDestroy_v2"),
	MODULE("cuModuleLoad"),
	MODULE("cuModuleLoadData"),
	MODULE("cuModuleLoadDataEx"),
	MODULE("cuModuleLoadFatBinary"),
	MODULE("cuLibraryLoadData"),
	END,
};

static const struct expect hip_calls[] = {
	LAUNCH("hipLaunchKernel", 128),
	LAUNCH("hipLaunchKernel_spt", 128),
	LAUNCH("hipExtLaunchKernel", 128),
	LAUNCH("hipLaunchCooperativeKernel", 128),
	LAUNCH("hipLaunchCooperativeKernel_spt", 128),
	LAUNCH("hipModuleLaunchKernel", 192),
	GRAPH("hipGraphLaunch"),
	ALLOC("hipMalloc"),
	CTX("hipCtxCreate"),
	MODULE("hipModuleLoad"),
	MODULE("hipModuleLoadData"),
	END,
};

static const struct expect cl_calls[] = {
	LAUNCH("clEnqueueNDRangeKernel", 1000),
	ALLOC("clCreateBuffer"),
	CTX("clCreateContext"),
	MODULE("clBuildProgram"),
	END,
};

static const struct expect ze_calls[] = {
	LAUNCH("zeKernelSetGroupSize", 0), /* counted as a hit; it sets the group size */
	LAUNCH("zeCommandListAppendLaunchKernel", 4 * 64),
	LAUNCH("zeCommandListAppendLaunchCooperativeKernel", 4 * 64),
	ALLOC("zeMemAllocDevice"),
	CTX("zeContextCreate"),
	MODULE("zeModuleCreate"),
	END,
};

struct library {
	const char *name, *runtime, *file, *soname;
	enum gpu_runtime rt;
	const struct expect *calls;
	const char *const absent[4]; /* probe definitions this version does not export */
	/* The entry point whose placement is checked, and where its probe goes. */
	const char *placed_symbol;
	uint32_t placed_skip;
	const char *placed_at;
};

static const struct library libraries[] = {
	{ "NVIDIA libcuda R535",
	  "cuda",
	  LIBDIR "/nvidia/current/libcuda.so.1",
	  "libcuda.so.1",
	  GPU_RT_CUDA,
	  cuda_calls,
	  { "cuCtxCreate_v4" },
	  "cuLaunchKernel",
	  10,
	  "je" },
	{ "AMD HIP 5.2",
	  "hip",
	  LIBDIR "/libamdhip64.so.5",
	  "libamdhip64.so.5",
	  GPU_RT_HIP,
	  hip_calls,
	  { NULL },
	  "hipLaunchKernel",
	  0,
	  "push" },
	{ "OpenCL ICD loader (ocl-icd)",
	  "opencl",
	  LIBDIR "/libOpenCL.so.1",
	  "libOpenCL.so.1",
	  GPU_RT_OPENCL,
	  cl_calls,
	  { NULL },
	  "clEnqueueNDRangeKernel",
	  7,
	  "push" },
	{ "Level Zero loader",
	  "ze",
	  LIBDIR "/libze_loader.so.1",
	  "libze_loader.so.1",
	  GPU_RT_ZE,
	  ze_calls,
	  { NULL },
	  "zeCommandListAppendLaunchKernel",
	  20,
	  "je" },
};

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static bool absent_here(const struct library *l, const char *symbol)
{
	for (size_t i = 0; i < ARRAY_SIZE(l->absent) && l->absent[i]; i++)
		if (streq(l->absent[i], symbol))
			return true;
	return false;
}

/* Symbol discovery on the real file. */
static void discover(const struct library *l, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rt;
	struct gpu_elf *e = NULL;
	unsigned found = 0, missing = 0, versioned_default = 0, aliased = 0, variants = 0;
	char list[512] = "";

	if (fd < 0 || gpu_elf_open(fd, &e) < 0) {
		TAP_CHECK(false, "%s: %s read as ELF", l->name, path);
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	rt = gpu_runtime_of_elf(e);
	TAP_CHECK(rt == (int)l->rt && streq(gpu_elf_soname(e), l->soname),
		  "%s: recognised by its content as %s (SONAME %s, %zu exported functions)",
		  l->name, rt >= 0 ? gpu_runtime_name(rt) : "nothing", gpu_elf_soname(e),
		  gpu_elf_n_funcs(e));
	for (size_t i = 0; i < gpu_n_probes(); i++) {
		struct gpu_probe_info pi;
		struct gpu_elf_func f[4];
		const char *names[4];
		size_t n;

		if (gpu_probe_get(NULL, i, &pi) < 0 || pi.runtime != l->rt)
			continue;
		n = gpu_elf_funcs(e, pi.symbol, f, ARRAY_SIZE(f));
		if (!n) {
			if (!absent_here(l, pi.symbol)) {
				missing++;
				printf("# %s: %s not exported\n", l->name, pi.symbol);
			}
			continue;
		}
		found++;
		versioned_default += f[0].default_version;
		aliased += gpu_elf_aliases(e, &f[0], names, ARRAY_SIZE(names)) > 1;
		if (strstr(pi.symbol, "_v2") || strstr(pi.symbol, "_v3") ||
		    strstr(pi.symbol, "_ptsz") || strstr(pi.symbol, "_ptds") ||
		    strstr(pi.symbol, "_spt")) {
			variants++;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? " " : "", pi.symbol);
		}
	}
	TAP_CHECK(missing == 0, "%s: %u entry points found, none missing but %s", l->name, found,
		  l->absent[0] ? l->absent[0] : "none");
	TAP_CHECK(versioned_default == found, "%s: each the default version of its name", l->name);
	TAP_CHECK(aliased == 0, "%s: no two probed names at one address", l->name);
	TAP_CHECK(variants > 0 || l->rt != GPU_RT_CUDA,
		  "%s: %u variants, each a function of its own: %s", l->name, variants, list);
	gpu_elf_free(e);
}

/* Run gpu-real-load on the library; its lines "SYMBOL CALLS RETURN" into calls[]. */
struct ran {
	pid_t pid;
	char symbol[64][64];
	long calls[64];
	long ret[64];
	size_t n;
};

static int run_loader(const struct library *l, const char *path, long n, struct ran *r)
{
	char cmd[3 * PATH_MAX], line[256];
	FILE *f;
	int status;

	/* The shell execs the loader: its pid is the process the meter counts. */
	if (snprintf(cmd, sizeof(cmd), "echo $$; LD_LIBRARY_PATH='%s' exec '%s' %s '%s' %ld",
		     libdir, loader, l->runtime, path, n) >= (int)sizeof(cmd))
		return -ENAMETOOLONG;
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	memset(r, 0, sizeof(*r));
	if (!fgets(line, sizeof(line), f) || sscanf(line, "%d", &r->pid) != 1) {
		pclose(f);
		return -EPROTO;
	}
	while (fgets(line, sizeof(line), f) && r->n < ARRAY_SIZE(r->calls))
		if (sscanf(line, "%63s %ld %ld", r->symbol[r->n], &r->calls[r->n], &r->ret[r->n]) ==
		    3)
			r->n++;
	status = pclose(f);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static uint64_t hits_of(struct gpu *g, const char *symbol)
{
	struct gpu_probe_info pi;

	for (size_t i = 0; i < gpu_n_probes(); i++)
		if (gpu_probe_get(g, i, &pi) == 0 && streq(pi.symbol, symbol))
			return pi.hits;
	return 0;
}

static void counts(const struct library *l, const char *path)
{
	struct gpu *det = NULL, *light = NULL;
	struct hpcm_gpu_proc d, lt;
	struct hpcm_gpu_proc want = { 0 }, want_light = { 0 };
	unsigned emulated = 0, probes = 0, failing = 0, exact = 0;
	struct ran *r = calloc(1, sizeof(*r));
	char what[160];
	int rc;

	if (!r || gpu_open(GPU_MODE_DETAILED, &det) < 0 || gpu_open(GPU_MODE_LIGHT, &light) < 0) {
		TAP_CHECK(false, "%s: the meters load", l->name);
		goto out;
	}
	/* Attached by path before the program runs: no window. */
	rc = gpu_consider_path(det, (uint32_t)getpid(), path);
	TAP_CHECK(rc == 1 && gpu_consider_path(light, (uint32_t)getpid(), path) == 1,
		  "%s: attached (detailed and light mode)", l->name);
	if (rc != 1)
		goto out;
	const struct gpu_lib *lib = gpu_lib_get(det, 0);

	for (size_t i = 0; i < lib->probes; i++) {
		struct gpu_lib_probe p;

		if (gpu_lib_probe_get(det, 0, i, &p) < 0)
			continue;
		probes++;
		emulated += p.emulated;
		if (streq(p.symbol, l->placed_symbol))
			TAP_CHECK(p.skip == l->placed_skip && p.emulated,
				  "%s: the probe on %s is at +%u (expected +%u, a %s), emulated",
				  l->name, p.symbol, p.skip, l->placed_skip, l->placed_at);
		if (!p.emulated)
			printf("# %s: %s stays single-stepped\n", l->name, p.symbol);
	}
	TAP_CHECK(probes > 0 && emulated == probes,
		  "%s: every one of its %u probes is on an instruction the kernel emulates "
		  "(%u placed past a single-stepped first instruction)",
		  l->name, probes, lib->moved);
	{
		unsigned launch;

		gpu_probes_attached(light, &launch);
		TAP_CHECK(launch == 0, "%s: light mode puts nothing on the launch path", l->name);
	}

	rc = run_loader(l, path, 20, r);
	TAP_CHECK(rc == 0 && r->n > 0, "%s: gpu-real-load called %zu entry points", l->name, r->n);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		const struct expect *x = l->calls;
		uint64_t got = hits_of(det, r->symbol[i]);

		while (x->symbol && !streq(x->symbol, r->symbol[i]))
			x++;
		if (!x->symbol) {
			TAP_CHECK(false, "%s: %s expected", l->name, r->symbol[i]);
			continue;
		}
		/* Without a device each call fails (OpenCL's constructors return NULL). */
		failing += r->ret[i] != 0 || streq(x->symbol, "clCreateBuffer") ||
			   streq(x->symbol, "clCreateContext");
		exact += got == (uint64_t)r->calls[i];
		if (got != (uint64_t)r->calls[i])
			printf("# %s: %s called %ld times, counted %llu\n", l->name, x->symbol,
			       r->calls[i], (unsigned long long)got);
		if (x->threads) {
			want.launches += r->calls[i];
			want.threads += (uint64_t)r->calls[i] * x->threads;
		}
		want.h2d_copies += x->h2d_bytes ? r->calls[i] : 0;
		want.bytes_h2d += (uint64_t)r->calls[i] * x->h2d_bytes;
		want.allocs += x->alloc_bytes ? r->calls[i] : 0;
		want.bytes_alloc += (uint64_t)r->calls[i] * x->alloc_bytes;
		want.ctx_calls += x->ctx ? r->calls[i] : 0;
		want.module_loads += x->module ? r->calls[i] : 0;
		want.graph_launches += x->graph ? r->calls[i] : 0;
	}
	TAP_CHECK(failing == r->n, "%s: every call returned an error (no device): %u of %zu",
		  l->name, failing, r->n);
	TAP_CHECK(exact == r->n,
		  "%s: each entry point's probe counted its calls exactly (%u of %zu)", l->name,
		  exact, r->n);
	want_light = want;
	want_light.launches = want_light.threads = 0;
	want_light.h2d_copies = want_light.bytes_h2d = 0;
	if (gpu_lookup_proc(det, r->pid, &d) < 0 || gpu_lookup_proc(light, r->pid, &lt) < 0) {
		TAP_CHECK(false, "%s: the program (pid %d) has GPU counters in both meters",
			  l->name, r->pid);
		goto out;
	}
#define BOTH(field)                                                             \
	do {                                                                    \
		snprintf(what, sizeof(what), "%s: detailed: " #field, l->name); \
		EQ(what, d.field, want.field);                                  \
		snprintf(what, sizeof(what), "%s: light: " #field, l->name);    \
		EQ(what, lt.field, want_light.field);                           \
	} while (0)
	BOTH(launches);
	BOTH(threads);
	BOTH(h2d_copies);
	BOTH(bytes_h2d);
	BOTH(allocs);
	BOTH(bytes_alloc);
	BOTH(ctx_calls);
	BOTH(module_loads);
	BOTH(graph_launches);
#undef BOTH
	{
		struct gpu_stats st;

		TAP_CHECK(gpu_read_stats(det, &st) == 0 && st.counter[HPCM_GSTAT_ARG_FAULT] == 0,
			  "%s: every launch's arguments were read", l->name);
	}
out:
	gpu_free(det);
	gpu_free(light);
	free(r);
}

/* OpenCL end to end: a real program on pocl's CPU device, both meters at once. */
static void opencl_on_pocl(void)
{
	char cmd[4 * PATH_MAX], path[PATH_MAX + 64], line[256];
	struct gpu *det = NULL, *light = NULL;
	struct hpcm_gpu_proc d, lt;
	long launches = 0, items = 0, bytes = 0;
	pid_t pid = 0;
	FILE *f;
	int status;

	snprintf(path, sizeof(path), "%s" LIBDIR "/libOpenCL.so.1", root);
	if (gpu_open(GPU_MODE_DETAILED, &det) < 0 || gpu_open(GPU_MODE_LIGHT, &light) < 0 ||
	    gpu_consider_path(det, (uint32_t)getpid(), path) != 1 ||
	    gpu_consider_path(light, (uint32_t)getpid(), path) != 1) {
		TAP_CHECK(false, "OpenCL on pocl: the meters load and attach to the ICD loader");
		goto out;
	}
	if (snprintf(cmd, sizeof(cmd),
		     "echo $$; LD_LIBRARY_PATH='%s' OCL_ICD_VENDORS='%s/vendors' POCL_CACHE_DIR='%s' "
		     "exec '%s' 25 4096 5",
		     libdir, dir, tmpdir, clrun) >= (int)sizeof(cmd)) {
		TAP_CHECK(false, "OpenCL on pocl: paths too long");
		goto out;
	}
	f = popen(cmd, "r");
	if (f && fgets(line, sizeof(line), f))
		pid = atoi(line);
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "launches %ld work_items %ld buffer_bytes %ld", &launches, &items,
		       &bytes);
	status = f ? pclose(f) : -1;
	TAP_CHECK(
		f && WIFEXITED(status) && WEXITSTATUS(status) == 0 && launches == 30,
		"OpenCL on pocl: the program built its kernels, ran %ld launches of %ld work items "
		"on the CPU device and read back what they computed",
		launches, items);
	if (!pid || gpu_lookup_proc(det, pid, &d) < 0 || gpu_lookup_proc(light, pid, &lt) < 0) {
		TAP_CHECK(false, "OpenCL on pocl: the program has GPU counters in both meters");
		goto out;
	}
	EQ("OpenCL on pocl: detailed: launches", d.launches, 30);
	EQ("OpenCL on pocl: detailed: work items (25 x 4096 + 5 x 64 x 32)", d.threads,
	   25 * 4096 + 5 * 64 * 32);
	EQ("OpenCL on pocl: light: launches", lt.launches, 0);
	EQ("OpenCL on pocl: light: work items", lt.threads, 0);
	EQ("OpenCL on pocl: detailed: buffers", d.allocs, 1);
	EQ("OpenCL on pocl: light: buffers", lt.allocs, 1);
	EQ("OpenCL on pocl: detailed: buffer bytes", d.bytes_alloc, bytes);
	EQ("OpenCL on pocl: light: buffer bytes", lt.bytes_alloc, bytes);
	EQ("OpenCL on pocl: detailed: contexts", d.ctx_calls, 1);
	EQ("OpenCL on pocl: light: contexts", lt.ctx_calls, 1);
	EQ("OpenCL on pocl: detailed: program builds", d.module_loads, 1);
	EQ("OpenCL on pocl: light: program builds", lt.module_loads, 1);
	TAP_CHECK((d.kinds & HPCM_GPU_K_OPENCL) && (lt.kinds & HPCM_GPU_K_OPENCL),
		  "OpenCL on pocl: the process is an OpenCL user in both");
out:
	gpu_free(det);
	gpu_free(light);
}

int main(int argc, char **argv)
{
	char stamp[PATH_MAX + 16];

	if (argc != 4) {
		fprintf(stderr, "usage: %s BUILD/gpu-real GPU_REAL_LOAD GPU_CL_RUN\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	loader = argv[2];
	clrun = argv[3];
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF\n");
		return 77;
	}
#if !defined(__x86_64__)
	printf("1..0 # SKIP the vendors' libraries fetched are x86-64 builds\n");
	return 77;
#endif
	snprintf(stamp, sizeof(stamp), "%s/stamp", dir);
	if (access(stamp, F_OK) < 0) {
		printf("1..0 # SKIP no real runtimes in %s: make gpu-real (tests/gpu-real/fetch.sh)\n",
		       dir);
		return 77;
	}
	if (!realpath(dir, root) || strlen(root) + 6 >= sizeof(root))
		return 1;
	strcat(root, "/root");
	snprintf(libdir, sizeof(libdir), "%s" LIBDIR, root);
	if (!mkdtemp(tmpdir))
		return 1;
	atexit(cleanup);
	for (size_t i = 0; i < ARRAY_SIZE(libraries); i++) {
		char path[2 * PATH_MAX];

		if (snprintf(path, sizeof(path), "%s%s", root, libraries[i].file) >=
		    (int)sizeof(path))
			return 1;
		discover(&libraries[i], path);
		counts(&libraries[i], path);
	}
	opencl_on_pocl();
	return tap_done();
}
