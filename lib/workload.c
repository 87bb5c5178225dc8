// SPDX-License-Identifier: GPL-2.0-only
/* Cgroup path layouts of the schedulers, service managers and container runtimes that run
 * work on HPC nodes. Each parser looks at path components, never at substrings across them. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "workload.h"
#include "util.h"

#define MAX_COMPONENTS 32

struct comps {
	const char *s[MAX_COMPONENTS];
	size_t len[MAX_COMPONENTS];
	size_t n;
};

static void split(const char *path, struct comps *c)
{
	const char *p = path;

	c->n = 0;
	while (*p && c->n < MAX_COMPONENTS) {
		const char *e;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		c->s[c->n] = p;
		c->len[c->n] = e - p;
		c->n++;
		p = e;
	}
}

static bool has_prefix(const struct comps *c, size_t i, const char *prefix)
{
	size_t n = strlen(prefix);

	return c->len[i] > n && strncmp(c->s[i], prefix, n) == 0;
}

static bool has_suffix(const struct comps *c, size_t i, const char *suffix)
{
	size_t n = strlen(suffix);

	return c->len[i] > n && strncmp(c->s[i] + c->len[i] - n, suffix, n) == 0;
}

static bool is(const struct comps *c, size_t i, const char *s)
{
	return c->len[i] == strlen(s) && strncmp(c->s[i], s, c->len[i]) == 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Copy s[0..n) into buf, truncating; "" when it does not fit and must not be truncated. */
static void copy(char *buf, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* The suffix of component i after prefix, when it is all digits and fits. */
static bool digits_after(const struct comps *c, size_t i, const char *prefix, char *buf,
			 size_t size)
{
	size_t n = strlen(prefix);

	if (!has_prefix(c, i, prefix) || !all_digits(c->s[i] + n, c->len[i] - n) ||
	    c->len[i] - n >= size)
		return false;
	copy(buf, size, c->s[i] + n, c->len[i] - n);
	return true;
}

/* Slurm. cgroup/v1: /slurm[_<node>]/uid_<uid>/job_<id>[/step_<s>[/task_<n>]] in each
 * hierarchy. cgroup/v2 (22.05+): <...>/[<node>_]slurmstepd.scope/job_<id>[/step_<s>[/user
 * [/task_<n>]]] with the job's processes below "user". */
static bool parse_slurm(const struct comps *c, struct workload *w)
{
	for (size_t i = 0; i < c->n; i++) {
		size_t j = i + 1;
		char uidbuf[12];

		if (!digits_after(c, i, "job_", w->job, sizeof(w->job)))
			continue;
		if (i == 0)
			continue;
		if (digits_after(c, i - 1, "uid_", uidbuf, sizeof(uidbuf))) {
			/* Below "slurm" or "slurm_<node>" (Debian builds with multiple slurmd). */
			if (i < 2 || !(is(c, i - 2, "slurm") || has_prefix(c, i - 2, "slurm_")))
				continue;
			w->uid = (uint32_t)strtoul(uidbuf, NULL, 10);
		} else if (!is(c, i - 1, "slurmstepd.scope") &&
			   !has_suffix(c, i - 1, "_slurmstepd.scope")) {
			continue;
		}
		w->kind = WORKLOAD_SLURM;
		if (j < c->n && has_prefix(c, j, "step_")) {
			copy(w->step, sizeof(w->step), c->s[j] + 5, c->len[j] - 5);
			j++;
			if (j < c->n && is(c, j, "user"))
				j++;
			if (j < c->n)
				digits_after(c, j, "task_", w->task, sizeof(w->task));
		}
		return true;
	}
	w->job[0] = '\0';
	return false;
}

static bool is_hex_id(const char *s, size_t n)
{
	if (n < 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* The id of a container in component i: "<prefix><hex>.scope" (systemd driver) or "<hex>"
 * directly below a runtime's parent directory (cgroupfs driver). */
static bool container_in(const struct comps *c, size_t i, const char *prefix, const char *runtime,
			 struct workload *w)
{
	size_t n = strlen(prefix), l = c->len[i];
	const char *s = c->s[i];

	if (!has_prefix(c, i, prefix))
		return false;
	s += n;
	l -= n;
	if (l > 6 && strncmp(s + l - 6, ".scope", 6) == 0)
		l -= 6;
	if (!is_hex_id(s, l))
		return false;
	copy(w->runtime, sizeof(w->runtime), runtime, strlen(runtime));
	copy(w->container, sizeof(w->container), s, l);
	return true;
}

/* Kubernetes: kubepods[.slice]/<qos>/pod<uid> (cgroupfs) or
 * kubepods-<qos>-pod<uid_with_underscores>.slice (systemd). */
static void parse_pod(const struct comps *c, size_t i, struct workload *w)
{
	const char *s = c->s[i];
	size_t l = c->len[i];
	const char *pod = NULL;

	if (has_prefix(c, i, "pod"))
		pod = s + 3;
	else if (has_prefix(c, i, "kubepods-") && has_suffix(c, i, ".slice")) {
		const char *p = memmem(s, l, "-pod", 4);

		if (p)
			pod = p + 4;
	}
	if (!pod)
		return;
	l -= pod - s;
	if (l > 6 && strncmp(pod + l - 6, ".slice", 6) == 0)
		l -= 6;
	if (l < 8)
		return;
	copy(w->pod, sizeof(w->pod), pod, l);
	for (char *p = w->pod; *p; p++)
		if (*p == '_')
			*p = '-';
}

static bool parse_container(const struct comps *c, struct workload *w)
{
	bool in_kube = false;

	for (size_t i = 0; i < c->n; i++) {
		if (is(c, i, "kubepods") || has_prefix(c, i, "kubepods"))
			in_kube = true;
		if (in_kube)
			parse_pod(c, i, w);
		if (container_in(c, i, "docker-", "docker", w) ||
		    container_in(c, i, "libpod-", "podman", w) ||
		    container_in(c, i, "cri-containerd-", "containerd", w) ||
		    container_in(c, i, "crio-", "crio", w))
			goto found;
		/* cgroupfs driver: /docker/<id>, /libpod_parent/libpod-<id>, /kubepods/.../<id> */
		if (i > 0 && is_hex_id(c->s[i], c->len[i]) && c->len[i] >= 32) {
			const char *rt = NULL;

			if (is(c, i - 1, "docker"))
				rt = "docker";
			else if (in_kube)
				rt = "containerd";
			if (rt) {
				copy(w->runtime, sizeof(w->runtime), rt, strlen(rt));
				copy(w->container, sizeof(w->container), c->s[i], c->len[i]);
				goto found;
			}
		}
	}
	w->pod[0] = '\0';
	return false;
found:
	w->kind = WORKLOAD_CONTAINER;
	return true;
}

static bool parse_unit(const struct comps *c, struct workload *w)
{
	for (size_t i = c->n; i-- > 0;) {
		if (has_suffix(c, i, ".service") || has_suffix(c, i, ".scope")) {
			copy(w->unit, sizeof(w->unit), c->s[i], c->len[i]);
			w->kind = WORKLOAD_UNIT;
			return true;
		}
	}
	return false;
}

void workload_from_cgroup(const char *path, struct workload *w)
{
	struct comps c;

	*w = (struct workload){ .uid = UINT32_MAX };
	if (!path)
		return;
	split(path, &c);
	if (parse_slurm(&c, w))
		return;
	if (parse_container(&c, w))
		return;
	parse_unit(&c, w);
}

const char *workload_kind_name(enum workload_kind k)
{
	switch (k) {
	case WORKLOAD_SLURM:
		return "slurm";
	case WORKLOAD_CONTAINER:
		return "container";
	case WORKLOAD_UNIT:
		return "unit";
	default:
		return "none";
	}
}
