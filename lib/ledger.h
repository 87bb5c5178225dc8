/* SPDX-License-Identifier: GPL-2.0-only */
/* The ledger: usage per interval, process events and violations in SQLite (WAL, one writer). */
#pragma once

#include <stdbool.h>
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
/* Records written since the last commit, or kept in memory for a retry: a commit is due. */
bool ledger_dirty(const struct ledger *l);

int ledger_add_interval(struct ledger *l, uint64_t start_usec, uint64_t end_usec, int64_t *ret_id);
int ledger_add_usage(struct ledger *l, int64_t interval_id, const char *cgroup, uint64_t cgroup_id,
		     const char *job, uint32_t uid, const char *user, uint64_t cpu_ns);
int ledger_add_exec(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t ppid, uint32_t uid,
		    const char *executable, const char *cgroup);
int ledger_add_exit(struct ledger *l, uint64_t time_usec, uint32_t pid, uint32_t exit_code,
		    uint64_t cpu_ns);

/* Processes of one executable in one (cgroup, uid) over an interval: how many exec'd and
 * exited, and the CPU time they used in it. */
struct process_count {
	const char *cgroup;
	const char *job;
	uint32_t uid;
	const char *user;
	const char *executable; /* "" unknown (a process that ran before the meter) */
	const char *exe_sha256; /* "" where not known */
	uint64_t execs, exits, cpu_ns;
};
int ledger_add_process_count(struct ledger *l, int64_t interval_id, const struct process_count *c);

/* A single process record kept as evidence, and why: "violation" (it raised one),
 * "first-in-job" (the first exec of its executable in its job), "accelerator" (it used one). */
struct process_evidence {
	uint64_t time_usec;
	const char *reason;
	uint32_t pid, ppid, uid;
	const char *executable, *exe_sha256, *cgroup, *job;
};
int ledger_add_evidence_exec(struct ledger *l, const struct process_evidence *e);
int ledger_add_evidence_exit(struct ledger *l, uint64_t time_usec, const char *reason, uint32_t pid,
			     uint32_t exit_code, uint64_t cpu_ns);

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

/* ---- ledger-records.c and the chain (schema version 2 on) ---- */
#include <stddef.h>

struct chain_head;

/* A disk that is full (or a database that cannot be written) makes the ledger degraded: records
 * are kept in memory, in order, and written when a commit succeeds again. */
bool ledger_degraded(const struct ledger *l, int *error, size_t *pending);
/* The last committed chain entry. */
const struct chain_head *ledger_chain_head(const struct ledger *l);

/* A span of time in which metering was incomplete, with a worst-case usage bound. */
struct gap {
	uint64_t id; /* assigned by the ledger, monotonic across restarts */
	const char *cause; /* daemon-down, reboot, ringbuf-drop, probe-detached, module-unloaded */
	uint64_t start_usec, end_usec;
	const char *boot_id;
	const char *detail;
	uint64_t bound_cpu_ns; /* cores × duration */
	uint32_t bound_devices; /* devices held at the start of the gap */
	const char *bound; /* the bound as JSON, per metric */
	const char *policy; /* how a licence counts it: "max-rate" or "violation" */
};

/* Store g (assigning g->id) and commit. */
int ledger_add_gap(struct ledger *l, struct gap *g);
uint64_t ledger_last_gap_id(const struct ledger *l);
int ledger_list_gaps(struct ledger *l, uint64_t since_id,
		     int (*fn)(const struct gap *g, void *userdata), void *userdata);

int ledger_add_license_event(struct ledger *l, uint64_t time_usec, const char *event,
			     const char *license_id, const char *file, const char *sha256);
int ledger_add_meter_state(struct ledger *l, uint64_t time_usec, const char *meter,
			   const char *state, const char *detail);
int ledger_add_inventory(struct ledger *l, uint64_t time_usec, const char *source,
			 const char *snapshot_json);
/* A metric other than CPU time for a job in an interval (GPU seconds, launches, ...). */
int ledger_add_metric(struct ledger *l, int64_t interval_id, const char *job, const char *account,
		      uint32_t uid, const char *metric, double value);
/* Record a job (job, cgroup, uid) the first time it is seen; later calls change nothing. */
int ledger_note_job(struct ledger *l, const char *job, const char *cgroup, uint32_t uid,
		    const char *user, const char *account, uint64_t first_usec);

/* The daemon's heartbeat: written with every interval, read at start to find the gap. */
struct heartbeat {
	char boot_id[64];
	uint64_t boottime_usec; /* CLOCK_BOOTTIME at the heartbeat */
	uint64_t realtime_usec;
	bool clean_stop;
};
int ledger_write_heartbeat(struct ledger *l, const struct heartbeat *hb);
/* -ENOENT when there was none (a new ledger). */
int ledger_read_heartbeat(struct ledger *l, struct heartbeat *hb);

/* Kernel counters already in the ledger, per process (state, not records). */
int ledger_clear_baselines(struct ledger *l);
int ledger_add_baseline(struct ledger *l, uint32_t tgid, uint64_t start_ns, uint64_t cpu_ns);
int ledger_load_baselines(struct ledger *l,
			  int (*fn)(uint32_t tgid, uint64_t start_ns, uint64_t cpu_ns, void *ud),
			  void *userdata);

/* Retention: replace intervals that ended before before_usec (and their usage rows) by daily
 * totals in one roll-up record. Sets *ret_intervals to the number replaced. Commits. */
int ledger_rollup(struct ledger *l, uint64_t before_usec, uint64_t *ret_intervals);

/* The same, but only intervals with an id below below_id (those after it are not yet in the
 * cluster's store). */
int ledger_rollup_below(struct ledger *l, uint64_t before_usec, int64_t below_id,
			uint64_t *ret_intervals);

/* ---- shipping to the cluster's store (daemon/core/ship.c) ----
 * The position is state, not a record (like the counter baselines): what the store has
 * acknowledged, and the running totals up to it. Chaining it would make each acknowledgement
 * a record to ship and acknowledge in turn. */
struct ship_state {
	char store_id[64]; /* the store it refers to (hpcm.store.id) */
	uint64_t acked_seq;
	uint64_t totals_intervals, totals_cpu_ns, totals_gpu_ns;
};
/* -ENOENT when the node has never shipped. */
int ledger_read_ship_state(struct ledger *l, struct ship_state *s);
int ledger_write_ship_state(struct ledger *l, const struct ship_state *s);
struct chain_entry;
/* fn over committed chain entries after after_seq, at most limit (chain_read_entries()). */
int ledger_read_entries(struct ledger *l, uint64_t after_seq, size_t limit,
			int (*fn)(const struct chain_entry *e, void *userdata), void *userdata);
/* The end of the last interval whose entry is at or before seq (0: none left). */
int ledger_interval_end_at(struct ledger *l, uint64_t seq, uint64_t *ret);
/* The first interval with an entry (its own or a usage row's) after seq: INT64_MAX if none. */
int ledger_first_interval_after(struct ledger *l, uint64_t seq, int64_t *ret);

/* A report issued (by hpcmeterctl, through the daemon: one writer). Commits. */
int ledger_add_report(struct ledger *l, uint64_t time_usec, const char *license_id,
		      uint64_t from_usec, uint64_t to_usec, const char *format, const char *sha256,
		      uint64_t *ret_id);
/* Record a job announcement and commit: the first of a run (j->row == 0: set to the new row's
 * id, the run id), or a change of it (its end included) as a new row naming the run. */
int ledger_store_job(struct ledger *l, struct job_info *j);
/* Jobs running, or ended at or after since_usec (UINT64_MAX: running ones only). */
int ledger_list_jobs(struct ledger *l, uint64_t since_usec,
		     int (*fn)(const struct job_info *j, void *userdata), void *userdata);

/* ---- sessions: where the work came from (ledger-sessions.c) ---- */
struct session_record {
	int64_t row; /* the session's first row (its run id); 0 before it is stored */
	const char *session; /* "audit:BOOT_ID:SESSIONID" or "job:ID" */
	uint32_t uid; /* the login uid, or the job's uid */
	const char *user;
	const char *remote_host; /* as its source names it; "" for a local session */
	const char *remote_address; /* "" while not known */
	const char *address_state; /* "known", "pending", "unresolved"; "" for a local one */
	const char *service; /* "sshd", "login", "slurm", ... */
	const char *source; /* where the origin came from: logind, socket, utmp, none, gone, slurm */
	const char *job; /* the job it is (job:ID) or was adopted into; "" for none */
	uint64_t start_usec, end_usec; /* end 0 while it lasts */
};
/* Record a session: the first row of its run (s->row == 0: set to the new row's id), or a
 * change of it (its address resolved, its end) as a new row naming the run. Not committed:
 * the loop's commit takes it. */
int ledger_store_session(struct ledger *l, struct session_record *s);
/* The sessions whose last row has no end (open when the daemon stopped). */
int ledger_list_open_sessions(struct ledger *l,
			      int (*fn)(const struct session_record *s, void *userdata),
			      void *userdata);

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
/* An operator's acknowledgement of violation seq (a chained record; committed on return).
 * -ENOENT for a seq that no violation has. Several acknowledgements of one violation are
 * several records. */
struct violation_ack {
	uint64_t id, seq, time_usec;
	uint32_t uid;
	const char *note;
};
int ledger_acknowledge_violation(struct ledger *l, uint64_t seq, uint64_t time_usec, uint32_t uid,
				 const char *note);
/* Acknowledgements of violations with a seq above since_seq, in the order they were made. */
int ledger_list_acks(struct ledger *l, uint64_t since_seq,
		     int (*fn)(const struct violation_ack *a, void *userdata), void *userdata);
/* Assigns e->seq and commits the record. */
int ledger_add_threshold_event(struct ledger *l, struct threshold_event *e);
int ledger_list_threshold_events(struct ledger *l, uint64_t since_seq,
				 int (*fn)(const struct threshold_event *e, void *userdata),
				 void *userdata);
