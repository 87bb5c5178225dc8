// SPDX-License-Identifier: GPL-2.0-only
/* What a root attacker would put in place of the meters' iterators: programs of the same types
 * that report no task and no file at all (tests/adversarial/test-tamper.sh). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task")
int noop_task(struct bpf_iter__task *ctx)
{
	return 0;
}

SEC("iter/task_file")
int noop_task_file(struct bpf_iter__task_file *ctx)
{
	return 0;
}
