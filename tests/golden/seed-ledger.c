// SPDX-License-Identifier: GPL-2.0-only
/* Seed a ledger with known rows, through the daemon's own ledger code (daemon/ledger*.c: the
 * same inserts, chain and migrations hpcmeterd uses), at fixed times in January 2025, for the
 * CLI's golden tests (tests/golden/test-golden.sh). No heartbeat is written: the daemon started
 * on it sees a new ledger and records no gap back to 2025.
 * usage: seed-ledger STATE_DIR */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "ledger.h"
#include "util.h"

/* 2025-01-02T00:00:00Z */
#define DAY0 UINT64_C(1735776000000000)
#define MIN (UINT64_C(60) * 1000000)
#define HOUR (60 * MIN)
#define NS_PER_SEC UINT64_C(1000000000)

static int fail(const char *what, int r)
{
	fprintf(stderr, "seed-ledger: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

#define TRY(what, call)                 \
	do {                            \
		int r_ = (call);        \
		if (r_ < 0)             \
			fail(what, r_); \
	} while (0)

static void job(struct ledger *l, const char *id, const char *user, uint32_t uid,
		const char *account, const char *partition, const char *gpus, uint64_t start,
		uint64_t end)
{
	struct job_info j = { .uid = uid, .start_usec = start, .end_usec = end };
	const char *why = NULL;

	snprintf(j.id, sizeof(j.id), "%s", id);
	TRY("job", job_info_set(&j, "scheduler", "slurm", 0, &why));
	TRY("job", job_info_set(&j, "user", user, 0, &why));
	TRY("job", job_info_set(&j, "account", account, 0, &why));
	TRY("job", job_info_set(&j, "partition", partition, 0, &why));
	if (gpus)
		TRY("job", job_info_set(&j, "gpus", gpus, 0, &why));
	TRY("job", job_info_set(&j, "wckey", "golden", 0, &why));
	TRY("job", ledger_store_job(l, &j));
	job_info_clear(&j);
}

int main(int argc, char **argv)
{
	struct ledger *l = NULL;
	char err[512] = "";
	int64_t iv;

	if (argc != 2) {
		fprintf(stderr, "usage: seed-ledger STATE_DIR\n");
		return 2;
	}
	if (ledger_open(argv[1], &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "seed-ledger: %s\n", err);
		return 1;
	}

	TRY("licence", ledger_add_license_event(
			       l, DAY0 - 24 * HOUR, "loaded", "GOLDEN-LIC-1",
			       "/etc/hpcmeter/licenses.d/golden.yaml",
			       "5f2b7c0a9d3e4f8a1b6c2d7e0f9a8b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90"));
	TRY("meter state", ledger_add_meter_state(l, DAY0 - 24 * HOUR + 1000000, "cpu", "running",
						  "sched_switch (tp_btf)"));
	TRY("inventory", ledger_add_inventory(l, DAY0 - 24 * HOUR + 2000000, "pci",
					      "{\"accelerators\":[{\"bus_id\":\"0000:17:00.0\","
					      "\"model\":\"golden test device\"}]}"));

	job(l, "101", "alice", 1000, "physics", "gpu", "0,1", DAY0 + 8 * HOUR, DAY0 + 10 * HOUR);
	job(l, "102", "bob", 1001, "chemistry", "cpu", NULL, DAY0 + 9 * HOUR, DAY0 + 11 * HOUR);
	job(l, "103", "alice", 1000, "physics", "cpu", NULL, DAY0 + 10 * HOUR, DAY0 + 12 * HOUR);

	/* twelve ten-minute intervals from 08:00 to 10:00 on 2025-01-02 */
	for (uint64_t i = 0; i < 12; i++) {
		uint64_t start = DAY0 + 8 * HOUR + i * 10 * MIN;

		TRY("interval", ledger_add_interval(l, start, start + 10 * MIN, &iv));
		/* job 101: 4 cores busy, 2400 s per interval, plus 0.5 s */
		TRY("usage", ledger_add_usage(l, iv, "/golden.slice/job_101/step_0", 101, "101",
					      1000, "alice", 2400 * NS_PER_SEC + NS_PER_SEC / 2));
		TRY("metric",
		    ledger_add_metric(l, iv, "101", "physics", 1000, "gpu_seconds", 1200.0));
		/* job 101 on two GPUs: device time, launches, 1.5 GiB allocated per interval */
		struct gpu_usage_row g = {
			.cgroup = "/golden.slice/job_101/step_0",
			.cgroup_id = 101,
			.job = "101",
			.uid = 1000,
			.user = "alice",
			.gpu_ns = 1200 * NS_PER_SEC + NS_PER_SEC / 4,
			.tpp_seconds = 1200.25 * 4800.0,
			.ops_upper = 1200.25 * 1.0e15,
			.launches = 25000,
			.threads_launched = 25000 * 4096,
			.graph_launches = 12,
			.bytes_alloc = UINT64_C(3) << 29,
			.bytes_h2d = UINT64_C(1) << 30,
			.dev_opens = 2,
		};
		TRY("gpu usage", ledger_add_gpu_usage(l, iv, &g));
		/* job 101's processes as schema 5 counts them: the python workers, and the
		 * launcher in the first interval */
		struct process_count pc = {
			.cgroup = "/golden.slice/job_101/step_0",
			.job = "101",
			.uid = 1000,
			.user = "alice",
			.executable = "/usr/bin/python3.11",
			.exe_sha256 =
				"5d6e7f80a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c",
			.execs = 4,
			.exits = i == 11 ? 4 : 0,
			.cpu_ns = 2400 * NS_PER_SEC,
		};
		if (i == 0)
			TRY("process count", ledger_add_process_count(l, iv, &pc));
		else {
			pc.execs = 0;
			TRY("process count", ledger_add_process_count(l, iv, &pc));
		}
		if (i == 0) {
			struct process_count launcher = {
				.cgroup = "/golden.slice/job_101/step_0",
				.job = "101",
				.uid = 1000,
				.user = "alice",
				.executable = "/usr/bin/srun",
				.exe_sha256 = "",
				.execs = 1,
				.exits = 1,
				.cpu_ns = NS_PER_SEC / 2,
			};
			TRY("process count", ledger_add_process_count(l, iv, &launcher));
		}
		if (i >= 6) /* job 102 from 09:00: one core, 600 s per interval */
			TRY("usage", ledger_add_usage(l, iv, "/golden.slice/job_102/step_0", 102,
						      "102", 1001, "bob", 600 * NS_PER_SEC));
		if (i % 4 == 0) /* a login shell of carol, outside any job: 1.25 s */
			TRY("usage",
			    ledger_add_usage(l, iv, "/user.slice/user-1002.slice/session-3.scope",
					     1002, "", 1002, "carol", NS_PER_SEC + NS_PER_SEC / 4));
	}
	TRY("note job", ledger_note_job(l, "101", "/golden.slice/job_101/step_0", 1000, "alice",
					"physics", DAY0 + 8 * HOUR));
	TRY("note job", ledger_note_job(l, "102", "/golden.slice/job_102/step_0", 1001, "bob",
					"chemistry", DAY0 + 9 * HOUR));
	TRY("exec",
	    ledger_add_exec(l, DAY0 + 9 * HOUR + 5 * MIN, 4242, 4200, 1001,
			    "/opt/forbidden/cryptanalysis", "/golden.slice/job_102/step_0"));

	struct violation v1 = {
		.time_usec = DAY0 + 9 * HOUR + 5 * MIN,
		.kind = "prohibited-executable",
		.license_id = "GOLDEN-LIC-1",
		.pid = 4242,
		.uid = 1001,
		.user = "bob",
		.executable = "/opt/forbidden/cryptanalysis",
		.cgroup = "/golden.slice/job_102/step_0",
		.job = "102",
		.detail = "executable /opt/forbidden/cryptanalysis is prohibited by end_use",
	};
	struct violation v2 = {
		.time_usec = DAY0 + 9 * HOUR + 30 * MIN,
		.kind = "unpermitted-user",
		.license_id = "GOLDEN-LIC-1",
		.pid = 4300,
		.uid = 1002,
		.user = "carol",
		.executable = "/usr/bin/python3.11",
		.cgroup = "/user.slice/user-1002.slice/session-3.scope",
		.job = "",
		.detail = "user carol (uid 1002) is not a principal of the licence",
	};
	TRY("violation", ledger_add_violation(l, &v1));
	TRY("violation", ledger_add_violation(l, &v2));

	struct gap g = {
		.cause = "daemon-down",
		.start_usec = DAY0 + 9 * HOUR + 40 * MIN,
		.end_usec = DAY0 + 9 * HOUR + 42 * MIN,
		.boot_id = "00000000-0000-4000-8000-000000000001",
		.detail = "hpcmeterd was not running",
		.bound_cpu_ns = 120 * 64 * NS_PER_SEC,
		.bound_devices = 2,
		.bound = "{\"cpu_ns\":7680000000000}",
		.policy = "max-rate",
	};
	TRY("gap", ledger_add_gap(l, &g));
	TRY("commit", ledger_commit(l));
	ledger_close(l);
	return 0;
}
