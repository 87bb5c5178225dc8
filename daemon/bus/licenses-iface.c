// SPDX-License-Identifier: GPL-2.0-only
/* org.hpcmeter1.Licenses: the licences loaded and their standing, reload, and the reports
 * issued against them (GetReport itself is in report-fd.c). */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "util.h"

static int method_list_licenses(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	const struct license_set *set = manager_licenses(b->m);
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int64_t now = (int64_t)(now_realtime_usec() / USEC_PER_SEC);
	int r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_LICENSE);
	if (r < 0)
		return r;
	for (size_t i = 0; set && i < set->n_entries; i++) {
		const struct license_entry *e = &set->entries[i];
		const struct license *l = e->license;
		char err[1024] = "";
		const char *state;

		if (!l || e->kept_previous)
			license_error_format(&e->error, err, sizeof(err));
		if (!l) {
			state = "invalid";
		} else if (now < l->valid_from) {
			state = "not-yet-valid";
		} else if (now > l->valid_until) {
			state = "expired";
		} else {
			state = "active";
		}
		_cleanup_free_ char *file = utf8_escape_invalid(e->file);
		_cleanup_free_ char *msg_err = utf8_escape_invalid(err);

		if (!file || !msg_err)
			return -ENOMEM;
		r = sd_bus_message_append(reply, HPCMETER_SIG_LICENSE, file, l ? l->id : "", state,
					  msg_err, l ? (uint64_t)l->valid_from * USEC_PER_SEC : 0,
					  l ? (uint64_t)l->valid_until * USEC_PER_SEC : 0);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_explain_license(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct eval_result res = {};
	const char *id;
	int r;

	r = sd_bus_message_read(msg, "s", &id);
	if (r < 0)
		return r;
	if (!license_id_valid(id)) /* never echoed: it may be megabytes */
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid licence id: expected 1 to 128 characters of "
					 "A-Z a-z 0-9 . _ : -");
	r = manager_explain(b->m, id, &res);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_LICENSE,
					 "No licence with id \"%s\" is loaded", id);
	if (r < 0) {
		eval_result_done(&res);
		return sd_bus_error_set_errnof(error, -r, "Cannot evaluate licence %s: %s", id,
					       strerror(-r));
	}
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_TERM);
	for (size_t i = 0; r >= 0 && i < res.n_terms; i++) {
		_cleanup_free_ char *text = utf8_escape_invalid(res.terms[i].text);

		r = text ? sd_bus_message_append(reply, HPCMETER_SIG_TERM, res.terms[i].term,
						 eval_state_name(res.terms[i].state), text) :
			   -ENOMEM;
	}
	eval_result_done(&res);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	int r = manager_reload(b->m);

	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read licence directory %s: %s",
					       manager_config(b->m)->licenses_dir, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_record_report(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	const char *license_id, *format, *sha;
	uint64_t from, to, id = 0;
	int r;

	r = sd_bus_message_read(msg, "sttss", &license_id, &from, &to, &format, &sha);
	if (r < 0)
		return r;
	if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
	    !(streq(format, "json") || streq(format, "csv")) || from >= to || !license_id[0])
		return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
					"expected a licence id, from < to, json or csv, and the "
					"report's SHA-256 as 64 lower-case hex digits");
	r = manager_record_report(b->m, license_id, from, to, format, sha, &id);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot record the report: %s",
					       strerror(-r));
	return sd_bus_reply_method_return(msg, "t", id);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;

	if (streq(property, "LicenseErrors"))
		return sd_bus_message_append(reply, "u", manager_license_errors(b->m));
	if (streq(property, "LicensesActive"))
		return sd_bus_message_append(reply, "u", manager_licenses_active(b->m));
	return -ENOENT;
}

const sd_bus_vtable bus_licenses_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("ListLicenses", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a" HPCMETER_SIG_LICENSE, licenses),
				method_list_licenses, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ExplainLicense", SD_BUS_ARGS("s", license_id),
				SD_BUS_RESULT("a" HPCMETER_SIG_TERM, terms), method_explain_license,
				SD_BUS_VTABLE_UNPRIVILEGED),
	/* Privileged: root only, in sd-bus as in the bus policy. */
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, 0),
	/* Privileged: only root signs reports (the key is 0600). */
	SD_BUS_METHOD_WITH_ARGS("GetReport",
				SD_BUS_ARGS("s", license_id, "t", from_usec, "t", to_usec, "s",
					    format),
				SD_BUS_RESULT("h", report, "t", size, "s", sha256, "ay", signature),
				bus_method_get_report, 0),
	SD_BUS_METHOD_WITH_ARGS("RecordReport",
				SD_BUS_ARGS("s", license_id, "t", from_usec, "t", to_usec, "s",
					    format, "s", sha256),
				SD_BUS_RESULT("t", id), method_record_report, 0),
	SD_BUS_PROPERTY("LicenseErrors", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LicensesActive", "u", property_get, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};
