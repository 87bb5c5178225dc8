/* SPDX-License-Identifier: GPL-2.0-only */
/* Attribution: cgroup v2 id -> path -> Slurm job; uid -> user name and groups. Cached. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpcmeter_bpf.h"

struct attributor;

struct user_info {
	uid_t uid;
	char *name; /* the uid in decimal when it has no passwd entry */
	char *display_name; /* name as valid UTF-8, for the ledger and the bus */
	char **groups; /* names of the primary and supplementary groups */
	size_t n_groups;
};

int attributor_new(struct attributor **ret);
void attributor_free(struct attributor *a);

/* Where cgroup2 is mounted ("/sys/fs/cgroup" or, on hybrid hosts, "/sys/fs/cgroup/unified"). */
const char *attributor_cgroup_mount(const struct attributor *a);

/* Path of cgroup v2 id below the cgroup2 mount ("/" for the root). Returns 0 and a pointer
 * owned by the cache, or -errno (-ESTALE: the cgroup is gone). */
int attributor_cgroup_path(struct attributor *a, uint64_t id, const char **ret);

/* Follow a cgroup v1 hierarchy too: setting is "auto" (freezer, cpuacct or memory, the first
 * mounted; none on a pure v2 host), "none", or a controller name. Returns 0 and the chosen
 * controller, or -ENOENT (not mounted), -EINVAL (unknown name). */
int attributor_follow_v1(struct attributor *a, const char *setting, enum hpcm_v1_controller *ret);
const char *attributor_v1_mount(const struct attributor *a);

/* Path of a cgroup in the followed v1 hierarchy, below its mount. -ENOENT when none is
 * followed or id is 0. */
int attributor_cgroup_v1_path(struct attributor *a, uint64_t id, const char **ret);

const char *cgroup_v1_controller_name(enum hpcm_v1_controller c);
int cgroup_v1_controller_from_string(const char *s, enum hpcm_v1_controller *ret);
/* Where the v1 hierarchy of controller c is mounted. */
int cgroup_v1_mount_find(enum hpcm_v1_controller c, char *buf, size_t size);
/* Where the cgroup2 hierarchy (c HPCM_V1_NONE) or controller c's v1 hierarchy is mounted, the
 * whole hierarchy (root "/"), in a table of /proc/PID/mountinfo's format (mountinfo NULL:
 * this process's), read by libmount: escapes such as "\040" are decoded. 0, -ENOENT when
 * none, -ENAMETOOLONG, or the parser's -errno. */
int cgroup_mount_find_in(const char *mountinfo, enum hpcm_v1_controller c, char *buf, size_t size);

/* Start a new generation of the cgroup path cache, dropping the paths not looked up during
 * the one before. Call it at a fixed pace (the manager: once an hour). */
void attributor_age(struct attributor *a);
size_t attributor_cgroups_cached(const struct attributor *a);

/* User name and groups of uid; never fails for lack of a passwd entry. */
int attributor_user(struct attributor *a, uid_t uid, const struct user_info **ret);

/* Forget cached users and groups (after /etc/passwd or /etc/group change). */
void attributor_flush_users(struct attributor *a);

/* The Slurm job id in a cgroup path (".../job_<id>/..."), or "" when it has none. */
void slurm_job_from_cgroup(const char *path, char *buf, size_t size);

/* Find the cgroup2 mount point in /proc/self/mountinfo. */
int cgroup2_mount_find(char *buf, size_t size);
