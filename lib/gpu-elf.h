/* SPDX-License-Identifier: GPL-2.0-only */
/* What a shared object is, as the GPU meter needs to know it to recognise an accelerator runtime
 * by its content: its SONAME and the functions it exports (defined in .dynsym), each with the
 * file offset a uprobe goes to, its size and its first bytes of code. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gpu_elf;

struct gpu_elf_func {
	const char *name;
	uint64_t addr; /* st_value */
	uint64_t size; /* st_size, 0 when the symbol has none */
	uint64_t offset; /* in the file: where a uprobe on the function's entry goes */
	bool default_version; /* not a hidden (non-default) symbol version */
};

/* Read the ELF file open at fd (the descriptor is duplicated; the caller keeps its own).
 * -ENOEXEC: not an ELF file; -EINVAL: unreadable ELF; -ENOMEM. */
int gpu_elf_open(int fd, struct gpu_elf **ret);
void gpu_elf_free(struct gpu_elf *e);
/* DT_SONAME, "" when there is none. */
const char *gpu_elf_soname(const struct gpu_elf *e);
/* Number of exported functions. */
size_t gpu_elf_n_funcs(const struct gpu_elf *e);
/* The exported functions called name, each address once (a name exported in several symbol
 * versions can have several): fills up to n, returns how many there are. */
size_t gpu_elf_funcs(const struct gpu_elf *e, const char *name, struct gpu_elf_func *ret, size_t n);
/* All names at the same address as func (aliases), in ret (up to n); returns how many. */
size_t gpu_elf_aliases(const struct gpu_elf *e, const struct gpu_elf_func *func, const char **ret,
		       size_t n);
/* Does an exported function start at address addr? */
bool gpu_elf_is_entry(const struct gpu_elf *e, uint64_t addr);
/* Up to len bytes of the file at offset; returns the number read or -errno. */
ssize_t gpu_elf_read(const struct gpu_elf *e, uint64_t offset, void *buf, size_t len);
