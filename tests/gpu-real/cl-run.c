// SPDX-License-Identifier: GPL-2.0-only
/* A real OpenCL program for the GPU meter's tests: through the ICD loader libOpenCL.so.1
 * (dlopen'd, as applications and frameworks load it), on the first device of the first
 * platform (pocl's CPU device in the tests), it builds two kernels and runs N launches of a 1-D
 * kernel over G work items and M launches of a 2-D kernel over 64 x 32, on one buffer of G
 * ints, then checks what the kernels computed. One context, one buffer, one program build.
 * With -w it prints "ready" once the library is loaded and waits for a line on stdin.
 * Prints "launches L work_items W buffer_bytes B" and exits 0 when the results are right.
 * usage: gpu-cl-run [-w] N G M */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *source =
	"__kernel void inc(__global int *a) { a[get_global_id(0)] += 1; }\n"
	"__kernel void inc2(__global int *a) {\n"
	"	a[get_global_id(1) * get_global_size(0) + get_global_id(0)] += 100;\n"
	"}\n";

#define W2 64
#define H2 32

#define SYM(h, name) ((__typeof__(name) *)sym(h, #name))

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p) {
		fprintf(stderr, "gpu-cl-run: %s\n", dlerror());
		exit(2);
	}
	return p;
}

static int fail(const char *what, cl_int err)
{
	fprintf(stderr, "gpu-cl-run: %s: OpenCL error %d\n", what, err);
	return 1;
}

int main(int argc, char **argv)
{
	int a = 1, wait = argc > 1 && strcmp(argv[1], "-w") == 0;
	long n, g, m;
	cl_platform_id platform;
	cl_device_id device;
	cl_int err;
	void *h;

	a += wait;
	if (argc != a + 3 || (n = atol(argv[a])) < 1 || (g = atol(argv[a + 1])) < W2 * H2 ||
	    (m = atol(argv[a + 2])) < 0) {
		fprintf(stderr, "usage: %s [-w] N G M (G at least %d)\n", argv[0], W2 * H2);
		return 2;
	}
	h = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "gpu-cl-run: %s\n", dlerror());
		return 2;
	}
	if (wait) {
		char line[16];

		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	err = SYM(h, clGetPlatformIDs)(1, &platform, NULL);
	if (err)
		return fail("clGetPlatformIDs", err);
	err = SYM(h, clGetDeviceIDs)(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
	if (err)
		return fail("clGetDeviceIDs", err);
	cl_context ctx = SYM(h, clCreateContext)(NULL, 1, &device, NULL, NULL, &err);
	if (err)
		return fail("clCreateContext", err);
	cl_command_queue q = SYM(h, clCreateCommandQueue)(ctx, device, 0, &err);
	if (err)
		return fail("clCreateCommandQueue", err);
	cl_program prog = SYM(h, clCreateProgramWithSource)(ctx, 1, &source, NULL, &err);
	if (err)
		return fail("clCreateProgramWithSource", err);
	err = SYM(h, clBuildProgram)(prog, 1, &device, NULL, NULL, NULL);
	if (err)
		return fail("clBuildProgram", err);
	cl_kernel k1 = SYM(h, clCreateKernel)(prog, "inc", &err);
	if (err)
		return fail("clCreateKernel inc", err);
	cl_kernel k2 = SYM(h, clCreateKernel)(prog, "inc2", &err);
	if (err)
		return fail("clCreateKernel inc2", err);

	size_t bytes = (size_t)g * sizeof(cl_int);
	cl_int *host = calloc(g, sizeof(cl_int));
	cl_mem buf = host ? SYM(h, clCreateBuffer)(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
						   bytes, host, &err) :
			    NULL;

	if (!buf)
		return fail("clCreateBuffer", err);
	if ((err = SYM(h, clSetKernelArg)(k1, 0, sizeof(buf), &buf)) ||
	    (err = SYM(h, clSetKernelArg)(k2, 0, sizeof(buf), &buf)))
		return fail("clSetKernelArg", err);

	size_t global1 = (size_t)g, global2[2] = { W2, H2 };

	for (long i = 0; i < n; i++) {
		err = SYM(h, clEnqueueNDRangeKernel)(q, k1, 1, NULL, &global1, NULL, 0, NULL, NULL);
		if (err)
			return fail("clEnqueueNDRangeKernel inc", err);
	}
	for (long i = 0; i < m; i++) {
		err = SYM(h, clEnqueueNDRangeKernel)(q, k2, 2, NULL, global2, NULL, 0, NULL, NULL);
		if (err)
			return fail("clEnqueueNDRangeKernel inc2", err);
	}
	err = SYM(h, clEnqueueReadBuffer)(q, buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
	if (err)
		return fail("clEnqueueReadBuffer", err);
	for (long i = 0; i < g; i++) {
		long want = n + (i < W2 * H2 ? 100 * m : 0);

		if (host[i] != want) {
			fprintf(stderr, "gpu-cl-run: a[%ld] = %d, expected %ld\n", i, host[i],
				want);
			return 1;
		}
	}
	printf("launches %ld work_items %ld buffer_bytes %zu\n", n + m, n * g + m * W2 * H2, bytes);
	SYM(h, clReleaseMemObject)(buf);
	SYM(h, clReleaseKernel)(k1);
	SYM(h, clReleaseKernel)(k2);
	SYM(h, clReleaseProgram)(prog);
	SYM(h, clReleaseCommandQueue)(q);
	SYM(h, clReleaseContext)(ctx);
	free(host);
	return 0;
}
