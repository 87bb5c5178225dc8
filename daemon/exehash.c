// SPDX-License-Identifier: GPL-2.0-only
/* SHA-256 of executables and scripts, cached by file identity (exehash.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exehash.h"
#include "util.h"

/* Distinct files remembered; past it the cache starts afresh (a user making endless copies
 * costs the daemon one read of each, no memory). */
#define EXEHASH_CACHE_MAX 4096
#define EXEHASH_CHUNK (256 * 1024)

/* A file's identity: the same inode with other content has another size or change time
 * (ctime cannot be set back from user space, unlike mtime). */
struct file_digest {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	char hex[EXEHASH_HEX_LEN + 1];
};

struct exehash {
	void *tree;
	size_t n;
	uint64_t files, bytes;
};

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct file_digest *a = x, *b = y;
	int c;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	c = ts_cmp(&a->mtime, &b->mtime);
	return c ? c : ts_cmp(&a->ctime, &b->ctime);
}

int exehash_new(struct exehash **ret)
{
	struct exehash *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	*ret = h;
	return 0;
}

void exehash_free(struct exehash *h)
{
	if (!h)
		return;
	tdestroy(h->tree, free);
	free(h);
}

void exehash_stats(const struct exehash *h, uint64_t *files, uint64_t *bytes)
{
	*files = h ? h->files : 0;
	*bytes = h ? h->bytes : 0;
}

/* Hash the whole file: read(), not mmap (a file truncated meanwhile gives a short read, not
 * a SIGBUS in the daemon). */
static int hash_fd(struct exehash *h, int fd, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	_cleanup_free_ char *buf = malloc(EXEHASH_CHUNK);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = 0;

	if (!buf || !c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(c);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t k = read(fd, buf, EXEHASH_CHUNK);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		EVP_DigestUpdate(c, buf, k);
		h->bytes += k;
	}
	if (r == 0 && (!EVP_DigestFinal_ex(c, md, &n) || n != EXEHASH_HEX_LEN / 2))
		r = -EIO;
	EVP_MD_CTX_free(c);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	h->files++;
	return 0;
}

static int hash_file(struct exehash *h, int fd, char *ret)
{
	struct file_digest key = {}, *e;
	struct stat st;
	void *node;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	key.dev = st.st_dev;
	key.ino = st.st_ino;
	key.size = st.st_size;
	key.mtime = st.st_mtim;
	key.ctime = st.st_ctim;
	node = tfind(&key, &h->tree, entry_cmp);
	if (node) {
		memcpy(ret, (*(struct file_digest **)node)->hex, EXEHASH_HEX_LEN + 1);
		return 0;
	}
	r = hash_fd(h, fd, key.hex);
	if (r < 0)
		return r;
	memcpy(ret, key.hex, EXEHASH_HEX_LEN + 1);
	if (h->n >= EXEHASH_CACHE_MAX) {
		tdestroy(h->tree, free);
		h->tree = NULL;
		h->n = 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return 0; /* hashed, just not remembered */
	*e = key;
	if (!tsearch(e, &h->tree, entry_cmp)) {
		free(e);
		return 0;
	}
	h->n++;
	return 0;
}

int exehash_process(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret)
{
	char name[PATH_MAX + 64];
	_cleanup_close_ int fd = -1;

	if (script) {
		if (script[0] == '/')
			snprintf(name, sizeof(name), "%s", script);
		else
			snprintf(name, sizeof(name), "/proc/%u/cwd/%s", tgid, script);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	} else {
		snprintf(name, sizeof(name), "/proc/%u/exe", tgid);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && path && path[0] == '/')
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0)
		return -errno;
	return hash_file(h, fd, ret);
}

int exehash_mapped(struct exehash *h, uint32_t tgid, const char *skip,
		   bool (*want)(const char *hex, void *userdata), void *userdata, char *ret_path,
		   size_t path_size, char *ret_hex)
{
	char name[128], line[PATH_MAX + 256], last[PATH_MAX] = "";
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(name, sizeof(name), "/proc/%u/maps", tgid);
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char range[64], perms[8], path[PATH_MAX], hex[EXEHASH_HEX_LEN + 1];
		_cleanup_close_ int fd = -1;

		path[0] = '\0';
		/* "start-end perms offset dev inode path" */
		if (sscanf(line, "%63s %7s %*s %*s %*s %4095[^\n]", range, perms, path) < 3 ||
		    !strchr(perms, 'x') || path[0] != '/' || (skip && streq(path, skip)) ||
		    streq(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		/* The mapped file itself, whatever became of its name. */
		snprintf(name, sizeof(name), "/proc/%u/map_files/%s", tgid, range);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || hash_file(h, fd, hex) < 0 || !want(hex, userdata))
			continue;
		snprintf(ret_path, path_size, "%s", path);
		memcpy(ret_hex, hex, sizeof(hex));
		return 1;
	}
	return 0;
}

bool exehash_is_loader(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	/* glibc's ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2; musl's ld-musl-*.so.1 */
	return base && (strncmp(base, "ld-", 3) == 0 || strncmp(base, "ld64.so", 7) == 0 ||
			strncmp(base, "ld.so", 5) == 0);
}
