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
	long trips = argc > 1 ? atol(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	double off[64], on[64];
	struct meter *m = NULL;
	int r;

	if (reps < 1 || reps > 64 || trips < 1000) {
		fprintf(stderr, "usage: ctxswitch [ROUND_TRIPS>=1000] [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	pingpong(trips / 10); /* warm up */
	for (int i = 0; i < reps; i++) {
		off[i] = pingpong(trips);
		r = meter_open(NULL, &m);
		if (r < 0) {
			fprintf(stderr, "meter_open: %s (run as root)\n", strerror(-r));
			return 1;
		}
		on[i] = pingpong(trips);
		meter_free(m);
	}
	qsort(off, reps, sizeof(double), cmp);
	qsort(on, reps, sizeof(double), cmp);
	double mo = off[reps / 2], mn = on[reps / 2];
	printf("| meter | ns per switch (min / median / max) |\n| --- | --- |\n");
	printf("| none | %.0f / %.0f / %.0f |\n", off[0], mo, off[reps - 1]);
	printf("| BPF CPU meter | %.0f / %.0f / %.0f |\n", on[0], mn, on[reps - 1]);
	printf("\n%ld round trips x %d alternating runs; added per switch (medians): %.0f ns; "
	       "ratio %.3f\n",
	       trips, reps, mn - mo, mn / mo);
	return 0;
}
