/* SPDX-License-Identifier: GPL-2.0-only */
/* The core's face to the layer above (daemon/bus/, hpcmeterd.c): what it can ask of the
 * manager, and the notification interface through which the core tells the outside world what
 * happened. struct manager itself stays inside daemon/core/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "evaluate.h"
#include "inventory.h"
#include "jobs.h"
#include "ledger.h"
#include "license.h"

struct manager;

/* What the core has to tell. Each call comes after the record is in the ledger (with its
 * sequence number or id); a listener that is away (no bus) returns 0 and back-fills from the
 * ledger later, one that told it returns 1. Calls come from the event loop only. */
enum manager_change {
	MANAGER_CHANGED_LAST_COLLECT, /* an interval was collected */
	MANAGER_CHANGED_LICENSES, /* licences loaded: errors and active count */
	MANAGER_CHANGED_LEDGER_STATE, /* degraded, or writable again */
	MANAGER_CHANGED_METER_STATES, /* after one or more meter_state() calls */
};

struct manager_notify {
	int (*violation_raised)(void *userdata, const struct violation *v);
	int (*violation_cleared)(void *userdata, uint64_t seq, uint64_t time_usec, const char *key);
	int (*violation_acknowledged)(void *userdata, const struct violation_ack *a);
	int (*threshold)(void *userdata, const struct threshold_event *e);
	int (*gap)(void *userdata, const struct gap *g);
	/* seq counts the changes of this daemon's run (from 1). */
	int (*meter_state)(void *userdata, uint64_t seq, uint64_t time_usec, const char *meter,
			   const char *state);
	void (*changed)(void *userdata, enum manager_change what);
};

int manager_new(const struct config *cfg, struct manager **ret);
void manager_free(struct manager *m);
/* ops NULL: nobody listens. ops must outlive the manager or be unset first. */
void manager_set_notify(struct manager *m, const struct manager_notify *ops, void *userdata);

/* Open the ledger, load licences, attach the meters, read once: ready to run. */
int manager_start(struct manager *m);
/* The event loop until SIGTERM/SIGINT; then the interval in flight goes to the ledger. */
int manager_run(struct manager *m);
/* Records found while nobody listened (the gap found at start, those of a bus outage): told
 * now, through the notification interface. */
void manager_announce_pending(struct manager *m);

sd_event *manager_event(struct manager *m);
const struct config *manager_config(const struct manager *m);
/* The ledger, for queries (the writes go through the functions below). */
struct ledger *manager_ledger(struct manager *m);
/* Commit what the loop wrote so far (a child process is about to read the ledger). */
int manager_commit(struct manager *m);
uint64_t manager_last_collect_usec(const struct manager *m);

/* ---- licences ---- */
const struct license_set *manager_licenses(const struct manager *m);
/* The licence loaded under id, NULL when none. */
const struct license *manager_license_find(const struct manager *m, const char *id);
unsigned manager_license_errors(const struct manager *m);
unsigned manager_licenses_active(const struct manager *m);
/* Re-read the licence directory and re-evaluate live processes. */
int manager_reload(struct manager *m);
/* The standing of each term of licence id, now (-ENOENT: no such licence loaded). */
int manager_explain(struct manager *m, const char *id, struct eval_result *res);

/* ---- jobs announced by the batch system ---- */
/* The announcement an update of job id starts from: the job as announced so far, or NULL for
 * a new job or a new run of an ended one (start: a job id seen again after its end). */
const struct job_info *manager_job_base(struct manager *m, const char *id, bool start);
/* Take j (all of it: the caller only clears it on error) as job id's announcement, started or
 * ended now, store it and act on it. */
int manager_job_announce(struct manager *m, const char *id, bool start, struct job_info *j);

/* ---- violations ---- */
/* Record that root (uid) saw violation seq: -ENOENT no such violation, -EEXIST acknowledged
 * already; told through violation_acknowledged. */
int manager_acknowledge(struct manager *m, uint64_t seq, uid_t uid, const char *note);
/* A signed report was issued for licence_id over [from, to): recorded in the ledger. */
int manager_record_report(struct manager *m, const char *license_id, uint64_t from_usec,
			  uint64_t to_usec, const char *format, const char *sha256,
			  uint64_t *ret_id);
/* A state of a meter outside the core (the bus: "connected", "disconnected"), recorded. */
void manager_record_meter_state(struct manager *m, const char *meter, const char *state,
				const char *detail);

/* ---- state, for GetStatus and the properties ---- */
/* One key of the status (docs/dbus.md, GetStatus). */
struct status_item {
	const char *key;
	char type; /* 's', 'u', 't' or 'a' (a list of strings) */
	uint64_t num;
	char *str;
	char **strv;
	size_t n_strv;
};

struct status_list {
	struct status_item *items;
	size_t n, cap;
};

int manager_status(struct manager *m, struct status_list *ret);
void status_list_done(struct status_list *l);

/* The meters' states now ("bpf-cpu", "gpu", "kernel-module", "ledger"). */
#define MANAGER_N_METERS 4
#define METER_STATE_MAX 300
extern const char *const manager_meter_names[MANAGER_N_METERS];
void manager_meter_states(struct manager *m, char states[MANAGER_N_METERS][METER_STATE_MAX]);
/* "ok", or "degraded: REASON (N records waiting in memory)". */
void manager_ledger_state(struct manager *m, char *buf, size_t size);

/* The accelerators (sampling NVML now) and the models file's version. */
const struct inventory *manager_inventory(struct manager *m, const char **ret_data_version);

/* OpenMetrics text (openmetrics) or the Prometheus text format (caller frees). */
char *manager_metrics_render(struct manager *m, bool openmetrics);
