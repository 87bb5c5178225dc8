// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the GPU meter per driver call, on the fake libcuda (entry points start with
 * "push %rbp", as libcuda's do): a loop of cuLaunchKernel + cuLaunchKernelEx calls timed with
 * no meter, with the meter in light mode and in detailed mode (loaded through the daemon's own
 * gpu_open()), alternating, R times. Also the cost the device-open tracepoints add to every
 * openat(2) on the node. Prints min/median/max ns per call and the differences of the medians.
 * usage: gpu-launch FAKE_LIBCUDA [CALLS] [REPEATS] */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "util.h"
#include "../tests/gpu-fake/fake-runtime.h"

static cuLaunchKernel_t launch;
static cuLaunchKernelEx_t launch_ex;

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* ns per launch call (half of them cuLaunchKernel, half cuLaunchKernelEx). */
static double launches(long n)
{
	CUlaunchConfig cfg = { 4, 2, 1, 32, 2, 2, 0, NULL, NULL, 0 };
	double t0 = now_ns();

	for (long i = 0; i < n / 2; i++) {
		launch(NULL, 2, 3, 4, 8, 4, 3, 0, NULL, NULL, NULL);
		launch_ex(&cfg, NULL, NULL, NULL);
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

enum { NONE, LIGHT, DETAILED, N_CONF };
static const char *const conf_name[N_CONF] = { "no meter", "light mode", "detailed mode" };

static int with_meter(int conf, const char *lib, struct gpu **g)
{
	int r;

	*g = NULL;
	if (conf == NONE)
		return 0;
	r = gpu_open(conf == LIGHT ? GPU_MODE_LIGHT : GPU_MODE_DETAILED, g);
	if (r < 0)
		return r;
	r = gpu_consider_path(*g, (uint32_t)getpid(), lib);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	long calls = argc > 2 ? atol(argv[2]) : 200000, repeats = argc > 3 ? atol(argv[3]) : 5;
	double lt[N_CONF][64], ot[N_CONF][64], med_l[N_CONF], med_o[N_CONF];
	char lib[PATH_MAX];
	void *h;

	if (argc < 2 || calls < 2 || repeats < 1 || repeats > 64) {
		fprintf(stderr, "usage: %s FAKE_LIBCUDA [CALLS] [REPEATS 1..64]\n", argv[0]);
		return 2;
	}
	if (!realpath(argv[1], lib)) {
		perror(argv[1]);
		return 1;
	}
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h || !(launch = dlsym(h, "cuLaunchKernel")) ||
	    !(launch_ex = dlsym(h, "cuLaunchKernelEx"))) {
		fprintf(stderr, "%s: %s\n", lib, dlerror());
		return 1;
	}
	log_set_max_level(LOG_LVL_WARNING);
	for (long r = 0; r < repeats; r++)
		for (int c = 0; c < N_CONF; c++) {
			struct gpu *g;
			int e = with_meter(c, lib, &g);

			if (e < 0) {
				fprintf(stderr, "cannot load the GPU meter: %s\n", strerror(-e));
				return 1;
			}
			launches(calls / 10); /* warm up */
			lt[c][r] = launches(calls);
			ot[c][r] = opens(calls / 4);
			gpu_free(g);
		}
	printf("GPU meter, %ld driver calls and %ld opens per round, %ld rounds, alternating\n",
	       calls, calls / 4, repeats);
	printf("%-14s %12s %12s %12s   %12s\n", "", "call min ns", "median", "max", "open median");
	for (int c = 0; c < N_CONF; c++) {
		qsort(lt[c], repeats, sizeof(double), cmp);
		qsort(ot[c], repeats, sizeof(double), cmp);
		med_l[c] = lt[c][repeats / 2];
		med_o[c] = ot[c][repeats / 2];
		printf("%-14s %12.1f %12.1f %12.1f   %12.1f\n", conf_name[c], lt[c][0], med_l[c],
		       lt[c][repeats - 1], med_o[c]);
	}
	printf("per launch: light mode adds %.1f ns (ratio %.3f), detailed mode adds %.1f ns "
	       "(ratio %.2f)\n",
	       med_l[LIGHT] - med_l[NONE], med_l[LIGHT] / med_l[NONE],
	       med_l[DETAILED] - med_l[NONE], med_l[DETAILED] / med_l[NONE]);
	printf("per openat+close (any file, any process): the meter adds %.1f ns (ratio %.2f)\n",
	       med_o[LIGHT] - med_o[NONE], med_o[LIGHT] / med_o[NONE]);
	return 0;
}
