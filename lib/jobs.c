// SPDX-License-Identifier: GPL-2.0-only
/* Job announcements: validation of their fields and the in-memory table of live jobs. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "util.h"

const struct job_key job_keys[] = {
	{ "scheduler", 's' }, { "user", 's' },	      { "uid", 'u' },	  { "account", 's' },
	{ "partition", 's' }, { "wckey", 's' },	      { "comment", 's' }, { "gpus", 's' },
	{ "nodes", 's' },     { "submit_host", 's' },
};
const size_t n_job_keys = ARRAY_SIZE(job_keys);

bool job_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > JOB_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] < '0' || id[i] > '9')
			return false;
	return true;
}

static bool gpu_list_valid(const char *s)
{
	/* "0", "0,1", "0-3,5": what Slurm puts in SLURM_JOB_GPUS / SLURM_STEP_GPUS */
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == ',' || *s == '-'))
			return false;
	return true;
}

/* A host name (letters, digits, dots, dashes, underscores) or an IPv4 or IPv6 address, as
 * Slurm's controller names the host a job came from. */
static bool host_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 253 && s[0] != '-' && s[0] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") == n;
}

static char **field(struct job_info *j, const char *key)
{
	if (streq(key, "scheduler"))
		return &j->scheduler;
	if (streq(key, "user"))
		return &j->user;
	if (streq(key, "account"))
		return &j->account;
	if (streq(key, "partition"))
		return &j->partition;
	if (streq(key, "wckey"))
		return &j->wckey;
	if (streq(key, "comment"))
		return &j->comment;
	if (streq(key, "gpus"))
		return &j->gpus;
	if (streq(key, "nodes"))
		return &j->nodes;
	if (streq(key, "submit_host"))
		return &j->submit_host;
	return NULL;
}

const char *job_info_get(const struct job_info *j, const char *key)
{
	char **f = field((struct job_info *)j, key);

	return f ? *f : NULL;
}

int job_info_set(struct job_info *j, const char *key, const char *s, uint32_t u, const char **why)
{
	char **f;
	char *copy;

	if (streq(key, "uid")) {
		j->uid = u;
		return 0;
	}
	f = field(j, key);
	if (!f) {
		*why = "unknown key";
		return -EINVAL;
	}
	if (strlen(s) > JOB_FIELD_MAX) {
		*why = "value longer than 1024 bytes";
		return -EINVAL;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*why = "control character in value";
			return -EINVAL;
		}
	if (f == &j->gpus && !gpu_list_valid(s)) {
		*why = "expected GPU indices such as 0,1 or 0-3";
		return -EINVAL;
	}
	if (f == &j->submit_host && !host_valid(s)) {
		*why = "expected a host name or an address";
		return -EINVAL;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	free(*f);
	*f = copy;
	return 0;
}

void job_info_clear(struct job_info *j)
{
	free(j->scheduler);
	free(j->user);
	free(j->account);
	free(j->partition);
	free(j->wckey);
	free(j->comment);
	free(j->gpus);
	free(j->nodes);
	free(j->submit_host);
	*j = (struct job_info){ .uid = UINT32_MAX };
}

struct job_table {
	void *root;
	size_t n;
};

static int job_cmp(const void *a, const void *b)
{
	return strcmp(((const struct job_info *)a)->id, ((const struct job_info *)b)->id);
}

static void job_free(void *p)
{
	job_info_clear(p);
	free(p);
}

int job_table_new(struct job_table **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

void job_table_free(struct job_table *t)
{
	if (!t)
		return;
	tdestroy(t->root, job_free);
	free(t);
}

struct job_info *job_table_get(struct job_table *t, const char *id, bool create)
{
	struct job_info key = { 0 }, *j;
	void *node;

	if (strlen(id) > JOB_ID_MAX)
		return NULL;
	strcpy(key.id, id);
	node = tfind(&key, &t->root, job_cmp);
	if (node)
		return *(struct job_info **)node;
	if (!create)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	*j = (struct job_info){ .uid = UINT32_MAX };
	strcpy(j->id, id);
	if (!tsearch(j, &t->root, job_cmp)) {
		free(j);
		return NULL;
	}
	t->n++;
	return j;
}

struct expire {
	uint64_t before;
	struct job_info **old;
	size_t n, cap;
};

static void expire_visit(const void *node, VISIT which, void *closure)
{
	struct expire *e = closure;
	struct job_info *j = *(struct job_info *const *)node;

	if ((which == postorder || which == leaf) && j->end_usec && j->end_usec < e->before &&
	    e->n < e->cap)
		e->old[e->n++] = j;
}

void job_table_expire(struct job_table *t, uint64_t before_usec)
{
	struct expire e = { .before = before_usec, .cap = t->n };

	if (!t->n)
		return;
	e.old = malloc(t->n * sizeof(*e.old));
	if (!e.old)
		return;
	twalk_r(t->root, expire_visit, &e);
	for (size_t i = 0; i < e.n; i++) {
		tdelete(e.old[i], &t->root, job_cmp);
		job_free(e.old[i]);
	}
	t->n -= e.n;
	free(e.old);
}

struct foreach {
	void (*fn)(struct job_info *j, void *userdata);
	void *userdata;
};

static void foreach_visit(const void *node, VISIT which, void *closure)
{
	const struct foreach *f = closure;

	if (which == postorder || which == leaf)
		f->fn(*(struct job_info *const *)node, f->userdata);
}

void job_table_foreach(struct job_table *t, void (*fn)(struct job_info *j, void *userdata),
		       void *userdata)
{
	struct foreach f = { .fn = fn, .userdata = userdata };

	twalk_r(t->root, foreach_visit, &f);
}

size_t job_table_size(const struct job_table *t)
{
	return t->n;
}
