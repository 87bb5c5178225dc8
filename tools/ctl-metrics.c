// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl metrics: hpcmeterd's metrics (GetMetrics) in the OpenMetrics text format, or as
 * JSON samples. Comes first on the command line and takes its own options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "util.h"

/* One OpenMetrics sample line, NAME[{L="V",...}] VALUE [TIMESTAMP], appended to samples as
 * {"name":..,"labels":{..},"value":..}. Label values are unescaped (\" \\ \n) into the JSON
 * string. Returns -EBADMSG for a line it cannot read. */
static int metrics_sample_json(struct json_object *samples, const char *line)
{
	_cleanup_free_ char *name = NULL;
	struct json_object *o = NULL, *labels = NULL;
	const char *p = line, *v;
	char *end;
	double value;
	int r;

	while (*p && *p != '{' && *p != ' ')
		p++;
	if (p == line)
		return -EBADMSG;
	name = strndup(line, (size_t)(p - line));
	o = json_object_new_object();
	r = json_append(samples, o);
	if (r >= 0)
		r = json_add(o, "name", name ? json_new_string(name) : NULL);
	if (r >= 0)
		r = json_add(o, "labels", labels = json_object_new_object());
	if (r < 0)
		return r;
	if (*p == '{') {
		p++;
		while (*p && *p != '}') {
			_cleanup_free_ char *key = NULL, *val = NULL;
			const char *k = p;
			size_t n = 0;

			while (*p && *p != '=')
				p++;
			if (*p != '=' || p[1] != '"')
				return -EBADMSG;
			key = strndup(k, (size_t)(p - k));
			val = malloc(strlen(p) + 1); /* unescaping only shortens */
			if (!key || !val)
				return -ENOMEM;
			for (p += 2; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1]) {
					p++;
					val[n++] = *p == 'n' ? '\n' : *p;
				} else
					val[n++] = *p;
			}
			if (*p != '"')
				return -EBADMSG;
			val[n] = '\0';
			r = json_add_string(labels, key, val);
			if (r < 0)
				return r;
			p++;
			if (*p == ',')
				p++;
		}
		if (*p != '}')
			return -EBADMSG;
		p++;
	}
	while (*p == ' ')
		p++;
	v = p;
	value = strtod(v, &end);
	if (end == v)
		return -EBADMSG;
	return json_add_double(o, "value", value); /* NaN and infinities: null */
}

static void help_metrics(void)
{
	printf("Usage: hpcmeterctl metrics [--json[=MODE] | -o json] [--address=ADDRESS]\n\n"
	       "Print hpcmeterd's metrics in the OpenMetrics text format (GetMetrics): the build,\n"
	       "CPU and GPU seconds per job (label hpc_job) and user, violations, gaps, probe\n"
	       "drops, meter and ledger state, licences' validity, caps' usage ratios. With\n"
	       "--json, an array of samples {\"name\", \"labels\": {...}, \"value\"}\n"
	       "(short: one line; pretty: one sample per line; without MODE, pretty on a\n"
	       "terminal; -o json says the same as --json). --address=ADDRESS: the bus at\n"
	       "ADDRESS, not the system bus.\n\n"
	       "Example:\n"
	       "  hpcmeterctl metrics --json | jq '.[] | select(.name == \"hpcmeter_violations_total\")'\n");
	ctl_help_exit_status(stdout);
}

int verb_metrics(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *own = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_json_ struct json_object *samples = NULL;
	enum json_mode json = JSON_OFF;
	const char *text;
	int r;

	(void)bus; /* connected here, after the options */
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			help_metrics();
			return 0;
		}
		if (streq(argv[i], "--json") || strncmp(argv[i], "--json=", 7) == 0) {
			if (json_mode_from_arg(argv[i][6] ? argv[i] + 7 : NULL, STDOUT_FILENO,
					       &json) == 0)
				continue;
		}
		/* -o json as everywhere: -o FORMAT, -oFORMAT, --output FORMAT, --output=FORMAT */
		if (streq(argv[i], "-o") || streq(argv[i], "--output") ||
		    (strncmp(argv[i], "-o", 2) == 0 && argv[i][2]) ||
		    strncmp(argv[i], "--output=", 9) == 0) {
			const char *v = argv[i][1] == 'o' ? argv[i] + 2 : strchr(argv[i], '=');

			if (v && *v == '=')
				v++;
			if (!v || !*v)
				v = i + 1 < argc ? argv[++i] : NULL;
			if (!v)
				return ctl_fail(CTL_EXIT_USAGE,
						usage_error("metrics: -o needs table or json"));
			if (parse_output_no_table("metrics", v, &json) < 0)
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			continue;
		}
		if (strncmp(argv[i], "--address=", 10) == 0 && argv[i][10]) {
			arg_address = argv[i] + 10;
			continue;
		}
		fprintf(stderr,
			"hpcmeterctl: metrics: unexpected argument '%s'\n"
			"Try 'hpcmeterctl metrics --help'.\n",
			argv[i]);
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	r = bus_connect(&own);
	if (r < 0)
		return r;
	r = bus_call(own, "GetMetrics", &reply, "");
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "s", &text);
	if (r < 0)
		return log_parse_error("GetMetrics", r);
	if (!json) {
		fputs(text, stdout);
		return 0;
	}
	samples = json_object_new_array();
	if (!samples)
		return log_oom();
	for (const char *line = text; *line;) {
		const char *eol = strchrnul(line, '\n');
		_cleanup_(freep) char *l = strndup(line, (size_t)(eol - line));

		if (!l)
			return log_oom();
		if (*l && *l != '#') {
			r = metrics_sample_json(samples, l);
			if (r == -ENOMEM)
				return log_oom();
			if (r < 0) {
				log_error("cannot read the metrics line '%s'", l);
				return r;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return json_dump_rows(stdout, samples, json);
}
