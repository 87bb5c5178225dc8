// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl acknowledge SEQ NOTE: record that an operator has seen a violation
 * (AcknowledgeViolation; root only). */

#include <stdio.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "util.h"

int verb_acknowledge(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_json_ struct json_object *o = NULL;
	uint64_t seq;
	int r;

	(void)argc;
	if (parse_uint64(argv[1], &seq) < 0 || seq == 0)
		return usage_error("acknowledge: invalid sequence number '%s'", argv[1]);
	r = bus_call(bus, "AcknowledgeViolation", &reply, "ts", seq, argv[2]);
	if (r < 0 || !arg_json)
		return r;
	o = json_object_new_object();
	if (!o || json_add_uint(o, "seq", seq) < 0 || json_add_string(o, "note", argv[2]) < 0 ||
	    json_add_bool(o, "acknowledged", true) < 0)
		return log_oom();
	return json_dump(stdout, o, arg_json);
}
