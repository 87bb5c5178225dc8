/* SPDX-License-Identifier: GPL-2.0-only */
/* The licence evaluator: every term of a licence against plain inputs (the live processes,
 * the jobs the scheduler told us about, the accelerators found, the node's identity, and
 * cumulative usage from the ledger). No BPF, no bus: the manager fills the inputs, the tests
 * fill them by hand. The tracker turns successive evaluations into a violation lifecycle:
 * raised once, cleared when the condition ends, approaching signals at 80 % and 95 %. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "license.h"

/* A remote host's address as far as it is known. */
enum eval_address_state {
	EVAL_ADDRESS_KNOWN,
	EVAL_ADDRESS_PENDING, /* a host name being resolved: remote_access.from waits for it */
	EVAL_ADDRESS_UNRESOLVED, /* a host name that did not resolve: never an allowed network */
};

/* Where the work of a process came from when that is another host: a login session with a
 * remote host (sshd), or a batch job submitted from another host. */
struct eval_origin {
	const char *host; /* as its source names it: an address, or a host name */
	const char *address; /* the host's address; NULL unless EVAL_ADDRESS_KNOWN */
	enum eval_address_state address_state;
	const char *via; /* how it arrived, for the record: "sshd session 12", "job 42" */
};

/* "HOST (ADDRESS), VIA" (and "(unresolved)" for a name that did not resolve): an origin as it
 * is recorded with a violation. */
void eval_origin_text(const struct eval_origin *o, char *buf, size_t size);

struct eval_process {
	uint32_t pid, uid;
	const char *user; /* NULL when unknown */
	const char *const *groups;
	size_t n_groups;
	const char *exe; /* NULL when unknown */
	const char *filename; /* the name it was run by, may be NULL */
	/* SHA-256 (hex) of the executable and of the file it was run by when that differs (a
	 * script); NULL when not computed (no licence lists digests) or unreadable. */
	const char *exe_sha256, *run_sha256;
	/* The file run_sha256 is of when not the name it was run by: the program the dynamic
	 * loader maps (ld.so PROGRAM); NULL otherwise. */
	const char *run_path;
	const char *job; /* "" when not in a job */
	bool exempt; /* a system account (uid < uid_min): principal terms do not apply */
	/* NULL: not remote access (a local session, no session, or an origin not found). */
	const struct eval_origin *origin;
};

/* What the scheduler says about a job (filled by the scheduler integration). */
struct eval_job {
	const char *job;
	const char *account, *wckey, *comment; /* NULL when the scheduler did not say */
	const struct eval_origin *origin; /* submitted from another host; NULL: not, or unknown */
};

struct eval_accelerator {
	const char *vendor; /* nvidia | amd | intel | other */
	const char *device; /* model or PCI device id */
	const char *bus_id; /* "0000:17:00.0" */
	const char *uuid; /* NULL when unknown */
};

/* Sum one metric per subject of a scope over intervals that end in (from_usec, to_usec].
 * Calls fn(subject, value) per subject ("" for scope license). Returns 0, -EOPNOTSUPP when
 * there is no source for the metric or scope yet, or another negative errno. */
typedef int (*eval_usage_fn)(void *userdata, const char *metric, enum license_cap_scope scope,
			     uint64_t from_usec, uint64_t to_usec,
			     int (*fn)(const char *subject, double value, void *ud), void *ud);

/* Told each cap's figures as an evaluation computes them (metrics: usage ratios): every
 * subject's usage in the cap's metric and period, then, once the cap was evaluated, how many
 * subjects it had and the highest value among them (0 with none). A cap that could not be
 * evaluated is not told. */
struct eval_cap_observer {
	void (*subject)(void *userdata, const struct license *l, const struct license_cap *c,
			const char *subject, double value);
	void (*evaluated)(void *userdata, const struct license *l, const struct license_cap *c,
			  unsigned n_subjects, double highest);
};

struct eval_input {
	int64_t now; /* unix seconds */
	const char *hostname;
	const char *machine_id; /* NULL when unknown */
	const struct eval_process *procs;
	size_t n_procs;
	bool jobs_known; /* false: no scheduler information on this node (yet) */
	const struct eval_job *jobs;
	size_t n_jobs;
	bool inventory_known;
	const struct eval_accelerator *accels;
	size_t n_accels;
	/* NULL when remote sessions are identified on this node, else why not (principals.
	 * remote_access is then not evaluated). */
	const char *sessions_unknown;
	eval_usage_fn usage; /* NULL: caps cannot be evaluated */
	void *usage_userdata;
	const struct eval_cap_observer *cap_observer; /* NULL: nobody */
	void *cap_observer_userdata;
};

#define EVAL_TEXT_MAX 512

struct eval_finding {
	char key[EVAL_TEXT_MAX]; /* identity of the condition, for deduplication */
	char kind[48];
	char term[80]; /* the licence term, e.g. "caps.cpu-month" */
	char subject[128];
	char detail[EVAL_TEXT_MAX];
	char job[64];
	char exe[EVAL_TEXT_MAX];
	uint32_t pid, uid; /* 0 and HPCMETER_UID_NONE when no process */
	double measured, limit; /* NAN when not a quantity */
	unsigned level; /* 0: a violation; 80 or 95: a cap being approached */
};

enum eval_state {
	EVAL_OK,
	EVAL_APPROACHING,
	EVAL_VIOLATED,
	EVAL_NOT_EVALUATED, /* the input it needs is not available: says why */
	EVAL_RECORDED, /* kept for the record and reports; nothing to measure */
};

struct eval_term {
	char term[80];
	enum eval_state state;
	char text[EVAL_TEXT_MAX]; /* the term in plain words and its standing */
};

struct eval_result {
	struct eval_finding *findings;
	size_t n_findings, allocated;
	struct eval_term *terms;
	size_t n_terms, terms_allocated;
};

const char *eval_state_name(enum eval_state s);

/* Evaluate every term of l; appends findings and term standings to res. */
int evaluate_license(const struct license *l, const struct eval_input *in, struct eval_result *res);

/* The terms a cluster's evaluator checks across nodes: validity and caps (the nodes keep
 * their own terms: principals, executables, hardware, destination). */
int evaluate_license_caps(const struct license *l, const struct eval_input *in,
			  struct eval_result *res);

/* A finding of the caller's own (the cluster's evaluator: a node whose chain broke), with the
 * defaults of any finding (no process, no quantity); NULL when out of memory. And a term's
 * standing. */
struct eval_finding *eval_finding_add(struct eval_result *res, const char *kind, const char *term);
int eval_term_add(struct eval_result *res, const char *term, enum eval_state state,
		  const char *text);

/* The terms that concern one process (principals, executables, remote access); appends
 * findings only. Cheap: the manager calls it at every exec. */
int evaluate_process(const struct license *l, const struct eval_process *p,
		     struct eval_result *res);

void eval_result_done(struct eval_result *res);

/* Start of the calendar period that contains now, in the licence's time zone (UTC when
 * tz is NULL). PERIOD_RUN and PERIOD_VALIDITY return 0. */
int64_t eval_period_start(enum license_cap_period period, const char *tz, int64_t now);

/* ---- the lifecycle ---- */

struct eval_tracker;

struct eval_tracker_ops {
	/* A new violation: store and announce it, return its sequence number (0 on failure). */
	uint64_t (*raise)(const struct eval_finding *f, void *userdata);
	/* A violation whose condition ended. */
	void (*clear)(uint64_t seq, const char *key, void *userdata);
	/* A cap crossed 80 % or 95 % for the first time in its period. */
	void (*approaching)(const struct eval_finding *f, void *userdata);
};

int eval_tracker_new(struct eval_tracker **ret);
void eval_tracker_free(struct eval_tracker *t);
/* Remember a violation raised before (from the ledger, after a restart). */
int eval_tracker_adopt(struct eval_tracker *t, const char *key, uint64_t seq);
/* Compare this evaluation with the last: raise what is new, clear what is gone. */
int eval_tracker_update(struct eval_tracker *t, const struct eval_result *res,
			const struct eval_tracker_ops *ops, void *userdata);
size_t eval_tracker_open(const struct eval_tracker *t);
