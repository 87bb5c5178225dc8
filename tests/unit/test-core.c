// SPDX-License-Identifier: GPL-2.0-only
/* Parts of the core (daemon/core/) against a real SQLite ledger, with a stand-in for the
 * notification interface that the bus layer implements: what is recorded is told once, after
 * it is in the ledger, with the ledger's sequence number; what a listener missed (away, as
 * when the bus is gone) is told when it comes back; acknowledgements are checked and told. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager.h"
#include "tap.h"
#include "util.h"

#define MAX_TOLD 32

/* The stand-in: what it was told, and whether it listens (1) or is away (0). */
static struct {
	int present;
	char gaps[MAX_TOLD][32]; /* "ID CAUSE POLICY" */
	size_t n_gaps;
	uint64_t violations[MAX_TOLD]; /* seqs */
	char violation_kinds[MAX_TOLD][32];
	size_t n_violations;
	uint64_t acks[MAX_TOLD];
	size_t n_acks;
} told;

static int on_gap(void *userdata, const struct gap *g)
{
	if (told.n_gaps < MAX_TOLD)
		snprintf(told.gaps[told.n_gaps++], sizeof(told.gaps[0]), "%llu %s %s",
			 (unsigned long long)g->id, g->cause, g->policy);
	return told.present;
}

static int on_violation(void *userdata, const struct violation *v)
{
	if (told.n_violations < MAX_TOLD) {
		snprintf(told.violation_kinds[told.n_violations], sizeof(told.violation_kinds[0]),
			 "%s", v->kind);
		told.violations[told.n_violations++] = v->seq;
	}
	return told.present;
}

static int on_ack(void *userdata, const struct violation_ack *a)
{
	if (told.n_acks < MAX_TOLD)
		told.acks[told.n_acks++] = a->seq;
	return told.present;
}

static const struct manager_notify stand_in = {
	.gap = on_gap,
	.violation_raised = on_violation,
	.violation_acknowledged = on_ack,
};

static int count_row(const struct gap *g, void *userdata)
{
	(*(int *)userdata)++;
	return 0;
}

static int last_violation(const struct violation *v, void *userdata)
{
	*(uint64_t *)userdata = v->seq;
	return 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

int main(void)
{
	char dir[] = "/tmp/hpcmeter-test-core.XXXXXX", lic[sizeof(dir) + 16], err[512];
	struct manager m = { .bpf_stats_fd = -1 };
	uint64_t t0 = 1735689600000000ULL, seq = 0;
	int rows = 0;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(m.cfg.state_dir, sizeof(m.cfg.state_dir), "%s", dir);
	snprintf(m.boot_id, sizeof(m.boot_id), "00000000-0000-4000-8000-00000000000a");
	if (ledger_open(dir, &m.ledger, err, sizeof(err)) < 0 || gaps_new(&m) < 0 ||
	    violations_new(&m) < 0 || interval_new(&m) < 0 || gpu_usage_new(&m) < 0 ||
	    meter_states_new(&m) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	manager_set_notify(&m, &stand_in, NULL);

	/* 1. Nobody listening: the gap is recorded, told to no one, and told on the return. */
	told.present = 0;
	TAP_CHECK(manager_gap_record(&m, "daemon-down", t0, t0 + 60000000, "a test gap") == 0,
		  "a gap is recorded while the listener is away");
	ledger_commit(m.ledger);
	ledger_list_gaps(m.ledger, 0, count_row, &rows);
	TAP_CHECK(rows == 1, "it is in the ledger (%d row)", rows);
	TAP_CHECK(told.n_gaps == 1 && streq(told.gaps[0], "1 daemon-down max-rate"),
		  "the listener was offered it once, as gap 1 at the maximum rate (%zu: %s)",
		  told.n_gaps, told.n_gaps ? told.gaps[0] : "");
	told.present = 1;
	manager_announce_pending(&m);
	TAP_CHECK(told.n_gaps == 2 && streq(told.gaps[1], "1 daemon-down max-rate"),
		  "back: the missed gap is told now (%zu)", told.n_gaps);
	manager_announce_pending(&m);
	TAP_CHECK(told.n_gaps == 2, "and only once (%zu)", told.n_gaps);

	/* 2. A licence that counts a gap as a violation: the gap, then its violation with the
	 * ledger's sequence number. */
	snprintf(lic, sizeof(lic), "%s/lic", dir);
	if (mkdir(lic, 0755) < 0 || write_file(strcat(lic, "/strict.yaml"),
					       "license:\n  id: GAP-STRICT-1\n  regime: internal\n"
					       "  valid: { from: 2020-01-01, until: 2099-12-31 }\n"
					       "  measurement: { gap_policy: violation }\n") < 0) {
		perror("licence");
		return 1;
	}
	*strrchr(lic, '/') = '\0';
	TAP_CHECK(license_set_load(lic, &m.licenses) == 0 && m.licenses->n_entries == 1 &&
			  m.licenses->entries[0].license,
		  "a licence with gap_policy: violation is loaded");
	told.n_violations = 0;
	manager_gap_record(&m, "ringbuf-drop", t0 + 60000000, t0 + 61000000, "records lost");
	ledger_commit(m.ledger);
	ledger_list_violations(m.ledger, 0, last_violation, &seq);
	TAP_CHECK(told.n_gaps == 3 && streq(told.gaps[2], "2 ringbuf-drop violation"),
		  "the gap is told with the licence's policy (%s)",
		  told.n_gaps == 3 ? told.gaps[2] : "");
	TAP_CHECK(told.n_violations == 1 && streq(told.violation_kinds[0], "metering-gap") &&
			  told.violations[0] == seq && seq == 1,
		  "its violation is told once, as #%llu, the ledger's seq (%llu)",
		  (unsigned long long)(told.n_violations ? told.violations[0] : 0),
		  (unsigned long long)seq);

	/* 3. A violation of no process: ledger first, then told with its seq. */
	struct violation v = {
		.time_usec = t0 + 62000000,
		.kind = "clock-jump",
		.license_id = "",
		.uid = HPCMETER_UID_NONE,
		.user = "",
		.executable = "",
		.cgroup = "",
		.job = "",
		.detail = "a test step",
	};
	TAP_CHECK(manager_record_violation(&m, &v) == 0 && v.seq == 2,
		  "a tamper violation is stored as #%llu", (unsigned long long)v.seq);
	TAP_CHECK(told.n_violations == 2 && told.violations[1] == 2, "and told as #2");

	/* 4. Acknowledgements: the ledger decides, the listener hears of the one recorded. */
	TAP_CHECK(manager_acknowledge(&m, 99, 0, "no such") == -ENOENT,
		  "acknowledging #99 of 2: -ENOENT");
	TAP_CHECK(manager_acknowledge(&m, 0, 0, "zero") == -ENOENT, "acknowledging #0: -ENOENT");
	TAP_CHECK(manager_acknowledge(&m, 2, 0, "seen by the test") == 0, "acknowledging #2");
	TAP_CHECK(manager_acknowledge(&m, 2, 0, "again") == -EEXIST,
		  "a second acknowledgement of #2: -EEXIST");
	TAP_CHECK(told.n_acks == 1 && told.acks[0] == 2, "the acknowledgement is told once (%zu)",
		  told.n_acks);

	/* 5. Nobody at all (no notification interface): recording goes on. */
	manager_set_notify(&m, NULL, NULL);
	TAP_CHECK(manager_gap_record(&m, "daemon-stalled", t0 + 70000000, t0 + 71000000, "") == 0 &&
			  told.n_gaps == 3,
		  "without a listener a gap is recorded and nothing is called");

	license_set_free(m.licenses);
	meter_states_free(&m);
	manager_gpu_free(&m);
	interval_free(&m);
	violations_free(&m);
	gaps_free(&m);
	ledger_close(m.ledger);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	if (system(err) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tap_done();
}
