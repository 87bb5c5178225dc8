/* SPDX-License-Identifier: GPL-2.0-only */
/* Read queries over the ledger for the licence evaluator: cumulative usage per metric and
 * scope, and the violations still open. Works on the daemon's ledger or on a read-only
 * connection (hpcmeterctl license simulate). */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "license.h"

/* Open dir/ledger.sqlite read-only (never creates or migrates it). */
int ledger_query_open_readonly(const char *path, sqlite3 **ret);

/* eval_usage_fn over a database handle (userdata is the sqlite3 *). */
int ledger_query_usage(void *db, const char *metric, enum license_cap_scope scope,
		       uint64_t from_usec, uint64_t to_usec,
		       int (*fn)(const char *subject, double value, void *ud), void *ud);

/* The uid of a per-user subject as the usage queries name it ("alice (uid 1000)"): 0, or
 * -EINVAL when subject is not of that form. */
int usage_subject_uid(const char *subject, uint32_t *ret);

/* The same sums, kept between calls: each call reads only the intervals added since the last
 * one with the same metric, scope and start (the evaluator asks every interval). Sums of a
 * period nobody asked about for an hour are forgotten. userdata of usage_cache_query is the
 * cache. */
struct usage_cache;
int usage_cache_new(sqlite3 *db, struct usage_cache **ret);
void usage_cache_free(struct usage_cache *c);
int usage_cache_query(void *cache, const char *metric, enum license_cap_scope scope,
		      uint64_t from_usec, uint64_t to_usec,
		      int (*fn)(const char *subject, double value, void *ud), void *ud);

/* Recorded execs since a time, for simulating process terms: fn once per row, with the number
 * of execs it stands for (an interval's count of one executable in one cgroup and uid, pid 0;
 * or one exec of a ledger before version 5, or of process_records = all). */
int ledger_query_execs(sqlite3 *db, uint64_t since_usec,
		       int (*fn)(uint64_t time_usec, uint32_t pid, uint32_t uid, const char *exe,
				 const char *cgroup, uint64_t count, void *ud),
		       void *ud);
