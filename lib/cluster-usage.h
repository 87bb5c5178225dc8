/* SPDX-License-Identifier: GPL-2.0-only */
/* The cluster evaluator's view of the store (hpcmeterd --cluster): every node's records read
 * as they arrive, each chain checked link by link and hash by hash, each checkpoint's
 * signature checked against the node's enrolled key, and the usage they carry kept in a local
 * SQLite file (STATE_DIR/cluster.sqlite: a cache of the store, rebuilt from it when missing).
 * From it: usage sums per scope over any set of nodes (an eval_usage_fn), each node's share,
 * whether a period is final (every node's checkpoint past its end), and the nodes' states.
 * hpcmeterctl cluster usage reads the same file. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "license.h"

#define CLUSTER_USAGE_FILE "cluster.sqlite"
/* A node whose last checkpoint is older than this is silent (its time counts at its highest
 * rate seen, or is a violation, per the licence's gap_policy). */
#define CLUSTER_SILENT_USEC (300 * UINT64_C(1000000))
/* A checkpoint whose time is this far ahead of when the store received it: a clock skew. */
#define CLUSTER_SKEW_USEC (120 * UINT64_C(1000000))

struct cluster_usage;

int cluster_usage_open(const char *path, bool readonly, struct cluster_usage **ret, char *err,
		       size_t size);
void cluster_usage_close(struct cluster_usage *cu);

/* Read what the store has beyond what was read, for every node (at most max_records each),
 * checking as it goes. ret_records: records read. -errno with a message on a store error. */
int cluster_usage_ingest(struct cluster_usage *cu, PGconn *c, uint64_t max_records,
			 uint64_t *ret_records, char *err, size_t size);

struct cluster_node {
	const char *name;
	bool enrolled;
	uint64_t seq; /* records read and verified */
	uint64_t checkpoint_seq, checkpoint_usec; /* the last checkpoint that verified */
	uint64_t checkpoint_received_usec;
	int64_t skew_usec; /* the checkpoint's time minus its reception, when ahead */
	uint64_t max_cpu_rate_ppm; /* highest CPU time per wall time seen, in millionths of a core */
	const char *broken; /* "" or the first thing that did not verify */
	const char *refused; /* "" or why the store refused its last checkpoint */
	const uint8_t *hash; /* the hash of record seq (32 bytes) */
};
int cluster_usage_nodes(struct cluster_usage *cu, int (*fn)(const struct cluster_node *n, void *ud),
			void *ud);

/* The nodes a usage question covers: NULL/0 is every node. */
struct cluster_nodes {
	const char *const *names;
	size_t n;
	uint64_t now_usec; /* for silent nodes' time */
	bool count_silence; /* a silent node's time counts at its highest rate (scope license) */
};

/* For hpcmeterctl cluster usage --by node: the node is the subject. */
#define CLUSTER_SCOPE_NODE ((enum license_cap_scope)100)

/* Sum a metric per subject of scope over the usage of intervals ending in (from, to]. */
int cluster_usage_query(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			const char *metric, enum license_cap_scope scope, uint64_t from_usec,
			uint64_t to_usec, int (*fn)(const char *subject, double value, void *ud),
			void *ud);
/* The same for one subject, per node. */
int cluster_usage_shares(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			 const char *metric, enum license_cap_scope scope, const char *subject,
			 uint64_t from_usec, uint64_t to_usec,
			 int (*fn)(const char *node, double value, void *ud), void *ud);
/* Per node: cpu_seconds, gpu_seconds, tpp_seconds, ops_upper over (from, to], in one pass. */
int cluster_usage_node_totals(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			      uint64_t from_usec, uint64_t to_usec,
			      int (*fn)(const char *node, const double totals[4], void *ud),
			      void *ud);

/* The nodes the evaluator decided a licence covers (replaced each evaluation), and read back:
 * -ENOENT when the licence was never evaluated here. */
int cluster_usage_set_coverage(struct cluster_usage *cu, const char *license_id,
			       const char *const *names, size_t n);
int cluster_usage_coverage(struct cluster_usage *cu, const char *license_id,
			   int (*fn)(const char *node, void *ud), void *ud);

/* The evaluator's own node name (its chain is in the store but carries no usage): kept in the
 * file for hpcmeterctl, whose questions over every node leave it out of finality. */
int cluster_usage_set_evaluator(struct cluster_usage *cu, const char *name);

/* Final when every covered node's last verified checkpoint covers to_usec (nodes NULL: every
 * node but the evaluator's own); else false and the nodes that do not yet, in pending. */
bool cluster_usage_final(struct cluster_usage *cu, const struct cluster_nodes *nodes,
			 uint64_t to_usec, char *pending, size_t size);
