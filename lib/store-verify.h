/* SPDX-License-Identifier: GPL-2.0-only */
/* The audit walk over the cluster's store: each node's chain, roll-ups and signed checkpoints
 * (hpcmeterctl cluster verify; the evaluator). */
#pragma once

#include "store.h"

struct store_verify_node {
	char node[64];
	uint64_t records, rolled_up, checkpoints;
	uint64_t last_checkpoint_usec; /* the time covered by the last checkpoint that verified */
	uint64_t head_seq;
	uint8_t head_hash[CHAIN_HASH_LEN];
	struct store_totals totals;
	/* The first record or checkpoint that does not verify. */
	bool broken;
	char bad_what[16]; /* "record" or "checkpoint" */
	uint64_t bad_seq;
	char reason[320];
	char error[512]; /* set when the store could not be read (-EIO) */
};

/* Walk v->node's records and checkpoints. 0 (see v->broken) or -errno. */
int store_verify_node(PGconn *c, struct store_verify_node *v,
		      void (*progress)(uint64_t done, void *ud), void *ud);
/* The enrolled nodes and any other node that has records, by name. */
int store_verify_nodes(PGconn *c, char ***ret, size_t *n, char *err, size_t size);
