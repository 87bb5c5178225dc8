// SPDX-License-Identifier: GPL-2.0-only
/* What the layer above asks of the core (core.h): its handles and settings, job
 * announcements, acknowledgements, issued reports and the states of meters outside the core.
 * Every write goes to the ledger first and is told through the notification interface. */
#include <errno.h>
#include <string.h>

#include "notify.h"
#include "util.h"

void manager_set_notify(struct manager *m, const struct manager_notify *ops, void *userdata)
{
	m->notify = ops;
	m->notify_ud = userdata;
}

sd_event *manager_event(struct manager *m)
{
	return m->event;
}

const struct config *manager_config(const struct manager *m)
{
	return &m->cfg;
}

struct ledger *manager_ledger(struct manager *m)
{
	return m->ledger;
}

int manager_commit(struct manager *m)
{
	return ledger_commit(m->ledger);
}

const struct license_set *manager_licenses(const struct manager *m)
{
	return m->licenses;
}

const struct license *manager_license_find(const struct manager *m, const char *id)
{
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && streq(l->id, id))
			return l;
	}
	return NULL;
}

void manager_announce_pending(struct manager *m)
{
	manager_gaps_announce(m);
}

/* A job id seen again after its end is a new run (ids restart and wrap). */
static bool job_rerun(const struct job_info *j, bool start)
{
	return start && j && j->end_usec;
}

const struct job_info *manager_job_base(struct manager *m, const char *id, bool start)
{
	struct job_info *j = job_table_get(m->jobs, id, false);

	return j && !job_rerun(j, start) ? j : NULL;
}

int manager_job_announce(struct manager *m, const char *id, bool start, struct job_info *upd)
{
	struct job_info *j = job_table_get(m->jobs, id, false);
	bool rerun = job_rerun(j, start);
	int r;

	if (!j && !(j = job_table_get(m->jobs, id, true))) {
		job_info_clear(upd);
		return -ENOMEM;
	}
	if (rerun) {
		upd->row = 0;
		upd->start_usec = upd->end_usec = 0;
	}
	snprintf(upd->id, sizeof(upd->id), "%s", id);
	if (!upd->scheduler &&
	    job_info_set(upd, "scheduler", "slurm", 0, &(const char *){ 0 }) < 0) {
		job_info_clear(upd);
		return -ENOMEM;
	}
	if (start && !upd->start_usec)
		upd->start_usec = now_realtime_usec();
	if (!start)
		upd->end_usec = now_realtime_usec();
	job_info_clear(j);
	*j = *upd;
	r = ledger_store_job(m->ledger, j);
	if (r < 0)
		log_error("job %s: cannot store its %s in the ledger: %s", j->id,
			  start ? "start" : "end", strerror(-r));
	if (start) {
		log_info("job %s started: user %s, account %s, partition %s, GPUs %s", j->id,
			 j->user ? j->user : "?", j->account ? j->account : "-",
			 j->partition ? j->partition : "-", j->gpus && *j->gpus ? j->gpus : "none");
		/* Its account and declared end use are checked now, before its first step. */
		m->jobs_announced = true;
	} else {
		log_info("job %s ended", j->id);
	}
	sessions_job(m, j, start);
	/* Checked at once: a job's violations are raised at its start, cleared at its end. */
	manager_evaluate(m);
	return r;
}

static int find_ack(const struct violation_ack *a, void *userdata)
{
	uint64_t *seq = userdata;

	if (a->seq == *seq)
		*seq = 0;
	return 0;
}

int manager_acknowledge(struct manager *m, uint64_t seq, uid_t uid, const char *note)
{
	struct violation_ack a = {
		.seq = seq,
		.time_usec = now_realtime_usec(),
		.uid = uid,
		.note = note,
	};
	uint64_t seen = seq;
	int r;

	if (seq == 0 || seq > ledger_last_violation_seq(m->ledger))
		return -ENOENT;
	/* One acknowledgement per violation: a second is an error, not a second record. */
	r = ledger_list_acks(m->ledger, seq - 1, find_ack, &seen);
	if (r >= 0 && seen == 0)
		return -EEXIST;
	if (r >= 0)
		r = ledger_acknowledge_violation(m->ledger, seq, a.time_usec, uid, note);
	if (r < 0)
		return r;
	log_notice("violation #%llu acknowledged by uid %u: %s", (unsigned long long)seq,
		   (unsigned)uid, note);
	notify_violation_acknowledged(m, &a);
	return 0;
}

int manager_record_report(struct manager *m, const char *license_id, uint64_t from_usec,
			  uint64_t to_usec, const char *format, const char *sha256,
			  uint64_t *ret_id)
{
	int r = ledger_add_report(m->ledger, now_realtime_usec(), license_id, from_usec, to_usec,
				  format, sha256, ret_id);

	if (r >= 0)
		r = ledger_commit(m->ledger);
	return r;
}

void manager_record_meter_state(struct manager *m, const char *meter, const char *state,
				const char *detail)
{
	ledger_add_meter_state(m->ledger, now_realtime_usec(), meter, state, detail);
}
