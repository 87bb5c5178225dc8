// SPDX-License-Identifier: GPL-2.0-only
/* The D-Bus interfaces org.hpcmeter1.Meter, .Licenses and .Violations: the vtables and their
 * handlers (the newer ones in manager-bus-ext.c). The contract is daemon/org.hpcmeter1.xml. */
#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "exehash.h"
#include "jobs-bus.h"
#include "ledger-chain.h"
#include "manager.h"
#include "manager-bus-ext.h"
#include "manager-gpu.h"
#include "util.h"

static int append_kv_s(sd_bus_message *r, const char *k, const char *v)
{
	/* Host names and paths are bytes; D-Bus strings must be UTF-8. */
	_cleanup_free_ char *s = utf8_escape_invalid(v ? v : "");

	if (!s)
		return -ENOMEM;
	return sd_bus_message_append(r, "{sv}", k, "s", s);
}

static int append_kv_t(sd_bus_message *r, const char *k, uint64_t v)
{
	return sd_bus_message_append(r, "{sv}", k, "t", v);
}

static int append_kv_u(sd_bus_message *r, const char *k, uint32_t v)
{
	return sd_bus_message_append(r, "{sv}", k, "u", v);
}

/* The ledger's and the gaps' part of GetStatus. */
static int append_ledger_status(struct manager *m, sd_bus_message *reply)
{
	const struct chain_head *h = ledger_chain_head(m->ledger);
	char hex[2 * CHAIN_HASH_LEN + 1], state[256];
	size_t pending = 0;
	int r;

	ledger_degraded(m->ledger, NULL, &pending);
	manager_ledger_state(m, state, sizeof(state));
	chain_hex(h->hash, sizeof(h->hash), hex);
	if ((r = append_kv_s(reply, "ledger_state", state)) < 0 ||
	    (r = append_kv_t(reply, "ledger_pending", pending)) < 0 ||
	    (r = append_kv_t(reply, "chain_seq", h->seq)) < 0 ||
	    (r = append_kv_s(reply, "chain_head", hex)) < 0 ||
	    (r = append_kv_t(reply, "last_gap_id", ledger_last_gap_id(m->ledger))) < 0 ||
	    (r = append_kv_u(reply, "gaps_open", m->n_gap_conds)) < 0 ||
	    (r = append_kv_s(reply, "bpf_pin_dir", m->cfg.bpf_pin_dir)) < 0)
		return r;
	return append_kv_u(reply, "maps_reused", m->meter && meter_maps_reused(m->meter));
}

/* The meter's own cost: BPF run counts and run time of every program, CPU and GPU meters
 * together, when BPF statistics are on (config key bpf_stats). */
static int append_self_cost(struct manager *m, sd_bus_message *reply)
{
	uint64_t cnt = 0, ns = 0;
	char state[128];
	int r;

	if (m->bpf_stats_fd < 0) {
		if (m->cfg.bpf_stats)
			snprintf(state, sizeof(state), "unavailable: %s",
				 strerror(m->bpf_stats_errno));
		else
			snprintf(state, sizeof(state), "off");
		return append_kv_s(reply, "bpf_stats", state);
	}
	r = m->meter ? meter_prog_stats(m->meter, &cnt, &ns) : 0;
	if (r == 0 && m->gpu)
		r = gpu_prog_stats(m->gpu, &cnt, &ns);
	if (r < 0)
		snprintf(state, sizeof(state), "unavailable: %s", strerror(-r));
	else
		snprintf(state, sizeof(state), "on");
	if ((r = append_kv_s(reply, "bpf_stats", state)) < 0 ||
	    (r = append_kv_t(reply, "bpf_run_count", cnt)) < 0)
		return r;
	return append_kv_t(reply, "bpf_run_time_ns", ns);
}

static int method_get_status(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct meter_stats st = { 0 };
	uint64_t n_violations = 0, last_seq = ledger_last_violation_seq(m->ledger), drops;
	uint64_t digest_files, digest_bytes;
	const char *mode = m->meter ? meter_attach_mode(m->meter) : "";
	int r;

	if (m->meter)
		meter_read_stats(m->meter, &st);
	ledger_count_violations(m->ledger, &n_violations);
	drops = st.counter[HPCM_STAT_DROP_EXEC] + st.counter[HPCM_STAT_DROP_EXIT] +
		st.counter[HPCM_STAT_DROP_MOVE] + st.counter[HPCM_STAT_DROP_TAIL];
	exehash_stats(m->exehash, &digest_files, &digest_bytes);
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r < 0)
		return r;
	if ((r = append_kv_s(reply, "version", HPCMETER_VERSION)) < 0 ||
	    (r = append_kv_s(reply, "hostname", m->hostname)) < 0 ||
	    (r = append_kv_s(reply, "boot_id", m->boot_id)) < 0 ||
	    (r = append_kv_t(reply, "started_usec", m->started_usec)) < 0 ||
	    (r = append_kv_t(reply, "interval_usec", m->cfg.interval_sec * USEC_PER_SEC)) < 0 ||
	    (r = append_kv_t(reply, "last_collect_usec", m->last_collect_usec)) < 0 ||
	    (r = append_kv_t(reply, "collections", m->collections)) < 0 ||
	    (r = append_kv_u(reply, "processes_tracked", m->n_procs)) < 0 ||
	    (r = append_kv_t(reply, "exec_events", m->exec_events)) < 0 ||
	    (r = append_kv_t(reply, "exit_events", m->exit_events)) < 0 ||
	    (r = append_kv_t(reply, "move_events", m->move_events)) < 0 ||
	    (r = append_kv_t(reply, "tail_events", m->tail_events)) < 0 ||
	    (r = append_kv_t(reply, "ringbuf_drops", drops)) < 0 ||
	    (r = append_kv_t(reply, "procs_map_full", st.counter[HPCM_STAT_PROCS_FULL])) < 0 ||
	    (r = append_kv_t(reply, "bad_records", st.bad_records)) < 0 ||
	    (r = append_kv_s(reply, "attach_mode", mode)) < 0 ||
	    (r = append_kv_t(reply, "violations", n_violations)) < 0 ||
	    (r = append_kv_t(reply, "last_violation_seq", last_seq)) < 0 ||
	    (r = append_kv_u(reply, "licenses_active", manager_licenses_active(m))) < 0 ||
	    (r = append_kv_u(reply, "license_errors", manager_license_errors(m))) < 0 ||
	    (r = append_kv_u(reply, "license_terms_not_evaluated", m->terms_not_evaluated)) < 0 ||
	    (r = append_kv_u(reply, "digests_pending", exehash_pending(m->exehash))) < 0 ||
	    (r = append_kv_t(reply, "digest_files", digest_files)) < 0 ||
	    (r = append_kv_t(reply, "digest_bytes", digest_bytes)) < 0 ||
	    (r = append_kv_u(reply, "uid_min", m->cfg.uid_min)) < 0 ||
	    (r = append_kv_s(reply, "state_dir", m->cfg.state_dir)) < 0 ||
	    (r = append_kv_s(reply, "licenses_dir", m->cfg.licenses_dir)) < 0 ||
	    (r = append_kv_s(reply, "ledger", ledger_path(m->ledger))) < 0 ||
	    (r = append_kv_s(reply, "kernel_meter", kmeter_state(m->kmeter))) < 0 ||
	    (r = append_kv_s(reply, "kernel_meter_version", kmeter_version(m->kmeter))) < 0 ||
	    (r = append_kv_t(reply, "kernel_meter_checks", kmeter_checks(m->kmeter))) < 0 ||
	    (r = append_kv_t(reply, "kernel_meter_divergences", kmeter_divergences(m->kmeter))) <
		    0 ||
	    (r = append_kv_t(reply, "last_collect_duration_usec", m->last_collect_duration_usec)) <
		    0 ||
	    (r = append_self_cost(m, reply)) < 0 || (r = manager_gpu_append_status(m, reply)) < 0 ||
	    (r = append_ledger_status(m, reply)) < 0)
		return r;
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_list_licenses(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int64_t now = (int64_t)(now_realtime_usec() / USEC_PER_SEC);
	int r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_LICENSE);
	if (r < 0)
		return r;
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license_entry *e = &m->licenses->entries[i];
		const struct license *l = e->license;
		char err[1024] = "";
		const char *state;

		if (!l || e->kept_previous)
			license_error_format(&e->error, err, sizeof(err));
		if (!l) {
			state = "invalid";
		} else if (now < l->valid_from) {
			state = "not-yet-valid";
		} else if (now > l->valid_until) {
			state = "expired";
		} else {
			state = "active";
		}
		_cleanup_free_ char *file = utf8_escape_invalid(e->file);
		_cleanup_free_ char *msg_err = utf8_escape_invalid(err);

		if (!file || !msg_err)
			return -ENOMEM;
		r = sd_bus_message_append(reply, HPCMETER_SIG_LICENSE, file, l ? l->id : "", state,
					  msg_err, l ? (uint64_t)l->valid_from * USEC_PER_SEC : 0,
					  l ? (uint64_t)l->valid_until * USEC_PER_SEC : 0);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int append_violation(const struct violation *v, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_VIOLATION, v->seq, v->time_usec,
				     v->kind, v->license_id, v->pid, v->uid, v->user, v->executable,
				     v->cgroup, v->job, v->detail);
}

/* Fills reply with the rows recorded since a point (a sequence number or a time). */
typedef int (*ledger_fill_t)(struct manager *m, uint64_t since, sd_bus_message *reply);

static int fill_violations(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_violations(m->ledger, since, append_violation, reply);
}

static int append_usage(const struct usage_row *u, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->cpu_ns, u->first_usec, u->last_usec);
}

static int fill_usage(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_usage(m->ledger, since, append_usage, reply);
}

/* A method "(t since) -> a(ROW)" answered from the ledger. */
static int reply_rows_since(sd_bus_message *msg, struct manager *m, sd_bus_error *error,
			    const char *row_signature, const char *what, ledger_fill_t fill)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint64_t since;
	int r;

	r = sd_bus_message_read(msg, "t", &since);
	if (r < 0)
		return r;
	/* The ledger's integers are signed: past INT64_MAX nothing is newer. */
	if (since > INT64_MAX)
		since = INT64_MAX;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', row_signature);
	if (r < 0)
		return r;
	r = fill(m, since, reply);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read %s from the ledger: %s",
					       what, strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_list_violations(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_VIOLATION, "violations",
				fill_violations);
}

/* GetUsageBetween(t from_usec, t to_usec): usage over intervals that overlap the range. */
static int method_get_usage_between(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct manager *m = userdata;
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
	r = ledger_list_usage_between(m->ledger, from, to, append_usage, reply);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read usage from the ledger: %s",
					       strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_get_usage(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_USAGE, "usage", fill_usage);
}

static int append_gap(const struct gap *g, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_GAP, g->id, g->cause, g->start_usec,
				     g->end_usec, g->boot_id, g->detail, g->bound_cpu_ns,
				     g->bound_devices, g->bound, g->policy);
}

static int fill_gaps(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_gaps(m->ledger, since, append_gap, reply);
}

static int method_list_gaps(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_GAP, "gaps", fill_gaps);
}

static int method_get_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_free_ char *text = manager_metrics_render(userdata, true);

	if (!text)
		return -ENOMEM;
	return sd_bus_reply_method_return(msg, "s", text);
}

static int method_record_report(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	const char *license_id, *format, *sha;
	uint64_t from, to, id = 0;
	int r;

	r = sd_bus_message_read(msg, "sttss", &license_id, &from, &to, &format, &sha);
	if (r < 0)
		return r;
	if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
	    !(streq(format, "json") || streq(format, "csv")) || from >= to || !license_id[0])
		return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
					"expected a licence id, from < to, json or csv, and the "
					"report's SHA-256 as 64 lower-case hex digits");
	r = ledger_add_report(m->ledger, now_realtime_usec(), license_id, from, to, format, sha,
			      &id);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot record the report: %s",
					       strerror(-r));
	return sd_bus_reply_method_return(msg, "t", id);
}

/* JobStarted(s job, a{sv} info) and JobEnded(s job, a{sv} info): root only (the prolog and
 * epilog run as root). */
static int method_job(sd_bus_message *msg, struct manager *m, sd_bus_error *error, bool start)
{
	struct job_info empty = { .uid = UINT32_MAX }, upd, *j;
	const char *id;
	bool rerun;
	int r;

	r = sd_bus_message_read(msg, "s", &id);
	if (r < 0)
		return r;
	if (!job_id_valid(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid job id '%s': expected 1 to %d decimal digits", id,
					 JOB_ID_MAX);
	j = job_table_get(m->jobs, id, false);
	/* A job id seen again after its end is a new run (ids restart and wrap). */
	rerun = start && j && j->end_usec;
	r = job_info_read_bus(msg, j && !rerun ? j : &empty, &upd, error);
	if (r < 0) {
		upd.row = 0;
		job_info_clear(&upd);
		return r;
	}
	if (!j) {
		j = job_table_get(m->jobs, id, true);
		if (!j) {
			job_info_clear(&upd);
			return -ENOMEM;
		}
	}
	if (rerun) {
		upd.row = 0;
		upd.start_usec = upd.end_usec = 0;
	}
	snprintf(upd.id, sizeof(upd.id), "%s", id);
	if (!upd.scheduler &&
	    job_info_set(&upd, "scheduler", "slurm", 0, &(const char *){ 0 }) < 0) {
		job_info_clear(&upd);
		return -ENOMEM;
	}
	if (start && !upd.start_usec)
		upd.start_usec = now_realtime_usec();
	if (!start)
		upd.end_usec = now_realtime_usec();
	job_info_clear(j);
	*j = upd;
	r = start ? manager_job_started(m, j) : manager_job_ended(m, j);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot record job %s in the ledger: %s",
					       id, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_job_started(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return method_job(msg, userdata, error, true);
}

static int method_job_ended(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return method_job(msg, userdata, error, false);
}

static int append_job(const struct job_info *j, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_JOB, j->id, j->scheduler, j->user,
				     j->uid, j->account, j->partition, j->wckey, j->comment,
				     j->gpus, j->nodes, j->start_usec, j->end_usec);
}

static int fill_jobs(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_jobs(m->ledger, since, append_job, reply);
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_JOB, "jobs", fill_jobs);
}

static int append_gpu_usage(const struct gpu_usage_row *u, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_GPU_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->gpu_ns, u->tpp_seconds, u->ops_upper, u->ops_lower,
				     u->launches, u->threads_launched, u->graph_launches,
				     u->bytes_alloc, u->bytes_h2d, u->dev_opens, u->first_usec,
				     u->last_usec);
}

static int fill_gpu_usage(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_gpu_usage(m->ledger, since, append_gpu_usage, reply);
}

static int method_get_gpu_usage(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_GPU_USAGE, "GPU usage",
				fill_gpu_usage);
}

static int method_get_inventory(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return manager_gpu_reply_inventory(userdata, msg);
}

static int append_threshold(const struct threshold_event *e, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_THRESHOLD, e->seq, e->time_usec,
				     e->license_id, e->term, e->subject, e->level, e->measured,
				     e->limit, e->detail);
}

static int fill_thresholds(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_threshold_events(m->ledger, since, append_threshold, reply);
}

static int method_list_thresholds(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_THRESHOLD, "threshold events",
				fill_thresholds);
}

static int append_cleared(uint64_t seq, uint64_t cleared_usec, const char *key, void *userdata)
{
	_cleanup_free_ char *k = utf8_escape_invalid(key);

	return k ? sd_bus_message_append(userdata, HPCMETER_SIG_CLEARED, seq, cleared_usec, k) :
		   -ENOMEM;
}

static int fill_cleared(struct manager *m, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_cleared_violations(m->ledger, since, append_cleared, reply);
}

static int method_list_cleared(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_rows_since(msg, userdata, error, HPCMETER_SIG_CLEARED, "cleared violations",
				fill_cleared);
}

static int method_explain_license(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct eval_result res = {};
	const char *id;
	int r;

	r = sd_bus_message_read(msg, "s", &id);
	if (r < 0)
		return r;
	if (!license_id_valid(id)) /* never echoed: it may be megabytes */
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid licence id: expected 1 to 128 characters of "
					 "A-Z a-z 0-9 . _ : -");
	r = manager_explain(m, id, &res);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_LICENSE,
					 "No licence with id \"%s\" is loaded", id);
	if (r < 0) {
		eval_result_done(&res);
		return sd_bus_error_set_errnof(error, -r, "Cannot evaluate licence %s: %s", id,
					       strerror(-r));
	}
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_TERM);
	for (size_t i = 0; r >= 0 && i < res.n_terms; i++) {
		_cleanup_free_ char *text = utf8_escape_invalid(res.terms[i].text);

		r = text ? sd_bus_message_append(reply, HPCMETER_SIG_TERM, res.terms[i].term,
						 eval_state_name(res.terms[i].state), text) :
			   -ENOMEM;
	}
	eval_result_done(&res);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	int r = manager_reload(m);

	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read licence directory %s: %s",
					       m->cfg.licenses_dir, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;

	if (streq(property, "Version"))
		return sd_bus_message_append(reply, "s", HPCMETER_VERSION);
	if (streq(property, "IntervalUSec"))
		return sd_bus_message_append(reply, "t", m->cfg.interval_sec * USEC_PER_SEC);
	if (streq(property, "LastCollectUSec"))
		return sd_bus_message_append(reply, "t", m->last_collect_usec);
	if (streq(property, "LastViolationSeq"))
		return sd_bus_message_append(reply, "t", ledger_last_violation_seq(m->ledger));
	if (streq(property, "LicenseErrors"))
		return sd_bus_message_append(reply, "u", manager_license_errors(m));
	if (streq(property, "LicensesActive"))
		return sd_bus_message_append(reply, "u", manager_licenses_active(m));
	if (streq(property, "LastGapId"))
		return sd_bus_message_append(reply, "t", ledger_last_gap_id(m->ledger));
	if (streq(property, "LedgerState")) {
		char state[256];

		manager_ledger_state(m, state, sizeof(state));
		return sd_bus_message_append(reply, "s", state);
	}
	return -ENOENT;
}

/* org.hpcmeter1.Meter: what is metered (status, usage, gaps, jobs, inventory, metrics). */
static const sd_bus_vtable meter_vtable[] = {
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
				bus_method_get_usage_filtered, SD_BUS_VTABLE_UNPRIVILEGED),
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
				SD_BUS_NO_RESULT, method_job_started, 0),
	SD_BUS_METHOD_WITH_ARGS("JobEnded", SD_BUS_ARGS("s", job, "a{sv}", info), SD_BUS_NO_RESULT,
				method_job_ended, 0),
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
	SD_BUS_PROPERTY("MeterStates", "a{ss}", bus_property_meter_states, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LedgerState", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LastGapId", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};

/* org.hpcmeter1.Licenses: the licences loaded, their terms, and reports against them. */
static const sd_bus_vtable licenses_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("ListLicenses", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a" HPCMETER_SIG_LICENSE, licenses),
				method_list_licenses, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ExplainLicense", SD_BUS_ARGS("s", license_id),
				SD_BUS_RESULT("a" HPCMETER_SIG_TERM, terms), method_explain_license,
				SD_BUS_VTABLE_UNPRIVILEGED),
	/* Privileged: root only, in sd-bus as in the bus policy. */
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, 0),
	/* Privileged: only root signs reports (the key is 0600). */
	SD_BUS_METHOD_WITH_ARGS("GetReport",
				SD_BUS_ARGS("s", license_id, "t", from_usec, "t", to_usec, "s",
					    format),
				SD_BUS_RESULT("h", report, "t", size, "s", sha256, "ay", signature),
				bus_method_get_report, 0),
	SD_BUS_METHOD_WITH_ARGS("RecordReport",
				SD_BUS_ARGS("s", license_id, "t", from_usec, "t", to_usec, "s",
					    format, "s", sha256),
				SD_BUS_RESULT("t", id), method_record_report, 0),
	SD_BUS_PROPERTY("LicenseErrors", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LicensesActive", "u", property_get, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};

/* org.hpcmeter1.Violations: violations raised, cleared and acknowledged, and cap warnings. */
static const sd_bus_vtable violations_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("ListViolations", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_VIOLATION, violations),
				method_list_violations, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListClearedViolations", SD_BUS_ARGS("t", since_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_CLEARED, cleared),
				method_list_cleared, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListThresholdEvents", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_THRESHOLD, events),
				method_list_thresholds, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListAcknowledgements", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_ACK, acknowledgements),
				bus_method_list_acks, SD_BUS_VTABLE_UNPRIVILEGED),
	/* Privileged: root only (checked again in the handler, by the sender's euid). */
	SD_BUS_METHOD_WITH_ARGS("AcknowledgeViolation", SD_BUS_ARGS("t", seq, "s", note),
				SD_BUS_NO_RESULT, bus_method_acknowledge, 0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationRaised",
				SD_BUS_ARGS("t", seq, "t", time_usec, "s", kind, "s", license_id,
					    "u", pid, "u", uid, "s", user, "s", executable, "s",
					    cgroup, "s", job, "s", detail),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationCleared", SD_BUS_ARGS("t", seq, "t", time_usec, "s", key),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ThresholdApproaching",
				SD_BUS_ARGS("t", seq, "t", time_usec, "s", license_id, "s", term,
					    "s", subject, "u", level, "d", measured, "d", limit,
					    "s", detail),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationAcknowledged",
				SD_BUS_ARGS("t", seq, "t", time_usec, "u", uid, "s", note), 0),
	SD_BUS_PROPERTY("LastViolationSeq", "t", property_get, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ActiveViolations", "u", bus_property_active_violations, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};

int manager_bus_connect(struct manager *m)
{
	int r;

	r = sd_bus_open_system(&m->bus);
	if (r < 0) {
		log_error("cannot connect to the system bus: %s", strerror(-r));
		return r;
	}
	r = sd_bus_add_object_vtable(m->bus, &m->vtable_slot, HPCMETER_OBJECT_PATH,
				     HPCMETER_METER_IFACE, meter_vtable, m);
	/* The other two are floating: they go with the bus connection. */
	if (r >= 0)
		r = sd_bus_add_object_vtable(m->bus, NULL, HPCMETER_OBJECT_PATH,
					     HPCMETER_LICENSES_IFACE, licenses_vtable, m);
	if (r >= 0)
		r = sd_bus_add_object_vtable(m->bus, NULL, HPCMETER_OBJECT_PATH,
					     HPCMETER_VIOLATIONS_IFACE, violations_vtable, m);
	if (r < 0) {
		log_error("cannot register %s: %s", HPCMETER_OBJECT_PATH, strerror(-r));
		return r;
	}
	/* The name last: by the time a client can find us, every object answers. */
	r = sd_bus_request_name(m->bus, HPCMETER_BUS_NAME, 0);
	if (r < 0) {
		log_error("cannot own %s on the system bus: %s (is another hpcmeterd running, or "
			  "the bus policy org.hpcmeter1.conf not installed?)",
			  HPCMETER_BUS_NAME, strerror(-r));
		return r;
	}
	r = sd_bus_set_exit_on_disconnect(m->bus, true);
	if (r < 0)
		return r;
	r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		log_error("cannot attach the bus to the event loop: %s", strerror(-r));
		return r;
	}
	bus_meter_states_check(m); /* the states MeterStateChanged starts from */
	return 0;
}

int manager_bus_emit_violation(struct manager *m, const struct violation *v)
{
	int r;

	if (!m->bus)
		return 0;
	r = sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ViolationRaised", HPCMETER_SIG_VIOLATION_FIELDS, v->seq,
			       v->time_usec, v->kind, v->license_id, v->pid, v->uid, v->user,
			       v->executable, v->cgroup, v->job, v->detail);
	if (r < 0)
		log_warning("cannot emit ViolationRaised #%llu: %s (it is in the ledger)",
			    (unsigned long long)v->seq, strerror(-r));
	manager_bus_properties_changed(m, "LastViolationSeq");
	bus_properties_changed_later(m, "ActiveViolations");
	return r;
}

void manager_bus_properties_changed(struct manager *m, const char *property)
{
	if (m->bus)
		sd_bus_emit_properties_changed(
			m->bus, HPCMETER_OBJECT_PATH, hpcmeter_iface(property), property,
			/* a reload changes both */
			streq(property, "LicenseErrors") ? "LicensesActive" : NULL, NULL);
	/* Each collection and each ledger state change: have the meters' states changed? */
	bus_meter_states_check(m);
}

int manager_bus_emit_cleared(struct manager *m, uint64_t seq, uint64_t time_usec, const char *key)
{
	_cleanup_free_ char *k = utf8_escape_invalid(key);
	int r;

	if (!m->bus)
		return 0;
	if (!k)
		return -ENOMEM;
	r = sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ViolationCleared", HPCMETER_SIG_CLEARED_FIELDS, seq, time_usec, k);
	if (r < 0)
		log_warning("cannot emit ViolationCleared #%llu: %s (it is in the ledger)",
			    (unsigned long long)seq, strerror(-r));
	bus_properties_changed_later(m, "ActiveViolations");
	return r;
}

int manager_bus_emit_threshold(struct manager *m, const struct threshold_event *e)
{
	int r;

	if (!m->bus)
		return 0;
	r = sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ThresholdApproaching", HPCMETER_SIG_THRESHOLD_FIELDS, e->seq,
			       e->time_usec, e->license_id, e->term, e->subject, e->level,
			       e->measured, e->limit, e->detail);
	if (r < 0)
		log_warning("cannot emit ThresholdApproaching #%llu: %s (it is in the ledger)",
			    (unsigned long long)e->seq, strerror(-r));
	return r;
}

int manager_bus_emit_gap(struct manager *m, const struct gap *g)
{
	int r;

	if (!m->bus)
		return 0;
	r = sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_METER_IFACE, "MeteringGap",
			       HPCMETER_SIG_GAP_FIELDS, g->id, g->cause, g->start_usec, g->end_usec,
			       g->boot_id, g->detail, g->bound_cpu_ns, g->bound_devices, g->bound,
			       g->policy);
	if (r < 0)
		log_warning("cannot emit MeteringGap #%llu: %s (it is in the ledger)",
			    (unsigned long long)g->id, strerror(-r));
	manager_bus_properties_changed(m, "LastGapId");
	return r;
}
