/* SPDX-License-Identifier: GPL-2.0-only */
/* The eBPF CPU meter seen from user space: load and attach, decode ring-buffer records, read
 * and reap the per-process counters. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "hpcmeter_bpf.h"

struct meter;
struct bpf_object;

/* A validated exec record. */
struct meter_exec {
	uint32_t tgid, ppid, uid, gid, flags;
	uint64_t ts_ns, cgroup_id, start_ns;
	uint64_t cgroup_v1_id; /* in the followed v1 hierarchy, 0 when none */
	uint32_t loginuid, sessionid; /* the audit session, HPCM_AUDIT_UNSET when none */
	char comm[HPCM_COMM_LEN];
	char filename[HPCM_FILENAME_LEN];
	char path[PATH_MAX]; /* absolute path of the executed file, "" if it could not be resolved */
};

/* A validated exit record. */
struct meter_exit {
	uint32_t tgid, ppid, uid, exit_code;
	uint64_t ts_ns, cgroup_id, start_ns, cpu_ns;
	uint64_t cgroup_v1_id;
	char comm[HPCM_COMM_LEN];
};

/* A validated move record: the process left a cgroup; cpu_ns is its time up to the move. */
struct meter_move {
	uint32_t tgid, uid;
	bool partial; /* more threads than the kernel side sums: cpu_ns is a lower bound */
	uint64_t ts_ns, start_ns, cpu_ns, cgroup_id, cgroup_v1_id;
	uint64_t parent_cgroup_id, parent_cgroup_v1_id;
};

/* A validated tail record: what a process ran after its exit record (at least HPCM_TAIL_MIN_NS),
 * for the cgroups and uid of that record. */
struct meter_tail {
	uint32_t tgid, uid;
	uint64_t start_ns, cpu_ns, cgroup_id, cgroup_v1_id;
};

struct meter_callbacks {
	void (*exec)(const struct meter_exec *e, void *userdata);
	void (*exit)(const struct meter_exit *e, void *userdata);
	void (*move)(const struct meter_move *e, void *userdata);
	void (*tail)(const struct meter_tail *e, void *userdata);
	void *userdata;
};

struct meter_stats {
	uint64_t counter[HPCM_STAT_MAX];
	uint64_t bad_records; /* records from the ring buffer that failed validation */
};

enum meter_attach {
	METER_ATTACH_AUTO, /* tp_btf, and raw_tp where tp_btf does not load */
	METER_ATTACH_RAW_TP, /* raw_tp only: what older kernels get (tests run both) */
};

/* Load and attach the programs. */
int meter_open(const struct meter_callbacks *cb, enum meter_attach attach, struct meter **ret);
/* The same, also following tasks' cgroups in one v1 hierarchy (hybrid and v1 hosts). */
int meter_open_v1(const struct meter_callbacks *cb, enum meter_attach attach,
		  enum hpcm_v1_controller v1, struct meter **ret);
/* The same, with the maps that outlive a process pinned in pin_dir (on bpffs; created when
 * missing; NULL or "": none): maps pinned there by an earlier run are reused. */
int meter_open_pinned(const struct meter_callbacks *cb, enum meter_attach attach,
		      enum hpcm_v1_controller v1, const char *pin_dir, struct meter **ret);
/* All of it. */
struct meter_options {
	enum meter_attach attach;
	enum hpcm_v1_controller v1;
	const char *pin_dir;
	/* Records do not wake the reader until a quarter of the ring buffer waits: the reader
	 * drains it on a timer of its own (meter_consume()) as well. */
	bool batch_wakeups;
};
int meter_open_opts(const struct meter_callbacks *cb, const struct meter_options *o,
		    struct meter **ret);
void meter_free(struct meter *m);
/* Did meter_open_pinned() find and reuse pinned maps? */
bool meter_maps_reused(const struct meter *m);
/* How many of the loaded programs have no link attaching them any more. */
int meter_check_attached(struct meter *m, unsigned *ret_missing);

const char *meter_attach_mode(const struct meter *m);
int meter_ring_fd(const struct meter *m);
/* Drain the ring buffer, calling the callbacks; returns records handled or -errno. */
int meter_consume(struct meter *m);
int meter_read_stats(struct meter *m, struct meter_stats *ret);

/* Run count and run time of the meter's programs, summed (the kernel counts them only while
 * BPF statistics are enabled: bpf_enable_stats()). */
int meter_prog_stats(struct meter *m, uint64_t *run_cnt, uint64_t *run_time_ns);

/* Read the counters: call fn for every living user-space process (the task iterator: CPU time
 * of its threads as the scheduler keeps it, cgroups and owner now), then for every process
 * whose exit record was lost (flag HPCM_F_EXITED, final counters; meter_reap() forgets it).
 * Returns fn's first negative value or 0. */
int meter_foreach_proc(struct meter *m,
		       int (*fn)(uint32_t tgid, const struct hpcm_proc *p, void *userdata),
		       void *userdata);
/* Forget a process whose exit record was lost (flag HPCM_F_EXITED), once accounted. */
int meter_reap(struct meter *m, uint32_t tgid);

/* Decode one ring-buffer record (exposed for tests and fuzzing). Returns the record type
 * (HPCM_EV_EXEC, HPCM_EV_EXIT, HPCM_EV_MOVE or HPCM_EV_TAIL, filling that one of the four) or
 * -EBADMSG. */
int meter_decode(const void *data, size_t size, struct meter_exec *exec, struct meter_exit *exit,
		 struct meter_move *move, struct meter_tail *tail);
