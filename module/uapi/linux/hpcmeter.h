/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-2-Clause */
/* The hpcmeter generic netlink ABI, shared by the module, the daemon and the tests. */
#ifndef _UAPI_LINUX_HPCMETER_H
#define _UAPI_LINUX_HPCMETER_H

#include <linux/types.h>

#define HPCMETER_GENL_NAME "hpcmeter"
#define HPCMETER_GENL_VERSION 1

enum hpcmeter_cmd {
	HPCMETER_CMD_UNSPEC,

	/*
	 * doit; the request carries no attributes. Replies with
	 * HPCMETER_A_VERSION, HPCMETER_A_ABI_VERSION, HPCMETER_A_LOAD_TIME_NS.
	 */
	HPCMETER_CMD_GET_INFO,

	__HPCMETER_CMD_MAX
};
#define HPCMETER_CMD_MAX (__HPCMETER_CMD_MAX - 1)

/*
 * There is no boot id attribute: the kernel does not export its boot id to
 * modules, and user space reads the same value from
 * /proc/sys/kernel/random/boot_id.
 */
enum hpcmeter_attr {
	HPCMETER_A_UNSPEC,
	HPCMETER_A_VERSION, /* string: module release, "0.1.0" */
	HPCMETER_A_ABI_VERSION, /* u32: HPCMETER_GENL_VERSION of the module */
	HPCMETER_A_LOAD_TIME_NS, /* u64: CLOCK_REALTIME at module load, ns */
	HPCMETER_A_PAD, /* padding for 64-bit attributes */

	__HPCMETER_A_MAX
};
#define HPCMETER_A_MAX (__HPCMETER_A_MAX - 1)

#endif /* _UAPI_LINUX_HPCMETER_H */
