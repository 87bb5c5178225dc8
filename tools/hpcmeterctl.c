/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl: the operators' command line client of hpcmeterd (org.hpcmeter1 on the system bus). */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "ctl-license.h"
#include "ctl-pager.h"
#include "ctl-module.h"
#include "ctl-ext.h"
#include "hpcmeter-bus.h"
#include "jobs.h"
#include "workload.h"
#include "license.h"
#include "util.h"
#include "ctl-inventory.h"
#include "ctl-format.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "json-doc.h"

#define PROGRAM "hpcmeterctl"
#define USEC_PER_MSEC UINT64_C(1000)
#define EXIT_USAGE 2

static inline void license_freep(struct license **l)
{
	if (*l)
		license_free(*l);
}

static inline bool isempty(const char *s)
{
	return !s || !*s;
}

static enum json_mode arg_json = JSON_OFF;
static bool arg_legend = true;
static bool arg_no_pager = false;
static const char *arg_address = NULL;
static bool arg_since_set = false;
static uint64_t arg_since = 0;
static const char *arg_since_str = NULL; /* license simulate: a date */
static bool arg_since_bad = false;
static const char *arg_state_dir = "/var/lib/hpcmeter";
static bool arg_since_usec_set = false;
static bool arg_slurm_env = false;
static char **arg_set = NULL; /* --set KEY=VALUE, in order */
static size_t arg_n_set = 0;
static const char *arg_by = NULL; /* usage --by */
/* usage --job, --user, --account, --license: the rows GetUsageFiltered matches */
static const char *arg_filter_job = NULL, *arg_filter_user = NULL, *arg_filter_account = NULL,
		  *arg_filter_license = NULL;
static uint64_t arg_since_usec = 0;
static bool arg_until_usec_set = false; /* usage: intervals that start before this */
static uint64_t arg_until_usec = 0;

static bool usage_error_seen = false;
/* hpcmeterd is not on the bus: exit 3, the LSB code for "not running" (ctl-exit.h). */
static bool daemon_unreachable = false;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
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

static int log_oom(void)
{
	log_error("out of memory");
	return -ENOMEM;
}

/* ---- formatting ---- */

#define FORMAT_TIMESTAMP_MAX 64
#define FORMAT_TIMESPAN_MAX 64

/* Local ISO-8601 with the UTC offset, e.g. 2026-03-01T14:05:09+01:00; "never" for 0. */
static const char *format_timestamp_local(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;
	long off;
	size_t n;

	if (usec == 0)
		return "never";
	if (!localtime_r(&t, &tm) ||
	    (n = strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, FORMAT_TIMESTAMP_MAX, "@%" PRIu64, usec);
		return buf;
	}
	off = tm.tm_gmtoff / 60;
	snprintf(buf + n, FORMAT_TIMESTAMP_MAX - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		 labs(off) / 60, labs(off) % 60);
	return buf;
}

/* UTC ISO-8601, e.g. 2026-03-01T13:05:09Z. */
static bool format_timestamp_utc(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	return gmtime_r(&t, &tm) &&
	       strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0;
}

/* Licence validity is defined in whole UTC days, so it is shown as UTC dates. */
static const char *format_date_utc(char buf[static FORMAT_TIMESTAMP_MAX], int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, FORMAT_TIMESTAMP_MAX, "@%" PRIi64, sec);
	return buf;
}

/* "1d 2h 3min 4s", "10s", "250ms" (tools/ctl-format.c): whole seconds from a minute on. */
static const char *format_timespan(char buf[static FORMAT_TIMESPAN_MAX], uint64_t usec)
{
	return format_span(buf, FORMAT_TIMESPAN_MAX, usec,
			   usec >= 60 * USEC_PER_SEC ? USEC_PER_SEC : USEC_PER_MSEC);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* "2026-03-01T14:05:09+01:00 (3h 2min ago)" */
static const char *
format_timestamp_relative(char buf[static FORMAT_TIMESTAMP_MAX + FORMAT_TIMESPAN_MAX + 16],
			  uint64_t usec)
{
	char ts[FORMAT_TIMESTAMP_MAX], span[FORMAT_TIMESPAN_MAX];
	uint64_t now = now_usec();

	if (usec == 0)
		return "never";
	format_timestamp_local(ts, usec);
	if (now >= usec)
		snprintf(buf, FORMAT_TIMESTAMP_MAX + FORMAT_TIMESPAN_MAX + 16, "%s (%s ago)", ts,
			 format_timespan(span, now - usec));
	else
		snprintf(buf, FORMAT_TIMESTAMP_MAX + FORMAT_TIMESPAN_MAX + 16, "%s (in %s)", ts,
			 format_timespan(span, usec - now));
	return buf;
}

/* Terminal-safe copy: names (executables, cgroups) come from users and may carry escapes. */
static char *sanitize(const char *s)
{
	char *r = strdup(isempty(s) ? "-" : s);

	if (!r)
		return NULL;
	for (unsigned char *p = (unsigned char *)r; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

/* ---- tables with a header and a legend, columns sized to their content ---- */

/* Colour on a terminal only (decided before any pager takes standard output), never with
 * NO_COLOR set or TERM=dumb. */
static bool arg_color = false;

#define ANSI_RED "\033[0;31m"
#define ANSI_GREEN "\033[0;32m"
#define ANSI_YELLOW "\033[0;33m"
#define ANSI_BOLD "\033[1m"
#define ANSI_RESET "\033[0m"

static void color_init(void)
{
	const char *term = getenv("TERM");

	arg_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && *term &&
		    strcmp(term, "dumb") != 0;
}

struct table {
	size_t n_columns;
	const char *const *headers;
	const bool *right_align;
	/* colour of a cell (an ANSI sequence), NULL for none; used on a terminal only */
	const char *(*color)(size_t column, const char *cell);
	char **cells;
	size_t n_cells;
	size_t allocated;
};

static void table_done(struct table *t)
{
	for (size_t i = 0; i < t->n_cells; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_cells = t->allocated = 0;
}

static int table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int table_add(struct table *t, const char *fmt, ...)
{
	_cleanup_(freep) char *raw = NULL;
	va_list ap;
	int r;

	if (t->n_cells == t->allocated) {
		size_t n = t->allocated ? t->allocated * 2 : 64;
		char **c = realloc(t->cells, n * sizeof(char *));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->allocated = n;
	}
	va_start(ap, fmt);
	r = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (r < 0) {
		raw = NULL;
		return -ENOMEM;
	}
	t->cells[t->n_cells] = sanitize(raw);
	if (!t->cells[t->n_cells])
		return -ENOMEM;
	t->n_cells++;
	return 0;
}

static void table_print_row(const struct table *t, const size_t *widths, const char *const *row)
{
	for (size_t c = 0; c < t->n_columns; c++) {
		bool last = c + 1 == t->n_columns;
		const char *on = !arg_color	   ? NULL :
				 row == t->headers ? ANSI_BOLD :
				 t->color	   ? t->color(c, row[c]) :
						     NULL;

		if (on)
			fputs(on, stdout);
		if (t->right_align[c])
			printf("%*s", (int)widths[c], row[c]);
		else if (last)
			fputs(row[c], stdout);
		else
			printf("%-*s", (int)widths[c], row[c]);
		if (on)
			fputs(ANSI_RESET, stdout);
		fputs(last ? "\n" : "  ", stdout);
	}
}

static int table_print(const struct table *t, const char *legend_noun)
{
	_cleanup_(freep) size_t *widths = calloc(t->n_columns, sizeof(size_t));
	size_t n_rows = t->n_cells / t->n_columns;

	if (!widths)
		return -ENOMEM;
	for (size_t c = 0; c < t->n_columns; c++) {
		widths[c] = arg_legend ? strlen(t->headers[c]) : 0;
		for (size_t r = 0; r < n_rows; r++) {
			size_t l = strlen(t->cells[r * t->n_columns + c]);

			if (l > widths[c])
				widths[c] = l;
		}
	}
	if (arg_legend)
		table_print_row(t, widths, t->headers);
	for (size_t r = 0; r < n_rows; r++)
		table_print_row(t, widths, (const char *const *)t->cells + r * t->n_columns);
	if (arg_legend)
		printf("%s%zu %s listed.\n", n_rows > 0 ? "\n" : "", n_rows, legend_noun);
	return 0;
}

/* ---- the bus ---- */

static const char *bus_error_message(const sd_bus_error *error, int r)
{
	/* The bus's own text lists its policy rules; say what the policy means instead. */
	if (error && sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
		return "access denied by the bus policy (reading needs root or membership in group "
		       "hpcmeter; reload and job announcements need root)";
	if (error && sd_bus_error_is_set(error) && !isempty(error->message))
		return error->message;
	return strerror(r < 0 ? -r : r);
}

static int bus_connect(sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	if (arg_address) {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, arg_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_set_description(bus, PROGRAM);
		if (r >= 0)
			r = sd_bus_start(bus);
		if (r < 0) {
			ctl_exit_from_connect_error(r);
			log_error("cannot connect to the bus at %s: %s", arg_address, strerror(-r));
			return r;
		}
	} else {
		r = sd_bus_open_system_with_description(&bus, PROGRAM);
		if (r < 0) {
			ctl_exit_from_connect_error(r);
			log_error("cannot connect to the system bus: %s", strerror(-r));
			return r;
		}
	}
	*ret = bus;
	bus = NULL;
	return 0;
}

static void log_bus_call_error(const char *member, const sd_bus_error *error, int r)
{
	ctl_exit_from_bus_error(error, r);
	if (ctl_bus_error_not_running(error)) {
		daemon_unreachable = true;
		if (arg_address)
			log_error("cannot reach hpcmeterd (" HPCMETER_BUS_NAME
				  ") on the bus at %s: %s",
				  arg_address, bus_error_message(error, r));
		else
			log_error("cannot reach hpcmeterd (" HPCMETER_BUS_NAME
				  ") on the system bus: %s",
				  bus_error_message(error, r));
	} else
		log_error("%s failed: %s", member, bus_error_message(error, r));
}

static int bus_call(sd_bus *bus, const char *member, sd_bus_message **ret_reply, const char *types,
		    ...)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	va_start(ap, types);
	r = sd_bus_call_methodv(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
				hpcmeter_iface(member), member, &error, ret_reply, types, ap);
	va_end(ap);
	if (r < 0)
		log_bus_call_error(member, &error, r);
	return r;
}

static int log_parse_error(const char *member, int r)
{
	log_error("cannot parse the reply of %s: %s", member, strerror(-r));
	return r;
}

/* ---- licences ---- */

struct license_row {
	const char *file, *id, *state, *error;
	uint64_t valid_from_usec, valid_until_usec;
};

static bool license_row_rejected(const struct license_row *l)
{
	return streq(l->state, "invalid") || !isempty(l->error);
}

static int read_license_row(sd_bus_message *m, struct license_row *l)
{
	return sd_bus_message_read(m, HPCMETER_SIG_LICENSE, &l->file, &l->id, &l->state, &l->error,
				   &l->valid_from_usec, &l->valid_until_usec);
}

/* Appends the row to array a as an object. */
static int license_row_json(struct json_object *a, const struct license_row *l)
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

static const char *format_validity_date(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec)
{
	if (usec == 0)
		return "-";
	return format_date_utc(buf, (int64_t)(usec / USEC_PER_SEC));
}

static int get_licenses(sd_bus *bus, sd_bus_message **ret_reply)
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

static int verb_licenses(sd_bus *bus, int argc, char **argv)
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
	r = table_print(&t, "licence files");
	if (r < 0)
		log_error("out of memory");
	if (r >= 0 && next_expiry && arg_legend) {
		char until[FORMAT_TIMESTAMP_MAX];
		int64_t days = ((int64_t)next_expiry - (int64_t)now_realtime_usec()) /
			       (int64_t)(86400 * USEC_PER_SEC);

		printf("\nNext expiry: %s, valid until %s (%lld days from now).\n", next_id,
		       format_validity_date(until, next_expiry), (long long)days);
	}
	return r;
}

/* ---- status ---- */

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
	char big[FORMAT_TIMESTAMP_MAX + FORMAT_TIMESPAN_MAX + 16];

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
		_cleanup_(freep) char *id = sanitize(l.id), *state = sanitize(l.state),
				      *file = sanitize(l.file);

		if (!id || !state || !file) {
			log_error("out of memory");
			return -ENOMEM;
		}
		listed++;
		if (l.valid_from_usec || l.valid_until_usec)
			printf("  %-24s %-14s %s..%s  %s\n", id, state,
			       format_validity_date(from, l.valid_from_usec),
			       format_validity_date(until, l.valid_until_usec), file);
		else
			printf("  %-24s %-14s %s\n", id, state, file);
		if (license_row_rejected(&l)) {
			_cleanup_(freep) char *error = sanitize(l.error);

			rejected++;
			printf("      error: %s\n", error ?: "-");
		}
	}
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	if (listed == 0)
		printf("  (no licence files loaded)\n");

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

static int verb_status(sd_bus *bus, int argc, char **argv)
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

/* ---- violations and monitor ---- */

struct violation {
	uint64_t seq, time_usec;
	const char *kind, *license_id;
	uint32_t pid, uid;
	const char *user, *executable, *cgroup, *job, *detail;
};

/* types is HPCMETER_SIG_VIOLATION inside an array, HPCMETER_SIG_VIOLATION_FIELDS for the signal body */
static int read_violation(sd_bus_message *m, const char *types, struct violation *v)
{
	return sd_bus_message_read(m, types, &v->seq, &v->time_usec, &v->kind, &v->license_id,
				   &v->pid, &v->uid, &v->user, &v->executable, &v->cgroup, &v->job,
				   &v->detail);
}

/* The violation as an object; NULL when out of memory. */
static struct json_object *violation_json(const struct violation *v)
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

static int verb_violations(sd_bus *bus, int argc, char **argv)
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

	r = bus_call(bus, "ListViolations", &reply, "t", arg_since);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_VIOLATION);
	if (r < 0)
		return log_parse_error("ListViolations", r);

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_violation(reply, HPCMETER_SIG_VIOLATION, &v)) > 0) {
		char ts[FORMAT_TIMESTAMP_MAX], uid[16] = "-", pid[16] = "-";

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
	r = table_print(&t, "violations");
	if (r < 0)
		log_error("out of memory");
	return r;
}

struct monitor {
	sd_event *event;
	sd_bus *bus; /* a reference of our own: replaced when the bus comes back */
	sd_bus_slot *slot_signal, *slot_disconnect, *slot_owner;
	sd_event_source *reconnect; /* the back-off timer while the bus is gone */
	uint64_t backoff_usec;
	bool have_floor; /* floor is meaningful */
	uint64_t floor; /* highest seq printed or asked to skip */
	bool backfill; /* back-fill when the daemon reappears (a floor is known) */
	bool disconnected;
};

/* Reconnecting to a restarted dbus-daemon: 100 ms, doubling up to 5 s between attempts. */
#define MONITOR_BACKOFF_MIN_USEC (100 * USEC_PER_MSEC)
#define MONITOR_BACKOFF_MAX_USEC (5 * USEC_PER_SEC)

static int monitor_print(struct monitor *mon, const struct violation *v);

/* Print the violations recorded after the floor: at start with --since, and whenever hpcmeterd
 * (re)appears on the bus, for what it recorded while no signal could reach us (a daemon
 * that starts raises the violations of processes already running before it is on the bus). */
static int monitor_backfill(struct monitor *mon)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct violation v;
	int r;

	r = bus_call(mon->bus, "ListViolations", &reply, "t", mon->have_floor ? mon->floor : 0);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_VIOLATION);
	if (r < 0)
		return log_parse_error("ListViolations", r);
	while ((r = read_violation(reply, HPCMETER_SIG_VIOLATION, &v)) > 0) {
		r = monitor_print(mon, &v);
		if (r < 0)
			return r;
	}
	return r < 0 ? log_parse_error("ListViolations", r) : 0;
}

/* NameOwnerChanged for org.hpcmeter1: a new owner is a (re)started hpcmeterd. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	const char *name, *old_owner, *new_owner;

	(void)ret_error;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    !streq(name, HPCMETER_BUS_NAME))
		return 0;
	if (isempty(new_owner)) {
		log_info("hpcmeterd left the bus; waiting for it to come back");
		return 0;
	}
	if (!mon->backfill && !mon->have_floor) {
		log_info("hpcmeterd is on the bus again");
		return 0;
	}
	log_info("hpcmeterd is on the bus again; back-filling from #%" PRIu64,
		 mon->have_floor ? mon->floor : 0);
	if (monitor_backfill(mon) < 0)
		log_error("back-fill failed; later violations are still printed");
	return 0;
}

static int monitor_print(struct monitor *mon, const struct violation *v)
{
	if (mon->have_floor && v->seq <= mon->floor)
		return 0; /* already printed by the back-fill */
	mon->have_floor = true;
	mon->floor = v->seq;

	if (arg_json) {
		_cleanup_json_ struct json_object *o = violation_json(v);

		if (!o)
			return log_oom();
		json_dump(stdout, o, arg_json);
	} else {
		char ts[FORMAT_TIMESTAMP_MAX];
		_cleanup_(freep) char *kind = sanitize(v->kind), *lic = sanitize(v->license_id),
				      *user = sanitize(v->user), *exe = sanitize(v->executable),
				      *job = sanitize(v->job), *detail = sanitize(v->detail);

		if (!kind || !lic || !user || !exe || !job || !detail) {
			log_error("out of memory");
			return -ENOMEM;
		}
		printf("%s violation #%" PRIu64 " %s, licence %s: user %s (uid %" PRIu32
		       "), pid %" PRIu32 ", %s, job %s: %s\n",
		       format_timestamp_local(ts, v->time_usec), v->seq, kind, lic, user, v->uid,
		       v->pid, exe, job, detail);
	}
	/* readers sit on a pipe or a file: every record must reach them now */
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int on_violation_raised(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	struct violation v;
	int r;

	(void)ret_error;

	r = read_violation(m, HPCMETER_SIG_VIOLATION_FIELDS, &v);
	if (r < 0) {
		log_error("ignoring a malformed ViolationRaised signal: %s", strerror(-r));
		return 0;
	}
	r = monitor_print(mon, &v);
	if (r < 0)
		return sd_event_exit(mon->event, 1);
	return 0;
}

static int monitor_subscribe(struct monitor *mon);

static void monitor_drop_bus(struct monitor *mon)
{
	mon->slot_signal = sd_bus_slot_unref(mon->slot_signal);
	mon->slot_disconnect = sd_bus_slot_unref(mon->slot_disconnect);
	mon->slot_owner = sd_bus_slot_unref(mon->slot_owner);
	if (mon->bus) {
		(void)sd_bus_detach_event(mon->bus);
		mon->bus = sd_bus_flush_close_unref(mon->bus);
	}
}

/* Is hpcmeterd on the bus now? (Asked of the bus itself: no error when it is not.) */
static bool monitor_daemon_present(struct monitor *mon)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int has = 0;

	if (sd_bus_call_method(mon->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
			       HPCMETER_BUS_NAME) < 0 ||
	    sd_bus_message_read(reply, "b", &has) < 0)
		return false;
	return has;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct monitor *mon = userdata;
	sd_bus *bus = NULL;
	int r;

	(void)usec;
	monitor_drop_bus(mon);
	/* quietly: a bus that is not back yet is expected, and retried */
	if (arg_address) {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, arg_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_start(bus);
	} else
		r = sd_bus_open_system_with_description(&bus, PROGRAM);
	if (r < 0) {
		sd_bus_flush_close_unref(bus);
		mon->backoff_usec = mon->backoff_usec * 2 > MONITOR_BACKOFF_MAX_USEC ?
					    MONITOR_BACKOFF_MAX_USEC :
					    mon->backoff_usec * 2;
		r = sd_event_source_set_time_relative(s, mon->backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return r < 0 ? sd_event_exit(mon->event, 1) : 0;
	}
	mon->bus = bus;
	r = monitor_subscribe(mon);
	if (r < 0)
		return sd_event_exit(mon->event, 1);
	mon->disconnected = false;
	mon->backoff_usec = MONITOR_BACKOFF_MIN_USEC;
	if (!monitor_daemon_present(mon)) {
		log_info("connected to the bus again; waiting for hpcmeterd");
		return 0;
	}
	if (mon->backfill || mon->have_floor) {
		log_info("connected to the bus again; back-filling from #%" PRIu64,
			 mon->have_floor ? mon->floor : 0);
		if (monitor_backfill(mon) < 0)
			log_error("back-fill failed; later violations are still printed");
	} else
		log_info("connected to the bus again");
	return 0;
}

/* The bus connection closed (the dbus-daemon stopped or restarted): reconnect with back-off,
 * subscribe again, and back-fill by sequence number from the last violation printed. */
static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	int r;

	(void)m;
	(void)ret_error;

	if (mon->disconnected)
		return 0;
	mon->disconnected = true;
	log_info("lost the connection to the bus; reconnecting");
	/* the old connection is dropped by the timer, outside its own dispatch */
	mon->backoff_usec = MONITOR_BACKOFF_MIN_USEC;
	if (!mon->reconnect)
		r = sd_event_add_time_relative(mon->event, &mon->reconnect, CLOCK_MONOTONIC,
					       mon->backoff_usec, 0, on_reconnect_timer, mon);
	else {
		r = sd_event_source_set_time_relative(mon->reconnect, mon->backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(mon->reconnect, SD_EVENT_ONESHOT);
	}
	if (r < 0) {
		log_error("cannot schedule a reconnection: %s", strerror(-r));
		return sd_event_exit(mon->event, 1);
	}
	return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)si;
	(void)userdata;

	return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* Subscribe on mon->bus (synchronously: the bus has the matches when this returns) and attach
 * it to the event loop. */
static int monitor_subscribe(struct monitor *mon)
{
	int r;

	r = sd_bus_match_signal(mon->bus, &mon->slot_signal, HPCMETER_BUS_NAME,
				HPCMETER_OBJECT_PATH, hpcmeter_iface("ViolationRaised"),
				"ViolationRaised", on_violation_raised, mon);
	if (r < 0) {
		log_error("cannot subscribe to ViolationRaised: %s", strerror(-r));
		return r;
	}
	/* sd-bus synthesizes this locally when the connection goes; no match is sent to the bus */
	r = sd_bus_match_signal(mon->bus, &mon->slot_disconnect, NULL,
				"/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
				"Disconnected", on_disconnected, mon);
	if (r < 0) {
		log_error("cannot watch the bus connection: %s", strerror(-r));
		return r;
	}
	/* hpcmeterd restarting: follow the name, and back-fill what it recorded meanwhile. */
	r = sd_bus_match_signal(mon->bus, &mon->slot_owner, "org.freedesktop.DBus",
				"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
				on_owner_changed, mon);
	if (r < 0) {
		log_error("cannot follow the daemon on the bus: %s", strerror(-r));
		return r;
	}
	r = sd_bus_attach_event(mon->bus, mon->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		log_error("cannot attach the bus to the event loop: %s", strerror(-r));
		return r;
	}
	return 0;
}

static int verb_monitor(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	struct monitor mon = { .bus = sd_bus_ref(bus),
			       .have_floor = arg_since_set,
			       .floor = arg_since,
			       .backfill = true };
	sigset_t mask;
	int r;

	(void)argc;
	(void)argv;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		r = -errno;
		log_error("cannot block signals: %s", strerror(errno));
		goto finish;
	}

	r = sd_event_default(&event);
	if (r < 0) {
		log_error("cannot allocate an event loop: %s", strerror(-r));
		goto finish;
	}
	mon.event = event;
	r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL);
	if (r < 0) {
		log_error("cannot watch SIGINT and SIGTERM: %s", strerror(-r));
		goto finish;
	}

	/* Subscribe first, back-fill after, so that a violation raised in between is in one of
	 * the two and printed once. */
	r = monitor_subscribe(&mon);
	if (r < 0)
		goto finish;

	if (arg_since_set) {
		r = monitor_backfill(&mon);
		if (r < 0)
			goto finish;
	} else {
		/* From now on: what is already recorded is the floor of later back-fills. */
		uint64_t last = 0;
		_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

		r = sd_bus_get_property_trivial(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
						hpcmeter_iface("LastViolationSeq"),
						"LastViolationSeq", &error, 't', &last);
		if (r < 0) {
			/* The daemon not running, or no right to read: new violations only, as
			 * they come; back-fills after a restart start at the first one printed. */
			log_warning(
				"cannot read the last violation's sequence number (%s): after a "
				"restart of hpcmeterd, violations it raised before it was on the "
				"bus are not back-filled until one has been printed",
				bus_error_message(&error, r));
			mon.backfill = false;
		} else {
			mon.have_floor = true;
			mon.floor = last;
		}
	}

	r = sd_event_loop(event);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	else if (r > 0)
		r = -EIO;
finish:
	mon.reconnect = sd_event_source_unref(mon.reconnect);
	monitor_drop_bus(&mon);
	return r;
}

/* ---- usage ---- */

struct usage_row {
	const char *cgroup, *job;
	uint32_t uid;
	const char *user;
	uint64_t cpu_ns, first_usec, last_usec;
};

static int usage_by(sd_bus *bus, sd_bus_message *reply, const struct ctl_gpu_row *gpu,
		    size_t n_gpu);
static int usage_by_license(sd_bus *bus);
static const char *job_account(sd_bus_message *jobs, const char *id);

/* The GPU metrics of a usage row (GetGpuUsage), in the row's JSON object. */
static int gpu_fields_json(struct json_object *o, const struct ctl_gpu_row *g)
{
	int r = json_add_uint(o, "gpu_ns", g->gpu_ns);

	if (r >= 0)
		r = json_add_double(o, "gpu_seconds", (double)g->gpu_ns / (double)NSEC_PER_SEC);
	if (r >= 0)
		r = json_add_double(o, "tpp_seconds", g->tpp_seconds);
	if (r >= 0)
		r = json_add_double(o, "ops_upper", g->ops_upper);
	if (r >= 0)
		r = json_add_double(o, "ops_lower", g->ops_lower);
	if (r >= 0)
		r = json_add_uint(o, "launches", g->launches);
	if (r >= 0)
		r = json_add_uint(o, "threads_launched", g->threads_launched);
	if (r >= 0)
		r = json_add_uint(o, "graph_launches", g->graph_launches);
	if (r >= 0)
		r = json_add_uint(o, "bytes_alloc", g->bytes_alloc);
	if (r >= 0)
		r = json_add_uint(o, "bytes_h2d", g->bytes_h2d);
	if (r >= 0)
		r = json_add_uint(o, "gpu_dev_opens", g->dev_opens);
	return r;
}

/* uid, user, cpu_ns, cpu_seconds, first_usec, last_usec of a usage row. */
static int usage_fields_json(struct json_object *o, uint32_t uid, const char *user, uint64_t cpu_ns,
			     uint64_t first_usec, uint64_t last_usec)
{
	int r = json_add_uint(o, "uid", uid);

	if (r >= 0)
		r = json_add_string(o, "user", user);
	if (r >= 0)
		r = json_add_uint(o, "cpu_ns", cpu_ns);
	if (r >= 0)
		r = json_add_double(o, "cpu_seconds", (double)cpu_ns / (double)NSEC_PER_SEC);
	if (r >= 0)
		r = json_add_uint(o, "first_usec", first_usec);
	if (r >= 0)
		r = json_add_uint(o, "last_usec", last_usec);
	return r;
}

static bool usage_filtered(void)
{
	return arg_filter_job || arg_filter_user || arg_filter_account || arg_filter_license;
}

/* GetUsageFiltered with the keys given (and the range of --since-usec, --until-usec). */
static int usage_call_filtered(sd_bus *bus, sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	const struct {
		const char *key, *value;
	} keys[] = {
		{ "job", arg_filter_job },
		{ "user", arg_filter_user },
		{ "account", arg_filter_account },
		{ "license", arg_filter_license },
	};
	int r;

	r = sd_bus_message_new_method_call(bus, &m, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					   hpcmeter_iface("GetUsageFiltered"), "GetUsageFiltered");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(keys); i++)
		if (keys[i].value)
			r = sd_bus_message_append(m, "{sv}", keys[i].key, "s", keys[i].value);
	if (r >= 0 && arg_since_usec_set)
		r = sd_bus_message_append(m, "{sv}", "from_usec", "t", arg_since_usec);
	if (r >= 0 && arg_until_usec_set)
		r = sd_bus_message_append(m, "{sv}", "to_usec", "t", arg_until_usec);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r < 0) {
		log_error("cannot build the GetUsageFiltered call: %s", strerror(-r));
		return r;
	}
	r = sd_bus_call(bus, m, 0, &error, reply);
	if (r < 0)
		log_bus_call_error("GetUsageFiltered", &error, r);
	return r;
}

static int verb_usage(sd_bus *bus, int argc, char **argv)
{
	static const char *const headers[] = { "CGROUP",   "JOB",   "USER(UID)",
					       "CPU-TIME", "FIRST", "LAST" };
	static const bool right[] = { false, false, false, true, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 6,
						 .headers = headers,
						 .right_align = right };
	struct usage_row u;
	_cleanup_json_ struct json_object *array = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *gpu_reply = NULL;
	_cleanup_(freep) struct ctl_gpu_row *gpu = NULL;
	_cleanup_(freep) bool *gpu_used = NULL;
	size_t n_gpu = 0;
	int r;

	(void)argc;
	(void)argv;

	if (usage_filtered())
		r = usage_call_filtered(bus, &reply);
	else if (arg_until_usec_set)
		r = bus_call(bus, "GetUsageBetween", &reply, "tt", arg_since_usec, arg_until_usec);
	else
		r = bus_call(bus, "GetUsage", &reply, "t", arg_since_usec);
	if (r < 0)
		return r;
	/* GPU usage of the same rows (hpcmeterd without a GPU meter answers none); GetGpuUsage
	 * has no filter: with one, CPU usage only. */
	if (!usage_filtered())
		r = ctl_gpu_usage_fetch(bus, arg_since_usec, &gpu_reply, &gpu, &n_gpu);
	if (r < 0) /* a failed call has said why already */
		return ctl_exit_status == CTL_EXIT_FAILURE ? log_parse_error("GetGpuUsage", r) : r;
	gpu_used = calloc(n_gpu + 1, sizeof(*gpu_used));
	if (!gpu_used)
		return -ENOMEM;

	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_USAGE);
	if (r < 0)
		return log_parse_error("GetUsage", r);
	if (arg_by && streq(arg_by, "license"))
		return usage_by_license(bus);
	if (arg_by)
		return usage_by(bus, reply, gpu, n_gpu);
	/* accounts of the jobs, for the JSON rows */
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *jobs = NULL;
	if (arg_json) {
		r = bus_call(bus, "ListJobs", &jobs, "t", arg_since_usec);
		if (r < 0)
			return r;
	}

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup, &u.job, &u.uid,
					&u.user, &u.cpu_ns, &u.first_usec, &u.last_usec)) > 0) {
		char first[FORMAT_TIMESTAMP_MAX], last[FORMAT_TIMESTAMP_MAX], span[FORMAT_SPAN_MAX];

		if (arg_json) {
			struct json_object *o = json_object_new_object();
			struct workload w;

			workload_from_cgroup(u.cgroup, &w);
			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "cgroup", u.cgroup);
			if (r >= 0)
				r = json_add_string(o, "job", u.job);
			if (r >= 0)
				r = json_add_string(o, "step",
						    w.kind == WORKLOAD_SLURM ? w.step : "");
			if (r >= 0)
				r = json_add_string(o, "account", job_account(jobs, u.job));
			if (r >= 0)
				r = usage_fields_json(o, u.uid, u.user, u.cpu_ns, u.first_usec,
						      u.last_usec);
			for (size_t i = 0; r >= 0 && i < n_gpu; i++)
				if (!gpu_used[i] && streq(gpu[i].cgroup, u.cgroup) &&
				    streq(gpu[i].job, u.job) && gpu[i].uid == u.uid) {
					r = gpu_fields_json(o, &gpu[i]);
					gpu_used[i] = true;
				}
			if (r < 0)
				return log_oom();
			continue;
		}
		if (table_add(&t, "%s", u.cgroup) < 0 || table_add(&t, "%s", u.job) < 0 ||
		    table_add(&t, "%s(%" PRIu32 ")", isempty(u.user) ? "?" : u.user, u.uid) < 0 ||
		    table_add(&t, "%s", format_span_ns(span, sizeof(span), u.cpu_ns)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(first, u.first_usec)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(last, u.last_usec)) < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("GetUsage", r);

	if (arg_json) {
		/* GPU usage of a cgroup and user without CPU time in the period: a row of its own. */
		for (size_t i = 0; i < n_gpu; i++) {
			struct json_object *o;

			if (gpu_used[i])
				continue;
			o = json_object_new_object();
			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "cgroup", gpu[i].cgroup);
			if (r >= 0)
				r = json_add_string(o, "job", gpu[i].job);
			if (r >= 0)
				r = usage_fields_json(o, gpu[i].uid, gpu[i].user, 0,
						      gpu[i].first_usec, gpu[i].last_usec);
			if (r >= 0)
				r = gpu_fields_json(o, &gpu[i]);
			if (r < 0)
				return log_oom();
		}
		return json_dump(stdout, array, arg_json);
	}
	r = table_print(&t, "usage records");
	if (r < 0)
		log_error("out of memory");
	else
		ctl_gpu_usage_table(gpu, n_gpu, arg_legend);
	return r;
}

/* ---- usage --by: totals per job, user or account ---- */

struct usage_total {
	char *key; /* job id, user or account */
	char *user, *account; /* of the first row seen (job totals) */
	uint64_t cpu_ns, first_usec, last_usec;
	struct ctl_gpu_row gpu; /* GPU metrics summed (strings unused) */
	bool has_gpu;
};

struct job_row {
	const char *id, *scheduler, *user;
	uint32_t uid;
	const char *account, *partition, *wckey, *comment, *gpus, *nodes;
	uint64_t start_usec, end_usec;
};

static int read_job_row(sd_bus_message *m, struct job_row *j)
{
	return sd_bus_message_read(m, HPCMETER_SIG_JOB, &j->id, &j->scheduler, &j->user, &j->uid,
				   &j->account, &j->partition, &j->wckey, &j->comment, &j->gpus,
				   &j->nodes, &j->start_usec, &j->end_usec);
}

/* The account of job id in a ListJobs reply (the latest run), "" when not announced. */
static const char *job_account(sd_bus_message *jobs, const char *id)
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

static struct usage_total *total_find(struct usage_total **v, size_t *n, const char *key)
{
	struct usage_total *t;

	for (size_t i = 0; i < *n; i++)
		if (streq((*v)[i].key, key))
			return &(*v)[i];
	t = realloc(*v, (*n + 1) * sizeof(**v));
	if (!t)
		return NULL;
	*v = t;
	t = &t[(*n)++];
	*t = (struct usage_total){ .key = strdup(key), .first_usec = UINT64_MAX };
	return t->key ? t : NULL;
}

static int total_cmp(const void *a, const void *b)
{
	const struct usage_total *x = a, *y = b;

	return x->cpu_ns < y->cpu_ns ? 1 : x->cpu_ns > y->cpu_ns ? -1 : strcmp(x->key, y->key);
}

/* The --by key of a usage row: its job, account or user. */
static const char *usage_key(const char *job, const char *account, const char *user, uint32_t uid,
			     char *buf, size_t size)
{
	if (streq(arg_by, "job"))
		return isempty(job) ? "-" : job;
	if (streq(arg_by, "account"))
		return isempty(account) ? "-" : account;
	snprintf(buf, size, "%s(%" PRIu32 ")", isempty(user) ? "?" : user, uid);
	return buf;
}

static int usage_by(sd_bus *bus, sd_bus_message *reply, const struct ctl_gpu_row *gpu, size_t n_gpu)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *jobs = NULL;
	_cleanup_json_ struct json_object *array = NULL;
	struct usage_total *v = NULL;
	size_t n = 0;
	struct usage_row u;
	int r;

	if (!streq(arg_by, "user")) {
		r = bus_call(bus, "ListJobs", &jobs, "t", arg_since_usec);
		if (r < 0)
			return r;
	}
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup, &u.job, &u.uid,
					&u.user, &u.cpu_ns, &u.first_usec, &u.last_usec)) > 0) {
		const char *account = job_account(jobs, u.job);
		char uidkey[32];
		struct usage_total *t;

		t = total_find(&v, &n,
			       usage_key(u.job, account, u.user, u.uid, uidkey, sizeof(uidkey)));
		if (!t) {
			r = -ENOMEM;
			break;
		}
		t->cpu_ns += u.cpu_ns;
		if (u.first_usec < t->first_usec)
			t->first_usec = u.first_usec;
		if (u.last_usec > t->last_usec)
			t->last_usec = u.last_usec;
		if (!t->user && (t->user = malloc(64)))
			snprintf(t->user, 64, "%s(%" PRIu32 ")", isempty(u.user) ? "?" : u.user,
				 u.uid);
		if (!t->account)
			t->account = strdup(isempty(account) ? "-" : account);
	}
	/* GPU usage, summed under the same keys (a job may have GPU time and little CPU). */
	for (size_t i = 0; r >= 0 && i < n_gpu; i++) {
		const struct ctl_gpu_row *g = &gpu[i];
		const char *account = job_account(jobs, g->job);
		char uidkey[32];
		struct usage_total *t = total_find(&v, &n,
						   usage_key(g->job, account, g->user, g->uid,
							     uidkey, sizeof(uidkey)));

		if (!t) {
			r = -ENOMEM;
			break;
		}
		t->has_gpu = true;
		t->gpu.gpu_ns += g->gpu_ns;
		t->gpu.tpp_seconds += g->tpp_seconds;
		t->gpu.ops_upper += g->ops_upper;
		t->gpu.ops_lower += g->ops_lower;
		t->gpu.launches += g->launches;
		t->gpu.threads_launched += g->threads_launched;
		t->gpu.graph_launches += g->graph_launches;
		t->gpu.bytes_alloc += g->bytes_alloc;
		t->gpu.bytes_h2d += g->bytes_h2d;
		t->gpu.dev_opens += g->dev_opens;
		if (g->first_usec < t->first_usec)
			t->first_usec = g->first_usec;
		if (g->last_usec > t->last_usec)
			t->last_usec = g->last_usec;
		if (!t->user && (t->user = malloc(64)))
			snprintf(t->user, 64, "%s(%" PRIu32 ")", isempty(g->user) ? "?" : g->user,
				 g->uid);
		if (!t->account)
			t->account = strdup(isempty(account) ? "-" : account);
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i].key), free(v[i].user), free(v[i].account);
		free(v);
		return r == -ENOMEM ? (log_error("out of memory"), r) :
				      log_parse_error("GetUsage", r);
	}
	qsort(v, n, sizeof(*v), total_cmp);

	/* grouped by the first column */
	static const char *const by_job[] = { "JOB",	  "USER(UID)", "ACCOUNT", "CPU-TIME",
					      "GPU-TIME", "FIRST",     "LAST" };
	static const char *const by_other[] = { "KEY", "CPU-TIME", "GPU-TIME", "FIRST", "LAST" };
	static const bool right_job[] = { true, false, false, true, true, false, false };
	static const bool right_other[] = { false, true, true, false, false };
	bool job = streq(arg_by, "job");
	const char *other_headers[5] = { streq(arg_by, "user") ? "USER(UID)" : "ACCOUNT",
					 by_other[1], by_other[2], by_other[3], by_other[4] };
	_cleanup_(table_done) struct table t = { .n_columns = job ? 7 : 5,
						 .headers = job ? by_job : other_headers,
						 .right_align = job ? right_job : right_other };

	if (arg_json && !(array = json_object_new_array()))
		r = -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		char first[FORMAT_TIMESTAMP_MAX], last[FORMAT_TIMESTAMP_MAX];
		char cpu[FORMAT_SPAN_MAX], gpu_time[FORMAT_SPAN_MAX];

		if (arg_json) {
			struct json_object *o = json_object_new_object();

			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, arg_by, v[i].key);
			if (r >= 0 && job)
				r = json_add_string(o, "user", v[i].user ?: "");
			if (r >= 0 && job)
				r = json_add_string(o, "account", v[i].account ?: "");
			if (r >= 0)
				r = json_add_uint(o, "cpu_ns", v[i].cpu_ns);
			if (r >= 0)
				r = json_add_double(o, "cpu_seconds",
						    (double)v[i].cpu_ns / (double)NSEC_PER_SEC);
			if (r >= 0)
				r = json_add_uint(o, "first_usec", v[i].first_usec);
			if (r >= 0)
				r = json_add_uint(o, "last_usec", v[i].last_usec);
			if (r >= 0)
				r = gpu_fields_json(o, &v[i].gpu);
			continue;
		}
		if (table_add(&t, "%s", v[i].key) < 0 ||
		    (job && (table_add(&t, "%s", v[i].user ?: "-") < 0 ||
			     table_add(&t, "%s", v[i].account ?: "-") < 0)) ||
		    table_add(&t, "%s", format_span_ns(cpu, sizeof(cpu), v[i].cpu_ns)) < 0 ||
		    (v[i].has_gpu ? table_add(&t, "%s",
					      format_span_ns(gpu_time, sizeof(gpu_time),
							     v[i].gpu.gpu_ns)) :
				    table_add(&t, "-")) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(first, v[i].first_usec)) < 0 ||
		    table_add(&t, "%s", format_timestamp_local(last, v[i].last_usec)) < 0)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].key), free(v[i].user), free(v[i].account);
	free(v);
	if (r < 0)
		return log_oom();
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, "usage totals");
	if (r < 0)
		log_error("out of memory");
	return r;
}

/* usage --by license: per loaded licence, the usage recorded during its validity (every
 * licence covers the whole node; --since-usec narrows the start). */
static int usage_by_license(sd_bus *bus)
{
	static const char *const headers[] = { "LICENSE", "STATE", "CPU-TIME", "FIRST", "LAST" };
	static const bool right[] = { false, false, true, false, false };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *licenses = NULL;
	_cleanup_(table_done) struct table t = { .n_columns = 5,
						 .headers = headers,
						 .right_align = right };
	_cleanup_json_ struct json_object *array = NULL;
	struct license_row l;
	int r;

	r = get_licenses(bus, &licenses);
	if (r < 0)
		return r;
	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	while ((r = read_license_row(licenses, &l)) > 0) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		uint64_t from = l.valid_from_usec > arg_since_usec ? l.valid_from_usec :
								     arg_since_usec;
		uint64_t to = arg_until_usec_set && arg_until_usec < l.valid_until_usec ?
				      arg_until_usec :
				      l.valid_until_usec;
		uint64_t cpu_ns = 0, first = UINT64_MAX, last = 0;
		char f[FORMAT_TIMESTAMP_MAX], la[FORMAT_TIMESTAMP_MAX], span[FORMAT_SPAN_MAX];
		struct usage_row u;

		if (isempty(l.id) || to <= from)
			continue; /* rejected file, or no time left in the range */
		r = bus_call(bus, "GetUsageBetween", &reply, "tt", from, to);
		if (r < 0)
			return r;
		r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_USAGE);
		while (r >= 0 && (r = sd_bus_message_read(reply, HPCMETER_SIG_USAGE, &u.cgroup,
							  &u.job, &u.uid, &u.user, &u.cpu_ns,
							  &u.first_usec, &u.last_usec)) > 0) {
			cpu_ns += u.cpu_ns;
			first = u.first_usec < first ? u.first_usec : first;
			last = u.last_usec > last ? u.last_usec : last;
		}
		if (r < 0)
			return log_parse_error("GetUsageBetween", r);
		if (arg_json) {
			struct json_object *o = json_object_new_object();

			r = json_append(array, o);
			if (r >= 0)
				r = json_add_string(o, "license", l.id);
			if (r >= 0)
				r = json_add_string(o, "state", l.state);
			if (r >= 0)
				r = json_add_uint(o, "cpu_ns", cpu_ns);
			if (r >= 0)
				r = json_add_double(o, "cpu_seconds",
						    (double)cpu_ns / (double)NSEC_PER_SEC);
			if (r >= 0)
				r = json_add_uint(o, "first_usec", last ? first : 0);
			if (r >= 0)
				r = json_add_uint(o, "last_usec", last);
			if (r < 0)
				return log_oom();
			continue;
		}
		if (table_add(&t, "%s", l.id) < 0 || table_add(&t, "%s", l.state) < 0 ||
		    table_add(&t, "%s", format_span_ns(span, sizeof(span), cpu_ns)) < 0 ||
		    table_add(&t, "%s", last ? format_timestamp_local(f, first) : "-") < 0 ||
		    table_add(&t, "%s", last ? format_timestamp_local(la, last) : "-") < 0) {
			log_error("out of memory");
			return -ENOMEM;
		}
	}
	if (r < 0)
		return log_parse_error("ListLicenses", r);
	if (arg_json)
		return json_dump(stdout, array, arg_json);
	r = table_print(&t, "licences");
	if (r < 0)
		log_error("out of memory");
	return r;
}

/* ---- jobs: what the batch system announced ---- */

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

static int verb_jobs(sd_bus *bus, int argc, char **argv)
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
	r = table_print(&t, "jobs");
	if (r < 0)
		log_error("out of memory");
	return r;
}

/* job start|end [JOBID]: what a batch system's prolog and epilog run (root only). */
static int append_job_kv(sd_bus_message *m, const char *key, const char *value)
{
	if (streq(key, "uid")) {
		uint64_t uid;
		char *end;

		errno = 0;
		uid = strtoull(value, &end, 10);
		if (errno || *end || isempty(value) || uid >= UINT32_MAX)
			return usage_error("invalid uid '%s'", value);
		return sd_bus_message_append(m, "{sv}", key, "u", (uint32_t)uid);
	}
	return sd_bus_message_append(m, "{sv}", key, "s", value);
}

static const struct {
	const char *env, *key;
} slurm_env[] = {
	{ "SLURM_JOB_USER", "user" },	    { "SLURM_JOB_UID", "uid" },
	{ "SLURM_JOB_ACCOUNT", "account" }, { "SLURM_JOB_PARTITION", "partition" },
	{ "SLURM_JOB_WCKEY", "wckey" },	    { "SLURM_WCKEY", "wckey" },
	{ "SLURM_JOB_COMMENT", "comment" }, { "SLURM_JOB_GPUS", "gpus" },
	{ "SLURM_JOB_NODELIST", "nodes" },  { "SLURM_NODELIST", "nodes" },
};

static int verb_job(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *b = NULL;
	const char *id = argc > 2 ? argv[2] : NULL, *member;
	bool seen[ARRAY_SIZE(slurm_env)] = { false };
	int r;

	if (streq(argv[1], "start"))
		member = "JobStarted";
	else if (streq(argv[1], "end"))
		member = "JobEnded";
	else
		return usage_error("job: unknown action '%s' (expected start or end)", argv[1]);
	if (!id && arg_slurm_env)
		id = getenv("SLURM_JOB_ID");
	if (isempty(id))
		return usage_error("job %s: missing job id (give JOBID, or --slurm-env with "
				   "SLURM_JOB_ID set)",
				   argv[1]);
	if (!job_id_valid(id))
		return usage_error("job %s: invalid job id '%s' (expected decimal digits)", argv[1],
				   id);
	(void)bus; /* connected here, after the arguments are known to be good */
	r = bus_connect(&b);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_call(b, &msg, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					   hpcmeter_iface(member), member);
	if (r < 0 || (r = sd_bus_message_append(msg, "s", id)) < 0 ||
	    (r = sd_bus_message_open_container(msg, 'a', "{sv}")) < 0)
		goto fail;
	if (arg_slurm_env)
		for (size_t i = 0; i < ARRAY_SIZE(slurm_env); i++) {
			const char *v = getenv(slurm_env[i].env);
			bool dup = false;

			/* the first of two variables naming the same key wins */
			for (size_t k = 0; k < i; k++)
				dup |= seen[k] && streq(slurm_env[k].key, slurm_env[i].key);
			if (isempty(v) || dup)
				continue;
			seen[i] = true;
			r = append_job_kv(msg, slurm_env[i].key, v);
			if (r < 0)
				return r;
		}
	for (size_t i = 0; i < arg_n_set; i++) {
		char *eq = strchr(arg_set[i], '=');

		if (!eq || eq == arg_set[i])
			return usage_error("--set expects KEY=VALUE, got '%s'", arg_set[i]);
		*eq = '\0';
		r = append_job_kv(msg, arg_set[i], eq + 1);
		*eq = '=';
		if (r < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(msg)) < 0)
		goto fail;
	r = sd_bus_call(b, msg, 0, &error, &reply);
	if (r < 0) {
		log_bus_call_error(member, &error, r);
		return r;
	}
	if (arg_json) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		if (!o || json_add_string(o, "job", id) < 0 ||
		    json_add_string(o, "announced", argv[1]) < 0)
			return log_oom();
		return json_dump(stdout, o, arg_json);
	}
	return 0;
fail:
	log_error("cannot build the %s call: %s", member, strerror(-r));
	return r;
}

/* The daemon's view (tools/ctl-inventory.c), then the kernel module's (tools/ctl-module.c);
 * "inventory kernel": the module's alone, no daemon needed. */
static int verb_inventory(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *own = NULL;
	int r;

	(void)bus;
	if (argc == 2) {
		if (!streq(argv[1], "kernel"))
			return usage_error("inventory: unknown view '%s' (expected kernel)",
					   argv[1]);
		return ctl_module_inventory(stdout, arg_json, arg_legend, false);
	}
	r = bus_connect(&own);
	if (r < 0)
		return r;
	r = ctl_inventory(own, arg_json, arg_legend);
	if (r < 0 || arg_json)
		return r;
	if (arg_legend)
		printf("\nSeen by the hpcmeter kernel module:\n");
	return ctl_module_inventory(stdout, JSON_OFF, arg_legend, true);
}

/* ---- reload ---- */

/* ---- metering gaps and acknowledgements ---- */

static int parse_uint64(const char *s, uint64_t *ret);

static int verb_gaps(sd_bus *bus, int argc, char **argv)
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
	r = bus_call(bus, "ListGaps", &reply, "t", arg_since);
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
	r = table_print(&t, "metering gaps");
	if (r < 0)
		log_error("out of memory");
	return r;
}

static int verb_acknowledge(sd_bus *bus, int argc, char **argv)
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

static int verb_reload(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	(void)argc;

	r = bus_call(bus, "Reload", &reply, "");
	if (r < 0 || !arg_json)
		return r;
	/* --json: the licences as loaded now (as licenses --json), to see what the reload did */
	return verb_licenses(bus, 1, argv);
}

/* ---- license check: offline, no bus ---- */

/* One file's result: the licence l, or the error line error. */
static int license_check_json(struct json_object *a, const char *file, const struct license *l,
			      const char *error)
{
	struct json_object *o = json_object_new_object(), *warnings;
	char msg[LICENSE_ERROR_MAX + 512];
	int r = json_append(a, o);

	if (r >= 0)
		r = json_add_string(o, "file", file);
	if (r >= 0)
		r = json_add_bool(o, "ok", l != NULL);
	if (!l)
		return r >= 0 ? json_add_string(o, "error", error) : r;
	if (r >= 0)
		r = json_add_string(o, "id", l->id);
	if (r >= 0)
		r = json_add_string(o, "regime", l->regime ?: "");
	if (r >= 0)
		r = json_add_string(o, "authority", l->authority ?: "");
	/* same units as ListLicenses */
	if (r >= 0)
		r = json_add_uint(o, "valid_from_usec",
				  l->valid_from > 0 ? (uint64_t)l->valid_from * USEC_PER_SEC : 0);
	if (r >= 0)
		r = json_add_uint(o, "valid_until_usec",
				  l->valid_until > 0 ? (uint64_t)l->valid_until * USEC_PER_SEC : 0);
	if (r >= 0)
		r = json_add(o, "warnings", warnings = json_object_new_array());
	for (size_t w = 0; r >= 0 && w < l->n_warnings; w++) {
		ctl_license_format(&l->warnings[w], "warning", msg, sizeof(msg));
		r = json_append(warnings, json_new_string(msg));
	}
	return r;
}

static int verb_license(sd_bus *bus, int argc, char **argv)
{
	_cleanup_json_ struct json_object *array = NULL;
	bool failed = false;

	if (streq(argv[1], "explain")) {
		_cleanup_(sd_bus_flush_close_unrefp) sd_bus *b = NULL;
		int r;

		if (argc != 3)
			return usage_error("license explain: expected one licence ID");
		if (arg_since_set)
			return usage_error("--since does not apply to 'license explain'");
		r = bus_connect(&b);
		return r < 0 ? r : ctl_license_explain(b, argv[2], arg_json, arg_legend);
	}
	if (streq(argv[1], "simulate")) {
		int r;

		if (argc != 3)
			return usage_error("license simulate: expected one FILE");
		if (!arg_since_set)
			return usage_error("license simulate: --since DATE is required");
		struct tm tm = {};
		const char *end = strptime(arg_since_str, "%Y-%m-%d", &tm);

		if (!end || *end)
			return usage_error("license simulate: invalid date '%s' for --since "
					   "(expected YYYY-MM-DD)",
					   arg_since_str);
		r = ctl_license_simulate(argv[2], arg_since_str, arg_state_dir, arg_json);
		return r > 0 ? -EPERM : r;
	}
	(void)bus;

	if (!streq(argv[1], "check"))
		return usage_error(
			"unknown license command '%s' (expected check, explain or simulate)",
			argv[1]);
	if (arg_since_set)
		return usage_error("--since does not apply to 'license check'");
	if (argc < 3)
		return usage_error("license check: missing FILE argument");

	if (arg_json && !(array = json_object_new_array()))
		return log_oom();
	for (int i = 2; i < argc; i++) {
		_cleanup_(license_freep) struct license *l = NULL;
		struct license_error err = {};
		char from[FORMAT_TIMESTAMP_MAX], until[FORMAT_TIMESTAMP_MAX],
			msg[LICENSE_ERROR_MAX + 512];
		int r;

		r = license_parse_file(argv[i], &l, &err);
		if (r < 0) {
			failed = true;
			if (!isempty(err.message))
				ctl_license_format(&err, "error", msg, sizeof(msg));
			else
				snprintf(msg, sizeof(msg), "%s: error: %s", argv[i], strerror(-r));
			fprintf(stderr, "%s\n", msg);
			fflush(stderr);
			if (arg_json && license_check_json(array, argv[i], NULL, msg) < 0)
				return log_oom();
			continue;
		}

		format_date_utc(from, l->valid_from);
		format_date_utc(until, l->valid_until);
		for (size_t w = 0; w < l->n_warnings; w++) {
			ctl_license_format(&l->warnings[w], "warning", msg, sizeof(msg));
			fprintf(stderr, "%s\n", msg);
		}
		if (arg_json) {
			if (license_check_json(array, argv[i], l, NULL) < 0)
				return log_oom();
		} else {
			printf("%s: ok (id %s, valid %s..%s)\n", argv[i], l->id, from, until);
			/* keep the order of results and errors when both go to one terminal */
			fflush(stdout);
		}
	}
	if (arg_json && json_dump(stdout, array, arg_json) < 0)
		return -EIO;
	return failed ? -EINVAL : 0;
}

/* ---- command line ---- */

static void help(void)
{
	printf("%s [OPTIONS...] COMMAND [ARGS...]\n"
	       "\n"
	       "Query and control hpcmeterd, the usage meter of an export-licensed HPC node.\n"
	       "\n"
	       "Commands:\n"
	       "  status                   Show the daemon's and the meters' state and the licences\n"
	       "  violations [--since SEQ] List recorded licence violations (sequence number > SEQ)\n"
	       "  usage [--since-usec USEC] [--until-usec USEC]\n"
	       "                           Show on-CPU and GPU usage per cgroup, job and user\n"
	       "  usage --by job|user|account|license\n"
	       "                           Totals per job, user or account (accounts come from\n"
	       "                           the jobs announced by the batch system), or per\n"
	       "                           licence over its validity\n"
	       "  jobs [--since-usec USEC] List jobs announced by the batch system: running, or\n"
	       "                           ended after USEC\n"
	       "  job start|end [JOBID] [--slurm-env] [--set KEY=VALUE]...\n"
	       "                           Announce a job's start or end on this node (root only;\n"
	       "                           what the Slurm prolog and epilog run). --slurm-env\n"
	       "                           reads SLURM_JOB_ID, _USER, _UID, _ACCOUNT, _PARTITION,\n"
	       "                           _COMMENT, _GPUS, _NODELIST and SLURM_JOB_WCKEY; --set\n"
	       "                           sets a key: user, uid, account, partition, wckey,\n"
	       "                           comment, gpus, nodes, scheduler\n"
	       "  inventory [kernel]       Show the accelerators, their TPP/APP, and the GPU\n"
	       "                           meter's mode, runtime libraries and probes, then what\n"
	       "                           the hpcmeter kernel module sees; \"kernel\": only that\n"
	       "  licenses                 List the licence files and their state\n"
	       "  license check FILE...    Validate licence files offline (no daemon needed);\n"
	       "                           errors as FILE:LINE:COL: error: FIELD: MESSAGE\n"
	       "  license explain ID       Each term of a loaded licence in plain words, and its\n"
	       "                           standing now\n"
	       "  license simulate FILE --since DATE\n"
	       "                           Evaluate a draft licence against the recorded ledger\n"
	       "                           (read-only, offline; exit 1 if it would be violated)\n"
	       "  reload                   Make hpcmeterd re-read its licence directory (root only)\n"
	       "  monitor [--since SEQ]    Print violations as they are raised, until interrupted\n"
	       "  gaps [--since ID]        List metering gaps (id > ID) with their worst-case bound\n"
	       "  acknowledge SEQ NOTE     Record that violation SEQ was seen, with a note, in the\n"
	       "                           ledger (root only)\n"
	       "  metrics                  Print hpcmeterd's metrics (OpenMetrics text format;\n"
	       "                           --json: an array of samples)\n"
	       "  ledger verify            Walk the ledger's hash chain; name the first broken record\n"
	       "  report --license ID --from DATE --to DATE [--format json|csv|table] [--output FILE]\n"
	       "                           A signed usage report for a licence, from the ledger\n"
	       "  report verify FILE...    Check reports' signatures offline (public key only)\n"
	       "  report public-key        Print the node's public report key\n"
	       "                           (ledger, report: --state-dir DIR, default /var/lib/hpcmeter;\n"
	       "                           see 'hpcmeterctl report --help')\n"
	       "  help                     Show this help ('COMMAND --help': one command's)\n"
	       "\n"
	       "Options:\n"
	       "  -h --help                Show this help\n"
	       "     --version             Show the package version\n"
	       "     --json[=MODE]         Print JSON (every command): short (one document per line)\n"
	       "                           or pretty; without MODE, pretty on a terminal, short\n"
	       "                           otherwise; off: tables again\n"
	       "     --no-legend           Do not print the header and the legend of tables\n"
	       "     --no-pager            Do not pipe the output into a pager (on a terminal,\n"
	       "                           long output goes through $HPCMETER_PAGER, $PAGER or less)\n"
	       "     --address=ADDRESS     Connect to the bus at ADDRESS, not to the system bus\n"
	       "     --since=SEQ           violations, monitor: start after sequence number SEQ;\n"
	       "                           gaps: after gap id SEQ\n"
	       "     --since=DATE          license simulate: usage from DATE (YYYY-MM-DD, UTC)\n"
	       "     --state-dir=DIR       license simulate: hpcmeterd's state directory\n"
	       "                           (default /var/lib/hpcmeter)\n"
	       "     --since-usec=USEC     usage: only intervals ending after USEC (CLOCK_REALTIME us);\n"
	       "                           jobs: jobs running or ended after USEC\n"
	       "     --until-usec=USEC     usage: only intervals that start before USEC\n"
	       "     --job=ID, --user=NAME, --account=NAME, --license=ID\n"
	       "                           usage: only the rows of that job, user, account (of\n"
	       "                           the announced jobs) or licence's validity (CPU only)\n"
	       "     --by=job|user|account|license\n"
	       "                           usage: totals per job, user, account or licence\n"
	       "     --slurm-env           job: take the job from Slurm's prolog/epilog environment\n"
	       "     --set=KEY=VALUE       job: set one key of the announcement (repeatable)\n"
	       "\n"
	       "Environment:\n"
	       "  DBUS_SYSTEM_BUS_ADDRESS  Address of the system bus\n"
	       "                           (default unix:path=/run/dbus/system_bus_socket)\n"
	       "  HPCMETER_PAGER, PAGER    Pager on a terminal (empty or cat: none)\n"
	       "  NO_COLOR                 No colour in tables (colour only on a terminal anyway)\n"
	       "\n"
	       "Tables show durations in human units (\"1h 2min 3.5s\") and sizes in IEC units\n"
	       "(\"1.5 GiB\"); JSON carries the raw numbers (nanoseconds, bytes, microseconds).\n",
	       PROGRAM);
	ctl_help_exit_status(stdout);
	printf("\nSee '" PROGRAM " COMMAND --help' and hpcmeterctl(1) for details.\n");
}

static int verb_help(sd_bus *bus, int argc, char **argv)
{
	(void)bus;
	(void)argc;
	(void)argv;

	help();
	return 0;
}

enum verb_flags {
	VERB_BUS = 1 << 0, /* needs a bus connection */
	VERB_SINCE = 1 << 1, /* takes --since */
	VERB_SINCE_USEC = 1 << 2, /* takes --since-usec */
	VERB_BY = 1 << 3, /* takes --by */
	VERB_JOB = 1 << 4, /* takes --slurm-env and --set */
	VERB_PAGER = 1 << 5, /* output may be long: through the pager on a terminal */
};

static const struct verb {
	const char *name;
	int min_args, max_args; /* including the verb itself; -1: no limit */
	unsigned flags;
	int (*dispatch)(sd_bus *bus, int argc, char **argv);
} verbs[] = {
	{ "status", 1, 1, VERB_BUS | VERB_PAGER, verb_status },
	{ "violations", 1, 1, VERB_BUS | VERB_SINCE | VERB_PAGER, verb_violations },
	{ "usage", 1, 1, VERB_BUS | VERB_SINCE_USEC | VERB_BY | VERB_PAGER, verb_usage },
	{ "jobs", 1, 1, VERB_BUS | VERB_SINCE_USEC | VERB_PAGER, verb_jobs },
	{ "job", 2, 3, VERB_JOB, verb_job },
	{ "licenses", 1, 1, VERB_BUS | VERB_PAGER, verb_licenses },
	{ "inventory", 1, 2, VERB_PAGER, verb_inventory },
	{ "license", 2, -1, 0, verb_license },
	{ "reload", 1, 1, VERB_BUS, verb_reload },
	{ "monitor", 1, 1, VERB_BUS | VERB_SINCE, verb_monitor },
	{ "gaps", 1, 1, VERB_BUS | VERB_SINCE | VERB_PAGER, verb_gaps },
	{ "acknowledge", 3, 3, VERB_BUS, verb_acknowledge },
	{ "help", 1, 1, 0, verb_help },
};

static int parse_uint64(const char *s, uint64_t *ret)
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

enum {
	ARG_VERSION = 0x100,
	ARG_JSON,
	ARG_NO_LEGEND,
	ARG_NO_PAGER,
	ARG_ADDRESS,
	ARG_SINCE,
	ARG_SINCE_USEC,
	ARG_UNTIL_USEC,
	ARG_FILTER_JOB,
	ARG_FILTER_USER,
	ARG_FILTER_ACCOUNT,
	ARG_FILTER_LICENSE,
	ARG_BY,
	ARG_SLURM_ENV,
	ARG_SET,
	ARG_STATE_DIR,
};

/* Returns 1 to go on, 0 to exit successfully, negative on a usage error. */
static int parse_argv(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", optional_argument, NULL, ARG_JSON },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "no-pager", no_argument, NULL, ARG_NO_PAGER },
		{ "address", required_argument, NULL, ARG_ADDRESS },
		{ "since", required_argument, NULL, ARG_SINCE },
		{ "since-usec", required_argument, NULL, ARG_SINCE_USEC },
		{ "until-usec", required_argument, NULL, ARG_UNTIL_USEC },
		{ "job", required_argument, NULL, ARG_FILTER_JOB },
		{ "user", required_argument, NULL, ARG_FILTER_USER },
		{ "account", required_argument, NULL, ARG_FILTER_ACCOUNT },
		{ "license", required_argument, NULL, ARG_FILTER_LICENSE },
		{ "by", required_argument, NULL, ARG_BY },
		{ "slurm-env", no_argument, NULL, ARG_SLURM_ENV },
		{ "set", required_argument, NULL, ARG_SET },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{}
	};
	bool want_help = false;
	int c;

	/* options may come before or after the command: getopt permutes */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			want_help = true;
			break;
		case ARG_VERSION:
			printf(PROGRAM " " HPCMETER_VERSION "\n");
			return 0;
		case ARG_JSON:
			/* pretty for a person at a terminal, one line per document otherwise */
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &arg_json) < 0)
				return usage_error(
					"unknown JSON mode '%s' (expected short, pretty or off)",
					optarg);
			break;
		case ARG_NO_PAGER:
			arg_no_pager = true;
			break;
		case ARG_NO_LEGEND:
			arg_legend = false;
			break;
		case ARG_ADDRESS:
			if (isempty(optarg))
				return usage_error("--address needs a bus address");
			arg_address = optarg;
			break;
		case ARG_SINCE:
			/* A sequence number, or a date for license simulate: judged by the verb. */
			arg_since_bad = parse_uint64(optarg, &arg_since) < 0;
			arg_since_str = optarg;
			arg_since_set = true;
			break;
		case ARG_STATE_DIR:
			if (isempty(optarg))
				return usage_error("--state-dir needs a directory");
			arg_state_dir = optarg;
			break;
		case ARG_SINCE_USEC:
			if (parse_uint64(optarg, &arg_since_usec) < 0)
				return usage_error(
					"invalid time for --since-usec: '%s' (microseconds since the epoch)",
					optarg);
			arg_since_usec_set = true;
			break;
		case ARG_FILTER_JOB:
		case ARG_FILTER_USER:
		case ARG_FILTER_ACCOUNT:
		case ARG_FILTER_LICENSE:
			if (isempty(optarg))
				return usage_error("%s needs a value", argv[optind - 1]);
			*(c == ARG_FILTER_JOB	  ? &arg_filter_job :
			  c == ARG_FILTER_USER	  ? &arg_filter_user :
			  c == ARG_FILTER_ACCOUNT ? &arg_filter_account :
						    &arg_filter_license) = optarg;
			break;
		case ARG_UNTIL_USEC:
			if (parse_uint64(optarg, &arg_until_usec) < 0 || arg_until_usec == 0)
				return usage_error(
					"invalid time for --until-usec: '%s' (microseconds since the epoch)",
					optarg);
			arg_until_usec_set = true;
			break;
		case ARG_BY:
			if (!streq(optarg, "job") && !streq(optarg, "user") &&
			    !streq(optarg, "account") && !streq(optarg, "license"))
				return usage_error(
					"invalid --by '%s' (expected job, user, account or license)",
					optarg);
			arg_by = optarg;
			break;
		case ARG_SLURM_ENV:
			arg_slurm_env = true;
			break;
		case ARG_SET: {
			char **n = realloc(arg_set, (arg_n_set + 1) * sizeof(*n));

			if (!n)
				return usage_error("out of memory");
			arg_set = n;
			arg_set[arg_n_set++] = optarg;
			break;
		}
		case '?':
			if (optopt && optopt < 0x100 && argv[optind - 1][1] != '-')
				return usage_error("invalid option -- '%c'", optopt);
			if (optopt && strchr(argv[optind - 1], '='))
				return usage_error("option '%s' does not take an argument",
						   argv[optind - 1]);
			if (optopt)
				return usage_error("option '%s' requires an argument",
						   argv[optind - 1]);
			return usage_error("unrecognized option '%s'", argv[optind - 1]);
		default:
			return usage_error("cannot parse the options");
		}
	}
	if (want_help) {
		/* COMMAND --help: that command's own; --help alone: the summary */
		if (optind >= argc || !ctl_verb_help(argv[optind]))
			help();
		return 0;
	}
	return 1;
}

static int dispatch_verb(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	const struct verb *verb = NULL;
	int r;

	if (argc < 1)
		return usage_error("missing command");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (streq(verbs[i].name, argv[0])) {
			verb = &verbs[i];
			break;
		}
	if (!verb && ctl_ext_handles(argv[0]))
		return usage_error("'%s' comes first and takes its options after it, e.g. "
				   "'" PROGRAM " %s --help'",
				   argv[0], argv[0]);
	if (!verb)
		return usage_error("unknown command '%s'", argv[0]);
	if (argc < verb->min_args)
		return usage_error("%s: missing argument", verb->name);
	if (verb->max_args >= 0 && argc > verb->max_args)
		return usage_error("%s: too many arguments", verb->name);
	if (arg_since_set && !(verb->flags & VERB_SINCE) && !streq(verb->name, "license"))
		return usage_error("--since does not apply to '%s'", verb->name);
	if (arg_since_set && arg_since_bad && (verb->flags & VERB_SINCE))
		return usage_error("invalid sequence number for --since: '%s'", arg_since_str);
	if (arg_since_usec_set && !(verb->flags & VERB_SINCE_USEC))
		return usage_error("--since-usec does not apply to '%s'", verb->name);
	if (arg_until_usec_set && !(verb->flags & VERB_BY))
		return usage_error("--until-usec does not apply to '%s'", verb->name);
	if (arg_until_usec_set && arg_until_usec <= arg_since_usec)
		return usage_error("--until-usec must be after --since-usec");
	if (usage_filtered() && !(verb->flags & VERB_BY))
		return usage_error("--job, --user, --account and --license apply to 'usage' only");
	if (usage_filtered() && arg_by && streq(arg_by, "license"))
		return usage_error("--by license sums per licence: it takes no filter");
	if (arg_by && !(verb->flags & VERB_BY))
		return usage_error("--by does not apply to '%s'", verb->name);
	if ((arg_slurm_env || arg_n_set) && !(verb->flags & VERB_JOB))
		return usage_error("--slurm-env and --set apply to 'job' only");

	if (verb->flags & VERB_BUS) {
		r = bus_connect(&bus);
		if (r < 0)
			return r;
	}
	if (verb->flags & VERB_PAGER)
		pager_open(arg_no_pager);
	return verb->dispatch(bus, argc, argv);
}

int main(int argc, char **argv)
{
	int r;

	/* ledger, report and metrics take options of their own: they come first. */
	if (argc > 1 && ctl_ext_handles(argv[1]))
		return ctl_ext_main(argc - 1, argv + 1);
	r = parse_argv(argc, argv);
	if (r < 0)
		return EXIT_USAGE;
	if (r == 0)
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;

	color_init(); /* before a pager takes standard output */
	r = dispatch_verb(argc - optind, argv + optind);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output: %s", strerror(errno ?: EIO));
		pager_close();
		return EXIT_FAILURE;
	}
	pager_close();
	if (usage_error_seen)
		return EXIT_USAGE;
	return r < 0 ? ctl_exit_status : EXIT_SUCCESS;
}
