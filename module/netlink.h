/* SPDX-License-Identifier: GPL-2.0 */
/* The "hpcmeter" generic netlink family, as seen by main.c. */
#ifndef HPCMETER_NETLINK_H
#define HPCMETER_NETLINK_H

#include <linux/types.h>

int hpcmeter_genl_init(u64 load_time_ns);
void hpcmeter_genl_exit(void);

#endif /* HPCMETER_NETLINK_H */
