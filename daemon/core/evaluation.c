// SPDX-License-Identifier: GPL-2.0-only
/* The licence evaluator's side in the daemon: fill its inputs from the live state (process
 * table, jobs, ledger, sysfs, identity) and run it every interval, at each exec for the
 * process, and after a reload; its findings go to violations.c. */
#include <errno.h>
#include <search.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-query.h"
#include "manager.h"
#include "util.h"

/* What a process was evaluated on at its exec, when no licence found anything: the next exec
 * of the same program by the same uid from the same place needs no evaluation (the common case
 * of a busy node: the same few programs over and over). Forgotten at each interval and at each
 * reload, so that a change of time (validity), of a user's groups or of the licences counts
 * within one. */
struct clean_key {
	uint32_t uid;
	char *exe, *filename, *exe_sha256, *run_sha256, *run_path; /* "" for NULL */
	char *remote; /* where the work came from: "HOST|ADDRESS|STATE", "" when local */
};

#define CLEAN_MAX 4096
#define ORIGIN_KEY_MAX 320 /* "HOST|ADDRESS|STATE" */

struct evaluation {
	void *clean; /* tsearch tree of struct clean_key */
	size_t n_clean;
	uint64_t evaluated, skipped; /* per-exec evaluations done, and found clean already */
	struct eval_tracker *tracker; /* the violation lifecycle of periodic terms */
	struct sqlite3 *query_db; /* read-only ledger connection for usage queries */
	struct usage_cache *usage_cache; /* cumulative usage sums, read incrementally */
	unsigned terms_not_evaluated; /* at the last evaluation, over all licences */
};

struct proc_list {
	struct manager *m;
	struct eval_process *items;
	char (*jobs)[32];
	size_t n, cap;
	int r;
};

static void add_proc(struct manager *m, struct proc *pr, const char *cgroup, void *userdata)
{
	struct proc_list *pl = userdata;
	const struct user_info *u = NULL;
	const char *cg = cgroup;
	struct eval_process *p;

	if (pl->r < 0 || !manager_in_scope(m, pr->cgroup_id))
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
	attributor_user(m->attr, pr->uid, &u);
	slurm_job_from_cgroup(cg, pl->jobs[pl->n], sizeof(pl->jobs[pl->n]));
	const struct eval_origin *origin = sessions_origin(m, pr, pl->jobs[pl->n]);
	p = &pl->items[pl->n++];
	*p = (struct eval_process){
		.pid = pr->tgid,
		.uid = pr->uid,
		.user = u ? u->name : NULL,
		.groups = u ? (const char *const *)u->groups : NULL,
		.n_groups = u ? u->n_groups : 0,
		.exe = pr->exe,
		.filename = pr->filename,
		.exe_sha256 = pr->exe_sha256,
		.run_sha256 = pr->run_sha256,
		.run_path = pr->run_path,
		.exempt = pr->uid < m->cfg.uid_min || !u,
		.origin = origin,
	};
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
	struct manager *m;
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
		.origin = sessions_job_origin(jl->m, j->id),
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
	if ((scope == LICENSE_SCOPE_ACCOUNT || scope == LICENSE_SCOPE_PROJECT) &&
	    !m->jobs_announced)
		return -EOPNOTSUPP;
	return usage_cache_query(m->evaluation->usage_cache, metric, scope, from_usec, to_usec, fn,
				 ud);
}

int evaluation_with_inputs(struct manager *m,
			   int (*fn)(struct manager *m, const struct license *l,
				     const struct eval_input *in, void *ud),
			   void *ud)
{
	struct proc_list pl = { .m = m };
	struct job_list jl = { .m = m };
	struct inventory *inv = NULL;
	_cleanup_free_ struct eval_accelerator *accels = NULL;
	char machine_id[64], (*devnames)[16] = NULL;
	size_t n_accels = 0;
	int r, inv_r;

	procs_foreach(m, add_proc, &pl);
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
		.sessions_unknown = sessions_unknown(m),
		.accels = accels,
		.n_accels = n_accels,
		.usage = m->evaluation->usage_cache ? node_usage : NULL,
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

static bool license_usable(const struct license_entry *e)
{
	return e->license != NULL;
}

static int clean_cmp(const void *a, const void *b)
{
	const struct clean_key *x = a, *y = b;
	int c;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if ((c = strcmp(x->exe, y->exe)) || (c = strcmp(x->filename, y->filename)) ||
	    (c = strcmp(x->exe_sha256, y->exe_sha256)) ||
	    (c = strcmp(x->run_sha256, y->run_sha256)) || (c = strcmp(x->remote, y->remote)))
		return c;
	return strcmp(x->run_path, y->run_path);
}

static void clean_free(void *p)
{
	struct clean_key *k = p;

	free(k->exe);
	free(k->filename);
	free(k->exe_sha256);
	free(k->run_sha256);
	free(k->run_path);
	free(k->remote);
	free(k);
}

static void clean_forget(struct evaluation *ev)
{
	tdestroy(ev->clean, clean_free);
	ev->clean = NULL;
	ev->n_clean = 0;
}

static void clean_remember(struct evaluation *ev, const struct clean_key *key)
{
	struct clean_key *k;

	if (ev->n_clean >= CLEAN_MAX)
		clean_forget(ev);
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->uid = key->uid;
	k->exe = strdup(key->exe);
	k->filename = strdup(key->filename);
	k->exe_sha256 = strdup(key->exe_sha256);
	k->run_sha256 = strdup(key->run_sha256);
	k->run_path = strdup(key->run_path);
	k->remote = strdup(key->remote);
	if (!k->exe || !k->filename || !k->exe_sha256 || !k->run_sha256 || !k->run_path ||
	    !k->remote || !tsearch(k, &ev->clean, clean_cmp)) {
		clean_free(k);
		return;
	}
	ev->n_clean++;
}

void evaluation_proc(struct manager *m, struct proc *p, const char *filename)
{
	const struct user_info *u = NULL;
	bool exempt = p->uid < m->cfg.uid_min, found = false;
	struct evaluation *ev = m->evaluation;

	if (!m->licenses || !manager_in_scope(m, p->cgroup_id))
		return;
	if (!filename)
		filename = p->filename; /* re-evaluated: the name it was run by at its exec */
	digests_hash(m, p, filename);
	/* Digests still pending: evaluated again when they are back (not remembered as clean). */
	bool settled = !p->digests_pending && ev;
	/* Where the work came from is part of what was evaluated: a program that is clean run
	 * locally may be remote access from elsewhere. */
	const struct eval_origin *origin = sessions_origin(m, p, NULL);
	char remote[ORIGIN_KEY_MAX] = "";
	if (origin)
		snprintf(remote, sizeof(remote), "%s|%s|%d", origin->host,
			 origin->address ? origin->address : "", (int)origin->address_state);
	struct clean_key key = {
		.uid = p->uid,
		.exe = p->exe ? p->exe : "",
		.filename = (char *)(filename ? filename : ""),
		.exe_sha256 = p->exe_sha256 ? p->exe_sha256 : "",
		.run_sha256 = p->run_sha256 ? p->run_sha256 : "",
		.run_path = p->run_path ? p->run_path : "",
		.remote = remote,
	};
	if (settled && tfind(&key, &ev->clean, clean_cmp)) {
		ev->skipped++;
		return;
	}
	if (ev)
		ev->evaluated++;
	/* The name is looked up for remote processes of system accounts too: their remote access
	 * is evaluated, and recorded with the user. */
	if ((!exempt || origin) && attributor_user(m->attr, p->uid, &u) < 0)
		exempt = true; /* unknown user: principal terms cannot be checked */
	for (size_t i = 0; i < m->licenses->n_entries; i++) {
		const struct license_entry *e = &m->licenses->entries[i];
		struct eval_result res = {};
		struct eval_process ep = {
			.pid = p->tgid,
			.uid = p->uid,
			.user = u ? u->name : NULL,
			.groups = u ? (const char *const *)u->groups : NULL,
			.n_groups = u ? u->n_groups : 0,
			.exe = p->exe,
			.filename = filename,
			.exe_sha256 = p->exe_sha256,
			.run_sha256 = p->run_sha256,
			.run_path = p->run_path,
			.exempt = exempt,
			.origin = origin,
		};

		if (!license_usable(e))
			continue;
		if (evaluate_process(e->license, &ep, &res) < 0)
			log_error("out of memory evaluating pid %u", p->tgid);
		for (size_t k = 0; k < res.n_findings; k++) {
			const struct eval_finding *f = &res.findings[k];

			violations_raise_process(m, f->kind, e->license, p, f->key, f->detail);
		}
		found |= res.n_findings > 0;
		eval_result_done(&res);
	}
	if (settled && !found)
		clean_remember(ev, &key);
}

void evaluation_changed(struct manager *m)
{
	if (m->evaluation)
		clean_forget(m->evaluation);
}

void evaluation_stats(const struct manager *m, uint64_t *evaluated, uint64_t *skipped)
{
	*evaluated = m->evaluation ? m->evaluation->evaluated : 0;
	*skipped = m->evaluation ? m->evaluation->skipped : 0;
}

static int eval_one(struct manager *m, const struct license *l, const struct eval_input *in,
		    void *ud)
{
	struct eval_input observed = *in;
	int r;

	/* The caps' figures for the metrics, from this evaluation rather than a second query. */
	observed.cap_observer = &metrics_cap_observer;
	observed.cap_observer_userdata = m;
	r = evaluate_license(l, &observed, ud);

	if (r < 0)
		log_error("evaluating licence %s failed: %s", l->id, strerror(-r));
	return r == -ENOMEM ? r : 0;
}

int manager_evaluate(struct manager *m)
{
	struct eval_result res = {};
	int r;

	if (!m->evaluation || !m->evaluation->tracker)
		return 0;
	/* Time has passed (validity), users and licences may have changed: execs are evaluated
	 * afresh from here on. */
	clean_forget(m->evaluation);
	manager_metrics_caps_begin(m);
	if (m->cfg.cluster_mode)
		r = cluster_evaluate(m, NULL, &res);
	else
		r = evaluation_with_inputs(m, eval_one, &res);
	manager_metrics_caps_end(m);
	if (r == 0)
		r = eval_tracker_update(m->evaluation->tracker, &res, &violations_tracker_ops, m);
	m->evaluation->terms_not_evaluated = 0;
	for (size_t i = 0; i < res.n_terms; i++)
		m->evaluation->terms_not_evaluated += res.terms[i].state == EVAL_NOT_EVALUATED;
	if (r == 0)
		r = violations_sweep(m);
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
	int r;

	if (m->cfg.cluster_mode)
		return cluster_evaluate(m, id, res);
	r = evaluation_with_inputs(m, explain_one, &x);

	if (r < 0)
		return r;
	return x.found ? 0 : -ENOENT;
}

static int adopt(uint64_t seq, const char *key, void *userdata)
{
	struct manager *m = userdata;
	int r;

	if (!violation_key_is_process(key))
		return eval_tracker_adopt(m->evaluation->tracker, key, seq);
	r = violations_adopt_process(m, seq, key);
	return r;
}

int evaluation_start(struct manager *m)
{
	int r;

	m->evaluation = calloc(1, sizeof(*m->evaluation));
	if (!m->evaluation)
		return -ENOMEM;
	r = eval_tracker_new(&m->evaluation->tracker);

	if (r < 0)
		return r;
	/* Violations still open from the last run stay raised once: they clear, or stay. */
	r = ledger_list_open_violations(m->ledger, adopt, m);
	if (r < 0)
		log_warning("cannot read open violations from the ledger: %s", strerror(-r));
	r = ledger_query_open_readonly(ledger_path(m->ledger), &m->evaluation->query_db);
	if (r == 0)
		r = usage_cache_new(m->evaluation->query_db, &m->evaluation->usage_cache);
	if (r < 0) {
		log_warning("cannot open the ledger for usage queries: %s (caps not evaluated)",
			    strerror(-r));
		sqlite3_close(m->evaluation->query_db);
		m->evaluation->query_db = NULL;
	}
	return 0;
}

void evaluation_stop(struct manager *m)
{
	if (!m->evaluation)
		return;
	clean_forget(m->evaluation);
	eval_tracker_free(m->evaluation->tracker);
	usage_cache_free(m->evaluation->usage_cache);
	sqlite3_close(m->evaluation->query_db);
	free(m->evaluation);
	m->evaluation = NULL;
}

unsigned evaluation_terms_not_evaluated(const struct manager *m)
{
	return m->evaluation ? m->evaluation->terms_not_evaluated : 0;
}
