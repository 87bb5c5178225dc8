// SPDX-License-Identifier: GPL-2.0-only
/* Cost of the GPU meter's walk of every open file on the node (gpu_read_held(): the
 * iter/task_file program gpu_dev_held), which the daemon runs once per interval where
 * accelerator nodes exist, as the number of open files grows: child processes hold N extra
 * descriptors (as few children as RLIMIT_NOFILE allows), dup()s of one file of one kind (a
 * regular file, a character device that is not an accelerator, or an accelerator node itself,
 * which takes the program's map path), R rounds
 * alternating the configurations, W timed walks per round after one warm-up walk. The meter is
 * loaded through the daemon's own gpu_open(); the accelerator is a node /dev/nvidia62hpcmbenchPID
 * with /dev/full's numbers (gpu_scan_devices() scans /dev itself), removed at the end. Also
 * times gpu_scan_devices() (the readdir and stat of /dev) alone.
 * usage: held [REPEATS] [WALKS] [COUNT...] (as root) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "util.h"

#define DEV_INDEX 62 /* the index the name gives the fake node: bit 62 of dev_mask */
#define MAX_SAMPLES 4096
#define MAX_COUNTS 8
#define SCANS 200
#define MAX_HOLDERS 1024

static char devnode[64];
/* The holders alive now; each holds at most per_holder descriptors (RLIMIT_NOFILE). */
static pid_t holder[MAX_HOLDERS];
static volatile int n_holders;
static long per_holder;

static void cleanup(void)
{
	for (int i = 0; i < n_holders; i++) {
		kill(holder[i], SIGKILL);
		waitpid(holder[i], NULL, 0);
	}
	n_holders = 0;
	if (devnode[0])
		unlink(devnode);
}

static void on_signal(int sig)
{
	for (int i = 0; i < n_holders; i++)
		kill(holder[i], SIGKILL);
	if (devnode[0])
		unlink(devnode);
	signal(sig, SIG_DFL);
	raise(sig);
}

enum kind { K_NONE, K_REGULAR, K_CHARDEV, K_ACCEL };
static const char *const kind_name[] = {
	[K_NONE] = "none",
	[K_REGULAR] = "regular file (memfd)",
	[K_CHARDEV] = "other char device (/dev/zero)",
	[K_ACCEL] = "the accelerator node",
};

static int open_kind(enum kind k)
{
	switch (k) {
	case K_REGULAR:
		return memfd_create("hpcmeter-bench-held", 0);
	case K_CHARDEV:
		return open("/dev/zero", O_RDONLY);
	case K_ACCEL:
		return open(devnode, O_RDONLY);
	default:
		return -1;
	}
}

/* A child holding n descriptors of one kind (one open, n - 1 dup()s); returns once they exist. */
static void spawn_holder(enum kind k, long n)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		exit(1);
	pid = fork();
	if (pid < 0)
		exit(1);
	if (pid == 0) {
		int fd;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (n == 0)
			goto ready;
		fd = open_kind(k);
		if (fd < 0) {
			fprintf(stderr, "cannot open a %s: %m\n", kind_name[k]);
			_exit(1);
		}
		for (long i = 1; i < n; i++)
			if (dup(fd) < 0) {
				fprintf(stderr, "dup number %ld: %m\n", i);
				_exit(1);
			}
ready:
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	holder[n_holders++] = pid;
	if (read(p[0], &c, 1) != 1) {
		fprintf(stderr, "could not start a holder of %ld descriptors\n", n);
		exit(1);
	}
	close(p[0]);
}

/* n descriptors in as few children as the descriptor limit allows (one where n is 0). */
static void spawn_holders(enum kind k, long n)
{
	do {
		long m = n < per_holder ? n : per_holder;

		if (n_holders == MAX_HOLDERS) {
			fprintf(stderr, "more than %d holders needed\n", MAX_HOLDERS);
			exit(1);
		}
		spawn_holder(k, m);
		n -= m;
	} while (n > 0);
}

static void stop_holders(struct gpu *g)
{
	for (int i = 0; i < n_holders; i++) {
		kill(holder[i], SIGKILL);
		waitpid(holder[i], NULL, 0);
		gpu_reap(g, (uint32_t)holder[i]);
	}
	n_holders = 0;
}

/* As many descriptors per process as RLIMIT_NOFILE allows: raised to the largest count where
 * the hard limit may be raised (CAP_SYS_RESOURCE), else up to the hard limit; the holders
 * inherit it. */
static int raise_nofile(long want)
{
	struct rlimit rl = { (rlim_t)want + 64, (rlim_t)want + 64 };

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	per_holder = (long)rl.rlim_cur - 64;
	return per_holder > 0 ? 0 : -EMFILE;
}

/* Open files on the node as the walk sees them: the descriptors of each process (threads
 * share their leader's table, and the program skips them). */
static long files_now(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	long n = 0;

	while (proc && (de = readdir(proc))) {
		char path[300];
		DIR *d;
		struct dirent *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		d = opendir(path);
		while (d && (f = readdir(d)))
			n += f->d_name[0] != '.';
		if (d)
			closedir(d);
	}
	if (proc)
		closedir(proc);
	return n;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

struct conf {
	enum kind kind;
	long n;
	double ms[MAX_SAMPLES];
	int n_ms;
	long files[64];
	int holders; /* processes that held them */
	double med;
};

static int count_held(uint32_t tgid, const struct hpcm_gpu_proc *p, void *ud)
{
	(void)tgid;
	*(unsigned *)ud += !!(p->kinds & HPCM_GPU_K_DEV_HELD);
	return 0;
}

/* One round of one configuration: a holder, a warm-up walk, then timed walks; the walk must
 * have found the holder exactly when it holds the accelerator node. */
static int round_of(struct gpu *g, struct conf *c, int round, int walks)
{
	struct hpcm_gpu_proc p;
	int r, held = 0;

	spawn_holders(c->kind, c->n);
	c->holders = n_holders;
	c->files[round] = files_now();
	r = gpu_read_held(g);
	for (int w = 0; r == 0 && w < walks; w++) {
		double t0 = now_ns();

		r = gpu_read_held(g);
		c->ms[c->n_ms++] = (now_ns() - t0) / 1e6;
	}
	if (r < 0) {
		fprintf(stderr, "gpu_read_held with %ld open %s: %s\n", c->n, kind_name[c->kind],
			strerror(-r));
		stop_holders(g);
		return r;
	}
	for (int i = 0; i < n_holders; i++)
		held += gpu_lookup_proc(g, (uint32_t)holder[i], &p) == 0 &&
			(p.kinds & HPCM_GPU_K_DEV_HELD) && (p.dev_mask & (1ULL << DEV_INDEX));
	stop_holders(g);
	if (held != (c->kind == K_ACCEL && c->n > 0 ? c->holders : 0)) {
		fprintf(stderr, "the walk found %d of %d holders of %ld %s\n", held, c->holders,
			c->n, kind_name[c->kind]);
		return -EPROTO;
	}
	return 0;
}

static int bench_scan(struct gpu *g)
{
	double us[SCANS];
	int n = 0;

	for (int i = 0; i < SCANS; i++) {
		double t0 = now_ns();

		n = gpu_scan_devices(g);
		us[i] = (now_ns() - t0) / 1e3;
	}
	if (n <= 0) {
		fprintf(stderr, "gpu_scan_devices found no accelerator node (%d)\n", n);
		return -ENODEV;
	}
	qsort(us, SCANS, sizeof(double), cmp);
	printf("gpu_scan_devices(): %d accelerator node(s) recorded, %d scans, "
	       "µs per scan (min / median / max): %.1f / %.1f / %.1f\n\n",
	       n, SCANS, us[0], us[SCANS / 2], us[SCANS - 1]);
	return 0;
}

int main(int argc, char **argv)
{
	long counts[MAX_COUNTS] = { 10000, 100000 };
	int reps = argc > 1 ? atoi(argv[1]) : 7, walks = argc > 2 ? atoi(argv[2]) : 5;
	int n_counts = 2, n_conf = 0, r;
	static struct conf conf[1 + 3 * MAX_COUNTS];
	struct gpu *g = NULL;
	struct stat full;
	unsigned holders = 0;
	long most = 0;

	if (argc > 3) {
		n_counts = argc - 3;
		if (n_counts > MAX_COUNTS)
			n_counts = -1;
		for (int i = 0; i < n_counts; i++)
			counts[i] = atol(argv[3 + i]);
	}
	for (int i = 0; i < n_counts; i++) {
		if (counts[i] < 1 || counts[i] > 1000000)
			n_counts = -1;
		else if (counts[i] > most)
			most = counts[i];
	}
	if (reps < 1 || reps > 64 || walks < 1 || n_counts < 0 ||
	    (long)reps * walks > MAX_SAMPLES) {
		fprintf(stderr,
			"usage: %s [REPEATS 1..64] [WALKS] [COUNT 1..1000000 ...] (at most "
			"%d counts, REPEATS * WALKS <= %d)\n",
			argv[0], MAX_COUNTS, MAX_SAMPLES);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "held: needs root (BPF, mknod under /dev)\n");
		return 1;
	}
	r = raise_nofile(most);
	if (r < 0) {
		fprintf(stderr, "RLIMIT_NOFILE: %s\n", strerror(-r));
		return 1;
	}
	if (stat("/dev/full", &full) < 0 || !S_ISCHR(full.st_mode)) {
		fprintf(stderr, "/dev/full: no such character device\n");
		return 1;
	}
	/* An accelerator node where gpu_scan_devices() looks, by a name no one else uses. */
	snprintf(devnode, sizeof(devnode), "/dev/nvidia%dhpcmbench%d", DEV_INDEX, (int)getpid());
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (mknod(devnode, S_IFCHR | 0600, full.st_rdev) < 0) {
		fprintf(stderr, "cannot create %s: %m\n", devnode);
		devnode[0] = '\0';
		return 1;
	}
	log_set_max_level(LOG_LVL_WARNING);
	r = gpu_open(GPU_MODE_LIGHT, &g);
	if (r < 0) {
		fprintf(stderr, "cannot load the GPU meter: %s\n", strerror(-r));
		return 1;
	}
	if (bench_scan(g) < 0) {
		gpu_free(g);
		return 1;
	}
	conf[n_conf++] = (struct conf){ .kind = K_NONE };
	for (int k = K_REGULAR; k <= K_ACCEL; k++)
		for (int i = 0; i < n_counts; i++)
			conf[n_conf++] = (struct conf){ .kind = k, .n = counts[i] };
	for (int round = 0; round < reps; round++)
		for (int c = 0; c < n_conf; c++)
			if (round_of(g, &conf[c], round, walks) < 0) {
				gpu_free(g);
				return 1;
			}
	gpu_foreach_proc(g, count_held, &holders);
	gpu_free(g);

	printf("| extra open files | holders | open files on the node "
	       "| ms per walk (min / median / max) | ns per open file |\n"
	       "| --- | --- | --- | --- | --- |\n");
	for (int c = 0; c < n_conf; c++) {
		struct conf *x = &conf[c];
		long files;

		qsort(x->ms, x->n_ms, sizeof(double), cmp);
		qsort(x->files, reps, sizeof(long), cmp_long);
		files = x->files[reps / 2];
		x->med = x->ms[x->n_ms / 2];
		if (x->kind == K_NONE)
			printf("| 0 ");
		else
			printf("| %ld, %s ", x->n, kind_name[x->kind]);
		printf("| %d | %ld | %.3f / %.3f / %.3f | %.1f |\n",
		       x->kind == K_NONE ? 0 : x->holders, files, x->ms[0], x->med,
		       x->ms[x->n_ms - 1], x->med * 1e6 / (files ? files : 1));
	}
	printf("\nper extra open file (median difference to 0 extra):\n");
	for (int c = 1; c < n_conf; c++)
		printf("  %ld, %s: %.1f ns\n", conf[c].n, kind_name[conf[c].kind],
		       (conf[c].med - conf[0].med) * 1e6 / conf[c].n);
	printf("\n%d rounds alternating, %d timed walks per round after a warm-up walk; at most "
	       "%ld descriptors per holder (RLIMIT_NOFILE); processes still marked as holding an "
	       "accelerator at the end: %u\n",
	       reps, walks, per_holder, holders);
	return 0;
}
