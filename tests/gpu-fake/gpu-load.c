// SPDX-License-Identifier: GPL-2.0-only
/* Drives the fake runtimes a known number of times, the way applications reach the real ones:
 * dlopen + dlsym, calls from the main thread, from pthreads and from a forked child.
 * usage: gpu-load [-C LIB] [-H LIB] [-O LIB] [-Z LIB] [-n ITER] [-t THREADS] [-c CHILD_ITER]
 *                 [-d DEVICE] [-w] [-l] [-m] [-u]
 * -C/-H/-O/-Z name the CUDA, HIP, OpenCL, Level Zero library to dlopen (by name or path);
 * -d opens DEVICE once per worker; -w prints "ready" once loaded and waits for a line on stdin.
 * The ways a copy can come in: -l loads the libraries late, after that line (then prints
 * "loaded" and, with -w, waits for another line before the calls); -m loads each from a memfd
 * (a copy of the file, dlopen'd as /proc/self/fd/N); -u unlinks each file once it is mapped;
 * -e prints "done" at the end and waits for a line before exiting; -P maps the CUDA library by
 * hand instead of dlopen, as a loader of its own would: every segment read-only, then the code
 * made executable with mprotect(2) (the fake runtime needs no relocation).
 * Prints "child PID" for the forked child. Per worker and iteration: 2 CUDA launches (2304 and
 * 1024 threads) and one 4096-byte copy, 2 HIP launches (128, 192), 1 OpenCL (1000 work items),
 * 1 Level Zero (256); once per worker: a context, one allocation per runtime (1 MiB, 64 KiB,
 * 2 KiB, 8 KiB), 2 CUDA graph launches and 1 HIP graph launch. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-runtime.h"

static struct {
	cuLaunchKernel_t launch;
	cuLaunchKernelEx_t launch_ex;
	cuGraphLaunch_t graph;
	cuMemAlloc_t alloc;
	cuMemcpyHtoDAsync_t h2d;
	cuCtxCreate_t ctx;
} cu;
static struct {
	hipLaunchKernel_t launch;
	hipModuleLaunchKernel_t module_launch;
	hipMalloc_t alloc;
	hipGraphLaunch_t graph;
} hip;
static struct {
	clEnqueueNDRangeKernel_t enqueue;
	clCreateBuffer_t buffer;
} cl;
static struct {
	zeKernelSetGroupSize_t group_size;
	zeCommandListAppendLaunchKernel_t launch;
	zeMemAllocDevice_t alloc;
} ze;

static long iterations = 100;
static const char *device;
static bool from_memfd, unlink_mapped, by_hand;

/* The file mapped by hand: where it is, and its dynamic symbols. */
static struct {
	char *base;
	const Elf64_Sym *syms;
	size_t n_syms;
	const char *strs;
} hand;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gpu-load: %s %s: %s\n", what, path, strerror(errno));
	exit(2);
}

/* Map an ELF shared object's PT_LOAD segments read-only (the writable ones read-write), then
 * mprotect the executable one: never a mapping that is executable from the start. */
static void *load_by_hand(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long page = sysconf(_SC_PAGESIZE);
	struct stat st;
	char *file;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	const Elf64_Shdr *sh;
	uint64_t span = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		die("open", path);
	file = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (file == MAP_FAILED)
		die("mmap", path);
	eh = (const Elf64_Ehdr *)file;
	ph = (const Elf64_Phdr *)(file + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr + ph[i].p_memsz > span)
			span = ph[i].p_vaddr + ph[i].p_memsz;
	hand.base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hand.base == MAP_FAILED)
		die("reserve", path);
	for (int i = 0; i < eh->e_phnum; i++) {
		uint64_t skew = ph[i].p_vaddr % page, start = ph[i].p_vaddr - skew;
		int prot = ph[i].p_flags & PF_W ? PROT_READ | PROT_WRITE : PROT_READ;

		if (ph[i].p_type != PT_LOAD)
			continue;
		if (mmap(hand.base + start, ph[i].p_filesz + skew, prot, MAP_PRIVATE | MAP_FIXED,
			 fd, ph[i].p_offset - skew) == MAP_FAILED)
			die("map segment of", path);
		if (ph[i].p_memsz > ph[i].p_filesz) {
			uint64_t bss = ph[i].p_vaddr + ph[i].p_filesz,
				 end = ph[i].p_vaddr + ph[i].p_memsz;
			uint64_t next = (bss + page - 1) / page * page;

			memset(hand.base + bss, 0, (next < end ? next : end) - bss);
			if (end > next &&
			    mmap(hand.base + next, end - next, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
				die("bss of", path);
		}
		if ((ph[i].p_flags & PF_X) &&
		    mprotect(hand.base + start, ph[i].p_filesz + skew, PROT_READ | PROT_EXEC) < 0)
			die("mprotect", path);
	}
	sh = (const Elf64_Shdr *)(file + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_DYNSYM) {
			hand.syms = (const Elf64_Sym *)(file + sh[i].sh_offset);
			hand.n_syms = sh[i].sh_size / sizeof(Elf64_Sym);
			hand.strs = file + sh[sh[i].sh_link].sh_offset;
		}
	close(fd);
	return &hand;
}

/* A copy of the file in a memfd, as a launcher that unpacks its driver shim in memory does. */
static int memfd_copy(const char *path)
{
	int in = open(path, O_RDONLY | O_CLOEXEC), fd = memfd_create("gpu-runtime", 0);
	struct stat st;

	if (in < 0 || fd < 0 || fstat(in, &st) < 0 ||
	    sendfile(fd, in, NULL, st.st_size) != st.st_size) {
		fprintf(stderr, "gpu-load: memfd copy of %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(in);
	return fd;
}

static void *load(const char *name)
{
	char fdpath[64];
	void *h;

	if (from_memfd) {
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", memfd_copy(name));
		h = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	} else {
		h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	}
	if (!h) {
		fprintf(stderr, "gpu-load: %s\n", dlerror());
		exit(2);
	}
	if (unlink_mapped && unlink(name) < 0) {
		fprintf(stderr, "gpu-load: unlink %s: %s\n", name, strerror(errno));
		exit(2);
	}
	return h;
}

static void *sym(void *h, const char *name)
{
	void *p = NULL;

	if (h == &hand) {
		for (size_t i = 0; i < hand.n_syms; i++)
			if (hand.syms[i].st_shndx != SHN_UNDEF &&
			    strcmp(hand.strs + hand.syms[i].st_name, name) == 0)
				return hand.base + hand.syms[i].st_value;
		fprintf(stderr, "gpu-load: %s not found\n", name);
		exit(2);
	}
	p = dlsym(h, name);

	if (!p) {
		fprintf(stderr, "gpu-load: %s\n", dlerror());
		exit(2);
	}
	return p;
}

static void work(long n)
{
	char buf[4096] = { 0 };
	void *ptr;
	uint64_t dptr;

	if (device) {
		int fd = open(device, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			perror(device);
			exit(2);
		}
		close(fd);
	}
	if (cu.launch) {
		cu.ctx(&ptr, 0, 0);
		cu.alloc(&dptr, 1 << 20);
		cu.graph(NULL, NULL);
		cu.graph(NULL, NULL);
	}
	if (hip.launch) {
		hip.alloc(&ptr, 65536);
		hip.graph(NULL, NULL);
	}
	if (cl.enqueue)
		cl.buffer(NULL, 0, 2048, NULL, NULL);
	if (ze.launch) {
		ze.group_size((void *)0x1234, 8, 8, 1);
		ze.alloc(NULL, NULL, 8192, 64, NULL, &ptr);
	}
	for (long i = 0; i < n; i++) {
		if (cu.launch) {
			CUlaunchConfig cfg = { 4, 2, 1, 32, 2, 2, 0, NULL, NULL, 0 };

			cu.launch(NULL, 2, 3, 4, 8, 4, 3, 0, NULL, NULL, NULL);
			cu.launch_ex(&cfg, NULL, NULL, NULL);
			cu.h2d(0x1000, buf, sizeof(buf), NULL);
		}
		if (hip.launch) {
			hip.launch(NULL, (dim3){ 2, 2, 2 }, (dim3){ 16, 1, 1 }, NULL, 0, NULL);
			hip.module_launch(NULL, 3, 1, 1, 64, 1, 1, 0, NULL, NULL, NULL);
		}
		if (cl.enqueue) {
			size_t global[2] = { 100, 10 };

			cl.enqueue(NULL, NULL, 2, NULL, global, NULL, 0, NULL, NULL);
		}
		if (ze.launch) {
			ze_group_count_t g = { 4, 1, 1 };

			ze.launch(NULL, (void *)0x1234, &g, NULL, 0, NULL);
		}
	}
}

static void *thread_main(void *arg)
{
	work(iterations);
	return NULL;
}

static const char *lib_cuda, *lib_hip, *lib_cl, *lib_ze;

static void load_all(void)
{
	void *h;

	if (lib_cuda) {
		h = by_hand ? load_by_hand(lib_cuda) : load(lib_cuda);
		cu.launch = sym(h, "cuLaunchKernel");
		cu.launch_ex = sym(h, "cuLaunchKernelEx");
		cu.graph = sym(h, "cuGraphLaunch");
		cu.alloc = sym(h, "cuMemAlloc_v2");
		cu.h2d = sym(h, "cuMemcpyHtoDAsync_v2");
		cu.ctx = sym(h, "cuCtxCreate_v2");
	}
	if (lib_hip) {
		h = load(lib_hip);
		hip.launch = sym(h, "hipLaunchKernel");
		hip.module_launch = sym(h, "hipModuleLaunchKernel");
		hip.alloc = sym(h, "hipMalloc");
		hip.graph = sym(h, "hipGraphLaunch");
	}
	if (lib_cl) {
		h = load(lib_cl);
		cl.enqueue = sym(h, "clEnqueueNDRangeKernel");
		cl.buffer = sym(h, "clCreateBuffer");
	}
	if (lib_ze) {
		h = load(lib_ze);
		ze.group_size = sym(h, "zeKernelSetGroupSize");
		ze.launch = sym(h, "zeCommandListAppendLaunchKernel");
		ze.alloc = sym(h, "zeMemAllocDevice");
	}
}

static int wait_line(void)
{
	char line[16];

	return fgets(line, sizeof(line), stdin) ? 0 : -1;
}

int main(int argc, char **argv)
{
	long threads = 3, child_iter = 10;
	bool wait_go = false, late = false, wait_end = false;
	int opt;

	while ((opt = getopt(argc, argv, "C:H:O:Z:n:t:c:d:wlmueP")) != -1) {
		switch (opt) {
		case 'C':
			lib_cuda = optarg;
			break;
		case 'H':
			lib_hip = optarg;
			break;
		case 'O':
			lib_cl = optarg;
			break;
		case 'Z':
			lib_ze = optarg;
			break;
		case 'n':
			iterations = atol(optarg);
			break;
		case 't':
			threads = atol(optarg);
			break;
		case 'c':
			child_iter = atol(optarg);
			break;
		case 'd':
			device = optarg;
			break;
		case 'w':
			wait_go = true;
			break;
		case 'l':
			late = true;
			break;
		case 'm':
			from_memfd = true;
			break;
		case 'u':
			unlink_mapped = true;
			break;
		case 'e':
			wait_end = true;
			break;
		case 'P':
			by_hand = true;
			break;
		default:
			return 2;
		}
	}
	if (!late)
		load_all();
	if (wait_go) {
		printf("ready\n");
		fflush(stdout);
		if (wait_line() < 0)
			return 2;
	}
	if (late) {
		load_all();
		printf("loaded\n");
		fflush(stdout);
		if (wait_go && wait_line() < 0)
			return 2;
	}

	pthread_t tid[64];

	if (threads < 0 || threads > 64)
		return 2;
	for (long i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, thread_main, NULL))
			return 2;
	work(iterations);
	for (long i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);

	fflush(stdout);
	pid_t child = fork();
	int status;

	if (child < 0)
		return 2;
	if (child == 0) {
		work(child_iter);
		_exit(0);
	}
	printf("child %d\n", (int)child);
	fflush(stdout);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return 2;
	if (wait_end) {
		printf("done\n");
		fflush(stdout);
		if (wait_line() < 0)
			return 2;
	}
	return 0;
}
