// SPDX-License-Identifier: GPL-2.0-only
/* The interval: CPU time per (cgroup, uid) accumulated from the process table's records and
 * readings, closed each interval_sec into the ledger in one transaction (with the GPU usage
 * and the counters' baselines), and the reading that closes it: drain the ring buffer, read
 * every counter, look for losses and gaps, compare with the kernel module, flush, evaluate. */
#include <errno.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"
#include "notify.h"
#include "util.h"

struct usage_acc {
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id;
	uint32_t uid;
	uint64_t cpu_ns;
};

/* The processes of one executable in one (cgroup, uid) in the interval in progress. */
struct exe_acc {
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id;
	uint32_t uid;
	char *exe; /* "" when not known */
	char *sha256; /* "" when not known */
	uint64_t execs, exits, cpu_ns;
};

struct interval {
	void *usage; /* tsearch tree of struct usage_acc for the interval in progress */
	void *exes; /* tsearch tree of struct exe_acc: process counts (unless process_records all) */
	uint64_t start_usec;
	uint64_t last_collect_usec;
	uint64_t last_duration_usec; /* how long the last reading took (self-cost) */
	uint64_t readings;
	uint64_t losses_seen[HPCM_STAT_MAX]; /* kernel loss counters at the last reading */
	uint64_t bad_records_seen;
	/* The boottime/realtime offset, to turn BPF timestamps into wall-clock times. */
	int64_t boot_to_real_usec;
};

static int usage_cmp(const void *a, const void *b)
{
	const struct usage_acc *x = a, *y = b;

	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->cgroup_v1_id != y->cgroup_v1_id)
		return x->cgroup_v1_id < y->cgroup_v1_id ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int exe_cmp(const void *a, const void *b)
{
	const struct exe_acc *x = a, *y = b;
	int c;

	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->cgroup_v1_id != y->cgroup_v1_id)
		return x->cgroup_v1_id < y->cgroup_v1_id ? -1 : 1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	c = strcmp(x->exe, y->exe);
	return c ? c : strcmp(x->sha256, y->sha256);
}

static void exe_free(void *p)
{
	struct exe_acc *a = p;

	free(a->exe);
	free(a->sha256);
	free(a);
}

void interval_count(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id, uint32_t uid,
		    const struct proc *p, uint64_t execs, uint64_t exits, uint64_t cpu_ns)
{
	struct exe_acc key = {
		.cgroup_id = cgroup_id,
		.cgroup_v1_id = cgroup_v1_id,
		.uid = uid,
		.exe = p && p->exe ? p->exe : "",
		.sha256 = p && p->exe_sha256 ? p->exe_sha256 : "",
	},
		       *a;
	void *node;

	if (m->cfg.process_records_all || (!execs && !exits && !cpu_ns) ||
	    !manager_in_scope(m, cgroup_id))
		return;
	node = tfind(&key, &m->interval->exes, exe_cmp);
	if (node) {
		a = *(struct exe_acc **)node;
	} else {
		a = calloc(1, sizeof(*a));
		if (a) {
			*a = key;
			a->exe = strdup(key.exe);
			a->sha256 = strdup(key.sha256);
		}
		if (!a || !a->exe || !a->sha256 || !tsearch(a, &m->interval->exes, exe_cmp)) {
			if (a)
				exe_free(a);
			log_error("out of memory: a process count of uid %u is lost", uid);
			return;
		}
	}
	a->execs += execs;
	a->exits += exits;
	a->cpu_ns += cpu_ns;
}

void interval_account(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id, uint32_t uid,
		      const struct proc *p, uint64_t cpu_ns)
{
	struct usage_acc key = { .cgroup_id = cgroup_id, .cgroup_v1_id = cgroup_v1_id, .uid = uid },
			 *u;
	void *node;

	/* Outside cgroup_root: not this node's to meter (the reading moves on all the same). */
	if (!cpu_ns || !manager_in_scope(m, cgroup_id))
		return;
	interval_count(m, cgroup_id, cgroup_v1_id, uid, p, 0, 0, cpu_ns);
	node = tfind(&key, &m->interval->usage, usage_cmp);
	if (node) {
		(*(struct usage_acc **)node)->cpu_ns += cpu_ns;
		return;
	}
	u = malloc(sizeof(*u));
	if (!u) {
		log_error("out of memory: %llu ns of CPU time not attributed",
			  (unsigned long long)cpu_ns);
		return;
	}
	*u = key;
	u->cpu_ns = cpu_ns;
	if (!tsearch(u, &m->interval->usage, usage_cmp))
		free(u);
}

uint64_t interval_boot_to_real_usec(const struct manager *m, uint64_t ns)
{
	return ns ? (uint64_t)((int64_t)(ns / NSEC_PER_USEC) + m->interval->boot_to_real_usec) :
		    now_realtime_usec();
}

struct flush {
	struct manager *m;
	int64_t interval_id;
	int r;
};

static void flush_visit(const void *node, VISIT which, void *closure)
{
	struct flush *f = closure;
	const struct usage_acc *u = *(const struct usage_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;
	int r;

	if (which != postorder && which != leaf)
		return;
	cg = manager_attribution_path(f->m, u->cgroup_id, u->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(f->m->attr, u->uid, &user);
	r = ledger_add_usage(f->m->ledger, f->interval_id, cg, u->cgroup_id, job, u->uid,
			     user ? user->display_name : "", u->cpu_ns);
	if (r == 0)
		r = ledger_note_job(f->m->ledger, job, cg, u->uid, user ? user->display_name : "",
				    "", f->m->interval->start_usec);
	if (r < 0 && f->r == 0)
		f->r = r;
}

/* Committed: the interval's usage counts in the metrics (once, not again at a retry). */
static void metrics_visit(const void *node, VISIT which, void *closure)
{
	struct manager *m = closure;
	const struct usage_acc *u = *(const struct usage_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;

	if (which != postorder && which != leaf)
		return;
	cg = manager_attribution_path(m, u->cgroup_id, u->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(m->attr, u->uid, &user);
	manager_metrics_account(m, job, user ? user->display_name : "", u->uid, u->cpu_ns, 0);
}

static void exes_visit(const void *node, VISIT which, void *closure)
{
	struct flush *f = closure;
	const struct exe_acc *a = *(const struct exe_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;
	int r;

	if ((which != postorder && which != leaf) || f->r < 0)
		return;
	cg = manager_attribution_path(f->m, a->cgroup_id, a->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(f->m->attr, a->uid, &user);
	/* Paths are bytes; the ledger keeps valid UTF-8. */
	_cleanup_free_ char *exe = utf8_escape_invalid(a->exe);
	struct process_count c = {
		.cgroup = cg,
		.job = job,
		.uid = a->uid,
		.user = user ? user->display_name : "",
		.executable = exe ? exe : "",
		.exe_sha256 = a->sha256,
		.execs = a->execs,
		.exits = a->exits,
		.cpu_ns = a->cpu_ns,
	};
	r = exe ? ledger_add_process_count(f->m->ledger, f->interval_id, &c) : -ENOMEM;
	if (r < 0)
		f->r = r;
}

static int flush_interval(struct manager *m, uint64_t end_usec)
{
	struct flush f = { .m = m };
	int r;

	r = ledger_add_interval(m->ledger, m->interval->start_usec, end_usec, &f.interval_id);
	if (r == 0) {
		twalk_r(m->interval->usage, flush_visit, &f);
		r = f.r;
	}
	/* What the counters said at this commit: a restart in the same boot continues there. */
	if (r == 0)
		r = procs_save_baselines(m);
	if (r == 0) {
		twalk_r(m->interval->exes, exes_visit, &f);
		r = f.r;
	}
	if (r == 0)
		r = manager_gpu_flush(m, f.interval_id);
	if (r == 0)
		r = ledger_commit(m->ledger);
	if (r < 0) {
		/* Keep the usage for the next interval rather than lose it. */
		log_error("cannot write interval to the ledger: %s (kept for the next one)",
			  strerror(-r));
		return r;
	}
	twalk_r(m->interval->usage, metrics_visit, m);
	tdestroy(m->interval->usage, free);
	m->interval->usage = NULL;
	tdestroy(m->interval->exes, exe_free);
	m->interval->exes = NULL;
	manager_gpu_flushed(m);
	m->interval->start_usec = end_usec;
	return 0;
}

static void update_clock_offset(struct manager *m)
{
	m->interval->boot_to_real_usec =
		(int64_t)now_realtime_usec() - (int64_t)(now_boottime_nsec() / NSEC_PER_USEC);
}

/* Losses in the kernel are never silent: say when they grow. (A later version turns them
 * into gap records with a usage bound.) */
static void report_losses(struct manager *m)
{
	static const struct {
		enum hpcm_stat stat;
		const char *what;
	} losses[] = {
		{ HPCM_STAT_DROP_EXEC, "exec records lost (ring buffer full)" },
		{ HPCM_STAT_DROP_EXIT, "exit records lost (ring buffer full; counters kept)" },
		{ HPCM_STAT_PROCS_FULL, "processes not tracked (process map full)" },
		{ HPCM_STAT_DROP_MOVE,
		  "cgroup move records lost (ring buffer full; their time before "
		  "the move went to the cgroup they moved to)" },
		{ HPCM_STAT_DROP_TAIL, "exit tail records lost (ring buffer full; what those "
				       "processes ran after their exit record is not metered)" },
		{ HPCM_STAT_EXITING_FULL, "exiting processes not followed to their end (map "
					  "full; what they run after their exit record is not "
					  "metered)" },
	};
	struct meter_stats st;

	if (meter_read_stats(m->meter, &st) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(losses); i++) {
		uint64_t now = st.counter[losses[i].stat],
			 *last = &m->interval->losses_seen[losses[i].stat];

		if (now > *last)
			log_warning("%llu %s since the last interval",
				    (unsigned long long)(now - *last), losses[i].what);
		*last = now;
	}
	if (st.bad_records > m->interval->bad_records_seen)
		log_warning("%llu malformed ring-buffer records ignored",
			    (unsigned long long)(st.bad_records - m->interval->bad_records_seen));
	m->interval->bad_records_seen = st.bad_records;
}

/* The BPF meter's usage of the closing interval, per cgroup, for the kernel meter's check. */
static void kmeter_visit(const void *node, VISIT which, void *closure)
{
	const struct usage_acc *u = *(const struct usage_acc *const *)node;

	if (which == postorder || which == leaf)
		kmeter_add_bpf(closure, u->cgroup_id, u->cpu_ns);
}

/* hpcmeterd --cluster: no meter; the interval reads the store and evaluates across it. */
static int cluster_collect(struct manager *m)
{
	uint64_t now, t0 = now_boottime_nsec();

	cluster_tick(m);
	manager_evaluate(m);
	now = now_realtime_usec();
	m->interval->readings++;
	m->interval->last_collect_usec = now;
	manager_ledger_state_check(m);
	manager_retention(m, now);
	ship_kick(m);
	m->interval->last_duration_usec = (now_boottime_nsec() - t0) / NSEC_PER_USEC;
	notify_changed(m, MANAGER_CHANGED_LAST_COLLECT);
	manager_meter_states_check(m);
	return 0;
}

int manager_collect(struct manager *m)
{
	uint64_t now, t0 = now_boottime_nsec();
	int r;

	if (m->cfg.cluster_mode)
		return cluster_collect(m);
	manager_clock_check(m);
	update_clock_offset(m);
	/* Records already in the ring buffer first: exits carry final counters. */
	meter_consume(m->meter);
	m->interval->readings++;
	procs_read(m);
	manager_gpu_collect(m);
	sessions_interval(m);
	report_losses(m);
	if (m->kmeter) {
		twalk_r(m->interval->usage, kmeter_visit, m->kmeter);
		kmeter_collect(m->kmeter);
	}
	now = now_realtime_usec();
	manager_gaps_interval(m, now);
	r = flush_interval(m, now);
	/* Before the evaluation: the cap ratios of what has usage series left. */
	manager_metrics_age(m);
	/* After the flush: caps see the interval just closed. */
	manager_evaluate(m);
	m->interval->last_collect_usec = now;
	manager_ledger_state_check(m);
	manager_metrics_write(m);
	manager_retention(m, now);
	ship_kick(m);
	m->interval->last_duration_usec = (now_boottime_nsec() - t0) / NSEC_PER_USEC;
	/* Once an hour, forget the paths of cgroups nobody used since the last time. */
	if (m->interval->readings % (3600 / m->cfg.interval_sec + 1) == 0) {
		attributor_age(m->attr);
		/* Ended jobs stay a day in memory (late usage still finds its account); the
		 * ledger keeps them for good. */
		job_table_expire(m->jobs, now - 86400 * USEC_PER_SEC);
	}
	notify_changed(m, MANAGER_CHANGED_LAST_COLLECT);
	manager_meter_states_check(m);
	return r;
}
int interval_new(struct manager *m)
{
	m->interval = calloc(1, sizeof(*m->interval));
	if (!m->interval)
		return -ENOMEM;
	m->interval->start_usec = now_realtime_usec();
	update_clock_offset(m);
	return 0;
}

void interval_meter_attached(struct manager *m)
{
	struct meter_stats st;

	/* Pinned loss counters continue: only what is lost from now on is new. */
	if (meter_read_stats(m->meter, &st) == 0)
		memcpy(m->interval->losses_seen, st.counter, sizeof(m->interval->losses_seen));
}

void interval_free(struct manager *m)
{
	if (!m->interval)
		return;
	tdestroy(m->interval->usage, free);
	tdestroy(m->interval->exes, exe_free);
	free(m->interval);
	m->interval = NULL;
}

uint64_t manager_last_collect_usec(const struct manager *m)
{
	return m->interval->last_collect_usec;
}

uint64_t interval_start_usec(const struct manager *m)
{
	return m->interval->start_usec;
}

uint64_t interval_readings(const struct manager *m)
{
	return m->interval->readings;
}

uint64_t interval_last_duration_usec(const struct manager *m)
{
	return m->interval->last_duration_usec;
}

int64_t interval_clock_offset_usec(const struct manager *m)
{
	return m->interval->boot_to_real_usec;
}

void interval_clock_shift(struct manager *m, int64_t jump_usec)
{
	m->interval->start_usec += jump_usec;
	if (m->interval->last_collect_usec)
		m->interval->last_collect_usec += jump_usec;
}
