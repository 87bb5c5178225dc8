// SPDX-License-Identifier: GPL-2.0
/* Module entry points: set up each part in order, tear down in reverse. */

#include <linux/module.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>

#include <linux/hpcmeter.h>

#include "netlink.h"

static int __init hpcmeter_init(void)
{
	int ret;

	ret = hpcmeter_genl_init(ktime_get_real_ns());
	if (ret < 0)
		goto err_genl;

	pr_info("version %s loaded, genl family \"%s\" abi %d\n",
		HPCMETER_VERSION, HPCMETER_GENL_NAME, HPCMETER_GENL_VERSION);
	return 0;

err_genl:
	pr_err("cannot register genl family \"%s\": %d\n", HPCMETER_GENL_NAME,
	       ret);
	return ret;
}

static void __exit hpcmeter_exit(void)
{
	hpcmeter_genl_exit();
}

module_init(hpcmeter_init);
module_exit(hpcmeter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("HPC resource meter");
MODULE_AUTHOR("hpcmeter developers");
MODULE_VERSION(HPCMETER_VERSION);
MODULE_ALIAS_GENL_FAMILY(HPCMETER_GENL_NAME);
