/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: what the GPU meter reads from any file a process maps executable, which an
 * unprivileged user can craft: the ELF reading of lib/gpu-elf.c (SONAME, exported functions,
 * their file offsets, versions, aliases; libelf underneath) and the decoding of each exported
 * function's first bytes by lib/gpu-entry.c (capstone) that decides where a probe goes. The
 * input is the file, in a memfd. A placement must stay inside the code given, and past the
 * entry only on an instruction the kernel emulates. The seed, corpus/gpu-elf/libcuda-tiny.so
 * (1.5 KiB), is a shared object with SONAME libcuda.so.1 exporting cuLaunchKernel, an alias of
 * it and a function that starts with a RIP-relative cmp and a je:
 *   clang -shared -nostdlib -fPIC -O2 -fno-asynchronous-unwind-tables
 *     -Wl,-soname,libcuda.so.1 -Wl,-z,max-page-size=16 -Wl,-z,noseparate-code
 *     -Wl,--build-id=none -s t.c */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gpu-elf.h"
#include "gpu-entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_entry(void *ctx, uint64_t addr)
{
	return gpu_elf_is_entry(ctx, addr);
}

/* One of the kernel's emulated forms (1, 2, 5 or 6 bytes long) at code[off]. */
static bool emulated_at(const uint8_t *code, size_t len, size_t off)
{
	static const size_t lens[] = { 1, 2, 5, 6 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (off + lens[i] <= len && gpu_entry_emulated(code + off, lens[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "cuLaunchKernel", "cuLaunchKernelEx",
					     "cuLaunchKernel_ptsz", "hipLaunchKernel",
					     "clEnqueueNDRangeKernel" };
	struct gpu_elf *e = NULL;
	int fd = memfd_create("fuzz-gpu-elf", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	if (gpu_elf_open(fd, &e) == 0) {
		if (strlen(gpu_elf_soname(e)) > size)
			abort();
		for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
			struct gpu_elf_func f[4];
			const char *alias[4];
			size_t k = gpu_elf_funcs(e, names[n], f, 4);

			for (size_t i = 0; i < k && i < 4; i++) {
				uint8_t code[256];
				ssize_t got = gpu_elf_read(e, f[i].offset, code, sizeof(code));
				struct gpu_entry_place p;

				if (f[i].offset > size || gpu_elf_aliases(e, &f[i], alias, 4) < 1)
					abort();
				if (got <= 0)
					continue;
				if (gpu_entry_place(code, (size_t)got, f[i].addr, f[i].size,
						    GPU_ENTRY_ARGS_ALL, is_entry, e, &p) < 0)
					continue;
				if (p.offset >= (size_t)got)
					abort();
				if (p.offset &&
				    !(p.emulated && emulated_at(code, (size_t)got, p.offset)))
					abort();
			}
		}
		gpu_elf_free(e);
	}
	close(fd);
	return 0;
}
