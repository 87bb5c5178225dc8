/* SPDX-License-Identifier: GPL-2.0-only */
/* A task's cgroup in the cgroup v1 hierarchy the meters follow beside cgroup v2 (hybrid hosts:
 * Slurm's cgroup/v1 plugin puts jobs there only). For BPF objects: the including file defines
 * the rodata "const volatile __u32 v1_controller" (enum hpcm_v1_controller) that user space
 * sets before load. */
#ifndef HPCM_TASK_CGROUP_BPF_H
#define HPCM_TASK_CGROUP_BPF_H

/* The subsystem id of the followed v1 controller in this kernel, or -1. */
static __always_inline int v1_ssid(void)
{
	switch (v1_controller) {
	case HPCM_V1_FREEZER:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, freezer_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, freezer_cgrp_id);
		return -1;
	case HPCM_V1_CPUACCT:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpuacct_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, cpuacct_cgrp_id);
		return -1;
	case HPCM_V1_MEMORY:
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
			return bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		return -1;
	default:
		return -1;
	}
}

/* The id (kernfs inode number) of task's cgroup in the followed v1 hierarchy; 0 when none.
 * Only on rare paths (birth, exec): four dependent reads. */
static __always_inline __u64 task_v1_cgroup_id(struct task_struct *task)
{
	int ssid = v1_ssid();
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cset;

	if (ssid < 0 || ssid >= 64)
		return 0;
	cset = BPF_CORE_READ(task, cgroups);
	if (!cset || bpf_core_read(&css, sizeof(css), &cset->subsys[ssid]) || !css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

#endif
