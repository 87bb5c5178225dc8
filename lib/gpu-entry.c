// SPDX-License-Identifier: GPL-2.0-only
/* Places a uprobe where the kernel emulates the instruction instead of single-stepping it:
 * NVIDIA's R535 entry points start with a RIP-relative cmp (single-stepped, ~19 us per call on
 * this VM) followed by a jcc (emulated, ~5 us), the OpenCL ICD loader's with a RIP-relative mov
 * followed by push %rbx. The function's code is decoded with capstone (Debian's libcapstone). */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gpu-entry.h"

#define MAX_WALK 16 /* instructions looked at from the entry */
#define MAX_FUNC 65536 /* bytes of a function decoded for branch targets */

bool gpu_entry_emulated(const uint8_t *b, size_t len)
{
	if (len == 1 && b[0] >= 0x50 && b[0] <= 0x57)
		return true; /* push %r64 */
	if (len == 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57)
		return true; /* push %r8..%r15 */
	if ((len == 5 && (b[0] == 0xe8 || b[0] == 0xe9)) || (len == 2 && b[0] == 0xeb))
		return true; /* call rel32, jmp rel32, jmp rel8 */
	if (len == 2 && b[0] >= 0x70 && b[0] <= 0x7f)
		return true; /* jcc rel8 */
	if (len == 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f)
		return true; /* jcc rel32 */
	return false;
}

static void text(const cs_insn *i, char *buf, size_t len)
{
	/* Cut to the buffer: for people, in the log and the status. */
	if (snprintf(buf, len, "%s%s%s", i->mnemonic, i->op_str[0] ? " " : "", i->op_str) >=
	    (int)len)
		buf[len - 1] = '\0';
}

static bool is_control(csh h, const cs_insn *i)
{
	return cs_insn_group(h, i, CS_GRP_JUMP) || cs_insn_group(h, i, CS_GRP_CALL) ||
	       cs_insn_group(h, i, CS_GRP_RET) || cs_insn_group(h, i, CS_GRP_INT) ||
	       cs_insn_group(h, i, CS_GRP_IRET) || cs_insn_group(h, i, CS_GRP_PRIVILEGE);
}

/* One of the argument registers in args, the stack pointer, or a part of one. */
static bool watched_reg(uint16_t r, unsigned args)
{
	static const struct {
		uint16_t reg;
		unsigned arg; /* 0: the stack pointer, always watched */
	} regs[] = {
		{ X86_REG_RDI, 1 }, { X86_REG_EDI, 1 }, { X86_REG_DI, 1 },  { X86_REG_DIL, 1 },
		{ X86_REG_RSI, 2 }, { X86_REG_ESI, 2 }, { X86_REG_SI, 2 },  { X86_REG_SIL, 2 },
		{ X86_REG_RDX, 3 }, { X86_REG_EDX, 3 }, { X86_REG_DX, 3 },  { X86_REG_DL, 3 },
		{ X86_REG_DH, 3 },  { X86_REG_RCX, 4 }, { X86_REG_ECX, 4 }, { X86_REG_CX, 4 },
		{ X86_REG_CL, 4 },  { X86_REG_CH, 4 },	{ X86_REG_R8, 5 },  { X86_REG_R8D, 5 },
		{ X86_REG_R8W, 5 }, { X86_REG_R8B, 5 }, { X86_REG_R9, 6 },  { X86_REG_R9D, 6 },
		{ X86_REG_R9W, 6 }, { X86_REG_R9B, 6 }, { X86_REG_RSP, 0 }, { X86_REG_ESP, 0 },
		{ X86_REG_SP, 0 },  { X86_REG_SPL, 0 },
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (regs[i].reg == r)
			return !regs[i].arg || (args & GPU_ENTRY_ARG(regs[i].arg));
	return false;
}

/* Can the instruction run before the probe without the probe seeing anything else than at the
 * entry, and does every call go on past it? */
static bool harmless(csh h, const cs_insn *i, unsigned args)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	const cs_x86 *x = &i->detail->x86;

	if (is_control(h, i))
		return false;
	if (cs_regs_access(h, i, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return false;
	for (uint8_t k = 0; k < nwr; k++)
		if (watched_reg(wr[k], args))
			return false;
	for (uint8_t k = 0; k < x->op_count; k++)
		if (x->operands[k].type == X86_OP_MEM && (x->operands[k].access & CS_AC_WRITE))
			return false;
	return true;
}

/* A direct branch or call of the function whose target is after the entry and up to limit. */
static bool lands_in(csh h, const uint8_t *code, size_t len, uint64_t addr, uint64_t limit,
		     bool *complete)
{
	cs_insn *i = cs_malloc(h);
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = addr;
	bool found = false;

	*complete = true;
	if (!i) {
		*complete = false;
		return false;
	}
	while (left > 0) {
		if (!cs_disasm_iter(h, &p, &left, &a, i)) {
			/* Not code we can decode (data, padding): the scan says nothing. */
			*complete = false;
			break;
		}
		if (!cs_insn_group(h, i, CS_GRP_JUMP) && !cs_insn_group(h, i, CS_GRP_CALL))
			continue;
		for (uint8_t k = 0; k < i->detail->x86.op_count; k++) {
			uint64_t t = (uint64_t)i->detail->x86.operands[k].imm;

			if (i->detail->x86.operands[k].type == X86_OP_IMM && t > addr && t <= limit)
				found = true;
		}
	}
	cs_free(i, 1);
	return found;
}

int gpu_entry_place(const uint8_t *code, size_t len, uint64_t addr, uint64_t size, unsigned args,
		    bool (*is_entry)(void *ctx, uint64_t address), void *ctx,
		    struct gpu_entry_place *ret)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = addr;
	cs_insn *i = NULL;
	csh h;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	ret->why = "";
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	i = cs_malloc(h);
	if (!i) {
		r = -ENOMEM;
		goto out;
	}
	for (int n = 0; n < MAX_WALK && left > 0; n++) {
		uint64_t here = a;

		if (!cs_disasm_iter(h, &p, &left, &a, i)) {
			ret->why = "undecodable instruction";
			break;
		}
		if (n == 0)
			text(i, ret->first, sizeof(ret->first));
		if (gpu_entry_emulated(i->bytes, i->size)) {
			if (n > 0) {
				bool complete;

				if (!size) {
					ret->why = "function size unknown";
					break;
				}
				if (lands_in(h, code, size < len ? size : len, addr, here,
					     &complete) ||
				    !complete || size > len) {
					ret->why = "a branch may land in the entry block";
					break;
				}
				for (uint64_t e = addr + 1; is_entry && e <= here; e++)
					if (is_entry(ctx, e)) {
						ret->why =
							"another function starts in the entry block";
						goto out;
					}
			}
			ret->offset = (uint32_t)(here - addr);
			ret->emulated = true;
			text(i, ret->at, sizeof(ret->at));
			break;
		}
		if (!harmless(h, i, args)) {
			ret->why = "an instruction before any emulated one branches or changes an "
				   "argument read, the stack pointer or memory";
			break;
		}
	}
	if (!ret->emulated && !ret->why[0])
		ret->why = "no emulated instruction near the entry";
out:
	if (!ret->emulated)
		snprintf(ret->at, sizeof(ret->at), "%s", ret->first);
	if (i)
		cs_free(i, 1);
	cs_close(&h);
	return r;
}
