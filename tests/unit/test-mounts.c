// SPDX-License-Identifier: GPL-2.0-only
/* Mount tables through libmount: the cgroup2 and cgroup v1 hierarchies found in a mountinfo
 * file, mount points with the kernel's octal escapes ("\040" for a space) decoded, bind mounts
 * of a subdirectory passed over, and this process's own table read. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attribute.h"
#include "tap.h"

/* Lines as the kernel writes them (fs/proc_namespace.c: show_mountinfo, mangle()). */
static const char table[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	/* a bind mount of a subdirectory of the hierarchy: not where its paths start */
	"30 22 0:26 /sub /mnt/cg\\040bind rw,nosuid shared:8 - cgroup2 cgroup2 rw\n"
	"31 22 0:26 / /sys/fs/cgroup/my\\040unified rw,nosuid,nodev,noexec shared:9 - cgroup2 "
	"cgroup2 rw,nsdelegate\n"
	"32 22 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup "
	"rw,cpu,cpuacct\n"
	"33 22 0:28 / /sys/fs/cgroup/free\\011zer\\134x rw,nosuid shared:11 - cgroup cgroup "
	"rw,freezer\n";

static int write_table(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

int main(void)
{
	char path[] = "/tmp/hpcmeter-mountinfo-XXXXXX", buf[PATH_MAX], small[8];
	int fd = mkstemp(path), r;

	if (fd < 0 || write_table(path, table) < 0) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	close(fd);

	r = cgroup_mount_find_in(path, HPCM_V1_NONE, buf, sizeof(buf));
	TAP_CHECK(r == 0 && strcmp(buf, "/sys/fs/cgroup/my unified") == 0,
		  "cgroup2: \\040 decoded to a space, the bind mount passed over (r=%d, \"%s\")", r,
		  r == 0 ? buf : "");
	r = cgroup_mount_find_in(path, HPCM_V1_CPUACCT, buf, sizeof(buf));
	TAP_CHECK(r == 0 && strcmp(buf, "/sys/fs/cgroup/cpu,cpuacct") == 0,
		  "cpuacct: found among the super block's options (r=%d, \"%s\")", r,
		  r == 0 ? buf : "");
	r = cgroup_mount_find_in(path, HPCM_V1_FREEZER, buf, sizeof(buf));
	TAP_CHECK(r == 0 && strcmp(buf, "/sys/fs/cgroup/free\tzer\\x") == 0,
		  "freezer: \\011 and \\134 decoded to a tab and a backslash (r=%d)", r);
	r = cgroup_mount_find_in(path, HPCM_V1_MEMORY, buf, sizeof(buf));
	TAP_CHECK(r == -ENOENT, "memory: not mounted, -ENOENT (r=%d)", r);
	r = cgroup_mount_find_in(path, HPCM_V1_NONE, small, sizeof(small));
	TAP_CHECK(r == -ENAMETOOLONG, "a buffer too small: -ENAMETOOLONG (r=%d)", r);

	write_table(path, "22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw\n");
	r = cgroup_mount_find_in(path, HPCM_V1_NONE, buf, sizeof(buf));
	TAP_CHECK(r == -ENOENT, "no cgroup2 line: -ENOENT (r=%d)", r);
	unlink(path);
	r = cgroup_mount_find_in(path, HPCM_V1_NONE, buf, sizeof(buf));
	TAP_CHECK(r < 0, "a missing table: an error (r=%d)", r);

	/* This process's table: the host has a cgroup2 mount (FACTS.md), and the answer is a
	 * directory. */
	r = cgroup2_mount_find(buf, sizeof(buf));
	TAP_CHECK(r == 0 && access(buf, R_OK) == 0, "this process's table: cgroup2 at %s (r=%d)",
		  r == 0 ? buf : "?", r);
	return tap_done();
}
