// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl gaps: the metering gaps recorded (ListGaps), with their worst-case bound and how a
 * licence counts them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

int verb_gaps(sd_bus *bus, int argc, char **argv)
{
	static const char *const headers[] = { "ID",	    "CAUSE", "START", "DURATION",
					       "CPU-BOUND", "GPUS",  "POLICY" };
	static const bool right[] = { true, false, false, true, true, true, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 7,
						 .headers = headers,
						 .right_align = right };
	const char *cause, *boot_id, *detail, *bound, *policy;
	uint64_t id, start, end, bound_cpu_ns;
	uint32_t devices;
	_cleanup_json_ struct json_object *array = NULL;
	int r;

	(void)argc;
	(void)argv;
	r = table_check_columns_of("gaps", &t);
	if (r < 0)
		return r;
	r = bus_call(bus, "ListGaps", &reply, "t", arg_after_seq);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_GAP);
	if (r < 0)
		return log_parse_error("ListGaps", r);
	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_GAP, &id, &cause, &start, &end,
					&boot_id, &detail, &bound_cpu_ns, &devices, &bound,
					&policy)) > 0) {
		char ts[FORMAT_TIMESTAMP_MAX], span[FORMAT_SPAN_MAX], cpu[FORMAT_SPAN_MAX];

		/* a span: those that overlap [--since, --until) (an open gap lasts until now) */
		if ((arg_since_set && end && end <= arg_since_usec) ||
		    (arg_until_set && start >= arg_until_usec))
			continue;
		if (arg_json) {
			struct json_object *o = json_object_new_object();

			r = json_append(array, o);
			if (r >= 0)
				r = json_add_uint(o, "id", id);
			if (r >= 0)
				r = json_add_string(o, "cause", cause);
			if (r >= 0)
				r = json_add_uint(o, "start_usec", start);
			if (r >= 0)
				r = json_add_uint(o, "end_usec", end);
			if (r >= 0)
				r = json_add_string(o, "boot_id", boot_id);
			if (r >= 0)
				r = json_add_string(o, "detail", detail);
			if (r >= 0)
				r = json_add_uint(o, "bound_cpu_ns", bound_cpu_ns);
			if (r >= 0)
				r = json_add_uint(o, "bound_devices", devices);
			if (r >= 0) /* the daemon's JSON, as a string */
				r = json_add_string(o, "bound", bound);
			if (r >= 0)
				r = json_add_string(o, "policy", policy);
			if (r < 0)
				return log_oom();
			continue;
		}
		if (table_add(&t, "%" PRIu64, id) < 0 || table_add(&t, "%s", cause) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(ts, start)) < 0 ||
		    table_add(&t, "%s",
			      end >= start && end ?
				      format_span(span, sizeof(span), end - start, USEC_PER_MSEC) :
				      "open") < 0 ||
		    table_add(&t, "%s", format_span_ns(cpu, sizeof(cpu), bound_cpu_ns)) < 0 ||
		    table_add(&t, "%" PRIu32, devices) < 0 || table_add(&t, "%s", policy) < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListGaps", r);
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "metering gaps");
	if (r < 0)
		log_error("out of memory");
	return r;
}
