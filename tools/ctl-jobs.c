// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl jobs: the jobs the batch system announced (ListJobs); and the job rows usage reads
 * for the jobs' accounts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-jobs.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

int read_job_row(sd_bus_message *m, struct job_row *j)
{
	return sd_bus_message_read(m, HPCMETER_SIG_JOB, &j->id, &j->scheduler, &j->user, &j->uid,
				   &j->account, &j->partition, &j->wckey, &j->comment, &j->gpus,
				   &j->nodes, &j->start_usec, &j->end_usec);
}

const char *job_account(sd_bus_message *jobs, const char *id)
{
	const char *account = "";
	struct job_row j;

	if (!jobs || isempty(id) || sd_bus_message_rewind(jobs, true) < 0 ||
	    sd_bus_message_enter_container(jobs, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_JOB) < 0)
		return "";
	while (read_job_row(jobs, &j) > 0)
		if (streq(j.id, id))
			account = j.account;
	return account;
}

static int job_row_json(struct json_object *a, const struct job_row *jr)
{
	struct json_object *o = json_object_new_object();
	int r = json_append(a, o);

	if (r >= 0)
		r = json_add_string(o, "job", jr->id);
	if (r >= 0)
		r = json_add_string(o, "scheduler", jr->scheduler);
	if (r >= 0)
		r = json_add_string(o, "user", jr->user);
	if (r >= 0)
		r = jr->uid != UINT32_MAX ? json_add_uint(o, "uid", jr->uid) :
					    json_add_null(o, "uid");
	if (r >= 0)
		r = json_add_string(o, "account", jr->account);
	if (r >= 0)
		r = json_add_string(o, "partition", jr->partition);
	if (r >= 0)
		r = json_add_string(o, "wckey", jr->wckey);
	if (r >= 0)
		r = json_add_string(o, "comment", jr->comment);
	if (r >= 0)
		r = json_add_string(o, "gpus", jr->gpus);
	if (r >= 0)
		r = json_add_string(o, "nodes", jr->nodes);
	if (r >= 0)
		r = json_add_uint(o, "start_usec", jr->start_usec);
	if (r >= 0)
		r = json_add_uint(o, "end_usec", jr->end_usec);
	return r;
}

int verb_jobs(sd_bus *bus, int argc, char **argv)
{
	static const char *const headers[] = { "JOB",	  "USER(UID)", "ACCOUNT", "PARTITION",
					       "END-USE", "GPUS",      "START",	  "END" };
	static const bool right[] = { true, false, false, false, false, false, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 8,
						 .headers = headers,
						 .right_align = right };
	_cleanup_json_ struct json_object *array = NULL;
	struct job_row jr;
	int r;

	(void)argc;
	(void)argv;
	r = table_check_columns_of("jobs", &t);
	if (r < 0)
		return r;
	r = bus_call(bus, "ListJobs", &reply, "t", arg_since_usec);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_JOB);
	if (r < 0)
		return log_parse_error("ListJobs", r);
	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_job_row(reply, &jr)) > 0) {
		char start[FORMAT_TIMESTAMP_MAX], end[FORMAT_TIMESTAMP_MAX], enduse[2 * 1100];

		/* ListJobs already left out those that ended before --since */
		if (arg_until_set && jr.start_usec >= arg_until_usec)
			continue;
		if (arg_json) {
			if (job_row_json(array, &jr) < 0)
				return log_oom();
			continue;
		}
		snprintf(enduse, sizeof(enduse), "%s%s%s", jr.wckey,
			 !isempty(jr.wckey) && !isempty(jr.comment) ? " " : "", jr.comment);
		if (table_add(&t, "%s", jr.id) < 0 ||
		    (jr.uid != UINT32_MAX ?
			     table_add(&t, "%s(%" PRIu32 ")", isempty(jr.user) ? "?" : jr.user,
				       jr.uid) :
			     table_add(&t, "%s", isempty(jr.user) ? "?" : jr.user)) < 0 ||
		    table_add(&t, "%s", isempty(jr.account) ? "-" : jr.account) < 0 ||
		    table_add(&t, "%s", isempty(jr.partition) ? "-" : jr.partition) < 0 ||
		    table_add(&t, "%s", isempty(enduse) ? "-" : enduse) < 0 ||
		    table_add(&t, "%s", isempty(jr.gpus) ? "-" : jr.gpus) < 0 ||
		    table_add(&t, "%s",
			      jr.start_usec ? format_timestamp_local(start, jr.start_usec) : "?") <
			    0 ||
		    table_add(&t, "%s",
			      jr.end_usec ? format_timestamp_local(end, jr.end_usec) : "running") <
			    0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListJobs", r);
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "jobs");
	if (r < 0)
		log_error("out of memory");
	return r;
}
