// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl status: the daemon's and the meters' state (GetStatus) as "label: value" lines, keys
 * a newer daemon adds under their own names, then the licence files (ListLicenses). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-inventory.h"
#include "ctl-licenses.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "util.h"

/* One value of the GetStatus dictionary; strings point into the reply message. */
struct status_field {
	const char *key;
	const char *signature; /* the variant's contents */
	bool known_type;
	union {
		const char *s;
		uint64_t u;
		int64_t i;
		double d;
		bool b;
	};
};

enum field_format {
	FIELD_PLAIN,
	FIELD_TIMESTAMP,
	FIELD_TIMESPAN,
	FIELD_SPAN_NS, /* a duration in nanoseconds */
	FIELD_BYTES,
};

static const struct {
	const char *key;
	const char *label;
	enum field_format format;
} status_labels[] = {
	{ "version", "Version", FIELD_PLAIN },
	{ "hostname", "Hostname", FIELD_PLAIN },
	{ "boot_id", "Boot ID", FIELD_PLAIN },
	{ "started_usec", "Started", FIELD_TIMESTAMP },
	{ "interval_usec", "Interval", FIELD_TIMESPAN },
	{ "last_collect_usec", "Last collection", FIELD_TIMESTAMP },
	{ "collections", "Collections", FIELD_PLAIN },
	{ "last_collect_duration_usec", "Last reading took", FIELD_TIMESPAN },
	{ "bpf_stats", "BPF statistics", FIELD_PLAIN },
	{ "bpf_run_count", "BPF program runs", FIELD_PLAIN },
	{ "bpf_run_time_ns", "BPF run time", FIELD_SPAN_NS },
	{ "attach_mode", "Attach mode", FIELD_PLAIN },
	{ "processes_tracked", "Processes tracked", FIELD_PLAIN },
	{ "exec_events", "Exec events", FIELD_PLAIN },
	{ "exit_events", "Exit events", FIELD_PLAIN },
	{ "move_events", "Cgroup moves", FIELD_PLAIN },
	{ "tail_events", "Exit tails", FIELD_PLAIN },
	{ "ringbuf_drops", "Ring buffer drops", FIELD_PLAIN },
	{ "violations", "Violations", FIELD_PLAIN },
	{ "last_violation_seq", "Last violation seq", FIELD_PLAIN },
	{ "licenses_active", "Licences active", FIELD_PLAIN },
	{ "license_errors", "Licence errors", FIELD_PLAIN },
	{ "license_terms_not_evaluated", "Terms not evaluated", FIELD_PLAIN },
	{ "digests_pending", "Digests pending", FIELD_PLAIN },
	{ "licenses_dir", "Licence directory", FIELD_PLAIN },
	{ "state_dir", "State directory", FIELD_PLAIN },
	{ "ledger", "Ledger", FIELD_PLAIN },
	{ "kernel_meter", "Kernel meter", FIELD_PLAIN },
	{ "kernel_meter_version", "Kernel meter version", FIELD_PLAIN },
	{ "kernel_meter_checks", "Kernel meter checks", FIELD_PLAIN },
	{ "kernel_meter_divergences", "Kernel meter divergences", FIELD_PLAIN },
	{ "ledger_state", "Ledger state", FIELD_PLAIN },
	{ "chain_seq", "Ledger records", FIELD_PLAIN },
	{ "last_gap_id", "Metering gaps", FIELD_PLAIN },
	{ "gaps_open", "Gaps open now", FIELD_PLAIN },
	{ "cgroup_root", "Metered cgroups", FIELD_PLAIN },
	{ "cluster", "Cluster store", FIELD_PLAIN },
	{ "cluster_node", "Cluster node name", FIELD_PLAIN },
	{ "cluster_acked_seq", "Records in the store", FIELD_PLAIN },
	{ "cluster_last_checkpoint_usec", "Last checkpoint", FIELD_TIMESTAMP },
};

#define N_STATUS_LABELS (sizeof(status_labels) / sizeof(status_labels[0]))

/* Reads one variant's contents; types we do not know are skipped and kept by signature only. */
static int read_status_value(sd_bus_message *m, struct status_field *f)
{
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &f->signature);
	if (r < 0)
		return r;
	if (r == 0 || type != SD_BUS_TYPE_VARIANT)
		return -EBADMSG;

	f->known_type = strlen(f->signature) == 1 && strchr("stuxiqnybdog", f->signature[0]);
	if (!f->known_type)
		return sd_bus_message_skip(m, "v");

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, f->signature);
	if (r < 0)
		return r;
	switch (f->signature[0]) {
	case 's':
	case 'o':
	case 'g':
		r = sd_bus_message_read_basic(m, f->signature[0], &f->s);
		break;
	case 't':
		r = sd_bus_message_read_basic(m, 't', &f->u);
		break;
	case 'u': {
		uint32_t v;

		r = sd_bus_message_read_basic(m, 'u', &v);
		f->u = v;
		break;
	}
	case 'q': {
		uint16_t v;

		r = sd_bus_message_read_basic(m, 'q', &v);
		f->u = v;
		break;
	}
	case 'y': {
		uint8_t v;

		r = sd_bus_message_read_basic(m, 'y', &v);
		f->u = v;
		break;
	}
	case 'x':
		r = sd_bus_message_read_basic(m, 'x', &f->i);
		break;
	case 'i': {
		int32_t v;

		r = sd_bus_message_read_basic(m, 'i', &v);
		f->i = v;
		break;
	}
	case 'n': {
		int16_t v;

		r = sd_bus_message_read_basic(m, 'n', &v);
		f->i = v;
		break;
	}
	case 'd':
		r = sd_bus_message_read_basic(m, 'd', &f->d);
		break;
	case 'b': {
		int v;

		r = sd_bus_message_read_basic(m, 'b', &v);
		f->b = v;
		break;
	}
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int read_status(sd_bus_message *m, struct status_field **ret, size_t *ret_n)
{
	_cleanup_(freep) struct status_field *fields = NULL;
	size_t n = 0;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
		struct status_field *a = realloc(fields, (n + 1) * sizeof(*fields));

		if (!a)
			return -ENOMEM;
		fields = a;
		fields[n] = (struct status_field){};
		r = sd_bus_message_read_basic(m, 's', &fields[n].key);
		if (r < 0)
			return r;
		r = read_status_value(m, &fields[n]);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
		n++;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	*ret = fields;
	fields = NULL;
	*ret_n = n;
	return 0;
}

static int status_value_json(struct json_object *o, const struct status_field *f)
{
	switch (f->signature[0]) {
	case 's':
	case 'o':
	case 'g':
		return json_add_string(o, f->key, f->s);
	case 't':
	case 'u':
	case 'q':
	case 'y':
		return json_add_uint(o, f->key, f->u);
	case 'x':
	case 'i':
	case 'n':
		return json_add_int(o, f->key, f->i);
	case 'd':
		return json_add_double(o, f->key, f->d);
	case 'b':
		return json_add_bool(o, f->key, f->b);
	default:
		return json_add_null(o, f->key);
	}
}

static void format_status_value(char *buf, size_t size, const struct status_field *f,
				enum field_format format)
{
	char big[FORMAT_TIMESTAMP_RELATIVE_MAX];

	if (!f->known_type) {
		snprintf(buf, size, "(value of type %s)", f->signature);
		return;
	}
	switch (f->signature[0]) {
	case 's':
	case 'o':
	case 'g':
		snprintf(buf, size, "%s", isempty(f->s) ? "-" : f->s);
		break;
	case 't':
	case 'u':
	case 'q':
	case 'y':
		if (format == FIELD_TIMESTAMP)
			snprintf(buf, size, "%s", format_timestamp_relative(big, f->u));
		else if (format == FIELD_TIMESPAN)
			snprintf(buf, size, "%s", format_timespan(big, f->u));
		else if (format == FIELD_SPAN_NS)
			snprintf(buf, size, "%s", format_span_ns(big, sizeof(big), f->u));
		else if (format == FIELD_BYTES)
			snprintf(buf, size, "%s", format_bytes(big, sizeof(big), f->u));
		else
			snprintf(buf, size, "%" PRIu64, f->u);
		break;
	case 'x':
	case 'i':
	case 'n':
		snprintf(buf, size, "%" PRIi64, f->i);
		break;
	case 'd':
		snprintf(buf, size, "%g", f->d);
		break;
	case 'b':
		snprintf(buf, size, "%s", f->b ? "yes" : "no");
		break;
	}
}

static const struct status_field *status_find(const struct status_field *fields, size_t n,
					      const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(fields[i].key, key))
			return &fields[i];
	return NULL;
}

static int status_label_index(const char *key)
{
	for (size_t i = 0; i < N_STATUS_LABELS; i++)
		if (streq(status_labels[i].key, key))
			return (int)i;
	return -1;
}

static void print_status_line(int width, const char *label, const struct status_field *f,
			      enum field_format format)
{
	char value[1024];
	_cleanup_(freep) char *safe = NULL;

	format_status_value(value, sizeof(value), f, format);
	safe = sanitize(value);
	printf("%*s: %s\n", width, label, safe ?: value);
}

static int print_status_human(const struct status_field *fields, size_t n, sd_bus_message *licenses)
{
	/* as status has always listed them: ID and STATE at least 24 and 14 wide, the validity
	 * two spaces before the file */
	static const char *const headers[] = { "ID", "STATE", "VALIDITY", "FILE" };
	static const size_t widths[] = { 24, 14, 23, 0 };
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(headers),
						 .headers = headers,
						 .min_width = widths,
						 .separator = " ",
						 .indent = "  " };
	const struct status_field *violations, *not_evaluated;
	struct license_row l;
	unsigned rejected = 0, listed = 0;
	int width = 0, r;

	for (size_t i = 0; i < n; i++) {
		int k = status_label_index(fields[i].key);
		int len = (int)strlen(k >= 0 ? status_labels[k].label : fields[i].key);

		if (len > width)
			width = len;
	}

	/* the well-known keys in a fixed, readable order; then whatever a newer daemon added */
	for (size_t k = 0; k < N_STATUS_LABELS; k++) {
		const struct status_field *f = status_find(fields, n, status_labels[k].key);

		if (f)
			print_status_line(width, status_labels[k].label, f,
					  status_labels[k].format);
	}
	for (size_t i = 0; i < n; i++)
		if (status_label_index(fields[i].key) < 0 && fields[i].known_type) {
			/* units a newer daemon's keys name: nanoseconds and bytes, shown human */
			size_t l = strlen(fields[i].key);
			enum field_format fmt =
				l > 3 && streq(fields[i].key + l - 3, "_ns")	? FIELD_SPAN_NS :
				l > 6 && streq(fields[i].key + l - 6, "_bytes") ? FIELD_BYTES :
										  FIELD_PLAIN;

			print_status_line(width, fields[i].key, &fields[i], fmt);
		}

	printf("\nLicences:\n");
	while ((r = read_license_row(licenses, &l)) > 0) {
		char from[FORMAT_TIMESTAMP_MAX], until[FORMAT_TIMESTAMP_MAX];

		listed++;
		if (table_add(&t, "%s", l.id) < 0 || table_add(&t, "%s", l.state) < 0 ||
		    ((l.valid_from_usec || l.valid_until_usec) ?
			     table_add(&t, "%s..%s", format_validity_date(from, l.valid_from_usec),
				       format_validity_date(until, l.valid_until_usec)) :
			     table_add(&t, "-")) < 0 ||
		    table_add(&t, "%s", l.file) < 0)
			return log_oom();
		if (license_row_rejected(&l)) {
			rejected++;
			if (table_add_note(&t, "    error: %s", isempty(l.error) ? "-" : l.error) <
			    0)
				return log_oom();
		}
	}
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	if (listed == 0)
		printf("  (no licence files loaded)\n");
	else if (table_print(&t, false, NULL) < 0)
		return log_oom();

	if (rejected > 0)
		printf("\nWarning: %u licence file(s) rejected.\n", rejected);
	violations = status_find(fields, n, "violations");
	if (violations && violations->known_type && strchr("tuqy", violations->signature[0]) &&
	    violations->u > 0)
		printf("%sWarning: %" PRIu64 " violation(s) recorded; see '" PROGRAM
		       " violations'.\n",
		       rejected > 0 ? "" : "\n", violations->u);
	not_evaluated = status_find(fields, n, "license_terms_not_evaluated");
	if (not_evaluated && not_evaluated->known_type &&
	    strchr("tuqy", not_evaluated->signature[0]) && not_evaluated->u > 0)
		printf("Note: %" PRIu64
		       " licence term(s) cannot be evaluated on this node yet; see '" PROGRAM
		       " license explain ID'.\n",
		       not_evaluated->u);
	return 0;
}

static int print_status_json(const struct status_field *fields, size_t n, sd_bus_message *licenses)
{
	_cleanup_json_ struct json_object *o = json_object_new_object(),
					  *array = json_object_new_array();
	struct license_row l;
	int r;

	if (!o || !array)
		return log_oom();
	for (size_t i = 0; i < n; i++) {
		if (!fields[i].known_type || streq(fields[i].key, "licenses"))
			continue;
		if (status_value_json(o, &fields[i]) < 0)
			return log_oom();
	}
	while ((r = read_license_row(licenses, &l)) > 0)
		if (license_row_json(array, &l) < 0)
			return log_oom();
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	if (json_add(o, "licenses", TAKE_PTR(array)) < 0)
		return log_oom();
	return json_dump(stdout, o, arg_json);
}

int verb_status(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *licenses = NULL;
	_cleanup_(freep) struct status_field *fields = NULL;
	size_t n = 0;
	int r;

	(void)argc;
	(void)argv;

	r = bus_call(bus, "GetStatus", &reply, "");
	if (r < 0)
		return r;
	r = read_status(reply, &fields, &n);
	if (r < 0)
		return log_parse_error("GetStatus", r);
	r = get_licenses(bus, &licenses);
	if (r < 0)
		return r;

	if (arg_json)
		return print_status_json(fields, n, licenses);
	r = print_status_human(fields, n, licenses);
	if (r == 0)
		ctl_gpu_status_libraries(reply);
	return r;
}
