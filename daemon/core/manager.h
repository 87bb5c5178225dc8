/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon's state and its event loop: meter, attribution, licences, ledger, bus. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "attribute.h"
#include "config.h"
#include "core.h"
#include "gpu.h"
#include "evaluate.h"
#include "inventory.h"
#include "ledger.h"
#include "license.h"
#include "kmeter.h"
#include "meter.h"
#include "workload.h"

struct sqlite3;
struct usage_cache;

struct manager {
	struct config cfg;
	sd_event *event;
	/* Who is told what happened (core.h); NULL: nobody. */
	const struct manager_notify *notify;
	void *notify_ud;
	/* gap-stall.c: the event loop's own tick, to notice that it did not run. */
	sd_event_source *stall_source;
	uint64_t stall_last_mono, stall_threshold_usec;
	sd_event_source *ring_source, *timer_source, *post_source;
	sd_event_source *commit_source; /* the delayed commit of the loop's records */
	struct meter *meter;
	struct attributor *attr;
	struct ledger *ledger;
	struct license_set *licenses;
	struct kmeter *kmeter; /* the kernel module's meter; NULL when disabled */
	struct exehash *exehash; /* SHA-256 of executables, while a licence lists digests */
	sd_event_source *digest_source; /* its worker's results */
	struct digest_wait *digest_waits; /* processes waiting for a digest (manager.c) */
	size_t n_digest_waits, digest_waits_cap;
	struct job_table *jobs; /* jobs announced by the batch system */
	bool jobs_announced; /* this node has had job announcements: job terms can be checked */
	enum hpcm_v1_controller v1_controller; /* the v1 hierarchy followed, HPCM_V1_NONE if none */
	struct eval_tracker *tracker; /* the violation lifecycle of periodic terms */
	struct sqlite3 *query_db; /* read-only ledger connection for usage queries */
	struct usage_cache *usage_cache; /* cumulative usage sums, read incrementally */
	unsigned terms_not_evaluated; /* at the last evaluation, over all licences */
	void *process_open; /* tsearch tree: process violations not cleared yet (manager-evaluate.c) */

	void *procs; /* tsearch tree of struct proc, by tgid */
	void *usage; /* tsearch tree of struct usage_acc for the interval in progress */
	void *raised; /* tsearch tree of violation keys already raised (strings) */

	char hostname[256];
	char boot_id[64];
	uint64_t started_usec;
	uint64_t meter_start_ns; /* CLOCK_BOOTTIME when the meter attached: usage before is not ours */
	uint64_t interval_start_usec;
	uint64_t last_collect_usec;
	uint64_t last_collect_duration_usec; /* how long the last reading took (self-cost) */
	int bpf_stats_fd; /* holds the kernel's BPF statistics on while open; -1 when off */
	int bpf_stats_errno; /* why it is off when asked for */
	uint64_t collections;
	uint64_t exec_events, exit_events, move_events, tail_events;
	uint32_t n_procs;
	uint64_t losses_seen[HPCM_STAT_MAX]; /* kernel loss counters at the last collection */
	uint64_t bad_records_seen;
	/* The boottime/realtime offset, to turn BPF timestamps into wall-clock times. */
	int64_t boot_to_real_usec;

	/* gap.c: conditions that keep metering incomplete, open until they end. */
	struct gap_cond *gap_conds;
	size_t n_gap_conds;
	uint64_t gap_losses_seen[HPCM_STAT_MAX];
	uint64_t gap_announced; /* last gap id signalled on the bus */
	unsigned ncpus;
	/* Hook for the licence language: how a gap counts ("max-rate" or "violation").
	 * NULL: every gap counts at the maximum rate. */
	const char *(*gap_policy)(struct manager *m, const struct gap *g);
	/* Hook for device meters: accelerators held now, for a gap's bound. NULL: none. */
	uint32_t (*devices_held)(struct manager *m);
	void *baselines; /* tsearch tree: counters already in the ledger (the previous run's) */
	uint64_t prev_commit_boot_ns; /* CLOCK_BOOTTIME of the previous run's last commit, same boot */
	void *job_totals; /* metrics.c: CPU time per job since start */
	uint64_t last_rollup_usec;
	bool ledger_was_degraded;
	struct license_rec *license_recs; /* records.c: licence files as last recorded */
	size_t n_license_recs;
	/* GPU meter and accelerator inventory (manager-gpu.c) */
	struct gpu *gpu; /* NULL when off or failed */
	sd_event_source *gpu_source;
	char gpu_state[128]; /* "on", "off", "failed: ..." */
	struct accel_db *accel_db;
	struct inventory *inventory;
	void *gpu_seen; /* tsearch tree of struct gpu_seen, by tgid */
	void *gpu_usage; /* tsearch tree of struct gpu_acc for the interval in progress */
	uint32_t *gpu_pending; /* exec'd processes whose maps to scan */
	size_t gpu_pending_n, gpu_pending_cap;
	/* states.c: the meters' states as last told (MeterStateChanged). */
	char meter_states[MANAGER_N_METERS][METER_STATE_MAX];
	bool have_meter_states;
	uint64_t meter_state_seq;
};

/* status.c: build GetStatus's list; compare the meters' states with the last told: each
 * change is recorded and told (meter_state), then MANAGER_CHANGED_METER_STATES. */
int status_add_num(struct status_list *l, const char *key, char type, uint64_t v);
int status_add_str(struct status_list *l, const char *key, const char *s);
int status_add_strv(struct status_list *l, const char *key, char **v, size_t n);
void manager_meter_states_check(struct manager *m);

/* Read the kernel counters and close the interval in progress. */
int manager_collect(struct manager *m);

/* Where usage of a process in these cgroups belongs, as a path: the followed v1 hierarchy's
 * path ("freezer:/slurm_n1/uid_1000/job_42/step_0") when it is a Slurm job, else cgroup v2's. */
const char *manager_attribution_path(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id,
				     char *buf, size_t size);

/* Visit every tracked process, with the cgroup path its usage is attributed to
 * (manager_attribution_path()). */
void manager_foreach_proc(struct manager *m,
			  void (*fn)(struct manager *m, uint32_t pid, uint32_t uid, const char *exe,
				     const char *filename, const char *cgroup, void *userdata),
			  void *userdata);
/* The SHA-256 digests of a tracked process's executable and of the file it was run by (a
 * script) or maps (a program run through the loader: run_path), NULL where not computed: only
 * while a licence lists prohibited digests. */
void manager_proc_digests(struct manager *m, uint32_t pid, const char **exe, const char **run,
			  const char **run_path);
/* The per-run de-duplication of process violations: forget a key (its condition ended), or
 * remember one raised before a restart. */
void manager_forget_raised(struct manager *m, const char *key);
int manager_remember_raised(struct manager *m, const char *key);

/* manager-evaluate.c: every licence term, every interval, and the violation lifecycle. */
int manager_evaluate_start(struct manager *m);
void manager_evaluate_stop(struct manager *m);
int manager_evaluate(struct manager *m);
/* A process violation was raised at an exec: it stays open while a process meets it. */
void manager_process_violation_raised(struct manager *m, const char *key, uint64_t seq,
				      const char *user);
/* Store a violation that concerns no process (a tamper event, a metering gap a licence counts
 * as a violation): ledger first (v->seq assigned), then log and bus. */
int manager_record_violation(struct manager *m, struct violation *v);

/* gap.c. Causes: "daemon-down", "daemon-stopped", "reboot", "ringbuf-drop", "probe-detached",
 * "module-unloaded", ... A condition opened stays open (and is recorded each interval) until it
 * is closed; manager_gap_record() stores a gap whose end is known. */
int manager_gap_open(struct manager *m, const char *cause, const char *detail);
int manager_gap_close(struct manager *m, const char *cause);
int manager_gap_record(struct manager *m, const char *cause, uint64_t start_usec, uint64_t end_usec,
		       const char *detail);
/* At start: the gap since the last heartbeat (crash, stop or reboot). */
void manager_gaps_start(struct manager *m);
/* Each interval: losses, detached probes, open conditions; and the heartbeat. */
void manager_gaps_interval(struct manager *m, uint64_t now_usec);
void manager_heartbeat(struct manager *m, bool clean_stop);
void manager_gaps_announce(struct manager *m);
/* Is a condition of this cause open (a gap in progress)? */
bool manager_gap_is_open(struct manager *m, const char *cause);
void manager_gaps_free(struct manager *m);
/* gap-stall.c: a loop that did not run far longer than it should is a "daemon-stalled" gap. */
int manager_stall_start(struct manager *m);
void manager_stall_stop(struct manager *m);

/* The wall clock was stepped: open conditions' starts move with it. */
void manager_gaps_clock_shift(struct manager *m, int64_t jump_usec);

/* clockwatch.c: CLOCK_REALTIME stepped against CLOCK_BOOTTIME by more than the tolerance (NTP
 * slews, steps below it are corrections) is a "clock-jump" tamper violation. */
#define CLOCK_JUMP_TOLERANCE_USEC (2 * USEC_PER_SEC)
/* The step (realtime elapsed − boottime elapsed), 0 when within the tolerance. */
int64_t clock_jump_usec(int64_t real_elapsed_usec, int64_t boot_elapsed_usec);
void manager_clock_jumped(struct manager *m, int64_t jump_usec, const char *when);
/* Each reading, before the clocks' offset is updated. */
void manager_clock_check(struct manager *m);

/* metrics.c: the daemon's state as OpenMetrics text, or as the Prometheus text format that
 * node_exporter's textfile collector reads (caller frees); the latter is written atomically to
 * cfg.metrics_file each interval when set. */
void manager_metrics_account(struct manager *m, const char *job, const char *user, uint32_t uid,
			     uint64_t cpu_ns);
char *manager_metrics_render(struct manager *m, bool openmetrics);
int manager_metrics_write(struct manager *m);
void manager_metrics_free(struct manager *m);

/* records.c: licence files loaded, rejected and unloaded (with their SHA-256) into the ledger;
 * new_set NULL: all unloaded (a stop). And retention: roll old intervals up, once a day. */
void manager_record_licenses(struct manager *m, const struct license_set *new_set);
void manager_licenses_recorded_free(struct manager *m);
void manager_retention(struct manager *m, uint64_t now_usec);
/* Notice the ledger becoming degraded or writable again: log, record, signal (LedgerState). */
void manager_ledger_state_check(struct manager *m);
/* "ok", or "degraded: REASON (N records waiting in memory)". */
void manager_ledger_state(struct manager *m, char *buf, size_t size);
