// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the executable digest (end_use.prohibited_executable_sha256): the daemon hashes a
 * program once per file identity, in its loop. For files of 1, 64 and 512 MiB: the first
 * digest (a cache miss: one read and SHA-256 of the whole file, from the page cache) and a
 * cached one; min/median/max ms, MiB/s. Then the daemon's way (exehash_request()): what the
 * caller's loop spends on a miss (open, fstat, hand-off to the worker; a file up to 1 MiB is
 * hashed in line) and how long until the worker's result is back (poll on its eventfd, then
 * exehash_complete()). usage: exehash DIR [REPEATS] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exehash.h"
#include "util.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int make_file(const char *path, size_t mib)
{
	char *buf = malloc(1 << 20);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r = 0;

	if (!buf || fd < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	for (size_t i = 0; i < (1 << 20); i++)
		buf[i] = (char)(i * 2654435761u >> 13);
	for (size_t i = 0; i < mib && r == 0; i++)
		if (write(fd, buf, 1 << 20) != 1 << 20)
			r = -errno;
	free(buf);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1, 64, 512 };
	int repeats = argc > 2 ? atoi(argv[2]) : 7;
	char path[4096], hex[EXEHASH_HEX_LEN + 1];

	if (argc < 2 || repeats < 1 || repeats > 1000) {
		fprintf(stderr, "usage: exehash DIR [REPEATS]\n");
		return 2;
	}
	printf("%-8s %-28s %-28s %-14s %-28s %s\n", "file", "first digest ms (min/med/max)",
	       "cached ms (min/med/max)", "MiB/s (median)", "loop's share ms (min/med/max)",
	       "result back ms (median)");
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		double miss[1000], hit[1000], loop[1000], back[1000];

		snprintf(path, sizeof(path), "%s/exehash-%zu", argv[1], sizes[s]);
		if (make_file(path, sizes[s]) < 0) {
			perror(path);
			return 1;
		}
		for (int i = 0; i < repeats; i++) {
			struct exehash *h;
			double t0, t1, t2;

			if (exehash_new(&h) < 0)
				return 1;
			t0 = now_ms();
			/* tgid 0 has no /proc entry: the file at the path is hashed. */
			if (exehash_process(h, 0, path, NULL, hex) < 0) {
				fprintf(stderr, "exehash %s failed\n", path);
				return 1;
			}
			t1 = now_ms();
			exehash_process(h, 0, path, NULL, hex);
			t2 = now_ms();
			miss[i] = t1 - t0;
			hit[i] = t2 - t1;
			exehash_free(h);

			uint64_t ticket;
			int r;

			if (exehash_new(&h) < 0)
				return 1;
			t0 = now_ms();
			r = exehash_request(h, 0, path, NULL, hex, &ticket);
			t1 = now_ms();
			if (r == EXEHASH_PENDING) {
				struct pollfd pfd = { .fd = exehash_event_fd(h), .events = POLLIN };

				while (exehash_complete(h, NULL, NULL) == 0)
					poll(&pfd, 1, -1);
			} else if (r < 0) {
				fprintf(stderr, "exehash_request %s failed\n", path);
				return 1;
			}
			t2 = now_ms();
			loop[i] = t1 - t0;
			back[i] = t2 - t0;
			exehash_free(h);
		}
		qsort(miss, repeats, sizeof(double), cmp_double);
		qsort(hit, repeats, sizeof(double), cmp_double);
		qsort(loop, repeats, sizeof(double), cmp_double);
		qsort(back, repeats, sizeof(double), cmp_double);
		printf("%4zu MiB %8.2f %8.2f %8.2f    %8.3f %8.3f %8.3f    %8.0f       %8.3f %8.3f %8.3f"
		       "    %8.2f\n",
		       sizes[s], miss[0], miss[repeats / 2], miss[repeats - 1], hit[0],
		       hit[repeats / 2], hit[repeats - 1], sizes[s] / (miss[repeats / 2] / 1e3),
		       loop[0], loop[repeats / 2], loop[repeats - 1], back[repeats / 2]);
		unlink(path);
	}
	return 0;
}
