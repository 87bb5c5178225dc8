// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl's command line state and usage errors (see ctl-args.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl-args.h"
#include "json-doc.h"
#include "util.h"

enum json_mode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_no_pager = false;
const char *arg_address = NULL;
bool arg_since_set = false;
uint64_t arg_since = 0;
const char *arg_since_str = NULL;
bool arg_since_bad = false;
const char *arg_state_dir = "/var/lib/hpcmeter";
bool arg_since_usec_set = false;
uint64_t arg_since_usec = 0;
bool arg_until_usec_set = false;
uint64_t arg_until_usec = 0;
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
