/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterd.conf: "key = value" lines, '#' comments. Command-line options override it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/hpcmeter/hpcmeterd.conf"
#define CONFIG_DEFAULT_LICENSES_DIR "/etc/hpcmeter/licenses.d"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/hpcmeter"
#define CONFIG_DEFAULT_INTERVAL_SEC 10
#define CONFIG_DEFAULT_UID_MIN 1000
#define CONFIG_MAX_INTERVAL_SEC 3600
#define CONFIG_DEFAULT_KMETER_TOLERANCE_PCT 10
#define CONFIG_DEFAULT_KMETER_FLOOR_MS 100
#define CONFIG_DEFAULT_KMETER_WINDOW 3
#define CONFIG_MAX_KMETER_WINDOW 60
#define CONFIG_DEFAULT_BPF_PIN_DIR "/sys/fs/bpf/hpcmeter"
/* Intervals are kept this long, then replaced by daily totals (EU 2021/821 art. 27 and
 * 15 CFR 762 ask for five years). */
#define CONFIG_DEFAULT_RETENTION_DAYS 1827
#define CONFIG_MIN_RETENTION_DAYS 1
/* Metrics series of a job and user with no usage for this long are dropped (metrics.c). */
#define CONFIG_DEFAULT_METRICS_SERIES_GRACE_SEC 900
#define CONFIG_MAX_METRICS_SERIES_GRACE_SEC (7 * 86400)
/* A node sends the cluster's store a signed checkpoint this often (ship.c); the evaluator calls
 * a total final once every node's checkpoint has passed its end. */
#define CONFIG_DEFAULT_CHECKPOINT_INTERVAL_SEC 60
#define CONFIG_MIN_CHECKPOINT_INTERVAL_SEC 1
#define CONFIG_MAX_CHECKPOINT_INTERVAL_SEC 3600
#ifndef CONFIG_DEFAULT_ACCELERATORS_FILE
#define CONFIG_DEFAULT_ACCELERATORS_FILE "/usr/local/share/hpcmeter/accelerators.yaml"
#endif

struct config {
	char licenses_dir[4096];
	char state_dir[4096];
	uint64_t interval_sec;
	uid_t uid_min; /* principal checks apply to uids >= uid_min (system accounts are exempt) */
	char cgroup_v1[16]; /* "auto", "none", "freezer", "cpuacct" or "memory" */
	bool bpf_stats; /* enable the kernel's BPF run-time statistics (the meter's own cost) */
	bool verbose;
	/* The kernel module as a second meter (kmeter.c): on/off, and when the two disagree. */
	bool kmeter_enabled;
	unsigned kmeter_tolerance_pct; /* 1..100 */
	uint64_t kmeter_floor_ms; /* differences up to this much CPU per window are noise */
	unsigned kmeter_window; /* intervals summed before the meters are compared, 1..60 */
	char bpf_pin_dir[4096]; /* "" = do not pin (counters do not survive a restart) */
	char metrics_file[4096]; /* "" = none */
	uint64_t metrics_series_grace_sec; /* usage series idle this long are dropped */
	uint64_t retention_days;
	int gpu_mode; /* enum gpu_mode (gpu-mode.h): light (default), detailed, off */
	char accelerators_file[4096]; /* data file of accelerator models */
	/* Every process's exec and exit a record of its own (the ledger before version 5), rather
	 * than counts per interval and executable with single records as evidence (default). */
	bool process_records_all;
	/* The cluster's store (libpq conninfo), "" = this node ships nothing (ship.c). */
	char cluster_database[1024];
	/* This node's name in the store; "" = the host name. */
	char node_name[64];
	/* Seconds between this node's signed checkpoints to the store. */
	uint64_t checkpoint_interval_sec;
	/* Meter only processes in this cgroup v2 subtree (a path below the cgroup2 mount, e.g.
	 * "/batch.slice"); "" = all. */
	char cgroup_root[4096];
	/* hpcmeterd --cluster: the cluster's evaluator, no meter (daemon/core/cluster.c). */
	bool cluster_mode;
};

void config_defaults(struct config *c);

/* Read path into c. A missing file is -ENOENT (the caller decides whether that matters).
 * On a content error returns -EINVAL with "FILE:LINE: KEY: message" in err. */
int config_load(struct config *c, const char *path, char *err, size_t err_size);

/* Check and copy a cgroup_v1 setting (auto, none, freezer, cpuacct, memory). */
int config_parse_cgroup_v1(const char *s, char *buf, size_t size);

/* A node name: letters, digits, '.', '_', '-', at most 63, starting with a letter or digit. */
int config_parse_node_name(const char *s, char *buf, size_t size);
/* A cgroup v2 path below the mount: absolute, no "." or ".." components; "/" means all. */
int config_parse_cgroup_root(const char *s, char *buf, size_t size);

/* Parse an interval in whole seconds (1..CONFIG_MAX_INTERVAL_SEC). */
int config_parse_interval(const char *s, uint64_t *ret);
