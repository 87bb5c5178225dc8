// SPDX-License-Identifier: GPL-2.0-only
/* Reads a shared object's dynamic symbol table and SONAME with libelf: the exported functions,
 * sorted by name, and where each one's code is in the file (through the executable PT_LOAD
 * segment that contains it), so that probes can be attached by offset and a file recognised by
 * what it exports rather than by what it is called. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu-elf.h"
#include "util.h"

struct gpu_elf {
	int fd;
	uint64_t file_size;
	Elf *elf;
	char *soname;
	struct gpu_elf_func *funcs; /* sorted by name, then address */
	size_t n_funcs;
	uint64_t *addrs; /* the functions' addresses, sorted */
};

#define VERSYM_HIDDEN 0x8000

static int func_cmp(const void *a, const void *b)
{
	const struct gpu_elf_func *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int addr_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The file offset of address addr: in the executable PT_LOAD segment that maps it. */
static int addr_to_offset(Elf *elf, uint64_t addr, uint64_t *ret)
{
	size_t n;

	if (elf_getphdrnum(elf, &n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_filesz) {
			*ret = addr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static int read_dynamic(struct gpu_elf *e, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!data || !sh->sh_entsize)
		return 0;
	for (size_t i = 0; i < sh->sh_size / sh->sh_entsize; i++) {
		GElf_Dyn dyn;
		const char *s;

		if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_SONAME)
			continue;
		s = elf_strptr(e->elf, sh->sh_link, dyn.d_un.d_val);
		if (s && !e->soname) {
			e->soname = strdup(s);
			if (!e->soname)
				return -ENOMEM;
		}
	}
	return 0;
}

static int read_dynsym(struct gpu_elf *e, Elf_Scn *scn, const GElf_Shdr *sh, Elf_Data *versym)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	e->funcs = calloc(n ? n : 1, sizeof(*e->funcs));
	if (!e->funcs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct gpu_elf_func *f = &e->funcs[e->n_funcs];
		GElf_Versym vs = 0;
		GElf_Sym sym;
		int type, bind;

		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		bind = GELF_ST_BIND(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || bind == STB_LOCAL ||
		    GELF_ST_VISIBILITY(sym.st_other) == STV_HIDDEN)
			continue;
		f->name = elf_strptr(e->elf, sh->sh_link, sym.st_name);
		if (!f->name || !f->name[0])
			continue;
		/* A segment may claim more than the file holds (a crafted file): a function whose
		 * code is not in the file is not one a probe can go on. */
		if (addr_to_offset(e->elf, sym.st_value, &f->offset) < 0 ||
		    f->offset >= e->file_size)
			continue;
		if (versym)
			gelf_getversym(versym, (int)i, &vs);
		f->addr = sym.st_value;
		f->size = sym.st_size;
		f->default_version = !(vs & VERSYM_HIDDEN);
		e->n_funcs++;
	}
	qsort(e->funcs, e->n_funcs, sizeof(*e->funcs), func_cmp);
	e->addrs = calloc(e->n_funcs ? e->n_funcs : 1, sizeof(*e->addrs));
	if (!e->addrs)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_funcs; i++)
		e->addrs[i] = e->funcs[i].addr;
	qsort(e->addrs, e->n_funcs, sizeof(*e->addrs), addr_cmp);
	return 0;
}

int gpu_elf_open(int fd, struct gpu_elf **ret)
{
	struct gpu_elf *e;
	Elf_Scn *scn = NULL, *dynsym = NULL;
	Elf_Data *versym = NULL;
	GElf_Shdr dynsym_sh = { 0 };
	struct stat st;
	int r = 0;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (e->fd < 0 || fstat(e->fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	e->file_size = (uint64_t)st.st_size;
	/* A private read-only mapping of the file, never an executable one: the meter's own
	 * reads are not mappings it reports to itself. */
	e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf) {
		r = -EINVAL;
		goto fail;
	}
	if (elf_kind(e->elf) != ELF_K_ELF) {
		r = -ENOEXEC;
		goto fail;
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNAMIC) {
			r = read_dynamic(e, scn, &sh);
			if (r < 0)
				goto fail;
		} else if (sh.sh_type == SHT_DYNSYM && !dynsym) {
			dynsym = scn;
			dynsym_sh = sh;
		} else if (sh.sh_type == SHT_GNU_versym) {
			versym = elf_getdata(scn, NULL);
		}
	}
	if (dynsym) {
		r = read_dynsym(e, dynsym, &dynsym_sh, versym);
		if (r < 0)
			goto fail;
	}
	*ret = e;
	return 0;
fail:
	gpu_elf_free(e);
	return r;
}

void gpu_elf_free(struct gpu_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	free(e->soname);
	free(e->funcs);
	free(e->addrs);
	free(e);
}

const char *gpu_elf_soname(const struct gpu_elf *e)
{
	return e->soname ? e->soname : "";
}

size_t gpu_elf_n_funcs(const struct gpu_elf *e)
{
	return e->n_funcs;
}

size_t gpu_elf_funcs(const struct gpu_elf *e, const char *name, struct gpu_elf_func *ret, size_t n)
{
	size_t lo = 0, hi = e->n_funcs, found = 0;

	/* The first entry with this name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(e->funcs[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < e->n_funcs && streq(e->funcs[i].name, name); i++) {
		if (found && e->funcs[i].addr == e->funcs[i - 1].addr)
			continue;
		if (found < n)
			ret[found] = e->funcs[i];
		found++;
	}
	return found;
}

size_t gpu_elf_aliases(const struct gpu_elf *e, const struct gpu_elf_func *func, const char **ret,
		       size_t n)
{
	size_t found = 0;

	for (size_t i = 0; i < e->n_funcs; i++) {
		bool dup = false;

		if (e->funcs[i].addr != func->addr)
			continue;
		/* One name in several versions at one address is one alias. */
		for (size_t k = 0; k < found && k < n; k++)
			dup |= streq(ret[k], e->funcs[i].name);
		if (dup)
			continue;
		if (found < n)
			ret[found] = e->funcs[i].name;
		found++;
	}
	return found;
}

bool gpu_elf_is_entry(const struct gpu_elf *e, uint64_t addr)
{
	return e->addrs && bsearch(&addr, e->addrs, e->n_funcs, sizeof(*e->addrs), addr_cmp);
}

ssize_t gpu_elf_read(const struct gpu_elf *e, uint64_t offset, void *buf, size_t len)
{
	ssize_t r = pread(e->fd, buf, len, (off_t)offset);

	return r < 0 ? -errno : r;
}
