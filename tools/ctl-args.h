/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's command line state: the global options as hpcmeterctl.c parsed them, shared by
 * the verbs, and how a verb reports a usage error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json-doc.h"

#define PROGRAM "hpcmeterctl"

extern enum json_mode arg_json;
extern bool arg_csv; /* -o csv: tables as CSV */
extern const char *arg_columns; /* --columns NAME,...: NULL for all */
extern bool arg_legend;
extern bool arg_no_pager;
extern const char *arg_address; /* NULL: the system bus */
/* --after-seq SEQ: violations, monitor and gaps after that sequence number (gap id) */
extern bool arg_after_seq_set;
extern uint64_t arg_after_seq;
/* --since, --until TIME as given (lib/time-parse.c reads them once the command is known) and
 * as CLOCK_REALTIME microseconds after; --since-usec and --until-usec set the latter only. */
extern const char *arg_since_str, *arg_until_str;
extern bool arg_since_set, arg_until_set;
extern uint64_t arg_since_usec, arg_until_usec;
extern const char *arg_state_dir;
extern bool arg_slurm_env;
extern char **arg_set; /* --set KEY=VALUE, in order */
extern size_t arg_n_set;
extern const char *arg_by; /* usage --by */
/* usage --job, --user, --account, --license: the rows GetUsageFiltered matches */
extern const char *arg_filter_job, *arg_filter_user, *arg_filter_account, *arg_filter_license;

/* A usage error was printed: main() exits 2. */
extern bool usage_error_seen;

/* "hpcmeterctl: MESSAGE" and "Try 'hpcmeterctl --help'." on stderr; returns -EINVAL. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "out of memory" on stderr; returns -ENOMEM. */
int log_oom(void);
/* A decimal uint64 and nothing else (no sign, no space): -EINVAL, -ERANGE. */
int parse_uint64(const char *s, uint64_t *ret);
/* value, the argument of option, read as a time (time_parse() with flags) into *ret_usec; or
 * -EINVAL with the one-line reason in err: the option, the value and the forms accepted. */
int parse_time_arg(const char *option, const char *value, unsigned flags, uint64_t *ret_usec,
		   char *err, size_t err_size);
/* -o FORMAT (--output) of a command that prints no table (metrics, ledger verify): json is
 * --json (*json set as --json without MODE sets it), table its usual text (JSON off); csv or
 * anything else a usage error naming verb. 0 or -EINVAL. */
int parse_output_no_table(const char *verb, const char *value, enum json_mode *json);
/* Is a time in [--since, --until)? (Either may be unset.) */
bool time_in_range(uint64_t usec);
/* Was any of usage's row filters given? */
bool usage_filtered(void);

static inline bool isempty(const char *s)
{
	return !s || !*s;
}
