// SPDX-License-Identifier: GPL-2.0-only
/* Drives the fake runtimes a known number of times, the way applications reach the real ones:
 * dlopen + dlsym, calls from the main thread, from pthreads and from a forked child.
 * usage: gpu-load [-C LIB] [-H LIB] [-O LIB] [-Z LIB] [-n ITER] [-t THREADS] [-c CHILD_ITER]
 *                 [-d DEVICE] [-w]
 * -C/-H/-O/-Z name the CUDA, HIP, OpenCL, Level Zero library to dlopen (by name or path);
 * -d opens DEVICE once per worker; -w prints "ready" once loaded and waits for a line on stdin.
 * Prints "child PID" for the forked child. Per worker and iteration: 2 CUDA launches (2304 and
 * 1024 threads) and one 4096-byte copy, 2 HIP launches (128, 192), 1 OpenCL (1000 work items),
 * 1 Level Zero (256); once per worker: a context, one allocation per runtime (1 MiB, 64 KiB,
 * 2 KiB, 8 KiB), 2 CUDA graph launches and 1 HIP graph launch. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void *load(const char *name)
{
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "gpu-load: %s\n", dlerror());
		exit(2);
	}
	return h;
}

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

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

int main(int argc, char **argv)
{
	long threads = 3, child_iter = 10;
	bool wait_go = false;
	int opt;

	while ((opt = getopt(argc, argv, "C:H:O:Z:n:t:c:d:w")) != -1) {
		void *h;

		switch (opt) {
		case 'C':
			h = load(optarg);
			cu.launch = sym(h, "cuLaunchKernel");
			cu.launch_ex = sym(h, "cuLaunchKernelEx");
			cu.graph = sym(h, "cuGraphLaunch");
			cu.alloc = sym(h, "cuMemAlloc_v2");
			cu.h2d = sym(h, "cuMemcpyHtoDAsync_v2");
			cu.ctx = sym(h, "cuCtxCreate_v2");
			break;
		case 'H':
			h = load(optarg);
			hip.launch = sym(h, "hipLaunchKernel");
			hip.module_launch = sym(h, "hipModuleLaunchKernel");
			hip.alloc = sym(h, "hipMalloc");
			hip.graph = sym(h, "hipGraphLaunch");
			break;
		case 'O':
			h = load(optarg);
			cl.enqueue = sym(h, "clEnqueueNDRangeKernel");
			cl.buffer = sym(h, "clCreateBuffer");
			break;
		case 'Z':
			h = load(optarg);
			ze.group_size = sym(h, "zeKernelSetGroupSize");
			ze.launch = sym(h, "zeCommandListAppendLaunchKernel");
			ze.alloc = sym(h, "zeMemAllocDevice");
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
		default:
			return 2;
		}
	}
	if (wait_go) {
		char line[16];

		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
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
	return 0;
}
