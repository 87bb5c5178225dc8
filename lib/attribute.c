// SPDX-License-Identifier: GPL-2.0-only
/* Attribution of kernel identities (cgroup v2 ids, uids) to names an operator recognizes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libmount/libmount.h>

#include "attribute.h"
#include "util.h"

static inline void mnt_unref_tablep(struct libmnt_table **tb)
{
	mnt_unref_table(*tb);
}

static inline void mnt_free_iterp(struct libmnt_iter **it)
{
	mnt_free_iter(*it);
}

#ifndef FILEID_KERNFS
#define FILEID_KERNFS 0xfe
#endif

struct cg_entry {
	uint64_t id;
	int root; /* CG_V2 or CG_V1 */
	char *path;
	uint64_t used_in; /* generation of its last lookup */
};

enum { CG_V2, CG_V1 };

struct cg_root {
	char mount[PATH_MAX];
	int fd;
};

struct attributor {
	struct cg_root roots[2]; /* the cgroup2 mount and the followed v1 hierarchy's */
	enum hpcm_v1_controller v1;
	void *cgroups; /* tsearch tree of struct cg_entry */
	size_t n_cgroups;
	uint64_t generation;
	void *users; /* tsearch tree of struct user_info */
};

static const char *const v1_names[] = {
	[HPCM_V1_FREEZER] = "freezer",
	[HPCM_V1_CPUACCT] = "cpuacct",
	[HPCM_V1_MEMORY] = "memory",
};

const char *cgroup_v1_controller_name(enum hpcm_v1_controller c)
{
	return c > 0 && c < ARRAY_SIZE(v1_names) ? v1_names[c] : "none";
}

int cgroup_v1_controller_from_string(const char *s, enum hpcm_v1_controller *ret)
{
	if (streq(s, "none")) {
		*ret = HPCM_V1_NONE;
		return 0;
	}
	for (size_t i = 1; i < ARRAY_SIZE(v1_names); i++)
		if (streq(s, v1_names[i])) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

/* The mount table through libmount, which decodes the octal escapes the kernel writes for
 * spaces, tabs, newlines and backslashes in mount points ("\040"). */
int cgroup_mount_find_in(const char *mountinfo, enum hpcm_v1_controller c, char *buf, size_t size)
{
	_cleanup_(mnt_unref_tablep) struct libmnt_table *tb = mnt_new_table();
	_cleanup_(mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	const char *want = c == HPCM_V1_NONE ? NULL : cgroup_v1_controller_name(c);
	struct libmnt_fs *fs;
	int r;

	if (!tb || !it)
		return -ENOMEM;
	if (want && streq(want, "none"))
		return -EINVAL;
	r = mnt_table_parse_file(tb, mountinfo ? mountinfo : "/proc/self/mountinfo");
	if (r < 0)
		return r;
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs), *root = mnt_fs_get_root(fs);

		if (!mnt_fs_match_fstype(fs, want ? "cgroup" : "cgroup2"))
			continue;
		/* A bind mount of a subdirectory is not where the hierarchy's paths start. */
		if (!target || !root || !streq(root, "/"))
			continue;
		/* A v1 hierarchy names its controllers among the super block's options. */
		if (want && mnt_fs_get_option(fs, want, NULL, NULL) != 0)
			continue;
		if (strlen(target) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, target);
		return 0;
	}
	return -ENOENT;
}

int cgroup2_mount_find(char *buf, size_t size)
{
	return cgroup_mount_find_in(NULL, HPCM_V1_NONE, buf, size);
}

int cgroup_v1_mount_find(enum hpcm_v1_controller c, char *buf, size_t size)
{
	return c == HPCM_V1_NONE ? -EINVAL : cgroup_mount_find_in(NULL, c, buf, size);
}

static void root_open(struct cg_root *root)
{
	root->fd = open(root->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0)
		log_warning("cannot open %s: %m", root->mount);
}

int attributor_new(struct attributor **ret)
{
	struct attributor *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->roots[CG_V2].fd = a->roots[CG_V1].fd = -1;
	r = cgroup2_mount_find(a->roots[CG_V2].mount, sizeof(a->roots[CG_V2].mount));
	if (r < 0) {
		log_warning("no cgroup2 mount found (%s): cgroup paths will show as ids",
			    strerror(-r));
		a->roots[CG_V2].mount[0] = '\0';
	} else {
		root_open(&a->roots[CG_V2]);
	}
	*ret = a;
	return 0;
}

int attributor_follow_v1(struct attributor *a, const char *setting, enum hpcm_v1_controller *ret)
{
	static const enum hpcm_v1_controller order[] = { HPCM_V1_FREEZER, HPCM_V1_CPUACCT,
							 HPCM_V1_MEMORY };
	struct cg_root *root = &a->roots[CG_V1];
	enum hpcm_v1_controller c = HPCM_V1_NONE;
	int r;

	if (root->fd >= 0)
		close(root->fd);
	root->fd = -1;
	root->mount[0] = '\0';
	a->v1 = HPCM_V1_NONE;
	*ret = HPCM_V1_NONE;
	if (streq(setting, "auto")) {
		/* The first v1 hierarchy that exists: freezer is where Slurm's proctrack/cgroup
		 * always puts every job process. */
		for (size_t i = 0; i < ARRAY_SIZE(order); i++)
			if (cgroup_v1_mount_find(order[i], root->mount, sizeof(root->mount)) == 0) {
				c = order[i];
				break;
			}
		if (c == HPCM_V1_NONE)
			return 0; /* a pure cgroup v2 host */
	} else {
		r = cgroup_v1_controller_from_string(setting, &c);
		if (r < 0)
			return r;
		if (c == HPCM_V1_NONE)
			return 0;
		r = cgroup_v1_mount_find(c, root->mount, sizeof(root->mount));
		if (r < 0)
			return r;
	}
	root_open(root);
	if (root->fd < 0)
		return -errno;
	a->v1 = c;
	*ret = c;
	return 0;
}

const char *attributor_v1_mount(const struct attributor *a)
{
	return a->roots[CG_V1].mount;
}

static int cg_cmp(const void *x, const void *y)
{
	const struct cg_entry *a = x, *b = y;

	if (a->root != b->root)
		return a->root < b->root ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int user_cmp(const void *x, const void *y)
{
	const struct user_info *a = x, *b = y;

	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

static void cg_free(void *p)
{
	struct cg_entry *e = p;

	free(e->path);
	free(e);
}

static void user_free(void *p)
{
	struct user_info *u = p;

	for (size_t i = 0; i < u->n_groups; i++)
		free(u->groups[i]);
	free(u->groups);
	free(u->name);
	free(u->display_name);
	free(u);
}

void attributor_flush_users(struct attributor *a)
{
	tdestroy(a->users, user_free);
	a->users = NULL;
}

void attributor_free(struct attributor *a)
{
	if (!a)
		return;
	tdestroy(a->cgroups, cg_free);
	attributor_flush_users(a);
	for (size_t i = 0; i < ARRAY_SIZE(a->roots); i++)
		if (a->roots[i].fd >= 0)
			close(a->roots[i].fd);
	free(a);
}

const char *attributor_cgroup_mount(const struct attributor *a)
{
	return a->roots[CG_V2].mount;
}

/* The kernfs file handle of a cgroup is its 64-bit id: open it and ask /proc for the path. */
static int resolve_cgroup(const struct cg_root *root, uint64_t id, char **ret)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS } };
	char link[64], target[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t mlen = strlen(root->mount);
	ssize_t n;

	if (root->fd < 0)
		return -ENOENT;
	if (id == 1)
		return (*ret = strdup("/")) ? 0 : -ENOMEM;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(root->fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (strncmp(target, root->mount, mlen) != 0 ||
	    (target[mlen] != '/' && target[mlen] != '\0'))
		return -EXDEV;
	/* Shown and stored, never matched: keep it valid UTF-8 for the ledger and the bus. */
	*ret = utf8_escape_invalid(target[mlen] ? target + mlen : "/");
	return *ret ? 0 : -ENOMEM;
}

static int cgroup_path(struct attributor *a, int root, uint64_t id, const char **ret)
{
	struct cg_entry key = { .id = id, .root = root }, *e;
	void *node = tfind(&key, &a->cgroups, cg_cmp);
	char *path;
	int r;

	if (node) {
		e = *(struct cg_entry **)node;
		e->used_in = a->generation;
		*ret = e->path;
		return 0;
	}
	r = resolve_cgroup(&a->roots[root], id, &path);
	if (r < 0)
		return r;
	e = malloc(sizeof(*e));
	if (!e) {
		free(path);
		return -ENOMEM;
	}
	*e = (struct cg_entry){ .id = id, .root = root, .path = path, .used_in = a->generation };
	if (!tsearch(e, &a->cgroups, cg_cmp)) {
		cg_free(e);
		return -ENOMEM;
	}
	a->n_cgroups++;
	*ret = path;
	return 0;
}

int attributor_cgroup_path(struct attributor *a, uint64_t id, const char **ret)
{
	return cgroup_path(a, CG_V2, id, ret);
}

int attributor_cgroup_v1_path(struct attributor *a, uint64_t id, const char **ret)
{
	if (a->v1 == HPCM_V1_NONE || id == 0)
		return -ENOENT;
	return cgroup_path(a, CG_V1, id, ret);
}

struct cg_purge {
	uint64_t before;
	struct cg_entry **old;
	size_t n;
};

static void cg_purge_visit(const void *node, VISIT which, void *closure)
{
	struct cg_purge *p = closure;
	struct cg_entry *e = *(struct cg_entry *const *)node;

	if ((which == postorder || which == leaf) && e->used_in < p->before)
		p->old[p->n++] = e;
}

void attributor_age(struct attributor *a)
{
	struct cg_purge p = { .before = a->generation };

	/* Jobs come and go: a cgroup path not asked for during a whole generation is dropped
	 * (and resolved again if its id ever comes back). */
	a->generation++;
	if (!a->n_cgroups)
		return;
	p.old = malloc(a->n_cgroups * sizeof(*p.old));
	if (!p.old)
		return;
	twalk_r(a->cgroups, cg_purge_visit, &p);
	for (size_t i = 0; i < p.n; i++) {
		tdelete(p.old[i], &a->cgroups, cg_cmp);
		cg_free(p.old[i]);
	}
	a->n_cgroups -= p.n;
	free(p.old);
}

size_t attributor_cgroups_cached(const struct attributor *a)
{
	return a->n_cgroups;
}

static int fill_user(struct user_info *u)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	int ngroups = 64;
	gid_t *gids = NULL;

	if (getpwuid_r(u->uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp) {
		if (asprintf(&u->name, "%u", (unsigned)u->uid) < 0)
			return -ENOMEM;
		u->display_name = strdup(u->name);
		return u->display_name ? 0 : -ENOMEM;
	}
	u->name = strdup(pw.pw_name);
	u->display_name = utf8_escape_invalid(pw.pw_name);
	if (!u->name || !u->display_name)
		return -ENOMEM;
	for (;;) {
		gid_t *n = realloc(gids, ngroups * sizeof(*gids));
		int want = ngroups;

		if (!n) {
			free(gids);
			return -ENOMEM;
		}
		gids = n;
		if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &want) >= 0) {
			ngroups = want;
			break;
		}
		ngroups = want > ngroups ? want : ngroups * 2;
	}
	u->groups = calloc(ngroups ? ngroups : 1, sizeof(char *));
	if (!u->groups) {
		free(gids);
		return -ENOMEM;
	}
	for (int i = 0; i < ngroups; i++) {
		struct group gr, *grp = NULL;
		char gbuf[16384];
		char *name;

		if (getgrgid_r(gids[i], &gr, gbuf, sizeof(gbuf), &grp) != 0 || !grp)
			continue;
		name = strdup(gr.gr_name);
		if (!name) {
			free(gids);
			return -ENOMEM;
		}
		u->groups[u->n_groups++] = name;
	}
	free(gids);
	return 0;
}

int attributor_user(struct attributor *a, uid_t uid, const struct user_info **ret)
{
	struct user_info key = { .uid = uid }, *u;
	void *node = tfind(&key, &a->users, user_cmp);
	int r;

	if (node) {
		*ret = *(struct user_info **)node;
		return 0;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->uid = uid;
	r = fill_user(u);
	if (r < 0 || !tsearch(u, &a->users, user_cmp)) {
		user_free(u);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = u;
	return 0;
}

void slurm_job_from_cgroup(const char *path, char *buf, size_t size)
{
	const char *p = path;

	buf[0] = '\0';
	/* Both Slurm layouts name the job directory job_<id>: .../job_42/step_0/... and
	 * .../slurmstepd.scope/job_42/... */
	while ((p = strstr(p, "/job_"))) {
		const char *d = p + 5;
		size_t n = 0;

		while (isdigit((unsigned char)d[n]))
			n++;
		if (n > 0 && (d[n] == '/' || d[n] == '\0') && n < size) {
			memcpy(buf, d, n);
			buf[n] = '\0';
			return;
		}
		p = d;
	}
}
