// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl's command line state and usage errors (see ctl-args.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl-args.h"
#include "json-doc.h"
#include "time-parse.h"
#include "util.h"

enum json_mode arg_json = JSON_OFF;
bool arg_csv = false;
const char *arg_columns = NULL;
bool arg_legend = true;
bool arg_no_pager = false;
const char *arg_address = NULL;
bool arg_after_seq_set = false;
uint64_t arg_after_seq = 0;
const char *arg_since_str = NULL, *arg_until_str = NULL;
bool arg_since_set = false, arg_until_set = false;
uint64_t arg_since_usec = 0, arg_until_usec = 0;
const char *arg_state_dir = "/var/lib/hpcmeter";
bool arg_slurm_env = false;
char **arg_set = NULL;
size_t arg_n_set = 0;
const char *arg_by = NULL;
const char *arg_filter_job = NULL, *arg_filter_user = NULL, *arg_filter_account = NULL,
	   *arg_filter_license = NULL;

bool usage_error_seen = false;

int usage_error(const char *fmt, ...)
{
	va_list ap;

	usage_error_seen = true;
	fputs(PROGRAM ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROGRAM " --help'.\n", stderr);
	return -EINVAL;
}

int log_oom(void)
{
	log_error("out of memory");
	return -ENOMEM;
}

int parse_uint64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (isempty(s) || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

bool usage_filtered(void)
{
	return arg_filter_job || arg_filter_user || arg_filter_account || arg_filter_license;
}

int parse_time_arg(const char *option, const char *value, unsigned flags, uint64_t *ret_usec,
		   char *err, size_t err_size)
{
	int r = time_parse(value, now_realtime_usec(), flags, ret_usec);

	if (r == -ERANGE)
		/* @USEC was the report's form before: say what @ means now */
		snprintf(err, err_size, "%s \"%s\": out of range (1970 to 9999)%s", option, value,
			 value[0] == '@' && strlen(value) > 13 ?
				 "; @EPOCH is in seconds (@SECONDS.USEC for microseconds)" :
				 "");
	else if (r < 0)
		snprintf(err, err_size, "%s \"%s\": not a time; expected " TIME_PARSE_FORMS, option,
			 value);
	return r < 0 ? -EINVAL : 0;
}

int parse_output_no_table(const char *verb, const char *value, enum json_mode *json)
{
	if (streq(value, "json"))
		return json_mode_from_arg(NULL, STDOUT_FILENO, json);
	if (streq(value, "table")) {
		*json = JSON_OFF;
		return 0;
	}
	if (streq(value, "csv"))
		return usage_error("%s: -o csv does not apply (it prints no table)", verb);
	return usage_error("unknown output format '%s' (expected table, json or csv)", value);
}

bool time_in_range(uint64_t usec)
{
	return (!arg_since_set || usec >= arg_since_usec) &&
	       (!arg_until_set || usec < arg_until_usec);
}
