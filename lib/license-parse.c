/* SPDX-License-Identifier: GPL-2.0-only */
/* One licence document into struct license: each section of hpcmeter.license(5) but the caps. */
#include "license-internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define SECONDS_PER_DAY 86400

static int parse_regime(struct license_error *err, const struct ynode *n, const char *field,
			char **ret)
{
	static const char *const regimes[] = { "eu-2021-821", "ear", "national", "internal" };
	const char *s;
	int r;

	if (!n)
		return 0;
	r = lic_get_string(err, n, field, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(regimes) / sizeof(regimes[0]); i++)
		if (strcmp(s, regimes[i]) == 0) {
			*ret = strdup(s);
			return *ret ? 0 : -ENOMEM;
		}
	return lic_error_node(err, n, field,
			      "unknown regime \"%." ECHO_MAX
			      "s\", expected one of: eu-2021-821, ear, national, internal",
			      s);
}

static int parse_valid(struct license_error *err, const struct ynode *n, const char *field,
		       struct license *l)
{
	static const struct key_spec specs[] = { { "from", true }, { "until", true } };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char from_field[FIELD_SIZE], until_field[FIELD_SIZE];
	int64_t until_day;
	int r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	lic_field_join(from_field, field, "from");
	lic_field_join(until_field, field, "until");
	r = lic_parse_date(err, v[0], from_field, &l->valid_from);
	if (r < 0)
		return r;
	r = lic_parse_date(err, v[1], until_field, &until_day);
	if (r < 0)
		return r;
	if (until_day < l->valid_from)
		return lic_error_node(err, v[1], until_field, "until %s is before from %s",
				      v[1]->value, v[0]->value);
	/* Inclusive to the last second of the day; unix time has no leap seconds. */
	l->valid_until = until_day + SECONDS_PER_DAY - 1;
	return 0;
}

/* ---- parties ---- */

static int parse_parties(struct license_error *err, const struct ynode *n, const char *field,
			 struct license *l)
{
	static const struct key_spec specs[] = {
		{ "licensee", true },
		{ "ultimate_consignee", false },
		{ "end_users", false },
	};
	static const struct key_spec party_specs[] = { { "org", true }, { "country", true } };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE], item[FIELD_SIZE], f[FIELD_SIZE];
	int r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "licensee");
	r = lic_dup_string(err, v[0], sub, &l->parties.licensee);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "ultimate_consignee");
	r = lic_parse_optional_string(err, v[1], sub, &l->parties.ultimate_consignee);
	if (r < 0)
		return r;
	if (!v[2])
		return 0;
	lic_field_join(sub, field, "end_users");
	r = lic_expect_type(err, v[2], sub, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (v[2]->n_items == 0)
		return 0;
	l->parties.end_users = calloc(v[2]->n_items, sizeof(*l->parties.end_users));
	if (!l->parties.end_users)
		return -ENOMEM;
	for (size_t i = 0; i < v[2]->n_items; i++) {
		struct license_party *p = &l->parties.end_users[i];
		const struct ynode *pv[2];
		const char *country;

		l->parties.n_end_users = i + 1;
		lic_field_index(item, sub, i);
		r = lic_check_mapping(err, v[2]->items[i], item, party_specs, 2, pv);
		if (r < 0)
			return r;
		lic_field_join(f, item, "org");
		r = lic_dup_string(err, pv[0], f, &p->org);
		if (r < 0)
			return r;
		lic_field_join(f, item, "country");
		r = lic_get_string(err, pv[1], f, &country);
		if (r < 0)
			return r;
		r = lic_check_country(err, pv[1], f, country);
		if (r < 0)
			return r;
		p->country = strdup(country);
		if (!p->country)
			return -ENOMEM;
	}
	return 0;
}

/* ---- principals.remote_access ---- */

static int parse_networks(struct license_error *err, const struct ynode *n, const char *field,
			  struct license_remote_from *f)
{
	char item[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (n->n_items == 0)
		return lic_error_node(err, n, field, "at least one network is needed");
	/* Filled in place: on failure license_free() releases what is there. */
	f->networks = calloc(n->n_items, sizeof(*f->networks));
	if (!f->networks)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		struct license_network *net = &f->networks[i];
		const char *s, *why;

		lic_field_index(item, field, i);
		r = lic_get_string(err, n->items[i], item, &s);
		if (r < 0)
			return r;
		if (license_network_parse(s, net, &why) < 0)
			return lic_error_node(err, n->items[i], item,
					      "invalid network \"%." ECHO_MAX "s\": %s", s, why);
		net->text = strdup(s);
		if (!net->text)
			return -ENOMEM;
		f->n_networks = i + 1;
	}
	return 0;
}

/* from: [{ country: NO, networks: [CIDR, ...] }, ...] */
static int parse_remote_from(struct license_error *err, const struct ynode *n, const char *field,
			     struct license *l)
{
	static const struct key_spec specs[] = { { "country", true }, { "networks", true } };
	char item[FIELD_SIZE], sub[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	/* An empty list would read as "from nowhere": say allowed: false instead. */
	if (n->n_items == 0)
		return lic_error_node(err, n, field,
				      "at least one entry is needed (for no remote access at "
				      "all, write allowed: false)");
	l->remote_access.from = calloc(n->n_items, sizeof(*l->remote_access.from));
	if (!l->remote_access.from)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		struct license_remote_from *f = &l->remote_access.from[i];
		const struct ynode *v[ARRAY_SIZE(specs)];
		const char *country;

		l->remote_access.n_from = i + 1;
		lic_field_index(item, field, i);
		r = lic_check_mapping(err, n->items[i], item, specs, ARRAY_SIZE(specs), v);
		if (r < 0)
			return r;
		lic_field_join(sub, item, "country");
		r = lic_get_string(err, v[0], sub, &country);
		if (r < 0)
			return r;
		r = lic_check_country(err, v[0], sub, country);
		if (r < 0)
			return r;
		memcpy(f->country, country, 3);
		lic_field_join(sub, item, "networks");
		r = parse_networks(err, v[1], sub, f);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_remote_access(struct license_error *err, const struct ynode *n, const char *field,
			       struct license *l)
{
	static const struct key_spec specs[] = {
		{ "allowed", true },
		{ "computational_access", false },
		{ "applications", false },
		{ "from", false },
	};
	static const char *const modes[] = { "full", "limited" };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	bool allowed;
	int mode = 0, r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "allowed");
	r = lic_get_bool(err, v[0], sub, &allowed);
	if (r < 0)
		return r;
	if (!allowed) {
		if (v[1] || v[2] || v[3])
			return lic_error_node(err,
					      v[1]	   ?:
						      v[2] ?:
							     v[3],
					      field,
					      "computational_access, applications and from need "
					      "allowed: true");
		l->remote_access.mode = LICENSE_REMOTE_NONE;
		return 0;
	}
	lic_field_join(sub, field, "computational_access");
	if (!v[1])
		return lic_error_node(
			err, n, sub,
			"missing required key \"computational_access\" (full or limited) "
			"when remote access is allowed");
	r = lic_get_enum(err, v[1], sub, modes, ARRAY_SIZE(modes), "computational access", &mode);
	if (r < 0)
		return r;
	if (v[3]) {
		lic_field_join(sub, field, "from");
		r = parse_remote_from(err, v[3], sub, l);
		if (r < 0)
			return r;
	}
	lic_field_join(sub, field, "applications");
	if (mode == 0) {
		if (v[2])
			return lic_error_node(err, v[2], sub,
					      "applications apply only to computational_access: "
					      "limited");
		l->remote_access.mode = LICENSE_REMOTE_FULL;
		return 0;
	}
	if (!v[2] || v[2]->type != YNODE_SEQUENCE || v[2]->n_items == 0) {
		if (v[2] && v[2]->type != YNODE_SEQUENCE)
			return lic_expect_type(err, v[2], sub, YNODE_SEQUENCE);
		return lic_error_node(
			err, v[2] ?: n, sub,
			"limited computational access needs at least one application");
	}
	l->remote_access.mode = LICENSE_REMOTE_LIMITED;
	return lic_parse_string_list(err, v[2], sub, lic_check_glob, &l->remote_access.applications,
				     &l->remote_access.n_applications);
}

/* ---- end_use.declarations ---- */

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i], s))
			return true;
	return false;
}

static int parse_declarations(struct license_error *err, const struct ynode *n, const char *field,
			      struct license *l)
{
	static const struct key_spec specs[] = {
		{ "from", true },
		{ "match", true },
		{ "end_use", true },
	};
	static const char *const sources[] = { "account", "wckey", "comment" };
	char item[FIELD_SIZE], f[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (n->n_items == 0)
		return 0;
	l->declarations = calloc(n->n_items, sizeof(*l->declarations));
	if (!l->declarations)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		struct license_declaration *d = &l->declarations[i];
		const struct ynode *v[ARRAY_SIZE(specs)];
		const char *code;
		int from;

		l->n_declarations = i + 1;
		lic_field_index(item, field, i);
		r = lic_check_mapping(err, n->items[i], item, specs, ARRAY_SIZE(specs), v);
		if (r < 0)
			return r;
		lic_field_join(f, item, "from");
		r = lic_get_enum(err, v[0], f, sources, ARRAY_SIZE(sources), "declaration source",
				 &from);
		if (r < 0)
			return r;
		d->from = from;
		lic_field_join(f, item, "match");
		r = lic_dup_string(err, v[1], f, &d->match);
		if (r < 0)
			return r;
		lic_field_join(f, item, "end_use");
		r = lic_get_string(err, v[2], f, &code);
		if (r < 0)
			return r;
		r = lic_check_code(err, v[2], f, code);
		if (r < 0)
			return r;
		/* A mapping to a code the licence never names is a typo or a stale licence. */
		if (!strv_has(l->permitted_end_uses, l->n_permitted_end_uses, code) &&
		    !strv_has(l->prohibited_end_uses, l->n_prohibited_end_uses, code))
			return lic_error_node(err, v[2], f,
					      "end use \"%." ECHO_MAX
					      "s\" is neither in end_use.permitted nor in "
					      "end_use.prohibited",
					      code);
		d->end_use = strdup(code);
		if (!d->end_use)
			return -ENOMEM;
	}
	return 0;
}

/* ---- destination ---- */

static int parse_destination(struct license_error *err, const struct ynode *n, const char *field,
			     struct license *l)
{
	static const struct key_spec specs[] = {
		{ "site", false },	{ "hostnames", false },	  { "machine_ids", false },
		{ "gpu_uuids", false }, { "pci_bus_ids", false },
	};
	static const struct key_spec site_specs[] = { { "country", true }, { "facility", false } };
	const struct ynode *v[ARRAY_SIZE(specs)], *sv[2];
	struct license_destination *d = &l->destination;
	char sub[FIELD_SIZE], f[FIELD_SIZE];
	int r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	d->declared = true;
	if (v[0]) {
		const char *country;

		lic_field_join(sub, field, "site");
		r = lic_check_mapping(err, v[0], sub, site_specs, 2, sv);
		if (r < 0)
			return r;
		lic_field_join(f, sub, "country");
		r = lic_get_string(err, sv[0], f, &country);
		if (r < 0)
			return r;
		r = lic_check_country(err, sv[0], f, country);
		if (r < 0)
			return r;
		d->site_country = strdup(country);
		if (!d->site_country)
			return -ENOMEM;
		lic_field_join(f, sub, "facility");
		r = lic_parse_optional_string(err, sv[1], f, &d->site_facility);
		if (r < 0)
			return r;
	}
	lic_field_join(sub, field, "hostnames");
	r = lic_parse_string_list(err, v[1], sub, lic_check_hostname, &d->hostnames,
				  &d->n_hostnames);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "machine_ids");
	r = lic_parse_string_list(err, v[2], sub, lic_check_machine_id, &d->machine_ids,
				  &d->n_machine_ids);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "gpu_uuids");
	r = lic_parse_string_list(err, v[3], sub, lic_check_gpu_uuid, &d->gpu_uuids,
				  &d->n_gpu_uuids);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "pci_bus_ids");
	return lic_parse_string_list(err, v[4], sub, lic_check_pci_bus_id, &d->pci_bus_ids,
				     &d->n_pci_bus_ids);
}

/* ---- hardware ---- */

static int parse_hardware(struct license_error *err, const struct ynode *n, const char *field,
			  struct license *l)
{
	static const struct key_spec specs[] = {
		{ "vendor", true }, { "model", true },	 { "count", true },
		{ "tpp", false },   { "app_wt", false }, { "entry", false },
	};
	static const char *const vendors[] = { "nvidia", "amd", "intel", "other" };
	char item[FIELD_SIZE], f[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	l->hardware_declared = true;
	if (n->n_items == 0)
		return 0;
	l->hardware = calloc(n->n_items, sizeof(*l->hardware));
	if (!l->hardware)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		struct license_hardware *h = &l->hardware[i];
		const struct ynode *v[ARRAY_SIZE(specs)];
		int vendor;

		l->n_hardware = i + 1;
		h->tpp = h->app_wt = -1;
		lic_field_index(item, field, i);
		r = lic_check_mapping(err, n->items[i], item, specs, ARRAY_SIZE(specs), v);
		if (r < 0)
			return r;
		lic_field_join(f, item, "vendor");
		r = lic_get_enum(err, v[0], f, vendors, ARRAY_SIZE(vendors), "vendor", &vendor);
		if (r < 0)
			return r;
		h->vendor = strdup(vendors[vendor]);
		if (!h->vendor)
			return -ENOMEM;
		lic_field_join(f, item, "model");
		r = lic_dup_string(err, v[1], f, &h->model);
		if (r < 0)
			return r;
		lic_field_join(f, item, "count");
		r = lic_get_uint(err, v[2], f, 1, 65536, &h->count);
		if (r < 0)
			return r;
		if (v[3]) {
			lic_field_join(f, item, "tpp");
			r = lic_get_number(err, v[3], f, &h->tpp);
			if (r < 0)
				return r;
			if (h->tpp < 0)
				return lic_error_node(err, v[3], f, "must not be negative");
		}
		if (v[4]) {
			lic_field_join(f, item, "app_wt");
			r = lic_get_number(err, v[4], f, &h->app_wt);
			if (r < 0)
				return r;
			if (h->app_wt < 0)
				return lic_error_node(err, v[4], f, "must not be negative");
		}
		lic_field_join(f, item, "entry");
		r = lic_parse_optional_string(err, v[5], f, &h->entry);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- reporting, records, measurement ---- */

static int parse_reporting(struct license_error *err, const struct ynode *n, const char *field,
			   struct license *l)
{
	static const struct key_spec specs[] = {
		{ "periodic", false },
		{ "recipient", false },
		{ "threshold_within_days", false },
	};
	static const char *const cadences[] = { "monthly", "quarterly", "yearly" };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int c, r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	if (v[0]) {
		lic_field_join(sub, field, "periodic");
		r = lic_get_enum(err, v[0], sub, cadences, ARRAY_SIZE(cadences), "cadence", &c);
		if (r < 0)
			return r;
		l->reporting.periodic = strdup(cadences[c]);
		if (!l->reporting.periodic)
			return -ENOMEM;
	}
	lic_field_join(sub, field, "recipient");
	r = lic_parse_optional_string(err, v[1], sub, &l->reporting.recipient);
	if (r < 0)
		return r;
	if (v[2]) {
		lic_field_join(sub, field, "threshold_within_days");
		r = lic_get_uint(err, v[2], sub, 1, 365, &l->reporting.threshold_within_days);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_records(struct license_error *err, const struct ynode *n, const char *field,
			 const char *file, struct license *l)
{
	static const struct key_spec specs[] = { { "retention_years", true } };
	const struct ynode *v[1];
	char sub[FIELD_SIZE];
	int r;

	r = lic_check_mapping(err, n, field, specs, 1, v);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "retention_years");
	r = lic_get_uint(err, v[0], sub, 1, 100, &l->retention_years);
	if (r < 0)
		return r;
	/* EU 2021/821 art. 27 and 15 CFR 762.6 both ask for five years. */
	if (l->retention_years < 5 && l->regime &&
	    (streq(l->regime, "eu-2021-821") || streq(l->regime, "ear")))
		return lic_error_node(err, v[0], sub,
				      "%u years is less than the 5 years that %s requires",
				      l->retention_years,
				      streq(l->regime, "ear") ?
					      "15 CFR 762.6" :
					      "Art. 27 of Regulation (EU) 2021/821");
	if (l->retention_years < 5)
		return lic_add_warning(l, file, v[0], sub,
				       "records kept %u years, less than the usual 5",
				       l->retention_years);
	return 0;
}

static int parse_measurement(struct license_error *err, const struct ynode *n, const char *field,
			     struct license *l)
{
	static const struct key_spec specs[] = {
		{ "gap_policy", false },
		{ "dual_meter_tolerance", false },
	};
	static const char *const policies[] = { "max-rate", "violation" };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int p, r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	if (v[0]) {
		lic_field_join(sub, field, "gap_policy");
		r = lic_get_enum(err, v[0], sub, policies, ARRAY_SIZE(policies), "gap policy", &p);
		if (r < 0)
			return r;
		l->gap_policy = p;
	}
	if (v[1]) {
		lic_field_join(sub, field, "dual_meter_tolerance");
		r = lic_get_number(err, v[1], sub, &l->dual_meter_tolerance);
		l->dual_meter_tolerance_given = r == 0;
		if (r < 0)
			return r;
		if (l->dual_meter_tolerance < 0 || l->dual_meter_tolerance >= 1)
			return lic_error_node(
				err, v[1], sub,
				"tolerance is a fraction from 0 up to (not including) 1, "
				"got %s",
				v[1]->value);
	}
	return 0;
}

static int parse_timezone(struct license_error *err, const struct ynode *n, const char *field,
			  struct license *l)
{
	char path[PATH_MAX];
	struct stat st;
	const char *s;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	/* An IANA name, looked up in the system's zoneinfo: a typo would shift every calendar
	 * period by hours. */
	if (strlen(s) > 64 || s[0] == '/' || strstr(s, "..") ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") !=
		    strlen(s))
		return lic_error_node(err, n, field, "invalid time zone \"%." ECHO_MAX "s\"", s);
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", s);
	/* A directory ("Europe") would pass for a zone and silently mean UTC. */
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return lic_error_node(err, n, field,
				      "unknown time zone \"%." ECHO_MAX
				      "s\" (no zone file %s; package tzdata)",
				      s, path);
	l->timezone = strdup(s);
	return l->timezone ? 0 : -ENOMEM;
}

static int parse_principals(struct license_error *err, const struct ynode *n, const char *field,
			    struct license *l)
{
	static const struct key_spec specs[] = {
		{ "users", false },
		{ "groups", false },
		{ "accounts", false },
		{ "remote_access", false },
	};
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	/* Present but empty restricts to nobody: the block's presence is the restriction. */
	l->principals_restricted = true;
	lic_field_join(sub, field, "users");
	r = lic_parse_string_list(err, v[0], sub, lic_check_name, &l->users, &l->n_users);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "groups");
	r = lic_parse_string_list(err, v[1], sub, lic_check_name, &l->groups, &l->n_groups);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "accounts");
	r = lic_parse_string_list(err, v[2], sub, lic_check_name, &l->accounts, &l->n_accounts);
	if (r < 0 || !v[3])
		return r;
	lic_field_join(sub, field, "remote_access");
	return parse_remote_access(err, v[3], sub, l);
}

static int parse_end_use(struct license_error *err, const struct ynode *n, const char *field,
			 struct license *l)
{
	static const struct key_spec specs[] = {
		{ "permitted", false },
		{ "prohibited_executables", false },
		{ "prohibited", false },
		{ "job_declaration_required", false },
		{ "declarations", false },
		{ "allowed_executables", false },
		{ "prohibited_executable_sha256", false },
	};
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int r;

	r = lic_check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "permitted");
	r = lic_parse_string_list(err, v[0], sub, lic_check_code, &l->permitted_end_uses,
				  &l->n_permitted_end_uses);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "prohibited_executables");
	r = lic_parse_string_list(err, v[1], sub, lic_check_glob, &l->prohibited_executables,
				  &l->n_prohibited_executables);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "prohibited");
	r = lic_parse_string_list(err, v[2], sub, lic_check_code, &l->prohibited_end_uses,
				  &l->n_prohibited_end_uses);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n_prohibited_end_uses; i++)
		if (strv_has(l->permitted_end_uses, l->n_permitted_end_uses,
			     l->prohibited_end_uses[i])) {
			char item[FIELD_SIZE];

			lic_field_index(item, sub, i);
			return lic_error_node(err, v[2]->items[i], item,
					      "end use \"%s\" is both permitted and prohibited",
					      l->prohibited_end_uses[i]);
		}
	if (v[3]) {
		lic_field_join(sub, field, "job_declaration_required");
		r = lic_get_bool(err, v[3], sub, &l->job_declaration_required);
		if (r < 0)
			return r;
	}
	if (v[4]) {
		lic_field_join(sub, field, "declarations");
		r = parse_declarations(err, v[4], sub, l);
		if (r < 0)
			return r;
	}
	if (l->job_declaration_required && l->n_declarations == 0)
		return lic_error_node(err, v[3], "license.end_use.declarations",
				      "job_declaration_required needs end_use.declarations: how a "
				      "job's account, wckey or comment maps to an end use");
	lic_field_join(sub, field, "allowed_executables");
	r = lic_parse_string_list(err, v[5], sub, lic_check_glob, &l->allowed_executables,
				  &l->n_allowed_executables);
	if (r < 0)
		return r;
	lic_field_join(sub, field, "prohibited_executable_sha256");
	r = lic_parse_string_list(err, v[6], sub, lic_check_sha256, &l->prohibited_sha256,
				  &l->n_prohibited_sha256);
	/* Compared with the daemon's lowercase hex. */
	for (size_t i = 0; r == 0 && i < l->n_prohibited_sha256; i++)
		for (char *c = l->prohibited_sha256[i]; *c; c++)
			*c = tolower((unsigned char)*c);
	return r;
}

enum {
	KEY_ID,
	KEY_REGIME,
	KEY_AUTHORITY,
	KEY_VALID,
	KEY_CONDITIONS,
	KEY_PRINCIPALS,
	KEY_END_USE,
	KEY_TYPE,
	KEY_TERMS_VERSION,
	KEY_TIMEZONE,
	KEY_RIDERS,
	KEY_PARTIES,
	KEY_DESTINATION,
	KEY_HARDWARE,
	KEY_CAPS,
	KEY_REPORTING,
	KEY_RECORDS,
	KEY_MEASUREMENT,
	_KEY_MAX,
};

int lic_parse_license(struct license_error *err, const struct ynode *root, struct license *l,
		      struct id_position *id_pos)
{
	static const struct key_spec root_specs[] = { { "license", true } };
	static const struct key_spec specs[] = {
		[KEY_ID] = { "id", true },
		[KEY_REGIME] = { "regime", false },
		[KEY_AUTHORITY] = { "authority", false },
		[KEY_VALID] = { "valid", true },
		[KEY_CONDITIONS] = { "conditions", false },
		[KEY_PRINCIPALS] = { "principals", false },
		[KEY_END_USE] = { "end_use", false },
		[KEY_TYPE] = { "type", false },
		[KEY_TERMS_VERSION] = { "terms_version", false },
		[KEY_TIMEZONE] = { "timezone", false },
		[KEY_RIDERS] = { "riders", false },
		[KEY_PARTIES] = { "parties", false },
		[KEY_DESTINATION] = { "destination", false },
		[KEY_HARDWARE] = { "hardware", false },
		[KEY_CAPS] = { "caps", false },
		[KEY_REPORTING] = { "reporting", false },
		[KEY_RECORDS] = { "records", false },
		[KEY_MEASUREMENT] = { "measurement", false },
	};
	static const char *const types[] = { "individual", "global", "general", "internal-policy" };
	int type;
	const struct ynode *top, *v[_KEY_MAX];
	int r;

	r = lic_check_mapping(err, root, "", root_specs, 1, &top);
	if (r < 0)
		return r;
	r = lic_check_mapping(err, top, "license", specs, _KEY_MAX, v);
	if (r < 0)
		return r;

	r = lic_parse_id(err, v[KEY_ID], "license.id", &l->id);
	if (r < 0)
		return r;
	id_pos->line = v[KEY_ID]->line;
	id_pos->column = v[KEY_ID]->column;
	r = parse_regime(err, v[KEY_REGIME], "license.regime", &l->regime);
	if (r < 0)
		return r;
	r = lic_parse_optional_string(err, v[KEY_AUTHORITY], "license.authority", &l->authority);
	if (r < 0)
		return r;
	r = parse_valid(err, v[KEY_VALID], "license.valid", l);
	if (r < 0)
		return r;
	r = lic_parse_string_list(err, v[KEY_CONDITIONS], "license.conditions", NULL,
				  &l->conditions, &l->n_conditions);
	if (r < 0)
		return r;
	if (v[KEY_PRINCIPALS]) {
		r = parse_principals(err, v[KEY_PRINCIPALS], "license.principals", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_END_USE]) {
		r = parse_end_use(err, v[KEY_END_USE], "license.end_use", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_TYPE]) {
		r = lic_get_enum(err, v[KEY_TYPE], "license.type", types, ARRAY_SIZE(types),
				 "licence type", &type);
		if (r < 0)
			return r;
		l->type = strdup(types[type]);
		if (!l->type)
			return -ENOMEM;
	}
	r = lic_parse_optional_string(err, v[KEY_TERMS_VERSION], "license.terms_version",
				      &l->terms_version);
	if (r < 0)
		return r;
	if (v[KEY_TIMEZONE]) {
		r = parse_timezone(err, v[KEY_TIMEZONE], "license.timezone", l);
		if (r < 0)
			return r;
	}
	r = lic_parse_string_list(err, v[KEY_RIDERS], "license.riders", NULL, &l->riders,
				  &l->n_riders);
	if (r < 0)
		return r;
	if (v[KEY_PARTIES]) {
		r = parse_parties(err, v[KEY_PARTIES], "license.parties", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_DESTINATION]) {
		r = parse_destination(err, v[KEY_DESTINATION], "license.destination", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_HARDWARE]) {
		r = parse_hardware(err, v[KEY_HARDWARE], "license.hardware", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_REPORTING]) {
		r = parse_reporting(err, v[KEY_REPORTING], "license.reporting", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_CAPS]) {
		r = lic_parse_caps(err, v[KEY_CAPS], "license.caps", err->file, l);
		if (r < 0)
			return r;
	}
	l->retention_years = 5;
	if (v[KEY_RECORDS]) {
		r = parse_records(err, v[KEY_RECORDS], "license.records", err->file, l);
		if (r < 0)
			return r;
	}
	l->dual_meter_tolerance = 0.02;
	if (v[KEY_MEASUREMENT]) {
		r = parse_measurement(err, v[KEY_MEASUREMENT], "license.measurement", l);
		if (r < 0)
			return r;
	}
	return 0;
}
