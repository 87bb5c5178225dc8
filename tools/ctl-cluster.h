/* SPDX-License-Identifier: GPL-2.0-only */
/* What hpcmeterctl report takes from ctl-cluster.c: the cluster's report of a licence. */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

/* report --cluster: one JSON report of licence_id over [from, to) from the evaluator's state
 * (state_dir/cluster.sqlite): usage per node the licence covers and in total, each node's
 * chain head and last checkpoint, final or provisional; signed with key (the evaluator's).
 * -ENOENT: the evaluator never evaluated that licence. */
int ctl_cluster_report(const char *state_dir, const char *license_id, uint64_t from_usec,
		       uint64_t to_usec, EVP_PKEY *key, char **ret_doc, size_t *ret_len,
		       uint8_t sig[SIGN_LEN]);
