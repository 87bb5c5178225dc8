// SPDX-License-Identifier: GPL-2.0-only
/* A small FUSE filesystem for the digest worker's test (test-digest-worker.sh): FILE served
 * read-only as MOUNTPOINT/prog and MOUNTPOINT/prog2 (mode 0755; two inodes, so two file
 * identities of the same content). A read that reaches past OFFSET waits until the file
 * GATE exists, so a reader of the whole file (hpcmeterd's digest worker) is held for as long as
 * the test wants, whatever the machine's load, while the program's head (what exec and the
 * dynamic loader read) is served at once.
 * usage: gatefs FILE OFFSET GATE MOUNTPOINT (stays in the foreground until unmounted) */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
	int fd;
	off_t size, offset;
	const char *gate;
} g;

static int is_file(const char *path)
{
	return strcmp(path, "/prog") == 0 || strcmp(path, "/prog2") == 0;
}

static int gfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!is_file(path))
		return -ENOENT;
	st->st_mode = S_IFREG | 0755;
	st->st_nlink = 1;
	st->st_size = g.size;
	return 0;
}

static int gfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "prog", NULL, 0, 0);
	fill(buf, "prog2", NULL, 0, 0);
	return 0;
}

static int gfs_open(const char *path, struct fuse_file_info *fi)
{
	if (!is_file(path))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	/* The content never changes: an open must not drop the cache, which would wait for
	 * the pages of a read held at the gate. */
	fi->keep_cache = 1;
	return 0;
}

static int gfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	ssize_t n;

	/* Held at the gate: a wait for the test's signal, not a delay. */
	while (off + (off_t)size > g.offset && access(g.gate, F_OK) != 0)
		nanosleep(&tick, NULL);
	n = pread(g.fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static const struct fuse_operations ops = {
	.getattr = gfs_getattr,
	.readdir = gfs_readdir,
	.open = gfs_open,
	.read = gfs_read,
};

int main(int argc, char **argv)
{
	struct stat st;
	char *fargv[] = { argv[0], "-f", "-o", "allow_other,ro", argv[4], NULL };

	if (argc != 5) {
		fprintf(stderr, "usage: gatefs FILE OFFSET GATE MOUNTPOINT\n");
		return 2;
	}
	g.fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (g.fd < 0 || fstat(g.fd, &st) < 0) {
		fprintf(stderr, "gatefs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	g.size = st.st_size;
	g.offset = strtoll(argv[2], NULL, 0);
	g.gate = argv[3];
	return fuse_main(5, fargv, &ops, NULL);
}
