/* SPDX-License-Identifier: GPL-2.0-only */
/* The ledger: usage per interval, process events and violations in SQLite (WAL, one writer). */
#pragma once

#include <stdint.h>

#include "jobs.h"

struct ledger;

struct violation {
	uint64_t seq; /* assigned by the ledger, monotonic across restarts */
	uint64_t time_usec;
	const char *kind;
	const char *license_id;
	uint32_t pid;
	uint32_t uid;
	const char *user;
	const char *executable;
	const char *cgroup;
	const char *job;
	const char *detail;
};

struct usage_row {
	const char *cgroup;
	const char *job;
	uint32_t uid;
	const char *user;
	uint64_t cpu_ns;
	uint64_t first_usec, last_usec;
};

#define LEDGER_FILE "ledger.sqlite"

/* Open (creating) dir/ledger.sqlite. On error returns -errno and a message in err. */
int ledger_open(const char *dir, struct ledger **ret, char *err, size_t err_size);
void ledger_close(struct ledger *l);
const char *ledger_path(const struct ledger *l);

/* Writes go into one transaction opened on demand; ledger_commit() ends it. */
int ledger_commit(struct ledger *l);

int ledger_add_interval(struct ledger *l, uint64_t start_usec, uint64_t end_usec, int64_t *ret_id);
int ledger_add_usage(struct ledger *l, int64_t interval_id, const char *cgroup, uint64_t cgroup_id,
		     const char *job, uint32_t uid, const char *user, uint64_t cpu_ns);
int ledger_add_exec(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t ppid, uint32_t uid,
		    const char *executable, const char *cgroup);
int ledger_add_exit(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t exit_code,
		    uint64_t cpu_ns);

/* Store v, assign v->seq, and commit: a violation is durable before anyone is told. v->seq
 * is assigned even when storing fails (the error is returned). */
int ledger_add_violation(struct ledger *l, struct violation *v);
uint64_t ledger_last_violation_seq(const struct ledger *l);
int ledger_count_violations(struct ledger *l, uint64_t *ret);

int ledger_list_violations(struct ledger *l, uint64_t since_seq,
			   int (*fn)(const struct violation *v, void *userdata), void *userdata);
int ledger_list_usage(struct ledger *l, uint64_t since_usec,
		      int (*fn)(const struct usage_row *u, void *userdata), void *userdata);
/* The same over intervals that end after from_usec and start before to_usec. */
int ledger_list_usage_between(struct ledger *l, uint64_t from_usec, uint64_t to_usec,
			      int (*fn)(const struct usage_row *u, void *userdata), void *userdata);

/* Insert (j->row == 0, then set) or update a job announcement, and commit. */
int ledger_store_job(struct ledger *l, struct job_info *j);
/* Jobs running, or ended at or after since_usec (UINT64_MAX: running ones only). */
int ledger_list_jobs(struct ledger *l, uint64_t since_usec,
		     int (*fn)(const struct job_info *j, void *userdata), void *userdata);

/* ---- GPU usage per interval (issue 3). ---- */
struct gpu_usage_row {
	const char *cgroup;
	uint64_t cgroup_id;
	const char *job;
	uint32_t uid;
	const char *user;
	uint64_t gpu_ns; /* device-nanoseconds: lifetime since the first GPU use x devices */
	double tpp_seconds; /* gpu seconds x the device's TPP */
	double ops_upper; /* gpu seconds x the device's highest dense peak (operations) */
	double ops_lower; /* 0: no lower bound is measured yet */
	uint64_t launches, threads_launched, graph_launches;
	uint64_t bytes_alloc, bytes_h2d, dev_opens;
	uint64_t first_usec, last_usec; /* in lists: the intervals covered */
};

/* The gpu_usage table: created if missing when the ledger opens (a step of its own, to be
 * folded into the versioned migrations). */
int ledger_gpu_schema(struct ledger *l);
int ledger_add_gpu_usage(struct ledger *l, int64_t interval_id, const struct gpu_usage_row *u);
/* Sums per (cgroup, job, uid) over intervals that end after since_usec. */
int ledger_list_gpu_usage(struct ledger *l, uint64_t since_usec,
			  int (*fn)(const struct gpu_usage_row *u, void *userdata), void *userdata);

/* ---- violation lifecycle (licence evaluator) ---- */

struct threshold_event {
	uint64_t seq; /* assigned by the ledger */
	uint64_t time_usec;
	const char *license_id;
	const char *term;
	const char *subject;
	uint32_t level; /* 80 or 95 (percent of the cap) */
	double measured, limit;
	const char *detail;
};

/* Idempotent: creates the lifecycle tables when they are missing. */
int ledger_upgrade_violation_lifecycle(struct ledger *l);
int ledger_set_violation_evidence(struct ledger *l, uint64_t seq, const char *key, const char *term,
				  const char *subject, double measured, double limit);
int ledger_clear_violation(struct ledger *l, uint64_t seq, uint64_t time_usec);
int ledger_list_open_violations(struct ledger *l,
				int (*fn)(uint64_t seq, const char *key, void *userdata),
				void *userdata);
/* Violations cleared after since_usec, in the order they cleared. */
int ledger_list_cleared_violations(struct ledger *l, uint64_t since_usec,
				   int (*fn)(uint64_t seq, uint64_t cleared_usec, const char *key,
					     void *userdata),
				   void *userdata);
int ledger_add_threshold_event(struct ledger *l, struct threshold_event *e);
int ledger_list_threshold_events(struct ledger *l, uint64_t since_seq,
				 int (*fn)(const struct threshold_event *e, void *userdata),
				 void *userdata);
