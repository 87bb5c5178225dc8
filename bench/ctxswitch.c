// SPDX-License-Identifier: GPL-2.0-only
/* Context-switch cost of the BPF CPU meter: a pipe ping-pong between two processes pinned to
 * one CPU, a fixed number of round trips (two switches each), timed with and without the
 * meter attached, alternating, in one run. Prints ns per switch and the ratio.
 * usage: ctxswitch [ROUND_TRIPS] [REPEATS] */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meter.h"
#include "util.h"

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

/* Returns ns per context switch. */
static double pingpong(long trips)
{
	int a[2], b[2];
	struct timespec t0, t1;
	char c = 0;
	pid_t pid;

	if (pipe(a) < 0 || pipe(b) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		pin(0);
		for (long i = 0; i < trips; i++)
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	pin(0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < trips; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			exit(1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waitpid(pid, NULL, 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (2.0 * trips);
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int attach; /* -1: no meter */
	} configs[] = {
		{ "none", -1 },
		{ "BPF meter, tp_btf", METER_ATTACH_AUTO },
		{ "BPF meter, raw_tp", METER_ATTACH_RAW_TP },
	};
	enum { N = sizeof(configs) / sizeof(configs[0]) };
	long trips = argc > 1 ? atol(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	double ns[N][64];

	if (reps < 1 || reps > 64 || trips < 1000) {
		fprintf(stderr, "usage: ctxswitch [ROUND_TRIPS>=1000] [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	pingpong(trips / 10); /* warm up */
	/* Alternate the configurations so that drift of the machine hits them all alike. */
	for (int i = 0; i < reps; i++) {
		for (int c = 0; c < N; c++) {
			struct meter *m = NULL;
			int r;

			if (configs[c].attach >= 0) {
				r = meter_open(NULL, configs[c].attach, &m);
				if (r < 0) {
					fprintf(stderr, "meter_open: %s (run as root)\n",
						strerror(-r));
					return 1;
				}
			}
			ns[c][i] = pingpong(trips);
			meter_free(m);
		}
	}
	printf("| meter | ns per switch (min / median / max) | added (medians) | ratio |\n"
	       "| --- | --- | --- | --- |\n");
	for (int c = 0; c < N; c++)
		qsort(ns[c], reps, sizeof(double), cmp);
	for (int c = 0; c < N; c++) {
		double med = ns[c][reps / 2], base = ns[0][reps / 2];

		printf("| %s | %.0f / %.0f / %.0f | %.0f ns | %.3f |\n", configs[c].name, ns[c][0],
		       med, ns[c][reps - 1], med - base, med / base);
	}
	printf("\n%ld round trips (2 switches each) x %d alternating runs\n", trips, reps);
	return 0;
}
