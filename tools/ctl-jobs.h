/* SPDX-License-Identifier: GPL-2.0-only */
/* A row of ListJobs (ctl-jobs.c): hpcmeterctl jobs prints them, usage takes the jobs' accounts
 * from them. */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

/* Strings point into the reply. */
struct job_row {
	const char *id, *scheduler, *user;
	uint32_t uid;
	const char *account, *partition, *wckey, *comment, *gpus, *nodes;
	uint64_t start_usec, end_usec;
};

/* The next row of a ListJobs reply's array: > 0, 0 at the end, -errno. */
int read_job_row(sd_bus_message *m, struct job_row *j);
/* The account of job id in a ListJobs reply (the latest run), "" when not announced. */
const char *job_account(sd_bus_message *jobs, const char *id);
