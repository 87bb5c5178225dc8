// SPDX-License-Identifier: GPL-2.0-only
/* Metrics for Prometheus: usage per job, violations, gaps, losses, meter and ledger state,
 * licences (validity, cap usage ratios), the build. The same families go out as OpenMetrics
 * (hpcmeterctl metrics, via D-Bus) and as the Prometheus text format in --metrics-file,
 * written atomically each interval for node_exporter's textfile collector. Counters count
 * since the daemon started, as Prometheus expects of counters. The series of a job and user
 * go once they had no usage for metrics_series_grace (whole intervals), and so do the cap
 * ratios of that job, user or account: the number of series stays bounded. */
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger-migrate.h"
#include "ledger-query.h"
#include "manager.h"
#include "util.h"

/* One cap's usage ratio at the last evaluation: of one subject, or the highest of all
 * (subject NULL). */
struct cap_sample {
	char *license_id, *cap, *metric, *subject;
	const char *scope, *period; /* static names */
	double ratio;
};

struct cap_samples {
	struct cap_sample *v;
	size_t n, allocated;
};

struct metrics {
	void *series; /* tsearch tree of struct series: usage per job and user since start */
	size_t n_series;
	struct cap_samples caps; /* of the last evaluation */
	/* While an evaluation runs: its samples, and what has usage series (cap subjects with
	 * none are not exported). */
	struct cap_samples next;
	bool evaluating;
	void *live_jobs, *live_accounts; /* tsearch trees of const char * */
	void *live_projects; /* tsearch tree of char *, owned */
	void *live_uids; /* tsearch tree of const uint32_t * */
};

struct series {
	char *job, *user;
	uint32_t uid;
	uint64_t cpu_ns, gpu_ns;
	uint64_t active_in; /* the reading whose interval last had usage */
};

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->job, y->job);

	if (c)
		return c;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(x->user, y->user);
}

static void series_free(void *p)
{
	struct series *j = p;

	free(j->job);
	free(j->user);
	free(j);
}

void manager_metrics_account(struct manager *m, const char *job, const char *user, uint32_t uid,
			     uint64_t cpu_ns, uint64_t gpu_ns)
{
	struct series key = { .job = (char *)job, .user = (char *)user, .uid = uid }, *j;
	void *node;

	if (!cpu_ns && !gpu_ns)
		return;
	node = tfind(&key, &m->metrics->series, series_cmp);
	if (node) {
		j = *(struct series **)node;
	} else {
		j = calloc(1, sizeof(*j));
		if (!j)
			return;
		j->job = strdup(job);
		j->user = strdup(user);
		j->uid = uid;
		if (!j->job || !j->user || !tsearch(j, &m->metrics->series, series_cmp)) {
			series_free(j);
			return;
		}
		m->metrics->n_series++;
	}
	j->cpu_ns += cpu_ns;
	j->gpu_ns += gpu_ns;
	j->active_in = interval_readings(m);
}

/* The grace in readings: whole intervals, rounded up. */
static uint64_t grace_readings(const struct manager *m)
{
	return (m->cfg.metrics_series_grace_sec + m->cfg.interval_sec - 1) / m->cfg.interval_sec;
}

struct age {
	struct series **gone;
	size_t n;
	uint64_t readings, grace;
};

static void age_visit(const void *node, VISIT which, void *closure)
{
	struct age *a = closure;
	struct series *j = *(struct series *const *)node;

	if (which != postorder && which != leaf)
		return;
	if (a->readings - j->active_in > a->grace)
		a->gone[a->n++] = j;
}

void manager_metrics_age(struct manager *m)
{
	struct metrics *mt = m->metrics;
	struct age a = { .readings = interval_readings(m), .grace = grace_readings(m) };

	if (!mt->n_series)
		return;
	/* Collected first: a tree is not changed while it is walked. */
	a.gone = calloc(mt->n_series, sizeof(*a.gone));
	if (!a.gone)
		return; /* kept one more interval */
	twalk_r(mt->series, age_visit, &a);
	for (size_t i = 0; i < a.n; i++) {
		tdelete(a.gone[i], &mt->series, series_cmp);
		series_free(a.gone[i]);
	}
	mt->n_series -= a.n;
	free(a.gone);
}

static void cap_samples_clear(struct cap_samples *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].license_id);
		free(s->v[i].cap);
		free(s->v[i].metric);
		free(s->v[i].subject);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void cap_sample_add(struct cap_samples *s, const struct license *l,
			   const struct license_cap *c, const char *subject, double value)
{
	struct cap_sample *x;

	if (s->n == s->allocated) {
		size_t n = s->allocated ? s->allocated * 2 : 16;

		x = reallocarray(s->v, n, sizeof(*x));
		if (!x)
			return;
		s->v = x;
		s->allocated = n;
	}
	x = &s->v[s->n];
	*x = (struct cap_sample){
		.license_id = strdup(l->id),
		.cap = strdup(c->id),
		.metric = strdup(c->metric),
		.subject = subject ? strdup(subject) : NULL,
		.scope = license_scope_name(c->scope),
		.period = license_period_name(c->period),
		.ratio = value / c->limit,
	};
	if (!x->license_id || !x->cap || !x->metric || (subject && !x->subject)) {
		free(x->license_id);
		free(x->cap);
		free(x->metric);
		free(x->subject);
		return;
	}
	s->n++;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void noop_free(void *p)
{
}

static void live_visit(const void *node, VISIT which, void *closure)
{
	struct manager *m = closure;
	struct metrics *mt = m->metrics;
	struct series *j = *(struct series *const *)node;
	const struct job_info *ji;

	if (which != postorder && which != leaf)
		return;
	/* Pointers into the series and the job table, which do not change during an
	 * evaluation. */
	tsearch(&j->uid, &mt->live_uids, uid_cmp);
	if (!j->job[0])
		return;
	tsearch(j->job, &mt->live_jobs, str_cmp);
	ji = job_table_get(m->jobs, j->job, false);
	if (ji && ji->account && ji->account[0])
		tsearch(ji->account, &mt->live_accounts, str_cmp);
	if (ji) {
		char project[256];
		char *dup;

		license_job_project(ji->wckey, ji->comment, project, sizeof(project));
		if (project[0] && !tfind(project, &mt->live_projects, str_cmp) &&
		    (dup = strdup(project)) && !tsearch(dup, &mt->live_projects, str_cmp))
			free(dup);
	}
}

static void live_forget(struct metrics *mt)
{
	tdestroy(mt->live_jobs, noop_free);
	tdestroy(mt->live_accounts, noop_free);
	tdestroy(mt->live_uids, noop_free);
	tdestroy(mt->live_projects, free);
	mt->live_jobs = mt->live_accounts = mt->live_uids = mt->live_projects = NULL;
}

void manager_metrics_caps_begin(struct manager *m)
{
	struct metrics *mt = m->metrics;

	live_forget(mt);
	cap_samples_clear(&mt->next);
	twalk_r(mt->series, live_visit, m);
	mt->evaluating = true;
}

void manager_metrics_caps_end(struct manager *m)
{
	struct metrics *mt = m->metrics;

	live_forget(mt);
	cap_samples_clear(&mt->caps);
	mt->caps = mt->next;
	memset(&mt->next, 0, sizeof(mt->next));
	mt->evaluating = false;
}

/* Whether a cap's subject has usage series now: a per-job cap's job, a per-user cap's user, a
 * job of a per-account cap's account. */
static bool subject_live(struct metrics *mt, enum license_cap_scope scope, const char *subject)
{
	uint32_t uid;

	switch (scope) {
	case LICENSE_SCOPE_LICENSE:
		return true;
	case LICENSE_SCOPE_JOB:
		return tfind(subject, &mt->live_jobs, str_cmp) != NULL;
	case LICENSE_SCOPE_ACCOUNT:
		return tfind(subject, &mt->live_accounts, str_cmp) != NULL;
	case LICENSE_SCOPE_PROJECT:
		return tfind(subject, &mt->live_projects, str_cmp) != NULL;
	case LICENSE_SCOPE_USER:
		return usage_subject_uid(subject, &uid) == 0 &&
		       tfind(&uid, &mt->live_uids, uid_cmp) != NULL;
	}
	return false;
}

static void observe_subject(void *userdata, const struct license *l, const struct license_cap *c,
			    const char *subject, double value)
{
	struct manager *m = userdata;

	if (m->metrics->evaluating && subject_live(m->metrics, c->scope, subject))
		cap_sample_add(&m->metrics->next, l, c, subject, value);
}

static void observe_evaluated(void *userdata, const struct license *l, const struct license_cap *c,
			      unsigned n_subjects, double highest)
{
	struct manager *m = userdata;

	if (m->metrics->evaluating)
		cap_sample_add(&m->metrics->next, l, c, NULL, highest);
}

const struct eval_cap_observer metrics_cap_observer = {
	.subject = observe_subject,
	.evaluated = observe_evaluated,
};

int metrics_new(struct manager *m)
{
	m->metrics = calloc(1, sizeof(*m->metrics));
	return m->metrics ? 0 : -ENOMEM;
}

void metrics_free(struct manager *m)
{
	if (!m->metrics)
		return;
	tdestroy(m->metrics->series, series_free);
	live_forget(m->metrics);
	cap_samples_clear(&m->metrics->caps);
	cap_samples_clear(&m->metrics->next);
	free(m->metrics);
	m->metrics = NULL;
}

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

struct render {
	FILE *f;
	bool om;
};

enum family_type { COUNTER, GAUGE, INFO };

/* name is the family's name in OpenMetrics. The Prometheus text format names the sample
 * instead: NAME_total for a counter, NAME_info (a gauge of 1) for an info family. */
static void family(struct render *r, const char *name, enum family_type type, const char *unit,
		   const char *help)
{
	static const char *const om_types[] = { "counter", "gauge", "info" };
	const char *suffix = r->om ? "" : type == COUNTER ? "_total" : type == INFO ? "_info" : "";

	fprintf(r->f, "# HELP %s%s %s\n", name, suffix, help);
	fprintf(r->f, "# TYPE %s%s %s\n", name, suffix,
		r->om		? om_types[type] :
		type == COUNTER ? "counter" :
				  "gauge");
	if (r->om && unit)
		fprintf(r->f, "# UNIT %s %s\n", name, unit);
}

struct series_render {
	struct render *r;
	const char *name;
	bool gpu;
};

static void series_visit(const void *node, VISIT which, void *closure)
{
	struct series_render *x = closure;
	const struct series *j = *(const struct series *const *)node;

	if (which != postorder && which != leaf)
		return;
	fprintf(x->r->f, "%s{hpc_job=", x->name);
	label(x->r->f, j->job);
	fputs(",user=", x->r->f);
	label(x->r->f, j->user);
	fprintf(x->r->f, ",uid=\"%u\"} %.9f\n", j->uid, (x->gpu ? j->gpu_ns : j->cpu_ns) / 1e9);
}

static void render_usage(struct manager *m, struct render *r)
{
	struct series_render x = { .r = r, .name = "hpcmeter_cpu_seconds_total" };

	family(r, "hpcmeter_cpu_seconds", COUNTER, "seconds",
	       "On-CPU time per Slurm job (hpc_job, empty outside jobs) and user since hpcmeterd "
	       "started; a series without usage for metrics_series_grace is dropped.");
	twalk_r(m->metrics->series, series_visit, &x);
	family(r, "hpcmeter_gpu_seconds", COUNTER, "seconds",
	       "Accelerator time (device-seconds: time held x devices held) per Slurm job and "
	       "user since hpcmeterd started, while the GPU meter runs.");
	/* Without the GPU meter nothing is metered: no series rather than zeros. */
	x = (struct series_render){ .r = r, .name = "hpcmeter_gpu_seconds_total", .gpu = true };
	if (manager_gpu_meter(m))
		twalk_r(m->metrics->series, series_visit, &x);
}

static const char *compiler(void)
{
#ifdef __clang__
	return "clang " __clang_version__;
#else
	return "gcc " __VERSION__;
#endif
}

static void render_licenses(struct manager *m, struct render *r, int64_t now)
{
	static const struct {
		const char *name, *help;
		int which; /* 0 active, 1 from, 2 until */
	} families[] = {
		{ "hpcmeter_license_active",
		  "1 for each loaded licence valid now, 0 for a loaded one that is not.", 0 },
		{ "hpcmeter_license_valid_from_seconds",
		  "Start of each loaded licence's validity (00:00:00 UTC of its from day).", 1 },
		{ "hpcmeter_license_valid_until_seconds",
		  "End of each loaded licence's validity (00:00:00 UTC after its until day).", 2 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(families); k++) {
		family(r, families[k].name, GAUGE, families[k].which ? "seconds" : NULL,
		       families[k].help);
		for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
			const struct license *l = m->licenses->entries[i].license;

			if (!l)
				continue;
			fprintf(r->f, "%s{license_id=", families[k].name);
			label(r->f, l->id);
			if (families[k].which == 0)
				fprintf(r->f, "} %d\n", license_valid_at(l, now));
			else
				fprintf(r->f, "} %lld\n",
					(long long)(families[k].which == 1 ? l->valid_from :
									     l->valid_until + 1));
		}
	}
	family(r, "hpcmeter_license_errors", GAUGE, NULL, "Licence files rejected.");
	fprintf(r->f, "hpcmeter_license_errors %u\n", manager_license_errors(m));
}

static void cap_line(struct render *r, const char *name, const struct cap_sample *c)
{
	fprintf(r->f, "%s{license_id=", name);
	label(r->f, c->license_id);
	fputs(",cap=", r->f);
	label(r->f, c->cap);
	fputs(",metric=", r->f);
	label(r->f, c->metric);
	fprintf(r->f, ",scope=\"%s\",period=\"%s\"", c->scope, c->period);
	if (c->subject) {
		fputs(",subject=", r->f);
		label(r->f, c->subject);
	}
	fprintf(r->f, "} %.12g\n", c->ratio);
}

/* The caps' usage ratios of the last evaluation: per subject, then each cap's highest. */
static void render_caps(struct manager *m, struct render *r)
{
	const struct cap_samples *caps = &m->metrics->caps;

	family(r, "hpcmeter_license_cap_usage_ratio", GAUGE, "ratio",
	       "Usage of a licence cap by one subject (a job, a user, an account; empty for a "
	       "cap on the whole licence) over its limit in the current period, at the last "
	       "evaluation; present while the subject has usage series.");
	for (size_t i = 0; i < caps->n; i++)
		if (caps->v[i].subject)
			cap_line(r, "hpcmeter_license_cap_usage_ratio", &caps->v[i]);
	family(r, "hpcmeter_license_cap_highest_usage_ratio", GAUGE, "ratio",
	       "The highest usage of a licence cap over its limit among all its subjects in the "
	       "current period, at the last evaluation (0 before any usage).");
	for (size_t i = 0; i < caps->n; i++)
		if (!caps->v[i].subject)
			cap_line(r, "hpcmeter_license_cap_highest_usage_ratio", &caps->v[i]);
}

char *manager_metrics_render(struct manager *m, bool openmetrics)
{
	struct render r = { .om = openmetrics };
	struct meter_stats st = { 0 };
	uint64_t violations = 0;
	size_t pending = 0, size = 0;
	bool degraded;
	char *buf = NULL;
	int64_t now = (int64_t)(now_realtime_usec() / USEC_PER_SEC);

	r.f = open_memstream(&buf, &size);
	if (!r.f)
		return NULL;
	if (m->meter)
		meter_read_stats(m->meter, &st);
	ledger_count_violations(m->ledger, &violations);
	degraded = ledger_degraded(m->ledger, NULL, &pending);

	family(&r, "hpcmeter_build", INFO, NULL,
	       "hpcmeterd's version, the ledger schema it writes, its compiler.");
	fprintf(r.f, "hpcmeter_build_info{version=\"%s\",ledger_schema=\"%d\",compiler=",
		HPCMETER_VERSION, ledger_schema_version());
	label(r.f, compiler());
	fputs("} 1\n", r.f);
	render_usage(m, &r);
	family(&r, "hpcmeter_violations", COUNTER, NULL,
	       "Violations in the ledger, across restarts.");
	fprintf(r.f, "hpcmeter_violations_total %llu\n", (unsigned long long)violations);
	family(&r, "hpcmeter_gaps", COUNTER, NULL,
	       "Metering gap records in the ledger, across restarts.");
	fprintf(r.f, "hpcmeter_gaps_total %llu\n",
		(unsigned long long)ledger_last_gap_id(m->ledger));
	family(&r, "hpcmeter_probe_drops", COUNTER, NULL,
	       "Records or processes the kernel probes could not deliver, by cause.");
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"exec-record\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_DROP_EXEC]);
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"exit-record\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_DROP_EXIT]);
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"process-map-full\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_PROCS_FULL]);
	family(&r, "hpcmeter_meter_up", GAUGE, NULL,
	       "1 when the meter is attached and complete, 0 while a gap is open.");
	fprintf(r.f, "hpcmeter_meter_up{meter=\"bpf-cpu\",mode=\"%s\"} %d\n",
		m->meter ? meter_attach_mode(m->meter) : "", m->meter && manager_gaps_open(m) == 0);
	family(&r, "hpcmeter_ledger_degraded", GAUGE, NULL,
	       "1 while the ledger cannot be written and records wait in memory.");
	fprintf(r.f, "hpcmeter_ledger_degraded %d\n", degraded);
	family(&r, "hpcmeter_ledger_pending_records", GAUGE, NULL,
	       "Records accepted but not yet committed to the ledger.");
	fprintf(r.f, "hpcmeter_ledger_pending_records %zu\n", pending);
	render_licenses(m, &r, now);
	render_caps(m, &r);
	family(&r, "hpcmeter_last_collect_timestamp_seconds", GAUGE, "seconds",
	       "End of the last collection.");
	fprintf(r.f, "hpcmeter_last_collect_timestamp_seconds %.6f\n",
		manager_last_collect_usec(m) / 1e6);
	if (openmetrics)
		fputs("# EOF\n", r.f);
	if (fclose(r.f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int manager_metrics_write(struct manager *m)
{
	_cleanup_free_ char *text = NULL, *tmp = NULL;
	const char *path = m->cfg.metrics_file;
	size_t len, off = 0;
	int fd, r = 0;

	if (!path[0])
		return 0;
	text = manager_metrics_render(m, false);
	if (!text || asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	/* Write a temporary file beside it and rename: readers see the old or the new file. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			r = -errno;
			break;
		}
		off += n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		return 0;
	unlink(tmp);
fail:
	log_warning("cannot write metrics file %s: %s", path, strerror(-r));
	return r;
}
