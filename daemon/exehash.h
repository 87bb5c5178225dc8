/* SPDX-License-Identifier: GPL-2.0-only */
/* SHA-256 of the files processes run, for end_use.prohibited_executable_sha256: a copy or a
 * rename of a prohibited program keeps its content. Hashed in the daemon (never in the kernel),
 * once per file identity and cached. */
#pragma once

#include <stdint.h>

#define EXEHASH_HEX_LEN 64

struct exehash;

int exehash_new(struct exehash **ret);
void exehash_free(struct exehash *h);

/* The lowercase hex SHA-256 of what process tgid runs: its executable through /proc/TGID/exe
 * (which also reaches a memfd or a deleted file while the process lives), else the file at
 * path (the path the kernel resolved at exec; the process may be gone already). With
 * script set: the file it was run by (a script, whose executable is the interpreter), at
 * script when absolute, else relative to the process's working directory. Returns 0 and fills
 * ret (EXEHASH_HEX_LEN + 1 bytes), or -errno. */
int exehash_process(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret);

/* Files hashed (cache misses) and bytes read, for the status. */
void exehash_stats(const struct exehash *h, uint64_t *files, uint64_t *bytes);
