/* SPDX-License-Identifier: GPL-2.0-only */
/* Caps: the names of metrics, scopes, periods (and declaration sources), and a licence's caps. */
#include "license-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const struct license_metric license_metrics[] = {
	{ "cpu_seconds", "s", "on-CPU time" },
	{ "gpu_seconds", "s", "time accelerators are held, times accelerators held" },
	{ "tpp_seconds", "TPP*s", "sum of device TPP times seconds held" },
	{ "ops_upper", "ops", "upper bound of operations: peak dense ops/s times seconds held" },
	{ "launches", "launches", "kernel launches" },
	{ "threads_launched", "threads", "threads launched (grid times block)" },
	{ "bytes_alloc", "bytes", "accelerator memory allocated" },
	{ "bytes_h2d", "bytes", "bytes copied from host to device" },
};
const size_t license_n_metrics = ARRAY_SIZE(license_metrics);

const struct license_metric *license_metric_find(const char *name)
{
	for (size_t i = 0; i < license_n_metrics; i++)
		if (streq(license_metrics[i].name, name))
			return &license_metrics[i];
	return NULL;
}

static const char *const scope_names[] = {
	[LICENSE_SCOPE_JOB] = "job",	     [LICENSE_SCOPE_USER] = "user",
	[LICENSE_SCOPE_ACCOUNT] = "account", [LICENSE_SCOPE_LICENSE] = "license",
	[LICENSE_SCOPE_PROJECT] = "project",
};
static const char *const period_names[] = {
	[LICENSE_PERIOD_RUN] = "run",
	[LICENSE_PERIOD_DAY] = "day",
	[LICENSE_PERIOD_CALENDAR_MONTH] = "calendar-month",
	[LICENSE_PERIOD_CALENDAR_YEAR] = "calendar-year",
	[LICENSE_PERIOD_VALIDITY] = "validity",
};
static const char *const decl_source_names[] = { "account", "wckey", "comment" };

void license_job_project(const char *wckey, const char *comment, char *buf, size_t size)
{
	size_t n;

	if (!size)
		return;
	buf[0] = '\0';
	if (wckey && wckey[0]) {
		snprintf(buf, size, "%s", wckey);
		return;
	}
	if (!comment || strncmp(comment, "project=", 8) != 0)
		return;
	comment += 8;
	n = strcspn(comment, " \t,");
	if (n >= size)
		n = size - 1;
	memcpy(buf, comment, n);
	buf[n] = '\0';
}

const char *license_scope_name(enum license_cap_scope s)
{
	return s < ARRAY_SIZE(scope_names) ? scope_names[s] : "?";
}

const char *license_period_name(enum license_cap_period p)
{
	return p < ARRAY_SIZE(period_names) ? period_names[p] : "?";
}

const char *license_declaration_source_name(enum license_declaration_source s)
{
	return s < ARRAY_SIZE(decl_source_names) ? decl_source_names[s] : "?";
}

int lic_parse_caps(struct license_error *err, const struct ynode *n, const char *field,
		   const char *file, struct license *l)
{
	static const struct key_spec specs[] = {
		{ "id", false },    { "metric", true },	    { "scope", true },	 { "period", true },
		{ "limit", false }, { "limit_ref", false }, { "action", false },
	};
	static const char *const actions[] = { "alert", "report" };
	_cleanup_(threshold_registry_freep) struct threshold_registry *registry = NULL;
	char item[FIELD_SIZE], f[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (n->n_items == 0)
		return 0;
	l->caps = calloc(n->n_items, sizeof(*l->caps));
	if (!l->caps)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		struct license_cap *c = &l->caps[i];
		const struct ynode *v[ARRAY_SIZE(specs)];
		const char *metric;
		int e;

		l->n_caps = i + 1;
		lic_field_index(item, field, i);
		r = lic_check_mapping(err, n->items[i], item, specs, ARRAY_SIZE(specs), v);
		if (r < 0)
			return r;
		c->line = n->items[i]->line;
		c->column = n->items[i]->column;
		if (v[0]) {
			lic_field_join(f, item, "id");
			r = lic_get_string(err, v[0], f, &metric);
			if (r < 0)
				return r;
			r = lic_check_code(err, v[0], f, metric);
			if (r < 0)
				return lic_error_node(err, v[0], f,
						      "invalid cap id \"%." ECHO_MAX
						      "s\": expected 1 to 64 characters of A-Z a-z "
						      "0-9 . _ : -",
						      metric);
			for (size_t j = 0; j < i; j++)
				if (streq(l->caps[j].id, metric))
					return lic_error_node(
						err, v[0], f,
						"duplicate cap id \"%s\" (also caps[%zu])", metric,
						j);
			c->id = strdup(metric);
		} else {
			r = asprintf(&c->id, "caps[%zu]", i);
			if (r < 0)
				c->id = NULL;
		}
		if (!c->id)
			return -ENOMEM;
		lic_field_join(f, item, "metric");
		r = lic_get_string(err, v[1], f, &metric);
		if (r < 0)
			return r;
		if (!license_metric_find(metric)) {
			char list[256] = "";
			size_t len = 0;

			for (size_t j = 0; j < license_n_metrics && len < sizeof(list); j++)
				len += snprintf(list + len, sizeof(list) - len, "%s%s",
						j ? ", " : "", license_metrics[j].name);
			return lic_error_node(err, v[1], f,
					      "unknown metric \"%." ECHO_MAX
					      "s\", expected one of: %s",
					      metric, list);
		}
		c->metric = strdup(metric);
		if (!c->metric)
			return -ENOMEM;
		lic_field_join(f, item, "scope");
		r = lic_get_enum(err, v[2], f, scope_names, ARRAY_SIZE(scope_names), "scope", &e);
		if (r < 0)
			return r;
		c->scope = e;
		lic_field_join(f, item, "period");
		r = lic_get_enum(err, v[3], f, period_names, ARRAY_SIZE(period_names), "period",
				 &e);
		if (r < 0)
			return r;
		c->period = e;
		if (c->period == LICENSE_PERIOD_RUN && c->scope != LICENSE_SCOPE_JOB)
			return lic_error_node(
				err, v[3], f,
				"period \"run\" is the life of one job: it needs scope "
				"job, not %s",
				scope_names[c->scope]);
		if (v[4] && v[5])
			return lic_error_node(err, v[5], item,
					      "give either limit or limit_ref, not both");
		if (!v[4] && !v[5]) {
			lic_field_join(f, item, "limit");
			return lic_error_node(err, n->items[i], f,
					      "missing required key \"limit\" (or \"limit_ref\")");
		}
		if (v[4]) {
			lic_field_join(f, item, "limit");
			r = lic_get_number(err, v[4], f, &c->limit);
			if (r < 0)
				return r;
			if (c->limit <= 0)
				return lic_error_node(err, v[4], f,
						      "limit must be greater than 0, got %s",
						      v[4]->value);
		} else {
			lic_field_join(f, item, "limit_ref");
			r = lic_resolve_limit_ref(err, v[5], f, file, &registry, l, c);
			if (r < 0)
				return r;
		}
		if (v[6]) {
			lic_field_join(f, item, "action");
			r = lic_get_enum(err, v[6], f, actions, ARRAY_SIZE(actions), "action", &e);
			if (r < 0)
				return r;
			c->action = e;
		}
	}
	return 0;
}
