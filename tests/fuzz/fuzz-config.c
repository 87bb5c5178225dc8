/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: the daemon's config parser (hpcmeterd.conf, key = value) on arbitrary
 * bytes. Every input loads or fails with -EINVAL/-EIO and a message naming the file and, for
 * content errors, the line; a loaded config holds only values in range (absolute paths,
 * interval 1..3600, tolerance 1..100, a known cgroup_v1 mode). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static bool path_ok(const char *p, size_t size, bool may_be_empty)
{
	if (!memchr(p, '\0', size))
		return false;
	return p[0] == '/' || (may_be_empty && !p[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const v1[] = { "auto", "none", "freezer", "cpuacct", "memory" };
	static struct config c;
	char err[512] = "";
	bool v1_ok = false;
	int r;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	config_defaults(&c);
	r = config_load(&c, path, err, sizeof(err));
	if (r < 0) {
		/* A clear error: it names the file, and a content error names the line. */
		if ((r != -EINVAL && r != -EIO) || strncmp(err, path, strlen(path)) != 0)
			abort();
		if (r == -EINVAL && err[strlen(path)] != ':')
			abort();
		return 0;
	}
	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++)
		v1_ok |= strcmp(c.cgroup_v1, v1[i]) == 0;
	if (c.interval_sec < 1 || c.interval_sec > CONFIG_MAX_INTERVAL_SEC ||
	    c.kmeter_tolerance_pct < 1 || c.kmeter_tolerance_pct > 100 ||
	    c.retention_days < CONFIG_MIN_RETENTION_DAYS || !v1_ok ||
	    !path_ok(c.licenses_dir, sizeof(c.licenses_dir), false) ||
	    !path_ok(c.state_dir, sizeof(c.state_dir), false) ||
	    !path_ok(c.bpf_pin_dir, sizeof(c.bpf_pin_dir), true) ||
	    !path_ok(c.metrics_file, sizeof(c.metrics_file), true) ||
	    !path_ok(c.accelerators_file, sizeof(c.accelerators_file), false))
		abort();
	return 0;
}
