// SPDX-License-Identifier: GPL-2.0-only
/* Cgroup path layouts: Slurm (v1 and v2), containers, pods, systemd units. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* the table omits empty fields */
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "workload.h"

struct want {
	const char *path;
	enum workload_kind kind;
	const char *job, *step, *task;
	uint32_t uid;
	const char *unit, *runtime, *container, *pod;
};

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define NOUID UINT32_MAX

static const struct want cases[] = {
	/* Slurm cgroup/v1, Debian's multiple-slurmd prefix and the plain one */
	{ "/slurm_vm/uid_0/job_1/step_batch", WORKLOAD_SLURM, "1", "batch", "", 0 },
	{ "/slurm_vm/uid_1234/job_3/step_0/task_0", WORKLOAD_SLURM, "3", "0", "0", 1234 },
	{ "/slurm/uid_1000/job_42", WORKLOAD_SLURM, "42", "", "", 1000 },
	{ "/slurm_n001/uid_5/job_7/step_extern/task_0", WORKLOAD_SLURM, "7", "extern", "0", 5 },
	/* Slurm cgroup/v2 */
	{ "/system.slice/slurmstepd.scope/job_42/step_batch/user/task_0", WORKLOAD_SLURM, "42",
	  "batch", "0", NOUID },
	{ "/system.slice/n1_slurmstepd.scope/job_9/step_3/user/task_12", WORKLOAD_SLURM, "9", "3",
	  "12", NOUID },
	{ "/system.slice/slurmstepd.scope/job_42/step_extern/slurm", WORKLOAD_SLURM, "42", "extern",
	  "", NOUID },
	/* Not Slurm although a component says job_ */
	{ "/user.slice/job_12", WORKLOAD_NONE, "", "", "", NOUID },
	{ "/slurm_vm/uid_x/job_1", WORKLOAD_NONE, "", "", "", NOUID },
	{ "/slurm_vm/uid_0/job_1a/step_0", WORKLOAD_NONE, "", "", "", NOUID },
	{ "/slurmd.service", WORKLOAD_UNIT, "", "", "", NOUID, "slurmd.service" },
	/* systemd */
	{ "/user.slice/user-1000.slice/session-3.scope", WORKLOAD_UNIT, "", "", "", NOUID,
	  "session-3.scope" },
	{ "/system.slice/sshd.service", WORKLOAD_UNIT, "", "", "", NOUID, "sshd.service" },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", WORKLOAD_UNIT, "",
	  "", "", NOUID, "foo.service" },
	/* containers */
	{ "/system.slice/docker-" CID ".scope", WORKLOAD_CONTAINER, "", "", "", NOUID, "", "docker",
	  CID },
	{ "/docker/" CID, WORKLOAD_CONTAINER, "", "", "", NOUID, "", "docker", CID },
	{ "/machine.slice/libpod-" CID ".scope/container", WORKLOAD_CONTAINER, "", "", "", NOUID,
	  "", "podman", CID },
	{ "/kubepods.slice/kubepods-burstable.slice/"
	  "kubepods-burstable-pod1a2b3c4d_5e6f_7a8b_9c0d_1e2f3a4b5c6d.slice/cri-containerd-" CID
	  ".scope",
	  WORKLOAD_CONTAINER, "", "", "", NOUID, "", "containerd", CID,
	  "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d" },
	{ "/kubepods/besteffort/pod1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d/" CID, WORKLOAD_CONTAINER,
	  "", "", "", NOUID, "", "containerd", CID, "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d" },
	{ "/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice/crio-" CID
	  ".scope",
	  WORKLOAD_CONTAINER, "", "", "", NOUID, "", "crio", CID,
	  "11111111-2222-3333-4444-555555555555" },
	/* nothing */
	{ "/", WORKLOAD_NONE, "", "", "", NOUID },
	{ "", WORKLOAD_NONE, "", "", "", NOUID },
	{ "/process_api/ad4a8670c9405242500a84d73a4a398e", WORKLOAD_NONE, "", "", "", NOUID },
	{ "/docker/notanid", WORKLOAD_NONE, "", "", "", NOUID },
};

static const char *s(const char *x)
{
	return x ? x : "";
}

int main(void)
{
	struct workload w;
	char longpath[8192];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct want *c = &cases[i];

		workload_from_cgroup(c->path, &w);
		TAP_CHECK(w.kind == c->kind && !strcmp(w.job, s(c->job)) &&
				  !strcmp(w.step, s(c->step)) && !strcmp(w.task, s(c->task)) &&
				  w.uid == c->uid && !strcmp(w.unit, s(c->unit)) &&
				  !strcmp(w.runtime, s(c->runtime)) &&
				  !strcmp(w.container, s(c->container)) &&
				  !strcmp(w.pod, s(c->pod)),
			  "%s -> %s job=%s step=%s task=%s uid=%u unit=%s runtime=%s pod=%s",
			  c->path, workload_kind_name(w.kind), w.job, w.step, w.task, w.uid, w.unit,
			  w.runtime, w.pod);
	}

	workload_from_cgroup(NULL, &w);
	TAP_CHECK(w.kind == WORKLOAD_NONE, "NULL path is no workload");

	/* Deeper than the parser looks and longer than every buffer: no overflow, no match. */
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		n += snprintf(longpath + n, sizeof(longpath) - n, "/d%d", i);
	workload_from_cgroup(longpath, &w);
	TAP_CHECK(w.kind == WORKLOAD_NONE, "a 200-level path is no workload");
	memset(longpath, 'x', 5000);
	memcpy(longpath, "/slurm/uid_1/job_", 17);
	longpath[5000] = '\0';
	workload_from_cgroup(longpath, &w);
	TAP_CHECK(w.kind == WORKLOAD_NONE, "an over-long job id is refused, not truncated");
	memcpy(longpath, "/system.slice/", 14);
	strcpy(longpath + 4990, ".service");
	workload_from_cgroup(longpath, &w);
	TAP_CHECK(w.kind == WORKLOAD_UNIT && strlen(w.unit) == WORKLOAD_ID_LEN - 1,
		  "an over-long unit name is truncated to the buffer");
	return tap_done();
}
