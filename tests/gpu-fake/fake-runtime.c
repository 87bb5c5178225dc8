// SPDX-License-Identifier: GPL-2.0-only
/* A fake accelerator runtime for the GPU meter's tests: built once per runtime (FAKE_CUDA,
 * FAKE_HIP, FAKE_OPENCL, FAKE_ZE) as a shared library with the real file and symbol names.
 * Built with frame pointers so that every entry point starts with "push %rbp", as libcuda's
 * do: the kernel emulates that instruction, so a uprobe costs what it costs on the real one. */
#include "fake-runtime.h"

static volatile uint64_t sink;

#define WORK(v) (sink += (uint64_t)(v), 0)
#define API __attribute__((visibility("default"), noinline))

#ifdef FAKE_CUDA
API int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
		       unsigned bz, unsigned shmem, void *stream, void **params, void **extra)
{
	return WORK(gx + gy + gz + bx + by + bz);
}

/* An alias, as a library may export two names for one function: one probe on it, not two
 * (each call would count twice). */
API int cuLaunchKernel_ptsz(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
			    unsigned by, unsigned bz, unsigned shmem, void *stream, void **params,
			    void **extra) __attribute__((alias("cuLaunchKernel")));

API int cuLaunchKernelEx(const CUlaunchConfig *cfg, void *f, void **params, void **extra)
{
	return WORK(cfg->gridDimX);
}

API int cuGraphLaunch(void *graph, void *stream)
{
	return WORK(1);
}

API int cuMemAlloc_v2(uint64_t *dptr, size_t bytes)
{
	*dptr = 0x1000;
	return WORK(bytes);
}

API int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream)
{
	return WORK(bytes);
}

API int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)
{
	return WORK(bytes);
}

API int cuCtxCreate_v2(void **ctx, unsigned flags, int dev)
{
	*ctx = (void *)&sink;
	return WORK(dev);
}

API int cuCtxDestroy_v2(void *ctx)
{
	return WORK(2);
}

API int cuModuleLoadData(void **module, const void *image)
{
	return WORK(3);
}
#endif

#ifdef FAKE_HIP
API int hipLaunchKernel(const void *f, dim3 grid, dim3 block, void **args, size_t shmem,
			void *stream)
{
	return WORK(grid.x + grid.y + grid.z + block.x + block.y + block.z);
}

API int hipExtLaunchKernel(const void *f, dim3 grid, dim3 block, void **args, size_t shmem,
			   void *stream, void *start, void *stop, int flags)
{
	return WORK(grid.x + block.z);
}

API int hipModuleLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
			      unsigned by, unsigned bz, unsigned shmem, void *stream, void **params,
			      void **extra)
{
	return WORK(gx + bz);
}

API int hipMalloc(void **ptr, size_t bytes)
{
	*ptr = (void *)&sink;
	return WORK(bytes);
}

API int hipGraphLaunch(void *graph, void *stream)
{
	return WORK(1);
}
#endif

#ifdef FAKE_OPENCL
API int clEnqueueNDRangeKernel(void *queue, void *kernel, unsigned dim, const size_t *offset,
			       const size_t *global, const size_t *local, unsigned nwait,
			       const void *wait, void *event)
{
	return WORK(global[0]);
}

API void *clCreateBuffer(void *ctx, uint64_t flags, size_t bytes, void *host, int *err)
{
	sink += bytes;
	return (void *)&sink;
}
#endif

#ifdef FAKE_ZE
API int zeKernelSetGroupSize(void *kernel, uint32_t x, uint32_t y, uint32_t z)
{
	return WORK(x + y + z);
}

API int zeCommandListAppendLaunchKernel(void *list, void *kernel, const ze_group_count_t *groups,
					void *signal, uint32_t nwait, void **wait)
{
	return WORK(groups->groupCountX);
}

API int zeMemAllocDevice(void *ctx, const void *desc, size_t bytes, size_t align, void *dev,
			 void **ptr)
{
	*ptr = (void *)&sink;
	return WORK(bytes);
}
#endif
