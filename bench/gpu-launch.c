// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the GPU meter per launch call on a runtime library: the fake libcuda of the tests or
 * a vendor's real one (tests/gpu-real/fetch.sh: NVIDIA's libcuda R535, AMD's HIP, the OpenCL
 * ICD loader, the Level Zero loader), recognised by its content. A loop of the runtime's two
 * launch entry points (cuLaunchKernel + cuLaunchKernelEx, hipLaunchKernel +
 * hipModuleLaunchKernel, clEnqueueNDRangeKernel, zeCommandListAppendLaunchKernel; without a
 * device they return an error at once, which is still a call the probe sees) timed with no
 * meter, the meter in light mode, in detailed mode with every probe at the function's entry
 * ("before": where the kernel may single-step the first instruction) and in detailed mode as
 * the daemon places them ("after": past a single-stepped first instruction where safe), all
 * loaded through the daemon's own gpu_open(), alternating, R rounds. Also the cost the
 * device-open tracepoints add to every openat(2). Before every round it compares the launch
 * functions' first bytes in memory with the file: a uprobe that another program (a running
 * hpcmeterd in detailed mode) put on the same file would be paid in every round, "no meter"
 * included, and is refused. Prints min/median/max ns per call and the differences.
 * usage: gpu-launch LIBRARY [CALLS] [REPEATS] */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "gpu-elf.h"
#include "util.h"
#include "../tests/gpu-fake/fake-runtime.h"

#define CHECK_BYTES 32 /* of each launch function compared with the file */

static int runtime;
static void *fn[2]; /* the two launch entry points (the second may be the first again) */
static const char *fn_name[2];

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* ns per launch call, half of them each entry point; the arguments as a caller passes them
 * (a NULL kernel, queue or list: no device is needed for the call to return). */
static double launches(long n)
{
	CUlaunchConfig cfg = { 4, 2, 1, 32, 2, 2, 0, NULL, NULL, 0 };
	size_t global[2] = { 100, 10 };
	ze_group_count_t groups = { 4, 1, 1 };
	double t0 = now_ns();

	for (long i = 0; i < n / 2; i++) {
		switch (runtime) {
		case GPU_RT_CUDA:
			((cuLaunchKernel_t)fn[0])(NULL, 2, 3, 4, 8, 4, 3, 0, NULL, NULL, NULL);
			((cuLaunchKernelEx_t)fn[1])(&cfg, NULL, NULL, NULL);
			break;
		case GPU_RT_HIP:
			((hipLaunchKernel_t)fn[0])(NULL, (dim3){ 2, 2, 2 }, (dim3){ 16, 1, 1 },
						   NULL, 0, NULL);
			((hipModuleLaunchKernel_t)fn[1])(NULL, 3, 1, 1, 64, 1, 1, 0, NULL, NULL,
							 NULL);
			break;
		case GPU_RT_OPENCL:
			for (int k = 0; k < 2; k++)
				((clEnqueueNDRangeKernel_t)fn[k])(NULL, NULL, 2, NULL, global, NULL,
								  0, NULL, NULL);
			break;
		case GPU_RT_ZE:
			for (int k = 0; k < 2; k++)
				((zeCommandListAppendLaunchKernel_t)fn[k])(NULL, NULL, &groups,
									   NULL, 0, NULL);
			break;
		}
	}
	return (now_ns() - t0) / (double)n;
}

/* ns per openat(2) + close(2) of a regular file. */
static double opens(long n)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

		if (fd >= 0)
			close(fd);
	}
	return (now_ns() - t0) / (double)n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The launch functions' first bytes as this process has them, against the file: a uprobe is
 * an int3 (0xcc) the kernel wrote into the process's copy of the page. Returns the index of the
 * entry point whose bytes differ (and where), -1 when none does. */
static int foreign_probe(const struct gpu_elf *e, size_t *at)
{
	for (int k = 0; k < 2; k++) {
		struct gpu_elf_func f;
		uint8_t file[CHECK_BYTES];

		if (gpu_elf_funcs(e, fn_name[k], &f, 1) != 1 ||
		    gpu_elf_read(e, f.offset, file, sizeof(file)) != (ssize_t)sizeof(file))
			continue;
		for (*at = 0; *at < sizeof(file); (*at)++)
			if (file[*at] != ((const uint8_t *)fn[k])[*at])
				return k;
	}
	return -1;
}

enum { NONE, LIGHT, AT_ENTRY, PLACED, N_CONF };
static const char *const conf_name[N_CONF] = { "no meter", "light mode", "detailed, at entry",
					       "detailed, placed" };

static int with_meter(int conf, const char *lib, struct gpu **g)
{
	int r;

	*g = NULL;
	if (conf == NONE)
		return 0;
	r = gpu_open(conf == LIGHT ? GPU_MODE_LIGHT : GPU_MODE_DETAILED, g);
	if (r < 0)
		return r;
	gpu_set_probes_at_entry(*g, conf == AT_ENTRY);
	r = gpu_consider_path(*g, (uint32_t)getpid(), lib);
	return r < 0 ? r : 0;
}

static int open_library(const char *lib, struct gpu_elf **e)
{
	static const char *const names[][2] = {
		[GPU_RT_CUDA] = { "cuLaunchKernel", "cuLaunchKernelEx" },
		[GPU_RT_HIP] = { "hipLaunchKernel", "hipModuleLaunchKernel" },
		[GPU_RT_OPENCL] = { "clEnqueueNDRangeKernel", "clEnqueueNDRangeKernel" },
		[GPU_RT_ZE] = { "zeCommandListAppendLaunchKernel",
				"zeCommandListAppendLaunchKernel" },
	};
	int fd = open(lib, O_RDONLY | O_CLOEXEC), r;
	void *h;

	if (fd < 0)
		return -errno;
	r = gpu_elf_open(fd, e);
	close(fd);
	if (r < 0)
		return r;
	runtime = gpu_runtime_of_elf(*e);
	if (runtime < 0)
		return -ENOEXEC;
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "gpu-launch: %s\n", dlerror());
		return -ENOENT;
	}
	for (int k = 0; k < 2; k++) {
		fn_name[k] = names[runtime][k];
		fn[k] = dlsym(h, fn_name[k]);
		if (!fn[k]) {
			fprintf(stderr, "gpu-launch: %s\n", dlerror());
			return -ENOENT;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	long calls = argc > 2 ? atol(argv[2]) : 200000, repeats = argc > 3 ? atol(argv[3]) : 5;
	double lt[N_CONF][64], ot[N_CONF][64], med_l[N_CONF], med_o[N_CONF];
	struct gpu_elf *e = NULL;
	char lib[PATH_MAX];
	size_t at;
	int r, foreign;

	if (argc < 2 || calls < 2 || repeats < 1 || repeats > 64) {
		fprintf(stderr, "usage: %s LIBRARY [CALLS] [REPEATS 1..64]\n", argv[0]);
		return 2;
	}
	if (!realpath(argv[1], lib)) {
		perror(argv[1]);
		return 1;
	}
	r = open_library(lib, &e);
	if (r < 0) {
		fprintf(stderr, "gpu-launch: %s: %s\n", lib,
			r == -ENOEXEC ? "not an accelerator runtime" : strerror(-r));
		return 1;
	}
	log_set_max_level(LOG_LVL_WARNING);
	for (long rep = 0; rep < repeats; rep++)
		for (int c = 0; c < N_CONF; c++) {
			struct gpu *g;

			foreign = foreign_probe(e, &at);
			if (foreign >= 0) {
				fprintf(stderr,
					"gpu-launch: %s+%zu in %s is 0x%02x in memory, not as in the "
					"file: a uprobe of another program is on it (a running "
					"hpcmeterd in detailed mode?); every round, \"no meter\" "
					"too, would pay for it\n",
					fn_name[foreign], at, lib,
					((const uint8_t *)fn[foreign])[at]);
				return 1;
			}
			r = with_meter(c, lib, &g);
			if (r < 0) {
				fprintf(stderr, "cannot load the GPU meter: %s\n", strerror(-r));
				return 1;
			}
			launches(calls / 10); /* warm up */
			lt[c][rep] = launches(calls);
			ot[c][rep] = opens(calls / 4);
			gpu_free(g);
		}
	printf("GPU meter on %s (%s, SONAME %s): %s + %s, %ld calls and %ld opens per round, %ld "
	       "rounds, alternating\n",
	       lib, gpu_runtime_name(runtime), gpu_elf_soname(e)[0] ? gpu_elf_soname(e) : "none",
	       fn_name[0], fn_name[1], calls, calls / 4, repeats);
	printf("%-20s %12s %12s %12s   %12s\n", "", "call min ns", "median", "max", "open median");
	for (int c = 0; c < N_CONF; c++) {
		qsort(lt[c], repeats, sizeof(double), cmp);
		qsort(ot[c], repeats, sizeof(double), cmp);
		med_l[c] = lt[c][repeats / 2];
		med_o[c] = ot[c][repeats / 2];
		printf("%-20s %12.1f %12.1f %12.1f   %12.1f\n", conf_name[c], lt[c][0], med_l[c],
		       lt[c][repeats - 1], med_o[c]);
	}
	printf("per launch: light mode adds %.1f ns; detailed mode adds %.1f ns with the probes at "
	       "the entry, %.1f ns placed (ratio placed / at entry %.3f)\n",
	       med_l[LIGHT] - med_l[NONE], med_l[AT_ENTRY] - med_l[NONE],
	       med_l[PLACED] - med_l[NONE],
	       (med_l[PLACED] - med_l[NONE]) / (med_l[AT_ENTRY] - med_l[NONE]));
	printf("per openat+close (any file, any process): the meter adds %.1f ns (ratio %.2f)\n",
	       med_o[LIGHT] - med_o[NONE], med_o[LIGHT] / med_o[NONE]);
	gpu_elf_free(e);
	return 0;
}
