/* SPDX-License-Identifier: GPL-2.0-only */
/* The threshold registry (data/thresholds.yaml) and the caps that refer to its entries. */
#include "license-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef HPCMETER_THRESHOLDS_FILE
#define HPCMETER_THRESHOLDS_FILE "/usr/local/share/hpcmeter/thresholds.yaml"
#endif

const char *threshold_registry_path(void)
{
	const char *e = secure_getenv("HPCMETER_THRESHOLDS");

	return e && *e ? e : HPCMETER_THRESHOLDS_FILE;
}

static const char *const threshold_status_names[] = {
	[THRESHOLD_IN_FORCE] = "in-force",
	[THRESHOLD_PROPOSED] = "proposed",
	[THRESHOLD_REVOKED] = "revoked",
};

const char *threshold_status_name(enum threshold_status s)
{
	return s < ARRAY_SIZE(threshold_status_names) ? threshold_status_names[s] : "?";
}

void threshold_registry_free(struct threshold_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_entries; i++) {
		struct threshold *t = &r->entries[i];

		free(t->id);
		free(t->regime);
		free(t->metric);
		free(t->source);
		free(t->note);
	}
	free(r->entries);
	free(r->file);
	free(r->version);
	free(r);
}

void threshold_registry_freep(struct threshold_registry **r)
{
	threshold_registry_free(*r);
}

const struct threshold *threshold_find(const struct threshold_registry *r, const char *id)
{
	for (size_t i = 0; r && i < r->n_entries; i++)
		if (streq(r->entries[i].id, id))
			return &r->entries[i];
	return NULL;
}

static int parse_threshold(struct license_error *err, const struct ynode *n, const char *field,
			   struct threshold *t)
{
	static const struct key_spec specs[] = {
		{ "id", true },	      { "regime", true }, { "metric", true },
		{ "value", true },    { "status", true }, { "effective", false },
		{ "expires", false }, { "source", true }, { "note", false },
	};
	const struct ynode *v[ARRAY_SIZE(specs)];
	char f[FIELD_SIZE];
	int st, r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	lic_field_join(f, field, "id");
	r = lic_parse_id(err, v[0], f, &t->id);
	if (r < 0)
		return r;
	lic_field_join(f, field, "regime");
	r = lic_dup_string(err, v[1], f, &t->regime);
	if (r < 0)
		return r;
	lic_field_join(f, field, "metric");
	r = lic_dup_string(err, v[2], f, &t->metric);
	if (r < 0)
		return r;
	lic_field_join(f, field, "value");
	r = lic_get_number(err, v[3], f, &t->value);
	if (r < 0)
		return r;
	if (t->value <= 0)
		return lic_error_node(err, v[3], f, "must be greater than 0");
	lic_field_join(f, field, "status");
	r = lic_get_enum(err, v[4], f, threshold_status_names, ARRAY_SIZE(threshold_status_names),
			 "status", &st);
	if (r < 0)
		return r;
	t->status = st;
	if (v[5]) {
		lic_field_join(f, field, "effective");
		r = lic_parse_date(err, v[5], f, &t->effective);
		if (r < 0)
			return r;
	}
	if (v[6]) {
		lic_field_join(f, field, "expires");
		r = lic_parse_date(err, v[6], f, &t->expires);
		if (r < 0)
			return r;
		if (v[5] && t->expires < t->effective)
			return lic_error_node(err, v[6], f, "expires before it is effective");
	}
	lic_field_join(f, field, "source");
	r = lic_dup_string(err, v[7], f, &t->source);
	if (r < 0)
		return r;
	lic_field_join(f, field, "note");
	return lic_parse_optional_string(err, v[8], f, &t->note);
}

int threshold_registry_load(const char *path, struct threshold_registry **ret,
			    struct license_error *err)
{
	static const struct key_spec root_specs[] = { { "thresholds", true } };
	static const struct key_spec specs[] = { { "version", true }, { "entries", true } };
	_cleanup_(freep) char *buf = NULL;
	_cleanup_(lic_ynode_freep) struct ynode *root = NULL;
	_cleanup_(threshold_registry_freep) struct threshold_registry *reg = NULL;
	const struct ynode *top, *v[2];
	char f[FIELD_SIZE];
	size_t size = 0;
	int r;

	lic_error_init(err, path);
	r = lic_read_file(AT_FDCWD, path, err, &buf, &size);
	if (r < 0)
		return r;
	r = lic_parse_yaml(buf, size, err, &root);
	if (r < 0)
		return r;
	reg = calloc(1, sizeof(*reg));
	if (!reg || !(reg->file = strdup(path)))
		return -ENOMEM;
	r = lic_check_mapping(err, root, "", root_specs, 1, &top);
	if (r < 0)
		return r;
	r = lic_check_mapping(err, top, "thresholds", specs, 2, v);
	if (r < 0)
		return r;
	r = lic_dup_string(err, v[0], "thresholds.version", &reg->version);
	if (r < 0)
		return r;
	r = lic_expect_type(err, v[1], "thresholds.entries", YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (v[1]->n_items) {
		reg->entries = calloc(v[1]->n_items, sizeof(*reg->entries));
		if (!reg->entries)
			return -ENOMEM;
	}
	for (size_t i = 0; i < v[1]->n_items; i++) {
		reg->n_entries = i + 1;
		lic_field_index(f, "thresholds.entries", i);
		r = parse_threshold(err, v[1]->items[i], f, &reg->entries[i]);
		if (r < 0)
			return r;
		if (threshold_find(reg, reg->entries[i].id) != &reg->entries[i])
			return lic_error_node(err, v[1]->items[i], f,
					      "duplicate threshold id \"%s\"", reg->entries[i].id);
	}
	*ret = TAKE_PTR(reg);
	return 0;
}

int lic_resolve_limit_ref(struct license_error *err, const struct ynode *n, const char *field,
			  const char *file, struct threshold_registry **registry, struct license *l,
			  struct license_cap *c)
{
	const struct threshold *t;
	struct license_error rerr;
	const char *id;
	char msg[LICENSE_ERROR_MAX];
	int r;

	r = lic_get_string(err, n, field, &id);
	if (r < 0)
		return r;
	if (!*registry) {
		r = threshold_registry_load(threshold_registry_path(), registry, &rerr);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			license_error_format(&rerr, msg, sizeof(msg));
			return lic_error_node(err, n, field,
					      "cannot read the threshold registry: %s", msg);
		}
	}
	t = threshold_find(*registry, id);
	if (!t)
		return lic_error_node(err, n, field,
				      "unknown threshold \"%." ECHO_MAX
				      "s\" (not in the registry %s)",
				      id, (*registry)->file);
	if (!streq(t->metric, c->metric))
		return lic_error_node(err, n, field,
				      "threshold \"%s\" is about %s, but the cap's metric is %s",
				      id, t->metric, c->metric);
	c->limit = t->value;
	c->limit_ref = strdup(id);
	if (!c->limit_ref)
		return -ENOMEM;
	if (t->status == THRESHOLD_REVOKED)
		return lic_add_warning(l, file, n, field,
				       "threshold \"%s\" is revoked (%s); the cap still applies as "
				       "written, check whether the licence still requires it",
				       id, t->source);
	if (t->status == THRESHOLD_PROPOSED)
		return lic_add_warning(l, file, n, field,
				       "threshold \"%s\" is only proposed, not in force (%s)", id,
				       t->source);
	return 0;
}
