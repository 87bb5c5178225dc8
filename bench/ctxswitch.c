// SPDX-License-Identifier: GPL-2.0-only
/* Context-switch cost of the BPF CPU meter: a pipe ping-pong between two processes pinned to
 * one CPU, a fixed number of round trips (two switches each), timed with and without the
 * meter attached, and under a peer baseline (bpftrace counting switches per cgroup, when
 * installed), alternating, in one run. Prints ns per switch and the ratio.
 * usage: ctxswitch [ROUND_TRIPS] [REPEATS] */

#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meter.h"
#include "table.h"
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

/* bpftrace counting switches per cgroup: started, and ready once it printed "Attaching". */
static pid_t bpftrace_start(void)
{
	int p[2];
	char buf[256];
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execlp("bpftrace", "bpftrace", "-e",
		       "tracepoint:sched:sched_switch { @[cgroup] = count(); }", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (strstr(buf, "Attaching"))
			break;
	}
	if (n <= 0) {
		close(p[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	usleep(200 * 1000); /* "Attaching" comes just before the attach itself */
	/* keep the pipe open (bpftrace prints its maps at exit); drained by the kernel buffer */
	return pid;
}

static void bpftrace_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	static const struct bench_config configs[] = {
		BENCH_NO_METER,
		BENCH_TP_BTF,
		BENCH_RAW_TP,
		{ "peer: bpftrace, switches per cgroup", -2 },
	};
	enum { N = sizeof(configs) / sizeof(configs[0]) };
	bool have_bpftrace = system("command -v bpftrace >/dev/null 2>&1") == 0;
	long trips = argc > 1 ? atol(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	double ns[N][BENCH_MAX_REPS];

	if (reps < 1 || reps > BENCH_MAX_REPS || trips < 1000) {
		fprintf(stderr, "usage: ctxswitch [ROUND_TRIPS>=1000] [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	pingpong(trips / 10); /* warm up */
	/* Alternate the configurations so that drift of the machine hits them all alike. */
	for (int i = 0; i < reps; i++) {
		for (int c = 0; c < N; c++) {
			struct meter *m = NULL;
			pid_t peer = -1;
			int r;

			if (configs[c].attach == -2) {
				if (!have_bpftrace || (peer = bpftrace_start()) < 0) {
					ns[c][i] = 0;
					continue;
				}
				ns[c][i] = pingpong(trips);
				bpftrace_stop(peer);
				continue;
			}
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
	bench_table(configs, N, ns, reps, "ns per switch", "ns", 0);
	if (ns[N - 1][reps / 2] == 0)
		printf("\nthe peer row did not run: bpftrace missing or it did not attach\n");
	printf("\n%ld round trips (2 switches each) x %d alternating runs\n", trips, reps);
	return 0;
}
