// SPDX-License-Identifier: GPL-2.0-only
/* Test workload: burn a known amount of CPU in T threads, then exit; or burn, park and wait
 * for the test before burning the rest, so that the test, not the clock, decides when the
 * process moves on (a test inspects or moves it while it sleeps at a known CPU total).
 * usage: burn MILLISECONDS [THREADS]
 *        burn --park MARKER GATE MS_BEFORE MS_AFTER [THREADS]
 * Each thread burns MILLISECONDS (MS_BEFORE, then MS_AFTER more) of its own CPU time. With
 * --park, once every thread has burned MS_BEFORE, MARKER is created holding the process's CPU
 * time so far in ns (written whole: a rename); then the process sleeps until GATE exists,
 * burns MS_AFTER in each thread and exits. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a parked process looks for its gate: asleep in between, so that its CPU time
 * stays where the marker says (a few µs per look). */
#define GATE_POLL_NSEC (10 * 1000 * 1000L)

static long before_ms, after_ms;
static const char *gate;
static pthread_barrier_t parked, released;

static long thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void burn_to(long ms)
{
	volatile unsigned long x = 0;

	while (thread_cpu_ms() < ms)
		for (int i = 0; i < 100000; i++)
			x += i;
}

static void *burn(void *arg)
{
	(void)arg;
	burn_to(before_ms);
	if (!gate)
		return NULL;
	pthread_barrier_wait(&parked);
	pthread_barrier_wait(&released);
	burn_to(before_ms + after_ms);
	return NULL;
}

static int write_marker(const char *marker)
{
	char tmp[PATH_MAX];
	struct timespec ts;
	FILE *f;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", marker) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%llu\n", (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec);
	if (fclose(f) != 0 || rename(tmp, marker) < 0)
		return -errno;
	return 0;
}

static void wait_gate(void)
{
	const struct timespec poll = { .tv_nsec = GATE_POLL_NSEC };

	while (access(gate, F_OK) < 0)
		nanosleep(&poll, NULL);
}

static int usage(void)
{
	fprintf(stderr, "usage: burn MILLISECONDS [THREADS]\n"
			"       burn --park MARKER GATE MS_BEFORE MS_AFTER [THREADS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *marker = NULL;
	pthread_t tid[64];
	int threads = 1, r;

	if (argc > 1 && strcmp(argv[1], "--park") == 0) {
		if (argc < 6 || argc > 7)
			return usage();
		marker = argv[2];
		gate = argv[3];
		before_ms = atol(argv[4]);
		after_ms = atol(argv[5]);
		threads = argc > 6 ? atoi(argv[6]) : 1;
	} else {
		if (argc < 2 || argc > 3)
			return usage();
		before_ms = atol(argv[1]);
		threads = argc > 2 ? atoi(argv[2]) : 1;
	}
	if (threads < 1 || threads > 64)
		return usage();
	if (gate && (pthread_barrier_init(&parked, NULL, threads) != 0 ||
		     pthread_barrier_init(&released, NULL, threads) != 0))
		return 1;
	for (int i = 1; i < threads; i++)
		if (pthread_create(&tid[i], NULL, burn, NULL) != 0)
			return 1;
	if (gate) {
		burn_to(before_ms);
		pthread_barrier_wait(&parked);
		/* Every thread has burned its share and waits at the barrier. */
		r = write_marker(marker);
		if (r < 0) {
			fprintf(stderr, "burn: cannot write %s: %s\n", marker, strerror(-r));
			return 1;
		}
		wait_gate();
		pthread_barrier_wait(&released);
		burn_to(before_ms + after_ms);
	} else {
		burn(NULL);
	}
	for (int i = 1; i < threads; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
