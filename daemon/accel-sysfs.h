/* SPDX-License-Identifier: GPL-2.0-only */
/* A minimal accelerator inventory from sysfs PCI: display, 3D and processing-accelerator
 * class devices of NVIDIA, AMD and Intel. The full inventory (UUIDs, models, MIG) is the
 * GPU meter's job; this is the one function to swap for it. */
#pragma once

#include <stddef.h>

#include "evaluate.h"

struct accel_list {
	struct eval_accelerator *items;
	size_t n;
	char *strings; /* storage behind the items' strings */
};

/* Reads root (normally "/sys/bus/pci/devices"). Returns 0 or -errno. */
int accel_sysfs_read(const char *root, struct accel_list *ret);
void accel_list_done(struct accel_list *l);
