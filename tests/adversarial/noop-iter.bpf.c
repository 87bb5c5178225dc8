// SPDX-License-Identifier: GPL-2.0-only
/* What a root attacker would put in place of the meter's task iterator: a program of the same
 * type that reports no task at all (tests/adversarial/test-tamper.sh). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task")
int noop_task(struct bpf_iter__task *ctx)
{
	return 0;
}
