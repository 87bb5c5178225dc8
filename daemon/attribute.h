/* SPDX-License-Identifier: GPL-2.0-only */
/* Attribution: cgroup v2 id -> path -> Slurm job; uid -> user name and groups. Cached. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
