// SPDX-License-Identifier: GPL-2.0-only
/* Cost of one reading of the CPU meter (meter_foreach_proc(): the task iterator and the sum
 * per process), which the daemon does once per interval, as the number of threads on the node
 * grows: a child process holds N extra sleeping threads; each reading is timed, R times.
 * usage: reading [REPEATS] */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meter.h"
#include "util.h"

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A child holding n sleeping threads; returns its pid once they all exist. */
static pid_t spawn_threads(int n)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 * 1024);
		for (int i = 0; i < n; i++) {
			pthread_t t;

			if (pthread_create(&t, &a, sleeper, NULL) != 0)
				_exit(1);
		}
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		fprintf(stderr, "could not start %d threads\n", n);
		exit(1);
	}
	close(p[0]);
	return pid;
}

struct count {
	unsigned procs;
};

static int count_one(uint32_t tgid, const struct hpcm_proc *p, void *ud)
{
	(void)tgid;
	(void)p;
	((struct count *)ud)->procs++;
	return 0;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static unsigned threads_now(void)
{
	FILE *f = popen("ps -eLo lwp= | wc -l", "r");
	unsigned n = 0;

	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		pclose(f);
	}
	return n;
}

int main(int argc, char **argv)
{
	static const int extra[] = { 0, 1000, 10000 };
	int reps = argc > 1 ? atoi(argv[1]) : 20;
	struct meter *m = NULL;
	double us[64];
	int r;

	if (reps < 1 || reps > 64) {
		fprintf(stderr, "usage: reading [REPEATS 1..64]\n");
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	r = meter_open(NULL, METER_ATTACH_AUTO, &m);
	if (r < 0) {
		fprintf(stderr, "meter_open: %s (run as root)\n", strerror(-r));
		return 1;
	}
	printf("| extra threads | threads on the node | processes read | µs per reading (min / median / max) | ns per thread |\n"
	       "| --- | --- | --- | --- | --- |\n");
	for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
		pid_t child = extra[e] ? spawn_threads(extra[e]) : 0;
		unsigned threads = threads_now();
		struct count c = { 0 };

		for (int i = 0; i < reps; i++) {
			struct timespec t0, t1;

			c.procs = 0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			r = meter_foreach_proc(m, count_one, &c);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (r < 0) {
				fprintf(stderr, "meter_foreach_proc: %s\n", strerror(-r));
				return 1;
			}
			us[i] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
		}
		qsort(us, reps, sizeof(double), cmp);
		printf("| %d | %u | %u | %.0f / %.0f / %.0f | %.0f |\n", extra[e], threads, c.procs,
		       us[0], us[reps / 2], us[reps - 1],
		       us[reps / 2] * 1e3 / (threads ? threads : 1));
		if (child) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
		}
	}
	meter_free(m);
	printf("\n%d readings per row\n", reps);
	return 0;
}
