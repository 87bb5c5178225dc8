// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the GPU meter's mapping hook (sys_enter/exit_mmap and mprotect: a file mapped
 * executable is looked up with bpf_find_vma(), its identity checked against the LRU map
 * gpu_files_seen, a record written the first time), per mmap(2) + munmap(2):
 *   - an executable mapping of a file whose identity was seen before (the steady state: every
 *     exec and dlopen of a library the node already ran);
 *   - an executable mapping of a new identity (a ring-buffer record each; mmap alone);
 *   - an anonymous read-write mapping (malloc's; the hook's filter returns at once);
 * with no meter and with the meter loaded through the daemon's own gpu_open() (light mode),
 * alternating, R rounds. On a shared VM the wall-clock difference is below the noise of a
 * ~10 us mmap+munmap, so the hook's own time is also read from the kernel's BPF statistics
 * (run time of gpu_enter_mmap + gpu_exit_mmap per mmap, BPF_STATS_RUN_TIME enabled for the
 * run): what the programs cost, without the tracepoint's dispatch around them. Then what the daemon does per new identity: gpu_consume() of the
 * records of N copies of a small ELF library that is not a runtime (open through
 * /proc/PID/map_files, fstat, read of the dynamic symbols, verdict cached).
 * usage: gpu-map DIR [MAPS] [REPEATS] [FILES] (as root; DIR on a file system without noexec,
 * gets FILES small files for a moment) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "table.h"
#include "util.h"

#define MAX_FILES 4096
#define SRC_LIB "/lib/x86_64-linux-gnu/libdl.so.2" /* small, ELF, not a runtime */

static const char *dir;
static long n_files;
static int round_no;

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "gpu-map: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The mapping hook's BPF run time so far (enter + exit of mmap), ns, and its runs. */
static double hook_ns(struct gpu *g, uint64_t *runs)
{
	static const char *const progs[] = { "gpu_enter_mmap", "gpu_exit_mmap" };
	uint64_t cnt, ns, sum = 0;

	*runs = 0;
	for (size_t i = 0; g && i < ARRAY_SIZE(progs); i++)
		if (gpu_prog_stats_of(g, progs[i], &cnt, &ns) == 0) {
			sum += ns;
			*runs += cnt;
		}
	return (double)sum;
}

/* ns per mmap + munmap of fd with prot (fd -1: anonymous). */
static double maps(int fd, int prot, long n)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096, prot, fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE,
			       fd, 0);

		if (p == MAP_FAILED)
			die("mmap");
		munmap(p, 4096);
	}
	return (now_ns() - t0) / (double)n;
}

/* Copies of SRC_LIB with new identities (a new inode each round: new files). */
static void make_files(int *fds)
{
	static char buf[1 << 16];
	int in = open(SRC_LIB, O_RDONLY | O_CLOEXEC);
	ssize_t len = in >= 0 ? read(in, buf, sizeof(buf)) : -1;

	if (len <= 0)
		die(SRC_LIB);
	close(in);
	for (long i = 0; i < n_files; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/gpu-map-%d-%ld.so", dir, round_no, i);
		fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
		if (fds[i] < 0 || write(fds[i], buf, len) != len)
			die(path);
		unlink(path); /* still mapped and open: map_files reaches it */
	}
	round_no++;
}

/* ns per first executable mapping of each file (left mapped, for the consume that follows). */
static double first_maps(const int *fds, void **where)
{
	double t0 = now_ns();

	for (long i = 0; i < n_files; i++) {
		where[i] = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fds[i], 0);
		if (where[i] == MAP_FAILED)
			die("mmap");
	}
	return (now_ns() - t0) / (double)n_files;
}

int main(int argc, char **argv)
{
	static const struct bench_config cfg[] = { BENCH_NO_METER, { "GPU meter", 0 } };
	static double seen[2][BENCH_MAX_REPS], fresh[2][BENCH_MAX_REPS], anon[2][BENCH_MAX_REPS],
		consume[1][BENCH_MAX_REPS], bpf_seen[1][BENCH_MAX_REPS],
		bpf_fresh[1][BENCH_MAX_REPS], bpf_anon[1][BENCH_MAX_REPS];
	long n = argc > 2 ? atol(argv[2]) : 100000, reps = argc > 3 ? atol(argv[3]) : 7;
	static int fds[MAX_FILES];
	static void *where[MAX_FILES];
	char path[PATH_MAX];
	int fd;

	n_files = argc > 4 ? atol(argv[4]) : 500;
	dir = argc > 1 ? argv[1] : NULL;
	if (!dir || n < 1 || reps < 1 || reps > BENCH_MAX_REPS || n_files < 1 ||
	    n_files > MAX_FILES) {
		fprintf(stderr, "usage: %s DIR [MAPS] [REPEATS 1..%d] [FILES 1..%d]\n", argv[0],
			BENCH_MAX_REPS, MAX_FILES);
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (stats_fd < 0)
		fprintf(stderr, "gpu-map: no BPF run-time statistics: %s\n", strerror(errno));
	snprintf(path, sizeof(path), "%s/gpu-map-seen.so", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		die(path);
	unlink(path);
	for (long r = 0; r < reps; r++)
		for (int c = 0; c < 2; c++) {
			struct gpu *g = NULL;
			uint64_t runs0, runs1;
			double t0, b0;
			int e = c ? gpu_open(GPU_MODE_LIGHT, &g) : 0;

			if (e < 0) {
				fprintf(stderr, "cannot load the GPU meter: %s\n", strerror(-e));
				return 1;
			}
			maps(fd, PROT_READ | PROT_EXEC, n / 10); /* warm up; its identity seen */
			b0 = hook_ns(g, &runs0);
			seen[c][r] = maps(fd, PROT_READ | PROT_EXEC, n);
			if (g)
				bpf_seen[0][r] = (hook_ns(g, &runs1) - b0) / (double)n;
			b0 = hook_ns(g, &runs0);
			anon[c][r] = maps(-1, PROT_READ | PROT_WRITE, n);
			if (g)
				bpf_anon[0][r] = (hook_ns(g, &runs1) - b0) / (double)n;
			make_files(fds);
			b0 = hook_ns(g, &runs0);
			fresh[c][r] = first_maps(fds, where);
			if (g)
				bpf_fresh[0][r] = (hook_ns(g, &runs1) - b0) / (double)n_files;
			if (g) {
				/* The daemon's side: one record per new file, each read once. */
				t0 = now_ns();
				gpu_consume(g);
				consume[0][r] = (now_ns() - t0) / (double)n_files / 1000;
			}
			for (long i = 0; i < n_files; i++) {
				munmap(where[i], 4096);
				close(fds[i]);
			}
			gpu_free(g);
		}
	printf("GPU meter's mapping hook: %ld mmap+munmap per round, %ld new files, %ld rounds, "
	       "alternating\n\n",
	       n, n_files, reps);
	printf("Executable mapping of a file seen before:\n\n");
	bench_table(cfg, 2, seen, (int)reps, "ns per mmap+munmap", "ns", 1);
	printf("\nExecutable mapping of a new file identity (a record each):\n\n");
	bench_table(cfg, 2, fresh, (int)reps, "ns per mmap", "ns", 1);
	printf("\nAnonymous read-write mapping:\n\n");
	bench_table(cfg, 2, anon, (int)reps, "ns per mmap+munmap", "ns", 1);
	printf("\nThe hook's own BPF run time per mapping (gpu_enter_mmap + gpu_exit_mmap):\n\n");
	bench_table(&cfg[1], 1, bpf_seen, (int)reps, "ns, executable, seen before", "ns", 1);
	bench_table(&cfg[1], 1, bpf_fresh, (int)reps, "ns, executable, new identity", "ns", 1);
	bench_table(&cfg[1], 1, bpf_anon, (int)reps, "ns, anonymous", "ns", 1);
	printf("\nThe daemon's side per new file (gpu_consume(): map_files, fstat, ELF symbols):\n\n");
	bench_table(&cfg[1], 1, consume, (int)reps, "us per file", "us", 1);
	close(fd);
	if (stats_fd >= 0)
		close(stats_fd);
	return 0;
}
