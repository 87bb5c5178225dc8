// SPDX-License-Identifier: GPL-2.0-only
/* Test workload: burn a known amount of CPU in T threads, then exit.
 * usage: burn MILLISECONDS [THREADS] — each thread burns MILLISECONDS of its own CPU time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long burn_ms;

static void *burn(void *arg)
{
	struct timespec ts;
	volatile unsigned long x = 0;

	(void)arg;
	for (;;) {
		for (int i = 0; i < 100000; i++)
			x += i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= burn_ms)
			return NULL;
	}
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t tid[64];

	if (argc < 2 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: burn MILLISECONDS [THREADS]\n");
		return 2;
	}
	burn_ms = atol(argv[1]);
	for (int i = 1; i < threads; i++)
		if (pthread_create(&tid[i], NULL, burn, NULL) != 0)
			return 1;
	burn(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
