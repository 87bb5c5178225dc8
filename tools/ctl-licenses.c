// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl licenses: the licence files hpcmeterd loaded and their state (ListLicenses); and
 * the licence rows that status, usage --by license and reload print too. */
#include <errno.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-licenses.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

bool license_row_rejected(const struct license_row *l)
{
	return streq(l->state, "invalid") || !isempty(l->error);
}

int read_license_row(sd_bus_message *m, struct license_row *l)
{
	return sd_bus_message_read(m, HPCMETER_SIG_LICENSE, &l->file, &l->id, &l->state, &l->error,
				   &l->valid_from_usec, &l->valid_until_usec);
}

int license_row_json(struct json_object *a, const struct license_row *l)
{
	struct json_object *o = json_object_new_object();
	int r = json_append(a, o);

	if (r >= 0)
		r = json_add_string(o, "file", l->file);
	if (r >= 0)
		r = json_add_string(o, "id", l->id);
	if (r >= 0)
		r = json_add_string(o, "state", l->state);
	if (r >= 0)
		r = json_add_string(o, "error", l->error);
	if (r >= 0)
		r = json_add_uint(o, "valid_from_usec", l->valid_from_usec);
	if (r >= 0)
		r = json_add_uint(o, "valid_until_usec", l->valid_until_usec);
	return r;
}

int get_licenses(sd_bus *bus, sd_bus_message **ret_reply)
{
	int r;

	r = bus_call(bus, "ListLicenses", ret_reply, "");
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(*ret_reply, 'a', HPCMETER_SIG_LICENSE);
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	return 0;
}

static const char *license_state_color(size_t column, const char *cell)
{
	if (column != 2)
		return NULL;
	return streq(cell, "active")	    ? ANSI_GREEN :
	       streq(cell, "not-yet-valid") ? ANSI_YELLOW :
					      ANSI_RED;
}

int verb_licenses(sd_bus *bus, int argc, char **argv)
{
	static const char *const headers[] = { "FILE",	     "ID",	    "STATE",
					       "VALID-FROM", "VALID-UNTIL", "ERROR" };
	static const bool right[] = { false, false, false, false, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 6,
						 .headers = headers,
						 .right_align = right,
						 .color = license_state_color };
	_cleanup_json_ struct json_object *array = NULL;
	struct license_row l;
	uint64_t next_expiry = 0;
	char next_id[160] = "";
	int r;

	(void)argc;
	(void)argv;

	r = table_check_columns_of("licenses", &t);
	if (r < 0)
		return r;
	r = get_licenses(bus, &reply);
	if (r < 0)
		return r;

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_license_row(reply, &l)) > 0) {
		char from[FORMAT_TIMESTAMP_MAX], until[FORMAT_TIMESTAMP_MAX];

		if (arg_json) {
			if (license_row_json(array, &l) < 0)
				return log_oom();
			continue;
		}
		if (streq(l.state, "active") &&
		    (!next_expiry || l.valid_until_usec < next_expiry)) {
			next_expiry = l.valid_until_usec;
			snprintf(next_id, sizeof(next_id), "%s", l.id);
		}
		if (table_add(&t, "%s", l.file) < 0 || table_add(&t, "%s", l.id) < 0 ||
		    table_add(&t, "%s", l.state) < 0 ||
		    table_add(&t, "%s", format_validity_date(from, l.valid_from_usec)) < 0 ||
		    table_add(&t, "%s", format_validity_date(until, l.valid_until_usec)) < 0 ||
		    table_add(&t, "%s", l.error) < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListLicenses", r);

	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, arg_legend, "licence files");
	if (r < 0)
		log_error("out of memory");
	if (r >= 0 && next_expiry && arg_legend && !arg_csv) {
		char until[FORMAT_TIMESTAMP_MAX];
		int64_t days = ((int64_t)next_expiry - (int64_t)now_realtime_usec()) /
			       (int64_t)(86400 * USEC_PER_SEC);

		printf("\nNext expiry: %s, valid until %s (%lld days from now).\n", next_id,
		       format_validity_date(until, next_expiry), (long long)days);
	}
	return r;
}
