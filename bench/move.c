// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the CPU meter's cgroup-move program (cgroup_attach_task): a sleeping child moved back
 * and forth between two cgroups v2 by writes to cgroup.procs, a fixed number of moves, timed
 * with and without the meter attached (tp_btf, raw_tp), alternating, in one run. The meter's
 * ring buffer is drained between runs, as the daemon does. Both processes are pinned to one
 * CPU: unpinned, on the 2-vCPU VM, a move costs 2 or 20 µs by where the two run, with or
 * without the meter, and that noise hides the program. Prints µs per move and the ratio.
 * usage: move [MOVES] [REPEATS]   (as root) */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attribute.h"
#include "meter.h"
#include "table.h"
#include "util.h"

static char cg[2][PATH_MAX + 64];

/* Returns µs per move of pid, alternating between the two cgroups. */
static double moves(pid_t pid, long n)
{
	char procs[2][sizeof(cg) + 32], buf[32];
	struct timespec t0, t1;
	int fd[2], len;

	len = snprintf(buf, sizeof(buf), "%d", pid);
	for (int i = 0; i < 2; i++) {
		snprintf(procs[i], sizeof(procs[i]), "%s/cgroup.procs", cg[i]);
		fd[i] = open(procs[i], O_WRONLY | O_CLOEXEC);
		if (fd[i] < 0) {
			fprintf(stderr, "%s: %s\n", procs[i], strerror(errno));
			exit(1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (write(fd[i & 1], buf, len) != len) {
			fprintf(stderr, "move: %s\n", strerror(errno));
			exit(1);
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd[0]);
	close(fd[1]);
	return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
}

int main(int argc, char **argv)
{
	static const struct bench_config configs[] = { BENCH_NO_METER, BENCH_TP_BTF, BENCH_RAW_TP };
	enum { N = sizeof(configs) / sizeof(configs[0]) };
	long n = argc > 1 ? atol(argv[1]) : 2000;
	int reps = argc > 2 ? atoi(argv[2]) : 7, r, rc = 0;
	char mnt[PATH_MAX];
	double us[N][BENCH_MAX_REPS];
	pid_t child;

	if (reps < 1 || reps > BENCH_MAX_REPS || n < 100) {
		fprintf(stderr, "usage: move [MOVES>=100] [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	r = cgroup2_mount_find(mnt, sizeof(mnt));
	if (r < 0) {
		fprintf(stderr, "no cgroup2 mount: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(cg[i], sizeof(cg[i]), "%s/hpcmeter-bench-move-%d-%d", mnt, getpid(), i);
		if (mkdir(cg[i], 0755) < 0) {
			fprintf(stderr, "%s: %s (run as root)\n", cg[i], strerror(errno));
			if (i)
				rmdir(cg[0]);
			return 1;
		}
	}
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0) {
		fprintf(stderr, "sched_setaffinity: %s\n", strerror(errno));
		rmdir(cg[0]);
		rmdir(cg[1]);
		return 1;
	}
	child = fork(); /* pinned like its parent */
	if (child == 0) {
		pause();
		_exit(0);
	}
	moves(child, n / 10); /* warm up */
	/* Alternate the configurations so that drift of the machine hits them all alike. */
	for (int i = 0; i < reps && !rc; i++) {
		for (int c = 0; c < N; c++) {
			struct meter *m = NULL;

			if (configs[c].attach >= 0) {
				r = meter_open(NULL, configs[c].attach, &m);
				if (r < 0) {
					fprintf(stderr, "meter_open: %s (run as root)\n",
						strerror(-r));
					rc = 1;
					break;
				}
			}
			moves(child, n / 10); /* settle: the attach's deferred work, caches */
			if (m)
				meter_consume(m);
			us[c][i] = moves(child, n);
			if (m)
				meter_consume(m);
			meter_free(m);
		}
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rmdir(cg[0]);
	rmdir(cg[1]);
	if (rc)
		return rc;
	bench_table(configs, N, us, reps, "µs per move", "µs", 2);
	printf("\n%ld moves of a sleeping process between two cgroups x %d alternating runs\n", n,
	       reps);
	return 0;
}
