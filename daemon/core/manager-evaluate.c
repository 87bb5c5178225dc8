// SPDX-License-Identifier: GPL-2.0-only
/* The manager's side of the licence evaluator: fill its inputs from the live state (process
 * table, ledger, sysfs, identity), run it every interval, and turn its findings into the
 * violation lifecycle: ViolationRaised, ViolationCleared, ThresholdApproaching. */
#include <errno.h>
#include <search.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-query.h"
#include "notify.h"
#include "manager-gpu.h"
#include "util.h"

struct proc_list {
	struct manager *m;
	struct eval_process *items;
	char (*jobs)[32];
	size_t n, cap;
	int r;
};

static void add_proc(struct manager *m, uint32_t pid, uint32_t uid, const char *exe,
		     const char *filename, const char *cgroup, void *userdata)
{
	struct proc_list *pl = userdata;
	const struct user_info *u = NULL;
	const char *cg = cgroup;
	struct eval_process *p;

	if (pl->r < 0)
		return;
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 256;
		void *a = reallocarray(pl->items, cap, sizeof(*pl->items));
		void *b = a ? reallocarray(pl->jobs, cap, sizeof(*pl->jobs)) : NULL;

		if (a)
			pl->items = a;
		if (!a || !b) {
			pl->r = -ENOMEM;
			return;
		}
		pl->jobs = b;
		pl->cap = cap;
	}
	attributor_user(m->attr, uid, &u);
	slurm_job_from_cgroup(cg, pl->jobs[pl->n], sizeof(pl->jobs[pl->n]));
	p = &pl->items[pl->n++];
	*p = (struct eval_process){
		.pid = pid,
		.uid = uid,
		.user = u ? u->name : NULL,
		.groups = u ? (const char *const *)u->groups : NULL,
		.n_groups = u ? u->n_groups : 0,
		.exe = exe,
		.filename = filename,
		.exempt = uid < m->cfg.uid_min || !u,
	};
	manager_proc_digests(m, pid, &p->exe_sha256, &p->run_sha256, &p->run_path);
}

static void read_machine_id(char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/machine-id", "re");

	buf[0] = '\0';
	if (f && fgets(buf, size, f))
		buf[strcspn(buf, "\n")] = '\0';
}

/* The jobs the batch system announced as running here, for the evaluator. */
struct job_list {
	struct eval_job *items;
	size_t n, cap;
};

static void add_job(struct job_info *j, void *userdata)
{
	struct job_list *jl = userdata;

	if (j->end_usec)
		return; /* ended: its term cleared */
	if (jl->n == jl->cap) {
		size_t cap = jl->cap ? jl->cap * 2 : 64;
		struct eval_job *a = reallocarray(jl->items, cap, sizeof(*a));

		if (!a)
			return; /* the job is counted as seen only through its processes */
		jl->items = a;
		jl->cap = cap;
	}
	jl->items[jl->n++] = (struct eval_job){
		.job = j->id,
		.account = j->account && j->account[0] ? j->account : NULL,
		.wckey = j->wckey && j->wckey[0] ? j->wckey : NULL,
		.comment = j->comment && j->comment[0] ? j->comment : NULL,
	};
}

static const char *vendor_name(uint32_t vendor_id)
{
	switch (vendor_id) {
	case 0x10de:
		return "nvidia";
	case 0x1002:
		return "amd";
	case 0x8086:
		return "intel";
	default:
		return "other";
	}
}

/* Usage sums from the ledger, except for metrics this node does not count: a cap on kernel
 * launches is not evaluated (rather than met with zero) while the GPU meter runs light. */
static int node_usage(void *userdata, const char *metric, enum license_cap_scope scope,
		      uint64_t from_usec, uint64_t to_usec,
		      int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	struct manager *m = userdata;

	if (!manager_gpu_counts(m, metric))
		return -EOPNOTSUPP;
	/* Accounts come from the batch system's announcements: none on this node, no source. */
	if (scope == LICENSE_SCOPE_ACCOUNT && !m->jobs_announced)
		return -EOPNOTSUPP;
	return usage_cache_query(m->usage_cache, metric, scope, from_usec, to_usec, fn, ud);
}

/* Runs fn over every usable licence with the inputs of this moment. */
static int with_inputs(struct manager *m,
		       int (*fn)(struct manager *m, const struct license *l,
				 const struct eval_input *in, void *ud),
		       void *ud)
{
	struct proc_list pl = { .m = m };
	struct job_list jl = {};
	struct inventory *inv = NULL;
	_cleanup_free_ struct eval_accelerator *accels = NULL;
	char machine_id[64], (*devnames)[16] = NULL;
	size_t n_accels = 0;
	int r, inv_r;

	manager_foreach_proc(m, add_proc, &pl);
	if (pl.r < 0) {
		free(pl.items);
		free(pl.jobs);
		return pl.r;
	}
	for (size_t i = 0; i < pl.n; i++)
		pl.items[i].job = pl.jobs[i];
	job_table_foreach(m->jobs, add_job, &jl);
	read_machine_id(machine_id, sizeof(machine_id));
	/* The accelerators now, not at start: a GPU added or swapped shows at once. */
	inv_r = manager_gpu_rescan(m, &inv);
	if (inv_r == 0 && inv->n_devices) {
		accels = calloc(inv->n_devices, sizeof(*accels));
		devnames = calloc(inv->n_devices, sizeof(*devnames));
		if (!accels || !devnames)
			inv_r = -ENOMEM;
	}
	for (size_t i = 0; inv_r == 0 && i < inv->n_devices; i++) {
		const struct accel_device *d = &inv->devices[i];

		snprintf(devnames[i], sizeof(devnames[i]), "%04x:%04x", d->vendor_id, d->device_id);
		accels[n_accels++] = (struct eval_accelerator){
			.vendor = vendor_name(d->vendor_id),
			.device = d->model ? d->model->name : devnames[i],
			.bus_id = d->bus_id,
			.uuid = d->uuid[0] ? d->uuid : NULL,
		};
	}
	struct eval_input in = {
		.now = (int64_t)(now_realtime_usec() / USEC_PER_SEC),
		.hostname = m->hostname,
		.machine_id = machine_id[0] ? machine_id : NULL,
		.procs = pl.items,
		.n_procs = pl.n,
		/* Job information comes from the batch system's announcements (JobStarted):
		 * known once this node has had any. */
		.jobs_known = m->jobs_announced,
		.jobs = jl.items,
		.n_jobs = jl.n,
		.inventory_known = inv_r == 0,
		.accels = accels,
		.n_accels = n_accels,
		.usage = m->usage_cache ? node_usage : NULL,
		.usage_userdata = m,
	};
	r = 0;
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries && r >= 0; i++)
		if (m->licenses->entries[i].license)
			r = fn(m, m->licenses->entries[i].license, &in, ud);
	inventory_free(inv);
	free(devnames);
	free(jl.items);
	free(pl.items);
	free(pl.jobs);
	return r;
}

/* ---- process violations: raised at an exec, open while a process meets them ---- */

struct open_proc_violation {
	char *key;
	uint64_t seq;
	uint64_t generation;
};

static int opv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct open_proc_violation *)a)->key,
		      ((const struct open_proc_violation *)b)->key);
}

static void opv_free(void *p)
{
	struct open_proc_violation *o = p;

	free(o->key);
	free(o);
}

static bool is_process_kind(const char *key)
{
	static const char *const kinds[] = { "prohibited-executable|", "unlisted-executable|",
					     "unpermitted-user|", "remote-access|" };

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strncmp(key, kinds[i], strlen(kinds[i])) == 0)
			return true;
	return false;
}

static int opv_add(struct manager *m, const char *key, uint64_t seq)
{
	struct open_proc_violation *o = calloc(1, sizeof(*o)), **node;

	if (!o || !(o->key = strdup(key))) {
		free(o);
		return -ENOMEM;
	}
	o->seq = seq;
	node = tsearch(o, &m->process_open, opv_cmp);
	if (!node) {
		opv_free(o);
		return -ENOMEM;
	}
	if (*node != o)
		opv_free(o); /* already open */
	return 0;
}

void manager_process_violation_raised(struct manager *m, const char *key, uint64_t seq,
				      const char *user)
{
	const char *kind_end = strchr(key, '|');
	char term[64];

	if (!seq)
		return;
	snprintf(term, sizeof(term), "%.*s", kind_end ? (int)(kind_end - key) : 0, key);
	ledger_set_violation_evidence(m->ledger, seq, key, term, user, NAN, NAN);
	if (opv_add(m, key, seq) < 0)
		log_error("out of memory tracking violation #%llu", (unsigned long long)seq);
}

struct sweep_ctx {
	struct manager *m;
	uint64_t generation;
	struct open_proc_violation **ended;
	size_t n, cap;
};

static int mark_live(struct manager *m, const struct license *l, const struct eval_input *in,
		     void *ud)
{
	struct sweep_ctx *s = ud;

	for (size_t i = 0; i < in->n_procs; i++) {
		struct eval_result res = {};
		int r = evaluate_process(l, &in->procs[i], &res);

		for (size_t k = 0; r == 0 && k < res.n_findings; k++) {
			struct open_proc_violation key = { .key = res.findings[k].key }, **node;

			node = tfind(&key, &m->process_open, opv_cmp);
			if (node)
				(*node)->generation = s->generation;
		}
		eval_result_done(&res);
		if (r < 0)
			return r;
	}
	return 0;
}

static void collect_ended(const void *node, VISIT which, void *closure)
{
	struct sweep_ctx *s = closure;
	struct open_proc_violation *o = *(struct open_proc_violation *const *)node;

	if ((which != postorder && which != leaf) || o->generation == s->generation)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct open_proc_violation **e = reallocarray(s->ended, cap, sizeof(*e));

		if (!e)
			return;
		s->ended = e;
		s->cap = cap;
	}
	s->ended[s->n++] = o;
}

static void on_clear(uint64_t seq, const char *key, void *userdata);

/* A process violation ends when no live process meets it any more: the process exited,
 * changed its executable or owner, or the licence changed. It is then cleared, and may be
 * raised again by the next process that meets it. */
static int sweep_process_violations(struct manager *m)
{
	static uint64_t generation;
	struct sweep_ctx s = { .m = m, .generation = ++generation };
	int r;

	/* Not before the first collection: the process table is not filled yet. */
	if (!m->process_open || m->collections == 0)
		return 0;
	r = with_inputs(m, mark_live, &s);
	if (r < 0)
		return r;
	twalk_r(m->process_open, collect_ended, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct open_proc_violation *o = s.ended[i];

		on_clear(o->seq, o->key, m);
		manager_forget_raised(m, o->key);
		tdelete(o, &m->process_open, opv_cmp);
		opv_free(o);
	}
	free(s.ended);
	return 0;
}

/* ---- the lifecycle's effects ---- */

static uint64_t on_raise(const struct eval_finding *f, void *userdata)
{
	struct manager *m = userdata;
	const char *lic = f->key, *end;
	char id[160];

	/* Keys are "kind|licence|...". */
	lic = strchr(f->key, '|');
	lic = lic ? lic + 1 : "";
	end = strchr(lic, '|');
	snprintf(id, sizeof(id), "%.*s", end ? (int)(end - lic) : (int)strlen(lic), lic);
	_cleanup_free_ char *det = utf8_escape_invalid(f->detail);
	_cleanup_free_ char *exe = utf8_escape_invalid(f->exe);
	_cleanup_free_ char *subject = utf8_escape_invalid(f->subject);
	if (!det || !exe || !subject)
		return 0;
	struct violation v = {
		.time_usec = now_realtime_usec(),
		.kind = f->kind,
		.license_id = id,
		.pid = f->pid,
		.uid = f->uid,
		.user = f->pid ? subject : "",
		.executable = exe,
		.cgroup = "",
		.job = f->job,
		.detail = det,
	};
	int r = ledger_add_violation(m->ledger, &v);
	if (r < 0)
		log_error("could not store violation #%llu in the ledger: %s",
			  (unsigned long long)v.seq, strerror(-r));
	ledger_set_violation_evidence(m->ledger, v.seq, f->key, f->term, subject, f->measured,
				      f->limit);
	log_notice("violation #%llu: %s: licence %s: %s", (unsigned long long)v.seq, f->kind, id,
		   det);
	notify_violation_raised(m, &v);
	return v.seq;
}

static void on_clear(uint64_t seq, const char *key, void *userdata)
{
	struct manager *m = userdata;
	uint64_t now = now_realtime_usec();

	if (!seq)
		return;
	ledger_clear_violation(m->ledger, seq, now);
	log_notice("violation #%llu cleared: the condition ended (%s)", (unsigned long long)seq,
		   key);
	notify_violation_cleared(m, seq, now, key);
}

static void on_approaching(const struct eval_finding *f, void *userdata)
{
	struct manager *m = userdata;
	const char *lic = strchr(f->key, '|');
	char id[160];
	const char *end;

	lic = lic ? lic + 1 : "";
	end = strchr(lic, '|');
	snprintf(id, sizeof(id), "%.*s", end ? (int)(end - lic) : (int)strlen(lic), lic);
	_cleanup_free_ char *det = utf8_escape_invalid(f->detail);
	_cleanup_free_ char *subject = utf8_escape_invalid(f->subject);
	if (!det || !subject)
		return;
	struct threshold_event e = {
		.time_usec = now_realtime_usec(),
		.license_id = id,
		.term = f->term,
		.subject = subject,
		.level = f->level,
		.measured = f->measured,
		.limit = f->limit,
		.detail = det,
	};
	if (ledger_add_threshold_event(m->ledger, &e) < 0)
		log_error("could not store the threshold event in the ledger");
	log_notice("threshold #%llu: licence %s %s at %u %%: %s", (unsigned long long)e.seq, id,
		   f->term, f->level, det);
	notify_threshold(m, &e);
}

static const struct eval_tracker_ops tracker_ops = {
	.raise = on_raise,
	.clear = on_clear,
	.approaching = on_approaching,
};

static int eval_one(struct manager *m, const struct license *l, const struct eval_input *in,
		    void *ud)
{
	int r = evaluate_license(l, in, ud);

	if (r < 0)
		log_error("evaluating licence %s failed: %s", l->id, strerror(-r));
	return r == -ENOMEM ? r : 0;
}

int manager_evaluate(struct manager *m)
{
	struct eval_result res = {};
	int r;

	if (!m->tracker)
		return 0;
	r = with_inputs(m, eval_one, &res);
	if (r == 0)
		r = eval_tracker_update(m->tracker, &res, &tracker_ops, m);
	m->terms_not_evaluated = 0;
	for (size_t i = 0; i < res.n_terms; i++)
		m->terms_not_evaluated += res.terms[i].state == EVAL_NOT_EVALUATED;
	if (r == 0)
		r = sweep_process_violations(m);
	if (r < 0)
		log_error("licence evaluation failed: %s", strerror(-r));
	eval_result_done(&res);
	return r;
}

struct explain_ctx {
	const char *id;
	struct eval_result *res;
	bool found;
};

static int explain_one(struct manager *m, const struct license *l, const struct eval_input *in,
		       void *ud)
{
	struct explain_ctx *x = ud;

	if (!streq(l->id, x->id))
		return 0;
	x->found = true;
	return evaluate_license(l, in, x->res);
}

int manager_explain(struct manager *m, const char *id, struct eval_result *res)
{
	struct explain_ctx x = { .id = id, .res = res };
	int r = with_inputs(m, explain_one, &x);

	if (r < 0)
		return r;
	return x.found ? 0 : -ENOENT;
}

static int adopt(uint64_t seq, const char *key, void *userdata)
{
	struct manager *m = userdata;
	int r;

	if (!is_process_kind(key))
		return eval_tracker_adopt(m->tracker, key, seq);
	/* Not raised again while a process still meets it; cleared at the first interval
	 * otherwise. */
	r = manager_remember_raised(m, key);
	return r < 0 ? r : opv_add(m, key, seq);
}

int manager_evaluate_start(struct manager *m)
{
	int r = eval_tracker_new(&m->tracker);

	if (r < 0)
		return r;
	/* Violations still open from the last run stay raised once: they clear, or stay. */
	r = ledger_list_open_violations(m->ledger, adopt, m);
	if (r < 0)
		log_warning("cannot read open violations from the ledger: %s", strerror(-r));
	r = ledger_query_open_readonly(ledger_path(m->ledger), &m->query_db);
	if (r == 0)
		r = usage_cache_new(m->query_db, &m->usage_cache);
	if (r < 0) {
		log_warning("cannot open the ledger for usage queries: %s (caps not evaluated)",
			    strerror(-r));
		sqlite3_close(m->query_db);
		m->query_db = NULL;
	}
	return 0;
}

void manager_evaluate_stop(struct manager *m)
{
	eval_tracker_free(m->tracker);
	m->tracker = NULL;
	usage_cache_free(m->usage_cache);
	m->usage_cache = NULL;
	tdestroy(m->process_open, opv_free);
	m->process_open = NULL;
	sqlite3_close(m->query_db);
	m->query_db = NULL;
}
