// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel meter: on-CPU time, execs, forks and exits per cgroup (v2
 * id), from the scheduler's tracepoints, independent of the BPF meter.
 *
 * Entries live in a fixed array of max_cgroups slots, found through a hash
 * of chains (by slot index). The hot path, for a cgroup already known, is a
 * lock-free walk of its chain under RCU (tracepoint probes run with
 * preemption disabled) and a plain add to this CPU's copy of the counters:
 * each CPU writes only its own copy, so no lock and no atomic operation.
 * A cgroup seen for the first time takes hpcm_lock (a raw spinlock, taken
 * only there and by the reclaimer) to get a slot and link it.
 *
 * Slots are reclaimed: a cgroup_rmdir probe marks the cgroup's slot dead;
 * when it has been dead and idle for reclaim_after_s, the reclaimer unlinks
 * it, waits for an RCU grace period (no probe can still hold it), zeroes its
 * counters and frees it. A slot keeps its index for as long as its cgroup
 * has it, so a dump resumed by index sends every cgroup present all along
 * exactly once; hpcm_gen (+1 per claim and per reclaim) lets the dump flag
 * NLM_F_DUMP_INTR when the set changed under it.
 */

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/rcupdate.h>
#include <linux/cgroup.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>
#include <linux/version.h>
#include <trace/events/cgroup.h>
#include <trace/events/sched.h>

#include <linux/hpcmeter.h>

#include "meter.h"
#include "netlink.h"

#if BITS_PER_LONG != 64
#error "hpcmeter reads 64-bit per-CPU counters without locks: 64-bit kernels only"
#endif

#define HPCM_NIL U32_MAX

struct hpcm_counters {
	u64 on_cpu_ns;
	u64 execs;
	u64 forks;
	u64 exits;
};

struct hpcm_slot {
	u64 id; /* cgroup id; 0 = free */
	u32 next; /* next slot of the same hash chain, or HPCM_NIL */
	bool linked;
	unsigned long dead_since; /* jiffies of its cgroup_rmdir; 0 = alive */
	u64 dead_sum; /* its counters' sum at that time: busy again = alive */
};

static struct hpcm_slot *hpcm_slots; /* [capacity] */
static u32 *hpcm_heads; /* [capacity] chain heads, by hash */
static unsigned long *hpcm_used; /* bitmap of slots in use */
static struct hpcm_counters **hpcm_counters; /* [nr_cpu_ids][capacity] */
static unsigned int hpcm_bits;
static u32 hpcm_capacity;
static DEFINE_RAW_SPINLOCK(hpcm_lock); /* claims and reclaims */
static atomic_t hpcm_entries = ATOMIC_INIT(0);
static atomic64_t hpcm_gen = ATOMIC64_INIT(0);
static atomic64_t hpcm_overflow = ATOMIC64_INIT(0);
static atomic64_t hpcm_reclaimed = ATOMIC64_INIT(0);
static DEFINE_PER_CPU(u64, hpcm_last_switch_ns);

static unsigned int hpcm_reclaim_after = 60; /* seconds */
static void hpcm_reclaim_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(hpcm_reclaim_work, hpcm_reclaim_fn);
static bool hpcm_reclaim_running;

/* The slot of cgroup @id, lock-free; -1 when it has none. */
static long hpcm_find(u64 id)
{
	u32 i = READ_ONCE(hpcm_heads[hash_64(id, hpcm_bits)]);

	while (i != HPCM_NIL) {
		if (READ_ONCE(hpcm_slots[i].id) == id)
			return i;
		i = READ_ONCE(hpcm_slots[i].next);
	}
	return -1;
}

/* First sight of a cgroup: take a free slot and link it; -1 when full. */
static long hpcm_claim(u64 id)
{
	u32 h = hash_64(id, hpcm_bits);
	unsigned long flags;
	long i;

	raw_spin_lock_irqsave(&hpcm_lock, flags);
	i = hpcm_find(id); /* another CPU may have claimed it meanwhile */
	if (i < 0) {
		i = find_first_zero_bit(hpcm_used, hpcm_capacity);
		if (i >= hpcm_capacity) {
			i = -1;
		} else {
			__set_bit(i, hpcm_used);
			hpcm_slots[i].next = hpcm_heads[h];
			hpcm_slots[i].dead_since = 0;
			WRITE_ONCE(hpcm_slots[i].linked, true);
			WRITE_ONCE(hpcm_slots[i].id, id);
			/* Readers that find it in the chain see it whole. */
			smp_store_release(&hpcm_heads[h], (u32)i);
			atomic_inc(&hpcm_entries);
			atomic64_inc(&hpcm_gen);
		}
	}
	raw_spin_unlock_irqrestore(&hpcm_lock, flags);
	if (i < 0)
		atomic64_inc(&hpcm_overflow);
	return i;
}

/* This CPU's counters for @p's cgroup; called with preemption disabled. */
static struct hpcm_counters *hpcm_this_cpu(struct task_struct *p)
{
	long slot;
	u64 id;

	rcu_read_lock();
	id = cgroup_id(task_dfl_cgroup(p));
	rcu_read_unlock();
	slot = hpcm_find(id);
	if (slot < 0)
		slot = hpcm_claim(id);
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

static u64 hpcm_sum_slot(u32 slot)
{
	unsigned int cpu;
	u64 sum = 0;

	for_each_possible_cpu(cpu)
	{
		const struct hpcm_counters *c = &hpcm_counters[cpu][slot];

		sum += READ_ONCE(c->on_cpu_ns) + READ_ONCE(c->execs) +
		       READ_ONCE(c->forks) + READ_ONCE(c->exits);
	}
	return sum;
}

/* A cgroup v2 directory was removed: its slot may be reclaimed later. */
static void hpcm_probe_rmdir(void *data, struct cgroup *cgrp, const char *path)
{
	unsigned long flags;
	long i;

	if (cgrp->root != &cgrp_dfl_root) /* v1 hierarchies: other ids */
		return;
	raw_spin_lock_irqsave(&hpcm_lock, flags);
	i = hpcm_find(cgroup_id(cgrp));
	if (i >= 0 && !hpcm_slots[i].dead_since) {
		hpcm_slots[i].dead_since = jiffies | 1;
		hpcm_slots[i].dead_sum = hpcm_sum_slot(i);
	}
	raw_spin_unlock_irqrestore(&hpcm_lock, flags);
}

static void __maybe_unused hpcm_probe_types_match(void)
{
	BUILD_BUG_ON(sizeof(register_trace_cgroup_rmdir(hpcm_probe_rmdir,
							NULL)) != sizeof(int));
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
	{ "cgroup_rmdir", hpcm_probe_rmdir, HPCMETER_PROBE_CGROUP_RMDIR },
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
	kvfree(hpcm_slots);
	kvfree(hpcm_heads);
	bitmap_free(hpcm_used);
	hpcm_slots = NULL;
	hpcm_heads = NULL;
	hpcm_used = NULL;
}

/* Unlink slot @i from its chain; hpcm_lock held. */
static void hpcm_unlink(u32 i)
{
	u32 *link = &hpcm_heads[hash_64(hpcm_slots[i].id, hpcm_bits)];

	while (*link != i)
		link = &hpcm_slots[*link].next;
	/* Walkers on @i still find the rest of the chain through its next. */
	WRITE_ONCE(*link, hpcm_slots[i].next);
	WRITE_ONCE(hpcm_slots[i].linked, false);
}

/*
 * Reclaim the slots of cgroups removed at least reclaim_after_s ago whose
 * counters have not moved since (a task of a removed cgroup may still be
 * charged by its last switch; a busy slot is not dead after all).
 */
static void hpcm_reclaim_fn(struct work_struct *work)
{
	unsigned long flags, after = READ_ONCE(hpcm_reclaim_after) * HZ;
	unsigned long *batch;
	unsigned int cpu;
	u32 i, n = 0;

	batch = bitmap_zalloc(hpcm_capacity, GFP_KERNEL);
	if (!batch)
		goto again;
	raw_spin_lock_irqsave(&hpcm_lock, flags);
	for_each_set_bit(i, hpcm_used, hpcm_capacity)
	{
		struct hpcm_slot *sl = &hpcm_slots[i];

		if (!sl->dead_since ||
		    !time_after(jiffies, sl->dead_since + after))
			continue;
		if (hpcm_sum_slot(i) != sl->dead_sum) {
			sl->dead_since = 0; /* busy: alive (or an id reused) */
			continue;
		}
		hpcm_unlink(i);
		__set_bit(i, batch);
		n++;
	}
	raw_spin_unlock_irqrestore(&hpcm_lock, flags);

	if (n) {
		/* Every probe that could have found these slots has returned. */
		synchronize_rcu();
		raw_spin_lock_irqsave(&hpcm_lock, flags);
		for_each_set_bit(i, batch, hpcm_capacity)
		{
			for_each_possible_cpu(cpu)
				memset(&hpcm_counters[cpu][i], 0,
				       sizeof(struct hpcm_counters));
			WRITE_ONCE(hpcm_slots[i].id, 0);
			hpcm_slots[i].dead_since = 0;
			__clear_bit(i, hpcm_used);
		}
		atomic_sub(n, &hpcm_entries);
		atomic64_inc(&hpcm_gen);
		atomic64_add(n, &hpcm_reclaimed);
		raw_spin_unlock_irqrestore(&hpcm_lock, flags);
	}
	bitmap_free(batch);
again:
	if (READ_ONCE(hpcm_reclaim_running))
		schedule_delayed_work(&hpcm_reclaim_work, HZ);
}

void hpcm_meter_set_reclaim_after(unsigned int seconds)
{
	WRITE_ONCE(hpcm_reclaim_after, seconds);
}

int hpcm_meter_init(unsigned int capacity)
{
	unsigned int cpu, i;
	int ret;

	if (capacity < 64 || capacity > (1U << 20) || !is_power_of_2(capacity))
		return -EINVAL;
	hpcm_capacity = capacity;
	hpcm_bits = ilog2(capacity);

	hpcm_slots = kvcalloc(capacity, sizeof(*hpcm_slots), GFP_KERNEL);
	hpcm_heads = kvmalloc_array(capacity, sizeof(*hpcm_heads), GFP_KERNEL);
	hpcm_used = bitmap_zalloc(capacity, GFP_KERNEL);
	hpcm_counters = kcalloc(nr_cpu_ids, sizeof(*hpcm_counters), GFP_KERNEL);
	if (!hpcm_slots || !hpcm_heads || !hpcm_used || !hpcm_counters)
		goto nomem;
	for (i = 0; i < capacity; i++)
		hpcm_heads[i] = HPCM_NIL;
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
	WRITE_ONCE(hpcm_reclaim_running, true);
	schedule_delayed_work(&hpcm_reclaim_work, HZ);
	return 0;

nomem:
	hpcm_free_tables();
	return -ENOMEM;
}

void hpcm_meter_exit(void)
{
	unsigned int i;

	WRITE_ONCE(hpcm_reclaim_running, false);
	cancel_delayed_work_sync(&hpcm_reclaim_work);
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

u64 hpcm_meter_reclaimed(void)
{
	return atomic64_read(&hpcm_reclaimed);
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

/*
 * Under RCU, so that a slot being reclaimed is not zeroed while it is read;
 * a slot whose id changed under us (reclaimed and claimed again) is read
 * again under its new id by the check after the sum.
 */
bool hpcm_meter_read(unsigned long *pos, struct hpcm_usage *u)
{
	unsigned long i;
	u64 id;

	rcu_read_lock();
	for (i = *pos; i < hpcm_capacity; i++) {
		id = READ_ONCE(hpcm_slots[i].id);
		if (!id || !READ_ONCE(hpcm_slots[i].linked))
			continue;
		hpcm_sum(i, id, u);
		if (READ_ONCE(hpcm_slots[i].id) != id)
			continue;
		*pos = i;
		rcu_read_unlock();
		return true;
	}
	rcu_read_unlock();
	*pos = i;
	return false;
}

bool hpcm_meter_lookup(u64 cgroup_id, struct hpcm_usage *u)
{
	bool found = false;
	long i;

	if (!cgroup_id)
		return false;
	rcu_read_lock();
	i = hpcm_find(cgroup_id);
	if (i >= 0) {
		hpcm_sum(i, cgroup_id, u);
		found = true;
	}
	rcu_read_unlock();
	return found;
}
