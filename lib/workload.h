/* SPDX-License-Identifier: GPL-2.0-only */
/* What a cgroup path says about the workload in it: a Slurm job step, a systemd unit, a
 * container, a Kubernetes pod. Pure string parsing, no I/O. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum workload_kind {
	WORKLOAD_NONE = 0, /* the root, or a path no layout below matches */
	WORKLOAD_SLURM, /* job, step (and task) of a Slurm job */
	WORKLOAD_CONTAINER, /* docker, podman, containerd, CRI-O (pod set inside Kubernetes) */
	WORKLOAD_UNIT, /* a systemd service or scope that is none of the above */
};

#define WORKLOAD_ID_LEN 80

struct workload {
	enum workload_kind kind;
	char job[24]; /* Slurm job id, digits */
	char step[24]; /* "batch", "extern", "interactive", "0", ... ("" for the job level) */
	char task[12]; /* task number, "" when not in a task directory */
	uint32_t uid; /* from a uid_<n> level, UINT32_MAX otherwise */
	char unit[WORKLOAD_ID_LEN]; /* innermost systemd unit (*.service, *.scope), truncated */
	char runtime[16]; /* "docker", "podman", "containerd", "crio" */
	char container[WORKLOAD_ID_LEN]; /* container id */
	char pod[WORKLOAD_ID_LEN]; /* Kubernetes pod uid, dashed */
};

/* Parse a cgroup path ("/slurm_n1/uid_1000/job_42/step_0/task_0",
 * "/system.slice/slurmstepd.scope/job_42/step_batch/user/task_0",
 * "/system.slice/docker-<id>.scope", "/kubepods/burstable/pod<uid>/<id>", ...). Never fails:
 * unknown layouts give kind WORKLOAD_NONE. */
void workload_from_cgroup(const char *path, struct workload *w);

/* "slurm", "container", "unit" or "none". */
const char *workload_kind_name(enum workload_kind k);
