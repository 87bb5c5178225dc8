// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel meter: on-CPU time, execs, forks and exits per cgroup (v2
 * id), from the scheduler's tracepoints, independent of the BPF meter.
 *
 * The table has a fixed number of slots (max_cgroups, a power of two). A
 * slot's cgroup id is claimed once with cmpxchg and never changes until
 * unload, so a slot index is a stable cursor for a resumable dump. The
 * counters are per CPU: each CPU writes only its own copy, from tracepoint
 * probes that run with preemption disabled, so the hot path takes no lock
 * and issues no atomic read-modify-write except the one cmpxchg that claims
 * a slot for a cgroup seen for the first time. Readers sum the CPUs' copies
 * with READ_ONCE (64-bit loads are single-copy atomic on 64-bit kernels).
 */

#include <linux/atomic.h>
#include <linux/cgroup.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <linux/version.h>
#include <trace/events/sched.h>

#include <linux/hpcmeter.h>

#include "meter.h"
#include "netlink.h"

#if BITS_PER_LONG != 64
#error "hpcmeter reads 64-bit per-CPU counters without locks: 64-bit kernels only"
#endif

/* Linear probing gives up after this many slots and counts an overflow. */
#define HPCM_MAX_PROBE 64

struct hpcm_counters {
	u64 on_cpu_ns;
	u64 execs;
	u64 forks;
	u64 exits;
};

static u64 *hpcm_ids; /* [capacity]; 0 = free */
static struct hpcm_counters **hpcm_counters; /* [nr_cpu_ids][capacity] */
static unsigned int hpcm_bits;
static u32 hpcm_capacity;
static atomic_t hpcm_entries = ATOMIC_INIT(0);
static atomic64_t hpcm_gen = ATOMIC64_INIT(0);
static atomic64_t hpcm_overflow = ATOMIC64_INIT(0);
static DEFINE_PER_CPU(u64, hpcm_last_switch_ns);

/* The slot of cgroup @id, claimed if new; -1 when the table is full. */
static long hpcm_slot(u64 id)
{
	u32 mask = hpcm_capacity - 1;
	u32 i = hash_64(id, hpcm_bits);
	unsigned int n;
	u64 cur;

	for (n = 0; n < HPCM_MAX_PROBE && n < hpcm_capacity;
	     n++, i = (i + 1) & mask) {
		cur = READ_ONCE(hpcm_ids[i]);
		if (cur == id)
			return i;
		if (cur)
			continue;
		cur = cmpxchg64(&hpcm_ids[i], 0, id);
		if (!cur) {
			atomic_inc(&hpcm_entries);
			atomic64_inc(&hpcm_gen);
			return i;
		}
		if (cur == id) /* another CPU claimed it for the same cgroup */
			return i;
	}
	atomic64_inc(&hpcm_overflow);
	return -1;
}

/* This CPU's counters for @p's cgroup; called with preemption disabled. */
static struct hpcm_counters *hpcm_this_cpu(struct task_struct *p)
{
	long slot;
	u64 id;

	rcu_read_lock();
	id = cgroup_id(task_dfl_cgroup(p));
	rcu_read_unlock();
	slot = hpcm_slot(id);
	if (slot < 0)
		return NULL;
	return &hpcm_counters[smp_processor_id()][slot];
}

#define HPCM_ADD(c, field, v) WRITE_ONCE((c)->field, (c)->field + (v))

/*
 * The probes' prototypes must match the tracepoints' exactly; the sizeof()
 * below makes the compiler check them against <trace/events/sched.h>
 * (-Werror=incompatible-pointer-types) without referencing the tracepoint.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
static void hpcm_probe_switch(void *data, bool preempt,
			      struct task_struct *prev,
			      struct task_struct *next, unsigned int prev_state)
#else
static void hpcm_probe_switch(void *data, bool preempt,
			      struct task_struct *prev,
			      struct task_struct *next)
#endif
{
	u64 now = local_clock();
	u64 last = __this_cpu_read(hpcm_last_switch_ns);
	struct hpcm_counters *c;

	__this_cpu_write(hpcm_last_switch_ns, now);
	/*
	 * The first switch after load only starts the clock. Kernel threads
	 * are not metered (neither are they by the BPF meter).
	 */
	if (!last || now <= last || (prev->flags & PF_KTHREAD))
		return;
	c = hpcm_this_cpu(prev);
	if (c)
		HPCM_ADD(c, on_cpu_ns, now - last);
}

static void hpcm_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			    struct linux_binprm *bprm)
{
	struct hpcm_counters *c = hpcm_this_cpu(p);

	if (c)
		HPCM_ADD(c, execs, 1);
}

static void hpcm_probe_fork(void *data, struct task_struct *parent,
			    struct task_struct *child)
{
	struct hpcm_counters *c;

	if (child->flags & PF_KTHREAD)
		return;
	c = hpcm_this_cpu(parent);
	if (c)
		HPCM_ADD(c, forks, 1);
}

static void hpcm_probe_exit(void *data, struct task_struct *p)
{
	struct hpcm_counters *c;

	if (p->flags & PF_KTHREAD)
		return;
	c = hpcm_this_cpu(p);
	if (c)
		HPCM_ADD(c, exits, 1);
}

static void __maybe_unused hpcm_probe_types_match(void)
{
	BUILD_BUG_ON(sizeof(register_trace_sched_switch(hpcm_probe_switch,
							NULL)) != sizeof(int));
	BUILD_BUG_ON(sizeof(register_trace_sched_process_exec(
			     hpcm_probe_exec, NULL)) != sizeof(int));
	BUILD_BUG_ON(sizeof(register_trace_sched_process_fork(
			     hpcm_probe_fork, NULL)) != sizeof(int));
	BUILD_BUG_ON(sizeof(register_trace_sched_process_exit(
			     hpcm_probe_exit, NULL)) != sizeof(int));
}

struct hpcm_probe {
	const char *name;
	void *func;
	u32 bit;
	struct tracepoint *tp;
	bool attached;
};

static struct hpcm_probe hpcm_probes[] = {
	{ "sched_switch", hpcm_probe_switch, HPCMETER_PROBE_SCHED_SWITCH },
	{ "sched_process_exec", hpcm_probe_exec,
	  HPCMETER_PROBE_SCHED_PROCESS_EXEC },
	{ "sched_process_fork", hpcm_probe_fork,
	  HPCMETER_PROBE_SCHED_PROCESS_FORK },
	{ "sched_process_exit", hpcm_probe_exit,
	  HPCMETER_PROBE_SCHED_PROCESS_EXIT },
};

static u32 hpcm_failures;

/* The scheduler's tracepoints are not exported: find them by name. */
static void hpcm_find_tracepoint(struct tracepoint *tp, void *priv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(hpcm_probes); i++)
		if (!strcmp(tp->name, hpcm_probes[i].name))
			hpcm_probes[i].tp = tp;
}

static void hpcm_free_tables(void)
{
	unsigned int cpu;

	if (hpcm_counters) {
		for_each_possible_cpu(cpu) kvfree(hpcm_counters[cpu]);
		kfree(hpcm_counters);
		hpcm_counters = NULL;
	}
	kvfree(hpcm_ids);
	hpcm_ids = NULL;
}

int hpcm_meter_init(unsigned int capacity)
{
	unsigned int cpu, i;
	int ret;

	if (capacity < 64 || capacity > (1U << 20) || !is_power_of_2(capacity))
		return -EINVAL;
	hpcm_capacity = capacity;
	hpcm_bits = ilog2(capacity);

	hpcm_ids = kvcalloc(capacity, sizeof(*hpcm_ids), GFP_KERNEL);
	hpcm_counters = kcalloc(nr_cpu_ids, sizeof(*hpcm_counters), GFP_KERNEL);
	if (!hpcm_ids || !hpcm_counters)
		goto nomem;
	for_each_possible_cpu(cpu)
	{
		hpcm_counters[cpu] = kvzalloc_node(
			array_size(capacity, sizeof(struct hpcm_counters)),
			GFP_KERNEL, cpu_to_node(cpu));
		if (!hpcm_counters[cpu])
			goto nomem;
	}

	/*
	 * A probe that cannot attach is reported (event, GET_INFO's PROBES
	 * and PROBE_FAILURES) but does not fail the load: the inventory and
	 * the other probes still work, and user space sees what is missing.
	 */
	for_each_kernel_tracepoint(hpcm_find_tracepoint, NULL)
		;
	for (i = 0; i < ARRAY_SIZE(hpcm_probes); i++) {
		struct hpcm_probe *p = &hpcm_probes[i];

		ret = p->tp ? tracepoint_probe_register(p->tp, p->func, NULL) :
			      -ENOENT;
		if (ret) {
			hpcm_failures++;
			pr_warn("cannot attach to tracepoint %s: %d\n", p->name,
				ret);
			hpcm_event_probe_failed(p->name, ret);
			continue;
		}
		p->attached = true;
	}
	return 0;

nomem:
	hpcm_free_tables();
	return -ENOMEM;
}

void hpcm_meter_exit(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(hpcm_probes); i++) {
		if (!hpcm_probes[i].attached)
			continue;
		WARN_ON(tracepoint_probe_unregister(hpcm_probes[i].tp,
						    hpcm_probes[i].func, NULL));
		hpcm_probes[i].attached = false;
	}
	/* No probe runs any more once this returns: the tables can go. */
	tracepoint_synchronize_unregister();
	hpcm_free_tables();
}

u32 hpcm_meter_probes(void)
{
	u32 mask = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(hpcm_probes); i++)
		if (hpcm_probes[i].attached)
			mask |= hpcm_probes[i].bit;
	return mask;
}

u32 hpcm_meter_probe_failures(void)
{
	return hpcm_failures;
}

u32 hpcm_meter_entries(void)
{
	return atomic_read(&hpcm_entries);
}

u32 hpcm_meter_capacity(void)
{
	return hpcm_capacity;
}

u64 hpcm_meter_overflow(void)
{
	return atomic64_read(&hpcm_overflow);
}

u64 hpcm_meter_gen(void)
{
	return atomic64_read(&hpcm_gen);
}

static void hpcm_sum(u32 slot, u64 id, struct hpcm_usage *u)
{
	unsigned int cpu;

	memset(u, 0, sizeof(*u));
	u->cgroup_id = id;
	for_each_possible_cpu(cpu)
	{
		const struct hpcm_counters *c = &hpcm_counters[cpu][slot];

		u->on_cpu_ns += READ_ONCE(c->on_cpu_ns);
		u->execs += READ_ONCE(c->execs);
		u->forks += READ_ONCE(c->forks);
		u->exits += READ_ONCE(c->exits);
	}
}

bool hpcm_meter_read(unsigned long *pos, struct hpcm_usage *u)
{
	unsigned long i;
	u64 id;

	for (i = *pos; i < hpcm_capacity; i++) {
		id = READ_ONCE(hpcm_ids[i]);
		if (!id)
			continue;
		hpcm_sum(i, id, u);
		*pos = i;
		return true;
	}
	*pos = i;
	return false;
}

bool hpcm_meter_lookup(u64 cgroup_id, struct hpcm_usage *u)
{
	u32 mask = hpcm_capacity - 1;
	u32 i = hash_64(cgroup_id, hpcm_bits);
	unsigned int n;
	u64 cur;

	if (!cgroup_id)
		return false;
	for (n = 0; n < HPCM_MAX_PROBE && n < hpcm_capacity;
	     n++, i = (i + 1) & mask) {
		cur = READ_ONCE(hpcm_ids[i]);
		if (!cur)
			return false;
		if (cur == cgroup_id) {
			hpcm_sum(i, cur, u);
			return true;
		}
	}
	return false;
}
