// SPDX-License-Identifier: GPL-2.0-only
/* GPU meter on the real kernel, with fake runtime libraries (real file and symbol names,
 * loaded with dlopen): counts must be exact per process in detailed mode, from several threads
 * and a forked child; light mode must attach no probe on the launch path and still count the
 * rare calls; a copy of libcuda at an odd path must be found and counted; opens of an
 * accelerator device node (a real character device under /dev with a unique name) must be
 * attributed. Prints TAP.
 * usage: test-gpu BUILD/tests/gpu-fake BUILD/tests/gpu-load */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "util.h"

#include "../unit/tap.h"

#define EQ(what, got, want)                                                              \
	TAP_CHECK((uint64_t)(got) == (uint64_t)(want), "%s: %llu (expected %llu)", what, \
		  (unsigned long long)(got), (unsigned long long)(want))

static char tmpdir[] = "/tmp/hpcm-gpu-XXXXXX";
static char devnode[64], libdir[256], oddlib[512];
static const char *fakedir, *loader;

/* Per worker (main thread, each pthread, the child) and iteration, as gpu-load documents. */
#define THREADS_PER_ITER_ALL (2304 + 1024 + 128 + 192 + 1000 + 256)
#define LAUNCHES_PER_ITER_ALL 6
#define BYTES_ALLOC_ALL (1048576 + 65536 + 2048 + 8192)

struct run {
	pid_t pid, child;
	int in, out; /* its stdin (write end), its stdout (read end) */
};

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (devnode[0])
		unlink(devnode);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void on_signal(int sig)
{
	if (devnode[0])
		unlink(devnode);
	_exit(128 + sig);
}

static int copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	return system(cmd) == 0 ? 0 : -EIO;
}

/* Start gpu-load with args; it loads the libraries, says "ready" and waits. */
static int start(struct run *r, char *const args[])
{
	int in[2], out[2];
	char line[64];
	FILE *f;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -errno;
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv("LD_LIBRARY_PATH", libdir, 1);
		execv(loader, args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	r->in = in[1];
	r->out = out[0];
	f = fdopen(dup(r->out), "r");
	if (!f || !fgets(line, sizeof(line), f) || strcmp(line, "ready\n") != 0) {
		if (f)
			fclose(f);
		return -EPROTO;
	}
	fclose(f);
	return 0;
}

/* Let it run, read the child's pid, wait for the end. */
static int finish(struct run *r)
{
	char buf[256] = "";
	ssize_t n, got = 0;
	int status;

	if (write(r->in, "go\n", 3) != 3)
		return -EIO;
	while ((n = read(r->out, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	close(r->in);
	close(r->out);
	if (waitpid(r->pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -ECHILD;
	if (sscanf(buf, "child %d", &r->child) != 1)
		return -EPROTO;
	return 0;
}

static bool lib_known(struct gpu *g, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return false;
	for (size_t i = 0; i < gpu_n_libs(g); i++) {
		const struct gpu_lib *l = gpu_lib_get(g, i);

		if (l->dev == st.st_dev && l->ino == st.st_ino)
			return true;
	}
	return false;
}

/* The library-open records arrive through the ring buffer: wait until paths are attached. */
static bool wait_libs(struct gpu *g, const char *const *paths, size_t n)
{
	struct pollfd p = { .fd = gpu_ring_fd(g), .events = POLLIN };

	for (int waited = 0; waited < TAP_WAIT_MS; waited += 50) {
		size_t known = 0;

		gpu_consume(g);
		for (size_t i = 0; i < n; i++)
			known += lib_known(g, paths[i]);
		if (known == n)
			return true;
		poll(&p, 1, 50);
	}
	return false;
}

static void check_proc(struct gpu *g, const char *who, pid_t pid, bool detailed, long workers,
		       long iters)
{
	struct hpcm_gpu_proc p;
	char what[128];
	int r = gpu_lookup_proc(g, (uint32_t)pid, &p);

	TAP_CHECK(r == 0, "%s (pid %d) has GPU counters", who, pid);
	if (r < 0)
		return;
#define W(name) (snprintf(what, sizeof(what), "%s: %s", who, name), what)
	EQ(W("launches"), p.launches, detailed ? workers * iters * LAUNCHES_PER_ITER_ALL : 0);
	EQ(W("threads launched"), p.threads, detailed ? workers * iters * THREADS_PER_ITER_ALL : 0);
	EQ(W("host-to-device copies"), p.h2d_copies, detailed ? workers * iters : 0);
	EQ(W("bytes host-to-device"), p.bytes_h2d, detailed ? workers * iters * 4096 : 0);
	EQ(W("allocations"), p.allocs, workers * 4);
	EQ(W("bytes allocated"), p.bytes_alloc, workers * BYTES_ALLOC_ALL);
	EQ(W("graph launches"), p.graph_launches, workers * 3);
	EQ(W("context calls"), p.ctx_calls, workers);
	EQ(W("device opens"), p.dev_opens, workers);
	TAP_CHECK(p.dev_mask == 1ULL << 61, "%s: device index 61 recorded (mask %#llx)", who,
		  (unsigned long long)p.dev_mask);
	TAP_CHECK((p.kinds & 0xff) == (HPCM_GPU_K_CUDA | HPCM_GPU_K_HIP | HPCM_GPU_K_OPENCL |
				       HPCM_GPU_K_ZE | HPCM_GPU_K_DEV_NVIDIA) ||
			  !detailed,
		  "%s: runtimes and device kind seen (%#x)", who, p.kinds);
	TAP_CHECK(p.first_ns > 0 && p.exit_ns >= p.first_ns, "%s: GPU lifetime recorded (%.3f s)",
		  who, (double)(p.exit_ns - p.first_ns) / 1e9);
	TAP_CHECK(p.uid == getuid(), "%s: uid %u", who, p.uid);
#undef W
}

static void test_detailed(void)
{
	struct gpu *g = NULL;
	struct run run;
	char *args[] = { (char *)loader,
			 "-C",
			 "libcuda.so.1",
			 "-H",
			 "libamdhip64.so",
			 "-O",
			 "libOpenCL.so.1",
			 "-Z",
			 "libze_loader.so.1",
			 "-n",
			 "200",
			 "-t",
			 "3",
			 "-c",
			 "7",
			 "-d",
			 devnode,
			 "-w",
			 NULL };
	char paths[4][PATH_MAX];
	const char *pp[4];
	const char *names[] = { "libcuda.so.1", "libamdhip64.so", "libOpenCL.so.1",
				"libze_loader.so.1" };
	unsigned launch;
	int r;

	r = gpu_open(GPU_MODE_DETAILED, &g);
	TAP_CHECK(r == 0, "detailed mode: GPU meter loads (%s)", strerror(-r));
	if (r < 0)
		return;
	for (int i = 0; i < 4; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", libdir, names[i]);
		pp[i] = paths[i];
	}
	/* Started after the meter: found through the library-open records. */
	r = start(&run, args);
	TAP_CHECK(r == 0, "load program started and loaded the fake runtimes");
	if (r < 0)
		goto out;
	TAP_CHECK(wait_libs(g, pp, 4), "the four runtime libraries it opened are attached");
	gpu_probes_attached(g, &launch);
	TAP_CHECK(launch > 0, "detailed mode: %u probes on the launch path", launch);
	r = finish(&run);
	TAP_CHECK(r == 0, "load program ran to the end (child %d)", run.child);
	if (r < 0)
		goto out;
	check_proc(g, "parent (main + 3 threads)", run.pid, true, 4, 200);
	check_proc(g, "forked child", run.child, true, 1, 7);

	struct gpu_probe_info pi;
	uint64_t launch_hits = 0;

	for (size_t i = 0; i < gpu_n_probes(); i++)
		if (gpu_probe_get(g, i, &pi) == 0 && streq(pi.symbol, "cuLaunchKernel"))
			launch_hits = pi.hits;
	EQ("cuLaunchKernel probe hits (all processes)", launch_hits, 4 * 200 + 7);

	struct gpu_stats st;

	TAP_CHECK(gpu_read_stats(g, &st) == 0 && st.counter[HPCM_GSTAT_ARG_FAULT] == 0 &&
			  st.counter[HPCM_GSTAT_PROCS_FULL] == 0,
		  "no argument faults, no full map");
	TAP_CHECK(gpu_reap(g, run.pid) == 0 && gpu_reap(g, run.child) == 0,
		  "exited processes reaped");
out:
	gpu_free(g);
}

static void test_light(void)
{
	struct gpu *g = NULL;
	struct run run;
	char *args[] = { (char *)loader,
			 "-C",
			 "libcuda.so.1",
			 "-H",
			 "libamdhip64.so",
			 "-O",
			 "libOpenCL.so.1",
			 "-Z",
			 "libze_loader.so.1",
			 "-n",
			 "300",
			 "-t",
			 "2",
			 "-c",
			 "5",
			 "-d",
			 devnode,
			 "-w",
			 NULL };
	unsigned launch, all;
	int r;

	/* Started before the meter: found by the scan of every process's mappings. */
	r = start(&run, args);
	TAP_CHECK(r == 0, "light mode: load program started before the meter");
	if (r < 0)
		return;
	r = gpu_open(GPU_MODE_LIGHT, &g);
	TAP_CHECK(r == 0, "light mode: GPU meter loads");
	if (r < 0) {
		kill(run.pid, SIGKILL);
		return;
	}
	r = gpu_scan_all(g);
	TAP_CHECK(r >= 4, "the scan of /proc/*/maps finds the four mapped runtimes (%d new)", r);
	all = gpu_probes_attached(g, &launch);
	TAP_CHECK(launch == 0 && all >= 4 * 2, "light mode: %u probes, %u on the launch path", all,
		  launch);
	r = finish(&run);
	TAP_CHECK(r == 0, "load program ran to the end");
	if (r == 0) {
		check_proc(g, "light parent (main + 2 threads)", run.pid, false, 3, 300);
		check_proc(g, "light forked child", run.child, false, 1, 5);
	}
	gpu_free(g);
}

static void test_odd_path(void)
{
	struct gpu *g = NULL;
	struct run run;
	char *args[] = {
		(char *)loader, "-C", oddlib, "-n", "50", "-t", "1", "-c", "2", "-w", NULL
	};
	const char *pp[] = { oddlib };
	struct hpcm_gpu_proc p;
	int r;

	r = gpu_open(GPU_MODE_DETAILED, &g);
	if (r < 0) {
		TAP_CHECK(false, "odd path: GPU meter loads");
		return;
	}
	gpu_scan_all(g);
	TAP_CHECK(!lib_known(g, oddlib), "the private copy is not attached before use");
	r = start(&run, args);
	TAP_CHECK(r == 0 && wait_libs(g, pp, 1), "a private copy of libcuda at %s is found",
		  oddlib);
	if (r < 0)
		goto out;
	r = finish(&run);
	TAP_CHECK(r == 0 && gpu_lookup_proc(g, run.pid, &p) == 0, "its user is metered");
	if (r == 0) {
		EQ("odd path: launches (2 workers x 50 x 2)", p.launches, 2 * 50 * 2);
		EQ("odd path: threads", p.threads, 2 * 50 * (2304 + 1024));
	}
	for (size_t i = 0; i < gpu_n_libs(g); i++) {
		const struct gpu_lib *l = gpu_lib_get(g, i);

		if (strstr(l->path, "/odd/"))
			TAP_CHECK(l->runtime == GPU_RT_CUDA && l->probes > 0,
				  "status lists %s (%s, %u probes)", l->path,
				  gpu_runtime_name(l->runtime), l->probes);
	}
out:
	gpu_free(g);
}

/* A "container": a process in its own mount namespace runs a libcuda that exists only on a
 * tmpfs mounted there. The daemon's namespace cannot see the path; the meter must reach the
 * file through /proc/PID/root and count its calls. */
static void test_container(void)
{
	char nsdir[600], nslib[700], from[PATH_MAX];
	struct gpu *g = NULL;
	struct run run;
	struct hpcm_gpu_proc p;
	int r, in[2], out[2];
	char line[64];
	FILE *f;

	snprintf(nsdir, sizeof(nsdir), "%s/ns", tmpdir);
	snprintf(nslib, sizeof(nslib), "%s/libcuda.so.1", nsdir);
	snprintf(from, sizeof(from), "%s/libcuda.so.1", fakedir);
	if (mkdir(nsdir, 0755) < 0 || gpu_open(GPU_MODE_DETAILED, &g) < 0) {
		TAP_CHECK(false, "container: set up");
		return;
	}
	if (pipe(in) < 0 || pipe(out) < 0)
		return;
	run.pid = fork();
	if (run.pid == 0) {
		char *args[] = { (char *)loader, "-C", nslib, "-n", "30", "-t", "1",
				 "-c",		 "1",  "-w",  NULL };

		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", nsdir, "tmpfs", 0, "size=4m") < 0 || copy_file(from, nslib) < 0)
			_exit(126);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(loader, args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	run.in = in[1];
	run.out = out[0];
	f = fdopen(dup(run.out), "r");
	r = f && fgets(line, sizeof(line), f) && streq(line, "ready\n") ? 0 : -EPROTO;
	if (f)
		fclose(f);
	TAP_CHECK(r == 0 && access(nslib, F_OK) < 0,
		  "container: the program runs a libcuda its own namespace alone can see");
	if (r < 0) {
		kill(run.pid, SIGKILL);
		waitpid(run.pid, NULL, 0);
		goto out;
	}
	/* Found by the library-open record, or by the maps scan. */
	bool found = false;

	for (int i = 0; i < TAP_WAIT_MS / 50 && !found; i++) {
		gpu_consume(g);
		gpu_scan_pid(g, (uint32_t)run.pid);
		for (size_t l = 0; l < gpu_n_libs(g); l++)
			found |= streq(gpu_lib_get(g, l)->path, nslib) &&
				 strncmp(gpu_lib_get(g, l)->attach_path, "/proc/", 6) == 0 &&
				 gpu_lib_get(g, l)->probes > 0;
		if (!found)
			usleep(50000);
	}
	TAP_CHECK(found, "container: its libcuda is attached through /proc/%d/root", run.pid);
	r = finish(&run);
	TAP_CHECK(r == 0 && gpu_lookup_proc(g, run.pid, &p) == 0 && p.launches == 2 * 30 * 2,
		  "container: its launches are counted (%llu, expected %d)",
		  r == 0 ? (unsigned long long)p.launches : 0ULL, 2 * 30 * 2);
out:
	gpu_free(g);
}

static void on_late(const struct gpu_probe_late *pl, void *userdata)
{
	struct gpu_probe_late *seen = userdata;

	*seen = *pl;
}

/* Read lines from fd until one starts with want (gpu-load's "ready", "loaded"). */
static bool read_until(int fd, const char *want)
{
	char line[128];
	size_t n = 0;

	while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1) {
		if (line[n] == '\n') {
			line[n] = '\0';
			if (strncmp(line, want, strlen(want)) == 0)
				return true;
			n = 0;
			continue;
		}
		n++;
	}
	return false;
}

static const struct gpu_lib *lib_attached_as(struct gpu *g, const char *needle)
{
	for (size_t i = 0; i < gpu_n_libs(g); i++)
		if (strstr(gpu_lib_get(g, i)->path, needle) && gpu_lib_get(g, i)->probes > 0)
			return gpu_lib_get(g, i);
	return NULL;
}

/* A copy of libcuda under another name, dlopen'd late (after the meter runs, from a process
 * that started long before): found by its content at its executable mapping, through
 * /proc/PID/map_files, also when deleted before the meter looked, or loaded from a memfd.
 * opts: gpu-load's options for the copy (-m memfd, -u unlink). The meter reads the ring buffer
 * only once the copy is loaded (and, with -u, deleted): the file is gone by then. */
static void test_copy(const char *what, const char *opt, const char *shown)
{
	char dir[600], copy[700], from[PATH_MAX];
	struct gpu_probe_late late = { 0 };
	const struct gpu_lib *l = NULL;
	struct gpu *g = NULL;
	struct hpcm_gpu_proc p;
	struct run run;
	int r;

	snprintf(dir, sizeof(dir), "%s/copy-%s", tmpdir, what);
	snprintf(copy, sizeof(copy), "%s/libfoo.so", dir);
	snprintf(from, sizeof(from), "%s/libcuda.so.1", fakedir);
	if (mkdir(dir, 0755) < 0 || copy_file(from, copy) < 0 ||
	    gpu_open(GPU_MODE_DETAILED, &g) < 0) {
		TAP_CHECK(false, "%s: set up", what);
		gpu_free(g);
		return;
	}
	gpu_set_probe_late(g, on_late, &late);
	char *args[] = { (char *)loader, "-C", copy, "-n", "40",	"-t", "1",
			 "-c",		 "3",  "-w", "-l", (char *)opt, NULL };

	if (!opt[0])
		args[11] = NULL;
	r = start(&run, args);
	TAP_CHECK(r == 0, "%s: a program that started before runs", what);
	if (r < 0)
		goto out;
	/* Started: now the late dlopen. */
	r = write(run.in, "go\n", 3) == 3 && read_until(run.out, "loaded") ? 0 : -EIO;
	TAP_CHECK(r == 0 && (!strstr(opt, "u") || access(copy, F_OK) < 0),
		  "%s: it loaded the copy late%s", what,
		  strstr(opt, "u") ? " and deleted it before the meter looked" : "");
	for (int i = 0; i < 200 && !(l = lib_attached_as(g, shown)); i++) {
		gpu_consume(g);
		if (!(l = lib_attached_as(g, shown)))
			usleep(20000);
	}
	TAP_CHECK(l && l->runtime == GPU_RT_CUDA && streq(l->soname, "libcuda.so.1") &&
			  l->launch_probes > 0 && strncmp(l->attach_path, "/proc/", 6) == 0,
		  "%s: recognised by its content as CUDA (SONAME %s) at %s, through %s", what,
		  l ? l->soname : "?", l ? l->path : "?", l ? l->attach_path : "?");
	TAP_CHECK(late.map_ns > 0 && late.attach_ns > late.map_ns && late.pid == (uint32_t)run.pid,
		  "%s: the window from its mapping to the probes is told (%.3f ms, pid %u)", what,
		  (double)(late.attach_ns - late.map_ns) / 1e6, late.pid);
	r = finish(&run);
	TAP_CHECK(r == 0 && gpu_lookup_proc(g, run.pid, &p) == 0, "%s: its user is metered", what);
	if (r == 0) {
		EQ("  launches (2 workers x 40 x 2)", p.launches, 2 * 40 * 2);
		EQ("  threads", p.threads, 2 * 40 * (2304 + 1024));
		EQ("  allocations", p.allocs, 2);
	}
	if (r == 0 && gpu_lookup_proc(g, run.child, &p) == 0)
		EQ("  forked child's launches (3 x 2)", p.launches, 3 * 2);
out:
	gpu_free(g);
}

/* The verdict on a file is its content's: a file named libcuda.so.1 that exports nothing of the
 * driver is not a runtime; the same bytes read again through another path are not read twice. */
static void test_not_runtime(void)
{
	char path[700];
	struct gpu *g = NULL;
	uint64_t read_before, read_after;

	snprintf(path, sizeof(path), "%s/lib/libcuda.so.7", tmpdir);
	if (copy_file("/lib/x86_64-linux-gnu/libm.so.6", path) < 0 ||
	    gpu_open(GPU_MODE_DETAILED, &g) < 0) {
		TAP_CHECK(false, "not a runtime: set up");
		gpu_free(g);
		return;
	}
	TAP_CHECK(gpu_consider_path(g, (uint32_t)getpid(), path) == 0 && !lib_known(g, path),
		  "libm renamed libcuda.so.7 is not taken for CUDA");
	gpu_n_files_known(g, &read_before);
	gpu_consider_path(g, (uint32_t)getpid(), path);
	gpu_n_files_known(g, &read_after);
	EQ("and its verdict is cached: ELF files read again", read_after - read_before, 0);
	gpu_free(g);
}

int main(int argc, char **argv)
{
	const char *names[] = { "libcuda.so.1", "libamdhip64.so", "libOpenCL.so.1",
				"libze_loader.so.1" };
	char from[PATH_MAX], to[PATH_MAX + 600];

	if (argc != 3) {
		fprintf(stderr, "usage: %s FAKE_LIB_DIR GPU_LOAD\n", argv[0]);
		return 2;
	}
	fakedir = argv[1];
	loader = argv[2];
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF\n");
		return 77;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(devnode, sizeof(devnode), "/dev/nvidia61hpcmtest%d", (int)getpid());
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* A real character device (the null device's numbers) at a name the filter matches. */
	if (mknod(devnode, S_IFCHR | 0600, makedev(1, 3)) < 0) {
		printf("1..0 # SKIP cannot create %s: %s\n", devnode, strerror(errno));
		devnode[0] = '\0';
		return 77;
	}
	snprintf(libdir, sizeof(libdir), "%s/lib", tmpdir);
	snprintf(oddlib, sizeof(oddlib), "%s/odd/site-packages/x/libcuda.so.1", tmpdir);
	snprintf(to, sizeof(to), "mkdir -p %s %s/odd/site-packages/x", libdir, tmpdir);
	if (system(to) != 0)
		return 1;
	/* Copies in a fresh directory: new inodes, so no earlier run's probes are on them. */
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(from, sizeof(from), "%s/%s", fakedir, names[i]);
		snprintf(to, sizeof(to), "%s/%s", libdir, names[i]);
		if (copy_file(from, to) < 0)
			return 1;
	}
	snprintf(from, sizeof(from), "%s/libcuda.so.1", fakedir);
	if (copy_file(from, oddlib) < 0)
		return 1;

	/* The premise of the cost figures: the entry points start with push %rbp (0x55). */
	{
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/libcuda.so.1", libdir);
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		const unsigned char *f = h ? dlsym(h, "cuLaunchKernel") : NULL;

		TAP_CHECK(f && f[0] == 0x55, "fake cuLaunchKernel starts with push %%rbp (%#x)",
			  f ? f[0] : 0);
		if (h)
			dlclose(h);
	}

	test_detailed();
	test_light();
	test_odd_path();
	test_container();
	test_copy("renamed", "", "/copy-renamed/libfoo.so");
	test_copy("deleted", "-u", "/copy-deleted/libfoo.so (deleted)");
	test_copy("memfd", "-m", "/memfd:gpu-runtime (deleted)");
	test_not_runtime();
	return tap_done();
}
