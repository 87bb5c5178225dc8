// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl violations: the violations recorded (ListViolations); and the violation records
 * monitor prints too. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "ctl-violations.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

int read_violation(sd_bus_message *m, const char *types, struct violation *v)
{
	return sd_bus_message_read(m, types, &v->seq, &v->time_usec, &v->kind, &v->license_id,
				   &v->pid, &v->uid, &v->user, &v->executable, &v->cgroup, &v->job,
				   &v->detail);
}

struct json_object *violation_json(const struct violation *v)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	char ts[FORMAT_TIMESTAMP_MAX];
	int r;

	if (!o)
		return NULL;
	r = json_add_uint(o, "seq", v->seq);
	if (r >= 0)
		r = json_add_uint(o, "time_usec", v->time_usec);
	if (r >= 0)
		r = v->time_usec > 0 && format_timestamp_utc(ts, v->time_usec) ?
			    json_add_string(o, "time", ts) :
			    json_add_null(o, "time");
	if (r >= 0)
		r = json_add_string(o, "kind", v->kind);
	if (r >= 0)
		r = json_add_string(o, "license_id", v->license_id);
	/* A violation of the node as a whole (a licence out of validity) has no process. */
	if (r >= 0)
		r = v->pid ? json_add_uint(o, "pid", v->pid) : json_add_null(o, "pid");
	if (r >= 0)
		r = v->uid != HPCMETER_UID_NONE ? json_add_uint(o, "uid", v->uid) :
						  json_add_null(o, "uid");
	if (r >= 0)
		r = json_add_string(o, "user", v->user);
	if (r >= 0)
		r = json_add_string(o, "executable", v->executable);
	if (r >= 0)
		r = json_add_string(o, "cgroup", v->cgroup);
	if (r >= 0)
		r = json_add_string(o, "job", v->job);
	if (r >= 0)
		r = json_add_string(o, "detail", v->detail);
	return r < 0 ? NULL : TAKE_PTR(o);
}

static const char *violation_kind_color(size_t column, const char *cell)
{
	return column == 2 ? ANSI_RED : NULL;
}

int verb_violations(sd_bus *bus, int argc, char **argv)
{
	static const char *const headers[] = { "SEQ",  "TIME", "KIND",	     "LICENSE", "UID",
					       "USER", "PID",  "EXECUTABLE", "JOB" };
	static const bool right[] = { true, false, false, false, true, false, true, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 9,
						 .headers = headers,
						 .right_align = right,
						 .color = violation_kind_color };
	_cleanup_json_ struct json_object *array = NULL;
	struct violation v;
	int r;

	(void)argc;
	(void)argv;

	r = table_check_columns_of("violations", &t);
	if (r < 0)
		return r;
	r = bus_call(bus, "ListViolations", &reply, "t", arg_after_seq);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_VIOLATION);
	if (r < 0)
		return log_parse_error("ListViolations", r);

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_violation(reply, HPCMETER_SIG_VIOLATION, &v)) > 0) {
		char ts[FORMAT_TIMESTAMP_MAX], uid[16] = "-", pid[16] = "-";

		if (!time_in_range(v.time_usec))
			continue;
		if (arg_json) {
			if (json_append(array, violation_json(&v)) < 0)
				return log_oom();
			continue;
		}
		if (v.uid != HPCMETER_UID_NONE)
			snprintf(uid, sizeof(uid), "%" PRIu32, v.uid);
		if (v.pid)
			snprintf(pid, sizeof(pid), "%" PRIu32, v.pid);
		if (table_add(&t, "%" PRIu64, v.seq) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(ts, v.time_usec)) < 0 ||
		    table_add(&t, "%s", v.kind) < 0 || table_add(&t, "%s", v.license_id) < 0 ||
		    table_add(&t, "%s", uid) < 0 || table_add(&t, "%s", v.user) < 0 ||
		    table_add(&t, "%s", pid) < 0 || table_add(&t, "%s", v.executable) < 0 ||
		    table_add(&t, "%s", v.job) < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListViolations", r);

	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "violations");
	if (r < 0)
		log_error("out of memory");
	return r;
}
