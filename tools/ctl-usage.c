// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl usage: CPU time per cgroup, job and user (GetUsage, GetUsageBetween, or
 * GetUsageFiltered with --job, --user, --account, --license), then the GPU usage (GetGpuUsage);
 * with --by, totals per job, user, account or licence. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-exit.h"
#include "ctl-format.h"
#include "ctl-jobs.h"
#include "ctl-licenses.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"
#include "workload.h"

struct usage_row {
	const char *cgroup, *job;
	uint32_t uid;
	const char *user;
	uint64_t cpu_ns, first_usec, last_usec;
};

/* One row of GetGpuUsage; strings point into the reply, valid while it lives. */
struct gpu_row {
	const char *cgroup, *job;
	uint32_t uid;
	const char *user;
	uint64_t gpu_ns;
	double tpp_seconds, ops_upper, ops_lower;
	uint64_t launches, threads_launched, graph_launches, bytes_alloc, bytes_h2d, dev_opens;
	uint64_t first_usec, last_usec;
};

/* GetGpuUsage's rows in *rows (free() it; unref *reply, which the strings point into). */
static int gpu_usage_fetch(sd_bus *bus, uint64_t since_usec, sd_bus_message **reply,
			   struct gpu_row **rows, size_t *n)
{
	struct gpu_row g;
	int r;

	*rows = NULL;
	*n = 0;
	r = bus_call(bus, "GetGpuUsage", reply, "t", since_usec);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(*reply, 'a', HPCMETER_SIG_GPU_USAGE);
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(*reply, HPCMETER_SIG_GPU_USAGE, &g.cgroup, &g.job, &g.uid,
					&g.user, &g.gpu_ns, &g.tpp_seconds, &g.ops_upper,
					&g.ops_lower, &g.launches, &g.threads_launched,
					&g.graph_launches, &g.bytes_alloc, &g.bytes_h2d,
					&g.dev_opens, &g.first_usec, &g.last_usec)) > 0) {
		struct gpu_row *a = realloc(*rows, (*n + 1) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*rows = a;
		a[(*n)++] = g;
	}
	return r;
}

/* The second table of usage: GPU time and counts per (cgroup, job, user); nothing without rows. */
static const char *const gpu_headers[] = { "CGROUP",   "JOB",	      "USER(UID)",
					   "GPU-TIME", "TPP-SECONDS", "OPS-UPPER",
					   "LAUNCHES", "THREADS",     "ALLOC" };
static const char *const cpu_headers[] = {
	"CGROUP", "JOB", "USER(UID)", "CPU-TIME", "FIRST", "LAST"
};
static const char *const by_job_headers[] = { "JOB",	  "USER(UID)", "ACCOUNT", "CPU-TIME",
					      "GPU-TIME", "FIRST",     "LAST" };
static const char *const by_user_headers[] = { "USER(UID)", "CPU-TIME", "GPU-TIME", "FIRST",
					       "LAST" };
static const char *const by_account_headers[] = { "ACCOUNT", "CPU-TIME", "GPU-TIME", "FIRST",
						  "LAST" };
static const char *const by_license_headers[] = { "LICENSE", "STATE", "CPU-TIME", "FIRST", "LAST" };

/* --columns names columns of the tables this usage prints */
static int usage_check_columns(void)
{
	static const struct table cpu = { .n_columns = ARRAY_SIZE(cpu_headers),
					  .headers = cpu_headers };
	static const struct table gpu = { .n_columns = ARRAY_SIZE(gpu_headers),
					  .headers = gpu_headers };
	static const struct table job = { .n_columns = ARRAY_SIZE(by_job_headers),
					  .headers = by_job_headers };
	static const struct table user = { .n_columns = ARRAY_SIZE(by_user_headers),
					   .headers = by_user_headers };
	static const struct table account = { .n_columns = ARRAY_SIZE(by_account_headers),
					      .headers = by_account_headers };
	static const struct table license = { .n_columns = ARRAY_SIZE(by_license_headers),
					      .headers = by_license_headers };
	const struct table *plain[] = { &cpu, &gpu };

	if (!arg_by)
		return table_check_columns("usage", plain, 2);
	return table_check_columns_of("usage", streq(arg_by, "job")	? &job :
					       streq(arg_by, "user")	? &user :
					       streq(arg_by, "account") ? &account :
									  &license);
}

static int gpu_usage_table(const struct gpu_row *rows, size_t n)
{
	static const bool right[] = { false, false, false, true, true, true, true, true, true };
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(gpu_headers),
						 .headers = gpu_headers,
						 .right_align = right };
	int r;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct gpu_row *g = &rows[i];
		char span[FORMAT_SPAN_MAX], alloc[FORMAT_BYTES_MAX];

		if (table_add(&t, "%s", g->cgroup) < 0 ||
		    table_add(&t, "%s", *g->job ? g->job : "-") < 0 ||
		    table_add(&t, "%s(%" PRIu32 ")", *g->user ? g->user : "?", g->uid) < 0 ||
		    table_add(&t, "%s", format_span_ns(span, sizeof(span), g->gpu_ns)) < 0 ||
		    table_add(&t, "%.1f", g->tpp_seconds) < 0 ||
		    table_add(&t, "%.3g", g->ops_upper) < 0 ||
		    table_add(&t, "%" PRIu64, g->launches) < 0 ||
		    table_add(&t, "%" PRIu64, g->threads_launched) < 0 ||
		    table_add(&t, "%s", format_bytes(alloc, sizeof(alloc), g->bytes_alloc)) < 0)
			return log_oom();
	}
	if (arg_legend && !arg_csv)
		putchar('\n');
	r = table_print(&t, arg_legend, NULL);
	if (r < 0)
		return log_oom();
	if (arg_legend && !arg_csv)
		printf("\n%zu GPU usage records. GPU-TIME is device time since the first GPU "
		       "use;\nLAUNCHES and THREADS are counted in detailed GPU mode only.\n",
		       n);
	return 0;
}

static int usage_by(sd_bus *bus, sd_bus_message *reply, const struct gpu_row *gpu, size_t n_gpu);
static int usage_by_license(sd_bus *bus);

/* The GPU metrics of a usage row (GetGpuUsage), in the row's JSON object. */
static int gpu_fields_json(struct json_object *o, const struct gpu_row *g)
{
	int r = json_add_uint(o, "gpu_ns", g->gpu_ns);

	if (r >= 0)
		r = json_add_double(o, "gpu_seconds", (double)g->gpu_ns / (double)NSEC_PER_SEC);
	if (r >= 0)
		r = json_add_double(o, "tpp_seconds", g->tpp_seconds);
	if (r >= 0)
		r = json_add_double(o, "ops_upper", g->ops_upper);
	if (r >= 0)
		r = json_add_double(o, "ops_lower", g->ops_lower);
	if (r >= 0)
		r = json_add_uint(o, "launches", g->launches);
	if (r >= 0)
		r = json_add_uint(o, "threads_launched", g->threads_launched);
	if (r >= 0)
		r = json_add_uint(o, "graph_launches", g->graph_launches);
	if (r >= 0)
		r = json_add_uint(o, "bytes_alloc", g->bytes_alloc);
	if (r >= 0)
		r = json_add_uint(o, "bytes_h2d", g->bytes_h2d);
	if (r >= 0)
		r = json_add_uint(o, "gpu_dev_opens", g->dev_opens);
	return r;
}

/* uid, user, cpu_ns, cpu_seconds, first_usec, last_usec of a usage row. */
static int usage_fields_json(struct json_object *o, uint32_t uid, const char *user, uint64_t cpu_ns,
			     uint64_t first_usec, uint64_t last_usec)
{
	int r = json_add_uint(o, "uid", uid);

	if (r >= 0)
		r = json_add_string(o, "user", user);
	if (r >= 0)
		r = json_add_uint(o, "cpu_ns", cpu_ns);
	if (r >= 0)
		r = json_add_double(o, "cpu_seconds", (double)cpu_ns / (double)NSEC_PER_SEC);
	if (r >= 0)
		r = json_add_uint(o, "first_usec", first_usec);
	if (r >= 0)
		r = json_add_uint(o, "last_usec", last_usec);
	return r;
}

/* GetUsageFiltered with the keys given (and the range of --since-usec, --until-usec). */
static int usage_call_filtered(sd_bus *bus, sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	const struct {
		const char *key, *value;
	} keys[] = {
		{ "job", arg_filter_job },
		{ "user", arg_filter_user },
		{ "account", arg_filter_account },
		{ "license", arg_filter_license },
	};
	int r;

	r = sd_bus_message_new_method_call(bus, &m, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					   hpcmeter_iface("GetUsageFiltered"), "GetUsageFiltered");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(keys); i++)
		if (keys[i].value)
			r = sd_bus_message_append(m, "{sv}", keys[i].key, "s", keys[i].value);
	if (r >= 0 && arg_since_set)
		r = sd_bus_message_append(m, "{sv}", "from_usec", "t", arg_since_usec);
	if (r >= 0 && arg_until_set)
		r = sd_bus_message_append(m, "{sv}", "to_usec", "t", arg_until_usec);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r < 0) {
		log_error("cannot build the GetUsageFiltered call: %s", strerror(-r));
		return r;
	}
	r = sd_bus_call(bus, m, 0, &error, reply);
	if (r < 0)
		log_bus_call_error("GetUsageFiltered", &error, r);
	return r;
}

int verb_usage(sd_bus *bus, int argc, char **argv)
{
	static const bool right[] = { false, false, false, true, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(cpu_headers),
						 .headers = cpu_headers,
						 .right_align = right };
	struct usage_row u;
	_cleanup_json_ struct json_object *array = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *gpu_reply = NULL;
	_cleanup_(freep) struct gpu_row *gpu = NULL;
	_cleanup_(freep) bool *gpu_used = NULL;
	size_t n_gpu = 0;
	int r;

	(void)argc;
	(void)argv;

	r = usage_check_columns();
	if (r < 0)
		return r;
	if (usage_filtered())
		r = usage_call_filtered(bus, &reply);
	else if (arg_until_set)
		r = bus_call(bus, "GetUsageBetween", &reply, "tt", arg_since_usec, arg_until_usec);
	else
		r = bus_call(bus, "GetUsage", &reply, "t", arg_since_usec);
	if (r < 0)
		return r;
	/* GPU usage of the same rows (hpcmeterd without a GPU meter answers none); GetGpuUsage
	 * has no filter: with one, CPU usage only. */
	if (!usage_filtered())
		r = gpu_usage_fetch(bus, arg_since_usec, &gpu_reply, &gpu, &n_gpu);
	if (r < 0) /* a failed call has said why already */
		return ctl_exit_status == CTL_EXIT_FAILURE ? log_parse_error("GetGpuUsage", r) : r;
	gpu_used = calloc(n_gpu + 1, sizeof(*gpu_used));
	if (!gpu_used)
		return -ENOMEM;

	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_USAGE);
	if (r < 0)
		return log_parse_error("GetUsage", r);
	if (arg_by && streq(arg_by, "license"))
		return usage_by_license(bus);
	if (arg_by)
		return usage_by(bus, reply, gpu, n_gpu);
	/* accounts of the jobs, for the JSON rows */
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *jobs = NULL;
	if (arg_json) {
		r = bus_call(bus, "ListJobs", &jobs, "t", arg_since_usec);
		if (r < 0)
			return r;
	}

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup, &u.job, &u.uid,
					&u.user, &u.cpu_ns, &u.first_usec, &u.last_usec)) > 0) {
		char first[FORMAT_TIMESTAMP_MAX], last[FORMAT_TIMESTAMP_MAX], span[FORMAT_SPAN_MAX];

		if (arg_json) {
			struct json_object *o = json_object_new_object();
			struct workload w;

			workload_from_cgroup(u.cgroup, &w);
			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "cgroup", u.cgroup);
			if (r >= 0)
				r = json_add_string(o, "job", u.job);
			if (r >= 0)
				r = json_add_string(o, "step",
						    w.kind == WORKLOAD_SLURM ? w.step : "");
			if (r >= 0)
				r = json_add_string(o, "account", job_account(jobs, u.job));
			if (r >= 0)
				r = usage_fields_json(o, u.uid, u.user, u.cpu_ns, u.first_usec,
						      u.last_usec);
			for (size_t i = 0; r >= 0 && i < n_gpu; i++)
				if (!gpu_used[i] && streq(gpu[i].cgroup, u.cgroup) &&
				    streq(gpu[i].job, u.job) && gpu[i].uid == u.uid) {
					r = gpu_fields_json(o, &gpu[i]);
					gpu_used[i] = true;
				}
			if (r < 0)
				return log_oom();
			continue;
		}
		if (table_add(&t, "%s", u.cgroup) < 0 || table_add(&t, "%s", u.job) < 0 ||
		    table_add(&t, "%s(%" PRIu32 ")", isempty(u.user) ? "?" : u.user, u.uid) < 0 ||
		    table_add(&t, "%s", format_span_ns(span, sizeof(span), u.cpu_ns)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(first, u.first_usec)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(last, u.last_usec)) < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("GetUsage", r);

	if (arg_json) {
		/* GPU usage of a cgroup and user without CPU time in the period: a row of its own. */
		for (size_t i = 0; i < n_gpu; i++) {
			struct json_object *o;

			if (gpu_used[i])
				continue;
			o = json_object_new_object();
			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "cgroup", gpu[i].cgroup);
			if (r >= 0)
				r = json_add_string(o, "job", gpu[i].job);
			if (r >= 0)
				r = usage_fields_json(o, gpu[i].uid, gpu[i].user, 0,
						      gpu[i].first_usec, gpu[i].last_usec);
			if (r >= 0)
				r = gpu_fields_json(o, &gpu[i]);
			if (r < 0)
				return log_oom();
		}
		return json_dump(stdout, array, arg_json);
	}
	r = table_print(&t, arg_legend, "usage records");
	if (r < 0)
		log_error("out of memory");
	else
		r = gpu_usage_table(gpu, n_gpu);
	return r;
}

/* ---- usage --by: totals per job, user or account ---- */

struct usage_total {
	char *key; /* job id, user or account */
	char *user, *account; /* of the first row seen (job totals) */
	uint64_t cpu_ns, first_usec, last_usec;
	struct gpu_row gpu; /* GPU metrics summed (strings unused) */
	bool has_gpu;
};

static struct usage_total *total_find(struct usage_total **v, size_t *n, const char *key)
{
	struct usage_total *t;

	for (size_t i = 0; i < *n; i++)
		if (streq((*v)[i].key, key))
			return &(*v)[i];
	t = realloc(*v, (*n + 1) * sizeof(**v));
	if (!t)
		return NULL;
	*v = t;
	t = &t[(*n)++];
	*t = (struct usage_total){ .key = strdup(key), .first_usec = UINT64_MAX };
	return t->key ? t : NULL;
}

static int total_cmp(const void *a, const void *b)
{
	const struct usage_total *x = a, *y = b;

	return x->cpu_ns < y->cpu_ns ? 1 : x->cpu_ns > y->cpu_ns ? -1 : strcmp(x->key, y->key);
}

/* The --by key of a usage row: its job, account or user. */
static const char *usage_key(const char *job, const char *account, const char *user, uint32_t uid,
			     char *buf, size_t size)
{
	if (streq(arg_by, "job"))
		return isempty(job) ? "-" : job;
	if (streq(arg_by, "account"))
		return isempty(account) ? "-" : account;
	snprintf(buf, size, "%s(%" PRIu32 ")", isempty(user) ? "?" : user, uid);
	return buf;
}

static int usage_by(sd_bus *bus, sd_bus_message *reply, const struct gpu_row *gpu, size_t n_gpu)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *jobs = NULL;
	_cleanup_json_ struct json_object *array = NULL;
	struct usage_total *v = NULL;
	size_t n = 0;
	struct usage_row u;
	int r;

	if (!streq(arg_by, "user")) {
		r = bus_call(bus, "ListJobs", &jobs, "t", arg_since_usec);
		if (r < 0)
			return r;
	}
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup, &u.job, &u.uid,
					&u.user, &u.cpu_ns, &u.first_usec, &u.last_usec)) > 0) {
		const char *account = job_account(jobs, u.job);
		char uidkey[32];
		struct usage_total *t;

		t = total_find(&v, &n,
			       usage_key(u.job, account, u.user, u.uid, uidkey, sizeof(uidkey)));
		if (!t) {
			r = -ENOMEM;
			break;
		}
		t->cpu_ns += u.cpu_ns;
		if (u.first_usec < t->first_usec)
			t->first_usec = u.first_usec;
		if (u.last_usec > t->last_usec)
			t->last_usec = u.last_usec;
		if (!t->user && (t->user = malloc(64)))
			snprintf(t->user, 64, "%s(%" PRIu32 ")", isempty(u.user) ? "?" : u.user,
				 u.uid);
		if (!t->account)
			t->account = strdup(isempty(account) ? "-" : account);
	}
	/* GPU usage, summed under the same keys (a job may have GPU time and little CPU). */
	for (size_t i = 0; r >= 0 && i < n_gpu; i++) {
		const struct gpu_row *g = &gpu[i];
		const char *account = job_account(jobs, g->job);
		char uidkey[32];
		struct usage_total *t = total_find(&v, &n,
						   usage_key(g->job, account, g->user, g->uid,
							     uidkey, sizeof(uidkey)));

		if (!t) {
			r = -ENOMEM;
			break;
		}
		t->has_gpu = true;
		t->gpu.gpu_ns += g->gpu_ns;
		t->gpu.tpp_seconds += g->tpp_seconds;
		t->gpu.ops_upper += g->ops_upper;
		t->gpu.ops_lower += g->ops_lower;
		t->gpu.launches += g->launches;
		t->gpu.threads_launched += g->threads_launched;
		t->gpu.graph_launches += g->graph_launches;
		t->gpu.bytes_alloc += g->bytes_alloc;
		t->gpu.bytes_h2d += g->bytes_h2d;
		t->gpu.dev_opens += g->dev_opens;
		if (g->first_usec < t->first_usec)
			t->first_usec = g->first_usec;
		if (g->last_usec > t->last_usec)
			t->last_usec = g->last_usec;
		if (!t->user && (t->user = malloc(64)))
			snprintf(t->user, 64, "%s(%" PRIu32 ")", isempty(g->user) ? "?" : g->user,
				 g->uid);
		if (!t->account)
			t->account = strdup(isempty(account) ? "-" : account);
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i].key), free(v[i].user), free(v[i].account);
		free(v);
		return r == -ENOMEM ? (log_error("out of memory"), r) :
				      log_parse_error("GetUsage", r);
	}
	qsort(v, n, sizeof(*v), total_cmp);

	/* grouped by the first column */
	static const bool right_job[] = { true, false, false, true, true, false, false };
	static const bool right_other[] = { false, true, true, false, false };
	bool job = streq(arg_by, "job");
	_cleanup_(table_done) struct table t = { .n_columns = job ? 7 : 5,
						 .headers = job ? by_job_headers :
							    streq(arg_by, "user") ?
								  by_user_headers :
								  by_account_headers,
						 .right_align = job ? right_job : right_other };

	if (arg_json && !(array = json_object_new_array()))
		r = -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		char first[FORMAT_TIMESTAMP_MAX], last[FORMAT_TIMESTAMP_MAX];
		char cpu[FORMAT_SPAN_MAX], gpu_time[FORMAT_SPAN_MAX];

		if (arg_json) {
			struct json_object *o = json_object_new_object();

			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, arg_by, v[i].key);
			if (r >= 0 && job)
				r = json_add_string(o, "user", v[i].user ?: "");
			if (r >= 0 && job)
				r = json_add_string(o, "account", v[i].account ?: "");
			if (r >= 0)
				r = json_add_uint(o, "cpu_ns", v[i].cpu_ns);
			if (r >= 0)
				r = json_add_double(o, "cpu_seconds",
						    (double)v[i].cpu_ns / (double)NSEC_PER_SEC);
			if (r >= 0)
				r = json_add_uint(o, "first_usec", v[i].first_usec);
			if (r >= 0)
				r = json_add_uint(o, "last_usec", v[i].last_usec);
			if (r >= 0)
				r = gpu_fields_json(o, &v[i].gpu);
			continue;
		}
		if (table_add(&t, "%s", v[i].key) < 0 ||
		    (job && (table_add(&t, "%s", v[i].user ?: "-") < 0 ||
			     table_add(&t, "%s", v[i].account ?: "-") < 0)) ||
		    table_add(&t, "%s", format_span_ns(cpu, sizeof(cpu), v[i].cpu_ns)) < 0 ||
		    (v[i].has_gpu ? table_add(&t, "%s",
					      format_span_ns(gpu_time, sizeof(gpu_time),
							     v[i].gpu.gpu_ns)) :
				    table_add(&t, "-")) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(first, v[i].first_usec)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(last, v[i].last_usec)) < 0)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].key), free(v[i].user), free(v[i].account);
	free(v);
	if (r < 0)
		return log_oom();
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "usage totals");
	if (r < 0)
		log_error("out of memory");
	return r;
}

/* usage --by license: per loaded licence, the usage recorded during its validity (every
 * licence covers the whole node; --since-usec narrows the start). */
static int usage_by_license(sd_bus *bus)
{
	static const bool right[] = { false, false, true, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *licenses = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(by_license_headers),
						 .headers = by_license_headers,
						 .right_align = right };
	_cleanup_json_ struct json_object *array = NULL;
	struct license_row l;
	int r;

	r = get_licenses(bus, &licenses);
	if (r < 0)
		return r;
	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_license_row(licenses, &l)) > 0) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		uint64_t from = l.valid_from_usec > arg_since_usec ? l.valid_from_usec :
								     arg_since_usec;
		uint64_t to = arg_until_set && arg_until_usec < l.valid_until_usec ?
				      arg_until_usec :
				      l.valid_until_usec;
		uint64_t cpu_ns = 0, first = UINT64_MAX, last = 0;
		char f[FORMAT_TIMESTAMP_MAX], la[FORMAT_TIMESTAMP_MAX], span[FORMAT_SPAN_MAX];
		struct usage_row u;

		if (isempty(l.id) || to <= from)
			continue; /* rejected file, or no time left in the range */
		r = bus_call(bus, "GetUsageBetween", &reply, "tt", from, to);
		if (r < 0)
			return r;
		r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_USAGE);
		while (r >= 0 && (r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup,
							  &u.job, &u.uid, &u.user, &u.cpu_ns,
							  &u.first_usec, &u.last_usec)) > 0) {
			cpu_ns += u.cpu_ns;
			first = u.first_usec < first ? u.first_usec : first;
			last = u.last_usec > last ? u.last_usec : last;
		}
		if (r < 0)
			return log_parse_error("GetUsageBetween", r);
		if (arg_json) {
			struct json_object *o = json_object_new_object();

			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "license", l.id);
			if (r >= 0)
				r = json_add_string(o, "state", l.state);
			if (r >= 0)
				r = json_add_uint(o, "cpu_ns", cpu_ns);
			if (r >= 0)
				r = json_add_double(o, "cpu_seconds",
						    (double)cpu_ns / (double)NSEC_PER_SEC);
			if (r >= 0)
				r = json_add_uint(o, "first_usec", last ? first : 0);
			if (r >= 0)
				r = json_add_uint(o, "last_usec", last);
			if (r < 0)
				return log_oom();
			continue;
		}
		if (table_add(&t, "%s", l.id) < 0 || table_add(&t, "%s", l.state) < 0 ||
		    table_add(&t, "%s", format_span_ns(span, sizeof(span), cpu_ns)) < 0 ||
		    table_add(&t, "%s", last ? format_timestamp_local(f, first) : "-") < 0 ||
		    table_add(&t, "%s", last ? format_timestamp_local(la, last) : "-") < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "licences");
	if (r < 0)
		log_error("out of memory");
	return r;
}
