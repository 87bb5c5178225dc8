// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl inventory, the kernel module's part: ask hpcmeter.ko over generic netlink (no
 * daemon involved) for the PCI display and processing-accelerator devices it sees. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmeter-client.h"
#include "ctl-module.h"

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

/* Bus ids come from the kernel; still, never let a byte break the JSON. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_json(FILE *f, const struct kmeter_info *info, const struct devs *ds, bool pretty)
{
	const char *nl = pretty ? "\n" : "", *in1 = pretty ? "  " : "", *in2 = pretty ? "    " : "",
		   *in3 = pretty ? "      " : "", *sp = pretty ? " " : "";

	fprintf(f, "{%s%s\"source\":%s\"kernel-module\",%s", nl, in1, sp, nl);
	fprintf(f, "%s\"module_version\":%s", in1, sp);
	json_str(f, info->version);
	fprintf(f, ",%s%s\"devices\":%s[", nl, in1, sp);
	for (size_t i = 0; i < ds->n; i++) {
		const struct kmeter_dev *d = &ds->d[i];

		fprintf(f, "%s%s%s{%s%s\"bus_id\":%s", i ? "," : "", nl, in2, nl, in3, sp);
		json_str(f, d->bus_id);
		fprintf(f,
			",%s%s\"vendor_id\":%s\"%04x\",%s%s\"device_id\":%s\"%04x\",%s"
			"%s\"subsystem_vendor_id\":%s\"%04x\",%s%s\"subsystem_device_id\":%s\"%04x\",%s"
			"%s\"class\":%s\"%06x\",%s%s\"numa_node\":%s%d%s%s}",
			nl, in3, sp, d->vendor, nl, in3, sp, d->device, nl, in3, sp,
			d->subsys_vendor, nl, in3, sp, d->subsys_device, nl, in3, sp, d->class_code,
			nl, in3, sp, d->numa_node, nl, in2);
	}
	fprintf(f, "%s%s]%s}\n", ds->n ? nl : "", ds->n ? in1 : "", nl);
}

static void print_table(FILE *f, const struct devs *ds, bool legend)
{
	if (legend)
		fprintf(f, "%-14s %-9s %-9s %-6s %s\n", "BUS ID", "ID", "SUBSYS", "CLASS", "NUMA");
	for (size_t i = 0; i < ds->n; i++) {
		const struct kmeter_dev *d = &ds->d[i];

		fprintf(f, "%-14s %04x:%04x %04x:%04x %06x %d\n", d->bus_id, d->vendor, d->device,
			d->subsys_vendor, d->subsys_device, d->class_code, d->numa_node);
	}
	if (legend)
		fprintf(f, "\n%zu accelerator%s seen by the hpcmeter kernel module.\n", ds->n,
			ds->n == 1 ? "" : "s");
}

int ctl_module_inventory(FILE *f, int json, bool legend, bool absent_ok)
{
	struct kmeter_client *c = NULL;
	struct kmeter_info info;
	struct devs ds = { 0 };
	int r;

	r = kmeter_client_open(&c);
	if (r == 0)
		r = kmeter_client_resolve(c);
	if (r == -ENOENT && absent_ok) {
		fprintf(f, "hpcmeter kernel module not loaded\n");
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
	if (json)
		print_json(f, &info, &ds, json == 2);
	else
		print_table(f, &ds, legend);
out:
	free(ds.d);
	kmeter_client_free(c);
	return r;
}
