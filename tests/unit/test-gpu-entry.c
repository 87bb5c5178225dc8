// SPDX-License-Identifier: GPL-2.0-only
/* Where the GPU meter puts a probe on a function's entry (lib/gpu-entry.c), on code written
 * here in the forms the vendors' libraries use (checked against the real ones in
 * tests/bpf/test-gpu-real.c): an emulated first instruction stays; a single-stepped one moves
 * the probe to the first emulated instruction of the entry block (NVIDIA R535's cmp; je, the
 * OpenCL ICD loader's mov; push, the Level Zero loader's three movs, test; je, endbr64; push),
 * and nowhere else: an argument register, the stack pointer or memory written before it, a
 * branch before it, a branch of the function back into the entry block, another function's
 * entry inside it, a function of unknown size. Prints TAP. */
#include <stdint.h>
#include <string.h>

#include "gpu-entry.h"

#include "tap.h"

#define BASE 0x32f860ULL

struct code {
	const char *what;
	uint8_t b[64];
	size_t len;
	uint32_t want; /* the offset expected */
};

/* cmpl $0x321cba00, 0x1000(%rip): ten bytes, single-stepped (RIP-relative) */
#define CMP_RIP 0x81, 0x3d, 0x00, 0x10, 0x00, 0x00, 0x00, 0xba, 0x1c, 0x32
/* mov 0x2000(%rip),%rax */
#define MOV_RIP_RAX 0x48, 0x8b, 0x05, 0x00, 0x20, 0x00, 0x00
/* jmp *0x3000(%rip) */
#define JMP_IND 0xff, 0x25, 0x00, 0x30, 0x00, 0x00
/* nopw 0x0(%rax,%rax,1); mov $4,%eax; ret; xchg %ax,%ax */
#define TAIL 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, 0x04, 0x00, 0x00, 0x00, 0xc3, 0x66, 0x90

static const struct code cases[] = {
	{ "push %rbp first (the fakes, HIP)", { 0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3 }, 6, 0 },
	{ "R535: cmp (RIP-relative); je -> at the je",
	  { CMP_RIP, 0x74, 0x0c, JMP_IND, TAIL },
	  32,
	  10 },
	{ "OpenCL ICD loader: mov (RIP-relative),%rax; push %rbx -> at the push",
	  { MOV_RIP_RAX, 0x53, 0x48, 0x85, 0xc0, 0x5b, 0xc3 },
	  13,
	  7 },
	{ "Level Zero loader: mov; mov (%rax),%r10; mov 0x1f0(%r10),%rax; test; je -> at the je",
	  { MOV_RIP_RAX, 0x4c, 0x8b, 0x10, 0x49, 0x8b, 0x82, 0xf0, 0x01, 0x00, 0x00,
	    0x48,	 0x85, 0xc0, 0x74, 0x02, 0xff, 0xe0, 0x31, 0xc0, 0xc3 },
	  27,
	  20 },
	{ "endbr64; push %rbp -> at the push", { 0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x5d, 0xc3 }, 7, 4 },
	{ "jmp rel32 first: emulated, stays", { 0xe9, 0x00, 0x00, 0x00, 0x00, 0xc3 }, 6, 0 },
	{ "mov %rax,%rdi (an argument) before the push: stays at 0",
	  { 0x48, 0x89, 0xc7, 0x55, 0x5d, 0xc3 },
	  6,
	  0 },
	{ "mov %eax,%r9d (the 6th argument, a part of it) before: stays at 0",
	  { 0x41, 0x89, 0xc1, 0x55, 0x5d, 0xc3 },
	  6,
	  0 },
	{ "sub $8,%rsp (the stack pointer) before: stays at 0",
	  { 0x48, 0x83, 0xec, 0x08, 0x55, 0x5d, 0xc3 },
	  7,
	  0 },
	{ "mov %rax,0x10(%rip) (memory) before: stays at 0",
	  { 0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00, 0x55, 0x5d, 0xc3 },
	  10,
	  0 },
	{ "jmp *%rax first (a branch, not emulated): stays at 0", { 0xff, 0xe0, 0x55, 0xc3 }, 4, 0 },
	{ "cmp; je; ... jmp back to the je (a loop into the entry block): stays at 0",
	  { CMP_RIP, 0x74, 0x03, 0x48, 0xff, 0xc0, 0xeb, 0xf9, 0xc3 },
	  18,
	  0 },
	{ "cmp; je; ... jmp back to the entry itself: at the je (the entry is not inside)",
	  { CMP_RIP, 0x74, 0x03, 0x48, 0xff, 0xc0, 0xeb, 0xef, 0xc3 },
	  18,
	  10 },
	{ "push %rbp with REX.W (48 55): not a form the kernel emulates, and it writes %rsp",
	  { 0x48, 0x55, 0x5d, 0xc3 },
	  4,
	  0 },
};

static bool entry_at_5(void *ctx, uint64_t address)
{
	return address == BASE + 5;
}

int main(void)
{
	struct gpu_entry_place p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct code *c = &cases[i];
		int r = gpu_entry_place(c->b, c->len, BASE, c->len, GPU_ENTRY_ARGS_ALL, NULL, NULL,
					&p);

		TAP_CHECK(r == 0 && p.offset == c->want, "%s: offset %u (%s, at \"%s\")%s%s",
			  c->what, p.offset, p.emulated ? "emulated" : "single-stepped", p.at,
			  p.why[0] ? ": " : "", p.why);
	}
	/* The R535 form of unknown size, and with another exported function starting at +5. */
	gpu_entry_place(cases[1].b, cases[1].len, BASE, 0, GPU_ENTRY_ARGS_ALL, NULL, NULL, &p);
	TAP_CHECK(p.offset == 0 && strstr(p.why, "size unknown"), "size unknown: stays at 0 (%s)",
		  p.why);
	gpu_entry_place(cases[1].b, cases[1].len, BASE, cases[1].len, GPU_ENTRY_ARGS_ALL,
			entry_at_5, NULL, &p);
	TAP_CHECK(p.offset == 0 && strstr(p.why, "another function"),
		  "another function's entry inside the entry block: stays at 0 (%s)", p.why);
	gpu_entry_place(cases[1].b, cases[1].len, BASE, cases[1].len + 100, GPU_ENTRY_ARGS_ALL,
			NULL, NULL, &p);
	TAP_CHECK(p.offset == 0, "only part of the function's code given: stays at 0 (%s)", p.why);
	/* Bytes that do not decode as instructions inside the function: the scan is incomplete. */
	{
		uint8_t b[40];

		memcpy(b, cases[1].b, cases[1].len);
		memset(b + cases[1].len, 0x0f, 2); /* 0f 0f without its operand: not decodable */
		gpu_entry_place(b, cases[1].len + 2, BASE, cases[1].len + 2, GPU_ENTRY_ARGS_ALL,
				NULL, NULL, &p);
		TAP_CHECK(p.offset == 0 && strstr(p.why, "branch may land"),
			  "undecodable bytes in the function: stays at 0 (%s)", p.why);
	}

	/* Level Zero's zeKernelSetGroupSize: mov; mov (%rax),%r8; mov 0x350(%r8),%rax; test; je.
	 * It writes r8, the 5th argument: the probe moves when its program does not read r8. */
	{
		static const uint8_t zsgs[] = { MOV_RIP_RAX, 0x4c, 0x8b, 0x00, 0x49, 0x8b, 0x80,
						0x50,	     0x03, 0x00, 0x00, 0x48, 0x85, 0xc0,
						0x74,	     0x02, 0xff, 0xe0, 0x31, 0xc0, 0xc3 };

		gpu_entry_place(zsgs, sizeof(zsgs), BASE, sizeof(zsgs),
				GPU_ENTRY_ARG(1) | GPU_ENTRY_ARG(2) | GPU_ENTRY_ARG(3) |
					GPU_ENTRY_ARG(4),
				NULL, NULL, &p);
		TAP_CHECK(p.offset == 20, "r8 written first, the probe reads arguments 1-4: at +%u",
			  p.offset);
		gpu_entry_place(zsgs, sizeof(zsgs), BASE, sizeof(zsgs), GPU_ENTRY_ARG(5), NULL,
				NULL, &p);
		TAP_CHECK(p.offset == 0, "r8 written first, the probe reads argument 5: at +%u",
			  p.offset);
	}

	/* The kernel's forms, byte by byte. */
	static const struct {
		uint8_t b[8];
		size_t len;
		bool emulated;
		const char *what;
	} forms[] = {
		{ { 0x55 }, 1, true, "push %rbp" },
		{ { 0x41, 0x57 }, 2, true, "push %r15" },
		{ { 0x48, 0x55 }, 2, false, "push %rbp with REX.W" },
		{ { 0xe8, 1, 2, 3, 4 }, 5, true, "call rel32" },
		{ { 0x66, 0xe8, 1, 2 }, 4, false, "callw (0x66 prefix)" },
		{ { 0xeb, 0x10 }, 2, true, "jmp rel8" },
		{ { 0x0f, 0x84, 1, 2, 3, 4 }, 6, true, "je rel32" },
		{ { 0x74, 0x02 }, 2, true, "je rel8" },
		{ { 0xc3 }, 1, false, "ret" },
		{ { 0x90 }, 1, false, "nop (emulated by newer kernels only)" },
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, 4, false, "endbr64" },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		TAP_CHECK(gpu_entry_emulated(forms[i].b, forms[i].len) == forms[i].emulated,
			  "%s: %s", forms[i].what,
			  forms[i].emulated ? "emulated" : "single-stepped");
	return tap_done();
}
