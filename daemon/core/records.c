// SPDX-License-Identifier: GPL-2.0-only
/* Ledger records the manager writes besides usage: which licence files (by SHA-256) were in
 * force when, and the retention roll-up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-chain.h"
#include "notify.h"
#include "util.h"

struct license_rec {
	char *file;
	char *id; /* "" for a rejected file */
	char sha256[2 * CHAIN_HASH_LEN + 1];
};

struct records {
	struct license_rec *license_recs; /* licence files as last recorded */
	size_t n_license_recs;
	uint64_t last_rollup_usec;
	bool ledger_was_degraded;
};

/* SHA-256 of a file's bytes as hex; "" when it cannot be read. */
static void file_sha256(const char *path, char out[2 * CHAIN_HASH_LEN + 1])
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	uint8_t digest[CHAIN_HASH_LEN];
	size_t len = 0, cap = 0, n;

	out[0] = '\0';
	if (!f)
		return;
	do {
		if (len == cap) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 16384);

			if (!b)
				return;
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		return;
	chain_sha256(buf ? buf : "", len, digest);
	chain_hex(digest, sizeof(digest), out);
}

static const struct license_rec *rec_find(const struct license_rec *recs, size_t n,
					  const char *file, const char *sha)
{
	for (size_t i = 0; i < n; i++)
		if (streq(recs[i].file, file) && streq(recs[i].sha256, sha))
			return &recs[i];
	return NULL;
}

static void recs_free(struct license_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(recs[i].file);
		free(recs[i].id);
	}
	free(recs);
}

void manager_record_licenses(struct manager *m, const struct license_set *new_set)
{
	size_t n = new_set ? new_set->n_entries : 0;
	struct license_rec *recs = n ? calloc(n, sizeof(*recs)) : NULL;
	uint64_t now = now_realtime_usec();

	if (n && !recs) {
		log_error("out of memory recording licence files in the ledger");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct license_entry *e = &new_set->entries[i];

		recs[i].file = utf8_escape_invalid(e->file);
		recs[i].id = strdup(e->license ? e->license->id : "");
		file_sha256(e->file, recs[i].sha256);
		/* A broken file that keeps its previous licence: what is in force is still the
		 * bytes recorded before, not the broken ones. */
		for (size_t j = 0; e->kept_previous && j < m->records->n_license_recs; j++) {
			const struct license_rec *o = &m->records->license_recs[j];

			if (recs[i].file && streq(o->file, recs[i].file) &&
			    streq(o->id, e->license->id))
				memcpy(recs[i].sha256, o->sha256, sizeof(recs[i].sha256));
		}
		if (!recs[i].file || !recs[i].id) {
			recs_free(recs, i + 1);
			log_error("out of memory recording licence files in the ledger");
			return;
		}
	}
	/* Files that went away or changed: unloaded. */
	for (size_t i = 0; i < m->records->n_license_recs; i++) {
		const struct license_rec *o = &m->records->license_recs[i];

		if (o->id[0] && !rec_find(recs, n, o->file, o->sha256))
			ledger_add_license_event(m->ledger, now, "unloaded", o->id, o->file,
						 o->sha256);
	}
	/* New or changed files: loaded, or rejected. */
	for (size_t i = 0; i < n; i++) {
		const struct license_rec *r = &recs[i];

		if (!rec_find(m->records->license_recs, m->records->n_license_recs, r->file,
			      r->sha256))
			ledger_add_license_event(m->ledger, now, r->id[0] ? "loaded" : "rejected",
						 r->id, r->file, r->sha256);
	}
	ledger_commit(m->ledger);
	recs_free(m->records->license_recs, m->records->n_license_recs);
	m->records->license_recs = recs;
	m->records->n_license_recs = n;
}

int records_new(struct manager *m)
{
	m->records = calloc(1, sizeof(*m->records));
	return m->records ? 0 : -ENOMEM;
}

void records_free(struct manager *m)
{
	if (!m->records)
		return;
	recs_free(m->records->license_recs, m->records->n_license_recs);
	free(m->records);
	m->records = NULL;
}

void manager_retention(struct manager *m, uint64_t now_usec)
{
	const uint64_t day = 86400 * USEC_PER_SEC;
	uint64_t cut, n = 0;
	int r;

	if (m->records->last_rollup_usec && now_usec < m->records->last_rollup_usec + day)
		return;
	m->records->last_rollup_usec = now_usec;
	if (now_usec <= m->cfg.retention_days * day)
		return;
	/* Whole days only: a day is rolled up once, when all of it is past retention. */
	cut = (now_usec - m->cfg.retention_days * day) / day * day;
	/* Nothing the cluster's store has not acknowledged: the ledger is its outbox. */
	r = ledger_rollup_below(m->ledger, cut, ship_retention_below(m), &n);
	if (r < 0)
		log_warning("retention roll-up failed: %s (tried again tomorrow)", strerror(-r));
	else if (n)
		log_info("retention: %llu intervals older than %llu days rolled up into daily "
			 "totals",
			 (unsigned long long)n, (unsigned long long)m->cfg.retention_days);
}

void manager_ledger_state(struct manager *m, char *buf, size_t size)
{
	size_t pending = 0;
	int error = 0;

	if (ledger_degraded(m->ledger, &error, &pending))
		snprintf(buf, size, "degraded: %s (%zu records waiting in memory)",
			 strerror(-error), pending);
	else
		snprintf(buf, size, "ok");
}

void manager_ledger_state_check(struct manager *m)
{
	int error = 0;
	bool degraded = ledger_degraded(m->ledger, &error, NULL);

	if (degraded == m->records->ledger_was_degraded)
		return;
	m->records->ledger_was_degraded = degraded;
	/* Recorded even while degraded: it waits in memory with everything else. */
	ledger_add_meter_state(m->ledger, now_realtime_usec(), "ledger",
			       degraded ? "degraded" : "ok",
			       degraded ? strerror(-error) : "records kept in memory written");
	ledger_commit(m->ledger);
	notify_changed(m, MANAGER_CHANGED_LEDGER_STATE);
	manager_meter_states_check(m);
}
