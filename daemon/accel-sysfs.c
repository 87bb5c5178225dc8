// SPDX-License-Identifier: GPL-2.0-only
/* Accelerators from sysfs PCI (see accel-sysfs.h). */
#include "accel-sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ACCEL_MAX 256

struct accel_slot {
	char vendor[8], device[8], bus_id[16];
};

static int read_hex(const char *root, const char *dev, const char *attr, unsigned *ret)
{
	char path[512], buf[32];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s/%s", root, dev, attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) && sscanf(buf, "%x", ret) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static const char *vendor_name(unsigned id)
{
	switch (id) {
	case 0x10de:
		return "nvidia";
	case 0x1002:
		return "amd";
	case 0x8086:
		return "intel";
	default:
		return NULL;
	}
}

int accel_sysfs_read(const char *root, struct accel_list *ret)
{
	struct accel_slot *slots = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	memset(ret, 0, sizeof(*ret));
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	slots = calloc(ACCEL_MAX, sizeof(*slots));
	if (!slots) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d)) && n < ACCEL_MAX) {
		unsigned cls, vendor, device;
		const char *name;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(slots[0].bus_id))
			continue;
		if (read_hex(root, de->d_name, "class", &cls) < 0 ||
		    read_hex(root, de->d_name, "vendor", &vendor) < 0 ||
		    read_hex(root, de->d_name, "device", &device) < 0)
			continue;
		/* 0x0300 VGA, 0x0302 3D controller, 0x1200 processing accelerator. An Intel
		 * or AMD VGA device is usually the board's own graphics: only 3D controllers
		 * and processing accelerators count for those vendors. */
		cls >>= 8;
		name = vendor_name(vendor);
		if (!name ||
		    !(cls == 0x0302 || cls == 0x1200 || (cls == 0x0300 && vendor == 0x10de)))
			continue;
		snprintf(slots[n].vendor, sizeof(slots[n].vendor), "%s", name);
		snprintf(slots[n].device, sizeof(slots[n].device), "%04x", device);
		snprintf(slots[n].bus_id, sizeof(slots[n].bus_id), "%.15s", de->d_name);
		n++;
	}
	closedir(d);
	ret->items = calloc(n ? n : 1, sizeof(*ret->items));
	if (!ret->items) {
		free(slots);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		ret->items[i].vendor = slots[i].vendor;
		ret->items[i].device = slots[i].device;
		ret->items[i].bus_id = slots[i].bus_id;
		ret->items[i].uuid = NULL;
	}
	ret->n = n;
	ret->strings = (char *)slots;
	return 0;
}

void accel_list_done(struct accel_list *l)
{
	free(l->items);
	free(l->strings);
	memset(l, 0, sizeof(*l));
}
