// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the CPU meter per process: fork(), _exit() in the child, waitpid() in the parent, a
 * fixed number of times, timed with and without the meter attached (tp_btf, raw_tp),
 * alternating, in one run. It pays the exit program (its record and the "exiting" map entry)
 * and the free program (a lookup per task freed; the tail record, where one is due, at the
 * leader's). The ring buffer is drained after each run, as the daemon does. The forking is
 * done by a worker started before any meter is opened: a process holding the meter's file
 * descriptors and ring-buffer mapping would pass them to every child, and its children would
 * pay for copying and closing them (20 µs each here), which is not the programs' cost. The
 * worker is pinned to one CPU, like bench/move.c. Prints µs per process and the ratio.
 * usage: forkexit [PROCESSES] [REPEATS]   (as root) */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meter.h"
#include "table.h"
#include "util.h"

/* Returns µs per fork, exit and wait. */
static double forks(long n)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
			fprintf(stderr, "fork/wait: %s\n", strerror(errno));
			exit(1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
}

/* The worker: for each count read from cmd, fork that many and write back µs per process. */
static void worker(int cmd, int res)
{
	long n;

	while (read(cmd, &n, sizeof(n)) == sizeof(n)) {
		double us = forks(n);

		if (write(res, &us, sizeof(us)) != sizeof(us))
			break;
	}
	_exit(0);
}

static double ask(int cmd, int res, long n)
{
	double us;

	if (write(cmd, &n, sizeof(n)) != sizeof(n) || read(res, &us, sizeof(us)) != sizeof(us)) {
		fprintf(stderr, "the worker is gone\n");
		exit(1);
	}
	return us;
}

int main(int argc, char **argv)
{
	static const struct bench_config configs[] = { BENCH_NO_METER, BENCH_TP_BTF, BENCH_RAW_TP };
	enum { N = sizeof(configs) / sizeof(configs[0]) };
	long n = argc > 1 ? atol(argv[1]) : 5000;
	int reps = argc > 2 ? atoi(argv[2]) : 7, cmd[2], res[2];
	double us[N][BENCH_MAX_REPS];
	cpu_set_t one;
	pid_t w;

	if (reps < 1 || reps > BENCH_MAX_REPS || n < 100) {
		fprintf(stderr, "usage: forkexit [PROCESSES>=100] [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	if (pipe(cmd) < 0 || pipe(res) < 0)
		return 1;
	w = fork();
	if (w == 0) {
		close(cmd[1]);
		close(res[0]);
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0) {
			fprintf(stderr, "sched_setaffinity: %s\n", strerror(errno));
			_exit(1);
		}
		worker(cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	ask(cmd[1], res[0], n / 10); /* warm up */
	/* Alternate the configurations so that drift of the machine hits them all alike. */
	for (int i = 0; i < reps; i++) {
		for (int c = 0; c < N; c++) {
			struct meter *m = NULL;

			if (configs[c].attach >= 0) {
				int r = meter_open(NULL, configs[c].attach, &m);

				if (r < 0) {
					fprintf(stderr, "meter_open: %s (run as root)\n",
						strerror(-r));
					return 1;
				}
			}
			ask(cmd[1], res[0], n / 10); /* settle: the attach's deferred work */
			if (m)
				meter_consume(m);
			us[c][i] = ask(cmd[1], res[0], n);
			if (m)
				meter_consume(m);
			meter_free(m);
		}
	}
	close(cmd[1]);
	waitpid(w, NULL, 0);
	bench_table(configs, N, us, reps, "µs per process", "µs", 2);
	printf("\n%ld fork + _exit + waitpid x %d alternating runs, pinned to CPU 0\n", n, reps);
	return 0;
}
