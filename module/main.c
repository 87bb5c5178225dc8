// SPDX-License-Identifier: GPL-2.0
/*
 * Module entry points and parameters: set up each part in order (netlink,
 * inventory, meter, heartbeat), tear down in reverse.
 *
 * Kernel floor: 5.14 (RHEL 9). Needs per-operation policies in genl_ops
 * (5.10), genl_dumpit_info (5.5), NLA_REJECT messages (5.7); sched_switch
 * gained prev_state in 5.18, which meter.c handles and checks at build time.
 */

#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include <linux/hpcmeter.h>

#include "inventory.h"
#include "meter.h"
#include "netlink.h"

#define HPCM_HEARTBEAT_MIN_MS 100
#define HPCM_HEARTBEAT_MAX_MS 3600000

static unsigned int max_cgroups = 4096;
module_param(max_cgroups, uint, 0444);
MODULE_PARM_DESC(
	max_cgroups,
	"cgroups the usage table holds, a power of two in [64, 1048576] (default 4096)");

static DEFINE_MUTEX(hpcm_param_lock);
static unsigned int heartbeat_ms = 1000;
static bool hpcm_running; /* the heartbeat may be (re)scheduled */

static void hpcm_heartbeat_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(hpcm_heartbeat_work, hpcm_heartbeat_fn);

u32 hpcm_heartbeat_ms(void)
{
	return READ_ONCE(heartbeat_ms);
}

static void hpcm_heartbeat_fn(struct work_struct *work)
{
	unsigned int ms;

	hpcm_event_heartbeat();
	mutex_lock(&hpcm_param_lock);
	ms = heartbeat_ms;
	if (hpcm_running && ms)
		schedule_delayed_work(&hpcm_heartbeat_work,
				      msecs_to_jiffies(ms));
	mutex_unlock(&hpcm_param_lock);
}

static int hpcm_heartbeat_set(const char *val, const struct kernel_param *kp)
{
	char text[16];
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (ms && (ms < HPCM_HEARTBEAT_MIN_MS || ms > HPCM_HEARTBEAT_MAX_MS))
		return -ERANGE;

	mutex_lock(&hpcm_param_lock);
	WRITE_ONCE(heartbeat_ms, ms);
	if (hpcm_running) {
		if (ms)
			mod_delayed_work(system_wq, &hpcm_heartbeat_work,
					 msecs_to_jiffies(ms));
		else
			cancel_delayed_work(&hpcm_heartbeat_work);
	}
	mutex_unlock(&hpcm_param_lock);

	snprintf(text, sizeof(text), "%u", ms);
	hpcm_event_param(kp->name, text);
	return 0;
}

static unsigned int reclaim_after_s = 60;

u32 hpcm_reclaim_after_s(void)
{
	return READ_ONCE(reclaim_after_s);
}

static int hpcm_reclaim_after_set(const char *val,
				  const struct kernel_param *kp)
{
	char text[16];
	unsigned int s;
	int ret;

	ret = kstrtouint(val, 0, &s);
	if (ret)
		return ret;
	if (s < 1 || s > 86400)
		return -ERANGE;
	WRITE_ONCE(reclaim_after_s, s);
	hpcm_meter_set_reclaim_after(s);
	snprintf(text, sizeof(text), "%u", s);
	hpcm_event_param(kp->name, text);
	return 0;
}

static const struct kernel_param_ops hpcm_reclaim_after_ops = {
	.set = hpcm_reclaim_after_set,
	.get = param_get_uint,
};
module_param_cb(reclaim_after_s, &hpcm_reclaim_after_ops, &reclaim_after_s,
		0644);
MODULE_PARM_DESC(
	reclaim_after_s,
	"seconds a removed cgroup keeps its usage entry, 1..86400 (default 60)");

static const struct kernel_param_ops hpcm_heartbeat_ops = {
	.set = hpcm_heartbeat_set,
	.get = param_get_uint,
};
module_param_cb(heartbeat_ms, &hpcm_heartbeat_ops, &heartbeat_ms, 0644);
MODULE_PARM_DESC(
	heartbeat_ms,
	"heartbeat event period in ms, 0 (off) or 100..3600000 (default 1000)");

/* The kernel keeps its boot id to itself; read it the way user space does. */
static void hpcm_read_boot_id(char *buf, size_t size)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	strscpy(buf, "", size);
	f = filp_open("/proc/sys/kernel/random/boot_id", O_RDONLY, 0);
	if (IS_ERR(f)) {
		pr_warn("cannot open the boot id: %ld\n", PTR_ERR(f));
		return;
	}
	n = kernel_read(f, buf, size - 1, &pos);
	filp_close(f, NULL);
	if (n < 0) {
		pr_warn("cannot read the boot id: %zd\n", n);
		n = 0;
	}
	buf[n] = '\0';
	strim(buf);
}

static int __init hpcmeter_init(void)
{
	struct hpcm_info info = { .load_time_ns = ktime_get_real_ns() };
	int ret;

	if (max_cgroups < 64 || max_cgroups > (1U << 20) ||
	    !is_power_of_2(max_cgroups)) {
		pr_err("max_cgroups=%u: must be a power of two in [64, 1048576]\n",
		       max_cgroups);
		return -EINVAL;
	}
	hpcm_read_boot_id(info.boot_id, sizeof(info.boot_id));

	ret = hpcm_genl_init(&info);
	if (ret < 0) {
		pr_err("cannot register genl family \"%s\": %d\n",
		       HPCMETER_GENL_NAME, ret);
		return ret;
	}
	ret = hpcm_inventory_init();
	if (ret < 0) {
		pr_err("cannot watch the PCI bus: %d\n", ret);
		goto err_genl;
	}
	ret = hpcm_meter_init(max_cgroups);
	if (ret < 0) {
		pr_err("cannot set up the meter: %d\n", ret);
		goto err_inventory;
	}

	mutex_lock(&hpcm_param_lock);
	hpcm_running = true;
	if (heartbeat_ms)
		schedule_delayed_work(&hpcm_heartbeat_work,
				      msecs_to_jiffies(heartbeat_ms));
	mutex_unlock(&hpcm_param_lock);

	pr_info("version %s loaded, genl family \"%s\" abi %d, probes 0x%x, %u accelerators\n",
		HPCMETER_VERSION, HPCMETER_GENL_NAME, HPCMETER_GENL_VERSION,
		hpcm_meter_probes(), hpcm_inventory_count());
	return 0;

err_inventory:
	hpcm_inventory_exit();
err_genl:
	hpcm_genl_exit();
	return ret;
}

static void __exit hpcmeter_exit(void)
{
	mutex_lock(&hpcm_param_lock);
	hpcm_running = false;
	mutex_unlock(&hpcm_param_lock);
	cancel_delayed_work_sync(&hpcm_heartbeat_work);

	/* No request or dump runs after this; then stop the probes. */
	hpcm_genl_exit();
	hpcm_meter_exit();
	hpcm_inventory_exit();
}

module_init(hpcmeter_init);
module_exit(hpcmeter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("HPC resource meter");
MODULE_AUTHOR("hpcmeter developers");
MODULE_VERSION(HPCMETER_VERSION);
MODULE_ALIAS_GENL_FAMILY(HPCMETER_GENL_NAME);
