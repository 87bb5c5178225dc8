/* SPDX-License-Identifier: GPL-2.0-only */
/* Signatures of the fake accelerator runtimes: the real entry points' names and argument
 * layouts (as far as the GPU meter reads them), nothing else. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct {
	unsigned int x, y, z;
} dim3;

typedef struct {
	unsigned int gridDimX, gridDimY, gridDimZ;
	unsigned int blockDimX, blockDimY, blockDimZ;
	unsigned int sharedMemBytes;
	void *hStream;
	void *attrs;
	unsigned int numAttrs;
} CUlaunchConfig;

typedef struct {
	uint32_t groupCountX, groupCountY, groupCountZ;
} ze_group_count_t;

/* CUDA driver (libcuda.so.1) */
typedef int (*cuLaunchKernel_t)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
				unsigned by, unsigned bz, unsigned shmem, void *stream,
				void **params, void **extra);
typedef int (*cuLaunchKernelEx_t)(const CUlaunchConfig *cfg, void *f, void **params, void **extra);
typedef int (*cuGraphLaunch_t)(void *graph, void *stream);
typedef int (*cuMemAlloc_t)(uint64_t *dptr, size_t bytes);
typedef int (*cuMemcpyHtoDAsync_t)(uint64_t dst, const void *src, size_t bytes, void *stream);
typedef int (*cuCtxCreate_t)(void **ctx, unsigned flags, int dev);

/* HIP (libamdhip64.so) */
typedef int (*hipLaunchKernel_t)(const void *f, dim3 grid, dim3 block, void **args, size_t shmem,
				 void *stream);
typedef int (*hipModuleLaunchKernel_t)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
				       unsigned by, unsigned bz, unsigned shmem, void *stream,
				       void **params, void **extra);
typedef int (*hipMalloc_t)(void **ptr, size_t bytes);
typedef int (*hipGraphLaunch_t)(void *graph, void *stream);

/* OpenCL (libOpenCL.so.1) */
typedef int (*clEnqueueNDRangeKernel_t)(void *queue, void *kernel, unsigned dim,
					const size_t *offset, const size_t *global,
					const size_t *local, unsigned nwait, const void *wait,
					void *event);
typedef void *(*clCreateBuffer_t)(void *ctx, uint64_t flags, size_t bytes, void *host, int *err);

/* Level Zero (libze_loader.so.1) */
typedef int (*zeKernelSetGroupSize_t)(void *kernel, uint32_t x, uint32_t y, uint32_t z);
typedef int (*zeCommandListAppendLaunchKernel_t)(void *list, void *kernel,
						 const ze_group_count_t *groups, void *signal,
						 uint32_t nwait, void **wait);
typedef int (*zeMemAllocDevice_t)(void *ctx, const void *desc, size_t bytes, size_t align,
				  void *dev, void **ptr);
