// SPDX-License-Identifier: GPL-2.0-only
/* Violations: raised once, stored in the ledger first, then logged and told; open while their
 * condition holds, cleared when it ends. Process violations (a principal, an executable) are
 * raised at an exec and stay open while a live process meets them; the other terms' lifecycle
 * (raise once, approach at 80 and 95 %, clear) is the evaluator's tracker, whose effects are
 * here (violations_tracker_ops). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "util.h"

struct violations {
	void *raised; /* tsearch tree of the keys raised in this run (strings) */
	void *open; /* tsearch tree of struct open_proc_violation: process violations open */
};

int violations_new(struct manager *m)
{
	m->violations = calloc(1, sizeof(*m->violations));
	return m->violations ? 0 : -ENOMEM;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

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

bool violation_key_is_process(const char *key)
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
	node = tsearch(o, &m->violations->open, opv_cmp);
	if (!node) {
		opv_free(o);
		return -ENOMEM;
	}
	if (*node != o)
		opv_free(o); /* already open */
	return 0;
}

static void process_violation_raised(struct manager *m, const char *key, uint64_t seq,
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

/* Raise a process violation once per key (kind, licence, uid, executable, and the name run by
 * when that is what matched: for scripts the executable is the interpreter) while it is open:
 * store it, log it, signal it. */
void violations_raise_process(struct manager *m, const char *kind, const struct license *lic,
			      struct proc *p, const char *finding_key, const char *detail)
{
	char key[2 * PATH_MAX + 512], cgbuf[PATH_MAX + 32], job[32];
	const struct user_info *u = NULL;
	const char *cgroup = "";
	char *k;
	int r;

	snprintf(key, sizeof(key), "%s", finding_key);
	if (tfind(key, &m->violations->raised, str_cmp))
		return;
	k = strdup(key);
	if (!k || !tsearch(k, &m->violations->raised, str_cmp)) {
		free(k);
		log_error("out of memory recording violation %s", key);
	}

	if (p) {
		attributor_user(m->attr, p->uid, &u);
		cgroup = manager_attribution_path(m, p->cgroup_id, p->cgroup_v1_id, cgbuf,
						  sizeof(cgbuf));
	}
	slurm_job_from_cgroup(cgroup, job, sizeof(job));

	/* Where the work came from is recorded with every violation of a process in a remote
	 * session or a job submitted from another host (remote-access says it already). */
	const struct eval_origin *origin = p ? sessions_origin(m, p, NULL) : NULL;
	_cleanup_free_ char *with_origin = NULL;
	if (origin && !streq(kind, "remote-access")) {
		char from[EVAL_TEXT_MAX / 2];

		eval_origin_text(origin, from, sizeof(from));
		if (asprintf(&with_origin, "%s (remote: from %s)", detail, from) >= 0)
			detail = with_origin;
	}
	/* Paths and names are bytes; the ledger and the bus get valid UTF-8. */
	_cleanup_free_ char *user = strdup(u ? u->display_name : "");
	_cleanup_free_ char *exe = utf8_escape_invalid(p && p->exe ? p->exe : "");
	_cleanup_free_ char *det = utf8_escape_invalid(detail);
	if (!user || !exe || !det) {
		log_error("out of memory: violation %s of licence %s for pid %u not recorded", kind,
			  lic->id, p ? p->tgid : 0);
		return;
	}
	struct violation v = {
		.time_usec = now_realtime_usec(),
		.kind = kind,
		.license_id = lic->id,
		.pid = p ? p->tgid : 0,
		.uid = p ? p->uid : HPCMETER_UID_NONE,
		.user = user,
		.executable = exe,
		.cgroup = cgroup,
		.job = job,
		.detail = det,
	};
	r = ledger_add_violation(m->ledger, &v);
	if (r < 0) /* Still announce it: a violation must never be silent. */
		log_error("could not store violation #%llu in the ledger: %s",
			  (unsigned long long)v.seq, strerror(-r));
	log_notice("violation #%llu: %s: licence %s: pid %u uid %u (%s) %s%s%s: %s",
		   (unsigned long long)v.seq, kind, lic->id, v.pid, v.uid, v.user, v.executable,
		   job[0] ? " job " : "", job, detail);
	/* The process is the violation's evidence: a record of its own, exec and exit. */
	if (p)
		procs_keep_evidence(m, p, "violation");
	/* Open until no process meets the condition any more (manager-evaluate.c); in the
	 * ledger's lifecycle before the bus is told, so that the count it announces holds it. */
	process_violation_raised(m, key, v.seq, user);
	notify_violation_raised(m, &v);
}

static void forget_raised(struct manager *m, const char *key)
{
	void *node = tfind(key, &m->violations->raised, str_cmp);
	char *k;

	if (!node)
		return;
	k = *(char **)node;
	tdelete(key, &m->violations->raised, str_cmp);
	free(k);
}

static int remember_raised(struct manager *m, const char *key)
{
	char *k;

	if (tfind(key, &m->violations->raised, str_cmp))
		return 0;
	k = strdup(key);
	if (!k || !tsearch(k, &m->violations->raised, str_cmp)) {
		free(k);
		return -ENOMEM;
	}
	return 0;
}

int manager_record_violation(struct manager *m, struct violation *v)
{
	int r = ledger_add_violation(m->ledger, v);

	if (r < 0)
		log_error("could not store violation #%llu in the ledger: %s",
			  (unsigned long long)v->seq, strerror(-r));
	log_notice("violation #%llu: %s%s%s: %s%s%s", (unsigned long long)v->seq, v->kind,
		   v->license_id[0] ? ", licence " : "", v->license_id, v->cgroup,
		   v->cgroup[0] ? ": " : "", v->detail);
	notify_violation_raised(m, v);
	return r;
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

			node = tfind(&key, &m->violations->open, opv_cmp);
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
int violations_sweep(struct manager *m)
{
	static uint64_t generation;
	struct sweep_ctx s = { .m = m, .generation = ++generation };
	int r;

	/* Not before the first collection: the process table is not filled yet. */
	if (!m->violations->open || interval_readings(m) == 0)
		return 0;
	r = evaluation_with_inputs(m, mark_live, &s);
	if (r < 0)
		return r;
	twalk_r(m->violations->open, collect_ended, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct open_proc_violation *o = s.ended[i];

		on_clear(o->seq, o->key, m);
		forget_raised(m, o->key);
		tdelete(o, &m->violations->open, opv_cmp);
		opv_free(o);
	}
	free(s.ended);
	return 0;
}

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

const struct eval_tracker_ops violations_tracker_ops = {
	.raise = on_raise,
	.clear = on_clear,
	.approaching = on_approaching,
};

int violations_adopt_process(struct manager *m, uint64_t seq, const char *key)
{
	/* Not raised again while a process still meets it; cleared at the first interval
	 * otherwise. */
	int r = remember_raised(m, key);

	return r < 0 ? r : opv_add(m, key, seq);
}

void violations_free(struct manager *m)
{
	if (!m->violations)
		return;
	tdestroy(m->violations->raised, free);
	tdestroy(m->violations->open, opv_free);
	free(m->violations);
	m->violations = NULL;
}
