/* SPDX-License-Identifier: GPL-2.0 */
/* The accelerator inventory: PCI display and processing-accelerator devices. */
#ifndef HPCMETER_INVENTORY_H
#define HPCMETER_INVENTORY_H

#include <linux/types.h>

struct hpcm_dev_info {
	u64 key; /* (domain, bus, devfn): the inventory's sort order */
	char bus_id[32];
	u16 vendor;
	u16 device;
	u16 subsys_vendor;
	u16 subsys_device;
	u32 class;
	s32 numa_node;
};

int hpcm_inventory_init(void);
void hpcm_inventory_exit(void);

/* The first device whose key is above *after (any when !started). */
bool hpcm_inventory_next(bool started, u64 after, struct hpcm_dev_info *d);
u64 hpcm_inventory_gen(void);
u32 hpcm_inventory_count(void);

#endif /* HPCMETER_INVENTORY_H */
