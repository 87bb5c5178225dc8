/* SPDX-License-Identifier: GPL-2.0-only */
/* SHA-256 of the files processes run, for end_use.prohibited_executable_sha256: a copy or a
 * rename of a prohibited program keeps its content. Hashed in the daemon (never in the kernel),
 * once per file identity and cached; a file past EXEHASH_SYNC_MAX by a worker thread, so that
 * the daemon's loop never waits for a large read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEHASH_HEX_LEN 64
/* Hashed in line up to this size (under a millisecond), by the worker past it. */
#define EXEHASH_SYNC_MAX (1 << 20)
/* exehash_request(): the worker hashes the file; its ticket comes back to exehash_complete(). */
#define EXEHASH_PENDING 1

struct exehash;

int exehash_new(struct exehash **ret);
void exehash_free(struct exehash *h);

/* The lowercase hex SHA-256 of what process tgid runs: its executable through /proc/TGID/exe
 * (which also reaches a memfd or a deleted file while the process lives), else the file at
 * path (the path the kernel resolved at exec; the process may be gone already, or run another
 * program since: in the daemon's mount namespace the file at path is then hashed). With
 * script set: the file it was run by (a script, whose executable is the interpreter), at
 * script when absolute, else relative to the process's working directory. Returns 0 and fills
 * ret (EXEHASH_HEX_LEN + 1 bytes), or -errno. */
int exehash_process(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret);

/* The same, off the loop: opens and fstat()s the file (the process may exit soon) and returns
 * 0 with ret filled (cached, or small enough to hash now), EXEHASH_PENDING with ret_ticket set
 * when the worker reads it (one ticket per file identity in flight: a second process of the
 * same file gets the same ticket), or -errno. With the worker's queue full, it hashes in line:
 * slower, never blind. */
int exehash_request(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret, uint64_t *ret_ticket);
/* Readable (EPOLLIN) when the worker has results; then call exehash_complete(), which caches
 * each and calls done(ticket, 0, hex) or done(ticket, -errno, NULL). Returns how many. */
int exehash_event_fd(const struct exehash *h);
int exehash_complete(struct exehash *h,
		     void (*done)(uint64_t ticket, int error, const char *hex, void *userdata),
		     void *userdata);

/* A program run through the dynamic loader (ld.so PROGRAM) is mapped, not executed: the files
 * process tgid maps executable, but skip (the loader), hashed until want() accepts a digest;
 * a large one not cached yet goes to the worker (a later call finds it cached). Returns 1 with its path and digest, 0 when none is wanted, or -errno. */
int exehash_mapped(struct exehash *h, uint32_t tgid, const char *skip,
		   bool (*want)(const char *hex, void *userdata), void *userdata, char *ret_path,
		   size_t path_size, char *ret_hex);
/* Is this executable the dynamic loader (whose argument is the program it runs)? */
bool exehash_is_loader(const char *path);

/* Files hashed (cache misses) and bytes read, for the status; files with the worker now.
 * exehash_free() stops the worker (between two reads) and joins it. */
void exehash_stats(const struct exehash *h, uint64_t *files, uint64_t *bytes);
unsigned exehash_pending(const struct exehash *h);
