// SPDX-License-Identifier: GPL-2.0-only
/* Calls every entry point the GPU meter probes on a vendor's real runtime library, a known
 * number of times each, without a device: NVIDIA's libcuda (before cuInit every entry point
 * returns CUDA_ERROR_NOT_INITIALIZED), AMD's HIP (hipErrorNoDevice, hipErrorInvalidDevice), the
 * Level Zero loader (ZE_RESULT_ERROR_UNINITIALIZED), the OpenCL ICD loader (invalid handles).
 * Entry point i of the table that the library exports is called N + i times, so that counts
 * mixed up between entry points show. The arguments are those of tests/gpu-fake/gpu-load.c:
 * cuLaunchKernel-like 2304 threads, cuLaunchKernelEx 1024, hipLaunchKernel-like 128,
 * hipModuleLaunchKernel 192, clEnqueueNDRangeKernel 1000 work items, Level Zero 4 groups of
 * the 64 (8 x 8 x 1) set first for kernel 0x1234; copies 4096 bytes, allocations 1 MiB.
 * Prints one line per entry point: "SYMBOL CALLS RETURN" (RETURN: what the last call returned),
 * and "absent SYMBOL" for those the library does not export.
 * usage: gpu-real-load cuda|hip|opencl|ze LIBRARY N */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gpu-fake/fake-runtime.h"

enum call {
	CU_REGS, /* cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, stream, params, extra) */
	CU_CFG, /* cuLaunchKernelEx(config, f, params, extra) */
	HIP_DIM3, /* hipLaunchKernel(f, grid, block, args, shmem, stream) */
	HIP_REGS, /* hipModuleLaunchKernel: as cuLaunchKernel, 3 x 64 */
	CL_NDRANGE, /* clEnqueueNDRangeKernel(queue, kernel, 2, NULL, {100, 10}, ...) */
	ZE_GROUP, /* zeKernelSetGroupSize(0x1234, 8, 8, 1) */
	ZE_LAUNCH, /* zeCommandListAppendLaunchKernel(list, 0x1234, {4, 1, 1}, ...) */
	ARG2_BYTES, /* f(&out, 1 MiB, ...): cuMemAlloc_v2, hipMalloc */
	ARG3_BYTES, /* f(a, b, 4096 or 1 MiB, ...): copies, clCreateBuffer, zeMemAllocDevice */
	PLAIN, /* no argument the meter reads: NULL handles and out pointers */
};

struct entry {
	const char *runtime, *symbol;
	enum call call;
	uintptr_t arg3; /* ARG3_BYTES */
};

#define MIB (1u << 20)

static const struct entry table[] = {
	{ "cuda", "cuLaunchKernel", CU_REGS, 0 },
	{ "cuda", "cuLaunchKernel_ptsz", CU_REGS, 0 },
	{ "cuda", "cuLaunchCooperativeKernel", CU_REGS, 0 },
	{ "cuda", "cuLaunchCooperativeKernel_ptsz", CU_REGS, 0 },
	{ "cuda", "cuLaunchKernelEx", CU_CFG, 0 },
	{ "cuda", "cuLaunchKernelEx_ptsz", CU_CFG, 0 },
	{ "cuda", "cuMemcpyHtoD_v2", ARG3_BYTES, 4096 },
	{ "cuda", "cuMemcpyHtoD_v2_ptds", ARG3_BYTES, 4096 },
	{ "cuda", "cuMemcpyHtoDAsync_v2", ARG3_BYTES, 4096 },
	{ "cuda", "cuMemcpyHtoDAsync_v2_ptsz", ARG3_BYTES, 4096 },
	{ "cuda", "cuGraphLaunch", PLAIN, 0 },
	{ "cuda", "cuGraphLaunch_ptsz", PLAIN, 0 },
	{ "cuda", "cuMemAlloc_v2", ARG2_BYTES, 0 },
	{ "cuda", "cuMemAllocAsync", ARG2_BYTES, 0 },
	{ "cuda", "cuMemAllocAsync_ptsz", ARG2_BYTES, 0 },
	{ "cuda", "cuCtxCreate_v2", PLAIN, 0 },
	{ "cuda", "cuCtxCreate_v3", PLAIN, 0 },
	{ "cuda", "cuCtxCreate_v4", PLAIN, 0 },
	{ "cuda", "cuDevicePrimaryCtxRetain", PLAIN, 0 },
	{ "cuda", "cuDevicePrimaryCtxRelease_v2", PLAIN, 0 },
	{ "cuda", "cuCtxDestroy_v2", PLAIN, 0 },
	{ "cuda", "cuModuleLoad", PLAIN, 0 },
	{ "cuda", "cuModuleLoadData", PLAIN, 0 },
	{ "cuda", "cuModuleLoadDataEx", PLAIN, 0 },
	{ "cuda", "cuModuleLoadFatBinary", PLAIN, 0 },
	{ "cuda", "cuLibraryLoadData", PLAIN, 0 },
	{ "hip", "hipLaunchKernel", HIP_DIM3, 0 },
	{ "hip", "hipLaunchKernel_spt", HIP_DIM3, 0 },
	{ "hip", "hipExtLaunchKernel", HIP_DIM3, 0 },
	{ "hip", "hipLaunchCooperativeKernel", HIP_DIM3, 0 },
	{ "hip", "hipLaunchCooperativeKernel_spt", HIP_DIM3, 0 },
	{ "hip", "hipModuleLaunchKernel", HIP_REGS, 0 },
	{ "hip", "hipGraphLaunch", PLAIN, 0 },
	{ "hip", "hipMalloc", ARG2_BYTES, 0 },
	{ "hip", "hipCtxCreate", PLAIN, 0 },
	{ "hip", "hipModuleLoad", PLAIN, 0 },
	{ "hip", "hipModuleLoadData", PLAIN, 0 },
	{ "opencl", "clEnqueueNDRangeKernel", CL_NDRANGE, 0 },
	{ "opencl", "clCreateBuffer", ARG3_BYTES, MIB },
	{ "opencl", "clCreateContext", PLAIN, 0 },
	{ "opencl", "clBuildProgram", PLAIN, 0 },
	/* the group size first: the launches' threads are counted with it */
	{ "ze", "zeKernelSetGroupSize", ZE_GROUP, 0 },
	{ "ze", "zeCommandListAppendLaunchKernel", ZE_LAUNCH, 0 },
	{ "ze", "zeCommandListAppendLaunchCooperativeKernel", ZE_LAUNCH, 0 },
	{ "ze", "zeMemAllocDevice", ARG3_BYTES, MIB },
	{ "ze", "zeContextCreate", PLAIN, 0 },
	{ "ze", "zeModuleCreate", PLAIN, 0 },
};

typedef int (*plain_t)(uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t);

static int call(const struct entry *t, void *fn)
{
	static uint8_t scratch[4096]; /* out pointers and sources point here */
	CUlaunchConfig cfg = { 4, 2, 1, 32, 2, 2, 0, NULL, NULL, 0 };
	size_t global[2] = { 100, 10 };
	ze_group_count_t groups = { 4, 1, 1 };
	uintptr_t out = (uintptr_t)scratch;

	switch (t->call) {
	case CU_REGS:
		return ((cuLaunchKernel_t)fn)(NULL, 2, 3, 4, 8, 4, 3, 0, NULL, NULL, NULL);
	case CU_CFG:
		return ((cuLaunchKernelEx_t)fn)(&cfg, NULL, NULL, NULL);
	case HIP_DIM3:
		return ((hipLaunchKernel_t)fn)(NULL, (dim3){ 2, 2, 2 }, (dim3){ 16, 1, 1 }, NULL, 0,
					       NULL);
	case HIP_REGS:
		return ((hipModuleLaunchKernel_t)fn)(NULL, 3, 1, 1, 64, 1, 1, 0, NULL, NULL, NULL);
	case CL_NDRANGE:
		return ((clEnqueueNDRangeKernel_t)fn)(NULL, NULL, 2, NULL, global, NULL, 0, NULL,
						      NULL);
	case ZE_GROUP:
		return ((zeKernelSetGroupSize_t)fn)((void *)0x1234, 8, 8, 1);
	case ZE_LAUNCH:
		return ((zeCommandListAppendLaunchKernel_t)fn)(NULL, (void *)0x1234, &groups, NULL,
							       0, NULL);
	case ARG2_BYTES:
		return ((plain_t)fn)(out, MIB, 0, 0, 0, 0);
	case ARG3_BYTES:
		return ((plain_t)fn)(0, out, t->arg3, 0, 0, out);
	case PLAIN:
		/* A NULL handle first: the OpenCL loader would follow a handle's dispatch table. */
		return ((plain_t)fn)(0, 0, 0, 0, 0, out);
	}
	return -1;
}

int main(int argc, char **argv)
{
	long n = argc == 4 ? atol(argv[3]) : 0;
	void *h;
	int idx = 0;

	if (argc != 4 || n < 1) {
		fprintf(stderr, "usage: %s cuda|hip|opencl|ze LIBRARY N\n", argv[0]);
		return 2;
	}
	h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "gpu-real-load: %s\n", dlerror());
		return 2;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct entry *t = &table[i];
		void *fn;
		long calls;
		int r = 0;

		if (strcmp(t->runtime, argv[1]) != 0)
			continue;
		fn = dlsym(h, t->symbol);
		if (!fn) {
			printf("absent %s\n", t->symbol);
			continue;
		}
		calls = n + idx++;
		for (long k = 0; k < calls; k++)
			r = call(t, fn);
		printf("%s %ld %d\n", t->symbol, calls, r);
	}
	return 0;
}
