// SPDX-License-Identifier: GPL-2.0-only
/* Metrics for Prometheus: usage per job, violations, gaps, losses, meter and ledger state. The
 * same families go out as OpenMetrics (hpcmeterctl metrics, via D-Bus) and as the Prometheus
 * text format in --metrics-file, written atomically each interval for node_exporter's textfile
 * collector. Counters count since the daemon started, as Prometheus expects of counters. */
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager.h"
#include "util.h"

struct metrics {
	void *job_totals; /* tsearch tree of struct job_total: CPU time per job since start */
};

struct job_total {
	char *job, *user;
	uint32_t uid;
	uint64_t cpu_ns;
};

static int job_cmp(const void *a, const void *b)
{
	const struct job_total *x = a, *y = b;
	int c = strcmp(x->job, y->job);

	if (c)
		return c;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(x->user, y->user);
}

static void job_free(void *p)
{
	struct job_total *j = p;

	free(j->job);
	free(j->user);
	free(j);
}

void manager_metrics_account(struct manager *m, const char *job, const char *user, uint32_t uid,
			     uint64_t cpu_ns)
{
	struct job_total key = { .job = (char *)job, .user = (char *)user, .uid = uid }, *j;
	void *node = tfind(&key, &m->metrics->job_totals, job_cmp);

	if (node) {
		(*(struct job_total **)node)->cpu_ns += cpu_ns;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->job = strdup(job);
	j->user = strdup(user);
	j->uid = uid;
	j->cpu_ns = cpu_ns;
	if (!j->job || !j->user || !tsearch(j, &m->metrics->job_totals, job_cmp))
		job_free(j);
}

int metrics_new(struct manager *m)
{
	m->metrics = calloc(1, sizeof(*m->metrics));
	return m->metrics ? 0 : -ENOMEM;
}

void metrics_free(struct manager *m)
{
	if (!m->metrics)
		return;
	tdestroy(m->metrics->job_totals, job_free);
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

static void family(struct render *r, const char *name, const char *type, const char *unit,
		   const char *help)
{
	bool counter = streq(type, "counter");

	/* OpenMetrics names the family without _total; the Prometheus text format names the
	 * sample. */
	fprintf(r->f, "# HELP %s%s %s\n", name, counter && !r->om ? "_total" : "", help);
	fprintf(r->f, "# TYPE %s%s %s\n", name, counter && !r->om ? "_total" : "", type);
	if (r->om && unit)
		fprintf(r->f, "# UNIT %s %s\n", name, unit);
}

static void job_visit(const void *node, VISIT which, void *closure)
{
	struct render *r = closure;
	const struct job_total *j = *(const struct job_total *const *)node;

	if (which != postorder && which != leaf)
		return;
	fputs("hpcmeter_cpu_seconds_total{job=", r->f);
	label(r->f, j->job);
	fputs(",user=", r->f);
	label(r->f, j->user);
	fprintf(r->f, ",uid=\"%u\"} %.9f\n", j->uid, j->cpu_ns / 1e9);
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

	family(&r, "hpcmeter_cpu_seconds", "counter", "seconds",
	       "On-CPU time per job and user since hpcmeterd started.");
	twalk_r(m->metrics->job_totals, job_visit, &r);
	family(&r, "hpcmeter_violations", "counter", NULL,
	       "Violations in the ledger, across restarts.");
	fprintf(r.f, "hpcmeter_violations_total %llu\n", (unsigned long long)violations);
	family(&r, "hpcmeter_gaps", "counter", NULL,
	       "Metering gap records in the ledger, across restarts.");
	fprintf(r.f, "hpcmeter_gaps_total %llu\n",
		(unsigned long long)ledger_last_gap_id(m->ledger));
	family(&r, "hpcmeter_probe_drops", "counter", NULL,
	       "Records or processes the kernel probes could not deliver, by cause.");
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"exec-record\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_DROP_EXEC]);
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"exit-record\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_DROP_EXIT]);
	fprintf(r.f, "hpcmeter_probe_drops_total{cause=\"process-map-full\"} %llu\n",
		(unsigned long long)st.counter[HPCM_STAT_PROCS_FULL]);
	family(&r, "hpcmeter_meter_up", "gauge", NULL,
	       "1 when the meter is attached and complete, 0 while a gap is open.");
	fprintf(r.f, "hpcmeter_meter_up{meter=\"bpf-cpu\",mode=\"%s\"} %d\n",
		m->meter ? meter_attach_mode(m->meter) : "", m->meter && manager_gaps_open(m) == 0);
	family(&r, "hpcmeter_ledger_degraded", "gauge", NULL,
	       "1 while the ledger cannot be written and records wait in memory.");
	fprintf(r.f, "hpcmeter_ledger_degraded %d\n", degraded);
	family(&r, "hpcmeter_ledger_pending_records", "gauge", NULL,
	       "Records accepted but not yet committed to the ledger.");
	fprintf(r.f, "hpcmeter_ledger_pending_records %zu\n", pending);
	family(&r, "hpcmeter_license_active", "gauge", NULL,
	       "1 for each loaded licence valid now, 0 for a loaded one that is not.");
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (!l)
			continue;
		fputs("hpcmeter_license_active{license=", r.f);
		label(r.f, l->id);
		fprintf(r.f, "} %d\n", license_valid_at(l, now));
	}
	family(&r, "hpcmeter_license_errors", "gauge", NULL, "Licence files rejected.");
	fprintf(r.f, "hpcmeter_license_errors %u\n", manager_license_errors(m));
	family(&r, "hpcmeter_last_collect_timestamp_seconds", "gauge", "seconds",
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
