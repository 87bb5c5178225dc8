// SPDX-License-Identifier: GPL-2.0-only
/* org.hpcmeter1.Meter: what is metered. GetStatus, usage (since a time, between two, filtered),
 * GPU usage, the accelerator inventory, gaps, jobs and metrics, the properties that follow the
 * meters, and the MeteringGap and MeterStateChanged signals (emitted in bus.c). JobStarted and
 * JobEnded are in jobs-iface.c. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "util.h"

/* ---- GetStatus ---- */

static int append_item(sd_bus_message *reply, const struct status_item *it)
{
	int r;

	if (it->type != 'a')
		return it->type == 's' ?
			       sd_bus_message_append(reply, "{sv}", it->key, "s", it->str) :
		       it->type == 'u' ?
			       sd_bus_message_append(reply, "{sv}", it->key, "u",
						     (uint32_t)it->num) :
			       sd_bus_message_append(reply, "{sv}", it->key, "t", it->num);
	r = sd_bus_message_open_container(reply, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append(reply, "s", it->key);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'v', "as");
	if (r >= 0)
		r = sd_bus_message_append_strv(reply, it->strv);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

static int method_get_status(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct status_list st = {};
	int r;

	r = manager_status(b->m, &st);
	if (r >= 0)
		r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "{sv}");
	for (size_t i = 0; r >= 0 && i < st.n; i++)
		r = append_item(reply, &st.items[i]);
	status_list_done(&st);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* ---- usage, gaps, jobs: rows of the ledger ---- */

static int append_usage(const struct usage_row *u, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->cpu_ns, u->first_usec, u->last_usec);
}

static int fill_usage(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_usage(l, since, append_usage, reply);
}

static int method_get_usage(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_USAGE, "usage", fill_usage);
}

/* GetUsageBetween(t from_usec, t to_usec): usage over intervals that overlap the range. */
static int method_get_usage_between(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct bus *b = userdata;
	uint64_t from, to;
	int r;

	r = sd_bus_message_read(msg, "tt", &from, &to);
	if (r < 0)
		return r;
	if (to <= from)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "to_usec (%llu) must be after from_usec (%llu)",
					 (unsigned long long)to, (unsigned long long)from);
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_USAGE);
	if (r < 0)
		return r;
	r = ledger_list_usage_between(manager_ledger(b->m), from, to, append_usage, reply);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read usage from the ledger: %s",
					       strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* ---- GetUsageFiltered ---- */

struct usage_filter {
	const char *job, *user, *account, *license;
	uint32_t uid;
	bool have_uid;
	uint64_t from_usec, to_usec;
	bool have_from, have_to;
	char **jobs; /* of the account */
	size_t n_jobs;
	void *reply;
};

static const struct {
	const char *key;
	const char *type;
} filter_keys[] = {
	{ "job", "s" },	    { "user", "s" },	  { "uid", "u" },     { "account", "s" },
	{ "license", "s" }, { "from_usec", "t" }, { "to_usec", "t" },
};

static int invalid(sd_bus_error *error, const char *fmt, const char *a, const char *b)
{
	return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, fmt, a, b);
}

static int read_filter(sd_bus_message *msg, struct usage_filter *f, sd_bus_error *error)
{
	unsigned seen = 0;
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const char *key, *contents, *s = NULL;
		size_t k;

		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		for (k = 0; k < ARRAY_SIZE(filter_keys); k++)
			if (streq(key, filter_keys[k].key))
				break;
		if (k == ARRAY_SIZE(filter_keys))
			return invalid(error,
				       "Unknown filter key \"%s\" (known: job, user, uid, account, "
				       "license, from_usec, to_usec)%s",
				       key, "");
		if (seen & (1u << k))
			return invalid(error, "Filter key \"%s\" given twice%s", key, "");
		seen |= 1u << k;
		r = sd_bus_message_peek_type(msg, NULL, &contents);
		if (r < 0)
			return r;
		if (!streq(contents, filter_keys[k].type))
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Filter key \"%s\" must be of type '%s', not '%s'",
						 key, filter_keys[k].type, contents);
		r = sd_bus_message_enter_container(msg, 'v', contents);
		if (r < 0)
			return r;
		if (contents[0] == 's') {
			r = sd_bus_message_read(msg, "s", &s);
			if (r >= 0 && (!s[0] || strlen(s) > BUS_STR_MAX))
				return sd_bus_error_setf(
					error, SD_BUS_ERROR_INVALID_ARGS,
					"Filter key \"%s\": expected 1 to %d bytes", key,
					BUS_STR_MAX);
		}
		if (r >= 0) {
			if (streq(key, "job"))
				f->job = s;
			else if (streq(key, "user"))
				f->user = s;
			else if (streq(key, "account"))
				f->account = s;
			else if (streq(key, "license"))
				f->license = s;
			else if (streq(key, "uid"))
				r = sd_bus_message_read(msg, "u", &f->uid), f->have_uid = true;
			else if (streq(key, "from_usec"))
				r = sd_bus_message_read(msg, "t", &f->from_usec),
				f->have_from = true;
			else
				r = sd_bus_message_read(msg, "t", &f->to_usec), f->have_to = true;
		}
		if (r < 0 || (r = sd_bus_message_exit_container(msg)) < 0 ||
		    (r = sd_bus_message_exit_container(msg)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(msg);
	if (r < 0)
		return r;
	if (f->have_from && f->from_usec > BUS_USEC_MAX_SANE)
		return invalid(error, "from_usec is past the year 9999%s%s", "", "");
	if (f->have_to && f->to_usec > BUS_USEC_MAX_SANE)
		return invalid(error, "to_usec is past the year 9999%s%s", "", "");
	if (f->have_from && f->have_to && f->to_usec <= f->from_usec)
		return invalid(error, "to_usec must be after from_usec%s%s", "", "");
	if (!f->have_to)
		f->to_usec = UINT64_MAX;
	return 0;
}

static int collect_account_job(const struct job_info *j, void *userdata)
{
	struct usage_filter *f = userdata;
	char **v;

	if (!j->account || !streq(j->account, f->account))
		return 0;
	v = realloc(f->jobs, (f->n_jobs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	f->jobs = v;
	f->jobs[f->n_jobs] = strdup(j->id);
	if (!f->jobs[f->n_jobs])
		return -ENOMEM;
	f->n_jobs++;
	return 0;
}

static int append_filtered(const struct usage_row *u, void *userdata)
{
	struct usage_filter *f = userdata;

	if ((f->job && !streq(u->job, f->job)) || (f->user && !streq(u->user, f->user)) ||
	    (f->have_uid && u->uid != f->uid))
		return 0;
	if (f->account) {
		size_t i;

		for (i = 0; i < f->n_jobs && !streq(f->jobs[i], u->job); i++)
			;
		if (i == f->n_jobs)
			return 0;
	}
	return sd_bus_message_append(f->reply, HPCMETER_SIG_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->cpu_ns, u->first_usec, u->last_usec);
}

static void filter_free(struct usage_filter *f)
{
	for (size_t i = 0; i < f->n_jobs; i++)
		free(f->jobs[i]);
	free(f->jobs);
}

static int method_get_usage_filtered(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct bus *b = userdata;
	struct ledger *ledger = manager_ledger(b->m);
	struct usage_filter f = {};
	uint64_t from, to;
	int r;

	r = read_filter(msg, &f, error);
	if (r < 0)
		return r;
	from = f.have_from ? f.from_usec : 0;
	to = f.to_usec;
	if (f.license) {
		const struct license *l = manager_license_find(b->m, f.license);

		if (!l)
			return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_LICENSE,
						 "No licence with id \"%s\" is loaded", f.license);
		/* The licence's validity: [from, until] in seconds, until inclusive. */
		if ((uint64_t)l->valid_from * USEC_PER_SEC > from)
			from = (uint64_t)l->valid_from * USEC_PER_SEC;
		if (((uint64_t)l->valid_until + 1) * USEC_PER_SEC < to)
			to = ((uint64_t)l->valid_until + 1) * USEC_PER_SEC;
	}
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_USAGE);
	if (r >= 0 && f.account)
		r = ledger_list_jobs(ledger, 0, collect_account_job, &f);
	f.reply = reply;
	if (r >= 0 && from < to)
		r = ledger_list_usage_between(ledger, from, to, append_filtered, &f);
	filter_free(&f);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read usage from the ledger: %s",
					       strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int append_gap(const struct gap *g, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_GAP, g->id, g->cause, g->start_usec,
				     g->end_usec, g->boot_id, g->detail, g->bound_cpu_ns,
				     g->bound_devices, g->bound, g->policy);
}

static int fill_gaps(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_gaps(l, since, append_gap, reply);
}

static int method_list_gaps(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_GAP, "gaps", fill_gaps);
}

static int append_job(const struct job_info *j, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_JOB, j->id, j->scheduler, j->user,
				     j->uid, j->account, j->partition, j->wckey, j->comment,
				     j->gpus, j->nodes, j->start_usec, j->end_usec);
}

static int fill_jobs(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_jobs(l, since, append_job, reply);
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_JOB, "jobs", fill_jobs);
}

static int append_gpu_usage(const struct gpu_usage_row *u, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_GPU_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->gpu_ns, u->tpp_seconds, u->ops_upper, u->ops_lower,
				     u->launches, u->threads_launched, u->graph_launches,
				     u->bytes_alloc, u->bytes_h2d, u->dev_opens, u->first_usec,
				     u->last_usec);
}

static int fill_gpu_usage(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_gpu_usage(l, since, append_gpu_usage, reply);
}

static int method_get_gpu_usage(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_GPU_USAGE, "GPU usage",
				    fill_gpu_usage);
}

/* ---- the inventory and metrics ---- */

static const char *vendor_name(uint32_t vendor)
{
	switch (vendor) {
	case 0x10de:
		return "NVIDIA";
	case 0x1002:
		return "AMD";
	case 0x8086:
		return "Intel";
	default:
		return "";
	}
}

/* GetInventory: (data_version, nvml, a(accelerator)). */
static int method_get_inventory(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *version;
	const struct inventory *inv = manager_inventory(b->m, &version);
	int r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_append(reply, "ss", version, inv ? inv->nvml : "not sampled");
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_INVENTORY);
	if (r < 0)
		return r;
	for (size_t i = 0; inv && i < inv->n_devices; i++) {
		const struct accel_device *d = &inv->devices[i];
		const struct accel_model *mo = d->model;

		r = sd_bus_message_open_container(reply, 'r', "suuussssddia{sd}s");
		if (r < 0)
			return r;
		r = sd_bus_message_append(reply, "suuussssddi", d->bus_id, d->vendor_id,
					  d->device_id, d->class_code, vendor_name(d->vendor_id),
					  mo ? mo->name : "", d->uuid, d->driver,
					  mo ? mo->tpp : 0.0, mo ? mo->app : 0.0, d->utilization);
		if (r < 0)
			return r;
		r = sd_bus_message_open_container(reply, 'a', "{sd}");
		for (int p = 0; r >= 0 && mo && p < PREC_MAX; p++)
			if (mo->peak_tops[p] > 0)
				r = sd_bus_message_append(reply, "{sd}", accel_precision_name(p),
							  mo->peak_tops[p]);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", mo ? mo->sources : "");
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_get_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	_cleanup_free_ char *text = manager_metrics_render(b->m, true);

	if (!text)
		return -ENOMEM;
	return sd_bus_reply_method_return(msg, "s", text);
}

/* ---- properties ---- */

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;

	if (streq(property, "Version"))
		return sd_bus_message_append(reply, "s", HPCMETER_VERSION);
	if (streq(property, "IntervalUSec"))
		return sd_bus_message_append(reply, "t",
					     manager_config(b->m)->interval_sec * USEC_PER_SEC);
	if (streq(property, "LastCollectUSec"))
		return sd_bus_message_append(reply, "t", manager_last_collect_usec(b->m));
	if (streq(property, "LastGapId"))
		return sd_bus_message_append(reply, "t", ledger_last_gap_id(manager_ledger(b->m)));
	if (streq(property, "LedgerState")) {
		char state[256];

		manager_ledger_state(b->m, state, sizeof(state));
		return sd_bus_message_append(reply, "s", state);
	}
	return -ENOENT;
}

static int property_meter_states(sd_bus *bus, const char *path, const char *interface,
				 const char *property, sd_bus_message *reply, void *userdata,
				 sd_bus_error *error)
{
	struct bus *b = userdata;
	char st[MANAGER_N_METERS][METER_STATE_MAX];
	int r;

	manager_meter_states(b->m, st);
	r = sd_bus_message_open_container(reply, 'a', "{ss}");
	for (int i = 0; r >= 0 && i < MANAGER_N_METERS; i++) {
		r = sd_bus_message_open_container(reply, 'e', "ss");
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", manager_meter_names[i]);
		if (r >= 0)
			r = bus_append_string(reply, st[i]);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

const sd_bus_vtable bus_meter_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("GetStatus", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", status),
				method_get_status, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetUsage", SD_BUS_ARGS("t", since_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_USAGE, usage), method_get_usage,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetUsageBetween", SD_BUS_ARGS("t", from_usec, "t", to_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_USAGE, usage),
				method_get_usage_between, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetUsageFiltered", SD_BUS_ARGS("a{sv}", filter),
				SD_BUS_RESULT("a" HPCMETER_SIG_USAGE, usage),
				method_get_usage_filtered, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetGpuUsage", SD_BUS_ARGS("t", since_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_GPU_USAGE, usage),
				method_get_gpu_usage, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetInventory", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("s", data_version, "s", nvml,
					      "a" HPCMETER_SIG_INVENTORY, accelerators),
				method_get_inventory, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListGaps", SD_BUS_ARGS("t", since_id),
				SD_BUS_RESULT("a" HPCMETER_SIG_GAP, gaps), method_list_gaps,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetMetrics", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", openmetrics),
				method_get_metrics, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_ARGS("t", since_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_JOB, jobs), method_list_jobs,
				SD_BUS_VTABLE_UNPRIVILEGED),
	/* Privileged (no UNPRIVILEGED flag): sd-bus lets only root or the daemon's own uid call
	 * it, in addition to the bus policy. */
	SD_BUS_METHOD_WITH_ARGS("JobStarted", SD_BUS_ARGS("s", job, "a{sv}", info),
				SD_BUS_NO_RESULT, bus_method_job_started, 0),
	SD_BUS_METHOD_WITH_ARGS("JobEnded", SD_BUS_ARGS("s", job, "a{sv}", info), SD_BUS_NO_RESULT,
				bus_method_job_ended, 0),
	SD_BUS_SIGNAL_WITH_ARGS("MeteringGap",
				SD_BUS_ARGS("t", id, "s", cause, "t", start_usec, "t", end_usec,
					    "s", boot_id, "s", detail, "t", bound_cpu_ns, "u",
					    bound_devices, "s", bound, "s", policy),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("MeterStateChanged",
				SD_BUS_ARGS("t", seq, "t", time_usec, "s", meter, "s", state), 0),
	SD_BUS_PROPERTY("Version", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("IntervalUSec", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("LastCollectUSec", "t", property_get, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("MeterStates", "a{ss}", property_meter_states, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LedgerState", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LastGapId", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};
