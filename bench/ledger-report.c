// SPDX-License-Identifier: GPL-2.0-only
/* Benchmark: a year of minute-level ledger data for 1,000 jobs, then the time of a signed
 * report over the whole year (and of ledger verify).
 *
 * The literal reading, 1,000 jobs each running every minute of the year, is 525.6 million usage
 * rows: no real node runs 1,000 jobs at once for a year. Here 1,000 jobs start at uniformly
 * random times of the year and run for a log-uniform duration between 10 minutes and 14 days
 * (median about 7.8 hours, mean about 1.8 days), a shape typical of batch clusters; every
 * minute of the year is one interval (the daemon ran all year with --interval 60) and every
 * job has one usage row per minute it ran. Intervals are committed an hour at a time (the
 * daemon commits every interval; that changes the write time, not the report time).
 *
 * usage: ledger-report DIR HPCMETERCTL — DIR must not exist; it is left behind for inspection. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "sign.h"
#include "util.h"

#define JOBS 1000
#define MINUTES (365 * 24 * 60)
#define YEAR_START 1735689600ULL /* 2025-01-01T00:00:00Z */

struct job {
	unsigned start, end; /* minutes */
	char cgroup[96], id[16], user[16], account[16];
	uint32_t uid;
};

static uint64_t rng = 88172645463325252ULL;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng >> 11) * (1.0 / 9007199254740992.0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double run(char *const argv[])
{
	double t0 = now_s();
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "%s %s failed (status %d)\n", argv[0], argv[1], status);
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	static struct job jobs[JOBS];
	uint64_t rows = 0;
	struct ledger *l;
	char err[512], out[4200], report_out[4300];
	double t0, t_write, t_report, t_report2, t_verify;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR HPCMETERCTL\n", argv[0]);
		return 2;
	}
	log_set_max_level(LOG_LVL_WARNING);
	for (int j = 0; j < JOBS; j++) {
		double minutes = exp(log(10) + uniform() * (log(14 * 24 * 60) - log(10)));
		struct job *jb = &jobs[j];

		jb->start = uniform() * MINUTES;
		jb->end = jb->start + (unsigned)minutes;
		if (jb->end > MINUTES)
			jb->end = MINUTES;
		snprintf(jb->id, sizeof(jb->id), "%d", 100000 + j);
		snprintf(jb->cgroup, sizeof(jb->cgroup),
			 "/system.slice/slurmstepd.scope/job_%d/step_0", 100000 + j);
		jb->uid = 2000 + j % 50;
		snprintf(jb->user, sizeof(jb->user), "user%02d", j % 50);
		snprintf(jb->account, sizeof(jb->account), "proj-%02d", j % 20);
	}
	if (mkdir(argv[1], 0700) < 0) {
		perror(argv[1]);
		return 2;
	}
	r = ledger_open(argv[1], &l, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (sign_key_ensure(argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	ledger_add_license_event(
		l, YEAR_START * USEC_PER_SEC, "loaded", "BENCH-1",
		"/etc/hpcmeter/licenses.d/bench.yaml",
		"0000000000000000000000000000000000000000000000000000000000000000");
	t0 = now_s();
	for (unsigned m = 0; m < MINUTES; m++) {
		uint64_t start = (YEAR_START + m * 60ULL) * USEC_PER_SEC;
		int64_t id;

		r = ledger_add_interval(l, start, start + 60 * USEC_PER_SEC, &id);
		for (int j = 0; r == 0 && j < JOBS; j++) {
			const struct job *jb = &jobs[j];

			if (m < jb->start || m >= jb->end)
				continue;
			if (m == jb->start)
				ledger_note_job(l, jb->id, jb->cgroup, jb->uid, jb->user,
						jb->account, start);
			/* A job with 32 busy cores: up to 32 CPU minutes per minute. */
			r = ledger_add_usage(l, id, jb->cgroup, 1000 + j, jb->id, jb->uid, jb->user,
					     (uint64_t)(uniform() * 32 * 60) * NSEC_PER_SEC);
			rows++;
		}
		if (r == 0 && m % 60 == 59)
			r = ledger_commit(l);
		if (r < 0) {
			fprintf(stderr, "writing failed at minute %u: %s\n", m, strerror(-r));
			return 1;
		}
	}
	ledger_commit(l);
	t_write = now_s() - t0;
	ledger_close(l);

	snprintf(out, sizeof(out), "%s/report.json", argv[1]);
	char *rep[] = { argv[2],    "report", "--state-dir", argv[1], "--license",
			"BENCH-1",  "--from", "2025-01-01",  "--to",  "2025-12-31",
			"--format", "json",   "--output",    out,     NULL };
	t_report = run(rep);
	snprintf(report_out, sizeof(report_out), "%s/report.csv", argv[1]);
	rep[11] = "csv";
	rep[13] = report_out;
	t_report2 = run(rep);
	char *ver[] = { argv[2], "ledger", "verify", "--state-dir", argv[1], NULL };
	t_verify = run(ver);
	char *rv[] = { argv[2], "report", "verify", "--state-dir", argv[1], out, NULL };
	double t_rverify = run(rv);

	printf("ledger: %u intervals, %llu usage rows, %d jobs (durations log-uniform 10 min..14 d)\n",
	       MINUTES, (unsigned long long)rows, JOBS);
	printf("writing through the ledger API (hash chained, hourly commits): %.1f s (%.0f records/s)\n",
	       t_write, (MINUTES + rows) / t_write);
	printf("report over the year, JSON, signed: %.2f s\n", t_report);
	printf("report over the year, CSV, signed:  %.2f s\n", t_report2);
	printf("report verify (JSON):               %.2f s\n", t_rverify);
	printf("ledger verify (whole chain):        %.2f s\n", t_verify);
	return 0;
}
