// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl license check|explain|simulate: a licence file checked offline, a loaded licence's
 * terms as the daemon evaluates them (ExplainLicense), a draft against the recorded ledger. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-exit.h"
#include "ctl-format.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "evaluate.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "ledger-query.h"
#include "license.h"
#include "util.h"

static inline void license_freep(struct license **l)
{
	if (*l)
		license_free(*l);
}

/* "file:line:col: error: field: message" (or "warning") as compilers print them. */
static void license_format_error(const struct license_error *e, const char *severity, char *buf,
				 size_t size)
{
	char pos[32] = "";

	if (e->line)
		snprintf(pos, sizeof(pos), ":%u:%u", e->line, e->column);
	snprintf(buf, size, "%s%s: %s: %s%s%s", e->file, pos, severity, e->field,
		 e->field[0] ? ": " : "", e->message);
}

/* The terms of a licence, TERM STATE TEXT, as explain and simulate have always listed them:
 * indented, no header (the names are for --columns and CSV), the first two columns at least
 * 34 and 14 wide. */
static const char *const terms_headers[] = { "TERM", "STATE", "TEXT" };
static const bool terms_right[] = { false, false, false };
static const size_t terms_width[] = { 34, 14, 0 };
#define TERMS_TABLE                                                                   \
	{                                                                             \
		.n_columns = 3, .headers = terms_headers, .right_align = terms_right, \
		.min_width = terms_width, .separator = " ", .indent = "  "            \
	}

/* Appends {"term","state","text"} to a. */
static int term_json(struct json_object *a, const char *term, const char *state, const char *text)
{
	struct json_object *o = json_object_new_object();
	int r = json_append(a, o);

	if (r >= 0)
		r = json_add_string(o, "term", term);
	if (r >= 0)
		r = json_add_string(o, "state", state);
	if (r >= 0)
		r = json_add_string(o, "text", text);
	return r;
}

/* Is a licence with this id loaded (ListLicenses)? On doubt, yes. */
static bool license_loaded(sd_bus *bus, const char *id)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *file, *lid, *state, *error;
	uint64_t from, until;
	int r;

	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("ListLicenses"), "ListLicenses", NULL, &reply, "");
	if (r < 0 || sd_bus_message_enter_container(reply, 'a', HPCMETER_SIG_LICENSE) < 0)
		return true;
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_LICENSE, &file, &lid, &state, &error,
					&from, &until)) > 0)
		if (streq(lid, id))
			return true;
	return r < 0;
}

/* legend: the heading line before the terms; pretty JSON is one term per line */
static int license_explain(sd_bus *bus, const char *id, enum json_mode json, bool legend)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_json_ struct json_object *terms = NULL;
	_cleanup_(table_done) struct table t = TERMS_TABLE;
	const char *term, *state, *text;
	int r;

	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("ExplainLicense"), "ExplainLicense", &error, &reply,
			       "s", id);
	if (r < 0) {
		fprintf(stderr, "hpcmeterctl: license explain %s: %s\n", id,
			error.message ? error.message : strerror(-r));
		if (ctl_exit_from_bus_error(&error, r) == CTL_EXIT_FAILURE &&
		    sd_bus_error_has_name(&error, SD_BUS_ERROR_INVALID_ARGS) &&
		    !license_loaded(bus, id))
			ctl_exit_status = CTL_EXIT_UNKNOWN_ID;
		return r;
	}
	r = sd_bus_message_enter_container(reply, 'a', HPCMETER_SIG_TERM);
	if (r < 0)
		return r;
	if (json && !(terms = json_object_new_array()))
		return -ENOMEM;
	if (!json && legend && !arg_csv)
		printf("Licence %s, evaluated now by hpcmeterd:\n\n", id);
	while ((r = sd_bus_message_read(reply, HPCMETER_SIG_TERM, &term, &state, &text)) > 0) {
		if (json) {
			if (term_json(terms, term, state, text) < 0)
				return -ENOMEM;
		} else if (table_add(&t, "%s", term) < 0 || table_add(&t, "%s", state) < 0 ||
			   table_add(&t, "%s", text) < 0)
			return log_oom();
	}
	if (r < 0)
		return r;
	return json ? json_dump_rows(stdout, terms, json) : table_print(&t, false, NULL);
}

/* ---- simulate ---- */

struct sim {
	const struct license *l;
	struct eval_result res;
	uint64_t execs;
	int r;
};

static int sim_exec(uint64_t time_usec, uint32_t pid, uint32_t uid, const char *exe,
		    const char *cgroup, uint64_t count, void *userdata)
{
	struct sim *s = userdata;
	struct passwd *pw = getpwuid(uid);
	char job[32] = "", uidbuf[16];
	const char *groups[64];
	size_t n_groups = 0;
	struct eval_process p;

	/* The groups of the user as they are now: the ledger keeps the uid only. */
	if (pw) {
		gid_t gids[64];
		int ng = 64;

		if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &ng) >= 0)
			for (int i = 0; i < ng && n_groups < 64; i++) {
				struct group *g = getgrgid(gids[i]);

				if (g && (groups[n_groups] = strdup(g->gr_name)))
					n_groups++;
			}
	}
	snprintf(uidbuf, sizeof(uidbuf), "%u", uid);
	/* Slurm's cgroup layout: .../job_<id>/... */
	const char *j = strstr(cgroup, "/job_");
	if (j)
		snprintf(job, sizeof(job), "%.*s", (int)strspn(j + 5, "0123456789"), j + 5);
	p = (struct eval_process){
		.pid = pid,
		.uid = uid,
		.user = pw ? pw->pw_name : uidbuf,
		.groups = groups,
		.n_groups = n_groups,
		.exe = exe,
		.job = job,
		.exempt = uid < 1000,
	};
	(void)time_usec;
	s->execs += count;
	s->r = evaluate_process(s->l, &p, &s->res);
	for (size_t i = 0; i < n_groups; i++)
		free((char *)groups[i]);
	return s->r;
}

/* Evaluates the draft licence file against state_dir's ledger from since_usec on (since: as
 * the operator wrote it), read-only. Returns 0, or 1 when the draft would have been violated,
 * or -errno. */
static int license_simulate(const char *file, const char *since, uint64_t since_usec,
			    const char *state_dir, enum json_mode json)
{
	_cleanup_json_ struct json_object *doc = NULL;
	_cleanup_(table_done) struct table t = TERMS_TABLE;
	struct json_object *findings = NULL, *terms = NULL;
	_cleanup_free_ char *path = NULL;
	struct license_error err = {};
	struct license *l = NULL;
	struct sim s = {};
	sqlite3 *db = NULL;
	int64_t since_sec = (int64_t)(since_usec / USEC_PER_SEC);
	char msg[LICENSE_ERROR_MAX + 512];
	bool violated = false;
	int r;

	r = license_parse_file(file, &l, &err);
	if (r < 0) {
		license_format_error(&err, "error", msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
		return r;
	}
	if (asprintf(&path, "%s/ledger.sqlite", state_dir) < 0) {
		license_free(l);
		return -ENOMEM;
	}
	r = ledger_query_open_readonly(path, &db);
	if (r < 0) {
		fprintf(stderr, "hpcmeterctl: cannot open the ledger %s read-only: %s\n", path,
			strerror(-r));
		license_free(l);
		return r;
	}

	/* Process terms over every recorded exec since the date; node, hardware and caps as
	 * they stand now, with usage counted from the date on. */
	s.l = l;
	r = ledger_query_execs(db, since_usec, sim_exec, &s);
	if (r >= 0) {
		struct eval_input in = {
			.now = (int64_t)time(NULL),
			.hostname = "",
			.usage = ledger_query_usage,
			.usage_userdata = db,
		};
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		in.hostname = host;
		/* Usage before --since does not count: move the licence's start. */
		if (l->valid_from < since_sec)
			l->valid_from = since_sec;
		r = evaluate_license(l, &in, &s.res);
	}
	if (r < 0) {
		fprintf(stderr, "hpcmeterctl: license simulate: %s\n", strerror(-r));
		goto out;
	}

	/* One line per distinct finding. */
	if (json) {
		doc = json_object_new_object();
		if (!doc || json_add_string(doc, "license", l->id) < 0 ||
		    json_add_uint(doc, "execs", s.execs) < 0 ||
		    json_add(doc, "findings", findings = json_object_new_array()) < 0 ||
		    json_add(doc, "terms", terms = json_object_new_array()) < 0) {
			r = -ENOMEM;
			goto out;
		}
	} else {
		char ts[FORMAT_TIMESTAMP_MAX];

		printf("Simulating licence %s (%s) against %s since %s: %llu exec(s) recorded.\n\n",
		       l->id, file, path, since ?: format_timestamp_local(ts, since_usec),
		       (unsigned long long)s.execs);
	}
	bool first = true;
	for (size_t i = 0; i < s.res.n_findings; i++) {
		const struct eval_finding *f = &s.res.findings[i];
		bool dup = false;

		/* Once per condition; an approach is not shown beside its own violation. */
		for (size_t k = 0; k < s.res.n_findings && !dup; k++)
			dup = streq(s.res.findings[k].key, f->key) &&
			      ((k < i && s.res.findings[k].level == f->level) ||
			       (f->level && s.res.findings[k].level == 0));
		if (dup)
			continue;
		violated |= f->level == 0;
		if (json) {
			struct json_object *o = json_object_new_object();

			r = json_append(findings, o);
			if (r >= 0)
				r = json_add_string(o, "kind", f->kind);
			if (r >= 0)
				r = json_add_string(o, "term", f->term);
			if (r >= 0)
				r = json_add_uint(o, "level", f->level);
			if (r >= 0)
				r = json_add_uint(o, "pid", f->pid);
			if (r >= 0)
				r = json_add_string(o, "detail", f->detail);
			if (r < 0)
				goto out;
		} else if (f->level) {
			printf("  approaching %u %%  %s: %s\n", f->level, f->term, f->detail);
		} else {
			printf("  VIOLATION  %s: %s\n", f->kind, f->detail);
			if (f->pid)
				printf("             pid %u, uid %u\n", f->pid, f->uid);
		}
		first = false;
	}
	if (json) {
		for (size_t i = 0; i < s.res.n_terms; i++) {
			r = term_json(terms, s.res.terms[i].term,
				      eval_state_name(s.res.terms[i].state), s.res.terms[i].text);
			if (r < 0)
				goto out;
		}
		r = json_dump_rows(stdout, doc, json);
		if (r < 0)
			goto out;
	} else {
		if (first)
			printf("  no violation: the recorded usage complies with this draft\n");
		printf("\nTerms:\n");
		for (size_t i = 0; r >= 0 && i < s.res.n_terms; i++)
			if (table_add(&t, "%s", s.res.terms[i].term) < 0 ||
			    table_add(&t, "%s", eval_state_name(s.res.terms[i].state)) < 0 ||
			    table_add(&t, "%s", s.res.terms[i].text) < 0)
				r = log_oom();
		if (r >= 0)
			r = table_print(&t, false, NULL);
		if (r < 0)
			goto out;
	}
	r = violated ? 1 : 0;
out:
	eval_result_done(&s.res);
	sqlite3_close(db);
	license_free(l);
	return r;
}

/* ---- check: offline, no bus ---- */

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
		license_format_error(&l->warnings[w], "warning", msg, sizeof(msg));
		r = json_append(warnings, json_new_string(msg));
	}
	return r;
}

int verb_license(sd_bus *bus, int argc, char **argv)
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
		const struct table terms = TERMS_TABLE;

		r = table_check_columns_of("license explain", &terms);
		if (r < 0)
			return r;
		r = bus_connect(&b);
		return r < 0 ? r : license_explain(b, argv[2], arg_json, arg_legend);
	}
	if (streq(argv[1], "simulate")) {
		int r;

		if (argc != 3)
			return usage_error("license simulate: expected one FILE");
		if (arg_csv || arg_columns)
			return usage_error(
				"license simulate: %s applies to tables (license explain)",
				arg_csv ? "-o csv" : "--columns");
		if (!arg_since_set)
			return usage_error("license simulate: --since TIME is required");
		r = license_simulate(argv[2], arg_since_str, arg_since_usec, arg_state_dir,
				     arg_json);
		return r > 0 ? -EPERM : r;
	}
	(void)bus;

	if (!streq(argv[1], "check"))
		return usage_error(
			"unknown license command '%s' (expected check, explain or simulate)",
			argv[1]);
	if (arg_since_set)
		return usage_error("--since does not apply to 'license check'");
	if (arg_csv || arg_columns)
		return usage_error("license check: %s applies to tables (license explain)",
				   arg_csv ? "-o csv" : "--columns");
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
				license_format_error(&err, "error", msg, sizeof(msg));
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
			license_format_error(&l->warnings[w], "warning", msg, sizeof(msg));
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
