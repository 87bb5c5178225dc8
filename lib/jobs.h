/* SPDX-License-Identifier: GPL-2.0-only */
/* Jobs announced by the batch system (Slurm's prolog and epilog call JobStarted and JobEnded
 * on the bus): what the cgroup path cannot say - the account, partition, end-use declaration
 * (wckey, comment), the GPUs and nodes given to the job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_ID_MAX 20 /* digits: Slurm job ids are 32-bit */
#define JOB_FIELD_MAX 1024 /* bytes of any other text field */

struct job_info {
	int64_t row; /* ledger row, 0 before it is stored */
	char id[JOB_ID_MAX + 1];
	char *scheduler; /* "slurm" */
	char *user;
	uint32_t uid; /* UINT32_MAX when not given */
	char *account, *partition, *wckey, *comment;
	char *gpus; /* the scheduler's GPU indices as given ("0,1"; Slurm's SLURM_JOB_GPUS) */
	char *nodes; /* node list as given ("n[001-004]") */
	/* The host the job was submitted from (Slurm's AllocNode, as the prolog reads it from
	 * the controller): a host name or an address. */
	char *submit_host;
	uint64_t start_usec, end_usec; /* end 0 while it runs */
};

/* The keys JobStarted/JobEnded accept in their a{sv}, with the D-Bus type of each. */
struct job_key {
	const char *name;
	char type; /* 's' or 'u' */
};
extern const struct job_key job_keys[];
extern const size_t n_job_keys;

/* Check a job id: 1..JOB_ID_MAX decimal digits. */
bool job_id_valid(const char *id);

/* Set field key of j to a string value (or a uid for "uid", already parsed by the caller).
 * Returns -EINVAL with a reason in *why for an unknown key, a value too long, a control
 * character, a malformed GPU list, or a submit host that is not a host name or address. */
int job_info_set(struct job_info *j, const char *key, const char *s, uint32_t u, const char **why);

/* The string field named key (NULL when unset or not a string field). */
const char *job_info_get(const struct job_info *j, const char *key);

void job_info_clear(struct job_info *j);

/* The registry of jobs known to be running (and recently ended), by id. */
struct job_table;

int job_table_new(struct job_table **ret);
void job_table_free(struct job_table *t);
/* The entry for id, created empty when create is set; NULL if absent or out of memory. */
struct job_info *job_table_get(struct job_table *t, const char *id, bool create);
/* Forget jobs that ended before before_usec. */
void job_table_expire(struct job_table *t, uint64_t before_usec);
size_t job_table_size(const struct job_table *t);
/* Call fn for every job in the table. */
void job_table_foreach(struct job_table *t, void (*fn)(struct job_info *j, void *userdata),
		       void *userdata);
