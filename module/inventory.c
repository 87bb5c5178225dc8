// SPDX-License-Identifier: GPL-2.0
/*
 * The accelerator inventory: every PCI device of base class 0x03 (display:
 * VGA, XGA, 3D, other) or 0x12 (processing accelerator), found at load and
 * kept current by a PCI bus notifier (hotplug, remove, rescan). The list is
 * sorted by (domain, bus, devfn) so that a dump can resume after the last
 * device it sent whatever came or went in between.
 */

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "inventory.h"
#include "netlink.h"

struct hpcm_dev {
	struct list_head node;
	struct hpcm_dev_info info;
};

static LIST_HEAD(hpcm_devs);
static DEFINE_MUTEX(hpcm_devs_lock);
static u64 hpcm_devs_gen;
static u32 hpcm_devs_count;

static bool hpcm_is_accelerator(const struct pci_dev *pdev)
{
	u8 base = pdev->class >> 16;

	return base == PCI_BASE_CLASS_DISPLAY || base == 0x12;
}

static u64 hpcm_key(const struct pci_dev *pdev)
{
	return ((u64)(u32)pci_domain_nr(pdev->bus) << 16) |
	       ((u64)pdev->bus->number << 8) | pdev->devfn;
}

static void hpcm_fill(struct pci_dev *pdev, struct hpcm_dev_info *d)
{
	d->key = hpcm_key(pdev);
	strscpy(d->bus_id, pci_name(pdev), sizeof(d->bus_id));
	d->vendor = pdev->vendor;
	d->device = pdev->device;
	d->subsys_vendor = pdev->subsystem_vendor;
	d->subsys_device = pdev->subsystem_device;
	d->class = pdev->class;
	d->numa_node = dev_to_node(&pdev->dev);
}

/* Insert in key order; a device already listed (notifier vs scan) stays. */
static void hpcm_add(struct pci_dev *pdev)
{
	struct hpcm_dev *d, *pos;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		pr_err("out of memory: %s missing from the inventory\n",
		       pci_name(pdev));
		return;
	}
	hpcm_fill(pdev, &d->info);

	mutex_lock(&hpcm_devs_lock);
	list_for_each_entry(pos, &hpcm_devs, node)
	{
		if (pos->info.key == d->info.key) {
			mutex_unlock(&hpcm_devs_lock);
			kfree(d);
			return;
		}
		if (pos->info.key > d->info.key)
			break;
	}
	list_add_tail(&d->node, &pos->node);
	hpcm_devs_gen++;
	hpcm_devs_count++;
	mutex_unlock(&hpcm_devs_lock);

	hpcm_event_dev(true, &d->info);
}

static void hpcm_remove(struct pci_dev *pdev)
{
	struct hpcm_dev_info info;
	struct hpcm_dev *pos;
	u64 key = hpcm_key(pdev);
	bool found = false;

	mutex_lock(&hpcm_devs_lock);
	list_for_each_entry(pos, &hpcm_devs, node)
	{
		if (pos->info.key == key) {
			info = pos->info;
			list_del(&pos->node);
			kfree(pos);
			hpcm_devs_gen++;
			hpcm_devs_count--;
			found = true;
			break;
		}
	}
	mutex_unlock(&hpcm_devs_lock);

	if (found)
		hpcm_event_dev(false, &info);
}

static int hpcm_pci_notify(struct notifier_block *nb, unsigned long action,
			   void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);

	if (!hpcm_is_accelerator(pdev))
		return NOTIFY_DONE;
	if (action == BUS_NOTIFY_ADD_DEVICE)
		hpcm_add(pdev);
	else if (action == BUS_NOTIFY_DEL_DEVICE)
		hpcm_remove(pdev);
	return NOTIFY_DONE;
}

static struct notifier_block hpcm_pci_nb = {
	.notifier_call = hpcm_pci_notify,
};

static void hpcm_free_all(void)
{
	struct hpcm_dev *pos, *tmp;

	mutex_lock(&hpcm_devs_lock);
	list_for_each_entry_safe(pos, tmp, &hpcm_devs, node)
	{
		list_del(&pos->node);
		kfree(pos);
	}
	hpcm_devs_count = 0;
	mutex_unlock(&hpcm_devs_lock);
}

int hpcm_inventory_init(void)
{
	struct pci_dev *pdev = NULL;
	int ret;

	/* Notifier first, then the scan: a device added in between is not lost. */
	ret = bus_register_notifier(&pci_bus_type, &hpcm_pci_nb);
	if (ret)
		return ret;
	for_each_pci_dev(pdev) if (hpcm_is_accelerator(pdev)) hpcm_add(pdev);
	return 0;
}

void hpcm_inventory_exit(void)
{
	bus_unregister_notifier(&pci_bus_type, &hpcm_pci_nb);
	hpcm_free_all();
}

bool hpcm_inventory_next(bool started, u64 after, struct hpcm_dev_info *d)
{
	struct hpcm_dev *pos;
	bool found = false;

	mutex_lock(&hpcm_devs_lock);
	list_for_each_entry(pos, &hpcm_devs, node)
	{
		if (!started || pos->info.key > after) {
			*d = pos->info;
			found = true;
			break;
		}
	}
	mutex_unlock(&hpcm_devs_lock);
	return found;
}

u64 hpcm_inventory_gen(void)
{
	u64 gen;

	mutex_lock(&hpcm_devs_lock);
	gen = hpcm_devs_gen;
	mutex_unlock(&hpcm_devs_lock);
	return gen;
}

u32 hpcm_inventory_count(void)
{
	u32 n;

	mutex_lock(&hpcm_devs_lock);
	n = hpcm_devs_count;
	mutex_unlock(&hpcm_devs_lock);
	return n;
}
