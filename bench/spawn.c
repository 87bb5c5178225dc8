// SPDX-License-Identifier: GPL-2.0-only
/* Spawn PROGRAM at a steady RATE per second for SECONDS (posix_spawn, children reaped as they
 * exit), as fast as the machine allows when it cannot keep the rate. Prints the number spawned
 * and the rate reached, "spawned N in S s: R/s", and the CPU time one spawn + exit cost (this
 * process and its children, user and system): "cpu per process U us".
 * usage: spawn RATE SECONDS PROGRAM   (SECONDS 0: until SIGTERM or SIGINT) */

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double rate, secs, t0, t;
	long n = 0, live = 0;

	if (argc != 4 || (rate = atof(argv[1])) <= 0 || (secs = atof(argv[2])) < 0) {
		fprintf(stderr, "usage: spawn RATE SECONDS PROGRAM\n");
		return 2;
	}
	char *args[] = { argv[3], NULL };
	if (secs == 0) {
		struct sigaction sa = { .sa_handler = on_signal };

		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		secs = 1e9;
	}
	t0 = now();
	while (!stop && (t = now() - t0) < secs) {
		pid_t pid;

		/* ahead of schedule: wait for the next slot (and reap meanwhile) */
		if (n >= t * rate) {
			struct timespec d = { 0, (long)(((n + 1) / rate - t) * 1e9) };

			if (d.tv_nsec > 0)
				nanosleep(&d, NULL);
		}
		while (live > 0 && waitpid(-1, NULL, WNOHANG) > 0)
			live--;
		if (posix_spawn(&pid, argv[3], NULL, NULL, args, environ) != 0) {
			/* out of processes: reap one and go on */
			if (live > 0 && waitpid(-1, NULL, 0) > 0)
				live--;
			continue;
		}
		n++;
		live++;
	}
	t = now() - t0;
	while (live > 0 && waitpid(-1, NULL, 0) > 0)
		live--;
	printf("spawned %ld in %.2f s: %.0f/s\n", n, t, n / t);
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double cpu = self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
		     kids.ru_stime.tv_sec +
		     (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
		      kids.ru_stime.tv_usec) /
			     1e6;
	printf("cpu per process %.1f us\n", n ? cpu / n * 1e6 : 0.0);
	return 0;
}
