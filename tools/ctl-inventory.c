// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl inventory: the node's accelerators (GetInventory) with the GPU meter's state
 * (GetStatus: mode, runtime libraries, probes), then what the kernel module sees; and the GPU
 * runtime libraries section of hpcmeterctl status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-inventory.h"
#include "ctl-module.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

struct gpu_status {
	const char *mode, *meter, *launch_counts;
	uint32_t probes, launch_probes;
	const char **libs, **probe_list;
	size_t n_libs, n_probes;
};

static int read_strv(sd_bus_message *m, const char ***ret, size_t *n)
{
	const char *s;
	int r;

	r = sd_bus_message_enter_container(m, 'v', "as");
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "s");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
		const char **a = realloc(*ret, (*n + 1) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*ret = a;
		a[(*n)++] = s;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* Pick the gpu_* keys out of GetStatus; others are skipped. */
static int read_gpu_status(sd_bus_message *m, struct gpu_status *g)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *k, *sig;

		r = sd_bus_message_read(m, "s", &k);
		if (r < 0)
			return r;
		r = sd_bus_message_peek_type(m, NULL, &sig);
		if (r < 0)
			return r;
		if (streq(sig, "s") && streq(k, "gpu_mode"))
			r = sd_bus_message_read(m, "v", "s", &g->mode);
		else if (streq(sig, "s") && streq(k, "gpu_meter"))
			r = sd_bus_message_read(m, "v", "s", &g->meter);
		else if (streq(sig, "s") && streq(k, "gpu_launch_counts"))
			r = sd_bus_message_read(m, "v", "s", &g->launch_counts);
		else if (streq(sig, "u") && streq(k, "gpu_probes_attached"))
			r = sd_bus_message_read(m, "v", "u", &g->probes);
		else if (streq(sig, "u") && streq(k, "gpu_launch_probes"))
			r = sd_bus_message_read(m, "v", "u", &g->launch_probes);
		else if (streq(sig, "as") && streq(k, "gpu_libraries"))
			r = read_strv(m, &g->libs, &g->n_libs);
		else if (streq(sig, "as") && streq(k, "gpu_probes"))
			r = read_strv(m, &g->probe_list, &g->n_probes);
		else
			r = sd_bus_message_skip(m, "v");
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

void ctl_gpu_status_libraries(sd_bus_message *status)
{
	struct gpu_status g = { 0 };

	if (sd_bus_message_rewind(status, true) >= 0 && read_gpu_status(status, &g) >= 0 &&
	    g.mode) {
		printf("\nGPU runtime libraries:%s\n", g.n_libs ? "" : " none attached");
		for (size_t i = 0; i < g.n_libs; i++)
			printf("  %s\n", g.libs[i]);
	}
	free(g.libs);
	free(g.probe_list);
}

struct accel_row {
	const char *bus_id;
	uint32_t vendor_id, device_id, class_code;
	const char *vendor, *model, *uuid, *driver;
	double tpp, app;
	int32_t util;
	const char *sources;
};

#define ROW_FIELDS "suuussssddi"

/* An array of the strings. */
static struct json_object *strv_json(const char *const *strv, size_t n)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_append(a, json_new_string(strv[i])) < 0)
			return NULL;
	return TAKE_PTR(a);
}

static int gpu_status_json(struct json_object *o, const char *version, const char *nvml,
			   const struct gpu_status *g)
{
	int r = json_add_string(o, "data_version", version);

	if (r >= 0)
		r = json_add_string(o, "nvml", nvml);
	if (r >= 0)
		r = json_add_string(o, "gpu_mode", g->mode);
	if (r >= 0)
		r = json_add_string(o, "gpu_meter", g->meter);
	if (r >= 0)
		r = json_add_string(o, "launch_counts", g->launch_counts);
	if (r >= 0)
		r = json_add_uint(o, "probes_attached", g->probes);
	if (r >= 0)
		r = json_add_uint(o, "launch_probes", g->launch_probes);
	if (r >= 0)
		r = json_add(o, "libraries", strv_json(g->libs, g->n_libs));
	if (r >= 0)
		r = json_add(o, "probes", strv_json(g->probe_list, g->n_probes));
	return r;
}

/* Appends the accelerator to accels; its object and its peak_dense_tops in *ret, *ret_tops (the
 * sources follow the peaks in the reply). */
static int accel_json(struct json_object *accels, const struct accel_row *a,
		      struct json_object **ret, struct json_object **ret_tops)
{
	struct json_object *o = json_object_new_object();
	int r = json_append(accels, o);

	*ret = o;
	if (r >= 0)
		r = json_add_string(o, "bus_id", a->bus_id);
	if (r >= 0)
		r = json_add_uint(o, "vendor_id", a->vendor_id);
	if (r >= 0)
		r = json_add_uint(o, "device_id", a->device_id);
	if (r >= 0)
		r = json_add_uint(o, "class", a->class_code);
	if (r >= 0)
		r = json_add_string(o, "vendor", a->vendor);
	if (r >= 0)
		r = json_add_string(o, "model", a->model);
	if (r >= 0)
		r = json_add_string(o, "uuid", a->uuid);
	if (r >= 0)
		r = json_add_string(o, "driver", a->driver);
	if (r >= 0)
		r = json_add_double(o, "tpp", a->tpp);
	if (r >= 0)
		r = json_add_double(o, "app", a->app);
	if (r >= 0)
		r = json_add_int(o, "utilization", a->util);
	if (r >= 0)
		r = json_add(o, "peak_dense_tops", *ret_tops = json_object_new_object());
	return r;
}

static const char *const headers[] = { "BUS-ID", "PCI-ID", "MODEL", "UUID",
				       "DRIVER", "TPP",	   "APP",   "UTIL" };

static int print_inventory(sd_bus_message *inv, const struct gpu_status *g, enum json_mode json,
			   bool legend)
{
	/* the widths the table has always had, one space apart */
	static const bool right[] = { false, false, false, false, false, true, true, true };
	static const size_t widths[] = { 14, 9, 26, 40, 8, 9, 7, 5 };
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(headers),
						 .headers = headers,
						 .right_align = right,
						 .min_width = widths,
						 .separator = " " };
	_cleanup_json_ struct json_object *doc = NULL;
	struct json_object *accels = NULL, *tops = NULL, *accel = NULL;
	const char *version, *nvml;
	struct accel_row a;
	unsigned n = 0;
	int r;

	r = sd_bus_message_read(inv, "ss", &version, &nvml);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(inv, 'a', HPCMETER_SIG_INVENTORY);
	if (r < 0)
		return r;
	if (json) {
		doc = json_object_new_object();
		if (!doc || gpu_status_json(doc, version, nvml, g) < 0 ||
		    json_add(doc, "accelerators", accels = json_object_new_array()) < 0)
			return -ENOMEM;
	}
	while ((r = sd_bus_message_enter_container(inv, 'r', "suuussssddia{sd}s")) > 0) {
		r = sd_bus_message_read(inv, ROW_FIELDS, &a.bus_id, &a.vendor_id, &a.device_id,
					&a.class_code, &a.vendor, &a.model, &a.uuid, &a.driver,
					&a.tpp, &a.app, &a.util);
		if (r < 0)
			return r;
		if (json && accel_json(accels, &a, &accel, &tops) < 0)
			return -ENOMEM;
		r = sd_bus_message_enter_container(inv, 'a', "{sd}");
		if (r < 0)
			return r;
		const char *prec;
		double peak;

		while ((r = sd_bus_message_read(inv, "{sd}", &prec, &peak)) > 0)
			if (json && json_add_double(tops, prec, peak) < 0)
				return -ENOMEM;
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(inv);
		if (r >= 0)
			r = sd_bus_message_read(inv, "s", &a.sources);
		if (r >= 0)
			r = sd_bus_message_exit_container(inv);
		if (r < 0)
			return r;
		n++;
		if (json) {
			if (json_add_string(accel, "sources", a.sources) < 0)
				return -ENOMEM;
			continue;
		}
		if (table_add(&t, "%s", a.bus_id) < 0 ||
		    table_add(&t, "%04x:%04x", a.vendor_id, a.device_id) < 0 ||
		    table_add(&t, "%s", *a.model ? a.model : "(unknown model)") < 0 ||
		    table_add(&t, "%s", a.uuid) < 0 || table_add(&t, "%s", a.driver) < 0 ||
		    table_add(&t, "%.0f", a.tpp) < 0 || table_add(&t, "%.2f", a.app) < 0 ||
		    (a.util < 0 ? table_add(&t, "-") : table_add(&t, "%d%%", a.util)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(inv);
	if (r < 0)
		return r;
	if (json)
		return json_dump(stdout, doc, json);
	if (table_print(&t, legend, NULL) < 0)
		return -ENOMEM;
	if (legend && !arg_csv) {
		printf("\n%u accelerator(s). Models data %s; NVML %s.\n", n,
		       *version ? version : "(not loaded)", nvml);
		printf("GPU meter: %s, %s mode, %u probes (%u on the launch path); launches %s.\n",
		       g->meter ? g->meter : "?", g->mode ? g->mode : "?", g->probes,
		       g->launch_probes, g->launch_counts ? g->launch_counts : "?");
		printf("Runtime libraries:%s\n", g->n_libs ? "" : " none mapped so far");
		for (size_t i = 0; i < g->n_libs; i++)
			printf("  %s\n", g->libs[i]);
	}
	return 0;
}

static int inventory(sd_bus *bus, enum json_mode json, bool legend)
{
	sd_bus_message *inv = NULL, *status = NULL;
	struct gpu_status g = { 0 };
	int r;

	r = bus_call(bus, "GetInventory", &inv, "");
	if (r >= 0)
		r = bus_call(bus, "GetStatus", &status, "");
	if (r >= 0) {
		r = read_gpu_status(status, &g);
		if (r >= 0)
			r = print_inventory(inv, &g, json, legend);
		if (r < 0)
			fprintf(stderr, "hpcmeterctl: cannot parse the inventory: %s\n",
				strerror(-r));
	}
	free(g.libs);
	free(g.probe_list);
	sd_bus_message_unref(inv);
	sd_bus_message_unref(status);
	return r < 0 ? r : 0;
}

/* The daemon's view, then the kernel module's (tools/ctl-module.c);
 * "inventory kernel": the module's alone, no daemon needed. */
int verb_inventory(sd_bus *bus, int argc, char **argv)
{
	static const struct table accelerators = { .n_columns = ARRAY_SIZE(headers),
						   .headers = headers };
	const struct table *both[] = { &accelerators, &ctl_module_columns };
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *own = NULL;
	int r;

	(void)bus;
	if (argc == 2) {
		if (!streq(argv[1], "kernel"))
			return usage_error("inventory: unknown view '%s' (expected kernel)",
					   argv[1]);
		r = table_check_columns_of("inventory kernel", &ctl_module_columns);
		return r < 0 ? r : ctl_module_inventory(arg_json, arg_legend, false);
	}
	r = table_check_columns("inventory", both, ARRAY_SIZE(both));
	if (r < 0)
		return r;
	r = bus_connect(&own);
	if (r < 0)
		return r;
	r = inventory(own, arg_json, arg_legend);
	if (r < 0 || arg_json)
		return r;
	if (arg_legend && !arg_csv)
		printf("\nSeen by the hpcmeter kernel module:\n");
	return ctl_module_inventory(JSON_OFF, arg_legend, true);
}
