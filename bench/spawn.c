// SPDX-License-Identifier: GPL-2.0-only
/* Spawn PROGRAM at a steady RATE per second for SECONDS (posix_spawn, children reaped as they
 * exit), as fast as the machine allows when it cannot keep the rate. Prints the number spawned
 * and the rate reached: "spawned N in S s: R/s".
 * usage: spawn RATE SECONDS PROGRAM */

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

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

	if (argc != 4 || (rate = atof(argv[1])) <= 0 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: spawn RATE SECONDS PROGRAM\n");
		return 2;
	}
	char *args[] = { argv[3], NULL };
	t0 = now();
	while ((t = now() - t0) < secs) {
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
	return 0;
}
