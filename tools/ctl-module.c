// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl inventory, the kernel module's part: ask hpcmeter.ko over generic netlink (no
 * daemon involved) for the PCI display and processing-accelerator devices it sees. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-args.h"
#include "ctl-module.h"
#include "ctl-table.h"
#include "kmeter-client.h"
#include "util.h"

struct devs {
	struct kmeter_dev *d;
	size_t n, cap;
};

static int take(const struct kmeter_dev *d, void *userdata)
{
	struct devs *ds = userdata;

	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? 2 * ds->cap : 16;
		struct kmeter_dev *p = realloc(ds->d, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ds->d = p;
		ds->cap = cap;
	}
	ds->d[ds->n++] = *d;
	return 0;
}

/* Ids in hexadecimal, as sysfs shows them. */
static int hex_json(struct json_object *o, const char *key, const char *fmt, unsigned v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), fmt, v);
	return json_add_string(o, key, buf);
}

static int print_json(const struct kmeter_info *info, const struct devs *ds, enum json_mode mode)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *devices = NULL;
	int r = o ? 0 : -ENOMEM;

	if (r >= 0)
		r = json_add_string(o, "source", "kernel-module");
	if (r >= 0)
		r = json_add_string(o, "module_version", info->version);
	if (r >= 0)
		r = json_add(o, "devices", devices = json_object_new_array());
	for (size_t i = 0; r >= 0 && i < ds->n; i++) {
		const struct kmeter_dev *d = &ds->d[i];
		struct json_object *dev = json_object_new_object();

		r = json_append(devices, dev);
		if (r >= 0) /* from the kernel; json_add_string() keeps any byte from breaking it */
			r = json_add_string(dev, "bus_id", d->bus_id);
		if (r >= 0)
			r = hex_json(dev, "vendor_id", "%04x", d->vendor);
		if (r >= 0)
			r = hex_json(dev, "device_id", "%04x", d->device);
		if (r >= 0)
			r = hex_json(dev, "subsystem_vendor_id", "%04x", d->subsys_vendor);
		if (r >= 0)
			r = hex_json(dev, "subsystem_device_id", "%04x", d->subsys_device);
		if (r >= 0)
			r = hex_json(dev, "class", "%06x", d->class_code);
		if (r >= 0)
			r = json_add_int(dev, "numa_node", d->numa_node);
	}
	return r < 0 ? r : json_dump(stdout, o, mode);
}

static const char *const headers[] = { "BUS ID", "ID", "SUBSYS", "CLASS", "NUMA" };
const struct table ctl_module_columns = { .n_columns = ARRAY_SIZE(headers), .headers = headers };

/* The columns the table has always had, one space apart. */
static int print_table(const struct devs *ds, bool legend)
{
	static const bool right[] = { false, false, false, false, false };
	static const size_t widths[] = { 14, 9, 9, 6, 0 };
	_cleanup_(table_done) struct table t = { .n_columns = ARRAY_SIZE(headers),
						 .headers = headers,
						 .right_align = right,
						 .min_width = widths,
						 .separator = " " };

	for (size_t i = 0; i < ds->n; i++) {
		const struct kmeter_dev *d = &ds->d[i];

		if (table_add(&t, "%s", d->bus_id) < 0 ||
		    table_add(&t, "%04x:%04x", d->vendor, d->device) < 0 ||
		    table_add(&t, "%04x:%04x", d->subsys_vendor, d->subsys_device) < 0 ||
		    table_add(&t, "%06x", d->class_code) < 0 ||
		    table_add(&t, "%d", d->numa_node) < 0)
			return -ENOMEM;
	}
	if (table_print(&t, legend, NULL) < 0)
		return -ENOMEM;
	if (legend && !arg_csv)
		printf("\n%zu accelerator%s seen by the hpcmeter kernel module.\n", ds->n,
		       ds->n == 1 ? "" : "s");
	return 0;
}

int ctl_module_inventory(enum json_mode json, bool legend, bool absent_ok)
{
	struct kmeter_client *c = NULL;
	struct kmeter_info info;
	struct devs ds = { 0 };
	int r;

	r = kmeter_client_open(&c);
	if (r == 0)
		r = kmeter_client_resolve(c);
	if (r == -ENOENT && absent_ok) {
		/* CSV: the tables there are, and no word between them */
		if (!arg_csv)
			printf("hpcmeter kernel module not loaded\n");
		r = 0;
		goto out;
	}
	if (r == -ENOENT) {
		fprintf(stderr, "hpcmeterctl: the hpcmeter kernel module is not loaded "
				"(no generic netlink family \"hpcmeter\")\n");
		goto out;
	}
	if (r == 0)
		r = kmeter_client_info(c, &info);
	if (r == 0)
		r = kmeter_client_inventory(c, take, &ds);
	if (r < 0) {
		fprintf(stderr, "hpcmeterctl: asking the hpcmeter kernel module: %s%s%s\n",
			strerror(-r), c && kmeter_client_extack(c)[0] ? ": " : "",
			c ? kmeter_client_extack(c) : "");
		goto out;
	}
	r = json ? print_json(&info, &ds, json) : print_table(&ds, legend);
	if (r == -ENOMEM)
		fprintf(stderr, "hpcmeterctl: out of memory\n");
out:
	free(ds.d);
	kmeter_client_free(c);
	return r;
}
