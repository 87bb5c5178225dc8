/* SPDX-License-Identifier: GPL-2.0-only */
/* Inside the core: the manager, which holds what every part shares (the configuration, the
 * loop, the meters, attribution, the ledger, the licences, the jobs, the node's identity), and
 * the parts, each owning its state behind a type defined in its own file:
 *
 *   procs.c       the process table: exec, exit, move and tail records, each reading's counters
 *   digests.c     SHA-256 of what processes run, and the processes waiting for one
 *   collect.c     the interval: usage per (cgroup, uid), its flush to the ledger, the reading
 *   evaluation.c  the licence evaluator's inputs, every interval and at each exec
 *   violations.c  violations raised, open and cleared; threshold events
 *   sessions.c    where the work came from: login sessions and their remote hosts, jobs
 *                 submitted from another host
 *   gpu-usage.c   the GPU meter and the inventory, GPU usage per interval
 *   gaps.c        metering gaps (with stall.c, the loop's own stall watch)
 *   clockwatch.c  the wall clock against CLOCK_BOOTTIME
 *   kmeter.c      the kernel module's meter compared with the BPF meter's
 *   metrics.c     OpenMetrics and the Prometheus text file
 *   records.c     licence files in force, retention, the ledger's own state
 *   status.c      GetStatus's keys and the meters' states
 *   ship.c        the ledger's records to the cluster's store (cluster_database)
 *   cluster.c     --cluster: the evaluator of the licences across the store's nodes
 *
 * A part reads another's state through the functions declared here, never its fields. The
 * outside world is told through notify.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "attribute.h"
#include "config.h"
#include "core.h"
#include "evaluate.h"
#include "gpu.h"
#include "inventory.h"
#include "jobs.h"
#include "kmeter.h"
#include "ledger.h"
#include "license.h"
#include "meter.h"
#include "workload.h"

struct procs;
struct digests;
struct interval;
struct evaluation;
struct violations;
struct sessions;
struct gpu_usage;
struct gaps;
struct stall;
struct metrics;
struct records;
struct meter_states;
struct ship;
struct cluster;

struct manager {
	struct config cfg;
	sd_event *event;
	sd_event_source *ring_source, *timer_source, *drain_source, *post_source;
	sd_event_source *commit_source; /* the delayed commit of the loop's records */
	/* Who is told what happened (core.h); NULL: nobody. */
	const struct manager_notify *notify;
	void *notify_ud;

	/* Shared by the parts. */
	struct meter *meter; /* the BPF CPU meter */
	struct attributor *attr;
	struct ledger *ledger;
	struct license_set *licenses;
	struct job_table *jobs; /* jobs announced by the batch system */
	bool jobs_announced; /* this node has had job announcements: job terms can be checked */
	enum hpcm_v1_controller v1_controller; /* the v1 hierarchy followed, HPCM_V1_NONE if none */
	char hostname[256];
	char boot_id[64];
	uint64_t started_usec;
	uint64_t meter_start_ns; /* CLOCK_BOOTTIME when the meter attached: usage before is not ours */
	int bpf_stats_fd; /* holds the kernel's BPF statistics on while open; -1 when off */
	int bpf_stats_errno; /* why it is off when asked for */

	/* The parts. */
	struct procs *procs;
	struct digests *digests;
	struct interval *interval;
	struct evaluation *evaluation;
	struct violations *violations;
	struct sessions *sessions;
	struct gpu_usage *gpu_usage;
	struct gaps *gaps;
	struct stall *stall;
	struct kmeter *kmeter; /* NULL when disabled */
	struct metrics *metrics;
	struct records *records;
	struct meter_states *states;
	struct ship *ship;
	struct cluster *cluster; /* --cluster only */
	/* cgroup_root: cgroup v2 ids known to be inside (1) or outside (0) it */
	void *scope_cache;
	size_t n_scope_cache;
};

/* ---- manager.c ---- */
/* Where usage of a process in these cgroups belongs, as a path: the followed v1 hierarchy's
 * path ("freezer:/slurm_n1/uid_1000/job_42/step_0") when it is a Slurm job, else cgroup v2's. */
const char *manager_attribution_path(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id,
				     char *buf, size_t size);

/* This node's name in the cluster: node_name, else the host name. */
const char *manager_node_name(const struct manager *m);
/* Is cgroup v2 id inside cgroup_root (always, when none is set)? Outside it nothing is metered
 * or evaluated. Cached per id. */
bool manager_in_scope(struct manager *m, uint64_t cgroup_id);

/* ---- procs.c: the process table ---- */
struct proc {
	uint32_t tgid;
	uint32_t ppid;
	uint32_t uid;
	uint64_t start_ns; /* from the kernel: tells a reused pid apart */
	uint64_t cpu_seen; /* counter value already accounted */
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id; /* in the followed v1 hierarchy, 0 when none */
	uint64_t seen_in; /* last reading that found it in the map */
	char *exe; /* resolved executable path, NULL when unknown */
	char *filename; /* the name it was run by (execve()), NULL when unknown */
	/* digests.c's: while a licence lists digests (exehash.h). */
	char *exe_sha256, *run_sha256;
	char *run_path; /* the prohibited program the loader maps, when found */
	bool hashed;
	bool loader; /* its executable is the dynamic loader: what it maps is looked at */
	/* Digests the worker computes for it. Removed while some are pending (it exited, its pid
	 * was reused, or it exec'd another program), it leaves the table but is kept until they
	 * are back (detached), to be evaluated as at its exec. Each exec is a generation: a
	 * digest never goes to another program than its own. */
	uint32_t exec_gen;
	uint8_t digests_pending;
	bool detached;
	uint64_t exec_usec; /* when it exec'd (wall clock), 0 when found without its exec */
	/* Its audit session (sessions.c): from the exec record, or /proc when found without one;
	 * HPCM_AUDIT_UNSET when none. */
	uint32_t loginuid, sessionid;
	/* Why it is kept as a record of its own ("violation", "first-in-job", "accelerator"),
	 * NULL when it is only counted (process_counts). */
	const char *evidence;
};

int procs_new(struct manager *m);
void procs_free(struct manager *m);
/* The meter's records (struct meter_callbacks). */
void procs_on_exec(const struct meter_exec *e, void *userdata);
void procs_on_exit(const struct meter_exit *e, void *userdata);
void procs_on_move(const struct meter_move *e, void *userdata);
void procs_on_tail(const struct meter_tail *e, void *userdata);
/* Processes that run already when the meter starts: checked now. */
void procs_seed(struct manager *m);
/* A reading: every process's counter into the interval; processes gone are forgotten. */
void procs_read(struct manager *m);
/* In the same boot: continue from the counters the previous run committed (its baselines);
 * save this run's at each commit. */
void procs_load_baselines(struct manager *m);
int procs_save_baselines(struct manager *m);
struct proc *procs_find(struct manager *m, uint32_t tgid);
/* Keep p as a record of its own from now on (its exec now, its exit when it ends): evidence of
 * a violation, of an accelerator used. Once per exec. */
void procs_keep_evidence(struct manager *m, struct proc *p, const char *reason);
void procs_keep_evidence_pid(struct manager *m, uint32_t tgid, const char *reason);
void proc_free(struct proc *p);
uint32_t procs_count(const struct manager *m);
void procs_events(const struct manager *m, uint64_t *exec, uint64_t *exit, uint64_t *move,
		  uint64_t *tail);
/* Visit every tracked process, with the cgroup path its usage is attributed to. */
void procs_foreach(struct manager *m,
		   void (*fn)(struct manager *m, struct proc *p, const char *cgroup,
			      void *userdata),
		   void *userdata);

/* ---- digests.c: what processes run, by content ---- */
int digests_new(struct manager *m);
void digests_free(struct manager *m);
/* The content of what p runs, once per exec, while a licence lists digests (a large file by
 * the worker thread: p is evaluated again when its digest is back). */
void digests_hash(struct manager *m, struct proc *p, const char *filename);
/* Run through the dynamic loader: at each reading, what it maps, until a prohibited file. */
void digests_loader_check(struct manager *m, struct proc *p);
/* Another program in p (exec without fork): digests of the previous one are not its own. */
void digests_forget(struct proc *p);
void digests_stats(struct manager *m, uint32_t *pending, uint64_t *files, uint64_t *bytes);

/* ---- collect.c: the interval ---- */
int interval_new(struct manager *m);
void interval_free(struct manager *m);
/* CPU time of (cgroup, uid) in the interval in progress, run by p (NULL: not known). */
void interval_account(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id, uint32_t uid,
		      const struct proc *p, uint64_t cpu_ns);
/* Execs and exits of p's executable in (cgroup, uid) (and CPU time: interval_account() adds
 * its own), counted per interval unless cfg.process_records_all. */
void interval_count(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id, uint32_t uid,
		    const struct proc *p, uint64_t execs, uint64_t exits, uint64_t cpu_ns);
/* Read the kernel counters and close the interval in progress. */
int manager_collect(struct manager *m);
/* The meter is attached: its loss counters from now on are new. */
void interval_meter_attached(struct manager *m);
uint64_t interval_start_usec(const struct manager *m);
uint64_t interval_readings(const struct manager *m);
uint64_t interval_last_duration_usec(const struct manager *m);
/* A CLOCK_BOOTTIME timestamp of the kernel's as wall-clock time (now when 0). */
uint64_t interval_boot_to_real_usec(const struct manager *m, uint64_t boot_ns);
/* The wall clock was stepped by jump: the interval in flight moves to the new scale. */
void interval_clock_shift(struct manager *m, int64_t jump_usec);
/* The offset between the clocks at the last reading. */
int64_t interval_clock_offset_usec(const struct manager *m);

/* ---- evaluation.c: the licence terms ---- */
int evaluation_start(struct manager *m);
void evaluation_stop(struct manager *m);
/* Every licence term, now; then the violation lifecycle. */
int manager_evaluate(struct manager *m);
/* A process at its exec (or found later, or changed): its principal and executable terms. */
void evaluation_proc(struct manager *m, struct proc *p, const char *filename);
/* fn over every usable licence with the inputs of this moment. */
int evaluation_with_inputs(struct manager *m,
			   int (*fn)(struct manager *m, const struct license *l,
				     const struct eval_input *in, void *ud),
			   void *ud);
unsigned evaluation_terms_not_evaluated(const struct manager *m);
/* The licences or users changed: per-exec results remembered are forgotten. */
void evaluation_changed(struct manager *m);
/* Per-exec evaluations done, and skipped because the same program and uid were found clean. */
void evaluation_stats(const struct manager *m, uint64_t *evaluated, uint64_t *skipped);

/* ---- violations.c: raised, open, cleared ---- */
int violations_new(struct manager *m);
void violations_free(struct manager *m);
/* A process violation found at an exec: raised once while a process meets it. */
void violations_raise_process(struct manager *m, const char *kind, const struct license *lic,
			      struct proc *p, const char *key, const char *detail);
/* Store a violation that concerns no process (a tamper event, a metering gap a licence counts
 * as a violation): ledger first (v->seq assigned), then log and notification. */
int manager_record_violation(struct manager *m, struct violation *v);
/* A violation open in the ledger when the daemon started (process kinds; others go to the
 * tracker): not raised again while a process meets it. */
int violations_adopt_process(struct manager *m, uint64_t seq, const char *key);
bool violation_key_is_process(const char *key);
/* Process violations that no live process meets any more: cleared. */
int violations_sweep(struct manager *m);
/* What the evaluator's lifecycle does: raise, clear, approach (the tracker's ops). */
extern const struct eval_tracker_ops violations_tracker_ops;

/* ---- sessions.c: where the work came from ---- */
int sessions_new(struct manager *m);
void sessions_free(struct manager *m);
/* At the start, with the ledger and the jobs loaded: the sessions the ledger has open (a
 * restart continues them; a running job's submit host comes back). */
void sessions_start(struct manager *m);
/* Where p's work came from, for the evaluator: its login session's remote host, else its job's
 * submit host; NULL when neither is another host. The first process of a session looks the
 * session up (once). job: p's Slurm job ("" none), or NULL to find it from its cgroup. */
const struct eval_origin *sessions_origin(struct manager *m, struct proc *p, const char *job);
/* A job's submit host when it is another host; NULL otherwise. */
const struct eval_origin *sessions_job_origin(struct manager *m, const char *job);
/* A job announced (start) or ended: its submit host. */
void sessions_job(struct manager *m, const struct job_info *j, bool start);
/* Host names resolved since: their sessions' processes evaluated again. */
void sessions_poll(struct manager *m);
/* Each reading: sessions no process is left in (and whose login process ended) end. */
void sessions_interval(struct manager *m);
/* NULL when login sessions are identified on this node, else why not. */
const char *sessions_unknown(const struct manager *m);
void sessions_stats(const struct manager *m, uint64_t *looked_up, uint64_t *remote, uint64_t *gone);

/* ---- gpu-usage.c: the GPU meter and the inventory ---- */
int gpu_usage_new(struct manager *m);
/* Load the inventory and, unless gpu_mode is off, the GPU meter. A GPU meter that cannot load
 * is logged and shown in status; the daemon runs on. */
int manager_gpu_start(struct manager *m);
void manager_gpu_free(struct manager *m);
/* A process exec'd: look at its mappings at the next collection. */
/* Read the counters into the interval in progress. */
void manager_gpu_collect(struct manager *m);
/* Write the interval's GPU usage under interval_id; manager_gpu_flushed() once committed. */
int manager_gpu_flush(struct manager *m, int64_t interval_id);
void manager_gpu_flushed(struct manager *m);
/* The gpu_* and accelerator keys of GetStatus. */
int manager_gpu_status(struct manager *m, struct status_list *l);
/* Read the accelerators on the PCI bus now (for the licence evaluator: a GPU added, removed or
 * swapped since the start shows at once), matched against the models data file. */
int manager_gpu_rescan(struct manager *m, struct inventory **ret);
/* Whether the GPU meter counts this licence metric on this node: launches, threads launched
 * and host-to-device bytes are counted in detailed mode only. */
bool manager_gpu_counts(const struct manager *m, const char *metric);
/* Caps of the loaded licences on metrics this node does not count (light mode). */
unsigned manager_gpu_terms_uncounted(const struct manager *m);
/* "on", "off", "failed: ...". */
const char *manager_gpu_state(const struct manager *m);
/* The GPU meter (NULL when off or failed) and the accelerators found at start (NULL: none). */
struct gpu *manager_gpu_meter(const struct manager *m);
const struct inventory *manager_gpu_inventory(const struct manager *m);

/* ---- gaps.c: metering gaps ---- */
/* Causes: "daemon-down", "daemon-stopped", "reboot", "ringbuf-drop", "probe-detached",
 * "module-unloaded", "daemon-stalled", ... A condition opened stays open (and is recorded each
 * interval) until it is closed; manager_gap_record() stores a gap whose end is known. */
int gaps_new(struct manager *m);
void gaps_free(struct manager *m);
int manager_gap_open(struct manager *m, const char *cause, const char *detail);
int manager_gap_close(struct manager *m, const char *cause);
int manager_gap_record(struct manager *m, const char *cause, uint64_t start_usec, uint64_t end_usec,
		       const char *detail);
/* A gap in which kernel launches may have escaped the probes (a runtime's probes attached after
 * a process mapped it): its bound also says how many, at most GPU_LAUNCH_RATE_MAX per second
 * per accelerator of the node. */
int manager_gap_record_launches(struct manager *m, const char *cause, uint64_t start_usec,
				uint64_t end_usec, const char *detail);
/* At start: the gap since the last heartbeat (crash, stop or reboot). */
void manager_gaps_start(struct manager *m);
/* Each interval: losses, detached probes, open conditions; and the heartbeat. */
void manager_gaps_interval(struct manager *m, uint64_t now_usec);
void manager_heartbeat(struct manager *m, bool clean_stop);
/* Gaps recorded while nobody listened: told now. */
void manager_gaps_announce(struct manager *m);
bool manager_gap_is_open(struct manager *m, const char *cause);
unsigned manager_gaps_open(const struct manager *m);
/* The wall clock was stepped: open conditions' starts move with it. */
void manager_gaps_clock_shift(struct manager *m, int64_t jump_usec);
/* stall.c: a loop that did not run far longer than it should is a "daemon-stalled" gap. */
int manager_stall_start(struct manager *m);
void manager_stall_stop(struct manager *m);

/* ---- clockwatch.c: CLOCK_REALTIME stepped against CLOCK_BOOTTIME by more than the tolerance
 * (NTP slews, steps below it are corrections) is a "clock-jump" tamper violation ---- */
#define CLOCK_JUMP_TOLERANCE_USEC (2 * USEC_PER_SEC)
/* The step (realtime elapsed − boottime elapsed), 0 when within the tolerance. */
int64_t clock_jump_usec(int64_t real_elapsed_usec, int64_t boot_elapsed_usec);
void manager_clock_jumped(struct manager *m, int64_t jump_usec, const char *when);
/* Each reading, before the clocks' offset is updated. */
void manager_clock_check(struct manager *m);

/* ---- metrics.c: the daemon's state as OpenMetrics text, or as the Prometheus text format
 * that node_exporter's textfile collector reads; the latter is written atomically to
 * cfg.metrics_file each interval when set ---- */
int metrics_new(struct manager *m);
void metrics_free(struct manager *m);
/* Usage of a job and user committed to the ledger in the interval closing now. */
void manager_metrics_account(struct manager *m, const char *job, const char *user, uint32_t uid,
			     uint64_t cpu_ns, uint64_t gpu_ns);
/* Each reading, after the usage is accounted: series with no usage for
 * cfg.metrics_series_grace_sec (whole intervals) are dropped. */
void manager_metrics_age(struct manager *m);
/* Around an evaluation run with metrics_cap_observer: the caps' usage ratios it computes
 * replace the last evaluation's. */
void manager_metrics_caps_begin(struct manager *m);
void manager_metrics_caps_end(struct manager *m);
extern const struct eval_cap_observer metrics_cap_observer;
int manager_metrics_write(struct manager *m);

/* ---- records.c: licence files loaded, rejected and unloaded (with their SHA-256) into the
 * ledger (new_set NULL: all unloaded, a stop); retention: old intervals rolled up once a day;
 * the ledger becoming degraded or writable again: logged, recorded, told ---- */
int records_new(struct manager *m);
void records_free(struct manager *m);
void manager_record_licenses(struct manager *m, const struct license_set *new_set);
void manager_retention(struct manager *m, uint64_t now_usec);
void manager_ledger_state_check(struct manager *m);

/* ---- ship.c: the ledger's records to the cluster's store, through libpq's non-blocking calls
 * in the loop; the ledger is the outbox ---- */
int ship_new(struct manager *m);
int ship_start(struct manager *m);
void ship_free(struct manager *m);
/* Records were committed: send them (when connected and idle). */
void ship_kick(struct manager *m);
/* Retention rolls up only intervals below this id (INT64_MAX: no store). */
int64_t ship_retention_below(struct manager *m);
/* The cluster_* keys of GetStatus. */
int ship_status(struct manager *m, struct status_list *l);

/* ---- cluster.c: hpcmeterd --cluster, the evaluator across the store's nodes ---- */
int cluster_start(struct manager *m);
void cluster_free(struct manager *m);
/* Each interval: read what the nodes shipped since the last tick. */
void cluster_tick(struct manager *m);
/* The caps of every licence (or of only_id) across the nodes it covers, and the nodes'
 * states: findings and terms into res. -ENOENT: no licence only_id. */
int cluster_evaluate(struct manager *m, const char *only_id, struct eval_result *res);
int cluster_status(struct manager *m, struct status_list *l);

/* ---- status.c: GetStatus's list, and the meters' states: each change is recorded and told
 * (meter_state), then MANAGER_CHANGED_METER_STATES ---- */
int status_add_num(struct status_list *l, const char *key, char type, uint64_t v);
int status_add_str(struct status_list *l, const char *key, const char *s);
int status_add_strv(struct status_list *l, const char *key, char **v, size_t n);
int meter_states_new(struct manager *m);
void meter_states_free(struct manager *m);
/* At the end of the start: the states MeterStateChanged counts changes from. */
void manager_meter_states_begin(struct manager *m);
void manager_meter_states_check(struct manager *m);
