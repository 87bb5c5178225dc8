/* SPDX-License-Identifier: GPL-2.0-only */
/* Where a uprobe on a function's entry costs least: the kernel emulates a few x86-64
 * instructions (one trap) and single-steps the rest out of line (two traps, several times the
 * cost). Decided from the function's code at attach time (capstone). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gpu_entry_place {
	uint32_t offset; /* bytes past the entry where the probe goes (0: the entry itself) */
	bool emulated; /* the kernel emulates the instruction there */
	char first[64]; /* the entry's first instruction, as text */
	char at[64]; /* the instruction at offset, as text */
	const char *why; /* why offset 0 when the first instruction is not emulated */
};

/* Does the kernel's uprobe code emulate this instruction (arch/x86/kernel/uprobes.c:
 * branch_setup_xol_ops(), push_setup_xol_ops())? Only the forms emulated by every kernel since
 * 4.x: push of a 64-bit register (with REX.B 0x41 for r8-r15 and nothing else), call rel32,
 * jmp rel8/rel32, jcc rel8/rel32, none with a prefix. NOPs are emulated by some kernels only
 * and are left out: a probe there is correct, perhaps not cheaper. */
bool gpu_entry_emulated(const uint8_t *insn, size_t len);

/* The argument registers a probe's program reads: bit n-1 for the n-th integer argument
 * (rdi, rsi, rdx, rcx, r8, r9). */
#define GPU_ENTRY_ARG(n) (1u << ((n)-1))
#define GPU_ENTRY_ARGS_ALL 0x3fu

/* Choose where to put the probe of the function whose code starts at code (len bytes, at
 * address addr, of st_size size; 0 if unknown): at the entry when its first instruction is
 * emulated; else at the first emulated instruction of the entry block that every call crosses
 * exactly once and before which nothing the probe reads has changed:
 *   - the instructions before it are neither branches, calls, returns nor traps (so every call
 *     runs them, in order, and reaches it);
 *   - they write none of the argument registers in args (GPU_ENTRY_ARG()), not the stack
 *     pointer and no memory (the probe reads arguments, the 7th on the stack, and what they
 *     point to);
 *   - no direct branch or call of the function (decoded whole, size bytes) lands after the
 *     entry and up to it (it would be crossed twice, or by a path that skipped the entry);
 *   - is_entry(ctx, address) says no other exported function starts after the entry and up to
 *     it (calls to that one would be counted as calls to this one).
 * Otherwise offset 0. Returns 0, or -errno when the decoder cannot be used. */
int gpu_entry_place(const uint8_t *code, size_t len, uint64_t addr, uint64_t size, unsigned args,
		    bool (*is_entry)(void *ctx, uint64_t address), void *ctx,
		    struct gpu_entry_place *ret);
